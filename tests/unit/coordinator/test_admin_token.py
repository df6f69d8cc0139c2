"""The admin token (coordinator/admin_token.py) and the address helpers the daemons use
to place their admin and metrics ports (coordinator/addresses.py)."""

from __future__ import annotations

import base64
import os
import socket
import stat

import pytest

from coordinator import addresses, admin_token
from coordinator.secrets import generate_key


def test_token_is_derived_from_the_cluster_key() -> None:
    key = bytes(range(32))
    token = admin_token.derive(key)
    assert token == admin_token.derive(key)  # every gateway and tool computes the same
    assert len(token) == 64 and int(token, 16) >= 0
    assert token != admin_token.derive(generate_key())
    # It is not the key, nor anything that decrypts secrets: a MAC of a fixed label.
    assert base64.b64encode(key).decode() not in token and key.hex() != token


def test_token_from_file_env_or_cluster_key(tmp_path) -> None:
    key = generate_key()
    derived = admin_token.derive(key)
    path = tmp_path / "admin.token"
    assert admin_token.write_file(path, "t" * 40)
    assert not admin_token.write_file(path, "other")  # never overwritten
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    env_key = {"TESSERA_CLUSTER_KEY": base64.b64encode(key).decode()}
    assert admin_token.find(path, env_key) == "t" * 40
    assert admin_token.find(None, {"TESSERA_ADMIN_TOKEN_FILE": str(path), **env_key}) == "t" * 40
    assert admin_token.find(None, {"TESSERA_ADMIN_TOKEN": "e" * 32, **env_key}) == "e" * 32
    assert admin_token.find(None, env_key) == derived
    assert admin_token.find(None, {}) is None


def test_bad_tokens_are_refused(tmp_path) -> None:
    with pytest.raises(admin_token.AdminTokenError, match="at least"):
        admin_token.find(None, {"TESSERA_ADMIN_TOKEN": "short"})
    with pytest.raises(admin_token.AdminTokenError, match="cannot read"):
        admin_token.find(tmp_path / "missing", {})
    (tmp_path / "two").write_text("a" * 40 + " " + "b" * 40)
    with pytest.raises(admin_token.AdminTokenError, match="one word"):
        admin_token.read_file(tmp_path / "two")


def test_metadata_check() -> None:
    token = "x" * 64
    assert admin_token.authorized(admin_token.call_metadata(token), token)
    assert admin_token.authorized((("Authorization", "Bearer " + token),), token)
    assert not admin_token.authorized((), token)
    assert not admin_token.authorized(None, token)
    assert not admin_token.authorized((("authorization", token),), token)  # no scheme
    assert not admin_token.authorized((("authorization", "Bearer " + "y" * 64),), token)
    assert not admin_token.authorized((("x-token", "Bearer " + token),), token)


def test_neighbour_ports() -> None:
    assert addresses.neighbour("10.0.0.1:7100", 1) == "10.0.0.1:7101"
    assert addresses.neighbour("[::1]:7100", 2) == "[::1]:7102"
    with pytest.raises(ValueError):
        addresses.neighbour("10.0.0.1:65535", 1)
    with pytest.raises(ValueError):
        addresses.split("no-port")


def test_advertised_address() -> None:
    assert addresses.advertised("10.0.0.1:7101") == "10.0.0.1:7101"
    assert addresses.advertised("0.0.0.0:7101", "10.0.0.11:7100") == "10.0.0.11:7101"
    assert addresses.advertised("0.0.0.0:7101", "node1.example") == "node1.example:7101"
    assert addresses.advertised("[::]:7101") == f"{socket.gethostname()}:7101"
    assert addresses.dial("0.0.0.0:7101") == "127.0.0.1:7101"
    assert addresses.dial("10.0.0.1:7101") == "10.0.0.1:7101"


@pytest.mark.parametrize("value", ["off", "OFF", "none", " no ", "-"])
def test_off_switches(value: str) -> None:
    assert addresses.disabled(value)


@pytest.mark.parametrize("value", [None, "", "127.0.0.1:1"])
def test_not_off(value: str | None) -> None:
    assert not addresses.disabled(value)
