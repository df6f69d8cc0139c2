"""Presigned URLs the console makes verify with the gateway's own SigV4 code, for the
awkward keys S3 clients send, and stop working when they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from gateway.s3.auth import AuthError, RequestView, verify
from gateway.s3.auth.presign import presigned_url

from .test_botocore_roundtrip import ACCESS, KEYS, SECRET, lookup

NOW = datetime(2026, 12, 8, 12, 0, 0, tzinfo=UTC)


def _view(url: str) -> RequestView:
    parts = urlsplit(url)
    return RequestView("GET", parts.path, parts.query, {"host": parts.netloc})


def _url(key: str, **query: str) -> str:
    return presigned_url(
        method="GET",
        scheme="http",
        host="127.0.0.1:9000",
        bucket="bucket",
        key=key,
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        expires=600,
        now=NOW,
        query=query or None,
    )


@pytest.mark.parametrize("key", KEYS)
def test_presigned_url_verifies(key: str) -> None:
    result = verify(_view(_url(key)), lookup, NOW + timedelta(seconds=5))
    assert result is not None and result.access_key == ACCESS and result.presigned


def test_a_signed_version_id_cannot_be_changed() -> None:
    url = _url("k", versionId="v1")
    assert verify(_view(url), lookup, NOW) is not None
    with pytest.raises(AuthError):
        verify(_view(url.replace("versionId=v1", "versionId=v2")), lookup, NOW)


def test_another_key_path_or_expiry_does_not_verify() -> None:
    url = _url("a.txt")
    with pytest.raises(AuthError):
        verify(_view(url.replace("/a.txt", "/b.txt")), lookup, NOW)
    with pytest.raises(AuthError):
        verify(_view(url), lookup, NOW + timedelta(seconds=601))
