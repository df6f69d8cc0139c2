"""The cluster report: what `tessera admin status`, `jobs`, `nodes`, `gateways` and
`placement` show, collected from etcd and each process's Admin service.

Every process is found in etcd: storage nodes in the placement map, live nodes and
gateways by their membership leases, whose records carry each process's Admin address.
The Admin services are then asked directly (gRPC, `authorization: Bearer <token>`, with
this process's TLS material), all at once, one thread each. Without a token only what
etcd knows is reported.

The rows and the health verdict are built by pure functions over etcd records and Admin
replies (`node_row`, `gateway_row`, `assess`, `redundancy`, `drain_row`, `job_row`); the
`collect_*` functions do the I/O, block, and are safe to call from any thread (a gateway
serving its console does). The reports are plain dicts and lists, as `--json` prints
them; rendering them as text is tools/admin_cli.py's.

Heavy modules (grpc, etcd3) are imported where they are used, so that importing this
module stays cheap for every `tessera` command.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

NOT_SERVED = "serves no Admin service (no admin token configured, or --admin-listen off)"
NOT_ASKED = "not asked: no admin token"


# --- asking processes --------------------------------------------------------------------


def _describe(exc: Any, address: str, timeout: float) -> str:
    import grpc

    code = exc.code() if hasattr(exc, "code") else None
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return "admin token refused (is this the cluster's key?)"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"admin port {address} does not answer"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer from {address} in {timeout:g}s"
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return f"{getattr(code, 'name', 'error')}: {details}"


def ask(
    address: str | None, token: str | None, calls: Sequence[str], timeout: float
) -> tuple[dict[str, Any], str | None]:
    """Call each named Admin RPC of the process at address: ({name: reply}, error)."""
    if not address:
        return {}, NOT_SERVED
    if token is None:
        return {}, NOT_ASKED
    import grpc

    from coordinator import tls
    from coordinator.addresses import dial
    from coordinator.admin_token import call_metadata
    from proto import admin_pb2 as pb
    from proto import admin_pb2_grpc as pb_grpc

    requests = {
        "Info": pb.InfoRequest,
        "Usage": pb.UsageRequest,
        "Stats": pb.StatsRequest,
        "Placement": pb.PlacementRequest,
        "Progress": pb.ProgressRequest,
        "Scrub": pb.ScrubRequest,
    }
    answers: dict[str, Any] = {}
    channel = tls.dialer(tls.process_tls())(dial(address))
    try:
        stub = pb_grpc.AdminStub(channel)
        for name in calls:
            method = getattr(stub, name)
            answers[name] = method(requests[name](), timeout=timeout, metadata=call_metadata(token))
    except grpc.RpcError as exc:
        return answers, _describe(exc, address, timeout)
    finally:
        channel.close()
    return answers, None


def ask_all(
    targets: Mapping[str, str | None], token: str | None, calls: Sequence[str], timeout: float
) -> dict[str, tuple[dict[str, Any], str | None]]:
    """ask() every (name → address) at once."""
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        futures = {
            name: pool.submit(ask, address, token, calls, timeout)
            for name, address in targets.items()
        }
        return {name: future.result() for name, future in futures.items()}


# --- building the report (pure) ----------------------------------------------------------


def _stats_fields(stats: Any) -> dict[str, Any]:
    if stats is None:
        return {
            "requests": None,
            "errors": None,
            "client_errors": None,
            "bytes_in": None,
            "bytes_out": None,
        }
    return {
        "requests": stats.requests_total,
        "errors": stats.errors_total,
        "client_errors": stats.client_errors_total,
        "bytes_in": stats.bytes_in,
        "bytes_out": stats.bytes_out,
    }


def node_row(
    node_id: str,
    entry: Any,
    member: Mapping[str, Any] | None,
    answers: Mapping[str, Any],
    error: str | None,
) -> dict[str, Any]:
    """One storage node: entry from the placement map (or None), member its membership
    record (None: no lease, so down), answers its Admin replies."""
    info, usage, stats = answers.get("Info"), answers.get("Usage"), answers.get("Stats")
    member = member or {}
    up = bool(member)
    row: dict[str, Any] = {
        "id": node_id,
        "state": "up" if up else "down",
        "placement": entry.state if entry is not None else "unplaced",
        "address": (entry.address if entry is not None else "") or member.get("address", ""),
        "zone": (entry.zone if entry is not None else "") or member.get("zone", ""),
        "weight": entry.weight if entry is not None else None,
        "admin_address": member.get("admin_address"),
        "metrics_url": member.get("metrics_url"),
        "capacity_bytes": usage.capacity_bytes if usage else None,
        "used_bytes": usage.used_bytes if usage else None,
        "free_bytes": usage.free_bytes if usage else None,
        "objects": usage.objects if usage else None,
        "bytes_stored": usage.bytes_stored if usage else None,
        "version": info.version if info else None,
        "uptime_seconds": round(info.uptime_seconds, 1) if info else None,
        "restarts": info.restarts if info else None,
        **_stats_fields(stats),
        "error": error if up else None,
    }
    if not up:
        row["down_reason"] = "holds no membership lease"
    return row


def gateway_row(
    gateway_id: str, member: Mapping[str, Any], answers: Mapping[str, Any], error: str | None
) -> dict[str, Any]:
    """One live gateway: member its membership record, answers its Admin replies."""
    info, stats = answers.get("Info"), answers.get("Stats")
    rpc_errors = sum(e.count for e in stats.rpc_errors) if stats else None
    return {
        "id": gateway_id,
        "state": "up",
        "ready": (info.state == "ready") if info else None,
        "address": (info.address if info else "") or member.get("address", ""),
        "admin_address": member.get("admin_address"),
        "metrics_url": member.get("metrics_url"),
        "version": info.version if info else None,
        "uptime_seconds": round(info.uptime_seconds, 1) if info else None,
        "restarts": info.restarts if info else None,
        **_stats_fields(stats),
        "storage_rpc_errors": rpc_errors,
        "error": error,
    }


def assess(report: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(health, problems): "ok", "degraded" (something needs a look but the cluster
    serves) or "unavailable" (no gateway, or too few nodes for a write quorum)."""
    from coordinator.placement import write_quorum

    problems: list[str] = []
    unavailable = False
    etcd = report.get("etcd") or {}
    for member in etcd.get("members", []):
        if not member.get("healthy"):
            problems.append(f"etcd member {member['name']} is unhealthy: {member.get('error')}")
    if etcd and not etcd.get("healthy", True):
        unavailable = unavailable or not any(m.get("healthy") for m in etcd.get("members", []))
    nodes = report.get("nodes", [])
    for node in nodes:
        if node["state"] == "down" and node["placement"] != "removed":
            problems.append(f"{node['id']} is down: in placement but holds no membership lease")
        elif node["state"] == "up" and node.get("error") not in (None, NOT_ASKED):
            problems.append(f"{node['id']}: {node['error']}")
        if node["state"] == "up" and node["placement"] == "unplaced":
            problems.append(f"{node['id']} holds a lease but is not in the placement map")
    serving = [n for n in nodes if n["placement"] == "active"]  # draining: no new writes
    live = sum(n["state"] == "up" for n in serving)
    if serving and live < write_quorum(min(3, len(serving))):
        unavailable = True
        problems.append(f"only {live} of {len(serving)} storage nodes up: writes fail")
    for drain in report.get("drains", []):
        if drain["state"] == "failed":
            latest = (drain.get("last_errors") or [drain.get("detail")])[-1]
            problems.append(f"the drain of {drain['node']} failed: {latest}")
    gateways = report.get("gateways")
    if gateways is not None:
        if not gateways:
            unavailable = True
            problems.append("no gateway is up")
        for gw in gateways:
            if gw.get("error") not in (None, NOT_ASKED):
                problems.append(f"{gw['id']}: {gw['error']}")
            elif gw.get("ready") is False:
                problems.append(f"{gw['id']} is not ready")
    if unavailable:
        return "unavailable", problems
    return ("degraded" if problems else "ok"), problems


# --- collecting from etcd and the processes ----------------------------------------------


def etcd_report(client: Any, endpoint: str, timeout: float) -> dict[str, Any]:
    """Health of the etcd cluster: the answering member's status, then each member's."""
    from coordinator.etcd import connect

    status = client.status()
    members = list(client.members)
    leader_id = status.leader.id if status.leader is not None else None

    def check(member: Any) -> dict[str, Any]:
        row = {
            "id": f"{member.id:x}",
            "name": member.name,
            "client_urls": list(member.client_urls),
            "peer_urls": list(member.peer_urls),
            "leader": member.id == leader_id,
            "healthy": False,
            "error": None,
        }
        if not member.client_urls:
            row["error"] = "no client URL (not started yet?)"
            return row
        other = None
        try:
            other = connect(member.client_urls[0], timeout=timeout)
            seen = other.status()
            row["healthy"] = seen.leader is not None
            row["version"] = seen.version
            if seen.leader is None:
                row["error"] = "sees no leader"
        except Exception as exc:
            row["error"] = str(exc) or type(exc).__name__
        finally:
            if other is not None:
                other.close()
        return row

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(members)))) as pool:
        rows = list(pool.map(check, members))
    leader = next((m["name"] for m in rows if m["leader"]), None)
    return {
        "endpoint": endpoint,
        "healthy": leader is not None and all(m["healthy"] for m in rows),
        "version": status.version,
        "db_size_bytes": status.db_size,
        "leader": leader,
        "raft_term": status.raft_term,
        "members": rows,
    }


def collect_nodes(
    client: Any,
    token: str | None,
    timeout: float,
    calls: Sequence[str] = ("Info", "Usage", "Stats"),
) -> tuple[int, list[dict[str, Any]], dict[str, tuple[dict[str, Any], str | None]]]:
    """(epoch, node rows, raw answers by node id)."""
    from coordinator import members, placement

    epoch, entries = placement.load(client)
    live = members.live_nodes(client)
    by_id = {e.node_id: e for e in entries}
    ids = sorted(set(by_id) | set(live))
    answers = ask_all(
        {i: live[i].get("admin_address") for i in ids if i in live}, token, calls, timeout
    )
    rows = [node_row(i, by_id.get(i), live.get(i), *answers.get(i, ({}, None))) for i in ids]
    return epoch, rows, answers


def collect_gateways(
    client: Any, token: str | None, timeout: float, calls: Sequence[str] = ("Info", "Stats")
) -> tuple[list[dict[str, Any]], dict[str, tuple[dict[str, Any], str | None]]]:
    """(gateway rows, raw answers by gateway id) of the gateways holding a lease."""
    from coordinator import members

    live = members.live_gateways(client)
    answers = ask_all(
        {g: rec.get("admin_address") for g, rec in live.items()}, token, calls, timeout
    )
    rows = [gateway_row(g, live[g], *answers[g]) for g in sorted(live)]
    return rows, answers


def redundancy(answers: Mapping[str, tuple[dict[str, Any], str | None]]) -> dict[str, Any]:
    """How far the nodes' anti-entropy (the "repair" job) says the cluster is from full
    redundancy: copies the last passes found missing and could not make yet, peers in
    sync, the oldest last pass, and when the passes running now should end."""
    now = time.time()
    rows = []
    for node_id in sorted(answers):
        got, _ = answers[node_id]
        reply = got.get("Progress")
        job = next((j for j in reply.jobs if j.name == "repair"), None) if reply else None
        if job is None:
            continue
        peers = next((m for m in job.measures if m.unit == "peers in sync"), None)
        rows.append(
            {
                "node": node_id,
                "state": job.state,
                "missing": max(0, job.total - job.done),
                "copied": job.done,
                "peers_in_sync": peers.done if peers else 0,
                "peers": peers.total if peers else 0,
                "last_pass": job.updated or None,
                "eta_seconds": eta_seconds(job.state, job.done, job.total, job.started, now),
                "detail": job.detail,
            }
        )
    passes = [r["last_pass"] for r in rows if r["last_pass"]]
    etas = [r["eta_seconds"] for r in rows if r["eta_seconds"] is not None]
    return {
        "nodes": rows,
        "missing": sum(r["missing"] for r in rows),
        "in_sync": bool(rows) and all(r["peers_in_sync"] == r["peers"] for r in rows),
        "oldest_pass": min(passes) if len(passes) == len(rows) and passes else None,
        # The nodes repair in parallel: the slowest one's pass ends last.
        "eta_seconds": max(etas) if etas else None,
    }


def collect_status(client: Any, endpoint: str, token: str | None, timeout: float) -> dict[str, Any]:
    """The whole overview of `tessera admin status`: health and problems, nodes,
    gateways, etcd, placement, drains, redundancy, buckets and totals."""
    epoch, nodes, answers = collect_nodes(
        client, token, timeout, ("Info", "Usage", "Stats", "Progress")
    )
    gateways, _ = collect_gateways(client, token, timeout)
    report: dict[str, Any] = {
        "redundancy": redundancy(answers),
        "etcd": etcd_report(client, endpoint, timeout),
        "placement": {
            "epoch": epoch,
            "nodes": sum(n["placement"] != "unplaced" for n in nodes),
            **{
                state: sum(n["placement"] == state for n in nodes)
                for state in ("active", "draining", "removed")
            },
        },
        "nodes": nodes,
        "gateways": gateways,
        "drains": collect_drains(client, nodes),
        "buckets": collect_storage(client),
    }
    up = [n for n in nodes if n["state"] == "up"]
    report["totals"] = {
        "nodes_up": len(up),
        "nodes_down": len(nodes) - len(up),
        "gateways_up": len(gateways),
        **{
            field: sum(n[field] or 0 for n in up)
            for field in ("capacity_bytes", "used_bytes", "objects", "bytes_stored")
        },
    }
    report["health"], report["problems"] = assess(report)
    report["notes"] = []
    if token is None:
        report["notes"].append(
            "no admin token (give --cluster-key-file or --admin-token-file): "
            "only what etcd knows is shown"
        )
    return report


def collect_storage(client: Any) -> dict[str, Any]:
    """How many buckets there are, and how each that is not plain replicas stores
    objects (its storage mode), with the storage classes mapped to modes."""
    from coordinator import buckets, keys, settings
    from coordinator.codec import decode
    from coordinator.storage_mode import class_modes

    coded = {}
    count = 0
    for value, _ in client.get_prefix(keys.BUCKETS):
        record = buckets.Bucket.from_record(decode(value))
        count += 1
        if record.storage_mode.mode != "replica":
            coded[record.name] = record.storage_mode.describe()
    classes = class_modes(settings.get(client, "storage_classes"))
    return {
        "count": count,
        "coded": dict(sorted(coded.items())),
        "storage_classes": {name: mode.describe() for name, mode in sorted(classes.items())},
    }


def _view_of(reply: Any) -> list[tuple[str, str, str, float, str]]:
    return sorted((n.node_id, n.address, n.zone, float(n.weight), n.state) for n in reply.nodes)


def collect_placement(client: Any, token: str | None, timeout: float) -> dict[str, Any]:
    """The map in etcd, and each live process's view of it."""
    from coordinator import placement

    epoch, entries = placement.load(client)
    _, nodes, node_answers = collect_nodes(client, token, timeout, ("Placement",))
    _, gw_answers = collect_gateways(client, token, timeout, ("Placement",))
    truth = sorted((e.node_id, e.address, e.zone, float(e.weight), e.state) for e in entries)
    live = {n["id"] for n in nodes if n["state"] == "up"}
    views = []
    for kind, answers in (("node", node_answers), ("gateway", gw_answers)):
        for name in sorted(answers):
            got, error = answers[name]
            reply = got.get("Placement")
            views.append(
                {
                    "process": name,
                    "kind": kind,
                    "epoch": reply.epoch if reply else None,
                    "nodes": len(reply.nodes) if reply else None,
                    "loaded": reply.loaded if reply else None,
                    "agrees": (reply.epoch == epoch and _view_of(reply) == truth)
                    if reply
                    else None,
                    "error": error,
                }
            )
    return {
        "epoch": epoch,
        "nodes": [{**e.to_record(), "live": e.node_id in live} for e in entries],
        "views": views,
    }


def drain_row(node_id: str, record: Mapping[str, Any], placement: str) -> dict[str, Any]:
    """A drain job record from etcd, for status and jobs."""
    fields: tuple[str, ...] = (
        "state",
        "detail",
        "passes",
        "epoch",
        "copied",
        "bytes_copied",
        "present",
    )
    fields += ("skipped", "errors", "last_errors", "started", "updated", "finished")
    row = {"node": node_id, "placement": placement, **{f: record.get(f) for f in fields}}
    for unit in ("keys", "versions", "bytes"):
        row[f"{unit}_done"] = record.get(f"{unit}_done")
        row[f"{unit}_total"] = record.get(f"{unit}_total")
    row["percent"] = percent(record)
    return row


def percent(record: Mapping[str, Any]) -> int:
    """How far a drain record's current pass got, 0..100 (100 when done)."""
    from coordinator.drain import fraction

    return int(100 * fraction(dict(record)))


def collect_drains(client: Any, nodes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Drain jobs in etcd of nodes still placed (a removed node's job is history)."""
    from coordinator import drain

    placed = {n["id"]: n["placement"] for n in nodes}
    return [
        drain_row(node_id, record, placed.get(node_id, "unplaced"))
        for node_id, record in sorted(drain.list_all(client).items())
        if placed.get(node_id) in ("active", "draining") and record["state"] != drain.CANCELLED
    ]


def job_row(process: str, kind: str, job: Any, now: float | None = None) -> dict[str, Any]:
    """One job of a Progress (or Scrub) reply as a row of `jobs`."""
    return {
        "process": process,
        "kind": kind,
        "job": job.name,
        "state": job.state,
        "done": job.done,
        "total": job.total or None,
        "unit": job.unit,
        "eta_seconds": eta_seconds(
            job.state, job.done, job.total, job.started, time.time() if now is None else now
        ),
        "detail": job.detail,
        "error": None,
    }


def eta_seconds(state: str, done: int, total: int, started: float, now: float) -> float | None:
    """Seconds a running job needs for the rest of its total at its pace so far; None
    when that cannot be told (no total, nothing done yet, not running)."""
    if state != "running" or not total or done <= 0 or done >= total or not started:
        return None
    elapsed = now - started
    return (total - done) * elapsed / done if elapsed > 0 else None


def start_scrub(client: Any, token: str | None, timeout: float) -> list[dict[str, Any]]:
    """Ask every live storage node to start a scrub pass; their scrub jobs."""
    _, _, answers = collect_nodes(client, token, timeout, ("Scrub",))
    rows: list[dict[str, Any]] = []
    for name in sorted(answers):
        got, error = answers[name]
        if error or "Scrub" not in got:
            rows.append({"process": name, "kind": "node", "job": None, "error": error})
            continue
        row = job_row(name, "node", got["Scrub"].job)
        if not got["Scrub"].started:
            row["detail"] = "a pass was running already: " + row["detail"]
        rows.append(row)
    return rows


def collect_jobs(client: Any, token: str | None, timeout: float) -> list[dict[str, Any]]:
    """Every background job of every live process (one row with the error for a process
    that did not answer), and drains from etcd of nodes that did not report them."""
    from coordinator.drain import JOB_NAME

    _, nodes, node_answers = collect_nodes(client, token, timeout, ("Progress",))
    _, gw_answers = collect_gateways(client, token, timeout, ("Progress",))
    rows: list[dict[str, Any]] = []
    for kind, answers in (("node", node_answers), ("gateway", gw_answers)):
        for name in sorted(answers):
            got, error = answers[name]
            if error:
                rows.append({"process": name, "kind": kind, "job": None, "error": error})
            for job in got["Progress"].jobs if "Progress" in got else ():
                rows.append(job_row(name, kind, job))
    # A drain whose node does not answer (down, no admin token) is still in etcd.
    reported = {r["process"] for r in rows if r["job"] == JOB_NAME}
    for drain in collect_drains(client, nodes):
        if drain["node"] in reported:
            continue
        rows.append(
            {
                "process": drain["node"],
                "kind": "node",
                "job": JOB_NAME,
                "state": drain["state"],
                "done": drain["versions_done"] or 0,
                "total": drain["versions_total"] or None,
                "unit": "versions",
                "eta_seconds": None,
                "detail": f"{drain['detail']} (from etcd)",
                "error": None,
            }
        )
    return rows
