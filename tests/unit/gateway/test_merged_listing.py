"""MergedListing over fake nodes: a listing asks all but R - W nodes, still sees every
key and its newest entry, and a node that fails mid-listing is replaced by a spare that
resumes where the merge was."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from coordinator.placement import NodeEntry
from gateway.cluster.listing import MergedListing
from gateway.cluster.store import StoreUnavailable
from proto import storage_pb2 as pb


class Down(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


class FakeNodes:
    """Each node holds key -> (timestamp, deleted); pages of `page` entries."""

    def __init__(self, held: dict[str, dict[str, tuple[int, bool]]], page: int = 2) -> None:
        self.held = held
        self.page = page
        self.asked: list[str] = []
        self.fail_after: dict[str, int] = {}  # node -> pages it serves before failing

    async def call(self, node: NodeEntry, method: str, request: Any, timeout: float) -> Any:
        self.asked.append(node.node_id)
        left = self.fail_after.get(node.node_id)
        if left is not None:
            if left == 0:
                raise Down()
            self.fail_after[node.node_id] = left - 1
        keys = sorted(k for k in self.held[node.node_id] if k > request.start_after)
        entries = [
            pb.ObjectInfo(
                found=True,
                key=k,
                version_id=f"{k}@{self.held[node.node_id][k][0]}",
                timestamp=self.held[node.node_id][k][0],
                deleted=self.held[node.node_id][k][1],
            )
            for k in keys[: self.page]
        ]
        return pb.ListReply(entries=entries, complete=len(keys) <= self.page)


NODES = [NodeEntry("n1", "a:1"), NodeEntry("n2", "a:2"), NodeEntry("n3", "a:3")]


async def _drain(listing: MergedListing) -> list[tuple[str, int]]:
    out = []
    while (entry := await listing.next()) is not None:
        out.append((entry.key, entry.timestamp))
    return out


def _quorum_written() -> dict[str, dict[str, tuple[int, bool]]]:
    """Every write reached two of three nodes: a, b overwritten, c deleted, d..h plain."""
    held: dict[str, dict[str, tuple[int, bool]]] = {"n1": {}, "n2": {}, "n3": {}}
    for i, key in enumerate("abcdefgh"):
        for node in (["n1", "n2"], ["n2", "n3"], ["n1", "n3"])[i % 3]:
            held[node][key] = (1, False)
    held["n1"]["a"] = held["n3"]["a"] = (5, False)  # newer a on n1, n3 (n2 is stale)
    held["n2"]["c"] = held["n3"]["c"] = (7, True)  # c deleted on n2, n3 (n1 stale)
    return held


EXPECTED = [("a", 5), ("b", 1), ("d", 1), ("e", 1), ("f", 1), ("g", 1), ("h", 1)]


async def test_a_listing_asks_all_but_one_node_and_misses_nothing() -> None:
    for _ in range(10):  # the spared node turns: every choice must be right
        nodes = FakeNodes(_quorum_written())
        listing = MergedListing(NODES, lambda _: True, nodes.call, "b", "", "", 1, spares=1)
        assert await _drain(listing) == EXPECTED
        assert len(set(nodes.asked)) == 2


async def test_a_node_that_fails_mid_listing_is_replaced_by_the_spare() -> None:
    for _ in range(10):
        nodes = FakeNodes(_quorum_written())
        listing = MergedListing(NODES, lambda _: True, nodes.call, "b", "", "", 1, spares=1)
        got = [await listing.next(), await listing.next()]
        first = sorted(set(nodes.asked))
        nodes.fail_after = {first[0]: 0}
        got_rest = await _drain(listing)
        assert [(e.key, e.timestamp) for e in got if e] + got_rest == EXPECTED
        assert len(set(nodes.asked)) == 3


async def test_more_failures_than_the_quorum_allows_stop_the_listing() -> None:
    nodes = FakeNodes(_quorum_written())
    nodes.fail_after = {"n1": 0, "n2": 0, "n3": 0}
    listing = MergedListing(NODES, lambda _: True, nodes.call, "b", "", "", 1, spares=1)
    with pytest.raises(BaseExceptionGroup) as caught:  # raised from the refill nursery
        await _drain(listing)
    assert caught.value.subgroup(StoreUnavailable) is not None


async def test_a_node_already_down_leaves_no_spare() -> None:
    nodes = FakeNodes(_quorum_written())
    listing = MergedListing(NODES, lambda n: n != "n2", nodes.call, "b", "", "", 1, spares=1)
    assert await _drain(listing) == EXPECTED
    assert sorted(set(nodes.asked)) == ["n1", "n3"]
