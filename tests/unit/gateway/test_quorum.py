"""Quorum decisions of the cluster client, as pure functions over node answers."""

from __future__ import annotations

from gateway.cluster.client import deleted_by_quorum


def test_a_key_is_deleted_once_a_quorum_of_its_own_replicas_acknowledged() -> None:
    placement = {
        "a": ("n1", "n2", "n3"),
        "b": ("n2", "n3", "n4"),
        "c": ("n1",),  # a one-node cluster: its one replica is the quorum
        "d": ("n3", "n4"),  # two replicas: both must answer
    }
    acked = {"n1": {"a", "c"}, "n2": {"a", "b"}, "n4": {"b", "d"}}
    assert deleted_by_quorum(placement, acked) == {"a": True, "b": True, "c": True, "d": False}


def test_an_acknowledgement_from_a_node_that_is_not_a_replica_does_not_count() -> None:
    placement = {"a": ("n1", "n2", "n3")}
    assert deleted_by_quorum(placement, {"n1": {"a"}, "n9": {"a"}}) == {"a": False}
    assert deleted_by_quorum(placement, {}) == {"a": False}
    assert deleted_by_quorum({}, {"n1": {"a"}}) == {}
