"""The mover's pieces without etcd: grouping and placement of stored keys, the job as
the Admin service shows it, and copies of every kind of version from one DiskStore to
another node's real Storage service (in this process)."""

from __future__ import annotations

import hashlib
import os
from concurrent import futures

import grpc
import pytest

from coordinator.placement import NodeEntry, replicas_for
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node import mover
from storage_node.diskstore import INLINE_LIMIT, DiskStore
from storage_node.index import Row
from storage_node.service import StorageService


def _row(bucket: str, key: str, version: str = "v1", ts: int = 1) -> Row:
    return Row(bucket, key, version, ts, 0, False, b"", b"")


def test_rows_grouped_by_key_in_order() -> None:
    rows = [_row("b", "a", "v2"), _row("b", "a", "v1"), _row("b", "b"), _row("c", "b")]
    groups = [([r.version_id for r in g], end) for g, end in mover.by_key(rows)]
    assert groups == [(["v2", "v1"], True), (["v1"], True), (["v1"], True)]
    assert list(mover.by_key([])) == []
    many = [_row("b", "a", f"v{i}") for i in range(5)] + [_row("b", "z")]
    batches = [(len(g), end) for g, end in mover.by_key(many, limit=2)]
    assert batches == [(2, False), (2, False), (1, True), (1, True)]


def test_parts_are_placed_with_their_upload_object() -> None:
    known = {("photos", "u1"): "cat.jpg"}

    def upload_key(bucket: str, upload_id: str) -> str | None:
        return known.get((bucket, upload_id))

    assert mover.placed_as("photos", "cat.jpg", upload_key) == ("photos", "cat.jpg")
    assert mover.placed_as(".parts/photos", "u1/00001", upload_key) == ("photos", "cat.jpg")
    # The upload is gone (completed, aborted, expired): the part belongs nowhere.
    assert mover.placed_as(".parts/photos", "u2/00001", upload_key) is None
    # Not a part key after all: placed as itself.
    assert mover.placed_as(".parts/photos", "odd", upload_key) == (".parts/photos", "odd")


def test_targets_leave_out_the_draining_node() -> None:
    nodes = [NodeEntry(f"n{i}", f"h:{i}", f"z{i}") for i in range(4)]
    for key in (f"k{i}" for i in range(50)):
        before = {n.node_id for n in replicas_for(nodes, "b", key)}
        if "n0" not in before:
            continue
        draining = [NodeEntry("n0", "h:0", "z0", state="draining"), *nodes[1:]]
        after = {n.node_id for n in mover.targets(draining, "n0", "b", key)}
        assert len(after) == 3 and "n0" not in after
        assert before - {"n0"} <= after  # the others keep it: one new copy each
        return
    pytest.fail("no key placed on n0")


def test_hlc_of_matches_the_clock() -> None:
    from coordinator.clock import to_seconds

    assert to_seconds(mover.hlc_of(1_700_000_000.5)) == 1_700_000_000.5


def test_job_message_from_a_record() -> None:
    from coordinator.drain import new_record

    record = {
        **new_record("n4", now=10.0),
        "state": "running",
        "versions_done": 5,
        "versions_total": 10,
        "keys_done": 2,
        "keys_total": 4,
        "bytes_done": 100,
        "bytes_total": 1000,
        "errors": 1,
        "last_errors": ["x → n2: UNAVAILABLE"],
    }
    job = mover.job_message(record)
    assert (job.name, job.state, job.done, job.total, job.unit) == (
        "drain",
        "running",
        5,
        10,
        "versions",
    )
    assert [(m.unit, m.done, m.total) for m in job.measures] == [
        ("keys", 2, 4),
        ("bytes", 100, 1000),
    ]
    assert (job.errors, list(job.last_errors), job.started) == (1, ["x → n2: UNAVAILABLE"], 10.0)


# --- copies to a real Storage service ----------------------------------------------------------


@pytest.fixture
def pair(tmp_path):
    """(source store, target node entry, target stub, copier)."""
    source = DiskStore(tmp_path / "source")
    target = DiskStore(tmp_path / "target")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_StorageServicer_to_server(StorageService(target, "t", "z"), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    node = NodeEntry("t", f"127.0.0.1:{port}", "z")
    copier = mover.Copier(source)
    try:
        yield source, node, copier.stub(node), copier
    finally:
        copier.close()
        server.stop(grace=None).wait()


def _put(store, key, data, ts, versioned=False, version=None, bucket="b", meta=b"m"):
    version = version or f"v{ts:08d}"
    pending = store.begin_write(bucket, key, version, ts, versioned)
    for i in range(0, len(data), 300_000):
        pending.write(data[i : i + 300_000])
    assert pending.commit(len(data), meta)
    return store.index.version(bucket, key, version)


def _get(stub, key, version, bucket="b"):
    chunks = stub.GetObject(pb.GetRequest(bucket=bucket, key=key, version_id=version))
    info, data = None, b""
    for chunk in chunks:
        info = info or chunk.info
        data += chunk.data
    return info, data


@pytest.mark.parametrize("size", [0, 100, INLINE_LIMIT + 1, 3 * (1 << 20) + 7])
def test_copy_keeps_bytes_id_timestamp_and_meta(pair, size) -> None:
    source, node, stub, copier = pair
    data = os.urandom(size)
    row = _put(source, "k", data, 42, versioned=True, meta=b"meta!")
    assert not copier.holds(node, row)
    assert copier.copy(node, row) is True
    assert copier.holds(node, row)
    info, got = _get(stub, "k", row.version_id)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert (info.version_id, info.timestamp, info.meta, info.versioned) == (
        row.version_id,
        42,
        b"meta!",
        True,
    )
    assert copier.copy(node, row) is True  # the same version again: idempotent


def test_copy_of_markers_tombstones_and_older_versions(pair) -> None:
    source, node, stub, copier = pair
    old = _put(source, "k", b"old", 10, versioned=True)
    new = _put(source, "k", b"new", 20, versioned=True)
    source.tombstone("b", "k", "marker", 30, versioned=True)
    source.tombstone("b", "gone", "tomb", 5, versioned=False)
    rows, _ = source.index.list_versions("b", "", None, 100)
    for row in rows:
        assert copier.copy(node, row)
    head = stub.HeadObject(pb.HeadRequest(bucket="b", key="k"))
    assert (head.version_id, head.deleted, head.versioned) == ("marker", True, True)
    assert _get(stub, "k", old.version_id)[1] == b"old"
    assert _get(stub, "k", new.version_id)[1] == b"new"
    tomb = stub.HeadObject(pb.HeadRequest(bucket="b", key="gone", version_id="tomb"))
    assert tomb.found and tomb.deleted and not tomb.versioned


def test_an_older_null_version_does_not_replace_a_newer_one(pair) -> None:
    source, node, stub, copier = pair
    stale = _put(source, "k", b"stale", 10)
    newer = pb.PutWhole(
        header=pb.PutHeader(bucket="b", key="k", version_id="fresh", timestamp=20),
        data=b"fresh",
        commit=pb.PutCommit(size=5),
    )
    stub.PutObjectWhole(newer)
    assert not copier.holds(node, stale)
    assert copier.copy(node, stale) is False  # superseded: nothing to move
    assert stub.HeadObject(pb.HeadRequest(bucket="b", key="k")).version_id == "fresh"


def test_a_composed_version_is_copied_whole(pair) -> None:
    source, node, stub, copier = pair
    parts = [os.urandom(INLINE_LIMIT + 5), os.urandom(1000)]
    for number, data in enumerate(parts, 1):
        _put(source, f"u/{number:05d}", data, number, version=f"p{number}", bucket=".parts/b")
    sources = [("u/00001", "p1"), ("u/00002", "p2")]
    assert source.compose("b", "obj", "whole", 9, ".parts/b", sources, b"mp")[0]
    row = source.index.version("b", "obj", "whole")
    assert row is not None and row.segments
    assert copier.copy(node, row)
    assert _get(stub, "obj", "whole")[1] == b"".join(parts)


# --- one pass, with etcd left out --------------------------------------------------------------


class QuietRun(mover.Run):
    """A Run that writes no progress to etcd and knows uploads from a dict."""

    def __init__(self, the_mover, uploads):
        super().__init__(the_mover, client=None, job=None)  # type: ignore[arg-type]
        self.known = uploads

    def write(self, changes, force=True):
        pass

    def upload_key(self, bucket, upload_id):
        return self.known.get((bucket, upload_id))


def test_one_pass_copies_what_is_missing_and_skips_orphan_parts(pair, monkeypatch) -> None:
    source, node, stub, _ = pair
    the_mover = mover.Mover(source, "me", connect=lambda: None)  # type: ignore[arg-type,return-value]
    monkeypatch.setattr(the_mover, "_draining", lambda: True)
    _put(source, "a", b"a" * 10, 1)
    _put(source, "b", os.urandom(INLINE_LIMIT * 2), 2, versioned=True)
    _put(source, "b", b"b2", 3, versioned=True)
    _put(source, "u1/00001", b"part", 4, bucket=".parts/b")
    _put(source, "u9/00001", b"orphan", 5, bucket=".parts/b")
    stub.PutObjectWhole(  # the target has "a" already
        pb.PutWhole(
            header=pb.PutHeader(bucket="b", key="a", version_id="v00000001", timestamp=1),
            data=b"a" * 10,
            commit=pb.PutCommit(size=10, meta=b"m"),
        )
    )
    run = QuietRun(the_mover, {("b", "u1"): "obj"})
    keys_total, versions_total, bytes_total = source.index.inventory()
    assert (keys_total, versions_total) == (4, 5)
    run.one_pass([node], since=None)
    tally = run.tally
    assert (tally.copied, tally.present, tally.skipped, tally.errors) == (3, 1, 1, 0)
    assert (tally.keys_done, tally.versions_done) == (4, 5)
    assert tally.bytes_done == bytes_total
    part = stub.HeadObject(pb.HeadRequest(bucket=".parts/b", key="u1/00001"))
    assert part.found
    assert not stub.HeadObject(pb.HeadRequest(bucket=".parts/b", key="u9/00001")).found
    # A catch-up pass looks only at versions stamped since the given time.
    _put(source, "late", b"late", 100)
    run.one_pass([node], since=100)
    assert (run.tally.copied, run.tally.versions_done) == (4, 5)
    # A node that does not answer: errors, counted, and the node skipped after a few.
    gone = NodeEntry("gone", "127.0.0.1:1", "z")
    run.one_pass([gone], since=None)
    assert run.tally.errors == 5 and "UNAVAILABLE" in run.tally.last_errors[0]
    the_mover.copier.close()
