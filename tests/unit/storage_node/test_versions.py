"""Versions on one storage node: versioned writes keep older versions, the
null version replaces itself, deletes by id promote the next newest."""

import os

import pytest

from storage_node.diskstore import INLINE_LIMIT, DiskStore, NotFound


@pytest.fixture
def store(tmp_path):
    return DiskStore(tmp_path)


def _put(store, key, data, ts, versioned, version=None):
    version = version or f"v{ts:08d}"
    pending = store.begin_write("b", key, version, ts, versioned)
    pending.write(data)
    return pending.commit(len(data), b"m")


def _read(store, key, version=""):
    _, chunks = store.read("b", key, version, 0, 0, 1 << 20)
    return b"".join(chunks)


def _versions(store, key="k"):
    rows, complete = store.index.list_versions("b", key, None, 100)
    assert complete
    return [(r.version_id, r.deleted, r.versioned) for r in rows if r.key == key]


def test_versioned_writes_keep_every_version_newest_current(store):
    big = os.urandom(INLINE_LIMIT + 10)
    assert _put(store, "k", b"one", 10, True)
    assert _put(store, "k", big, 20, True)
    assert _put(store, "k", b"three", 30, True)
    assert store.head("b", "k").version_id == "v00000030"
    assert _versions(store) == [
        ("v00000030", False, True),
        ("v00000020", False, True),
        ("v00000010", False, True),
    ]
    assert _read(store, "k", "v00000020") == big
    assert _read(store, "k", "v00000010") == b"one"


def test_late_older_version_is_kept_not_current(store):
    assert _put(store, "k", b"new", 20, True)
    assert _put(store, "k", b"old", 10, True)
    assert store.head("b", "k").version_id == "v00000020"
    assert [v for v, *_ in _versions(store)] == ["v00000020", "v00000010"]


def test_null_version_replaces_the_null_version_only(store):
    big = os.urandom(INLINE_LIMIT + 10)
    assert _put(store, "k", big, 10, False)
    first_file = store.data_path("v00000010")
    assert first_file.exists()
    assert _put(store, "k", b"kept", 20, True)
    assert _put(store, "k", b"null again", 30, False)
    # The first null version is gone with its data; the versioned one stays.
    assert _versions(store) == [("v00000030", False, False), ("v00000020", False, True)]
    assert not first_file.exists()
    assert store.find("b", "k", "", True).version_id == "v00000030"


def test_older_null_version_loses_to_newer_null(store):
    assert _put(store, "k", b"new", 20, False)
    assert not _put(store, "k", b"old", 10, False)
    assert _versions(store) == [("v00000020", False, False)]


def test_delete_marker_then_delete_by_id_promotes(store):
    assert _put(store, "k", b"one", 10, True)
    assert store.tombstone("b", "k", "m00000020", 20, versioned=True)
    assert store.head("b", "k").deleted
    with pytest.raises(NotFound):
        _read(store, "k")
    removed = store.remove_version("b", "k", "m00000020", False)
    assert removed.deleted
    assert store.head("b", "k").version_id == "v00000010"
    assert _read(store, "k") == b"one"


def test_removed_version_never_comes_back(store):
    big = os.urandom(INLINE_LIMIT + 10)
    assert _put(store, "k", big, 10, True)
    assert store.remove_version("b", "k", "v00000010", False) is not None
    assert store.head("b", "k") is None
    assert not store.data_path("v00000010").exists()
    # A replica arriving late, or a retry, is refused.
    assert not _put(store, "k", big, 10, True)
    assert store.head("b", "k") is None
    # A version this node never saw is remembered too.
    assert store.remove_version("b", "k", "v00000099", False) is None
    assert not _put(store, "k", b"x", 99, True)


def test_remove_null_version_by_alias(store):
    assert _put(store, "k", b"null", 10, False)
    assert _put(store, "k", b"v", 20, True)
    removed = store.remove_version("b", "k", "", True)
    assert removed.version_id == "v00000010"
    assert _versions(store) == [("v00000020", False, True)]


def test_update_meta_of_an_older_version(store):
    assert _put(store, "k", b"one", 10, True)
    assert _put(store, "k", b"two", 20, True)
    assert store.index.update_meta("b", "k", "v00000010", b"tagged")
    assert store.index.version("b", "k", "v00000010").meta == b"tagged"
    assert store.head("b", "k").meta == b"m"


def test_list_versions_pages_through_keys_and_versions(store):
    for key in ("a", "b", "c"):
        for ts in (1, 2, 3):
            assert _put(store, key, b"x", ts, True, version=f"{key}{ts}")
    seen = []
    after = None
    while True:
        rows, complete = store.index.list_versions("b", "", after, 2)
        seen += [(r.key, r.version_id) for r in rows]
        if complete:
            break
        last = rows[-1]
        after = (last.key, last.ts, last.version_id)
    assert seen == [(k, f"{k}{ts}") for k in ("a", "b", "c") for ts in (3, 2, 1)]
    # After a key with no version marker: the next key.
    rows, _ = store.index.list_versions("b", "", ("a", 0, ""), 10)
    assert rows[0].key == "b"
    rows, _ = store.index.list_versions("b", "b", None, 10)
    assert {r.key for r in rows} == {"b"}


def test_compose_versioned_keeps_the_previous_version(store):
    assert _put(store, "k", b"old", 5, True)
    pending = store.begin_write("parts", "u/1", "p1", 6)
    pending.write(b"abc")
    pending.commit(3, b"")
    assert store.compose("b", "k", "c1", 10, "parts", [("u/1", "p1")], b"meta", versioned=True)[0]
    assert [v for v, *_ in _versions(store)] == ["c1", "v00000005"]
    assert _read(store, "k") == b"abc"
    assert _read(store, "k", "v00000005") == b"old"


def test_recovery_keeps_files_of_older_versions(tmp_path):
    store = DiskStore(tmp_path)
    big = os.urandom(INLINE_LIMIT + 10)
    assert _put(store, "k", big, 10, True)
    assert _put(store, "k", big, 20, True)
    reopened = DiskStore(tmp_path)
    assert _read(reopened, "k", "v00000010") == big


def test_a_summary_listing_is_the_full_one_without_crcs_inline_data_or_segments(store):
    for key, ts in (("a", 1), ("a", 2), ("b", 3)):
        assert _put(store, key, b"small", ts, True)
    for listed in (
        lambda full: store.index.list("b", "", "", 10, full=full)[0],
        lambda full: store.index.list_versions("b", "", None, 10, full=full)[0],
    ):
        full, summary = listed(True), listed(False)
        assert all(r.inline == b"small" and r.crcs for r in full)
        assert all(r.inline is None and r.crcs == b"" and r.segments is None for r in summary)
        strip = [(r.key, r.version_id, r.ts, r.size, r.deleted, r.meta, r.versioned) for r in full]
        assert strip == [
            (r.key, r.version_id, r.ts, r.size, r.deleted, r.meta, r.versioned) for r in summary
        ]


def test_a_listing_reads_the_listing_index_not_the_rows_with_their_data(store):
    conn = store.index._conn()
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "objects_listing" in names
    plan = " ".join(
        str(step)
        for step in conn.execute(
            "EXPLAIN QUERY PLAN SELECT bucket, key, version_id, ts, size, deleted, meta, "
            "versioned FROM objects WHERE bucket=? AND key>? ORDER BY key LIMIT 5",
            ("b", ""),
        )
    )
    assert "COVERING INDEX objects_listing" in plan


def test_collectable_tombstones_are_the_only_version_of_an_unversioned_key(store):
    _put(store, "gone", b"x", 10, False)
    store.tombstone("b", "gone", "t0000020", 20, False)
    _put(store, "kept", b"x", 10, True)
    store.tombstone("b", "kept", "t0000021", 21, False)  # a null marker above a version
    store.tombstone("b", "young", "t0000900", 900, False)
    tombstones, purges = store.index.collectable(100, 0.0, 10)
    assert [(r.key, r.version_id) for r in tombstones] == [("gone", "t0000020")]
    assert not purges
    index = store.index
    assert index.shadows_nothing("b", "gone", "t0000020", purge=False)
    assert not index.shadows_nothing("b", "kept", "t0000021", purge=False)
    assert not index.collect("b", "gone", "t0000020", 19, purge=False)  # not as checked
    assert index.collect("b", "gone", "t0000020", 20, purge=False)
    assert store.head("b", "gone") is None
    assert not index.collect("b", "kept", "t0000021", 21, purge=False)


def test_a_remembered_delete_by_id_goes_only_when_collected(store):
    _put(store, "k", b"one", 10, True)
    _put(store, "k", b"two", 20, True)
    store.remove_version("b", "k", "v00000010", False)
    _, purges = store.index.collectable(0, float("inf"), 10)
    assert purges == [("b", "k", "v00000010")]
    assert store.index.shadows_nothing("b", "k", "v00000010", purge=True)
    assert not store.index.shadows_nothing("b", "k", "v00000020", purge=True)
    assert _put(store, "k", b"late copy", 10, True, "v00000010") is False  # still refused
    assert store.index.collect("b", "k", "v00000010", 0, purge=True)
    assert store.index.purged("b", "k") == []


def _sealed(store, key, data, ts, versioned, version):
    pending = store.begin_write("b", key, version, ts, versioned)
    pending.write(data)
    return pending.seal(len(data), b"m")


@pytest.mark.parametrize("versioned", [False, True])
def test_a_superseded_write_waits_aside_until_stamped_again(store, versioned):
    big = os.urandom(INLINE_LIMIT + 10)
    _put(store, "k", b"newer", 50, versioned, "vnewer")
    late = _sealed(store, "k", big, 40, versioned, "vlate")
    assert store.apply_newest(late) is False
    assert store.head("b", "k").version_id == "vnewer"  # invisible meanwhile
    assert store.data_path("vlate").exists()
    fresh = store.restamp("b", "k", "vlate", 60)
    assert fresh is not None and fresh.ts == 60
    assert store.head("b", "k").version_id == "vlate"
    assert _read(store, "k") == big
    assert store.restamp("b", "k", "vnone", 70) is None


def test_restamp_moves_a_stored_version_past_the_newest(store):
    _put(store, "k", b"one", 10, True, "vone")
    _put(store, "k", b"two", 20, True, "vtwo")
    assert store.restamp("b", "k", "vone", 30).ts == 30
    assert _versions(store) == [("vone", False, True), ("vtwo", False, True)]
    assert _read(store, "k") == b"one"
