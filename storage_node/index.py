"""The node's local object index: SQLite in WAL mode.

One row per (bucket, key) holds the newest version this node has seen
(or a tombstone). Rows change only inside a transaction that first compares
timestamps, so replays and late replicas never overwrite newer writes.
"""

from __future__ import annotations

import sqlite3
import threading
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
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
"""


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

    @classmethod
    def from_tuple(cls, values: tuple) -> Row:
        bucket, key, version_id, ts, size, deleted, meta, crcs, inline = values
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
        )


_COLUMNS = "bucket, key, version_id, ts, size, deleted, meta, crcs, inline"


class Index:
    """Thread-safe access to the index database."""

    def __init__(self, path: Path) -> None:
        self._local = threading.local()
        self._path = path
        self._write_lock = threading.Lock()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            # FULL makes every commit durable (fsync of the WAL) before we ack.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def get(self, bucket: str, key: str) -> Row | None:
        cur = self._conn().execute(
            f"SELECT {_COLUMNS} FROM objects WHERE bucket=? AND key=?", (bucket, key)
        )
        values = cur.fetchone()
        return Row.from_tuple(values) if values else None

    def put_if_newer(self, row: Row) -> tuple[bool, Row | None]:
        """Store row unless a newer one exists. Returns (applied, replaced row)."""
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    f"SELECT {_COLUMNS} FROM objects WHERE bucket=? AND key=?",
                    (row.bucket, row.key),
                )
                values = cur.fetchone()
                old = Row.from_tuple(values) if values else None
                if old is not None and (old.ts, old.version_id) >= (row.ts, row.version_id):
                    conn.execute("ROLLBACK")
                    return False, None
                conn.execute(
                    f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        row.bucket,
                        row.key,
                        row.version_id,
                        row.ts,
                        row.size,
                        int(row.deleted),
                        row.meta,
                        row.crcs,
                        row.inline,
                    ),
                )
                conn.execute("COMMIT")
                return True, old
            except BaseException:
                conn.execute("ROLLBACK")
                raise

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

    def version_ids(self) -> set[str]:
        cur = self._conn().execute(
            "SELECT version_id FROM objects WHERE deleted=0 AND inline IS NULL"
        )
        return {v for (v,) in cur}

    def stats(self) -> tuple[int, int]:
        """(live objects, live bytes)."""
        cur = self._conn().execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE deleted=0"
        )
        count, total = cur.fetchone()
        return int(count), int(total)
