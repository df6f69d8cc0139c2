"""Hostile HTTP against a gateway serving real traffic: no connection may end the process.

Each case is sent on its own raw TCP connection, many times and from many threads at
once, while a boto3 client keeps writing and reading through the same gateway. The
gateway must stay the same process, answer every case with a 4xx (or close the
connection), never a 5xx, and serve the honest client throughout and afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import urllib.request
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest

from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from tools import cluster as local

GATEWAY = "gateway1"
ROUNDS = 6
THREADS = 8


def _host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _cases(bucket: str, presigned_put: str, big_key: str) -> dict[str, list[bytes]]:
    """name -> the pieces one connection sends (a pause between pieces lets the server act
    on the first before the rest arrives)."""
    put = f"PUT /{bucket}/abuse HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    target = urlsplit(presigned_put)
    signed = f"PUT {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\n".encode()
    get_big = f"GET /{bucket}/{big_key} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    client_hello = (
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32) + b"\x00\x00\x20" + bytes(32)
    )
    return {
        "illegal chunk header": [put + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"],
        "Content-Length with chunked": [
            put + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"
        ],
        "Content-Length with chunked, valid body": [
            put + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        ],
        "negative Content-Length": [put + b"Content-Length: -5\r\n\r\nhello"],
        "non-numeric Content-Length": [put + b"Content-Length: five\r\n\r\nhello"],
        "conflicting Content-Length": [
            put + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
        ],
        "huge chunk size": [put + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nab"],
        "negative chunk size": [put + b"Transfer-Encoding: chunked\r\n\r\n-1\r\nab\r\n0\r\n\r\n"],
        "truncated chunked body": [put + b"Transfer-Encoding: chunked\r\n\r\n10\r\nabc"],
        "truncated fixed-length body": [put + b"Content-Length: 100\r\n\r\nonly a few bytes"],
        "obfuscated Transfer-Encoding": [
            put + b"Transfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        ],
        "space before colon": [put + b"Transfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
        "HTTP/0.9": [b"GET /\r\n"],
        "TLS to a plain port": [client_hello],
        "missing Host": [b"GET /healthz HTTP/1.1\r\n\r\n"],
        "NUL in a header": [b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n"],
        "header too large": [
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
        ],
        "garbage": [bytes(range(256)) * 4],
        "pipelined, second malformed": [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPUT /x HTTP/1.1\r\nContent-Length: z\r\n\r\n"
        ],
        "Expect 100-continue, then nothing": [
            put + b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
        ],
        "signed PUT cut half way": [signed + b"Content-Length: 1048576\r\n\r\n", b"x" * 300_000],
        "malformed body after the app answered": [
            put + b"Transfer-Encoding: chunked\r\n\r\n",
            b"3\r\nabc\r\nzz\r\n",
        ],
        "closed mid-response": [get_big],
    }


def _send_case(address: tuple[str, int], pieces: list[bytes], reset: bool) -> bytes:
    """Send the pieces, half-close (or reset) and return what the gateway answered."""
    sock = socket.create_connection(address, timeout=10)
    try:
        for index, piece in enumerate(pieces):
            if index:
                time.sleep(0.01)
            sock.sendall(piece)
        if reset:  # read a little of the reply, then RST: the client vanished mid-response
            sock.recv(1000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while len(received) < 65536:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
        return received
    finally:
        sock.close()


def _status(reply: bytes) -> int | None:
    if not reply.startswith(b"HTTP/1."):
        return None
    return int(reply.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def setup(cluster: Any, s3: Any) -> dict[str, Any]:
    bucket = "protocol-abuse"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="big", Body=b"b" * (4 << 20))
    presigned = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "signed"}, ExpiresIn=600
    )
    return {"bucket": bucket, "presigned": presigned}


class HonestClient(threading.Thread):
    """PUT then GET small and 1 MiB objects until told to stop; remembers every failure."""

    def __init__(self, s3: Any, bucket: str) -> None:
        super().__init__(daemon=True)
        self.s3, self.bucket = s3, bucket
        self.stop = threading.Event()
        self.done = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            body = str(self.done).encode() * (1 + (self.done % 2) * 100_000)
            key = f"honest/{self.done}"
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                got = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                if got != body:
                    self.failures.append(f"{key}: wrong bytes")
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                self.failures.append(f"{key}: {exc!r}")
            self.done += 1


def test_hostile_requests_never_stop_the_gateway(
    cluster: Any, s3: Any, setup: dict[str, Any]
) -> None:
    proc = cluster.processes[GATEWAY]
    pid = proc.pid
    address = _host_port(cluster.endpoints[0])
    cases = _cases(setup["bucket"], setup["presigned"], "big")
    honest = HonestClient(s3, setup["bucket"])
    honest.start()
    statuses: dict[str, Counter[int | None]] = {name: Counter() for name in cases}
    errors: list[str] = []
    lock = threading.Lock()

    def attack() -> None:
        for _ in range(ROUNDS):
            for name, pieces in cases.items():
                try:
                    reply = _send_case(address, pieces, reset=name == "closed mid-response")
                except OSError as exc:
                    with lock:
                        errors.append(f"{name}: {exc!r}")
                    continue
                with lock:
                    statuses[name][_status(reply)] += 1

    threads = [threading.Thread(target=attack) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    honest.stop.set()
    honest.join(timeout=60)

    assert local.is_alive(proc) and proc.pid == pid, "the gateway process died"
    assert not errors, errors[:5]  # a refused or reset connect means the gateway was gone
    assert honest.done > 0 and not honest.failures, honest.failures[:5]
    print("\n[protocol abuse] statuses per case:", {n: dict(c) for n, c in statuses.items()})
    # 501 is RFC 9112's answer to a transfer coding the server does not know.
    statuses["obfuscated Transfer-Encoding"].pop(501, None)
    server_errors = {n: c for n, c in statuses.items() if any(s and s >= 500 for s in c)}
    assert not server_errors, server_errors
    for name in ("illegal chunk header", "negative Content-Length", "missing Host", "HTTP/0.9"):
        assert set(statuses[name]) <= {400, None}, (name, statuses[name])
    # Still serving, same process.
    s3.put_object(Bucket=setup["bucket"], Key="after", Body=b"still here")
    assert s3.get_object(Bucket=setup["bucket"], Key="after")["Body"].read() == b"still here"
    with urllib.request.urlopen(f"{cluster.endpoints[0]}/readyz", timeout=5) as reply:
        assert reply.status == 200
    # A signed PUT whose body was cut off left no object behind.
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=setup["bucket"], Key="signed")
    log_text = proc.log_path.read_text(errors="replace")
    assert "Exception Group Traceback" not in log_text


def _raw(address: tuple[str, int], payload: bytes) -> bytes:
    """Send payload, half-close, and return what came back before the server closed."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                received += data
        return received


GARBAGE = [
    bytes(range(256)) * 16,
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00" + b"\xff" * 40,
    b"PRI * HTTP/2.0\r\n\r\nSM",  # the preface, cut off
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64),
    b"",
]


def _cut_put(channel: Any, bucket: str, key: str) -> None:
    """A PutObject stream that sends a header and some data, then is abandoned."""
    stop = threading.Event()

    def messages() -> Any:
        yield pb.PutMessage(header=pb.PutHeader(bucket=bucket, key=key, version_id="v-cut"))
        yield pb.PutMessage(data=b"z" * 300_000)
        stop.wait(10)  # the caller cancels first

    call = pb_grpc.StorageStub(channel).PutObject.future(messages())
    time.sleep(0.2)
    call.cancel()
    stop.set()


def test_hostile_bytes_and_abandoned_streams_never_stop_a_storage_node(
    cluster: Any, s3: Any, setup: dict[str, Any]
) -> None:
    nodes = [cluster.processes[n] for n in cluster.nodes]
    pids = {p.name: p.pid for p in nodes}
    targets = []
    for proc in nodes:
        targets += [("grpc", proc.port), ("admin", proc.admin_port), ("metrics", proc.metrics_port)]
    failures: list[str] = []

    def hammer(kind: str, port: int) -> None:
        for payload in GARBAGE:
            try:
                _raw(("127.0.0.1", port), payload)
            except OSError as exc:  # refused: the listener is gone
                failures.append(f"{kind}:{port} {exc!r}")

    threads = [threading.Thread(target=hammer, args=t) for t in targets for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Malformed protobuf, and streams abandoned by their caller half way.
    for proc in nodes:
        with grpc.insecure_channel(f"127.0.0.1:{proc.port}") as channel:
            raw_put = channel.unary_unary(
                "/tessera.storage.Storage/PutObjectWhole",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            with pytest.raises(grpc.RpcError) as caught:
                raw_put(b"\xff\xff\xff\xff\x0f garbage", timeout=10)
            assert caught.value.code() != grpc.StatusCode.UNAVAILABLE
            _cut_put(channel, setup["bucket"], "cut-by-caller")
            stream = pb_grpc.StorageStub(channel).GetObject(
                pb.GetRequest(bucket=setup["bucket"], key="big"), timeout=10
            )
            next(stream)
            stream.cancel()  # a reader that gives up after the first message

    assert not failures, failures[:5]
    for proc in nodes:
        assert local.is_alive(proc) and proc.pid == pids[proc.name], f"{proc.name} died"
    # The abandoned writes left nothing visible and, soon, nothing in tmp/.
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=setup["bucket"], Key="cut-by-caller")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        leftovers = [f for p in nodes for f in (p.data_dir / "tmp").iterdir()]
        if not leftovers:
            break
        time.sleep(0.1)
    assert not leftovers, leftovers
    # Every node still stores and serves: a 3-replica write and read through the gateway.
    s3.put_object(Bucket=setup["bucket"], Key="nodes-after", Body=b"nodes still here")
    got = s3.get_object(Bucket=setup["bucket"], Key="nodes-after")["Body"].read()
    assert got == b"nodes still here"
    for proc in nodes:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}/metrics") as reply:
            assert reply.status == 200
