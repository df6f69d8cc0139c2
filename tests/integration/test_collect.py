"""Garbage collection (storage_node/collector.py): tombstones of unversioned keys and
remembered deletes by id are dropped from every node once no node holds anything they
shadow, and not while a node that may hold the old bytes is down. Checked in each
node's own index; deleted keys must stay deleted throughout.

Passes run every second and entries older than 2 s may go (TESSERA_SYNC_INTERVAL,
TESSERA_GC_MIN_AGE).
"""

from __future__ import annotations

import signal
import sqlite3
import time
import urllib.request
from typing import Any

from botocore.exceptions import ClientError

from tests.helpers import set_versioning
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.redundancy import node_stubs, wait_full

CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "1", "TESSERA_GC_MIN_AGE": "2"}
WITHIN = 60.0


def _count(cluster: ClusterInfo, node: str, sql: str, *args: Any) -> int:
    path = cluster.data_dir / node / "index.sqlite3"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(sql, args).fetchone()[0])
    finally:
        conn.close()


def _tombstones(cluster: ClusterInfo, bucket: str) -> dict[str, int]:
    sql = "SELECT COUNT(*) FROM objects WHERE bucket=? AND deleted=1"
    return {node: _count(cluster, node, sql, bucket) for node in cluster.nodes}


def _rows(cluster: ClusterInfo, bucket: str) -> dict[str, int]:
    sql = (
        "SELECT (SELECT COUNT(*) FROM objects WHERE bucket=?1)"
        " + (SELECT COUNT(*) FROM versions WHERE bucket=?1)"
    )
    return {node: _count(cluster, node, sql, bucket) for node in cluster.nodes}


def _wait(what: str, done: Any, within: float = WITHIN) -> float:
    began = time.monotonic()
    while not done():
        assert time.monotonic() - began < within, f"{what} not within {within:.0f}s"
        time.sleep(0.5)
    return time.monotonic() - began


def _gone(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def test_tombstones_go_once_every_node_holds_them(
    running: ClusterInfo, s3: Any, bucket: str
) -> None:
    keys = [f"k{i}" for i in range(30)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode() * 100)
    for key in keys[:20]:
        s3.delete_object(Bucket=bucket, Key=key)
    took = _wait(
        "every tombstone collected", lambda: not any(_tombstones(running, bucket).values())
    )
    print(f"\n[collect] 20 tombstones gone from every node {took:.1f}s after the deletes")
    assert sum(_rows(running, bucket).values()) == 10 * 3  # the live keys, 3 copies each
    assert all(_gone(s3, bucket, key) for key in keys[:20])
    for key in keys[20:]:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode() * 100


def test_no_tombstone_goes_while_a_node_with_the_old_bytes_is_down(
    running: ClusterInfo, s3: Any, bucket: str
) -> None:
    keys = [f"k{i}" for i in range(12)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"old bytes")
    stubs = node_stubs(running)
    assert not wait_full(stubs, bucket, keys, timeout=30)[0]
    local.kill(running, "node3", signal.SIGKILL)  # it keeps the old bytes of every key
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    time.sleep(8)  # several passes and collections' worth, with node3 away
    held = _tombstones(running, bucket)
    assert held["node1"] + held["node2"] > 0, held
    local.start(running, "node3")
    took = _wait(
        "the deletes reaching node3 and every tombstone collected",
        lambda: not any(_rows(running, bucket).values()),
    )
    print(f"\n[collect] node3 back: deletes applied and collected in {took:.1f}s")
    for _ in range(3):  # nothing comes back afterwards either
        assert all(_gone(s3, bucket, key) for key in keys)
        time.sleep(1)
    assert not any(_rows(running, bucket).values())


def test_remembered_deletes_by_id_go_once_no_node_holds_the_version(
    running: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    s3 = s3_clients[0]
    set_versioning(s3_clients, bucket, "Enabled")
    ids = [
        s3.put_object(Bucket=bucket, Key="v", Body=str(i).encode())["VersionId"] for i in range(4)
    ]
    for version_id in ids[:3]:
        s3.delete_object(Bucket=bucket, Key="v", VersionId=version_id)
    sql = "SELECT COUNT(*) FROM purged WHERE bucket=?"
    took = _wait(
        "every purge record collected",
        lambda: not any(_count(running, n, sql, bucket) for n in running.nodes),
    )
    print(f"\n[collect] 3 purge records gone from every node in {took:.1f}s")
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in listed] == [ids[3]]
    collected = 0.0
    for proc in running.processes.values():
        if proc.role == "node":
            url = f"http://127.0.0.1:{proc.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as reply:
                for line in reply.read().decode().splitlines():
                    if line.startswith("tessera_repair_purges_collected"):
                        collected += float(line.split()[-1])
    assert collected >= 3
