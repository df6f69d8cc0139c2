"""Processes started beside a test's cluster, outside cluster.json (as on another host),
with the command line and environment `cluster up` gives their kind, and stopped by the
test: a fourth storage node, a gateway with its own environment."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping

from tools.cluster import ClusterInfo
from tools.cluster_plan import PROJECT_ROOT, argv_for, child_env
from tools.cluster_processes import free_ports, http_status
from tools.cluster_state import ProcessInfo


def start_extra(
    cluster: ClusterInfo, name: str, role: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start one more `node` or `gateway` process; its handle and data port. env is
    added to its environment only."""
    port, admin, metrics = free_ports(3)
    log_path = cluster.data_dir / "logs" / f"{name}.log"
    proc = ProcessInfo(
        name=name,
        pid=None,
        argv=[],
        log_path=log_path,
        port=port,
        data_dir=cluster.data_dir / name if role == "node" else None,
        role=role,
        admin_port=admin,
        metrics_port=metrics if role == "node" else None,
    )
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            argv_for(cluster, proc),
            cwd=PROJECT_ROOT,
            env={**child_env(cluster, proc, os.environ), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return child, port


def wait_for_gateway(port: int, timeout: float = 30.0) -> None:
    """Wait until a gateway answers HTTP (any status: it is serving)."""
    deadline = time.monotonic() + timeout
    while http_status(f"http://127.0.0.1:{port}/") is None:
        assert time.monotonic() < deadline, f"the gateway on port {port} never answered"
        time.sleep(0.2)


def stop_extra(child: subprocess.Popen[bytes]) -> None:
    """Stop a process start_extra started, by its PID."""
    child.terminate()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=10)
