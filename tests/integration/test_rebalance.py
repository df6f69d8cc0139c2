"""Rebalance on join: a fourth storage node added to a loaded 3-node cluster the way an
operator does (`tessera cluster up --nodes 4`) receives its share of the existing keys,
the node each key left drops its copy once the new replicas hold it, and reads keep
working throughout. Checked from every node's own state over gRPC."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import grpc

from coordinator import members, placement
from coordinator.etcd import connect
from proto import storage_pb2_grpc as pb_grpc
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.redundancy import current, holders_of_newest

CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "1"}
SIZES = [0, 100, 4096, 200_000, 700_000]
CONVERGE = 120.0


def _body(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _placement(cluster: ClusterInfo) -> list[placement.NodeEntry]:
    client = connect(cluster.etcd_endpoint)
    try:
        return placement.load(client)[1]
    finally:
        client.close()


def test_a_new_node_takes_its_share_and_the_old_copies_go(
    cluster: ClusterInfo, s3: Any, bucket: str
) -> None:
    written = {f"obj-{i:03d}": SIZES[i % len(SIZES)] for i in range(150)}
    for key, size in written.items():
        s3.put_object(Bucket=bucket, Key=key, Body=_body(key, size))
    for key in list(written)[:10]:
        s3.delete_object(Bucket=bucket, Key=key)
        del written[key]

    failures: list[str] = []
    reads = 0
    stop = threading.Event()

    def read_all_the_time() -> None:
        nonlocal reads
        while not stop.is_set():
            for key, size in list(written.items())[::7]:
                try:
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                except Exception as exc:
                    failures.append(f"{key}: {exc}")
                    continue
                reads += 1
                if body != _body(key, size):
                    failures.append(f"{key}: wrong bytes")

    reader = threading.Thread(target=read_all_the_time, daemon=True)
    reader.start()
    # As `tessera cluster up --nodes 4` does (keys given: not adopted from the env).
    grown = local.up(
        cluster.data_dir, nodes=4, access_key=cluster.access_key, secret_key=cluster.secret_key
    )
    port = grown.processes["node4"].port
    try:
        stubs = {
            name: pb_grpc.StorageStub(grpc.insecure_channel(f"127.0.0.1:{proc.port}"))
            for name, proc in cluster.processes.items()
            if proc.role == "node"
        }
        stubs["node4"] = pb_grpc.StorageStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        deadline = time.monotonic() + 30
        while "node4" not in {n.node_id for n in _placement(cluster)}:
            assert time.monotonic() < deadline, "node4 never joined the placement map"
            time.sleep(0.2)
        nodes = _placement(cluster)
        every = list(written) + [f"obj-{i:03d}" for i in range(10)]
        owners = {
            key: {n.node_id for n in placement.replicas_for(nodes, bucket, key)} for key in every
        }
        assert any("node4" in o for o in owners.values())

        began = time.monotonic()
        while True:
            held = current(stubs, bucket, every)
            wrong = {key: sorted(rows) for key, rows in held.items() if set(rows) != owners[key]}
            if not wrong or time.monotonic() - began > CONVERGE:
                break
            time.sleep(1)
        took = time.monotonic() - began
        assert not wrong, (
            f"{len(wrong)} keys not on exactly their replicas: {list(wrong.items())[:5]}"
        )
        for key, rows in held.items():
            newest, holders = holders_of_newest(rows)
            assert newest is not None and holders == owners[key]
            assert newest.deleted == (key not in written)
        # Once handed off, every node says so in its membership record: gateways stop
        # looking beyond a key's replicas on a miss (gateway/cluster/nodes.py).
        deadline = time.monotonic() + 30
        while True:
            client = connect(cluster.etcd_endpoint)
            try:
                flags = {n: r.get("handoff") for n, r in members.live_nodes(client).items()}
            finally:
                client.close()
            if flags == dict.fromkeys(("node1", "node2", "node3", "node4"), False):
                break
            assert time.monotonic() < deadline, f"hand-off flags never cleared: {flags}"
            time.sleep(0.5)
        moved = sum("node4" in o for o in owners.values())
        print(
            f"\n[rebalance] {moved} of {len(every)} keys moved to node4 in {took:.1f}s; {reads} reads"
        )
    finally:
        stop.set()
        reader.join(timeout=30)
    assert not failures, failures[:5]
    assert reads > 0
    for key, size in written.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == _body(key, size)
