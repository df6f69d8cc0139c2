"""`tessera admin node ...`: progress lines, the bar, the summary, following a drain to
its end (etcd faked), the options; and the drain section of `admin status`."""

from __future__ import annotations

import io

import pytest

from coordinator import cluster_report, drain, placement
from coordinator.drain import Job, new_record
from tools import admin_cli, cli, node_cli


def _record(**changes):
    return {
        **new_record("node4", now=100.0),
        "run": "r1",
        "state": "running",
        "passes": 1,
        "detail": "pass 1: copying",
        "versions_done": 50,
        "versions_total": 200,
        "keys_done": 40,
        "keys_total": 150,
        "bytes_done": 3 << 20,
        "bytes_total": 12 << 20,
        "copied": 45,
        "bytes_copied": 2 << 20,
        "present": 55,
        **changes,
    }


def test_progress_line_and_bar() -> None:
    record = _record()
    assert node_cli.progress_text(record) == "50 / 200 versions, 3.0 MiB / 12.0 MiB, 45 copied"
    assert node_cli.plain_line("node4", record) == (
        "node4: running 25%: 50 / 200 versions, 3.0 MiB / 12.0 MiB, 45 copied (pass 1: copying)"
    )
    bar = node_cli.bar_line("node4", record, width=20)
    assert bar.startswith("node4 [#####---------------]  25%  50 / 200 versions")
    assert bar.endswith("running")
    assert "3 errors" in node_cli.progress_text(_record(errors=3))
    assert node_cli.percent(_record(state="done", versions_done=0)) == 100


def test_summary_of_done_and_failed() -> None:
    done = node_cli.summary("node4", _record(state="done", epoch=9), 4.25)
    assert done.startswith("node4 is drained in 4.2s: 50 versions of 40 keys (3.0 MiB) checked;")
    assert "45 copies made (2.0 MiB), 55 already in place" in done
    assert "placement epoch 9" in done and "tessera admin node remove node4" in done
    failed = node_cli.summary(
        "node4", _record(state="failed", errors=2, last_errors=["a → node2: UNAVAILABLE: x"])
    )
    assert failed.splitlines()[0].startswith("node4: drain failed: ")
    assert "2 error(s), the latest:" in failed and "a → node2: UNAVAILABLE: x" in failed


def test_plain_display_prints_changes_not_every_poll() -> None:
    out = io.StringIO()
    display = node_cli.Display(out, bar=False)
    display.show("node4", _record())
    display.show("node4", _record(versions_done=60))  # same state, pass, detail: quiet
    display.show("node4", _record(detail="pass 1: checking writes"))
    display.close()
    assert len(out.getvalue().splitlines()) == 2
    tty = io.StringIO()
    bar = node_cli.Display(tty, bar=True)
    bar.show("node4", _record())
    bar.show("node4", _record(versions_done=200))
    bar.close()
    assert tty.getvalue().count("\r") == 2
    assert tty.getvalue().endswith(
        "100%  200 / 200 versions, 3.0 MiB / 12.0 MiB, 45 copied  running: checking writes made meanwhile\n"
    )


def test_follow_until_done_for_the_current_epoch(monkeypatch) -> None:
    """A done job for an older epoch is not the end: the node moves data again."""
    records = iter(
        [
            None,
            _record(state="pending"),
            _record(),
            _record(state="done", epoch=4),
            _record(state="running", passes=2),
            _record(state="done", epoch=5),
        ]
    )

    def get(client, node_id):
        record = next(records)
        return None if record is None else Job(record, 1)

    monkeypatch.setattr(drain, "get", get)
    monkeypatch.setattr(placement, "load", lambda client: (5, []))
    out = io.StringIO()
    final = node_cli.follow(None, "node4", node_cli.Display(out, bar=False), sleep=lambda _: None)
    assert final["state"] == "done" and final["epoch"] == 5
    lines = out.getvalue().splitlines()
    assert lines[0] == "node4: no drain job yet"
    assert lines[-1].startswith("node4: done 100%")


def test_follow_stops_on_failure_and_on_undrain(monkeypatch) -> None:
    records = iter([_record(), _record(state="failed"), _record(state="cancelled")])
    monkeypatch.setattr(drain, "get", lambda c, n: Job(next(records), 1))
    display = node_cli.Display(io.StringIO(), bar=False)
    final = node_cli.follow(None, "node4", display, sleep=lambda _: None)
    assert final["state"] == "failed"
    final = node_cli.follow(None, "node4", display, sleep=lambda _: None)
    assert final["state"] == "cancelled"


def test_node_options_parse() -> None:
    parse = cli.build_parser().parse_known_args
    args, _ = parse(["admin", "node", "drain", "node4", "--no-wait", "--json"])
    assert (args.admin_command, args.node_action, args.node_id) == ("node", "drain", "node4")
    assert args.no_wait and args.json
    args, _ = parse(["admin", "node", "drain", "node4"])
    assert not args.no_wait  # waiting is the default
    args, _ = parse(["admin", "node", "remove", "node4", "--force"])
    assert (args.node_action, args.force) == ("remove", True)
    args, _ = parse(["admin", "node", "undrain", "node4", "--etcd", "h:1"])
    assert (args.node_action, args.etcd) == ("undrain", "h:1")


@pytest.mark.parametrize("action", ["drain", "undrain", "remove"])
def test_help_of_node_actions(action: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["admin", "node", action, "--help"])
    assert exc.value.code == 0
    assert f"usage: tessera admin node {action}" in capsys.readouterr().out


def test_status_shows_drains_and_failed_ones_as_problems() -> None:
    running = cluster_report.drain_row("node4", _record(), "draining")
    failed = cluster_report.drain_row(
        "node3", _record(state="failed", last_errors=["k → node1: UNAVAILABLE"]), "draining"
    )
    assert running["percent"] == 25
    table = admin_cli.render_drains([running, failed])
    header, first, second = table.splitlines()
    assert header.split()[:4] == ["NODE", "PLACEMENT", "JOB", "DONE"]
    assert first.split()[:4] == ["node4", "draining", "running", "25%"]
    assert "50 / 200" in first and "3.0 MiB / 12.0 MiB" in first
    health, problems = cluster_report.assess({"nodes": [], "drains": [running, failed]})
    assert health == "degraded"
    assert problems == ["the drain of node3 failed: k → node1: UNAVAILABLE"]


def test_follow_waits_for_the_retry_of_a_drain_that_had_failed(monkeypatch) -> None:
    records = iter(
        [
            _record(state="failed", passes=1),
            _record(state="failed", passes=1),
            _record(state="running", passes=2),
            _record(state="failed", passes=2),
        ]
    )
    monkeypatch.setattr(drain, "get", lambda c, n: Job(next(records), 1))
    display = node_cli.Display(io.StringIO(), bar=False)
    final = node_cli.follow(None, "node4", display, sleep=lambda _: None)
    assert (final["state"], final["passes"]) == ("failed", 2)
