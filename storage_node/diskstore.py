"""Object bytes on local disk, named by version id, never by key.

Layout under the data directory:
    objects/<first two hex chars>/<version id>   committed data files
    tmp/                                         writes in progress
    index.sqlite3                                the local index

A write goes to tmp/, is fsynced, renamed into objects/, the directory is
fsynced, and only then is the index row committed. A crash at any point
leaves either nothing visible or the complete object.
"""

from __future__ import annotations

import logging
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

from storage_node.index import Index, Row

log = logging.getLogger(__name__)

# Data is checksummed per block so corruption is found before bytes leave.
BLOCK_SIZE = 1 << 20
# Objects up to this size are kept in the index row: one durable commit
# instead of a data file, its fsync, a rename and a directory fsync.
INLINE_LIMIT = 128 * 1024


class Corrupted(Exception):
    """A data block failed its checksum."""


class NotFound(Exception):
    """No such version on this node."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PendingWrite:
    """An object version being received; invisible until `commit`."""

    def __init__(self, store: DiskStore, bucket: str, key: str, version_id: str, ts: int):
        self._store = store
        self.bucket, self.key, self.version_id, self.ts = bucket, key, version_id, ts
        self.tmp_path = store.tmp_dir / f"{version_id}.{uuid.uuid4().hex}"
        # Bytes stay in memory until they outgrow INLINE_LIMIT, then spill to a file.
        self._small: bytearray | None = bytearray()
        self._file = None
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

    def commit(self, size: int, meta: bytes) -> bool:
        """Make the version durable and visible. Returns False if a newer one exists."""
        if size != self.size:
            self.abort()
            raise ValueError(f"size mismatch: header says {size}, received {self.size}")
        if self._block_fill:
            self._crcs.append(self._block_crc)
        crcs = struct.pack(f"<{len(self._crcs)}I", *self._crcs)
        if self._file is None:
            row = Row(
                self.bucket,
                self.key,
                self.version_id,
                self.ts,
                size,
                False,
                meta,
                crcs,
                bytes(self._small or b""),
            )
            return self._store.apply(row)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._store.data_path(self.version_id)
        final.parent.mkdir(exist_ok=True)
        os.rename(self.tmp_path, final)
        _fsync_dir(final.parent)
        row = Row(self.bucket, self.key, self.version_id, self.ts, size, False, meta, crcs)
        applied = self._store.apply(row)
        if not applied:
            final.unlink(missing_ok=True)
        return applied

    def abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


class DiskStore:
    """The storage node's local objects."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.index = Index(root / "index.sqlite3")
        self._recover()

    def _recover(self) -> None:
        """Drop writes a crash interrupted and data files no index row names."""
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
        live = self.index.version_ids()
        removed = 0
        for shard in self.objects_dir.iterdir():
            for path in shard.iterdir():
                if path.name not in live:
                    path.unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("recovery removed orphan data files count=%d", removed)

    def data_path(self, version_id: str) -> Path:
        return self.objects_dir / version_id[:2] / version_id

    def remove_data(self, version_id: str) -> None:
        self.data_path(version_id).unlink(missing_ok=True)

    def begin_write(self, bucket: str, key: str, version_id: str, ts: int) -> PendingWrite:
        if not version_id or "/" in version_id or version_id.startswith("."):
            raise ValueError("invalid version id")
        return PendingWrite(self, bucket, key, version_id, ts)

    def apply(self, row: Row) -> bool:
        """Record row unless a newer version exists; drop the replaced data file."""
        applied, old = self.index.put_if_newer(row)
        if applied and old is not None and not old.deleted and old.inline is None:
            self.remove_data(old.version_id)
        return applied

    def tombstone(self, bucket: str, key: str, version_id: str, ts: int) -> bool:
        return self.apply(Row(bucket, key, version_id, ts, 0, True, b"", b""))

    def head(self, bucket: str, key: str) -> Row | None:
        return self.index.get(bucket, key)

    def read(
        self, bucket: str, key: str, version_id: str, offset: int, length: int, chunk: int
    ) -> tuple[Row, Iterator[bytes]]:
        """The row and an iterator over [offset, offset+length) of one exact version."""
        row = self.index.get(bucket, key)
        if row is None or row.deleted or (version_id and row.version_id != version_id):
            raise NotFound(f"{bucket}/{key}@{version_id}")
        end = row.size if length == 0 else min(row.size, offset + length)
        if row.inline is not None:
            self._verify_inline(row)
            return row, iter([row.inline[offset:end]] if end > offset else [])
        try:
            handle = open(self.data_path(row.version_id), "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise NotFound(f"{bucket}/{key}@{version_id}") from exc
        return row, self._blocks(handle, row, offset, end, chunk)

    @staticmethod
    def _verify_inline(row: Row) -> None:
        expected = struct.unpack(f"<{len(row.crcs) // 4}I", row.crcs)
        assert row.inline is not None
        actual = tuple(
            zlib.crc32(row.inline[i : i + BLOCK_SIZE])
            for i in range(0, len(row.inline), BLOCK_SIZE)
        )
        if actual != expected:
            raise Corrupted(f"inline data of version {row.version_id}")

    def whole(self, row: Row) -> bytes:
        """All bytes of a small version (inline or from its file), verified."""
        _, chunks = self.read(row.bucket, row.key, row.version_id, 0, 0, max(row.size, 1))
        return b"".join(chunks)

    def _blocks(self, handle, row: Row, offset: int, end: int, chunk: int) -> Iterator[bytes]:
        crcs = struct.unpack(f"<{len(row.crcs) // 4}I", row.crcs)
        with handle:
            block = offset // BLOCK_SIZE
            handle.seek(block * BLOCK_SIZE)
            position = block * BLOCK_SIZE
            pending = bytearray()
            while position < end:
                data = handle.read(BLOCK_SIZE)
                if not data or zlib.crc32(data) != crcs[block]:
                    raise Corrupted(f"block {block} of version {row.version_id}")
                start = max(offset - position, 0)
                stop = min(end - position, len(data))
                pending += data[start:stop]
                position += len(data)
                block += 1
                while len(pending) >= chunk:
                    yield bytes(pending[:chunk])
                    del pending[:chunk]
            if pending:
                yield bytes(pending)

    def stats(self) -> tuple[int, int]:
        return self.index.stats()
