"""One gRPC channel and Storage stub per storage node, for a process that calls many
nodes: a gateway (gateway/cluster/nodes.py) or a draining node's mover
(storage_node/mover.py). Each passes the channel options it wants."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from coordinator import tls
from coordinator.placement import NodeEntry
from proto import storage_pb2_grpc as pb_grpc

ChannelT = TypeVar("ChannelT")
ChannelOptions = Sequence[tuple[str, Any]]


# Seconds a channel dialled with a rotated certificate stays open for calls on it.
RETIRED_GRACE = 60.0


def close_channel(channel: grpc.Channel) -> None:
    channel.close()


@dataclass(frozen=True)
class _Entry(Generic[ChannelT]):
    address: str
    generation: int  # of the TLS material it was dialled with
    channel: ChannelT
    stub: pb_grpc.StorageStub


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
        self._dial = dial or tls.process_dialer()
        self._close = close
        self._entries: dict[str, _Entry[ChannelT]] = {}
        # Channels dialled with a certificate since rotated: calls may still run on
        # them, so they close a while later.
        self._retired: list[tuple[float, ChannelT]] = []
        self._lock = threading.Lock()

    def _entry(self, node: NodeEntry) -> _Entry[ChannelT]:
        generation = tls.generation()
        cached = self._entries.get(node.node_id)
        if cached and cached.address == node.address and cached.generation == generation:
            return cached
        with self._lock:
            cached = self._entries.get(node.node_id)
            if cached and cached.address == node.address and cached.generation == generation:
                return cached
            if cached and cached.address != node.address:
                self._close(cached.channel)
            elif cached:
                self._retired.append((time.monotonic(), cached.channel))
            self._close_retired(time.monotonic() - RETIRED_GRACE)
            channel = self._dial(node.address, options=self.options)
            entry = _Entry(node.address, generation, channel, pb_grpc.StorageStub(channel))
            self._entries[node.node_id] = entry
            return entry

    def _close_retired(self, before: float) -> None:
        while self._retired and self._retired[0][0] <= before:
            self._close(self._retired.pop(0)[1])

    def stub(self, node: NodeEntry) -> pb_grpc.StorageStub:
        return self._entry(node).stub

    def channel(self, node: NodeEntry) -> ChannelT:
        """node's channel (dialled now if there was none), e.g. to wait until it is ready."""
        return self._entry(node).channel

    def close(self) -> None:
        """Close every channel; a later stub() dials again."""
        with self._lock:
            for entry in self._entries.values():
                self._close(entry.channel)
            self._entries.clear()
            self._close_retired(float("inf"))
