"""A local cluster on paper: which processes, on which ports, with which command lines,
data directories and environment. Nothing here does I/O: no port is bound, no file read
and no process started, so every decision is a function of its arguments. The free ports
and the etcd binary are looked up by tools/cluster_processes.py and passed in.

Port layout when a base port P is given (B = 10, or the next multiple of 10 that fits
the larger of the node and gateway counts):

    etcd client P, etcd peer P+1, node i at P+B+(i-1), gateway j at P+2B+(j-1)

so `--base-port 9000` gives etcd 9000/9001, nodes 9010.., gateways 9020... An etcd of
several members (`--etcd-members 3`) puts member k's client and peer ports at P+2(k-1)
and P+2(k-1)+1 (up to 5 members: P..P+9). Each process
also serves an Admin gRPC port, and each node Prometheus /metrics: node admin ports at
P+3B+(i-1), gateway admin ports at P+4B+(j-1), node metrics ports at P+5B+(i-1). Without a
base port every port comes from the free ports given, which the kernel picked. Ports are
remembered in cluster.json, so a stopped cluster comes back on the same ports.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from coordinator.tls import ENV_CA, ENV_CERT, ENV_KEY
from tools.cluster_state import ETCD, STATE_FILE, ClusterError, ClusterInfo, ProcessInfo

DEFAULT_NODES = 3
DEFAULT_GATEWAYS = 2
DEFAULT_REGION = "us-east-1"
# An etcd of 1, 3 or 5 members: odd, so a majority survives (N-1)/2 members lost.
ETCD_MEMBER_COUNTS = (1, 3, 5)
# Only small metadata lives in etcd; 2 GiB (etcd's default, a quarter of its advised
# maximum) is set explicitly so a runaway writer hits a clear NOSPACE alarm, not the disk.
ETCD_QUOTA_BYTES = 2 * 1024**3
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --- ports ---------------------------------------------------------------------------------


def _pair(ports: tuple[int, ...]) -> tuple[int, int]:
    return ports[0], ports[1]


def _take(ports: Iterator[int], count: int) -> tuple[int, ...]:
    got = tuple(itertools.islice(ports, count))
    if len(got) < count:
        raise ClusterError(f"too few free ports given: {count} more needed, {len(got)} left")
    return got


def data_ports_needed(nodes: int, gateways: int, etcd_members: int = 1) -> int:
    """How many free ports port_layout takes without a base port."""
    return 2 * etcd_members + nodes + gateways


def admin_ports_needed(nodes: int, gateways: int) -> int:
    """How many free ports admin_port_layout takes without a base port."""
    return 2 * nodes + gateways


def ports_needed(nodes: int, gateways: int, etcd_members: int = 1) -> int:
    """How many free ports plan takes without a base port."""
    return data_ports_needed(nodes, gateways, etcd_members) + admin_ports_needed(nodes, gateways)


@dataclass(frozen=True)
class PortLayout:
    etcd_client: int
    etcd_peer: int
    nodes: tuple[int, ...]
    gateways: tuple[int, ...]
    # (client, peer) of etcd members 2.. when etcd has several.
    more_etcd: tuple[tuple[int, int], ...] = ()

    def all(self) -> list[int]:
        more = [port for pair in self.more_etcd for port in pair]
        return [self.etcd_client, self.etcd_peer, *more, *self.nodes, *self.gateways]


def port_layout(
    nodes: int,
    gateways: int,
    base_port: int | None,
    *,
    free: Iterable[int] = (),
    etcd_members: int = 1,
) -> PortLayout:
    """Ports for a new cluster: fixed blocks from base_port, else the first of `free`
    (see module doc)."""
    if nodes < 0 or gateways < 0:
        raise ClusterError("node and gateway counts cannot be negative")
    if etcd_members not in ETCD_MEMBER_COUNTS:
        raise ClusterError(f"etcd members must be one of {ETCD_MEMBER_COUNTS}")
    if base_port is None:
        ports = iter(free)
        etcd_client, etcd_peer = _take(ports, 2)
        more = tuple(_pair(_take(ports, 2)) for _ in range(etcd_members - 1))
        return PortLayout(etcd_client, etcd_peer, _take(ports, nodes), _take(ports, gateways), more)
    block = 10 * max(1, math.ceil(max(nodes, gateways) / 10))
    layout = PortLayout(
        base_port,
        base_port + 1,
        tuple(base_port + block + i for i in range(nodes)),
        tuple(base_port + 2 * block + j for j in range(gateways)),
        tuple((base_port + 2 * k, base_port + 2 * k + 1) for k in range(1, etcd_members)),
    )
    if base_port < 1 or max(layout.all()) > 65535:
        raise ClusterError(f"base port {base_port} leaves no room for the cluster's ports")
    return layout


@dataclass(frozen=True)
class AdminPortLayout:
    node_admin: tuple[int, ...]
    gateway_admin: tuple[int, ...]
    node_metrics: tuple[int, ...]

    def all(self) -> list[int]:
        return [*self.node_admin, *self.gateway_admin, *self.node_metrics]


def admin_port_layout(
    nodes: int, gateways: int, base_port: int | None, *, free: Iterable[int] = ()
) -> AdminPortLayout:
    """Admin and metrics ports: fixed blocks after the data ports from base_port (see
    module doc), else the first of `free`."""
    if base_port is None:
        ports = iter(free)
        return AdminPortLayout(_take(ports, nodes), _take(ports, gateways), _take(ports, nodes))
    block = 10 * max(1, math.ceil(max(nodes, gateways) / 10))
    layout = AdminPortLayout(
        tuple(base_port + 3 * block + i for i in range(nodes)),
        tuple(base_port + 4 * block + j for j in range(gateways)),
        tuple(base_port + 5 * block + i for i in range(nodes)),
    )
    if max(layout.all(), default=0) > 65535:
        raise ClusterError(f"base port {base_port} leaves no room for the admin ports")
    return layout


def ports_of(proc: ProcessInfo) -> list[int]:
    """Every port the process listens on."""
    return [p for p in (proc.port, proc.peer_port, proc.admin_port, proc.metrics_port) if p]


def used_ports(info: ClusterInfo) -> list[int]:
    """Every port of every process of the cluster."""
    return [port for proc in info.processes.values() for port in ports_of(proc)]


def lacks_admin_ports(info: ClusterInfo) -> bool:
    """Whether a node or gateway has no admin (or a node no metrics) port: a cluster.json
    from before they existed."""
    nodes = [info.processes[n] for n in info.nodes]
    gateways = [info.processes[n] for n in info.gateways]
    return not (all(p.admin_port for p in nodes + gateways) and all(p.metrics_port for p in nodes))


def assign_admin_ports(info: ClusterInfo, free: Iterable[int] = ()) -> bool:
    """Give admin and metrics ports to processes that have none, from the base port or
    else `free` (admin_ports_needed of them, none in used_ports); True if any changed."""
    if not lacks_admin_ports(info):
        return False
    nodes = [info.processes[n] for n in info.nodes]
    gateways = [info.processes[n] for n in info.gateways]
    layout = admin_port_layout(len(nodes), len(gateways), info.base_port, free=free)
    for proc, admin, metrics in zip(nodes, layout.node_admin, layout.node_metrics, strict=True):
        proc.admin_port = proc.admin_port or admin
        proc.metrics_port = proc.metrics_port or metrics
    for proc, admin in zip(gateways, layout.gateway_admin, strict=True):
        proc.admin_port = proc.admin_port or admin
    return True


def add_nodes(info: ClusterInfo, nodes: int, free: Iterable[int] = ()) -> list[str]:
    """Grow a cluster to `nodes` storage nodes: new ones numbered after the last, on the
    ports its base port's layout gives them, else three of `free` each. Their names.
    Fewer nodes than it has is an error: nodes leave by drain and remove."""
    have = info.nodes
    if nodes < len(have):
        raise ClusterError(
            f"{info.data_dir} holds a cluster with {len(have)} storage nodes; to take one "
            "out, drain it and remove it (`tessera admin node drain NODE`, `admin node "
            "remove NODE`)"
        )
    count = nodes - len(have)
    if not count:
        return []
    gateways = len(info.gateways)
    if info.base_port is None:
        ports = iter(free)
        triples = [_take(ports, 3) for _ in range(count)]
    else:
        before = port_layout(len(have), gateways, info.base_port)
        after = port_layout(nodes, gateways, info.base_port)
        if after.gateways != before.gateways:
            raise ClusterError(
                f"{nodes} storage nodes do not fit the port blocks of base port "
                f"{info.base_port}; start a new cluster with another --data-dir"
            )
        admin = admin_port_layout(nodes, gateways, info.base_port)
        triples = [
            (after.nodes[i], admin.node_admin[i], admin.node_metrics[i])
            for i in range(len(have), nodes)
        ]
    last = max((int(name[len("node") :]) for name in have), default=0)
    logs = info.data_dir / "logs"
    added = []
    for number, (port, admin_port, metrics_port) in enumerate(triples, last + 1):
        name = f"node{number}"
        proc = ProcessInfo(
            name,
            None,
            [],
            logs / f"{name}.log",
            port,
            info.data_dir / name,
            admin_port=admin_port,
            metrics_port=metrics_port,
        )
        proc.argv = argv_for(info, proc)
        info.processes[name] = proc
        added.append(name)
    # cluster.json and `status` list etcd, then nodes, then gateways.
    order = {"etcd": 0, "node": 1, "gateway": 2}
    info.processes = dict(sorted(info.processes.items(), key=lambda kv: order[kv[1].role]))
    return added


# --- the root key --------------------------------------------------------------------------


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


# --- command lines and environment ---------------------------------------------------------


def etcd_member_name(process_name: str) -> str:
    """The etcd member name of an etcd process: etcd → tessera, etcd2 → tessera2."""
    return "tessera" + process_name[len(ETCD) :]


def etcd_argv(
    data_dir: Path,
    client_port: int,
    peer_port: int,
    name: str = "tessera",
    *,
    binary: str = "etcd",
    peers: Mapping[str, int] | None = None,
    tls: tuple[Path, Path, Path] | None = None,
) -> list[str]:
    """An etcd member on 127.0.0.1; peers is member name → peer port of every member
    (default: this one alone). initial-* flags are ignored once data exists. With tls
    (CA, certificate, key), clients and peers must show a certificate of that CA."""
    scheme = "http" if tls is None else "https"
    client = f"{scheme}://127.0.0.1:{client_port}"
    peer = f"{scheme}://127.0.0.1:{peer_port}"
    members = peers or {name: peer_port}
    initial = ",".join(f"{member}={scheme}://127.0.0.1:{port}" for member, port in members.items())
    argv = [
        binary,
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={initial}",
        "--initial-cluster-token=tessera-local",
        "--initial-cluster-state=new",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        f"--quota-backend-bytes={ETCD_QUOTA_BYTES}",
        "--log-level=warn",
    ]
    if tls is not None:
        ca, cert, key = tls
        for side in ("", "peer-"):
            argv += [
                f"--{side}trusted-ca-file={ca}",
                f"--{side}cert-file={cert}",
                f"--{side}key-file={key}",
                f"--{side}client-cert-auth",
            ]
    return argv


def daemon_argv(subcommand: str, *args: str) -> list[str]:
    """Run `tessera <subcommand>` with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "tools.cli", subcommand, *args]


def argv_for(info: ClusterInfo, proc: ProcessInfo, etcd_bin: str = "etcd") -> list[str]:
    """The command line of one process, built from the layout (rebuilt at each start, so
    code updates apply); etcd_bin is the program etcd's line runs."""
    etcd = info.etcd_endpoint
    if proc.role == "etcd":
        assert proc.data_dir is not None and proc.peer_port is not None
        peers = {
            etcd_member_name(name): info.processes[name].peer_port or 0
            for name in info.etcd_members
        }
        return etcd_argv(
            proc.data_dir,
            proc.port,
            proc.peer_port,
            etcd_member_name(proc.name),
            binary=etcd_bin,
            peers=peers,
            tls=info.tls_files() if info.tls else None,
        )
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


def child_env(
    info: ClusterInfo, proc: ProcessInfo | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """The environment a process of the cluster runs with: the caller's environ, the
    cluster's own settings, and where its key or token is."""
    env = dict(environ)
    env.update(info.env)
    # Only gateways get the cluster key (it decrypts credential secrets), always from the
    # cluster's own file, never from a key the calling shell happens to have set.
    env.pop("TESSERA_CLUSTER_KEY", None)
    env.pop("TESSERA_CLUSTER_KEY_FILE", None)
    env.pop("TESSERA_ADMIN_TOKEN", None)
    env.pop("TESSERA_ADMIN_TOKEN_FILE", None)
    if proc is not None and proc.role == "gateway":
        env["TESSERA_CLUSTER_KEY_FILE"] = str(info.key_file)
    if proc is not None and proc.role == "node":
        env["TESSERA_ADMIN_TOKEN_FILE"] = str(info.token_file)  # the token, not the key
    for name in (ENV_CA, ENV_CERT, ENV_KEY):
        env.pop(name, None)
    if info.tls and proc is not None and proc.role in ("node", "gateway"):
        for name, path in zip((ENV_CA, ENV_CERT, ENV_KEY), info.tls_files(), strict=True):
            env[name] = str(path)
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they happen
    if proc is not None:  # shown by the daemon's metrics and Admin Info
        env["TESSERA_RESTARTS"] = str(proc.restarts)
    env["TESSERA_ETCD"] = info.etcd_endpoint
    # `-m tools.cli` must import this checkout even when it is not installed.
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + path if path else "")
    return env


# --- the plan ------------------------------------------------------------------------------


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
    free: Iterable[int] = (),
    etcd_bin: str = "etcd",
    etcd_members: int = 1,
    tls: bool = False,
) -> ClusterInfo:
    """The ClusterInfo of a new cluster (nothing started, no PIDs). Without a base port
    its ports are the first ports_needed(nodes, gateways, etcd_members) of `free`."""
    ports = iter(free)
    layout = port_layout(nodes, gateways, base_port, free=ports, etcd_members=etcd_members)
    logs = data_dir / "logs"
    etcd_ports = [(layout.etcd_client, layout.etcd_peer), *layout.more_etcd]
    procs = []
    for k, (client_port, peer_port) in enumerate(etcd_ports, 1):
        name = ETCD if k == 1 else f"{ETCD}{k}"
        procs.append(
            ProcessInfo(
                name,
                None,
                [],
                logs / f"{name}.log",
                client_port,
                data_dir / name,
                peer_port=peer_port,
            )
        )
    for i, port in enumerate(layout.nodes, 1):
        procs.append(
            ProcessInfo(f"node{i}", None, [], logs / f"node{i}.log", port, data_dir / f"node{i}")
        )
    for j, port in enumerate(layout.gateways, 1):
        procs.append(ProcessInfo(f"gateway{j}", None, [], logs / f"gateway{j}.log", port))
    info = ClusterInfo(
        data_dir=data_dir,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
        etcd_endpoint=",".join(
            f"{'https://' if tls else ''}127.0.0.1:{client}" for client, _ in etcd_ports
        ),
        endpoints=[f"{'https' if tls else 'http'}://127.0.0.1:{p}" for p in layout.gateways],
        processes={p.name: p for p in procs},
        state="stopped",
        base_port=base_port,
        env=dict(env or {}),
        tls=tls,
    )
    assign_admin_ports(info, ports)
    for proc in procs:
        proc.argv = argv_for(info, proc, etcd_bin)
    return info


def check_layout(
    info: ClusterInfo,
    nodes: int | None,
    gateways: int | None,
    base_port: int | None,
    region: str | None,
    etcd_members: int | None = None,
) -> None:
    """ClusterError unless the remembered cluster has what the caller asked for (None:
    anything)."""
    asked = {
        "nodes": nodes,
        "gateways": gateways,
        "base port": base_port,
        "region": region,
        "etcd members": etcd_members,
    }
    have = {
        "etcd members": len(info.etcd_members),
        "nodes": len(info.nodes),
        "gateways": len(info.gateways),
        "base port": info.base_port,
        "region": info.region,
    }
    for what, value in asked.items():
        if value is not None and value != have[what]:
            raise ClusterError(
                f"{info.data_dir} holds a cluster with {what} {have[what]}, not {value}; "
                "leave the option out to reuse it, or use another --data-dir"
            )
