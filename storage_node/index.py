"""The node's local object index: SQLite in WAL mode.

One row per (bucket, key) holds the newest version this node has seen
(or a tombstone). Rows change only inside a transaction that first compares
timestamps, so replays and late replicas never overwrite newer writes.

A version's bytes live in one of three places: inline in the row (small
objects), in a data file named by the version id, or, for a composed version,
in the data files of its segments, listed in order in the `segments` column.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bucket     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    version_id TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    meta       BLOB    NOT NULL,
    crcs       BLOB    NOT NULL,
    inline     BLOB,
    segments   BLOB,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
"""

_COLUMNS = "bucket, key, version_id, ts, size, deleted, meta, crcs, inline, segments"
_PLACEHOLDERS = ",".join("?" * len(_COLUMNS.split(",")))

Segments = tuple[tuple[str, int], ...]

_SEGMENT_HEAD = struct.Struct("<QH")  # segment size, length of the version id


def pack_segments(segments: Segments) -> bytes:
    """Encode (version id, size) pairs: size and id length, then the UTF-8 id."""
    out = bytearray()
    for version_id, size in segments:
        raw = version_id.encode()
        out += _SEGMENT_HEAD.pack(size, len(raw)) + raw
    return bytes(out)


def unpack_segments(blob: bytes) -> Segments:
    segments = []
    position = 0
    while position < len(blob):
        size, length = _SEGMENT_HEAD.unpack_from(blob, position)
        position += _SEGMENT_HEAD.size
        segments.append((blob[position : position + length].decode(), size))
        position += length
    return tuple(segments)


@dataclass(frozen=True)
class Row:
    """One index entry: the newest version of a key on this node."""

    bucket: str
    key: str
    version_id: str
    ts: int
    size: int
    deleted: bool
    meta: bytes
    crcs: bytes
    # Small objects live in the row itself, not in a data file.
    inline: bytes | None = None
    # A composed version's data: other versions' data files, in order.
    segments: Segments | None = None

    @classmethod
    def from_tuple(cls, values: tuple) -> Row:
        bucket, key, version_id, ts, size, deleted, meta, crcs, inline, segments = values
        return cls(
            bucket,
            key,
            version_id,
            ts,
            size,
            bool(deleted),
            bytes(meta),
            bytes(crcs),
            bytes(inline) if inline is not None else None,
            unpack_segments(bytes(segments)) if segments is not None else None,
        )

    def to_tuple(self) -> tuple:
        segments = pack_segments(self.segments) if self.segments is not None else None
        return (
            self.bucket,
            self.key,
            self.version_id,
            self.ts,
            self.size,
            int(self.deleted),
            self.meta,
            self.crcs,
            self.inline,
            segments,
        )

    def extents(self) -> Segments:
        """(data file version id, size) pieces that make up a file-backed version."""
        if self.segments is not None:
            return self.segments
        return ((self.version_id, self.size),)

    def data_files(self) -> list[str]:
        """Version ids of the data files this row owns (removed with the row)."""
        if self.deleted or self.inline is not None:
            return []
        return [version_id for version_id, _ in self.extents()]


class Tx:
    """Reads and writes inside one index transaction (see `Index.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, bucket: str, key: str) -> Row | None:
        return _get(self._conn, bucket, key)

    def put(self, row: Row) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
            row.to_tuple(),
        )

    def delete(self, bucket: str, key: str) -> None:
        self._conn.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))

    def under_prefix(self, bucket: str, prefix: str, limit: int) -> list[Row]:
        """Up to limit rows of bucket whose key starts with prefix, in key order."""
        # A range scan plus startswith: LIKE would treat % and _ in keys as wildcards.
        cur = self._conn.execute(
            f"SELECT {_COLUMNS} FROM objects WHERE bucket=? AND key>=? ORDER BY key LIMIT ?",
            (bucket, prefix, limit),
        )
        rows = []
        for values in cur:
            row = Row.from_tuple(values)
            if not row.key.startswith(prefix):
                break
            rows.append(row)
        return rows


def _get(conn: sqlite3.Connection, bucket: str, key: str) -> Row | None:
    cur = conn.execute(f"SELECT {_COLUMNS} FROM objects WHERE bucket=? AND key=?", (bucket, key))
    values = cur.fetchone()
    return Row.from_tuple(values) if values else None


class Index:
    """Thread-safe access to the index database."""

    def __init__(self, path: Path) -> None:
        self._local = threading.local()
        self._path = path
        self._write_lock = threading.Lock()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        self._migrate(conn)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Bring databases written by older versions up to the current schema."""
        columns = {name for _, name, *_ in conn.execute("PRAGMA table_info(objects)")}
        if "segments" not in columns:
            conn.execute("ALTER TABLE objects ADD COLUMN segments BLOB")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            # FULL makes every commit durable (fsync of the WAL) before we ack.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: committed if the block returns, rolled back if it raises."""
        # The lock keeps this process's writers from spinning on SQLite's busy timeout.
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def get(self, bucket: str, key: str) -> Row | None:
        return _get(self._conn(), bucket, key)

    def update_meta(self, bucket: str, key: str, version_id: str, meta: bytes) -> bool:
        """Replace the meta of the live row of key if it is exactly version_id."""
        with self.transaction() as tx:
            cur = tx._conn.execute(
                "UPDATE objects SET meta=? WHERE bucket=? AND key=? AND version_id=? AND deleted=0",
                (meta, bucket, key, version_id),
            )
            return cur.rowcount == 1

    def put_if_newer(self, row: Row) -> tuple[bool, Row | None]:
        """Store row unless a newer one exists. Returns (applied, replaced row)."""
        with self.transaction() as tx:
            old = tx.get(row.bucket, row.key)
            if old is not None and (old.ts, old.version_id) == (row.ts, row.version_id):
                return True, None  # this very version again (a retry): already stored
            if old is not None and (old.ts, old.version_id) > (row.ts, row.version_id):
                return False, None
            tx.put(row)
            return True, old

    def list(
        self, bucket: str, prefix: str, start_after: str, limit: int
    ) -> tuple[list[Row], bool]:
        """Rows of bucket with key > start_after and the prefix, in key order.

        Returns (rows, complete) where complete means nothing follows.
        """
        lower = max(start_after, prefix)
        op = ">" if lower == start_after and start_after else ">="
        cur = self._conn().execute(
            f"SELECT {_COLUMNS} FROM objects WHERE bucket=? AND key {op} ? ORDER BY key LIMIT ?",
            (bucket, lower, limit + 1),
        )
        rows: list[Row] = []
        for values in cur:
            row = Row.from_tuple(values)
            if not row.key.startswith(prefix):
                return rows, True
            if len(rows) == limit:
                return rows, False
            rows.append(row)
        return rows, True

    def namespaces(self, prefix: str) -> list[str]:
        """Distinct buckets starting with prefix, sorted."""
        # One index seek per bucket instead of DISTINCT, which would scan every row.
        conn = self._conn()
        found: list[str] = []
        lower, op = prefix, ">="
        while True:
            values = conn.execute(
                f"SELECT bucket FROM objects WHERE bucket {op} ? ORDER BY bucket LIMIT 1",
                (lower,),
            ).fetchone()
            if values is None or not values[0].startswith(prefix):
                return found
            found.append(values[0])
            lower, op = values[0], ">"

    def version_ids(self) -> set[str]:
        """Names of every data file some row owns."""
        cur = self._conn().execute(
            "SELECT version_id, segments FROM objects WHERE deleted=0 AND inline IS NULL"
        )
        live: set[str] = set()
        for version_id, segments in cur:
            if segments is None:
                live.add(version_id)
            else:
                live.update(v for v, _ in unpack_segments(bytes(segments)))
        return live

    def stats(self) -> tuple[int, int]:
        """(live objects, live bytes)."""
        cur = self._conn().execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE deleted=0"
        )
        count, total = cur.fetchone()
        return int(count), int(total)
