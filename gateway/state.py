"""Everything one gateway process knows: etcd-fed caches and the store client."""

from __future__ import annotations

import functools
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import etcd3
import etcd3.exceptions
import trio

from coordinator import buckets, credentials, keys, settings, usage
from coordinator.buckets import Bucket
from coordinator.cache import PrefixCache
from coordinator.clock import HybridClock
from coordinator.etcd import close_quietly, connect
from coordinator.members import Membership
from coordinator.placement import DEFAULT_REPLICAS, write_quorum
from coordinator.secrets import Cipher
from gateway.cluster.client import ClusterStore
from gateway.cluster.nodes import NodeDirectory
from gateway.cluster.store import StoreUnavailable


class Gateway:
    """Shared state of a gateway: caches (read without touching etcd) and clients."""

    def __init__(
        self,
        etcd_endpoint: str | None,
        region: str,
        gateway_id: str | None = None,
        cipher: Cipher | None = None,
    ):
        self.region = region
        # The cluster key: secrets are decrypted once per cache update, not per request.
        self.cipher = cipher
        self.gateway_id = gateway_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.started = time.time()
        self.etcd_endpoint = etcd_endpoint
        self.connect: Callable[[], etcd3.Etcd3Client] = functools.partial(connect, etcd_endpoint)
        self.etcd = self.connect()
        self.credentials: PrefixCache[credentials.Credential] = PrefixCache(
            self.connect, keys.CREDENTIALS, credentials.loader(cipher)
        )
        self.buckets: PrefixCache[Bucket] = PrefixCache(
            self.connect, keys.BUCKETS, Bucket.from_record
        )
        self.settings: PrefixCache = PrefixCache(self.connect, keys.SETTINGS)
        # Every live gateway's membership record (/.well-known/tessera/gateways).
        self.gateways: PrefixCache = PrefixCache(self.connect, keys.MEMBER_GATEWAYS)
        # Requests per access key, published in the background (gateway/usage.py).
        self.usage = usage.Counter()
        # upload id → when this gateway last renewed its lease
        self.upload_renewals: dict[str, float] = {}
        self.directory = NodeDirectory(self.connect)
        self.directory.replicas_of = self.bucket_replicas
        self.clock = HybridClock.from_env()
        self.store = ClusterStore(self.directory, self.clock)
        # etcd calls are rare (bucket create/delete, cache misses) but blocking.
        self.etcd_limiter = trio.CapacityLimiter(16)
        self._membership: Membership | None = None
        # Virtual-hosted-style addressing: Host <bucket>.<domain> names the bucket.
        self.domains: tuple[str, ...] = ()
        # Behind a reverse proxy: X-Forwarded-Host is the host the client addressed.
        self.trust_proxy = False
        # Serving HTTPS (aws:SecureTransport in bucket policies).
        self.secure_transport = False
        # Derived from the cluster key (gateway/main.py): the web console signs its
        # session cookies with console_key and asks other processes' Admin services
        # with admin_token. Empty: no console sign-in, no cluster report.
        self.console_key = b""
        self.admin_token: str | None = None
        # Serving the console (gateway --no-console: not); objects are then sandboxed.
        self.console_enabled = True

    def start(self, listen: str, record: dict[str, Any] | None = None) -> None:
        """Load caches (blocking) and announce this gateway (record: more fields for
        its membership record, e.g. its admin address)."""
        self.credentials.start()
        self.buckets.start()
        self.settings.start()
        self.gateways.start()
        self.directory.start()
        self._membership = Membership(
            self.connect,
            keys.member_gateway(self.gateway_id),
            {
                "gateway_id": self.gateway_id,
                "address": listen,
                "started": self.started,
                **(record or {}),
            },
        )
        self._membership.start()

    def stop(self) -> None:
        if self._membership:
            self._membership.stop()
        self.credentials.stop()
        self.buckets.stop()
        self.settings.stop()
        self.gateways.stop()
        self.directory.stop()
        self.store.bridge.stop()

    def bucket_replicas(self, bucket: str) -> int:
        """R of a bucket, from its storage mode (the default for one not cached)."""
        record = self.buckets.get(bucket)
        if record is None or record.storage is None:
            return DEFAULT_REPLICAS
        return record.storage_mode.replicas

    def ready(self) -> bool:
        """Caches loaded and enough storage nodes live to take writes."""
        nodes = self.directory.nodes()
        if not (self.credentials.loaded.is_set() and self.buckets.loaded.is_set() and nodes):
            return False
        live = sum(self.directory.is_live(n.node_id) for n in nodes)
        return live >= write_quorum(min(3, len(nodes)))

    def gateway_list(self) -> list[dict[str, Any]]:
        """Every live gateway: id, endpoint URL, the storage node on its host and that
        node's zone, for clients that spread requests over the gateways themselves."""
        zones = {node.node_id: node.zone for node in self.directory.nodes()}
        listed = []
        for gateway_id, record in sorted(self.gateways.items().items()):
            node = record.get("node")
            listed.append(
                {
                    "id": record.get("gateway_id", gateway_id),
                    "endpoint": record.get("endpoint") or f"http://{record.get('address')}",
                    "node": node,
                    "zone": zones.get(node) if node else None,
                }
            )
        return listed

    def setting(self, name: str) -> Any:
        """A cluster setting (coordinator/settings.py), from the cache."""
        return settings.from_cache(self.settings.items(), name)

    def lookup_secrets(self, access_key: str) -> tuple[str, ...] | None:
        """The secrets a request by access_key may be signed with now: its secret, and
        during a rotation's grace period the one it replaced. The grace period ends by
        this clock, at request time, not by an etcd event."""
        return credentials.secrets_of(self.credentials.get(access_key), time.time())

    def display_name(self, canonical_id: str) -> str:
        """The name S3 shows for a canonical user (an access key): its credential's display
        name, else the ID itself."""
        found = self.credentials.get(canonical_id)
        return found.display_name if found is not None else canonical_id

    def account_by_email(self, email: str) -> str | None:
        """The access key whose credential has this email address (grants by email)."""
        wanted = email.lower()
        for access_key, found in self.credentials.items().items():
            if found.email == wanted:
                return access_key
        return None

    def note_use(self, access_key: str, secret_index: int = 0) -> None:
        """A request signed by access_key was authenticated (secret_index 1: with the
        secret a rotation replaced)."""
        self.usage.note(access_key, secret_index > 0)

    async def etcd_call(
        self, fn: Callable[..., Any], *args: Any, answers: tuple[type[Exception], ...] = ()
    ) -> Any:
        """fn(client, *args) in a worker thread. A client that lost etcd once
        refuses calls for minutes, so a failure gets one retry on a new client;
        etcd still unreachable → StoreUnavailable (503). Exceptions in `answers` are fn's
        own refusals (a ValueError among them is not taken for a broken client)."""

        def attempt() -> Any:
            try:
                return fn(self.etcd, *args)
            except answers:
                raise
            except (etcd3.exceptions.Etcd3Exception, ValueError):
                close_quietly(self.etcd)
                self.etcd = self.connect()
                try:
                    return fn(self.etcd, *args)
                except (etcd3.exceptions.Etcd3Exception, ValueError) as exc:
                    raise StoreUnavailable(f"etcd unavailable: {exc}") from exc

        return await trio.to_thread.run_sync(attempt, limiter=self.etcd_limiter)

    async def bucket(self, name: str) -> Bucket | None:
        """The bucket record: from the cache, or etcd when this gateway has not
        seen it yet (a bucket created through another gateway a moment ago)."""
        record = self.buckets.get(name)
        if record is None:
            record = await self.etcd_call(buckets.get, name)
            if record is not None:
                self.buckets.put_local(name, record)
        return record
