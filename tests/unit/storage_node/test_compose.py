"""DiskStore compose, delete_prefix, namespaces and recovery of composed versions."""

import dataclasses
import os
import sqlite3

import pytest

from storage_node import diskstore
from storage_node.diskstore import (
    BLOCK_SIZE,
    INLINE_LIMIT,
    Corrupted,
    DiskStore,
    NotFound,
    SourceMissing,
)

# Two file-backed parts with unaligned sizes and an inline last part.
SIZES = (BLOCK_SIZE + 12_345, 2 * BLOCK_SIZE + 777, 1_000)


@pytest.fixture
def store(tmp_path):
    return DiskStore(tmp_path)


@pytest.fixture
def parts(store):
    """Three uploaded parts in namespace "up"; returns (sources, their bytes)."""
    datas = [os.urandom(size) for size in SIZES]
    sources = []
    for n, data in enumerate(datas, start=1):
        key, version = f"u1/{n:05d}", f"p{n}"
        assert _put(store, key, data, n, version, bucket="up")
        sources.append((key, version))
    return sources, datas


def _put(store, key, data, ts, version, bucket="b"):
    pending = store.begin_write(bucket, key, version, ts)
    for i in range(0, len(data), 300_000):
        pending.write(data[i : i + 300_000])
    return pending.commit(len(data), b"m")


def _read(store, key, offset=0, length=0, version="", chunk=1 << 20, bucket="b"):
    _, chunks = store.read(bucket, key, version, offset, length, chunk)
    return b"".join(chunks)


def _compose(store, sources, key="obj", version="vc", ts=100):
    applied, _ = store.compose("b", key, version, ts, "up", sources, b"meta")
    return applied


def _files(store):
    return sorted(p.name for p in store.objects_dir.rglob("*") if p.is_file())


def test_compose_reads_every_range_across_boundaries(store, parts):
    sources, datas = parts
    whole = b"".join(datas)
    assert _compose(store, sources)
    row = store.head("b", "obj")
    assert (row.version_id, row.size, row.meta) == ("vc", len(whole), b"meta")
    assert row.segments == (("p1", SIZES[0]), ("p2", SIZES[1]), ("p3", SIZES[2]))
    assert _read(store, "obj") == whole
    a, b = SIZES[0], SIZES[0] + SIZES[1]
    edges = [0, BLOCK_SIZE, a, a + BLOCK_SIZE, a + 2 * BLOCK_SIZE, b, len(whole)]
    for edge in edges:
        for offset in {max(edge - 1, 0), edge, min(edge + 1, len(whole))}:
            for length in (1, 2, 3_000, BLOCK_SIZE + 5, 0):
                expected = whole[offset : offset + length if length else None]
                assert _read(store, "obj", offset, length, "vc") == expected, (offset, length)


def test_composed_chunks_are_bounded(store, parts):
    sources, datas = parts
    _compose(store, sources)
    _, chunks = store.read("b", "obj", "", 5, 0, 64 * 1024)
    sizes = [len(c) for c in chunks]
    assert max(sizes) == 64 * 1024 and sum(sizes) == sum(SIZES) - 5


def test_compose_moves_ownership_of_files(store, parts):
    sources, _ = parts
    _compose(store, sources)
    for key, _ in sources:
        assert store.head("up", key) is None
    # The inline part got a data file; the others kept theirs.
    assert _files(store) == ["p1", "p2", "p3"]
    assert store.stats() == (1, sum(SIZES))


def test_small_composed_version_is_whole_readable(store):
    _put(store, "s1", b"hello ", 1, "s1", bucket="up")
    _put(store, "s2", b"world", 2, "s2", bucket="up")
    assert _compose(store, [("s1", "s1"), ("s2", "s2")])
    assert store.whole(store.head("b", "obj")) == b"hello world"
    assert _read(store, "obj", 4, 4) == b"o wo"


def test_missing_source_fails_and_changes_nothing(store, parts):
    sources, datas = parts
    before = _files(store)
    with pytest.raises(SourceMissing, match="u1/00009"):
        _compose(store, [*sources, ("u1/00009", "p9")])
    assert store.head("b", "obj") is None
    for (key, _), data in zip(sources, datas, strict=True):
        assert _read(store, key, bucket="up") == data
    assert _files(store) == before  # the inline part's file written for it is gone


def test_version_mismatch_and_tombstone_fail(store, parts):
    sources, _ = parts
    with pytest.raises(SourceMissing, match="u1/00002"):
        _compose(store, [sources[0], ("u1/00002", "other"), sources[2]])
    store.tombstone("up", "u1/00001", "t1", 50)
    with pytest.raises(SourceMissing, match="u1/00001"):
        _compose(store, sources)
    assert store.head("b", "obj") is None


def test_bad_input_is_rejected(store, parts):
    sources, _ = parts
    with pytest.raises(ValueError):
        _compose(store, [])
    with pytest.raises(ValueError):
        _compose(store, sources, version="../x")
    with pytest.raises(ValueError):
        _compose(store, [("u1/00001", "a/b")])


def test_newer_version_wins_and_sources_are_dropped(store, parts):
    sources, _ = parts
    assert _put(store, "obj", b"newer", 500, "vnewer")
    assert not _compose(store, sources, ts=100)
    assert _read(store, "obj") == b"newer"
    for key, _ in sources:
        assert store.head("up", key) is None
    assert _files(store) == []
    # A retry of the compose that lost still says "not applied".
    assert not _compose(store, sources, ts=100)


def test_retried_compose_is_idempotent(store, parts):
    sources, datas = parts
    assert _compose(store, sources)
    assert _compose(store, sources)
    assert store.compose("b", "obj", "vc", 100, "up", sources, b"") == (True, sum(SIZES))
    assert _read(store, "obj") == b"".join(datas)


@pytest.mark.parametrize("replace", ["put", "tombstone", "inline put"])
def test_replacing_a_composed_version_removes_its_segments(store, parts, replace):
    sources, _ = parts
    _compose(store, sources)
    if replace == "put":
        _put(store, "obj", b"x" * (INLINE_LIMIT + 1), 200, "vnext")
        assert _files(store) == ["vnext"]
    elif replace == "tombstone":
        store.tombstone("b", "obj", "t", 200)
        assert _files(store) == []
    else:
        _put(store, "obj", b"x", 200, "vnext")
        assert _files(store) == []


def test_composing_a_composed_version_flattens_segments(store, parts):
    sources, datas = parts
    store.compose("up", "half", "vh", 10, "up", sources[:2], b"")
    assert store.compose("b", "obj", "vc", 20, "up", [("half", "vh"), sources[2]], b"")[0]
    assert store.head("b", "obj").segments == (("p1", SIZES[0]), ("p2", SIZES[1]), ("p3", 1000))
    start = SIZES[0] - 3
    assert _read(store, "obj", start, SIZES[1] + 10) == b"".join(datas)[start:][: SIZES[1] + 10]


def test_key_composed_from_itself_keeps_its_file(store, parts):
    sources, datas = parts
    assert store.compose("up", "u1/00001", "vself", 99, "up", sources, b"")[0]
    assert _read(store, "u1/00001", bucket="up") == b"".join(datas)
    assert _files(store) == ["p1", "p2", "p3"]


def test_corrupted_segment_block_is_detected(store, parts):
    sources, datas = parts
    _compose(store, sources)
    path = store.data_path("p2")
    raw = bytearray(path.read_bytes())
    raw[BLOCK_SIZE + 3] ^= 0xFF  # second block of the second segment
    path.write_bytes(raw)
    with pytest.raises(Corrupted, match="p2"):
        _read(store, "obj")
    # Ranges that avoid the bad block still read.
    start = SIZES[0] - 10
    assert _read(store, "obj", start, 20) == b"".join(datas)[start : start + 20]


def test_missing_segment_file_is_not_found(store, parts):
    sources, _ = parts
    _compose(store, sources)
    store.remove_data("p1")
    with pytest.raises(NotFound):
        store.read("b", "obj", "", 0, 0, 1 << 20)


def test_restart_keeps_composed_versions(tmp_path, store, parts):
    sources, datas = parts
    _compose(store, sources)
    again = DiskStore(tmp_path)
    assert _files(again) == ["p1", "p2", "p3"]
    assert _read(again, "obj") == b"".join(datas)
    assert again.stats() == (1, sum(SIZES))


def test_delete_prefix_removes_rows_and_files(store, parts, monkeypatch):
    monkeypatch.setattr(diskstore, "DELETE_BATCH", 2)  # exercise several batches
    sources, _ = parts
    store.compose("up", "u1/whole", "vw", 10, "up", sources[:2], b"")
    _put(store, "u1/tiny", b"t", 1, "tiny", bucket="up")
    _put(store, "u1/00003x", b"y" * (INLINE_LIMIT + 1), 1, "big", bucket="up")
    store.tombstone("up", "u1/gone", "tomb", 1)
    _put(store, "u2/00001", b"keep", 1, "keep", bucket="up")
    _put(store, "u1/00001", b"other ns", 1, "otherns", bucket="b")
    assert store.delete_prefix("up", "u1/") == 5
    assert [r.key for r in store.index.list("up", "", "", 100)[0]] == ["u2/00001"]
    assert store.head("b", "u1/00001") is not None
    assert _files(store) == []
    assert store.delete_prefix("up", "u1/") == 0


def test_delete_prefix_takes_special_characters_literally(store):
    for n, key in enumerate(["a%/1", "a%/2", "ab/1", "a_/1", "a%"]):
        _put(store, key, b"x", 1, f"v{n}")
    assert store.delete_prefix("b", "a%/") == 2
    assert [r.key for r in store.index.list("b", "", "", 10)[0]] == ["a%", "a_/1", "ab/1"]


def test_namespaces(store):
    for bucket in ["alpha", "beta", "alpha2", "a_c", "zeta"]:
        _put(store, "k", b"x", 1, "v" + bucket, bucket=bucket)
    _put(store, "k2", b"x", 1, "vk2", bucket="alpha")
    store.tombstone("tomb", "k", "t", 1)
    assert store.namespaces("") == ["a_c", "alpha", "alpha2", "beta", "tomb", "zeta"]
    assert store.namespaces("al") == ["alpha", "alpha2"]
    assert store.namespaces("a_") == ["a_c"]
    assert store.namespaces("q") == []


def test_old_database_is_migrated(tmp_path):
    db = sqlite3.connect(tmp_path / "index.sqlite3")
    db.execute(
        "CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT"
        " NULL, ts INTEGER NOT NULL, size INTEGER NOT NULL, deleted INTEGER NOT NULL, meta"
        " BLOB NOT NULL, crcs BLOB NOT NULL, inline BLOB, PRIMARY KEY (bucket, key))"
        " WITHOUT ROWID"
    )
    db.execute(
        "INSERT INTO objects VALUES ('b','k','v1',1,3,0,x'',?,x'616263')",
        (diskstore.struct.pack("<I", diskstore.zlib.crc32(b"abc")),),
    )
    db.commit()
    db.close()
    store = DiskStore(tmp_path)
    assert _read(store, "k") == b"abc"
    _put(store, "p", b"part", 1, "vp", bucket="up")
    assert store.compose("b", "c", "vc", 5, "up", [("p", "vp")], b"")[0]
    assert _read(DiskStore(tmp_path), "c") == b"part"


def test_later_segment_vanishing_mid_read_is_not_found(store, parts):
    sources, _ = parts
    _compose(store, sources)
    _, chunks = store.read("b", "obj", "", 0, 0, 1 << 20)
    store.remove_data("p3")  # e.g. the version was replaced while being read
    with pytest.raises(NotFound):
        b"".join(chunks)


def test_corrupted_inline_source_fails_and_leaves_no_files(store):
    _put(store, "s1", b"a" * 10, 1, "s1", bucket="up")
    _put(store, "s2", b"b" * 10, 2, "s2", bucket="up")
    with store.index.transaction() as tx:
        row = tx.get("up", "s2")
        tx.put(dataclasses.replace(row, inline=b"c" * 10))
    with pytest.raises(Corrupted):
        _compose(store, [("s1", "s1"), ("s2", "s2")])
    assert _files(store) == []
    assert store.head("b", "obj") is None
