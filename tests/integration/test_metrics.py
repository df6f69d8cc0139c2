"""GET /metrics on a gateway and on a storage node: unauthenticated Prometheus text,
counting S3 operations and the storage RPCs under them."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import delete_bucket
from tests.unit.gateway.test_metrics import parse, value
from tools import bench_requests


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


def _families(url: str) -> dict[str, Any]:
    """A scrape parsed by prometheus_client: families by name (a counter's without _total)."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode("utf-8")
    return {family.name: family for family in text_string_to_metric_families(text)}


def _sum(family: Any, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _node_totals(cluster: Any) -> tuple[float, float, float]:
    """(Put* RPCs answered OK, bytes written, bytes read), summed over the storage nodes."""
    puts = written = read = 0.0
    for name in cluster.nodes:
        port = cluster.processes[name].metrics_port
        families = _families(f"http://127.0.0.1:{port}/metrics")
        assert {f: families[f].type for f in NODE_FAMILIES} == NODE_FAMILIES
        requests = families["storage_requests"]
        puts += sum(
            s.value
            for s in requests.samples
            if s.name == "storage_requests_total"
            and s.labels["method"].startswith("PutObject")
            and s.labels["code"] == "OK"
        )
        written += _sum(families["storage_bytes_written"], "storage_bytes_written_total")
        read += _sum(families["storage_bytes_read"], "storage_bytes_read_total")
    return puts, written, read


GATEWAY_FAMILIES = {
    "s3_requests": "counter",
    "s3_request_duration_seconds": "histogram",
    "s3_bytes_received": "counter",
    "s3_bytes_sent": "counter",
    "storage_rpc_errors": "counter",
    "tessera_gateway_object_reads": "counter",
    "tessera_gateway_uptime_seconds": "gauge",
    "tessera_storage_nodes": "gauge",
    "tessera_process_restarts": "gauge",
}
NODE_FAMILIES = {
    "storage_requests": "counter",
    "storage_bytes_written": "counter",
    "storage_bytes_read": "counter",
    "tessera_process_restarts": "gauge",
    "storage_objects": "gauge",
    "storage_bytes_stored": "gauge",
    "storage_capacity_bytes": "gauge",
    "storage_disk_used_bytes": "gauge",
}


def test_gateway_and_storage_node_scrapes_parse_and_count(
    cluster: Any, s3: Any, bucket: str
) -> None:
    """Both daemons' endpoints, read with prometheus_client's own parser: every family
    the dashboards use, no others (no _created series), and a PUT and a GET counted on
    the gateway and on the storage nodes under it."""
    gateway = f"{cluster.endpoints[0]}/metrics"
    before = _families(gateway)
    assert {f: before[f].type for f in before} == GATEWAY_FAMILIES
    puts_before, written_before, read_before = _node_totals(cluster)
    body = b"counted twice over" * 100
    s3.put_object(Bucket=bucket, Key="scraped", Body=body)
    assert s3.get_object(Bucket=bucket, Key="scraped")["Body"].read() == body

    after = _families(gateway)
    for op in ("PutObject", "GetObject"):
        counted = _sum(after["s3_requests"], "s3_requests_total", op=op, code="200")
        assert counted - _sum(before["s3_requests"], "s3_requests_total", op=op, code="200") == 1
    sent = _sum(after["s3_bytes_sent"], "s3_bytes_sent_total", op="GetObject")
    assert sent - _sum(before["s3_bytes_sent"], "s3_bytes_sent_total", op="GetObject") == len(body)
    duration = after["s3_request_duration_seconds"]
    count = _sum(duration, "s3_request_duration_seconds_count", op="PutObject")
    assert _sum(duration, "s3_request_duration_seconds_bucket", op="PutObject", le="+Inf") == count
    assert _sum(after["tessera_storage_nodes"], "tessera_storage_nodes", state="live") == 3

    # The write was acknowledged after a quorum (2 of 3 replicas) wrote it durably.
    puts, written, read = _node_totals(cluster)
    assert puts - puts_before >= 2
    assert written - written_before >= 2 * len(body)
    assert read - read_before >= len(body)


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


def test_bench_requests_measures_every_phase_and_cleans_up(cluster: Any, s3: Any) -> None:
    costs = bench_requests.run_phases(cluster, count=30, size=1024, concurrency=4, rounds=1)
    assert [c.name for c in costs] == list(bench_requests.PHASES)
    assert [c.requests for c in costs] == [30, 30, 30, 1]
    for cost in costs:
        assert cost.seconds > 0 and set(cost.cpu) == {"gateways", "nodes", "etcd", "all"}
    text = bench_requests.render(costs, 1024)
    assert text.splitlines()[1].split()[0] == "PUT"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert not [n for n in names if n.startswith("bench-requests-")]
