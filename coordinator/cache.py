"""Watch-fed caches of etcd prefixes.

A `PrefixCache` loads a prefix once, then follows an etcd watch from the
loaded revision. When the watch breaks (etcd restarted, revision compacted)
it reloads the whole prefix and watches again. Readers only touch the
in-memory dict, so the request path never waits on etcd.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import etcd3
from etcd3.events import DeleteEvent, PutEvent

from coordinator.codec import CodecError, decode
from coordinator.etcd import close_quietly

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often the watchdog checks that etcd still answers.
HEALTH_INTERVAL = 2.0
# A full reload this often, whatever the watch says: the safety net if a
# watch silently stops delivering. Tests shorten it to go through many refreshes.
REFRESH_INTERVAL = float(os.environ.get("TESSERA_CACHE_REFRESH_SECONDS") or 30.0)


class PrefixCache(Generic[T]):
    """An in-memory copy of every record under an etcd prefix."""

    def __init__(
        self,
        connect: Callable[[], etcd3.Etcd3Client],
        prefix: str,
        convert: Callable[[dict[str, Any]], T] = lambda rec: rec,  # type: ignore[assignment,return-value]
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self.prefix = prefix
        self._convert = convert
        self._on_change = on_change
        self._items: dict[str, T] = {}
        self._stop = threading.Event()
        self.loaded = threading.Event()
        self.reloads = 0
        self._cancel: Callable[[], None] | None = None
        # For reports (`state()`): when the prefix was last loaded in full, the etcd
        # revision the copy reflects, whether a watch follows it now, when etcd last
        # answered this cache, and why the watch last broke (None once reloaded).
        self.loaded_at: float | None = None
        self.revision = 0
        self.watching = False
        self.checked_at: float | None = None
        self.error: str | None = None

    # -- readers -----------------------------------------------------------
    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def items(self) -> dict[str, T]:
        return dict(self._items)

    def state(self, now: float | None = None) -> dict[str, Any]:
        """How this copy is doing, for a usage report or an admin command."""
        now = time.time() if now is None else now
        return {
            "items": len(self._items),
            "loaded": self.loaded.is_set(),
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "revision": self.revision,
            "watching": self.watching,
            "checked_at": self.checked_at,
            "error": self.error,
            "healthy": self.healthy(now),
        }

    def healthy(self, now: float | None = None) -> bool:
        """Loaded, the watch not broken since, and etcd answered within the last few checks
        (a planned full refresh, when `watching` is briefly False, is healthy)."""
        now = time.time() if now is None else now
        return (
            self.loaded.is_set()
            and self.error is None
            and self.checked_at is not None
            and now - self.checked_at <= 3 * HEALTH_INTERVAL
        )

    def put_local(self, name: str, value: T) -> None:
        """Apply a write this process just made, before its watch event arrives."""
        self._items[name] = value

    def drop_local(self, name: str) -> None:
        self._items.pop(name, None)

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Load the prefix and follow it from a background thread."""
        threading.Thread(target=self._run, name=f"watch:{self.prefix}", daemon=True).start()
        if not self.loaded.wait(timeout):
            raise TimeoutError(f"could not load {self.prefix} from etcd")

    def stop(self) -> None:
        self._stop.set()
        if self._cancel:
            try:
                self._cancel()
            except Exception:
                pass

    def _decode(self, value: bytes) -> T | None:
        try:
            return self._convert(decode(value))
        except (CodecError, KeyError, TypeError) as exc:
            log.warning("skipping bad record under %s: %s", self.prefix, exc)
            return None

    def _load(self, client: etcd3.Etcd3Client) -> int:
        response = client.get_prefix_response(self.prefix)
        items: dict[str, T] = {}
        for kv in response.kvs:
            value = self._decode(kv.value)
            if value is not None:
                items[kv.key.decode()[len(self.prefix) :]] = value
        self._items = items
        self.reloads += 1
        self.revision = response.header.revision
        self.loaded_at = self.checked_at = time.time()
        self.error = None
        self.loaded.set()
        if self._on_change:
            self._on_change()
        return response.header.revision

    def _run(self) -> None:
        # One client for the cache's whole life, replaced only when etcd failed it: a
        # client owns a gRPC channel and a watcher thread, so one per refresh leaked both.
        client: etcd3.Etcd3Client | None = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = self._connect()
                revision = self._load(client)
                events, cancel = client.watch_prefix(self.prefix, start_revision=revision + 1)
                self._cancel = cancel
                watchdog = threading.Thread(
                    target=self._watchdog, args=(client, cancel), daemon=True
                )
                watchdog.start()
                self.watching = True
                for event in events:
                    self._apply(event)
            except Exception as exc:
                if not self._stop.is_set():
                    self.error = f"watch broke: {exc}"
                    log.warning("watch on %s broke (%s); reloading", self.prefix, exc)
            finally:
                self.watching = False
                if self._cancel:
                    try:
                        self._cancel()
                    except Exception:
                        pass
            if client is not None and (self.error is not None or self._stop.is_set()):
                close_quietly(client)
                client = None
            self._stop.wait(0.5)
        if client is not None:
            close_quietly(client)

    def _apply(self, event: Any) -> None:
        name = event.key.decode()[len(self.prefix) :]
        self.revision = max(self.revision, int(getattr(event, "mod_revision", 0) or 0))
        if isinstance(event, PutEvent):
            value = self._decode(event.value)
            if value is not None:
                self._items[name] = value
        elif isinstance(event, DeleteEvent):
            self._items.pop(name, None)
        if self._on_change:
            self._on_change()

    def _watchdog(self, client: etcd3.Etcd3Client, cancel: Callable[[], None]) -> None:
        """End the watch (so _run reloads) when etcd stops answering, and
        every REFRESH_INTERVAL regardless."""
        started = time.monotonic()
        while not self._stop.wait(HEALTH_INTERVAL):
            if time.monotonic() - started > REFRESH_INTERVAL:
                break
            try:
                client.status()
                self.checked_at = time.time()
            except Exception as exc:
                self.error = f"etcd unreachable: {exc}"
                log.warning("etcd unreachable from %s cache (%s)", self.prefix, exc)
                break
        try:
            cancel()
        except Exception:
            pass
