"""A storage node's metrics: RPCs served, bytes moved, what the disk holds.

A gRPC server interceptor counts every RPC by method and status code and the
object bytes in PutObject/PutObject(s)Whole requests and GetObject/HeadObject(s)
replies, so the service itself stays free of bookkeeping. The counters live in a
prometheus_client registry of this NodeMetrics' own; `render` adds the gauges read
at scrape time and writes the Prometheus text format (0.0.4); `serve` answers
GET /metrics over plain HTTP from a daemon thread (on `--metrics-listen`, by default
the port two above the storage port).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from coordinator import prometheus
from coordinator.prometheus import Counter, restarts_from_env

log = logging.getLogger(__name__)

CONTENT_TYPE = prometheus.CONTENT_TYPE


class NodeMetrics:
    """Counters of one storage-node process (thread-safe)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "storage_requests_total",
            "Storage RPCs served, by method and gRPC status.",
            ("method", "code"),
            registry=r,
        )
        self.bytes_written = Counter(
            "storage_bytes_written_total", "Object bytes received for writes.", registry=r
        )
        self.bytes_read = Counter(
            "storage_bytes_read_total", "Object bytes sent to readers.", registry=r
        )
        self.restarts = Gauge(
            "tessera_process_restarts",
            "Times a supervisor restarted this process after an unexpected exit.",
            registry=r,
        )
        # .labels() costs more than inc(): each (method, code) child is found once.
        self._requests: dict[tuple[str, str], Counter] = {}

    def count_request(self, method: str, code: str) -> None:
        child = self._requests.get((method, code))
        if child is None:
            child = self._requests[(method, code)] = self.requests.labels(method, code)
        child.inc()

    def add_written(self, n: int) -> None:
        self.bytes_written.inc(n)

    def add_read(self, n: int) -> None:
        self.bytes_read.inc(n)

    def snapshot(self) -> tuple[dict[tuple[str, str], int], int, int]:
        """(requests by (method, code), bytes written, bytes read). Each number is read
        atomically, the three not at one instant (an RPC may finish in between)."""
        requests = {(m, c): int(n) for (m, c), n in self.requests.items()}
        written = int(sum(n for _, n in self.bytes_written.items()))
        read = int(sum(n for _, n in self.bytes_read.items()))
        return requests, written, read

    def render(
        self,
        stats: Callable[[], tuple[int, int]] | None = None,
        disk: Callable[[], tuple[int, int]] | None = None,
        repair: Callable[[], dict[str, float]] | None = None,
    ) -> bytes:
        """The exposition text; stats() gives (live objects, live bytes) from the index,
        disk() (capacity, used) bytes of the data directory's filesystem, repair() the
        anti-entropy numbers (storage_node/replicator.py)."""
        self.restarts.set(restarts_from_env())
        return prometheus.render(self.registry, _ScrapeGauges(stats, disk, repair))


# Anti-entropy's and scrub's numbers (storage_node/replicator.py, scrub.py):
# (name after tessera_, counter or gauge, help).
REPAIR_METRICS = (
    ("repair_passes", "counter", "Anti-entropy passes finished."),
    (
        "repair_last_pass_timestamp",
        "gauge",
        "When the last anti-entropy pass finished (Unix time).",
    ),
    ("repair_last_pass_seconds", "gauge", "How long the last anti-entropy pass took."),
    ("repair_missing", "gauge", "Copies peers lacked that the last pass could not make."),
    ("repair_peers", "gauge", "Peers the last pass compared with."),
    ("repair_peers_in_sync", "gauge", "Peers whose digests matched in the last pass."),
    ("repair_queue", "gauge", "Read repairs waiting."),
    ("repair_read_repairs", "counter", "Copies made for read repairs."),
    ("repair_copied", "counter", "Version copies made by anti-entropy, hand-off and read repair."),
    ("repair_bytes_copied", "counter", "Bytes those copies sent."),
    (
        "repair_handed_off",
        "counter",
        "Versions dropped here once the nodes now replicating them held them.",
    ),
    ("repair_errors", "counter", "Failed copies and comparisons."),
    (
        "repair_tombstones_collected",
        "counter",
        "Tombstones dropped once no node held anything they shadow.",
    ),
    (
        "repair_purges_collected",
        "counter",
        "Remembered deletes by id dropped once no node held the version.",
    ),
    ("scrub_passes", "counter", "Scrub passes finished."),
    ("scrub_last_pass_timestamp", "gauge", "When the last scrub pass finished (Unix time)."),
    ("scrub_corrupt", "counter", "Corrupt versions scrub found."),
    ("scrub_repaired", "counter", "Corrupt versions scrub replaced from a good replica."),
    (
        "scrub_orphans_removed",
        "counter",
        "Temporary and data files no index row named, removed by scrub passes.",
    ),
)


class _ScrapeGauges:
    """The gauges a scrape reads from the index and the filesystem (a Collector)."""

    def __init__(
        self,
        stats: Callable[[], tuple[int, int]] | None,
        disk: Callable[[], tuple[int, int]] | None,
        repair: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.stats = stats
        self.disk = disk
        self.repair = repair

    def collect(self) -> Iterator[Metric]:
        if self.stats is not None:
            objects, stored = self.stats()
            yield GaugeMetricFamily(
                "storage_objects", "Live object versions in the index.", value=objects
            )
            yield GaugeMetricFamily(
                "storage_bytes_stored", "Bytes of live object versions in the index.", value=stored
            )
        if self.disk is not None:
            capacity, used = self.disk()
            yield GaugeMetricFamily(
                "storage_capacity_bytes",
                "Size of the filesystem holding the data directory.",
                value=capacity,
            )
            yield GaugeMetricFamily(
                "storage_disk_used_bytes",
                "Bytes used on that filesystem (by anything).",
                value=used,
            )
        if self.repair is not None:
            numbers = self.repair()
            for name, kind, help_text in REPAIR_METRICS:
                family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                if name in numbers:
                    yield family(f"tessera_{name}", help_text, value=numbers[name])


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
