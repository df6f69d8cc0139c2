"""Garbage collection: tombstones and remembered deletes by id go once nothing needs them.

A DELETE in an unversioned bucket leaves a tombstone, the key's only version; a version
deleted by id leaves a purge record. Both exist so that a replica which missed the
delete cannot bring the old bytes back (anti-entropy would copy them). They can go once
no node holds anything they shadow, which is a fact to check, not a time to wait:

1. After an anti-entropy pass that found every peer in sync and this node holding
   nothing it does not replicate, the node lists its tombstones and purge records older
   than `min_age` (a gateway's write that started before the delete has long finished
   or failed by then) of keys it is the first replica of (one node per key does this).
2. It asks every node in the placement map, replicas or not, whether it holds anything
   they shadow (`Collect`): another version of the tombstone's key, a copy of the purged
   version. One node down or unsure, and nothing is collected this time.
3. The entries every node cleared are dropped on every node (`Collect` with forget),
   each only if still exactly as checked, then here.

A pass of another node between the drops may copy a tombstone back to a node that
already dropped it; the next collection drops it again. Nothing older can come back:
no node held anything older when they were checked.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from coordinator import placement
from coordinator.placement import NodeEntry
from proto import storage_pb2 as pb
from storage_node.diskstore import DiskStore
from storage_node.mover import Copier, hlc_of, placed_as

log = logging.getLogger(__name__)

# Tombstones and purge records younger than this stay: a write or a delete that began
# before them may still be on its way to a replica. Tests shorten it.
DEFAULT_MIN_AGE = float(os.environ.get("TESSERA_GC_MIN_AGE") or 600.0)
# Candidates looked at per collection, and entries per Collect call.
ROUND = 4096
BATCH = 512
RPC_TIMEOUT = 30.0


class Collector:
    """The node's garbage collection of tombstones and purge records."""

    def __init__(self, store: DiskStore, node_id: str, copier: Copier, min_age: float) -> None:
        self.store = store
        self.node_id = node_id
        self.copier = copier
        self.min_age = min_age
        self._last = 0.0
        self.collected = {"tombstones": 0, "purges": 0}

    def due(self) -> bool:
        """Whether a collection is due (at most one per half min_age)."""
        return time.monotonic() - self._last >= self.min_age / 2

    def collect(
        self, nodes: list[NodeEntry], tag: str, upload_key: Callable[[str, str], str | None]
    ) -> tuple[int, int]:
        """One collection under the placement map `nodes` (named tag); returns how many
        tombstones and purge records were dropped. Raises grpc.RpcError (or ValueError)
        when a node did not answer: nothing unchecked was dropped."""
        self._last = time.monotonic()
        now = time.time()
        tombstones, purges = self.store.index.collectable(
            hlc_of(now - self.min_age), now - self.min_age, ROUND
        )
        entries = [
            pb.SyncEntry(
                bucket=r.bucket, key=r.key, version_id=r.version_id, timestamp=r.ts, deleted=True
            )
            for r in tombstones
        ] + [pb.SyncEntry(bucket=b, key=k, version_id=v, purged=True) for b, k, v in purges]
        entries = [e for e in entries if self._leads(nodes, e, upload_key)]
        others = [n for n in nodes if n.state != "removed" and n.node_id != self.node_id]
        dropped = [0, 0]
        for start in range(0, len(entries), BATCH):
            batch = entries[start : start + BATCH]
            clear = [self.answer(e, forget=False) for e in batch]
            for node in others:
                reply = self._call(node, tag, batch, forget=False)
                clear = [a and b for a, b in zip(clear, reply.clear, strict=True)]
            chosen = [e for e, ok in zip(batch, clear, strict=True) if ok]
            if not chosen:
                continue
            for node in others:
                self._call(node, tag, chosen, forget=True)
            for entry in chosen:
                if self.answer(entry, forget=True):
                    dropped[entry.purged] += 1
        self.collected["tombstones"] += dropped[0]
        self.collected["purges"] += dropped[1]
        if any(dropped):
            log.info(
                "collected node=%s tombstones=%d purge_records=%d",
                self.node_id,
                dropped[0],
                dropped[1],
            )
        return dropped[0], dropped[1]

    def answer(self, entry: pb.SyncEntry, forget: bool) -> bool:
        """This node's side of Collect for one entry."""
        index = self.store.index
        if forget:
            return index.collect(
                entry.bucket, entry.key, entry.version_id, entry.timestamp, entry.purged
            )
        return index.shadows_nothing(entry.bucket, entry.key, entry.version_id, entry.purged)

    def _leads(
        self,
        nodes: list[NodeEntry],
        entry: pb.SyncEntry,
        upload_key: Callable[[str, str], str | None],
    ) -> bool:
        """Whether this node is the first replica of the entry's key (it collects it)."""
        where = placed_as(entry.bucket, entry.key, upload_key)
        if where is None:
            return False
        owners = placement.replicas_for(nodes, *where)
        return bool(owners) and owners[0].node_id == self.node_id

    def _call(
        self, node: NodeEntry, tag: str, entries: list[pb.SyncEntry], forget: bool
    ) -> pb.CollectReply:
        request = pb.CollectRequest(
            peer=self.node_id, placement=tag, entries=entries, forget=forget
        )
        reply = self.copier.stub(node).Collect(request, timeout=RPC_TIMEOUT)
        if len(reply.clear) != len(entries):
            raise ValueError(f"{node.node_id} answered {len(reply.clear)} of {len(entries)}")
        return reply
