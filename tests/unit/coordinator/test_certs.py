"""Cluster certificates (coordinator/certs.py, `tessera cert`): a CA, host certificates
it signs, checks that say what is wrong, and a real gRPC handshake with mutual TLS that
accepts the cluster's certificates and refuses another CA's."""

from __future__ import annotations

import datetime as dt
import json
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from coordinator import certs
from tools import cert_files, cli

NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def test_a_host_certificate_names_its_hosts_and_checks_against_its_ca() -> None:
    ca_key, ca_cert = certs.new_ca("alpha", now=NOW)
    key, cert = certs.issue(ca_key, ca_cert, "node1", ["10.0.0.1", "node1.example"], now=NOW)
    facts = certs.describe(cert)
    assert set(facts.hosts) == {"node1", "node1.example", "10.0.0.1"}
    assert not facts.is_ca and certs.describe(ca_cert).is_ca
    assert b"PRIVATE KEY" in key
    certs.verify(cert, ca_cert, now=NOW + dt.timedelta(days=1))

    with pytest.raises(certs.CertError, match="expired on"):
        certs.verify(cert, ca_cert, now=NOW + dt.timedelta(days=certs.HOST_DAYS + 1))
    with pytest.raises(certs.CertError, match="not valid before"):
        certs.verify(cert, ca_cert, now=NOW - dt.timedelta(days=1))
    _, other_ca = certs.new_ca("beta", now=NOW)
    with pytest.raises(certs.CertError, match="another CA"):
        certs.verify(cert, other_ca, now=NOW)
    with pytest.raises(certs.CertError, match="not a PEM certificate"):
        certs.describe(b"garbage")


def test_the_command_makes_keys_only_their_owner_reads(tmp_path: Path, capsys) -> None:
    tls = tmp_path / "tls"
    assert cli.main(["cert", "init", "--dir", str(tls)]) == 0
    assert cli.main(["cert", "init", "--dir", str(tls)]) == 1  # no silent replacement
    assert "exists" in capsys.readouterr().err
    assert cli.main(["cert", "issue", "node1", "--host", "127.0.0.1", "--dir", str(tls)]) == 0
    for name in ("ca.key", "node1.key"):
        assert (tls / name).stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert cli.main(["cert", "list", "--dir", str(tls), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["ca"], r["valid"]) for r in rows] == [
        ("ca", True, True),
        ("node1", False, True),
    ]
    assert set(rows[1]["hosts"]) == {"node1", "127.0.0.1"}
    assert cli.main(["cert", "issue", "../x", "--dir", str(tls)]) == 1
    assert cli.main(["cert", "issue", "n", "--dir", str(tmp_path / "none")]) == 1
    assert "cert init" in capsys.readouterr().err


def _echo_server(tls: Path) -> tuple[grpc.Server, int]:
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(lambda request, ctx: request)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    credentials = grpc.ssl_server_credentials(
        [((tls / "server.key").read_bytes(), (tls / "server.crt").read_bytes())],
        root_certificates=(tls / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port


def _say(port: int, ca: Path, key: Path | None, cert: Path | None) -> bytes:
    credentials = grpc.ssl_channel_credentials(
        ca.read_bytes(),
        key.read_bytes() if key else None,
        cert.read_bytes() if cert else None,
    )
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        say = channel.unary_unary("/test.Echo/Say")
        return say(b"hello", timeout=5)


def test_mutual_tls_accepts_the_clusters_certificates_and_refuses_others(
    tmp_path: Path,
) -> None:
    tls, other = tmp_path / "tls", tmp_path / "other"
    cert_files.init(tls, "alpha")
    cert_files.issue(tls, "server", ["127.0.0.1"])
    cert_files.issue(tls, "client", [])
    cert_files.init(other, "beta")
    cert_files.issue(other, "intruder", [])
    server, port = _echo_server(tls)
    try:
        assert _say(port, tls / "ca.crt", tls / "client.key", tls / "client.crt") == b"hello"
        for key, cert in ((other / "intruder.key", other / "intruder.crt"), (None, None)):
            with pytest.raises(grpc.RpcError) as refused:
                _say(port, tls / "ca.crt", key, cert)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(grace=None)


def test_a_ca_file_may_hold_the_old_and_the_new_ca_while_the_ca_is_rotated() -> None:
    old_key, old_ca = certs.new_ca("alpha", now=NOW)
    new_key, new_ca = certs.new_ca("alpha", now=NOW)  # same name, new key
    _, old_cert = certs.issue(old_key, old_ca, "n", [], now=NOW)
    _, new_cert = certs.issue(new_key, new_ca, "n", [], now=NOW)
    with pytest.raises(certs.CertError, match="same name"):
        certs.verify(new_cert, old_ca, now=NOW)
    for cert in (old_cert, new_cert):
        certs.verify(cert, old_ca + new_ca, now=NOW)


def test_tls_files_take_up_a_replaced_certificate_and_ignore_an_unusable_one(
    tmp_path: Path,
) -> None:
    from coordinator import tls

    cert_files.init(tmp_path, "alpha")
    cert_files.issue(tmp_path, "n", ["127.0.0.1"])
    files = tls.TlsFiles(tmp_path / "ca.crt", tmp_path / "n.crt", tmp_path / "n.key")
    first = files.material
    assert not files.reload() and files.generation == 0

    # A new certificate whose key is not written yet: ignored, the old set stays.
    key, cert = certs.issue(
        (tmp_path / "ca.key").read_bytes(), (tmp_path / "ca.crt").read_bytes(), "n", []
    )
    (tmp_path / "n.crt").write_bytes(cert)
    assert not files.reload() and files.material is first
    (tmp_path / "n.key").write_bytes(key)
    assert files.reload() and files.generation == 1
    assert files.material.cert == cert
