"""The mover: a draining node copies everything it holds to the nodes that now own it.

A background thread follows this node's placement state (a watch-fed cache). When an
operator drains the node (`tessera admin node drain`, coordinator/drain.py), placement
stops choosing it for new writes, and the mover:

1. walks every namespace and every version of every key in the local index: objects,
   older versions, tombstones and delete markers, multipart parts;
2. computes each key's replicas from the placement map (the draining node is no longer
   one of them). A part in `.parts/<bucket>` is placed by the object its upload will
   make: the upload record in etcd names that key. A part whose upload record is gone
   belongs to no upload (completed, aborted or expired: the reaper removes it) and is
   skipped;
3. asks each replica whether it holds that exact version (HeadObject by version id) and
   copies it when not: PutObject streamed from the local data, keeping the version id,
   timestamp, versioned flag and meta; DeleteObject for a tombstone or marker. Storing a
   version twice is idempotent, so a pass can be repeated or restarted at will;
4. then repeats, for versions written since just before the drain began, until a pass
   copies nothing: writes that gateways began before they saw the drain still land
   here. It waits for writes that were in flight when the drain began (their temporary
   files) and SETTLE seconds, so gateways have seen the new placement;
5. records the job done for the placement epoch it worked from. If the epoch changed
   meanwhile (another node joined, drained...), keys may have other replicas: it starts
   over. Remove is only allowed while the job is done for the current epoch.

Progress (keys, versions, bytes done and total, copies made, errors) goes to etcd under
/tessera/jobs/drain/<node> at most every PROGRESS_INTERVAL seconds, and to the node's
Admin Progress RPC. A pass with errors (a replica down, a corrupt local block) ends the
job as `failed`; the mover tries again after RETRY_DELAY. The node keeps its data until
it is removed; undrain stops the mover (copies made stay: extra, harmless replicas).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import etcd3
import grpc

from coordinator import drain, keys, placement, uploads
from coordinator.bucket_replicas import BucketReplicas
from coordinator.cache import PrefixCache
from coordinator.channels import StubCache
from coordinator.namespaces import FRAGMENTS_PREFIX, is_fragments, part_of
from coordinator.placement import NodeEntry
from proto import admin_pb2 as apb
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node.diskstore import Corrupted, DiskStore, NotFound
from storage_node.index import Row

log = logging.getLogger(__name__)

JOB_NAME = drain.JOB_NAME
DEFAULT_WORKERS = 4
# Seconds between progress writes to etcd (state changes are written at once).
PROGRESS_INTERVAL = 1.0
# The mover looks at placement at least this often; the watch wakes it sooner.
POLL_INTERVAL = 2.0
# After a pass with errors, the next try.
RETRY_DELAY = 10.0
# The last pass starts at least this long after the drain began: gateways follow the
# placement map by a watch, so a write routed here by a stale map is this old at most
# (their full reload every 30 s is the safety net behind the watch).
SETTLE = 3.0
# Catch-up passes look at versions this much older than the drain's start, so a clock
# a little behind on the gateway that stamped a write cannot hide it.
CLOCK_MARGIN = 60.0
# Index rows read at a time, and versions of one key handed to a worker at a time:
# rows carry small objects' bytes, so these bound the mover's memory.
PAGE = 256
BATCH = 64
COPY_CHUNK = 1 << 20
# Versions up to this size go in one PutObjectWhole message.
WHOLE_LIMIT = 256 * 1024
RPC_TIMEOUT = 30.0
# How long stop() waits for a background thread's work in flight (a peer RPC may take up
# to RPC_TIMEOUT): what it writes is crash-safe, and the process must exit promptly on
# SIGTERM (its supervisor allows 10 s, the gRPC server's grace included).
STOP_WAIT = 1.0
# A node that refused this many copies in a row is skipped for the rest of the pass.
DEAD_AFTER = 3
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 << 20),
    ("grpc.max_send_message_length", 16 << 20),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class Cancelled(Exception):
    """The drain was undone, replaced by a new run, or the node left draining."""


# --- pure pieces --------------------------------------------------------------------------


def hlc_of(seconds: float) -> int:
    """The hybrid-logical-clock timestamp of a wall-clock time (coordinator/clock.py)."""
    return int(seconds * 1000) << 16


def by_key(rows: Iterable[Row], limit: int = BATCH) -> Iterator[tuple[list[Row], bool]]:
    """Consecutive rows of one (bucket, key) in batches of at most limit (rows come in
    key order), each with whether it ends its key."""
    group: list[Row] = []
    for row in rows:
        if group and (row.bucket, row.key) != (group[0].bucket, group[0].key):
            yield group, True
            group = []
        elif len(group) == limit:
            yield group, False
            group = []
        group.append(row)
    if group:
        yield group, True


def placed_as(
    namespace: str, key: str, upload_key: Callable[[str, str], str | None]
) -> tuple[str, str] | None:
    """The (bucket, key) placement hashes for a stored key: itself, or for a multipart
    part the object its upload makes (upload_key(bucket, upload_id) → object key, None
    when the upload is gone). None: the key belongs nowhere (an orphan part) or is placed
    by something other than the map (a fragment of an erasure-coded object)."""
    if is_fragments(namespace):
        return None
    part = part_of(namespace, key)
    if part is None:
        return namespace, key
    bucket, upload_id = part
    object_key = upload_key(bucket, upload_id)
    return None if object_key is None else (bucket, object_key)


def targets(
    nodes: list[NodeEntry],
    me: str,
    bucket: str,
    key: str,
    replicas: int = placement.DEFAULT_REPLICAS,
) -> list[NodeEntry]:
    """The nodes that must hold (bucket, key) once this node is gone (R: replicas)."""
    return [n for n in placement.replicas_for(nodes, bucket, key, replicas) if n.node_id != me]


@dataclass
class Tally:
    """What one pass did, in the job record's terms."""

    keys_total: int = 0
    versions_total: int = 0
    bytes_total: int = 0
    keys_done: int = 0
    versions_done: int = 0
    bytes_done: int = 0
    copied: int = 0  # version copies made (one per node that lacked it)
    bytes_copied: int = 0
    present: int = 0  # version copies a node already held (or had superseded)
    skipped: int = 0  # versions that belong nowhere (orphan parts) or went away
    errors: int = 0
    last_errors: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return {
            "keys_total": self.keys_total,
            "versions_total": self.versions_total,
            "bytes_total": self.bytes_total,
            "keys_done": self.keys_done,
            "versions_done": self.versions_done,
            "bytes_done": self.bytes_done,
            "copied": self.copied,
            "bytes_copied": self.bytes_copied,
            "present": self.present,
            "skipped": self.skipped,
            "errors": self.errors,
            "last_errors": self.last_errors[-drain.MAX_ERRORS :],
        }


def job_message(record: dict[str, Any]) -> apb.Job:
    """A drain record as the Admin service's Job (done/total in versions)."""
    job = apb.Job(
        name=JOB_NAME,
        state=record["state"],
        detail=record.get("detail") or "",
        done=record.get("versions_done") or 0,
        total=record.get("versions_total") or 0,
        unit="versions",
        started=record.get("started") or record.get("requested") or 0.0,
        updated=record.get("updated") or 0.0,
        errors=record.get("errors") or 0,
        last_errors=list(record.get("last_errors") or []),
    )
    for unit in ("keys", "bytes"):
        job.measures.add(
            unit=unit,
            done=record.get(f"{unit}_done") or 0,
            total=record.get(f"{unit}_total") or 0,
        )
    return job


# --- copying one version -------------------------------------------------------------------


def put_frame(row: Row) -> tuple[pb.PutHeader, pb.PutCommit]:
    """The header and commit that store row's version elsewhere as it is here: same id,
    timestamp, versioned flag and meta."""
    header = pb.PutHeader(
        bucket=row.bucket,
        key=row.key,
        version_id=row.version_id,
        timestamp=row.ts,
        versioned=row.versioned,
    )
    return header, pb.PutCommit(size=row.size, meta=row.meta, timestamp=row.ts)


class Copier:
    """Stubs for the other nodes, and the copy of one version to one of them."""

    def __init__(self, store: DiskStore) -> None:
        self.store = store
        self._stubs: StubCache[grpc.Channel] = StubCache(CHANNEL_OPTIONS)

    def stub(self, node: NodeEntry) -> pb_grpc.StorageStub:
        return self._stubs.stub(node)

    def close(self) -> None:
        self._stubs.close()

    def holds(self, node: NodeEntry, row: Row) -> bool:
        info = self.stub(node).HeadObject(
            pb.HeadRequest(bucket=row.bucket, key=row.key, version_id=row.version_id),
            timeout=RPC_TIMEOUT,
        )
        return info.found and info.version_id == row.version_id

    def copy_small(self, node: NodeEntry, rows: list[Row]) -> list[bool]:
        """Store several small versions (each at most WHOLE_LIMIT, none deleted) on node
        in one PutObjectsWhole: one index commit there for all. Per row, whether it was
        applied; a row that left this node or is corrupt here is skipped (False)."""
        puts: list[pb.PutWhole] = []
        sent: list[int] = []
        for i, row in enumerate(rows):
            try:
                data = self.store.whole(row)
            except (NotFound, Corrupted):
                continue
            header, commit = put_frame(row)
            puts.append(pb.PutWhole(header=header, data=data, commit=commit))
            sent.append(i)
        applied = [False] * len(rows)
        if puts:
            reply = self.stub(node).PutObjectsWhole(
                pb.PutWholeBatch(puts=puts), timeout=RPC_TIMEOUT
            )
            for i, answer in zip(sent, reply.replies, strict=True):
                applied[i] = answer.applied and not answer.error
        return applied

    def copy(self, node: NodeEntry, row: Row) -> bool:
        """Store row's version on node. False when node had something newer that made
        it moot (superseded, or deleted by id). Raises NotFound when the version left
        this node meanwhile, Corrupted for a bad local block, grpc.RpcError."""
        stub = self.stub(node)
        if row.deleted:
            request = pb.DeleteRequest(
                bucket=row.bucket,
                key=row.key,
                version_id=row.version_id,
                timestamp=row.ts,
                versioned=row.versioned,
            )
            return stub.DeleteObject(request, timeout=RPC_TIMEOUT).applied
        header, commit = put_frame(row)
        current, chunks = self.store.read(row.bucket, row.key, row.version_id, 0, 0, COPY_CHUNK)
        if current.size <= WHOLE_LIMIT:
            data = b"".join(chunks)
            request = pb.PutWhole(header=header, data=data, commit=commit)
            return stub.PutObjectWhole(request, timeout=RPC_TIMEOUT).applied

        failure: list[BaseException] = []

        def messages() -> Iterator[pb.PutMessage]:
            yield pb.PutMessage(header=header)
            try:
                for chunk in chunks:
                    yield pb.PutMessage(data=chunk)
            except (Corrupted, NotFound) as exc:
                failure.append(exc)
                return  # ending without a commit makes the node discard the write
            yield pb.PutMessage(commit=commit)

        # Generous: a big version at a slow but steady pace still makes it.
        timeout = RPC_TIMEOUT + current.size / (4 << 20)
        try:
            return stub.PutObject(messages(), timeout=timeout).applied
        except grpc.RpcError:
            if failure:
                raise failure[0] from None
            raise


# --- the background job ------------------------------------------------------------------------


class Mover:
    """Follows this node's placement state and drains it when told to."""

    def __init__(
        self,
        store: DiskStore,
        node_id: str,
        connect: Callable[[], etcd3.Etcd3Client],
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self._connect = connect
        self.workers = max(1, workers)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.placement: PrefixCache[NodeEntry] = PrefixCache(
            connect, keys.PLACEMENT_NODES, NodeEntry.from_record, on_change=self._wake.set
        )
        self.bucket_replicas = BucketReplicas(connect)
        self._client: etcd3.Etcd3Client | None = None
        self._thread = threading.Thread(target=self._run, name="mover", daemon=True)
        self.copier = Copier(store)
        # The job as last read or written, for the Admin Progress RPC.
        self.record: dict[str, Any] | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        for cache in (self.placement, self.bucket_replicas.cache):
            try:
                cache.start()
            except TimeoutError as exc:  # the cache keeps trying; the loop waits for it
                log.warning("mover: %s; will keep trying", exc)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.placement.stop()
        self.bucket_replicas.stop()
        self._thread.join(timeout=STOP_WAIT)
        self.copier.close()

    def jobs(self) -> list[apb.Job]:
        """This node's drain job as the Admin service reports it ([] when none)."""
        record = self.record
        return [job_message(record)] if record is not None else []

    # -- operations (the Admin service's Drain, Undrain, Remove) ------------------------------
    def request(self, action: str, force: bool = False) -> tuple[bool, drain.Job | None, str]:
        """drain, undrain or remove this node (the Admin service's calls, each on its
        own etcd client). Returns (changed, job, placement state afterwards); raises
        DrainError when the action does not apply."""
        client = self._connect()
        try:
            changed = True
            if action == "drain":
                changed, _ = drain.drain(client, self.node_id)
            elif action == "undrain":
                drain.undrain(client, self.node_id)
            elif action == "remove":
                drain.remove(client, self.node_id, force)
            else:
                raise ValueError(f"unknown action {action!r}")
            job = drain.get(client, self.node_id)
            found = placement.read_entry(client, self.node_id)
        finally:
            client.close()
        if job is not None:
            self.record = job.record
        self._wake.set()
        return changed, job, found[0].state if found else "unplaced"

    def etcd(self) -> etcd3.Etcd3Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_INTERVAL)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._step()
            except Cancelled as exc:
                log.info("drain stopped node=%s: %s", self.node_id, exc)
            except Exception as exc:
                log.warning("mover: %s: %s", type(exc).__name__, exc)
                self._client = None  # a fresh etcd client next time
                self._stop.wait(RETRY_DELAY / 2)

    def _draining(self) -> bool:
        entry = self.placement.get(self.node_id)
        return entry is not None and entry.state == "draining"

    def _step(self) -> None:
        if not self.bucket_replicas.cache.loaded.is_set():
            return  # where keys go depends on their bucket's R: wait to know it
        if not self._draining():
            record = self.record
            if record is not None and record["state"] in drain.ACTIVE_STATES:
                job = drain.get(self.etcd(), self.node_id)  # what undrain made of it
                self.record = job.record if job is not None else None
            return
        client = self.etcd()
        job = drain.get(client, self.node_id)
        if job is None or job.state == drain.CANCELLED:
            # Draining without a live job (placement edited by hand): make one.
            _, job = drain.drain(client, self.node_id)
        self.record = job.record
        if job.state == drain.DONE:
            epoch, _ = placement.load(client)
            if job.record.get("epoch") == epoch:
                return
            log.info(
                "placement epoch %s after drain done at %s: moving again",
                epoch,
                job.record.get("epoch"),
            )
        elif job.state == drain.FAILED and time.time() < job.record.get("retry_at", 0):
            return
        Run(self, client, job).run()

    def check(self) -> None:
        """Raise Cancelled when the node stopped draining or the mover is stopping."""
        if self._stop.is_set():
            raise Cancelled("the node is stopping")
        if not self._draining():
            raise Cancelled("the node is no longer draining")


class Run:
    """One drain run: passes until every version is where it belongs, or a failure."""

    def __init__(self, mover: Mover, client: etcd3.Etcd3Client, job: drain.Job) -> None:
        self.mover = mover
        self.client = client
        self.job = job
        self.tally = Tally()
        self.lock = threading.Lock()
        self.last_write = 0.0
        self.uploads: dict[tuple[str, str], str | None] = {}
        self.dead: dict[str, int] = {}  # node id → copies refused in a row

    # -- the job record -----------------------------------------------------------------
    def write(self, changes: dict[str, Any], force: bool = True) -> None:
        """Write the tally and changes into the job (CAS); at most every PROGRESS_INTERVAL
        unless force. Raises Cancelled when the job is no longer this run's."""
        now = time.monotonic()
        if not force and now - self.last_write < PROGRESS_INTERVAL:
            return
        self.last_write = now
        with self.lock:
            fields = {**self.tally.fields(), **changes}
        written = drain.update(self.client, self.job, fields)
        if written is None:
            fresh = drain.get(self.client, self.mover.node_id)
            if fresh is None or fresh.run != self.job.run or fresh.state == drain.CANCELLED:
                self.mover.record = fresh.record if fresh else None
                raise Cancelled("the drain job was cancelled or replaced")
            self.job = fresh  # someone touched it (e.g. drain again): keep going
            written = drain.update(self.client, self.job, fields)
            if written is None:
                raise Cancelled("the drain job keeps changing under the mover")
        self.job = written
        self.mover.record = written.record

    def finish(self, changes: dict[str, Any], epoch: int | None = None) -> bool:
        """The final write of a run (done or failed). Given an epoch, only while the
        placement epoch is still that one: False when it moved on (pass again)."""
        with self.lock:
            fields = {**self.tally.fields(), **changes}
        written = drain.update(self.client, self.job, fields, epoch)
        if written is None:
            fresh = drain.get(self.client, self.mover.node_id)
            if fresh is None or fresh.run != self.job.run or fresh.state == drain.CANCELLED:
                self.mover.record = fresh.record if fresh else None
                raise Cancelled("the drain job was cancelled or replaced")
            self.job = fresh
            return False
        self.job = written
        self.mover.record = written.record
        return True

    # -- the passes -----------------------------------------------------------------------
    def run(self) -> None:
        node = self.mover.node_id
        began = time.time()
        inflight = set(os.listdir(self.mover.store.tmp_dir))
        since = hlc_of(began - CLOCK_MARGIN)
        passes = self.job.record.get("passes") or 0
        self.write(
            {
                "state": drain.RUNNING,
                "started": self.job.record.get("started") or began,
                "finished": None,
                "detail": "starting",
            }
        )
        log.info("drain started node=%s run=%s", node, self.job.run)
        while True:
            epoch, nodes = placement.load(self.client)
            passes += 1
            self.tally = Tally()
            keys_total, versions_total, bytes_total = self.mover.store.index.inventory()
            self.tally.keys_total, self.tally.versions_total = keys_total, versions_total
            self.tally.bytes_total = bytes_total
            self.write(
                {
                    "state": drain.RUNNING,
                    "passes": passes,
                    "epoch": 0,
                    "detail": f"pass {passes}: copying every version to its replicas "
                    f"(placement epoch {epoch})",
                }
            )
            self.one_pass(nodes, None)
            if self.tally.errors:
                return self.fail(passes)
            # Catch up with writes that gateways began before they saw the drain.
            while True:
                self.settle(began, inflight)
                now_epoch, nodes = placement.load(self.client)
                if now_epoch != epoch:
                    break  # keys may have new replicas: a full pass again
                copied = self.tally.copied
                self.write({"detail": f"pass {passes}: checking writes made since the drain began"})
                self.one_pass(nodes, since)
                if self.tally.errors:
                    return self.fail(passes)
                if self.tally.copied == copied:
                    self.wait_for_fragments()
                    done = {
                        "state": drain.DONE,
                        "epoch": epoch,
                        "finished": time.time(),
                        "detail": f"every version is on its replicas (placement epoch {epoch})",
                    }
                    if self.finish(done, epoch):
                        log.info(
                            "drain done node=%s versions=%d copied=%d bytes=%d",
                            node,
                            self.tally.versions_done,
                            self.tally.copied,
                            self.tally.bytes_copied,
                        )
                        return None
                    break

    def fail(self, passes: int) -> None:
        retry_at = time.time() + RETRY_DELAY
        self.finish(
            {
                "state": drain.FAILED,
                "retry_at": retry_at,
                "detail": f"pass {passes}: {self.tally.errors} copies failed; "
                f"retrying in {RETRY_DELAY:g}s",
            }
        )
        log.warning(
            "drain pass failed node=%s errors=%d last=%s",
            self.mover.node_id,
            self.tally.errors,
            self.tally.last_errors[-1:] or "",
        )

    def wait_for_fragments(self) -> None:
        """Wait until this node holds no erasure-code fragment: the gateways' fragment
        keeper moves them (the object's layout names their nodes, which nodes do not
        read). Until then the node is not drained: removing it would cost redundancy."""
        index = self.mover.store.index
        told = ""
        while held := index.namespaces(FRAGMENTS_PREFIX):
            self.mover.check()
            detail = (
                f"every version moved; waiting for the fragment keeper to move the "
                f"erasure-code fragments of {len(held)} bucket(s)"
            )
            if detail != told:
                self.write({"detail": detail})
                told = detail
            time.sleep(1.0)

    def settle(self, began: float, inflight: set[str]) -> None:
        """Wait for writes in flight when the drain began, and SETTLE seconds."""
        tmp = self.mover.store.tmp_dir
        told = ""
        while True:
            self.mover.check()
            waiting = inflight & set(os.listdir(tmp))
            if not waiting and time.time() - began >= SETTLE:
                return
            detail = (
                f"waiting for {len(waiting)} write(s) that began before the drain"
                if waiting
                else "every version checked; waiting for writes routed before the drain"
            )
            if detail != told:
                self.write({"detail": detail})
                told = detail
            time.sleep(0.2)

    def one_pass(self, nodes: list[NodeEntry], since: int | None) -> None:
        """Every version (or those stamped at or after `since`) to its replicas."""
        index = self.mover.store.index
        outstanding = threading.Semaphore(self.mover.workers * 2)
        with ThreadPoolExecutor(self.mover.workers, thread_name_prefix="mover") as pool:
            for namespace in index.every_namespace():
                for group, ends_key in by_key(index.every_version(namespace, page=PAGE)):
                    self.mover.check()
                    if since is not None:
                        group = [r for r in group if r.ts >= since]
                        if not group:
                            continue
                    where = placed_as(namespace, group[0].key, self.upload_key)
                    if where is None:
                        if since is None:
                            self.count_skipped(group, ends_key)
                        continue
                    replicas = self.mover.bucket_replicas.of(where[0])
                    nodes_for = targets(nodes, self.mover.node_id, *where, replicas)
                    outstanding.acquire()
                    counted = since is None
                    future = pool.submit(self.move_key, group, nodes_for, counted, ends_key)
                    future.add_done_callback(lambda _: outstanding.release())
                    self.write({}, force=False)
        self.write({}, force=True)

    def upload_key(self, bucket: str, upload_id: str) -> str | None:
        if (bucket, upload_id) not in self.uploads:
            found = uploads.get(self.client, bucket, upload_id)
            self.uploads[(bucket, upload_id)] = found.record["key"] if found else None
        return self.uploads[(bucket, upload_id)]

    def count_skipped(self, group: list[Row], ends_key: bool) -> None:
        with self.lock:
            self.tally.skipped += len(group)
            self.tally.keys_done += ends_key
            self.tally.versions_done += len(group)
            self.tally.bytes_done += sum(r.size for r in group)

    def move_key(
        self, group: list[Row], nodes: list[NodeEntry], counted: bool, ends_key: bool
    ) -> None:
        """Versions of one key to every node that must hold it (a worker thread)."""
        for row in group:
            for node in nodes:
                try:
                    self.move_version(row, node, counted)
                except Exception as exc:  # a bug must fail the pass, not vanish
                    self.error(f"{row.bucket}/{row.key}@{row.version_id}: {exc!r}")
            if counted:
                with self.lock:
                    self.tally.versions_done += 1
                    self.tally.bytes_done += row.size
        if counted and ends_key:
            with self.lock:
                self.tally.keys_done += 1

    def move_version(self, row: Row, node: NodeEntry, counted: bool = True) -> None:
        """Copy one version to node unless it holds it. Counts what it found (a catch-up
        pass, not counted, adds only the copies it made)."""
        where = f"{row.bucket}/{row.key}@{row.version_id} → {node.node_id}"
        if self.dead.get(node.node_id, 0) >= DEAD_AFTER:
            self.error(None)  # counted; the reason was logged once
            return
        try:
            if self.mover.copier.holds(node, row):
                with self.lock:
                    self.tally.present += counted
                return
            applied = self.mover.copier.copy(node, row)
        except NotFound:
            with self.lock:
                self.tally.skipped += counted  # replaced or deleted here meanwhile
            return
        except Corrupted as exc:
            self.error(f"{where}: local data is corrupt ({exc})")
            return
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
            self.error(f"{where}: {getattr(code, 'name', code)}: {details}")
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                with self.lock:
                    self.dead[node.node_id] = self.dead.get(node.node_id, 0) + 1
                    dead = self.dead[node.node_id] == DEAD_AFTER
                if dead:
                    self.error(
                        f"{node.node_id} refused {DEAD_AFTER} copies in a row: "
                        "no more tries on it in this pass",
                        count=False,
                    )
            return
        with self.lock:
            self.dead.pop(node.node_id, None)
            if applied:
                self.tally.copied += 1
                self.tally.bytes_copied += row.size
            else:
                self.tally.present += counted

    def error(self, message: str | None, count: bool = True) -> None:
        """Count a failed copy and keep its message (None: counted only)."""
        with self.lock:
            self.tally.errors += count
            if message is None:
                return
            self.tally.last_errors = [*self.tally.last_errors[-(drain.MAX_ERRORS - 1) :], message]
        log.warning("drain copy failed node=%s %s", self.mover.node_id, message)
