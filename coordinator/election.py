"""Elections for background jobs: one holder at a time, cluster-wide.

The holder owns /tessera/elections/<job> (its id as the value) under a
lease it keeps refreshing; when it dies the lease expires, the key goes and
the next candidate's create-if-absent succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import etcd3

from coordinator import keys


class Election:
    """Campaign for one named job. Methods block: call them from a thread."""

    def __init__(
        self,
        connect: Callable[[], etcd3.Etcd3Client],
        job: str,
        candidate: str,
        ttl: int = 10,
    ):
        self._connect = connect
        self.key = keys.election(job)
        self.candidate = candidate
        self._ttl = ttl
        self._lease: Any = None
        self._client: etcd3.Etcd3Client | None = None

    def campaign(self) -> bool:
        """True if this candidate holds the job now (taking it if it is free)."""
        try:
            client = self._client = self._client or self._connect()
            if self._lease is not None:
                responses = list(client.refresh_lease(self._lease.id))
                if responses and responses[0].TTL > 0:
                    return True
                self._lease = None
            lease = client.lease(self._ttl)
            won, _ = client.transaction(
                compare=[client.transactions.version(self.key) == 0],
                success=[client.transactions.put(self.key, self.candidate, lease=lease)],
                failure=[],
            )
            if won:
                self._lease = lease
                return True
            lease.revoke()
            return False
        except Exception:
            # etcd unreachable: assume we lost it, and use a fresh client next time.
            self._lease = None
            self._client = None
            return False


def holder(client: etcd3.Etcd3Client, job: str) -> str | None:
    """Who holds job right now, if anyone."""
    value, _ = client.get(keys.election(job))
    return value.decode() if value is not None else None
