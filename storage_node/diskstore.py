"""Object bytes on local disk, named by version id, never by key.

Layout under the data directory:
    objects/<first two hex chars>/<version id>   committed data files
    tmp/                                         writes in progress
    index.sqlite3                                the local index

A write goes to tmp/, is fsynced, renamed into objects/, the directory is
fsynced, and only then is the index row committed. A crash at any point
leaves either nothing visible or the complete object.

A composed version (`compose`) owns no file of its own: its data is its
sources' data files in order ("segments"), each checksummed per block from
the segment's own start.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from storage_node.index import Index, Row, Segments, Tx

log = logging.getLogger(__name__)

# Data is checksummed per block so corruption is found before bytes leave.
BLOCK_SIZE = 1 << 20
# Objects up to this size are kept in the index row: one durable commit
# instead of a data file, its fsync, a rename and a directory fsync.
INLINE_LIMIT = 128 * 1024
# Rows removed per transaction by delete_prefix: keeps the write lock short.
DELETE_BATCH = 500
# How long a superseded write waits aside for its writer to stamp it again.
ASIDE_FOR = 60.0


class Corrupted(Exception):
    """A data block failed its checksum."""


class NotFound(Exception):
    """No such version on this node."""


class SourceMissing(Exception):
    """A compose source is absent, a tombstone, or has another version id."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_if_idle(path: Path, cutoff: float, idle_for: float) -> int:
    """Unlink path if not modified since cutoff (always when idle_for is 0); 1 if done."""
    try:
        if idle_for and path.stat().st_mtime >= cutoff:
            return 0
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def _check_version_id(version_id: str) -> None:
    # Version ids become file names: nothing that could leave the shard directory.
    if not version_id or "/" in version_id or version_id.startswith("."):
        raise ValueError("invalid version id")


def _unpack_crcs(crcs: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(crcs) // 4}I", crcs)


def _block_count(size: int) -> int:
    return -(-size // BLOCK_SIZE)


class PendingWrite:
    """An object version being received; invisible until `commit`."""

    def __init__(
        self,
        store: DiskStore,
        bucket: str,
        key: str,
        version_id: str,
        ts: int,
        versioned: bool = False,
    ):
        self._store = store
        self.bucket, self.key, self.version_id, self.ts = bucket, key, version_id, ts
        self.versioned = versioned
        self.tmp_path = store.tmp_dir / f"{version_id}.{uuid.uuid4().hex}"
        # Bytes stay in memory until they outgrow INLINE_LIMIT, then spill to a file.
        self._small: bytearray | None = bytearray()
        self._file: BinaryIO | None = None
        self._crcs: list[int] = []
        self._block_crc = 0
        self._block_fill = 0
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._small is not None and len(self._small) + len(data) <= INLINE_LIMIT:
            self._small += data
        else:
            if self._file is None:
                self._file = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in commit/abort
                self._file.write(self._small or b"")
                self._small = None
            self._file.write(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            take = min(len(view), BLOCK_SIZE - self._block_fill)
            self._block_crc = zlib.crc32(view[:take], self._block_crc)
            self._block_fill += take
            view = view[take:]
            if self._block_fill == BLOCK_SIZE:
                self._crcs.append(self._block_crc)
                self._block_crc, self._block_fill = 0, 0

    def commit(self, size: int, meta: bytes, ts: int = 0) -> bool:
        """Make the version durable and visible. Returns False if a newer one
        exists. ts, when given, replaces the timestamp from begin_write."""
        return self._store.apply_many([self.seal(size, meta, ts)])[0]

    def seal(self, size: int, meta: bytes, ts: int = 0) -> Row:
        """Make the bytes durable (a data file is fsynced and installed; small objects
        stay in memory for the index row) and return the row that will make them
        visible: DiskStore.apply_many stores it, alone or with others (group commit)."""
        if ts:
            self.ts = ts
        if size != self.size:
            self.abort()
            raise ValueError(f"size mismatch: header says {size}, received {self.size}")
        if self._block_fill:
            self._crcs.append(self._block_crc)
        crcs = struct.pack(f"<{len(self._crcs)}I", *self._crcs)
        # Small objects stay inline in the index row; larger ones are a data file.
        inline = bytes(self._small or b"") if self._file is None else None
        row = Row(
            self.bucket,
            self.key,
            self.version_id,
            self.ts,
            size,
            False,
            meta,
            crcs,
            inline,
            versioned=self.versioned,
        )
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            final = self._store.install(self.tmp_path, self.version_id)
            _fsync_dir(final.parent)
        return row

    def abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Span:
    """The part of one data file a read needs: [start, end) of the file."""

    version_id: str
    start: int
    end: int
    crcs: tuple[int, ...]  # the file's block checksums, block 0 first


@dataclass(frozen=True)
class _Composed:
    """What a compose transaction decided; files are removed after it commits."""

    applied: bool
    size: int
    garbage: list[str]


class DiskStore:
    """The storage node's local objects."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.index = Index(root / "index.sqlite3")
        # Versions a writer must stamp again (see apply_newest): version id → the sealed
        # row and when it is given up (its data file removed).
        self._aside: dict[str, tuple[Row, float]] = {}
        self._aside_lock = threading.Lock()
        self._recover()

    def _recover(self) -> None:
        """Drop writes a crash interrupted and data files no index row names."""
        removed = self.sweep()
        if removed:
            log.info("recovery removed orphan data files count=%d", removed)

    def sweep(self, idle_for: float = 0.0) -> int:
        """Remove temporary files and data files no index row names (segment files of
        composed versions count as named: their rows own them) that nothing wrote for
        idle_for seconds; how many. At start-up nothing is writing (0 takes all); while
        the node runs, a write in progress keeps touching its file, and a file renamed
        into place moments before its row commits is recent too."""
        cutoff = time.time() - idle_for
        removed = 0
        for leftover in self.tmp_dir.iterdir():
            removed += _remove_if_idle(leftover, cutoff, idle_for)
        live = self.index.version_ids()
        for shard in self.objects_dir.iterdir():
            for path in shard.iterdir():
                if path.name not in live:
                    removed += _remove_if_idle(path, cutoff, idle_for)
        return removed

    def data_path(self, version_id: str) -> Path:
        return self.objects_dir / version_id[:2] / version_id

    def install(self, tmp_path: Path, version_id: str) -> Path:
        """Rename a synced temp file to its final name; the caller fsyncs the directory."""
        final = self.data_path(version_id)
        if not final.parent.exists():
            final.parent.mkdir(exist_ok=True)
            # A new shard directory must itself survive a crash.
            _fsync_dir(self.objects_dir)
        os.rename(tmp_path, final)
        return final

    def remove_data(self, version_id: str) -> None:
        self.data_path(version_id).unlink(missing_ok=True)

    def _remove_files(self, version_ids: Iterable[str]) -> None:
        for version_id in version_ids:
            self.remove_data(version_id)

    def begin_write(
        self, bucket: str, key: str, version_id: str, ts: int, versioned: bool = False
    ) -> PendingWrite:
        _check_version_id(version_id)
        return PendingWrite(self, bucket, key, version_id, ts, versioned)

    def apply_many(self, rows: list[Row]) -> list[bool]:
        """Store sealed versions (PendingWrite.seal; see `Tx.store`) in one index
        transaction, dropping the data files of versions they replaced, so one
        fsync makes them all visible; whether each was applied. The data file of a
        version that was not (a newer one exists) is removed."""
        stored = self.index.store_many(rows)
        for row, result in zip(rows, stored, strict=True):
            self._drop_replaced(result.dropped, keep=row)
            if not result.applied and row.inline is None:
                self.remove_data(row.version_id)
        return [result.applied for result in stored]

    def _drop_replaced(self, dropped: list[Row], keep: Row) -> None:
        # The new row may own some of an old row's files (a key composed from itself).
        for old in dropped:
            self._remove_files(set(old.data_files()) - set(keep.data_files()))

    def apply_newest(self, row: Row) -> bool:
        """Store a sealed version if it is its key's newest here (or is held already).
        Otherwise keep it aside, invisible, for ASIDE_FOR seconds and return False: a
        version stamped later is here although this one may have come last (the writer's
        clock is behind), and the writer will give it a later stamp (restamp)."""
        with self.index.transaction() as tx:
            current = tx.get(row.bucket, row.key)
            if (
                current is not None
                and current.version_id != row.version_id
                and current.order > row.order
            ):
                result = None
            else:
                result = tx.store(row)
        if result is None:
            self._set_aside(row)
            return False
        self._drop_replaced(result.dropped, keep=row)
        if not result.applied and row.inline is None:
            self.remove_data(row.version_id)
        return result.applied

    def restamp(self, bucket: str, key: str, version_id: str, ts: int) -> Row | None:
        """Give a version a later timestamp, the same data: one kept aside by
        apply_newest, or one stored. The row as stored now, or None if neither."""
        with self._aside_lock:
            aside = self._aside.pop(version_id, (None, 0.0))[0]
        if aside is not None:
            fresh = replace(aside, ts=ts)
            return fresh if self.apply_many([fresh])[0] else None
        with self.index.transaction() as tx:
            held = tx.version(bucket, key, version_id)
            if held is None:
                return None
            fresh = replace(held, ts=ts)
            tx._remove(held, tx.get(bucket, key))
            result = tx.store(fresh)
        self._drop_replaced(result.dropped, keep=fresh)
        return fresh if result.applied else None

    def _set_aside(self, row: Row) -> None:
        now = time.monotonic()
        with self._aside_lock:
            expired = [v for v, (_, until) in self._aside.items() if until < now]
            gone = [self._aside.pop(v)[0] for v in expired]
            self._aside[row.version_id] = (row, now + ASIDE_FOR)
        for old in gone:
            if old.inline is None:
                self.remove_data(old.version_id)

    def tombstone(
        self, bucket: str, key: str, version_id: str, ts: int, versioned: bool = False
    ) -> bool:
        """Record a delete: a tombstone, or a delete marker in a versioned bucket."""
        return self.tombstones([(bucket, key, version_id, ts, versioned)])[0]

    def tombstones(self, deletes: list[tuple[str, str, str, int, bool]]) -> list[bool]:
        """Record several deletes (bucket, key, version id, timestamp, versioned) in one
        index transaction; whether each was applied."""
        rows = [
            Row(bucket, key, version_id, ts, 0, True, b"", b"", versioned=versioned)
            for bucket, key, version_id, ts, versioned in deletes
        ]
        stored = self.index.store_many(rows)
        for row, result in zip(rows, stored, strict=True):
            self._drop_replaced(result.dropped, keep=row)
        return [result.applied for result in stored]

    def head(self, bucket: str, key: str) -> Row | None:
        """The key's current version (maybe a tombstone)."""
        return self.index.get(bucket, key)

    def find(self, bucket: str, key: str, version_id: str, null_version: bool) -> Row | None:
        """One version by id, or the key's null version."""
        if null_version:
            return self.index.null_version(bucket, key)
        return self.index.version(bucket, key, version_id)

    def remove_version(
        self, bucket: str, key: str, version_id: str, null_version: bool
    ) -> Row | None:
        """Delete one version for good, with its data; returns it if this node held it."""
        if null_version:
            row = self.index.null_version(bucket, key)
            if row is None:
                return None
            version_id = row.version_id
        removed = self.index.remove_version(bucket, key, version_id)
        if removed is not None:
            self._remove_files(removed.data_files())
        return removed

    def forget(self, row: Row) -> bool:
        """Drop a version this node no longer owns (its replicas hold it), with its data,
        unless it changed meanwhile. Unlike remove_version it leaves no purge record."""
        dropped = self.index.forget(row)
        if dropped is not None:
            self._remove_files(dropped.data_files())
        return dropped is not None

    def replace(self, old: Row, fresh: Row) -> bool:
        """Put a sealed copy of the same version (fetched from a good replica) in place
        of a corrupt one, unless the version changed or went meanwhile. A data file the
        copy owns was installed over the corrupt one when it was sealed."""
        with self.index.transaction() as tx:
            held = tx.version(old.bucket, old.key, old.version_id)
            if held is not None:
                tx._remove(held, tx.get(old.bucket, old.key))
                tx.store(fresh)
        if held is None:  # deleted meanwhile: the copy's file belongs to nothing
            if fresh.inline is None:
                self.remove_data(fresh.version_id)
            return False
        self._remove_files(set(held.data_files()) - set(fresh.data_files()))
        return True

    # -- compose ----------------------------------------------------------------

    def compose(
        self,
        bucket: str,
        key: str,
        version_id: str,
        ts: int,
        source_bucket: str,
        sources: list[tuple[str, str]],
        meta: bytes,
        versioned: bool = False,
    ) -> tuple[bool, int]:
        """Make version_id of key from the sources' data, in order, copying no bytes.

        Returns (applied, composed size); applied is False when a newer version of key exists.
        Raises SourceMissing (naming the first missing source) if a source is
        absent, a tombstone or another version; nothing changes then.
        """
        _check_version_id(version_id)
        if not sources:
            raise ValueError("compose needs at least one source")
        for _, source_version in sources:
            _check_version_id(source_version)
        done = self.index.version(bucket, key, version_id)
        if done is not None:
            return True, done.size  # a retry of a compose that already happened
        written: list[tuple[str, str]] = []
        try:
            # Writing inline sources' files before taking the lock keeps fsyncs out of it.
            self._materialise(source_bucket, sources, written)
            with self.index.transaction() as tx:
                target = Row(bucket, key, version_id, ts, 0, False, meta, b"", versioned=versioned)
                outcome = self._compose_tx(tx, target, source_bucket, sources)
        except BaseException:
            self._drop_unclaimed(source_bucket, written)
            raise
        self._remove_files(outcome.garbage)
        return outcome.applied, outcome.size

    def _materialise(
        self, bucket: str, sources: list[tuple[str, str]], written: list[tuple[str, str]]
    ) -> None:
        """Write the data files of inline sources, appending each to written."""
        for key, version_id in dict.fromkeys(sources):
            row = self.index.get(bucket, key)
            if _is_inline_source(row, version_id):
                assert row is not None
                self._write_inline_file(row)
                written.append((key, version_id))

    def _write_inline_file(self, row: Row) -> None:
        """Durably copy an inline row's bytes to the data file named by its version."""
        assert row.inline is not None
        self._verify_inline(row)
        tmp = self.tmp_dir / f"{row.version_id}.{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(row.inline)
                handle.flush()
                os.fsync(handle.fileno())
            final = self.install(tmp, row.version_id)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)

    def _compose_tx(
        self, tx: Tx, target: Row, source_bucket: str, sources: list[tuple[str, str]]
    ) -> _Composed:
        """Compose `target` (its size, checksums and data still to come from the sources)."""
        done = tx.version(target.bucket, target.key, target.version_id)
        if done is not None:
            return _Composed(True, done.size, [])
        # Last writer wins is decided before the sources are checked, so a retry of
        # a compose that lost (its sources already dropped) still answers "not applied".
        if tx.superseded(target):
            return self._drop_sources(tx, source_bucket, sources, keep=(target.bucket, target.key))
        rows = [self._claim(tx, source_bucket, k, v) for k, v in sources]
        segments, crcs = self._join(rows)
        size = sum(s for _, s in segments)
        row = replace(target, size=size, crcs=crcs, segments=segments)
        for source in rows:
            tx.delete(source.bucket, source.key)
        stored = tx.store(row)
        # The target's own files stay if it was one of the sources.
        garbage = {f for old in stored.dropped for f in old.data_files()} - set(row.data_files())
        return _Composed(stored.applied, size, sorted(garbage))

    def _claim(self, tx: Tx, bucket: str, key: str, version_id: str) -> Row:
        """The source row, checked, with its data in files (not inline)."""
        row = tx.get(bucket, key)
        if row is None or row.deleted or row.version_id != version_id:
            raise SourceMissing(f"source {key!r} version {version_id!r} not found")
        # Rare: a concurrent failed compose removed the file written before the lock.
        if row.inline and not self.data_path(row.version_id).exists():
            self._write_inline_file(row)
        return row

    @staticmethod
    def _join(rows: list[Row]) -> tuple[Segments, bytes]:
        """Segments and block checksums of the sources' data, in order."""
        segments: list[tuple[str, int]] = []
        for row in rows:
            if row.inline is not None:
                # An empty source adds no bytes and needs no file.
                segments.extend([(row.version_id, row.size)] if row.size else [])
            else:
                segments.extend(row.extents())
        return tuple(segments), b"".join(row.crcs for row in rows)

    def _drop_sources(
        self, tx: Tx, bucket: str, sources: list[tuple[str, str]], keep: tuple[str, str]
    ) -> _Composed:
        """Remove the sources of a compose that lost to a newer version."""
        garbage: list[str] = []
        size = 0
        for key, version_id in dict.fromkeys(sources):
            row = tx.get(bucket, key)
            if row is None or row.deleted or row.version_id != version_id:
                continue
            if (bucket, key) == keep:
                continue  # the newer version itself
            tx.delete(bucket, key)
            size += row.size
            # An inline source may have had its file written for this compose.
            garbage += row.data_files() if row.inline is None else [row.version_id]
        return _Composed(False, size, garbage)

    def _drop_unclaimed(self, bucket: str, written: list[tuple[str, str]]) -> None:
        """After a failed compose, remove files it wrote that no row owns.

        A file is kept if its source row is gone or changed: another compose may
        have claimed it as a segment. Under the index lock no compose can claim
        it meanwhile, and one that does later rewrites a missing file (`_claim`).
        """
        if not written:
            return
        with self.index.transaction() as tx:
            for key, version_id in written:
                if _is_inline_source(tx.get(bucket, key), version_id):
                    self.remove_data(version_id)

    # -- removal and listing -----------------------------------------------------

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Remove every key of bucket under prefix, with its data. Returns the count."""
        removed = 0
        while True:
            with self.index.transaction() as tx:
                rows = tx.under_prefix(bucket, prefix, DELETE_BATCH)
                for row in rows:
                    tx.drop(row)
            for row in rows:
                self._remove_files(row.data_files())
            removed += len(rows)
            if len(rows) < DELETE_BATCH:
                return removed

    def namespaces(self, prefix: str) -> list[str]:
        """Buckets this node holds rows in (tombstones too) starting with prefix, sorted."""
        return self.index.namespaces(prefix)

    # -- reads ---------------------------------------------------------------------

    def read(
        self, bucket: str, key: str, version_id: str, offset: int, length: int, chunk: int
    ) -> tuple[Row, Iterator[bytes]]:
        """The row and an iterator over [offset, offset+length) of one exact version.

        The iterator raises Corrupted before yielding bytes of a bad block.
        """
        row = self.index.version(bucket, key, version_id) if version_id else self.head(bucket, key)
        if row is None or row.deleted:
            raise NotFound(f"{bucket}/{key}@{version_id}")
        end = row.size if length == 0 else min(row.size, offset + length)
        if row.inline is not None:
            self._verify_inline(row)
            return row, iter([row.inline[offset:end]] if end > offset else [])
        spans = self._spans(row, offset, end)
        # Open the first file now so a missing version is NotFound before any reply.
        first = self._open(spans[0]) if spans else None
        return row, _rechunk(self._read_spans(spans, first), chunk)

    @staticmethod
    def _spans(row: Row, offset: int, end: int) -> list[_Span]:
        """The pieces of the row's data files that cover [offset, end)."""
        crcs = _unpack_crcs(row.crcs)
        spans = []
        start = block = 0
        for version_id, size in row.extents():
            if start >= end:
                break
            blocks = _block_count(size)
            low, high = max(offset, start), min(end, start + size)
            if low < high:
                spans.append(
                    _Span(version_id, low - start, high - start, crcs[block : block + blocks])
                )
            start += size
            block += blocks
        return spans

    def _open(self, span: _Span) -> BinaryIO:
        try:
            return open(self.data_path(span.version_id), "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise NotFound(f"data file {span.version_id}") from exc

    def _read_spans(self, spans: list[_Span], first: BinaryIO | None) -> Iterator[memoryview]:
        # Later files open lazily: a composed version may have thousands.
        for i, span in enumerate(spans):
            handle = first if i == 0 and first is not None else self._open(span)
            yield from _read_span(handle, span)

    @staticmethod
    def _verify_inline(row: Row) -> None:
        expected = _unpack_crcs(row.crcs)
        assert row.inline is not None
        actual = tuple(
            zlib.crc32(row.inline[i : i + BLOCK_SIZE])
            for i in range(0, len(row.inline), BLOCK_SIZE)
        )
        if actual != expected:
            raise Corrupted(f"inline data of version {row.version_id}")

    def whole(self, row: Row) -> bytes:
        """All bytes of a small version (inline, from its file or its segments), verified."""
        _, chunks = self.read(row.bucket, row.key, row.version_id, 0, 0, max(row.size, 1))
        return b"".join(chunks)

    def stats(self) -> tuple[int, int]:
        return self.index.stats()

    def bucket_stats(self) -> list[tuple[str, int, int]]:
        """(bucket namespace, live objects, their bytes) per namespace: Index.bucket_stats."""
        return self.index.bucket_stats()


def _is_inline_source(row: Row | None, version_id: str) -> bool:
    """Whether row is a live, non-empty inline version with that id."""
    return row is not None and not row.deleted and row.version_id == version_id and bool(row.inline)


def _read_span(handle: BinaryIO, span: _Span) -> Iterator[memoryview]:
    """Verified bytes of span, one block at a time."""
    with handle:
        block = span.start // BLOCK_SIZE
        position = block * BLOCK_SIZE
        handle.seek(position)
        while position < span.end:
            data = handle.read(BLOCK_SIZE)
            if not data or block >= len(span.crcs) or zlib.crc32(data) != span.crcs[block]:
                raise Corrupted(f"block {block} of data file {span.version_id}")
            low = max(span.start - position, 0)
            high = min(span.end - position, len(data))
            yield memoryview(data)[low:high]
            position += len(data)
            block += 1


def _rechunk(pieces: Iterable[bytes | memoryview], chunk: int) -> Iterator[bytes]:
    """Regroup pieces into chunk-sized bytes; holds at most one piece and one chunk."""
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= chunk:
            yield bytes(pending[:chunk])
            del pending[:chunk]
    if pending:
        yield bytes(pending)
