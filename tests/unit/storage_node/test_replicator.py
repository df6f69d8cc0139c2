"""Anti-entropy without etcd: digests, the index's forget, the copy budget, and whole
passes between two DiskStores, each behind a real Storage service in this process (the
placement and membership caches filled by hand)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from coordinator.placement import NodeEntry
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node import digest, replicator
from storage_node.diskstore import DiskStore
from storage_node.index import Row
from storage_node.service import StorageService

OLD = 1 << 40  # a timestamp long past: not "young"


def _row(key: str, version: str = "v1", ts: int = OLD, deleted: bool = False) -> Row:
    return Row("b", key, version, ts, 0, deleted, b"", b"")


def _put(
    store: DiskStore, key: str, data: bytes, version: str, ts: int = OLD, versioned: bool = False
) -> None:
    pending = store.begin_write("b", key, version, ts, versioned)
    pending.write(data)
    assert pending.commit(len(data), b"meta")


# --- digests ---------------------------------------------------------------------------


def test_digests_do_not_depend_on_order_and_differ_where_rows_do() -> None:
    rows = [_row(f"k{i}") for i in range(50)]
    one, two = digest.Digests(), digest.Digests()
    for row in rows:
        one.add(["p"], digest.slot_of("b", row.key), [row])
    for row in reversed(rows):
        two.add(["p"], digest.slot_of("b", row.key), [row])
    assert one.of("p") == two.of("p")
    assert digest.differing(one.of("p"), two.of("p")) == []

    changed = _row("k7", "v2")
    three = digest.Digests()
    for row in rows:
        three.add(["p"], digest.slot_of("b", row.key), [changed if row.key == "k7" else row])
    assert digest.differing(one.of("p"), three.of("p")) == [digest.slot_of("b", "k7")]
    # A tombstone of the same version id is another fingerprint.
    assert digest.fingerprint(_row("k", deleted=True)) != digest.fingerprint(_row("k"))
    assert digest.differing([0, 1], [0]) == [0, 1]
    assert one.of("nobody") == [0] * digest.SLOTS


def test_placement_tag_names_the_map() -> None:
    nodes = [NodeEntry("n1", "h:1", "z1"), NodeEntry("n2", "h:2", "z2")]
    assert digest.placement_tag(nodes) == digest.placement_tag(list(reversed(nodes)))
    draining = [NodeEntry("n1", "h:1", "z1", state="draining"), nodes[1]]
    assert digest.placement_tag(draining) != digest.placement_tag(nodes)
    # The address is not placement: a node that moved keeps its keys.
    moved = [NodeEntry("n1", "other:1", "z1"), nodes[1]]
    assert digest.placement_tag(moved) == digest.placement_tag(nodes)


# --- forget ------------------------------------------------------------------------------


def test_forget_drops_one_version_and_its_file_without_a_purge(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    big = b"x" * (300 * 1024)  # a data file, not inline
    _put(store, "k", big, "v1", OLD, versioned=True)
    _put(store, "k", b"new", "v2", OLD + 1, versioned=True)
    older = store.index.version("b", "k", "v1")
    assert older is not None and store.data_path("v1").exists()
    # A row that changed since it was read (another timestamp) is kept.
    assert not store.forget(Row("b", "k", "v2", OLD + 5, 0, False, b"", b""))
    current = store.head("b", "k")
    assert current is not None and store.forget(current)
    promoted = store.head("b", "k")
    assert promoted is not None and promoted.version_id == "v1"
    assert store.forget(older)
    assert store.head("b", "k") is None and not store.data_path("v1").exists()
    assert store.index.purged("b", "k") == []  # it may be stored here again later
    _put(store, "k", b"back", "v2", OLD + 1)
    assert store.head("b", "k") is not None


def test_budget_spaces_copies_by_count_and_bytes() -> None:
    budget = replicator.Budget(ops=1000, rate=1 << 30)
    before = time.monotonic()
    for _ in range(3):
        budget.take(1 << 20)
    expected = 3 * (1 / 1000 + (1 << 20) / (1 << 30))
    assert budget._next - before == pytest.approx(expected, abs=0.01)
    unlimited = replicator.Budget(ops=0, rate=0)
    unlimited.take(1 << 30)  # returns at once
    assert unlimited._next <= time.monotonic()


# --- passes between two real Storage services ----------------------------------------------


@dataclass
class Node:
    entry: NodeEntry
    store: DiskStore
    replicator: replicator.Replicator


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """Two nodes in one zone each, every key on both (R = 3 > 2 nodes)."""
    servers, made = [], []
    for name in ("n1", "n2"):
        store = DiskStore(tmp_path / name)
        service = StorageService(store, name, "z")
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_StorageServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        entry = NodeEntry(name, f"127.0.0.1:{port}", f"z-{name}")
        rep = replicator.Replicator(store, name, lambda: None, interval=0)  # type: ignore[arg-type,return-value]
        service.replicator = rep
        made.append(Node(entry, store, rep))
    for node in made:
        for other in made:
            node.replicator.placement.put_local(other.entry.node_id, other.entry)
            node.replicator.members.put_local(other.entry.node_id, {"node_id": other.entry.node_id})
        node.replicator.placement.loaded.set()
        node.replicator.uploads.loaded.set()
        node.replicator.bucket_replicas.cache.loaded.set()
    try:
        yield made[0], made[1]
    finally:
        for node in made:
            node.replicator.copier.close()
        for server in servers:
            server.stop(grace=None).wait()


def test_a_pass_copies_what_the_peer_lacks_and_is_quiet_when_in_sync(
    pair: tuple[Node, Node],
) -> None:
    one, two = pair
    both = b"on both"
    for node in pair:
        _put(node.store, "shared", both, "vs")
    big = bytes(range(256)) * 2000  # 512 000 bytes: a streamed copy
    _put(one.store, "big", big, "vb")
    _put(one.store, "small", b"s", "v1")
    one.store.tombstone("b", "gone", "vt", OLD)
    _put(one.store, "young", b"y", "vy", ts=int(time.time() * 1000) << 16)

    one.replicator._pass()
    assert one.replicator.last.copied == 3  # not "shared", not the young one
    assert two.store.head("b", "young") is None
    _, chunks = two.store.read("b", "big", "vb", 0, 0, 1 << 20)
    assert b"".join(chunks) == big
    gone = two.store.head("b", "gone")
    assert gone is not None and gone.deleted

    # Once the young version is old enough: every slot matches, nothing is copied.
    before = one.replicator.totals["copied"]
    one.store.forget(one.store.head("b", "young"))  # type: ignore[arg-type]
    one.replicator._pass()
    assert one.replicator.last.peers_in_sync == 1
    assert one.replicator.totals["copied"] == before
    assert one.replicator.job().state == "idle"


def test_a_version_the_peer_deleted_by_id_is_deleted_here(pair: tuple[Node, Node]) -> None:
    one, two = pair
    for node in pair:
        _put(node.store, "doc", b"1", "v1")
    assert two.store.remove_version("b", "doc", "v1", False) is not None
    one.replicator._pass()
    assert one.store.index.version("b", "doc", "v1") is None
    assert one.replicator.last.purged == 1


def test_sync_entries_name_versions_and_purges(pair: tuple[Node, Node]) -> None:
    one, two = pair
    _put(two.store, "a", b"a", "va")
    _put(two.store, "p", b"p", "vp")
    two.store.remove_version("b", "p", "vp", False)
    tag = digest.placement_tag([one.entry, two.entry])
    wanted = [digest.slot_of("b", "a"), digest.slot_of("b", "p")]
    stub = one.replicator.copier.stub(two.entry)
    request = pb.SyncEntriesRequest(peer="n1", placement=tag, slots=digest.SLOTS, wanted=wanted)
    entries = [e for batch in stub.SyncEntries(request) for e in batch.entries]
    assert {(e.key, e.version_id, e.purged) for e in entries} == {
        ("a", "va", False),
        ("p", "vp", True),
    }
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.SyncEntries(pb.SyncEntriesRequest(peer="n1", placement="x", slots=digest.SLOTS)))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_every_repair_and_scrub_number_is_on_the_metrics_page(tmp_path: Path) -> None:
    from storage_node.metrics import REPAIR_METRICS, NodeMetrics
    from storage_node.scrub import Scrubber

    store = DiskStore(tmp_path)
    rep = replicator.Replicator(store, "n1", lambda: None, interval=0)  # type: ignore[arg-type,return-value]
    numbers = {**rep.gauges(), **Scrubber(store, rep, interval=0).gauges()}
    assert {name for name, _, _ in REPAIR_METRICS} == set(numbers)
    text = NodeMetrics().render(repair=lambda: numbers).decode()
    for name, kind, _ in REPAIR_METRICS:
        suffix = "_total" if kind == "counter" else ""
        assert f"\ntessera_{name}{suffix} " in text, name
    rep.copier.close()


def test_the_index_reports_every_version_added_and_removed(tmp_path: Path) -> None:
    from collections import Counter

    store = DiskStore(tmp_path)
    index = store.index
    assert index.changes() == []
    _put(store, "a", b"1", "va1")
    _put(store, "a", b"2", "va2", ts=OLD + 1)  # replaces the null version
    _put(store, "v", b"1", "vv1", versioned=True)
    _put(store, "v", b"2", "vv2", ts=OLD + 1, versioned=True)  # the first moves to versions
    store.tombstone("b", "a", "vt", OLD + 2)
    store.remove_version("b", "v", "vv1", False)
    store.restamp("b", "v", "vv2", OLD + 5)
    net: Counter[tuple] = Counter()
    for sign, *version in index.changes() or []:
        net[tuple(version)] += sign
    held = {(r.bucket, r.key, r.version_id, r.ts, r.deleted) for r in index.every_version("b")}
    assert {v for v, n in net.items() if n} == held
    assert all(n in (0, 1) for n in net.values())


def test_digests_kept_up_to_date_equal_a_full_scan(pair: tuple[Node, Node]) -> None:
    one, two = pair
    rep = one.replicator
    nodes = rep.nodes()
    tag = digest.placement_tag(nodes)
    before = rep.digests(nodes, tag)  # a full scan of an empty index
    for i in range(20):
        _put(one.store, f"k{i}", b"x", f"v{i}")
    for i in range(5):
        _put(one.store, f"k{i}", b"y", f"w{i}", ts=OLD + 1)
    one.store.tombstone("b", "k7", "t7", OLD + 2)
    kept = rep.digests(nodes, tag)
    assert kept is before  # updated, not rebuilt
    rep._cache = None
    scanned = rep.digests(nodes, tag)
    assert scanned is not kept
    assert kept.digests.of("n2") == scanned.digests.of("n2") != [0] * digest.SLOTS
