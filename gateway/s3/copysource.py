"""The x-amz-copy-source header of CopyObject and UploadPartCopy."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from gateway.s3.errors import S3Error


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


def parse_copy_source(value: str) -> CopySource:
    """`bucket/key[?versionId=v]`, URL-encoded, with or without a leading slash.
    As in S3, a `+` in the path stands for a space: s5cmd form-encodes the key
    (Go's url.QueryEscape), and clients send a real `+` as %2B."""
    path, _, query = value.partition("?")
    path = unquote_plus(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            extra={"ArgumentName": "x-amz-copy-source", "ArgumentValue": value},
        )
    version_id = None
    for part in query.split("&"):
        name, _, val = part.partition("=")
        if name == "versionId":
            version_id = unquote(val)
    return CopySource(bucket, key, version_id)


def parse_copy_range(value: str, size: int) -> tuple[int, int]:
    """x-amz-copy-source-range `bytes=first-last`, inclusive, within the source."""
    text = value.strip()
    if not text.startswith("bytes="):
        raise S3Error(
            "InvalidArgument",
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    first, _, last = text[len("bytes=") :].partition("-")
    if not first.isdigit() or not last.isdigit() or int(first) > int(last):
        raise S3Error(
            "InvalidArgument",
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    start, end = int(first), int(last)
    if end >= size:
        raise S3Error("InvalidRange", extra={"ActualObjectSize": str(size), "RangeRequested": text})
    return start, end
