"""The lifecycle worker: carries out the buckets' lifecycle rules (gateway/s3/lifecycle.py).

Every gateway runs it, but only the holder of the "lifecycle" election works, so one
pass runs at a time in the cluster; when the holder dies its election lease expires and
another gateway takes over. A pass goes through every bucket's Enabled rules:

- Expiration (Days after the object was written, or a Date): the current object is
  deleted as a DELETE would (a delete marker where the bucket keeps versions);
- ExpiredObjectDeleteMarker: a delete marker that is a key's only version goes;
- NoncurrentVersionExpiration: a version that has been noncurrent for NoncurrentDays
  goes, keeping the NewerNoncurrentVersions newest noncurrent ones;
- AbortIncompleteMultipartUpload: an upload open for DaysAfterInitiation is aborted.

A "day" lasts the cluster setting lifecycle_day_seconds (86400; tests shorten it), and
passes come every lifecycle_interval seconds. Deletes go one at a time, so a pass
never takes more of the cluster than one client deleting.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from coordinator import uploads
from coordinator.buckets import Bucket
from coordinator.clock import to_seconds
from gateway.cluster.elected import ElectedWorker
from gateway.cluster.store import ObjectVersion
from gateway.s3 import lifecycle, object_lock
from gateway.s3.objectmeta import ObjectMeta

log = logging.getLogger(__name__)

JOB = "lifecycle"


class LifecycleWorker(ElectedWorker):
    JOB = JOB
    UNIT = "objects, versions and uploads removed"  # for `tessera admin jobs`
    INTERVAL = "lifecycle_interval"

    async def pass_once(self, now: float | None = None) -> int:
        """One pass over every bucket with rules; what it removed."""
        now = time.time() if now is None else now
        day = float(self.gateway.setting("lifecycle_day_seconds"))
        removed = 0
        for record in list(self.gateway.buckets.items().values()):
            for rule in record.lifecycle:
                if rule.get("status") == "Enabled":
                    removed += await self._apply(record, rule, now, day)
        return removed

    async def _apply(self, record: Bucket, rule: dict[str, Any], now: float, day: float) -> int:
        prefix = lifecycle.prefix_of(rule)
        removed = 0
        expiration = rule.get("expiration", {})
        if "days" in expiration or "date" in expiration:
            removed += await self._expire_current(record, rule, prefix, now, day)
        if expiration.get("delete_marker") or "noncurrent" in rule:
            removed += await self._expire_versions(record, rule, prefix, now, day)
        if "abort_days" in rule:
            removed += await self._abort_uploads(record, prefix, now - rule["abort_days"] * day)
        if removed:
            log.info("lifecycle bucket=%s rule=%s removed=%d", record.name, rule.get("id"), removed)
        return removed

    async def _expire_current(
        self, record: Bucket, rule: dict[str, Any], prefix: str, now: float, day: float
    ) -> int:
        expiration = rule["expiration"]
        if "date" in expiration:
            due = dt.datetime.fromisoformat(expiration["date"].replace("Z", "+00:00"))
            if now < due.timestamp():
                return 0
            written_before = now
        else:
            written_before = now - expiration["days"] * day
        store, removed = self.gateway.store, 0
        listing = store.list_objects(record.name, prefix, "")
        versioned = record.versioning == "Enabled"
        while (version := await listing.next()) is not None:
            if to_seconds(version.timestamp) > written_before:
                continue
            if not await self._matches(record, rule, version):
                continue
            await store.delete_object(record.name, version.key, versioned=versioned)
            removed += 1
        return removed

    async def _expire_versions(
        self, record: Bucket, rule: dict[str, Any], prefix: str, now: float, day: float
    ) -> int:
        store, removed = self.gateway.store, 0
        noncurrent = rule.get("noncurrent")
        listing = store.list_versions(record.name, prefix, None)
        key_versions: list[ObjectVersion] = []

        async def finish_key() -> int:
            done = 0
            if not key_versions:
                return 0
            newest = key_versions[0]
            if (
                rule.get("expiration", {}).get("delete_marker")
                and len(key_versions) == 1
                and newest.deleted
            ):
                await store.delete_version(record.name, newest.key, newest.s3_version_id)
                return 1
            if noncurrent is None:
                return 0
            keep = noncurrent.get("newer", 0)
            for successor, version in zip(key_versions, key_versions[1:], strict=False):
                # Noncurrent since its successor was written.
                if keep > 0:
                    keep -= 1
                    continue
                if now - to_seconds(successor.timestamp) < noncurrent["days"] * day:
                    continue
                if record.object_lock is not None and _locked(version, now):
                    continue  # object lock outranks lifecycle
                if version.deleted or await self._matches(record, rule, version):
                    await store.delete_version(record.name, version.key, version.s3_version_id)
                    done += 1
            return done

        while (version := await listing.next()) is not None:
            if key_versions and version.key != key_versions[0].key:
                removed += await finish_key()
                key_versions = []
            key_versions.append(version)
        removed += await finish_key()
        return removed

    async def _matches(self, record: Bucket, rule: dict[str, Any], version: ObjectVersion) -> bool:
        """Whether the rule's filter (prefix, sizes, tags) takes this version."""
        tags: dict[str, str] = {}
        if lifecycle.needs_tags(rule):
            meta = version.meta
            if not meta:  # a listing row may come without metadata
                full = await self.gateway.store.head_version(
                    record.name, version.key, version.s3_version_id
                )
                if full is None:
                    return False
                meta = full.meta
            tags = ObjectMeta.decode(meta).tags
        return lifecycle.applies(rule, version.key, version.size, tags)

    async def _abort_uploads(self, record: Bucket, prefix: str, initiated_before: float) -> int:
        gateway, removed = self.gateway, 0
        for found in await gateway.etcd_call(uploads.list_bucket, record.name):
            if found["state"] != "open" or not found["key"].startswith(prefix):
                continue
            if found["initiated"] > initiated_before:
                continue
            upload = await gateway.etcd_call(uploads.get, record.name, found["upload_id"])
            if upload is None or not await gateway.etcd_call(uploads.abort, upload):
                continue
            await gateway.store.delete_upload_parts(record.name, found["upload_id"])
            removed += 1
        return removed


def _locked(version: ObjectVersion, now: float) -> bool:
    meta = ObjectMeta.decode(version.meta)
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    return object_lock.holds(meta.lock_mode, meta.lock_until, meta.legal_hold, moment)
