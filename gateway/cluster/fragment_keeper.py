"""The fragment keeper: keeps every erasure-coded object at k+m fragments on nodes that
stay, and the disks free of fragments no object uses.

Fragments are single copies that the storage nodes never move (coordinator/namespaces.py);
which node holds which fragment is in the object's metadata (gateway/cluster/erasure.py),
which gateways read and nodes do not. So this job runs on the gateways, one at a time in
the cluster (an etcd election, like the lifecycle worker), every `fragment_interval`
seconds. A pass lists each coded bucket's fragments on every live node and, per fragment
set older than `fragment_grace` seconds (a write may still be on its way):

- no version of its key names it, and no open upload could (a set of an overwritten or
  deleted object whose drop a node missed, of an abandoned upload, of a write that failed
  after its fragments): dropped;
- a fragment is missing (lost with a disk, dropped by scrub as corrupt, never written
  because its node was down): coded again from k others onto the same node;
- a fragment's node drains or left the map: copied (or coded again) onto a node that
  holds none of the set, the object's layout updated, then dropped from the old node.

Work goes one fragment at a time, so a pass never takes more of the cluster than one
client reading an object.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import msgpack

from coordinator import placement, uploads
from coordinator.clock import to_seconds
from coordinator.namespaces import FRAGMENTS_PREFIX, bucket_of
from coordinator.placement import NodeEntry
from gateway.cluster.coded import StripeReader
from gateway.cluster.elected import ElectedWorker
from gateway.cluster.erasure import Segment, codec, fragment_key, fragments_namespace, with_layout
from gateway.cluster.store import ObjectVersion, StoreUnavailable, VersionGone
from gateway.cluster.writers import ReplicaWriter
from proto import storage_pb2 as pb

log = logging.getLogger(__name__)

JOB = "fragments"
LIST_PAGE = 1000
LIST_TIMEOUT = 30.0


@dataclass
class HeldSet:
    """One fragment set as the nodes hold it."""

    key: str  # the object key it was written for
    listed: frozenset[str]  # the nodes whose fragments were listed (the others: unknown)
    newest: float = 0.0  # when its youngest fragment was written (epoch seconds)
    # fragment index → the nodes holding it
    where: dict[int, set[str]] = field(default_factory=dict)


class FragmentKeeper(ElectedWorker):
    JOB = JOB
    UNIT = "fragments rebuilt, moved or dropped"  # for `tessera admin jobs`
    INTERVAL = "fragment_interval"

    async def pass_once(self, now: float | None = None) -> int:
        """One pass over every bucket some node holds fragments of."""
        now = time.time() if now is None else now
        done = 0
        for bucket in sorted(await self._coded_buckets()):
            if self.gateway.buckets.get(bucket) is not None:
                done += await self.keep(bucket, now)
        return done

    async def _coded_buckets(self) -> set[str]:
        """The buckets whose fragments some live node holds."""
        store = self.gateway.store
        found: set[str] = set()
        request = pb.ListNamespacesRequest(prefix=FRAGMENTS_PREFIX)
        for node in store.directory.nodes():
            if node.state == "removed" or not store.directory.is_live(node.node_id):
                continue
            try:
                reply = await store.call(node, "ListNamespaces", request, LIST_TIMEOUT)
            except grpc.RpcError as exc:
                log.warning("fragment namespaces not listed node=%s: %s", node.node_id, exc.code())
                continue
            found.update(bucket_of(namespace) for namespace in reply.namespaces)
        return found

    async def keep(self, bucket: str, now: float) -> int:
        """One bucket's pass; how many fragments it rebuilt, moved or dropped."""
        grace = float(self.gateway.setting("fragment_grace"))
        done = 0
        for set_id, held in (await self.inventory(bucket)).items():
            if now - held.newest < grace:
                continue
            try:
                done += await self._keep_set(bucket, set_id, held)
            except (StoreUnavailable, VersionGone, grpc.RpcError) as exc:
                log.warning("fragment set %s/%s left for later: %s", bucket, set_id, exc)
        return done

    async def inventory(self, bucket: str) -> dict[str, HeldSet]:
        """Every fragment set of the bucket on the live nodes that answer."""
        found: dict[str, HeldSet] = {}
        store = self.gateway.store
        listed: set[str] = set()
        pages: list[tuple[str, pb.ObjectInfo]] = []
        for node in store.directory.nodes():
            if node.state == "removed" or not store.directory.is_live(node.node_id):
                continue
            try:
                pages.extend((node.node_id, e) for e in await self._listing(bucket, node))
            except grpc.RpcError as exc:
                log.warning(
                    "fragments of %s not listed node=%s: %s", bucket, node.node_id, exc.code()
                )
                continue
            listed.add(node.node_id)
        frozen = frozenset(listed)
        for node_id, entry in pages:
            set_id, _, index = entry.key.rpartition("/")
            if entry.deleted or not set_id or not index.isdigit():
                continue  # not a fragment
            held = found.get(set_id)
            if held is None:
                owner = msgpack.unpackb(entry.meta, raw=False) if entry.meta else {}
                held = found[set_id] = HeldSet(owner.get("k", ""), frozen)
            held.newest = max(held.newest, to_seconds(entry.timestamp))
            held.where.setdefault(int(index), set()).add(node_id)
        return found

    async def _listing(self, bucket: str, node: NodeEntry) -> list[pb.ObjectInfo]:
        """Every fragment of the bucket one node holds."""
        entries: list[pb.ObjectInfo] = []
        after = ""
        while True:
            request = pb.ListRequest(
                bucket=fragments_namespace(bucket), start_after=after, limit=LIST_PAGE
            )
            reply = await self.gateway.store.call(node, "ListObjects", request, LIST_TIMEOUT)
            entries.extend(reply.entries)
            if reply.complete or not reply.entries:
                return entries
            after = reply.entries[-1].key

    async def _keep_set(self, bucket: str, set_id: str, held: HeldSet) -> int:
        owner = await self._owner(bucket, held.key, set_id)
        if owner is None:
            if await self._upload_open(bucket, set_id):
                return 0  # a part of an upload still going on
            if self.gateway.store.directory.rebalancing():
                # Versions may sit outside their replicas (a node joined or drains): a
                # listing could miss the one that names the set. Decide when settled.
                return 0
            nodes = set().union(*held.where.values())
            self.gateway.store.coded.drop_set(bucket, f"{set_id}/", nodes)
            log.info("dropped unused fragment set %s/%s from %d nodes", bucket, set_id, len(nodes))
            return sum(len(holders) for holders in held.where.values())
        version, segment = owner
        return await self._repair(bucket, version, segment, held)

    async def _owner(
        self, bucket: str, key: str, set_id: str
    ) -> tuple[ObjectVersion, Segment] | None:
        """The version of key whose layout names the set, and its segment."""
        listing = self.gateway.store.list_versions(bucket, key, None)
        while (version := await listing.next()) is not None and version.key == key:
            for segment in version.layout.segments if version.layout else ():
                if segment.set_id == set_id:
                    return version, segment
        return None

    async def _upload_open(self, bucket: str, set_id: str) -> bool:
        """Whether the set belongs to a multipart upload still open or being completed
        (a completed one's object names the sets it uses)."""
        upload_id, dot, _ = set_id.partition(".")
        if not dot:
            return False
        upload = await self.gateway.etcd_call(uploads.get, bucket, upload_id)
        return upload is not None and upload.state in ("open", "completing")

    async def _repair(
        self, bucket: str, version: ObjectVersion, segment: Segment, held: HeldSet
    ) -> int:
        """Give every fragment of the segment a place on an active node that holds it."""
        directory = self.gateway.store.directory
        by_id = {n.node_id: n for n in directory.nodes()}
        nodes = list(segment.nodes)
        repaired = 0
        for index, node_id in enumerate(segment.nodes):
            node = by_id.get(node_id)
            holders = held.where.get(index, set())
            target: NodeEntry | None = node
            if node is not None and node.state == "active":
                if node_id in holders or node_id not in held.listed:
                    continue  # in place, or its node is down or silent for now: wait

                # else lost on a node that stays: code it again there
            else:
                target = self._new_home(bucket, version.key, nodes)
            if target is None:
                continue  # no node to put it on yet
            source = node if node is not None and node_id in holders else None
            await self._place(bucket, version.key, segment, index, target, source)
            nodes[index] = target.node_id
            repaired += 1
            log.info(
                "fragment %d of %s/%s %s %s (was on %s)",
                index,
                bucket,
                segment.set_id,
                "copied to" if source is not None else "coded again on",
                target.node_id,
                node_id or "no node",
            )
        if nodes != list(segment.nodes):
            await self._relocate(bucket, version, segment, tuple(nodes))
            for index, node_id in enumerate(segment.nodes):
                if node_id and node_id != nodes[index]:
                    prefix = fragment_key(segment.set_id, index)
                    self.gateway.store.coded.drop_set(bucket, prefix, [node_id])
        return repaired

    def _new_home(self, bucket: str, key: str, taken: list[str]) -> NodeEntry | None:
        """The best live active node of the key's ranking that holds none of the set."""
        directory = self.gateway.store.directory
        nodes = directory.nodes()
        for node in placement.replicas_for(nodes, bucket, key, replicas=len(nodes)):
            if node.node_id not in taken and directory.is_live(node.node_id):
                return node
        return None

    async def _place(
        self,
        bucket: str,
        key: str,
        segment: Segment,
        index: int,
        target: NodeEntry,
        source: NodeEntry | None,
    ) -> None:
        """Write fragment `index` to target: copied from source when it still holds it,
        else coded again from k others, stripe by stripe."""
        store = self.gateway.store
        header = pb.PutHeader(
            bucket=fragments_namespace(bucket),
            key=fragment_key(segment.set_id, index),
            # A version id of its own: the lost copy's may be remembered as deleted.
            version_id=uuid.uuid4().hex,
            timestamp=store.clock.now(),
        )
        writer = ReplicaWriter(
            target, store.directory.stub(target), header, store.directory.is_live
        )
        results = store.start_writers([writer])
        size = 0
        try:
            chunks = (
                self._copied(bucket, segment, index, source)
                if source is not None
                else self._recoded(bucket, segment, index)
            )
            async for data in chunks:
                size += len(data)
                await store.send_each([writer], [pb.PutMessage(data=data)], 1)
            meta = msgpack.packb({"b": bucket, "k": key})
            commit = pb.PutCommit(size=size, meta=meta, timestamp=store.clock.now())
            await store.send_each([writer], [pb.PutMessage(commit=commit)], 1)
        except BaseException:
            writer.abort()
            raise
        await store.await_acks([writer], results, 1, "fragments")

    async def _copied(
        self, bucket: str, segment: Segment, index: int, source: NodeEntry
    ) -> AsyncIterator[bytes]:
        store = self.gateway.store
        request = pb.GetRequest(
            bucket=fragments_namespace(bucket),
            key=fragment_key(segment.set_id, index),
        )
        responses = store.directory.stub(source).GetObject(request)
        try:
            await store.run(next, responses)  # the info message
            while (chunk := await store.run(next, responses, None)) is not None:
                yield chunk.data
        finally:
            responses.cancel()

    async def _recoded(self, bucket: str, segment: Segment, index: int) -> AsyncIterator[bytes]:
        store = self.gateway.store
        reader = StripeReader(store, bucket, segment, range(segment.stripe_count))
        # Not from the fragment being rebuilt: a copy of it may be the corrupt one.
        reader.candidates = [c for c in reader.candidates if c[0] != index]
        coder = codec(segment.data, segment.parity, segment.ec_type)
        await reader.open()
        try:
            for stripe in reader.stripes:
                block = await reader.stripe(stripe)
                fragments = await store.run(coder.encode, block)
                yield fragments[index]
        finally:
            reader.close()

    async def _relocate(
        self, bucket: str, version: ObjectVersion, segment: Segment, nodes: tuple[str, ...]
    ) -> None:
        """Name the segment's new nodes in the version's layout."""
        layout = version.layout
        assert layout is not None
        moved = dataclasses.replace(segment, nodes=nodes)
        segments = tuple(moved if s.set_id == segment.set_id else s for s in layout.segments)
        meta = with_layout(version.meta, dataclasses.replace(layout, segments=segments))
        await self.gateway.store.update_meta(bucket, version, meta)
