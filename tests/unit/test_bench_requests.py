"""tessera bench-requests: requests on the wire and answers read back (no server)."""

from __future__ import annotations

from tools import bench_requests
from tools.bench_requests import PhaseCost, parse_head, serialize


def test_a_request_goes_out_as_http_1_1_with_its_host_and_length() -> None:
    wire = serialize("PUT", "http://127.0.0.1:9000/b/k?x=1", {"Authorization": "AWS4 x"}, b"abc")
    head, body = wire.split(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"PUT /b/k?x=1 HTTP/1.1",
        b"Host: 127.0.0.1:9000",
        b"Authorization: AWS4 x",
        b"Content-Length: 3",
    ]
    assert body == b"abc"
    bare = serialize("GET", "http://h:1/b", {"Content-Length": "0", "Host": "other"}, b"")
    assert bare == b"GET /b HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"


def test_a_response_head_gives_status_and_length() -> None:
    assert parse_head(b"HTTP/1.1 206 Partial Content\r\ncontent-length: 12\r\nX: y") == (206, 12)
    assert parse_head(b"HTTP/1.1 200 OK\r\nDate: now") == (200, 0)


def test_a_signed_request_carries_sigv4_and_the_payload_hash() -> None:
    signer = bench_requests.Signer("http://127.0.0.1:9000", "AK", "SK", "us-east-1")
    head = signer.sign("PUT", "/b/k", b"data").split(b"\r\n\r\n")[0].decode()
    assert head.startswith("PUT /b/k HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n")
    assert "AWS4-HMAC-SHA256 Credential=AK/" in head
    assert "X-Amz-Content-SHA256: 3a6eb079" in head


def test_cpu_per_request_and_rate() -> None:
    cost = PhaseCost("GET", 400, seconds=2.0, cpu={"gateways": 0.4, "all": 0.8})
    assert cost.rate == 200.0
    assert cost.ms_per_request("gateways") == 1.0
    assert cost.ms_per_request("nodes") == 0.0
    assert "GET" in bench_requests.render([cost], 4096)
