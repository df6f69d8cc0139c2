"""What two replicas compare in anti-entropy: per-slot digests of the versions they hold.

Every stored key falls in one of `slots` slots by a hash of (namespace, key). For each
peer, a node sums (mod 2^64) one fingerprint per version it holds of the keys that it
and the peer both replicate, per slot. Two nodes that hold the same versions of their
shared keys compute the same digests; a slot whose digests differ names the keys to
look at closer (storage_node/replicator.py). Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from coordinator.placement import NodeEntry
from storage_node.index import Row

SLOTS = 1024
_MASK = (1 << 64) - 1


def slot_of(namespace: str, key: str, slots: int = SLOTS) -> int:
    """The slot a stored key falls in."""
    digest = hashlib.blake2b(f"{namespace}\0{key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % slots


def fingerprint(row: Row) -> int:
    """A 64-bit hash of what makes a version itself: key, id, timestamp, delete."""
    return fingerprint_of(row.bucket, row.key, row.version_id, row.ts, row.deleted)


def fingerprint_of(bucket: str, key: str, version_id: str, ts: int, deleted: bool) -> int:
    """fingerprint() of a version given by its parts."""
    text = f"{bucket}\0{key}\0{version_id}\0{ts}\0{int(deleted)}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def placement_tag(nodes: Iterable[NodeEntry], replicas: str = "") -> str:
    """A short name for a placement map and the buckets' R (`replicas`, a
    BucketReplicas signature): equal placements, equal tags. Nodes compare digests
    only when both computed them from the same placement."""
    text = "\n".join(
        f"{n.node_id}\0{n.zone}\0{n.weight!r}\0{n.state}"
        for n in sorted(nodes, key=lambda n: n.node_id)
    )
    if replicas:
        text += f"\n{replicas}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class Digests:
    """Per-peer, per-slot digests built up one key at a time."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self.by_peer: dict[str, list[int]] = {}

    def add(self, peers: Iterable[str], slot: int, rows: Iterable[Row]) -> None:
        """Count rows (versions of one key in slot) toward each peer."""
        self.change(peers, slot, sum(fingerprint(row) for row in rows))

    def change(self, peers: Iterable[str], slot: int, amount: int) -> None:
        """Add amount (a fingerprint, or minus one for a version gone) toward peers."""
        for peer in peers:
            sums = self.by_peer.get(peer)
            if sums is None:
                sums = self.by_peer[peer] = [0] * self.slots
            sums[slot] = (sums[slot] + amount) & _MASK

    def of(self, peer: str) -> list[int]:
        """The digests toward peer (all zero when no key is shared)."""
        return list(self.by_peer.get(peer) or [0] * self.slots)


def differing(mine: list[int], theirs: list[int]) -> list[int]:
    """Slots whose digests differ (every slot when the lengths do not match)."""
    if len(mine) != len(theirs):
        return list(range(max(len(mine), len(theirs))))
    return [slot for slot, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
