"""Erasure-coded objects on the storage nodes: the streamed write and the stripe reader.

A write codes the body stripe by stripe as it arrives and streams fragment i of every
stripe to the i-th node (ranked for the key by rendezvous hashing, spread over zones, live
ones only), so a gateway holds one stripe at a time whatever the object's size. It is
acknowledged once k + 1 fragments of every stripe are durable: any one more node may then
fail before repair and the object still reads, the same margin as 2 of 3 replicas give.
Only then is the object's version (metadata and layout, no bytes) written to the key's
replicas, so a failed write leaves no visible object; its fragments are dropped.

A read opens k fragment streams over the stripes a range needs, the data fragments first
(decoding them is a copy), and replaces a stream that fails or ends early by a parity
fragment from the same stripe on. Layout and stripe arithmetic: gateway/cluster/erasure.py.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import msgpack
import outcome
import trio

from coordinator import placement
from coordinator.clock import HybridClock
from coordinator.placement import NodeEntry
from coordinator.storage_mode import StorageMode
from gateway.cluster.erasure import (
    FRAGMENT_DATA,
    Codec,
    Layout,
    Segment,
    codec,
    fragment_key,
    fragments_namespace,
    with_layout,
)
from gateway.cluster.nodes import RECONNECT_WAIT, NodeDirectory
from gateway.cluster.quorum import STRAGGLER_GRACE
from gateway.cluster.store import ObjectVersion, StoreUnavailable
from gateway.cluster.writers import ReplicaWriter
from gateway.metrics import METRICS
from proto import storage_pb2 as pb


class DataPath(Protocol):
    """What coded objects use of the cluster client (gateway/cluster/client.py's
    ClusterStore): its node directory and clock, its threads, its unary calls and its
    replica writes."""

    directory: NodeDirectory
    clock: HybridClock

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    async def call(self, node: NodeEntry, method: str, request: Any, timeout: float) -> Any: ...

    def start(
        self,
        node: NodeEntry,
        method: str,
        request: Any,
        timeout: float,
        on_done: Callable[[outcome.Outcome[Any]], None],
        cancel_on_abandon: bool = True,
    ) -> Callable[[], object]: ...

    def start_writers(
        self, writers: list[ReplicaWriter]
    ) -> trio.MemoryReceiveChannel[tuple[ReplicaWriter, bool]]: ...

    async def send_each(
        self, writers: list[ReplicaWriter], messages: list[Any], quorum: int
    ) -> None: ...

    async def await_acks(
        self,
        writers: list[ReplicaWriter],
        results: trio.MemoryReceiveChannel[tuple[ReplicaWriter, bool]],
        need: int,
        what: str,
    ) -> list[ReplicaWriter]: ...

    async def put_replicas(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        make_meta: Callable[[int], bytes],
        size_hint: int | None = None,
        versioned: bool = False,
        stored_as: tuple[str, str] | None = None,
    ) -> ObjectVersion: ...


log = logging.getLogger(__name__)

# Bodies announced at most this long are coded at once and sent one message per node.
WHOLE_LIMIT = 1 << 20
WHOLE_TIMEOUT = 15.0
# Dropping a fragment set is one DeletePrefix per node, made whether or not anyone waits.
DROP_TIMEOUT = 30.0
# How long a completed upload's sweep of unused part fragments may take.
SWEEP_TIMEOUT = 5.0
# Segments whose fragments are at most this long are read whole, one HEAD per fragment.
WHOLE_READ_LIMIT = 1 << 20
# A fragment stream that has not opened after this long gets a spare opened beside it.
HEDGE_DELAY = 0.5
# A stripe whose fragments have not all come after this long gets a spare stream.
STRIPE_HEDGE_DELAY = 1.0
# A fragment stream that has not opened, or gave no data, for this long is given up on.
OPEN_TIMEOUT = 5.0
READ_TIMEOUT = 10.0


class CodedObjects:
    """Erasure-coded puts and gets for the cluster client (which calls these for buckets
    in erasure or hybrid mode, and for any version whose metadata names a layout)."""

    def __init__(self, store: DataPath) -> None:
        self.store = store

    async def fragment_nodes(self, bucket: str, key: str, count: int) -> list[NodeEntry]:
        """The live nodes of the key's ranking (zones spread first): the first `count`
        take the fragments, the others are spares. A node whose channel is in reconnect
        backoff (it restarted a moment ago) would fail its stream at once: it is dialled
        first, and passed over if it does not connect."""
        directory = self.store.directory
        nodes = directory.nodes()
        ranked = placement.replicas_for(nodes, bucket, key, replicas=len(nodes))
        live = [n for n in ranked if directory.is_live(n.node_id)]
        dialling = [n for n in live[:count] if directory.needs_dial(n)]
        if not dialling:
            return live
        unready: set[str] = set()

        async def dial(node: NodeEntry) -> None:
            if not await self.store.run(directory.wait_ready, node, RECONNECT_WAIT):
                unready.add(node.node_id)

        async with trio.open_nursery() as nursery:
            for node in dialling:
                nursery.start_soon(dial, node)
        return [n for n in live if n.node_id not in unready]

    # -- writes ------------------------------------------------------------------------
    async def put(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        make_meta: Callable[[int], bytes],
        mode: StorageMode,
        versioned: bool,
        stored_as: tuple[str, str] | None = None,
        set_prefix: str = "",
        size_hint: int | None = None,
    ) -> ObjectVersion:
        """Code the body onto k+m nodes of the key's ranking, then write its version
        (or, with stored_as, the multipart part it is) naming them. set_prefix begins
        the fragment set's id (a part's: its upload id, so an abort finds them all).
        A body announced at most WHOLE_LIMIT long is coded whole and each node gets its
        fragment in one message; a longer one is streamed stripe by stripe."""
        data, parity = mode.data, mode.parity
        need = data + 1
        ranked = await self.fragment_nodes(bucket, key, data + parity)
        nodes, spares = ranked[: data + parity], ranked[data + parity :]
        if len(nodes) < need:
            raise StoreUnavailable(
                f"{len(nodes)} storage nodes are up; {data}+{parity} coding needs {need}"
            )
        job = _Job(
            bucket=bucket,
            key=key,
            set_id=set_prefix + uuid.uuid4().hex,
            nodes=nodes,
            spares=spares,
            need=need,
            coder=codec(data, parity),
            meta=msgpack.packb({"b": bucket, "k": key}),
        )
        if size_hint is not None and size_hint <= WHOLE_LIMIT:
            coded = await self._put_whole(job, chunks)
        else:
            coded = await self._put_streamed(job, chunks)
        if coded is None:  # no bytes to code: the version alone says everything
            plain = lambda size: with_layout(make_meta(size), None)  # noqa: E731
            return await self.store.put_replicas(
                bucket, key, _nothing(), plain, 0, versioned, stored_as
            )
        layout = Layout((coded,))
        meta = with_layout(make_meta(coded.size), layout)
        try:
            stored = await self.store.put_replicas(
                bucket, key, _nothing(), lambda _: meta, 0, versioned, stored_as
            )
        except BaseException:
            self.drop(bucket, layout)
            raise
        return dataclasses.replace(stored, size=coded.size, meta=meta, layout=layout)

    def _header(self, job: _Job, index: int) -> pb.PutHeader:
        return pb.PutHeader(
            bucket=fragments_namespace(job.bucket),
            key=fragment_key(job.set_id, index),
            version_id=uuid.uuid4().hex,
            timestamp=self.store.clock.now(),
        )

    async def _put_streamed(self, job: _Job, chunks: AsyncIterator[bytes]) -> Segment | None:
        """Stream fragment i of each stripe to node i as the body arrives."""
        store = self.store
        writers = [
            ReplicaWriter(
                node, store.directory.stub(node), self._header(job, i), store.directory.is_live
            )
            for i, node in enumerate(job.nodes)
        ]
        results = store.start_writers(writers)
        stripe = job.coder.data * FRAGMENT_DATA
        sent = [0] * len(writers)
        sizes: list[int] = []  # object bytes per stripe
        fragment_sizes: list[int] = []  # bytes of one fragment, per stripe

        async def code(block: bytes) -> None:
            fragments = await store.run(job.coder.encode, block)
            sizes.append(len(block))
            fragment_sizes.append(len(fragments[0]))
            for index in range(len(writers)):
                sent[index] += len(fragments[index])
            messages = [pb.PutMessage(data=fragments[i]) for i in range(len(writers))]
            await store.send_each(writers, messages, job.need)

        try:
            buffer = bytearray()
            async for piece in chunks:
                buffer += piece
                while len(buffer) >= stripe:
                    with memoryview(buffer) as view:
                        block = bytes(view[:stripe])
                    del buffer[:stripe]
                    await code(block)
            if buffer:
                await code(bytes(buffer))
            if not sizes:
                for writer in writers:
                    writer.abort()
                return None
            timestamp = store.clock.now()
            commits = [
                pb.PutMessage(commit=pb.PutCommit(size=sent[i], meta=job.meta, timestamp=timestamp))
                for i in range(len(writers))
            ]
            await store.send_each(writers, commits, job.need)
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        await store.await_acks(writers, results, job.need, "fragments")
        stored = [w.node.node_id if not w.failed else "" for w in writers]
        return job.segment(sum(sizes), fragment_sizes[0], fragment_sizes[-1], stored)

    async def _put_whole(self, job: _Job, chunks: AsyncIterator[bytes]) -> Segment | None:
        """Code a small body at once and send each node its fragment in one message (no
        stream, no thread per node; concurrent small writes to a node go out together)."""
        store = self.store
        body = bytearray()
        async for piece in chunks:
            body += piece
            if len(body) > 2 * WHOLE_LIMIT:  # the client lied about the length
                raise StoreUnavailable("body larger than announced")
        if not body:
            return None
        stripe = job.coder.data * FRAGMENT_DATA
        coded = [
            await store.run(job.coder.encode, bytes(body[at : at + stripe]))
            for at in range(0, len(body), stripe)
        ]
        timestamp = store.clock.now()
        requests = []
        for index in range(len(job.nodes)):
            fragment = b"".join(stripe_fragments[index] for stripe_fragments in coded)
            requests.append(
                pb.PutWhole(
                    header=self._header(job, index),
                    data=fragment,
                    commit=pb.PutCommit(size=len(fragment), meta=job.meta, timestamp=timestamp),
                )
            )
        nodes = list(job.nodes)
        failed = await self._each_once(nodes, "PutObjectWhole", requests, job.need)
        # A node that died a moment ago still holds its lease: its fragments go to spares.
        again = [i for i, node in enumerate(nodes) if node.node_id in failed][: len(job.spares)]
        if again:
            for index, spare in zip(again, job.spares, strict=False):
                nodes[index] = spare
            retried = await self._each_once(
                [nodes[i] for i in again],
                "PutObjectWhole",
                [requests[i] for i in again],
                len(again),
            )
            failed = (failed - {nodes[i].node_id for i in again}) | retried
        stored = [n.node_id if n.node_id not in failed else "" for n in nodes]
        if sum(map(bool, stored)) < job.need:
            raise StoreUnavailable(
                f"only {sum(map(bool, stored))} of {len(nodes)} fragments were stored"
            )
        return job.segment(len(body), len(coded[0][0]), len(coded[-1][0]), stored)

    async def _each_once(
        self, nodes: list[NodeEntry], method: str, requests: list[Any], need: int
    ) -> set[str]:
        """requests[i] to nodes[i], each a unary call that lands even if nobody waits;
        returns once all answered, or STRAGGLER_GRACE after `need` did. The node ids
        whose call failed (those still out count as stored)."""
        failed: set[str] = set()
        answered = 0
        wake = trio.Event()

        def finished(node: NodeEntry, answer: outcome.Outcome[Any]) -> None:
            nonlocal answered, wake
            answered += 1
            if isinstance(answer, outcome.Error):
                failed.add(node.node_id)
                log.warning("fragment write failed node=%s: %s", node.node_id, answer.error)
            wake.set()

        for node, request in zip(nodes, requests, strict=True):
            self.store.start(
                node,
                method,
                request,
                WHOLE_TIMEOUT,
                functools.partial(finished, node),
                False,
            )
        give_up = math.inf
        while answered < len(nodes):
            with trio.move_on_at(give_up):
                await wake.wait()
            if trio.current_time() >= give_up:
                break
            wake = trio.Event()
            if answered - len(failed) >= need and give_up == math.inf:
                give_up = trio.current_time() + STRAGGLER_GRACE
        return failed

    def drop(self, bucket: str, layout: Layout) -> None:
        """Remove a version's fragments from their nodes, in the background (a node that
        misses it keeps an unreferenced fragment: disk, never a visible object)."""
        for segment in layout.segments:
            self.drop_set(bucket, segment.set_id, segment.nodes)

    def drop_set(self, bucket: str, prefix: str, node_ids: Iterable[str]) -> None:
        """Remove the fragments whose set id begins with prefix from those nodes."""
        by_id = {n.node_id: n for n in self.store.directory.nodes()}
        request = pb.DeletePrefixRequest(bucket=fragments_namespace(bucket), prefix=prefix)
        for node_id in dict.fromkeys(node_ids):
            node = by_id.get(node_id)
            if node is None:
                continue

            def done(answer: outcome.Outcome[Any], node_id: str = node_id) -> None:
                if isinstance(answer, outcome.Error):
                    log.warning("fragments not dropped node=%s: %s", node_id, answer.error)

            self.store.start(node, "DeletePrefix", request, DROP_TIMEOUT, done, False)

    async def sweep_upload(self, bucket: str, upload_id: str, kept: set[str]) -> None:
        """Drop the fragment sets of a completed upload's parts that its object does not
        use (parts uploaded again or left out), from every node (best effort: what a node
        misses stays, unreferenced, until the bucket goes)."""
        namespace = fragments_namespace(bucket)
        nodes = [n for n in self.store.directory.nodes() if n.state != "removed"]

        async def one(node: NodeEntry) -> None:
            found: set[str] = set()
            after = ""
            while True:
                request = pb.ListRequest(
                    bucket=namespace, prefix=f"{upload_id}.", start_after=after, limit=1000
                )
                try:
                    reply = await self.store.call(node, "ListObjects", request, SWEEP_TIMEOUT)
                except grpc.RpcError as exc:
                    log.warning("fragments not swept node=%s code=%s", node.node_id, exc.code())
                    return
                found.update(e.key.split("/")[0] for e in reply.entries)
                if reply.complete or not reply.entries:
                    break
                after = reply.entries[-1].key
            for set_id in found - kept:
                self.drop_set(bucket, f"{set_id}/", [node.node_id])

        with trio.move_on_after(SWEEP_TIMEOUT):
            async with trio.open_nursery() as nursery:
                for node in nodes:
                    if self.store.directory.is_live(node.node_id):
                        nursery.start_soon(one, node)

    # -- reads -------------------------------------------------------------------------
    async def read(
        self, bucket: str, version: ObjectVersion, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        """Open the first segment's fragment streams now (errors surface here), then
        iterate the bytes."""
        layout = version.layout
        assert layout is not None
        total = length if length else layout.size - offset
        pieces = layout.pieces(offset, total)
        if not pieces:
            return _nothing()
        first = await self._open(bucket, *pieces[0])
        return self._bytes(bucket, first, pieces)

    async def _open(
        self, bucket: str, segment: Segment, offset: int, length: int
    ) -> tuple[StripeReader | WholeReader, int, int]:
        stripes = segment.stripes_for(offset, length)
        reader: StripeReader | WholeReader
        if segment.fragment_range(range(segment.stripe_count))[1] <= WHOLE_READ_LIMIT:
            reader = WholeReader(self.store, bucket, segment, stripes)
        else:
            reader = StripeReader(self.store, bucket, segment, stripes)
        await reader.open()
        return reader, offset, length

    async def _bytes(
        self,
        bucket: str,
        first: tuple[StripeReader | WholeReader, int, int],
        pieces: list[tuple[Segment, int, int]],
    ) -> AsyncIterator[bytes]:
        reader, offset, total = first
        for index in range(len(pieces)):
            if index:
                reader, offset, total = await self._open(bucket, *pieces[index])
            try:
                skip = offset - reader.stripes.start * reader.segment.stripe
                for stripe in reader.stripes:
                    block = await reader.stripe(stripe)
                    if skip:
                        block, skip = block[skip:], 0
                    block = block[:total]
                    total -= len(block)
                    yield block
            finally:
                reader.close()


@dataclass
class _Job:
    """One coded write: where its fragments go and how they are coded."""

    bucket: str
    key: str
    set_id: str
    nodes: list[NodeEntry]
    spares: list[NodeEntry]  # live nodes that may take a fragment another failed
    need: int
    coder: Codec
    meta: bytes  # each fragment's: which object it is for (the fragment keeper reads it)

    def segment(self, size: int, fragment: int, last: int, stored: list[str]) -> Segment:
        """The segment written, stored[i] the node of fragment i ("" if it failed)."""
        total = self.coder.data + self.coder.parity
        return Segment(
            size=size,
            data=self.coder.data,
            parity=self.coder.parity,
            stripe=self.coder.data * FRAGMENT_DATA,
            fragment_size=fragment,
            last_fragment_size=last,
            set_id=self.set_id,
            nodes=tuple(stored + [""] * (total - len(stored))),
            ec_type=self.coder.ec_type,
        )


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


class FragmentStream:
    """One open GetObject of a fragment, read a stripe's fragment at a time."""

    def __init__(self, store: DataPath, index: int, node: NodeEntry, responses: Any) -> None:
        self.store = store
        self.index = index
        self.node = node
        self.responses = responses
        # The chunk being read (1 MiB from the node holds several stripes' fragments)
        # and how far: reads slice it rather than copy it into a buffer.
        self.chunk = b""
        self.offset = 0

    async def read(self, count: int) -> bytes | memoryview:
        """Exactly count bytes (a view of the chunk when they lie in one); EOFError when
        the stream ends first."""
        parts: list[memoryview] = []
        while count:
            if self.offset == len(self.chunk):
                with trio.fail_after(READ_TIMEOUT):
                    message = await self.store.run(next, self.responses, None)
                if message is None:
                    raise EOFError(f"fragment {self.index} ended early on {self.node.node_id}")
                self.chunk, self.offset = message.data, 0
            take = min(count, len(self.chunk) - self.offset)
            parts.append(memoryview(self.chunk)[self.offset : self.offset + take])
            self.offset += take
            count -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self.responses.cancel()


class SegmentReader:
    """What reading a segment's stripes starts from: its codec and the fragments to ask
    for, (index, node) of the live nodes, data fragments first (no reconstruction)."""

    def __init__(self, store: DataPath, bucket: str, segment: Segment, stripes: range) -> None:
        self.store = store
        self.segment = segment
        self.stripes = stripes
        self.namespace = fragments_namespace(bucket)
        self.codec = codec(segment.data, segment.parity, segment.ec_type)
        by_id = {n.node_id: n for n in store.directory.nodes()}
        self.candidates = [
            (index, by_id[node_id])
            for index, node_id in enumerate(segment.nodes)
            if node_id in by_id and store.directory.is_live(node_id)
        ]
        # Fragments whose node could not be reached (a node restarted a moment ago is,
        # while its channel is in reconnect backoff): asked again once, after dialling.
        self.unreachable: list[tuple[int, NodeEntry]] = []
        self.redialled = False

    async def redial(self) -> bool:
        """Dial the unreachable fragments' nodes and make them candidates again (once);
        whether any came back."""
        if self.redialled or not self.unreachable:
            return False
        self.redialled = True
        directory = self.store.directory

        async def dial(index: int, node: NodeEntry) -> None:
            if await self.store.run(directory.wait_ready, node, RECONNECT_WAIT):
                self.candidates.append((index, node))

        async with trio.open_nursery() as nursery:
            for index, node in self.unreachable:
                nursery.start_soon(dial, index, node)
        return bool(self.candidates)

    async def segment_stripe(
        self, stripe: int, fragments: Mapping[int, bytes | memoryview]
    ) -> bytes:
        """The object bytes of one stripe from at least k of its fragments (by index):
        the data fragments' payloads joined when they are all there, else decoded."""
        length = self.segment.stripe_length(stripe)
        data = self.segment.data
        if all(i in fragments for i in range(data)):
            return self.codec.join([fragments[i] for i in range(data)], length)
        chosen = [bytes(fragments[i]) for i in sorted(fragments)[:data]]
        block = await self.store.run(self.codec.decode, chosen)
        return block[:length]


class StripeReader(SegmentReader):
    """k open fragment streams over a run of stripes, with failover to the others."""

    def __init__(self, store: DataPath, bucket: str, segment: Segment, stripes: range) -> None:
        super().__init__(store, bucket, segment, stripes)
        self.streams: list[FragmentStream] = []

    async def open(self, stripe: int | None = None, want: int | None = None) -> None:
        """Open streams until `want` (k by default) are open, from stripe on (the first
        by default). A node that has not answered after HEDGE_DELAY gets a spare asked
        beside it; one that fails or takes OPEN_TIMEOUT is replaced by the next one."""
        want = self.segment.data if want is None else want
        first = self.stripes.start if stripe is None else stripe
        offset, length = self.segment.fragment_range(range(first, self.stripes.stop))
        ended_send, ended = trio.open_memory_channel[bool](len(self.segment.nodes))
        pending = 0

        async def attempt(index: int, node: NodeEntry) -> None:
            request = pb.GetRequest(
                bucket=self.namespace,
                key=fragment_key(self.segment.set_id, index),
                offset=offset,
                length=length,
            )
            responses = self.store.directory.stub(node).GetObject(request)
            ok = False
            try:
                with trio.fail_after(OPEN_TIMEOUT):
                    await self.store.run(next, responses)  # the info message
                ok = True
            except (grpc.RpcError, StopIteration, trio.TooSlowError) as exc:
                code = exc.code() if isinstance(exc, grpc.RpcError) else type(exc).__name__
                log.warning("fragment %d unreadable node=%s: %s", index, node.node_id, code)
                METRICS.record_rpc_error(node.node_id, code)
                if code == grpc.StatusCode.UNAVAILABLE:
                    self.unreachable.append((index, node))
            finally:
                if ok and len(self.streams) < want:
                    self.streams.append(FragmentStream(self.store, index, node, responses))
                else:
                    responses.cancel()
            ended_send.send_nowait(ok)

        def ask_next(nursery: trio.Nursery) -> bool:
            nonlocal pending
            if not self.candidates:
                return False
            pending += 1
            nursery.start_soon(attempt, *self.candidates.pop(0))
            return True

        async with trio.open_nursery() as nursery:
            for _ in range(want - len(self.streams)):
                ask_next(nursery)
            hedge_at = trio.current_time() + HEDGE_DELAY
            while len(self.streams) < want:
                if pending == 0 and not ask_next(nursery):
                    if await self.redial():
                        continue
                    raise StoreUnavailable(
                        f"only {len(self.streams)} of the {self.segment.data} fragments a "
                        "read needs are reachable"
                    )
                with trio.move_on_at(hedge_at):
                    ok = await ended.receive()
                    pending -= 1
                    if not ok:
                        ask_next(nursery)
                    continue
                hedge_at = math.inf  # one spare for the slow ones, then wait for answers
                ask_next(nursery)
            nursery.cancel_scope.cancel()  # spares still opening are not needed

    async def stripe(self, stripe: int) -> bytes:
        """The object bytes of one stripe (the stripes are read in order). A fragment
        not there after STRIPE_HEDGE_DELAY gets a spare stream opened beside it; whichever
        k come first make the stripe, and a stream cut off mid-fragment is dropped."""
        need = self.segment.data
        fragments: dict[int, bytes | memoryview] = {}
        while len(fragments) < need:
            unread = sum(s.index not in fragments for s in self.streams)
            missing = need - len(fragments) - unread
            if missing > 0:  # streams dropped before: others from this stripe on
                await self.open(stripe, want=len(self.streams) + missing)
            await self._read_round(stripe, fragments)
        return await self.segment_stripe(stripe, fragments)

    async def _read_round(self, stripe: int, fragments: dict[int, bytes | memoryview]) -> None:
        """Read the stripe's fragment from every open stream that has not given it yet,
        into fragments, until k are in or every read ended; a stream that broke, or was
        cut off mid-fragment, is dropped."""
        size = self.segment.fragment_length(stripe)
        need = self.segment.data
        reading = [s for s in self.streams if s.index not in fragments]
        broke: list[FragmentStream] = []
        finished = 0
        enough = trio.Event()

        async def one(stream: FragmentStream) -> None:
            nonlocal finished
            try:
                fragments[stream.index] = await stream.read(size)
            except (grpc.RpcError, EOFError, trio.TooSlowError) as exc:
                log.warning("fragment stream broke node=%s: %s", stream.node.node_id, exc)
                broke.append(stream)
            finally:
                finished += 1
                if len(fragments) >= need or finished == len(reading):
                    enough.set()

        async with trio.open_nursery() as nursery:
            for stream in reading:
                nursery.start_soon(one, stream)
            with trio.move_on_after(STRIPE_HEDGE_DELAY):
                await enough.wait()
            if not enough.is_set() and self.candidates:
                spare = await self._spare(stripe)
                if spare is not None:
                    reading.append(spare)
                    nursery.start_soon(one, spare)
            await enough.wait()
            nursery.cancel_scope.cancel()
        for stream in reading:
            if stream in broke or stream.index not in fragments:
                stream.close()  # broken, or cut off mid-fragment: out of step
                self.streams.remove(stream)

    async def _spare(self, stripe: int) -> FragmentStream | None:
        """One more stream, beside a slow one, from stripe on (None if none opens)."""
        opened = len(self.streams)
        log.info("fragment slow in stripe %d of %s: opening a spare", stripe, self.segment.set_id)
        try:
            await self.open(stripe, want=opened + 1)
        except StoreUnavailable:
            return None
        return self.streams[-1] if len(self.streams) > opened else None

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


class WholeReader(SegmentReader):
    """k whole fragments of a small segment, each in one HEAD answer (no stream, no
    thread): the data fragments first, a spare for one that fails or is slow."""

    def __init__(self, store: DataPath, bucket: str, segment: Segment, stripes: range) -> None:
        super().__init__(store, bucket, segment, stripes)
        self.fragments: dict[int, bytes] = {}

    async def open(self) -> None:
        need = self.segment.data
        pending = 0
        wake = trio.Event()

        def ask() -> bool:
            nonlocal pending
            if not self.candidates:
                return False
            index, node = self.candidates.pop(0)
            request = pb.HeadRequest(
                bucket=self.namespace,
                key=fragment_key(self.segment.set_id, index),
                inline_limit=WHOLE_READ_LIMIT,
            )
            pending += 1
            self.store.start(
                node, "HeadObject", request, OPEN_TIMEOUT, functools.partial(got, index, node)
            )
            return True

        def got(index: int, node: NodeEntry, answer: outcome.Outcome[Any]) -> None:
            nonlocal pending
            pending -= 1
            if isinstance(answer, outcome.Value) and answer.value.has_data:
                self.fragments[index] = answer.value.data
            else:
                error = answer.error if isinstance(answer, outcome.Error) else "not held"
                log.warning("fragment %d unreadable node=%s: %s", index, node.node_id, error)
                if isinstance(error, grpc.RpcError):
                    self.unreachable.append((index, node))
                ask()
            wake.set()

        for _ in range(need):
            ask()
        hedge_at = trio.current_time() + HEDGE_DELAY
        while len(self.fragments) < need:
            if pending == 0 and not ask():
                if await self.redial():
                    continue
                raise StoreUnavailable(
                    f"only {len(self.fragments)} of the {need} fragments a read needs are reachable"
                )
            with trio.move_on_at(hedge_at):
                await wake.wait()
                wake = trio.Event()
                continue
            hedge_at = math.inf  # a spare for the slow ones, then wait for answers
            ask()

    async def stripe(self, stripe: int) -> bytes:
        start = stripe * self.segment.fragment_size
        end = start + self.segment.fragment_length(stripe)
        return await self.segment_stripe(
            stripe, {i: fragment[start:end] for i, fragment in self.fragments.items()}
        )

    def close(self) -> None:
        self.fragments.clear()
