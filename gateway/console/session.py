"""Console sessions: a signed, expiring cookie naming the signed-in access key. Pure.

The token is ``<payload>.<mac>``, both base64url: the payload is JSON
``[version, access_key, expires, csrf, secret_tag]`` and the MAC is HMAC-SHA256 under a
key derived from the cluster key, so every gateway of a cluster accepts a session any of
them issued and no other cluster's gateway does. Nothing is stored server-side: signing out
clears the cookie, and a session ends early when its key is disabled, deleted or its secret
rotated (``secret_tag`` names the secret it signed in with; see `matches_secret`).

CSRF: the payload carries a random token the page reads from the session JSON and sends
back in a header on every state-changing call; a cross-site form cannot read or send it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

COOKIE = "tessera_console"
CSRF_HEADER = "x-tessera-csrf"
LABEL = b"tessera-console-session-v1"
LIFETIME = 12 * 3600
_VERSION = 1


def derive_key(cluster_key: bytes) -> bytes:
    """The key sessions are signed with, derived from the cluster key."""
    return hmac.new(cluster_key, LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    access_key: str
    expires: int
    csrf: str
    secret_tag: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_tag(key: bytes, secret: str) -> str:
    """A short tag of a secret (never the secret): which secret a session began with."""
    return _b64(hmac.new(key, b"secret:" + secret.encode(), hashlib.sha256).digest()[:12])


def issue(key: bytes, access_key: str, secret: str, now: float, lifetime: int = LIFETIME) -> str:
    """A new session token for access_key, signed in with secret."""
    tag = secret_tag(key, secret)
    payload = [_VERSION, access_key, int(now) + lifetime, secrets.token_urlsafe(24), tag]
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_mac(key, body)}"


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def verify(key: bytes, token: str, now: float) -> Session | None:
    """The session a token carries, or None if it is forged, malformed or expired."""
    if not token.isascii():  # a token of ours is base64url; compare_digest wants ASCII
        return None
    body, dot, mac = token.partition(".")
    if not dot or not hmac.compare_digest(mac, _mac(key, body)):
        return None
    try:
        version, access_key, expires, csrf, tag = json.loads(_unb64(body))
    except (ValueError, TypeError, binascii.Error):
        return None
    if version != _VERSION or not isinstance(expires, int) or expires <= now:
        return None
    if not all(isinstance(v, str) for v in (access_key, csrf, tag)):
        return None
    return Session(access_key, expires, csrf, tag)


def matches_secret(key: bytes, session: Session, valid: Iterable[str] | None) -> bool:
    """Whether the secret the session began with is one the key may still sign with."""
    return any(hmac.compare_digest(session.secret_tag, secret_tag(key, s)) for s in valid or ())


def csrf_ok(session: Session, sent: str | None) -> bool:
    if not sent or not sent.isascii():
        return False
    return hmac.compare_digest(session.csrf, sent)


def cookie_values(header: str | None, name: str = COOKIE) -> list[str]:
    """Every value of one cookie in a Cookie header, in order (a browser sends two when
    another path or domain set one of the same name)."""
    values = []
    for part in (header or "").split(";"):
        cname, eq, value = part.strip().partition("=")
        if eq and cname == name:
            values.append(value)
    return values


def set_cookie(token: str, max_age: int, secure: bool) -> str:
    """The Set-Cookie header value for a session (max_age 0 clears it)."""
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={token}; Max-Age={max_age}; Path=/console; HttpOnly; SameSite=Strict{flags}"
