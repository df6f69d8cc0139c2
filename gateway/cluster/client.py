"""The gRPC cluster client: an ObjectStore over the storage nodes.

Writes stream to every live replica in parallel and return after W durable
acks; reads ask enough replicas (R - W + 1) that they always overlap the
last acknowledged write, pick the newest version and stream it from a node
that holds it, resuming on another if one fails mid-stream.

The gRPC stubs are synchronous, so every call runs in a worker thread under
a capacity limiter; the event loop never blocks on the network.
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import outcome
import trio

from coordinator.clock import HybridClock
from coordinator.namespaces import bucket_of, fragments_namespace, part_of, parts_namespace
from coordinator.placement import NodeEntry, write_quorum
from coordinator.storage_mode import StorageMode
from gateway.cluster import batches, quorum
from gateway.cluster.bridge import AsyncioBridge
from gateway.cluster.coalesce import Coalescer
from gateway.cluster.coded import CodedObjects
from gateway.cluster.erasure import with_layout
from gateway.cluster.listing import MergedListing, Position, VersionListing, version_of
from gateway.cluster.nodes import RECONNECT_WAIT, NodeDirectory
from gateway.cluster.quorum import STRAGGLER_GRACE
from gateway.cluster.store import NULL_VERSION, ObjectVersion, StoreUnavailable, VersionGone
from gateway.cluster.writers import ReplicaWriter
from gateway.metrics import METRICS
from proto import storage_pb2 as pb

ListingT = TypeVar("ListingT", bound=MergedListing)

log = logging.getLogger(__name__)

# gRPC messages carry this much object data: big enough to amortise the
# per-message cost, small enough to keep memory per request low.
CHUNK_SIZE = 1 << 20
HEAD_TIMEOUT = 5.0
# A batch of up to 1000 deletes is one index transaction on a node.
BATCH_TIMEOUT = 15.0
# A read quorum not answered after this long also asks the next replica.
HEDGE_DELAY = 0.5
# After the last byte, how long a write waits for its quorum of acks.
ACK_TIMEOUT = 60.0
# Bodies announced at most this long are sent to replicas in one message.
SMALL_PUT_LIMIT = 256 * 1024
# Objects up to this size come back with the quorum head (from the first replica only):
# one round trip, no stream. At most this much of a GET is held in memory at once.
INLINE_READ_LIMIT = 1 << 20
# Read repairs a gateway asks for at once; a read that finds more stale replicas leaves
# them to anti-entropy (storage_node/replicator.py).
MAX_READ_REPAIRS = 16
REPAIR_TIMEOUT = 5.0
# Times a small write or a delete is stamped again when a replica holds a later stamp.
STALE_RETRIES = 2


class ClusterStore:
    """ObjectStore implementation over the storage nodes' gRPC service."""

    def __init__(self, directory: NodeDirectory, clock: HybridClock, threads: int = 256) -> None:
        self.directory = directory
        self.clock = clock
        self.limiter = trio.CapacityLimiter(threads)
        self.bridge = AsyncioBridge()
        self._batches: dict[tuple[str, str, str], Coalescer[Any, Any]] = {}
        self._repairs = 0  # read repairs asked for and not yet answered
        # The storage node on this gateway's host (`tessera node`): reads ask it first
        # and take their bytes from it when it holds the newest version.
        self.local_node: str | None = None
        self.coded = CodedObjects(self)

    def _local_first(self, nodes: list[NodeEntry]) -> list[NodeEntry]:
        """nodes, this host's storage node (if among them) first."""
        local = self.local_node
        if local is None or not nodes or nodes[0].node_id == local:
            return nodes
        return sorted(nodes, key=lambda node: node.node_id != local)  # stable

    async def call(
        self,
        node: NodeEntry,
        method: str,
        request: Any,
        timeout: float,
        cancel_on_abandon: bool = True,
    ) -> Any:
        """One unary RPC on node (see start). With cancel_on_abandon False the call is
        made even if its caller stops waiting."""
        done = trio.Event()
        result: list[outcome.Outcome[Any]] = []

        def finished(answer: outcome.Outcome[Any]) -> None:
            result.append(answer)
            done.set()

        cancel = self.start(node, method, request, timeout, finished, cancel_on_abandon)
        try:
            await done.wait()
        except trio.Cancelled:
            cancel()
            raise
        return result[0].unwrap()

    def start(
        self,
        node: NodeEntry,
        method: str,
        request: Any,
        timeout: float,
        on_done: Callable[[outcome.Outcome[Any]], None],
        cancel_on_abandon: bool = True,
    ) -> Callable[[], object]:
        """Begin one unary RPC on node, through the grpc.aio bridge; on_done(its outcome)
        runs in the trio thread when it ends. HEADs and small PUTs that concurrent requests
        send the same node go out together (gateway/cluster/batches.py). Returns what to
        call if the caller stops waiting: it cancels the RPC, unless cancel_on_abandon is
        False (a replica write that should land anyway)."""
        spec = batches.BATCHED.get(method)
        if spec is not None:
            coalescer = self._coalescer(node, method, spec, timeout)
            call = coalescer.submit(
                request,
                lambda done: on_done(outcome.capture(done.result)),
                send_if_abandoned=not cancel_on_abandon,
            )
            return functools.partial(coalescer.withdraw, call)
        future = self.bridge.submit(self._call_on_loop(node, method, request, timeout), on_done)
        return future.cancel if cancel_on_abandon else _stay

    def _coalescer(
        self, node: NodeEntry, method: str, spec: batches.BatchRpc, timeout: float
    ) -> Coalescer[Any, Any]:
        key = (method, node.node_id, node.address)
        coalescer = self._batches.get(key)
        if coalescer is None:

            def send(requests: list[Any], finished: Callable[[Any], None]) -> None:
                self.bridge.submit(
                    self._batch_on_loop(node, method, spec, requests, timeout),
                    lambda answers: finished(_value_or_error(answers)),
                )

            coalescer = Coalescer(send, batches.IN_FLIGHT, batches.MAX_COST, spec.cost)
            self._batches[key] = coalescer
        return coalescer

    async def _batch_on_loop(
        self,
        node: NodeEntry,
        method: str,
        spec: batches.BatchRpc,
        requests: list[Any],
        timeout: float,
    ) -> list[Any]:
        if len(requests) == 1:
            return [await self._call_on_loop(node, method, requests[0], timeout)]
        batch_timeout = max(timeout, BATCH_TIMEOUT)  # many writes, each maybe fsynced
        try:
            reply = await self._call_on_loop(node, spec.method, spec.wrap(requests), batch_timeout)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            # A node not yet upgraded (a rolling upgrade): one call each, as before.
            return [await self._call_on_loop(node, method, r, timeout) for r in requests]
        return spec.unwrap(reply)

    async def _call_on_loop(
        self,
        node: NodeEntry,
        method: str,
        request: Any,
        timeout: float,
        wait_for_ready: bool = False,
    ) -> Any:
        stub = self.directory.aio_stub(node)
        return await getattr(stub, method)(request, timeout=timeout, wait_for_ready=wait_for_ready)

    async def _once_connected(
        self, nodes: list[NodeEntry], method: str, request: Any
    ) -> list[tuple[NodeEntry, Any]]:
        """Call a unary RPC on each node, each waiting up to RECONNECT_WAIT for its
        channel to connect: for replicas a write's quorum needs that failed at once,
        their channel still in reconnect backoff (a node back from a partition or a
        restart a moment ago). The answers that came."""
        answers: list[tuple[NodeEntry, Any]] = []

        async def one(node: NodeEntry) -> None:
            call = self._call_on_loop(node, method, request, RECONNECT_WAIT, wait_for_ready=True)
            done = trio.Event()
            result: list[outcome.Outcome[Any]] = []

            def finished(answer: outcome.Outcome[Any]) -> None:
                result.append(answer)
                done.set()

            self.bridge.submit(call, finished)
            await done.wait()
            try:
                answers.append((node, result[0].unwrap()))
            except grpc.RpcError as exc:
                log.warning("rpc failed again node=%s code=%s", node.node_id, exc.code())

        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(one, node)
        return answers

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await trio.to_thread.run_sync(
            functools.partial(fn, *args, **kwargs), limiter=self.limiter, abandon_on_cancel=True
        )

    def _replicas(self, bucket: str, key: str) -> tuple[list[NodeEntry], int]:
        replicas = self.directory.replicas(bucket, key)
        if not replicas:
            raise StoreUnavailable("no storage nodes in the placement map")
        return replicas, write_quorum(len(replicas))

    # -- writes ------------------------------------------------------------
    async def put_object(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        make_meta: Callable[[int], bytes],
        size_hint: int | None = None,
        stored_as: tuple[str, str] | None = None,
        versioned: bool = False,
        mode: StorageMode | None = None,
    ) -> ObjectVersion:
        # A multipart part is coded whatever its size, so that its upload's parts all are.
        size = None if stored_as is not None else size_hint
        coded = mode is not None and size_hint != 0 and mode.erasure_for(size)
        # The null version a coded write replaces is most likely coded too: its fragments
        # go with it now (any others, the fragment keeper finds unused later).
        replaced = None
        if coded and not versioned and stored_as is None:
            replaced = await self.head_version(bucket, key, NULL_VERSION)
        if coded:
            assert mode is not None
            part = part_of(*stored_as) if stored_as is not None else None
            stored = await self.coded.put(
                bucket,
                key,
                chunks,
                make_meta,
                mode,
                versioned,
                stored_as,
                set_prefix=f"{part[1]}." if part else "",
                size_hint=size_hint,
            )
        else:
            # A copy of a coded object stored as replicas: its metadata names no layout.
            plain = lambda size: with_layout(make_meta(size), None)  # noqa: E731
            stored = await self.put_replicas(
                bucket, key, chunks, plain, size_hint, versioned, stored_as
            )
        if replaced is not None and replaced.layout and replaced.version_id != stored.version_id:
            self.coded.drop(bucket, replaced.layout)
        return stored

    async def put_replicas(
        self,
        bucket: str,
        key: str,
        chunks: AsyncIterator[bytes],
        make_meta: Callable[[int], bytes],
        size_hint: int | None = None,
        versioned: bool = False,
        stored_as: tuple[str, str] | None = None,
    ) -> ObjectVersion:
        """put_object as R full copies (make_meta's result stored as it is)."""
        replicas, quorum = self._replicas(bucket, key)
        live = [n for n in replicas if self.directory.is_live(n.node_id)]
        if len(live) < quorum:
            raise StoreUnavailable(f"{len(live)} of {len(replicas)} replicas are up")
        version_id = uuid.uuid4().hex
        timestamp = self.clock.now()
        # Placed by (bucket, key) but possibly stored under another name, e.g.
        # a multipart part lives on the replicas of the object it will join.
        namespace, name = stored_as or (bucket, key)
        header = pb.PutHeader(
            bucket=namespace,
            key=name,
            version_id=version_id,
            timestamp=timestamp,
            versioned=versioned,
        )
        if size_hint is not None and size_hint <= SMALL_PUT_LIMIT:
            return await self._put_small(live, replicas, quorum, header, chunks, make_meta)
        # A replica whose channel is in reconnect backoff (back from a partition or a
        # restart a moment ago) would fail the stream at once: when the quorum needs it,
        # dial it first.
        dialling = [n for n in live if self.directory.needs_dial(n)]
        if dialling and len(live) - len(dialling) < quorum:
            for node in dialling:
                await self.run(self.directory.wait_ready, node, RECONNECT_WAIT)
        writers = [
            ReplicaWriter(n, self.directory.stub(n), header, self.directory.is_live) for n in live
        ]
        # Streamed, the body cannot be sent again: a replica that finds a later stamp
        # at commit keeps the write aside until it is stamped again (_restamp).
        header.restampable = True
        results = self.start_writers(writers)

        size = 0
        try:
            buffer = bytearray()
            async for piece in chunks:
                buffer += piece
                while len(buffer) >= CHUNK_SIZE:
                    with memoryview(buffer) as view:  # one copy, not slice + bytes
                        data = bytes(view[:CHUNK_SIZE])
                    del buffer[:CHUNK_SIZE]
                    size += len(data)
                    await self._send(writers, pb.PutMessage(data=data), quorum)
            if buffer:
                size += len(buffer)
                await self._send(writers, pb.PutMessage(data=bytes(buffer)), quorum)
            meta = make_meta(size)
            # Ordered by when the body finished and verified, not when it began.
            timestamp = self.clock.now()
            commit = pb.PutMessage(commit=pb.PutCommit(size=size, meta=meta, timestamp=timestamp))
            await self._send(writers, commit, quorum)
        except BaseException:
            for writer in writers:
                writer.abort()
            raise

        superseded = False
        for writer in await self.await_acks(writers, results, quorum, "replicas"):
            if writer.reply is not None:
                self.clock.observe(writer.reply.newest_timestamp)
                superseded |= writer.reply.superseded
        if superseded:
            timestamp = await self._restamp(live, quorum, namespace, name, version_id)
        return ObjectVersion(key, version_id, timestamp, size, False, meta, versioned=versioned)

    def start_writers(
        self, writers: list[ReplicaWriter]
    ) -> trio.MemoryReceiveChannel[tuple[ReplicaWriter, bool]]:
        """Start each writer's RPC; (writer, ok) arrives on the channel as each ends."""
        results_send, results = trio.open_memory_channel[tuple[ReplicaWriter, bool]](len(writers))
        token = trio.lowlevel.current_trio_token()

        def report(writer: ReplicaWriter, ok: bool) -> None:
            try:
                token.run_sync_soon(results_send.send_nowait, (writer, ok))
            except trio.RunFinishedError:
                pass

        for writer in writers:
            writer.start(report)
        return results

    async def await_acks(
        self,
        writers: list[ReplicaWriter],
        results: trio.MemoryReceiveChannel[tuple[ReplicaWriter, bool]],
        need: int,
        what: str,
    ) -> list[ReplicaWriter]:
        """Wait until `need` writers acknowledged (after their commits were sent); the
        ones that did. StoreUnavailable when too many failed or took too long."""
        acked: list[ReplicaWriter] = []
        failures = 0
        while len(acked) < need:
            if len(writers) - failures < need:
                raise StoreUnavailable(f"only {len(acked)} of {len(writers)} {what} were stored")
            with trio.move_on_after(ACK_TIMEOUT) as waited:
                writer, ok = await results.receive()
            if waited.cancelled_caught:
                for slow in writers:
                    slow.give_up(TimeoutError("no acknowledgement"))
                raise StoreUnavailable(
                    f"only {len(acked)} of {len(writers)} {what} acknowledged in time"
                )
            if ok:
                acked.append(writer)
            else:
                failures += 1
                log.warning("write failed node=%s error=%s", writer.node.node_id, writer.error)
                METRICS.record_rpc_error(writer.node.node_id, _error_code(writer.error))
        return acked

    async def _restamp(
        self, nodes: list[NodeEntry], quorum: int, namespace: str, name: str, version_id: str
    ) -> int:
        """Stamp a streamed write again, past the later stamp a replica found at commit
        (this host's clock is behind, or another writer's ahead), on every replica: the
        ones that kept it aside make it visible, the others move it. The new stamp."""
        timestamp = self.clock.now()  # the clock observed the replies' newest stamps
        request = pb.RestampRequest(
            bucket=namespace, key=name, version_id=version_id, timestamp=timestamp
        )
        answers = await self._gather(
            nodes, "Restamp", request, need=len(nodes), cancel_stragglers=False
        )
        for _, reply in answers:
            self.clock.observe(reply.newest_timestamp)
        # A replica where a write stamped later still won had a concurrent write: that
        # one is newer either way, and this write's outcome is decided.
        settled = sum(reply.applied or reply.superseded for _, reply in answers)
        if settled < quorum:
            raise StoreUnavailable(
                f"only {settled} of {len(nodes)} replicas stamped the object again"
            )
        return timestamp

    async def _put_small(
        self,
        live: list[NodeEntry],
        replicas: list[NodeEntry],
        quorum: int,
        header: pb.PutHeader,
        chunks: AsyncIterator[bytes],
        make_meta: Callable[[int], bytes],
    ) -> ObjectVersion:
        """A small object in one message per replica, once the body verified."""
        data = bytearray()
        async for piece in chunks:
            data += piece
            if len(data) > 2 * SMALL_PUT_LIMIT:  # the client lied about the length
                raise StoreUnavailable("body larger than announced")
        meta = make_meta(len(data))
        for attempt in range(STALE_RETRIES + 1):
            header.timestamp = self.clock.now()  # ordered by when the body verified
            request = pb.PutWhole(
                header=header, data=bytes(data), commit=pb.PutCommit(size=len(data), meta=meta)
            )
            answers = await self._gather(
                live, "PutObjectWhole", request, need=quorum, grace=0, cancel_stragglers=False
            )
            if len(answers) < quorum:
                answered = {node.node_id for node, _ in answers}
                missing = [n for n in live if n.node_id not in answered]
                answers += await self._once_connected(missing, "PutObjectWhole", request)
            if len(answers) < quorum:
                raise StoreUnavailable(
                    f"only {len(answers)} of {len(replicas)} replicas stored the object"
                )
            self.clock.observe(max(reply.newest_timestamp for _, reply in answers))
            if not any(reply.superseded for _, reply in answers) or attempt == STALE_RETRIES:
                break
            # A replica holds a version stamped later although this write came last
            # (this host's clock is behind, or the other writer's ahead): write it again,
            # stamped after it now that the clock observed it, under a new version id.
            stale = header.version_id
            header.version_id = uuid.uuid4().hex
            if header.versioned:
                await self._forget_attempt(header.bucket, header.key, stale)
        return ObjectVersion(
            header.key,
            header.version_id,
            header.timestamp,
            len(data),
            False,
            meta,
            versioned=header.versioned,
        )

    async def observe_newest(self, bucket: str, key: str) -> None:
        """Move the clock past the newest version of the key a quorum of its replicas
        holds: call before stamping a version that is not written right away. Every
        version acknowledged before this call is on a quorum, so a timestamp taken
        after it orders after all of them, whatever this host's wall clock says."""
        replicas, quorum = self._replicas(bucket, key)
        request = pb.HeadRequest(bucket=bucket, key=key)
        for _, info in await self._gather(replicas, "HeadObject", request, need=quorum):
            self.clock.observe(info.timestamp)

    async def _forget_attempt(self, bucket: str, key: str, version_id: str) -> None:
        """Delete for good a version written again under a later stamp (best effort:
        anti-entropy spreads the purge to a replica this misses)."""
        try:
            await self.delete_version(bucket, key, version_id)
        except StoreUnavailable as exc:
            log.warning("could not remove a restamped version key=%s error=%s", key, exc)

    async def _send(self, writers: list[ReplicaWriter], message: Any, quorum: int) -> None:
        await self.send_each(writers, [message] * len(writers), quorum)

    async def send_each(
        self, writers: list[ReplicaWriter], messages: list[Any], quorum: int
    ) -> None:
        """messages[i] to writers[i] (waiting for room); StoreUnavailable when fewer than
        quorum writers are still going."""
        for writer, message in zip(writers, messages, strict=True):
            if not writer.failed and not writer.offer(message):
                await trio.to_thread.run_sync(writer.put_blocking, message, limiter=self.limiter)
        if sum(not w.failed for w in writers) < quorum:
            for writer in writers:
                if writer.failed:
                    log.warning(
                        "replica write failed node=%s error=%s", writer.node.node_id, writer.error
                    )
            raise StoreUnavailable("too many replicas failed during the write")

    async def _gather(
        self,
        nodes: list[NodeEntry],
        method: str,
        request: Any,
        need: int,
        grace: float = STRAGGLER_GRACE,
        cancel_stragglers: bool = True,
        ask: int = 0,
        first_request: Any = None,
    ) -> list[tuple[NodeEntry, Any]]:
        """Call one unary RPC on each live node in parallel; return the answers.

        Returns once every call finished, or `grace` seconds after `need`
        answered, so a hung node costs no latency. Writes keep their
        stragglers running (cancel_stragglers=False): the replica still lands.
        """
        live = [n for n in nodes if self.directory.is_live(n.node_id)]
        round_: quorum.Round[NodeEntry, Any] = quorum.Round(live, need, ask)
        if not live:
            return round_.answers
        # Replies arrive as callbacks (no task per node); this loop wakes for each.
        arrived: list[tuple[NodeEntry, outcome.Outcome[Any]]] = []
        wake = trio.lowlevel.ParkingLot()
        cancels: list[Callable[[], object]] = []

        def ask_node(node: NodeEntry | None) -> None:
            if node is None:
                return
            mine = first_request if first_request is not None and node is live[0] else request

            def finished(answer: outcome.Outcome[Any]) -> None:
                arrived.append((node, answer))
                wake.unpark_all()

            cancels.append(
                self.start(node, method, mine, HEAD_TIMEOUT, finished, cancel_stragglers)
            )

        for node in round_.first():
            ask_node(node)
        hedge_at = trio.current_time() + HEDGE_DELAY if round_.can_hedge else math.inf
        give_up_at = math.inf
        try:
            while not round_.settled:
                if not arrived:
                    with trio.move_on_at(min(hedge_at, give_up_at)):
                        await wake.park()
                for node, answer in arrived:
                    if isinstance(answer, outcome.Value):
                        round_.answered(node, answer.value)
                        continue
                    assert isinstance(answer, outcome.Error)
                    exc = answer.error
                    if not isinstance(exc, grpc.RpcError):
                        raise exc
                    log.warning("rpc failed node=%s code=%s", node.node_id, exc.code())
                    METRICS.record_rpc_error(node.node_id, exc.code())
                    ask_node(round_.failed(node))
                arrived.clear()
                now = trio.current_time()
                if now >= hedge_at:
                    # A slow replica should not cost a read HEAD_TIMEOUT: ask the next
                    # one too if the quorum has not answered by then.
                    hedge_at = math.inf
                    for spare in round_.hedge():
                        ask_node(spare)
                if round_.met and give_up_at == math.inf:
                    give_up_at = now + grace  # a hung straggler costs no latency
                elif now >= give_up_at:
                    break
        finally:
            for cancel in cancels:
                cancel()
        return round_.answers

    async def delete_object(self, bucket: str, key: str, versioned: bool = False) -> ObjectVersion:
        """Record a delete of one key: delete_objects with a batch of one."""
        outcome = (await self.delete_objects(bucket, [key], versioned))[key]
        if isinstance(outcome, StoreUnavailable):
            raise outcome
        return outcome

    async def delete_objects(
        self, bucket: str, keys: list[str], versioned: bool = False, retries: int = STALE_RETRIES
    ) -> dict[str, ObjectVersion | StoreUnavailable]:
        """Delete many keys with one DeleteObjects RPC per storage node (one index
        transaction there) instead of one RPC per key and replica. A key is deleted once a
        quorum of its own replicas recorded it; per key, its marker or the failure.

        A delete that a replica finds older than the key's newest version (a wrong clock
        here or at the writer) is made again with a later stamp, as _put_small does."""
        requests: dict[str, pb.DeleteRequest] = {}
        stale: set[str] = set()
        placement: dict[str, tuple[str, ...]] = {}
        batches: dict[str, tuple[NodeEntry, list[str]]] = {}
        for key in dict.fromkeys(keys):
            replicas, _ = self._replicas(bucket, key)
            placement[key] = tuple(n.node_id for n in replicas)
            requests[key] = pb.DeleteRequest(
                bucket=bucket,
                key=key,
                version_id=uuid.uuid4().hex,
                timestamp=self.clock.now(),
                versioned=versioned,
            )
            for node in replicas:
                batches.setdefault(node.node_id, (node, []))[1].append(key)
        acked: dict[str, set[str]] = {}

        async with trio.open_nursery() as nursery:

            async def one(node: NodeEntry, node_keys: list[str]) -> None:
                batch = pb.DeleteBatch(deletes=[requests[k] for k in node_keys])
                try:
                    reply = await self.call(
                        node, "DeleteObjects", batch, BATCH_TIMEOUT, cancel_on_abandon=False
                    )
                except grpc.RpcError as exc:
                    log.warning("batch delete failed node=%s code=%s", node.node_id, exc.code())
                    METRICS.record_rpc_error(node.node_id, exc.code())
                    return
                for key, answer in zip(node_keys, reply.replies, strict=True):
                    self.clock.observe(answer.newest_timestamp)
                    if answer.superseded:
                        stale.add(key)
                acked[node.node_id] = set(node_keys)
                if all(deleted_by_quorum(placement, acked).values()):
                    nursery.start_soon(cancel_after_grace)  # a slow node costs no latency

            async def cancel_after_grace() -> None:
                await trio.sleep(STRAGGLER_GRACE)
                nursery.cancel_scope.cancel()

            for node, node_keys in batches.values():
                if self.directory.is_live(node.node_id):
                    nursery.start_soon(one, node, node_keys)
        outcome: dict[str, ObjectVersion | StoreUnavailable] = {}
        for key, ok in deleted_by_quorum(placement, acked).items():
            request = requests[key]
            if ok:
                outcome[key] = ObjectVersion(
                    key, request.version_id, request.timestamp, 0, True, b"", versioned=versioned
                )
            else:
                acks = sum(key in acked.get(node, ()) for node in placement[key])
                outcome[key] = StoreUnavailable(
                    f"only {acks} of {len(placement[key])} replicas recorded the delete"
                )
        again = [key for key in stale if isinstance(outcome[key], ObjectVersion)]
        if again and retries:
            for key in again if versioned else ():
                await self._forget_attempt(bucket, key, requests[key].version_id)
            outcome.update(await self.delete_objects(bucket, again, versioned, retries - 1))
        return outcome

    async def delete_version(self, bucket: str, key: str, version_id: str) -> ObjectVersion | None:
        """Delete one version for good on every replica (a quorum must answer)."""
        replicas, quorum = self._replicas(bucket, key)
        null = version_id == NULL_VERSION
        request = pb.DeleteVersionRequest(
            bucket=bucket, key=key, version_id="" if null else version_id, null_version=null
        )
        # A draining node that still holds the version must forget it too, or reads
        # (and its data movement) would bring it back.
        nodes = replicas + self.directory.leaving(bucket, key, replicas)
        answers = await self._gather(nodes, "DeleteVersion", request, need=len(nodes))
        if sum(n in replicas for n, _ in answers) < quorum:
            raise StoreUnavailable(
                f"only {len(answers)} of {len(replicas)} replicas deleted the version"
            )
        removed = [reply.removed for _, reply in answers if reply.removed.found]
        if not removed:
            return None
        gone = version_of(max(removed, key=lambda i: (i.timestamp, i.version_id)))
        if gone.layout is not None:
            self.coded.drop(bucket, gone.layout)
        return gone

    # -- reads -------------------------------------------------------------
    async def head_object(
        self, bucket: str, key: str, with_data: bool = False
    ) -> ObjectVersion | None:
        version = await self.head_version(bucket, key, None, with_data)
        return None if version is None or version.deleted else version

    async def head_version(
        self, bucket: str, key: str, version_id: str | None = None, with_data: bool = False
    ) -> ObjectVersion | None:
        replicas, quorum = self._replicas(bucket, key)
        # While a replica drains, writes acknowledged before it began may sit on it and
        # one other node: ask it too, and enough of the rest to overlap any quorum of
        # the old replicas and of the new ones (R + k - W + 1 of the R + k).
        leaving = [
            n
            for n in self.directory.leaving(bucket, key, replicas)
            if self.directory.is_live(n.node_id)
        ]
        # This host's replica is asked first: it is in the quorum read and, for a small
        # object, sends the bytes.
        asked = self._local_first(replicas) + leaving
        need = len(asked) - quorum + 1
        request = pb.HeadRequest(bucket=bucket, key=key)
        if version_id == NULL_VERSION:
            request.null_version = True
        elif version_id is not None:
            request.version_id = version_id
        # Only the first replica sends the bytes of an object small enough to come inline:
        # the others need only say which version they hold.
        with_bytes = None
        if with_data:
            with_bytes = pb.HeadRequest()
            with_bytes.CopyFrom(request)
            with_bytes.inline_limit = INLINE_READ_LIMIT
        answers = await self._gather(
            asked, "HeadObject", request, need=need, ask=need, first_request=with_bytes
        )
        if len(answers) < need:
            # Replicas that restarted a moment ago fail at once while their channel is in
            # reconnect backoff: when the quorum needs them, ask them again once connected.
            answered = {node.node_id for node, _ in answers}
            missing = [
                n for n in asked if n.node_id not in answered and self.directory.is_live(n.node_id)
            ]
            answers += await self._once_connected(missing, "HeadObject", request)
        if len(answers) < need:
            raise StoreUnavailable(f"{len(answers)} of {len(asked)} replicas answered")
        found = _found(answers)
        if not found and self.directory.rebalancing():
            # The placement changed (a node joined or drains) since this key may have
            # been written, and its data may not have moved yet: look on the other
            # nodes before answering 404.
            others = [n for n in self.directory.nodes() if n not in asked and n.state != "removed"]
            if others:
                answers = await self._gather(others, "HeadObject", request, need=len(others))
                found = _found(answers)
        if not found:
            return None
        newest = max(found, key=lambda pair: (pair[1].timestamp, pair[1].version_id))[1]
        self.clock.observe(newest.timestamp)
        holders = tuple(n.node_id for n, i in found if i.version_id == newest.version_id)
        if version_id is None:
            self._repair_stale(bucket, key, newest, replicas, answers, holders)
        inline = next(
            ((n, i.data) for n, i in found if i.version_id == newest.version_id and i.has_data),
            None,
        )
        if inline is not None:
            METRICS.reads_from(inline[0].node_id == self.local_node)
        return version_of(newest, holders, inline[1] if inline else None)

    def _repair_stale(
        self,
        bucket: str,
        key: str,
        newest: pb.ObjectInfo,
        replicas: list[NodeEntry],
        answers: list[tuple[NodeEntry, pb.ObjectInfo]],
        holders: tuple[str, ...],
    ) -> None:
        """Read repair: replicas that answered without the newest version get it from a
        holder, in the background (a bounded number at once; anti-entropy does the rest)."""
        newest_order = (newest.timestamp, newest.version_id)
        stale = [
            node.node_id
            for node, info in answers
            if node in replicas
            and (not info.found or (info.timestamp, info.version_id) < newest_order)
        ]
        if not stale or self._repairs >= MAX_READ_REPAIRS:
            return
        source = next((n for n in replicas if n.node_id in holders), None)
        if source is None:
            return
        self._repairs += 1

        def done(answer: outcome.Outcome[Any]) -> None:
            self._repairs -= 1
            if isinstance(answer, outcome.Error):
                log.info("read repair not queued node=%s: %s", source.node_id, answer.error)

        request = pb.RepairKeyRequest(bucket=bucket, key=key, nodes=stale)
        self.start(source, "RepairKey", request, REPAIR_TIMEOUT, done, cancel_on_abandon=False)

    async def get_object(
        self, bucket: str, version: ObjectVersion, offset: int, length: int
    ) -> AsyncIterator[bytes]:
        """Open the stream now (errors surface here), then iterate the bytes."""
        if version.layout is not None:
            return await self.coded.read(bucket, version, offset, length)
        if version.data is not None:
            return _once(version.data[offset : offset + length if length else None])
        replicas, _ = self._replicas(bucket, version.key)
        by_id = {n.node_id: n for n in self.directory.nodes()}
        order = self._local_first([by_id[h] for h in version.holders if h in by_id])
        order += [n for n in replicas if n not in order]
        candidates = [n for n in order if self.directory.is_live(n.node_id)]
        stream = await self._open_stream(bucket, version, offset, length, candidates)
        total = length if length else version.size - offset

        async def rest(sent: int) -> Any:
            return await self._open_stream(bucket, version, offset + sent, total - sent, candidates)

        return self._stream(stream, total, rest)

    async def _open_stream(
        self,
        bucket: str,
        version: ObjectVersion,
        offset: int,
        length: int,
        candidates: list[NodeEntry],
    ) -> Any:
        request = pb.GetRequest(
            bucket=bucket,
            key=version.key,
            version_id=version.version_id,
            offset=offset,
            length=length,
        )
        not_found = 0
        tried = 0
        unreachable: list[NodeEntry] = []  # answered UNAVAILABLE: asked again last
        while candidates or unreachable:
            redialed = not candidates
            if candidates:
                node = candidates.pop(0)
                tried += 1
            else:
                # Every other replica failed. A node that restarted a moment ago is
                # UNAVAILABLE to a channel still in reconnect backoff: dial it, once.
                node = unreachable.pop(0)
                if not await self.run(self.directory.wait_ready, node, RECONNECT_WAIT):
                    continue
            responses = self.directory.stub(node).GetObject(request)
            try:
                await self.run(next, responses)  # the info message
                METRICS.reads_from(node.node_id == self.local_node)
                return responses
            except (grpc.RpcError, StopIteration) as exc:
                code = exc.code() if isinstance(exc, grpc.RpcError) else "empty"
                not_found += code == grpc.StatusCode.NOT_FOUND
                log.warning("get failed node=%s code=%s; trying next replica", node.node_id, code)
                METRICS.record_rpc_error(node.node_id, code)
                responses.cancel()
                if code == grpc.StatusCode.UNAVAILABLE and not redialed:
                    unreachable.append(node)
            except BaseException:
                responses.cancel()
                raise
        if tried and not_found == tried:
            raise VersionGone(version.version_id)
        raise StoreUnavailable("no replica could serve the object")

    async def _stream(
        self, responses: Any, total: int, rest: Callable[[int], Awaitable[Any]]
    ) -> AsyncIterator[bytes]:
        """The ``total`` bytes of an open GetObject stream; where it breaks or ends early,
        ``rest(sent)`` opens what is left of the range on another replica."""
        sent = 0
        try:
            while sent < total:
                try:
                    chunk = await self.run(next, responses, None)
                except grpc.RpcError as exc:
                    log.warning("stream broke code=%s; resuming on another replica", exc.code())
                    responses.cancel()
                    responses = await rest(sent)
                    continue
                if chunk is None:  # ended early: finish from another replica
                    responses = await rest(sent)
                    continue
                sent += len(chunk.data)
                yield chunk.data
        finally:
            responses.cancel()

    async def compose_object(
        self,
        bucket: str,
        key: str,
        source_namespace: str,
        sources: list[tuple[str, str]],
        meta: bytes,
        version_id: str,
        timestamp: int,
        versioned: bool = False,
    ) -> int:
        """Make (bucket, key) from stored sources on its replicas; returns how
        many replicas composed it. Raises StoreUnavailable below a quorum."""
        replicas, quorum = self._replicas(bucket, key)
        request = pb.ComposeRequest(
            header=pb.PutHeader(
                bucket=bucket,
                key=key,
                version_id=version_id,
                timestamp=timestamp,
                versioned=versioned,
            ),
            source_bucket=source_namespace,
            sources=[pb.ComposeSource(key=k, version_id=v) for k, v in sources],
            meta=meta,
        )
        answers = await self._gather(replicas, "ComposeObject", request, need=len(replicas))
        if len(answers) < quorum:
            raise StoreUnavailable(
                f"only {len(answers)} of {len(replicas)} replicas composed the object"
            )
        return len(answers)

    async def update_meta(self, bucket: str, version: ObjectVersion, meta: bytes) -> None:
        """Replace the meta of exactly this version on its replicas (a quorum).
        Raises VersionGone when it was overwritten meanwhile."""
        replicas, quorum = self._replicas(bucket, version.key)
        request = pb.UpdateMetaRequest(
            bucket=bucket, key=version.key, version_id=version.version_id, meta=meta
        )
        # A draining node's copy changes too: it may still be the one that moves.
        nodes = replicas + self.directory.leaving(bucket, version.key, replicas)
        answers = await self._gather(nodes, "UpdateMeta", request, need=len(nodes))
        answers = [(n, reply) for n, reply in answers if n in replicas]
        applied = sum(reply.applied for _, reply in answers)
        if applied >= quorum:
            return
        if len(answers) >= quorum:
            raise VersionGone(version.version_id)
        raise StoreUnavailable(f"only {applied} of {len(replicas)} replicas updated the object")

    async def delete_prefix(self, namespace: str, prefix: str) -> int:
        """Remove keys under prefix of a namespace on every live node."""
        nodes = [n for n in self.directory.nodes() if n.state != "removed"]
        request = pb.DeletePrefixRequest(bucket=namespace, prefix=prefix)
        answers = await self._gather(nodes, "DeletePrefix", request, need=len(nodes))
        return sum(reply.deleted for _, reply in answers)

    async def delete_upload_parts(self, bucket: str, upload_id: str) -> None:
        """Remove an aborted multipart upload's parts, and their fragments when they were
        coded, from every node."""
        await self.delete_prefix(parts_namespace(bucket), f"{upload_id}/")
        await self.delete_prefix(fragments_namespace(bucket), f"{upload_id}.")

    def list_objects(self, bucket: str, prefix: str, start_after: str) -> MergedListing:
        return self._listing(MergedListing, bucket, prefix, start_after)

    def list_versions(
        self, bucket: str, prefix: str, after: tuple[str, int, str] | None
    ) -> VersionListing:
        return self._listing(VersionListing, bucket, prefix, after or ("", 0, ""))

    def _listing(
        self, kind: type[ListingT], bucket: str, prefix: str, start_after: Position
    ) -> ListingT:
        nodes = [n for n in self.directory.nodes() if n.state != "removed"]
        replicas = min(self.directory.replicas_of(bucket_of(bucket)), len(nodes))
        tolerance = replicas - write_quorum(replicas) if replicas else 0
        # While data moves off a draining node, its keys may sit on fewer placed
        # replicas: ask every node then.
        draining = any(n.state == "draining" for n in nodes)
        return kind(
            nodes,
            self.directory.is_live,
            self.call,
            bucket,
            prefix,
            start_after,
            tolerance,
            spares=0 if draining else tolerance,
        )


def deleted_by_quorum(
    placement: dict[str, tuple[str, ...]], acked: dict[str, set[str]]
) -> dict[str, bool]:
    """Per key: whether a write quorum of its replicas (node ids in placement) has
    acknowledged it, given which keys each node acknowledged."""
    return {
        key: sum(key in acked.get(node, ()) for node in replicas) >= write_quorum(len(replicas))
        for key, replicas in placement.items()
    }


def _found(answers: list[tuple[NodeEntry, pb.ObjectInfo]]) -> list[tuple[NodeEntry, pb.ObjectInfo]]:
    """The answers that found a version no other answer says was deleted by id
    (a replica that missed a DeleteVersion still has it)."""
    purged = {version_id for _, info in answers for version_id in info.purged}
    return [(n, i) for n, i in answers if i.found and i.version_id not in purged]


def _error_code(exc: BaseException | None) -> object:
    """The gRPC status of a failed call, or the kind of local failure."""
    if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
        return exc.code()
    return type(exc).__name__


def _stay() -> None:
    """What abandoning a call that must land anyway does: nothing."""


def _value_or_error(answer: outcome.Outcome[Any]) -> Any:
    if isinstance(answer, outcome.Error):
        return answer.error
    return answer.unwrap()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
