"""NodeDirectory during a drain: new writes skip a draining node; reads also ask it
for the keys it held before it began draining (until it is removed)."""

from __future__ import annotations

from coordinator.placement import NodeEntry
from gateway.cluster.nodes import NodeDirectory


def _directory(states: dict[str, str]) -> NodeDirectory:
    directory = NodeDirectory(connect=lambda: None)  # type: ignore[arg-type,return-value]
    for i in range(4):
        node_id = f"node{i}"
        entry = NodeEntry(node_id, f"h:{i}", f"z{i}", state=states.get(node_id, "active"))
        directory.placement.put_local(node_id, entry)
    return directory


def test_a_draining_node_is_asked_for_the_keys_it_held() -> None:
    active, draining = _directory({}), _directory({"node0": "draining"})
    removed = _directory({"node0": "removed"})
    held = 0
    for key in (f"k{i}" for i in range(100)):
        assert active.leaving("b", key, active.replicas("b", key)) == []
        replicas = draining.replicas("b", key)
        assert "node0" not in {n.node_id for n in replicas}
        leaving = draining.leaving("b", key, replicas)
        before = {n.node_id for n in active.replicas("b", key)}
        assert [n.node_id for n in leaving] == (["node0"] if "node0" in before else [])
        held += bool(leaving)
        assert removed.leaving("b", key, removed.replicas("b", key)) == []
    assert 50 < held < 100  # three of four nodes hold each key


def test_a_miss_looks_beyond_replicas_only_while_keys_may_be_elsewhere() -> None:
    from gateway.cluster.nodes import REBALANCE_WINDOW

    directory = _directory({})
    for i in range(4):
        directory.members.put_local(f"node{i}", {"node_id": f"node{i}", "handoff": False})
    # A map first seen, or changed, counts as a rebalance for a while.
    assert directory.rebalancing(now=1000.0)
    assert directory.rebalancing(now=1000.0 + REBALANCE_WINDOW - 1)
    assert not directory.rebalancing(now=1000.0 + REBALANCE_WINDOW)
    # A node still holding keys it no longer replicates (or not saying) keeps it on.
    later = 1000.0 + REBALANCE_WINDOW
    directory.members.put_local("node2", {"node_id": "node2", "handoff": True})
    assert directory.rebalancing(now=later)
    directory.members.put_local("node2", {"node_id": "node2"})
    assert directory.rebalancing(now=later)
    directory.members.put_local("node2", {"node_id": "node2", "handoff": False})
    assert not directory.rebalancing(now=later)
    # A new node in the map starts the window again; a drain keeps it on throughout.
    directory.placement.put_local("node4", NodeEntry("node4", "h:4", "z4"))
    assert directory.rebalancing(now=later + 1)
    assert not directory.rebalancing(now=later + 1 + REBALANCE_WINDOW)
    directory.placement.put_local("node4", NodeEntry("node4", "h:4", "z4", state="draining"))
    assert directory.rebalancing(now=later + 10 * REBALANCE_WINDOW)
    assert directory.rebalancing(now=later + 20 * REBALANCE_WINDOW)
