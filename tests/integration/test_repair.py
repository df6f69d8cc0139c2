"""Anti-entropy (storage_node/replicator.py): copies a write missed come back by
themselves, a wiped node is refilled, a delete by id a node missed reaches it, and scrub
replaces a corrupt copy. Counted from the nodes' own state over gRPC.

This module stops and restarts storage nodes of its own cluster; each test starts again
what it stopped. Passes run every second here (TESSERA_SYNC_INTERVAL).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from coordinator import admin_token
from coordinator.secrets import read_key_file
from proto import admin_pb2 as apb
from proto import admin_pb2_grpc as apb_grpc
from proto import storage_pb2 as pb
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.redundancy import current, node_stubs, wait_full

CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "1"}
# Sizes cross the inline limit (128 KiB), the whole-copy limit (256 KiB) and a 1 MiB block.
SIZES = [0, 10, 4096, 131_073, 300_000, 1_048_577]
CONVERGE = 60.0


def _body(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _read_from(stub: Any, bucket: str, key: str) -> bytes:
    """The key's current bytes as one storage node serves them."""
    chunks = stub.GetObject(pb.GetRequest(bucket=bucket, key=key), timeout=10)
    return b"".join(chunk.data for chunk in chunks)


def test_writes_a_node_missed_reach_it_when_it_returns(
    running: ClusterInfo, s3: Any, bucket: str
) -> None:
    kept = {f"kept-{i}": 1000 + i for i in range(20)}
    for key, size in kept.items():
        s3.put_object(Bucket=bucket, Key=key, Body=_body(key, size))
    local.kill(running, "node3", signal.SIGKILL)
    written = {f"missed-{i}-{size}": size for i, size in enumerate(SIZES * 5)}
    for key, size in written.items():
        s3.put_object(Bucket=bucket, Key=key, Body=_body(key, size))
    for key in list(kept)[:5]:  # overwritten while node3 is down
        kept[key] = 77
        s3.put_object(Bucket=bucket, Key=key, Body=_body(key, 77))
    deleted = list(kept)[5:10]
    for key in deleted:
        s3.delete_object(Bucket=bucket, Key=key)
    stubs = node_stubs(running)
    held = current(stubs, bucket, list(written))
    assert all("node3" not in rows for rows in held.values())

    local.start(running, "node3")
    stubs = node_stubs(running)
    every = [*written, *kept]
    short, took = wait_full(stubs, bucket, every, timeout=CONVERGE)
    assert not short, f"keys without 3 copies after {took:.1f}s: {short}"
    print(f"\n[repair] {len(written) + 10} versions missed by node3 copied in {took:.1f}s")

    node3 = stubs["node3"]
    for key, size in [*written.items(), *kept.items()]:
        if key in deleted:
            continue
        assert _read_from(node3, bucket, key) == _body(key, size), key
    rows = current({"node3": node3}, bucket, deleted)
    assert all(rows[key]["node3"].deleted for key in deleted)


def test_wiped_node_is_refilled(running: ClusterInfo, s3: Any, bucket: str) -> None:
    written = {f"w-{i}": SIZES[i % len(SIZES)] for i in range(40)}
    for key, size in written.items():
        s3.put_object(Bucket=bucket, Key=key, Body=_body(key, size))
    proc = running.processes["node2"]
    local.kill(running, "node2", signal.SIGKILL)
    assert proc.data_dir is not None
    shutil.rmtree(proc.data_dir)
    local.start(running, "node2")
    stubs = node_stubs(running)
    short, took = wait_full(stubs, bucket, written, timeout=CONVERGE)
    assert not short, f"keys without 3 copies after {took:.1f}s: {short}"
    for key, size in written.items():
        assert _read_from(stubs["node2"], bucket, key) == _body(key, size), key
    # Reads through the gateways never noticed.
    for key, size in written.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == _body(key, size)
    print(f"\n[repair] wiped node2 refilled with {len(written)} keys in {took:.1f}s")


def test_delete_by_id_a_node_missed_reaches_it(running: ClusterInfo, s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    time.sleep(0.5)  # the bucket watch reaches both gateways
    first = s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="doc", Body=b"two")["VersionId"]
    local.kill(running, "node1", signal.SIGKILL)
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=first)
    local.start(running, "node1")
    node1 = node_stubs(running)["node1"]
    request = pb.HeadRequest(bucket=bucket, key="doc", version_id=first)

    deadline = time.monotonic() + CONVERGE
    while node1.HeadObject(request, timeout=5).found and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not node1.HeadObject(request, timeout=5).found
    versions = s3.list_object_versions(Bucket=bucket, Prefix="doc")["Versions"]
    assert [v["VersionId"] for v in versions] == [second]


def test_repair_shows_in_jobs_and_metrics(running: ClusterInfo, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="m", Body=b"m")
    proc = running.processes["node1"]
    deadline = time.monotonic() + CONVERGE
    text = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}/metrics") as reply:
            text = reply.read().decode()
        if "tessera_repair_peers_in_sync 2.0" in text:
            break
        time.sleep(0.5)
    assert "tessera_repair_peers_in_sync 2.0" in text
    assert "tessera_repair_passes_total" in text
    assert "tessera_repair_copied_total" in text
    assert "tessera_scrub_passes_total" in text
    assert "tessera_repair_handed_off_total" in text


def test_sync_rpcs_refuse_another_placement_map(running: ClusterInfo) -> None:
    stub = node_stubs(running)["node1"]
    with pytest.raises(grpc.RpcError) as raised:
        stub.SyncDigest(pb.SyncDigestRequest(peer="node2", placement="nope", slots=1024))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as raised:
        stub.SyncDigest(pb.SyncDigestRequest(peer="node2", placement="nope", slots=7))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _flip_byte_in_file(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


def _flip_byte_inline(index_path: Path, bucket: str, key: str) -> None:
    conn = sqlite3.connect(index_path, timeout=10)
    try:
        (inline,) = conn.execute(
            "SELECT inline FROM objects WHERE bucket=? AND key=?", (bucket, key)
        ).fetchone()
        broken = bytes([inline[0] ^ 0x01]) + bytes(inline[1:])
        conn.execute("UPDATE objects SET inline=? WHERE bucket=? AND key=?", (broken, bucket, key))
        conn.commit()
    finally:
        conn.close()


def test_scrub_finds_and_repairs_a_flipped_byte(running: ClusterInfo, s3: Any, bucket: str) -> None:
    big, small = _body("big", 2_500_000), _body("small", 5000)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    # A PUT returns once two replicas hold it: wait for the third (node1 among them).
    assert not wait_full(node_stubs(running), bucket, ["big", "small"], timeout=30)[0]
    node1 = running.processes["node1"]
    assert node1.data_dir is not None
    stub = node_stubs(running)["node1"]
    version = current({"node1": stub}, bucket, ["big"])["big"]["node1"].version_id
    data_file = node1.data_dir / "objects" / version[:2] / version
    _flip_byte_in_file(data_file, 1_500_000)  # in the second 1 MiB block
    _flip_byte_inline(node1.data_dir / "index.sqlite3", bucket, "small")
    with pytest.raises(grpc.RpcError) as raised:
        _read_from(stub, bucket, "big")
    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    for _ in range(3):  # reads through the gateways never see the bad copy
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
        assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small

    # A data file no row names, untouched for two hours (a crash's leftover): swept.
    orphan = node1.data_dir / "objects" / "0f" / ("0f" + "e" * 30)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"left behind")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))

    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    tessera = str(Path(sys.executable).parent / "tessera")
    argv = [tessera, "admin", "scrub", "--data-dir", str(running.data_dir), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    started = json.loads(done.stdout)
    assert sorted(r["process"] for r in started) == ["node1", "node2", "node3"]

    channel = grpc.insecure_channel(f"127.0.0.1:{node1.admin_port}")
    admin = apb_grpc.AdminStub(channel)
    token = admin_token.derive(read_key_file(running.key_file))
    deadline = time.monotonic() + CONVERGE
    while True:
        jobs = admin.Progress(
            apb.ProgressRequest(), metadata=admin_token.call_metadata(token), timeout=5
        ).jobs
        (scrub,) = [j for j in jobs if j.name == "scrub"]
        if scrub.state in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    measures = {m.unit: m.done for m in scrub.measures}
    assert (scrub.state, measures["corrupt"], measures["repaired"]) == ("done", 2, 2), scrub
    assert measures["orphan files removed"] == 1 and not orphan.exists()
    assert scrub.done == scrub.total > 0
    assert _read_from(stub, bucket, "big") == big
    assert _read_from(stub, bucket, "small") == small
    assert data_file.read_bytes() == big
