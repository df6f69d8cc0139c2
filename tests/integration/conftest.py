"""Integration fixtures: one real local cluster (etcd, 3 storage nodes, 2 gateways, free
ports) per test module, and boto3 clients for it.

Logs of every process are in `<cluster.data_dir>/logs/`; a startup failure shows the tail
of the failing process's log.
"""

from __future__ import annotations

import atexit
import functools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import delete_bucket, make_client, unique_bucket_name
from tools import cluster as local
from tools.cluster import ClusterInfo

# tests/clients/conftest.py star-imports these.
__all__ = ["bucket", "cluster", "running", "s3", "s3_clients"]


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterInfo]:
    """A running local cluster for this module, stopped (by PID) afterwards. A module's
    CLUSTER_ENV (a dict) is added to the environment of the cluster's processes; its
    ETCD_MEMBERS (default 1) is how many members etcd has; CLUSTER_TLS (default False)
    makes it with `--tls`; CLUSTER_NODES (default 3) is how many storage nodes it has."""
    from coordinator.credentials import generate_keypair

    module = request.module.__name__.rpartition(".")[2]
    data_dir = tmp_path_factory.mktemp(f"cluster-{module}")
    # Explicit keys: the cluster must not adopt a developer's real AWS keys from the env.
    access_key, secret_key = generate_keypair()
    info = local.up(
        data_dir,
        nodes=getattr(request.module, "CLUSTER_NODES", 3),
        gateways=2,
        access_key=access_key,
        secret_key=secret_key,
        env=getattr(request.module, "CLUSTER_ENV", None),
        etcd_members=getattr(request.module, "ETCD_MEMBERS", 1),
        tls=getattr(request.module, "CLUSTER_TLS", False),
    )
    # The daemons live in their own sessions: if pytest dies before teardown, still stop them.
    stop = functools.partial(local.down, data_dir)
    atexit.register(stop)
    try:
        yield info
    finally:
        stop()
        atexit.unregister(stop)


@pytest.fixture
def running(cluster: ClusterInfo) -> Iterator[ClusterInfo]:
    """The cluster, with every storage node started again after the test."""
    yield cluster
    for name, proc in cluster.processes.items():
        if proc.role == "node" and not proc.pid:
            local.start(cluster, name)


@pytest.fixture(scope="module")
def s3(cluster: ClusterInfo) -> Any:
    """A boto3 S3 client for the first gateway."""
    return _client(cluster, cluster.endpoints[0])


@pytest.fixture(scope="module")
def s3_clients(cluster: ClusterInfo) -> list[Any]:
    """One boto3 S3 client per gateway, in gateway order."""
    return [_client(cluster, url) for url in cluster.endpoints]


def _client(cluster: ClusterInfo, url: str) -> Any:
    """A boto3 client for one gateway (trusting the cluster's CA under --tls)."""
    ca = str(cluster.tls_files()[0]) if cluster.tls else None
    return make_client(url, cluster.access_key, cluster.secret_key, cluster.region, verify=ca)


@pytest.fixture
def bucket(s3: Any, cluster: ClusterInfo, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new bucket named after the test, emptied and deleted afterwards (best effort)."""
    name = unique_bucket_name(request.node.name)
    if cluster.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": cluster.region}
        )
    try:
        yield name
    finally:
        delete_bucket(s3, name)
