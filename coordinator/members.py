"""Membership: live storage nodes and gateways hold a key under an etcd lease.

A process that dies stops refreshing its lease; when the TTL runs out etcd
deletes the key and every watcher sees the member go down.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import CodecError, decode, encode
from coordinator.etcd import close_quietly

log = logging.getLogger(__name__)

DEFAULT_TTL = 5
# After a failed refresh, how soon to try again (the lease lives DEFAULT_TTL seconds);
# doubled for each further failure, up to the refresh interval.
RETRY_WAIT = 0.3


class Membership:
    """Keeps `key` alive under a lease from a background thread."""

    def __init__(
        self,
        connect: Callable[[], etcd3.Etcd3Client],
        key: str,
        record: dict[str, Any],
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self._connect = connect
        self._key = key
        self._record = record
        self._ttl = ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{key}", daemon=True)
        self._lease: Any = None
        self._record_lock = threading.Lock()
        self._changed = False  # publish() changed the record since it was last put

    def start(self) -> None:
        """Register now (raises if etcd is unreachable) and keep the lease alive."""
        self._client = self._lease_client()
        self._register()
        self._thread.start()

    def _lease_client(self) -> etcd3.Etcd3Client:
        client = self._connect()
        # A call that hangs (an etcd electing a leader) must end well within the TTL,
        # so the lease is refreshed again, on another member, before it runs out.
        client.timeout = min(client.timeout or math.inf, self._ttl / 3)
        return client

    def stop(self) -> None:
        """Stop refreshing and revoke the lease so the member goes down at once."""
        self._stop.set()
        try:
            if self._lease is not None:
                self._lease.revoke()
        except Exception:  # best effort: the lease also expires on its own
            pass

    def publish(self, **fields: Any) -> None:
        """Change fields of the member's record; watchers see it at the next refresh
        (within a third of the TTL)."""
        with self._record_lock:
            if all(self._record.get(name) == value for name, value in fields.items()):
                return
            self._record = {**self._record, **fields}
            self._changed = True

    def _put_record(self) -> None:
        with self._record_lock:
            record, self._changed = self._record, False
        self._client.put(self._key, encode(record), lease=self._lease)

    def _register(self) -> None:
        self._lease = self._client.lease(self._ttl)
        self._put_record()

    def _run(self) -> None:
        interval = max(self._ttl / 3, 0.5)
        wait = interval
        failures = 0
        while not self._stop.wait(wait):
            try:
                responses = list(self._client.refresh_lease(self._lease.id))
                if not responses or responses[0].TTL <= 0:
                    log.warning("lease for %s expired; registering again", self._key)
                    self._register()
                elif self._changed:
                    self._put_record()
                wait, failures = interval, 0
            except Exception as exc:
                # Refresh the same lease again soon, through a new client (on another
                # etcd member when there are several): registering anew instead would
                # need a leader too, and the key would vanish once the old lease ran out.
                log.warning("lease refresh for %s failed: %s", self._key, exc)
                failures += 1
                wait = min(interval, RETRY_WAIT * 2 ** (failures - 1))
                close_quietly(self._client)  # its channel and watcher thread go too
                try:
                    self._client = self._lease_client()
                except Exception as again:
                    log.warning("etcd unreachable for %s: %s", self._key, again)


def _listed(client: etcd3.Etcd3Client, prefix: str) -> dict[str, dict[str, Any]]:
    found = {}
    for value, meta in client.get_prefix(prefix):
        try:
            found[keys.name_of(meta.key, prefix)] = decode(value)
        except CodecError as exc:
            log.warning("skipping bad membership record %s: %s", meta.key, exc)
    return found


def live_nodes(client: etcd3.Etcd3Client) -> dict[str, dict[str, Any]]:
    """node id → membership record of every storage node holding a lease now."""
    return _listed(client, keys.MEMBER_NODES)


def live_gateways(client: etcd3.Etcd3Client) -> dict[str, dict[str, Any]]:
    """gateway id → membership record of every gateway holding a lease now."""
    return _listed(client, keys.MEMBER_GATEWAYS)
