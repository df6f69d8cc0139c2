"""Usage reports: /tessera/usage/<gateway id> → msgpack record.

Each gateway counts, in memory, the requests each access key signed and when it last did
(`Counter`, on the request path: a dict lookup and two additions). In the background it
publishes its totals here every `usage-interval` seconds and once more when it stops,
with the state of its credential cache, so `tessera credential stats` can say when a key
was last used and whether every gateway's cache is current. A record::

    {"gateway_id": "gw1", "published": 1717243200.5, "started": ..., "interval": 15.0,
     "keys": {"AKID": {"requests": 12, "last_used": 1717243199.1,
                        "previous_requests": 2, "previous_last_used": ...}},
     "cache": {"items": 4, "loaded_at": ..., "reloads": 3, "revision": 812,
               "watching": true, "checked_at": ..., "error": null, "healthy": true}}

`previous_*` count requests signed with a secret that a rotation replaced (omitted when
zero): they tell an operator whether clients still use the old secret before its grace
period ends.

A report lives under a lease of its own that the gateway refreshes as it publishes, with a
TTL of RETENTION: a gateway that stops or dies leaves its last report for that long (so
a key's last use survives a restart), then etcd deletes it. A gateway that restarts with
the same id carries on from its previous report's counts. Whether a gateway is live is
its membership lease's business (coordinator/members.py), not this record's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import CodecError, decode, encode

log = logging.getLogger(__name__)

# Seconds between two reports of a gateway (flag --usage-interval).
DEFAULT_INTERVAL = 15.0
# How long the last report of a gateway that stopped stays in etcd.
RETENTION = 24 * 3600
# Refresh the report's lease this often (well within RETENTION).
_LEASE_REFRESH = 600.0


@dataclass
class KeyUse:
    """What one gateway saw of one access key."""

    requests: int = 0
    last_used: float = 0.0
    previous_requests: int = 0
    previous_last_used: float = 0.0

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": self.requests, "last_used": self.last_used}
        if self.previous_requests:
            out["previous_requests"] = self.previous_requests
            out["previous_last_used"] = self.previous_last_used
        return out

    @classmethod
    def from_record(cls, rec: Any) -> KeyUse:
        if not isinstance(rec, dict):
            return cls()
        return cls(
            requests=_int(rec.get("requests")),
            last_used=_float(rec.get("last_used")),
            previous_requests=_int(rec.get("previous_requests")),
            previous_last_used=_float(rec.get("previous_last_used")),
        )

    def add(self, other: KeyUse) -> None:
        self.requests += other.requests
        self.last_used = max(self.last_used, other.last_used)
        self.previous_requests += other.previous_requests
        self.previous_last_used = max(self.previous_last_used, other.previous_last_used)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class Counter:
    """Requests per access key in one process. `note` runs on the request path (from one
    thread: the gateway's trio loop); `snapshot` copies for a report."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyUse] = {}

    def note(self, access_key: str, previous: bool = False, now: float | None = None) -> None:
        """A request signed with access_key's secret (previous: with the secret a rotation
        replaced) was authenticated."""
        use = self._keys.get(access_key)
        if use is None:
            use = self._keys[access_key] = KeyUse()
        when = time.time() if now is None else now
        use.requests += 1
        use.last_used = when
        if previous:
            use.previous_requests += 1
            use.previous_last_used = when

    def snapshot(self, known: set[str] | None = None) -> dict[str, KeyUse]:
        """A copy of the counts; with `known`, keys outside it (deleted) are forgotten."""
        if known is not None:
            for gone in [k for k in self._keys if k not in known]:
                del self._keys[gone]
        return {k: KeyUse(**vars(v)) for k, v in self._keys.items()}

    def carry_on(self, report: dict[str, Any]) -> None:
        """Add the counts of this gateway's report from before it restarted."""
        for access_key, rec in (report.get("keys") or {}).items():
            earlier = KeyUse.from_record(rec)
            use = self._keys.get(access_key)
            if use is None:
                self._keys[access_key] = earlier
            else:
                use.add(earlier)


def record(
    gateway_id: str,
    counts: dict[str, KeyUse],
    cache: dict[str, Any],
    *,
    started: float,
    interval: float,
    now: float,
) -> dict[str, Any]:
    return {
        "gateway_id": gateway_id,
        "published": now,
        "started": started,
        "interval": interval,
        "keys": {k: use.to_record() for k, use in sorted(counts.items())},
        "cache": cache,
    }


def merge(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """access key → its use over every report: requests added up, last uses the latest,
    `last_gateway` (the gateway that saw its latest request) and `by_gateway`
    (gateway id → that gateway's KeyUse)."""
    totals: dict[str, KeyUse] = {}
    latest: dict[str, str] = {}
    each: dict[str, dict[str, KeyUse]] = {}
    for gateway_id, report in sorted(reports.items()):
        counts = report.get("keys")
        for access_key, rec in (counts if isinstance(counts, dict) else {}).items():
            use = KeyUse.from_record(rec)
            total = totals.setdefault(access_key, KeyUse())
            if access_key not in latest or use.last_used > total.last_used:
                latest[access_key] = gateway_id
            total.add(use)
            each.setdefault(access_key, {})[gateway_id] = use
    return {
        k: {**vars(total), "last_gateway": latest[k], "by_gateway": each[k]}
        for k, total in totals.items()
    }


# --- etcd -------------------------------------------------------------------------------


class Reporter:
    """Writes one gateway's report under a lease of RETENTION seconds (blocking: call it
    from a worker thread)."""

    def __init__(self, gateway_id: str, ttl: int = RETENTION) -> None:
        self.gateway_id = gateway_id
        self.ttl = ttl
        self._lease: Any = None
        self._refreshed = 0.0
        self.published = 0  # reports written
        self.last_error: str | None = None

    def load(self, client: etcd3.Etcd3Client) -> dict[str, Any] | None:
        """This gateway's report from before it restarted, if it is still there."""
        value, _ = client.get(keys.usage(self.gateway_id))
        if value is None:
            return None
        try:
            return decode(value)
        except CodecError as exc:
            log.warning("ignoring bad usage report of %s: %s", self.gateway_id, exc)
            return None

    def publish(self, client: etcd3.Etcd3Client, rec: dict[str, Any]) -> None:
        key, value = keys.usage(self.gateway_id), encode(rec)
        now = time.monotonic()
        if self._lease is None or now - self._refreshed > min(_LEASE_REFRESH, self.ttl / 4):
            self._keep_lease(client, now)
        try:
            client.put(key, value, lease=self._lease)
        except Exception:  # the lease is gone (etcd restored, or expired while cut off)
            self._lease = client.lease(self.ttl)
            self._refreshed = now
            client.put(key, value, lease=self._lease)
        self.published += 1

    def _keep_lease(self, client: etcd3.Etcd3Client, now: float) -> None:
        alive = False
        if self._lease is not None:
            try:
                responses = list(client.refresh_lease(self._lease.id))
                alive = bool(responses) and responses[0].TTL > 0
            except Exception:
                alive = False
        if not alive:
            self._lease = client.lease(self.ttl)
        self._refreshed = now


def reports(client: etcd3.Etcd3Client) -> dict[str, dict[str, Any]]:
    """gateway id → its latest report, for every report still held."""
    found: dict[str, dict[str, Any]] = {}
    for value, meta in client.get_prefix(keys.USAGE):
        try:
            found[keys.name_of(meta.key, keys.USAGE)] = decode(value)
        except CodecError as exc:
            log.warning("skipping bad usage report %s: %s", meta.key, exc)
    return found
