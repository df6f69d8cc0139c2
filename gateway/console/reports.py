"""What the console shows of the cluster: the report `tessera admin status` and `jobs`
print, each gateway's request counters for the live charts, and per-bucket object counts.

All of it comes from etcd and the processes' Admin services (coordinator/cluster_report.py),
asked from worker threads with the admin token this gateway derives from the cluster key.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from coordinator import buckets, cluster_report, namespaces
from coordinator.storage_mode import StorageMode, StorageModeError, check_fits
from gateway.state import Gateway

# Seconds to wait for one process's Admin answer.
TIMEOUT = 3.0
# Bucket counts make every storage node count its index: a page's reloads share one count.
STATS_TTL = 10.0
# Admin fan-outs of the metrics poll at once (each asks every gateway from threads of its own).
_ASKS = trio.CapacityLimiter(2)
_COUNTERS = (
    "requests_total",
    "errors_total",
    "client_errors_total",
    "bytes_in",
    "bytes_out",
    "uptime_seconds",
)
_held_cache: dict[str, tuple[float, dict[str, tuple[int, int]] | None]] = {}


async def cluster(gateway: Gateway) -> dict[str, Any]:
    """{"status": as `tessera admin status --json`, "jobs": as `tessera admin jobs --json`}."""
    token, endpoint = gateway.admin_token, gateway.etcd_endpoint or ""

    def collect(client: Any) -> dict[str, Any]:
        return {
            "status": cluster_report.collect_status(client, endpoint, token, TIMEOUT),
            "jobs": cluster_report.collect_jobs(client, token, TIMEOUT),
        }

    report: dict[str, Any] = await gateway.etcd_call(collect)
    return report


def _counters(gateway_id: str, record: dict[str, Any], answer: tuple[dict, str | None]) -> dict:
    replies, error = answer
    stats = replies.get("Stats")
    row: dict[str, Any] = {"id": gateway_id, "endpoint": record.get("endpoint"), "error": error}
    for name in _COUNTERS:
        row[name] = getattr(stats, name) if stats else None
    row["latency_bounds"] = list(stats.latency_bounds) if stats else []
    row["latency_counts"] = list(stats.latency_counts) if stats else []
    return row


async def gateway_metrics(gateway: Gateway) -> dict[str, Any]:
    """Each live gateway's request counters and latency histogram, totals since it
    started: the page charts the differences between two samples."""
    # The live gateways from this gateway's membership cache: no etcd read per sample.
    records = gateway.gateways.items()
    targets = {gateway_id: record.get("admin_address") for gateway_id, record in records.items()}
    answers = await trio.to_thread.run_sync(
        cluster_report.ask_all, targets, gateway.admin_token, ("Stats",), TIMEOUT, limiter=_ASKS
    )
    rows = [
        _counters(gateway_id, records.get(gateway_id, {}), answers[gateway_id])
        for gateway_id in sorted(answers)
    ]
    return {"time": time.time(), "gateways": rows}


def bucket_rows(
    records: dict[str, buckets.Bucket], held: dict[str, tuple[int, int]] | None
) -> dict[str, dict[str, Any]]:
    """Per bucket: its storage mode and its current objects and their bytes, from what the
    storage nodes hold per namespace ((objects, bytes) summed over nodes; None when no node
    answered). Each object is held by R nodes (a coded one's version: metadata only, its
    bytes in fragments of k+m in the bucket's fragment namespace), so the counts are
    estimates while copies are missing or in excess."""
    rows = {}
    for name, record in sorted(records.items()):
        mode = record.storage_mode
        row: dict[str, Any] = {
            "objects": None,
            "bytes": None,
            "estimated": True,
            "storage": _describe(mode),
            "mode": mode.mode,
            "data": mode.data if mode.mode != "replica" else None,
            "parity": mode.parity if mode.mode != "replica" else None,
            "threshold": mode.threshold if mode.mode == "hybrid" else None,
        }
        if held is not None:
            objects, stored = held.get(name, (0, 0))
            _, coded = held.get(namespaces.fragments_namespace(name), (0, 0))
            row["objects"] = round(objects / mode.replicas)
            row["bytes"] = round(stored / mode.replicas)
            if mode.mode != "replica":
                row["bytes"] += round(coded * mode.data / mode.fragments)
        rows[name] = row
    return rows


def _describe(mode: StorageMode) -> str:
    if mode.mode == "replica":
        return f"replica, {mode.replicas} copies"
    return mode.describe()


async def bucket_stats(gateway: Gateway) -> dict[str, dict[str, Any]]:
    """bucket_rows for every bucket this gateway knows now, from what the nodes held at
    most STATS_TTL seconds ago."""
    cached = _held_cache.get(gateway.gateway_id)
    if cached is not None and time.monotonic() - cached[0] < STATS_TTL:
        return bucket_rows(gateway.buckets.items(), cached[1])
    token = gateway.admin_token

    def collect(client: Any) -> dict[str, tuple[int, int]] | None:
        _, _, answers = cluster_report.collect_nodes(client, token, TIMEOUT, ("Usage",))
        held: dict[str, tuple[int, int]] = {}
        answered = False
        for replies, _ in answers.values():
            usage = replies.get("Usage")
            if usage is None:
                continue
            answered = True
            for each in usage.buckets:
                objects, stored = held.get(each.bucket, (0, 0))
                held[each.bucket] = (objects + each.objects, stored + each.bytes)
        return held if answered else None

    held = await gateway.etcd_call(collect)
    _held_cache[gateway.gateway_id] = (time.monotonic(), held)
    return bucket_rows(gateway.buckets.items(), held)


def storage_mode(body: dict[str, Any]) -> StorageMode:
    """The mode a JSON body asks for (StorageModeError when it is not one)."""
    mode = body.get("mode", "replica")
    numbers = {name: body.get(name) for name in ("data", "parity", "threshold")}
    given = {name: value for name, value in numbers.items() if value is not None}
    if not isinstance(mode, str) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in given.values()
    ):
        raise StorageModeError("mode is a name; data, parity and threshold are integers")
    return StorageMode(mode, **given)


async def set_storage(gateway: Gateway, bucket: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store the bucket's new objects in the mode the body names (as `tessera bucket
    set-storage`); KeyError when there is no such bucket."""
    mode = storage_mode(body)
    active = sum(node.state == "active" for node in gateway.directory.nodes())
    check_fits(mode, active)

    try:
        record = await gateway.etcd_call(
            buckets.set_storage, bucket, mode, answers=(buckets.NoSuchBucketRecord,)
        )
    except buckets.NoSuchBucketRecord:
        raise KeyError(bucket) from None
    gateway.buckets.put_local(bucket, record)
    return bucket_rows({bucket: record}, None)[bucket]
