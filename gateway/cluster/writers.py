"""One replica's (or fragment's) streamed write: a client-streaming PutObject RPC fed
from a bounded queue, so the gateway never holds more than a few chunks per node."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from coordinator.placement import NodeEntry
from proto import storage_pb2 as pb

# Messages queued per replica stream before the sender waits.
QUEUE_DEPTH = 2
# A replica that accepts no data for this long is dropped from a write.
STALL_TIMEOUT = 30.0

_ABORT = object()


class ReplicaWriter:
    """One client-streaming PutObject RPC fed from a bounded queue."""

    def __init__(
        self, node: NodeEntry, stub: Any, header: pb.PutHeader, is_live: Callable[[str], bool]
    ) -> None:
        self.node = node
        self.is_live = is_live
        self._stub = stub
        self._header = header
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.finished = threading.Event()
        self.error: Exception | None = None
        self._future: Any = None
        self.reply: pb.PutReply | None = None

    def _requests(self):
        yield pb.PutMessage(header=self._header)
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                if self.finished.is_set():
                    return  # the RPC ended without us: don't keep this thread
                continue
            if item is _ABORT:
                return  # ending without a commit makes the node discard the write
            yield item
            if item.WhichOneof("body") == "commit":
                return

    def start(self, report: Callable[[ReplicaWriter, bool], None]) -> None:
        """Start the RPC; gRPC consumes the queue from its own thread and
        `report(self, ok)` runs (from a gRPC thread) when the node answered."""
        future = self._future = self._stub.PutObject.future(self._requests())

        def done(result: Any) -> None:
            try:
                self.reply = result.result()
                ok = True
            except BaseException as exc:  # RpcError, or CancelledError
                self.error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                ok = False
            self.finished.set()
            report(self, ok)

        future.add_done_callback(done)

    def offer(self, message: Any) -> bool:
        """Queue without blocking; False when the queue is full."""
        if self.finished.is_set():
            return True
        try:
            self._queue.put_nowait(message)
            return True
        except queue.Full:
            return False

    def put_blocking(self, message: Any) -> None:
        """Queue, waiting for room, unless the RPC already ended (worker thread).

        A replica that takes nothing for STALL_TIMEOUT is given up on, so one
        stuck disk cannot hold a write that a quorum can finish."""
        deadline = time.monotonic() + STALL_TIMEOUT
        while not self.finished.is_set():
            try:
                self._queue.put(message, timeout=0.2)
                return
            except queue.Full:
                if not self.is_live(self.node.node_id):
                    self.give_up(ConnectionError("node lost its membership lease"))
                    return
                if time.monotonic() > deadline:
                    self.give_up(TimeoutError(f"replica took no data for {STALL_TIMEOUT} s"))
                    return

    def give_up(self, reason: Exception) -> None:
        """Fail this replica's write now and cancel its RPC."""
        if self.error is None:
            self.error = reason
        if self._future is not None:
            self._future.cancel()

    def abort(self) -> None:
        while not self.finished.is_set():
            try:
                self._queue.put_nowait(_ABORT)
                return
            except queue.Full:
                try:  # make room: the queued data is worthless now
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    @property
    def failed(self) -> bool:
        return self.error is not None
