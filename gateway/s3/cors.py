"""Bucket CORS (sans-IO): the CORSConfiguration document, and matching requests against it.

A configuration is an ordered list of :class:`CorsRule`; the first rule that allows the
request's origin, method and (for a preflight) every requested header wins. The rules follow
Amazon S3:

- ``AllowedOrigin`` is compared case-sensitively as text; one ``*`` in it matches any run of
  characters (``https://*.example.com``). The literal ``*`` rule answers
  ``Access-Control-Allow-Origin: *``, any other rule echoes the origin and allows credentials.
- ``AllowedMethod`` is one of GET, PUT, POST, DELETE, HEAD, compared exactly.
- ``AllowedHeader`` names are compared case-insensitively and may hold one ``*``.
- A non-preflight request is matched on origin and method only.

A bucket's rules are stored in its etcd record (``coordinator.buckets.Bucket.cors``) as plain
dicts: :meth:`CorsRule.to_record` and :meth:`CorsRule.from_record` convert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import S3Error
from .xml import parse_xml
from .xmlcore import Doc, local_name

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
MAX_ID_LENGTH = 255
MAX_AGE_LIMIT = 2**31 - 1
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

NOT_ALLOWED = (
    # "evalution" is AWS's spelling; clients and tests compare the text.
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
BUCKET_NOT_FOUND = "CORSResponse: Bucket not found"
NO_ORIGIN = "Insufficient information. Origin request header needed."


@dataclass
class CorsRule:
    """One ``<CORSRule>``."""

    allowed_origins: list[str]
    allowed_methods: list[str]
    allowed_headers: list[str] = field(default_factory=list)
    expose_headers: list[str] = field(default_factory=list)
    max_age_seconds: int | None = None
    id: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "origins": list(self.allowed_origins),
            "methods": list(self.allowed_methods),
            "headers": list(self.allowed_headers),
            "expose": list(self.expose_headers),
            "max_age": self.max_age_seconds,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> CorsRule:
        return cls(
            allowed_origins=list(rec.get("origins", [])),
            allowed_methods=list(rec.get("methods", [])),
            allowed_headers=list(rec.get("headers", [])),
            expose_headers=list(rec.get("expose", [])),
            max_age_seconds=rec.get("max_age"),
            id=rec.get("id"),
        )


def rules_of(stored: Sequence[Mapping[str, Any]] | None) -> list[CorsRule] | None:
    """The CORS rules a bucket record stores; ``None`` when the bucket has no configuration."""
    if not stored:
        return None
    return [CorsRule.from_record(r) for r in stored]


# -- the document --------------------------------------------------------------------------

_LIST_FIELDS = {
    "AllowedOrigin": "allowed_origins",
    "AllowedMethod": "allowed_methods",
    "AllowedHeader": "allowed_headers",
    "ExposeHeader": "expose_headers",
}


def _malformed() -> S3Error:
    return S3Error("MalformedXML")


def _text_only(elem: Any) -> str:
    """The text of a leaf element; an element with children (or a tail of text) is malformed."""
    if len(elem):
        raise _malformed()
    return elem.text or ""


def _parse_rule(elem: Any) -> CorsRule:
    if (elem.text or "").strip():
        raise _malformed()
    lists: dict[str, list[str]] = {name: [] for name in _LIST_FIELDS.values()}
    rule_id: str | None = None
    max_age: int | None = None
    seen_id = seen_max_age = False
    for child in elem:
        if (child.tail or "").strip():
            raise _malformed()
        name = local_name(child.tag)
        text = _text_only(child)
        if name in _LIST_FIELDS:
            lists[_LIST_FIELDS[name]].append(text)
        elif name == "ID":
            if seen_id or len(text) > MAX_ID_LENGTH:
                raise _malformed()
            seen_id, rule_id = True, text
        elif name == "MaxAgeSeconds":
            digits = text.strip()
            if seen_max_age or not (digits.isascii() and digits.isdigit()):
                raise _malformed()
            seen_max_age, max_age = True, int(digits)
            if max_age > MAX_AGE_LIMIT:
                raise _malformed()
        else:
            raise _malformed()
    if not lists["allowed_origins"] or not lists["allowed_methods"]:
        raise _malformed()
    return CorsRule(**lists, max_age_seconds=max_age, id=rule_id)


def _check_rule(rule: CorsRule) -> None:
    """The value checks of one rule, in AWS's order; InvalidRequest on the first failure."""
    for method in rule.allowed_methods:
        if method not in METHODS:
            raise S3Error(
                "InvalidRequest",
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}",
            )
    for origin in rule.allowed_origins:
        if origin.count("*") > 1:
            raise S3Error(
                "InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.'
            )
    for header in rule.allowed_headers:
        if header.count("*") > 1:
            raise S3Error(
                "InvalidRequest", f'AllowedHeader "{header}" can not have more than one wildcard.'
            )
    for header in rule.expose_headers:
        if "*" in header:
            raise S3Error(
                "InvalidRequest",
                f'ExposeHeader "{header}" contains wildcard. '
                "We currently do not support wildcard for ExposeHeader.",
            )


def parse_cors_configuration(body: bytes) -> list[CorsRule]:
    """The rules of a PutBucketCors body.

    The document's structure is checked first (``MalformedXML``: another root, no rule or more
    than 100, a rule without AllowedOrigin or AllowedMethod, unknown elements, a bad
    MaxAgeSeconds or ID), then each rule's values (``InvalidRequest``, AWS's messages).
    """
    root = parse_xml(body)
    if local_name(root.tag) != "CORSConfiguration" or (root.text or "").strip():
        raise _malformed()
    rules: list[CorsRule] = []
    for child in root:
        if local_name(child.tag) != "CORSRule" or (child.tail or "").strip():
            raise _malformed()
        rules.append(_parse_rule(child))
    if not rules or len(rules) > MAX_RULES:
        raise _malformed()
    for rule in rules:
        _check_rule(rule)
    return rules


def cors_configuration(rules: list[CorsRule]) -> bytes:
    """GetBucketCors: ``CORSConfiguration``, elements in the order AWS writes them."""
    doc = Doc()
    doc.open("CORSConfiguration", ns=True)
    for rule in rules:
        doc.open("CORSRule")
        if rule.id is not None:
            doc.elem("ID", rule.id)
        for method in rule.allowed_methods:
            doc.elem("AllowedMethod", method)
        for origin in rule.allowed_origins:
            doc.elem("AllowedOrigin", origin)
        for header in rule.allowed_headers:
            doc.elem("AllowedHeader", header)
        if rule.max_age_seconds is not None:
            doc.elem("MaxAgeSeconds", rule.max_age_seconds)
        for header in rule.expose_headers:
            doc.elem("ExposeHeader", header)
        doc.close("CORSRule")
    doc.close("CORSConfiguration")
    return doc.to_bytes()


# -- matching ------------------------------------------------------------------------------


def _wildcard(pattern: str, text: str) -> bool:
    """``pattern`` with at most one ``*`` (any run of characters, possibly empty)."""
    prefix, star, suffix = pattern.partition("*")
    if not star:
        return pattern == text
    return (
        len(text) >= len(prefix) + len(suffix) and text.startswith(prefix) and text.endswith(suffix)
    )


def origin_allowed(rule: CorsRule, origin: str) -> bool:
    return any(_wildcard(pattern, origin) for pattern in rule.allowed_origins)


def header_allowed(rule: CorsRule, header: str) -> bool:
    """``header`` lower-cased; AllowedHeader patterns compare case-insensitively."""
    return any(_wildcard(pattern.lower(), header) for pattern in rule.allowed_headers)


def split_request_headers(value: str | None) -> list[str]:
    """The names of ``Access-Control-Request-Headers``, lower-cased, empty items dropped."""
    if not value:
        return []
    return [name for name in (part.strip().lower() for part in value.split(",")) if name]


def match_rule(
    rules: list[CorsRule], origin: str, method: str, request_headers: list[str] | None = None
) -> CorsRule | None:
    """The first rule allowing ``origin`` and ``method`` and every one of ``request_headers``
    (lower-cased names, given for a preflight only); ``None`` when none does."""
    for rule in rules:
        if method not in rule.allowed_methods or not origin_allowed(rule, origin):
            continue
        if request_headers and not all(header_allowed(rule, h) for h in request_headers):
            continue
        return rule
    return None


def _rule_headers(rule: CorsRule, origin: str, request_headers: list[str] | None) -> dict[str, str]:
    wildcard = "*" in rule.allowed_origins
    headers = {
        "Access-Control-Allow-Origin": "*" if wildcard else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
    }
    if request_headers:
        headers["Access-Control-Allow-Headers"] = ", ".join(request_headers)
    if rule.expose_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    if not wildcard:
        headers["Access-Control-Allow-Credentials"] = "true"
    headers["Vary"] = VARY
    return headers


def preflight(
    rules: list[CorsRule] | None,
    headers: Mapping[str, str],
    *,
    bucket_exists: bool,
    resource_type: str,
) -> dict[str, str]:
    """The response headers of an allowed ``OPTIONS`` preflight, or the S3Error AWS answers.

    ``headers`` has lower-cased names; ``rules`` is ``None`` for a bucket without CORS;
    ``resource_type`` is ``'BUCKET'`` or ``'OBJECT'`` (for the error body).
    """
    origin = headers.get("origin", "")
    if not origin:
        raise S3Error("BadRequest", NO_ORIGIN)
    method = headers.get("access-control-request-method")
    if method not in METHODS:
        shown = "null" if method is None else method
        raise S3Error("BadRequest", f"Invalid Access-Control-Request-Method: {shown}")
    details = {"Method": method, "ResourceType": resource_type}
    if not bucket_exists:
        raise S3Error("AccessForbidden", BUCKET_NOT_FOUND, extra=details)
    if rules is None:
        raise S3Error("AccessForbidden", NOT_ENABLED, extra=details)
    requested = split_request_headers(headers.get("access-control-request-headers"))
    rule = match_rule(rules, origin, method, requested)
    if rule is None:
        raise S3Error("AccessForbidden", NOT_ALLOWED, extra=details)
    return _rule_headers(rule, origin, requested)


def response_headers(rules: list[CorsRule] | None, origin: str, method: str) -> dict[str, str]:
    """CORS headers for an actual (non-preflight) request, success or error; ``{}`` when no
    rule allows ``origin`` and ``method``."""
    if not rules or not origin:
        return {}
    rule = match_rule(rules, origin, method)
    return _rule_headers(rule, origin, None) if rule else {}
