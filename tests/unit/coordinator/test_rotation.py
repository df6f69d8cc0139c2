"""Secret rotation in credential records (coordinator/credentials.py): the previous secret,
its expiry decided at request time, and records written before rotation existed."""

from __future__ import annotations

import msgpack
import pytest

from coordinator import credentials
from coordinator.codec import decode, encode
from coordinator.secrets import Cipher, generate_key

T0 = 1_700_000_000.0


@pytest.fixture
def cipher() -> Cipher:
    return Cipher(generate_key())


def _rec(cipher: Cipher, secret: str = "first-secret-1") -> dict:
    return credentials.record("AKID", secret, cipher, policy="readwrite", description="d")


def test_rotate_keeps_the_old_secret_for_the_grace_period(cipher: Cipher) -> None:
    rotated = credentials.rotate(_rec(cipher), "second-secret", cipher, 3600, T0)
    stored = decode(encode(rotated))
    assert credentials.decrypt_secret(stored, cipher) == "second-secret"
    assert credentials.decrypt_previous(stored, cipher) == "first-secret-1"
    assert credentials.previous_until(stored, T0) == T0 + 3600
    assert credentials.previous_until(stored, T0 + 3599.9) == T0 + 3600
    assert credentials.previous_until(stored, T0 + 3600) is None
    assert stored["rotated_at"] == T0
    # Everything else is kept; nothing in the record reveals either secret.
    assert (stored["policy"], stored["description"], stored["enabled"]) == ("readwrite", "d", True)
    assert b"first-secret" not in encode(rotated) and b"second-secret" not in encode(rotated)


def test_grace_zero_keeps_no_previous_secret(cipher: Cipher) -> None:
    rotated = credentials.rotate(_rec(cipher), "second-secret", cipher, 0, T0)
    assert not any(f in rotated for f in credentials.PREVIOUS_FIELDS)
    assert credentials.previous_until(rotated, T0) is None


def test_rotating_again_drops_the_oldest_secret(cipher: Cipher) -> None:
    once = credentials.rotate(_rec(cipher), "second-secret", cipher, 3600, T0)
    twice = credentials.rotate(once, "third-secret-3", cipher, 60, T0 + 10)
    assert credentials.decrypt_secret(twice, cipher) == "third-secret-3"
    assert credentials.decrypt_previous(twice, cipher) == "second-secret"
    assert credentials.previous_until(twice, T0 + 10) == T0 + 70
    # And with no grace, the replaced one goes too.
    thrice = credentials.rotate(twice, "fourth-secret", cipher, 0, T0 + 20)
    assert credentials.previous_until(thrice, T0 + 20) is None


def test_rotating_a_legacy_plaintext_record_seals_both(cipher: Cipher) -> None:
    legacy = {"access_key": "AKID", "secret": "legacy-secret", "enabled": True}
    rotated = credentials.rotate(legacy, "second-secret", cipher, 60, T0)
    assert "secret" not in rotated
    assert b"legacy-secret" not in encode(rotated)
    assert credentials.decrypt_previous(rotated, cipher) == "legacy-secret"


def test_previous_secret_is_bound_to_its_access_key(cipher: Cipher) -> None:
    rotated = credentials.rotate(_rec(cipher), "second-secret", cipher, 60, T0)
    with pytest.raises(credentials.CredentialError):
        credentials.decrypt_previous({**rotated, "access_key": "ATTACKER"}, cipher)


def test_prune_drops_only_an_expired_previous_secret(cipher: Cipher) -> None:
    rotated = credentials.rotate(_rec(cipher), "second-secret", cipher, 60, T0)
    assert credentials.prune(rotated, T0 + 59) is rotated
    pruned = credentials.prune(rotated, T0 + 60)
    assert not any(f in pruned for f in credentials.PREVIOUS_FIELDS)
    assert credentials.decrypt_secret(pruned, cipher) == "second-secret"
    plain = _rec(cipher)
    assert credentials.prune(plain, T0) is plain


def test_gateway_view_checks_expiry_at_request_time(cipher: Cipher) -> None:
    rotated = credentials.rotate(_rec(cipher), "second-secret", cipher, 60, T0)
    cred = credentials.loader(cipher, clock=lambda: T0 + 1)(decode(encode(rotated)))
    assert cred.previous_expires == T0 + 60
    assert credentials.secrets_of(cred, T0 + 1) == ("second-secret", "first-secret-1")
    assert credentials.secrets_of(cred, T0 + 59.99) == ("second-secret", "first-secret-1")
    # No etcd event needed: the same cached entry refuses the old secret after expiry.
    assert credentials.secrets_of(cred, T0 + 60) == ("second-secret",)
    # Disabled: nothing, grace or not.
    disabled = credentials.loader(cipher, clock=lambda: T0)({**rotated, "enabled": False})
    assert credentials.secrets_of(disabled, T0) is None
    # Loaded after the grace period ended: the previous secret is not even decrypted.
    late = credentials.loader(cipher, clock=lambda: T0 + 61)(rotated)
    assert late.previous_secret is None and credentials.secrets_of(late, T0) == ("second-secret",)
    # The previous secret never shows in a repr (logs).
    assert "first-secret" not in repr(cred)


def test_previous_secret_sealed_under_another_key_is_ignored(cipher: Cipher) -> None:
    rotated = credentials.rotate(_rec(cipher), "second-secret", cipher, 60, T0)
    other = Cipher(generate_key())
    rotated["previous_secret_enc"] = other.encrypt("first-secret-1", "AKID")
    cred = credentials.loader(cipher, clock=lambda: T0)(rotated)
    assert credentials.secrets_of(cred, T0) == ("second-secret",)


def test_records_from_before_rotation_still_load(cipher: Cipher) -> None:
    """A record exactly as the previous release wrote it (schema v1, no rotation fields)."""
    old_bytes = msgpack.packb(
        {
            "buckets": [],
            "access_key": "AKID",
            "secret_enc": cipher.encrypt("first-secret-1", "AKID"),
            "created_at": T0,
            "enabled": True,
            "description": "",
            "policy": "admin",
            "owner": "AKID",
            "v": 1,
        },
        use_bin_type=True,
    )
    rec = decode(old_bytes)
    assert credentials.previous_until(rec, T0) is None
    cred = credentials.loader(cipher)(rec)
    assert cred.previous_secret is None
    assert credentials.secrets_of(cred, T0) == ("first-secret-1",)
    assert credentials.secret_of(cred) == "first-secret-1"
    # Rotating it is a plain write of the same schema version.
    rotated = decode(encode(credentials.rotate(rec, "second-secret", cipher, 5, T0)))
    assert rotated["v"] == 1 and credentials.previous_until(rotated, T0) == T0 + 5
