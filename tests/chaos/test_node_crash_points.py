"""Chaos, made deterministic: a storage node's disk store is SIGKILLed at every point
where it touches the disk (each fsync, rename, unlink and index transaction, before and
after), and after a restart every object it shows is whole.

The writer runs in a child process that wraps those calls to kill itself on the Nth one,
for N = 1, 2, ... until a run gets through. After each kill the parent opens the store
as a restarted node would (recovery runs) and checks that:

- every key shows the state of its last acknowledged operation, or of the one that was
  in flight when the process died (never a mix, never a third state);
- every version the index shows reads back whole, its block CRCs verified: no row
  points at bytes that are missing or partial (a half-visible object);
- no temporary file and no data file that no row owns is left behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage_node.diskstore import DiskStore, NotFound
from tests.chaos.crash_writer import OPERATIONS, body

ROOT = Path(__file__).resolve().parents[2]

POINTS = [
    "fsync-before",
    "fsync-after",
    "rename-before",
    "rename-after",
    "unlink-before",
    "transaction-before",
    "transaction-after",
]
MAX_CALLS = 60  # more than the operations touch the disk at any one point


def _states(acked: int, in_flight: int | None) -> dict[str, set[bytes | None]]:
    """Per key of bucket b, the states a restarted store may show: after the last
    acknowledged operation, or after the one in flight (None: absent or deleted)."""

    def apply(state: dict[str, bytes | None], number: int) -> None:
        kind, key, sizes = OPERATIONS[number]
        if kind == "put":
            state[key] = body(key, number)
        elif kind == "batch":
            for i in range(len(sizes)):
                state[f"{key}-{i}"] = body(f"{key}-{i}", number)
        elif kind == "compose":
            parts = [n for n, op in enumerate(OPERATIONS) if op[0] == "part"]
            state[key] = b"".join(body(OPERATIONS[n][1], n) for n in parts)
        elif kind == "delete":
            state[key] = None

    state: dict[str, bytes | None] = {}
    for number in range(acked + 1):
        apply(state, number)
    keys = [
        f"{key}-{i}"
        for kind, key, sizes in OPERATIONS
        if kind == "batch"
        for i in range(len(sizes))
    ]
    keys += [key for kind, key, _ in OPERATIONS if kind in ("put", "compose")]
    allowed = {key: {state.get(key)} for key in keys}
    if in_flight is not None:
        after = dict(state)
        apply(after, in_flight)
        for key in keys:
            allowed[key].add(after.get(key))
    return allowed


def _run_child(where: str, nth: int, root: Path) -> tuple[int, int, bool]:
    """Run the writer until its nth call at `where`; (last acked, last begun, finished)."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.chaos.crash_writer", where, str(nth), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,  # -m imports this checkout from the working directory
    )
    lines = result.stdout.split()
    finished = "done" in lines
    if not finished:
        assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    acked = begun = -1
    for word, value in zip(lines, lines[1:], strict=False):
        if word == "acked":
            acked = int(value)
        elif word == "begin":
            begun = int(value)
    return acked, begun, finished


def _check_restarted(root: Path, acked: int, begun: int) -> None:
    store = DiskStore(root)  # what a restarted node does first: recover
    assert list(store.tmp_dir.iterdir()) == []
    owned = store.index.version_ids()
    on_disk = {p.name for shard in store.objects_dir.iterdir() for p in shard.iterdir()}
    assert on_disk <= owned, f"data files no row owns: {sorted(on_disk - owned)}"
    in_flight = begun if begun > acked else None
    for key, allowed in _states(acked, in_flight).items():
        row = store.head("b", key)
        if row is None or row.deleted:
            shown = None
        else:
            _, chunks = store.read("b", key, row.version_id, 0, 0, 1 << 20)
            shown = b"".join(chunks)  # raises Corrupted or NotFound if not whole
            assert len(shown) == row.size
        assert shown in allowed, f"{key}: {None if shown is None else len(shown)} bytes"
    # The parts the loop above did not read are whole too.
    for row in store.index.list("parts", "", "", 1000)[0]:
        if not row.deleted:
            try:
                store.whole(row)
            except NotFound as exc:
                raise AssertionError(f"parts/{row.key} is listed but {exc}") from exc


@pytest.mark.parametrize("where", POINTS)
def test_a_kill_at_any_disk_step_leaves_only_whole_objects(where: str, tmp_path: Path) -> None:
    for nth in range(1, MAX_CALLS + 1):
        root = tmp_path / f"{where}-{nth}"
        acked, begun, finished = _run_child(where, nth, root)
        if finished:
            assert acked == len(OPERATIONS) - 1
            break
        _check_restarted(root, acked, begun)
    else:
        pytest.fail(f"the writer still touched {where} after {MAX_CALLS} calls")
    assert nth > 1, f"the writer never reached {where}"
