"""One gRPC channel and Storage stub per storage node, for a process that calls many
nodes: a gateway (gateway/cluster/nodes.py) or a draining node's mover
(storage_node/mover.py). Each passes the channel options it wants."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import grpc

from coordinator import tls
from coordinator.placement import NodeEntry
from proto import storage_pb2_grpc as pb_grpc

ChannelT = TypeVar("ChannelT")
ChannelOptions = Sequence[tuple[str, Any]]


def close_channel(channel: grpc.Channel) -> None:
    channel.close()


class StubCache(Generic[ChannelT]):
    """A Storage stub per node id, over a channel of its own dialled with `options`.

    The same node at the same address gets the same stub; a node whose address changed
    gets a new channel, and its old one is closed. Thread-safe: a hit takes no lock.
    `dial` and `close` default to synchronous channels (coordinator/tls.py); a grpc.aio
    cache passes its own (and is then used only on the event loop that owns its
    channels)."""

    def __init__(
        self,
        options: ChannelOptions,
        dial: Callable[..., ChannelT] | None = None,
        close: Callable[[ChannelT], object] = close_channel,
    ) -> None:
        self.options = list(options)
        # Default: synchronous channels, with this process's mutual TLS if it has any.
        self._dial = dial or tls.dialer(tls.process_tls())
        self._close = close
        self._entries: dict[str, tuple[str, ChannelT, pb_grpc.StorageStub]] = {}
        self._lock = threading.Lock()

    def _entry(self, node: NodeEntry) -> tuple[str, ChannelT, pb_grpc.StorageStub]:
        cached = self._entries.get(node.node_id)
        if cached and cached[0] == node.address:
            return cached
        with self._lock:
            cached = self._entries.get(node.node_id)
            if cached and cached[0] == node.address:
                return cached
            if cached:
                self._close(cached[1])
            channel = self._dial(node.address, options=self.options)
            entry = (node.address, channel, pb_grpc.StorageStub(channel))
            self._entries[node.node_id] = entry
            return entry

    def stub(self, node: NodeEntry) -> pb_grpc.StorageStub:
        return self._entry(node)[2]

    def channel(self, node: NodeEntry) -> ChannelT:
        """node's channel (dialled now if there was none), e.g. to wait until it is ready."""
        return self._entry(node)[1]

    def close(self) -> None:
        """Close every channel; a later stub() dials again."""
        with self._lock:
            for _, channel, _ in self._entries.values():
                self._close(channel)
            self._entries.clear()
