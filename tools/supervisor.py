"""The local cluster's supervisor: restarts a daemon that exits without being asked to.

`tessera cluster up` starts one per data directory (`tessera cluster supervise`, a
process of its own, logging to logs/supervisor.log). It polls the processes named in
cluster.json and starts a dead one again with its remembered command line, after a
backoff that doubles while it keeps dying and resets once it has stayed up. Each
restart is counted in cluster.json and handed to the daemon (TESSERA_RESTARTS), which
reports it in its metrics and Admin Info. It leaves alone what was stopped on purpose
(no PID remembered) and exits when `cluster down` stops it or the cluster is stopped.
On real hosts systemd does this job (deploy/systemd: Restart=on-failure).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tools import cluster_processes
from tools.cluster_state import ClusterError, ClusterInfo

log = logging.getLogger("tessera.supervisor")

POLL_INTERVAL = 0.25
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# A process that stays up this long has recovered: its next exit restarts it promptly.
STABLE_AFTER = 60.0


def backoff(failures: int) -> float:
    """Seconds to wait before restart number `failures` in a row (1, 2, ...)."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1))


@dataclass
class Watch:
    """What the supervisor remembers of one daemon between polls."""

    failures: int = 0  # exits in a row, each without STABLE_AFTER seconds of uptime
    since: float = 0.0  # when it was last (re)started by us
    due: float | None = None  # when to restart it, once it is seen dead
    dead_pid: int | None = None


def run(data_dir: Path | str) -> int:
    """Supervise the cluster in data_dir until it is stopped; the process's main loop."""
    data_dir = Path(data_dir).expanduser().resolve()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("supervisor pid=%d watching %s", os.getpid(), data_dir)
    watches: dict[str, Watch] = {}
    while not stop.wait(POLL_INTERVAL):
        try:
            info = ClusterInfo.load(data_dir)
        except ClusterError as exc:
            log.info("supervisor exits: %s", exc)
            return 0
        mine = info.supervisor is not None and info.supervisor.pid == os.getpid()
        if info.state != "running" or not mine:
            log.info("supervisor exits: the cluster is %s", info.state if mine else "elsewhere")
            return 0
        now = time.monotonic()
        for name, proc in info.processes.items():
            watch = watches.setdefault(name, Watch(since=now))
            if not proc.pid:  # stopped on purpose
                watches[name] = Watch(since=now)
            elif cluster_processes.is_alive(proc):
                if watch.failures and now - watch.since >= STABLE_AFTER:
                    watch.failures = 0
            elif watch.dead_pid != proc.pid:  # newly seen dead
                watch.failures += 1
                watch.dead_pid = proc.pid
                delay = backoff(watch.failures)
                watch.due = now + delay
                log.warning(
                    "%s pid=%d exited unexpectedly; restarting it in %.1fs (exit %d in a row)",
                    name,
                    proc.pid,
                    delay,
                    watch.failures,
                )
            elif watch.due is not None and now >= watch.due:
                _restart(data_dir, name, watch)
    log.info("supervisor stopped")
    return 0


def _restart(data_dir: Path, name: str, watch: Watch) -> None:
    assert watch.dead_pid is not None
    try:
        proc = cluster_processes.restart(data_dir, name, watch.dead_pid)
    except ClusterError as exc:
        delay = backoff(watch.failures + 1)
        watch.due = time.monotonic() + delay
        log.warning("cannot restart %s yet (%s); trying again in %.1fs", name, exc, delay)
        return
    watch.due = None
    watch.since = time.monotonic()
    if proc is not None:
        log.warning(
            "restarted %s as pid=%d (restart %d, log %s)",
            name,
            proc.pid,
            proc.restarts,
            proc.log_path,
        )
