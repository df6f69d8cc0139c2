"""Credential management for the console (admin keys): the same etcd records and rules
as `tessera credential` (coordinator/credentials.py). A new or rotated secret is returned
once and never stored in plain text."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from coordinator import credentials, usage
from coordinator.credentials import CredentialError
from gateway.state import Gateway


async def _etcd(gateway: Gateway, fn: Callable[..., Any], *args: Any) -> Any:
    return await gateway.etcd_call(fn, *args, answers=(CredentialError,))


def _row(rec: dict[str, Any], use: dict[str, Any] | None, now: float) -> dict[str, Any]:
    use = use or {}
    return {
        "access_key": rec["access_key"],
        "policy": rec.get("policy", ""),
        "disabled": not rec.get("enabled", True),
        "display_name": rec.get("display_name") or rec["access_key"],
        "email": rec.get("email", ""),
        "description": rec.get("description", ""),
        "buckets": list(rec.get("buckets", ())),
        "created": rec.get("created_at"),
        "previous_secret_until": credentials.previous_until(rec, now),
        "requests": int(use.get("requests", 0)) if use else None,
        "last_used": use.get("last_used") or None,
    }


async def listed(gateway: Gateway, now: float) -> list[dict[str, Any]]:
    """Every credential with its use as the gateways last reported it."""

    def read(client: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        return credentials.get_all(client), usage.merge(usage.reports(client))

    records, uses = await _etcd(gateway, read)
    return [_row(rec, uses.get(rec["access_key"]), now) for rec in records]


async def create(
    gateway: Gateway,
    *,
    policy: str,
    display_name: str,
    email: str,
    buckets: list[str],
    by: str,
) -> dict[str, Any]:
    """A new key with a random secret (returned this once); a non-admin key may use the
    buckets it owns and those the patterns name (`*` ends a prefix)."""
    if gateway.cipher is None:
        raise CredentialError("this gateway has no cluster key")
    cipher = gateway.cipher
    access, secret = credentials.generate_keypair()
    credentials.validate(access, secret, policy)
    credentials.validate_account(display_name, email)

    def write(client: Any) -> bool:
        if credentials.email_in_use(client, email):
            raise CredentialError(f"another key already has the email address {email}")
        rec = credentials.record(
            access,
            secret,
            cipher,
            policy=policy,
            description=f"made in the web console by {by}",
            buckets=buckets,
            display_name=display_name,
            email=email,
        )
        return credentials.create(client, rec)

    if not await _etcd(gateway, write):
        raise CredentialError(f"access key {access} already exists; try again")
    return {"access_key": access, "secret_key": secret, "policy": policy}


async def set_enabled(gateway: Gateway, access_key: str, enabled: bool) -> dict[str, Any]:
    def change(rec: dict[str, Any]) -> dict[str, Any]:
        return {**rec, "enabled": enabled}

    rec = await _etcd(gateway, credentials.update, access_key, change, gateway.cipher)
    return _row(rec, None, time.time())


async def rotate(gateway: Gateway, access_key: str, grace: float) -> dict[str, Any]:
    """A new secret for the key; the old one still works for `grace` seconds."""
    if gateway.cipher is None:
        raise CredentialError("this gateway has no cluster key")
    cipher = gateway.cipher
    _, secret = credentials.generate_keypair()
    now = time.time()

    def change(rec: dict[str, Any]) -> dict[str, Any]:
        return credentials.rotate(rec, secret, cipher, grace, now)

    rec = await _etcd(gateway, credentials.update, access_key, change, cipher)
    return {
        "access_key": access_key,
        "secret_key": secret,
        "previous_secret_until": credentials.previous_until(rec, now),
    }


async def delete(gateway: Gateway, access_key: str) -> None:
    if not await _etcd(gateway, credentials.delete, access_key):
        raise CredentialError(f"no such access key: {access_key}")
