"""The console's JSON API under /console/api (the contract: docs/console.md).

Every call but signing in needs a valid session; every state-changing call needs the
session's CSRF token in X-Tessera-CSRF; cluster and credential calls need an admin key.
Bucket and object questions are authorized by the same code as S3 requests
(gateway/s3/handlers/access.py), as the signed-in key's own requests would be.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import trio

from coordinator.credentials import Credential, CredentialError
from coordinator.storage_mode import StorageModeError
from gateway.console import keys, reports, session
from gateway.http.connection import HttpRequest
from gateway.s3 import names, router
from gateway.s3.auth import UNSIGNED_PAYLOAD, AuthResult
from gateway.s3.auth.presign import presigned_url
from gateway.s3.auth.sigv4 import MAX_PRESIGN_EXPIRES
from gateway.s3.errors import S3Error
from gateway.s3.handlers.access import authorize
from gateway.s3.request import Reply, RequestContext
from gateway.state import Gateway

PREFIX = "/console/api"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_LIMIT = 64 * 1024
# A wrong secret costs the guesser this long (secrets are 40 random characters anyway).
FAILED_SIGN_IN_DELAY = 0.5


class ConsoleError(Exception):
    """An API call refused: its HTTP status, a code and a message for the page."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class SignedIn:
    session: session.Session
    credential: Credential

    @property
    def admin(self) -> bool:
        return self.credential.policy == "admin"


def signed_in(gateway: Gateway, headers: dict[str, str], now: float) -> SignedIn | None:
    """The session a request's cookie carries, while its key still signs with the secret
    it signed in with (not disabled, deleted or rotated past its grace period)."""
    if not gateway.console_key:
        return None
    for token in session.cookie_values(headers.get("cookie"))[:4]:
        found = session.verify(gateway.console_key, token, now)
        if found is None:
            continue
        credential = gateway.credentials.get(found.access_key)
        valid = gateway.lookup_secrets(found.access_key)
        if credential is not None and session.matches_secret(gateway.console_key, found, valid):
            return SignedIn(found, credential)
    return None


def session_auth(access_key: str, payload_hash: str = UNSIGNED_PAYLOAD) -> AuthResult:
    """What the S3 code sees of a request the console makes for a signed-in key: the body
    is taken as sent, checked against a SHA-256 the request names (there is no signature
    chain for aws-chunked bodies)."""
    return AuthResult(
        access_key=access_key,
        signing_key=b"",
        scope="",
        amz_date="",
        signature="",
        payload_hash=payload_hash,
        presigned=False,
    )


@dataclass
class Call:
    """One API request: who made it and what the route matched."""

    gateway: Gateway
    http: HttpRequest
    request_id: str
    now: float
    user: SignedIn | None
    params: tuple[str, ...]

    @property
    def signed_in(self) -> SignedIn:
        assert self.user is not None  # the route required a session
        return self.user

    async def json(self) -> dict[str, Any]:
        data = bytearray()
        async for piece in self.http.body:
            data += piece
            if len(data) > BODY_LIMIT:
                raise ConsoleError(413, "RequestTooLarge", "The request body is too large.")
        try:
            parsed = json.loads(data or b"{}")
        except (ValueError, RecursionError):
            raise ConsoleError(400, "MalformedJSON", "The request body is not JSON.") from None
        if not isinstance(parsed, dict):
            raise ConsoleError(400, "MalformedJSON", "The request body must be a JSON object.")
        return parsed

    async def may(self, operation: str, bucket: str, key: str | None = None) -> bool:
        """Whether the signed-in key's S3 request `operation` on bucket/key would be
        authorized."""
        ctx = RequestContext(
            gateway=self.gateway,
            request_id=self.request_id,
            operation=operation,
            method="GET",
            bucket=bucket,
            key=key,
            query={},
            headers={},
            auth=session_auth(self.signed_in.session.access_key),
            wire_body=_nothing(),
        )
        try:
            await authorize(ctx)
        except S3Error:
            return False
        return True


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    body = b"" if status == 204 else json.dumps(data, default=str).encode()
    out = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    }
    return Reply(status, out, body)


def _text(body: dict[str, Any], name: str, *, required: bool = True, limit: int = 1024) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise ConsoleError(400, "InvalidArgument", f"{name} must be a string")
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry and UTF-8 cannot
        raise ConsoleError(400, "InvalidArgument", f"{name} is not valid text") from None
    return value


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _same_origin(gateway: Gateway, headers: dict[str, str]) -> bool:
    """Whether the browser says the request comes from a page of this origin (or from no
    page: a typed URL, a script outside a browser). Another site's page, or another port
    of this host, is refused even where cookies would be sent."""
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    host = router.request_host(headers, trust_proxy=gateway.trust_proxy)
    return origin.partition("://")[2] == host


# --- session --------------------------------------------------------------------------------


def _session_json(gateway: Gateway, user: SignedIn) -> dict[str, Any]:
    return {
        "access_key": user.session.access_key,
        "display_name": user.credential.display_name,
        "policy": user.credential.policy,
        "admin": user.admin,
        "csrf": user.session.csrf,
        "expires": user.session.expires,
        "region": gateway.region,
        "gateway": gateway.gateway_id,
    }


async def get_session(call: Call) -> Reply:
    return json_reply(200, _session_json(call.gateway, call.signed_in))


async def sign_in(call: Call) -> Reply:
    """Check an access key and secret as S3 requests are checked (the same secrets, the
    one a rotation replaced included while its grace lasts), then set the cookie."""
    gateway = call.gateway
    if not gateway.console_key:
        raise ConsoleError(503, "ConsoleUnavailable", "This gateway has no cluster key.")
    if _media_type(call.http.headers) != "application/json":
        raise ConsoleError(415, "UnsupportedMediaType", "Sign in with a JSON body.")
    if not _same_origin(gateway, call.http.headers):
        raise ConsoleError(403, "CrossOriginRequest", "Sign in from the console's own page.")
    body = await call.json()
    access_key = _text(body, "access_key", limit=128)
    secret = _text(body, "secret_key", limit=256)
    valid = gateway.lookup_secrets(access_key) or ()
    index = next(
        (i for i, s in enumerate(valid) if hmac.compare_digest(s.encode(), secret.encode())),
        None,
    )
    if index is None:
        await trio.sleep(FAILED_SIGN_IN_DELAY)
        raise ConsoleError(
            401, "InvalidCredentials", "Wrong access key or secret key, or the key is disabled."
        )
    gateway.note_use(access_key, index)
    token = session.issue(gateway.console_key, access_key, secret, call.now)
    user = signed_in(gateway, {"cookie": f"{session.COOKIE}={token}"}, call.now)
    if user is None:  # the key changed in the instant between the two looks
        raise ConsoleError(401, "InvalidCredentials", "The key changed; sign in again.")
    cookie = session.set_cookie(token, session.LIFETIME, gateway.secure_transport)
    return json_reply(200, _session_json(gateway, user), {"Set-Cookie": cookie})


async def sign_out(call: Call) -> Reply:
    """Clear the cookie: a live session's only with its CSRF token, so another page
    cannot sign the user out; a dead one's (expired, key disabled) always."""
    if call.user is not None and not session.csrf_ok(
        call.user.session, call.http.headers.get(session.CSRF_HEADER)
    ):
        raise ConsoleError(403, "InvalidCsrfToken", "Missing or wrong X-Tessera-CSRF.")
    cookie = session.set_cookie("", 0, call.gateway.secure_transport)
    return json_reply(204, None, {"Set-Cookie": cookie})


# --- buckets and objects ----------------------------------------------------------------------


async def bucket_stats(call: Call) -> Reply:
    stats = await reports.bucket_stats(call.gateway)
    listed = {name: row for name, row in stats.items() if await call.may("ListObjectsV2", name)}
    return json_reply(200, {"buckets": listed})


async def set_bucket_storage(call: Call) -> Reply:
    bucket = call.params[0]
    body = await call.json()
    try:
        row = await reports.set_storage(call.gateway, bucket, body)
    except StorageModeError as exc:
        raise ConsoleError(400, "InvalidStorageMode", str(exc)) from None
    except KeyError:
        raise ConsoleError(404, "NoSuchBucket", f"No bucket named {bucket}.") from None
    return json_reply(200, row)


async def presign(call: Call) -> Reply:
    body = await call.json()
    bucket, key = _text(body, "bucket", limit=63), _text(body, "key")
    if names.bucket_name_problem(bucket) is not None:
        raise ConsoleError(400, "InvalidBucketName", "That is not a bucket name.")
    version_id = _text(body, "version_id", required=False)
    expires = body.get("expires_seconds", 3600)
    if type(expires) is not int or not 1 <= expires <= MAX_PRESIGN_EXPIRES:  # bool is no int
        raise ConsoleError(
            400, "InvalidArgument", f"expires_seconds must be 1 to {MAX_PRESIGN_EXPIRES}"
        )
    if not await call.may("GetObject", bucket, key):
        raise ConsoleError(403, "AccessDenied", "This key may not read that object.")
    access_key = call.signed_in.session.access_key
    secrets = call.gateway.lookup_secrets(access_key)
    if not secrets:
        raise ConsoleError(401, "NotSignedIn", "The key is no longer valid.")
    now = datetime.fromtimestamp(call.now, UTC)
    url = presigned_url(
        method="GET",
        scheme="https" if call.gateway.secure_transport else "http",
        host=router.request_host(call.http.headers, trust_proxy=call.gateway.trust_proxy),
        bucket=bucket,
        key=key,
        access_key=access_key,
        secret_key=secrets[0],
        region=call.gateway.region,
        expires=expires,
        now=now,
        query={"versionId": version_id} if version_id else None,
    )
    return json_reply(200, {"url": url, "expires": int(call.now) + expires})


# --- cluster (admin) ------------------------------------------------------------------------


async def cluster(call: Call) -> Reply:
    return json_reply(200, await reports.cluster(call.gateway))


async def metrics(call: Call) -> Reply:
    return json_reply(200, await reports.gateway_metrics(call.gateway))


# --- credentials (admin) --------------------------------------------------------------------


async def list_credentials(call: Call) -> Reply:
    return json_reply(200, {"credentials": await keys.listed(call.gateway, call.now)})


async def create_credential(call: Call) -> Reply:
    body = await call.json()
    patterns = body.get("buckets", [])
    if not isinstance(patterns, list) or not all(
        isinstance(p, str) and 0 < len(p) <= 64 for p in patterns
    ):
        raise ConsoleError(400, "InvalidArgument", "buckets must be a list of name patterns")
    created = await keys.create(
        call.gateway,
        policy=_text(body, "policy", limit=32),
        display_name=_text(body, "display_name", required=False, limit=128),
        email=_text(body, "email", required=False, limit=256),
        buckets=[p.strip() for p in patterns if p.strip()],
        by=call.signed_in.session.access_key,
    )
    return json_reply(201, created)


async def change_credential(call: Call) -> Reply:
    access_key, action = call.params
    if action == "rotate":
        grace = (await call.json()).get("grace_seconds", 0)
        if not isinstance(grace, int | float) or not 0 <= grace <= 30 * 86400:
            raise ConsoleError(400, "InvalidArgument", "grace_seconds must be 0 to 30 days")
        return json_reply(200, await keys.rotate(call.gateway, access_key, float(grace)))
    return json_reply(200, await keys.set_enabled(call.gateway, access_key, action == "enable"))


async def delete_credential(call: Call) -> Reply:
    await keys.delete(call.gateway, call.params[0])
    return json_reply(204, None)


# --- routing --------------------------------------------------------------------------------

Handler = Callable[[Call], Awaitable[Reply]]
PUBLIC, USER, ADMIN = "public", "user", "admin"
_NAME = r"([^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str, str, Handler]] = [
    (method, re.compile(pattern + "$"), access, name, handler)
    for method, pattern, access, name, handler in (
        ("GET", "/session", USER, "ConsoleGetSession", get_session),
        ("POST", "/session", PUBLIC, "ConsoleSignIn", sign_in),
        ("DELETE", "/session", PUBLIC, "ConsoleSignOut", sign_out),
        ("GET", "/bucket-stats", USER, "ConsoleBucketStats", bucket_stats),
        ("PUT", f"/buckets/{_NAME}/storage", ADMIN, "ConsoleSetStorage", set_bucket_storage),
        ("POST", "/presign", USER, "ConsolePresign", presign),
        ("GET", "/cluster", ADMIN, "ConsoleCluster", cluster),
        ("GET", "/metrics", ADMIN, "ConsoleMetrics", metrics),
        ("GET", "/credentials", ADMIN, "ConsoleListCredentials", list_credentials),
        ("POST", "/credentials", ADMIN, "ConsoleCreateCredential", create_credential),
        (
            "POST",
            f"/credentials/{_NAME}/(disable|enable|rotate)",
            ADMIN,
            "ConsoleChangeCredential",
            change_credential,
        ),
        ("DELETE", f"/credentials/{_NAME}", ADMIN, "ConsoleDeleteCredential", delete_credential),
    )
]


def _error(exc: ConsoleError) -> Reply:
    return json_reply(exc.status, {"error": exc.code, "message": exc.message})


async def answer(gateway: Gateway, http: HttpRequest, request_id: str) -> tuple[str, str, Reply]:
    """(operation name, signed-in access key or "-", reply) of one API request; failures
    are JSON errors."""
    path = http.raw_path[len(PREFIX) :]
    now = time.time()
    matched = [r for r in ROUTES if r[1].match(path)]
    if not matched:
        return "ConsoleApi", "-", _error(ConsoleError(404, "NotFound", "No such console API."))
    route = next((r for r in matched if r[0] == http.method), None)
    if route is None:
        allowed = ", ".join(sorted({r[0] for r in matched}))
        error = _error(ConsoleError(405, "MethodNotAllowed", f"Use {allowed}."))
        error.headers["Allow"] = allowed
        return "ConsoleApi", "-", error
    _, pattern, access, name, handler = route
    match = pattern.match(path)
    assert match is not None
    user = signed_in(gateway, http.headers, now)
    who = user.session.access_key if user else "-"
    try:
        if access != PUBLIC:
            if user is None:
                raise ConsoleError(401, "NotSignedIn", "Sign in first.")
            if http.method not in SAFE_METHODS and not session.csrf_ok(
                user.session, http.headers.get(session.CSRF_HEADER)
            ):
                raise ConsoleError(403, "InvalidCsrfToken", "Missing or wrong X-Tessera-CSRF.")
            if access == ADMIN and not user.admin:
                raise ConsoleError(403, "AccessDenied", "This needs an admin key.")
        call = Call(gateway, http, request_id, now, user, match.groups())
        return name, who, await handler(call)
    except ConsoleError as exc:
        return name, who, _error(exc)
    except CredentialError as exc:
        return name, who, _error(ConsoleError(400, "InvalidCredential", str(exc)))
