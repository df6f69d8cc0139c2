"""Unit tests of the `tessera` command's pure parts: parsing, port layout, root key
resolution, cluster.json, rendering, logging and the bench's arithmetic. Nothing here
starts a process."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import bench, cli
from tools import cluster as local
from tools.cluster import ClusterError, ClusterInfo
from tools.cluster_plan import add_nodes, check_layout, used_ports


def _plan(data_dir: Path, **overrides: object) -> ClusterInfo:
    options: dict[str, object] = {
        "nodes": 3,
        "gateways": 2,
        "base_port": 9000,
        "region": "us-east-1",
        "access_key": "AKTEST",
        "secret_key": "secret/with+chars",
    }
    options.update(overrides)
    return local.plan(data_dir, **options)  # type: ignore[arg-type]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- port layout ---------------------------------------------------------------------------


def test_port_layout_from_base_port() -> None:
    layout = local.port_layout(3, 2, 9000)
    assert (layout.etcd_client, layout.etcd_peer) == (9000, 9001)
    assert layout.nodes == (9010, 9011, 9012)
    assert layout.gateways == (9020, 9021)


def test_port_layout_widens_blocks_for_many_processes() -> None:
    layout = local.port_layout(12, 3, 9000)
    assert layout.nodes == tuple(range(9020, 9032))
    assert layout.gateways == (9040, 9041, 9042)
    assert len(set(layout.all())) == len(layout.all())


def test_port_layout_free_ports_are_used_in_order() -> None:
    layout = local.port_layout(2, 1, None, free=[5001, 5002, 5003, 5004, 5005])
    assert layout == local.PortLayout(5001, 5002, (5003, 5004), (5005,))


def test_port_layout_rejects_impossible_requests() -> None:
    with pytest.raises(ClusterError):
        local.port_layout(3, 2, 65530)
    with pytest.raises(ClusterError):
        local.port_layout(-1, 2, 9000)


def test_free_ports_are_distinct() -> None:
    ports = local.free_ports(6)
    assert len(set(ports)) == 6
    assert all(1024 <= p <= 65535 for p in ports)


def test_etcd_only_layout() -> None:
    layout = local.port_layout(0, 0, 7000)
    assert layout.all() == [7000, 7001]


# --- root key ------------------------------------------------------------------------------

ENV = {
    "TESSERA_ROOT_ACCESS_KEY": "TESSERA_AK",
    "TESSERA_ROOT_SECRET_KEY": "tessera-sk",
    "AWS_ACCESS_KEY_ID": "AWS_AK",
    "AWS_SECRET_ACCESS_KEY": "aws-sk",
}


def test_root_key_arguments_win() -> None:
    assert local.resolve_root_key("ARG", "arg-sk", ENV, ("OLD", "old")) == (
        "ARG",
        "arg-sk",
        "arguments",
    )


def test_root_key_tessera_env_before_aws_env() -> None:
    access, secret, source = local.resolve_root_key(None, None, ENV, ("OLD", "old"))
    assert (access, secret, source) == ("TESSERA_AK", "tessera-sk", "$TESSERA_ROOT_ACCESS_KEY")


def test_root_key_aws_env_before_remembered() -> None:
    env = {k: v for k, v in ENV.items() if k.startswith("AWS_")}
    assert local.resolve_root_key(None, None, env, ("OLD", "old"))[:2] == ("AWS_AK", "aws-sk")


def test_root_key_half_set_env_is_skipped() -> None:
    env = {"TESSERA_ROOT_ACCESS_KEY": "ONLY_ACCESS", "AWS_ACCESS_KEY_ID": "ONLY_ACCESS_TOO"}
    assert local.resolve_root_key(None, None, env, ("OLD", "old")) == ("OLD", "old", "cluster.json")


def test_root_key_generated_last() -> None:
    access, secret, source = local.resolve_root_key(None, None, {}, None)
    assert source == "generated"
    assert len(access) == 20 and len(secret) == 40


def test_root_key_needs_both_halves() -> None:
    with pytest.raises(ClusterError):
        local.resolve_root_key("ONLY", None, {}, None)


# --- plan and cluster.json -----------------------------------------------------------------


def test_plan_names_ports_and_argv(tmp_path: Path) -> None:
    info = _plan(tmp_path)
    assert list(info.processes) == ["etcd", "node1", "node2", "node3", "gateway1", "gateway2"]
    assert info.nodes == ["node1", "node2", "node3"]
    assert info.gateways == ["gateway1", "gateway2"]
    assert info.etcd_endpoint == "127.0.0.1:9000"
    assert info.endpoints == ["http://127.0.0.1:9020", "http://127.0.0.1:9021"]

    etcd = info.processes["etcd"]
    assert etcd.data_dir == tmp_path / "etcd" and etcd.peer_port == 9001
    assert "--listen-client-urls=http://127.0.0.1:9000" in etcd.argv
    assert "--initial-cluster=tessera=http://127.0.0.1:9001" in etcd.argv
    assert "--auto-compaction-retention=1h" in etcd.argv

    node2 = info.processes["node2"]
    assert node2.argv[:4] == [sys.executable, "-m", "tools.cli", "storage-node"]
    assert "--zone=zone-2" in node2.argv and "--listen=127.0.0.1:9011" in node2.argv
    assert f"--data-dir={tmp_path / 'node2'}" in node2.argv
    assert node2.log_path == tmp_path / "logs" / "node2.log"

    gateway = info.processes["gateway2"]
    assert gateway.argv[3] == "gateway"
    assert {"--listen=127.0.0.1:9021", "--region=us-east-1", "--gateway-id=gateway2"} <= set(
        gateway.argv
    )
    assert "--etcd=127.0.0.1:9000" in gateway.argv


def test_plan_takes_free_ports_given_and_touches_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    free = list(range(20000, 20000 + local.ports_needed(2, 1)))
    info = _plan(data_dir, nodes=2, gateways=1, base_port=None, free=iter(free))
    ports = [port for proc in info.processes.values() for port in local.ports_of(proc)]
    assert sorted(ports) == free  # every one used, none twice
    assert info.etcd_endpoint == "127.0.0.1:20000"
    assert not data_dir.exists()  # a plan is on paper only
    with pytest.raises(ClusterError, match="too few free ports"):
        _plan(data_dir, nodes=2, gateways=1, base_port=None, free=free[:-1])


def test_plan_with_three_etcd_members(tmp_path: Path) -> None:
    info = _plan(tmp_path, etcd_members=3)
    assert info.etcd_members == ["etcd", "etcd2", "etcd3"]
    assert info.etcd_endpoint == "127.0.0.1:9000,127.0.0.1:9002,127.0.0.1:9004"
    initial = (
        "--initial-cluster=tessera=http://127.0.0.1:9001,tessera2=http://127.0.0.1:9003,"
        "tessera3=http://127.0.0.1:9005"
    )
    for name, client, peer in (("etcd", 9000, 9001), ("etcd3", 9004, 9005)):
        etcd = info.processes[name]
        assert etcd.data_dir == tmp_path / name and (etcd.port, etcd.peer_port) == (client, peer)
        assert f"--name=tessera{name[4:]}" in etcd.argv and initial in etcd.argv
    assert f"--etcd={info.etcd_endpoint}" in info.processes["node1"].argv
    assert len(set(used_ports(info))) == len(used_ports(info))

    free = list(range(20000, 20000 + local.ports_needed(2, 1, etcd_members=3)))
    spread = _plan(tmp_path, nodes=2, gateways=1, base_port=None, free=free, etcd_members=3)
    assert sorted(used_ports(spread)) == free
    with pytest.raises(ClusterError, match="etcd members"):
        _plan(tmp_path, etcd_members=2)


def test_a_cluster_keeps_its_etcd_member_count(tmp_path: Path) -> None:
    info = _plan(tmp_path, etcd_members=3)
    check_layout(info, None, None, None, None, 3)
    with pytest.raises(ClusterError, match="etcd members 3, not 1"):
        check_layout(info, None, None, None, None, 1)


def test_a_cluster_grows_by_nodes_on_its_port_layout(tmp_path: Path) -> None:
    info = _plan(tmp_path)
    assert add_nodes(info, 5) == ["node4", "node5"]
    assert list(info.processes)[:6] == ["etcd", "node1", "node2", "node3", "node4", "node5"]
    node5 = info.processes["node5"]
    assert (node5.port, node5.admin_port, node5.metrics_port) == (9014, 9034, 9054)
    assert node5.data_dir == tmp_path / "node5" and "--node-id=node5" in node5.argv
    assert add_nodes(info, 5) == []
    with pytest.raises(ClusterError, match="drain it and remove it"):
        add_nodes(info, 2)
    with pytest.raises(ClusterError, match="do not fit"):
        add_nodes(info, 11)

    spread = _plan(tmp_path, base_port=None, free=range(20000, 20100))
    assert add_nodes(spread, 4, free=[30001, 30002, 30003]) == ["node4"]
    assert local.ports_of(spread.processes["node4"]) == [30001, 30002, 30003]


def test_cluster_json_round_trip(tmp_path: Path) -> None:
    info = _plan(tmp_path, env={"TESSERA_LOG_LEVEL": "DEBUG"})
    info.processes["node1"].pid = 4242
    info.state = "running"
    info.save()
    assert stat.S_IMODE(os.stat(tmp_path / "cluster.json").st_mode) == 0o600
    loaded = ClusterInfo.load(tmp_path)
    assert loaded == info
    assert loaded.processes["node1"].pid == 4242
    assert json.loads((tmp_path / "cluster.json").read_text())["version"] == 1


def test_cluster_json_missing_or_foreign(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no cluster"):
        ClusterInfo.load(tmp_path)
    (tmp_path / "cluster.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(ClusterError, match="version"):
        ClusterInfo.load(tmp_path)


def test_up_refuses_a_different_layout(tmp_path: Path) -> None:
    _plan(tmp_path).save()
    with pytest.raises(ClusterError, match="gateways 2, not 5"):
        local.up(tmp_path, gateways=5)
    with pytest.raises(ClusterError, match="3 storage nodes; to take one out"):
        local.up(tmp_path, nodes=2)
    with pytest.raises(ClusterError, match="base port"):
        local.up(tmp_path, base_port=9100)


def test_status_of_a_stopped_cluster(tmp_path: Path) -> None:
    _plan(tmp_path).save()
    data = local.status(tmp_path)
    assert data["state"] == "stopped" and data["running"] is False
    assert data["processes"]["gateway1"] == {
        "role": "gateway",
        "pid": None,
        "port": 9020,
        "alive": False,
        "ready": None,
        "restarts": 0,
        "log_path": str(tmp_path / "logs" / "gateway1.log"),
    }
    assert data["supervisor"] == {"running": False, "pid": None, "log_path": None}


def test_a_reused_pid_is_not_ours() -> None:
    me = local.ProcessInfo(
        "node1", os.getpid(), ["python", "-m", "something", "else"], Path("x"), 1
    )
    assert not local.is_alive(me)
    argv = [os.fsdecode(a) for a in Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]]
    me.argv = argv
    assert local.is_alive(me)
    assert not local.is_alive(local.ProcessInfo("node1", None, argv, Path("x"), 1))


def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert local.tail(log, 3) == "line 97\nline 98\nline 99"
    assert local.tail(tmp_path / "missing.log") == ""


def test_render_up_gives_copy_paste_lines(tmp_path: Path) -> None:
    text = local.render_up(_plan(tmp_path), tmp_path)
    assert "http://127.0.0.1:9020" in text and "http://127.0.0.1:9021" in text
    assert "AKTEST" in text and "secret/with+chars" in text
    assert "aws --endpoint-url http://127.0.0.1:9020 s3 ls" in text
    assert "http://127.0.0.1:9020/console" in text
    assert f"tessera cluster down --data-dir {tmp_path}" in text


def test_render_status_table(tmp_path: Path) -> None:
    _plan(tmp_path).save()
    text = local.render_status(local.status(tmp_path))
    assert "NAME" in text and "gateway2" in text and "9021" in text and "stopped" in text


# --- command line --------------------------------------------------------------------------

HELP_COMMANDS = [
    [],
    ["cluster"],
    ["cluster", "up"],
    ["cluster", "down"],
    ["cluster", "status"],
    ["bench"],
]


@pytest.mark.parametrize("words", HELP_COMMANDS, ids=lambda w: " ".join(w) or "tessera")
def test_help_of_every_command(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([*words, "--help"])
    assert exc.value.code == 0
    assert "usage: tessera" in capsys.readouterr().out


@pytest.mark.parametrize("daemon", ["storage-node", "gateway"])
def test_daemon_help_lists_the_daemons_own_flags(
    daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = cli.DAEMONS[daemon][0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    with pytest.raises(SystemExit) as exc:
        cli.main([daemon, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: tessera {daemon}" in out and "--etcd" in out and "--log-level" in out


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["cluster"])
    assert exc.value.code == 2


def test_unknown_options_are_errors() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["cluster", "status", "--bogus"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["--log-level", "loud", "cluster", "status"])
    assert exc.value.code == 2


def test_cluster_up_options_parse(tmp_path: Path) -> None:
    args, extras = cli.build_parser().parse_known_args(
        [
            "--log-level",
            "debug",
            "cluster",
            "up",
            "--data-dir",
            str(tmp_path),
            "--nodes",
            "5",
            "--gateways",
            "1",
            "--base-port",
            "9100",
            "--region",
            "eu-west-1",
        ]
    )
    assert extras == []
    assert args.tessera_log_level == "DEBUG"
    assert (args.command, args.cluster_command) == ("cluster", "up")
    assert (args.data_dir, args.nodes, args.gateways) == (tmp_path, 5, 1)
    assert (args.base_port, args.region, args.wait) == (9100, "eu-west-1", 60.0)


def test_cluster_up_defaults_come_from_cluster_json() -> None:
    args = cli.build_parser().parse_args(["cluster", "up"])
    assert (args.nodes, args.gateways, args.region, args.base_port) == (None, None, None, None)


def test_data_dir_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESSERA_DATA_DIR", raising=False)
    assert cli.build_parser().parse_args(["cluster", "down"]).data_dir == Path(".tessera")
    monkeypatch.setenv("TESSERA_DATA_DIR", "/srv/tessera")
    assert cli.build_parser().parse_args(["cluster", "status"]).data_dir == Path("/srv/tessera")


def test_daemon_arguments_are_passed_through() -> None:
    args, extras = cli.build_parser().parse_known_args(
        ["storage-node", "--node-id", "n1", "--data-dir", "/x", "-h"]
    )
    assert args.command == "storage-node"
    assert extras == ["--node-id", "n1", "--data-dir", "/x", "-h"]


def test_status_without_cluster_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    assert cli.main(["cluster", "status", "--data-dir", str(tmp_path)]) == 1
    assert "no cluster" in capsys.readouterr().err


def test_status_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    _plan(tmp_path).save()
    assert cli.main(["cluster", "status", "--data-dir", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["endpoints"] == ["http://127.0.0.1:9020", "http://127.0.0.1:9021"]
    assert data["access_key"] == "AKTEST" and data["region"] == "us-east-1"
    assert data["processes"]["etcd"]["alive"] is False


def test_down_without_cluster_is_a_no_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    assert cli.main(["cluster", "down", "--data-dir", str(tmp_path)]) == 0
    assert "no cluster running" in capsys.readouterr().out


# --- logging -------------------------------------------------------------------------------


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("tessera.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_text_log_lines_are_one_line_key_values() -> None:
    line = cli.TextFormatter().format(
        _record("node %s down\nreally", "n1", op="PutObject", detail="two words")
    )
    assert "\n" not in line
    ts, level, logger, rest = line.split(" ", 3)
    assert ts.endswith("Z") and level == "WARNING" and logger == "tessera.test"
    assert rest == 'node n1 down\\nreally op=PutObject detail="two words"'


def test_text_log_exceptions_stay_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = cli.TextFormatter().format(record)
    assert "\n" not in line and "exc=" in line and "ValueError: boom" in line


def test_json_log_lines() -> None:
    data = json.loads(cli.JsonFormatter().format(_record("hello %d", 5, op="GetObject")))
    assert data["msg"] == "hello 5" and data["op"] == "GetObject"
    assert data["level"] == "WARNING" and data["logger"] == "tessera.test"


def test_configure_logging_level_from_env(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    monkeypatch.setenv("TESSERA_LOG_LEVEL", "warning")
    cli.configure_logging()
    root = logging.getLogger()
    assert root.level == logging.WARNING
    assert [h.get_name() for h in root.handlers].count("tessera") == 1
    cli.configure_logging("DEBUG", "json")  # replaces, never stacks handlers
    assert root.level == logging.DEBUG
    assert [h.get_name() for h in root.handlers].count("tessera") == 1
    assert logging.getLogger("botocore").level == logging.WARNING


# --- bench ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64MiB", 64 * 1024**2),
        ("4KiB", 4096),
        ("4k", 4096),
        ("1MB", 1_000_000),
        ("1.5GiB", 3 * 1024**3 // 2),
        ("1000", 1000),
        ("0", 0),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert bench.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "12 parsecs", "-1"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_size(text)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 50) == 50.0
    assert bench.percentile(values, 99) == 99.0
    assert bench.percentile([7.0], 99) == 7.0
    assert bench.percentile([], 50) == 0.0


def test_phase_result_rates() -> None:
    r = bench.PhaseResult("PUT large", count=4, size=1024**2, seconds=2.0, bytes=4 * 1024**2)
    r.errors = 1
    r.latencies = [0.1, 0.2, 0.3]
    assert r.mib_per_s == 2.0 and r.ops_per_s == 1.5
    assert r.to_dict()["p50_ms"] == 200.0
    assert r.cpu_ms_per_op is None and "server CPU" not in bench.render(
        bench.BenchConfig(["http://x"], "a", "s"), "b", [r]
    )
    r.server_cpu = 0.3
    assert r.cpu_ms_per_op == pytest.approx(100.0) and r.to_dict()["server_cpu_ms_per_op"] == 100.0
    table = bench.render(bench.BenchConfig(["http://x"], "a", "s"), "b", [r])
    assert "server CPU ms/op" in table.splitlines()[2] and "100.00" in table.splitlines()[3]


def test_server_cpu_seconds_reads_proc() -> None:
    spent = bench.server_cpu_seconds({"me": os.getpid(), "gone": 2**22 + 7})
    sum(i * i for i in range(300_000))  # burn a little
    assert bench.server_cpu_seconds({"me": os.getpid()}) >= spent > 0


def test_run_phase_counts_errors() -> None:
    def op(i: int) -> int:
        if i % 5 == 0:
            raise RuntimeError("nope")
        return 10

    result = bench.run_phase("X", 20, 10, op, concurrency=4)
    assert (result.errors, result.bytes, len(result.latencies)) == (4, 160, 16)
    assert result.first_error == "RuntimeError: nope"


def test_bench_options_and_from_cluster(tmp_path: Path) -> None:
    _plan(tmp_path).save()
    parser = cli.build_parser()
    args = parser.parse_args(
        ["bench", "--from-cluster", "--data-dir", str(tmp_path), "--large-size", "1MiB"]
    )
    cfg = bench.config_from_args(args)
    assert cfg.endpoints == ["http://127.0.0.1:9020", "http://127.0.0.1:9021"]
    assert (cfg.access_key, cfg.secret_key, cfg.region) == (
        "AKTEST",
        "secret/with+chars",
        "us-east-1",
    )
    assert (cfg.large_size, cfg.large_count, cfg.small_size, cfg.small_count) == (
        1024**2,
        8,
        4096,
        2000,
    )
    assert cfg.concurrency == 8


def test_bench_needs_a_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    args = cli.build_parser().parse_args(["bench", "--endpoint", "http://x:1"])
    with pytest.raises(SystemExit, match="--access-key"):
        bench.config_from_args(args)


def test_bench_console_renders_its_measures() -> None:
    from tools import bench_console

    text = bench_console.render(
        {
            "sign_in_form_ms": 264,
            "sign_in_form_files": 6,
            "sign_in_form_bytes": 37 * 1024,
            "sign_in_to_buckets_ms": 277,
            "cluster_page_ms": 203,
            "calls": {"/console/api/cluster": {"median_ms": 59.8, "p90_ms": 68.8}},
            "idle_cpu_seconds": 5.55,
            "cluster_page_cpu_seconds": 5.71,
            "seconds": 60,
        }
    )
    assert "37 KiB" in text and "/console/api/cluster" in text and "59.8" in text
    assert "5.55 s with no console open, 5.71 s with the Cluster page open" in text
