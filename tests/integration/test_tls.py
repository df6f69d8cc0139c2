"""Mutual TLS inside the cluster (`tessera cluster up --tls`): storage nodes' Storage and
Admin services refuse a caller without a certificate of the cluster's CA, whether it
speaks plaintext, TLS without a certificate, or shows another CA's certificate; and the
cluster works through them: S3 through both gateways, node-to-node repair, `tessera
admin status`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from coordinator import tls
from proto import admin_pb2 as apb
from proto import admin_pb2_grpc as apb_grpc
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from tools import cert_files
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.cluster_plan import PROJECT_ROOT
from tools.redundancy import node_stubs, wait_full

CLUSTER_TLS = True
CLUSTER_ENV = {"TESSERA_SYNC_INTERVAL": "1"}


def _head(channel: grpc.Channel) -> Any:
    stub = pb_grpc.StorageStub(channel)
    return stub.HeadObject(pb.HeadRequest(bucket="b", key="k"), timeout=5)


def test_a_node_refuses_callers_without_a_cluster_certificate(
    cluster: ClusterInfo, tmp_path: Path
) -> None:
    node = cluster.processes["node1"]
    address = f"127.0.0.1:{node.port}"
    ca, cert, key = cluster.tls_files()
    cert_files.init(tmp_path, "another")
    cert_files.issue(tmp_path, "intruder", ["127.0.0.1"])
    strangers = [
        grpc.insecure_channel(address),
        grpc.secure_channel(address, grpc.ssl_channel_credentials(ca.read_bytes())),
        grpc.secure_channel(
            address,
            grpc.ssl_channel_credentials(
                ca.read_bytes(),
                (tmp_path / "intruder.key").read_bytes(),
                (tmp_path / "intruder.crt").read_bytes(),
            ),
        ),
    ]
    for channel in strangers:
        with pytest.raises(grpc.RpcError) as refused, channel:
            _head(channel)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    admin = grpc.insecure_channel(f"127.0.0.1:{node.admin_port}")
    with pytest.raises(grpc.RpcError), admin:
        apb_grpc.AdminStub(admin).Info(apb.InfoRequest(), timeout=5)

    member = tls.dialer(tls.Tls.from_files(ca, cert, key))(address)
    with member:
        assert not _head(member).found  # answered: the cluster's certificate is let in


def test_the_cluster_works_through_mutual_tls(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    keys = [f"k{i}" for i in range(8)]
    local.kill(cluster, "node3", signal.SIGKILL)
    try:
        for i, key in enumerate(keys):
            body = key.encode() * (1 if i % 2 else 100_000)  # small and streamed
            s3_clients[i % 2].put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        local.start(cluster, "node3")
    for i, key in enumerate(keys):
        body = s3_clients[(i + 1) % 2].get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body == key.encode() * (1 if i % 2 else 100_000)
    # node3 missed every write: node-to-node anti-entropy over mutual TLS brings them.
    short, took = wait_full(node_stubs(cluster), bucket, keys, timeout=60)
    assert not short, f"not repaired in {took:.0f}s: {short}"

    argv = [sys.executable, "-m", "tools.cli", "admin", "status", "--json"]
    argv += ["--data-dir", str(cluster.data_dir)]
    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [n["error"] for n in report["nodes"]] == [None, None, None]
