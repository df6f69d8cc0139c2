"""Credentials table: /tessera/credentials/<access key> → msgpack record.

A record holds `secret_enc`, the secret sealed with the cluster key (coordinator/secrets.py,
the access key as associated data), never the plaintext. Records written before encryption
at rest carry a plaintext `secret`: readers accept it, and every write (`put`,
`ensure_root`, `migrate`) replaces it with `secret_enc`.

Rotation (`rotate`) gives a key a new secret and keeps the one it replaces, sealed the same
way, in `previous_secret_enc` until `previous_expires` (epoch seconds): until then a gateway
accepts a signature made with either, and it compares that time with its own clock at every
request, so the old secret stops working on time with no etcd event. A key holds at most one
previous secret; records without these fields (all records before rotation existed) simply
have none. Any later write of the record drops a previous secret that has expired.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import etcd3

from coordinator import keys
from coordinator.codec import CodecError, decode, encode
from coordinator.secrets import Cipher, DecryptError

log = logging.getLogger(__name__)

_ACCESS_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
POLICIES = ("admin", "readwrite", "readonly")
ACCESS_KEY_RE = re.compile(r"^[A-Za-z0-9._-]{3,128}$")
SECRET_MIN, SECRET_MAX = 8, 128


class CredentialError(ValueError):
    """A credential operation that cannot be done (unknown key, bad input, wrong key)."""


def generate_keypair() -> tuple[str, str]:
    """Random AWS-shaped keys: 20-char access key, 40-char secret."""
    access = "TK" + "".join(secrets.choice(_ACCESS_ALPHABET) for _ in range(18))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return access, secret


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DISPLAY_NAME_MAX = 128


def validate_account(display_name: str, email: str) -> None:
    """A display name is printable text; an email address looks like one (or is empty)."""
    if len(display_name) > DISPLAY_NAME_MAX or not display_name.isprintable():
        raise CredentialError(
            f"display name must be at most {DISPLAY_NAME_MAX} printable characters"
        )
    if email and not EMAIL_RE.match(email):
        raise CredentialError(f"invalid email address {email!r}")


def validate(access_key: str, secret_key: str | None = None, policy: str | None = None) -> None:
    if not ACCESS_KEY_RE.match(access_key):
        raise CredentialError(
            f"invalid access key {access_key!r}: 3-128 characters of A-Z a-z 0-9 . _ -"
        )
    if secret_key is not None and not (SECRET_MIN <= len(secret_key) <= SECRET_MAX):
        raise CredentialError(f"secret key must be {SECRET_MIN}-{SECRET_MAX} characters long")
    if secret_key is not None and not secret_key.isprintable():
        raise CredentialError("secret key must be printable characters")
    if policy is not None and policy not in POLICIES:
        raise CredentialError(f"unknown policy {policy!r}: choose from {', '.join(POLICIES)}")


def record(
    access_key: str,
    secret_key: str,
    cipher: Cipher,
    *,
    policy: str,
    description: str,
    buckets: list[str] | None = None,
    display_name: str = "",
    email: str = "",
) -> dict[str, Any]:
    """A new credential's record. Its canonical user ID (ACL grants, Owner elements) is
    the access key; display_name (default: the access key) and email show in Owner and
    grant elements, and a grant by email address resolves to this key."""
    rec = {
        "buckets": list(buckets or []),
        "access_key": access_key,
        "secret_enc": cipher.encrypt(secret_key, access_key),
        "created_at": time.time(),
        "enabled": True,
        "description": description,
        "policy": policy,
        "owner": access_key,
    }
    if display_name:
        rec["display_name"] = display_name
    if email:
        rec["email"] = email.lower()
    return rec


def seal(rec: dict[str, Any], cipher: Cipher | None) -> dict[str, Any]:
    """rec without a plaintext `secret` (encrypted into `secret_enc` when there is one)."""
    if "secret" not in rec:
        return rec
    if cipher is None:
        raise CredentialError(f"{rec['access_key']}: a cluster key is needed to encrypt it")
    out = {k: v for k, v in rec.items() if k != "secret"}
    out["secret_enc"] = cipher.encrypt(rec["secret"], rec["access_key"])
    return out


def _open(rec: dict[str, Any], name: str, cipher: Cipher | None, what: str) -> str:
    if cipher is None:
        raise CredentialError(f"{rec['access_key']}: {what} is encrypted; no cluster key")
    try:
        return cipher.decrypt(rec[name], rec["access_key"]).decode()
    except DecryptError as exc:
        raise CredentialError(f"{rec['access_key']}: {what} {exc}") from None


def decrypt_secret(rec: dict[str, Any], cipher: Cipher | None) -> str:
    """The plaintext secret of a stored record (raises CredentialError if it cannot)."""
    if "secret_enc" in rec:
        return _open(rec, "secret_enc", cipher, "secret")
    if "secret" in rec:  # written before encryption at rest
        return str(rec["secret"])
    raise CredentialError(f"{rec['access_key']}: record has no secret")


def decrypt_previous(rec: dict[str, Any], cipher: Cipher | None) -> str:
    """The plaintext of the secret a rotation replaced (raises CredentialError if the
    record has none or it does not decrypt); whether it is still valid is previous_until's."""
    if rec.get("previous_secret_enc") is None:
        raise CredentialError(f"{rec['access_key']}: record has no previous secret")
    return _open(rec, "previous_secret_enc", cipher, "previous secret")


PREVIOUS_FIELDS = ("previous_secret_enc", "previous_expires")


def rotate(
    rec: dict[str, Any], new_secret: str, cipher: Cipher, grace: float, now: float
) -> dict[str, Any]:
    """rec with new_secret as its secret. The secret it had stays valid for `grace` seconds
    from `now` (not at all when grace <= 0); a previous secret it still had is dropped."""
    access = rec["access_key"]
    sealed = seal(rec, cipher)
    out = {k: v for k, v in sealed.items() if k not in PREVIOUS_FIELDS}
    out["secret_enc"] = cipher.encrypt(new_secret, access)
    out["rotated_at"] = now
    if grace > 0 and "secret_enc" in sealed:
        out["previous_secret_enc"] = sealed["secret_enc"]
        out["previous_expires"] = now + grace
    return out


def previous_until(rec: dict[str, Any], now: float) -> float | None:
    """When the previous secret of a stored record stops working, if it still works at now."""
    until = rec.get("previous_expires")
    if rec.get("previous_secret_enc") is None or not isinstance(until, int | float):
        return None
    return float(until) if now < until else None


def prune(rec: dict[str, Any], now: float) -> dict[str, Any]:
    """rec without its previous secret once that has expired (unchanged otherwise)."""
    if previous_until(rec, now) is not None or not any(f in rec for f in PREVIOUS_FIELDS):
        return rec
    return {k: v for k, v in rec.items() if k not in PREVIOUS_FIELDS}


def put(client: etcd3.Etcd3Client, rec: dict[str, Any], cipher: Cipher | None = None) -> None:
    client.put(keys.credential(rec["access_key"]), encode(seal(rec, cipher)))


def create(client: etcd3.Etcd3Client, rec: dict[str, Any]) -> bool:
    """Write rec only if its access key is unused. False if it exists."""
    key = keys.credential(rec["access_key"])
    ok, _ = client.transaction(
        compare=[client.transactions.version(key) == 0],
        success=[client.transactions.put(key, encode(seal(rec, None)))],
        failure=[],
    )
    return bool(ok)


def get(client: etcd3.Etcd3Client, access_key: str) -> dict[str, Any] | None:
    value, _ = client.get(keys.credential(access_key))
    return decode(value) if value is not None else None


def email_in_use(client: etcd3.Etcd3Client, email: str) -> bool:
    """Whether some key already has this email address (grants by email need one owner)."""
    return bool(email) and any(r.get("email") == email.lower() for r in get_all(client))


def get_all(client: etcd3.Etcd3Client) -> list[dict[str, Any]]:
    """Every decodable record, sorted by access key."""
    return get_all_with_revision(client)[0]


def get_all_with_revision(client: etcd3.Etcd3Client) -> tuple[list[dict[str, Any]], int]:
    """(every decodable record sorted by access key, the etcd revision of the latest
    write among them): a cache whose revision is older has missed a write."""
    out, latest = [], 0
    for value, meta in client.get_prefix(keys.CREDENTIALS):
        latest = max(latest, int(meta.mod_revision))
        try:
            out.append(decode(value))
        except CodecError as exc:
            log.warning("skipping bad credential record %s: %s", meta.key.decode(), exc)
    return sorted(out, key=lambda r: r.get("access_key", "")), latest


def update(
    client: etcd3.Etcd3Client,
    access_key: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    cipher: Cipher | None = None,
    attempts: int = 10,
) -> dict[str, Any]:
    """Read-modify-write one record, retried while someone else writes it meanwhile."""
    key = keys.credential(access_key)
    for _ in range(attempts):
        value, meta = client.get(key)
        if value is None:
            raise CredentialError(f"no such access key: {access_key}")
        new = prune(change(decode(value)), time.time())
        if cipher is not None:
            new = seal(new, cipher)
        ok, _ = client.transaction(
            compare=[client.transactions.mod(key) == meta.mod_revision],
            success=[client.transactions.put(key, encode(new))],
            failure=[],
        )
        if ok:
            return new
    raise CredentialError(f"{access_key}: changed concurrently too often; try again")


def delete(client: etcd3.Etcd3Client, access_key: str) -> bool:
    return bool(client.delete(keys.credential(access_key)))


def ensure_root(
    client: etcd3.Etcd3Client, access_key: str, secret_key: str, cipher: Cipher
) -> None:
    """Make the root credential exist, enabled, with this secret (idempotent). A plaintext
    record is re-encrypted. An existing record that this cluster key cannot decrypt is an
    error: the key is not the one the cluster's credentials were written with."""
    current = get(client, access_key)
    if current is not None:
        try:
            stored = decrypt_secret(current, cipher)
        except CredentialError as exc:
            raise CredentialError(
                f"root credential {access_key} does not decrypt with this cluster key "
                f"(is it the cluster's key?): {exc}"
            ) from None
        if stored == secret_key and current.get("enabled", True) and "secret" not in current:
            return
    put(client, record(access_key, secret_key, cipher, policy="admin", description="root"))


def migrate(client: etcd3.Etcd3Client, cipher: Cipher) -> list[str]:
    """Re-encrypt every record still holding a plaintext secret; the access keys changed."""
    changed = []
    for value, meta in client.get_prefix(keys.CREDENTIALS):
        try:
            rec = decode(value)
        except CodecError:
            continue
        if "secret" not in rec:
            continue
        key = meta.key.decode()
        ok, _ = client.transaction(
            compare=[client.transactions.mod(key) == meta.mod_revision],
            success=[client.transactions.put(key, encode(seal(rec, cipher)))],
            failure=[],
        )
        if ok:
            changed.append(rec["access_key"])
    if changed:
        log.info("encrypted plaintext secrets of %d credential(s)", len(changed))
    return changed


@dataclass(frozen=True)
class Credential:
    """A credential as a gateway caches it: the secret already decrypted (None when it
    did not decrypt), so the request path does no cryptography."""

    access_key: str
    secret: str | None
    enabled: bool
    policy: str
    # Bucket name patterns a non-admin key may use (`*` ends a prefix); empty:
    # the buckets it owns.
    buckets: tuple[str, ...] = ()
    # The secret a rotation replaced, accepted until previous_expires (epoch seconds).
    previous_secret: str | None = field(default=None, repr=False)
    previous_expires: float = 0.0
    # Shown in Owner and grant elements; the access key when the record names none.
    display_name: str = ""
    # Grants by email address resolve to this key (lower case; empty: none).
    email: str = ""


def loader(
    cipher: Cipher | None, clock: Callable[[], float] = time.time
) -> Callable[[dict[str, Any]], Credential]:
    """The PrefixCache convert function: decrypts once per record update."""

    def convert(rec: dict[str, Any]) -> Credential:
        try:
            secret: str | None = decrypt_secret(rec, cipher)
        except CredentialError as exc:
            log.error("credential unusable: %s", exc)
            secret = None
        previous: str | None = None
        expires = 0.0  # previous_expires is kept only with a usable previous secret
        until = previous_until(rec, clock())
        if until is not None:
            try:
                previous, expires = decrypt_previous(rec, cipher), until
            except CredentialError as exc:
                log.error("previous secret unusable: %s", exc)
        return Credential(
            access_key=rec["access_key"],
            secret=secret,
            enabled=bool(rec.get("enabled", True)),
            policy=str(rec.get("policy", "admin")),
            buckets=tuple(rec.get("buckets", ())),
            previous_secret=previous,
            previous_expires=expires,
            display_name=str(rec.get("display_name") or rec["access_key"]),
            email=str(rec.get("email", "")),
        )

    return convert


def secrets_of(cred: Credential | None, now: float) -> tuple[str, ...] | None:
    """The secrets a request may be signed with at `now`: the current one, then the one a
    rotation replaced while its grace period lasts. None when the key is missing,
    disabled or its secret did not decrypt (the client then gets InvalidAccessKeyId).
    This runs for every request: the common case is a one-element tuple."""
    if cred is None or not cred.enabled or cred.secret is None:
        return None
    if cred.previous_secret is not None and now < cred.previous_expires:
        return (cred.secret, cred.previous_secret)
    return (cred.secret,)


def secret_of(cred: Credential | None) -> str | None:
    """The usable secret of a cached credential, or None if missing, disabled or sealed
    under another key (the client then gets InvalidAccessKeyId, as S3 answers for an
    inactive key)."""
    if cred is None or not cred.enabled:
        return None
    return cred.secret
