"""The writer that tests/chaos/test_node_crash_points.py kills: it performs OPERATIONS on a
storage node's DiskStore and SIGKILLs itself on the Nth call of one disk step.

    python -m tests.chaos.crash_writer STEP-WHEN N ROOT

STEP is fsync, rename or unlink (the os functions the store calls) or transaction (an
index transaction); WHEN is before or after the call. Prints "begin I" before and
"acked I" after operation I, and "done" when no kill came.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from storage_node.diskstore import DiskStore
from storage_node.index import Index, Tx

# The operations the child performs, in order: (kind, key, sizes). Sizes cross the
# inline limit (128 KiB) and the 1 MiB block size; the batch is one group commit.
OPERATIONS: list[tuple[str, str, tuple[int, ...]]] = [
    ("put", "inline", (100_000,)),
    ("put", "file", (2_500_000,)),
    ("batch", "batch", (1, 131_073, 300_001)),
    ("put", "file", (1_048_577,)),  # an overwrite: the old data file goes
    ("part", "part-1", (200_000,)),
    ("part", "part-2", (50_000,)),  # inline: compose writes it a file of its own
    ("compose", "composed", ()),
    ("delete", "inline", ()),
]


def body(key: str, number: int) -> bytes:
    """The bytes operation `number` writes under key: distinct per key and operation."""
    kind, _, sizes = OPERATIONS[number]
    if kind == "batch":
        size = sizes[int(key.rsplit("-", 1)[1])]
    else:
        size = sizes[0]
    seed = hashlib.sha256(f"{key}/{number}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Killer:
    """Counts calls at one step and kills this process on the nth."""

    def __init__(self, nth: int) -> None:
        self.nth, self.calls = nth, 0

    def count(self) -> None:
        self.calls += 1
        if self.calls == self.nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def around(self, fn: Callable[..., Any], after: bool) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not after:
                self.count()
            result = fn(*args, **kwargs)
            if after:
                self.count()
            return result

        return wrapper

    def install(self, step: str, after: bool) -> None:
        if step != "transaction":
            setattr(os, step, self.around(getattr(os, step), after))
            return
        original = Index.transaction

        @contextlib.contextmanager
        def transaction(index: Index) -> Iterator[Tx]:
            if not after:
                self.count()
            with original(index) as tx:
                yield tx
            if after:
                self.count()  # committed

        setattr(Index, "transaction", transaction)  # noqa: B010 - patching the class


def perform(store: DiskStore) -> None:
    ts = 0
    parts: list[tuple[str, str]] = []
    for number, (kind, key, sizes) in enumerate(OPERATIONS):
        print("begin", number, flush=True)
        ts += 10
        version = f"v{ts:06d}"
        if kind in ("put", "part"):
            data = body(key, number)
            pending = store.begin_write("parts" if kind == "part" else "b", key, version, ts)
            for i in range(0, len(data), 300_000):
                pending.write(data[i : i + 300_000])
            pending.commit(len(data), b"m")
            if kind == "part":
                parts.append((key, version))
        elif kind == "batch":
            rows = []
            for i, size in enumerate(sizes):
                pending = store.begin_write("b", f"{key}-{i}", f"{version}{i}", ts)
                pending.write(body(f"{key}-{i}", number))
                rows.append(pending.seal(size, b"m"))
            store.apply_many(rows)
        elif kind == "compose":
            store.compose("b", key, version, ts, "parts", parts, b"m")
        elif kind == "delete":
            store.tombstone("b", key, version, ts)
        print("acked", number, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    where, nth, root = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    step, _, when = where.rpartition("-")
    Killer(nth).install(step, when == "after")
    perform(DiskStore(root))
