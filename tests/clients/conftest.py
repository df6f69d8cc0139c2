"""The real-cluster fixtures of tests/integration (cluster, s3, s3_clients, bucket),
shared with the client-tool tests, and `served`, which tells what a client sent."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import pytest

from tests.integration.conftest import *  # noqa: F401,F403
from tests.unit.gateway.test_metrics import parse

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def served(cluster) -> Callable[[str], int]:
    """served(op): how many requests of the S3 operation `op` the first gateway has
    answered so far, from its /metrics counters. Tells which requests a client chose
    to send, e.g. one DeleteObjects rather than many DeleteObject."""

    def count(op: str) -> int:
        with _no_proxy.open(f"{cluster.endpoints[0]}/metrics", timeout=10) as reply:
            _, samples = parse(reply.read())
        return int(
            sum(
                value
                for name, labels, value in samples
                if name == "s3_requests_total" and labels.get("op") == op
            )
        )

    return count
