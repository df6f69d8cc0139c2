"""`tessera node`: the storage node and the gateway of one host, from one config file.

Each runs as its own process (`tessera storage-node` and `tessera gateway`, both with
this `--config`), so one crashing does not take the other down; this process starts
them, starts again one that exits on its own (after a delay that doubles while it
keeps failing, like systemd's Restart=on-failure), and stops both on SIGTERM or
SIGINT. The gateway is told the node's id (`--local-node`): it registers with it in
etcd, and reads take their bytes from this host's replica when it holds the newest
version. The `[node]` table of the file may name the etcd endpoints both use and the
host's TLS files (see deploy/tessera.toml).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from coordinator.tls import ENV_CA, ENV_CERT, ENV_KEY
from tools import config
from tools.cluster_plan import daemon_argv
from tools.supervisor import STABLE_AFTER, backoff

log = logging.getLogger("tessera.node")

POLL = 0.25
# Seconds the children get to stop after SIGTERM before they are killed.
STOP_GRACE = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--etcd",
        default=None,
        help="etcd endpoints for both processes (comma list; https:// for TLS), overriding "
        "their own tables",
    )
    parser.add_argument("--tls-ca", default=None, help="the cluster's CA certificate (PEM)")
    parser.add_argument("--tls-cert", default=None, help="this host's certificate (PEM)")
    parser.add_argument("--tls-key", default=None, help="this host's private key (PEM)")


@dataclass
class Child:
    """One supervised daemon."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0  # in a row, each within STABLE_AFTER of its start
    restarts: int = 0
    due: float | None = None  # when to start it again

    def start(self) -> None:
        env = {**self.env, "TESSERA_RESTARTS": str(self.restarts)}
        self.proc = subprocess.Popen(self.argv, env=env)
        self.started = time.monotonic()
        log.info("started %s pid=%d", self.name, self.proc.pid)


def children(args: argparse.Namespace) -> list[Child]:
    """The storage node and the gateway this host runs, as configured."""
    if not args.config:
        raise SystemExit("tessera node: --config FILE (or TESSERA_CONFIG) is required")
    node_table = config.file_settings(args.config, "storage-node")
    node_id = os.environ.get("TESSERA_NODE_ID") or node_table.get("node_id")
    if not node_id:
        raise SystemExit(f"tessera node: {args.config}: [storage-node] sets no node-id")
    env = dict(os.environ)
    tls_files = (args.tls_ca, args.tls_cert, args.tls_key)
    if any(tls_files):
        if not all(tls_files):
            raise SystemExit("tessera node: set all of tls-ca, tls-cert and tls-key, or none")
        env.update(zip((ENV_CA, ENV_CERT, ENV_KEY), tls_files, strict=True))
    shared = ["--config", args.config]
    if args.etcd:
        shared += ["--etcd", args.etcd]
    return [
        Child("storage-node", daemon_argv("storage-node", *shared), env),
        Child("gateway", daemon_argv("gateway", *shared, "--local-node", node_id), env),
    ]


def run(args: argparse.Namespace) -> int:
    daemons = children(args)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for child in daemons:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in daemons:
        child.start()
    while not stopping:
        time.sleep(POLL)
        now = time.monotonic()
        for child in daemons:
            if stopping:
                break
            _look_after(child, now)
    return _stop(daemons)


def _look_after(child: Child, now: float) -> None:
    """Start a child again that exited on its own, once its delay has passed."""
    assert child.proc is not None
    if child.due is None:
        code = child.proc.poll()
        if code is None:
            return
        child.failures = 1 if now - child.started >= STABLE_AFTER else child.failures + 1
        delay = backoff(child.failures)
        child.due = now + delay
        log.warning(
            "%s pid=%d exited with %s; starting it again in %.1fs",
            child.name,
            child.proc.pid,
            code,
            delay,
        )
    elif now >= child.due:
        child.due = None
        child.restarts += 1
        child.start()


def _stop(daemons: list[Child]) -> int:
    """Wait for the children to stop (they got the signal); kill what outlives the grace."""
    deadline = time.monotonic() + STOP_GRACE
    codes = []
    for child in daemons:
        assert child.proc is not None
        try:
            code = child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s pid=%d did not stop; killing it", child.name, child.proc.pid)
            child.proc.kill()
            code = child.proc.wait()
        codes.append(f"{child.name}={code}")
    log.info("stopped: %s", ", ".join(codes))
    return 0
