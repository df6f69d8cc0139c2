"""Credentials table: /tessera/credentials/<access key> → msgpack record."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import decode, encode

_ACCESS_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def generate_keypair() -> tuple[str, str]:
    """Random AWS-shaped keys: 20-char access key, 40-char secret."""
    access = "TK" + "".join(secrets.choice(_ACCESS_ALPHABET) for _ in range(18))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return access, secret


def record(access_key: str, secret_key: str, *, policy: str, description: str) -> dict[str, Any]:
    return {
        "access_key": access_key,
        "secret": secret_key,
        "created_at": time.time(),
        "enabled": True,
        "description": description,
        "policy": policy,
        "owner": access_key,
    }


def put(client: etcd3.Etcd3Client, rec: dict[str, Any]) -> None:
    client.put(keys.credential(rec["access_key"]), encode(rec))


def get(client: etcd3.Etcd3Client, access_key: str) -> dict[str, Any] | None:
    value, _ = client.get(keys.credential(access_key))
    return decode(value) if value is not None else None


def ensure_root(client: etcd3.Etcd3Client, access_key: str, secret_key: str) -> None:
    """Make the root credential exist with this secret (idempotent)."""
    current = get(client, access_key)
    if current and current["secret"] == secret_key and current["enabled"]:
        return
    put(client, record(access_key, secret_key, policy="admin", description="root"))


def secret_of(rec: dict[str, Any] | None) -> str | None:
    """The usable secret of a cached record, or None if missing or disabled."""
    if not rec or not rec.get("enabled", True):
        return None
    return rec["secret"]
