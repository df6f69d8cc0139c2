"""`tessera admin` and the Admin gRPC service against a real local cluster: every
process found from etcd, numbers that agree with /metrics and NodeInfo, calls without
the admin token refused, and a SIGKILLed node reported down.

The last test kills a node and starts it again; it runs last in this module (the
cluster fixture is this module's own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from coordinator import admin_token, members, placement
from coordinator.etcd import connect
from coordinator.secrets import read_key_file, write_key_file
from proto import admin_pb2 as apb
from proto import admin_pb2_grpc as apb_grpc
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from tests.unit.gateway.test_metrics import parse, value
from tools import cluster as local

TESSERA = str(Path(sys.executable).parent / "tessera")


def admin(cluster: Any, *words: str, check: bool = True) -> Any:
    """Run `tessera admin WORDS --json` as an operator would, from etcd and the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    argv = [TESSERA, "admin", *words, "--data-dir", str(cluster.data_dir), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    return done


def token_of(cluster: Any) -> str:
    return admin_token.derive(read_key_file(cluster.key_file))


def scrape(url: str) -> list:
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        return parse(reply.read())[1]


def settle_replicas(cluster: Any, expected: int, timeout: float = 20.0) -> list[dict]:
    """Node rows once every replica of the objects written so far has landed."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = admin(cluster, "nodes")
        if sum(n["objects"] or 0 for n in nodes) == expected or time.monotonic() > deadline:
            return nodes
        time.sleep(0.2)


def test_status_shows_every_process(cluster: Any) -> None:
    report = admin(cluster, "status")
    assert report["health"] == "ok", report["problems"]
    assert report["problems"] == []
    assert [n["id"] for n in report["nodes"]] == cluster.nodes
    assert all(n["state"] == "up" and n["placement"] == "active" for n in report["nodes"])
    assert all(n["capacity_bytes"] > 0 and n["error"] is None for n in report["nodes"])
    assert [g["id"] for g in report["gateways"]] == cluster.gateways
    assert all(g["ready"] is True for g in report["gateways"])
    assert report["etcd"]["healthy"] is True
    assert [m["healthy"] for m in report["etcd"]["members"]] == [True]
    client = connect(cluster.etcd_endpoint)
    try:
        epoch, _ = placement.load(client)
    finally:
        client.close()
    assert report["placement"]["epoch"] == epoch > 0
    assert report["totals"]["nodes_up"] == 3 and report["totals"]["nodes_down"] == 0


def test_status_table_reads_well(cluster: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    argv = [TESSERA, "admin", "status", "--data-dir", str(cluster.data_dir)]
    text = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True)
    lines = text.stdout.splitlines()
    assert lines[0] == "Tessera cluster: OK"
    assert "Storage nodes  3 up, 0 down" in text.stdout
    for name in (*cluster.nodes, *cluster.gateways):
        assert any(line.strip().startswith(name) for line in lines), name


def test_node_numbers_agree_with_metrics_and_node_info(cluster: Any, s3: Any, bucket: str) -> None:
    before = sum(n["objects"] for n in admin(cluster, "nodes"))
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"z" * (1000 + i))
    nodes = settle_replicas(cluster, before + 6 * 3)
    assert sum(n["objects"] for n in nodes) == before + 18
    for node in nodes:
        samples = scrape(node["metrics_url"])
        assert value(samples, "storage_objects") == node["objects"]
        assert value(samples, "storage_bytes_stored") == node["bytes_stored"]
        assert value(samples, "storage_capacity_bytes") == node["capacity_bytes"]
        requests = sum(v for n, _, v in samples if n == "storage_requests_total")
        channel = grpc.insecure_channel(node["address"])
        try:
            info = pb_grpc.StorageStub(channel).NodeInfo(pb.NodeInfoRequest(), timeout=5)
        finally:
            channel.close()
        assert (info.objects, info.bytes_stored) == (node["objects"], node["bytes_stored"])
        assert info.capacity_bytes == node["capacity_bytes"]
        assert info.version == node["version"]
        # The admin call came before the scrape: NodeInfo itself is one more RPC after it.
        assert node["requests"] <= requests


def test_gateway_numbers_agree_with_metrics(cluster: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="g", Body=b"gateway bytes")
    s3.get_object(Bucket=bucket, Key="g")["Body"].read()
    gateways = {g["id"]: g for g in admin(cluster, "gateways")}
    assert sorted(gateways) == cluster.gateways
    for name, endpoint in zip(cluster.gateways, cluster.endpoints, strict=True):
        samples = scrape(f"{endpoint}/metrics")  # neither /metrics nor Admin counts itself
        row = gateways[name]
        assert row["requests"] == sum(v for n, _, v in samples if n == "s3_requests_total")
        assert row["bytes_in"] == sum(v for n, _, v in samples if n == "s3_bytes_received_total")
        assert row["bytes_out"] == sum(v for n, _, v in samples if n == "s3_bytes_sent_total")
        assert row["metrics_url"] == f"{endpoint}/metrics"
    assert gateways[cluster.gateways[0]]["requests"] >= 2


def test_placement_agrees_everywhere(cluster: Any) -> None:
    data = admin(cluster, "placement")
    assert [n["node_id"] for n in data["nodes"]] == cluster.nodes
    assert all(n["live"] and n["state"] == "active" for n in data["nodes"])
    assert sorted(v["process"] for v in data["views"]) == sorted(cluster.nodes + cluster.gateways)
    for view in data["views"]:
        assert view["agrees"] is True and view["epoch"] == data["epoch"], view


def test_jobs_list_the_upload_reaper_anti_entropy_and_scrub(cluster: Any) -> None:
    jobs = admin(cluster, "jobs")
    reapers = [j for j in jobs if j["job"] == "upload-reaper"]
    assert sorted(j["process"] for j in reapers) == cluster.gateways
    assert all(j["state"] in ("running", "standby", "idle") for j in reapers)
    node_jobs = [j for j in jobs if j["kind"] == "node"]
    for name in ("repair", "scrub"):  # anti-entropy and scrub run on every node
        assert sorted(j["process"] for j in node_jobs if j["job"] == name) == cluster.nodes
    assert {j["job"] for j in node_jobs} == {"repair", "scrub"}


def test_the_token_command_prints_the_derived_token(cluster: Any) -> None:
    assert admin(cluster, "token") == {"token": token_of(cluster)}
    assert (cluster.data_dir / "admin.token").read_text().strip() == token_of(cluster)


def _admin_addresses(cluster: Any) -> dict[str, str]:
    client = connect(cluster.etcd_endpoint)
    try:
        records = {**members.live_nodes(client), **members.live_gateways(client)}
    finally:
        client.close()
    return {name: rec["admin_address"] for name, rec in records.items()}


def test_grpc_calls_need_the_token(cluster: Any) -> None:
    found = _admin_addresses(cluster)
    assert sorted(found) == sorted(cluster.nodes + cluster.gateways)
    good = admin_token.call_metadata(token_of(cluster))
    for name, address in found.items():
        channel = grpc.insecure_channel(address)
        try:
            stub = apb_grpc.AdminStub(channel)
            for metadata in (None, admin_token.call_metadata("0" * 64)):
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Info(apb.InfoRequest(), timeout=5, metadata=metadata)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Stats(apb.StatsRequest(), timeout=5, metadata=metadata)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            info = stub.Info(apb.InfoRequest(), timeout=5, metadata=good)
            assert info.id == name
            assert info.kind == (apb.NODE if name.startswith("node") else apb.GATEWAY)
            assert info.admin_address == address
            stats = stub.Stats(apb.StatsRequest(), timeout=5, metadata=good)
            if info.kind == apb.NODE:
                assert not stats.latency_bounds and not stats.latency_counts
                usage = stub.Usage(apb.UsageRequest(), timeout=5, metadata=good)
                names = [b.bucket for b in usage.buckets]
                assert names == sorted(names) and all(b.objects > 0 for b in usage.buckets)
            else:
                counts = list(stats.latency_counts)
                assert len(counts) == len(stats.latency_bounds) + 1 and counts == sorted(counts)
        finally:
            channel.close()


def test_a_wrong_cluster_key_is_refused(cluster: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    write_key_file(other)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    argv = [TESSERA, "admin", "nodes", "--json", "--etcd", cluster.etcd_endpoint]
    done = subprocess.run(
        [*argv, "--cluster-key-file", str(other)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    nodes = json.loads(done.stdout)
    assert nodes and all("admin token refused" in n["error"] for n in nodes)
    assert all(n["state"] == "up" and n["objects"] is None for n in nodes)


def test_a_killed_node_is_reported_down(cluster: Any) -> None:
    """Runs last: SIGKILL node3, see it down once its lease expires, then restart it."""
    victim = cluster.nodes[-1]
    local.kill(cluster, victim)
    try:
        deadline = time.monotonic() + 30
        while True:
            report = admin(cluster, "status")
            row = next(n for n in report["nodes"] if n["id"] == victim)
            if row["state"] == "down" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert row["state"] == "down" and row["placement"] == "active"
        assert row["objects"] is None
        assert report["health"] == "degraded"
        assert any(p.startswith(f"{victim} is down") for p in report["problems"])
        assert report["totals"]["nodes_down"] == 1
        others = [n for n in report["nodes"] if n["id"] != victim]
        assert all(n["state"] == "up" and n["error"] is None for n in others)
        data = admin(cluster, "placement")
        live = {n["node_id"]: n["live"] for n in data["nodes"]}
        assert live[victim] is False and sum(live.values()) == 2
    finally:
        local.start(cluster, victim)
    report = admin(cluster, "status")
    assert report["health"] == "ok", report["problems"]
