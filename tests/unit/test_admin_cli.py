"""`tessera admin`'s pure parts: rows from etcd records and Admin replies, health
(coordinator/cluster_report.py builds them), tables, the admin token's resolution, and
the local cluster's admin ports. Nothing here talks to etcd or starts a process."""

from __future__ import annotations

import argparse
import base64
import json
import os
from pathlib import Path

import pytest

from coordinator import admin_token, cluster_report
from coordinator.placement import NodeEntry
from proto import admin_pb2 as apb
from proto import admin_pb2 as pb
from tools import admin_cli, cli
from tools import cluster as local
from tools.credentials_cli import CliError

GiB = 1024**3


def _answers(objects: int = 10, stored: int = 5 * 1024**2) -> dict:
    return {
        "Info": pb.InfoReply(id="node1", kind=pb.NODE, version="0.1.0", uptime_seconds=3725.4),
        "Usage": pb.UsageReply(
            capacity_bytes=100 * GiB,
            used_bytes=40 * GiB,
            free_bytes=40 * GiB,
            objects=objects,
            bytes_stored=stored,
        ),
        "Stats": pb.StatsReply(
            requests_total=1234, errors_total=2, client_errors_total=5, bytes_in=7, bytes_out=9
        ),
    }


MEMBER = {"node_id": "node1", "address": "10.0.0.1:7100", "admin_address": "10.0.0.1:7101"}


def _report(**changes: object) -> dict:
    entry = NodeEntry("node1", "10.0.0.1:7100", "rack-a")
    up = cluster_report.node_row("node1", entry, MEMBER, _answers(), None)
    down = cluster_report.node_row(
        "node2", NodeEntry("node2", "10.0.0.2:7100", "rack-b"), None, {}, None
    )
    third = cluster_report.node_row(
        "node3", NodeEntry("node3", "10.0.0.3:7100", "rack-c"), MEMBER, _answers(), None
    )
    gateway = cluster_report.gateway_row(
        "gw1",
        {"address": "0.0.0.0:9000", "admin_address": "gw1:9001"},
        {
            "Info": pb.InfoReply(id="gw1", kind=pb.GATEWAY, state="ready", address="gw1:9000"),
            "Stats": pb.StatsReply(requests_total=50, client_errors_total=3),
        },
        None,
    )
    report = {
        "etcd": {
            "endpoint": "10.0.0.9:2379",
            "healthy": True,
            "version": "3.5.1",
            "db_size_bytes": 20480,
            "leader": "etcd1",
            "raft_term": 2,
            "members": [
                {
                    "id": "abc",
                    "name": "etcd1",
                    "client_urls": ["http://10.0.0.9:2379"],
                    "peer_urls": [],
                    "leader": True,
                    "healthy": True,
                    "error": None,
                }
            ],
        },
        "placement": {"epoch": 4, "nodes": 3, "active": 3, "draining": 0, "removed": 0},
        "nodes": [up, down, third],
        "gateways": [gateway],
        "totals": {
            "nodes_up": 2,
            "nodes_down": 1,
            "gateways_up": 1,
            "capacity_bytes": 200 * GiB,
            "used_bytes": 80 * GiB,
            "objects": 20,
            "bytes_stored": 10 * 1024**2,
        },
    }
    report.update(changes)
    report["health"], report["problems"] = cluster_report.assess(report)
    return report


# --- rows and health -----------------------------------------------------------------------


def test_a_node_with_a_lease_is_up_with_its_numbers() -> None:
    row = cluster_report.node_row(
        "node1", NodeEntry("node1", "10.0.0.1:7100", "rack-a"), MEMBER, _answers(), None
    )
    assert row["state"] == "up" and row["placement"] == "active"
    assert (row["objects"], row["bytes_stored"], row["capacity_bytes"]) == (10, 5 << 20, 100 * GiB)
    assert (row["requests"], row["errors"], row["client_errors"]) == (1234, 2, 5)
    assert row["admin_address"] == "10.0.0.1:7101"
    json.dumps(row)  # --json prints it as is


def test_a_placed_node_without_a_lease_is_down() -> None:
    row = cluster_report.node_row("node2", NodeEntry("node2", "10.0.0.2:7100", "b"), None, {}, "x")
    assert row["state"] == "down"
    assert row["objects"] is None and row["capacity_bytes"] is None
    assert row["error"] is None and "lease" in row["down_reason"]
    assert row["address"] == "10.0.0.2:7100"


def test_a_leased_node_missing_from_placement_is_unplaced() -> None:
    row = cluster_report.node_row("node9", None, MEMBER, {}, cluster_report.NOT_SERVED)
    assert (row["state"], row["placement"]) == ("up", "unplaced")
    assert row["address"] == "10.0.0.1:7100"


def test_health_degraded_when_a_node_is_down() -> None:
    report = _report()
    assert report["health"] == "degraded"
    assert report["problems"] == ["node2 is down: in placement but holds no membership lease"]


def test_health_ok_and_unavailable() -> None:
    report = _report()
    nodes = [n for n in report["nodes"] if n["state"] == "up"]
    assert cluster_report.assess({**report, "nodes": nodes}) == ("ok", [])
    one_up = [nodes[0]] + [{**n, "state": "down"} for n in report["nodes"][1:]]
    health, problems = cluster_report.assess({**report, "nodes": one_up})
    assert health == "unavailable"
    assert "only 1 of 3 storage nodes up: writes fail" in problems
    health, problems = cluster_report.assess({**report, "nodes": nodes, "gateways": []})
    assert (health, problems) == ("unavailable", ["no gateway is up"])


def test_removed_nodes_that_are_down_are_no_problem() -> None:
    report = _report()
    report["nodes"][1]["placement"] = "removed"
    assert cluster_report.assess(report) == ("ok", [])


# --- rendering -----------------------------------------------------------------------------


def test_status_reads_as_an_overview() -> None:
    text = admin_cli.render_status(_report())
    lines = text.splitlines()
    assert lines[0] == "Tessera cluster: DEGRADED"
    assert "Storage nodes  2 up, 1 down" in text
    assert "epoch 4, 3 node(s) (3 active, 0 draining, 0 removed)" in text
    node2 = next(line for line in lines if line.strip().startswith("node2"))
    assert "DOWN" in node2 and "10.0.0.2:7100" in node2
    node1 = next(line for line in lines if line.strip().startswith("node1"))
    assert "40.0 GiB / 100 GiB (50%)" in node1 and "5.0 MiB" in node1 and "1h 2m" in node1
    assert "gw1" in text and "ready" in text
    assert "etcd: healthy, version 3.5.1, 1 member(s), leader etcd1" in text
    assert text.rstrip().endswith("- node2 is down: in placement but holds no membership lease")


def test_nodes_and_gateways_tables() -> None:
    report = _report()
    nodes = admin_cli.render_nodes(report["nodes"])
    header = nodes.splitlines()[0].split()
    assert header[:6] == ["NODE", "STATE", "PLACEMENT", "ZONE", "ADDRESS", "ADMIN"]
    assert "1,234" in nodes  # RPCs served by node1
    gateways = admin_cli.render_gateways(report["gateways"])
    assert gateways.splitlines()[0].split()[:3] == ["GATEWAY", "STATE", "ADDRESS"]
    assert "gw1:9000" in gateways
    assert admin_cli.render_gateways([]) == "  no gateway is up"
    errored = {**report["gateways"][0], "error": "admin token refused"}
    assert "gw1: admin token refused" in admin_cli.render_gateways([errored])


def test_placement_and_jobs_tables() -> None:
    data = {
        "epoch": 4,
        "nodes": [
            {**NodeEntry("node1", "a:1", "z1").to_record(), "live": True},
            {**NodeEntry("node2", "b:1", "z2").to_record(), "live": False},
        ],
        "views": [
            {"process": "node1", "kind": "node", "epoch": 4, "nodes": 2, "loaded": True,
             "agrees": True, "error": None},
            {"process": "gw1", "kind": "gateway", "epoch": 3, "nodes": 2, "loaded": True,
             "agrees": False, "error": None},
        ],
    }  # fmt: skip
    text = admin_cli.render_placement(data)
    assert text.startswith("Placement epoch 4: 2 node(s) in etcd")
    assert "DOWN" in text and "NO (stale)" in text
    jobs = [
        {"process": "gw1", "kind": "gateway", "job": "upload-reaper", "state": "running",
         "done": 12, "total": None, "unit": "orphan parts removed", "detail": "x", "error": None},
    ]  # fmt: skip
    assert "12 orphan parts removed" in admin_cli.render_jobs(jobs)
    assert admin_cli.render_jobs([]) == "no background jobs"


def test_a_running_job_with_a_total_shows_when_it_should_end() -> None:
    job = apb.Job(name="repair", state="running", done=100, total=400, unit="copies")
    job.started = 1000.0
    row = cluster_report.job_row("node1", "node", job, now=1050.0)
    assert row["eta_seconds"] == 150.0  # 300 left at 2 per second
    line = admin_cli.render_jobs([row]).splitlines()[1]
    assert "100 / 400 copies" in line and "2m 30s" in line
    assert cluster_report.eta_seconds("idle", 100, 400, 1000.0, 1050.0) is None
    assert cluster_report.eta_seconds("running", 0, 400, 1000.0, 1050.0) is None
    assert cluster_report.eta_seconds("running", 5, 0, 1000.0, 1050.0) is None


# --- the token -----------------------------------------------------------------------------


def _args(**values: object) -> argparse.Namespace:
    base = {"etcd": None, "cluster_key_file": None, "data_dir": None, "admin_token_file": None}
    return argparse.Namespace(**{**base, **values})


def test_token_comes_from_the_cluster_key(tmp_path: Path, monkeypatch) -> None:
    for name in ("TESSERA_ADMIN_TOKEN", "TESSERA_ADMIN_TOKEN_FILE", "TESSERA_CLUSTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TESSERA_CLUSTER_KEY_FILE", raising=False)
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "nowhere"))
    key = bytes(range(32))
    key_file = tmp_path / "cluster.key"
    key_file.write_text(base64.b64encode(key).decode())
    derived = admin_token.derive(key)
    assert admin_cli.resolve_token(_args(cluster_key_file=str(key_file)), {}) == derived
    token_file = tmp_path / "admin.token"
    token_file.write_text("f" * 64 + "\n")
    # An explicit token file wins over the key.
    args = _args(cluster_key_file=str(key_file), admin_token_file=str(token_file))
    assert admin_cli.resolve_token(args, {}) == "f" * 64
    assert admin_cli.resolve_token(_args(), {"TESSERA_ADMIN_TOKEN": "e" * 40}) == "e" * 40
    monkeypatch.setenv("TESSERA_CLUSTER_KEY_FILE", str(key_file))
    assert admin_cli.resolve_token(_args(), {}) == derived
    monkeypatch.delenv("TESSERA_CLUSTER_KEY_FILE")
    with pytest.raises(CliError, match="no admin token"):
        admin_cli.resolve_token(_args(), {})


@pytest.mark.parametrize("command", ["status", "nodes", "gateways", "placement", "jobs", "token"])
def test_help_of_admin_commands(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["admin", command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: tessera admin" in out and "--json" in out and "--etcd" in out


def test_admin_options_parse() -> None:
    args, extras = cli.build_parser().parse_known_args(
        ["admin", "nodes", "--etcd", "h:1", "--json", "--timeout", "1.5"]
    )
    assert extras == []
    assert (args.admin_command, args.etcd, args.json, args.timeout) == ("nodes", "h:1", True, 1.5)


# --- the local cluster's admin and metrics ports -------------------------------------------


def test_admin_ports_from_base_port() -> None:
    layout = local.admin_port_layout(3, 2, 9000)
    assert layout.node_admin == (9030, 9031, 9032)
    assert layout.gateway_admin == (9040, 9041)
    assert layout.node_metrics == (9050, 9051, 9052)
    data = local.port_layout(3, 2, 9000).all()
    assert not set(layout.all()) & set(data)
    with pytest.raises(local.ClusterError):
        local.admin_port_layout(3, 2, 65500)


def test_free_admin_ports_avoid_the_data_ports() -> None:
    taken = local.free_ports(4)
    free = local.free_ports(local.admin_ports_needed(3, 2), exclude=taken)
    layout = local.admin_port_layout(3, 2, None, free=free)
    assert len(set(layout.all())) == 8
    assert not set(layout.all()) & set(taken)


def test_plan_gives_every_process_its_admin_port(tmp_path: Path) -> None:
    info = local.plan(
        tmp_path,
        nodes=3,
        gateways=2,
        base_port=9000,
        region="us-east-1",
        access_key="AK",
        secret_key="SK",
    )
    node2 = info.processes["node2"]
    assert (node2.admin_port, node2.metrics_port) == (9031, 9051)
    assert "--admin-listen=127.0.0.1:9031" in node2.argv
    assert "--metrics-listen=127.0.0.1:9051" in node2.argv
    gateway = info.processes["gateway2"]
    assert gateway.admin_port == 9041 and "--admin-listen=127.0.0.1:9041" in gateway.argv
    assert info.processes["etcd"].admin_port is None
    info.save()
    assert local.ClusterInfo.load(tmp_path) == info


def test_an_old_cluster_json_gets_admin_ports(tmp_path: Path) -> None:
    info = local.plan(
        tmp_path,
        nodes=2,
        gateways=1,
        base_port=None,
        region="us-east-1",
        access_key="AK",
        secret_key="SK",
        free=local.free_ports(local.ports_needed(2, 1)),
    )
    for proc in info.processes.values():
        proc.admin_port = proc.metrics_port = None
    assert local.fill_admin_ports(info)
    assert not local.fill_admin_ports(info)  # nothing left to do
    used = [p for proc in info.processes.values() for p in local.ports_of(proc)]
    assert len(used) == len(set(used)) == 2 + 2 + 1 + 2 * 2 + 1


def test_nodes_get_the_token_file_and_never_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TESSERA_ADMIN_TOKEN", "from-the-shell" * 4)
    info = local.plan(
        tmp_path,
        nodes=1,
        gateways=1,
        base_port=9000,
        region="us-east-1",
        access_key="AK",
        secret_key="SK",
    )
    node_env = local.child_env(info, info.processes["node1"], os.environ)
    assert node_env["TESSERA_ADMIN_TOKEN_FILE"] == str(tmp_path / "admin.token")
    assert "TESSERA_CLUSTER_KEY_FILE" not in node_env and "TESSERA_ADMIN_TOKEN" not in node_env
    gateway_env = local.child_env(info, info.processes["gateway1"], os.environ)
    assert gateway_env["TESSERA_CLUSTER_KEY_FILE"] == str(tmp_path / "cluster.key")
    assert "TESSERA_ADMIN_TOKEN_FILE" not in gateway_env


def _repair_job(done: int, total: int, in_sync: int, peers: int, updated: float) -> pb.Job:
    job = pb.Job(name="repair", state="idle", done=done, total=total, unit="copies")
    job.updated = updated
    job.measures.add(unit="peers in sync", done=in_sync, total=peers)
    return job


def test_redundancy_from_the_nodes_repair_jobs() -> None:
    import time

    now = time.time()
    answers = {
        "node1": ({"Progress": pb.ProgressReply(jobs=[_repair_job(0, 0, 2, 2, now - 5)])}, None),
        "node2": ({"Progress": pb.ProgressReply(jobs=[_repair_job(3, 10, 1, 2, now - 70)])}, None),
        "node3": ({}, "UNAVAILABLE"),
    }
    data = cluster_report.redundancy(answers)
    assert (data["missing"], data["in_sync"]) == (7, False)
    assert [r["node"] for r in data["nodes"]] == ["node1", "node2"]
    line = admin_cli.render_redundancy(data)
    assert line.startswith("repairing: 1 node(s) not in sync, 7 missing copies found")
    assert "oldest last pass 1m 10s ago" in line and "to go" not in line

    running = _repair_job(30, 90, 1, 2, now - 1)
    running.state, running.started = "running", now - 60
    answers["node2"] = ({"Progress": pb.ProgressReply(jobs=[running])}, None)
    line = admin_cli.render_redundancy(cluster_report.redundancy(answers))
    assert "60 missing copies found, about 2m 0s to go" in line  # 60 left at 1 per 2 s

    del answers["node2"]
    line = admin_cli.render_redundancy(cluster_report.redundancy(answers))
    assert line == "every node in sync with its peers; oldest last pass 5s ago"
    assert admin_cli.render_redundancy({"nodes": []}).startswith("unknown")


def test_status_names_the_erasure_coded_buckets() -> None:
    from tools.admin_cli import render_buckets

    assert render_buckets({"count": 2, "coded": {}, "storage_classes": {}}) == "2 (2 replica)"
    data = {
        "count": 6,
        "coded": {f"b{i}": "erasure 4+2" for i in range(4)},
        "storage_classes": {"STANDARD_IA": "erasure 2+1"},
    }
    assert render_buckets(data) == (
        "6 (2 replica; erasure-coded: b0 erasure 4+2, b1 erasure 4+2, b2 erasure 4+2, "
        "and 1 more); storage classes: STANDARD_IA as erasure 2+1"
    )
