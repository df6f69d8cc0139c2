"""Configuration shared by every test. Kept light on purpose: unit tests must not pay for
boto3, etcd or a cluster. Cluster fixtures live in tests/integration/conftest.py and S3
client helpers in tests/helpers.py."""

from __future__ import annotations

import pytest


def pytest_report_header(config: pytest.Config) -> str:
    from tools.cluster import ClusterError, etcd_binary

    try:
        return f"etcd: {etcd_binary()}"
    except ClusterError as exc:
        return f"etcd: {exc}"
