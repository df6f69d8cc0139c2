"""`tessera cert`: the cluster's certificate authority and the certificates of its hosts.

`init` makes the CA (once per cluster), `issue NAME --host ADDRESS...` a certificate for
one host, `list` shows what a directory holds and whether each certificate is valid.
Keys are written with mode 0600 and never printed. The directory is `--dir`, default
`<data dir>/tls` (the local cluster's data dir: $TESSERA_DATA_DIR or ./.tessera).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from coordinator import certs
from tools.cert_files import init, issue, listing
from tools.cluster import default_data_dir
from tools.output import show, table


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
