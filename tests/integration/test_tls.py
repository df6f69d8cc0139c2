"""TLS everywhere (`tessera cluster up --tls`): storage nodes' Storage and Admin services
and etcd refuse a caller without a certificate of the cluster's CA, whether it speaks
plaintext, TLS without a certificate, or shows another CA's certificate; gateways serve
HTTPS that boto3, the aws CLI, s5cmd and rclone use with the cluster's CA; the cluster
works through all of it (S3 through both gateways, node-to-node repair, `tessera admin
status`); a process with a missing, expired or foreign certificate refuses to start and
says why; and a certificate replaced on disk is served without a restart."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import etcd3
import grpc
import pytest

from coordinator import certs, tls
from coordinator.etcd import connect, parse_endpoints
from proto import admin_pb2 as apb
from proto import admin_pb2_grpc as apb_grpc
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from tests.extra_process import start_extra, stop_extra
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
    for owner in (node, cluster.processes["gateway1"]):  # a node's and a gateway's Admin
        admin = grpc.insecure_channel(f"127.0.0.1:{owner.admin_port}")
        with pytest.raises(grpc.RpcError) as refused, admin:
            apb_grpc.AdminStub(admin).Info(apb.InfoRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

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


def test_s3_tools_speak_https_with_the_cluster_ca(
    cluster: ClusterInfo, s3: Any, bucket: str, tmp_path: Path
) -> None:
    ca = str(cluster.tls_files()[0])
    endpoint = cluster.endpoints[0]
    assert endpoint.startswith("https://")
    body = os.urandom(9 << 20)  # multipart for the aws CLI and s5cmd
    (tmp_path / "up.bin").write_bytes(body)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": cluster.access_key,
        "AWS_SECRET_ACCESS_KEY": cluster.secret_key,
        "AWS_DEFAULT_REGION": cluster.region,
        "AWS_REGION": cluster.region,
        "AWS_CA_BUNDLE": ca,  # the aws CLI and s5cmd (Go's SDK) both read it
    }
    bin_dir = Path(sys.executable).parent

    def run(argv: list[str], environ: dict[str, str] = env) -> str:
        done = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{argv[0]} failed: {done.stderr[-2000:]}"
        return done.stdout

    aws = [str(bin_dir / "aws"), "--endpoint-url", endpoint, "s3"]
    run([*aws, "cp", str(tmp_path / "up.bin"), f"s3://{bucket}/aws.bin"])
    run([*aws, "cp", f"s3://{bucket}/aws.bin", str(tmp_path / "aws.bin")])
    assert (tmp_path / "aws.bin").read_bytes() == body
    s5cmd = [str(bin_dir / "s5cmd"), "--endpoint-url", endpoint]
    run([*s5cmd, "cp", str(tmp_path / "up.bin"), f"s3://{bucket}/s5cmd.bin"])
    listed = run([*s5cmd, "ls", f"s3://{bucket}/"])
    assert "aws.bin" in listed and "s5cmd.bin" in listed
    # rclone takes the CA as a flag; with AWS_CA_BUNDLE set too it refuses its transport.
    rclone_env = {k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"}
    remote = f":s3,provider=Other,env_auth=true,endpoint='{endpoint}':{bucket}/s5cmd.bin"
    rclone = shutil.which("rclone") or "rclone"
    run([rclone, "copyto", "--ca-cert", ca, remote, str(tmp_path / "rclone.bin")], rclone_env)
    assert (tmp_path / "rclone.bin").read_bytes() == body
    assert s3.get_object(Bucket=bucket, Key="s5cmd.bin")["Body"].read() == body

    # The certificate is checked: without the cluster's CA a client refuses the gateway,
    # and the HTTPS port serves no plaintext S3.
    port = int(endpoint.rsplit(":", 1)[1])
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/{bucket}/s5cmd.bin", timeout=5)


def test_etcd_takes_only_the_cluster_certificate(cluster: ClusterInfo, tmp_path: Path) -> None:
    assert cluster.etcd_endpoint.startswith("https://")
    host, port = parse_endpoints(cluster.etcd_endpoint)[0]
    ca, cert, key = cluster.tls_files()
    cert_files.init(tmp_path, "another")
    cert_files.issue(tmp_path, "intruder", ["127.0.0.1"])
    strangers = [
        etcd3.client(host=host, port=port, timeout=3),
        etcd3.client(host=host, port=port, timeout=3, ca_cert=str(ca)),
        etcd3.client(
            host=host,
            port=port,
            timeout=3,
            ca_cert=str(ca),
            cert_key=str(tmp_path / "intruder.key"),
            cert_cert=str(tmp_path / "intruder.crt"),
        ),
    ]
    for client in strangers:
        with pytest.raises(etcd3.exceptions.Etcd3Exception):
            client.get("/tessera/buckets/")
        client.close()
    member = connect(cluster.etcd_endpoint, timeout=3, material=tls.Tls.from_files(ca, cert, key))
    try:
        assert member.status().version
    finally:
        member.close()


def _bad_material(tmp_path: Path, cluster: ClusterInfo) -> dict[str, dict[str, str]]:
    """Environments naming a missing, an expired, a foreign and a mismatched certificate."""
    ca, cert, key = cluster.tls_files()
    ca_key = (cluster.tls_dir / "ca.key").read_bytes()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    old_key, old_cert = certs.issue(ca_key, ca.read_bytes(), "old", ["127.0.0.1"], 30, past)
    (tmp_path / "old.key").write_bytes(old_key)
    (tmp_path / "old.crt").write_bytes(old_cert)
    cert_files.init(tmp_path / "other", "another")
    cert_files.issue(tmp_path / "other", "stranger", ["127.0.0.1"])
    other = tmp_path / "other"

    def env(c: Path, k: Path) -> dict[str, str]:
        return {tls.ENV_CA: str(ca), tls.ENV_CERT: str(c), tls.ENV_KEY: str(k)}

    return {
        "cannot read": env(tmp_path / "missing.crt", key),
        "expired on": env(tmp_path / "old.crt", tmp_path / "old.key"),
        "from another CA": env(other / "stranger.crt", other / "stranger.key"),
        "not the key of certificate": env(cert, tmp_path / "old.key"),
    }


@pytest.mark.parametrize("role", ["gateway", "node"])
def test_a_process_with_a_bad_certificate_says_why_and_stops(
    cluster: ClusterInfo, tmp_path: Path, role: str
) -> None:
    for i, (reason, env) in enumerate(_bad_material(tmp_path, cluster).items()):
        name = f"bad-{role}-{i}"
        child, _ = start_extra(cluster, name, role, env)
        try:
            code = child.wait(timeout=60)
        finally:
            stop_extra(child)
        logged = (cluster.data_dir / "logs" / f"{name}.log").read_text()
        assert code != 0, f"{role} started with a certificate that is {reason}"
        assert reason in logged, logged[-1500:]
        assert "Traceback" not in logged, logged[-3000:]


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _served(port: int, ca: Path, client: tuple[Path, Path] | None = None) -> str:
    """The fingerprint of the certificate a TLS port serves to a new connection."""
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(*client)
        context.set_alpn_protocols(["h2"])  # gRPC's TLS wants HTTP/2
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
            der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return _fingerprint(der)


def test_a_replaced_certificate_is_served_without_a_restart(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    """Runs last in this module: it replaces the cluster's certificate."""
    ca, cert, key = cluster.tls_files()
    pids = {name: proc.pid for name, proc in cluster.processes.items()}
    gateway = cluster.processes["gateway1"].port
    node = cluster.processes["node1"].port
    old = _fingerprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    assert _served(gateway, ca) == old
    cert_files.issue(cluster.tls_dir, cert.stem, ["127.0.0.1", "localhost"])
    new = _fingerprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    deadline = time.monotonic() + 4 * tls.RELOAD_CHECK + 10
    while _served(gateway, ca) != new or _served(node, ca, (cert, key)) != new:
        assert time.monotonic() < deadline, "the new certificate was not served in time"
        time.sleep(0.5)
    # Every channel between the processes works with the new certificate.
    for i in range(6):
        body = os.urandom(10 if i % 2 else 300_000)
        s3_clients[i % 2].put_object(Bucket=bucket, Key=f"r{i}", Body=body)
        got = s3_clients[(i + 1) % 2].get_object(Bucket=bucket, Key=f"r{i}")["Body"].read()
        assert got == body
    assert {name: proc.pid for name, proc in cluster.processes.items()} == pids
    logs = [(cluster.data_dir / "logs" / f"{n}.log").read_text() for n in ("gateway1", "node1")]
    assert all("TLS certificate reloaded" in text for text in logs)
