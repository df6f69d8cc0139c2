"""`tessera cluster up` supervises its daemons: one killed with SIGKILL comes back on its
port, the restart is logged and counted (cluster status, metrics, admin status), and
`tessera cluster down` stops everything for good."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coordinator.credentials import generate_keypair
from tests.helpers import make_client
from tests.unit.gateway.test_metrics import parse, value
from tools import cluster as local

ROOT = Path(__file__).resolve().parents[2]


def _tessera(*args: str, data_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tools.cli", *args, "--data-dir", str(data_dir), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _wait_for(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("supervised")
    access, secret = generate_keypair()
    os.environ["TESSERA_ROOT_ACCESS_KEY"], os.environ["TESSERA_ROOT_SECRET_KEY"] = access, secret
    try:
        status = _tessera("cluster", "up", "--nodes", "1", "--gateways", "1", data_dir=data_dir)
    finally:
        del os.environ["TESSERA_ROOT_ACCESS_KEY"], os.environ["TESSERA_ROOT_SECRET_KEY"]
    try:
        yield {**status, "data_dir": data_dir}
    finally:
        local.down(data_dir)


def _restarted(data_dir: Path, name: str, old_pid: int) -> dict[str, Any] | None:
    proc = local.status(data_dir)["processes"][name]
    if proc["alive"] and proc["ready"] and proc["pid"] != old_pid:
        return proc
    return None


def test_a_killed_gateway_and_node_come_back(supervised: dict[str, Any]) -> None:
    data_dir = supervised["data_dir"]
    assert supervised["supervisor"]["running"], supervised["supervisor"]
    endpoint = supervised["endpoints"][0]
    for name in ("gateway1", "node1"):
        old_pid = supervised["processes"][name]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        proc = _wait_for(lambda n=name, p=old_pid: _restarted(data_dir, n, p), 60)
        assert proc, f"{name} was not restarted: {local.status(data_dir)['processes'][name]}"
        assert proc["restarts"] == 1
    log_text = Path(supervised["supervisor"]["log_path"]).read_text()
    assert "gateway1 pid=" in log_text and "exited unexpectedly" in log_text
    assert "restarted gateway1 as pid=" in log_text and "restarted node1 as pid=" in log_text

    # The restarted gateway serves on the same port, and says it was restarted.
    with urllib.request.urlopen(f"{endpoint}/metrics", timeout=10) as reply:
        _, samples = parse(reply.read())
    assert value(samples, "tessera_process_restarts") == 1
    s3 = make_client(endpoint, supervised["access_key"], supervised["secret_key"], "us-east-1")
    s3.create_bucket(Bucket="after-restart")

    def put() -> bool:  # the gateway redials the restarted node within its reconnect backoff
        try:
            s3.put_object(Bucket="after-restart", Key="k", Body=b"back again")
        except s3.exceptions.ClientError:
            return False
        return True

    assert _wait_for(put, 15)
    assert s3.get_object(Bucket="after-restart", Key="k")["Body"].read() == b"back again"

    # Admin Info, as `tessera admin status` shows it.
    assert _wait_for(lambda: _admin_restarts(data_dir) == {"gateway1": 1, "node1": 1}, 30), (
        _admin_restarts(data_dir)
    )


def _admin_restarts(data_dir: Path) -> dict[str, Any]:
    report = _tessera("admin", "status", data_dir=data_dir)
    rows = report["nodes"] + report["gateways"]
    return {row["id"]: row.get("restarts") for row in rows}


def _children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != b"Z":
                found.add(int(entry))
    return found


def test_a_gateway_with_workers_restarts_a_dead_worker(supervised: dict[str, Any]) -> None:
    data_dir = supervised["data_dir"]
    port = local.free_ports(1)[0]
    parent = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "gateway", "--workers", "2"]
        + [f"--listen=127.0.0.1:{port}", f"--etcd={supervised['etcd_endpoint']}"]
        + [f"--cluster-key-file={data_dir / 'cluster.key'}", "--admin-listen=off"],
        cwd=ROOT,
    )
    try:
        workers = _wait_for(
            lambda: len(_children_of(parent.pid)) == 2 and _children_of(parent.pid), 30
        )
        assert workers, "the gateway did not start two workers"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        assert _wait_for(ready, 30)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        replaced = _wait_for(
            lambda: len(_children_of(parent.pid) - workers) == 1 and _children_of(parent.pid),
            30,
        )
        assert replaced and victim not in replaced and len(replaced) == 2, replaced
        assert parent.poll() is None
        assert _wait_for(ready, 30)
    finally:
        parent.terminate()
        parent.wait(30)
    assert parent.returncode is not None


def test_down_stops_the_supervisor_first(supervised: dict[str, Any]) -> None:
    data_dir = supervised["data_dir"]
    supervisor_pid = local.status(data_dir)["supervisor"]["pid"]
    assert supervisor_pid
    local.down(data_dir)
    time.sleep(1.5)  # several supervisor polls, had it survived
    status = local.status(data_dir)
    assert status["state"] == "stopped", status["processes"]
    assert not status["supervisor"]["running"]
