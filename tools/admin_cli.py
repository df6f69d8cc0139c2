"""`tessera admin ...`: see and steer the cluster from any machine that reaches etcd.

Every process is found in etcd: storage nodes in the placement map, live nodes and
gateways by their membership leases, whose records carry each process's Admin address.
The Admin services are then asked directly (gRPC, `authorization: Bearer <token>`).

  status      one overview: health, storage nodes, gateways, etcd, placement epoch
  nodes       storage nodes: up/down, addresses, zone, disk, objects, requests
  gateways    live gateways: readiness, requests, errors, bytes in/out
  placement   the placement map in etcd, and whether every process sees the same one
  jobs        background jobs of every process and how far they got
  node        drain, undrain or remove a storage node (tools/node_cli.py)
  token       print the cluster's admin token (for storage nodes' --admin-token-file)

etcd and the cluster key are found as for `tessera credential` (--etcd, --data-dir,
--cluster-key-file, TESSERA_ETCD, TESSERA_CLUSTER_KEY_FILE, ./.tessera); the admin token
is derived from the cluster key, or given with --admin-token-file / TESSERA_ADMIN_TOKEN.
Without any, status shows what etcd alone knows. Every command takes --json.

The reports are collected by coordinator/cluster_report.py (a gateway's console asks it
for the same); this module parses the command line and renders them as text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from coordinator.cluster_report import (
    NOT_ASKED,
    collect_gateways,
    collect_jobs,
    collect_nodes,
    collect_placement,
    collect_status,
    start_scrub,
)
from tools import node_cli
from tools.credentials_cli import (
    CliError,
    adopt_local_tls,
    cluster_access_arguments,
    resolve_etcd,
    resolve_key,
)
from tools.output import (
    Column,
    column_table,
    format_bytes,
    format_count,
    format_duration,
    show,
    table,
)

DEFAULT_TIMEOUT = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = cluster_access_arguments("as credential")
    common.add_argument(
        "--admin-token-file",
        default=None,
        help="file holding the admin token (default: derived from the cluster key)",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for each process (default {DEFAULT_TIMEOUT:g})",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    for name, text in (
        ("status", "cluster overview: nodes, gateways, etcd, placement epoch"),
        ("nodes", "storage nodes: up/down, disk, objects, requests"),
        ("gateways", "live gateways: readiness, requests, errors, bytes"),
        ("placement", "the placement map and whether every process sees it"),
        ("jobs", "background jobs of every process"),
        ("scrub", "start a scrub pass on every storage node now (progress: jobs)"),
    ):
        sub.add_parser(name, parents=[common], help=text, description=text)
    node_cli.add_arguments(sub, common)
    sub.add_parser(
        "token",
        parents=[common],
        help="print the admin token (for storage nodes' --admin-token-file)",
        description="Print the cluster's admin token, derived from the cluster key.",
    )


# --- the admin token ---------------------------------------------------------------------


def resolve_token(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str:
    """The admin token: --admin-token-file; the cluster key of --cluster-key-file or an
    explicit --data-dir; $TESSERA_ADMIN_TOKEN_FILE, $TESSERA_ADMIN_TOKEN; the cluster key
    from the environment or the local cluster. CliError when none is found."""
    from coordinator import admin_token

    environ = os.environ if environ is None else environ
    try:
        if args.admin_token_file:
            return admin_token.read_file(args.admin_token_file)
        if args.cluster_key_file or args.data_dir is not None:
            return admin_token.derive(resolve_key(args))
        if environ.get(admin_token.TOKEN_FILE_ENV) or environ.get(admin_token.TOKEN_ENV):
            token = admin_token.find(None, environ)
            assert token is not None
            return token
    except admin_token.AdminTokenError as exc:
        raise CliError(str(exc)) from None
    try:
        return admin_token.derive(resolve_key(args))
    except CliError as exc:
        raise CliError(f"no admin token: {exc}, or --admin-token-file") from None


def render_buckets(data: Mapping[str, Any] | None) -> str:
    """One line: buckets, and which store their objects erasure-coded."""
    if not data:
        return "unknown"
    coded = data["coded"]
    text = f"{data['count']} ({data['count'] - len(coded)} replica"
    if coded:
        shown = [f"{name} {mode}" for name, mode in list(coded.items())[:3]]
        more = f", and {len(coded) - 3} more" if len(coded) > 3 else ""
        text += f"; erasure-coded: {', '.join(shown)}{more}"
    text += ")"
    if data["storage_classes"]:
        mapped = ", ".join(f"{c} as {m}" for c, m in data["storage_classes"].items())
        text += f"; storage classes: {mapped}"
    return text


# --- rendering (pure) ---------------------------------------------------------------------


def _disk(node: Mapping[str, Any]) -> str:
    """'32 GiB / 252 GiB (31%)': the percentage as df counts it, used / (used + free),
    so blocks reserved for root count as unavailable."""
    capacity, used, free = (
        node.get("capacity_bytes"),
        node.get("used_bytes"),
        node.get("free_bytes"),
    )
    if not capacity or used is None:
        return "-"
    usable = used + free if free is not None else capacity
    percent = 100 * used / usable if usable else 0
    return f"{format_bytes(used)} / {format_bytes(capacity)} ({percent:.0f}%)"


def _node_state(node: Mapping[str, Any]) -> str:
    if node["state"] == "down":
        return "DOWN"
    return "up (no admin)" if node.get("error") not in (None, NOT_ASKED) else "up"


def _notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"  {r['id']}: {r['error']}" for r in rows if r.get("error") not in (None, NOT_ASKED)]


_NODE_COLUMNS = (
    Column("NODE", lambda n: n["id"]),
    Column("STATE", _node_state),
    Column("PLACEMENT", lambda n: n["placement"]),
    Column("ZONE", lambda n: n["zone"] or "-"),
    Column("ADDRESS", lambda n: n["address"] or "-"),
    Column("ADMIN", lambda n: n.get("admin_address") or "-", brief=False),
    Column("DISK USED", _disk),
    Column("OBJECTS", lambda n: format_count(n["objects"]), right=True),
    Column("STORED", lambda n: format_bytes(n["bytes_stored"]), right=True),
    Column("RPCS", lambda n: format_count(n["requests"]), right=True, brief=False),
    Column("ERRORS", lambda n: format_count(n["errors"]), right=True, brief=False),
    Column("VERSION", lambda n: n["version"] or "-", brief=False),
    Column("UPTIME", lambda n: format_duration(n["uptime_seconds"])),
    Column("RESTARTS", lambda n: format_count(n.get("restarts")), right=True, brief=False),
)


def render_nodes(nodes: Sequence[Mapping[str, Any]], detailed: bool = True) -> str:
    if not nodes:
        return "  no storage nodes"
    text = column_table(_NODE_COLUMNS, nodes, detailed)
    return "\n".join([text, *_notes(nodes)])


def _gateway_state(gw: Mapping[str, Any]) -> str:
    if gw.get("error") not in (None, NOT_ASKED):
        return "up (no admin)"
    return {True: "ready", False: "NOT READY"}.get(gw.get("ready"), "up")


_GATEWAY_COLUMNS = (
    Column("GATEWAY", lambda gw: gw["id"]),
    Column("STATE", _gateway_state),
    Column("ADDRESS", lambda gw: gw["address"] or "-"),
    Column("ADMIN", lambda gw: gw.get("admin_address") or "-", brief=False),
    Column("VERSION", lambda gw: gw["version"] or "-", brief=False),
    Column("UPTIME", lambda gw: format_duration(gw["uptime_seconds"])),
    Column("REQUESTS", lambda gw: format_count(gw["requests"]), right=True),
    Column("4XX", lambda gw: format_count(gw["client_errors"]), right=True),
    Column("5XX", lambda gw: format_count(gw["errors"]), right=True),
    Column("IN", lambda gw: format_bytes(gw["bytes_in"]), right=True),
    Column("OUT", lambda gw: format_bytes(gw["bytes_out"]), right=True),
    Column(
        "NODE RPC ERRORS",
        lambda gw: format_count(gw["storage_rpc_errors"]),
        right=True,
        brief=False,
    ),
    Column("RESTARTS", lambda gw: format_count(gw.get("restarts")), right=True, brief=False),
)


def render_gateways(gateways: Sequence[Mapping[str, Any]], detailed: bool = True) -> str:
    if not gateways:
        return "  no gateway is up"
    text = column_table(_GATEWAY_COLUMNS, gateways, detailed)
    return "\n".join([text, *_notes(gateways)])


def render_etcd(etcd: Mapping[str, Any]) -> str:
    health = "healthy" if etcd["healthy"] else "UNHEALTHY"
    members = etcd["members"]
    head = (
        f"etcd: {health}, version {etcd['version']}, {len(members)} member(s), "
        f"leader {etcd['leader'] or 'none'}, db {format_bytes(etcd['db_size_bytes'])}"
    )
    rows = [
        [
            m["name"] or "-",
            m["id"],
            ",".join(m["client_urls"]) or "-",
            ("ok" if m["healthy"] else f"FAILING: {m['error']}")
            + (" (leader)" if m["leader"] else ""),
        ]
        for m in members
    ]
    return head + "\n" + table(["MEMBER", "ID", "CLIENT URLS", "HEALTH"], rows)


def render_status(report: Mapping[str, Any]) -> str:
    totals, placement = report["totals"], report["placement"]
    nodes, gateways = report["nodes"], report["gateways"]
    etcd_state = "healthy" if report["etcd"]["healthy"] else "UNHEALTHY"
    lines = [
        f"Tessera cluster: {report['health'].upper()}",
        f"  {'Storage nodes':<15}{totals['nodes_up']} up, {totals['nodes_down']} down",
        f"  {'Gateways':<15}{totals['gateways_up']} up",
        f"  {'etcd':<15}{etcd_state} at {report['etcd']['endpoint']}",
        f"  {'Placement':<15}epoch {placement['epoch']}, {placement['nodes']} node(s) "
        f"({placement['active']} active, {placement['draining']} draining, "
        f"{placement['removed']} removed)",
        f"  {'Stored':<15}{format_count(totals['objects'])} object replicas, "
        f"{format_bytes(totals['bytes_stored'])} on the live nodes",
        f"  {'Redundancy':<15}{render_redundancy(report.get('redundancy'))}",
        f"  {'Buckets':<15}{render_buckets(report.get('buckets'))}",
        "",
        f"Storage nodes ({totals['nodes_up']} up, {totals['nodes_down']} down)",
        render_nodes(nodes, detailed=False),
        "",
        f"Gateways ({len(gateways)} up)",
        render_gateways(gateways, detailed=False),
        "",
        render_etcd(report["etcd"]),
    ]
    if report.get("drains"):
        lines += ["", "Drains", render_drains(report["drains"])]
    if report["problems"]:
        lines += ["", "Problems:"] + [f"  - {p}" for p in report["problems"]]
    lines += [f"\nNote: {note}" for note in report.get("notes", [])]
    return "\n".join(lines)


def render_redundancy(data: Mapping[str, Any] | None) -> str:
    """One line: whether every node's last anti-entropy pass found its peers in sync."""
    if not data or not data["nodes"]:
        return "unknown (no node reported anti-entropy)"
    oldest = data["oldest_pass"]
    when = f"; oldest last pass {format_duration(time.time() - oldest)} ago" if oldest else ""
    if data["in_sync"]:
        return f"every node in sync with its peers{when}"
    behind = sum(r["peers_in_sync"] < r["peers"] for r in data["nodes"])
    eta = data.get("eta_seconds")
    left = f", about {format_duration(eta)} to go" if eta is not None else ""
    return (
        f"repairing: {behind} node(s) not in sync, {format_count(data['missing'])} "
        f"missing copies found{left}{when}"
    )


def render_placement(data: Mapping[str, Any]) -> str:
    nodes = data["nodes"]
    rows = [
        [
            n["node_id"],
            n["address"],
            n["zone"],
            f"{n['weight']:g}",
            n["state"],
            "up" if n["live"] else "DOWN",
        ]
        for n in nodes
    ]
    lines = [
        f"Placement epoch {data['epoch']}: {len(nodes)} node(s) in etcd",
        table(["NODE", "ADDRESS", "ZONE", "WEIGHT", "STATE", "LEASE"], rows, right=(3,))
        if nodes
        else "  no nodes",
        "",
        "As each process sees it:",
    ]
    views = [
        [
            v["process"],
            v["kind"],
            format_count(v["epoch"]),
            format_count(v["nodes"]),
            "-" if v["agrees"] is None else ("yes" if v["agrees"] else "NO (stale)"),
            v["error"] or ("" if v["loaded"] in (True, None) else "caches not loaded"),
        ]
        for v in data["views"]
    ]
    lines.append(
        table(["PROCESS", "KIND", "EPOCH", "NODES", "AGREES", "NOTE"], views, right=(2, 3))
        if views
        else "  no live process"
    )
    return "\n".join(lines)


def render_drains(drains: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            d["node"],
            d["placement"],
            d["state"],
            f"{d['percent']}%",
            f"{format_count(d['versions_done'])} / {format_count(d['versions_total'])}",
            f"{format_bytes(d['bytes_done'])} / {format_bytes(d['bytes_total'])}",
            format_count(d["copied"]),
            format_count(d["errors"]),
            d["detail"] or "",
        ]
        for d in drains
    ]
    headers = ["NODE", "PLACEMENT", "JOB", "DONE", "VERSIONS", "BYTES", "COPIED", "ERRORS"]
    return table([*headers, "DETAIL"], rows, right=(3, 4, 5, 6, 7))


def render_jobs(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no background jobs"
    cells = []
    for r in rows:
        if r["job"] is None:
            cells.append([r["process"], r["kind"], "-", "-", "-", "-", r["error"]])
            continue
        done = format_count(r["done"]) + (f" / {format_count(r['total'])}" if r["total"] else "")
        eta = r.get("eta_seconds")
        cells.append(
            [
                r["process"],
                r["kind"],
                r["job"],
                r["state"],
                f"{done} {r['unit']}".strip(),
                format_duration(eta),
                r["detail"],
            ]
        )
    return table(["PROCESS", "KIND", "JOB", "STATE", "PROGRESS", "ETA", "DETAIL"], cells)


# --- the command ---------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except CliError as exc:
        print(f"tessera admin: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import etcd3.exceptions

    from coordinator.etcd import connect

    command = args.admin_command
    if command == "token":
        token = resolve_token(args)
        print(json.dumps({"token": token}) if args.json else token)
        return 0
    token: str | None = None
    try:
        if command != "node":  # node actions change etcd and read it: no token needed
            token = resolve_token(args)
    except CliError as exc:
        print(f"tessera admin: warning: {exc}; showing what etcd knows", file=sys.stderr)
    adopt_local_tls(args)
    endpoint = resolve_etcd(args)
    client = connect(endpoint, timeout=args.timeout)
    try:
        if command == "status":
            show(collect_status(client, endpoint, token, args.timeout), render_status, args.json)
        elif command == "nodes":
            show(collect_nodes(client, token, args.timeout)[1], render_nodes, args.json)
        elif command == "gateways":
            show(collect_gateways(client, token, args.timeout)[0], render_gateways, args.json)
        elif command == "placement":
            show(collect_placement(client, token, args.timeout), render_placement, args.json)
        elif command == "scrub":
            show(start_scrub(client, token, args.timeout), render_jobs, args.json)
        elif command == "jobs":
            show(collect_jobs(client, token, args.timeout), render_jobs, args.json)
        elif command == "node":
            return node_cli.run(args, client)
        else:
            raise CliError(f"unknown command {command}")
    except etcd3.exceptions.Etcd3Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise CliError(f"cannot reach etcd at {endpoint}: {detail}") from None
    finally:
        client.close()
    return 0
