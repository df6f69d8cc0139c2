"""A process's view of placement: the map, its epoch and which nodes hold a lease,
from watch-fed caches. The Admin service reports it so an operator can see whether
every process agrees with etcd."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import etcd3

from coordinator import keys
from coordinator.cache import PrefixCache
from coordinator.placement import NodeEntry
from proto import admin_pb2

log = logging.getLogger(__name__)


class _EpochCache(PrefixCache[int]):
    """The epoch key alone. It holds a plain decimal number, not a msgpack record."""

    def _decode(self, value: bytes) -> int | None:
        try:
            return int(value)
        except ValueError:
            log.warning("placement epoch is not a number: %r", value[:40])
            return None


@dataclass(frozen=True)
class View:
    epoch: int
    nodes: list[NodeEntry]
    live: frozenset[str]
    loaded: bool


class PlacementView:
    """Placement map, epoch and node membership. Pass caches the process already runs
    (a gateway's node directory) to share them; the others are made and owned here."""

    def __init__(
        self,
        connect: Callable[[], etcd3.Etcd3Client],
        placement: PrefixCache | None = None,
        members: PrefixCache | None = None,
    ) -> None:
        self._own: list[PrefixCache] = []
        if placement is None:
            placement = PrefixCache(connect, keys.PLACEMENT_NODES, NodeEntry.from_record)
            self._own.append(placement)
        if members is None:
            members = PrefixCache(connect, keys.MEMBER_NODES)
            self._own.append(members)
        self.placement = placement
        self.members = members
        self.epoch = _EpochCache(connect, keys.PLACEMENT_EPOCH)
        self._own.append(self.epoch)

    def start(self, timeout: float = 10.0) -> None:
        """Load the caches it owns. etcd being slow is not fatal: they keep trying."""
        for cache in self._own:
            try:
                cache.start(timeout)
            except TimeoutError as exc:
                log.warning("placement view: %s; will keep trying", exc)

    def stop(self) -> None:
        for cache in self._own:
            cache.stop()

    def entry(self, node_id: str) -> NodeEntry | None:
        return self.placement.get(node_id)

    def snapshot(self) -> View:
        nodes = sorted(self.placement.items().values(), key=lambda n: n.node_id)
        live = frozenset(self.members.items())
        caches = (self.placement, self.members, self.epoch)
        return View(
            epoch=int(self.epoch.get("") or 0),
            nodes=nodes,
            live=live,
            loaded=all(c.loaded.is_set() for c in caches),
        )

    def reply(self) -> admin_pb2.PlacementReply:
        """The view as the Admin service's Placement answer."""
        snap = self.snapshot()
        reply = admin_pb2.PlacementReply(epoch=snap.epoch, loaded=snap.loaded)
        for node in snap.nodes:
            reply.nodes.add(
                node_id=node.node_id,
                address=node.address,
                zone=node.zone,
                weight=node.weight,
                state=node.state,
                live=node.node_id in snap.live,
            )
        return reply
