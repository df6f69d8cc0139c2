"""What the daemons' Prometheus metrics share (gateway/metrics.py, storage_node/metrics.py).

Each process keeps its metrics in a CollectorRegistry of its own (never prometheus_client's
global one), so several instances in one process, as in tests, do not collide. `render`
writes the text format 0.0.4 without the `<name>_created` series prometheus_client adds to
counters and histograms: a scrape shows the families the dashboards know, and no others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import prometheus_client
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what render() writes

LabelValues = tuple[str, ...]


class Counter(prometheus_client.Counter):
    """prometheus_client's Counter that also lists its counts (what Admin Stats reports)."""

    def items(self) -> list[tuple[LabelValues, float]]:
        """Every (label values in label-name order, count), sorted; ((), n) without labels."""
        found = []
        for family in self.collect():
            total = family.name + "_total"
            for sample in family.samples:
                if sample.name == total:
                    key = tuple(sample.labels[name] for name in self._labelnames)
                    found.append((key, sample.value))
        return sorted(found)


class _Exposed:
    """Some collectors' families as a scrape shows them: without `_created` samples."""

    def __init__(self, collectors: tuple[Collector, ...]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            for family in collector.collect():  # a new Metric per collect(): ours to trim
                created = family.name + "_created"
                family.samples = [s for s in family.samples if s.name != created]
                yield family


def render(*collectors: Collector) -> bytes:
    """The text exposition (format 0.0.4, CONTENT_TYPE) of registries or collectors, in order."""
    return prometheus_client.generate_latest(_Exposed(collectors))


def restarts_from_env() -> int:
    """Times a supervisor restarted this process (TESSERA_RESTARTS), 0 when not told."""
    value = os.environ.get("TESSERA_RESTARTS", "")
    return int(value) if value.isdigit() else 0
