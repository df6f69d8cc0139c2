"""What the daemons' metrics share: a per-instance exposition without _created series, a
Counter that lists its counts, and the restart count from the supervisor."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from coordinator.prometheus import CONTENT_TYPE, Counter, render, restarts_from_env
from tests.unit.gateway.test_metrics import parse, value


def test_render_drops_created_series_and_keeps_order():
    first, second = CollectorRegistry(), CollectorRegistry()
    plain = Counter("plain_total", "No labels.", registry=first)
    hist = Histogram("h_seconds", "H.", ("op",), registry=first, buckets=(1.0,))
    labelled = Counter("b_total", "Labelled.", ("x", "y"), registry=second)
    plain.inc(2)
    hist.labels("Get").observe(0.5)
    labelled.labels("1", "2").inc()
    body = render(first, second)
    assert b"_created" not in body
    types, samples = parse(body)
    assert list(types) == ["plain_total", "h_seconds", "b_total"]
    assert value(samples, "plain_total") == 2
    assert value(samples, "h_seconds_count", op="Get") == 1
    assert value(samples, "b_total", x="1", y="2") == 1
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_counter_items_in_label_name_order():
    registry = CollectorRegistry()
    counter = Counter("c_total", "C.", ("zone", "app"), registry=registry)
    counter.labels(zone="b", app="x").inc(3)
    counter.labels(zone="a", app="y").inc()
    assert counter.items() == [(("a", "y"), 1), (("b", "x"), 3)]
    plain = Counter("p_total", "P.", registry=registry)
    assert plain.items() == [((), 0)]
    plain.inc(5)
    assert plain.items() == [((), 5)]


def test_restarts_from_env(monkeypatch):
    monkeypatch.delenv("TESSERA_RESTARTS", raising=False)
    assert restarts_from_env() == 0
    monkeypatch.setenv("TESSERA_RESTARTS", "4")
    assert restarts_from_env() == 4
    monkeypatch.setenv("TESSERA_RESTARTS", "-1")
    assert restarts_from_env() == 0
