"""Prometheus metrics of one gateway process, rendered in the text format 0.0.4.

Pure: no I/O and no web framework. prometheus_client keeps the numbers in a registry
of this instance's own; counters and histograms are updated from the request path
(gateway/app.py) and the cluster client, and gauges that describe the present (uptime,
live storage nodes) are set when scraped. prometheus_client's metrics are thread-safe.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Gauge, Histogram

from coordinator import prometheus
from coordinator.prometheus import Counter, restarts_from_env

CONTENT_TYPE = prometheus.CONTENT_TYPE  # what render() returns

# Request latency buckets, seconds: 5 ms for a cached HEAD to 10 s for a big PUT.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The gateway's metrics, labelled with AWS operation names."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "s3_requests_total",
            "S3 requests answered, by operation and HTTP status.",
            ("op", "code"),
            registry=r,
        )
        self.duration = Histogram(
            "s3_request_duration_seconds",
            "Time to answer an S3 request (headers).",
            ("op",),
            registry=r,
            buckets=DURATION_BUCKETS,
        )
        self.bytes_received = Counter(
            "s3_bytes_received_total",
            "Request body bytes received, by operation.",
            ("op",),
            registry=r,
        )
        self.bytes_sent = Counter(
            "s3_bytes_sent_total",
            "Response body bytes sent, by operation (from Content-Length).",
            ("op",),
            registry=r,
        )
        self.rpc_errors = Counter(
            "storage_rpc_errors_total",
            "Failed storage-node RPCs, by node and gRPC status code.",
            ("node", "code"),
            registry=r,
        )
        self.object_reads = Counter(
            "tessera_gateway_object_reads_total",
            "Objects read from a storage node, inline with the quorum HEAD or streamed: "
            "from this host's own node (local) or another (remote).",
            ("source",),
            registry=r,
        )
        self.uptime = Gauge(
            "tessera_gateway_uptime_seconds", "Seconds since the gateway started.", registry=r
        )
        self.storage_nodes = Gauge(
            "tessera_storage_nodes",
            "Storage nodes in the placement map, by state.",
            ("state",),
            registry=r,
        )
        self.restarts = Gauge(
            "tessera_process_restarts",
            "Times a supervisor restarted this process after an unexpected exit.",
            registry=r,
        )
        # The labelled children each request updates, found once: .labels() costs more
        # than the updates themselves. The label sets are small (operation names, HTTP
        # statuses), as the series must be. A byte counter's child is made at its first
        # byte, so an operation that moves none shows no series.
        self._answered: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._received: dict[str, Counter] = {}
        self._sent: dict[str, Counter] = {}

    def _answered_children(self, op: str, status: int) -> tuple[Counter, Histogram]:
        children = self.requests.labels(op, str(status)), self.duration.labels(op)
        self._answered[(op, status)] = children
        return children

    @staticmethod
    def _op_child(children: dict[str, Counter], counter: Counter, op: str) -> Counter:
        child = children.get(op)
        if child is None:
            child = children[op] = counter.labels(op)
        return child

    def record_request(
        self, op: str, status: int, seconds: float, bytes_in: int, bytes_out: int | None
    ) -> None:
        requests, duration = self._answered.get((op, status)) or self._answered_children(op, status)
        requests.inc()
        duration.observe(seconds)
        if bytes_in:
            self._op_child(self._received, self.bytes_received, op).inc(bytes_in)
        if bytes_out:
            self._op_child(self._sent, self.bytes_sent, op).inc(bytes_out)

    def record_rpc_error(self, node: str, code: object) -> None:
        """code: a grpc.StatusCode (named OK, NOT_FOUND, ...) or any other token."""
        self.rpc_errors.labels(node=node, code=str(getattr(code, "name", code))).inc()

    def reads_from(self, local: bool) -> None:
        """Count an object read from this host's storage node or another one."""
        self.object_reads.labels(source="local" if local else "remote").inc()

    def latency_histogram(self) -> tuple[list[float], list[int]]:
        """Request latency over every operation, as a cumulative histogram: (bounds,
        counts), counts[i] the requests answered within bounds[i] seconds and one more
        count last, for all requests (+Inf). Summed from the per-operation series."""
        bounds = list(DURATION_BUCKETS)
        slot = {bound: i for i, bound in enumerate([*bounds, math.inf])}
        counts = [0] * len(slot)
        for family in self.duration.collect():
            for sample in family.samples:
                if sample.name == f"{family.name}_bucket":
                    counts[slot[float(sample.labels["le"])]] += int(sample.value)
        return bounds, counts

    def render(self, uptime: float, live_nodes: int, down_nodes: int) -> bytes:
        self.uptime.set(uptime)
        self.storage_nodes.labels(state="live").set(live_nodes)
        self.storage_nodes.labels(state="down").set(down_nodes)
        self.restarts.set(restarts_from_env())
        return prometheus.render(self.registry)


# The process-wide metrics: one gateway per process.
METRICS = GatewayMetrics()
