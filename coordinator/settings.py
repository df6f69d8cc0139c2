"""Cluster settings: /tessera/settings/<name> → msgpack {"value": ...}.

Every setting has a default here; operators (and tests) override it in etcd
and every process sees the change through its cache.
"""

from __future__ import annotations

from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import decode, encode

DEFAULTS: dict[str, Any] = {
    # Seconds an incomplete multipart upload lives without new parts.
    "multipart_upload_ttl": 7 * 24 * 3600,
    # Seconds between two passes of the upload reaper.
    "reaper_interval": 60,
    # Parts older than this with no upload record are orphans (seconds).
    "orphan_part_grace": 300,
    # Seconds between two passes of the lifecycle worker.
    "lifecycle_interval": 3600,
    # How long a "day" of a lifecycle rule lasts, in seconds (tests shorten it).
    "lifecycle_day_seconds": 86400,
    # Seconds between two passes of the fragment keeper (gateway/cluster/fragment_keeper.py).
    "fragment_interval": 300,
    # A fragment set younger than this (seconds) is left alone: its write may be going on.
    "fragment_grace": 3600,
    # S3 storage class → storage mode record (coordinator/storage_mode.py) for objects
    # written with x-amz-storage-class; a class not named is stored the bucket's way.
    "storage_classes": {},
}


def put(client: etcd3.Etcd3Client, name: str, value: Any) -> None:
    if name not in DEFAULTS:
        raise KeyError(f"unknown setting {name!r}")
    client.put(keys.setting(name), encode({"value": value}))


def get(client: etcd3.Etcd3Client, name: str) -> Any:
    value, _ = client.get(keys.setting(name))
    return decode(value)["value"] if value is not None else DEFAULTS[name]


def from_cache(records: dict[str, dict[str, Any]], name: str) -> Any:
    """A setting from a PrefixCache over keys.SETTINGS."""
    record = records.get(name)
    return record["value"] if record is not None else DEFAULTS[name]
