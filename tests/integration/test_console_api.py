"""The web console's JSON API and its S3 path against a real cluster: sign-in, the cookie,
CSRF, authorization like S3, presigned links, the cluster report, metrics, credentials and
storage modes (the page itself: tests/browser/)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Any

import pytest

from gateway.console import session
from tools.cluster import ClusterInfo


class Console:
    """A browser's view of one gateway's console: a cookie and the CSRF token."""

    def __init__(self, endpoint: str) -> None:
        self.url = urllib.parse.urlsplit(endpoint)
        self.cookie = ""
        self.csrf = ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        csrf: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        sent = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if self.cookie:
            sent["Cookie"] = f"{session.COOKIE}={self.cookie}"
        if csrf and self.csrf:
            sent["X-Tessera-CSRF"] = self.csrf
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=sent)
            reply = conn.getresponse()
            data = reply.read()
            got = {name.lower(): value for name, value in reply.getheaders()}
        finally:
            conn.close()
        cookie = got.get("set-cookie", "")
        if cookie.startswith(session.COOKIE + "="):
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1]
        return reply.status, got, data

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, _, data = self.request(method, "/console/api" + path, body)
        assert status < 300, (status, data)
        return json.loads(data) if data else None

    def sign_in(self, access_key: str, secret_key: str) -> dict[str, Any]:
        found = self.api("POST", "/session", {"access_key": access_key, "secret_key": secret_key})
        self.csrf = found["csrf"]
        return found


@pytest.fixture(scope="module")
def admin(cluster: ClusterInfo) -> Console:
    console = Console(cluster.endpoints[0])
    console.sign_in(cluster.access_key, cluster.secret_key)
    return console


def _key(admin: Console, policy: str) -> tuple[str, str]:
    made = admin.api(
        "POST", "/credentials", {"policy": policy, "display_name": policy, "buckets": ["*"]}
    )
    return made["access_key"], made["secret_key"]


def _signed_in_as(cluster: ClusterInfo, access_key: str, secret_key: str) -> Console:
    console = Console(cluster.endpoints[0])
    deadline = time.monotonic() + 10  # a new key reaches the gateway's cache by a watch
    while True:
        status, _, data = console.request(
            "POST",
            "/console/api/session",
            {"access_key": access_key, "secret_key": secret_key},
        )
        if status == 200:
            console.csrf = json.loads(data)["csrf"]
            return console
        assert time.monotonic() < deadline, (status, data)
        time.sleep(0.2)


def test_sign_in_sets_a_signed_http_only_cookie(cluster: ClusterInfo) -> None:
    console = Console(cluster.endpoints[0])
    status, headers, data = console.request(
        "POST",
        "/console/api/session",
        {"access_key": cluster.access_key, "secret_key": cluster.secret_key},
    )
    assert status == 200, data
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    found = json.loads(data)
    assert found["access_key"] == cluster.access_key
    assert found["admin"] is True and found["policy"] == "admin"
    assert found["expires"] > time.time() + 3600
    assert console.api("GET", "/session")["csrf"] == found["csrf"]


def test_wrong_secret_and_unknown_key_are_refused(cluster: ClusterInfo) -> None:
    console = Console(cluster.endpoints[0])
    for access_key, secret in (
        (cluster.access_key, cluster.secret_key[:-1] + "x"),
        ("NOSUCHKEY", cluster.secret_key),
    ):
        status, headers, data = console.request(
            "POST", "/console/api/session", {"access_key": access_key, "secret_key": secret}
        )
        assert status == 401 and json.loads(data)["error"] == "InvalidCredentials"
        assert "set-cookie" not in headers


def test_sign_in_needs_a_json_body(cluster: ClusterInfo) -> None:
    """A cross-site form can post only form encodings: sign-in takes JSON alone."""
    console = Console(cluster.endpoints[0])
    form = urllib.parse.urlencode(
        {"access_key": cluster.access_key, "secret_key": cluster.secret_key}
    ).encode()
    status, _, _ = console.request(
        "POST",
        "/console/api/session",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415


def test_without_a_session_nothing_is_answered(cluster: ClusterInfo) -> None:
    console = Console(cluster.endpoints[0])
    for path in ("/console/api/session", "/console/api/bucket-stats", "/console/api/cluster"):
        status, _, data = console.request("GET", path)
        assert status == 401 and json.loads(data)["error"] == "NotSignedIn"
    status, _, data = console.request("GET", "/console/s3/")
    assert status == 403 and b"<Code>AccessDenied</Code>" in data


def test_a_cookie_signed_with_another_cluster_key_is_refused(cluster: ClusterInfo) -> None:
    other_key = session.derive_key(b"k" * 32)
    forged = Console(cluster.endpoints[0])
    forged.cookie = session.issue(other_key, cluster.access_key, cluster.secret_key, time.time())
    status, _, _ = forged.request("GET", "/console/api/session")
    assert status == 401
    status, _, _ = forged.request("GET", "/console/s3/")
    assert status == 403


def test_a_session_works_on_every_gateway_of_the_cluster(
    cluster: ClusterInfo, admin: Console
) -> None:
    other = Console(cluster.endpoints[1])
    other.cookie, other.csrf = admin.cookie, admin.csrf
    assert other.api("GET", "/session")["access_key"] == cluster.access_key


def test_state_changes_need_the_csrf_token(admin: Console, bucket: str) -> None:
    status, _, data = admin.request("PUT", f"/console/s3/{bucket}/x", b"data", csrf=False)
    assert status == 403 and b"X-Tessera-CSRF" in data
    status, _, data = admin.request(
        "PUT", f"/console/s3/{bucket}/x", b"data", {"X-Tessera-CSRF": "wrong"}, csrf=False
    )
    assert status == 403
    status, _, data = admin.request(
        "POST", "/console/api/credentials", {"policy": "readonly"}, csrf=False
    )
    assert status == 403 and json.loads(data)["error"] == "InvalidCsrfToken"
    status, _, _ = admin.request("GET", f"/console/s3/{bucket}/x")
    assert status == 404  # nothing was written


def test_s3_through_the_session_round_trips_bytes(admin: Console, bucket: str, s3: Any) -> None:
    body = bytes(range(256)) * 1000
    status, headers, _ = admin.request("PUT", f"/console/s3/{bucket}/dir/file.bin", body)
    assert status == 200 and headers["etag"]
    assert s3.get_object(Bucket=bucket, Key="dir/file.bin")["Body"].read() == body
    status, headers, data = admin.request(
        "GET",
        f"/console/s3/{bucket}/dir/file.bin?response-content-disposition="
        + urllib.parse.quote('attachment; filename="file.bin"'),
    )
    assert status == 200 and data == body
    assert headers["content-disposition"] == 'attachment; filename="file.bin"'
    # A user's object may not run script in the console's origin.
    assert headers["content-security-policy"].startswith("sandbox")
    status, _, listing = admin.request("GET", f"/console/s3/{bucket}?list-type=2&delimiter=/")
    assert status == 200 and b"<Prefix>dir/</Prefix>" in listing


def test_a_readonly_key_reads_but_cannot_delete(
    cluster: ClusterInfo, admin: Console, bucket: str, s3: Any
) -> None:
    s3.put_object(Bucket=bucket, Key="keep", Body=b"kept")
    viewer = _signed_in_as(cluster, *_key(admin, "readonly"))
    assert viewer.api("GET", "/session")["policy"] == "readonly"
    status, _, data = viewer.request("GET", f"/console/s3/{bucket}/keep")
    assert status == 200 and data == b"kept"
    status, _, data = viewer.request("DELETE", f"/console/s3/{bucket}/keep")
    assert status == 403 and b"<Code>AccessDenied</Code>" in data
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"kept"
    for method, path in (("GET", "/cluster"), ("GET", "/credentials"), ("GET", "/metrics")):
        status, _, data = viewer.request(method, "/console/api" + path)
        assert status == 403 and json.loads(data)["error"] == "AccessDenied"


def test_a_disabled_key_loses_its_session(cluster: ClusterInfo, admin: Console) -> None:
    access_key, secret = _key(admin, "readwrite")
    user = _signed_in_as(cluster, access_key, secret)
    admin.api("POST", f"/credentials/{access_key}/disable")
    deadline = time.monotonic() + 10
    while user.request("GET", "/console/api/session")[0] != 401:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    status, _, _ = user.request("GET", "/console/s3/")
    assert status == 403
    rows = {r["access_key"]: r for r in admin.api("GET", "/credentials")["credentials"]}
    assert rows[access_key]["disabled"] is True


def test_rotation_shows_the_new_secret_once_and_it_signs_in(
    cluster: ClusterInfo, admin: Console
) -> None:
    access_key, old = _key(admin, "readwrite")
    rotated = admin.api("POST", f"/credentials/{access_key}/rotate", {"grace_seconds": 0})
    assert rotated["secret_key"] != old and rotated["previous_secret_until"] is None
    assert _signed_in_as(cluster, access_key, rotated["secret_key"]).api("GET", "/session")
    listed = json.dumps(admin.api("GET", "/credentials"))
    assert rotated["secret_key"] not in listed and old not in listed
    admin.api("DELETE", f"/credentials/{access_key}")
    rows = admin.api("GET", "/credentials")["credentials"]
    assert access_key not in {r["access_key"] for r in rows}


def test_presigned_link_reads_the_object_without_a_session(
    admin: Console, bucket: str, s3: Any
) -> None:
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"shared")
    made = admin.api(
        "POST",
        "/presign",
        {"bucket": bucket, "key": "shared file.txt", "expires_seconds": 900},
    )
    assert time.time() + 800 < made["expires"] <= time.time() + 901
    url = urllib.parse.urlsplit(made["url"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", f"{url.path}?{url.query}")
    reply = conn.getresponse()
    assert reply.status == 200 and reply.read() == b"shared"
    conn.close()
    status, _, _ = admin.request(
        "POST",
        "/console/api/presign",
        {"bucket": bucket, "key": "k", "expires_seconds": 10**7},
    )
    assert status == 400


def test_bucket_stats_count_objects_and_set_storage_mode(
    admin: Console, bucket: str, s3: Any
) -> None:
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"o{i}", Body=b"x" * 100)
    deadline = time.monotonic() + 30  # counts are cached for a few seconds
    while True:
        row = admin.api("GET", "/bucket-stats")["buckets"][bucket]
        if row["objects"] == 3:
            break
        assert time.monotonic() < deadline, row
        time.sleep(1)
    assert row["bytes"] == 300 and row["mode"] == "replica"
    status, _, data = admin.request(
        "PUT", f"/console/api/buckets/{bucket}/storage", {"mode": "erasure", "data": 9, "parity": 9}
    )
    assert status == 400 and json.loads(data)["error"] == "InvalidStorageMode"
    changed = admin.api(
        "PUT", f"/buckets/{bucket}/storage", {"mode": "hybrid", "data": 2, "parity": 1}
    )
    assert changed["mode"] == "hybrid" and changed["data"] == 2 and changed["parity"] == 1


def test_cluster_report_and_metrics(admin: Console, cluster: ClusterInfo) -> None:
    report = admin.api("GET", "/cluster")
    status = report["status"]
    assert {n["id"] for n in status["nodes"]} == {"node1", "node2", "node3"}
    assert all(n["state"] == "up" for n in status["nodes"])
    assert len(status["gateways"]) == 2 and status["etcd"]["healthy"] is True
    assert status["placement"]["epoch"] >= 1
    assert isinstance(report["jobs"], list) and report["jobs"]
    metrics = admin.api("GET", "/metrics")
    assert len(metrics["gateways"]) == 2
    for row in metrics["gateways"]:
        assert row["error"] is None and row["requests_total"] > 0
        assert len(row["latency_counts"]) == len(row["latency_bounds"]) + 1
        assert row["latency_counts"][-1] >= row["requests_total"] - row["errors_total"] - 5


def test_unknown_paths_and_methods(admin: Console) -> None:
    status, _, _ = admin.request("GET", "/console/api/nothing")
    assert status == 404
    status, headers, _ = admin.request("PATCH", "/console/api/session")
    assert status == 405 and "GET" in headers["allow"]
    status, _, _ = admin.request("GET", "/console/static/../api.py")
    assert status == 404
    status, headers, page = admin.request("GET", "/console")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_signed_s3_requests_to_a_bucket_named_console_are_s3(s3: Any) -> None:
    s3.create_bucket(Bucket="console")
    try:
        s3.put_object(Bucket="console", Key="api/session", Body=b"an object")
        got = s3.get_object(Bucket="console", Key="api/session")["Body"].read()
        assert got == b"an object"
    finally:
        s3.delete_object(Bucket="console", Key="api/session")
        s3.delete_bucket(Bucket="console")


def test_sign_out_clears_the_cookie(cluster: ClusterInfo) -> None:
    console = Console(cluster.endpoints[0])
    console.sign_in(cluster.access_key, cluster.secret_key)
    status, headers, _ = console.request("DELETE", "/console/api/session")
    assert status == 204 and "Max-Age=0" in headers["set-cookie"]


def test_objects_on_the_console_origin_cannot_run_script(
    admin: Console, bucket: str, s3: Any
) -> None:
    """An HTML object opened from a presigned link shares the console's origin: it is
    served sandboxed, so its script cannot use the console's cookie."""
    s3.put_object(
        Bucket=bucket, Key="page.html", Body=b"<script>1</script>", ContentType="text/html"
    )
    s3.put_object(Bucket=bucket, Key="photo.png", Body=b"\x89PNG", ContentType="image/png")
    for key, sandboxed in (("page.html", True), ("photo.png", False)):
        made = admin.api("POST", "/presign", {"bucket": bucket, "key": key, "expires_seconds": 60})
        url = urllib.parse.urlsplit(made["url"])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("GET", f"{url.path}?{url.query}")
        reply = conn.getresponse()
        reply.read()
        conn.close()
        assert reply.status == 200
        assert reply.getheader("X-Content-Type-Options") == "nosniff"
        policy = reply.getheader("Content-Security-Policy") or ""
        assert policy.startswith("sandbox") is sandboxed, key


def test_bucket_cors_rules_do_not_open_the_console_path(
    admin: Console, bucket: str, s3: Any
) -> None:
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["http://app.example"], "AllowedMethods": ["GET"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="private.csv", Body=b"secret")
    status, headers, _ = admin.request(
        "GET", f"/console/s3/{bucket}/private.csv", headers={"Origin": "http://app.example"}
    )
    assert status == 200 and "access-control-allow-origin" not in headers
    status, headers, _ = admin.request(
        "OPTIONS",
        f"/console/s3/{bucket}/private.csv",
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert status >= 400 and "access-control-allow-origin" not in headers


def test_a_policy_requiring_sigv4_lets_the_console_in(admin: Console, bucket: str, s3: Any) -> None:
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        "Condition": {
                            "StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}
                        },
                    }
                ],
            }
        ),
    )
    try:
        status, _, _ = admin.request("GET", f"/console/s3/{bucket}?list-type=2")
        assert status == 200
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


def test_keys_with_dot_segments_round_trip_encoded(admin: Console, bucket: str, s3: Any) -> None:
    """The page sends a key whole (slashes as %2F): `..` in it names nothing else."""
    key = "x/../../other/thing.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"bait")
    encoded = urllib.parse.quote(key, safe="")
    status, _, data = admin.request("GET", f"/console/s3/{bucket}/{encoded}")
    assert status == 200 and data == b"bait"
    status, _, _ = admin.request("DELETE", f"/console/s3/{bucket}/{encoded}")
    assert status == 204
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
