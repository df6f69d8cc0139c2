"""Usage reports (coordinator/usage.py): counting, the record, merging reports of several
gateways, and the reporter's lease; and the cache state a report carries."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from coordinator import keys, usage
from coordinator.cache import HEALTH_INTERVAL, PrefixCache
from coordinator.codec import decode, encode

T0 = 1_700_000_000.0


def test_counter_counts_and_notes_the_last_use() -> None:
    counter = usage.Counter()
    counter.note("A", now=T0)
    counter.note("A", now=T0 + 5)
    counter.note("A", previous=True, now=T0 + 7)
    counter.note("B", now=T0 + 1)
    snap = counter.snapshot()
    assert snap["A"] == usage.KeyUse(3, T0 + 7, 1, T0 + 7)
    assert snap["B"] == usage.KeyUse(1, T0 + 1, 0, 0.0)
    # A snapshot is a copy; deleted keys are forgotten when the known keys are given.
    snap["A"].requests = 99
    assert counter.snapshot({"A"}) == {"A": usage.KeyUse(3, T0 + 7, 1, T0 + 7)}
    assert "B" not in counter.snapshot()


def test_carry_on_adds_the_report_from_before_a_restart() -> None:
    counter = usage.Counter()
    counter.note("A", now=T0 + 100)
    earlier = usage.record(
        "gw1",
        {"A": usage.KeyUse(10, T0, 2, T0 - 5), "B": usage.KeyUse(4, T0 + 200)},
        {},
        started=T0 - 1000,
        interval=15,
        now=T0,
    )
    counter.carry_on(decode(encode(earlier)))
    snap = counter.snapshot()
    assert snap["A"] == usage.KeyUse(11, T0 + 100, 2, T0 - 5)
    assert snap["B"] == usage.KeyUse(4, T0 + 200)


def test_record_round_trips_and_omits_unused_previous_counts() -> None:
    rec = usage.record(
        "gw1",
        {"A": usage.KeyUse(3, T0, 0, 0.0), "B": usage.KeyUse(1, T0, 1, T0)},
        {"items": 2, "healthy": True},
        started=T0 - 60,
        interval=15.0,
        now=T0 + 1,
    )
    back = decode(encode(rec))
    assert back["keys"]["A"] == {"requests": 3, "last_used": T0}
    assert back["keys"]["B"]["previous_requests"] == 1
    assert back["cache"] == {"items": 2, "healthy": True}
    assert (back["gateway_id"], back["published"], back["interval"]) == ("gw1", T0 + 1, 15.0)


def test_merge_sums_requests_and_keeps_the_latest_use() -> None:
    reports = {
        "gw1": {"keys": {"A": {"requests": 3, "last_used": T0 + 10}, "B": {"requests": 1}}},
        "gw2": {
            "keys": {
                "A": {
                    "requests": 2,
                    "last_used": T0 + 20,
                    "previous_requests": 1,
                    "previous_last_used": T0 + 5,
                }
            }
        },
        "gw3": {"keys": "garbage"},
        "gw4": {},
    }
    merged = usage.merge(reports)
    assert merged["A"] == {
        "requests": 5,
        "last_used": T0 + 20,
        "previous_requests": 1,
        "previous_last_used": T0 + 5,
        "last_gateway": "gw2",
        "by_gateway": {"gw1": usage.KeyUse(3, T0 + 10), "gw2": usage.KeyUse(2, T0 + 20, 1, T0 + 5)},
    }
    assert merged["B"]["requests"] == 1 and merged["B"]["last_gateway"] == "gw1"
    assert set(merged) == {"A", "B"}


def test_key_use_from_garbage_is_zero() -> None:
    assert usage.KeyUse.from_record(None) == usage.KeyUse()
    assert usage.KeyUse.from_record({"requests": "3", "last_used": True}) == usage.KeyUse()


class _Lease:
    def __init__(self, lease_id: int) -> None:
        self.id = lease_id


class _FakeEtcd:
    """Just what Reporter uses: lease, refresh_lease, put, get."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, Any]] = {}
        self.leases: dict[int, bool] = {}
        self.granted = 0

    def lease(self, ttl: int) -> _Lease:
        self.granted += 1
        self.leases[self.granted] = True
        return _Lease(self.granted)

    def refresh_lease(self, lease_id: int):
        return [SimpleNamespace(TTL=usage.RETENTION if self.leases.get(lease_id) else 0)]

    def put(self, key: str, value: bytes, lease: Any = None) -> None:
        if lease is not None and not self.leases.get(lease.id):
            raise RuntimeError("requested lease not found")
        self.data[key] = (value, lease)

    def get(self, key: str):
        value = self.data.get(key)
        return (value[0], None) if value else (None, None)


def test_reporter_writes_under_one_lease_and_replaces_a_lost_one() -> None:
    etcd = _FakeEtcd()
    reporter = usage.Reporter("gw1")
    assert reporter.load(etcd) is None
    reporter.publish(etcd, {"gateway_id": "gw1", "keys": {}})
    reporter.publish(etcd, {"gateway_id": "gw1", "keys": {"A": {"requests": 1}}})
    assert etcd.granted == 1
    value, lease = etcd.data[keys.usage("gw1")]
    assert lease.id == 1 and decode(value)["keys"] == {"A": {"requests": 1}}
    assert reporter.load(etcd)["keys"] == {"A": {"requests": 1}}
    # etcd forgot the lease (restored from a backup, or expired while cut off).
    etcd.leases[1] = False
    reporter.publish(etcd, {"gateway_id": "gw1", "keys": {}})
    assert etcd.granted == 2 and etcd.data[keys.usage("gw1")][1].id == 2
    assert reporter.published == 3


def test_cache_state_reports_health() -> None:
    cache: PrefixCache = PrefixCache(lambda: None, "/x/")  # type: ignore[arg-type,return-value]
    state = cache.state(now=T0)
    assert state["loaded"] is False and state["healthy"] is False and state["items"] == 0
    cache.put_local("a", 1)
    cache.loaded.set()
    cache.loaded_at = cache.checked_at = T0
    cache.revision = 42
    assert cache.state(now=T0 + 1)["healthy"] is True
    assert cache.state(now=T0 + 1)["items"] == 1 and cache.state(now=T0)["revision"] == 42
    # etcd has not answered for a while: not healthy.
    assert cache.healthy(now=T0 + 3 * HEALTH_INTERVAL + 1) is False
    # A broken watch is unhealthy until the next full load.
    cache.error = "watch broke: connection reset"
    assert cache.state(now=T0 + 1)["healthy"] is False
