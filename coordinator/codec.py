"""msgpack codecs for etcd records. Every record carries a schema version `v`."""

from __future__ import annotations

from typing import Any

import msgpack

SCHEMA_VERSION = 1


class CodecError(ValueError):
    """A stored record could not be decoded or has an unknown schema version."""


def encode(record: dict[str, Any]) -> bytes:
    """Encode a record, stamping the schema version."""
    return msgpack.packb({**record, "v": SCHEMA_VERSION}, use_bin_type=True)


def decode(data: bytes) -> dict[str, Any]:
    """Decode a record written by `encode`."""
    try:
        record = msgpack.unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise CodecError(f"undecodable record: {exc}") from exc
    if not isinstance(record, dict) or record.get("v") != SCHEMA_VERSION:
        raise CodecError(f"unknown record schema: {record!r:.80}")
    return record
