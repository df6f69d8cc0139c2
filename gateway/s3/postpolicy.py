"""POST Object (browser-based upload) policies and form signatures (sans-IO).

A POST form authenticates itself: its ``policy`` field is a base64 JSON document with an
``expiration`` and ``conditions`` on the other form fields, signed either with SigV4
(``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``, ``x-amz-signature`` = hex
HMAC-SHA256 of the base64 policy under the credential scope's signing key) or with SigV2
(``AWSAccessKeyId``, ``signature`` = base64 HMAC-SHA1 of the base64 policy).

Form field names are compared lower-cased (``fields`` maps lower-cased names to values);
condition values match case-sensitively. Every form field must be named by a condition,
except the file, the signature fields and ``x-ignore-*``, as S3 requires.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.s3.auth.common import SecretLookup, as_utc, lookup_secrets
from gateway.s3.auth.errors import AuthError
from gateway.s3.auth.sigv2 import sign_v2, v2_result
from gateway.s3.auth.sigv4 import (
    ALGORITHM,
    UNSIGNED_PAYLOAD,
    AuthResult,
    parse_amz_date,
    parse_credential,
    sign,
    signing_key,
)
from gateway.s3.errors import S3Error

# Fields a policy need not mention: the file and the fields that carry the signature.
EXEMPT_FIELDS = frozenset(
    {
        "file",
        "policy",
        "signature",
        "awsaccesskeyid",
        "x-amz-signature",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
    }
)
IGNORED_PREFIX = "x-ignore-"
# Checksums of the file, checked against it like a PUT's (a policy need not name them).
CHECKSUM_PREFIX = "x-amz-checksum-"
_DENIED = "Invalid according to Policy: "
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


@dataclass(frozen=True)
class Condition:
    """``op`` is ``eq`` or ``starts-with``; ``field`` is lower-cased, without ``$``."""

    op: str
    field: str
    value: str

    def render(self) -> str:
        return json.dumps([self.op, "$" + self.field, self.value])


@dataclass(frozen=True)
class PostPolicy:
    expiration: datetime
    conditions: tuple[Condition, ...]
    # content-length-range: inclusive (min, max) size of the file, if limited.
    length_range: tuple[int, int] | None = None


# --------------------------------------------------------------------------- decoding


def _invalid(detail: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {detail}")


_ISO8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def _parse_expiration(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _invalid("Invalid 'expiration' value.")
    text = value.strip()
    if not _ISO8601.fullmatch(text):  # e.g. "2026-12-07 10:00:00": not what S3 takes
        raise _invalid(f"Invalid 'expiration' value: '{value}'")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{value}'") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _text(value: Any, condition: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(f"Invalid Simple-Condition: value must be a string: {condition!r}")
    return str(value)


def _length(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _invalid("Invalid content-length-range: bounds must be non-negative integers")


def decode_policy(encoded: str) -> PostPolicy:
    """Decode a base64 JSON POST policy; ``InvalidPolicyDocument`` if it is malformed."""
    try:
        document = json.loads(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    expiration = _parse_expiration(document["expiration"])
    raw_conditions = document.get("conditions")
    if not isinstance(raw_conditions, list):
        raise _invalid("Policy missing conditions.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for item in raw_conditions:
        if isinstance(item, dict):
            if not item:
                raise _invalid("Invalid Simple-Condition: empty condition.")
            for name, value in item.items():
                conditions.append(Condition("eq", str(name).lower(), _text(value, item)))
            continue
        if not isinstance(item, list) or not item or not isinstance(item[0], str):
            raise _invalid(f"Invalid Condition: {item!r}")
        op = item[0].lower()
        if op == "content-length-range":
            if len(item) != 3:
                raise _invalid("Invalid content-length-range: expected [min, max]")
            low, high = _length(item[1]), _length(item[2])
            if low > high:
                raise _invalid("Invalid content-length-range: min is larger than max")
            length_range = (low, high)
        elif op in ("eq", "starts-with"):
            if len(item) != 3 or not isinstance(item[1], str) or not item[1].startswith("$"):
                raise _invalid(f"Invalid Condition: {item!r}")
            conditions.append(Condition(op, item[1][1:].lower(), _text(item[2], item)))
        else:
            raise _invalid(f"Invalid Condition: unknown operation {item[0]!r}")
    return PostPolicy(expiration, tuple(conditions), length_range)


# --------------------------------------------------------------------------- checking


def _holds(condition: Condition, actual: str) -> bool:
    if condition.op == "eq":
        return actual == condition.value
    if condition.field == "content-type" and "," in actual:
        # A Content-Type list passes a starts-with only if every entry does.
        return all(part.strip().startswith(condition.value) for part in actual.split(","))
    return actual.startswith(condition.value)


def check_policy(policy: PostPolicy, fields: Mapping[str, str], bucket: str, now: datetime) -> None:
    """Raise AccessDenied unless the form satisfies ``policy`` at ``now``.

    ``fields`` maps lower-cased form field names to values; a ``bucket`` condition is
    checked against the bucket the request addresses. A condition on a field the form lacks
    sees the empty string.
    """
    if as_utc(now) > policy.expiration:
        raise S3Error("AccessDenied", _DENIED + "Policy expired.")
    for condition in policy.conditions:
        actual = bucket if condition.field == "bucket" else fields.get(condition.field, "")
        if not _holds(condition, actual):
            raise S3Error("AccessDenied", f"{_DENIED}Policy Condition failed: {condition.render()}")
    covered = {c.field for c in policy.conditions}
    extra = [
        name
        for name in fields
        if name not in EXEMPT_FIELDS
        and not name.startswith((IGNORED_PREFIX, CHECKSUM_PREFIX))
        and name not in covered
    ]
    if extra:
        raise S3Error("AccessDenied", f"{_DENIED}Extra input fields: {', '.join(extra)}")


def check_length(policy: PostPolicy, size: int, *, final: bool) -> None:
    """Enforce content-length-range on ``size`` bytes received so far (``final``: all)."""
    if policy.length_range is None:
        return
    low, high = policy.length_range
    if size > high:
        raise S3Error(
            "EntityTooLarge", extra={"ProposedSize": str(size), "MaxSizeAllowed": str(high)}
        )
    if final and size < low:
        raise S3Error(
            "EntityTooSmall", extra={"ProposedSize": str(size), "MinSizeAllowed": str(low)}
        )


# --------------------------------------------------------------------------- signatures


def missing_field(name: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please check "
        "the order of the fields.",
        extra={"ArgumentName": name, "ArgumentValue": ""},
    )


def _mismatch() -> S3Error:
    return S3Error("SignatureDoesNotMatch", _SIGNATURE_MISMATCH)


def _secrets(lookup_secret: SecretLookup, access_key: str) -> tuple[str, ...]:
    try:
        return lookup_secrets(lookup_secret, access_key)
    except AuthError as exc:
        raise S3Error(exc.code, exc.message) from None


def _verify_v4(fields: Mapping[str, str], lookup_secret: SecretLookup) -> AuthResult:
    for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
        if not fields.get(name):
            raise missing_field(name)
    if fields["x-amz-algorithm"] != ALGORITHM:
        raise S3Error(
            "InvalidArgument",
            f'x-amz-algorithm only supports "{ALGORITHM}"',
            extra={"ArgumentName": "x-amz-algorithm", "ArgumentValue": fields["x-amz-algorithm"]},
        )
    try:
        cred = parse_credential(fields["x-amz-credential"], "InvalidArgument")
    except AuthError as exc:
        raise S3Error(exc.code, exc.message) from None
    amz_date = fields["x-amz-date"].strip()
    when = parse_amz_date(amz_date)
    if when is None or amz_date[:8] != cred.date:
        raise S3Error(
            "InvalidArgument",
            "x-amz-date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and on the "
            "date of x-amz-credential",
            extra={"ArgumentName": "x-amz-date", "ArgumentValue": amz_date},
        )
    provided = fields["x-amz-signature"].strip().lower()
    # The current secret first, then (during a rotation's grace period) the one it replaced.
    for index, secret in enumerate(_secrets(lookup_secret, cred.access_key)):
        key = signing_key(secret, cred.date, cred.region, cred.service)
        if hmac.compare_digest(sign(key, fields["policy"]).encode(), provided.encode()):
            return AuthResult(
                access_key=cred.access_key,
                signing_key=key,
                scope=cred.scope,
                amz_date=amz_date,
                signature=provided,
                payload_hash=UNSIGNED_PAYLOAD,
                presigned=True,
                secret_index=index,
            )
    raise _mismatch()


def _verify_v2(fields: Mapping[str, str], lookup_secret: SecretLookup) -> AuthResult:
    for name in ("AWSAccessKeyId", "signature"):
        if not fields.get(name.lower()):
            raise missing_field(name)
    access_key = fields["awsaccesskeyid"].strip()
    provided = fields["signature"].strip()
    for index, secret in enumerate(_secrets(lookup_secret, access_key)):
        if hmac.compare_digest(sign_v2(secret, fields["policy"]).encode(), provided.encode()):
            return v2_result(access_key, provided, presigned=True, secret_index=index)
    raise _mismatch()


def has_signature(fields: Mapping[str, str]) -> bool:
    """True if the form carries SigV4 or SigV2 authentication fields."""
    names = ("x-amz-signature", "x-amz-credential", "signature", "awsaccesskeyid")
    return any(name in fields for name in names)


def verify_signature(fields: Mapping[str, str], lookup_secret: SecretLookup) -> AuthResult:
    """Verify the form's SigV4 or SigV2 signature of its policy.

    Raises InvalidArgument for missing fields, InvalidAccessKeyId for an unknown key,
    SignatureDoesNotMatch for a wrong signature, AccessDenied for a form without any.
    """
    if not has_signature(fields):
        raise S3Error("AccessDenied")
    if not fields.get("policy"):
        raise missing_field("policy")
    v4 = any(name in fields for name in ("x-amz-signature", "x-amz-credential"))
    return _verify_v4(fields, lookup_secret) if v4 else _verify_v2(fields, lookup_secret)


def authorize(
    fields: Mapping[str, str],
    bucket: str,
    lookup_secret: SecretLookup,
    now: datetime,
) -> tuple[AuthResult, PostPolicy]:
    """Verify the signature, then decode and check the policy it signs."""
    auth = verify_signature(fields, lookup_secret)
    policy = decode_policy(fields["policy"])
    check_policy(policy, fields, bucket, now)
    return auth, policy
