"""Bucket and key name rules, as AWS enforces them."""

from __future__ import annotations

import re

from gateway.s3.errors import S3Error

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why name is not a valid bucket name, or None if it is."""
    if not _BUCKET.match(name):
        return "Bucket names must be 3-63 lowercase letters, digits, dots or hyphens"
    if ".." in name or ".-" in name or "-." in name:
        return "Bucket names must not contain adjacent dots or dots next to hyphens"
    if _IPV4.match(name):
        return "Bucket names must not be formatted as an IP address"
    if name.startswith(_BAD_PREFIXES) or name.endswith(_BAD_SUFFIXES):
        return "Bucket name uses a reserved prefix or suffix"
    return None


def check_bucket_name(name: str) -> None:
    problem = bucket_name_problem(name)
    if problem:
        raise S3Error("InvalidBucketName", problem, extra={"BucketName": name})


def check_key(key: str) -> None:
    if len(key.encode()) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long")
