"""Anti-entropy (storage_node/replicator.py): copies a write missed come back by
themselves, a wiped node is refilled, and a delete by id a node missed reaches it. Counted from the nodes' own state over gRPC.

This module stops and restarts storage nodes of its own cluster; each test starts again
what it stopped. Passes run every second here (TESSERA_SYNC_INTERVAL).
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

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


@pytest.fixture
def running(cluster: ClusterInfo) -> Iterator[ClusterInfo]:
    """The cluster, with every storage node started again after the test."""
    yield cluster
    for name, proc in cluster.processes.items():
        if proc.role == "node" and not proc.pid:
            local.start(cluster, name)


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


def test_sync_rpcs_refuse_another_placement_map(running: ClusterInfo) -> None:
    stub = node_stubs(running)["node1"]
    with pytest.raises(grpc.RpcError) as raised:
        stub.SyncDigest(pb.SyncDigestRequest(peer="node2", placement="nope", slots=1024))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as raised:
        stub.SyncDigest(pb.SyncDigestRequest(peer="node2", placement="nope", slots=7))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
