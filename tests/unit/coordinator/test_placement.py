from collections import Counter

from coordinator.placement import NodeEntry, replicas_for, write_quorum


def _nodes(count: int, zones: int | None = None) -> list[NodeEntry]:
    return [
        NodeEntry(f"node{i}", f"127.0.0.1:{7000 + i}", zone=f"z{i % (zones or count)}")
        for i in range(count)
    ]


KEYS = [f"key-{i}" for i in range(4000)]


def test_same_answer_every_time_and_order_independent():
    nodes = _nodes(5)
    first = [replicas_for(nodes, "b", k) for k in KEYS[:200]]
    again = [replicas_for(list(reversed(nodes)), "b", k) for k in KEYS[:200]]
    assert first == again


def test_replica_count_is_min_of_three_and_nodes():
    assert len(replicas_for(_nodes(1), "b", "k")) == 1
    assert len(replicas_for(_nodes(2), "b", "k")) == 2
    assert len(replicas_for(_nodes(7), "b", "k")) == 3
    assert replicas_for([], "b", "k") == []


def test_replicas_are_distinct_nodes():
    for key in KEYS[:500]:
        ids = [n.node_id for n in replicas_for(_nodes(6), "b", key)]
        assert len(set(ids)) == 3


def test_spread_over_zones_first():
    nodes = _nodes(6, zones=3)
    for key in KEYS[:500]:
        assert len({n.zone for n in replicas_for(nodes, "b", key)}) == 3


def test_adding_a_node_moves_about_one_nth_of_keys():
    before = _nodes(9)
    after = before + [NodeEntry("node-new", "127.0.0.1:9999", zone="z-new")]
    moved = 0
    for key in KEYS:
        old = {n.node_id for n in replicas_for(before, "b", key)}
        new = {n.node_id for n in replicas_for(after, "b", key)}
        moved += len(new - old)
    # Each key has 3 slots; the new node should take ~3/10 of all slots... of keys
    # it joins about 3/10, and it only ever displaces one replica per key.
    share = moved / len(KEYS)
    assert 0.2 < share < 0.4


def test_removed_node_and_weight_zero_get_nothing():
    nodes = _nodes(4)
    nodes[0] = NodeEntry("node0", "x", state="removed")
    nodes[1] = NodeEntry("node1", "y", weight=0)
    for key in KEYS[:200]:
        ids = {n.node_id for n in replicas_for(nodes, "b", key)}
        assert ids == {"node2", "node3"}


def test_load_is_balanced():
    counts = Counter(n.node_id for k in KEYS for n in replicas_for(_nodes(6), "b", k))
    expected = len(KEYS) * 3 / 6
    assert all(abs(c - expected) / expected < 0.1 for c in counts.values())


def test_write_quorum():
    assert [write_quorum(r) for r in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
