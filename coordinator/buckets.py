"""Buckets table: /tessera/buckets/<name> → msgpack record, read as a :class:`Bucket`.

Create is a compare-and-swap on the key's version, so two gateways racing to
create the same bucket end with exactly one winner. Settings (ACL, versioning, tags, CORS
rules) change through :func:`update`, a compare-and-swap on the key's mod_revision, so
concurrent edits of different settings never lose one another.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import SCHEMA_VERSION, decode, encode
from coordinator.storage_mode import StorageMode


@dataclass(frozen=True)
class Bucket:
    """A bucket's record.

    Stored as a msgpack map: ``name``, ``owner``, ``region``, ``created`` (epoch seconds)
    and ``acl`` from creation (records older than ACLs have none: private), then, once set,
    ``versioning`` ("Enabled" or "Suspended"), ``tags`` ([[key, value], ...]), ``cors``
    (gateway/s3/cors.py's rule dicts), ``policy`` (the bucket policy's JSON text, as put),
    ``public_access_block`` (its four flags by name), ``ownership`` (the object ownership
    rule), ``lifecycle`` (gateway/s3/lifecycle.py's rule dicts) and ``object_lock`` ({"rule":
    the default retention or None}, for a bucket created with object lock); a setting
    cleared is a key removed. ``stored`` is the
    record as read, so a rewrite keeps its keys' order and any field this version does not
    know: :meth:`to_record` of an unchanged record is the record read (every record a gateway
    has written has a name, owner, region and created).
    """

    name: str
    owner: str = ""
    region: str | None = None
    created: float = 0.0
    # The ACL as gateway/s3/acl.py encodes it: a canned ACL's name or a map of grants.
    acl: str | dict[str, Any] | None = None
    versioning: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    cors: tuple[dict[str, Any], ...] = ()
    policy: str | None = None
    public_access_block: Mapping[str, bool] | None = None
    ownership: str | None = None
    lifecycle: tuple[dict[str, Any], ...] = ()
    object_lock: Mapping[str, Any] | None = None
    storage: Mapping[str, Any] | None = None
    stored: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Bucket:
        return cls(
            name=rec["name"],
            owner=rec.get("owner", ""),
            region=rec.get("region"),
            created=rec.get("created", 0.0),
            acl=rec.get("acl"),
            versioning=rec.get("versioning"),
            tags=tuple((k, v) for k, v in rec.get("tags") or ()),
            cors=tuple(dict(rule) for rule in rec.get("cors") or ()),
            policy=rec.get("policy"),
            public_access_block=rec.get("public_access_block"),
            ownership=rec.get("ownership"),
            lifecycle=tuple(dict(rule) for rule in rec.get("lifecycle") or ()),
            object_lock=rec.get("object_lock"),
            storage=rec.get("storage"),
            stored=dict(rec),
        )

    @functools.cached_property
    def storage_mode(self) -> StorageMode:
        """How the bucket stores new objects (replicas unless set)."""
        return StorageMode.from_record(self.storage)

    def blocks(self, flag: str) -> bool:
        """Whether the bucket's public access block sets flag (e.g. BlockPublicAcls)."""
        return bool(self.public_access_block and self.public_access_block.get(flag))

    def to_record(self) -> dict[str, Any]:
        """The map to store: ``stored`` with the fields set over it (a key already there
        keeps its place, a new one goes last) and the unset ones removed."""
        record = dict(self.stored)
        fields: dict[str, Any] = {
            "name": self.name,
            "owner": self.owner,
            "region": self.region,
            "created": self.created,
            "acl": self.acl,
            "versioning": self.versioning,
            "tags": [[k, v] for k, v in self.tags] or None,
            "cors": [dict(rule) for rule in self.cors] or None,
            "policy": self.policy,
            "public_access_block": (
                dict(self.public_access_block) if self.public_access_block is not None else None
            ),
            "ownership": self.ownership,
            "lifecycle": [dict(rule) for rule in self.lifecycle] or None,
            "object_lock": dict(self.object_lock) if self.object_lock is not None else None,
            "storage": dict(self.storage) if self.storage is not None else None,
        }
        for key, value in fields.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        return record


class NoSuchBucketRecord(Exception):
    """The bucket's record is gone (deleted, perhaps through another gateway)."""


class BucketExists(Exception):
    """The bucket already exists; `.record` is the existing record."""

    def __init__(self, bucket: Bucket) -> None:
        super().__init__(bucket.name)
        self.record = bucket


def create(
    client: etcd3.Etcd3Client,
    name: str,
    *,
    owner: str,
    region: str,
    acl: str | dict[str, Any] = "private",
    ownership: str | None = None,
    object_lock: bool = False,
) -> Bucket:
    """Create a bucket atomically; raises BucketExists if someone has it.

    ``acl`` is the bucket's ACL as gateway/s3/acl.py encodes it: a canned ACL's name
    (all that records written before explicit grants hold), or a map of grants;
    ``ownership`` its object ownership rule, if one was asked for."""
    key = keys.bucket(name)
    bucket = Bucket(
        name=name,
        owner=owner,
        region=region,
        created=time.time(),
        acl=acl,
        ownership=ownership,
        # Object lock keeps versions for good: versioning comes on with it.
        versioning="Enabled" if object_lock else None,
        object_lock={"rule": None} if object_lock else None,
    )
    ok, responses = client.transaction(
        compare=[client.transactions.version(key) == 0],
        success=[client.transactions.put(key, encode(bucket.to_record()))],
        failure=[client.transactions.get(key)],
    )
    if ok:
        return bucket
    existing = responses[0][0][0] if responses and responses[0] else None
    raise BucketExists(Bucket.from_record(decode(existing)) if existing else bucket)


def get(client: etcd3.Etcd3Client, name: str) -> Bucket | None:
    value, _ = client.get(keys.bucket(name))
    return Bucket.from_record(decode(value)) if value is not None else None


def delete(client: etcd3.Etcd3Client, name: str) -> bool:
    """Remove the bucket record; the caller has checked it is empty."""
    return bool(client.delete(keys.bucket(name)))


def update(client: etcd3.Etcd3Client, name: str, change: Callable[[Bucket], Bucket]) -> Bucket:
    """Apply ``change`` to the bucket's record atomically and return the stored result.

    ``change`` receives the current record and returns the new one (with
    ``dataclasses.replace``); it may run more than once when another writer got in between.
    Raises NoSuchBucketRecord if the bucket does not exist (or vanished during the loop).
    """
    key = keys.bucket(name)
    while True:
        value, meta = client.get(key)
        if value is None:
            raise NoSuchBucketRecord(name)
        new = change(Bucket.from_record(decode(value))).to_record()
        ok, _ = client.transaction(
            compare=[client.transactions.mod(key) == meta.mod_revision],
            success=[client.transactions.put(key, encode(new))],
            failure=[],
        )
        if ok:
            return Bucket.from_record({**new, "v": SCHEMA_VERSION})


def set_storage(client: etcd3.Etcd3Client, name: str, mode: StorageMode) -> Bucket:
    """Store the bucket's new objects in `mode` (NoSuchBucketRecord when it is gone)."""
    return update(client, name, lambda b: dataclasses.replace(b, storage=mode.to_record()))
