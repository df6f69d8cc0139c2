"""A storage node's metrics: RPCs served, bytes moved, what the disk holds.

A gRPC server interceptor counts every RPC by method and status code and the
object bytes in PutObject/PutObject(s)Whole requests and GetObject/HeadObject(s)
replies, so the service itself stays free of bookkeeping. `render` writes
the Prometheus text format (0.0.4); `serve` answers GET /metrics over plain
HTTP from a daemon thread (on `--metrics-listen`, by default the port two above
the storage port).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class NodeMetrics:
    """Counters of one storage-node process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.bytes_written = 0
        self.bytes_read = 0

    def count_request(self, method: str, code: str) -> None:
        with self._lock:
            self.requests[(method, code)] = self.requests.get((method, code), 0) + 1

    def add_written(self, n: int) -> None:
        with self._lock:
            self.bytes_written += n

    def add_read(self, n: int) -> None:
        with self._lock:
            self.bytes_read += n

    def snapshot(self) -> tuple[dict[tuple[str, str], int], int, int]:
        """(requests by (method, code), bytes written, bytes read), read consistently."""
        with self._lock:
            return dict(self.requests), self.bytes_written, self.bytes_read

    def render(
        self,
        stats: Callable[[], tuple[int, int]] | None = None,
        disk: Callable[[], tuple[int, int]] | None = None,
    ) -> bytes:
        """The exposition text; stats() gives (live objects, live bytes) from the index,
        disk() (capacity, used) bytes of the data directory's filesystem."""
        with self._lock:
            requests = sorted(self.requests.items())
            written, read = self.bytes_written, self.bytes_read
        lines = [
            "# HELP storage_requests_total Storage RPCs served, by method and gRPC status.",
            "# TYPE storage_requests_total counter",
        ]
        lines += [
            f'storage_requests_total{{method="{_escape(m)}",code="{_escape(c)}"}} {n}'
            for (m, c), n in requests
        ]
        lines += [
            "# HELP storage_bytes_written_total Object bytes received for writes.",
            "# TYPE storage_bytes_written_total counter",
            f"storage_bytes_written_total {written}",
            "# HELP storage_bytes_read_total Object bytes sent to readers.",
            "# TYPE storage_bytes_read_total counter",
            f"storage_bytes_read_total {read}",
            "# HELP tessera_process_restarts Times a supervisor restarted this process after "
            "an unexpected exit.",
            "# TYPE tessera_process_restarts gauge",
            f"tessera_process_restarts {restarts_from_env()}",
        ]
        if stats is not None:
            objects, stored = stats()
            lines += [
                "# HELP storage_objects Live object versions in the index.",
                "# TYPE storage_objects gauge",
                f"storage_objects {objects}",
                "# HELP storage_bytes_stored Bytes of live object versions in the index.",
                "# TYPE storage_bytes_stored gauge",
                f"storage_bytes_stored {stored}",
            ]
        if disk is not None:
            capacity, used = disk()
            lines += [
                "# HELP storage_capacity_bytes Size of the filesystem holding the data directory.",
                "# TYPE storage_capacity_bytes gauge",
                f"storage_capacity_bytes {capacity}",
                "# HELP storage_disk_used_bytes Bytes used on that filesystem (by anything).",
                "# TYPE storage_disk_used_bytes gauge",
                f"storage_disk_used_bytes {used}",
            ]
        return ("\n".join(lines) + "\n").encode()


def restarts_from_env() -> int:
    """Times a supervisor restarted this process (TESSERA_RESTARTS), 0 when not told."""
    value = os.environ.get("TESSERA_RESTARTS", "")
    return int(value) if value.isdigit() else 0


def _data_len(message: Any) -> int:
    """Object bytes in a Put/Get message (PutMessage, PutWhole, GetChunk, ObjectInfo) or
    in a batch of them (PutWholeBatch, HeadBatchReply)."""
    batch = getattr(message, "puts", None) or getattr(message, "infos", None)
    if batch is not None:
        return sum(len(item.data) for item in batch)
    data = getattr(message, "data", b"")
    return len(data) if isinstance(data, bytes) else 0


def _code(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return code.name


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts every RPC of the Storage service into a NodeMetrics."""

    WRITES = frozenset({"PutObject", "PutObjectWhole", "PutObjectsWhole"})
    READS = frozenset({"GetObject", "HeadObject", "HeadObjects"})

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rpartition("/")[2]
        metrics = self.metrics
        writes, reads = method in self.WRITES, method in self.READS

        def finish(context: grpc.ServicerContext, failed: bool) -> None:
            metrics.count_request(method, _code(context, failed))

        def counted_requests(requests: Iterator[Any]) -> Iterator[Any]:
            for message in requests:
                if writes:
                    metrics.add_written(_data_len(message))
                yield message

        def reply(message: Any) -> Any:
            if reads:
                metrics.add_read(_data_len(message))
            return message

        def counted_input(request: Any, streaming_request: bool) -> Any:
            if streaming_request:
                return counted_requests(request)
            if writes:
                metrics.add_written(_data_len(request))
            return request

        def wrap_unary_response(behavior, streaming_request: bool):
            def wrapped(request, context):
                request = counted_input(request, streaming_request)
                try:
                    answer = reply(behavior(request, context))
                except BaseException:
                    finish(context, True)
                    raise
                finish(context, False)
                return answer

            return wrapped

        def wrap_stream_response(behavior, streaming_request: bool):
            def wrapped(request, context):
                request = counted_input(request, streaming_request)
                try:
                    for message in behavior(request, context):
                        yield reply(message)
                except BaseException:
                    finish(context, True)
                    raise
                finish(context, False)

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary_response(handler.unary_unary, False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap_unary_response(handler.stream_unary, True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream_response(handler.unary_stream, False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream_response(handler.stream_stream, True),
            handler.request_deserializer,
            handler.response_serializer,
        )


SCRAPE_TIMEOUT = 30.0


def serve(listen: str, render: Callable[[], bytes]) -> ThreadingHTTPServer:
    """Answer GET /metrics on listen (HOST:PORT) from a daemon thread; returns the server."""
    host, _, port = listen.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            try:
                body = render()
            except Exception:
                log.exception("rendering metrics failed")
                self.send_error(500)
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    # A connection that sends nothing (or stops reading) must not keep its thread.
    Handler.timeout = SCRAPE_TIMEOUT

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # One line, not socketserver's traceback on stderr: a broken scrape is the
            # client's business and must never disturb the node.
            log.info("metrics connection from %s failed", client_address, exc_info=False)

    server = Server((host.strip("[]") or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
