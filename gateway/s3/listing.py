"""Listing semantics shared by ListObjects v1 and v2: delimiter roll-up,
max-keys, truncation and continuation tokens. Works on any ObjectListing."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from gateway.cluster.store import ObjectListing, ObjectVersion
from gateway.s3.errors import S3Error

MAX_KEYS = 1000


@dataclass
class Page:
    contents: list[ObjectVersion] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    # The last key or common prefix returned: where the next page starts.
    last: str | None = None


def parse_max_keys(value: str | None) -> int:
    if value is None or value == "":
        return MAX_KEYS
    try:
        number = int(value)
    except ValueError as exc:
        raise S3Error(
            "InvalidArgument",
            "Provided max-keys not an integer or within integer range",
            extra={"ArgumentName": "max-keys", "ArgumentValue": value},
        ) from exc
    if number < 0:
        raise S3Error(
            "InvalidArgument",
            "Argument maxKeys must be an integer between 0 and 2147483647",
            extra={"ArgumentName": "maxKeys", "ArgumentValue": value},
        )
    return min(number, MAX_KEYS)


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            extra={"ArgumentName": "continuation-token"},
        ) from exc


async def collect(
    listing: ObjectListing, prefix: str, delimiter: str, max_keys: int, start_after: str
) -> Page:
    """Read one page of results from listing."""
    page = Page()
    if max_keys == 0:
        return page  # S3 answers max-keys=0 with nothing, not truncated
    if delimiter and start_after.startswith(prefix) and start_after.endswith(delimiter):
        # Continuing after a common prefix: never return it again.
        if delimiter not in start_after[len(prefix) : -len(delimiter)]:
            listing.skip_prefix(start_after)
    count = 0
    while True:
        entry = await listing.next()
        if entry is None:
            return page
        name = entry.key
        rolled_up = None
        if delimiter:
            at = name.find(delimiter, len(prefix))
            if at >= 0:
                rolled_up = name[: at + len(delimiter)]
        if count == max_keys:
            page.is_truncated = True
            return page
        count += 1
        if rolled_up is not None:
            page.common_prefixes.append(rolled_up)
            page.last = rolled_up
            listing.skip_prefix(rolled_up)
        else:
            page.contents.append(entry)
            page.last = name


def url_encoding(query: dict[str, str]) -> str | None:
    """The listing's encoding-type: "url", or None when not asked for."""
    value = query.get("encoding-type")
    if value is None:
        return None
    if value.lower() != "url":
        raise S3Error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            extra={"ArgumentName": "encoding-type", "ArgumentValue": value},
        )
    return "url"
