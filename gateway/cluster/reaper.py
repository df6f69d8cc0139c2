"""The upload reaper: removes the parts of multipart uploads that no longer
exist in etcd (aborted, expired with their lease, or left by a crash).

Every gateway runs it, but only the holder of the "upload-reaper" election
does the work, so exactly one pass runs at a time; when the holder dies its
election lease expires and another gateway takes over.
"""

from __future__ import annotations

import logging
import time

from coordinator import uploads
from coordinator.clock import to_seconds
from gateway.cluster.elected import ElectedWorker
from gateway.cluster.namespaces import PARTS_PREFIX
from proto import storage_pb2 as pb

log = logging.getLogger(__name__)

JOB = "upload-reaper"
LIST_TIMEOUT = 30.0
# Sorts after every key of an upload: "<upload id>/" + this.
_AFTER_UPLOAD = "/\U0010ffff"


class UploadReaper(ElectedWorker):
    JOB = JOB
    UNIT = "orphan parts removed"  # what `removed` counts, for `tessera admin jobs`
    INTERVAL = "reaper_interval"

    async def pass_once(self) -> int:
        """One pass over every live storage node; returns part keys removed."""
        records = await self.gateway.etcd_call(uploads.list_all)
        known = {(r["bucket"], r["upload_id"]) for r in records}
        grace = float(self.gateway.setting("orphan_part_grace"))
        store = self.gateway.store
        removed = 0
        for node in self.gateway.directory.nodes():
            if not self.gateway.directory.is_live(node.node_id):
                continue
            reply = await store.call(
                node, "ListNamespaces", pb.ListNamespacesRequest(prefix=PARTS_PREFIX), LIST_TIMEOUT
            )
            for namespace in reply.namespaces:
                bucket = namespace[len(PARTS_PREFIX) :]
                for upload_id in await self._orphans(node, namespace, bucket, known, grace):
                    done = await store.call(
                        node,
                        "DeletePrefix",
                        pb.DeletePrefixRequest(bucket=namespace, prefix=f"{upload_id}/"),
                        LIST_TIMEOUT,
                    )
                    log.info(
                        "reaped upload parts node=%s bucket=%s upload_id=%s parts=%d",
                        node.node_id,
                        bucket,
                        upload_id,
                        done.deleted,
                    )
                    removed += done.deleted
        return removed

    async def _orphans(
        self, node, namespace: str, bucket: str, known: set[tuple[str, str]], grace: float
    ) -> list[str]:
        """Upload ids with parts on node but no upload record, older than grace."""
        orphans: list[str] = []
        start_after = ""
        now = time.time()
        while True:
            reply = await self.gateway.store.call(
                node,
                "ListObjects",
                pb.ListRequest(bucket=namespace, start_after=start_after, limit=1000),
                LIST_TIMEOUT,
            )
            if not reply.entries:
                return orphans
            for entry in reply.entries:
                upload_id = entry.key.split("/", 1)[0]
                if (
                    (bucket, upload_id) not in known
                    and now - to_seconds(entry.timestamp) > grace
                    and upload_id not in orphans
                ):
                    orphans.append(upload_id)
            # Skip the rest of the last upload seen: one entry per upload is enough.
            start_after = reply.entries[-1].key.split("/", 1)[0] + _AFTER_UPLOAD
            if reply.complete:
                return orphans
