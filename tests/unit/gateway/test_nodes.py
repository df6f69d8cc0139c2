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
