"""Sans-IO AWS Signature Version 2 verification for S3 requests.

Implements "Signing and authenticating REST requests" (AWS S3 API reference) in both
forms, matching what botocore's ``HmacV1Auth`` / ``HmacV1QueryAuth`` produce::

    StringToSign = Method "\\n" Content-MD5 "\\n" Content-Type "\\n" Date-or-Expires "\\n"
                   CanonicalizedAmzHeaders CanonicalizedResource
    Signature    = base64(HMAC-SHA1(secret, UTF-8(StringToSign)))

* Header form: ``Authorization: AWS <AccessKeyId>:<Signature>``; the request time is
  ``x-amz-date`` if present (the Date line is then empty), else ``Date``, and must be
  within 15 minutes of now.
* Query form (presigned URL): ``AWSAccessKeyId``, ``Expires`` (epoch seconds, which takes
  the Date line) and ``Signature`` parameters.

The CanonicalizedResource is the raw path exactly as sent, which for path-style requests
already starts with ``/bucket``; a virtual-hosted-style request (bucket in the Host) signs
``/bucket`` + its path, as botocore's ``auth_path`` does (``/`` -> ``/bucket/``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from .common import MAX_SKEW, SecretLookup, as_utc, lookup_secrets, to_bytes
from .errors import AuthError
from .request import RequestView
from .sigv4 import UNSIGNED_PAYLOAD, AuthResult

# Sub-resources that are part of the CanonicalizedResource: the AWS documented list plus
# everything botocore's HmacV1Auth.QSAOfInterest signs (a superset of the former), so that
# the signature binds any query parameter that selects an operation.
SIGNED_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)

_QUERY_AUTH_PARAMS = ("AWSAccessKeyId", "Signature", "Expires")
_ISO_BASIC = "%Y%m%dT%H%M%SZ"


# --------------------------------------------------------------------------- primitives


def canonical_resource(raw_path: str, raw_query: str, bucket_from_host: str | None = None) -> str:
    """The CanonicalizedResource: ``/bucket`` when the Host named the bucket, the raw path,
    then the signed sub-resources.

    Sub-resources keep their order of appearance within a name (a stable sort by name, as
    botocore does); their values are percent-decoded, names are taken as sent, and a
    parameter sent without ``=`` stays bare (``?acl``).
    """
    resource = raw_path or "/"
    if bucket_from_host:
        resource = f"/{bucket_from_host}{resource if resource.startswith('/') else '/' + resource}"
    subresources: list[tuple[str, str | None]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if name in SIGNED_SUBRESOURCES:
            decoded = unquote(value, errors="surrogateescape") if sep else None
            subresources.append((name, decoded))
    if subresources:
        subresources.sort(key=lambda pair: pair[0])
        resource += "?" + "&".join(
            name if value is None else f"{name}={value}" for name, value in subresources
        )
    return resource


def canonical_amz_headers(headers: Mapping[str, str]) -> str:
    """CanonicalizedAmzHeaders: ``name:value\\n`` for each x-amz-* header, sorted by name.

    Names are lower-cased and values trimmed; ``headers`` is expected to have repeated
    headers already joined with ``","`` (as :class:`RequestView` does).
    """
    amz: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname.startswith("x-amz-"):
            amz[lname] = value.strip()
    return "".join(f"{name}:{amz[name]}\n" for name in sorted(amz))


def string_to_sign_v2(
    method: str,
    content_md5: str,
    content_type: str,
    date: str,
    amz_headers: Mapping[str, str],
    resource: str,
) -> str:
    """Assemble the SigV2 StringToSign (``date`` is the Expires value for query auth)."""
    return (
        f"{method.upper()}\n{content_md5.strip()}\n{content_type.strip()}\n{date.strip()}\n"
        f"{canonical_amz_headers(amz_headers)}{resource}"
    )


def sign_v2(secret_key: str, string_to_sign: str) -> str:
    """base64(HMAC-SHA1(secret, StringToSign))."""
    digest = hmac.new(to_bytes(secret_key), to_bytes(string_to_sign), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


# --------------------------------------------------------------------------- detection


def has_v2_header(view: RequestView) -> bool:
    """True if the Authorization header uses the SigV2 ``AWS AKID:signature`` scheme."""
    header = view.headers.get("authorization")
    return header is not None and header.strip().partition(" ")[0] == "AWS"


def has_v2_query(view: RequestView) -> bool:
    """True if the query carries SigV2 presign parameters (``AWSAccessKeyId``/``Signature``).

    A bare ``Signature`` next to SigV4 presign parameters is left to SigV4.
    """
    names = {name for name, _ in view.query_pairs()}
    if "AWSAccessKeyId" in names:
        return True
    v4 = {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"}
    return "Signature" in names and not (names & v4)


# --------------------------------------------------------------------------- verification


def _signature_mismatch() -> AuthError:
    return AuthError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _check(secrets: tuple[str, ...], candidates: list[str], provided: str) -> int:
    """The index of the secret that signed one of the candidate strings to sign."""
    provided_bytes = to_bytes(provided)
    for index, secret in enumerate(secrets):
        matched = False
        for sts in candidates:
            # Evaluate every candidate so timing does not reveal which one matched.
            matched |= hmac.compare_digest(sign_v2(secret, sts).encode("ascii"), provided_bytes)
        if matched:
            return index
    raise _signature_mismatch()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_http_date(value: str) -> datetime | None:
    value = value.strip()
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:  # some clients send x-amz-date in the SigV4 ISO 8601 basic format
        return datetime.strptime(value, _ISO_BASIC).replace(tzinfo=UTC)
    except ValueError:
        return None


def _resources(view: RequestView) -> list[str]:
    """The CanonicalizedResources a client may have signed: the request's, and for a
    bucket addressed by path without a trailing slash also with one (botocore signs
    bucket operations as ``/bucket/``)."""
    resource = canonical_resource(view.raw_path, view.raw_query, view.bucket_from_host)
    path = view.raw_path
    if view.bucket_from_host is None and path.count("/") == 1 and len(path) > 1:
        slashed = canonical_resource(path + "/", view.raw_query, None)
        return [resource, slashed]
    return [resource]


def _verify_header(view: RequestView, lookup_secret: SecretLookup, now: datetime) -> AuthResult:
    credentials = view.headers["authorization"].strip()[len("AWS") :].strip()
    access_key, sep, provided = credentials.rpartition(":")
    access_key, provided = access_key.strip(), provided.strip()
    if not sep or not access_key or not provided:
        raise AuthError(
            "InvalidArgument",
            "AWS authorization header is invalid. Expected AwsAccessKeyId:signature",
        )
    secrets = lookup_secrets(lookup_secret, access_key)

    headers = view.headers
    amz_date = headers.get("x-amz-date")
    http_date = headers.get("date")
    stamp = amz_date if amz_date is not None else http_date
    when = _parse_http_date(stamp) if stamp else None
    # A date before the epoch is no date S3 accepts (AccessDenied, not RequestTimeTooSkewed).
    if when is None or when < _EPOCH:
        raise AuthError(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    if abs(as_utc(now) - when) > MAX_SKEW:
        raise AuthError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )

    # With x-amz-date the documented Date line is empty; botocore (and other clients that
    # always set Date) sign the Date header there instead. x-amz-date is itself signed as
    # an amz header either way, so both forms authorise the same request time.
    date_lines = [""] if amz_date is not None else [http_date or ""]
    if amz_date is not None and http_date:
        date_lines.append(http_date)
    md5, ctype = headers.get("content-md5", ""), headers.get("content-type", "")
    candidates = [
        string_to_sign_v2(view.method, md5, ctype, line, headers, resource)
        for line in date_lines
        for resource in _resources(view)
    ]
    index = _check(secrets, candidates, provided)
    return v2_result(access_key, provided, presigned=False, secret_index=index)


def _verify_query(view: RequestView, lookup_secret: SecretLookup, now: datetime) -> AuthResult:
    params: dict[str, str] = {}
    for name, value in view.query_pairs():
        params.setdefault(name, value)
    if any(not params.get(name) for name in _QUERY_AUTH_PARAMS):
        raise AuthError(
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters",
        )
    access_key, provided, expires_text = (
        params["AWSAccessKeyId"],
        params["Signature"].strip(),
        params["Expires"].strip(),
    )
    if not (expires_text.isascii() and expires_text.isdigit()):
        raise AuthError("AccessDenied", "Invalid date (should be seconds since epoch)")
    secrets = lookup_secrets(lookup_secret, access_key)
    if as_utc(now).timestamp() > int(expires_text):
        raise AuthError("AccessDenied", "Request has expired")

    # botocore's presigner copies Content-Type, Content-MD5 and x-amz-* headers into the
    # query string, so a bare URL may carry them there; a header actually sent wins.
    headers = dict(view.headers)
    for name, value in params.items():
        lname = name.lower()
        if lname.startswith("x-amz-") or lname in ("content-type", "content-md5"):
            headers.setdefault(lname, value)
    candidates = [
        string_to_sign_v2(
            view.method,
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            expires_text,
            headers,
            resource,
        )
        for resource in _resources(view)
    ]
    index = _check(secrets, candidates, provided)
    return v2_result(access_key, provided, presigned=True, secret_index=index)


def v2_result(
    access_key: str, signature: str, *, presigned: bool, secret_index: int = 0
) -> AuthResult:
    # SigV2 never signs the body: report it as UNSIGNED-PAYLOAD (Content-MD5, when sent, is
    # still signed and is checked by the body pipeline). There is no SigV4 chain to seed.
    return AuthResult(
        access_key=access_key,
        signing_key=b"",
        scope="",
        amz_date="",
        signature=signature,
        payload_hash=UNSIGNED_PAYLOAD,
        presigned=presigned,
        secret_index=secret_index,
        signature_version="AWS",
    )


def verify_v2(view: RequestView, lookup_secret: SecretLookup, now: datetime) -> AuthResult | None:
    """Verify the request's SigV2 signature.

    Returns None if the request carries no SigV2 authentication (neither an ``AWS``
    Authorization header nor SigV2 query parameters), an :class:`AuthResult` when the
    signature is valid, and raises :class:`AuthError` otherwise. ``lookup_secret`` maps an
    access key to its secret (or candidate secrets during a rotation), or None if unknown.
    ``now`` may be naive (UTC) or aware.
    """
    if has_v2_header(view):
        return _verify_header(view, lookup_secret, now)
    if "authorization" not in view.headers and has_v2_query(view):
        return _verify_query(view, lookup_secret, now)
    return None
