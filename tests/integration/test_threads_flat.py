"""A long-running server keeps a constant thread count: the etcd-fed caches refresh
(here every second, 30 s by default) without leaving clients, channels or watcher
threads behind, in gateways and storage nodes alike."""

from __future__ import annotations

import os
import time
from typing import Any

from tools.cluster import ClusterInfo

CLUSTER_ENV = {"TESSERA_CACHE_REFRESH_SECONDS": "1"}
REFRESHES = 10
# Thread pools (trio's, gRPC's) start and retire threads on demand: a node moves between
# about 29 and 34. The leak this guards against added 40-80 threads in this window.
TOLERANCE = 12


def _threads(cluster: ClusterInfo) -> dict[str, int]:
    counts = {}
    for name, proc in cluster.processes.items():
        if proc.role != "etcd" and proc.pid:
            counts[name] = len(os.listdir(f"/proc/{proc.pid}/task"))
    return counts


def _traffic(s3: Any, bucket: str, rounds: int) -> None:
    for i in range(rounds):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * 100)
        s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read()
        s3.list_objects_v2(Bucket=bucket)


def test_thread_counts_stay_flat_through_cache_refreshes(
    cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    _traffic(s3, bucket, 20)  # warm every pool up
    time.sleep(3)
    before = _threads(cluster)
    deadline = time.monotonic() + REFRESHES
    while time.monotonic() < deadline:
        _traffic(s3, bucket, 5)
        time.sleep(0.5)
    after = _threads(cluster)
    print(f"\n[threads] before {before} after {REFRESHES} refreshes {after}")
    grown = {n: after[n] - before[n] for n in before if after[n] - before[n] > TOLERANCE}
    assert not grown, f"threads grew: {grown} (before {before}, after {after})"
