"""The storage seam: what S3 handlers need from the cluster.

Handlers talk to an `ObjectStore`; placement, quorum and failover live in
the implementation behind it (gateway/cluster/client.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ObjectVersion:
    """The newest version of a key as the cluster agreed on it."""

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
    ) -> ObjectVersion:
        """Store the bytes of `chunks`; `make_meta(size)` runs after the body
        verified and gives the metadata to commit. Returns once durable on a
        quorum. size_hint is the announced length, when there is one."""
        ...

    async def head_object(
        self, bucket: str, key: str, with_data: bool = False
    ) -> ObjectVersion | None:
        """The newest live version, or None if absent or deleted. With
        with_data, a small object's bytes come along (ObjectVersion.data)."""
        ...

    async def get_object(
        self, bucket: str, version: ObjectVersion, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of an exact version."""
        ...

    async def delete_object(self, bucket: str, key: str) -> None: ...

    def list_objects(self, bucket: str, prefix: str, start_after: str) -> ObjectListing: ...


class ObjectListing(Protocol):
    """Live entries of a bucket in key order, merged across replicas."""

    async def next(self) -> ObjectVersion | None: ...

    def skip_prefix(self, prefix: str) -> None:
        """Do not return any more keys that start with prefix."""
        ...
