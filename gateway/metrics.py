"""Prometheus metrics of one gateway process, rendered in the text format 0.0.4.

Pure: no I/O and no web framework. Counters and histograms are updated from
the request path (gateway/app.py) and the cluster client; gauges that
describe the present (uptime, live storage nodes) are set when scraped.
A lock per metric keeps updates from worker threads consistent.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Request latency buckets, seconds: 5 ms for a cached HEAD to 10 s for a big PUT.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LabelValues = tuple[str, ...]


def escape_label_value(value: str) -> str:
    """A label value as the exposition format quotes it: \\ " and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:  # pragma: no cover - overridden
        return ()


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0)

    def items(self) -> list[tuple[LabelValues, float]]:
        """Every (label values, count), sorted: what the Admin service reports."""
        with self._lock:
            return sorted(self._values.items())

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.labelnames, key)} {format_value(value)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.labelnames, key)} {format_value(value)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        if "le" in labelnames:
            raise ValueError("'le' is reserved for histogram buckets")
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(b for b in buckets if not math.isinf(b)))
        # Per label set: [per-bucket counts (not cumulative), +Inf-only count, sum].
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            total[0] += value

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        names = (*self.labelnames, "le")
        for key, (counts, total) in items:
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = format_value(bound) if math.isinf(bound) else repr(float(bound))
                yield f"{self.name}_bucket{_labels(names, (*key, le))} {running}"
            plain = _labels(self.labelnames, key)
            yield f"{self.name}_sum{plain} {format_value(total)}"
            yield f"{self.name}_count{plain} {running}"


class Registry:
    """The metrics of one process, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def _add(self, metric: _Metric) -> _Metric:
        if any(m.name == metric.name for m in self._metrics):
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics.append(metric)
        return metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labelnames))  # type: ignore[return-value]

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_text, labelnames))  # type: ignore[return-value]

    def histogram(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> Histogram:
        return self._add(Histogram(name, help_text, labelnames, buckets))  # type: ignore[return-value]

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in self._metrics:
            lines += metric.header()
            lines += metric.samples()
        return ("\n".join(lines) + "\n").encode("utf-8")


class GatewayMetrics:
    """The gateway's metrics, labelled with AWS operation names."""

    def __init__(self) -> None:
        self.registry = r = Registry()
        self.requests = r.counter(
            "s3_requests_total",
            "S3 requests answered, by operation and HTTP status.",
            ("op", "code"),
        )
        self.duration = r.histogram(
            "s3_request_duration_seconds", "Time to answer an S3 request (headers).", ("op",)
        )
        self.bytes_received = r.counter(
            "s3_bytes_received_total", "Request body bytes received, by operation.", ("op",)
        )
        self.bytes_sent = r.counter(
            "s3_bytes_sent_total",
            "Response body bytes sent, by operation (from Content-Length).",
            ("op",),
        )
        self.rpc_errors = r.counter(
            "storage_rpc_errors_total",
            "Failed storage-node RPCs, by node and gRPC status code.",
            ("node", "code"),
        )
        self.uptime = r.gauge(
            "tessera_gateway_uptime_seconds", "Seconds since the gateway started."
        )
        self.storage_nodes = r.gauge(
            "tessera_storage_nodes", "Storage nodes in the placement map, by state.", ("state",)
        )
        self.restarts = r.gauge(
            "tessera_process_restarts",
            "Times a supervisor restarted this process after an unexpected exit.",
        )

    def record_request(
        self, op: str, status: int, seconds: float, bytes_in: int, bytes_out: int | None
    ) -> None:
        self.requests.inc(op=op, code=str(status))
        self.duration.observe(seconds, op=op)
        if bytes_in:
            self.bytes_received.inc(bytes_in, op=op)
        if bytes_out:
            self.bytes_sent.inc(bytes_out, op=op)

    def record_rpc_error(self, node: str, code: object) -> None:
        """code: a grpc.StatusCode (named OK, NOT_FOUND, ...) or any other token."""
        self.rpc_errors.inc(node=node, code=str(getattr(code, "name", code)))

    def render(self, uptime: float, live_nodes: int, down_nodes: int) -> bytes:
        self.uptime.set(uptime)
        self.storage_nodes.set(live_nodes, state="live")
        self.storage_nodes.set(down_nodes, state="down")
        self.restarts.set(restarts_from_env())
        return self.registry.render()


def restarts_from_env() -> int:
    """Times a supervisor restarted this process (TESSERA_RESTARTS), 0 when not told."""
    value = os.environ.get("TESSERA_RESTARTS", "")
    return int(value) if value.isdigit() else 0


# The process-wide metrics: one gateway per process.
METRICS = GatewayMetrics()
