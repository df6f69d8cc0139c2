"""Console session tokens: signed with a key derived from the cluster key, expiring, bound
to the secret they began with."""

from __future__ import annotations

from gateway.console import session

KEY = session.derive_key(b"c" * 32)
NOW = 1_800_000_000.0


def test_a_token_round_trips() -> None:
    token = session.issue(KEY, "AKIA1", "secret-1", NOW)
    found = session.verify(KEY, token, NOW + 60)
    assert found is not None and found.access_key == "AKIA1"
    assert found.expires == int(NOW) + session.LIFETIME and len(found.csrf) >= 24
    assert session.matches_secret(KEY, found, ("secret-1",))
    assert session.matches_secret(KEY, found, ("new", "secret-1"))  # rotated, in its grace


def test_each_token_has_its_own_csrf_token() -> None:
    one, two = (session.verify(KEY, session.issue(KEY, "A", "s", NOW), NOW) for _ in range(2))
    assert one is not None and two is not None and one.csrf != two.csrf


def test_expired_forged_or_foreign_tokens_are_refused() -> None:
    token = session.issue(KEY, "AKIA1", "secret-1", NOW)
    assert session.verify(KEY, token, NOW + session.LIFETIME) is None
    other = session.derive_key(b"d" * 32)
    assert session.verify(other, token, NOW) is None
    body, _, mac = token.partition(".")
    forged_body = session.issue(KEY, "ADMIN", "x", NOW).partition(".")[0]
    assert session.verify(KEY, f"{forged_body}.{mac}", NOW) is None
    for junk in ("", ".", "abc", f"{body}.", f".{mac}", "a.b.c", "!!!.???", "abc.é", "é.é"):
        assert session.verify(KEY, junk, NOW) is None


def test_a_session_ends_when_its_secret_is_no_longer_valid() -> None:
    found = session.verify(KEY, session.issue(KEY, "AKIA1", "old", NOW), NOW)
    assert found is not None
    assert not session.matches_secret(KEY, found, ("new",))
    assert not session.matches_secret(KEY, found, None)  # disabled or deleted


def test_the_token_does_not_carry_the_secret() -> None:
    token = session.issue(KEY, "AKIA1", "very-secret-value", NOW)
    assert "very-secret-value" not in token
    import base64

    body = token.partition(".")[0]
    assert b"very-secret-value" not in base64.urlsafe_b64decode(body + "==")


def test_csrf_and_cookie_parsing() -> None:
    found = session.verify(KEY, session.issue(KEY, "A", "s", NOW), NOW)
    assert found is not None
    assert session.csrf_ok(found, found.csrf)
    assert not session.csrf_ok(found, None) and not session.csrf_ok(found, "x" + found.csrf)
    header = f"a=1; {session.COOKIE}=tok.en; b=2"
    assert session.cookie_values(header) == ["tok.en"]
    assert session.cookie_values(f"{header}; {session.COOKIE}=two") == ["tok.en", "two"]
    assert session.cookie_values("a=1") == [] and session.cookie_values(None) == []
    assert not session.csrf_ok(found, "é" + found.csrf)
    cookie = session.set_cookie("tok", 60, secure=True)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    assert "Secure" not in session.set_cookie("tok", 60, secure=False)
