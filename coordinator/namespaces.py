"""Namespaces on the storage nodes besides buckets, and where their keys are placed.

Multipart parts live in a namespace of their own per bucket, `.parts/<bucket>`, under
the key `<upload id>/<part number>`; bucket names cannot start with '.', so these never
collide with a bucket. A part is placed with the object its upload will make, so
completing the upload composes the parts on each replica without copying bytes; the
upload record in etcd (coordinator/uploads.py) names that object's key.

Fragments of erasure-coded objects live in `.ec/<bucket>` (gateway/cluster/erasure.py), one
object per fragment with a single copy: the object's metadata names the node of each, so
the placement map does not place them and nodes never move or copy them as replicas.
"""

from __future__ import annotations

PARTS_PREFIX = ".parts/"
FRAGMENTS_PREFIX = ".ec/"


def parts_namespace(bucket: str) -> str:
    return PARTS_PREFIX + bucket


def part_key(upload_id: str, part_number: int) -> str:
    return f"{upload_id}/{part_number:05d}"


def part_of(namespace: str, key: str) -> tuple[str, str] | None:
    """(bucket, upload id) of a stored part, or None when (namespace, key) is no part."""
    if not namespace.startswith(PARTS_PREFIX):
        return None
    upload_id, slash, number = key.partition("/")
    bucket = namespace[len(PARTS_PREFIX) :]
    if not bucket or not upload_id or not slash or not number.isdigit():
        return None
    return bucket, upload_id


def fragments_namespace(bucket: str) -> str:
    return FRAGMENTS_PREFIX + bucket


def is_fragments(namespace: str) -> bool:
    """Whether namespace holds erasure-coded fragments (placed by their object's layout)."""
    return namespace.startswith(FRAGMENTS_PREFIX)


def bucket_of(namespace: str) -> str:
    """The bucket a namespace belongs to (itself for a bucket's own)."""
    for prefix in (PARTS_PREFIX, FRAGMENTS_PREFIX):
        if namespace.startswith(prefix):
            return namespace[len(prefix) :]
    return namespace
