"""The node's local object index: SQLite in WAL mode.

`objects` holds one row per (bucket, key): the newest version this node has
seen (or a tombstone / delete marker). Older versions a versioned bucket keeps
live in `versions`. Rows change only inside a transaction that first compares
timestamps, so replays and late replicas never overwrite newer writes.

Each version is either *versioned* (written while the bucket's versioning was
Enabled; it keeps its own id) or the key's *null* version (S3 version id
`null`): a key has at most one null version, and a newer one replaces it.
`purged` remembers versions deleted by id for a while, so a replica that
arrives late cannot bring one back.

A version's bytes live in one of three places: inline in the row (small
objects), in a data file named by the version id, or, for a composed version,
in the data files of its segments, listed in order in the `segments` column.
"""

from __future__ import annotations

import builtins
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# `objects` (the newest version per key) and `versions` (older versions) hold
# the same columns; only their primary keys differ.
_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
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
    versioned  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ({primary_key})
) WITHOUT ROWID;"""

_SCHEMA = (
    _VERSION_TABLE.format(name="objects", primary_key="bucket, key")
    + _VERSION_TABLE.format(name="versions", primary_key="bucket, key, version_id")
    + """
CREATE INDEX IF NOT EXISTS versions_by_age ON versions (bucket, key, ts DESC, version_id DESC);
CREATE TABLE IF NOT EXISTS purged (
    bucket     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    version_id TEXT    NOT NULL,
    at         REAL    NOT NULL,
    PRIMARY KEY (bucket, key, version_id)
) WITHOUT ROWID;
"""
)

_COLUMNS = "bucket, key, version_id, ts, size, deleted, meta, crcs, inline, segments, versioned"
_PLACEHOLDERS = ",".join("?" * len(_COLUMNS.split(",")))
# Rows shaped like _COLUMNS without the bytes a listing never sends (block CRCs, inline
# data, segments): a page of a thousand small objects would otherwise read megabytes.
_SUMMARY_COLUMNS = (
    "bucket, key, version_id, ts, size, deleted, meta, x'' AS crcs, NULL AS inline,"
    " NULL AS segments, versioned"
)

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
    """One index entry: a version of a key (or a tombstone / delete marker)."""

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
    # Written while versioning was Enabled; otherwise the key's null version.
    versioned: bool = False

    @classmethod
    def from_tuple(cls, values: tuple) -> Row:
        bucket, key, version_id, ts, size, deleted, meta, crcs, inline, segments, versioned = values
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
            bool(versioned),
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
            int(self.versioned),
        )

    @property
    def order(self) -> tuple[int, str]:
        """Newer versions sort higher."""
        return self.ts, self.version_id

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


@dataclass
class Stored:
    """What storing a version did."""

    # The version is now held (as current or older version), or already was.
    applied: bool
    # Versions it replaced for good: their data files can go.
    dropped: list[Row]


class Tx:
    """Reads and writes inside one index transaction (see `Index.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, bucket: str, key: str) -> Row | None:
        return _get(self._conn, bucket, key)

    def version(self, bucket: str, key: str, version_id: str) -> Row | None:
        return _version(self._conn, bucket, key, version_id)

    def put(self, row: Row) -> None:
        """Make row the key's current version (replacing the current row)."""
        self._conn.execute(
            f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
            row.to_tuple(),
        )

    def put_older(self, row: Row) -> None:
        """Keep row as one of the key's older versions."""
        self._conn.execute(
            f"INSERT OR REPLACE INTO versions ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
            row.to_tuple(),
        )

    def delete(self, bucket: str, key: str) -> None:
        """Remove the key's current row (its older versions stay)."""
        self._conn.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))

    def store(self, row: Row) -> Stored:
        """Add a version under the rules of last writer wins and versioning.

        The newest version is current; the one it displaces becomes an older
        version. A null version replaces the key's previous null version, if
        that one is older; if it is newer, the new row is not stored.
        """
        current = self.get(row.bucket, row.key)
        if self._holds(row, current):
            return Stored(True, [])  # this very version again (a retry)
        previous = None if row.versioned else self._null_version(row.bucket, row.key, current)
        if self._superseded(row, previous):
            return Stored(False, [])
        dropped: list[Row] = []
        if previous is not None:
            self._remove(previous, current)
            dropped.append(previous)
            current = self.get(row.bucket, row.key)
        if current is None or row.order > current.order:
            if current is not None:
                self.put_older(current)
            self.put(row)
        else:
            self.put_older(row)
        return Stored(True, dropped)

    def superseded(self, row: Row) -> bool:
        """Whether storing row would change nothing: it was deleted by id, or
        it is a null version and the key already has a newer one."""
        previous = None if row.versioned else self.null_version(row.bucket, row.key)
        return self._superseded(row, previous)

    def _superseded(self, row: Row, previous_null: Row | None) -> bool:
        if previous_null is not None and previous_null.order > row.order:
            return True
        return self._purged(row.bucket, row.key, row.version_id)

    def _holds(self, row: Row, current: Row | None) -> bool:
        """Whether this exact version is stored already, current or older."""
        if current is not None and current.version_id == row.version_id:
            return True
        cur = self._conn.execute(
            "SELECT 1 FROM versions WHERE bucket=? AND key=? AND version_id=?",
            (row.bucket, row.key, row.version_id),
        )
        return cur.fetchone() is not None

    def remove_version(self, bucket: str, key: str, version_id: str) -> Row | None:
        """Delete one version for good; the newest older version becomes current.

        The id is remembered, so a late replica of it is refused.
        """
        self._conn.execute(
            "INSERT OR REPLACE INTO purged (bucket, key, version_id, at) VALUES (?, ?, ?, ?)",
            (bucket, key, version_id, time.time()),
        )
        row = self.version(bucket, key, version_id)
        if row is not None:
            self._remove(row, self.get(bucket, key))
        return row

    def null_version(self, bucket: str, key: str) -> Row | None:
        return self._null_version(bucket, key, self.get(bucket, key))

    def _null_version(self, bucket: str, key: str, current: Row | None) -> Row | None:
        if current is not None and not current.versioned:
            return current
        cur = self._conn.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE bucket=? AND key=? AND versioned=0 LIMIT 1",
            (bucket, key),
        )
        values = cur.fetchone()
        return Row.from_tuple(values) if values else None

    def _remove(self, row: Row, current: Row | None) -> None:
        """Delete row from whichever table holds it, promoting the next newest."""
        if current is None or current.version_id != row.version_id:
            self._conn.execute(
                "DELETE FROM versions WHERE bucket=? AND key=? AND version_id=?",
                (row.bucket, row.key, row.version_id),
            )
            return
        self.delete(row.bucket, row.key)
        cur = self._conn.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE bucket=? AND key=?"
            " ORDER BY ts DESC, version_id DESC LIMIT 1",
            (row.bucket, row.key),
        )
        values = cur.fetchone()
        if values:
            promoted = Row.from_tuple(values)
            self._conn.execute(
                "DELETE FROM versions WHERE bucket=? AND key=? AND version_id=?",
                (promoted.bucket, promoted.key, promoted.version_id),
            )
            self.put(promoted)

    def _purged(self, bucket: str, key: str, version_id: str) -> bool:
        cur = self._conn.execute(
            "SELECT at FROM purged WHERE bucket=? AND key=? AND version_id=?",
            (bucket, key, version_id),
        )
        return cur.fetchone() is not None

    def under_prefix(self, bucket: str, prefix: str, limit: int) -> list[Row]:
        """Up to limit rows of bucket whose key starts with prefix, in key order,
        from both tables (current rows first for each table's batch)."""
        rows: list[Row] = []
        for table in ("objects", "versions"):
            # A range scan plus startswith: LIKE would treat % and _ in keys as wildcards.
            cur = self._conn.execute(
                f"SELECT {_COLUMNS} FROM {table} WHERE bucket=? AND key>=? ORDER BY key LIMIT ?",
                (bucket, prefix, limit - len(rows)),
            )
            for values in cur:
                row = Row.from_tuple(values)
                if not row.key.startswith(prefix):
                    break
                rows.append(row)
        return rows

    def drop(self, row: Row) -> None:
        """Delete exactly this row, current or older, without promoting another."""
        self._conn.execute(
            "DELETE FROM objects WHERE bucket=? AND key=? AND version_id=?",
            (row.bucket, row.key, row.version_id),
        )
        self._conn.execute(
            "DELETE FROM versions WHERE bucket=? AND key=? AND version_id=?",
            (row.bucket, row.key, row.version_id),
        )


def _get(conn: sqlite3.Connection, bucket: str, key: str) -> Row | None:
    cur = conn.execute(f"SELECT {_COLUMNS} FROM objects WHERE bucket=? AND key=?", (bucket, key))
    values = cur.fetchone()
    return Row.from_tuple(values) if values else None


def _version(conn: sqlite3.Connection, bucket: str, key: str, version_id: str) -> Row | None:
    for table in ("objects", "versions"):
        cur = conn.execute(
            f"SELECT {_COLUMNS} FROM {table} WHERE bucket=? AND key=? AND version_id=?",
            (bucket, key, version_id),
        )
        values = cur.fetchone()
        if values:
            return Row.from_tuple(values)
    return None


# A version that came or went: +1 or -1, bucket, key, version id, ts, deleted.
Change = tuple[int, str, str, str, int, bool]
# Changes kept for the replicator between two of its looks; beyond, it rescans.
MAX_CHANGES = 200_000
# Temporary triggers (one set per connection) report every version added to or removed
# from either table to Index._changed; with recursive triggers, the row an INSERT OR
# REPLACE displaces counts as removed. A move between the tables adds and removes.
_CHANGE_TRIGGERS = """
CREATE TEMP TRIGGER IF NOT EXISTS {table}_added AFTER INSERT ON main.{table} BEGIN
    SELECT tessera_changed(1, NEW.bucket, NEW.key, NEW.version_id, NEW.ts, NEW.deleted);
END;
CREATE TEMP TRIGGER IF NOT EXISTS {table}_removed AFTER DELETE ON main.{table} BEGIN
    SELECT tessera_changed(-1, OLD.bucket, OLD.key, OLD.version_id, OLD.ts, OLD.deleted);
END;
CREATE TEMP TRIGGER IF NOT EXISTS {table}_changed
AFTER UPDATE OF bucket, key, version_id, ts, deleted ON main.{table} BEGIN
    SELECT tessera_changed(-1, OLD.bucket, OLD.key, OLD.version_id, OLD.ts, OLD.deleted);
    SELECT tessera_changed(1, NEW.bucket, NEW.key, NEW.version_id, NEW.ts, NEW.deleted);
END;
"""


class Index:
    """Thread-safe access to the index database."""

    def __init__(self, path: Path) -> None:
        self._local = threading.local()
        self._path = path
        self._write_lock = threading.Lock()
        # Versions added and removed by committed transactions, for the replicator to
        # update its digests with instead of rescanning (see changes()).
        self._changes: builtins.list[Change] = []
        self._changes_lost = False
        self._changes_lock = threading.Lock()
        self._tables_ready = False
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        self._migrate(conn)
        self._watch_changes(conn)
        self._tables_ready = True

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Bring databases written by older versions up to the current schema."""
        columns = {name for _, name, *_ in conn.execute("PRAGMA table_info(objects)")}
        if "segments" not in columns:
            conn.execute("ALTER TABLE objects ADD COLUMN segments BLOB")
        if "versioned" not in columns:
            conn.execute("ALTER TABLE objects ADD COLUMN versioned INTEGER NOT NULL DEFAULT 0")
        # Listings read these columns only. In the table a row also holds its inline
        # data, which a scan would have to step over: listing from this index is 2.5x
        # cheaper for 4 KiB objects, for one more index entry per write.
        conn.execute(
            "CREATE INDEX IF NOT EXISTS objects_listing"
            " ON objects (bucket, key, version_id, ts, size, deleted, versioned, meta)"
        )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            # FULL makes every commit durable (fsync of the WAL) before we ack.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            if self._tables_ready:
                self._watch_changes(conn)
            self._local.conn = conn
        return conn

    def _watch_changes(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA recursive_triggers=ON")
        conn.create_function("tessera_changed", 6, self._changed)
        for table in ("objects", "versions"):
            conn.executescript(_CHANGE_TRIGGERS.format(table=table))

    def _changed(
        self, sign: int, bucket: str, key: str, version_id: str, ts: int, deleted: int
    ) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:  # a write outside transaction() (schema work at start-up)
            with self._changes_lock:
                self._changes_lost = True
            return
        pending.append((sign, bucket, key, version_id, ts, bool(deleted)))

    def changes(self) -> builtins.list[Change] | None:
        """The versions added (+1) and removed (-1) by transactions committed since the
        last call, in order; None when some were not kept (too many): rescan then."""
        with self._changes_lock:
            changes, lost = self._changes, self._changes_lost
            self._changes, self._changes_lost = [], False
        return None if lost else changes

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads in this thread see the index as it is now until the block ends, and
        changes() from then on has exactly what commits after it (one consistent scan
        to update from)."""
        conn = self._conn()
        with self._write_lock:  # no commit between the snapshot and dropping changes
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM objects LIMIT 1").fetchall()
            self.changes()
        try:
            yield
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: committed if the block returns, rolled back if it raises."""
        # The lock keeps this process's writers from spinning on SQLite's busy timeout.
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            self._local.pending = []
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                pending, self._local.pending = self._local.pending, None
            conn.execute("COMMIT")
            with self._changes_lock:
                if len(self._changes) + len(pending) > MAX_CHANGES:
                    self._changes, self._changes_lost = [], True
                elif not self._changes_lost:
                    self._changes.extend(pending)

    def get(self, bucket: str, key: str) -> Row | None:
        return _get(self._conn(), bucket, key)

    def version(self, bucket: str, key: str, version_id: str) -> Row | None:
        """One exact version of key, current or older."""
        return _version(self._conn(), bucket, key, version_id)

    def purged(self, bucket: str, key: str) -> list[str]:
        """Versions of key deleted by id and still remembered."""
        cur = self._conn().execute(
            "SELECT version_id FROM purged WHERE bucket=? AND key=?", (bucket, key)
        )
        return [version_id for (version_id,) in cur]

    def purges(self, bucket: str) -> Iterator[tuple[str, str]]:
        """(key, version id) of every version of bucket deleted by id and remembered."""
        cur = self._conn().execute("SELECT key, version_id FROM purged WHERE bucket=?", (bucket,))
        yield from cur

    def purge_namespaces(self) -> builtins.list[str]:
        """Buckets with a remembered delete by id."""
        cur = self._conn().execute("SELECT DISTINCT bucket FROM purged")
        return sorted(bucket for (bucket,) in cur)

    def forget(self, row: Row) -> Row | None:
        """Drop exactly this version's row (no purge record: it may come back), if it is
        still held as it was; the newest older version becomes current. Returns the row
        dropped, whole (with what names its data), or None."""
        with self.transaction() as tx:
            held = tx.version(row.bucket, row.key, row.version_id)
            if held is None or held.ts != row.ts or held.deleted != row.deleted:
                return None
            tx._remove(held, tx.get(row.bucket, row.key))
            return held

    # -- garbage collection (storage_node/collector.py) --------------------------------
    def collectable(
        self, stamped_before: int, remembered_before: float, limit: int
    ) -> tuple[builtins.list[Row], builtins.list[tuple[str, str, str]]]:
        """What garbage collection may drop once no node needs it: tombstones of
        unversioned keys that are their key's only version, stamped before
        stamped_before, and (bucket, key, version id) of deletes by id remembered since
        before remembered_before; at most limit of each."""
        conn = self._conn()
        cur = conn.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM objects o WHERE o.deleted=1 AND o.versioned=0"
            " AND o.ts < ? AND NOT EXISTS (SELECT 1 FROM versions v"
            " WHERE v.bucket=o.bucket AND v.key=o.key) LIMIT ?",
            (stamped_before, limit),
        )
        tombstones = [Row.from_tuple(values) for values in cur]
        cur = conn.execute(
            "SELECT bucket, key, version_id FROM purged WHERE at < ? LIMIT ?",
            (remembered_before, limit),
        )
        return tombstones, [(b, k, v) for b, k, v in cur]

    def shadows_nothing(self, bucket: str, key: str, version_id: str, purge: bool) -> bool:
        """Whether a tombstone (version_id) or a delete by id (purge) no longer matters
        here: the key has no version but the tombstone, or the purged version is not
        held."""
        conn = self._conn()
        if purge:
            return _version(conn, bucket, key, version_id) is None
        for table in ("objects", "versions"):
            cur = conn.execute(
                f"SELECT 1 FROM {table} WHERE bucket=? AND key=? AND version_id<>? LIMIT 1",
                (bucket, key, version_id),
            )
            if cur.fetchone() is not None:
                return False
        return True

    def collect(self, bucket: str, key: str, version_id: str, ts: int, purge: bool) -> bool:
        """Drop a tombstone that is still exactly its key's only version, or the memory
        of a delete by id; whether something was dropped."""
        with self.transaction() as tx:
            if purge:
                cur = tx._conn.execute(
                    "DELETE FROM purged WHERE bucket=? AND key=? AND version_id=?",
                    (bucket, key, version_id),
                )
                return cur.rowcount > 0
            current = tx.get(bucket, key)
            if current is None or (current.version_id, current.ts) != (version_id, ts):
                return False
            if not current.deleted or current.versioned:
                return False
            cur = tx._conn.execute(
                "SELECT 1 FROM versions WHERE bucket=? AND key=? LIMIT 1", (bucket, key)
            )
            if cur.fetchone() is not None:
                return False
            tx.delete(bucket, key)
            return True

    def null_version(self, bucket: str, key: str) -> Row | None:
        """The key's null version, current or older."""
        with self.transaction() as tx:
            return tx.null_version(bucket, key)

    def update_meta(self, bucket: str, key: str, version_id: str, meta: bytes) -> bool:
        """Replace the meta of exactly version_id of key, unless it is gone or a marker."""
        with self.transaction() as tx:
            changed = 0
            for table in ("objects", "versions"):
                cur = tx._conn.execute(
                    f"UPDATE {table} SET meta=? WHERE bucket=? AND key=? AND version_id=?"
                    " AND deleted=0",
                    (meta, bucket, key, version_id),
                )
                changed += cur.rowcount
            return changed == 1

    def store(self, row: Row) -> Stored:
        """Add a version (see `Tx.store`)."""
        with self.transaction() as tx:
            return tx.store(row)

    def store_many(self, rows: list[Row]) -> list[Stored]:
        """Add several versions in one transaction: one commit (and fsync) for all."""
        with self.transaction() as tx:
            return [tx.store(row) for row in rows]

    def remove_version(self, bucket: str, key: str, version_id: str) -> Row | None:
        """Delete one version for good (see `Tx.remove_version`); returns it if held."""
        with self.transaction() as tx:
            return tx.remove_version(bucket, key, version_id)

    def list(
        self, bucket: str, prefix: str, start_after: str, limit: int, full: bool = True
    ) -> tuple[list[Row], bool]:
        """Rows of bucket with key > start_after and the prefix, in key order; with full
        False, without their CRCs, inline data and segments.

        Returns (rows, complete) where complete means nothing follows.
        """
        lower = max(start_after, prefix)
        op = ">" if lower == start_after and start_after else ">="
        columns = _COLUMNS if full else _SUMMARY_COLUMNS
        cur = self._conn().execute(
            f"SELECT {columns} FROM objects WHERE bucket=? AND key {op} ? ORDER BY key LIMIT ?",
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

    def list_versions(
        self,
        bucket: str,
        prefix: str,
        after: tuple[str, int, str] | None,
        limit: int,
        full: bool = True,
    ) -> tuple[builtins.list[Row], bool]:
        """Every version of bucket's keys under prefix: keys in order, each
        key's versions newest first, starting after `after` (key, ts,
        version id); after=(key, 0, "") starts after all of key's versions.
        With full False, rows come without CRCs, inline data and segments.

        Returns (rows, complete) where complete means nothing follows.
        """
        conn = self._conn()
        columns = _COLUMNS if full else _SUMMARY_COLUMNS
        rows: list[Row] = []
        if after is not None and after[0] and after[0].startswith(prefix):
            key, ts, version_id = after
            same_key = (
                f"SELECT {columns} FROM {{table}} WHERE bucket=? AND key=?"
                " AND (ts < ? OR (ts = ? AND version_id < ?))"
            )
            pieces = [
                Row.from_tuple(v)
                for table in ("objects", "versions")
                for v in conn.execute(
                    same_key.format(table=table), (bucket, key, ts, ts, version_id)
                )
            ]
            rows = sorted(pieces, key=lambda r: r.order, reverse=True)
        lower = after[0] if after is not None else ""
        op = ">" if lower and lower >= prefix else ">="
        lower = max(lower, prefix)
        # Both tables are read in key order and merged here; within a key the
        # current row is the newest.
        query = (
            f"SELECT {columns}, 0 AS tier FROM objects WHERE bucket=? AND key {op} ?"
            f" UNION ALL SELECT {columns}, 1 AS tier FROM versions WHERE bucket=? AND key {op} ?"
            " ORDER BY key, tier, ts DESC, version_id DESC LIMIT ?"
        )
        cur = conn.execute(query, (bucket, lower, bucket, lower, limit + 1))
        for values in cur:
            row = Row.from_tuple(values[:-1])
            if not row.key.startswith(prefix):
                return rows[:limit], len(rows) <= limit
            rows.append(row)
        if len(rows) > limit:
            return rows[:limit], False
        return rows, True

    def every_version(self, bucket: str, full: bool = True, page: int = 256) -> Iterator[Row]:
        """Every version of every key of bucket (tombstones and markers too), keys in
        order and each key's newest first, read `page` rows at a time."""
        after: tuple[str, int, str] | None = None
        while True:
            rows, complete = self.list_versions(bucket, "", after, page, full=full)
            yield from rows
            if complete or not rows:
                return
            last = rows[-1]
            after = (last.key, last.ts, last.version_id)

    def namespaces(self, prefix: str) -> builtins.list[str]:
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

    def every_namespace(self) -> builtins.list[str]:
        """Every bucket holding a row in either table (tombstones and older versions
        too), sorted: what a node must account for when it moves all its data."""
        conn = self._conn()
        found: set[str] = set()
        for table in ("objects", "versions"):
            lower, op = "", ">="
            while True:
                values = conn.execute(
                    f"SELECT bucket FROM {table} WHERE bucket {op} ? ORDER BY bucket LIMIT 1",
                    (lower,),
                ).fetchone()
                if values is None:
                    break
                found.add(values[0])
                lower, op = values[0], ">"
        return sorted(found)

    def inventory(self) -> tuple[int, int, int]:
        """(keys, versions, bytes) over every namespace: each version, tombstone and
        delete marker counts once; bytes of the versions that hold data."""
        conn = self._conn()
        (keys,) = conn.execute(
            "SELECT COUNT(*) FROM (SELECT bucket, key FROM objects"
            " UNION SELECT bucket, key FROM versions)"
        ).fetchone()
        versions = size = 0
        for table in ("objects", "versions"):
            count, total = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {table}"
            ).fetchone()
            versions += int(count)
            size += int(total)
        return int(keys), versions, size

    def version_ids(self) -> set[str]:
        """Names of every data file some row owns."""
        live: set[str] = set()
        conn = self._conn()
        for version_id, segments in conn.execute(
            "SELECT version_id, segments FROM objects WHERE deleted=0 AND inline IS NULL"
            " UNION ALL SELECT version_id, segments FROM versions"
            " WHERE deleted=0 AND inline IS NULL"
        ):
            if segments is None:
                live.add(version_id)
            else:
                live.update(v for v, _ in unpack_segments(bytes(segments)))
        return live

    def stats(self) -> tuple[int, int]:
        """(live objects, bytes of every version held)."""
        conn = self._conn()
        count, total = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE deleted=0"
        ).fetchone()
        (older,) = conn.execute("SELECT COALESCE(SUM(size), 0) FROM versions").fetchone()
        return int(count), int(total) + int(older)

    def bucket_stats(self) -> builtins.list[tuple[str, int, int]]:
        """(bucket namespace, live objects, their bytes) per namespace holding any, by
        name: current versions that are not deleted, as stats() counts objects. Older
        versions of a versioned bucket are not in the bytes (stats() adds them)."""
        rows = self._conn().execute(
            "SELECT bucket, COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE deleted=0"
            " GROUP BY bucket ORDER BY bucket"
        )
        return [(str(bucket), int(count), int(total)) for bucket, count, total in rows]
