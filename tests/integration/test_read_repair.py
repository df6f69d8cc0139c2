"""Read repair: a GET or HEAD that finds a replica without the newest version has a
holder copy it there, with anti-entropy passes turned off (TESSERA_SYNC_INTERVAL=0) so
nothing else could have. Counted from the nodes' own state over gRPC."""

from __future__ import annotations

import signal
from typing import Any

from coordinator import placement
from coordinator.etcd import connect
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.redundancy import current, holders_of_newest, node_stubs, wait_full

CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "0"}


def test_a_read_repairs_the_replica_that_missed_a_write(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    # A read asks the first two replicas in rendezvous order: keys whose first two
    # include node2 are read there (the others show that nothing else repairs).
    client = connect(cluster.etcd_endpoint)
    try:
        _, nodes = placement.load(client)
    finally:
        client.close()

    def read_on_node2(key: str) -> bool:
        return "node2" in [n.node_id for n in placement.replicas_for(nodes, bucket, key)[:2]]

    candidates = [f"k{i}" for i in range(40)]
    keys = [k for k in candidates if read_on_node2(k)][:10]
    unread = [k for k in candidates if not read_on_node2(k)][:4]
    all_keys = keys + unread
    s3 = s3_clients[0]
    for key in all_keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"old")
    local.kill(cluster, "node2", signal.SIGKILL)
    try:
        for key in all_keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"new " + key.encode())
    finally:
        local.start(cluster, "node2")
    stubs = node_stubs(cluster)
    stale = current(stubs, bucket, all_keys)
    assert all(holders_of_newest(stale[key])[1] == {"node1", "node3"} for key in all_keys)

    for _ in range(2):
        for client in s3_clients:
            for key in keys:
                assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == (
                    b"new " + key.encode()
                )
                client.head_object(Bucket=bucket, Key=key)
    short, took = wait_full(stubs, bucket, keys, timeout=30)
    assert not short, f"still stale after {took:.1f}s: {short}"
    unrepaired = current(stubs, bucket, unread)
    assert all(holders_of_newest(unrepaired[key])[1] == {"node1", "node3"} for key in unread)
