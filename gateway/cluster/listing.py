"""Listing across storage nodes: k-way merge of each node's sorted pages.

Every node returns its newest entry per key (tombstones included). The merge
takes, for each key, the newest entry among the nodes that have it, and drops
tombstones, so a key deleted on a quorum never reappears from a stale node.

A listing need not ask every node: an acknowledged write (or delete) is on a write
quorum of its replicas, so leaving out up to R - W nodes still sees every key and
its newest entry. The nodes left out are spares: one replaces an asked node that
fails, resuming after the last entry the merge returned.

`VersionListing` merges every version instead (ListObjectVersions): each key's
versions newest first, one entry per version id.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import trio

from coordinator.placement import NodeEntry
from gateway.cluster import erasure
from gateway.cluster.store import ObjectVersion, StoreUnavailable
from proto import storage_pb2 as pb

log = logging.getLogger(__name__)

PAGE = 1000
LIST_TIMEOUT = 5.0
# A page request to a node the listing could do without (see _tolerance).
SKIPPABLE_TIMEOUT = 1.0
# Larger than any code point a key can contain: "prefix + this" sorts after
# every key that starts with prefix.
_AFTER_ALL = "\U0010ffff"


# Where a node's page ends: a key (ListObjects) or (key, timestamp, version id).
Position = str | tuple[str, int, str]


def version_of(
    info: pb.ObjectInfo, holders: tuple[str, ...] = (), data: bytes | None = None
) -> ObjectVersion:
    """The ObjectVersion a storage node's ObjectInfo describes. An erasure-coded object's
    version holds no bytes itself: its size is its layout's."""
    layout = erasure.layout_of(info.meta) if not info.size else None
    return ObjectVersion(
        info.key,
        info.version_id,
        info.timestamp,
        layout.size if layout else info.size,
        info.deleted,
        info.meta,
        holders,
        None if layout else data,
        info.versioned,
        layout,
    )


class _Cursor:
    def __init__(self, node: NodeEntry, start_after: Position) -> None:
        self.node = node
        self.start_after = start_after
        self.buffer: deque[pb.ObjectInfo] = deque()
        self.complete = False


class MergedListing:
    """An ObjectListing over many nodes (see gateway/cluster/store.py)."""

    _method = "ListObjects"

    def __init__(
        self,
        nodes: list[NodeEntry],
        is_live: Callable[[str], bool],
        call: Callable[[NodeEntry, str, Any, float], Awaitable[Any]],
        bucket: str,
        prefix: str,
        start_after: Position,
        tolerance: int,
        spares: int = 0,
    ) -> None:
        self._call = call
        self._bucket = bucket
        self._prefix = prefix
        self._failed = 0
        self._tolerance = tolerance
        self._cursors: list[_Cursor] = []
        self._spares: list[NodeEntry] = []
        self._resume = start_after  # after the last entry next() returned
        if not nodes:
            raise StoreUnavailable("no storage nodes in the placement map")
        live = [n for n in nodes if is_live(n.node_id)]
        for node in nodes:
            if node not in live:
                self._fail(node, "down")
        # A node that is down already takes one of the nodes the listing may go without.
        # Which nodes are spared turns with each listing, so all share the work.
        keep = len(live) - max(0, min(spares, tolerance - self._failed))
        turn = random.randrange(len(live)) if live else 0
        live = live[turn:] + live[:turn]
        self._cursors = [_Cursor(node, start_after) for node in live[:keep]]
        self._spares = live[keep:]

    def _fail(self, node: NodeEntry, why: str) -> None:
        self._failed += 1
        log.warning("listing without node=%s reason=%s", node.node_id, why)
        # Nodes the listing goes without: those that failed and the spares not asked.
        if self._failed + len(self._spares) > self._tolerance:
            raise StoreUnavailable("too many storage nodes unavailable to list safely")

    def _request(self, cursor: _Cursor) -> Any:
        assert isinstance(cursor.start_after, str)
        return pb.ListRequest(
            bucket=self._bucket, prefix=self._prefix, start_after=cursor.start_after, limit=PAGE
        )

    @staticmethod
    def _position(entry: pb.ObjectInfo) -> Position:
        return entry.key

    async def _refill(self, cursor: _Cursor) -> None:
        request = self._request(cursor)
        try:
            # While a node may still be replaced or skipped safely, don't wait long for it.
            replaceable = self._spares or self._failed < self._tolerance
            timeout = SKIPPABLE_TIMEOUT if replaceable else LIST_TIMEOUT
            reply = await self._call(cursor.node, self._method, request, timeout)
        except grpc.RpcError as exc:
            self._cursors.remove(cursor)
            if self._spares:
                self._failed += 1  # one node fewer asked, one spare fewer: as many missing
                spare = _Cursor(self._spares.pop(0), self._resume)
                log.warning(
                    "listing asks node=%s instead of node=%s code=%s",
                    spare.node.node_id,
                    cursor.node.node_id,
                    exc.code(),
                )
                self._cursors.append(spare)
                await self._refill(spare)
                return
            self._fail(cursor.node, str(exc.code()))
            return
        cursor.buffer.extend(reply.entries)
        cursor.complete = reply.complete or not reply.entries
        if reply.entries:
            cursor.start_after = self._position(reply.entries[-1])

    async def _heads(self) -> list[_Cursor]:
        """The cursors with an entry buffered, once every empty unfinished one is refilled
        (together); none at the end of the listing."""
        empty = [c for c in self._cursors if not c.buffer and not c.complete]
        if empty:
            async with trio.open_nursery() as nursery:
                for cursor in empty:
                    nursery.start_soon(self._refill, cursor)
        return [c for c in self._cursors if c.buffer]

    async def next(self) -> ObjectVersion | None:
        """The next live entry in key order, or None at the end."""
        while True:
            heads = await self._heads()
            if not heads:
                return None
            key = min(c.buffer[0].key for c in heads)
            newest: pb.ObjectInfo | None = None
            for cursor in heads:
                if cursor.buffer[0].key == key:
                    info = cursor.buffer.popleft()
                    if newest is None or (info.timestamp, info.version_id) > (
                        newest.timestamp,
                        newest.version_id,
                    ):
                        newest = info
            assert newest is not None
            self._resume = key
            if not newest.deleted:
                return version_of(newest)

    def skip_prefix(self, prefix: str) -> None:
        """Drop every remaining key that starts with prefix (a CommonPrefix)."""
        bound = prefix + _AFTER_ALL
        self._resume = self._after_key(bound)
        for cursor in self._cursors:
            while cursor.buffer and cursor.buffer[0].key.startswith(prefix):
                cursor.buffer.popleft()
            if not cursor.buffer and not cursor.complete and self._key(cursor) < bound:
                cursor.start_after = self._after_key(bound)

    @staticmethod
    def _key(cursor: _Cursor) -> str:
        return cursor.start_after if isinstance(cursor.start_after, str) else cursor.start_after[0]

    @staticmethod
    def _after_key(key: str) -> Position:
        """The position after every version of key."""
        return key


class VersionListing(MergedListing):
    """Every version of every key, keys in order and each key newest first.

    Replicas hold the same versions, so entries are merged by version id. A
    key has one null version: a stale replica's older null version is
    skipped. `next` returns delete markers too (deleted=True).
    """

    _method = "ListVersions"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._null_seen: str | None = None  # the key whose null version was returned

    def _request(self, cursor: _Cursor) -> Any:
        position = cursor.start_after
        key, ts, version_id = position if isinstance(position, tuple) else (position, 0, "")
        return pb.ListVersionsRequest(
            bucket=self._bucket,
            prefix=self._prefix,
            key_marker=key,
            marker_timestamp=ts,
            marker_version_id=version_id,
            limit=PAGE,
        )

    @staticmethod
    def _position(entry: pb.ObjectInfo) -> Position:
        return entry.key, entry.timestamp, entry.version_id

    @staticmethod
    def _after_key(key: str) -> Position:
        return key, 0, ""

    async def next(self) -> ObjectVersion | None:
        """The next version in listing order, or None at the end."""
        while True:
            heads = await self._heads()
            if not heads:
                return None
            first = min(
                (c.buffer[0] for c in heads),
                key=lambda i: (i.key, -i.timestamp, _Descending(i.version_id)),
            )
            for cursor in heads:
                head = cursor.buffer[0]
                if (head.key, head.version_id) == (first.key, first.version_id):
                    cursor.buffer.popleft()
            self._resume = self._position(first)
            if not first.versioned:
                if self._null_seen == first.key:
                    continue  # a stale replica's older null version
                self._null_seen = first.key
            return version_of(first)


class _Descending(str):
    """A string that sorts in reverse: the newest version id first on equal timestamps."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)
