"""The object metadata the gateway stores with each version (opaque to nodes).

It is msgpack: ETag, content type, user metadata, the standard
representation headers and checksums, encoded compactly because listings
carry it for every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from gateway.s3.acl import ACL, PRIVATE
from gateway.s3.acl import decode as decode_acl
from gateway.s3.acl import encode as encode_acl
from gateway.s3.errors import S3Error

# Headers S3 stores and returns verbatim.
STORED_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
)
USER_META_PREFIX = "x-amz-meta-"
USER_META_LIMIT = 2048
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


@dataclass
class ObjectMeta:
    etag: str  # hex MD5 (or hex-N for multipart), without quotes
    content_type: str = DEFAULT_CONTENT_TYPE
    user: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    # Sizes of the parts of a multipart object, in order (empty otherwise).
    parts: list[int] = field(default_factory=list)
    # COMPOSITE or FULL_OBJECT for multipart checksums.
    checksum_type: str | None = None
    # Each part's checksum (base64) in the multipart upload's algorithm, in order.
    part_checksums: list[str] = field(default_factory=list)
    # Object tags (x-amz-tagging, PutObjectTagging).
    tags: dict[str, str] = field(default_factory=dict)
    # The object's ACL (gateway/s3/acl.py); None means private, owned by the bucket's owner.
    acl: ACL | None = None
    # Object lock (gateway/s3/object_lock.py): retention mode and until when, legal hold.
    lock_mode: str | None = None
    lock_until: str | None = None
    legal_hold: bool = False
    # Where an erasure-coded object's fragments are (gateway/cluster/erasure.py's layout
    # record, set and read by the cluster layer): kept as is through every rewrite.
    layout: list[dict[str, Any]] | None = None
    # The storage class asked for, when not STANDARD.
    storage_class: str | None = None

    def encode(self) -> bytes:
        record: dict[str, Any] = {"e": self.etag, "t": self.content_type}
        if self.user:
            record["u"] = self.user
        if self.headers:
            record["h"] = self.headers
        if self.checksums:
            record["c"] = self.checksums
        if self.parts:
            record["p"] = self.parts
        if self.checksum_type:
            record["k"] = self.checksum_type
        if self.part_checksums:
            record["pc"] = self.part_checksums
        if self.tags:
            record["g"] = self.tags
        if self.lock_mode is not None:
            record["lm"], record["lu"] = self.lock_mode, self.lock_until
        if self.legal_hold:
            record["lh"] = True
        if self.layout is not None:
            record["x"] = self.layout
        if self.storage_class is not None:
            record["sc"] = self.storage_class
        if self.acl is not None:
            stored = encode_acl(self.acl)
            if stored != PRIVATE:  # a canned name, or a map for anything else
                record["a"] = stored
        return msgpack.packb(record, use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes) -> ObjectMeta:
        record = msgpack.unpackb(data, raw=False) if data else {}
        return cls(
            etag=record.get("e", ""),
            content_type=record.get("t", DEFAULT_CONTENT_TYPE),
            user=record.get("u", {}),
            headers=record.get("h", {}),
            checksums=record.get("c", {}),
            parts=record.get("p", []),
            checksum_type=record.get("k"),
            part_checksums=record.get("pc", []),
            tags=record.get("g", {}),
            acl=decode_acl(record["a"]) if "a" in record else None,
            lock_mode=record.get("lm"),
            lock_until=record.get("lu"),
            legal_hold=bool(record.get("lh")),
            layout=record.get("x"),
            storage_class=record.get("sc"),
        )

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"'

    @property
    def storage_class_name(self) -> str:
        return self.storage_class or "STANDARD"


def listing_fields(data: bytes) -> tuple[str, str]:
    """(quoted ETag, storage class) of encoded metadata, without building the rest (a
    listing wants only these, a thousand times a page)."""
    record = msgpack.unpackb(data, raw=False) if data else {}
    return f'"{record.get("e", "")}"', record.get("sc") or "STANDARD"


def from_request_headers(headers: dict[str, str]) -> ObjectMeta:
    """Content type, stored headers and user metadata of a PUT (etag filled later)."""
    user = {
        name[len(USER_META_PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(USER_META_PREFIX)
    }
    if sum(len(k) + len(v) for k, v in user.items()) > USER_META_LIMIT:
        raise S3Error(
            "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size."
        )
    stored = {name: headers[name] for name in STORED_HEADERS if name in headers}
    encoding = stored.get("content-encoding")
    if encoding is not None and "aws-chunked" in encoding.lower():
        # aws-chunked describes the upload framing, not the object; any other list is
        # kept exactly as sent.
        kept = [e.strip() for e in encoding.split(",") if e.strip().lower() != "aws-chunked"]
        if kept:
            stored["content-encoding"] = ",".join(kept)
        else:
            del stored["content-encoding"]
    return ObjectMeta(
        etag="",
        content_type=headers.get("content-type") or DEFAULT_CONTENT_TYPE,
        user=user,
        headers=stored,
    )
