"""Listing across storage nodes: k-way merge of each node's sorted pages.

Every node returns its newest entry per key (tombstones included). The merge
takes, for each key, the newest entry among the nodes that have it, and drops
tombstones, so a key deleted on a quorum never reappears from a stale node.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import trio

from coordinator.placement import NodeEntry
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


class _Cursor:
    def __init__(self, node: NodeEntry, start_after: str) -> None:
        self.node = node
        self.start_after = start_after
        self.buffer: deque[pb.ObjectInfo] = deque()
        self.complete = False


class MergedListing:
    """An ObjectListing over many nodes (see gateway/cluster/store.py)."""

    def __init__(
        self,
        nodes: list[NodeEntry],
        is_live: Callable[[str], bool],
        call: Callable[[NodeEntry, str, Any, float], Awaitable[Any]],
        bucket: str,
        prefix: str,
        start_after: str,
        tolerance: int,
    ) -> None:
        self._call = call
        self._bucket = bucket
        self._prefix = prefix
        self._failed = 0
        self._tolerance = tolerance
        self._cursors: list[_Cursor] = []
        for node in nodes:
            if is_live(node.node_id):
                self._cursors.append(_Cursor(node, start_after))
            else:
                self._fail(node, "down")
        if not nodes:
            raise StoreUnavailable("no storage nodes in the placement map")

    def _fail(self, node: NodeEntry, why: str) -> None:
        self._failed += 1
        log.warning("listing without node=%s reason=%s", node.node_id, why)
        if self._failed > self._tolerance:
            raise StoreUnavailable("too many storage nodes unavailable to list safely")

    async def _refill(self, cursor: _Cursor) -> None:
        request = pb.ListRequest(
            bucket=self._bucket, prefix=self._prefix, start_after=cursor.start_after, limit=PAGE
        )
        try:
            # While a node may still be skipped safely, don't wait long for it.
            timeout = SKIPPABLE_TIMEOUT if self._failed < self._tolerance else LIST_TIMEOUT
            reply = await self._call(cursor.node, "ListObjects", request, timeout)
        except grpc.RpcError as exc:
            self._cursors.remove(cursor)
            self._fail(cursor.node, str(exc.code()))
            return
        cursor.buffer.extend(reply.entries)
        cursor.complete = reply.complete or not reply.entries
        if reply.entries:
            cursor.start_after = reply.entries[-1].key

    async def _fill_all(self) -> None:
        empty = [c for c in self._cursors if not c.buffer and not c.complete]
        if not empty:
            return
        async with trio.open_nursery() as nursery:
            for cursor in empty:
                nursery.start_soon(self._refill, cursor)

    async def next(self) -> ObjectVersion | None:
        """The next live entry in key order, or None at the end."""
        while True:
            await self._fill_all()
            heads = [c for c in self._cursors if c.buffer]
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
            if not newest.deleted:
                return ObjectVersion(
                    newest.key,
                    newest.version_id,
                    newest.timestamp,
                    newest.size,
                    False,
                    newest.meta,
                )

    def skip_prefix(self, prefix: str) -> None:
        """Drop every remaining key that starts with prefix (a CommonPrefix)."""
        bound = prefix + _AFTER_ALL
        for cursor in self._cursors:
            while cursor.buffer and cursor.buffer[0].key.startswith(prefix):
                cursor.buffer.popleft()
            if not cursor.buffer and not cursor.complete and cursor.start_after < bound:
                cursor.start_after = bound
