"""coordinator/drain.py: the drain / undrain / remove state machine and its job records,
against a fake etcd with real compare-and-swap semantics; placement with draining nodes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from coordinator import drain, keys, placement
from coordinator.codec import encode
from coordinator.namespaces import part_key, part_of, parts_namespace
from coordinator.placement import NodeEntry, replicas_for


class FakeEtcd:
    """get, get_prefix and transactions comparing mod revision, version or value."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int, int]] = {}  # value, mod revision, version
        self.revision = 0
        self.transactions = SimpleNamespace(
            mod=lambda k: _Compare(self, k, 1),
            version=lambda k: _Compare(self, k, 2),
            value=lambda k: _Compare(self, k, 0),
            put=lambda k, v: ("put", k, v.encode() if isinstance(v, str) else v),
        )

    def put(self, key: str, value: bytes | str) -> None:
        self.revision += 1
        old = self.data.get(key)
        raw = value.encode() if isinstance(value, str) else value
        self.data[key] = (raw, self.revision, (old[2] if old else 0) + 1)

    def get(self, key: str) -> tuple[Any, Any]:
        if key not in self.data:
            return None, None
        value, mod, _ = self.data[key]
        return value, SimpleNamespace(mod_revision=mod, key=key.encode())

    def get_prefix(self, prefix: str):
        for key in sorted(self.data):
            if key.startswith(prefix):
                yield self.get(key)

    def transaction(self, compare, success, failure):
        if not all(check() for check in compare):
            return False, []
        responses = []
        for _, key, value in success:
            self.put(key, value)
            header = SimpleNamespace(revision=self.revision)
            responses.append(SimpleNamespace(response_put=SimpleNamespace(header=header)))
        return True, responses


class _Compare:
    def __init__(self, etcd: FakeEtcd, key: str, field: int) -> None:
        self.etcd, self.key, self.field = etcd, key, field

    def __eq__(self, expected):  # etcd3 builds comparisons with ==
        want = expected.encode() if isinstance(expected, str) else expected

        def check() -> bool:
            stored = self.etcd.data.get(self.key)
            if stored is None:
                return want == (b"" if self.field == 0 else 0)
            return stored[self.field] == want

        return check


@pytest.fixture
def etcd() -> FakeEtcd:
    fake = FakeEtcd()
    for i in range(1, 5):
        entry = NodeEntry(f"node{i}", f"h:{i}", f"z{i}")
        fake.put(keys.placement_node(entry.node_id), encode(entry.to_record()))
    fake.put(keys.PLACEMENT_EPOCH, "4")
    return fake


def _state(etcd: FakeEtcd, node_id: str) -> str:
    found = placement.read_entry(etcd, node_id)  # type: ignore[arg-type]
    assert found is not None
    return found[0].state


def _epoch(etcd: FakeEtcd) -> int:
    return placement.load(etcd)[0]  # type: ignore[arg-type]


def test_drain_sets_draining_bumps_the_epoch_and_makes_a_pending_job(etcd) -> None:
    started, job = drain.drain(etcd, "node2")
    assert started and job.state == drain.PENDING and job.record["node_id"] == "node2"
    assert _state(etcd, "node2") == "draining" and _epoch(etcd) == 5
    # Draining again changes nothing: the job goes on.
    again, same = drain.drain(etcd, "node2")
    assert not again and same.run == job.run and _epoch(etcd) == 5


def test_undrain_cancels_the_job_and_a_new_drain_starts_a_new_run(etcd) -> None:
    _, job = drain.drain(etcd, "node2")
    assert drain.undrain(etcd, "node2") == 6
    assert _state(etcd, "node2") == "active"
    cancelled = drain.get(etcd, "node2")
    assert cancelled is not None and cancelled.state == drain.CANCELLED
    # The mover's next progress write fails: its run ended.
    assert drain.update(etcd, job, {"versions_done": 3}) is None
    started, fresh = drain.drain(etcd, "node2")
    assert started and fresh.run != job.run and fresh.state == drain.PENDING
    with pytest.raises(drain.DrainError, match="active, not draining"):
        drain.undrain(etcd, "node1")


def test_remove_only_when_done_for_the_current_epoch(etcd) -> None:
    with pytest.raises(drain.DrainError, match="drain it first"):
        drain.remove(etcd, "node3")
    _, job = drain.drain(etcd, "node3")
    with pytest.raises(drain.DrainError, match="pending, not done"):
        drain.remove(etcd, "node3")
    epoch = _epoch(etcd)
    running = drain.update(etcd, job, {"state": drain.RUNNING})
    assert running is not None
    # Done is written only while the epoch is the one the pass worked from.
    assert drain.update(etcd, running, {"state": drain.DONE, "epoch": epoch}, epoch - 1) is None
    done = drain.update(etcd, running, {"state": drain.DONE, "epoch": epoch}, epoch)
    assert done is not None
    # Another placement change since: the node must move data again first.
    drain.drain(etcd, "node4")
    with pytest.raises(drain.DrainError, match="epoch is now"):
        drain.remove(etcd, "node3")
    drain.undrain(etcd, "node4")
    now = _epoch(etcd)
    assert drain.update(etcd, done, {"epoch": now}) is not None
    assert drain.remove(etcd, "node3") == now + 1
    assert _state(etcd, "node3") == "removed"
    with pytest.raises(drain.DrainError, match="already removed"):
        drain.remove(etcd, "node3")
    with pytest.raises(drain.DrainError, match="was removed"):
        drain.drain(etcd, "node3")


def test_remove_force_skips_the_drain(etcd) -> None:
    assert drain.remove(etcd, "node1", force=True) == 5
    assert _state(etcd, "node1") == "removed"
    with pytest.raises(drain.DrainError, match="no storage node 'node9'"):
        drain.remove(etcd, "node9", force=True)


def test_set_state_refuses_a_stale_entry(etcd) -> None:
    entry, revision = placement.read_entry(etcd, "node1")  # type: ignore[misc]
    etcd.put(keys.PLACEMENT_EPOCH, "9")  # other changes in between bump the epoch
    assert placement.set_state(etcd, entry, revision, "draining") == 10
    assert placement.set_state(etcd, entry, revision, "active") is None  # stale revision
    assert _state(etcd, "node1") == "draining" and _epoch(etcd) == 10
    with pytest.raises(ValueError):
        placement.set_state(etcd, entry, revision, "gone")


def test_list_all_and_fraction(etcd) -> None:
    drain.drain(etcd, "node1")
    records = drain.list_all(etcd)
    assert list(records) == ["node1"]
    record = records["node1"]
    assert drain.fraction(record) == 0.0
    assert drain.fraction({**record, "versions_done": 1, "versions_total": 4}) == 0.25
    assert drain.fraction({**record, "state": drain.DONE}) == 1.0


def test_why_not_removable_explains_itself() -> None:
    draining = NodeEntry("n", "h:1", state="draining")
    done = {"state": "done", "epoch": 7}
    assert drain.why_not_removable(draining, done, 7) is None
    assert "epoch is now 8" in (drain.why_not_removable(draining, done, 8) or "")
    assert "failed, not done" in (
        drain.why_not_removable(draining, {**done, "state": "failed"}, 7) or ""
    )
    assert "no drain job" in (drain.why_not_removable(draining, None, 7) or "")
    assert "drain it first" in (drain.why_not_removable(NodeEntry("n", "h:1"), done, 7) or "")


# --- placement with draining nodes ----------------------------------------------------------


def _nodes(states: dict[str, str]) -> list[NodeEntry]:
    return [
        NodeEntry(f"node{i}", f"h:{i}", f"z{i}", state=states.get(f"node{i}", "active"))
        for i in range(5)
    ]


def test_draining_nodes_take_no_new_replicas() -> None:
    nodes = _nodes({"node1": "draining", "node2": "removed"})
    for key in (f"k{i}" for i in range(300)):
        chosen = {n.node_id for n in replicas_for(nodes, "b", key)}
        assert len(chosen) == 3 and not chosen & {"node1", "node2"}
        before = {n.node_id for n in replicas_for(nodes, "b", key, include_draining=True)}
        assert "node2" not in before
        # Draining only takes node1 out: the others keep their keys.
        assert before - {"node1"} <= chosen


def test_part_keys_name_their_upload() -> None:
    namespace = parts_namespace("photos")
    assert part_of(namespace, part_key("u1", 3)) == ("photos", "u1")
    assert part_of("photos", "u1/00003") is None
    assert part_of(namespace, "u1") is None
    assert part_of(namespace, "u1/x") is None
    assert part_of(".parts/", "u1/00001") is None
