"""coordinator.buckets: the compare-and-swap loop of update, against a fake etcd client, and
the Bucket record keeping the stored format byte for byte."""

from __future__ import annotations

from dataclasses import replace
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
    etcd.write(keys.bucket("b"), encode({"name": "b", "owner": "o", "created": 1.5}))
    result = buckets.update(etcd, "b", lambda rec: replace(rec, tags=(("k", "v"),)))
    assert result.tags == (("k", "v"),) and result.owner == "o"
    stored = decode(etcd.data[keys.bucket("b")][0])
    assert stored == {"name": "b", "owner": "o", "created": 1.5, "v": 1, "tags": [["k", "v"]]}
    assert buckets.Bucket.from_record(stored) == result


def test_update_retries_when_another_writer_got_in_between():
    etcd = FakeEtcd()
    key = keys.bucket("b")
    etcd.write(key, encode({"name": "b"}))
    etcd.interfere = lambda: etcd.write(key, encode({"name": "b", "cors": [{"id": "x"}]}))
    calls = []

    def change(rec):
        calls.append(rec)
        return replace(rec, tags=(("k", "v"),))

    result = buckets.update(etcd, "b", change)
    assert len(calls) == 2  # the first attempt lost the race and was redone
    assert result.cors == ({"id": "x"},) and result.tags == (("k", "v"),)


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
        buckets.update(etcd, "b", lambda rec: replace(rec, tags=()))


# -- the stored format: records as earlier gateways wrote them (dicts changed in place) -------

CREATED = {"name": "b", "owner": "o", "region": "r", "created": 1.5, "acl": "private"}
GRANTS = {"o": "other", "g": [["READ", "u", "http://acs.amazonaws.com/groups/global/AllUsers"]]}
CORS_RULE = {
    "id": None,
    "origins": ["*"],
    "methods": ["GET"],
    "headers": [],
    "expose": [],
    "max_age": None,
}
STORED = [
    CREATED,
    {k: v for k, v in CREATED.items() if k != "acl"},  # written before ACLs
    {**CREATED, "acl": GRANTS},
    {**CREATED, "v": 1, "cors": [CORS_RULE], "versioning": "Enabled", "tags": [["k", "v"]]},
    {**CREATED, "v": 1, "versioning": "Suspended", "tags": [["a", "1"], ["b", "2"]]},
    {**CREATED, "v": 1, "later_field": {"x": 1}},  # a field a later version added
]


@pytest.mark.parametrize("stored", STORED)
def test_a_stored_record_reads_and_writes_back_byte_for_byte(stored):
    data = encode(stored)
    assert encode(buckets.Bucket.from_record(decode(data)).to_record()) == data


def test_fields_read():
    bucket = buckets.Bucket.from_record(decode(encode(STORED[3])))
    assert (bucket.name, bucket.owner, bucket.region, bucket.created) == ("b", "o", "r", 1.5)
    assert (bucket.acl, bucket.versioning) == ("private", "Enabled")
    assert bucket.tags == (("k", "v"),) and bucket.cors == (CORS_RULE,)
    old = buckets.Bucket.from_record(decode(encode(STORED[1])))
    assert (old.acl, old.versioning, old.tags, old.cors) == (None, None, (), ())


def test_create_writes_what_earlier_gateways_wrote():
    bucket = buckets.Bucket(name="b", owner="o", region="r", created=1.5, acl="private")
    assert encode(bucket.to_record()) == encode(CREATED)


def _old_setting(record, name, value):
    """How bucket settings were changed before Bucket: in the decoded dict."""
    record = dict(record)
    if value:
        record[name] = value
    else:
        record.pop(name, None)
    return record


@pytest.mark.parametrize(
    ("change", "old_change"),
    [
        (lambda b: replace(b, acl=GRANTS), lambda r: {**r, "acl": GRANTS}),
        (lambda b: replace(b, versioning="Enabled"), lambda r: {**r, "versioning": "Enabled"}),
        (
            lambda b: replace(b, tags=(("x", "y"),)),
            lambda r: _old_setting(r, "tags", [["x", "y"]]),
        ),
        (lambda b: replace(b, tags=()), lambda r: _old_setting(r, "tags", None)),
        (lambda b: replace(b, cors=()), lambda r: _old_setting(r, "cors", None)),
        (
            lambda b: replace(b, cors=(CORS_RULE, CORS_RULE)),
            lambda r: _old_setting(r, "cors", [CORS_RULE, CORS_RULE]),
        ),
    ],
)
@pytest.mark.parametrize("stored", STORED)
def test_a_change_stores_the_bytes_earlier_gateways_stored(stored, change, old_change):
    current = decode(encode(stored))
    new = change(buckets.Bucket.from_record(current)).to_record()
    assert encode(new) == encode(old_change(current))
