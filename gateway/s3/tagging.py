"""Tag sets: the x-amz-tagging header, the Tagging XML document, AWS's limits."""

from __future__ import annotations

from urllib.parse import unquote_plus

from gateway.s3 import xml
from gateway.s3.errors import S3Error

OBJECT_TAG_LIMIT = 10
BUCKET_TAG_LIMIT = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256


def validate(tags: list[tuple[str, str]], limit: int) -> dict[str, str]:
    """Check AWS's tag rules; returns the tags as a dict."""
    if len(tags) > limit:
        raise S3Error("BadRequest", f"Object tags cannot be greater than {limit}")
    result: dict[str, str] = {}
    for key, value in tags:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if len(value) > MAX_VALUE_LENGTH:
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:")
        if key in result:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
        result[key] = value
    return result


def parse_header(value: str | None, limit: int = OBJECT_TAG_LIMIT) -> dict[str, str]:
    """x-amz-tagging: `k1=v1&k2=v2`, URL-encoded like a query string."""
    if not value:
        return {}
    pairs = []
    for part in value.split("&"):
        if not part:
            continue
        key, _, val = part.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(val)))
    return validate(pairs, limit)


def parse_document(body: bytes, limit: int) -> dict[str, str]:
    """A `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` request body."""
    root = xml.parse_xml(body)
    if xml._local(root.tag) != "Tagging":
        raise S3Error("MalformedXML")
    pairs: list[tuple[str, str]] = []
    for tag_set in root:
        if xml._local(tag_set.tag) != "TagSet":
            raise S3Error("MalformedXML")
        for tag in tag_set:
            fields = {xml._local(f.tag): f.text or "" for f in tag}
            if xml._local(tag.tag) != "Tag" or "Key" not in fields:
                raise S3Error("MalformedXML")
            pairs.append((fields["Key"], fields.get("Value", "")))
    return validate(pairs, limit)


def render(tags: dict[str, str]) -> bytes:
    """The Tagging document returned by Get*Tagging."""
    doc = xml._Doc()
    doc.open("Tagging", ns=True)
    doc.open("TagSet")
    for key, value in tags.items():
        doc.open("Tag")
        doc.elem("Key", key)
        doc.elem("Value", value)
        doc.close("Tag")
    doc.close("TagSet")
    doc.close("Tagging")
    return doc.to_bytes()
