"""`tessera cluster up|down|status`: a whole Tessera cluster on one machine, etcd, storage
nodes and gateways as processes, for people and for the integration and chaos tests.

This module is the command (its options and what it prints) and the one import for
everything else about the local cluster; the work is done in three modules beneath it,
each importing only the ones before it:

    tools/cluster_state.py      ClusterInfo and ProcessInfo, as cluster.json keeps them
    tools/cluster_plan.py       processes, ports, command lines, environment; no I/O
    tools/cluster_processes.py  start, stop and wait for them by PID: up, down, status, ...

The supervisor (tools/supervisor.py) restarts daemons through cluster_processes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools import arguments, supervisor
from tools.cluster_plan import (
    DEFAULT_GATEWAYS,
    DEFAULT_NODES,
    DEFAULT_REGION,
    ETCD_MEMBER_COUNTS,
    AdminPortLayout,
    PortLayout,
    admin_port_layout,
    admin_ports_needed,
    assign_admin_ports,
    child_env,
    plan,
    port_layout,
    ports_needed,
    ports_of,
    resolve_root_key,
)
from tools.cluster_processes import (
    DEFAULT_WAIT,
    STOP_TIMEOUT,
    down,
    etcd_binary,
    fill_admin_ports,
    free_ports,
    http_get,
    http_status,
    is_alive,
    kill,
    port_in_use,
    restart,
    start,
    status,
    tail,
    up,
)
from tools.cluster_state import ClusterError, ClusterInfo, ProcessInfo
from tools.output import json_text, show, table

__all__ = [
    # the command
    "add_arguments",
    "default_data_dir",
    "render_status",
    "render_up",
    "run",
    # the local cluster, for tests and tools (bench, bench-compare)
    "AdminPortLayout",
    "ClusterError",
    "ClusterInfo",
    "PortLayout",
    "ProcessInfo",
    "admin_port_layout",
    "admin_ports_needed",
    "assign_admin_ports",
    "child_env",
    "down",
    "etcd_binary",
    "fill_admin_ports",
    "free_ports",
    "http_get",
    "http_status",
    "is_alive",
    "kill",
    "plan",
    "port_in_use",
    "port_layout",
    "ports_needed",
    "ports_of",
    "resolve_root_key",
    "restart",
    "start",
    "status",
    "tail",
    "up",
]

DEFAULT_DATA_DIR = ".tessera"


# --- `tessera cluster ...` -----------------------------------------------------------------


def default_data_dir() -> str:
    """Where the local cluster lives unless --data-dir says: $TESSERA_DATA_DIR, ./.tessera."""
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
    p_up.add_argument(
        "--nodes",
        type=arguments.count,
        help=f"storage nodes (default {DEFAULT_NODES}); more than a running cluster has "
        "adds nodes, which take their share of the stored keys",
    )
    p_up.add_argument(
        "--gateways", type=arguments.count, help=f"gateways (default {DEFAULT_GATEWAYS})"
    )
    p_up.add_argument(
        "--tls",
        action="store_true",
        default=None,
        help="storage nodes' gRPC (data and Admin) only with mutual TLS: a cluster CA and "
        "certificate made in <data dir>/tls (when the cluster is created)",
    )
    p_up.add_argument(
        "--etcd-members",
        type=int,
        choices=ETCD_MEMBER_COUNTS,
        help="members of the local etcd (default 1; 3 keeps working with one down)",
    )
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
            etcd_members=args.etcd_members,
            tls=args.tls,
        )
        print(json_text(status(info.data_dir)) if args.json else render_up(info, args.data_dir))
        return 0
    if args.cluster_command == "supervise":
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
        f"  {'Web console':<14}{endpoint}/console  (sign in with the keys below)",
        f"  {'Region':<14}{info.region}",
        f"  {'Access key':<14}{info.access_key}",
        f"  {'Secret key':<14}{info.secret_key}",
        f"  {'etcd':<14}{info.etcd_endpoint}",
        f"  {'Logs':<14}{info.data_dir / 'logs'}",
    ]
    # aws and boto3 trust the cluster's own CA through AWS_CA_BUNDLE.
    ca = f" AWS_CA_BUNDLE={shlex.quote(str(info.tls_files()[0]))}" if info.tls else ""
    if info.tls:
        lines.append(f"  {'CA':<14}{info.tls_files()[0]}")
    lines += [
        "",
        "Try it:",
        f"  export AWS_ACCESS_KEY_ID={shlex.quote(info.access_key)}"
        f" AWS_SECRET_ACCESS_KEY={shlex.quote(info.secret_key)}"
        f" AWS_DEFAULT_REGION={shlex.quote(info.region)}{ca}",
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
