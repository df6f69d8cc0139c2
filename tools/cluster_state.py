"""What a local cluster is, as `<data_dir>/cluster.json` remembers it.

Everything of a local cluster lives under one data directory:

    <data_dir>/cluster.json     layout, ports, root key, PIDs (mode 0600: it holds the secret)
    <data_dir>/cluster.key      the cluster key that encrypts credential secrets (mode 0600)
    <data_dir>/admin.token      the admin token storage nodes check, derived from the key (0600)
    <data_dir>/etcd/            etcd's data
    <data_dir>/node<i>/         storage node i's disks
    <data_dir>/logs/<name>.log  stdout+stderr of each process, appended across restarts

ClusterInfo and ProcessInfo are the records: tools/cluster_plan.py decides what goes in
them, tools/cluster_processes.py fills in the PIDs. Reading and writing cluster.json
(`ClusterInfo.load`, `ClusterInfo.save`) is the only I/O here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"
KEY_FILE = "cluster.key"
TOKEN_FILE = "admin.token"
STATE_VERSION = 1
ETCD = "etcd"
# The certificate of every process of a local cluster (all on 127.0.0.1).
LOCAL_CERT = "local"
ROLES = ("etcd", "node", "gateway")


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
            self.role = role_of(self.name)

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
    # Nodes' gRPC (Storage and Admin) only with mutual TLS, from <data_dir>/tls.
    tls: bool = False
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
    def tls_dir(self) -> Path:
        """The CA and the certificate every local process uses (`tessera cert`)."""
        return self.data_dir / "tls"

    def tls_files(self) -> tuple[Path, Path, Path]:
        """(CA certificate, certificate, key) of the local processes."""
        return (
            self.tls_dir / "ca.crt",
            self.tls_dir / f"{LOCAL_CERT}.crt",
            self.tls_dir / f"{LOCAL_CERT}.key",
        )

    @property
    def etcd_members(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.role == "etcd"]

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
            "tls": self.tls,
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
            tls=bool(data.get("tls")),
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


def role_of(name: str) -> str:
    """etcd, node or gateway, from a process name: etcd (etcd<k> for the k-th member of
    a larger etcd), node<i>, gateway<j>."""
    if name == ETCD:
        return "etcd"
    for role in ("etcd", "node", "gateway"):
        if name.startswith(role) and name[len(role) :].isdigit():
            return role
    raise ClusterError(f"unknown process name {name!r}")
