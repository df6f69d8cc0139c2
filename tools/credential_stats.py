"""`tessera credential stats`: keys, their last use, and each gateway's credential cache.

Everything comes from etcd: the credential records, the usage reports gateways publish
every --usage-interval seconds (coordinator/usage.py) and their membership leases. So the
numbers are as fresh as the last report, never fresher: each report says how old it is.
`build` (pure) turns those into one report; `render` prints it for a person.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from coordinator import credentials
from tools.output import format_duration, iso, table


def collect(client: Any, now: float | None = None) -> dict[str, Any]:
    from coordinator import members, usage

    records, latest = credentials.get_all_with_revision(client)
    return build(
        records,
        usage.reports(client),
        members.live_gateways(client),
        latest,
        time.time() if now is None else now,
    )


def _ago(when: float | None, now: float) -> float | None:
    return round(max(0.0, now - when), 1) if when else None


def _key_row(rec: Mapping[str, Any], use: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    use = use or {}
    until = credentials.previous_until(dict(rec), now)
    last = use.get("last_used") or None
    previous_last = use.get("previous_last_used") or None
    return {
        "access_key": rec["access_key"],
        "enabled": bool(rec.get("enabled", True)),
        "policy": rec.get("policy", ""),
        "description": rec.get("description", ""),
        "last_used": iso(last),
        "last_used_seconds_ago": _ago(last, now),
        "last_gateway": use.get("last_gateway"),
        "requests": int(use.get("requests", 0)),
        "previous_valid_until": iso(until),
        "previous_valid_seconds": round(until - now, 1) if until is not None else None,
        "previous_requests": int(use.get("previous_requests", 0)),
        "previous_last_used": iso(previous_last),
        "previous_last_used_seconds_ago": _ago(previous_last, now),
        "by_gateway": {
            gateway_id: {
                "requests": each.requests,
                "last_used": iso(each.last_used),
                "last_used_seconds_ago": _ago(each.last_used, now),
            }
            for gateway_id, each in sorted((use.get("by_gateway") or {}).items())
        },
    }


def _gateway_row(
    gateway_id: str,
    member: Mapping[str, Any] | None,
    report: Mapping[str, Any] | None,
    total: int,
    latest: int,
    now: float,
) -> dict[str, Any]:
    report = report or {}
    cache = report.get("cache") or {}
    live = member is not None
    row: dict[str, Any] = {
        "id": gateway_id,
        "live": live,
        "address": (member or {}).get("address"),
        "reported": iso(report.get("published")),
        "report_age_seconds": _ago(report.get("published"), now),
        "interval_seconds": report.get("interval"),
        "requests": sum(int(k.get("requests", 0)) for k in (report.get("keys") or {}).values()),
        "credentials_loaded": cache.get("items"),
        "cache_loaded_at": iso(cache.get("loaded_at")),
        "cache_loaded_seconds_ago": _ago(cache.get("loaded_at"), now),
        "cache_reloads": cache.get("reloads"),
        "cache_revision": cache.get("revision"),
        "watch_healthy": cache.get("healthy") if cache else None,
        "watch_error": cache.get("error"),
        "in_sync": None,
    }
    if live and cache:
        # Behind: the cache has not seen the latest write, or holds a different number of
        # keys (a delete it missed). A report is up to one interval old.
        row["in_sync"] = cache.get("revision", 0) >= latest and cache.get("items") == total
    return row


def build(
    records: list[dict[str, Any]],
    reports: Mapping[str, dict[str, Any]],
    live: Mapping[str, dict[str, Any]],
    latest_revision: int,
    now: float,
) -> dict[str, Any]:
    """The stats report from credential records, usage reports (gateway id → report),
    live gateways (id → membership record) and the latest credential write's revision."""
    from coordinator import usage

    merged = usage.merge(dict(reports))
    keys = [_key_row(rec, merged.get(rec["access_key"]), now) for rec in records]
    enabled = sum(k["enabled"] for k in keys)
    gateways = [
        _gateway_row(g, live.get(g), reports.get(g), len(records), latest_revision, now)
        for g in sorted(set(live) | set(reports), key=lambda g: (g not in live, g))
    ]
    notes = []
    silent = [g["id"] for g in gateways if g["live"] and g["reported"] is None]
    if silent:
        notes.append(f"no usage report yet from {', '.join(silent)} (older Tessera, or starting)")
    gone = [g["id"] for g in gateways if not g["live"]]
    if gone:
        notes.append(
            f"{len(gone)} stopped gateway(s) ({', '.join(gone)}): their last reports still "
            "count in the per-key totals until they expire (24 h)"
        )
    for g in gateways:
        if g["live"] and g["watch_healthy"] is False:
            notes.append(
                f"{g['id']}: credential watch broken ({g['watch_error'] or 'etcd silent'}); "
                "it reloads and watches again on its own"
            )
    if any(g["in_sync"] is False for g in gateways):
        notes.append(
            "a cache shown behind may have caught up since its report; run again after "
            "the report interval"
        )
    return {
        "credentials": {
            "total": len(keys),
            "enabled": enabled,
            "disabled": len(keys) - enabled,
            "rotating": sum(k["previous_valid_until"] is not None for k in keys),
        },
        "latest_revision": latest_revision,
        "keys": keys,
        "gateways": gateways,
        "notes": notes,
    }


# --- rendering ---------------------------------------------------------------------------


def _when(seconds_ago: float | None) -> str:
    return "never" if seconds_ago is None else f"{format_duration(seconds_ago)} ago"


def _old_secret(key: Mapping[str, Any]) -> str:
    if key["previous_valid_until"] is None:
        return "-"
    text = f"valid {format_duration(key['previous_valid_seconds'])} more"
    if key["previous_requests"]:
        text += (
            f", used {key['previous_requests']:,}x, last "
            f"{_when(key['previous_last_used_seconds_ago'])}"
        )
    else:
        text += ", unused since the rotation"
    return text


def _cache_state(gw: Mapping[str, Any]) -> str:
    if not gw["live"]:
        return "stopped"
    if gw["reported"] is None:
        return "no report yet"
    if gw["in_sync"]:
        return "current"
    return "BEHIND"


def _watch(gw: Mapping[str, Any]) -> str:
    if gw["watch_healthy"] is None or not gw["live"]:
        return "-"
    return "healthy" if gw["watch_healthy"] else "BROKEN"


def render(report: Mapping[str, Any]) -> str:
    counts = report["credentials"]
    reporting = [g for g in report["gateways"] if g["reported"] and g["live"]]
    stopped = sum(not g["live"] for g in report["gateways"])
    intervals = sorted({f"{g['interval_seconds']:g}s" for g in reporting if g["interval_seconds"]})
    head = (
        f"Credentials: {counts['total']} ({counts['enabled']} enabled, "
        f"{counts['disabled']} disabled)"
    )
    if counts["rotating"]:
        head += f", {counts['rotating']} with an old secret still valid"
    lines = [
        head,
        f"Use as reported by {len(reporting)} live gateway(s)"
        + (f" and {stopped} stopped" if stopped else "")
        + (f", every {' / '.join(intervals)}" if intervals else ""),
        "",
    ]
    if report["keys"]:
        rows = [
            [
                k["access_key"],
                "enabled" if k["enabled"] else "DISABLED",
                k["policy"] or "-",
                _when(k["last_used_seconds_ago"]),
                k["last_gateway"] or "-",
                f"{k['requests']:,}",
                _old_secret(k),
            ]
            for k in report["keys"]
        ]
        headers = ["ACCESS KEY", "STATE", "POLICY", "LAST USED", "VIA", "REQUESTS", "OLD SECRET"]
        lines.append(table(headers, rows, right=(5,)))
    else:
        lines.append("  no credentials")
    lines += ["", "Gateways (credential cache as of each one's last report)"]
    if report["gateways"]:
        rows = [
            [
                g["id"],
                "live" if g["live"] else "stopped",
                _when(g["report_age_seconds"]) if g["reported"] else "-",
                g["credentials_loaded"],
                _when(g["cache_loaded_seconds_ago"]) if g["cache_loaded_at"] else "-",
                g["cache_reloads"],
                g["cache_revision"],
                _watch(g),
                _cache_state(g),
                f"{g['requests']:,}" if g["reported"] else "-",
            ]
            for g in report["gateways"]
        ]
        headers = ["GATEWAY", "STATE", "REPORTED", "CREDENTIALS", "RELOADED", "RELOADS"]
        headers += ["REVISION", "WATCH", "CACHE", "REQUESTS"]
        lines.append(table(headers, rows, right=(3, 5, 6, 9)))
    else:
        lines.append("  no gateway is up")
    lines.append(f"  (latest credential write: etcd revision {report['latest_revision']})")
    if report["notes"]:
        lines += ["", "Notes:"] + [f"  - {note}" for note in report["notes"]]
    return "\n".join(lines)
