"""The gateway's Admin service: request counts read from its metrics, admin ports."""

from __future__ import annotations

from gateway import admin
from gateway.metrics import DURATION_BUCKETS, GatewayMetrics


def test_stats_come_from_the_metric_counters() -> None:
    metrics = GatewayMetrics()
    metrics.record_request("PutObject", 200, 0.01, 1000, 0)
    metrics.record_request("GetObject", 200, 0.01, 0, 1000)
    metrics.record_request("GetObject", 404, 0.01, 0, 300)
    metrics.record_request("PutObject", 503, 0.01, 10, 200)
    metrics.record_rpc_error("node2", "UNAVAILABLE")
    metrics.record_rpc_error("node2", "UNAVAILABLE")
    reply = admin.stats_reply(metrics, 12.5)
    assert reply.requests_total == 4
    assert (reply.client_errors_total, reply.errors_total) == (1, 1)
    assert (reply.bytes_in, reply.bytes_out) == (1010, 1500)
    assert {(r.operation, r.code, r.count) for r in reply.requests} == {
        ("PutObject", "200", 1),
        ("GetObject", "200", 1),
        ("GetObject", "404", 1),
        ("PutObject", "503", 1),
    }
    assert [(e.node_id, e.code, e.count) for e in reply.rpc_errors] == [("node2", "UNAVAILABLE", 2)]
    assert reply.uptime_seconds == 12.5
    assert list(reply.latency_bounds) == list(DURATION_BUCKETS)
    assert list(reply.latency_counts) == [0] + [4] * 11  # each took 10 ms


def test_http_status_classes() -> None:
    assert [admin.classify(c) for c in ("200", "204", "304", "403", "404", "500", "503")] == [
        "ok",
        "ok",
        "ok",
        "client",
        "client",
        "server",
        "server",
    ]


def test_admin_port_defaults_and_workers() -> None:
    assert admin.admin_listen("0.0.0.0:9000", None) == "0.0.0.0:9001"
    assert admin.admin_listen("0.0.0.0:9000", None, worker=2) == "0.0.0.0:9003"
    assert admin.admin_listen("0.0.0.0:9000", "10.0.0.1:7000", worker=1) == "10.0.0.1:7001"
    assert admin.admin_listen("0.0.0.0:9000", "off", worker=1) is None
