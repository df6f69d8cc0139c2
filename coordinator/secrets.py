"""Encryption at rest for credential secrets: AES-256-GCM under the cluster key.

The cluster key is 32 random bytes, shared by every gateway and by `tessera credential`.
It comes from a file (`--cluster-key-file` / TESSERA_CLUSTER_KEY_FILE; the file holds the
key in base64, or the 32 raw bytes) or from TESSERA_CLUSTER_KEY (base64). `tessera cluster
up` writes `<data_dir>/cluster.key` (mode 0600) once.

A sealed value is ``VERSION (1 byte) || nonce (12 random bytes) || ciphertext+tag``. The
caller passes associated data (the access key for a credential): a ciphertext copied to
another record does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE = 32
NONCE_SIZE = 12
VERSION = b"\x01"
KEY_FILE_ENV = "TESSERA_CLUSTER_KEY_FILE"
KEY_ENV = "TESSERA_CLUSTER_KEY"


class ClusterKeyError(ValueError):
    """The cluster key is missing, unreadable or malformed."""


class DecryptError(ValueError):
    """A sealed value did not decrypt: wrong key, wrong associated data, or tampered."""


def generate_key() -> bytes:
    return os.urandom(KEY_SIZE)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def parse_key(data: bytes | str, where: str = "cluster key") -> bytes:
    """A 32-byte key from base64 text (or, from a file, the 32 raw bytes)."""
    if isinstance(data, bytes) and len(data) == KEY_SIZE:
        return data
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ClusterKeyError(f"{where}: not base64 ({exc})") from None
    if len(key) != KEY_SIZE:
        raise ClusterKeyError(f"{where}: must be {KEY_SIZE} bytes, found {len(key)}")
    return key


def read_key_file(path: Path | str) -> bytes:
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClusterKeyError(f"cannot read cluster key file {path}: {exc.strerror}") from None
    return parse_key(data, f"cluster key file {path}")


def write_private_file(path: Path | str, text: str) -> bool:
    """Create path holding text, readable by its owner only, and sync it to disk. False
    if it exists: a key or token file is never overwritten."""
    try:
        fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def write_key_file(path: Path | str) -> bool:
    """Create path with a new random key, readable by its owner only. False if it exists."""
    return write_private_file(path, encode_key(generate_key()) + "\n")


def load_key(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> bytes:
    """The cluster key from path, else $TESSERA_CLUSTER_KEY_FILE, else $TESSERA_CLUSTER_KEY.
    Raises ClusterKeyError when none is configured or it is malformed."""
    key = find_key(path, environ)
    if key is None:
        raise ClusterKeyError(
            f"no cluster key: give --cluster-key-file, or set {KEY_FILE_ENV} "
            f"or {KEY_ENV} (base64 of {KEY_SIZE} random bytes)"
        )
    return key


def find_key(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> bytes | None:
    """Like load_key, but None when no key is configured at all."""
    environ = os.environ if environ is None else environ
    if path:
        return read_key_file(path)
    if environ.get(KEY_FILE_ENV):
        return read_key_file(environ[KEY_FILE_ENV])
    if environ.get(KEY_ENV):
        return parse_key(environ[KEY_ENV], f"${KEY_ENV}")
    return None


class Cipher:
    """AES-GCM under one cluster key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ClusterKeyError(f"cluster key must be {KEY_SIZE} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes | str, associated: bytes | str) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(NONCE_SIZE)
        return VERSION + nonce + self._aead.encrypt(nonce, data, _bytes(associated))

    def decrypt(self, sealed: bytes, associated: bytes | str) -> bytes:
        if not isinstance(sealed, bytes | bytearray) or len(sealed) < 1 + NONCE_SIZE + 16:
            raise DecryptError("sealed value too short")
        if sealed[:1] != VERSION:
            raise DecryptError(f"unknown sealed-value version {sealed[0]}")
        nonce, body = sealed[1 : 1 + NONCE_SIZE], sealed[1 + NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, bytes(body), _bytes(associated))
        except InvalidTag:
            raise DecryptError(
                "does not decrypt: wrong cluster key, or the value was altered or moved"
            ) from None


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
