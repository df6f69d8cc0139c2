"""Buckets table: /tessera/buckets/<name> → msgpack record.

Create is a compare-and-swap on the key's version, so two gateways racing to
create the same bucket end with exactly one winner. Settings (tags, CORS rules) change
through :func:`update`, a compare-and-swap on the key's mod_revision, so concurrent edits
of different settings never lose one another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import SCHEMA_VERSION, decode, encode


class NoSuchBucketRecord(Exception):
    """The bucket's record is gone (deleted, perhaps through another gateway)."""


class BucketExists(Exception):
    """The bucket already exists; `.record` is the existing record."""

    def __init__(self, rec: dict[str, Any]) -> None:
        super().__init__(rec["name"])
        self.record = rec


def create(
    client: etcd3.Etcd3Client,
    name: str,
    *,
    owner: str,
    region: str,
    acl: str | dict[str, Any] = "private",
) -> dict[str, Any]:
    """Create a bucket atomically; raises BucketExists if someone has it.

    ``acl`` is the bucket's ACL as gateway/s3/acl.py encodes it: a canned ACL's name
    (all that records written before explicit grants hold), or a map of grants."""
    key = keys.bucket(name)
    rec = {"name": name, "owner": owner, "region": region, "created": time.time(), "acl": acl}
    ok, responses = client.transaction(
        compare=[client.transactions.version(key) == 0],
        success=[client.transactions.put(key, encode(rec))],
        failure=[client.transactions.get(key)],
    )
    if ok:
        return rec
    existing = responses[0][0][0] if responses and responses[0] else None
    raise BucketExists(decode(existing) if existing else rec)


def get(client: etcd3.Etcd3Client, name: str) -> dict[str, Any] | None:
    value, _ = client.get(keys.bucket(name))
    return decode(value) if value is not None else None


def delete(client: etcd3.Etcd3Client, name: str) -> bool:
    """Remove the bucket record; the caller has checked it is empty."""
    return bool(client.delete(keys.bucket(name)))


def update(
    client: etcd3.Etcd3Client, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Apply ``change`` to the bucket's record atomically and return the stored result.

    ``change`` receives a copy of the current record and returns the new one; it may run
    more than once when another writer got in between. Raises NoSuchBucketRecord if the
    bucket does not exist (or vanished during the loop).
    """
    key = keys.bucket(name)
    while True:
        value, meta = client.get(key)
        if value is None:
            raise NoSuchBucketRecord(name)
        new = change(decode(value))
        ok, _ = client.transaction(
            compare=[client.transactions.mod(key) == meta.mod_revision],
            success=[client.transactions.put(key, encode(new))],
            failure=[],
        )
        if ok:
            return {**new, "v": SCHEMA_VERSION}
