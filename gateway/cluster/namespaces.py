"""Where things are stored on the nodes besides plain objects.

Multipart parts live in a namespace of their own per bucket; bucket names
cannot start with '.', so these never collide with a bucket.
"""

from __future__ import annotations

PARTS_PREFIX = ".parts/"


def parts_namespace(bucket: str) -> str:
    return PARTS_PREFIX + bucket


def part_key(upload_id: str, part_number: int) -> str:
    return f"{upload_id}/{part_number:05d}"
