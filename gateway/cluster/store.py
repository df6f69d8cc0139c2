"""The storage seam: what S3 handlers need from the cluster.

Handlers talk to an `ObjectStore`; placement, quorum and failover live in
the implementation behind it (gateway/cluster/client.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from coordinator.storage_mode import StorageMode
from gateway.cluster.erasure import Layout

# S3's version id of an object written while versioning was off or suspended.
NULL_VERSION = "null"


@dataclass(frozen=True)
class ObjectVersion:
    """One version of a key (usually the newest) as the cluster agreed on it."""

    key: str
    version_id: str
    timestamp: int
    size: int
    deleted: bool
    meta: bytes
    # Storage nodes known to hold exactly this version (best first).
    holders: tuple[str, ...] = ()
    # The whole object, when it is small enough to come back with the head.
    data: bytes | None = None
    # Written while versioning was Enabled: its S3 version id is its own.
    versioned: bool = False
    # Where its fragments are, for an erasure-coded object (size is then the object's).
    layout: Layout | None = None

    @property
    def s3_version_id(self) -> str:
        """The version id S3 clients see: the null version is `null`."""
        return self.version_id if self.versioned else NULL_VERSION


class StoreUnavailable(Exception):
    """Too few storage nodes answered to give a safe answer."""


class VersionGone(Exception):
    """The version being read was replaced or deleted meanwhile on every
    replica; read the newest version again."""


class ObjectStore(Protocol):
    async def put_object(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        make_meta: Callable[[int], bytes],
        size_hint: int | None = None,
        versioned: bool = False,
        mode: StorageMode | None = None,
    ) -> ObjectVersion:
        """Store the bytes of `chunks`; `make_meta(size)` runs after the body
        verified and gives the metadata to commit. Returns once durable on a
        quorum. size_hint is the announced length, when there is one.
        versioned keeps the key's other versions; otherwise this is its null
        version. mode is the bucket's storage mode, None when it never had one
        (replicas only)."""
        ...

    async def head_object(
        self, bucket: str, key: str, with_data: bool = False
    ) -> ObjectVersion | None:
        """The newest live version, or None if absent or deleted. With
        with_data, a small object's bytes come along (ObjectVersion.data)."""
        ...

    async def head_version(
        self, bucket: str, key: str, version_id: str | None = None, with_data: bool = False
    ) -> ObjectVersion | None:
        """One version by S3 version id (`null` too), or the newest when
        version_id is None; delete markers included (deleted=True)."""
        ...

    async def delete_version(self, bucket: str, key: str, version_id: str) -> ObjectVersion | None:
        """Delete one version for good; returns it, or None if no replica held it."""
        ...

    async def get_object(
        self, bucket: str, version: ObjectVersion, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of an exact version."""
        ...

    async def delete_object(self, bucket: str, key: str, versioned: bool = False) -> ObjectVersion:
        """Record a delete (a delete marker when versioned); returns the marker."""
        ...

    async def delete_objects(
        self, bucket: str, keys: list[str], versioned: bool = False
    ) -> dict[str, ObjectVersion | StoreUnavailable]:
        """delete_object for many keys at once; per key its marker or why it failed."""
        ...

    def list_objects(self, bucket: str, prefix: str, start_after: str) -> ObjectListing: ...

    def list_versions(
        self, bucket: str, prefix: str, after: tuple[str, int, str] | None
    ) -> ObjectListing:
        """Every version (markers too), keys in order, each key newest first,
        starting after the (key, timestamp, version id) position `after`."""
        ...


class ObjectListing(Protocol):
    """Live entries of a bucket in key order, merged across replicas."""

    async def next(self) -> ObjectVersion | None: ...

    def skip_prefix(self, prefix: str) -> None:
        """Do not return any more keys that start with prefix."""
        ...
