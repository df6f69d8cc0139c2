"""The gateway's Prometheus text exposition (format 0.0.4), checked by parsing it here
with a parser of our own (as strict as the format), not prometheus_client's."""

from __future__ import annotations

import math
import re

import pytest

from gateway.metrics import DURATION_BUCKETS, GatewayMetrics

# One sample line: name, optional {labels}, value (no timestamps: we write none).
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
# One label pair; a value is a quoted string in which only \\ \" and \n are escapes.
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = LABEL.match(text, pos)
        assert match, f"bad labels at {text[pos:]!r}"
        labels[match[1]] = re.sub(r"\\[\\\"n]", lambda m: UNESCAPE[m[0]], match[2])
        pos = match.end()
    return labels


def parse(body: bytes) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """(type per metric family, samples), asserting the text is well formed."""
    text = body.decode("utf-8")
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert re.match(r"^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* ", line)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            assert name not in types, "one TYPE line per family"
            types[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"bad sample line {line!r}"
            name, labels, value = match[1], _labels(match[2] or ""), float(match[3])
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in types or types.get(family) == "histogram", f"{name} has no TYPE"
            samples.append((name, labels, value))
    return types, samples


def value(samples, name: str, **labels: str) -> float:
    found = [v for n, lab, v in samples if n == name and lab == labels]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def test_requests_by_op_and_code():
    metrics = GatewayMetrics()
    for _ in range(3):
        metrics.record_request("PutObject", 200, 0.01, 5, 0)
    metrics.record_request("GetObject", 404, 0.01, 0, 0)
    types, samples = parse(metrics.render(1.0, 3, 0))
    assert types["s3_requests_total"] == "counter"
    assert value(samples, "s3_requests_total", op="PutObject", code="200") == 3
    assert value(samples, "s3_requests_total", op="GetObject", code="404") == 1
    assert len([n for n, _, _ in samples if n == "s3_requests_total"]) == 2
    assert metrics.requests.items() == [(("GetObject", "404"), 1), (("PutObject", "200"), 3)]
    # No bytes, no series: a GET that sent nothing adds no s3_bytes_sent_total sample.
    assert [lab for n, lab, _ in samples if n == "s3_bytes_sent_total"] == []


def test_no_created_series_and_instances_are_separate():
    first, second = GatewayMetrics(), GatewayMetrics()  # no "registered twice" error
    first.record_request("GetObject", 200, 0.01, 0, 10)
    first.record_rpc_error("node-1", "UNAVAILABLE")
    body = first.render(1.0, 3, 0)
    assert b"_created" not in body
    _, samples = parse(second.render(1.0, 3, 0))
    assert not [n for n, _, _ in samples if n.startswith("s3_") or n.startswith("storage_rpc")]


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("back\\slash", "back\\\\slash"),
        ('say "hi"', 'say \\"hi\\"'),
        ("two\nlines", "two\\nlines"),
        ('all\\"\n', 'all\\\\\\"\\n'),
        ("plain ünïcode {}=,", "plain ünïcode {}=,"),
    ],
)
def test_label_values_are_escaped(raw, escaped):
    metrics = GatewayMetrics()
    metrics.record_rpc_error(raw, "UNAVAILABLE")
    body = metrics.render(1.0, 3, 0)
    assert f'storage_rpc_errors_total{{code="UNAVAILABLE",node="{escaped}"}} 1.0\n'.encode() in body
    _, samples = parse(body)
    assert value(samples, "storage_rpc_errors_total", node=raw, code="UNAVAILABLE") == 1


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count():
    metrics = GatewayMetrics()
    for seconds in (0.004, 0.005, 0.5, 3.0, 20.0):
        metrics.record_request("GetObject", 200, seconds, 0, 0)
    metrics.record_request("PutObject", 200, 0.2, 0, 0)
    types, samples = parse(metrics.render(1.0, 3, 0))
    assert types["s3_request_duration_seconds"] == "histogram"
    buckets = [
        (lab["le"], v)
        for n, lab, v in samples
        if n == "s3_request_duration_seconds_bucket" and lab["op"] == "GetObject"
    ]
    assert [le for le, _ in buckets] == [*(repr(b) for b in DURATION_BUCKETS), "+Inf"]
    counts = dict(buckets)
    assert (counts["0.005"], counts["0.5"], counts["5.0"], counts["10.0"]) == (2, 3, 4, 4)
    assert counts["+Inf"] == 5
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), "cumulative"
    assert value(samples, "s3_request_duration_seconds_count", op="GetObject") == 5
    assert math.isclose(value(samples, "s3_request_duration_seconds_sum", op="GetObject"), 23.509)
    assert value(samples, "s3_request_duration_seconds_bucket", op="PutObject", le="0.1") == 0
    assert value(samples, "s3_request_duration_seconds_bucket", op="PutObject", le="0.25") == 1
    assert value(samples, "s3_request_duration_seconds_count", op="PutObject") == 1


def test_latency_histogram_sums_the_operations():
    metrics = GatewayMetrics()
    assert metrics.latency_histogram() == (list(DURATION_BUCKETS), [0] * 12)
    for seconds in (0.004, 0.005, 0.5, 3.0, 20.0):
        metrics.record_request("GetObject", 200, seconds, 0, 0)
    metrics.record_request("PutObject", 200, 0.2, 0, 0)
    metrics.record_request("PutObject", 503, 0.004, 0, 0)
    bounds, counts = metrics.latency_histogram()
    assert bounds == list(DURATION_BUCKETS)
    assert dict(zip([*bounds, math.inf], counts, strict=True)) == {
        0.005: 3,
        0.01: 3,
        0.025: 3,
        0.05: 3,
        0.1: 3,
        0.25: 4,
        0.5: 5,
        1.0: 5,
        2.5: 5,
        5.0: 6,
        10.0: 6,
        math.inf: 7,
    }
    # The same numbers as the per-operation series a scrape shows, summed.
    _, samples = parse(metrics.render(1.0, 3, 0))
    for bound, count in zip(["0.5", "+Inf"], [counts[6], counts[-1]], strict=True):
        assert count == sum(
            v
            for n, lab, v in samples
            if n == "s3_request_duration_seconds_bucket" and lab["le"] == bound
        )


def test_gateway_metrics_families(monkeypatch):
    monkeypatch.setenv("TESSERA_RESTARTS", "3")
    metrics = GatewayMetrics()
    metrics.record_request("PutObject", 200, 0.003, bytes_in=10, bytes_out=0)
    metrics.record_request("GetObject", 200, 0.02, bytes_in=0, bytes_out=10)
    metrics.record_request("GetObject", 404, 12.0, bytes_in=0, bytes_out=300)
    metrics.record_rpc_error("node-1", "UNAVAILABLE")

    class Code:  # like grpc.StatusCode: rendered by name
        name = "DEADLINE_EXCEEDED"

    metrics.record_rpc_error("node-2", Code())
    metrics.reads_from(local=True)
    metrics.reads_from(local=True)
    metrics.reads_from(local=False)
    types, samples = parse(metrics.render(uptime=12.5, live_nodes=2, down_nodes=1))
    assert types == {
        "s3_requests_total": "counter",
        "s3_request_duration_seconds": "histogram",
        "s3_bytes_received_total": "counter",
        "s3_bytes_sent_total": "counter",
        "storage_rpc_errors_total": "counter",
        "tessera_gateway_object_reads_total": "counter",
        "tessera_gateway_uptime_seconds": "gauge",
        "tessera_storage_nodes": "gauge",
        "tessera_process_restarts": "gauge",
    }
    assert value(samples, "s3_requests_total", op="GetObject", code="404") == 1
    assert value(samples, "s3_request_duration_seconds_count", op="GetObject") == 2
    assert value(samples, "s3_request_duration_seconds_bucket", op="GetObject", le="10.0") == 1
    assert value(samples, "s3_request_duration_seconds_bucket", op="PutObject", le="0.005") == 1
    assert value(samples, "s3_bytes_received_total", op="PutObject") == 10
    assert value(samples, "s3_bytes_sent_total", op="GetObject") == 310
    assert value(samples, "storage_rpc_errors_total", node="node-1", code="UNAVAILABLE") == 1
    assert value(samples, "storage_rpc_errors_total", node="node-2", code="DEADLINE_EXCEEDED") == 1
    assert value(samples, "tessera_gateway_object_reads_total", source="local") == 2
    assert value(samples, "tessera_gateway_object_reads_total", source="remote") == 1
    assert value(samples, "tessera_gateway_uptime_seconds") == 12.5
    assert value(samples, "tessera_storage_nodes", state="live") == 2
    assert value(samples, "tessera_storage_nodes", state="down") == 1
    assert value(samples, "tessera_process_restarts") == 3
