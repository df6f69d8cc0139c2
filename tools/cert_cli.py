"""`tessera cert`: the cluster's certificate authority and the certificates of its hosts.

`init` makes the CA (once per cluster), `issue NAME --host ADDRESS...` a certificate for
one host, `list` shows what a directory holds and whether each certificate is valid.
Keys are written with mode 0600 and never printed. The directory is `--dir`, default
`<data dir>/tls` (the local cluster's data dir: $TESSERA_DATA_DIR or ./.tessera).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from coordinator import certs
from tools.cluster import default_data_dir
from tools.output import show, table

CA_KEY, CA_CERT = "ca.key", "ca.crt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cert_command", metavar="{init,issue,list}", required=True)

    def dir_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="where the CA and the certificates live (default: <data dir>/tls)",
        )

    p_init = sub.add_parser("init", help="create the cluster's certificate authority")
    dir_option(p_init)
    p_init.add_argument("--cluster", default="tessera", help="the cluster's name, in the CA's")
    p_init.add_argument("--force", action="store_true", help="replace an existing CA")

    p_issue = sub.add_parser("issue", help="create a host's key and certificate")
    dir_option(p_issue)
    p_issue.add_argument("name", help="the host's name (also the files' names)")
    p_issue.add_argument(
        "--host",
        action="append",
        default=[],
        help="a DNS name or IP address the host is reached at (repeat)",
    )
    p_issue.add_argument("--days", type=int, default=certs.HOST_DAYS, help="validity")

    p_list = sub.add_parser("list", help="the certificates in the directory")
    dir_option(p_list)
    p_list.add_argument("--json", action="store_true", help="machine-readable output")


def cert_dir(args: argparse.Namespace) -> Path:
    return args.dir or Path(default_data_dir()) / "tls"


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


def render(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            r["name"] + (" (CA)" if r["ca"] else ""),
            ", ".join(r["hosts"]) or "-",
            r["expires"][:10],
            "ok" if r["valid"] else f"NO: {r['problem']}",
        ]
        for r in rows
    ]
    return table(["NAME", "HOSTS", "EXPIRES", "VALID"], cells)


def run(args: argparse.Namespace) -> int:
    directory = cert_dir(args)
    try:
        if args.cert_command == "init":
            path = init(directory, args.cluster, args.force)
            print(f"created the cluster CA: {path} (its key beside it, mode 0600)")
        elif args.cert_command == "issue":
            path = issue(directory, args.name, args.host, args.days)
            print(f"created {path} and {path.with_suffix('.key')}")
        else:
            show(listing(directory), render, args.json)
    except certs.CertError as exc:
        print(f"tessera cert: error: {exc}", file=sys.stderr)
        return 1
    return 0
