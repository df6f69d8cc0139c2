"""Object tags (sans-IO): the ``x-amz-tagging`` header, the ``Tagging`` document, and AWS's
limits for them.

A tag key is 1 to 128 Unicode characters, a value 0 to 256, both drawn from letters,
numbers, separator spaces and ``_ . : / = + - @``; keys are unique in a set and the ``aws:``
prefix is reserved. An object holds at most 10 tags.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_plus

from . import xml
from .errors import S3Error

OBJECT_TAG_LIMIT = 10
BUCKET_TAG_LIMIT = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_PUNCTUATION = frozenset("_.:/=+-@")

_HEADER_MESSAGE = (
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters "
    "without tag name duplicates."
)


def _allowed(text: str) -> bool:
    return all(ch in _PUNCTUATION or unicodedata.category(ch)[0] in ("L", "N", "Z") for ch in text)


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and _allowed(key)


def valid_value(value: str) -> bool:
    return len(value) <= MAX_VALUE_LENGTH and _allowed(value)


@dataclass(frozen=True)
class TagRules:
    """Where object and bucket tag sets differ: the limit and AWS's wording."""

    limit: int
    too_many: str
    reserved: str
    reserved_any_case: bool
    too_many_code: str = "BadRequest"


OBJECT_RULES = TagRules(
    OBJECT_TAG_LIMIT,
    f"Object tags cannot be greater than {OBJECT_TAG_LIMIT}",
    "Your TagKey cannot be prefixed with aws:",
    reserved_any_case=False,
    too_many_code="InvalidTag",  # what the S3 conformance suites check for objects
)
BUCKET_RULES = TagRules(
    BUCKET_TAG_LIMIT,
    f"Bucket tag count cannot be greater than {BUCKET_TAG_LIMIT}",
    "System tags cannot be added/updated by requester",
    reserved_any_case=True,
)


def check(tags: list[tuple[str, str]], rules: TagRules = OBJECT_RULES) -> dict[str, str]:
    """Validate a tag set and return it as a dict; raise AWS's error otherwise."""
    if len(tags) > rules.limit:
        raise S3Error(rules.too_many_code, rules.too_many)
    result: dict[str, str] = {}
    for key, value in tags:
        if key in result:
            raise S3Error(
                "InvalidTag",
                "Cannot provide multiple Tags with the same key",
                extra={"TagKey": key},
            )
        prefix = key.lower() if rules.reserved_any_case else key
        if prefix.startswith("aws:"):
            raise S3Error("InvalidTag", rules.reserved, extra={"TagKey": key})
        if not valid_key(key):
            raise S3Error(
                "InvalidTag", "The TagKey you have provided is invalid", extra={"TagKey": key}
            )
        if not valid_value(value):
            raise S3Error(
                "InvalidTag",
                "The TagValue you have provided is invalid",
                extra={"TagKey": key, "TagValue": value},
            )
        result[key] = value
    return result


def parse_header(value: str | None) -> dict[str, str]:
    """The tags of an ``x-amz-tagging`` header (``k1=v1&k2=v2``, URL-encoded); ``{}`` if
    absent or empty."""
    if not value:
        return {}
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in value.split("&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition("=")
        try:
            key = unquote_plus(raw_key, errors="strict")
            text = unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError as exc:
            raise _header_error(value) from exc
        if key in seen:
            raise _header_error(value)
        seen.add(key)
        tags.append((key, text))
    return check(tags, OBJECT_RULES)


def _header_error(value: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        _HEADER_MESSAGE,
        extra={"ArgumentName": "x-amz-tagging", "ArgumentValue": value},
    )


def parse_document(body: bytes, rules: TagRules = OBJECT_RULES) -> dict[str, str]:
    """The tags of a Put*Tagging ``Tagging`` body, validated."""
    return check(xml.parse_tagging(body), rules)


def render(tags: dict[str, str]) -> bytes:
    """GetObjectTagging: the ``Tagging`` document, tags in key order (as S3-compatible
    stores list them, whatever order they were given in)."""
    return xml.tagging(sorted(tags.items()))
