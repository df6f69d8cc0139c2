import msgpack
import pytest

from coordinator import keys
from coordinator.clock import HybridClock, to_seconds
from coordinator.codec import SCHEMA_VERSION, CodecError, decode, encode
from coordinator.etcd import parse_endpoints


def test_round_trip_stamps_version():
    record = {"name": "bucket-ä", "created": 1.5, "tags": {"a": "b"}, "blob": b"\x00\xff"}
    data = encode(record)
    assert decode(data) == {**record, "v": SCHEMA_VERSION}


@pytest.mark.parametrize(
    "data",
    [b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"v": 999}), msgpack.packb({"name": "x"})],
)
def test_rejects_garbage_and_unknown_versions(data):
    with pytest.raises(CodecError):
        decode(data)


def test_keys_live_under_one_root():
    assert keys.bucket("b").startswith(keys.ROOT)
    assert keys.name_of(keys.bucket("my-bucket").encode(), keys.BUCKETS) == "my-bucket"
    assert keys.member_node("n1") != keys.placement_node("n1")


def test_clock_is_strictly_increasing_and_follows_others():
    clock = HybridClock()
    stamps = [clock.now() for _ in range(10_000)]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    ahead = stamps[-1] + (10_000 << 16)
    clock.observe(ahead)
    assert clock.now() > ahead
    assert abs(to_seconds(stamps[0]) - to_seconds(stamps[-1])) < 5


def test_a_skewed_clock_is_off_by_its_skew_until_it_observes_a_later_stamp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_CLOCK_SKEW", "-300")
    behind = HybridClock.from_env()
    correct = HybridClock()
    stamp = correct.now()
    assert 299 < to_seconds(stamp) - to_seconds(behind.now()) < 301
    behind.observe(stamp)
    assert behind.now() > stamp


def test_etcd_endpoints_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_endpoints("10.0.0.1:2379, http://10.0.0.2:2379,") == [
        ("10.0.0.1", 2379),
        ("10.0.0.2", 2379),
    ]
    monkeypatch.setenv("TESSERA_ETCD", "h:1")
    assert parse_endpoints(None) == [("h", 1)]
