"""Bucket policies: the AWS policy language, parsed, checked and evaluated (sans-IO).

A policy is a JSON document of statements, each with an Effect (Allow or Deny), who it
is about (Principal or NotPrincipal: "*", or {"AWS": ...} naming access keys, account
ids or ARNs ending in one), what (Action or NotAction: `s3:GetObject`, with * and ?
wildcards), on what (Resource or NotResource: this bucket's ARNs, with wildcards) and
when (Condition: operator → key → values). `evaluate` says whether a request is
explicitly denied, allowed, or neither, as AWS does: any matching Deny wins, then any
matching Allow. A document that does not parse, names an unknown action, a resource of
another bucket or an unknown condition operator is MalformedPolicy.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.s3.errors import S3Error

MAX_POLICY_BYTES = 20 * 1024  # AWS's limit for a bucket policy
VERSIONS = ("2012-10-17", "2008-10-17")

# The IAM action each S3 operation is authorised as. An operation on a named version
# (?versionId=) is its *Version action (see `action_of`).
ACTIONS: dict[str, str] = {
    "ListBuckets": "s3:ListAllMyBuckets",
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListParts": "s3:ListMultipartUploadParts",
    "CreateBucket": "s3:CreateBucket",
    "DeleteBucket": "s3:DeleteBucket",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketAcl": "s3:GetBucketAcl",
    "PutBucketAcl": "s3:PutBucketAcl",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy",
    "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "PutBucketVersioning": "s3:PutBucketVersioning",
    "GetBucketTagging": "s3:GetBucketTagging",
    "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "PostObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "GetObjectAcl": "s3:GetObjectAcl",
    "PutObjectAcl": "s3:PutObjectAcl",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "GetObjectAttributes": "s3:GetObjectAttributes",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetObjectRetention": "s3:GetObjectRetention",
    "PutObjectRetention": "s3:PutObjectRetention",
    "GetObjectLegalHold": "s3:GetObjectLegalHold",
    "PutObjectLegalHold": "s3:PutObjectLegalHold",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "PutBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
}
_VERSION_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
}
# Every action a policy may name (more than Tessera serves: a policy written for AWS
# stays valid here).
KNOWN_ACTIONS = (
    frozenset(ACTIONS.values())
    | frozenset(_VERSION_ACTIONS.values())
    | {
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:GetBucketObjectLockConfiguration",
        "s3:PutBucketObjectLockConfiguration",
        "s3:GetObjectRetention",
        "s3:PutObjectRetention",
        "s3:GetObjectLegalHold",
        "s3:PutObjectLegalHold",
        "s3:BypassGovernanceRetention",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersionAttributes",
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        "s3:DeleteBucketWebsite",
        "s3:GetBucketLogging",
        "s3:PutBucketLogging",
        "s3:GetBucketNotification",
        "s3:PutBucketNotification",
        "s3:GetReplicationConfiguration",
        "s3:PutReplicationConfiguration",
        "s3:RestoreObject",
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
    }
)

_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnNotEquals",
        "ArnLike",
        "ArnNotLike",
        "Null",
    }
)


def action_of(operation: str, version_id: str | None) -> str | None:
    """The IAM action an S3 operation is authorised as; None for one no policy names."""
    action = ACTIONS.get(operation)
    if action is not None and version_id is not None:
        return _VERSION_ACTIONS.get(action, action)
    return action


@dataclass(frozen=True)
class Facts:
    """What a policy may look at in one request."""

    principal: str | None  # the access key; None: anonymous
    action: str
    resource: str  # arn:aws:s3:::bucket or arn:aws:s3:::bucket/key
    context: Mapping[str, str | list[str]] = field(default_factory=dict)  # condition keys


@dataclass(frozen=True)
class Statement:
    effect: str
    principals: tuple[str, ...] | None  # None: NotPrincipal's list is in not_principals
    not_principals: tuple[str, ...]
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key, values)

    def matches(self, facts: Facts) -> bool:
        if self.principals is not None:
            if not any(_principal_matches(p, facts.principal) for p in self.principals):
                return False
        elif any(_principal_matches(p, facts.principal) for p in self.not_principals):
            return False
        if any(_glob(a, facts.action, fold=True) for a in self.actions) == self.not_action:
            return False
        if any(_glob(r, facts.resource) for r in self.resources) == self.not_resource:
            return False
        return all(
            _condition(op, key, values, facts.context) for op, key, values in self.conditions
        )


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]

    def evaluate(self, facts: Facts) -> str | None:
        """ "Deny" (an explicit deny matches), "Allow", or None (the policy is silent)."""
        matched = [s.effect for s in self.statements if s.matches(facts)]
        if "Deny" in matched:
            return "Deny"
        return "Allow" if "Allow" in matched else None

    def is_public(self) -> bool:
        """An Allow for everyone that no condition narrows (GetBucketPolicyStatus)."""
        return any(
            s.effect == "Allow"
            and s.principals is not None
            and "*" in s.principals
            and not s.conditions
            for s in self.statements
        )


def _malformed(message: str) -> S3Error:
    return S3Error("MalformedPolicy", message)


def parse(text: bytes | str, bucket: str) -> Policy:
    """Parse and check a policy for bucket; MalformedPolicy saying what is wrong."""
    if len(text) > MAX_POLICY_BYTES:
        raise _malformed(f"Policies must be at most {MAX_POLICY_BYTES} bytes")
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'") from None
    if not isinstance(document, dict):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        raise _malformed("The policy must contain a valid version string")
    raw = document.get("Statement")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _malformed("Missing required field Statement")
    return Policy(tuple(_statement(s, bucket) for s in raw))


def _strings(value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) for i in items):
        raise _malformed(f"{what} must be a string or a list of strings")
    return tuple(items)


def _principal_list(value: Any) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if isinstance(value, dict) and set(value) <= {"AWS", "CanonicalUser"} and value:
        found: list[str] = []
        for item in value.values():
            found += _strings(item, "Principal")
        return tuple(found)
    raise _malformed("Invalid principal in policy")


def _statement(raw: Any, bucket: str) -> Statement:
    if not isinstance(raw, dict):
        raise _malformed("Each statement must be a JSON object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _malformed("Invalid effect: the Effect must be Allow or Deny")
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise _malformed("A statement needs exactly one of Principal and NotPrincipal")
    if "NotPrincipal" in raw and effect == "Allow":
        raise _malformed("NotPrincipal can only be used with Effect Deny")
    principals = _principal_list(raw["Principal"]) if "Principal" in raw else None
    not_principals = _principal_list(raw["NotPrincipal"]) if "NotPrincipal" in raw else ()
    if ("Action" in raw) == ("NotAction" in raw):
        raise _malformed("A statement needs exactly one of Action and NotAction")
    actions = _strings(raw.get("Action", raw.get("NotAction")), "Action")
    for action in actions:
        if action != "*" and not any(_glob(action, known, fold=True) for known in KNOWN_ACTIONS):
            raise _malformed(f"Policy has invalid action: {action}")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise _malformed("A statement needs exactly one of Resource and NotResource")
    resources = _strings(raw.get("Resource", raw.get("NotResource")), "Resource")
    for resource in resources:
        if not _about_bucket(resource, bucket):
            raise _malformed("Policy has invalid resource")
    return Statement(
        effect=effect,
        principals=principals,
        not_principals=not_principals,
        actions=actions,
        not_action="NotAction" in raw,
        resources=resources,
        not_resource="NotResource" in raw,
        conditions=_conditions(raw.get("Condition")),
    )


def _about_bucket(resource: str, bucket: str) -> bool:
    """Whether an ARN (with wildcards) can name this bucket or its objects."""
    if resource == "*":
        return True
    if not resource.startswith("arn:aws:s3:::"):
        return False
    name = resource[len("arn:aws:s3:::") :].split("/", 1)[0]
    return _glob(name, bucket)


def _conditions(raw: Any) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _malformed("Condition must be a JSON object")
    found = []
    for operator, block in raw.items():
        base = operator.removesuffix("IfExists")
        if ":" in base:  # ForAnyValue:/ForAllValues:
            qualifier, _, base = base.partition(":")
            if qualifier not in ("ForAnyValue", "ForAllValues"):
                raise _malformed(f"Invalid Condition type : {operator}")
        if base not in _OPERATORS or not isinstance(block, dict):
            raise _malformed(f"Invalid Condition type : {operator}")
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            found.append(
                (
                    operator,
                    key,
                    tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in items),
                )
            )
    return tuple(found)


def _glob(pattern: str, text: str, fold: bool = False) -> bool:
    """IAM wildcards: * any run of characters, ? one character."""
    if fold:
        pattern, text = pattern.lower(), text.lower()
    if "*" not in pattern and "?" not in pattern:
        return pattern == text
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _principal_matches(pattern: str, principal: str | None) -> bool:
    if pattern == "*":
        return True
    if principal is None:
        return False
    # An access key, an account id, or an ARN ending in one (…:root, …:user/NAME).
    tail = re.split(r"[:/]", pattern)[-1]
    return principal in (pattern, tail) or (
        tail == "root" and pattern.split(":")[4:5] == [principal]
    )


def _condition(
    operator: str, key: str, values: tuple[str, ...], context: Mapping[str, str | list[str]]
) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    qualifier = ""
    if ":" in base:
        qualifier, _, base = base.partition(":")
    present = _lookup(context, key)
    if base == "Null":
        wanted = values[0].lower() == "true"
        return (present is None) == wanted
    if present is None:
        return if_exists or base.startswith(
            ("StringNot", "NumericNot", "DateNot", "ArnNot", "NotIp")
        )
    actual = present if isinstance(present, list) else [present]
    results = [any(_compare(base, a, v) for v in values) for a in actual]
    negative = "Not" in base
    if negative:
        results = [all(_compare(base, a, v) for v in values) for a in actual]
    if qualifier == "ForAllValues":
        return all(results)
    return any(results)


def _lookup(context: Mapping[str, str | list[str]], key: str) -> str | list[str] | None:
    for name, value in context.items():
        if name.lower() == key.lower():
            return value
    return None


def _compare(operator: str, actual: str, wanted: str) -> bool:
    """One value against one policy value; negative operators answer "not equal"."""
    try:
        if operator in ("StringEquals", "ArnEquals"):
            return actual == wanted
        if operator in ("StringNotEquals", "ArnNotEquals"):
            return actual != wanted
        if operator == "StringEqualsIgnoreCase":
            return actual.lower() == wanted.lower()
        if operator == "StringNotEqualsIgnoreCase":
            return actual.lower() != wanted.lower()
        if operator in ("StringLike", "ArnLike"):
            return _glob(wanted, actual)
        if operator in ("StringNotLike", "ArnNotLike"):
            return not _glob(wanted, actual)
        if operator == "Bool":
            return actual.lower() == wanted.lower()
        if operator in ("IpAddress", "NotIpAddress"):
            inside = ipaddress.ip_address(actual) in ipaddress.ip_network(wanted, strict=False)
            return inside if operator == "IpAddress" else not inside
        if operator.startswith("Numeric"):
            return _ordered(operator.removeprefix("Numeric"), float(actual), float(wanted))
        if operator.startswith("Date"):
            return _ordered(operator.removeprefix("Date"), _date(actual), _date(wanted))
    except ValueError:
        return False
    return False


def _ordered(relation: str, actual: float, wanted: float) -> bool:
    return {
        "Equals": actual == wanted,
        "NotEquals": actual != wanted,
        "LessThan": actual < wanted,
        "LessThanEquals": actual <= wanted,
        "GreaterThan": actual > wanted,
        "GreaterThanEquals": actual >= wanted,
    }[relation]


def _date(text: str) -> float:
    if text.replace(".", "", 1).isdigit():
        return float(text)  # epoch seconds
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
