"""`tessera bucket ...`: see buckets and set how each stores new objects, through etcd.

`list` shows every bucket with its owner, versioning and storage mode; `show BUCKET` one;
`set-storage BUCKET --mode erasure --data 4 --parity 2` codes the bucket's new objects
into 4 data and 2 parity fragments on 6 distinct nodes (`--mode hybrid --threshold 1MiB`:
only objects of 1 MiB or more; `--mode replica`: full copies again). Objects already
stored keep the way they were written. etcd is found as for `tessera credential`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from coordinator import buckets, keys, placement
from coordinator.codec import decode
from coordinator.storage_mode import (
    DEFAULT_DATA,
    DEFAULT_PARITY,
    DEFAULT_THRESHOLD,
    MODES,
    StorageMode,
    StorageModeError,
    check_fits,
)
from tools.bench import parse_size
from tools.credentials_cli import CliError, cluster_access_arguments, resolve_etcd
from tools.output import iso, show, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = cluster_access_arguments("as for tessera credential")
    common.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="bucket_command", required=True, metavar="COMMAND")
    sub.add_parser("list", parents=[common], help="every bucket and its storage mode")
    sub.add_parser("show", parents=[common], help="one bucket").add_argument("bucket")
    p = sub.add_parser(
        "set-storage",
        parents=[common],
        help="how the bucket stores new objects: replica, erasure or hybrid",
    )
    p.add_argument("bucket")
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument(
        "--data", type=int, default=DEFAULT_DATA, help=f"data fragments k (default {DEFAULT_DATA})"
    )
    p.add_argument(
        "--parity",
        type=int,
        default=DEFAULT_PARITY,
        help=f"parity fragments m (default {DEFAULT_PARITY})",
    )
    p.add_argument(
        "--threshold",
        type=parse_size,
        default=DEFAULT_THRESHOLD,
        help="hybrid: objects this big or bigger are coded (default 1MiB)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (CliError, StorageModeError) as exc:
        print(f"tessera bucket: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import etcd3.exceptions

    from coordinator.etcd import connect

    endpoint = resolve_etcd(args)
    client = connect(endpoint, timeout=3.0)
    try:
        return _dispatch(client, args)
    except etcd3.exceptions.Etcd3Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise CliError(f"cannot reach etcd at {endpoint}: {detail}") from None
    finally:
        client.close()


def _dispatch(client: Any, args: argparse.Namespace) -> int:
    command = args.bucket_command
    if command == "list":
        rows = [_row(b) for b in _every_bucket(client)]
        show(rows, _list_text, args.json)
        return 0
    if command == "show":
        record = buckets.get(client, args.bucket)
        if record is None:
            raise CliError(f"no such bucket: {args.bucket}")
        show(_row(record), _show_text, args.json)
        return 0
    if command == "set-storage":
        mode = StorageMode(args.mode, args.data, args.parity, args.threshold)
        _, nodes = placement.load(client)
        check_fits(mode, sum(n.state == "active" for n in nodes))
        try:
            record = buckets.update(
                client, args.bucket, lambda b: dataclasses.replace(b, storage=mode.to_record())
            )
        except buckets.NoSuchBucketRecord:
            raise CliError(f"no such bucket: {args.bucket}") from None
        show(_row(record), _show_text, args.json)
        return 0
    raise CliError(f"unknown command {command}")


def _every_bucket(client: Any) -> list[buckets.Bucket]:
    found = [
        buckets.Bucket.from_record(decode(value)) for value, _ in client.get_prefix(keys.BUCKETS)
    ]
    return sorted(found, key=lambda b: b.name)


def _row(record: buckets.Bucket) -> dict[str, Any]:
    mode = record.storage_mode
    return {
        "name": record.name,
        "owner": record.owner,
        "created": iso(record.created),
        "versioning": record.versioning or "Off",
        "storage": mode.describe(),
        "storage_mode": mode.to_record(),
    }


def _list_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no buckets"
    return table(
        ["BUCKET", "OWNER", "VERSIONING", "STORAGE", "CREATED"],
        [[r["name"], r["owner"], r["versioning"], r["storage"], r["created"]] for r in rows],
        indent="",
    )


def _show_text(row: dict[str, Any]) -> str:
    labels = ("name", "owner", "versioning", "storage", "created")
    return "\n".join(f"{label.capitalize():<11} {row[label]}" for label in labels)
