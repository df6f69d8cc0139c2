"""The placement map and rendezvous (highest-random-weight) hashing.

The map lives in etcd under /tessera/placement/nodes/<id> with an epoch
counter that is bumped on every change. `replicas_for` is pure: every gateway
computes the same replica set from the same map with no lookup.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import decode, encode

DEFAULT_REPLICAS = 3
STATES = ("active", "draining", "removed")


@dataclass(frozen=True)
class NodeEntry:
    """One storage node in the placement map."""

    node_id: str
    address: str
    zone: str = "default"
    weight: float = 1.0
    state: str = "active"  # active | draining | removed

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> NodeEntry:
        return cls(
            node_id=rec["node_id"],
            address=rec["address"],
            zone=rec.get("zone", "default"),
            weight=float(rec.get("weight", 1.0)),
            state=rec.get("state", "active"),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "zone": self.zone,
            "weight": self.weight,
            "state": self.state,
        }


def _score(node: NodeEntry, bucket: str, key: str) -> float:
    digest = hashlib.blake2b(f"{node.node_id}\0{bucket}\0{key}".encode(), digest_size=8).digest()
    # Map to (0, 1) and use the weighted-rendezvous form -w/ln(h).
    h = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)
    return -node.weight / math.log(h)


def replicas_for(
    nodes: list[NodeEntry],
    bucket: str,
    key: str,
    replicas: int = DEFAULT_REPLICAS,
    include_draining: bool = False,
) -> list[NodeEntry]:
    """The nodes holding (bucket, key), best first, spread over zones first.

    Draining nodes take no new replicas: they are left out like removed ones, so
    writes go to where the data is moving. With include_draining they count as
    before they began draining: where a key lived until then."""
    placed = ("active", "draining") if include_draining else ("active",)
    candidates = [n for n in nodes if n.state in placed and n.weight > 0]
    ranked = sorted(candidates, key=lambda n: _score(n, bucket, key), reverse=True)
    count = min(replicas, len(ranked))
    chosen: list[NodeEntry] = []
    zones: set[str] = set()
    for node in ranked:  # one per zone first
        if len(chosen) < count and node.zone not in zones:
            chosen.append(node)
            zones.add(node.zone)
    for node in ranked:  # then fill by score
        if len(chosen) < count and node not in chosen:
            chosen.append(node)
    return chosen


def write_quorum(replicas: int) -> int:
    """W = floor(R/2) + 1."""
    return replicas // 2 + 1


def register_node(client: etcd3.Etcd3Client, entry: NodeEntry) -> None:
    """Add a node to the placement map, or update its address/zone; bumps the epoch."""
    key = keys.placement_node(entry.node_id)
    for _ in range(10):
        value, meta = client.get(key)
        if value is not None:
            current = NodeEntry.from_record(decode(value))
            if current.address == entry.address and current.zone == entry.zone:
                return
            entry = NodeEntry(
                entry.node_id, entry.address, entry.zone, current.weight, current.state
            )
            compare = [client.transactions.mod(key) == meta.mod_revision]
        else:
            compare = [client.transactions.version(key) == 0]
        ok, _ = client.transaction(
            compare=compare,
            success=[client.transactions.put(key, encode(entry.to_record()))],
            failure=[],
        )
        if ok:
            bump_epoch(client)
            return
        time.sleep(0.05)
    raise RuntimeError(f"could not register node {entry.node_id}: too much contention")


def bump_epoch(client: etcd3.Etcd3Client) -> int:
    """Increment the placement epoch (compare-and-swap loop)."""
    while True:
        value, meta = client.get(keys.PLACEMENT_EPOCH)
        epoch = int(value or b"0") + 1
        compare = (
            [client.transactions.mod(keys.PLACEMENT_EPOCH) == meta.mod_revision]
            if value is not None
            else [client.transactions.version(keys.PLACEMENT_EPOCH) == 0]
        )
        ok, _ = client.transaction(
            compare=compare,
            success=[client.transactions.put(keys.PLACEMENT_EPOCH, str(epoch))],
            failure=[],
        )
        if ok:
            return epoch


def read_entry(client: etcd3.Etcd3Client, node_id: str) -> tuple[NodeEntry, int] | None:
    """A node's entry and the etcd revision it was last changed at, or None."""
    value, meta = client.get(keys.placement_node(node_id))
    if value is None:
        return None
    return NodeEntry.from_record(decode(value)), meta.mod_revision


def set_state(
    client: etcd3.Etcd3Client,
    entry: NodeEntry,
    mod_revision: int,
    state: str,
    compare: list[Any] | None = None,
    success: list[Any] | None = None,
) -> int | None:
    """Move a node to state (active | draining | removed) and bump the epoch, in one
    transaction with the extra compare and success operations, only if neither the
    entry (read at mod_revision) nor the epoch changed meanwhile. Returns the new
    epoch, or None when something changed: read again and decide again."""
    if state not in STATES:
        raise ValueError(f"unknown node state {state!r}")
    epoch_value, epoch_meta = client.get(keys.PLACEMENT_EPOCH)
    epoch = int(epoch_value or b"0") + 1
    epoch_unchanged = (
        client.transactions.mod(keys.PLACEMENT_EPOCH) == epoch_meta.mod_revision
        if epoch_value is not None
        else client.transactions.version(keys.PLACEMENT_EPOCH) == 0
    )
    changed = NodeEntry(entry.node_id, entry.address, entry.zone, entry.weight, state)
    key = keys.placement_node(entry.node_id)
    ok, _ = client.transaction(
        compare=[client.transactions.mod(key) == mod_revision, epoch_unchanged, *(compare or [])],
        success=[
            client.transactions.put(key, encode(changed.to_record())),
            client.transactions.put(keys.PLACEMENT_EPOCH, str(epoch)),
            *(success or []),
        ],
        failure=[],
    )
    return epoch if ok else None


def load(client: etcd3.Etcd3Client) -> tuple[int, list[NodeEntry]]:
    """The current epoch and placement map, both read at one etcd revision. A change
    of the map bumps the epoch (set_state in the same transaction, register_node
    just after), so an unchanged epoch later means an unchanged map."""
    epoch = 0
    nodes = []
    for value, meta in client.get_prefix(keys.PLACEMENT):
        name = meta.key.decode()
        if name == keys.PLACEMENT_EPOCH:
            epoch = int(value or b"0")
        elif name.startswith(keys.PLACEMENT_NODES):
            nodes.append(NodeEntry.from_record(decode(value)))
    return epoch, sorted(nodes, key=lambda n: n.node_id)
