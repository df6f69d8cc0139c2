"""`tessera bucket ...`: see buckets and set how each stores new objects, through etcd.

`list` shows every bucket with its owner, versioning and storage mode; `show BUCKET` one;
`set-storage BUCKET --mode erasure --data 4 --parity 2` codes the bucket's new objects
into 4 data and 2 parity fragments on 6 distinct nodes (`--mode hybrid --threshold 1MiB`:
only objects of 1 MiB or more; `--mode replica`: full copies again). Objects already
stored keep the way they were written. `set-class STANDARD_IA --mode erasure --data 4
--parity 2` stores objects written with `x-amz-storage-class: STANDARD_IA` so in any
bucket (`--clear`: the bucket's way again), for S3 clients that pick a class. etcd is
found as for `tessera credential`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from coordinator import buckets, keys, placement, settings
from coordinator.codec import decode
from coordinator.storage_mode import (
    DEFAULT_DATA,
    DEFAULT_PARITY,
    DEFAULT_THRESHOLD,
    MODES,
    STORAGE_CLASSES,
    StorageMode,
    StorageModeError,
    check_fits,
    class_modes,
)
from tools.bench import parse_size
from tools.credentials_cli import CliError, cluster_access_arguments, with_etcd
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

    p = sub.add_parser(
        "set-class",
        parents=[common],
        help="store objects written with an S3 storage class in a given mode, in any bucket",
    )
    p.add_argument("storage_class", metavar="CLASS", choices=STORAGE_CLASSES[1:])
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--data", type=int, default=DEFAULT_DATA)
    p.add_argument("--parity", type=int, default=DEFAULT_PARITY)
    p.add_argument("--threshold", type=parse_size, default=DEFAULT_THRESHOLD)
    p.add_argument("--clear", action="store_true", help="store the class the bucket's way")


def run(args: argparse.Namespace) -> int:
    try:
        return with_etcd(args, lambda client: _dispatch(client, args))
    except (CliError, StorageModeError) as exc:
        print(f"tessera bucket: error: {exc}", file=sys.stderr)
        return 1


def _dispatch(client: Any, args: argparse.Namespace) -> int:
    command = args.bucket_command
    if command == "list":
        listed = {
            "buckets": [_row(b) for b in _every_bucket(client)],
            "storage_classes": {
                name: mode.describe() for name, mode in _class_modes(client).items()
            },
        }
        show(listed, _list_text, args.json)
        return 0
    if command == "set-class":
        return _set_class(client, args)
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
            record = buckets.set_storage(client, args.bucket, mode)
        except buckets.NoSuchBucketRecord:
            raise CliError(f"no such bucket: {args.bucket}") from None
        show(_row(record), _show_text, args.json)
        return 0
    raise CliError(f"unknown command {command}")


def _class_modes(client: Any) -> dict[str, StorageMode]:
    return class_modes(settings.get(client, "storage_classes"))


def _set_class(client: Any, args: argparse.Namespace) -> int:
    mapping = dict(settings.get(client, "storage_classes") or {})
    if args.clear:
        mapping.pop(args.storage_class, None)
    else:
        if args.mode is None:
            raise CliError("give --mode (or --clear)")
        mode = StorageMode(args.mode, args.data, args.parity, args.threshold)
        _, nodes = placement.load(client)
        check_fits(mode, sum(n.state == "active" for n in nodes))
        mapping[args.storage_class] = mode.to_record()
    settings.put(client, "storage_classes", mapping)
    shown = {name: mode.describe() for name, mode in class_modes(mapping).items()}
    show(shown, _classes_text, args.json)
    return 0


def _classes_text(classes: dict[str, str]) -> str:
    if not classes:
        return "every storage class is stored its bucket's way"
    rows = [[name, mode] for name, mode in sorted(classes.items())]
    return table(["STORAGE CLASS", "STORED AS"], rows, indent="")


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


def _list_text(listed: dict[str, Any]) -> str:
    rows = listed["buckets"]
    text = "no buckets"
    if rows:
        text = table(
            ["BUCKET", "OWNER", "VERSIONING", "STORAGE", "CREATED"],
            [[r["name"], r["owner"], r["versioning"], r["storage"], r["created"]] for r in rows],
            indent="",
        )
    if listed["storage_classes"]:
        text += "\n\n" + _classes_text(listed["storage_classes"])
    return text


def _show_text(row: dict[str, Any]) -> str:
    labels = ("name", "owner", "versioning", "storage", "created")
    return "\n".join(f"{label.capitalize():<11} {row[label]}" for label in labels)
