"""The console's JSON API without a cluster: routing, sign-in, the session and CSRF rules,
admin-only calls, input checks, and the pure parts of its reports. A stand-in gateway holds
credentials in a dict (the cluster-backed calls: tests/integration/test_console_api.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from coordinator.buckets import Bucket
from coordinator.credentials import Credential
from coordinator.storage_mode import StorageModeError
from gateway.console import api, reports, session
from gateway.http.connection import HttpRequest


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.data:
            yield self.data


@dataclass
class StandIn:
    """What api.answer asks of a gateway, for keys in a dict."""

    keys: dict[str, Credential] = field(default_factory=dict)
    console_key: bytes = session.derive_key(b"k" * 32)
    region: str = "us-east-1"
    gateway_id: str = "gw-test"
    secure_transport: bool = False
    trust_proxy: bool = False
    used: list[str] = field(default_factory=list)

    @property
    def credentials(self) -> StandIn:
        return self

    def get(self, access_key: str) -> Credential | None:
        return self.keys.get(access_key)

    def lookup_secrets(self, access_key: str) -> tuple[str, ...] | None:
        found = self.keys.get(access_key)
        return (found.secret,) if found and found.enabled and found.secret else None

    def note_use(self, access_key: str, secret_index: int = 0) -> None:
        self.used.append(access_key)


def _key(access_key: str, secret: str, policy: str, enabled: bool = True) -> Credential:
    return Credential(access_key, secret, enabled, policy, display_name=access_key)


@pytest.fixture
def gateway() -> StandIn:
    return StandIn(
        {
            "ADMIN": _key("ADMIN", "admin-secret", "admin"),
            "READER": _key("READER", "reader-secret", "readonly"),
            "OFF": _key("OFF", "off-secret", "admin", enabled=False),
        }
    )


async def _call(
    gateway: StandIn,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[str, int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else b""
    sent = {"content-type": "application/json", **(headers or {})}
    http = HttpRequest(method, "/console/api" + path, "", sent, Body(data))
    name, _, reply = await api.answer(gateway, http, "REQ1")
    assert isinstance(reply.body, bytes)
    return name, reply.status, reply.headers, json.loads(reply.body) if reply.body else None


async def _sign_in(gateway: StandIn, access_key: str, secret: str) -> dict[str, str]:
    """Headers of a signed-in page: its cookie and CSRF token."""
    _, status, headers, found = await _call(
        gateway, "POST", "/session", {"access_key": access_key, "secret_key": secret}
    )
    assert status == 200, found
    token = headers["Set-Cookie"].split(";", 1)[0]
    return {"cookie": token, session.CSRF_HEADER: found["csrf"]}


async def test_sign_in_answers_the_session_and_sets_the_cookie(gateway: StandIn) -> None:
    name, status, headers, found = await _call(
        gateway, "POST", "/session", {"access_key": "ADMIN", "secret_key": "admin-secret"}
    )
    assert name == "ConsoleSignIn" and status == 200
    assert found["access_key"] == "ADMIN" and found["admin"] is True
    assert found["region"] == "us-east-1" and found["gateway"] == "gw-test"
    assert headers["Set-Cookie"].startswith(session.COOKIE + "=")
    assert headers["Cache-Control"] == "no-store"
    assert gateway.used == ["ADMIN"]


@pytest.mark.parametrize(
    "access_key, secret",
    [("ADMIN", "wrong"), ("NOBODY", "admin-secret"), ("OFF", "off-secret"), ("", "x")],
)
async def test_bad_sign_ins_are_refused(
    gateway: StandIn, access_key: str, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "FAILED_SIGN_IN_DELAY", 0)
    _, status, headers, found = await _call(
        gateway, "POST", "/session", {"access_key": access_key, "secret_key": secret}
    )
    assert status in (400, 401) and "Set-Cookie" not in headers
    assert found["error"] in ("InvalidCredentials", "InvalidArgument")


async def test_sign_in_takes_only_json(gateway: StandIn) -> None:
    _, status, _, _ = await _call(
        gateway,
        "POST",
        "/session",
        {"access_key": "ADMIN", "secret_key": "admin-secret"},
        {"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 415
    http = HttpRequest(
        "POST",
        "/console/api/session",
        "",
        {"content-type": "application/json"},
        Body(b"{not json"),
    )
    _, _, reply = await api.answer(gateway, http, "R")
    assert reply.status == 400 and b"MalformedJSON" in reply.body


async def test_the_session_call_needs_the_cookie(gateway: StandIn) -> None:
    _, status, _, found = await _call(gateway, "GET", "/session")
    assert status == 401 and found["error"] == "NotSignedIn"
    signed = await _sign_in(gateway, "READER", "reader-secret")
    _, status, _, found = await _call(gateway, "GET", "/session", headers=signed)
    assert status == 200 and found["policy"] == "readonly" and found["admin"] is False


async def test_a_key_disabled_after_sign_in_is_signed_out(gateway: StandIn) -> None:
    signed = await _sign_in(gateway, "READER", "reader-secret")
    gateway.keys["READER"] = _key("READER", "reader-secret", "readonly", enabled=False)
    _, status, _, _ = await _call(gateway, "GET", "/session", headers=signed)
    assert status == 401
    gateway.keys["READER"] = _key("READER", "rotated", "readonly")
    _, status, _, _ = await _call(gateway, "GET", "/session", headers=signed)
    assert status == 401


async def test_admin_calls_refuse_other_keys_and_need_csrf(gateway: StandIn) -> None:
    reader = await _sign_in(gateway, "READER", "reader-secret")
    for method, path in (("GET", "/cluster"), ("GET", "/credentials"), ("GET", "/metrics")):
        _, status, _, found = await _call(gateway, method, path, headers=reader)
        assert status == 403 and found["error"] == "AccessDenied"
    admin = await _sign_in(gateway, "ADMIN", "admin-secret")
    no_csrf = {"cookie": admin["cookie"]}
    _, status, _, found = await _call(
        gateway, "POST", "/credentials", {"policy": "readonly"}, headers=no_csrf
    )
    assert status == 403 and found["error"] == "InvalidCsrfToken"
    other = await _sign_in(gateway, "ADMIN", "admin-secret")
    crossed = {"cookie": admin["cookie"], session.CSRF_HEADER: other[session.CSRF_HEADER]}
    _, status, _, _ = await _call(
        gateway, "PUT", "/buckets/b/storage", {"mode": "replica"}, headers=crossed
    )
    assert status == 403  # another session's token does not do


async def test_unknown_paths_and_methods(gateway: StandIn) -> None:
    _, status, _, found = await _call(gateway, "GET", "/nothing")
    assert status == 404 and found["error"] == "NotFound"
    _, status, headers, _ = await _call(gateway, "PUT", "/session")
    assert status == 405 and headers["Allow"] == "DELETE, GET, POST"


async def test_presign_checks_its_expiry_before_anything_else(gateway: StandIn) -> None:
    signed = await _sign_in(gateway, "ADMIN", "admin-secret")
    for expires in (0, 604801, "60", None, True):
        _, status, _, found = await _call(
            gateway,
            "POST",
            "/presign",
            {"bucket": "bucket", "key": "k", "expires_seconds": expires},
            headers=signed,
        )
        assert status == 400 and found["error"] == "InvalidArgument", expires


async def test_sign_out_clears_the_cookie(gateway: StandIn) -> None:
    signed = await _sign_in(gateway, "ADMIN", "admin-secret")
    _, status, _, found = await _call(
        gateway, "DELETE", "/session", headers={"cookie": signed["cookie"]}
    )
    assert status == 403 and found["error"] == "InvalidCsrfToken"
    _, status, headers, _ = await _call(gateway, "DELETE", "/session", headers=signed)
    assert status == 204 and "Max-Age=0" in headers["Set-Cookie"]
    _, status, headers, _ = await _call(gateway, "DELETE", "/session")  # no session: clears
    assert status == 204 and "Max-Age=0" in headers["Set-Cookie"]


def test_storage_mode_from_json() -> None:
    mode = reports.storage_mode({"mode": "erasure", "data": 4, "parity": 2})
    assert (mode.mode, mode.data, mode.parity) == ("erasure", 4, 2)
    assert reports.storage_mode({}).mode == "replica"
    for bad in (
        {"mode": "raid5"},
        {"mode": "erasure", "data": "4", "parity": 2},
        {"mode": "erasure", "data": True, "parity": 2},
        {"mode": "erasure", "data": 0, "parity": 2},
        {"mode": 3},
    ):
        with pytest.raises(StorageModeError):
            reports.storage_mode(bad)


def test_bucket_rows_estimate_objects_from_what_nodes_hold() -> None:
    records = {
        "plain": Bucket("plain", "ADMIN"),
        "coded": Bucket("coded", "ADMIN", storage={"mode": "erasure", "data": 4, "parity": 2}),
    }
    held = {
        "plain": (30, 3000),  # 10 objects of 100 bytes, 3 copies
        "coded": (50, 0),  # 10 versions on 5 nodes (2m+1), metadata only
        ".ec/coded": (60, 6000),  # 10 objects x 6 fragments of 100 bytes (4 data)
    }
    rows = reports.bucket_rows(records, held)
    assert rows["plain"]["objects"] == 10 and rows["plain"]["bytes"] == 1000
    assert rows["plain"]["storage"] == "replica, 3 copies"
    assert rows["coded"]["objects"] == 10 and rows["coded"]["bytes"] == 4000
    assert rows["coded"]["storage"] == "erasure 4+2" and rows["coded"]["parity"] == 2
    unknown = reports.bucket_rows(records, None)
    assert unknown["plain"]["objects"] is None and unknown["plain"]["bytes"] is None


async def test_hostile_inputs_get_clear_errors_not_500s(
    gateway: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "FAILED_SIGN_IN_DELAY", 0)
    for headers in ({"cookie": f"{session.COOKIE}=abc.é"}, {"cookie": f"{session.COOKIE}=é"}):
        _, status, _, _ = await _call(gateway, "GET", "/session", headers=headers)
        assert status == 401
    signed = await _sign_in(gateway, "ADMIN", "admin-secret")
    _, status, _, _ = await _call(
        gateway, "PUT", "/buckets/b/storage", {}, headers={**signed, session.CSRF_HEADER: "é"}
    )
    assert status == 403
    deep = HttpRequest(
        "POST",
        "/console/api/session",
        "",
        {"content-type": "application/json"},
        Body(b"[" * 50_000),
    )
    _, _, reply = await api.answer(gateway, deep, "R")
    assert reply.status == 400
    for body in (
        {"access_key": "ADMIN", "secret_key": "\ud800"},
        {"access_key": "\ud800", "secret_key": "x"},
    ):
        _, status, _, found = await _call(gateway, "POST", "/session", body)
        assert status == 400 and found["error"] == "InvalidArgument"
    _, status, _, found = await _call(
        gateway,
        "POST",
        "/presign",
        {"bucket": "..", "key": "k", "expires_seconds": 60},
        headers=signed,
    )
    assert status == 400 and found["error"] == "InvalidBucketName"


async def test_sign_in_only_from_this_origin_with_exactly_json(gateway: StandIn) -> None:
    body = {"access_key": "ADMIN", "secret_key": "admin-secret"}
    for headers in (
        {"content-type": "text/plain; charset=application/json"},
        {"content-type": "text/plain;application/json"},
    ):
        _, status, _, _ = await _call(gateway, "POST", "/session", body, headers)
        assert status == 415
    for headers in (
        {"host": "127.0.0.1:9000", "origin": "http://127.0.0.1:9999"},
        {"host": "127.0.0.1:9000", "sec-fetch-site": "same-site"},
        {"host": "127.0.0.1:9000", "sec-fetch-site": "cross-site"},
    ):
        _, status, _, found = await _call(gateway, "POST", "/session", body, headers)
        assert status == 403 and found["error"] == "CrossOriginRequest"
    _, status, _, _ = await _call(
        gateway,
        "POST",
        "/session",
        body,
        {
            "host": "127.0.0.1:9000",
            "origin": "http://127.0.0.1:9000",
            "sec-fetch-site": "same-origin",
        },
    )
    assert status == 200


async def test_the_first_valid_session_cookie_counts(gateway: StandIn) -> None:
    """Another service of the host may set a cookie of the same name on a longer path:
    the browser sends it first, and it must not shadow the real session."""
    signed = await _sign_in(gateway, "ADMIN", "admin-secret")
    headers = {**signed, "cookie": f"{session.COOKIE}=planted; {signed['cookie']}"}
    _, status, _, found = await _call(gateway, "GET", "/session", headers=headers)
    assert status == 200 and found["access_key"] == "ADMIN"


def test_user_content_on_the_console_origin_is_sandboxed() -> None:
    from gateway.console import routes

    for active in ("text/html", "text/html; charset=utf-8", "image/svg+xml", "text/xml", ""):
        headers = routes.user_content_headers(active)
        assert headers["Content-Security-Policy"].startswith("sandbox"), active
        assert headers["X-Content-Type-Options"] == "nosniff"
    for passive in ("image/png", "application/pdf", "video/mp4", "text/plain; charset=utf-8"):
        headers = routes.user_content_headers(passive)
        assert "Content-Security-Policy" not in headers, passive
        assert headers["X-Content-Type-Options"] == "nosniff"
