"""Multipart upload rules (sans-IO): part numbers, CompleteMultipartUpload bodies, the checks
S3 makes before assembling parts, the multipart ETag and checksums, and the paging of
ListParts and ListMultipartUploads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from awscrt import checksums as crt

from .checksums import Checksum
from .errors import S3Error
from .xml import CHECKSUM_ELEMENTS, UploadEntry, parse_xml
from .xmlcore import local_name

MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_PART_NUMBER = 10000
MAX_PARTS_LISTED = 1000  # ListParts' max-parts and ListMultipartUploads' max-uploads

_PART_NUMBER_MESSAGE = "Part number must be an integer between 1 and 10000, inclusive"
# element name -> algorithm, for the checksums a CompleteMultipartUpload part may carry
_CHECKSUM_ALGORITHMS = {element: algorithm for algorithm, element in CHECKSUM_ELEMENTS.items()}


def parse_part_number(value: str | None) -> int:
    """The ``partNumber`` of UploadPart / UploadPartCopy (or a ``<PartNumber>``): 1..10000."""
    text = (value or "").strip()
    # isdigit() alone accepts non-ASCII digits and int() accepts '+1' or '1_0': both too lax.
    if text.isascii() and text.isdigit() and len(text) <= 10:
        number = int(text)
        if 1 <= number <= MAX_PART_NUMBER:
            return number
    raise S3Error(
        "InvalidArgument",
        _PART_NUMBER_MESSAGE,
        extra={"ArgumentName": "partNumber", "ArgumentValue": value or ""},
    )


def normalize_etag(etag: str) -> str:
    """``"abc"``, ``abc``, ``&quot;abc&quot;`` (escaped twice by some clients) -> ``abc``."""
    text = etag.strip()
    if text.startswith("&quot;") and text.endswith("&quot;") and len(text) >= 12:
        return text[6:-6]
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1]
    return text


@dataclass
class CompletedPart:
    """One ``<Part>`` of a CompleteMultipartUpload request."""

    part_number: int
    etag: str  # normalised: without quotes
    # algorithm ('crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256') -> base64 value
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass
class StoredPart:
    """A part as uploaded: what ListParts reports and CompleteMultipartUpload checks."""

    part_number: int
    etag: str  # hex MD5 without quotes
    size: int
    last_modified: float
    checksums: dict[str, str] = field(default_factory=dict)


def _part_error(code: str, part: CompletedPart, upload_id: str | None, **extra: str) -> S3Error:
    details = {"UploadId": upload_id} if upload_id else {}
    details.update(extra)
    details.update({"PartNumber": str(part.part_number), "ETag": part.etag})
    return S3Error(code, extra=details)


def parse_complete(body: bytes, *, upload_id: str | None = None) -> list[CompletedPart]:
    """The parts named by a CompleteMultipartUpload body, in order.

    Raise ``MalformedXML`` for an empty or malformed body, or one without parts;
    ``InvalidArgument`` for a part number outside 1..10000; ``InvalidPartOrder`` unless the
    numbers are strictly ascending (a repeated number is out of order too).
    """
    if not body.strip():
        raise S3Error("MalformedXML")
    root = parse_xml(body)
    if local_name(root.tag) != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    parts: list[CompletedPart] = []
    for child in root:
        if local_name(child.tag) != "Part":
            continue
        number_text: str | None = None
        etag: str | None = None
        checksums: dict[str, str] = {}
        for element in child:
            name = local_name(element.tag)
            text = (element.text or "").strip()
            if name == "PartNumber":
                number_text = text
            elif name == "ETag":
                etag = normalize_etag(text)
            elif name in _CHECKSUM_ALGORITHMS and text:
                checksums[_CHECKSUM_ALGORITHMS[name]] = text
        if number_text is None or etag is None:
            raise S3Error("MalformedXML")
        part = CompletedPart(parse_part_number(number_text), etag, checksums)
        if parts and part.part_number <= parts[-1].part_number:
            raise _part_error("InvalidPartOrder", part, upload_id)
        parts.append(part)
    if not parts:
        raise S3Error("MalformedXML")
    return parts


def validate_parts(
    requested: list[CompletedPart],
    stored: dict[int, StoredPart],
    *,
    upload_id: str | None = None,
) -> list[StoredPart]:
    """The stored parts a CompleteMultipartUpload request names, in its order.

    Each must exist with the requested ETag and, where the request gives checksums, those
    checksums (else ``InvalidPart``); every part but the last must be at least
    :data:`MIN_PART_SIZE` bytes (else ``EntityTooSmall``). The error details are AWS's.
    """
    chosen: list[StoredPart] = []
    for index, part in enumerate(requested):
        found = stored.get(part.part_number)
        if (
            found is None
            or normalize_etag(found.etag) != part.etag
            or any(found.checksums.get(algo) != value for algo, value in part.checksums.items())
        ):
            raise _part_error("InvalidPart", part, upload_id)
        if index < len(requested) - 1 and found.size < MIN_PART_SIZE:
            raise S3Error(
                "EntityTooSmall",
                extra={
                    "ProposedSize": str(found.size),
                    "MinSizeAllowed": str(MIN_PART_SIZE),
                    "PartNumber": str(part.part_number),
                    "ETag": part.etag,
                },
            )
        chosen.append(found)
    return chosen


def multipart_etag(part_md5_hexes: list[str]) -> str:
    """The ETag of a completed upload (unquoted): MD5 of the parts' binary MD5s, ``-N``."""
    digests = b"".join(bytes.fromhex(normalize_etag(h)) for h in part_md5_hexes)
    return f"{hashlib.md5(digests).hexdigest()}-{len(part_md5_hexes)}"


def composite_checksum(algorithm: str, part_checksums_b64: list[str]) -> str:
    """AWS's COMPOSITE multipart checksum: the ``algorithm`` checksum of the concatenated
    binary part checksums, base64, then ``-N`` (the number of parts)."""
    combined = Checksum(algorithm)
    for value in part_checksums_b64:
        combined.update(_b64decode(value))
    return f"{combined.b64()}-{len(part_checksums_b64)}"


_COMBINE = {
    "crc32": (crt.combine_crc32, 4),
    "crc32c": (crt.combine_crc32c, 4),
    "crc64nvme": (crt.combine_crc64nvme, 8),
}


def full_object_crc(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """The FULL_OBJECT checksum of an upload: the CRC of the whole object, combined from each
    part's ``(base64 CRC, size)`` without reading the data. Only CRC algorithms combine."""
    if algorithm not in _COMBINE:
        raise ValueError(f"{algorithm} cannot be combined into a full-object checksum")
    combine, width = _COMBINE[algorithm]
    crc = 0  # the CRC of no data
    for value, size in parts:
        crc = combine(crc, int.from_bytes(_b64decode(value), "big"), size)
    return base64.b64encode(crc.to_bytes(width, "big")).decode()


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64 checksum {value!r}") from exc


# -- ListParts / ListMultipartUploads ------------------------------------------------------


def parse_max_count(value: str | None, name: str) -> int:
    """``max-parts`` / ``max-uploads``: absent means 1000, larger values are clamped to it."""
    if value is None or value == "":
        return MAX_PARTS_LISTED
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > 2**31 - 1:
        raise S3Error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            extra={"ArgumentName": name, "ArgumentValue": value},
        )
    return min(int(text), MAX_PARTS_LISTED)


def parse_part_number_marker(value: str | None) -> int:
    """``part-number-marker``: parts after this number are listed (0 when absent)."""
    if value is None or value == "":
        return 0
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > 2**31 - 1:
        raise S3Error(
            "InvalidArgument",
            "Provided part-number-marker not an integer or within integer range",
            extra={"ArgumentName": "part-number-marker", "ArgumentValue": value},
        )
    return int(text)


class _Numbered(Protocol):
    part_number: int


_P = TypeVar("_P", bound=_Numbered)


def page_parts(
    parts: Sequence[_P], part_number_marker: int, max_parts: int
) -> tuple[list[_P], bool, int | None]:
    """One ListParts page: ``(parts, is_truncated, next_part_number_marker)``.

    ``parts`` are sorted by number; those after ``part_number_marker`` are listed, at most
    ``max_parts`` (clamped to 1000). The next marker is the last listed number (AWS sends it
    on the last page too), ``None`` when nothing is listed.
    """
    limit = max(0, min(max_parts, MAX_PARTS_LISTED))
    start = bisect_right(parts, part_number_marker, key=lambda p: p.part_number)
    page = list(parts[start : start + limit])
    is_truncated = start + len(page) < len(parts)
    return page, is_truncated, (page[-1].part_number if page else None)


def page_uploads(
    uploads: Sequence[UploadEntry],
    *,
    prefix: str | None,
    delimiter: str | None,
    key_marker: str | None,
    upload_id_marker: str | None,
    max_uploads: int,
) -> tuple[list[UploadEntry], list[str], bool, str | None, str | None]:
    """One ListMultipartUploads page, from ``uploads`` sorted by ``(key, upload_id)``.

    Returns ``(uploads, common_prefixes, is_truncated, next_key_marker,
    next_upload_id_marker)``, following AWS's rules: with only ``key_marker``, uploads of
    keys after it are listed; with ``upload_id_marker`` too, also the uploads of
    ``key_marker`` itself whose id sorts after the marker (the id marker alone is ignored).
    With a delimiter, keys sharing the part of the key up to the first delimiter after the
    prefix roll up into one common prefix, which counts once toward ``max_uploads``
    (clamped to 1000). The next markers are those of the last entry listed: for a common
    prefix, the prefix and no upload id, and a request continuing from such a key marker
    skips the whole prefix, so pages never repeat or skip anything. Empty strings count as
    absent, as in query strings.
    """
    prefix = prefix or ""
    limit = max(0, min(max_uploads, MAX_PARTS_LISTED))

    def order(entry: UploadEntry) -> tuple[str, str]:
        return entry.key, entry.upload_id

    start = bisect_left(uploads, (prefix, ""), key=order)
    skip: str | None = None  # a common prefix already returned by an earlier page
    if key_marker:
        if upload_id_marker:
            after = bisect_right(uploads, (key_marker, upload_id_marker), key=order)
        else:
            after = bisect_right(uploads, key_marker, key=lambda u: u.key)
        start = max(start, after)
        if delimiter and key_marker.startswith(prefix) and key_marker.endswith(delimiter):
            if key_marker.find(delimiter, len(prefix)) == len(key_marker) - len(delimiter):
                skip = key_marker

    entries: list[UploadEntry] = []
    prefixes: list[str] = []
    last: tuple[str, str | None] | None = None
    is_truncated = False
    for index in range(start, len(uploads)):
        upload = uploads[index]
        if not upload.key.startswith(prefix):
            break  # keys with the prefix are contiguous, and we are past them
        if skip is not None and upload.key.startswith(skip):
            continue
        rolled_up = None
        if delimiter:
            at = upload.key.find(delimiter, len(prefix))
            if at >= 0:
                rolled_up = upload.key[: at + len(delimiter)]
        if len(entries) + len(prefixes) == limit:
            is_truncated = True
            break
        if rolled_up is not None:
            prefixes.append(rolled_up)
            last = (rolled_up, None)
            skip = rolled_up
        else:
            entries.append(upload)
            last = (upload.key, upload.upload_id)
    next_key, next_upload_id = last if last is not None else (None, None)
    return entries, prefixes, is_truncated, next_key, next_upload_id
