"""The files of `tessera cert`: a directory with the cluster's CA (ca.key, ca.crt) and
a key and certificate per host (<name>.key, <name>.crt). Keys are written mode 0600
from their first byte."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from coordinator import certs

CA_KEY, CA_CERT = "ca.key", "ca.crt"


def _write(path: Path, data: bytes, secret: bool) -> None:
    """Write a file whole (a key readable by its owner only, from the first byte)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def init(directory: Path, cluster: str, force: bool = False) -> Path:
    """Create the CA in directory; its certificate's path."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CA_KEY).exists() and not force:
        raise certs.CertError(f"{directory / CA_KEY} exists; --force replaces it")
    key, cert = certs.new_ca(cluster)
    _write(directory / CA_KEY, key, secret=True)
    _write(directory / CA_CERT, cert, secret=False)
    return directory / CA_CERT


def issue(directory: Path, name: str, hosts: list[str], days: int = certs.HOST_DAYS) -> Path:
    """Create <name>.key and <name>.crt signed by the CA in directory; the cert's path."""
    if not name or "/" in name or name.startswith(".") or name == "ca":
        raise certs.CertError(f"{name!r} cannot name a certificate")
    try:
        ca_key = (directory / CA_KEY).read_bytes()
        ca_cert = (directory / CA_CERT).read_bytes()
    except FileNotFoundError:
        raise certs.CertError(f"no CA in {directory}: run `tessera cert init` first") from None
    key, cert = certs.issue(ca_key, ca_cert, name, hosts, days)
    _write(directory / f"{name}.key", key, secret=True)
    _write(directory / f"{name}.crt", cert, secret=False)
    return directory / f"{name}.crt"


def listing(directory: Path, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every certificate in directory, the CA first, each checked against the CA."""
    ca_path = directory / CA_CERT
    if not ca_path.exists():
        raise certs.CertError(f"no CA in {directory}: run `tessera cert init` first")
    ca_pem = ca_path.read_bytes()
    rows = []
    paths = [ca_path] + sorted(p for p in directory.glob("*.crt") if p != ca_path)
    for path in paths:
        pem = path.read_bytes()
        facts = certs.describe(pem)
        problem = None
        if path != ca_path:
            try:
                certs.verify(pem, ca_pem, now)
            except certs.CertError as exc:
                problem = str(exc)
        rows.append(
            {
                "name": path.stem,
                "ca": facts.is_ca,
                "hosts": list(facts.hosts),
                "expires": facts.not_after.isoformat(),
                "valid": problem is None,
                "problem": problem,
                "fingerprint": facts.fingerprint,
            }
        )
    return rows
