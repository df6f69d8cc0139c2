"""What the storage nodes themselves hold, asked over gRPC with no gateway in between:
how many copies of each key's newest version exist, and which nodes hold them (for the
repair benchmark and the tests of anti-entropy)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import grpc

from coordinator import tls
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from tools.cluster import ClusterInfo

BATCH = 500


def node_stubs(info: ClusterInfo) -> dict[str, pb_grpc.StorageStub]:
    """A Storage stub per running storage node of the cluster, by node name."""
    dial = tls.dialer(tls.Tls.from_files(*info.tls_files()) if info.tls else None)
    stubs = {}
    for name, proc in info.processes.items():
        if proc.role == "node" and proc.pid:
            stubs[name] = pb_grpc.StorageStub(dial(f"127.0.0.1:{proc.port}"))
    return stubs


def current(
    stubs: dict[str, pb_grpc.StorageStub], bucket: str, keys: list[str]
) -> dict[str, dict[str, pb.ObjectInfo]]:
    """key → node → that node's current row of the key (tombstones too; absent when the
    node holds nothing or does not answer)."""
    held: dict[str, dict[str, pb.ObjectInfo]] = {key: {} for key in keys}
    for name, stub in stubs.items():
        for start in range(0, len(keys), BATCH):
            part = keys[start : start + BATCH]
            try:
                reply = stub.HeadObjects(
                    pb.HeadBatch(heads=[pb.HeadRequest(bucket=bucket, key=k) for k in part]),
                    timeout=10,
                )
            except grpc.RpcError:
                break
            for key, info in zip(part, reply.infos, strict=True):
                if info.found:
                    held[key][name] = info
    return held


def holders_of_newest(rows: dict[str, pb.ObjectInfo]) -> tuple[pb.ObjectInfo | None, set[str]]:
    """The newest version among the nodes' rows of one key, and the nodes holding it."""
    if not rows:
        return None, set()
    newest = max(rows.values(), key=lambda i: (i.timestamp, i.version_id))
    return newest, {n for n, i in rows.items() if i.version_id == newest.version_id}


def short_keys(
    stubs: dict[str, pb_grpc.StorageStub], bucket: str, keys: Iterable[str], replicas: int = 3
) -> dict[str, int]:
    """Keys whose newest version is on fewer (or more) than `replicas` nodes → copies."""
    keys = list(keys)
    held = current(stubs, bucket, keys)
    out = {}
    for key in keys:
        _, nodes = holders_of_newest(held[key])
        if len(nodes) != replicas:
            out[key] = len(nodes)
    return out


def wait_full(
    stubs: dict[str, pb_grpc.StorageStub],
    bucket: str,
    keys: Iterable[str],
    replicas: int = 3,
    timeout: float = 60.0,
) -> tuple[dict[str, int], float]:
    """Poll until every key's newest version is on exactly `replicas` nodes. Returns the
    keys still short at the deadline (empty when it converged) and the seconds it took."""
    keys = list(keys)
    began = time.monotonic()
    while True:
        short = short_keys(stubs, bucket, keys, replicas)
        took = time.monotonic() - began
        if not short or took > timeout:
            return short, took
        time.sleep(0.5)
