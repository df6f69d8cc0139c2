"""StubCache: one channel and stub per node, replaced (the old channel closed) when the
node's address changes."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest

from coordinator.channels import StubCache
from coordinator.placement import NodeEntry
from proto import storage_pb2 as pb

OPTIONS = [("grpc.max_receive_message_length", 1 << 20)]


class FakeChannel:
    def __init__(self, address: str, options: Any) -> None:
        self.address = address
        self.options = options
        self.closed = False

    def unary_unary(self, *args: Any, **kwargs: Any) -> object:
        return object()

    unary_stream = stream_unary = stream_stream = unary_unary


def fake_cache() -> tuple[StubCache[FakeChannel], list[FakeChannel]]:
    dialled: list[FakeChannel] = []

    def dial(address: str, options: Any) -> FakeChannel:
        dialled.append(FakeChannel(address, options))
        return dialled[-1]

    def close(channel: FakeChannel) -> None:
        channel.closed = True

    return StubCache(OPTIONS, dial, close), dialled


def test_same_node_and_address_get_the_same_stub() -> None:
    cache, dialled = fake_cache()
    node = NodeEntry("n1", "h:1", "z")
    stub = cache.stub(node)
    assert cache.stub(NodeEntry("n1", "h:1", "z", state="draining")) is stub
    assert cache.channel(node) is dialled[0]
    assert [(c.address, c.options) for c in dialled] == [("h:1", OPTIONS)]
    assert cache.stub(NodeEntry("n2", "h:2", "z")) is not stub
    assert len(dialled) == 2 and not any(c.closed for c in dialled)


def test_a_new_address_gets_a_new_channel_and_closes_the_old() -> None:
    cache, dialled = fake_cache()
    old = cache.stub(NodeEntry("n1", "h:1", "z"))
    new = cache.stub(NodeEntry("n1", "h:9", "z"))
    assert new is not old
    assert [(c.address, c.closed) for c in dialled] == [("h:1", True), ("h:9", False)]
    assert cache.stub(NodeEntry("n1", "h:9", "z")) is new


def test_close_closes_every_channel_and_a_later_call_dials_again() -> None:
    cache, dialled = fake_cache()
    cache.stub(NodeEntry("n1", "h:1", "z"))
    cache.stub(NodeEntry("n2", "h:2", "z"))
    cache.close()
    assert all(c.closed for c in dialled)
    cache.stub(NodeEntry("n1", "h:1", "z"))
    assert len(dialled) == 3 and not dialled[2].closed


def test_threads_racing_for_one_node_share_one_channel() -> None:
    cache, dialled = fake_cache()
    node = NodeEntry("n1", "h:1", "z")
    barrier = threading.Barrier(8)
    stubs: list[object] = []

    def call() -> None:
        barrier.wait()
        stubs.append(cache.stub(node))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(dialled) == 1 and all(s is stubs[0] for s in stubs)


def test_default_is_a_real_synchronous_channel_closed_on_replace() -> None:
    cache: StubCache[grpc.Channel] = StubCache(OPTIONS)
    old = cache.stub(NodeEntry("n1", "127.0.0.1:1", "z"))
    cache.stub(NodeEntry("n1", "127.0.0.1:2", "z"))
    with pytest.raises(ValueError):  # grpc refuses an RPC on a closed channel
        old.HeadObject(pb.HeadRequest(bucket="b", key="k"), timeout=1)
    cache.close()
