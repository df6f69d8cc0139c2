"""`tessera bucket`: its arguments and what it prints (tools/bucket_cli.py)."""

from __future__ import annotations

import pytest

from coordinator.buckets import Bucket
from coordinator.storage_mode import StorageMode
from tools import bucket_cli
from tools.cli import build_parser


def test_set_storage_parses_modes_and_sizes() -> None:
    args = build_parser().parse_args(
        ["bucket", "set-storage", "photos", "--mode", "hybrid", "--data", "8", "--parity", "3"]
        + ["--threshold", "4MiB"]
    )
    assert (args.bucket, args.mode, args.data, args.parity) == ("photos", "hybrid", 8, 3)
    assert args.threshold == 4 << 20
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bucket", "set-storage", "photos", "--mode", "raid6"])
    with pytest.raises(SystemExit):  # STANDARD is every bucket's own way
        build_parser().parse_args(["bucket", "set-class", "STANDARD", "--mode", "erasure"])


def test_list_shows_each_bucket_and_the_class_mapping() -> None:
    coded = Bucket("photos", owner="K1", storage=StorageMode("erasure", 4, 2).to_record())
    plain = Bucket("logs", owner="K2", versioning="Enabled")
    listed = {
        "buckets": [bucket_cli._row(coded), bucket_cli._row(plain)],
        "storage_classes": {"STANDARD_IA": "erasure 2+1"},
    }
    text = bucket_cli._list_text(listed)
    lines = text.splitlines()
    assert lines[0].split() == ["BUCKET", "OWNER", "VERSIONING", "STORAGE", "CREATED"]
    assert lines[1].split()[:5] == ["photos", "K1", "Off", "erasure", "4+2"]
    assert lines[2].split()[:4] == ["logs", "K2", "Enabled", "replica"]
    assert text.splitlines()[-1].split() == ["STANDARD_IA", "erasure", "2+1"]
    assert bucket_cli._row(coded)["storage_mode"] == {"mode": "erasure", "data": 4, "parity": 2}
    assert bucket_cli._classes_text({}) == "every storage class is stored its bucket's way"
