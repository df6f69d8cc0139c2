"""Scrub: re-read every stored version, check every block's CRC, replace corrupt copies.

A flipped bit is caught when a client reads the block (the gateway then reads another
replica), but a copy nobody reads stays corrupt, and one disk loss later the object may
be gone. A background thread on every node runs a pass every `interval` seconds (and at
once on `tessera admin scrub`): it reads every version held here through the same path
as a GET, paced by a byte budget. A version that fails its check is fetched whole from
another replica (whose node verifies its own blocks as it sends them), sealed like a
write of the same version, and put in place of the corrupt copy. A version no replica
can serve intact is counted and left as it is: an operator must look. A pass ends by
sweeping temporary and data files that no index row names and nothing touched for
SWEEP_IDLE seconds (left by a crash, or by a failed write whose clean-up failed).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import grpc

from coordinator.namespaces import is_fragments
from proto import admin_pb2 as apb
from proto import storage_pb2 as pb
from storage_node.diskstore import Corrupted, DiskStore, NotFound
from storage_node.index import Row
from storage_node.mover import PAGE, STOP_WAIT, placed_as
from storage_node.replicator import Budget, Replicator

log = logging.getLogger(__name__)

JOB_NAME = "scrub"
# A full pass this often (seconds); tests shorten it. 0: only when asked.
DEFAULT_INTERVAL = float(os.environ.get("TESSERA_SCRUB_INTERVAL") or 24 * 3600.0)
DEFAULT_RATE = 32 << 20  # bytes per second read by a pass
READ_CHUNK = 1 << 20
FETCH_TIMEOUT = 60.0
MAX_ERRORS = 5
# Files no row names are removed once untouched this long: a write in progress keeps
# touching its file, and one renamed into place is named by its row moments later.
SWEEP_IDLE = 3600.0


@dataclass
class ScrubTally:
    versions_total: int = 0
    bytes_total: int = 0
    versions: int = 0
    bytes: int = 0
    corrupt: int = 0
    repaired: int = 0
    swept: int = 0  # orphan files removed
    errors: int = 0
    last_errors: list[str] = field(default_factory=list)


class Scrubber:
    """The scrub thread of one node."""

    def __init__(
        self,
        store: DiskStore,
        replicator: Replicator,
        interval: float = DEFAULT_INTERVAL,
        rate: float = DEFAULT_RATE,
    ) -> None:
        self.store = store
        self.replicator = replicator
        self.interval = interval
        self.budget = Budget(0, rate)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scrub", daemon=True)
        self.lock = threading.Lock()
        self.running = False
        self.tally = ScrubTally()
        self.started = 0.0
        self.finished = 0.0
        self.passes = 0
        self.corrupt_total = 0  # over finished passes
        self.repaired_total = 0
        self.swept_total = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=STOP_WAIT)

    def request(self) -> bool:
        """Start a pass now; False when one is running already."""
        with self.lock:
            if self.running:
                return False
        self._wake.set()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = self.interval if self.interval > 0 else None
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.scrub()
            except Exception as exc:
                log.warning("scrub pass failed: %s: %s", type(exc).__name__, exc)
                self._error(f"{type(exc).__name__}: {exc}")
                with self.lock:
                    self.running = False

    def scrub(self) -> ScrubTally:
        """One pass over every version this node holds."""
        _, versions, size = self.store.index.inventory()
        with self.lock:
            self.running = True
            self.started = time.time()
            self.tally = ScrubTally(versions_total=versions, bytes_total=size)
        index = self.store.index
        for namespace in index.every_namespace():
            for row in index.every_version(namespace, full=False, page=PAGE):
                if self._stop.is_set():
                    break
                self._check(namespace, row)
        swept = 0 if self._stop.is_set() else self.store.sweep(SWEEP_IDLE)
        with self.lock:
            self.tally.swept = swept
            self.swept_total += swept
            self.running = False
            self.finished = time.time()
            self.passes += 1
            tally = self.tally
            self.corrupt_total += tally.corrupt
            self.repaired_total += tally.repaired
        if tally.corrupt or tally.errors or tally.swept:
            log.warning(
                "scrub pass node=%s versions=%d bytes=%d corrupt=%d repaired=%d"
                " orphan_files_removed=%d errors=%d",
                self.replicator.node_id,
                tally.versions,
                tally.bytes,
                tally.corrupt,
                tally.repaired,
                tally.swept,
                tally.errors,
            )
        return tally

    def _check(self, namespace: str, row: Row) -> None:
        if not row.deleted:
            self.budget.take(row.size)
            try:
                _, chunks = self.store.read(row.bucket, row.key, row.version_id, 0, 0, READ_CHUNK)
                for _ in chunks:
                    pass
            except NotFound:
                pass  # replaced or deleted while the pass ran
            except Corrupted as exc:
                log.error("scrub found corrupt data node=%s %s", self.replicator.node_id, exc)
                with self.lock:
                    self.tally.corrupt += 1
                self._repair(namespace, row)
        with self.lock:
            self.tally.versions += 1
            self.tally.bytes += row.size

    def _repair(self, namespace: str, row: Row) -> None:
        """Fetch the version whole from another replica and put it in place of ours. A
        fragment of an erasure-coded object has no replica: it is dropped, and the
        gateways' fragment keeper codes it again from the others."""
        if is_fragments(namespace):
            if self.store.forget(row):
                log.warning("scrub dropped a corrupt fragment %s/%s", namespace, row.key)
            return
        where = placed_as(namespace, row.key, self.replicator.upload_key)
        owners = self.replicator.owners(self.replicator.nodes(), *where) if where else []
        me = self.replicator.node_id
        peers = [n for n in owners if n.node_id != me] or [
            n for n in self.replicator.nodes() if n.node_id != me and n.state != "removed"
        ]
        name = f"{row.bucket}/{row.key}@{row.version_id}"
        for peer in peers:
            request = pb.GetRequest(bucket=row.bucket, key=row.key, version_id=row.version_id)
            pending = None
            try:
                stream = self.replicator.copier.stub(peer).GetObject(
                    request, timeout=FETCH_TIMEOUT + row.size / (4 << 20)
                )
                info = next(stream).info
                pending = self.store.begin_write(
                    row.bucket, row.key, row.version_id, info.timestamp, info.versioned
                )
                for chunk in stream:
                    pending.write(chunk.data)
                fresh = pending.seal(info.size, info.meta, info.timestamp)
                pending = None
            except (grpc.RpcError, StopIteration, ValueError) as exc:
                if pending is not None:
                    pending.abort()
                code = exc.code().name if isinstance(exc, grpc.RpcError) else type(exc).__name__
                log.warning("scrub: %s from %s failed: %s", name, peer.node_id, code)
                continue
            if self.store.replace(row, fresh):
                with self.lock:
                    self.tally.repaired += 1
                log.info("scrub repaired %s from %s", name, peer.node_id)
            return
        self._error(f"{name}: corrupt here and no replica could send it intact")

    def _error(self, message: str) -> None:
        with self.lock:
            self.tally.errors += 1
            self.tally.last_errors = [*self.tally.last_errors[-(MAX_ERRORS - 1) :], message]
        log.warning("scrub node=%s %s", self.replicator.node_id, message)

    def gauges(self) -> dict[str, float]:
        """Numbers for the node's /metrics."""
        with self.lock:
            return {
                "scrub_passes": self.passes,
                "scrub_last_pass_timestamp": self.finished,
                "scrub_corrupt": self.corrupt_total + (self.tally.corrupt if self.running else 0),
                "scrub_repaired": self.repaired_total
                + (self.tally.repaired if self.running else 0),
                "scrub_orphans_removed": self.swept_total,
            }

    def job(self) -> apb.Job:
        """This node's scrub as the Admin service's Job."""
        with self.lock:
            tally = self.tally
            if self.running:
                state, detail = "running", "reading every stored block"
            elif self.passes:
                state = "done" if not tally.errors else "failed"
                detail = (
                    f"last pass: {tally.corrupt} corrupt, {tally.repaired} repaired,"
                    f" {tally.swept} orphan files removed"
                )
            else:
                state, detail = "idle", "no pass yet"
            job = apb.Job(
                name=JOB_NAME,
                state=state,
                detail=detail,
                done=tally.versions,
                total=tally.versions_total,
                unit="versions",
                started=self.started,
                updated=self.finished,
                errors=tally.errors,
                last_errors=list(tally.last_errors),
            )
            job.measures.add(unit="bytes", done=tally.bytes, total=tally.bytes_total)
            job.measures.add(unit="corrupt", done=tally.corrupt)
            job.measures.add(unit="repaired", done=tally.repaired)
            job.measures.add(unit="orphan files removed", done=tally.swept)
        return job
