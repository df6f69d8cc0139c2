"""coordinator.buckets.update: the compare-and-swap loop, against a fake etcd client."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from coordinator import buckets, keys
from coordinator.codec import decode, encode


class FakeEtcd:
    """Just enough of etcd3.Etcd3Client for update(): get, and a transaction comparing one
    key's mod_revision. ``interfere`` runs once before the first transaction, like a writer
    on another gateway."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.revision = 0
        self.interfere = None
        self.transactions = SimpleNamespace(mod=self._mod, put=self._put)

    def write(self, key: str, value: bytes) -> None:
        self.revision += 1
        self.data[key] = (value, self.revision)

    def get(self, key: str):
        if key not in self.data:
            return None, None
        value, mod = self.data[key]
        return value, SimpleNamespace(mod_revision=mod)

    def _mod(self, key: str):
        fake = self

        class Compare:
            def __eq__(self, expected):  # etcd3 builds comparisons with ==
                return lambda: fake.data.get(key, (None, 0))[1] == expected

        return Compare()

    def _put(self, key: str, value: bytes):
        return lambda: self.write(key, value)

    def transaction(self, compare, success, failure):
        if self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere()
        if all(check() for check in compare):
            for op in success:
                op()
            return True, []
        return False, []


def test_update_changes_the_record():
    etcd = FakeEtcd()
    etcd.write(keys.bucket("b"), encode({"name": "b", "owner": "o"}))
    result = buckets.update(etcd, "b", lambda rec: {**rec, "tags": [["k", "v"]]})
    assert result["tags"] == [["k", "v"]] and result["owner"] == "o"
    assert decode(etcd.data[keys.bucket("b")][0]) == result


def test_update_retries_when_another_writer_got_in_between():
    etcd = FakeEtcd()
    key = keys.bucket("b")
    etcd.write(key, encode({"name": "b"}))
    etcd.interfere = lambda: etcd.write(key, encode({"name": "b", "cors": [{"id": "x"}]}))
    calls = []

    def change(rec):
        calls.append(dict(rec))
        return {**rec, "tags": [["k", "v"]]}

    result = buckets.update(etcd, "b", change)
    assert len(calls) == 2  # the first attempt lost the race and was redone
    assert result["cors"] == [{"id": "x"}] and result["tags"] == [["k", "v"]]


def test_update_of_a_missing_bucket():
    etcd = FakeEtcd()
    with pytest.raises(buckets.NoSuchBucketRecord):
        buckets.update(etcd, "gone", lambda rec: rec)


def test_update_of_a_bucket_deleted_meanwhile():
    etcd = FakeEtcd()
    key = keys.bucket("b")
    etcd.write(key, encode({"name": "b"}))
    etcd.interfere = lambda: etcd.data.pop(key)
    with pytest.raises(buckets.NoSuchBucketRecord):
        buckets.update(etcd, "b", lambda rec: {**rec, "tags": []})
