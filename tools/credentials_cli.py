"""`tessera credential ...`: manage access keys in etcd, from any machine that reaches it.

Where etcd and the cluster key are found, first match wins:
  etcd:        --etcd, the cluster in an explicit --data-dir, $TESSERA_ETCD,
               the local cluster in ./.tessera (or $TESSERA_DATA_DIR), 127.0.0.1:2379
  cluster key: --cluster-key-file, <explicit --data-dir>/cluster.key,
               $TESSERA_CLUSTER_KEY_FILE, $TESSERA_CLUSTER_KEY, <local cluster>/cluster.key
So after `tessera cluster up`, `tessera credential list` works with no options.

`rotate K --grace 1h` gives K a new secret (printed once) and keeps the old one valid for an
hour on every gateway (`--grace 0`: refused at once). `stats` shows each key's last use and
request counts and each gateway's credential cache, as the gateways report them
(tools/credential_stats.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordinator import credentials
from coordinator.credentials import CredentialError
from coordinator.secrets import Cipher, ClusterKeyError, find_key, read_key_file
from tools import credential_stats
from tools.output import format_duration, iso, show, table

_DEFAULT_DATA_DIR = ".tessera"


class CliError(Exception):
    """One line for the user; exit status 1."""


def cluster_access_arguments(etcd_default: str) -> argparse.ArgumentParser:
    """A parent parser with the options that find etcd and the cluster key
    (shared by `tessera credential` and `tessera admin`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--etcd", default=None, help=f"etcd HOST:PORT (default: {etcd_default})")
    common.add_argument(
        "--cluster-key-file", default=None, help="file holding the cluster key (base64)"
    )
    common.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="a local cluster's data dir: take etcd and the cluster key from it "
        "(default: $TESSERA_DATA_DIR or ./.tessera when it holds cluster.json)",
    )
    return common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = cluster_access_arguments("see below")
    policy = argparse.ArgumentParser(add_help=False)
    policy.add_argument("--description", default="", help="free text, e.g. who uses the key")
    policy.add_argument(
        "--policy",
        choices=credentials.POLICIES,
        default="readwrite",
        help="what the key may do (default readwrite)",
    )
    policy.add_argument(
        "--buckets",
        default="",
        help="comma-separated bucket names or prefixes ending in * the key may use "
        "(default: the buckets it creates)",
    )
    policy.add_argument(
        "--display-name",
        default="",
        help="the name S3 shows for the key in Owner and ACL grant elements "
        "(default: the access key)",
    )
    policy.add_argument(
        "--email",
        default="",
        help="an email address: S3 ACL grants by email address resolve to this key",
    )
    sub = parser.add_subparsers(dest="credential_command", required=True, metavar="COMMAND")
    p = sub.add_parser("add", parents=[common, policy], help="add a key with a secret you choose")
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p = sub.add_parser(
        "generate",
        parents=[common, policy],
        help="create a key with random access key and secret (printed once)",
    )
    p.add_argument("--json", action="store_true", help="print the new key as JSON")
    p.add_argument(
        "--env",
        action="store_true",
        help="print the new key as shell exports of AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (`. ./key.env` sets them for aws, boto3, s5cmd)",
    )
    p = sub.add_parser("list", parents=[common], help="list every key")
    p.add_argument("--show-secrets", action="store_true", help="also print the secrets")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("show", parents=[common], help="show one key")
    p.add_argument("access_key")
    p.add_argument("--show-secrets", action="store_true", help="also print the secret")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser(
        "rotate",
        parents=[common],
        help="give a key a new secret (printed once); the old one works for --grace more",
        description="Give a key a new random secret, printed once. Every gateway accepts "
        "the old secret too until the grace period ends, then only the new one. A key "
        "keeps one old secret: rotating again during a grace period ends the older one.",
    )
    p.add_argument("access_key")
    p.add_argument(
        "--grace",
        type=grace_argument,
        default=DEFAULT_GRACE,
        metavar="DURATION",
        help="how long the old secret stays valid, e.g. 90s, 30m, 1h, 7d, 1h30m "
        f"(default {DEFAULT_GRACE}; 0 refuses it at once)",
    )
    p.add_argument("--json", action="store_true", help="print the new secret as JSON")
    p = sub.add_parser(
        "stats",
        parents=[common],
        help="keys, their last use and requests, and each gateway's credential cache",
        description="How many keys there are and which are enabled; per key its last use "
        "and request count as the gateways report them (every --usage-interval seconds); "
        "per gateway how many credentials its cache holds and whether its watch is healthy.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    for name, text in (
        ("disable", "refuse requests signed with a key (it stays stored)"),
        ("enable", "accept a disabled key again"),
        ("delete", "remove a key for good"),
    ):
        sub.add_parser(name, parents=[common], help=text).add_argument("access_key")


DEFAULT_GRACE = "24h"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw]?)+")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '30m', '1h', '1h30m', '1.5h', '7d', '2w'; ValueError if not."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        raise ValueError(f"not a duration: {text!r} (try 90s, 30m, 1h, 7d or 0)")
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(compact))


def grace_argument(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- where things are ------------------------------------------------------------------


def _local_cluster(args: argparse.Namespace) -> tuple[Path | None, bool]:
    """(data dir of a local cluster, whether it was named explicitly)."""
    if args.data_dir is not None:
        if not (args.data_dir / "cluster.json").exists():
            raise CliError(f"{args.data_dir} holds no cluster (no cluster.json)")
        return args.data_dir, True
    default = Path(os.environ.get("TESSERA_DATA_DIR") or _DEFAULT_DATA_DIR)
    return (default if (default / "cluster.json").exists() else None), False


def _etcd_of(data_dir: Path) -> str:
    try:
        return json.loads((data_dir / "cluster.json").read_text())["etcd_endpoint"]
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"cannot read {data_dir / 'cluster.json'}: {exc}") from None


def resolve_etcd(args: argparse.Namespace) -> str:
    """The etcd endpoints to use: --etcd, the local cluster's, TESSERA_ETCD or localhost.
    A local --tls cluster lends its certificate (its etcd takes mutual TLS only)."""
    adopt_local_tls(args)
    data_dir, explicit = _local_cluster(args)
    if args.etcd:
        return args.etcd
    if data_dir and explicit:
        return _etcd_of(data_dir)
    if os.environ.get("TESSERA_ETCD"):
        return os.environ["TESSERA_ETCD"]
    if data_dir:
        return _etcd_of(data_dir)
    return "127.0.0.1:2379"


def adopt_local_tls(args: argparse.Namespace) -> None:
    """Without TESSERA_TLS_* in the environment, use the local cluster's certificate
    when it was made with --tls (its processes then accept only mutual TLS)."""
    from coordinator import tls

    if any(os.environ.get(n) for n in (tls.ENV_CA, tls.ENV_CERT, tls.ENV_KEY)):
        return
    from tools.cluster_state import ClusterError, ClusterInfo

    data_dir, _ = _local_cluster(args)
    if data_dir is None:
        return
    try:
        info = ClusterInfo.load(data_dir)
    except (ClusterError, OSError, ValueError, KeyError):
        return
    if info.tls:
        names = (tls.ENV_CA, tls.ENV_CERT, tls.ENV_KEY)
        for name, path in zip(names, info.tls_files(), strict=True):
            os.environ[name] = str(path)


def resolve_cipher(args: argparse.Namespace) -> Cipher:
    return Cipher(resolve_key(args))


def resolve_key(args: argparse.Namespace) -> bytes:
    """The cluster key, found as the module doc says; CliError when there is none."""
    data_dir, explicit = _local_cluster(args)
    try:
        if args.cluster_key_file:
            return read_key_file(args.cluster_key_file)
        if data_dir and explicit:
            return read_key_file(data_dir / "cluster.key")
        key = find_key()
        if key is None and data_dir:
            key = read_key_file(data_dir / "cluster.key")
    except ClusterKeyError as exc:
        raise CliError(str(exc)) from None
    if key is None:
        raise CliError(
            "no cluster key: give --cluster-key-file or --data-dir, or set "
            "TESSERA_CLUSTER_KEY_FILE or TESSERA_CLUSTER_KEY"
        )
    return key


# --- commands --------------------------------------------------------------------------


def _created(rec: dict[str, Any]) -> str:
    return iso(rec.get("created_at")) or "-"


def _public(rec: dict[str, Any], cipher: Cipher | None, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    until = credentials.previous_until(rec, now)
    out = {
        "access_key": rec["access_key"],
        "enabled": bool(rec.get("enabled", True)),
        "policy": rec.get("policy", ""),
        "description": rec.get("description", ""),
        "display_name": rec.get("display_name") or rec["access_key"],
        "email": rec.get("email", ""),
        "created": _created(rec),
        "rotated": iso(rec.get("rotated_at")),
        # Until when the secret the last rotation replaced is still accepted (None: not).
        "previous_valid_until": iso(until),
    }
    if cipher is not None:
        out["secret_key"] = credentials.decrypt_secret(rec, cipher)
        if until is not None:
            out["previous_secret_key"] = credentials.decrypt_previous(rec, cipher)
    return out


def _list_text(rows: list[dict[str, Any]], secrets: bool) -> str:
    """`credential list` for a person: one key a line."""
    if not rows:
        return "no credentials"
    headers = ["ACCESS KEY", "ENABLED", "POLICY", "CREATED", "DESCRIPTION"]
    fields = ["access_key", "enabled", "policy", "created", "description"]
    if secrets:
        headers.insert(1, "SECRET KEY")
        fields.insert(1, "secret_key")
    cells = [
        ["yes" if r[f] is True else "no" if r[f] is False else str(r[f]) for f in fields]
        for r in rows
    ]
    return table(headers, cells, indent="")


def _cmd_add(client: Any, args: argparse.Namespace, access: str, secret: str) -> dict[str, Any]:
    credentials.validate(access, secret, args.policy)
    credentials.validate_account(args.display_name, args.email)
    if credentials.email_in_use(client, args.email):
        raise CliError(f"another key already has the email address {args.email}")
    cipher = resolve_cipher(args)
    patterns = [b.strip() for b in args.buckets.split(",") if b.strip()]
    rec = credentials.record(
        access,
        secret,
        cipher,
        policy=args.policy,
        description=args.description,
        buckets=patterns,
        display_name=args.display_name,
        email=args.email,
    )
    if not credentials.create(client, rec):
        raise CliError(f"access key {access} already exists")
    return rec


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (CliError, CredentialError) as exc:
        print(f"tessera credential: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    command = args.credential_command
    # Fail before touching etcd when the key is needed and missing.
    if command in ("add", "generate", "rotate") or getattr(args, "show_secrets", False):
        resolve_cipher(args)
    return with_etcd(args, lambda client: _dispatch(client, args, command))


def with_etcd(args: argparse.Namespace, work: Callable[[Any], int]) -> int:
    """work(an etcd client found as the module doc says), closed afterwards; a lost etcd
    is a CliError naming it."""
    import etcd3.exceptions

    from coordinator.etcd import connect

    endpoint = resolve_etcd(args)
    client = connect(endpoint, timeout=3.0)
    try:
        return work(client)
    except etcd3.exceptions.Etcd3Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise CliError(f"cannot reach etcd at {endpoint}: {detail}") from None
    finally:
        client.close()


def _dispatch(client: Any, args: argparse.Namespace, command: str) -> int:
    if command == "add":
        _cmd_add(client, args, args.access_key, args.secret_key)
        print(f"added {args.access_key} (policy {args.policy})")
        return 0
    if command == "generate":
        access, secret = credentials.generate_keypair()
        _cmd_add(client, args, access, secret)
        if args.json:
            print(json.dumps({"access_key": access, "secret_key": secret, "policy": args.policy}))
        elif args.env:
            print(
                f"export AWS_ACCESS_KEY_ID={shlex.quote(access)} AWS_SECRET_ACCESS_KEY={shlex.quote(secret)}"
            )
        else:
            print(f"Access key  {access}\nSecret key  {secret}\nPolicy      {args.policy}")
            print("\nThe secret is shown only now: store it safely.", file=sys.stderr)
        return 0
    if command == "stats":
        show(credential_stats.collect(client), credential_stats.render, args.json)
        return 0
    if command == "list":
        cipher = resolve_cipher(args) if args.show_secrets else None
        rows, failed = [], []
        for rec in credentials.get_all(client):
            try:
                rows.append(_public(rec, cipher))
            except CredentialError as exc:
                failed.append(str(exc))
                rows.append({**_public(rec, None), "secret_key": "(does not decrypt)"})
        show(rows, lambda rows: _list_text(rows, args.show_secrets), args.json)
        for message in failed:
            print(f"tessera credential: error: {message}", file=sys.stderr)
        return 1 if failed else 0
    rec = credentials.get(client, args.access_key)
    if rec is None:
        raise CliError(f"no such access key: {args.access_key}")
    if command == "show":
        cipher = resolve_cipher(args) if args.show_secrets else None
        show(_public(rec, cipher), _show_text, args.json)
        return 0
    if command == "rotate":
        return _cmd_rotate(client, args)
    if command in ("disable", "enable"):
        enabled = command == "enable"
        credentials.update(client, args.access_key, lambda r: {**r, "enabled": enabled})
        print(f"{command}d {args.access_key}")
        return 0
    if command == "delete":
        if not credentials.delete(client, args.access_key):
            raise CliError(f"no such access key: {args.access_key}")
        print(f"deleted {args.access_key}")
        return 0
    raise CliError(f"unknown command {command}")


_LABELS = {
    "access_key": "Access key",
    "secret_key": "Secret key",
    "previous_valid_until": "Old secret",
    "previous_secret_key": "Old secret key",
    "display_name": "Display name",
}


def _show_text(row: dict[str, Any]) -> str:
    lines = []
    for field, value in row.items():
        if field == "previous_valid_until":
            value = f"valid until {value}" if value else None
        label = _LABELS.get(field, field.capitalize())
        shown = "yes" if value is True else "no" if value is False else value or "-"
        lines.append(f"{label:<16}{shown}")
    return "\n".join(lines)


def _cmd_rotate(client: Any, args: argparse.Namespace) -> int:
    cipher = resolve_cipher(args)
    _, secret = credentials.generate_keypair()
    now = time.time()
    ended: list[float] = []

    def change(rec: dict[str, Any]) -> dict[str, Any]:
        ended[:] = [t for t in [credentials.previous_until(rec, now)] if t is not None]
        return credentials.rotate(rec, secret, cipher, args.grace, now)

    new = credentials.update(client, args.access_key, change, cipher)
    until = credentials.previous_until(new, now)
    if args.json:
        print(
            json.dumps(
                {
                    "access_key": args.access_key,
                    "secret_key": secret,
                    "previous_valid_until": iso(until),
                    "previous_valid_until_epoch": until,
                    "grace_seconds": args.grace,
                }
            )
        )
    else:
        old = (
            f"valid until {iso(until)} ({format_duration(args.grace)} from now)"
            if until is not None
            else "refused from now on"
        )
        print(f"Access key  {args.access_key}\nSecret key  {secret}\nOld secret  {old}")
        print("\nThe new secret is shown only now: store it safely.", file=sys.stderr)
    if ended:
        print(
            f"note: the secret an earlier rotation replaced (valid until {iso(ended[0])}) "
            "is refused from now on",
            file=sys.stderr,
        )
    return 0
