"""During a rotation's grace period the lookup yields two secrets (the current one, then the
one it replaced): every auth path accepts a signature by either, reports which one signed,
and accepts only the current one once the lookup yields just that."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from gateway.s3.auth import (
    STREAMING_SIGNED,
    AuthError,
    ChunkedDecoder,
    RequestView,
    authenticate,
    canonical_request,
    signing_key,
    string_to_sign,
)
from gateway.s3.auth.sigv4 import sign
from gateway.s3.errors import S3Error
from gateway.s3.postpolicy import verify_signature

ACCESS = "AKROTATING0001"
NEW, OLD = "new-secret/with+chars", "old-secret/with=chars"
URL = "http://tessera.test:9000/bucket/some%20key?uploads"
REGION = "eu-west-1"


def both(access_key: str) -> tuple[str, ...] | None:
    return (NEW, OLD) if access_key == ACCESS else None


def new_only(access_key: str) -> tuple[str, ...] | None:
    return (NEW,) if access_key == ACCESS else None


def _view(method: str, url: str, headers) -> RequestView:
    parts = urlsplit(url)
    lowered = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in headers.items()}
    lowered.setdefault("host", parts.netloc)
    return RequestView(method, parts.path, parts.query, lowered)


def _signed(kind: str, secret: str) -> RequestView:
    request = AWSRequest(method="GET", url=URL)
    creds = Credentials(ACCESS, secret)
    if kind == "sigv4":
        S3SigV4Auth(creds, "s3", REGION).add_auth(request)
    elif kind == "presigned-v4":
        S3SigV4QueryAuth(creds, "s3", REGION, expires=300).add_auth(request)
    elif kind == "sigv2":
        HmacV1Auth(creds).add_auth(request)
    else:
        HmacV1QueryAuth(creds, expires=300).add_auth(request)
    return _view("GET", request.url, request.headers)


KINDS = ["sigv4", "presigned-v4", "sigv2", "presigned-v2"]


@pytest.mark.parametrize("kind", KINDS)
def test_either_secret_during_grace_then_only_the_new(kind: str) -> None:
    now = datetime.now(UTC)
    with_new, with_old = _signed(kind, NEW), _signed(kind, OLD)
    result = authenticate(with_new, both, now)
    assert result is not None and result.secret_index == 0
    result = authenticate(with_old, both, now)
    assert result is not None and result.access_key == ACCESS and result.secret_index == 1
    # Grace over: the lookup yields the new secret only.
    assert authenticate(with_new, new_only, now).secret_index == 0
    with pytest.raises(AuthError) as info:
        authenticate(with_old, new_only, now)
    assert info.value.code == "SignatureDoesNotMatch"
    # Neither secret: refused, even with two candidates.
    with pytest.raises(AuthError):
        authenticate(_signed(kind, "a-third-secret"), both, now)


@pytest.mark.parametrize("kind", KINDS)
def test_a_plain_string_lookup_still_works(kind: str) -> None:
    result = authenticate(_signed(kind, NEW), lambda k: NEW, datetime.now(UTC))
    assert result is not None and result.secret_index == 0


def _chunked(secret: str, data: bytes) -> tuple[RequestView, bytes]:
    """An aws-chunked signed PUT whose seed and chunk signatures use `secret`."""
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = signing_key(secret, amz_date[:8], REGION, "s3")
    headers = {
        "host": "tessera.test:9000",
        "x-amz-date": amz_date,
        "x-amz-content-sha256": STREAMING_SIGNED,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    signed = sorted(headers)
    view = RequestView("PUT", "/bucket/chunked", "", headers)
    seed = sign(
        key,
        string_to_sign(
            amz_date, scope, canonical_request(view, signed, STREAMING_SIGNED, presigned=False)
        ),
    )
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={seed}"
    )
    body, previous = b"", seed
    empty = hashlib.sha256(b"").hexdigest()
    for piece in (data, b""):
        digest = hashlib.sha256(piece).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n{digest}"
        previous = sign(key, to_sign)
        body += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return RequestView("PUT", "/bucket/chunked", "", headers), body


def test_chunk_signatures_chain_from_the_secret_that_signed_the_seed() -> None:
    data = b"chunked body " * 100
    view, body = _chunked(OLD, data)
    auth = authenticate(view, both, datetime.now(UTC))
    assert auth is not None and auth.secret_index == 1
    decoder = ChunkedDecoder(signed=True, auth=auth)
    assert b"".join(decoder.feed(body)) == data
    decoder.finish()


def _form(signature_version: str, secret: str) -> dict[str, str]:
    client = botocore.session.get_session().create_client(
        "s3",
        region_name=REGION,
        endpoint_url="http://tessera.test:9000",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=secret,
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )
    post = client.generate_presigned_post("bucket", "uploads/${filename}", ExpiresIn=3600)
    return {name.lower(): value for name, value in post["fields"].items()}


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_post_policy_signed_with_either_secret(version: str) -> None:
    assert verify_signature(_form(version, NEW), both).secret_index == 0
    assert verify_signature(_form(version, OLD), both).secret_index == 1
    with pytest.raises(S3Error) as info:
        verify_signature(_form(version, OLD), new_only)
    assert info.value.code == "SignatureDoesNotMatch"
    with pytest.raises(S3Error) as info:
        verify_signature(_form(version, OLD), lambda k: None)
    assert info.value.code == "InvalidAccessKeyId"
