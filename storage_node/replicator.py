"""Anti-entropy: every node keeps the other replicas of its keys as full as itself.

Nothing else brings a copy back once a write missed a replica (a node down, slow or
killed), a disk was wiped, or placement changed when a node joined. A background thread
on every node runs a pass every `interval` seconds, and soon after a peer comes back or
the placement map changes:

1. **Digests.** It sums a fingerprint of every version it holds per peer and slot
   (storage_node/digest.py): for each key it and the peer both replicate. The sums are
   kept up to date from the versions each write adds and removes (Index.changes), so a
   pass costs what changed since the last one; a full scan rebuilds them on a new
   placement map and every RESCAN_AFTER seconds.
2. **Compare.** It asks each live peer for the same digests (SyncDigest), computed from
   the peer's own index under the same placement map. Equal everywhere: done, for the
   price of one small RPC per peer.
3. **Push.** For slots that differ, it lists its own versions there, then the peer's
   (SyncEntries), and copies to the peer each version the peer lacks (PutObject with the
   same version id and timestamp, or DeleteObject for a tombstone or marker; storing a
   version twice is harmless). A version the peer deleted by id is deleted here too.
   What the peer holds and this node lacks, the peer pushes in its own pass. Of the
   replicas that could copy a version, the best placed live one goes first; the others
   copy it a pass later if it is still missing, so the bytes are rarely sent twice.
4. **Hand off.** A key this node holds but no longer replicates (a node joined and took
   its place) is copied to each of its replicas that lacks it, and dropped here only
   once every replica holds each version, and only after the placement map has been
   unchanged for HANDOFF_SETTLE seconds.
5. **Collect.** After a pass that found everything in sync, tombstones and remembered
   deletes by id that no node needs any more are dropped (storage_node/collector.py).

Versions younger than YOUNG seconds are left to the next pass: their writes may still be
streaming to the peer. Copies are throttled (`Budget`: versions and bytes per second).
A draining node leaves its data to the mover (storage_node/mover.py).

Read repair uses the same copier: a gateway that saw a replica without the newest
version of a key asks a holder to push it (`repair_key`, a bounded queue).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import etcd3
import grpc

from coordinator import keys, placement
from coordinator.bucket_replicas import BucketReplicas
from coordinator.cache import PrefixCache
from coordinator.clock import to_seconds
from coordinator.namespaces import is_fragments
from coordinator.placement import NodeEntry
from proto import admin_pb2 as apb
from proto import storage_pb2 as pb
from storage_node.collector import DEFAULT_MIN_AGE, Collector
from storage_node.digest import (
    SLOTS,
    Digests,
    differing,
    fingerprint_of,
    placement_tag,
    slot_of,
)
from storage_node.diskstore import Corrupted, DiskStore, NotFound
from storage_node.index import Change, Row
from storage_node.mover import PAGE, STOP_WAIT, WHOLE_LIMIT, Copier, by_key, placed_as

log = logging.getLogger(__name__)

JOB_NAME = "repair"
# Seconds between passes; tests shorten it.
DEFAULT_INTERVAL = float(os.environ.get("TESSERA_SYNC_INTERVAL") or 30.0)
# A pass waits at least this many times as long as the last one took, so scanning a
# big index under steady writes stays a fraction of the node's time.
DUTY = 4.0
# A peer that came back, or a new placement map: the next pass starts this soon.
WAKE_DELAY = 1.0
# A copy is dropped from a node that no longer replicates its key only after the
# placement map has not changed for this long (gateways follow the map by a watch).
HANDOFF_SETTLE = 10.0
# Digests are kept up to date from the index's changes, and rebuilt by a full scan at
# least this often (seconds), so nothing a change could not tell drifts for long.
RESCAN_AFTER = 600.0
# Versions written less than this long ago may still be streaming to their other
# replicas: the next pass looks at them.
YOUNG = 5.0
ENTRY_BATCH = 512
RPC_TIMEOUT = 30.0
DEAD_AFTER = 3
READ_REPAIR_QUEUE = 256
# Versions per peer left to their first pusher in one pass; beyond this, copied at once.
MAX_DEFERRED = 100_000
# Small versions one peer lacks go this many to a PutObjectsWhole (at most 64 x 256 KiB).
COPY_BATCH = 64
MAX_ERRORS = 5
DEFAULT_WORKERS = 4
DEFAULT_RATE = 64 << 20  # bytes per second
DEFAULT_OPS = 500  # versions per second


@dataclass
class KeyRows:
    """Stored versions of one key (a batch of them for a key with very many)."""

    namespace: str
    key: str
    slot: int
    owners: list[NodeEntry] | None  # None: placed nowhere (a part of a finished upload)
    rows: list[Row]


class Budget:
    """A token bucket for versions and bytes per second, shared by the copy workers."""

    def __init__(self, ops: float, rate: float) -> None:
        self.ops = ops
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, nbytes: int, count: int = 1) -> None:
        """Wait for the turn of `count` copies of nbytes in all (a copy costs 1/ops s,
        a byte 1/rate s)."""
        cost = (count / self.ops if self.ops > 0 else 0.0) + (
            nbytes / self.rate if self.rate > 0 else 0.0
        )
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + cost
        if start > now:
            time.sleep(start - now)


@dataclass
class Tally:
    """What the current or last pass did."""

    keys: int = 0
    versions: int = 0
    peers: int = 0
    peers_in_sync: int = 0
    peers_down: int = 0
    slots_differing: int = 0
    missing: int = 0  # copies a peer lacked (found this pass)
    copied: int = 0
    bytes_copied: int = 0
    handed_off: int = 0  # versions dropped here after their replicas held them
    purged: int = 0  # versions deleted here because a peer deleted them by id
    collected: int = 0  # tombstones and purge records dropped (collector.py)
    errors: int = 0
    last_errors: list[str] = field(default_factory=list)


@dataclass
class _Cached:
    tag: str
    digests: Digests
    handoff: int  # versions held here of keys this node does not replicate
    scanned: float  # when the full scan it started from began (monotonic)


class Replicator:
    """The anti-entropy thread of one node, and the node's side of SyncDigest/Entries."""

    def __init__(
        self,
        store: DiskStore,
        node_id: str,
        connect: Callable[[], etcd3.Etcd3Client],
        interval: float = DEFAULT_INTERVAL,
        budget: Budget | None = None,
        workers: int = DEFAULT_WORKERS,
        gc_min_age: float = DEFAULT_MIN_AGE,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.interval = interval
        self.budget = budget or Budget(DEFAULT_OPS, DEFAULT_RATE)
        self.workers = max(1, workers)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.placement: PrefixCache[NodeEntry] = PrefixCache(
            connect, keys.PLACEMENT_NODES, NodeEntry.from_record, on_change=self._soon
        )
        self.members: PrefixCache[dict[str, Any]] = PrefixCache(
            connect, keys.MEMBER_NODES, on_change=self._soon
        )
        self.uploads: PrefixCache[str] = PrefixCache(
            connect, keys.UPLOADS, lambda record: record.get("key") or ""
        )
        # R of each bucket (its storage mode): which keys this node replicates.
        self.bucket_replicas = BucketReplicas(connect, on_change=self._buckets_changed)
        self._replicas_seen = ""
        self.copier = Copier(store)
        self.collector = Collector(store, node_id, self.copier, gc_min_age)
        self._thread = threading.Thread(target=self._run, name="replicator", daemon=True)
        self._repairs: queue.Queue[tuple[str, str, list[str]]] = queue.Queue(READ_REPAIR_QUEUE)
        self._repair_thread = threading.Thread(
            target=self._read_repairs, name="read-repair", daemon=True
        )
        self._scan_lock = threading.Lock()
        # Per peer: versions it lacked that another replica was first to copy (last pass).
        self._deferred: dict[str, set[tuple[str, str, str]]] = {}
        self._cache: _Cached | None = None
        self._tag_since: tuple[str, float] = ("", 0.0)
        self._wake_at = 0.0
        # Told after each digest computation whether this node holds versions of keys it
        # no longer replicates (a hand-off pending): gateways then look beyond a key's
        # replicas before answering 404 (storage_node/main.py publishes it).
        self.on_handoff: Callable[[bool], None] | None = None
        self.lock = threading.Lock()
        # For the Admin service and metrics.
        self.state = "starting"
        self.detail = ""
        self.tally = Tally()  # the pass in progress
        self.last = Tally()  # the last complete pass
        self.passes = 0
        self.pass_started = 0.0
        self.last_finished = 0.0
        self.last_seconds = 0.0
        self.totals = {"copied": 0, "bytes_copied": 0, "handed_off": 0, "errors": 0}
        self.read_repairs = 0
        if interval <= 0:
            self.state = "off"
            self.detail = "no anti-entropy passes (--sync-interval 0): read repair only"

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        for cache in (self.placement, self.members, self.uploads, self.bucket_replicas.cache):
            try:
                cache.start()
            except TimeoutError as exc:  # the cache keeps trying; passes wait for it
                log.warning("replicator: %s; will keep trying", exc)
        if self.interval > 0:  # 0: no passes (read repair only)
            self._thread.start()
        self._repair_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for cache in (self.placement, self.members, self.uploads, self.bucket_replicas.cache):
            cache.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_WAIT)
        self.copier.close()

    def _soon(self) -> None:
        """A peer came or went, or placement changed: pass again shortly."""
        self._wake_at = time.monotonic() + WAKE_DELAY
        self._wake.set()

    def _buckets_changed(self) -> None:
        """A bucket record changed: pass again soon if that changed some bucket's R."""
        seen = self.bucket_replicas.signature()
        if seen != self._replicas_seen:
            self._replicas_seen = seen
            self._soon()

    # -- what a node holds, key by key --------------------------------------------------
    def nodes(self) -> list[NodeEntry]:
        return sorted(self.placement.items().values(), key=lambda n: n.node_id)

    def owners(self, nodes: list[NodeEntry], bucket: str, key: str) -> list[NodeEntry]:
        """The replicas of (bucket, key) under the map `nodes` and the bucket's R."""
        return placement.replicas_for(nodes, bucket, key, self.bucket_replicas.of(bucket))

    def tag(self, nodes: list[NodeEntry]) -> str:
        """The name of the placement (map and every bucket's R) digests are made under."""
        return placement_tag(nodes, self.bucket_replicas.signature())

    def upload_key(self, bucket: str, upload_id: str) -> str | None:
        return self.uploads.get(f"{bucket}/{upload_id}") or None

    def scan(self, nodes: list[NodeEntry], slots: set[int] | None = None) -> Iterator[KeyRows]:
        """Every version held here, key by key, with the key's replicas (only keys in
        `slots` when given). Rows come without their data."""
        index = self.store.index
        for namespace in index.every_namespace():
            last_key: str | None = None
            slot, owners = 0, None
            for group, _ in by_key(index.every_version(namespace, full=False, page=PAGE)):
                key = group[0].key
                if key != last_key:  # a key with very many versions comes in batches
                    last_key = key
                    slot = slot_of(namespace, key)
                    owners = None
                    if slots is None or slot in slots:
                        where = placed_as(namespace, key, self.upload_key)
                        if where is not None:
                            owners = self.owners(nodes, *where)
                if slots is None or slot in slots:
                    yield KeyRows(namespace, key, slot, owners, group)

    def digests(self, nodes: list[NodeEntry], tag: str) -> _Cached:
        """This node's digests toward every peer under the map `nodes` (named tag): the
        last ones updated with the versions added and removed since (Index.changes), or
        a scan of the whole index (a new map, too many changes, a part of a finished
        upload changed, or RESCAN_AFTER seconds since the last scan)."""
        with self._scan_lock:
            cached = self._cache
            index = self.store.index
            if (
                cached is not None
                and cached.tag == tag
                and time.monotonic() - cached.scanned < RESCAN_AFTER
                and self._update(cached, index.changes(), nodes)
            ):
                return cached
            began = time.monotonic()
            digests = Digests()
            handoff = 0
            with index.snapshot():  # changes() then holds exactly what this scan misses
                for held in self.scan(nodes):
                    if held.owners is None:
                        continue
                    owner_ids = [n.node_id for n in held.owners]
                    if self.node_id not in owner_ids:
                        handoff += len(held.rows)
                        continue
                    peers = (p for p in owner_ids if p != self.node_id)
                    digests.add(peers, held.slot, held.rows)
            self._cache = _Cached(tag, digests, handoff, began)
            return self._cache

    def _update(
        self, cached: _Cached, changes: list[Change] | None, nodes: list[NodeEntry]
    ) -> bool:
        """Apply changes to cached digests; False when a full scan must be made instead
        (the cache is then half updated): changes were lost, or one is a multipart part
        whose upload's record is gone (it was counted where that record placed it)."""
        if changes is None:
            return False
        owners: dict[tuple[str, str], list[str]] = {}
        for sign, bucket, key, version_id, ts, deleted in changes:
            if is_fragments(bucket):
                continue  # no replicas: never in a digest (a full scan skips them too)
            ids = owners.get((bucket, key))
            if ids is None:
                where = placed_as(bucket, key, self.upload_key)
                if where is None:
                    return False
                replicas = self.owners(nodes, *where)
                ids = owners[(bucket, key)] = [n.node_id for n in replicas]
            if self.node_id not in ids:
                cached.handoff += sign
                continue
            amount = fingerprint_of(bucket, key, version_id, ts, deleted) * sign
            peers = (p for p in ids if p != self.node_id)
            cached.digests.change(peers, slot_of(bucket, key), amount)
        return True

    def shared(self, held: KeyRows, peer: str) -> bool:
        """Whether this node and peer both replicate held's key."""
        if held.owners is None:
            return False
        owner_ids = {n.node_id for n in held.owners}
        return self.node_id in owner_ids and peer in owner_ids

    # -- the serving side (SyncDigest, SyncEntries, RepairKey) ---------------------------
    def digest_for(self, peer: str, tag: str) -> list[int] | None:
        """Digests toward peer, or None when this node's placement map is not `tag`."""
        nodes = self.nodes()
        if self.tag(nodes) != tag:
            return None
        return self.digests(nodes, tag).digests.of(peer)

    def entries_for(self, peer: str, tag: str, wanted: set[int]) -> Iterator[list[pb.SyncEntry]]:
        """Batches of this node's versions (and purges) of keys shared with peer in the
        wanted slots. Raises LookupError when the placement map is not `tag`."""
        nodes = self.nodes()
        if self.tag(nodes) != tag:
            raise LookupError("placement map differs")
        batch: list[pb.SyncEntry] = []
        for held in self.scan(nodes, wanted):
            if not self.shared(held, peer):
                continue
            for row in held.rows:
                batch.append(
                    pb.SyncEntry(
                        bucket=row.bucket,
                        key=row.key,
                        version_id=row.version_id,
                        timestamp=row.ts,
                        deleted=row.deleted,
                    )
                )
            if len(batch) >= ENTRY_BATCH:
                yield batch
                batch = []
        index = self.store.index
        for namespace in index.purge_namespaces():
            for key, version_id in index.purges(namespace):
                slot = slot_of(namespace, key)
                if slot not in wanted:
                    continue
                where = placed_as(namespace, key, self.upload_key)
                if where is None:
                    continue
                owner_ids = {n.node_id for n in self.owners(nodes, *where)}
                if {self.node_id, peer} <= owner_ids:
                    batch.append(
                        pb.SyncEntry(bucket=namespace, key=key, version_id=version_id, purged=True)
                    )
        if batch:
            yield batch

    def collect_for(self, tag: str, entries: list[pb.SyncEntry], forget: bool) -> list[bool] | None:
        """This node's side of Collect (see collector.py), or None when its placement
        map is not `tag`."""
        if self.tag(self.nodes()) != tag:
            return None
        return [self.collector.answer(entry, forget) for entry in entries]

    def repair_key(self, bucket: str, key: str, node_ids: list[str]) -> bool:
        """Queue a read repair (False when the queue is full: anti-entropy will do)."""
        try:
            self._repairs.put_nowait((bucket, key, node_ids))
        except queue.Full:
            return False
        return True

    def _read_repairs(self) -> None:
        while not self._stop.is_set():
            try:
                bucket, key, node_ids = self._repairs.get(timeout=1.0)
            except queue.Empty:
                continue
            try:
                self._repair_one(bucket, key, node_ids)
            except Exception as exc:
                log.warning(
                    "read repair failed %s/%s: %s: %s", bucket, key, type(exc).__name__, exc
                )

    def _repair_one(self, bucket: str, key: str, node_ids: list[str]) -> None:
        nodes = self.nodes()
        owners = {n.node_id: n for n in self.owners(nodes, bucket, key)}
        targets = [owners[n] for n in node_ids if n in owners and n != self.node_id]
        if not targets:
            return
        rows, _ = self.store.index.list_versions(bucket, key, None, PAGE, full=False)
        for row in rows:
            if row.key != key:
                break
            for node in targets:
                if self.copier.holds(node, row):
                    continue
                self.budget.take(row.size)
                if self.copier.copy(node, row):
                    with self.lock:
                        self.read_repairs += 1
                        self.totals["copied"] += 1
                        self.totals["bytes_copied"] += row.size

    # -- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        next_pass = time.monotonic() + WAKE_DELAY
        while not self._stop.is_set():
            timeout = max(0.0, next_pass - time.monotonic())
            if self._wake.wait(timeout):
                self._wake.clear()
                wake_at = self._wake_at
                if wake_at and wake_at > time.monotonic():
                    self._stop.wait(wake_at - time.monotonic())
                self._wake_at = 0.0
            if self._stop.is_set():
                return
            began = time.monotonic()
            try:
                self._pass()
            except Exception as exc:
                log.warning("anti-entropy pass failed: %s: %s", type(exc).__name__, exc)
                self._error(f"{type(exc).__name__}: {exc}")
                self._finish(began, "failed")
            took = time.monotonic() - began
            next_pass = time.monotonic() + max(self.interval, DUTY * took)

    def _pass(self) -> None:
        began = time.monotonic()
        nodes = self.nodes()
        me = next((n for n in nodes if n.node_id == self.node_id), None)
        if me is None or me.state != "active":
            state = me.state if me is not None else "unplaced"
            self._set("idle", f"this node is {state}: its data is not compared")
            return
        caches = (self.placement, self.uploads, self.bucket_replicas.cache)
        if not all(cache.loaded.is_set() for cache in caches):
            self._set("idle", "waiting for the placement map from etcd")
            return
        tag = self.tag(nodes)
        if self._tag_since[0] != tag:
            self._tag_since = (tag, time.monotonic())
        with self.lock:
            self.tally = Tally()
            self.pass_started = time.time()
        self._set("running", "computing digests")
        mine = self.digests(nodes, tag)
        if self.on_handoff is not None:
            self.on_handoff(mine.handoff > 0)
        peers = [n for n in nodes if n.state == "active" and n.node_id != self.node_id]
        differs: list[tuple[NodeEntry, list[int]]] = []
        for peer in peers:
            self._check()
            with self.lock:
                self.tally.peers += 1
            if self.members.get(peer.node_id) is None:
                with self.lock:
                    self.tally.peers_down += 1
                continue
            try:
                reply = self.copier.stub(peer).SyncDigest(
                    pb.SyncDigestRequest(peer=self.node_id, placement=tag, slots=SLOTS),
                    timeout=RPC_TIMEOUT,
                )
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    # Its lease has not run out yet: down all the same.
                    with self.lock:
                        self.tally.peers_down += 1
                elif exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    self._error(f"digest from {peer.node_id}: {exc.code().name}: {exc.details()}")
                continue
            slots = differing(mine.digests.of(peer.node_id), list(reply.digests))
            if slots:
                differs.append((peer, slots))
            else:
                with self.lock:
                    self.tally.peers_in_sync += 1
        for peer, slots in differs:
            with self.lock:
                self.tally.slots_differing += len(slots)
            self._set("running", f"copying to {peer.node_id}: {len(slots)} slots differ")
            self._sync_peer(peer, slots, nodes, tag)
        if mine.handoff:
            settled = time.monotonic() - self._tag_since[1] >= HANDOFF_SETTLE
            if settled:
                self._set(
                    "running", f"handing off {mine.handoff} versions this node no longer replicates"
                )
                self._hand_off(nodes)
            else:
                self._soon_after(HANDOFF_SETTLE)
        with self.lock:
            tally = self.tally
        in_sync = tally.peers_in_sync == tally.peers and not tally.errors
        if in_sync and not mine.handoff and self.collector.due():
            self._set("running", "collecting tombstones and purge records")
            self._collect(nodes, tag)
        self._finish(began, "idle")

    def _collect(self, nodes: list[NodeEntry], tag: str) -> None:
        try:
            tombstones, purges = self.collector.collect(nodes, tag, self.upload_key)
        except grpc.RpcError as exc:
            self._error(f"collection: {exc.code().name}: {exc.details()}")
        except ValueError as exc:
            self._error(f"collection: {exc}")
        else:
            with self.lock:
                self.tally.collected += tombstones + purges

    def _soon_after(self, seconds: float) -> None:
        self._wake_at = time.monotonic() + seconds
        self._wake.set()

    def _sync_peer(
        self, peer: NodeEntry, slots: list[int], nodes: list[NodeEntry], tag: str
    ) -> None:
        """Copy to peer what it lacks in the slots that differ."""
        wanted = set(slots)
        young = time.time() - YOUNG
        # Ours first: a version written to both after this listing is not pushed.
        candidates: list[tuple[Row, bool]] = []  # (row, whether this node pushes it first)
        for held in self.scan(nodes, wanted):
            if self.shared(held, peer.node_id):
                first = self._first_pusher(held.owners or [], peer.node_id)
                candidates.extend((row, first) for row in held.rows)
        held_there: set[tuple[str, str, str]] = set()
        purged_there: set[tuple[str, str, str]] = set()
        request = pb.SyncEntriesRequest(peer=self.node_id, placement=tag, slots=SLOTS, wanted=slots)
        try:
            for batch in self.copier.stub(peer).SyncEntries(request, timeout=RPC_TIMEOUT * 4):
                for entry in batch.entries:
                    ident = (entry.bucket, entry.key, entry.version_id)
                    (purged_there if entry.purged else held_there).add(ident)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                self._error(f"entries from {peer.node_id}: {exc.code().name}: {exc.details()}")
            return
        missing: list[Row] = []
        deferred = self._deferred.get(peer.node_id, set())
        defer: set[tuple[str, str, str]] = set()
        for row, first in candidates:
            ident = (row.bucket, row.key, row.version_id)
            if ident in held_there:
                continue
            if ident in purged_there:
                if self.store.remove_version(row.bucket, row.key, row.version_id, False):
                    with self.lock:
                        self.tally.purged += 1
                continue
            if to_seconds(row.ts) > young:
                self._soon_after(YOUNG)
                continue
            if not first and ident not in deferred and len(defer) < MAX_DEFERRED:
                defer.add(ident)  # the first pusher's turn; ours if it is still missing
                continue
            missing.append(row)
        self._deferred[peer.node_id] = defer
        if defer:
            self._soon_after(WAKE_DELAY)
        with self.lock:
            self.tally.missing += len(missing) + len(defer)
        small = [r for r in missing if not r.deleted and r.size <= WHOLE_LIMIT]
        rest = [r for r in missing if r.deleted or r.size > WHOLE_LIMIT]
        self._copy_all([(row, [peer]) for row in rest], batches=(peer, small))

    def _first_pusher(self, owners: list[NodeEntry], peer: str) -> bool:
        """Whether this node is the first to copy a key's missing versions to peer: the
        best-placed live replica other than peer. The others wait a pass, so two nodes
        do not send the same bytes; they send what is still missing then."""
        for node in owners:
            if node.node_id == peer:
                continue
            if node.node_id == self.node_id:
                return True
            if self.members.get(node.node_id) is not None:
                return False
        return True

    def _hand_off(self, nodes: list[NodeEntry]) -> None:
        """Versions of keys this node no longer replicates: to their replicas, then gone."""
        work: list[tuple[Row, list[NodeEntry]]] = []
        for held in self.scan(nodes):
            if not held.owners or any(n.node_id == self.node_id for n in held.owners):
                continue
            work.extend((row, held.owners) for row in held.rows)
            if len(work) >= PAGE:
                self._copy_all(work, drop=True)
                work = []
        self._copy_all(work, drop=True)

    def _copy_all(
        self,
        work: list[tuple[Row, list[NodeEntry]]],
        drop: bool = False,
        batches: tuple[NodeEntry, list[Row]] | None = None,
    ) -> None:
        """Copy each row to the nodes given that lack it; with drop, forget the row here
        once every one of them holds it. `batches`: small versions one node lacks, sent
        COPY_BATCH at a time (one commit on the node per batch, not per version)."""
        if not work and not (batches and batches[1]):
            return
        dead: dict[str, int] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="repair") as pool:
            if batches is not None:
                node, rows = batches
                for start in range(0, len(rows), COPY_BATCH):
                    pool.submit(self._copy_batch, node, rows[start : start + COPY_BATCH])
            for row, targets in work:
                pool.submit(self._copy_row, row, targets, drop, dead)

    def _copy_batch(self, node: NodeEntry, rows: list[Row]) -> None:
        if self._stop.is_set():
            return
        self.budget.take(sum(r.size for r in rows), len(rows))
        try:
            applied = self.copier.copy_small(node, rows)
        except grpc.RpcError as exc:
            self._error(
                f"{len(rows)} versions → {node.node_id}: {exc.code().name}: {exc.details()}"
            )
            return
        copied = [r for r, ok in zip(rows, applied, strict=True) if ok]
        with self.lock:
            self.tally.copied += len(copied)
            self.tally.bytes_copied += sum(r.size for r in copied)
            self.totals["copied"] += len(copied)
            self.totals["bytes_copied"] += sum(r.size for r in copied)

    def _copy_row(
        self, row: Row, targets: list[NodeEntry], drop: bool, dead: dict[str, int]
    ) -> None:
        if self._stop.is_set():
            return
        where = f"{row.bucket}/{row.key}@{row.version_id}"
        everywhere = True
        for node in targets:
            if dead.get(node.node_id, 0) >= DEAD_AFTER:
                everywhere = False
                continue
            try:
                # Another replica may be pushing the same version: ask before sending
                # more than a message's worth of bytes.
                if (drop or row.size > WHOLE_LIMIT) and self.copier.holds(node, row):
                    continue
                self.budget.take(row.size)
                applied = self.copier.copy(node, row)
            except NotFound:
                return  # replaced or deleted here meanwhile
            except Corrupted as exc:
                self._error(f"{where} → {node.node_id}: local data is corrupt ({exc})")
                return
            except grpc.RpcError as exc:
                code = exc.code()
                self._error(f"{where} → {node.node_id}: {code.name}: {exc.details()}")
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    dead[node.node_id] = dead.get(node.node_id, 0) + 1
                everywhere = False
                continue
            dead.pop(node.node_id, None)
            if applied:
                with self.lock:
                    self.tally.copied += 1
                    self.tally.bytes_copied += row.size
                    self.totals["copied"] += 1
                    self.totals["bytes_copied"] += row.size
        if drop and everywhere and self.store.forget(row):
            with self.lock:
                self.tally.handed_off += 1
                self.totals["handed_off"] += 1

    # -- bookkeeping -----------------------------------------------------------------------
    def _check(self) -> None:
        if self._stop.is_set():
            raise InterruptedError("the node is stopping")

    def _set(self, state: str, detail: str) -> None:
        with self.lock:
            self.state, self.detail = state, detail

    def _error(self, message: str) -> None:
        with self.lock:
            self.tally.errors += 1
            self.totals["errors"] += 1
            self.tally.last_errors = [*self.tally.last_errors[-(MAX_ERRORS - 1) :], message]
        log.warning("anti-entropy node=%s %s", self.node_id, message)

    def _finish(self, began: float, state: str) -> None:
        with self.lock:
            self.passes += 1
            self.last = self.tally
            self.last_finished = time.time()
            self.last_seconds = time.monotonic() - began
            last = self.last
        if state == "failed":
            detail = f"pass {self.passes} failed: {last.last_errors[-1:] or '?'}"
        elif last.peers_in_sync == last.peers and not last.errors:
            detail = f"in sync with all {last.peers} peers"
        else:
            detail = (
                f"{last.peers_in_sync} of {last.peers} peers in sync, {last.peers_down} down;"
                f" copied {last.copied} of {last.missing} missing"
            )
        self._set(state, detail)
        if last.copied or last.handed_off or last.purged or last.collected or last.errors:
            log.info(
                "anti-entropy pass node=%s peers=%d in_sync=%d down=%d slots=%d missing=%d"
                " copied=%d bytes=%d handed_off=%d purged=%d errors=%d seconds=%.2f",
                self.node_id,
                last.peers,
                last.peers_in_sync,
                last.peers_down,
                last.slots_differing,
                last.missing,
                last.copied,
                last.bytes_copied,
                last.handed_off,
                last.purged,
                last.errors,
                self.last_seconds,
            )

    def job(self) -> apb.Job:
        """This node's anti-entropy as the Admin service's Job."""
        with self.lock:
            tally = self.tally if self.state == "running" else self.last
            job = apb.Job(
                name=JOB_NAME,
                state=self.state,
                detail=self.detail,
                done=tally.copied,
                total=tally.missing,
                unit="copies",
                started=self.pass_started,
                updated=self.last_finished,
                errors=tally.errors,
                last_errors=list(tally.last_errors),
            )
            job.measures.add(unit="bytes", done=tally.bytes_copied)
            job.measures.add(unit="peers in sync", done=tally.peers_in_sync, total=tally.peers)
            job.measures.add(unit="handed off", done=tally.handed_off)
            job.measures.add(unit="collected", done=tally.collected)
        return job

    def gauges(self) -> dict[str, float]:
        """Numbers for the node's /metrics."""
        with self.lock:
            numbers = {
                "passes": self.passes,
                "last_pass_timestamp": self.last_finished,
                "last_pass_seconds": self.last_seconds,
                "missing": self.last.missing - self.last.copied,
                "peers_in_sync": self.last.peers_in_sync,
                "peers": self.last.peers,
                "queue": self._repairs.qsize(),
                "read_repairs": self.read_repairs,
                **self.totals,
                **{f"{what}_collected": n for what, n in self.collector.collected.items()},
            }
        return {f"repair_{name}": value for name, value in numbers.items()}
