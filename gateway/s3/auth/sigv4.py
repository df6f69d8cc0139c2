"""Sans-IO AWS Signature Version 4 verification for S3 requests.

Covers both the ``Authorization`` header form and presigned (query string) URLs. The
streaming (``aws-chunked``) body signatures that chain from the seed signature returned
here are checked by :mod:`gateway.s3.auth.chunked`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote_from_bytes, unquote_to_bytes

from .common import MAX_SKEW, SecretLookup, as_utc, lookup_secrets, to_bytes
from .errors import AuthError
from .request import RequestView

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

MAX_PRESIGN_EXPIRES = 604800  # one week, the AWS limit
FORBIDDEN = 403

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z", re.ASCII)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_DATE8 = re.compile(r"\d{8}")
_PAYLOAD_MARKERS = frozenset(
    {UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
_UNSUPPORTED_MECHANISM = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)


@dataclass(frozen=True)
class AuthResult:
    """The outcome of a successful verification.

    ``signing_key``, ``scope``, ``amz_date`` and ``signature`` (the seed signature) are
    what a chunked body decoder needs to continue the signature chain.
    """

    access_key: str
    signing_key: bytes = field(repr=False)  # keep key material out of logs
    scope: str
    amz_date: str
    signature: str
    payload_hash: str
    presigned: bool
    # Which of the looked-up secrets signed: 0 the current one, 1 the one a rotation replaced.
    secret_index: int = 0
    # s3:signatureversion in bucket policies: "AWS" for SigV2. A console session (signed in
    # with the secret itself) counts as SigV4.
    signature_version: str = ALGORITHM


# --------------------------------------------------------------------------- primitives


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, to_bytes(msg), hashlib.sha256).digest()


@functools.lru_cache(maxsize=1024)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """Derive the SigV4 signing key for ``date`` (YYYYMMDD), region and service.

    Cached: a key serves every request of that day, and deriving it is four HMACs."""
    k_date = _hmac(to_bytes("AWS4" + secret_key), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, "aws4_request")


def sign(key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of ``string_to_sign`` under ``key``."""
    return _hmac(key, string_to_sign).hex()


def _uri_encode(raw: bytes) -> str:
    # quote_from_bytes leaves only A-Z a-z 0-9 - _ . ~ unencoded and emits uppercase hex,
    # which is exactly SigV4's UriEncode().
    return quote_from_bytes(raw, safe="")


def canonical_uri(raw_path: str) -> str:
    """The canonical URI for S3: each path segment decoded once and re-encoded.

    S3 neither normalises ``.``/``..`` nor double-encodes. Re-encoding per segment turns
    characters some clients leave bare (``$``, unicode, lowercase hex) into the form
    the signer used, while an encoded slash (``%2F``) stays distinct from a real one.
    """
    if not raw_path:
        return "/"
    segments = to_bytes(raw_path).split(b"/")
    return "/".join(_uri_encode(unquote_to_bytes(seg)) for seg in segments)


def canonical_query(raw_query: str, *, presigned: bool, verbatim: bool = False) -> str:
    """The canonical query string: every pair URI-encoded, sorted by key then value.

    With ``verbatim`` the pairs are sorted but kept exactly as sent, which is what
    botocore signs for a query string already present in a hand-built URL.
    """
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        if not verbatim:
            name = _uri_encode(unquote_to_bytes(to_bytes(name)))
            value = _uri_encode(unquote_to_bytes(to_bytes(value)))
        if presigned and name == "X-Amz-Signature":
            continue  # the signature cannot sign itself
        pairs.append((name, value))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(value: str) -> str:
    # Trimall: strip and collapse runs of whitespace to a single space.
    return " ".join(value.split())


def canonical_request(
    view: RequestView,
    signed_headers: list[str],
    payload_hash: str,
    *,
    presigned: bool,
    uri: str | None = None,
    query: str | None = None,
) -> str:
    """Build the SigV4 canonical request.

    ``uri`` and ``query`` override the canonical URI and query string (used to retry
    with the forms a client may have signed verbatim).
    """
    header_lines = "".join(
        f"{name}:{_trim(view.headers.get(name, ''))}\n" for name in signed_headers
    )
    return "\n".join(
        [
            view.method.upper(),
            canonical_uri(view.raw_path) if uri is None else uri,
            canonical_query(view.raw_query, presigned=presigned) if query is None else query,
            header_lines,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The SigV4 string to sign for a canonical request."""
    digest = hashlib.sha256(to_bytes(canonical_request)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Credential:
    """The ``Credential`` of a SigV4 request: access key and the scope it signed for."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_credential(value: str, code: str) -> Credential:
    """``AK/date/region/service/aws4_request``, or an AuthError with ``code``."""
    parts = value.strip().split("/")
    if len(parts) < 5 or parts[-1] != "aws4_request":
        raise AuthError(
            code, f"Invalid credential: {value!r}; expected AK/date/region/s3/aws4_request"
        )
    access_key = "/".join(parts[:-4])
    date, region, service = parts[-4], parts[-3], parts[-2]
    if not access_key or not _DATE8.fullmatch(date) or not region or not service:
        raise AuthError(code, f"Invalid credential: {value!r}")
    return Credential(access_key, date, region, service)


def _parse_signed_headers(value: str, code: str) -> list[str]:
    names = [n.strip().lower() for n in value.split(";")]
    if not value.strip() or any(not n for n in names):
        raise AuthError(code, f"Invalid SignedHeaders: {value!r}")
    return names


def _parse_authorization(header: str) -> tuple[Credential, list[str], str]:
    """Split an ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` header.

    SDKs differ in separators (", " vs "," vs " "), so any run of commas and whitespace
    separates components.
    """
    code = "AuthorizationHeaderMalformed"
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm in ("AWS", "AWS4-ECDSA-P256-SHA256"):
            raise AuthError("InvalidRequest", _UNSUPPORTED_MECHANISM)
        raise AuthError(code, f"Unsupported authorization algorithm {algorithm!r}")
    fields: dict[str, str] = {}
    for component in re.split(r"[,\s]+", rest):
        if not component:
            continue
        name, sep, value = component.partition("=")
        if not sep:
            raise AuthError(code, f"Malformed component {component!r} in Authorization")
        fields[name.strip()] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise AuthError(code, f"Authorization header is missing {', '.join(missing)}")
    return (
        parse_credential(fields["Credential"], code),
        _parse_signed_headers(fields["SignedHeaders"], code),
        fields["Signature"],
    )


def parse_amz_date(value: str) -> datetime | None:
    """An ``x-amz-date`` (``20130524T000000Z``) in UTC; None if it is not one."""
    value = value.strip()
    try:
        if _AMZ_DATE.fullmatch(value):  # what clients send: skip strptime's slow parser
            return datetime(
                int(value[0:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[9:11]),
                int(value[11:13]),
                int(value[13:15]),
                tzinfo=UTC,
            )
        return datetime.strptime(value, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _request_time(view: RequestView) -> tuple[str, datetime]:
    """The signing timestamp from ``x-amz-date`` or, failing that, ``Date``."""
    amz = view.headers.get("x-amz-date")
    if amz is not None:
        when = parse_amz_date(amz)
    else:
        http_date = view.headers.get("date")
        when = None
        if http_date:
            try:
                when = parsedate_to_datetime(http_date).astimezone(UTC)
            except (TypeError, ValueError, IndexError, OverflowError):
                when = None
    if when is None:
        raise AuthError(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    return when.strftime(_AMZ_DATE_FORMAT), when


# --------------------------------------------------------------------------- verification


def _check_signature(
    view: RequestView,
    cred: Credential,
    key: bytes,
    amz_date: str,
    signed_headers: list[str],
    payload_hash: str,
    provided: str,
    *,
    presigned: bool,
) -> None:
    """Raise SignatureDoesNotMatch unless ``provided`` signs this request."""
    provided = provided.strip().lower()
    # Canonical forms first, then the forms a client may have signed verbatim (a bare
    # '$' in the path, an unencoded '/' in a query value). Both decode to the same
    # request, so accepting either never changes what was authorised.
    uris = dict.fromkeys([canonical_uri(view.raw_path), view.raw_path or "/"])
    queries = dict.fromkeys(
        [
            canonical_query(view.raw_query, presigned=presigned),
            canonical_query(view.raw_query, presigned=presigned, verbatim=True),
        ]
    )
    for uri in uris:
        for query in queries:
            creq = canonical_request(
                view, signed_headers, payload_hash, presigned=presigned, uri=uri, query=query
            )
            expected = sign(key, string_to_sign(amz_date, cred.scope, creq))
            if hmac.compare_digest(expected.encode(), to_bytes(provided)):
                return
    raise AuthError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _check_payload_hash(value: str) -> str:
    """Validate a declared payload hash, so callers can rely on its form."""
    value = value.strip()
    if value not in _PAYLOAD_MARKERS and not _HEX64.fullmatch(value):
        raise AuthError(
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            "[-TRAILER], STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.",
        )
    return value


def _verified(
    view: RequestView,
    cred: Credential,
    secrets: tuple[str, ...],
    amz_date: str,
    signed_headers: list[str],
    payload_hash: str,
    provided: str,
    *,
    presigned: bool,
) -> AuthResult:
    """The :class:`AuthResult` of the first secret whose signature matches ``provided``;
    SignatureDoesNotMatch when none does. One secret unless the key is being rotated."""
    for index, secret in enumerate(secrets):
        key = signing_key(secret, cred.date, cred.region, cred.service)
        try:
            _check_signature(
                view,
                cred,
                key,
                amz_date,
                signed_headers,
                payload_hash,
                provided,
                presigned=presigned,
            )
        except AuthError:
            if index == len(secrets) - 1:
                raise
            continue
        return AuthResult(
            access_key=cred.access_key,
            signing_key=key,
            scope=cred.scope,
            amz_date=amz_date,
            signature=provided.strip().lower(),
            payload_hash=payload_hash,
            presigned=presigned,
            secret_index=index,
        )
    raise AssertionError("a lookup yields at least one secret")


def _verify_header(view: RequestView, lookup_secret: SecretLookup, now: datetime) -> AuthResult:
    cred, signed_headers, provided = _parse_authorization(view.headers["authorization"])
    secrets = lookup_secrets(lookup_secret, cred.access_key)
    amz_date, when = _request_time(view)
    if amz_date[:8] != cred.date:
        raise AuthError(
            "AuthorizationHeaderMalformed",
            f"Invalid credential date {cred.date!r}: the request is dated {amz_date}.",
        )
    if abs(as_utc(now) - when) > MAX_SKEW:
        raise AuthError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    payload_hash = view.headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise AuthError(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    payload_hash = _check_payload_hash(payload_hash)
    return _verified(
        view, cred, secrets, amz_date, signed_headers, payload_hash, provided, presigned=False
    )


def _verify_presigned(view: RequestView, lookup_secret: SecretLookup, now: datetime) -> AuthResult:
    code = "AuthorizationQueryParametersError"
    params: dict[str, str] = {}
    for name, value in view.query_pairs():
        params.setdefault(name, value)
    required = (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    if any(not params.get(name) for name in required):
        raise AuthError(
            code,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthError(code, f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    cred = parse_credential(params["X-Amz-Credential"], code)
    amz_date = params["X-Amz-Date"]
    when = parse_amz_date(amz_date)
    if when is None:
        raise AuthError(
            code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    if amz_date[:8] != cred.date:
        raise AuthError(code, f"Invalid credential date {cred.date!r}: it is not X-Amz-Date's.")
    expires_text = params["X-Amz-Expires"]
    # A URL that could never be used is forbidden outright (403, as the S3 conformance
    # suites expect of a negative or a longer-than-a-week X-Amz-Expires).
    if not (expires_text.isascii() and expires_text.isdigit()):
        raise AuthError(code, "X-Amz-Expires should be a non-negative number", FORBIDDEN)
    expires = int(expires_text)
    if expires > MAX_PRESIGN_EXPIRES:
        raise AuthError(
            code, "X-Amz-Expires must be less than a week (in seconds) that is 604800", FORBIDDEN
        )
    signed_headers = _parse_signed_headers(params["X-Amz-SignedHeaders"], code)
    secrets = lookup_secrets(lookup_secret, cred.access_key)
    now = as_utc(now)
    if now >= when + timedelta(seconds=expires):
        raise AuthError("AccessDenied", "Request has expired")
    if when - now > MAX_SKEW:
        raise AuthError("AccessDenied", "Request is not valid yet")
    payload_hash = _check_payload_hash(
        params.get("X-Amz-Content-Sha256")
        or view.headers.get("x-amz-content-sha256")
        or UNSIGNED_PAYLOAD
    )
    provided = params["X-Amz-Signature"]
    return _verified(
        view, cred, secrets, amz_date, signed_headers, payload_hash, provided, presigned=True
    )


def verify(view: RequestView, lookup_secret: SecretLookup, now: datetime) -> AuthResult | None:
    """Verify the request's SigV4 signature.

    Returns None for an anonymous request, an :class:`AuthResult` when the signature is
    valid, and raises :class:`AuthError` otherwise. ``lookup_secret`` maps an access key
    to its secret (or its candidate secrets during a rotation), or None if unknown.
    ``now`` may be naive (taken as UTC) or aware. The region and service in the credential
    scope are accepted as given.
    """
    query_names = {name for name, _ in view.query_pairs()}
    has_header = "authorization" in view.headers
    has_query = bool(query_names & {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"})
    if has_header and has_query:
        raise AuthError(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified",
        )
    if has_header:
        return _verify_header(view, lookup_secret, now)
    if has_query:
        return _verify_presigned(view, lookup_secret, now)
    if "AWSAccessKeyId" in query_names and "Signature" in query_names:
        # A SigV2 presigned URL must not be mistaken for an anonymous request.
        raise AuthError("InvalidRequest", _UNSUPPORTED_MECHANISM)
    return None
