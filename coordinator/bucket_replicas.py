"""How many nodes hold each bucket's keys (R), from the buckets' storage modes in etcd.

Storage nodes read it to know which keys they replicate (anti-entropy, hand-off, drain,
scrub, garbage collection); gateways read it from their own bucket cache. A bucket without
a storage mode, or one gone, has the default R.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import etcd3

from coordinator import keys
from coordinator.cache import PrefixCache
from coordinator.placement import DEFAULT_REPLICAS
from coordinator.storage_mode import StorageMode


class BucketReplicas:
    """R per bucket, kept up to date by a watch on the buckets' records."""

    def __init__(
        self,
        connect: Callable[[], etcd3.Etcd3Client],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.cache: PrefixCache[int] = PrefixCache(
            connect,
            keys.BUCKETS,
            lambda record: StorageMode.from_record(record.get("storage")).replicas,
            on_change=on_change,
        )

    def start(self) -> None:
        self.cache.start()

    def stop(self) -> None:
        self.cache.stop()

    def of(self, bucket: str) -> int:
        return self.cache.get(bucket) or DEFAULT_REPLICAS

    def signature(self) -> str:
        """A short name for every R that is not the default: equal when two processes
        place every key alike (given the same map)."""
        return signature(self.cache.items())


def signature(replicas: dict[str, int]) -> str:
    """See BucketReplicas.signature: of a {bucket: R} map."""
    text = "\n".join(f"{b}\0{r}" for b, r in sorted(replicas.items()) if r != DEFAULT_REPLICAS)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest() if text else ""
