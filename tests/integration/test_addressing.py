"""How requests reach a bucket: virtual-hosted-style Host names, a reverse proxy's
X-Forwarded-Host, and request shapes real tools send (chunked bodies, Expect: 100-continue,
presigned PUTs with a Content-Type).

The cluster's gateways run without --domain; this module starts one more gateway with
``--domain localhost --trust-proxy``. ``<bucket>.localhost`` does not resolve on every
machine, so name resolution of ``*.localhost`` is pointed at 127.0.0.1 for the module:
boto3 then sends real virtual-hosted requests (Host ``<bucket>.localhost:<port>``).
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.helpers import delete_bucket, error_code, make_client, unique_bucket_name
from tests.proxy import pipe
from tools.cluster import ClusterInfo

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _localhost_subdomains() -> Iterator[None]:
    """Resolve ``*.localhost`` to 127.0.0.1 (RFC 6761), as glibc does on some systems."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture(scope="module")
def vhost(cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of an extra gateway serving domain ``localhost`` behind a trusted proxy."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vhost") / "gateway.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.cli",
                "gateway",
                "--listen",
                f"127.0.0.1:{port}",
                "--etcd",
                cluster.etcd_endpoint,
                "--region",
                cluster.region,
                "--domain",
                "localhost",
                "--trust-proxy",
                "--gateway-id",
                "vhost-test",
                # Its admin port would default to the HTTP port + 1, which may be
                # taken: this gateway needs none.
                "--admin-listen",
                "off",
                "--cluster-key-file",
                str(cluster.data_dir / "cluster.key"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while _status(f"http://127.0.0.1:{port}/readyz") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"vhost gateway did not become ready:\n{tail}")
            time.sleep(0.1)
        yield port
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _client(cluster: ClusterInfo, endpoint: str, **config: Any) -> Any:
    return make_client(endpoint, cluster.access_key, cluster.secret_key, cluster.region, **config)


@pytest.fixture(scope="module")
def vhost_s3(cluster: ClusterInfo, vhost: int) -> Any:
    """SigV4, virtual-hosted style: Host is <bucket>.localhost:<port>."""
    return _client(cluster, f"http://localhost:{vhost}", s3={"addressing_style": "virtual"})


@pytest.fixture(scope="module")
def vhost_s3_v2(cluster: ClusterInfo, vhost: int) -> Any:
    """SigV2 (botocore HmacV1Auth), virtual-hosted style."""
    return _client(
        cluster,
        f"http://localhost:{vhost}",
        signature_version="s3",
        s3={"addressing_style": "virtual"},
    )


# --------------------------------------------------------------------------- a reverse proxy


class ForwardingProxy:
    """A reverse proxy in miniature: one request per connection; it replaces the Host the
    client sent by the upstream's address and passes the original on as X-Forwarded-Host
    (overwriting any the client sent), with X-Forwarded-Proto, like nginx or HAProxy."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.forwarded: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(1 << 16)
            if not data:
                client.close()
                return
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        request_line, *lines = head.split(b"\r\n")
        host = b""
        kept = [request_line]
        for line in lines:
            name = line.partition(b":")[0].strip().lower()
            if name == b"host":
                host = line.partition(b":")[2].strip()
            elif name not in (b"connection", b"x-forwarded-host", b"x-forwarded-proto"):
                kept.append(line)
        self.forwarded.append(host.decode())
        kept += [
            b"Host: %s:%d" % (self.upstream[0].encode(), self.upstream[1]),
            b"X-Forwarded-Host: " + host,
            b"X-Forwarded-Proto: http",
            b"Connection: close",
        ]
        upstream = socket.create_connection(self.upstream)
        upstream.sendall(b"\r\n".join(kept) + b"\r\n\r\n" + rest)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def proxy_to_vhost(vhost: int) -> Iterator[ForwardingProxy]:
    proxy = ForwardingProxy(("127.0.0.1", vhost))
    yield proxy
    proxy.close()


@pytest.fixture
def proxy_to_plain(cluster: ClusterInfo) -> Iterator[ForwardingProxy]:
    port = int(cluster.endpoints[0].rpartition(":")[2])
    proxy = ForwardingProxy(("127.0.0.1", port))
    yield proxy
    proxy.close()


# --------------------------------------------------------------------------- helpers


def _roundtrip(client: Any, bucket: str, key: str = "dir/hello wörld+.txt") -> None:
    """put / get / head / list / delete of one object through client."""
    client.put_object(Bucket=bucket, Key=key, Body=b"hello virtual host", ContentType="text/x-a")
    got = client.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"hello virtual host"
    assert got["ContentType"] == "text/x-a"
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 18
    listed = client.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [key]
    assert [o["Key"] for o in client.list_objects(Bucket=bucket)["Contents"]] == [key]
    client.delete_object(Bucket=bucket, Key=key)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def _sent_host(client: Any) -> list[str]:
    """Records the Host of every request client sends."""
    hosts: list[str] = []

    def record(request: Any, **_: Any) -> None:
        hosts.append(request.url.split("/")[2])

    client.meta.events.register("before-send.s3", record)
    return hosts


# --------------------------------------------------------------------------- virtual hosting


def test_sigv4_virtual_hosted_roundtrip(cluster, vhost, vhost_s3, s3):
    bucket = unique_bucket_name("vhost-v4")
    hosts = _sent_host(vhost_s3)
    vhost_s3.create_bucket(Bucket=bucket)  # PUT / on Host <bucket>.localhost
    try:
        assert f"{bucket}.localhost:{vhost}" in hosts
        assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        vhost_s3.head_bucket(Bucket=bucket)
        _roundtrip(vhost_s3, bucket)
        # Keys that look like paths or sub-resources stay keys.
        for key in ("/leading", "a//b", "%25literal", "readyz"):
            vhost_s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
        url = vhost_s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "a//b"}, ExpiresIn=60
        )
        assert url.startswith(f"http://{bucket}.localhost:{vhost}/")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"a//b"
    finally:
        delete_bucket(vhost_s3, bucket)  # DELETE / on Host <bucket>.localhost
    with pytest.raises(ClientError) as info:
        vhost_s3.head_bucket(Bucket=bucket)
    assert error_code(info)[0] == 404
    # The other gateway hears of the deletion through its etcd watch, a moment later.
    deadline = time.monotonic() + 10
    while True:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "404"
            break
        assert time.monotonic() < deadline, "the deleted bucket stayed on the other gateway"
        time.sleep(0.02)


def test_sigv2_virtual_hosted_roundtrip(cluster, vhost, vhost_s3_v2, s3, bucket):
    hosts = _sent_host(vhost_s3_v2)
    _roundtrip(vhost_s3_v2, bucket)
    assert hosts and all(h == f"{bucket}.localhost:{vhost}" for h in hosts)
    assert vhost_s3_v2.get_bucket_acl(Bucket=bucket)["Owner"]
    # SigV2 presigned URLs, virtual-hosted: GET, and a PUT that signs its Content-Type.
    put_url = vhost_s3_v2.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p", "ContentType": "text/plain"}
    )
    assert put_url.startswith(f"http://{bucket}.localhost:{vhost}/p?")
    assert _urllib("PUT", put_url, b"v2 url", {"Content-Type": "text/plain"})[0] == 200
    get_url = vhost_s3_v2.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p"}
    )
    assert _urllib("GET", get_url)[:2] == (200, b"v2 url")
    # A signature made for one bucket does not open another.
    other = get_url.replace(f"http://{bucket}.", f"http://{bucket}x.", 1)
    status, body = _urllib("GET", other)[:2]
    assert status == 403 and b"SignatureDoesNotMatch" in body


def test_path_style_still_works_on_a_domain_gateway(cluster, vhost, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"path style")
    for endpoint in (f"http://127.0.0.1:{vhost}", f"http://localhost:{vhost}"):
        for signature in ("s3v4", "s3"):
            client = _client(cluster, endpoint, signature_version=signature)
            assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"path style"
            assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_gateway_without_domain_ignores_bucket_hosts(cluster, s3, bucket):
    # The cluster's gateways serve no domain: <bucket>.localhost is just a host name, and
    # the path names the bucket.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    port = int(cluster.endpoints[0].rpartition(":")[2])
    client = _client(cluster, f"http://localhost:{port}", s3={"addressing_style": "virtual"})
    with pytest.raises(ClientError) as info:
        client.get_object(Bucket=bucket, Key="k")
    assert error_code(info) == (404, "NoSuchBucket")  # bucket "k" does not exist


# --------------------------------------------------------------------------- reverse proxy


def test_trusted_proxy_forwards_the_client_host(cluster, vhost, proxy_to_vhost, s3, bucket):
    endpoint = f"http://localhost:{proxy_to_vhost.port}"
    for style in ("virtual", "path"):
        for signature in ("s3v4", "s3"):
            client = _client(
                cluster, endpoint, signature_version=signature, s3={"addressing_style": style}
            )
            key = f"{style}-{signature}"
            client.put_object(Bucket=bucket, Key=key, Body=key.encode())
            assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert f"{bucket}.localhost:{proxy_to_vhost.port}" in proxy_to_vhost.forwarded
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["path-s3", "path-s3v4", "virtual-s3", "virtual-s3v4"]


def test_untrusted_gateway_ignores_forwarded_headers(cluster, proxy_to_plain, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # Through the proxy, the signature covers a Host the gateway does not trust to be the
    # client's: refused.
    client = _client(cluster, f"http://localhost:{proxy_to_plain.port}")
    with pytest.raises(ClientError) as info:
        client.get_object(Bucket=bucket, Key="k")
    assert error_code(info) == (403, "SignatureDoesNotMatch")
    assert proxy_to_plain.forwarded
    # A client sending X-Forwarded-Host itself changes neither addressing nor the host
    # checked: the request is served path style, as signed.
    direct = _client(cluster, cluster.endpoints[0])
    direct.meta.events.register(
        "before-sign.s3",
        lambda request, **_: request.headers.__setitem__("X-Forwarded-Host", "evil.localhost"),
    )
    assert direct.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_forwarded_host_is_not_trusted_from_clients_of_a_plain_gateway(cluster, s3, bucket):
    """A request signed for Host A but sent with Host B and X-Forwarded-Host A fails."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    signed_for = "trusted.example:443"
    headers = _sign_v4(cluster, "GET", f"http://{signed_for}/{bucket}/k", {})
    port = int(cluster.endpoints[0].rpartition(":")[2])
    status, body = _http(port, "GET", f"/{bucket}/k", {**headers, "X-Forwarded-Host": signed_for})
    assert status == 403 and b"SignatureDoesNotMatch" in body


# --------------------------------------------------------------------------- what tools send


def _urllib(
    method: str, url: str, body: bytes = b"", headers: dict | None = None
) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _sign_v4(cluster: ClusterInfo, method: str, url: str, headers: dict) -> dict[str, str]:
    """SigV4 headers for a request; UNSIGNED-PAYLOAD when headers ask for it (S3SigV4Auth
    otherwise replaces that header by the hash of the empty AWSRequest body)."""
    request = AWSRequest(method=method, url=url, headers=headers)
    if headers.get("X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD":
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    credentials = Credentials(cluster.access_key, cluster.secret_key)
    S3SigV4Auth(credentials, "s3", cluster.region).add_auth(request)
    signed = dict(request.headers.items())
    assert signed["X-Amz-Content-SHA256"] == headers.get(
        "X-Amz-Content-SHA256", signed["X-Amz-Content-SHA256"]
    )
    return signed


def _http(port: int, method: str, path: str, headers: dict, body: Any = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("target", ["path", "virtual"])
def test_chunked_transfer_encoding_put(cluster, vhost, s3, bucket, target):
    """Transfer-Encoding: chunked, no Content-Length, UNSIGNED-PAYLOAD (curl -T -, rclone
    rcat, streaming SDKs): the whole body is stored."""
    pieces = [os.urandom(n) for n in (1, 65536, 1 << 20, 7, 3 << 20, 12345)]
    if target == "path":
        port, host, path = int(cluster.endpoints[0].rpartition(":")[2]), None, f"/{bucket}/ch"
        url = f"{cluster.endpoints[0]}{path}"
    else:
        port, host, path = vhost, f"{bucket}.localhost:{vhost}", "/ch"
        url = f"http://{host}{path}"
    headers = _sign_v4(cluster, "PUT", url, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    if host:
        headers["Host"] = host
    assert "Content-Length" not in headers

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("PUT", path, skip_host=bool(host), skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in pieces:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        reply = response.read()
    finally:
        conn.close()
    assert response.status == 200, reply
    got = s3.get_object(Bucket=bucket, Key="ch")
    assert got["ContentLength"] == sum(map(len, pieces))
    assert got["Body"].read() == b"".join(pieces)


def test_chunked_put_with_a_generator_body(cluster, s3, bucket):
    """The same with http.client choosing chunked encoding itself for a generator body."""
    url = f"{cluster.endpoints[0]}/{bucket}/gen"
    headers = _sign_v4(cluster, "PUT", url, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    pieces = [b"a" * 1000, b"b" * (2 << 20), b"c"]
    port = int(cluster.endpoints[0].rpartition(":")[2])
    status, reply = _http(port, "PUT", f"/{bucket}/gen", headers, body=iter(pieces))
    assert status == 200, reply
    assert s3.get_object(Bucket=bucket, Key="gen")["Body"].read() == b"".join(pieces)


def test_chunked_put_that_stops_early_stores_nothing(cluster, s3, bucket):
    url = f"{cluster.endpoints[0]}/{bucket}/cut"
    headers = _sign_v4(cluster, "PUT", url, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    port = int(cluster.endpoints[0].rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = f"PUT /{bucket}/cut HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += "Transfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode() + b"10000\r\n" + b"x" * 1000)
        time.sleep(0.3)
    time.sleep(0.5)
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="cut")
    assert error_code(info)[0] == 404


@pytest.mark.parametrize("signature", ["s3v4", "s3"])
def test_presigned_put_with_content_type(cluster, vhost, s3, bucket, signature):
    for endpoint, style in (
        (cluster.endpoints[0], "path"),
        (f"http://localhost:{vhost}", "virtual"),
    ):
        client = _client(
            cluster, endpoint, signature_version=signature, s3={"addressing_style": style}
        )
        key = f"typed-{style}"
        url = client.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": key, "ContentType": "text/plain"},
            ExpiresIn=300,
        )
        status, body, _ = _urllib("PUT", url, b"typed", {"Content-Type": "text/plain"})
        assert status == 200, body
        got = s3.get_object(Bucket=bucket, Key=key)
        assert (got["ContentType"], got["Body"].read()) == ("text/plain", b"typed")
        # The Content-Type is signed: another one is refused.
        status, body, _ = _urllib("PUT", url, b"evil", {"Content-Type": "text/html"})
        assert status == 403 and b"SignatureDoesNotMatch" in body


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and head+body of one HTTP/1.1 response with Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ", 2)[1]), head + b"\r\n\r\n" + body


@pytest.mark.parametrize("target", ["path", "virtual"])
def test_expect_100_continue(cluster, vhost, s3, bucket, target):
    """The client sends its headers, waits for 100 Continue, only then sends the body."""
    payload = os.urandom(300_000)
    if target == "path":
        port, path = int(cluster.endpoints[0].rpartition(":")[2]), f"/{bucket}/exp"
        host = f"127.0.0.1:{port}"
    else:
        port, host, path = vhost, f"{bucket}.localhost:{vhost}", "/exp"
    headers = _sign_v4(
        cluster,
        "PUT",
        f"http://{host}{path}",
        {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(len(payload))},
    )
    headers["Expect"] = "100-continue"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host")
        sock.sendall(head.encode() + b"\r\n")
        interim = sock.recv(1 << 16)  # raises socket.timeout if the gateway waits for the body
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(payload)
        status, reply = _read_response(sock)
    assert status == 200, reply
    assert s3.get_object(Bucket=bucket, Key="exp")["Body"].read() == payload


def test_refused_expect_upload_is_answered_before_its_body(cluster, bucket):
    """100 Continue goes out only when the handler asks for the body, so a request refused
    before that gets its error at once and the client never sends the body (as AWS does);
    the connection then closes, since the client may still send it."""
    port = int(cluster.endpoints[0].rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"PUT /{bucket}/nope HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Length: 300000\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        status, reply = _read_response(sock)
        assert status == 403 and b"AccessDenied" in reply
        assert b"100 continue" not in reply.lower() and b"connection: close" in reply.lower()


@pytest.mark.parametrize("size", [1000, 300_000, 5 << 20])
def test_refused_upload_with_expect_gets_its_error(cluster, bucket, size):
    """boto3 sends Expect: 100-continue with a file body; a request refused by
    authentication must reach the client as the S3 error, not as a reset connection."""
    stranger = make_client(cluster.endpoints[0], cluster.access_key, "wrong-secret", cluster.region)
    for _ in range(2):  # the second attempt reuses (or replaces) the connection
        with pytest.raises(ClientError) as info:
            stranger.put_object(Bucket=bucket, Key="nope", Body=io.BytesIO(b"x" * size))
        assert error_code(info) == (403, "SignatureDoesNotMatch")


def test_boto3_file_uploads_send_expect(cluster, vhost, vhost_s3, s3, bucket):
    """boto3 adds Expect: 100-continue to PutObject with a file body."""
    seen: list[str | None] = []
    vhost_s3.meta.events.register(
        "before-send.s3", lambda request, **_: seen.append(request.headers.get("Expect"))
    )
    payload = os.urandom(2 << 20)
    vhost_s3.put_object(Bucket=bucket, Key="file", Body=io.BytesIO(payload))
    assert seen == [b"100-continue"] or seen == ["100-continue"]
    assert s3.get_object(Bucket=bucket, Key="file")["Body"].read() == payload
    vhost_s3.upload_fileobj(io.BytesIO(payload * 4), bucket, "multi")  # multipart (8 MiB)
    assert s3.head_object(Bucket=bucket, Key="multi")["ContentLength"] == len(payload) * 4
