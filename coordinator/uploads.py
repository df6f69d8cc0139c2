"""Multipart uploads table: /tessera/uploads/<bucket>/<upload id>, each under
its own lease so an abandoned upload expires by itself.

State machine: open → completing → (deleted). Abort deletes only an open
upload; Complete moves open → completing with a compare-and-swap and records
the final version it will write, so a concurrent Abort and Complete (or two
Completes) from different gateways end with exactly one outcome, and a
retried Complete re-does the same idempotent work.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import decode, encode


@dataclass
class Upload:
    """One upload record and the etcd revision it was read at."""

    record: dict[str, Any]
    mod_revision: int

    @property
    def state(self) -> str:
        return self.record["state"]


# Seconds a completed upload is remembered for a retried CompleteMultipartUpload.
COMPLETED_KEEP = 3600


def new_upload_id() -> str:
    return uuid.uuid4().hex


def create(client: etcd3.Etcd3Client, record: dict[str, Any], ttl: int) -> dict[str, Any]:
    """Store a new open upload under a fresh lease of ttl seconds."""
    lease = client.lease(ttl)
    record = {**record, "state": "open", "lease": lease.id, "initiated": time.time()}
    client.put(keys.upload(record["bucket"], record["upload_id"]), encode(record), lease=lease)
    return record


def get(client: etcd3.Etcd3Client, bucket: str, upload_id: str) -> Upload | None:
    value, meta = client.get(keys.upload(bucket, upload_id))
    if value is None:
        return None
    return Upload(decode(value), meta.mod_revision)


def list_bucket(client: etcd3.Etcd3Client, bucket: str) -> list[dict[str, Any]]:
    """Every upload of a bucket, sorted by (key, upload id)."""
    records = [decode(v) for v, _ in client.get_prefix(keys.uploads_of(bucket))]
    return sorted(records, key=lambda r: (r["key"].encode(), r["upload_id"]))


def list_all(client: etcd3.Etcd3Client) -> list[dict[str, Any]]:
    return [decode(v) for v, _ in client.get_prefix(keys.UPLOADS)]


def renew(client: etcd3.Etcd3Client, lease_id: int) -> None:
    """Restart the upload's TTL: parts are still arriving."""
    list(client.refresh_lease(lease_id))


def begin_complete(client: etcd3.Etcd3Client, upload: Upload, completion: dict[str, Any]) -> bool:
    """open → completing, only if nobody changed the upload since it was read."""
    record = upload.record
    key = keys.upload(record["bucket"], record["upload_id"])
    updated = {**record, "state": "completing", "completion": completion}
    ok, _ = client.transaction(
        compare=[client.transactions.mod(key) == upload.mod_revision],
        success=[client.transactions.put(key, encode(updated), lease=record["lease"])],
        failure=[],
    )
    return bool(ok)


def finish(
    client: etcd3.Etcd3Client,
    upload: Upload,
    completion: dict[str, Any],
    keep_for: int = COMPLETED_KEEP,
) -> None:
    """completing → completed: the record and its completion stay keep_for seconds
    (under a lease of their own), so a client that lost the answer and retries
    CompleteMultipartUpload gets it again, as from S3; every other call already treats
    the upload as gone."""
    record = upload.record
    lease = client.lease(keep_for)
    done = {**record, "state": "completed", "completion": completion, "lease": lease.id}
    client.put(keys.upload(record["bucket"], record["upload_id"]), encode(done), lease=lease)
    try:
        client.revoke_lease(record["lease"])
    except Exception:  # the lease may have expired already; the record has a new one
        pass


def abort(client: etcd3.Etcd3Client, upload: Upload) -> bool:
    """Delete an open upload, only if nobody changed it since it was read."""
    record = upload.record
    key = keys.upload(record["bucket"], record["upload_id"])
    ok, _ = client.transaction(
        compare=[client.transactions.mod(key) == upload.mod_revision],
        success=[client.transactions.delete(key)],
        failure=[],
    )
    if ok:
        try:
            client.revoke_lease(record["lease"])
        except Exception:
            pass
    return bool(ok)
