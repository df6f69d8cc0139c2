"""A gateway colocated with a storage node (`--local-node`, what `tessera node` sets):
reads take their bytes from this host's replica when it holds the newest version, and
from another when it is stale; any gateway lists every live gateway with its endpoint,
node and zone at /.well-known/tessera/gateways."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.extra_process import start_extra, stop_extra, wait_for_gateway
from tests.helpers import make_client
from tests.integration.test_metrics import _scrape, _total
from tools import cluster as local
from tools.cluster import ClusterInfo

LOCAL = "node2"
SMALL = 100_000  # comes inline with the quorum HEAD
BIG = 1_500_000  # streamed (above the inline limit of a HEAD)


@pytest.fixture(scope="module")
def colocated(cluster: ClusterInfo) -> Iterator[tuple[str, Any]]:
    """(endpoint, boto3 client) of a gateway that has node2 on its host."""
    child, port = start_extra(
        cluster, "gateway-colocated", "gateway", {"TESSERA_LOCAL_NODE": LOCAL}
    )
    try:
        wait_for_gateway(port)
        endpoint = f"http://127.0.0.1:{port}"
        yield endpoint, make_client(endpoint, cluster.access_key, cluster.secret_key)
    finally:
        stop_extra(child)


def _node_gets(cluster: ClusterInfo) -> dict[str, float]:
    """GetObject streams each storage node served."""
    counts = {}
    for name in cluster.nodes:
        _, samples = _scrape(f"http://127.0.0.1:{cluster.processes[name].metrics_port}")
        counts[name] = _total(samples, "storage_requests_total", method="GetObject")
    return counts


def test_a_colocated_gateway_reads_from_its_own_node(
    cluster: ClusterInfo, s3: Any, bucket: str, colocated: tuple[str, Any]
) -> None:
    endpoint, client = colocated
    bodies = {f"k{i}": os.urandom(BIG if i % 2 else SMALL) for i in range(10)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    _, before = _scrape(endpoint)
    nodes_before = _node_gets(cluster)
    for key, body in bodies.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    _, after = _scrape(endpoint)
    nodes_after = _node_gets(cluster)

    def reads(source: str) -> float:
        name = "tessera_gateway_object_reads_total"
        return _total(after, name, source=source) - _total(before, name, source=source)

    # Three nodes, three replicas: node2 holds every key, so every stream is local.
    assert reads("local") == len(bodies) and reads("remote") == 0
    streamed = sum(len(body) == BIG for body in bodies.values())
    served = {name: nodes_after[name] - nodes_before[name] for name in cluster.nodes}
    assert served == {"node1": 0, "node2": streamed, "node3": 0}


def test_a_stale_local_replica_is_not_read(
    running: ClusterInfo, s3: Any, bucket: str, colocated: tuple[str, Any]
) -> None:
    _, client = colocated
    old, new = os.urandom(BIG), os.urandom(BIG)
    s3.put_object(Bucket=bucket, Key="k", Body=old)
    local.kill(running, LOCAL, signal.SIGSTOP)  # node2 misses the overwrite
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=new)
    finally:
        local.kill(running, LOCAL, signal.SIGCONT)
    # node2 answers first with the old version; the quorum read knows better.
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == new


def test_every_gateway_lists_the_live_gateways(
    cluster: ClusterInfo, colocated: tuple[str, Any]
) -> None:
    endpoint, _ = colocated
    for url in (endpoint, cluster.endpoints[0]):
        with urllib.request.urlopen(f"{url}/.well-known/tessera/gateways", timeout=10) as reply:
            assert reply.headers["Content-Type"] == "application/json"
            listed = json.load(reply)["gateways"]
        by_endpoint = {g["endpoint"]: g for g in listed}
        assert set(cluster.endpoints) | {endpoint} == set(by_endpoint)
        mine = by_endpoint[endpoint]
        assert (mine["id"], mine["node"], mine["zone"]) == ("gateway-colocated", LOCAL, "zone-2")
        assert by_endpoint[cluster.endpoints[0]]["node"] is None
