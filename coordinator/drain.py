"""Drain jobs: /tessera/jobs/drain/<node id>, one record per storage node, and the
placement changes that go with them (drain, undrain, remove).

    drain     active → draining, with a new job record (state pending, a fresh `run`
              id), in one transaction that also bumps the placement epoch. Draining a
              node that already drains changes nothing: the running job continues.
    the node  notices it drains (storage_node/mover.py), copies every version it
              holds to the key's new replicas, and writes its progress here: pending →
              running → done (or failed, then retries) with the epoch it worked for.
    undrain   draining → active; the job becomes cancelled. The mover sees the job's
              run end and stops.
    remove    draining → removed, only when the job is done for the current epoch
              (a later placement change may give keys new replicas), unless forced.

Every write is a compare-and-swap, so the operator's commands and the node's progress
never overwrite each other: a node whose write fails reads the record again and stops
when its run was cancelled or replaced.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import etcd3

from coordinator import keys, placement
from coordinator.codec import CodecError, decode, encode
from coordinator.placement import NodeEntry

# The job's name where processes report their background work (Admin Progress).
JOB_NAME = "drain"
PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
JOB_STATES = (PENDING, RUNNING, DONE, FAILED, CANCELLED)
# States in which the node works (or will) on the job.
ACTIVE_STATES = (PENDING, RUNNING, FAILED)
# How many error messages a record keeps (the count keeps growing).
MAX_ERRORS = 5
COUNTERS = ("keys", "versions", "bytes")


class DrainError(Exception):
    """The operation does not apply to the node in its current state."""


@dataclass(frozen=True)
class Job:
    """A drain record and the etcd revision it was read (or written) at."""

    record: dict[str, Any]
    mod_revision: int

    @property
    def state(self) -> str:
        return self.record["state"]

    @property
    def run(self) -> str:
        return self.record["run"]


def new_record(node_id: str, now: float | None = None) -> dict[str, Any]:
    """A pending job for a drain requested now."""
    now = time.time() if now is None else now
    record: dict[str, Any] = {
        "node_id": node_id,
        "run": uuid.uuid4().hex,
        "state": PENDING,
        "requested": now,
        "started": None,
        "updated": now,
        "finished": None,
        # The epoch the last finished pass covered (done is only valid for it).
        "epoch": 0,
        "passes": 0,
        "detail": "waiting for the node to start moving data",
        "copied": 0,
        "present": 0,
        "skipped": 0,
        "errors": 0,
        "last_errors": [],
    }
    for name in COUNTERS:
        record[f"{name}_done"] = 0
        record[f"{name}_total"] = 0
    return record


def get(client: etcd3.Etcd3Client, node_id: str) -> Job | None:
    value, meta = client.get(keys.drain_job(node_id))
    if value is None:
        return None
    try:
        return Job(decode(value), meta.mod_revision)
    except CodecError:
        return None


def list_all(client: etcd3.Etcd3Client) -> dict[str, dict[str, Any]]:
    """node id → drain record, for every node that was ever drained."""
    found = {}
    for value, meta in client.get_prefix(keys.DRAIN_JOBS):
        try:
            found[keys.name_of(meta.key, keys.DRAIN_JOBS)] = decode(value)
        except CodecError:
            continue
    return found


def _entry(client: etcd3.Etcd3Client, node_id: str) -> tuple[NodeEntry, int]:
    found = placement.read_entry(client, node_id)
    if found is None:
        raise DrainError(f"no storage node {node_id!r} in the placement map")
    return found


def _job_unchanged(client: etcd3.Etcd3Client, node_id: str, job: Job | None) -> Any:
    key = keys.drain_job(node_id)
    if job is None:
        return client.transactions.version(key) == 0
    return client.transactions.mod(key) == job.mod_revision


def _put_job(client: etcd3.Etcd3Client, node_id: str, record: dict[str, Any]) -> Any:
    return client.transactions.put(keys.drain_job(node_id), encode(record))


def _epoch(client: etcd3.Etcd3Client) -> int:
    value, _ = client.get(keys.PLACEMENT_EPOCH)
    return int(value or b"0")


def drain(client: etcd3.Etcd3Client, node_id: str) -> tuple[bool, Job]:
    """Start draining node_id. Returns (started, job): started is False when it was
    already draining with a live job, which then simply continues."""
    for _ in range(20):
        entry, revision = _entry(client, node_id)
        job = get(client, node_id)
        if entry.state == "removed":
            raise DrainError(f"{node_id} was removed from placement; it holds nothing to move")
        if entry.state == "draining" and job is not None and job.state != CANCELLED:
            return False, job
        record = new_record(node_id)
        key = keys.drain_job(node_id)
        if entry.state == "draining":
            # Draining already (set by hand, or a lost job record): only the job is new.
            ok, _ = client.transaction(
                compare=[
                    client.transactions.mod(keys.placement_node(node_id)) == revision,
                    _job_unchanged(client, node_id, job),
                ],
                success=[_put_job(client, node_id, record)],
                failure=[],
            )
        else:
            ok = (
                placement.set_state(
                    client,
                    entry,
                    revision,
                    "draining",
                    compare=[_job_unchanged(client, node_id, job)],
                    success=[_put_job(client, node_id, record)],
                )
                is not None
            )
        if ok:
            value, meta = client.get(key)
            return True, Job(decode(value), meta.mod_revision) if value else Job(record, 0)
        time.sleep(0.05)
    raise DrainError(f"could not drain {node_id}: placement changed too often, try again")


def undrain(client: etcd3.Etcd3Client, node_id: str) -> int:
    """Put a draining node back to active and cancel its job. Returns the new epoch.
    Copies already made stay where they are (extra replicas, harmless)."""
    for _ in range(20):
        entry, revision = _entry(client, node_id)
        if entry.state != "draining":
            raise DrainError(f"{node_id} is {entry.state}, not draining")
        job = get(client, node_id)
        success = []
        if job is not None and job.state != CANCELLED:
            cancelled = {
                **job.record,
                "state": CANCELLED,
                "updated": time.time(),
                "finished": time.time(),
                "detail": "undrained by an operator",
            }
            success.append(_put_job(client, node_id, cancelled))
        epoch = placement.set_state(
            client,
            entry,
            revision,
            "active",
            compare=[_job_unchanged(client, node_id, job)],
            success=success,
        )
        if epoch is not None:
            return epoch
        time.sleep(0.05)
    raise DrainError(f"could not undrain {node_id}: placement changed too often, try again")


def why_not_removable(entry: NodeEntry, job: dict[str, Any] | None, epoch: int) -> str | None:
    """Why the node may not leave placement yet (None: it may). Pure."""
    if entry.state == "removed":
        return f"{entry.node_id} is already removed"
    if entry.state != "draining":
        return f"{entry.node_id} is {entry.state}: drain it first (or --force)"
    if job is None:
        return f"{entry.node_id} drains but has no drain job record (or --force)"
    if job["state"] != DONE:
        return f"the drain of {entry.node_id} is {job['state']}, not done (or --force)"
    if job.get("epoch") != epoch:
        return (
            f"the drain of {entry.node_id} finished for placement epoch {job.get('epoch')}, "
            f"but the epoch is now {epoch}: the node moves data again (or --force)"
        )
    return None


def remove(client: etcd3.Etcd3Client, node_id: str, force: bool = False) -> int:
    """Take node_id out of placement for good. Refused (DrainError) unless its drain
    job is done for the current epoch, or force. Returns the new epoch."""
    for _ in range(20):
        entry, revision = _entry(client, node_id)
        job = get(client, node_id)
        if entry.state == "removed":
            raise DrainError(f"{node_id} is already removed")
        if not force:
            reason = why_not_removable(entry, job.record if job else None, _epoch(client))
            if reason:
                raise DrainError(reason)
        # set_state compares the epoch too: the job stays done for exactly this map.
        epoch = placement.set_state(
            client,
            entry,
            revision,
            "removed",
            compare=[] if force else [_job_unchanged(client, node_id, job)],
        )
        if epoch is not None:
            return epoch
        time.sleep(0.05)
    raise DrainError(f"could not remove {node_id}: placement changed too often, try again")


def update(
    client: etcd3.Etcd3Client,
    job: Job,
    changes: dict[str, Any],
    epoch: int | None = None,
) -> Job | None:
    """Write changes into the job if nobody else wrote it since it was read (and, given
    an epoch, while the placement epoch is still that one). Returns the job as
    written, or None: the record changed (cancelled, a new run) or the epoch did."""
    node_id = job.record["node_id"]
    record = {**job.record, **changes, "updated": time.time()}
    if len(record.get("last_errors", [])) > MAX_ERRORS:
        record["last_errors"] = record["last_errors"][-MAX_ERRORS:]
    compare = [_job_unchanged(client, node_id, job)]
    if epoch is not None:
        compare.append(client.transactions.value(keys.PLACEMENT_EPOCH) == str(epoch))
    ok, responses = client.transaction(
        compare=compare, success=[_put_job(client, node_id, record)], failure=[]
    )
    if not ok:
        return None
    return Job(record, responses[0].response_put.header.revision)


def fraction(record: dict[str, Any]) -> float:
    """How far the current pass got, 0..1, by versions (1 when done)."""
    if record["state"] == DONE:
        return 1.0
    total = record.get("versions_total") or 0
    return min(1.0, (record.get("versions_done") or 0) / total) if total else 0.0
