"""GET /metrics on a gateway: unauthenticated Prometheus text, counting S3 operations."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import delete_bucket
from tests.unit.gateway.test_metrics import parse, value


def _scrape(endpoint: str) -> tuple[dict[str, str], list]:
    with urllib.request.urlopen(f"{endpoint}/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(reply.read())


def _total(samples: list, name: str, **labels: str) -> float:
    return sum(
        v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items())
    )


def test_metrics_count_s3_requests(cluster: Any, s3: Any, bucket: str) -> None:
    endpoint = cluster.endpoints[0]
    _, before = _scrape(endpoint)
    s3.put_object(Bucket=bucket, Key="a", Body=b"hello metrics")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"hello metrics"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="missing")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"

    types, samples = _scrape(endpoint)
    assert types["s3_requests_total"] == "counter"
    assert types["s3_request_duration_seconds"] == "histogram"
    assert value(samples, "s3_requests_total", op="PutObject", code="200") >= 1
    assert value(samples, "s3_requests_total", op="GetObject", code="404") >= 1
    get_404 = _total(samples, "s3_requests_total", op="GetObject", code="404")
    assert get_404 - _total(before, "s3_requests_total", op="GetObject", code="404") == 1
    for op in ("PutObject", "GetObject"):
        requests = _total(samples, "s3_requests_total", op=op)
        assert value(samples, "s3_request_duration_seconds_count", op=op) == requests
        inf = value(samples, "s3_request_duration_seconds_bucket", op=op, le="+Inf")
        assert inf == requests
    assert _total(samples, "s3_bytes_received_total", op="PutObject") >= len(b"hello metrics")
    assert _total(samples, "s3_bytes_sent_total", op="GetObject") >= len(b"hello metrics")
    assert value(samples, "tessera_storage_nodes", state="live") == 3
    assert value(samples, "tessera_storage_nodes", state="down") == 0
    assert value(samples, "tessera_gateway_uptime_seconds") > 0


def test_metrics_needs_no_auth_and_other_gateways_serve_it(cluster: Any) -> None:
    for endpoint in cluster.endpoints:
        types, _ = _scrape(endpoint)
        assert "tessera_gateway_uptime_seconds" in types


def test_a_bucket_named_metrics_still_works(cluster: Any, s3: Any) -> None:
    if cluster.region == "us-east-1":
        s3.create_bucket(Bucket="metrics")
    else:
        s3.create_bucket(
            Bucket="metrics", CreateBucketConfiguration={"LocationConstraint": cluster.region}
        )
    try:
        s3.put_object(Bucket="metrics", Key="k", Body=b"in the metrics bucket")
        assert s3.get_object(Bucket="metrics", Key="k")["Body"].read() == b"in the metrics bucket"
        listed = s3.list_objects_v2(Bucket="metrics")  # GET /metrics?list-type=2, signed
        assert [o["Key"] for o in listed["Contents"]] == ["k"]
        s3.head_bucket(Bucket="metrics")
        url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": "metrics"})
        with urllib.request.urlopen(url, timeout=10) as reply:  # presigned: no auth header
            assert b"<Key>k</Key>" in reply.read()
    finally:
        delete_bucket(s3, "metrics")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="metrics")
