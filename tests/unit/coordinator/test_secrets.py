"""Encryption at rest of credential secrets (coordinator/secrets.py) and the credential
record helpers that use it."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from coordinator import credentials
from coordinator.codec import decode, encode
from coordinator.secrets import (
    KEY_SIZE,
    Cipher,
    ClusterKeyError,
    DecryptError,
    find_key,
    generate_key,
    load_key,
    read_key_file,
    write_key_file,
)


@pytest.fixture
def cipher() -> Cipher:
    return Cipher(generate_key())


def test_round_trip(cipher: Cipher) -> None:
    sealed = cipher.encrypt("s3cr3t/+Key", "AKID")
    assert b"s3cr3t" not in sealed
    assert cipher.decrypt(sealed, "AKID") == b"s3cr3t/+Key"


def test_random_nonce_makes_each_ciphertext_different(cipher: Cipher) -> None:
    assert cipher.encrypt("same", "AKID") != cipher.encrypt("same", "AKID")


def test_wrong_key_fails(cipher: Cipher) -> None:
    sealed = cipher.encrypt("secret", "AKID")
    with pytest.raises(DecryptError):
        Cipher(generate_key()).decrypt(sealed, "AKID")


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_tampered_ciphertext_fails(cipher: Cipher, position: int) -> None:
    sealed = bytearray(cipher.encrypt("secret", "AKID"))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptError):
        cipher.decrypt(bytes(sealed), "AKID")


def test_truncated_ciphertext_fails(cipher: Cipher) -> None:
    sealed = cipher.encrypt("secret", "AKID")
    for cut in (0, 5, len(sealed) - 1):
        with pytest.raises(DecryptError):
            cipher.decrypt(sealed[:cut], "AKID")


def test_associated_data_binds_ciphertext_to_its_access_key(cipher: Cipher) -> None:
    sealed = cipher.encrypt("secret", "AKID")
    with pytest.raises(DecryptError):
        cipher.decrypt(sealed, "OTHERKEY")


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(ClusterKeyError):
        Cipher(b"short")


def test_key_file_written_once_owner_only(tmp_path) -> None:
    path = tmp_path / "cluster.key"
    assert write_key_file(path)
    first = path.read_bytes()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not write_key_file(path)  # never overwritten: it encrypts every secret
    assert path.read_bytes() == first
    assert len(read_key_file(path)) == KEY_SIZE


def test_key_sources(tmp_path) -> None:
    key = generate_key()
    path = tmp_path / "k"
    path.write_text(base64.b64encode(key).decode() + "\n")
    raw = tmp_path / "raw"
    raw.write_bytes(key)
    assert read_key_file(raw) == key
    assert load_key(path, {}) == key
    assert load_key(None, {"TESSERA_CLUSTER_KEY_FILE": str(path)}) == key
    assert load_key(None, {"TESSERA_CLUSTER_KEY": base64.b64encode(key).decode()}) == key
    assert find_key(None, {}) is None
    with pytest.raises(ClusterKeyError, match="no cluster key"):
        load_key(None, {})
    with pytest.raises(ClusterKeyError, match="32 bytes"):
        load_key(None, {"TESSERA_CLUSTER_KEY": base64.b64encode(b"x" * 16).decode()})
    with pytest.raises(ClusterKeyError, match="base64"):
        load_key(None, {"TESSERA_CLUSTER_KEY": "not base64!"})
    with pytest.raises(ClusterKeyError, match="cannot read"):
        load_key(tmp_path / "missing", {})


# --- credential records ----------------------------------------------------------------


def test_record_stores_no_plaintext(cipher: Cipher) -> None:
    rec = credentials.record("AKID", "plain-secret-1", cipher, policy="readonly", description="")
    assert "secret" not in rec
    assert b"plain-secret-1" not in encode(rec)
    assert credentials.decrypt_secret(decode(encode(rec)), cipher) == "plain-secret-1"


def test_moved_ciphertext_does_not_decrypt(cipher: Cipher) -> None:
    rec = credentials.record("AKID", "plain-secret-1", cipher, policy="admin", description="")
    moved = {**rec, "access_key": "ATTACKER"}
    with pytest.raises(credentials.CredentialError):
        credentials.decrypt_secret(moved, cipher)


def test_legacy_plaintext_record_is_read_and_sealed(cipher: Cipher) -> None:
    legacy = {"access_key": "OLD", "secret": "old-secret", "enabled": True, "policy": "admin"}
    assert credentials.decrypt_secret(legacy, cipher) == "old-secret"
    sealed = credentials.seal(legacy, cipher)
    assert "secret" not in sealed
    assert credentials.decrypt_secret(sealed, cipher) == "old-secret"


def test_loader_decrypts_once_and_secret_of_refuses_disabled(cipher: Cipher) -> None:
    load = credentials.loader(cipher)
    rec = credentials.record("AKID", "plain-secret-1", cipher, policy="admin", description="")
    cred = load(rec)
    assert credentials.secret_of(cred) == "plain-secret-1"
    assert credentials.secret_of(load({**rec, "enabled": False})) is None
    assert credentials.secret_of(None) is None
    # Sealed under another key: unusable, but the cache keeps going.
    other = credentials.loader(Cipher(generate_key()))(rec)
    assert other.secret is None and credentials.secret_of(other) is None
    # No key at all: encrypted records are unusable, legacy plaintext still works.
    assert credentials.loader(None)(rec).secret is None


def test_validate() -> None:
    credentials.validate("GOODKEY", "longenough", "readonly")
    for bad in ("ab", "has/slash", "x" * 129, "spa ce"):
        with pytest.raises(credentials.CredentialError):
            credentials.validate(bad)
    with pytest.raises(credentials.CredentialError):
        credentials.validate("GOODKEY", "short")
    with pytest.raises(credentials.CredentialError):
        credentials.validate("GOODKEY", "longenough", "superuser")
