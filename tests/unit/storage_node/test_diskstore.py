import os

import pytest

from storage_node.diskstore import BLOCK_SIZE, INLINE_LIMIT, Corrupted, DiskStore, NotFound


@pytest.fixture
def store(tmp_path):
    return DiskStore(tmp_path)


def _put(store, key, data, ts, version=None, meta=b"m"):
    version = version or f"v{ts:08d}"
    pending = store.begin_write("b", key, version, ts)
    for i in range(0, len(data), 300_000):
        pending.write(data[i : i + 300_000])
    return pending.commit(len(data), meta)


def _read(store, key, offset=0, length=0, version=""):
    _, chunks = store.read("b", key, version, offset, length, 1 << 20)
    return b"".join(chunks)


def test_put_read_ranges_across_blocks(store):
    data = os.urandom(3 * BLOCK_SIZE + 12345)
    assert _put(store, "k", data, 10)
    assert _read(store, "k") == data
    for offset, length in [
        (0, 1),
        (BLOCK_SIZE - 1, 2),
        (BLOCK_SIZE * 2 + 7, BLOCK_SIZE),
        (len(data) - 5, 0),
    ]:
        assert (
            _read(store, "k", offset, length) == data[offset : offset + length if length else None]
        )


def test_last_writer_wins_and_old_file_is_removed(store):
    assert _put(store, "k", b"new", 20, "vnew")
    assert not _put(store, "k", b"old", 10, "vold")  # late replica of an older write
    assert _read(store, "k") == b"new"
    assert not store.data_path("vold").exists()
    assert _put(store, "k", b"newer", 30, "vnewer")
    assert not store.data_path("vnew").exists()


def test_tombstone_hides_and_older_put_stays_hidden(store):
    _put(store, "k", b"data", 10, "v1")
    assert store.tombstone("b", "k", "t1", 20)
    assert store.head("b", "k").deleted
    with pytest.raises(NotFound):
        _read(store, "k")
    assert not _put(store, "k", b"stale", 15, "v2")


def test_uncommitted_write_leaves_nothing(store, tmp_path):
    pending = store.begin_write("b", "k", "v1", 1)
    pending.write(b"partial")
    pending.abort()
    assert store.head("b", "k") is None
    assert list(store.tmp_dir.iterdir()) == []


def test_crash_leftovers_are_cleaned_on_restart(tmp_path):
    store = DiskStore(tmp_path)
    _put(store, "k", b"kept", 1, "vkept")
    (store.tmp_dir / "half-written").write_bytes(b"x")
    orphan = store.data_path("vorphan")
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"renamed but never indexed")
    again = DiskStore(tmp_path)
    assert not orphan.exists()
    assert list(again.tmp_dir.iterdir()) == []
    assert _read(again, "k") == b"kept"


def test_corruption_is_detected_before_bytes_leave(store):
    data = os.urandom(BLOCK_SIZE + 10)
    _put(store, "k", data, 1, "vc")
    path = store.data_path("vc")
    raw = bytearray(path.read_bytes())
    raw[5] ^= 0xFF
    path.write_bytes(raw)
    with pytest.raises(Corrupted):
        _read(store, "k")


def test_list_with_prefix_start_after_and_limit(store):
    for key in ["a", "a/1", "a/2", "b", "b/1", "c"]:
        _put(store, key, b"x", 1, "v" + key.replace("/", "_"))
    rows, complete = store.index.list("b", "a/", "", 10)
    assert [r.key for r in rows] == ["a/1", "a/2"] and complete
    rows, complete = store.index.list("b", "", "a/1", 2)
    assert [r.key for r in rows] == ["a/2", "b"] and not complete
    rows, complete = store.index.list("b", "", "b", 10)
    assert [r.key for r in rows] == ["b/1", "c"] and complete


def test_keys_never_become_paths(store):
    _put(store, "../../etc/passwd", b"x" * (INLINE_LIMIT + 1), 1, "vsafe")
    files = [p.name for p in store.objects_dir.rglob("*") if p.is_file()]
    assert files == ["vsafe"]
    with pytest.raises(ValueError):
        store.begin_write("b", "k", "../evil", 1)


def test_small_objects_live_in_the_index(tmp_path):
    store = DiskStore(tmp_path)
    _put(store, "small", b"tiny", 1, "vsmall")
    _put(store, "limit", b"L" * INLINE_LIMIT, 1, "vlimit")
    assert [p for p in store.objects_dir.rglob("*") if p.is_file()] == []
    again = DiskStore(tmp_path)
    assert _read(again, "small") == b"tiny"
    assert _read(again, "limit", 5, 10) == b"L" * 10
    assert again.whole(again.head("b", "small")) == b"tiny"
    # Replacing a file-backed version with an inline one removes the file.
    _put(again, "grow", b"G" * (INLINE_LIMIT + 1), 1, "vbig")
    assert again.data_path("vbig").exists()
    _put(again, "grow", b"g", 2, "vsmall2")
    assert not again.data_path("vbig").exists()
    assert _read(again, "grow") == b"g"


def test_replaying_the_same_version_keeps_its_file(store):
    data = os.urandom(INLINE_LIMIT + 10)
    assert _put(store, "k", data, 5, "vsame")
    assert _put(store, "k", data, 5, "vsame")  # a retry: idempotent, not "older"
    assert store.data_path("vsame").exists()
    assert _read(store, "k") == data


def test_commit_timestamp_overrides_the_header(store):
    pending = store.begin_write("b", "k", "vlate", 1)
    pending.write(b"late")
    assert pending.commit(4, b"m", ts=100)
    assert store.head("b", "k").ts == 100
    assert not _put(store, "k", b"early", 50, "vearly")  # began later, finished earlier
    assert _read(store, "k") == b"late"


def test_many_tombstones_in_one_transaction_drop_the_data(store):
    big = os.urandom(INLINE_LIMIT + 10)
    _put(store, "a", big, 10)
    _put(store, "b", b"small", 10)
    _put(store, "c", b"newer than the delete", 500)
    files_before = len(list((store.root / "objects").rglob("*")))
    applied = store.tombstones(
        [("b", "a", "t1", 100, False), ("b", "b", "t2", 100, False), ("b", "c", "t3", 100, False)]
    )
    assert applied == [True, True, False]  # c was written after the delete: last writer wins
    assert store.head("b", "a").deleted and store.head("b", "b").deleted
    assert not store.head("b", "c").deleted
    assert len(list((store.root / "objects").rglob("*"))) < files_before  # a's data file went
    with pytest.raises(NotFound):
        _read(store, "a")


def test_sweep_removes_only_files_no_row_names_that_nothing_touched_lately(store):
    import time

    big = os.urandom(INLINE_LIMIT + 1)
    _put(store, "kept", big, 10)
    named = store.data_path("v00000010")
    old_orphan = store.data_path("0a" + "1" * 30)
    new_orphan = store.data_path("0b" + "2" * 30)
    old_tmp, new_tmp = store.tmp_dir / "abandoned", store.tmp_dir / "in-progress"
    for path in (old_orphan, new_orphan, old_tmp, new_tmp):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    hours_ago = time.time() - 7200
    for path in (named, old_orphan, old_tmp):
        os.utime(path, (hours_ago, hours_ago))
    assert store.sweep(3600) == 2
    assert named.exists() and new_orphan.exists() and new_tmp.exists()
    assert not old_orphan.exists() and not old_tmp.exists()
    assert store.sweep() == 2  # at start-up: every file no row names
    assert named.exists()


def _write(store, bucket, key, data, ts, versioned=False):
    pending = store.begin_write(bucket, key, f"v{bucket.replace('/', '_')}{ts:08d}", ts, versioned)
    pending.write(data)
    return pending.commit(len(data), b"m")


def test_bucket_stats_count_live_current_versions_per_namespace(store):
    big = os.urandom(INLINE_LIMIT + 10)
    assert _write(store, "b", "small", b"abc", 10)
    assert _write(store, "b", "big", big, 11)
    assert _write(store, "b", "gone", b"12345", 12)
    assert store.tombstone("b", "gone", "t1", 13)  # deleted: neither counted nor its bytes
    assert _write(store, "only-deleted", "k", b"x", 14)
    assert store.tombstone("only-deleted", "k", "t2", 15)
    # A versioned bucket: the current version counts, with its bytes only.
    assert _write(store, "v", "k", b"x" * 10, 20, versioned=True)
    assert _write(store, "v", "k", b"y" * 20, 21, versioned=True)
    assert _write(store, "v", "marked", b"z", 22, versioned=True)
    assert store.tombstone("v", "marked", "m1", 23, versioned=True)  # a delete marker
    # Internal namespaces are reported under their own names.
    assert _write(store, ".ec/b", "k", b"f" * 7, 30)

    assert store.bucket_stats() == [
        (".ec/b", 1, 7),
        ("b", 2, 3 + len(big)),
        ("v", 1, 20),
    ]
    objects, _ = store.stats()
    assert sum(count for _, count, _ in store.bucket_stats()) == objects


def test_bucket_stats_of_an_empty_store(store):
    assert store.bucket_stats() == []
