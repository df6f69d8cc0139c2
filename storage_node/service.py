"""The Storage gRPC service: the network face of a DiskStore."""

from __future__ import annotations

import logging
import shutil
import time
from typing import TYPE_CHECKING

import grpc

from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node.digest import SLOTS
from storage_node.diskstore import Corrupted, DiskStore, NotFound, SourceMissing
from storage_node.index import Row

if TYPE_CHECKING:
    from storage_node.replicator import Replicator

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
MAX_LIST = 10_000
VERSION = "0.1.0"


def _info(row: Row) -> pb.ObjectInfo:
    return pb.ObjectInfo(
        found=True,
        key=row.key,
        version_id=row.version_id,
        timestamp=row.ts,
        size=row.size,
        deleted=row.deleted,
        meta=row.meta,
        versioned=row.versioned,
    )


class StorageService(pb_grpc.StorageServicer):
    def __init__(self, store: DiskStore, node_id: str, zone: str) -> None:
        self.store = store
        self.node_id = node_id
        self.zone = zone
        self.started = time.time()
        # Anti-entropy's side of SyncDigest, SyncEntries and RepairKey (set by main).
        self.replicator: Replicator | None = None

    def PutObject(self, request_iterator, context):  # noqa: N802 - gRPC naming
        pending = None
        try:
            for message in request_iterator:
                kind = message.WhichOneof("body")
                if kind == "header":
                    h = message.header
                    pending = self.store.begin_write(
                        h.bucket, h.key, h.version_id, h.timestamp, h.versioned
                    )
                elif pending is None:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "header must come first")
                elif kind == "data":
                    pending.write(message.data)
                elif kind == "commit":
                    c = message.commit
                    if h.restampable:
                        row = pending.seal(c.size, c.meta, c.timestamp)
                        applied = self.store.apply_newest(row)
                    else:
                        applied = pending.commit(c.size, c.meta, c.timestamp)
                    done, pending = pending, None
                    newest, superseded = self._standing(done.bucket, done.key, done.version_id)
                    return pb.PutReply(
                        applied=applied,
                        size=done.size,
                        newest_timestamp=newest,
                        superseded=superseded,
                    )
            # The stream ended without a commit: the writer gave up.
            context.abort(grpc.StatusCode.ABORTED, "stream ended before commit")
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        finally:
            if pending is not None:
                pending.abort()

    def PutObjectWhole(self, request, context):  # noqa: N802
        try:
            row = self._seal_whole(request)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        applied = self.store.apply_many([row])[0]
        newest, superseded = self._standing(row.bucket, row.key, row.version_id)
        return pb.PutReply(
            applied=applied, size=row.size, newest_timestamp=newest, superseded=superseded
        )

    def PutObjectsWhole(self, request, context):  # noqa: N802
        # Each write is sealed on its own (a bad one is refused alone); the index rows
        # of all that sealed go in one transaction: one fsync for the batch.
        replies: list[pb.PutReply] = []
        sealed: list[tuple[int, Row]] = []
        for index, put in enumerate(request.puts):
            try:
                row = self._seal_whole(put)
            except ValueError as exc:
                replies.append(pb.PutReply(error=str(exc)))
                continue
            sealed.append((index, row))
            replies.append(pb.PutReply(size=row.size))
        applied = self.store.apply_many([row for _, row in sealed])
        for (index, row), ok in zip(sealed, applied, strict=True):
            reply = replies[index]
            reply.applied = ok
            reply.newest_timestamp, reply.superseded = self._standing(
                row.bucket, row.key, row.version_id
            )
        return pb.PutBatchReply(replies=replies)

    def _seal_whole(self, put: pb.PutWhole) -> Row:
        """A whole write made durable but not yet visible (ValueError if it is refused);
        nothing of it stays behind if sealing fails."""
        h = put.header
        pending = self.store.begin_write(h.bucket, h.key, h.version_id, h.timestamp, h.versioned)
        try:
            pending.write(put.data)
            return pending.seal(put.commit.size, put.commit.meta, put.commit.timestamp)
        except BaseException:
            pending.abort()
            raise

    def HeadObject(self, request, context):  # noqa: N802
        return self._head(request)

    def HeadObjects(self, request, context):  # noqa: N802
        return pb.HeadBatchReply(infos=[self._head(head) for head in request.heads])

    def _head(self, request: pb.HeadRequest) -> pb.ObjectInfo:
        if request.version_id or request.null_version:
            row = self.store.find(
                request.bucket, request.key, request.version_id, request.null_version
            )
        else:
            row = self.store.head(request.bucket, request.key)
        purged = self.store.index.purged(request.bucket, request.key)
        if row is None:
            return pb.ObjectInfo(found=False, key=request.key, purged=purged)
        info = _info(row)
        info.purged.extend(purged)
        if not row.deleted and row.size <= request.inline_limit:
            try:
                info.data = self.store.whole(row)
                info.has_data = True
            except (NotFound, Corrupted) as exc:  # the caller reads it the slow way
                log.warning("inline read failed node=%s %s", self.node_id, exc)
        return info

    def GetObject(self, request, context):  # noqa: N802
        try:
            row, chunks = self.store.read(
                request.bucket,
                request.key,
                request.version_id,
                request.offset,
                request.length,
                READ_CHUNK,
            )
        except NotFound:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such version")
        yield pb.GetChunk(info=_info(row))
        try:
            for data in chunks:
                yield pb.GetChunk(data=data)
        except Corrupted as exc:
            log.error("corrupted data node=%s %s", self.node_id, exc)
            context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
        except NotFound:
            # A later segment of a composed version went away: it was replaced meanwhile.
            context.abort(grpc.StatusCode.NOT_FOUND, "version replaced during read")

    def UpdateMeta(self, request, context):  # noqa: N802
        applied = self.store.index.update_meta(
            request.bucket, request.key, request.version_id, request.meta
        )
        return pb.UpdateMetaReply(applied=applied)

    def _standing(self, bucket: str, key: str, version_id: str) -> tuple[int, bool]:
        """After a write: the key's newest timestamp here, and whether a version other
        than version_id is the newest."""
        row = self.store.head(bucket, key)
        if row is None:
            return 0, False
        return row.ts, row.version_id != version_id

    def DeleteObject(self, request, context):  # noqa: N802
        applied = self.store.tombstone(
            request.bucket, request.key, request.version_id, request.timestamp, request.versioned
        )
        newest, superseded = self._standing(request.bucket, request.key, request.version_id)
        return pb.DeleteReply(applied=applied, newest_timestamp=newest, superseded=superseded)

    def DeleteObjects(self, request, context):  # noqa: N802
        deletes = [
            (d.bucket, d.key, d.version_id, d.timestamp, d.versioned) for d in request.deletes
        ]
        applied = self.store.tombstones(deletes)
        replies = []
        for d, ok in zip(request.deletes, applied, strict=True):
            newest, superseded = self._standing(d.bucket, d.key, d.version_id)
            replies.append(
                pb.DeleteReply(applied=ok, newest_timestamp=newest, superseded=superseded)
            )
        return pb.DeleteBatchReply(replies=replies)

    def ListObjects(self, request, context):  # noqa: N802
        limit = min(request.limit or 1000, MAX_LIST)
        rows, complete = self.store.index.list(
            request.bucket, request.prefix, request.start_after, limit, full=False
        )
        return pb.ListReply(entries=[_info(r) for r in rows], complete=complete)

    def ListVersions(self, request, context):  # noqa: N802
        limit = min(request.limit or 1000, MAX_LIST)
        after = None
        if request.key_marker:
            after = (request.key_marker, request.marker_timestamp, request.marker_version_id)
        rows, complete = self.store.index.list_versions(
            request.bucket, request.prefix, after, limit, full=False
        )
        return pb.ListReply(entries=[_info(r) for r in rows], complete=complete)

    def DeleteVersion(self, request, context):  # noqa: N802
        if not request.bucket or not request.key:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bucket and key are required")
        removed = self.store.remove_version(
            request.bucket, request.key, request.version_id, request.null_version
        )
        if removed is None:
            return pb.DeleteVersionReply(removed=pb.ObjectInfo(found=False, key=request.key))
        return pb.DeleteVersionReply(removed=_info(removed))

    def NodeInfo(self, request, context):  # noqa: N802
        usage = shutil.disk_usage(self.store.root)
        objects, stored = self.store.stats()
        return pb.NodeInfoReply(
            node_id=self.node_id,
            zone=self.zone,
            capacity_bytes=usage.total,
            used_bytes=usage.used,
            objects=objects,
            bytes_stored=stored,
            version=VERSION,
            uptime_seconds=time.time() - self.started,
        )

    def ComposeObject(self, request, context):  # noqa: N802
        h = request.header
        if not h.bucket or not h.key or not request.source_bucket or not request.sources:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "bucket, key, source_bucket and sources are required",
            )
        sources = [(s.key, s.version_id) for s in request.sources]
        try:
            applied, size = self.store.compose(
                h.bucket,
                h.key,
                h.version_id,
                h.timestamp,
                request.source_bucket,
                sources,
                request.meta,
                h.versioned,
            )
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except SourceMissing as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except Corrupted as exc:
            log.error("corrupted compose source node=%s %s", self.node_id, exc)
            context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
        return pb.PutReply(applied=applied, size=size)

    def DeletePrefix(self, request, context):  # noqa: N802
        if not request.bucket:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bucket is required")
        deleted = self.store.delete_prefix(request.bucket, request.prefix)
        return pb.DeletePrefixReply(deleted=deleted)

    def ListNamespaces(self, request, context):  # noqa: N802
        return pb.ListNamespacesReply(namespaces=self.store.namespaces(request.prefix))

    def _replicator(self, context: grpc.ServicerContext) -> Replicator:
        if self.replicator is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "anti-entropy is not running yet")
            raise AssertionError("unreachable: context.abort raises")
        return self.replicator

    def SyncDigest(self, request, context):  # noqa: N802
        replicator = self._replicator(context)
        if request.slots != SLOTS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"slots must be {SLOTS}")
        digests = replicator.digest_for(request.peer, request.placement)
        if digests is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "placement map differs")
        return pb.SyncDigestReply(digests=digests)

    def SyncEntries(self, request, context):  # noqa: N802
        replicator = self._replicator(context)
        if request.slots != SLOTS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"slots must be {SLOTS}")
        try:
            for batch in replicator.entries_for(
                request.peer, request.placement, set(request.wanted)
            ):
                yield pb.SyncEntryBatch(entries=batch)
        except LookupError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    def RepairKey(self, request, context):  # noqa: N802
        replicator = self._replicator(context)
        if not request.bucket or not request.key:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bucket and key are required")
        queued = replicator.repair_key(request.bucket, request.key, list(request.nodes))
        return pb.RepairKeyReply(queued=queued)

    def Restamp(self, request, context):  # noqa: N802
        if not (request.bucket and request.key and request.version_id and request.timestamp):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "bucket, key, version id and timestamp needed"
            )
        row = self.store.restamp(request.bucket, request.key, request.version_id, request.timestamp)
        # Not held (never arrived, or given up), or replaced by a write stamped later.
        newest, superseded = self._standing(request.bucket, request.key, request.version_id)
        return pb.PutReply(
            applied=row is not None,
            size=row.size if row is not None else 0,
            newest_timestamp=newest,
            superseded=superseded,
        )

    def Collect(self, request, context):  # noqa: N802
        replicator = self._replicator(context)
        if any(not (e.bucket and e.key and e.version_id) for e in request.entries):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bucket, key and version id needed")
        clear = replicator.collect_for(request.placement, list(request.entries), request.forget)
        if clear is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "placement map differs")
        return pb.CollectReply(clear=clear)
