"""Buckets table: /tessera/buckets/<name> → msgpack record.

Create is a compare-and-swap on the key's version, so two gateways racing to
create the same bucket end with exactly one winner.
"""

from __future__ import annotations

import time
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import decode, encode


class BucketExists(Exception):
    """The bucket already exists; `.record` is the existing record."""

    def __init__(self, rec: dict[str, Any]) -> None:
        super().__init__(rec["name"])
        self.record = rec


def create(client: etcd3.Etcd3Client, name: str, *, owner: str, region: str) -> dict[str, Any]:
    """Create a bucket atomically; raises BucketExists if someone has it."""
    key = keys.bucket(name)
    rec = {"name": name, "owner": owner, "region": region, "created": time.time()}
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
