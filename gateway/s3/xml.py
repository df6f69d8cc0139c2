"""S3's XML documents (sans-IO, standard library only): the bodies handlers render and the
request bodies they parse.

Every renderer returns UTF-8 bytes that start with the XML declaration, like AWS's bodies; they
are written with :class:`gateway.s3.xmlcore.Doc`, whose texts go through
:func:`gateway.s3.xmlcore.xml_escape` (see there for characters XML 1.0 cannot carry).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.http.response import format_http_date
from gateway.s3.conditions import WriteCondition

from .errors import S3Error
from .xmlcore import (
    S3_NAMESPACE,
    XML_DECLARATION,
    Doc,
    MalformedXML,
    iso8601,
    local_name,
    parse,
    url_encode,
    xml_escape,
)


def http_date(ts: float) -> str:
    """``Wed, 12 Oct 2009 17:50:00 GMT``: the RFC 7231 form of Last-Modified and friends."""
    return format_http_date(ts)


def list_buckets(
    buckets: Sequence[tuple[str, float] | tuple[str, float, str]],
    owner_id: str,
    owner_name: str,
    continuation_token: str | None = None,
    prefix: str | None = None,
) -> bytes:
    """ListBuckets: ``ListAllMyBucketsResult`` for ``(name, creation time[, region])``
    rows; continuation_token is where the next page starts (a page cut by max-buckets)."""
    doc = Doc()
    doc.open("ListAllMyBucketsResult", ns=True)
    doc.owner((owner_id, owner_name))
    doc.open("Buckets")
    for row in buckets:
        doc.open("Bucket")
        doc.elem("Name", row[0])
        doc.elem("CreationDate", iso8601(row[1]))
        if len(row) > 2:
            doc.elem("BucketRegion", row[2])
        doc.close("Bucket")
    doc.close("Buckets")
    if continuation_token is not None:
        doc.elem("ContinuationToken", continuation_token)
    if prefix is not None:
        doc.elem("Prefix", prefix)
    doc.close("ListAllMyBucketsResult")
    return doc.to_bytes()


@dataclass
class ObjectEntry:
    """One ``<Contents>`` row of a listing."""

    key: str
    last_modified: float
    etag: str  # already quoted, e.g. '"abc"'
    size: int
    storage_class: str = "STANDARD"


def _url_mode(encoding_type: str | None) -> bool:
    return encoding_type is not None and encoding_type.lower() == "url"


def _contents(
    doc: Doc,
    contents: list[ObjectEntry],
    owner: tuple[str, str] | None,
    enc: Callable[[str], str],
) -> None:
    # One string per entry (a page has a thousand): the same markup Doc.elem would write.
    owner_xml = ""
    if owner is not None:
        owner_xml = (
            f"<Owner><ID>{xml_escape(owner[0])}</ID>"
            f"<DisplayName>{xml_escape(owner[1])}</DisplayName></Owner>"
        )
    for entry in contents:
        doc.markup(
            f"<Contents><Key>{xml_escape(enc(entry.key))}</Key>"
            f"<LastModified>{iso8601(entry.last_modified)}</LastModified>"
            f"<ETag>{xml_escape(entry.etag)}</ETag><Size>{entry.size}</Size>{owner_xml}"
            f"<StorageClass>{xml_escape(entry.storage_class)}</StorageClass></Contents>"
        )


def _common_prefixes(doc: Doc, common_prefixes: list[str], enc: Callable[[str], str]) -> None:
    for prefix in common_prefixes:
        doc.open("CommonPrefixes")
        doc.elem("Prefix", enc(prefix))
        doc.close("CommonPrefixes")


def _identity(text: str) -> str:
    return text


def _key_encoder(encoding_type: str | None) -> Callable[[str], str]:
    """How a listing writes keys, prefixes and markers: URL-encoded for ``encoding-type=url``."""
    return url_encode if _url_mode(encoding_type) else _identity


def _encoding_type(doc: Doc, encoding_type: str | None) -> None:
    if encoding_type:
        doc.elem("EncodingType", "url" if _url_mode(encoding_type) else encoding_type)


def _page_flags(
    doc: Doc,
    enc: Callable[[str], str],
    max_keys: int,
    delimiter: str | None,
    encoding_type: str | None,
    is_truncated: bool,
) -> None:
    """MaxKeys, Delimiter, EncodingType and IsTruncated, in the order ListObjects (v1 and v2)
    and ListObjectVersions write them."""
    doc.elem("MaxKeys", max_keys)
    if delimiter:
        doc.elem("Delimiter", enc(delimiter))
    _encoding_type(doc, encoding_type)
    doc.elem("IsTruncated", is_truncated)


# ListObjects v1 and v2 write one ``ListBucketResult``: the same start and end around their own
# paging elements (Marker/NextMarker, or StartAfter/continuation tokens/KeyCount).


def _list_bucket_start(bucket: str, prefix: str) -> Doc:
    doc = Doc()
    doc.open("ListBucketResult", ns=True)
    doc.elem("Name", bucket)
    doc.elem("Prefix", prefix)
    return doc


def _list_bucket_end(
    doc: Doc,
    enc: Callable[[str], str],
    contents: list[ObjectEntry],
    common_prefixes: list[str],
    owner: tuple[str, str] | None,
) -> bytes:
    _contents(doc, contents, owner, enc)
    _common_prefixes(doc, common_prefixes, enc)
    doc.close("ListBucketResult")
    return doc.to_bytes()


def list_objects_v1(
    *,
    bucket: str,
    prefix: str | None,
    marker: str | None,
    delimiter: str | None,
    max_keys: int,
    is_truncated: bool,
    next_marker: str | None,
    contents: list[ObjectEntry],
    common_prefixes: list[str],
    encoding_type: str | None,
    owner: tuple[str, str] | None,
) -> bytes:
    """ListObjects (v1): ``ListBucketResult`` with Marker/NextMarker paging.

    With ``encoding_type='url'``, Prefix, Marker, NextMarker, Delimiter, keys and common
    prefixes are URL-encoded, as AWS documents for v1.
    """
    enc = _key_encoder(encoding_type)
    doc = _list_bucket_start(bucket, enc(prefix or ""))
    doc.elem("Marker", enc(marker or ""))
    # AWS sends NextMarker only when a delimiter was given; without one clients page from the
    # last key (botocore's paginator falls back to Contents[-1].Key).
    if is_truncated and delimiter:
        if next_marker is None:
            candidates = [e.key for e in contents[-1:]] + common_prefixes[-1:]
            next_marker = max(candidates) if candidates else None
        if next_marker is not None:
            doc.elem("NextMarker", enc(next_marker))
    _page_flags(doc, enc, max_keys, delimiter, encoding_type, is_truncated)
    return _list_bucket_end(doc, enc, contents, common_prefixes, owner)


def list_objects_v2(
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    max_keys: int,
    is_truncated: bool,
    key_count: int,
    continuation_token: str | None,
    next_continuation_token: str | None,
    start_after: str | None,
    contents: list[ObjectEntry],
    common_prefixes: list[str],
    encoding_type: str | None,
    owner: tuple[str, str] | None,
) -> bytes:
    """ListObjectsV2: ``ListBucketResult`` with continuation tokens.

    ``owner`` is given only when the request had ``fetch-owner=true``. With
    ``encoding_type='url'``, Prefix, Delimiter, StartAfter, keys and common prefixes are
    URL-encoded; continuation tokens are opaque and never are.
    """
    enc = _key_encoder(encoding_type)
    doc = _list_bucket_start(bucket, enc(prefix or ""))
    if start_after:
        doc.elem("StartAfter", enc(start_after))
    if continuation_token is not None:
        doc.elem("ContinuationToken", continuation_token)
    if next_continuation_token:
        doc.elem("NextContinuationToken", next_continuation_token)
    doc.elem("KeyCount", key_count)
    _page_flags(doc, enc, max_keys, delimiter, encoding_type, is_truncated)
    return _list_bucket_end(doc, enc, contents, common_prefixes, owner)


def location_constraint(region: str) -> bytes:
    """GetBucketLocation body; us-east-1 is an empty element, as AWS keeps it for legacy."""
    if region in ("", "us-east-1"):
        return f'{XML_DECLARATION}<LocationConstraint xmlns="{S3_NAMESPACE}"/>'.encode()
    return (
        f'{XML_DECLARATION}<LocationConstraint xmlns="{S3_NAMESPACE}">'
        f"{xml_escape(region)}</LocationConstraint>"
    ).encode()


def parse_xml(body: bytes) -> ET.Element:
    """Parse a request body (see :func:`gateway.s3.xmlcore.parse`); raise
    ``S3Error('MalformedXML')`` on anything off."""
    try:
        return parse(body)
    except MalformedXML as exc:
        raise S3Error("MalformedXML") from exc


def parse_create_bucket(body: bytes) -> str | None:
    """LocationConstraint of a CreateBucket body; ``None`` when the body or the element is
    absent or empty. Raise ``S3Error('MalformedXML')`` on a malformed document."""
    if not body.strip():
        return None
    root = parse_xml(body)
    if local_name(root.tag) != "CreateBucketConfiguration":
        raise S3Error("MalformedXML")
    for child in root:
        if local_name(child.tag) == "LocationConstraint":
            text = (child.text or "").strip()
            return text or None
    return None


@dataclass
class DeleteRequestEntry:
    key: str
    version_id: str | None = None
    # Set once deleted, when the delete made or removed a delete marker.
    delete_marker_version_id: str | None = None
    # What the key's current object must be for the delete to happen.
    condition: WriteCondition | None = None


def parse_delete(body: bytes) -> tuple[list[DeleteRequestEntry], bool]:
    """The objects and Quiet flag of a DeleteObjects body (at most 1000 objects)."""
    root = parse_xml(body)
    if local_name(root.tag) != "Delete":
        raise S3Error("MalformedXML")
    quiet = False
    entries: list[DeleteRequestEntry] = []
    for child in root:
        name = local_name(child.tag)
        if name == "Quiet":
            quiet = (child.text or "").strip().lower() == "true"
        elif name == "Object":
            fields = {local_name(f.tag): f.text or "" for f in child}
            if "Key" not in fields:
                raise S3Error("MalformedXML")
            entries.append(
                DeleteRequestEntry(
                    fields["Key"],
                    fields.get("VersionId") or None,
                    condition=WriteCondition.from_delete_entry(fields),
                )
            )
    if not entries or len(entries) > 1000:
        raise S3Error("MalformedXML")
    return entries, quiet


def delete_result(
    deleted: list[DeleteRequestEntry], errors: list[tuple[DeleteRequestEntry, str, str]]
) -> bytes:
    """DeleteObjects: ``DeleteResult`` with Deleted and Error entries."""
    doc = Doc()
    doc.open("DeleteResult", ns=True)
    for entry in deleted:
        doc.open("Deleted")
        doc.elem("Key", entry.key)
        if entry.version_id:
            doc.elem("VersionId", entry.version_id)
        if entry.delete_marker_version_id:
            doc.elem("DeleteMarker", True)
            doc.elem("DeleteMarkerVersionId", entry.delete_marker_version_id)
        doc.close("Deleted")
    for entry, code, message in errors:
        doc.open("Error")
        doc.elem("Key", entry.key)
        if entry.version_id:
            doc.elem("VersionId", entry.version_id)
        doc.elem("Code", code)
        doc.elem("Message", message)
        doc.close("Error")
    doc.close("DeleteResult")
    return doc.to_bytes()


# -- Multipart uploads and copies ----------------------------------------------------------

# Checksum algorithm (as in gateway.s3.checksums) -> element name, in AWS's model order.
CHECKSUM_ELEMENTS: dict[str, str] = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
}


def _checksum_elems(doc: Doc, checksums: dict[str, str]) -> None:
    values = {algorithm.lower(): value for algorithm, value in checksums.items()}
    for algorithm, element in CHECKSUM_ELEMENTS.items():
        if values.get(algorithm):
            doc.elem(element, values[algorithm])


def _initiator(doc: Doc, initiator: tuple[str, str]) -> None:
    doc.open("Initiator")
    doc.elem("ID", initiator[0])
    doc.elem("DisplayName", initiator[1])
    doc.close("Initiator")


def _quoted(etag: str) -> str:
    return '"' + etag.strip('"') + '"'


def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    """CreateMultipartUpload: ``InitiateMultipartUploadResult``."""
    doc = Doc()
    doc.open("InitiateMultipartUploadResult", ns=True)
    doc.elem("Bucket", bucket)
    doc.elem("Key", key)
    doc.elem("UploadId", upload_id)
    doc.close("InitiateMultipartUploadResult")
    return doc.to_bytes()


def complete_multipart(
    location: str,
    bucket: str,
    key: str,
    etag_quoted: str,
    checksums: dict[str, str],
    checksum_type: str | None,
) -> bytes:
    """CompleteMultipartUpload: ``CompleteMultipartUploadResult``; ``checksums`` maps an
    algorithm ('crc32', ...) to its base64 value (``-N`` suffixed when COMPOSITE)."""
    doc = Doc()
    doc.open("CompleteMultipartUploadResult", ns=True)
    doc.elem("Location", location)
    doc.elem("Bucket", bucket)
    doc.elem("Key", key)
    doc.elem("ETag", etag_quoted)
    _checksum_elems(doc, checksums)
    if checksum_type:
        doc.elem("ChecksumType", checksum_type)
    doc.close("CompleteMultipartUploadResult")
    return doc.to_bytes()


def _copy_result(
    tag: str,
    etag_quoted: str,
    last_modified: float,
    checksums: dict[str, str],
    checksum_type: str | None,
) -> bytes:
    doc = Doc()
    doc.open(tag, ns=True)
    doc.elem("LastModified", iso8601(last_modified))
    doc.elem("ETag", etag_quoted)
    if checksum_type:
        doc.elem("ChecksumType", checksum_type)
    _checksum_elems(doc, checksums)
    doc.close(tag)
    return doc.to_bytes()


def copy_part_result(etag_quoted: str, last_modified: float, checksums: dict[str, str]) -> bytes:
    """UploadPartCopy: ``CopyPartResult``."""
    return _copy_result("CopyPartResult", etag_quoted, last_modified, checksums, None)


def copy_object_result(
    etag_quoted: str,
    last_modified: float,
    checksums: dict[str, str],
    checksum_type: str | None = None,
) -> bytes:
    """CopyObject: ``CopyObjectResult``."""
    return _copy_result("CopyObjectResult", etag_quoted, last_modified, checksums, checksum_type)


def list_parts(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    part_number_marker: int,
    next_part_number_marker: int | None,
    max_parts: int,
    is_truncated: bool,
    parts: list,
    initiator: tuple[str, str],
    owner: tuple[str, str],
    storage_class: str = "STANDARD",
    checksum_algorithm: str | None = None,
    checksum_type: str | None = None,
) -> bytes:
    """ListParts: ``ListPartsResult``, in the element order of AWS's samples.

    ``parts`` have ``part_number``, ``last_modified``, ``etag`` (quoted or not), ``size``
    and ``checksums`` (algorithm -> base64), like ``gateway.s3.multipart.StoredPart``.
    """
    doc = Doc()
    doc.open("ListPartsResult", ns=True)
    doc.elem("Bucket", bucket)
    doc.elem("Key", key)
    doc.elem("UploadId", upload_id)
    _initiator(doc, initiator)
    doc.owner(owner)
    doc.elem("StorageClass", storage_class)
    doc.elem("PartNumberMarker", part_number_marker)
    if next_part_number_marker is not None:
        doc.elem("NextPartNumberMarker", next_part_number_marker)
    doc.elem("MaxParts", max_parts)
    doc.elem("IsTruncated", is_truncated)
    if checksum_algorithm:
        doc.elem("ChecksumAlgorithm", checksum_algorithm.upper())
    if checksum_type:
        doc.elem("ChecksumType", checksum_type)
    for part in parts:
        doc.open("Part")
        doc.elem("PartNumber", part.part_number)
        doc.elem("LastModified", iso8601(part.last_modified))
        doc.elem("ETag", _quoted(part.etag))
        doc.elem("Size", part.size)
        _checksum_elems(doc, part.checksums)
        doc.close("Part")
    doc.close("ListPartsResult")
    return doc.to_bytes()


@dataclass
class UploadEntry:
    """One in-progress upload, an ``<Upload>`` row of ListMultipartUploads."""

    key: str
    upload_id: str
    initiated: float
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None
    # (ID, DisplayName) of the key that started it; None: the listing's owner.
    initiator: tuple[str, str] | None = None


def list_uploads(
    *,
    bucket: str,
    key_marker: str | None,
    upload_id_marker: str | None,
    next_key_marker: str | None,
    next_upload_id_marker: str | None,
    max_uploads: int,
    is_truncated: bool,
    uploads: list[UploadEntry],
    common_prefixes: list[str],
    prefix: str | None,
    delimiter: str | None,
    encoding_type: str | None,
    owner: tuple[str, str],
) -> bytes:
    """ListMultipartUploads: ``ListMultipartUploadsResult``.

    With ``encoding_type='url'``, KeyMarker, NextKeyMarker, Prefix, Delimiter, keys and
    common prefixes are URL-encoded; upload ids never are. An upload's initiator is both
    its Initiator and its Owner (``owner`` where the entry names none).
    """
    enc = _key_encoder(encoding_type)
    doc = Doc()
    doc.open("ListMultipartUploadsResult", ns=True)
    doc.elem("Bucket", bucket)
    doc.elem("KeyMarker", enc(key_marker or ""))
    doc.elem("UploadIdMarker", upload_id_marker or "")
    doc.elem("NextKeyMarker", enc(next_key_marker or ""))
    doc.elem("NextUploadIdMarker", next_upload_id_marker or "")
    if delimiter:
        doc.elem("Delimiter", enc(delimiter))
    if prefix or delimiter:
        doc.elem("Prefix", enc(prefix or ""))
    doc.elem("MaxUploads", max_uploads)
    _encoding_type(doc, encoding_type)
    doc.elem("IsTruncated", is_truncated)
    for upload in uploads:
        doc.open("Upload")
        doc.elem("Key", enc(upload.key))
        doc.elem("UploadId", upload.upload_id)
        _initiator(doc, upload.initiator or owner)
        doc.owner(upload.initiator or owner)
        doc.elem("StorageClass", upload.storage_class)
        doc.elem("Initiated", iso8601(upload.initiated))
        if upload.checksum_algorithm:
            doc.elem("ChecksumAlgorithm", upload.checksum_algorithm.upper())
        doc.close("Upload")
    _common_prefixes(doc, common_prefixes, enc)
    doc.close("ListMultipartUploadsResult")
    return doc.to_bytes()


# -- versions, versioning, tagging, POST ---------------------------------------------------


@dataclass(frozen=True)
class VersionEntry:
    """One ``<Version>`` or ``<DeleteMarker>`` of ListObjectVersions."""

    key: str
    version_id: str
    is_latest: bool
    last_modified: float
    delete_marker: bool = False
    etag: str = ""  # already quoted
    size: int = 0
    storage_class: str = "STANDARD"


def list_object_versions(
    *,
    bucket: str,
    prefix: str,
    key_marker: str,
    version_id_marker: str,
    next_key_marker: str | None,
    next_version_id_marker: str | None,
    delimiter: str | None,
    max_keys: int,
    is_truncated: bool,
    versions: list[VersionEntry],
    common_prefixes: list[str],
    encoding_type: str | None,
    owner: tuple[str, str],
) -> bytes:
    """ListObjectVersions (``ListVersionsResult``): versions and delete markers
    in listing order (keys ascending, each key newest first)."""
    enc = _key_encoder(encoding_type)
    doc = Doc()
    doc.open("ListVersionsResult", ns=True)
    doc.elem("Name", bucket)
    doc.elem("Prefix", enc(prefix))
    doc.elem("KeyMarker", enc(key_marker))
    doc.elem("VersionIdMarker", version_id_marker)
    if is_truncated and next_key_marker is not None:
        doc.elem("NextKeyMarker", enc(next_key_marker))
        if next_version_id_marker is not None:
            doc.elem("NextVersionIdMarker", next_version_id_marker)
    _page_flags(doc, enc, max_keys, delimiter, encoding_type, is_truncated)
    for entry in versions:
        kind = "DeleteMarker" if entry.delete_marker else "Version"
        doc.open(kind)
        doc.elem("Key", enc(entry.key))
        doc.elem("VersionId", entry.version_id)
        doc.elem("IsLatest", entry.is_latest)
        doc.elem("LastModified", iso8601(entry.last_modified))
        if not entry.delete_marker:
            doc.elem("ETag", entry.etag)
            doc.elem("Size", entry.size)
            doc.elem("StorageClass", entry.storage_class)
        doc.owner(owner)
        doc.close(kind)
    _common_prefixes(doc, common_prefixes, enc)
    doc.close("ListVersionsResult")
    return doc.to_bytes()


def versioning_configuration(status: str | None) -> bytes:
    """GetBucketVersioning: no Status element for a bucket never versioned."""
    doc = Doc()
    doc.open("VersioningConfiguration", ns=True)
    if status:
        doc.elem("Status", status)
    doc.close("VersioningConfiguration")
    return doc.to_bytes()


def parse_tagging(body: bytes) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of a ``Tagging`` body, in document order.

    Only the structure is checked here (one TagSet; Tag elements with exactly one Key and one
    Value): anything else is ``MalformedXML``. gateway.s3.tagging checks the values.
    """
    root = parse_xml(body)
    if local_name(root.tag) != "Tagging":
        raise S3Error("MalformedXML")
    tag_sets = list(root)
    if len(tag_sets) != 1 or local_name(tag_sets[0].tag) != "TagSet":
        raise S3Error("MalformedXML")
    tags: list[tuple[str, str]] = []
    for tag in tag_sets[0]:
        if local_name(tag.tag) != "Tag":
            raise S3Error("MalformedXML")
        fields: dict[str, str] = {}
        for child in tag:
            name = local_name(child.tag)
            if name not in ("Key", "Value") or name in fields or len(child):
                raise S3Error("MalformedXML")
            fields[name] = child.text or ""
        if len(fields) != 2:
            raise S3Error("MalformedXML")
        tags.append((fields["Key"], fields["Value"]))
    return tags


def tagging(tags: list[tuple[str, str]]) -> bytes:
    """Get*Tagging: ``Tagging`` with its ``TagSet``."""
    doc = Doc()
    doc.open("Tagging", ns=True)
    doc.open("TagSet")
    for key, value in tags:
        doc.open("Tag")
        doc.elem("Key", key)
        doc.elem("Value", value)
        doc.close("Tag")
    doc.close("TagSet")
    doc.close("Tagging")
    return doc.to_bytes()


def post_response(location: str, bucket: str, key: str, etag_quoted: str) -> bytes:
    """PostObject with success_action_status 201: ``PostResponse`` (no namespace, as AWS)."""
    doc = Doc()
    doc.open("PostResponse")
    doc.elem("Location", location)
    doc.elem("Bucket", bucket)
    doc.elem("Key", key)
    doc.elem("ETag", etag_quoted)
    doc.close("PostResponse")
    return doc.to_bytes()


def policy_status(public: bool) -> bytes:
    """GetBucketPolicyStatus: ``PolicyStatus`` with IsPublic."""
    doc = Doc()
    doc.open("PolicyStatus", ns=True)
    doc.elem("IsPublic", public)
    doc.close("PolicyStatus")
    return doc.to_bytes()


PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
OBJECT_OWNERSHIP = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")


def parse_public_access_block(body: bytes) -> dict[str, bool]:
    """PutPublicAccessBlock: the four flags (absent ones false)."""
    root = parse_xml(body)
    if local_name(root.tag) != "PublicAccessBlockConfiguration":
        raise S3Error("MalformedXML")
    flags = dict.fromkeys(PUBLIC_ACCESS_FLAGS, False)
    for child in root:
        name, text = local_name(child.tag), (child.text or "").strip().lower()
        if name not in flags or text not in ("true", "false"):
            raise S3Error("MalformedXML")
        flags[name] = text == "true"
    return flags


def public_access_block(flags: dict[str, bool]) -> bytes:
    doc = Doc()
    doc.open("PublicAccessBlockConfiguration", ns=True)
    for name in PUBLIC_ACCESS_FLAGS:
        doc.elem(name, bool(flags.get(name)))
    doc.close("PublicAccessBlockConfiguration")
    return doc.to_bytes()


def parse_ownership_controls(body: bytes) -> str:
    """PutBucketOwnershipControls: the one rule's ObjectOwnership."""
    root = parse_xml(body)
    rules = [c for c in root if local_name(c.tag) == "Rule"]
    if local_name(root.tag) != "OwnershipControls" or len(rules) != 1:
        raise S3Error("MalformedXML")
    values = [(c.text or "").strip() for c in rules[0] if local_name(c.tag) == "ObjectOwnership"]
    if len(values) != 1 or values[0] not in OBJECT_OWNERSHIP:
        raise S3Error("MalformedXML")
    return values[0]


def ownership_controls(ownership: str) -> bytes:
    doc = Doc()
    doc.open("OwnershipControls", ns=True)
    doc.open("Rule")
    doc.elem("ObjectOwnership", ownership)
    doc.close("Rule")
    doc.close("OwnershipControls")
    return doc.to_bytes()


@dataclass
class ObjectAttributes:
    """What GetObjectAttributes answers; None fields were not asked for."""

    etag: str | None = None  # unquoted
    checksums: dict[str, str] | None = None  # algorithm → base64
    checksum_type: str | None = None
    # (part number, size, checksums: algorithm → base64) of this page
    parts: list[tuple[int, int, dict[str, str]]] | None = None
    total_parts: int = 0
    part_marker: int = 0
    next_part_marker: int | None = None
    max_parts: int = 1000
    storage_class: str | None = None
    size: int | None = None


def object_attributes(attributes: ObjectAttributes) -> bytes:
    """GetObjectAttributes: ``GetObjectAttributesResponse``."""
    doc = Doc()
    doc.open("GetObjectAttributesResponse", ns=True)
    if attributes.etag is not None:
        doc.elem("ETag", attributes.etag)
    if attributes.checksums:
        doc.open("Checksum")
        for algorithm, value in attributes.checksums.items():
            doc.elem(CHECKSUM_ELEMENTS[algorithm], value)
        if attributes.checksum_type:
            doc.elem("ChecksumType", attributes.checksum_type)
        doc.close("Checksum")
    if attributes.parts is not None:
        doc.open("ObjectParts")
        doc.elem("PartsCount", attributes.total_parts)  # TotalPartsCount to SDKs
        doc.elem("PartNumberMarker", attributes.part_marker)
        if attributes.next_part_marker is not None:
            doc.elem("NextPartNumberMarker", attributes.next_part_marker)
        doc.elem("MaxParts", attributes.max_parts)
        doc.elem("IsTruncated", attributes.next_part_marker is not None)
        for number, size, checksums in attributes.parts:
            doc.open("Part")
            doc.elem("PartNumber", number)
            doc.elem("Size", size)
            _checksum_elems(doc, checksums)
            doc.close("Part")
        doc.close("ObjectParts")
    if attributes.storage_class is not None:
        doc.elem("StorageClass", attributes.storage_class)
    if attributes.size is not None:
        doc.elem("ObjectSize", attributes.size)
    doc.close("GetObjectAttributesResponse")
    return doc.to_bytes()
