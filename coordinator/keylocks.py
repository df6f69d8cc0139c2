"""Per-object locks for conditional writes (If-None-Match / If-Match on PUT).

Plain writes never take them: last writer wins. A conditional write must
check and write as one step even when racers use different gateways, so it
holds an etcd lock on the object's name (etcd's lock recipe: a key under a
lease) from the check until its write is acknowledged. A holder that dies
frees the lock when its lease expires.
"""

from __future__ import annotations

import etcd3

from coordinator import keys

DEFAULT_TTL = 30


class KeyLock:
    """A lock on one (bucket, key). Methods block: call them from a thread."""

    def __init__(self, client: etcd3.Etcd3Client, bucket: str, key: str, ttl: int = DEFAULT_TTL):
        self._lock = client.lock(keys.key_lock(bucket, key), ttl=ttl)

    def acquire(self, timeout: float) -> bool:
        return bool(self._lock.acquire(timeout=timeout))

    def refresh(self) -> None:
        """Keep holding it (long uploads): call more often than the TTL."""
        self._lock.refresh()

    def release(self) -> None:
        try:
            self._lock.release()
        except Exception:  # the lease may be gone already; the lock is free either way
            pass
