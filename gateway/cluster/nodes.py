"""The gateway's view of storage nodes: placement map and live members from
watch-fed etcd caches, and one gRPC channel per node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import etcd3
import grpc

from coordinator import keys, placement, tls
from coordinator.cache import PrefixCache
from coordinator.channels import StubCache
from coordinator.placement import NodeEntry
from proto import storage_pb2_grpc as pb_grpc

# How long a call waits for a node's channel to reconnect when it is needed (the
# options below cap the reconnect backoff at 2 s).
RECONNECT_WAIT = 3.0

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 << 20),
    ("grpc.max_send_message_length", 16 << 20),
    # A restarted node must be dialled again quickly, not after minutes of backoff.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 10000),
    ("grpc.keepalive_timeout_ms", 5000),
    # A fixed 4 MiB receive window per stream. With BDP probing the window grew until
    # a gateway reading five 50 MiB ranges at once held 190-350 MiB (VmHWM) instead of
    # ~155 MiB, for no steadier throughput (docs/performance.md).
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 4 << 20),
]


# grpc's connectivity state of a channel that failed and waits to reconnect.
_TRANSIENT_FAILURE = 3

# How long after a placement change a miss still looks beyond a key's replicas.
REBALANCE_WINDOW = 60.0


def _close_later(channel: grpc.aio.Channel) -> None:
    """Close an aio channel from a synchronous call on its loop."""
    asyncio.ensure_future(channel.close())


class NodeDirectory:
    """Placement map, liveness and stubs for every storage node."""

    def __init__(self, connect: Callable[[], etcd3.Etcd3Client]) -> None:
        self.placement = PrefixCache(connect, keys.PLACEMENT_NODES, NodeEntry.from_record)
        self.members: PrefixCache = PrefixCache(connect, keys.MEMBER_NODES)
        self._stubs: StubCache[grpc.Channel] = StubCache(CHANNEL_OPTIONS)
        self._aio_stubs: StubCache[grpc.aio.Channel] = StubCache(
            CHANNEL_OPTIONS, tls.process_dialer(aio=True), _close_later
        )
        # The placement map last seen and since when (monotonic seconds); the first
        # look counts as a change, so a starting gateway looks beyond replicas a while.
        self._map_seen: tuple[tuple, float] = ((), 0.0)
        # R of a bucket (from its storage mode); the gateway sets it from its bucket cache.
        self.replicas_of: Callable[[str], int] = lambda bucket: placement.DEFAULT_REPLICAS

    def start(self) -> None:
        self.placement.start()
        self.members.start()

    def stop(self) -> None:
        self.placement.stop()
        self.members.stop()
        self._stubs.close()

    def nodes(self) -> list[NodeEntry]:
        """Every node in the placement map, sorted by id."""
        return sorted(self.placement.items().values(), key=lambda n: n.node_id)

    def is_live(self, node_id: str) -> bool:
        return self.members.get(node_id) is not None

    def rebalancing(self, now: float | None = None) -> bool:
        """Whether some key may sit outside its replicas: a node drains, the placement
        map changed in the last REBALANCE_WINDOW seconds (writes by gateways that had
        not yet seen it), or a live node holds versions it has not yet handed to their
        new replicas (as its membership record says; a record without the flag counts
        as yes). Only then does a miss look beyond a key's replicas."""
        now = time.monotonic() if now is None else now
        nodes = self.nodes()
        signature = tuple((n.node_id, n.state, n.weight, n.zone) for n in nodes)
        if signature != self._map_seen[0]:
            self._map_seen = (signature, now)
        if now - self._map_seen[1] < REBALANCE_WINDOW:
            return True
        if any(n.state == "draining" for n in nodes):
            return True
        return any(record.get("handoff", True) for record in self.members.items().values())

    def replicas(self, bucket: str, key: str) -> list[NodeEntry]:
        """Where (bucket, key) lives and new writes go: draining nodes are left out."""
        return placement.replicas_for(self.nodes(), bucket, key, self.replicas_of(bucket))

    def leaving(self, bucket: str, key: str, replicas: list[NodeEntry]) -> list[NodeEntry]:
        """Draining nodes that were replicas of (bucket, key) before they began to drain.
        They hold its versions until their data has moved: reads ask them too."""
        nodes = self.nodes()
        if not any(n.state == "draining" for n in nodes):
            return []
        before = placement.replicas_for(
            nodes, bucket, key, self.replicas_of(bucket), include_draining=True
        )
        return [n for n in before if n.state == "draining" and n not in replicas]

    def stub(self, node: NodeEntry) -> pb_grpc.StorageStub:
        return self._stubs.stub(node)

    def wait_ready(self, node: NodeEntry, timeout: float) -> bool:
        """Block until node's channel is connected, or timeout. A node that restarted is
        answered UNAVAILABLE by a channel still in reconnect backoff: this dials it now."""
        try:
            grpc.channel_ready_future(self._stubs.channel(node)).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
        return True

    def needs_dial(self, node: NodeEntry) -> bool:
        """Whether node's channel is in reconnect backoff after a failure (a call on it
        would fail at once). Read without connecting; False if it cannot be told."""
        try:
            state = self._stubs.channel(node)._channel.check_connectivity_state(False)
        except Exception:
            return False
        return state == _TRANSIENT_FAILURE

    def aio_stub(self, node: NodeEntry) -> pb_grpc.StorageStub:
        """A grpc.aio stub for node. Call only on the bridge's asyncio loop,
        which owns these channels."""
        return self._aio_stubs.stub(node)
