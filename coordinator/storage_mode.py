"""A bucket's storage mode: how the bytes of its new objects are kept.

``replica``: R full copies (the default). ``erasure``: k data and m parity fragments on
k+m distinct nodes, per stripe (gateway/cluster/erasure.py). ``hybrid``: replicas below a
size threshold, erasure at or above it, so small objects keep their one-round-trip path
and large ones cost (k+m)/k of their size instead of R times.

A coded bucket keeps each key's versions (the coded objects' metadata, the small objects'
bytes) on 2m + 1 nodes rather than 3, so that with any m nodes down a majority of them
still answers: a 4+2 bucket reads and writes with two nodes down.

The mode lives in the bucket's etcd record (coordinator/buckets.py, field ``storage``) as
``{"mode": ..., "data": k, "parity": m, "threshold": bytes}``; changing it affects new
writes only: every object records how it was stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coordinator.placement import DEFAULT_REPLICAS

MODES = ("replica", "erasure", "hybrid")
# The storage classes S3 clients may ask for (x-amz-storage-class). Each is stored the
# bucket's way unless the cluster setting `storage_classes` maps it to a mode.
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
)
# Reed-Solomon over GF(2^8) allows up to 255 fragments; past 16 nodes a stripe's fan-out
# costs more than it saves here.
MAX_FRAGMENTS = 16
DEFAULT_DATA = 4
DEFAULT_PARITY = 2
DEFAULT_THRESHOLD = 1 << 20


class StorageModeError(ValueError):
    """A storage mode that cannot be used; the message says why, for a person."""


@dataclass(frozen=True)
class StorageMode:
    """How a bucket stores new objects."""

    mode: str = "replica"
    data: int = DEFAULT_DATA
    parity: int = DEFAULT_PARITY
    threshold: int = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise StorageModeError(
                f"unknown storage mode {self.mode!r} (one of {', '.join(MODES)})"
            )
        if self.mode == "replica":
            return
        if self.data < 1 or self.parity < 1:
            raise StorageModeError("erasure coding needs at least 1 data and 1 parity fragment")
        if self.data + self.parity > MAX_FRAGMENTS:
            raise StorageModeError(f"at most {MAX_FRAGMENTS} fragments (data + parity)")
        if self.threshold < 0:
            raise StorageModeError("the threshold cannot be negative")

    @property
    def fragments(self) -> int:
        return self.data + self.parity

    @property
    def replicas(self) -> int:
        """R: the nodes holding each key's versions (an erasure-coded object's metadata,
        a replicated object's bytes). A coded bucket reads and writes with any m nodes
        down, so its majority quorums need 2m + 1 of them (at least the usual 3)."""
        if self.mode == "replica":
            return DEFAULT_REPLICAS
        return max(DEFAULT_REPLICAS, 2 * self.parity + 1)

    def erasure_for(self, size: int | None) -> bool:
        """Whether an object of this size (None: not known before its body) is coded.
        A hybrid bucket codes an object of unknown size: it may be any size."""
        if self.mode == "replica":
            return False
        if self.mode == "erasure" or size is None:
            return True
        return size >= self.threshold

    def describe(self) -> str:
        """One line for a person, e.g. ``erasure 4+2`` or ``hybrid 4+2 from 1 MiB``."""
        if self.mode == "replica":
            return "replica"
        coded = f"{self.mode} {self.data}+{self.parity}"
        if self.mode == "hybrid":
            return f"{coded} from {_size_text(self.threshold)}"
        return coded

    def to_record(self) -> dict[str, Any]:
        if self.mode == "replica":
            return {"mode": "replica"}
        record: dict[str, Any] = {"mode": self.mode, "data": self.data, "parity": self.parity}
        if self.mode == "hybrid":
            record["threshold"] = self.threshold
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> StorageMode:
        if not record:
            return REPLICA
        return cls(
            mode=record.get("mode", "replica"),
            data=int(record.get("data", DEFAULT_DATA)),
            parity=int(record.get("parity", DEFAULT_PARITY)),
            threshold=int(record.get("threshold", DEFAULT_THRESHOLD)),
        )


REPLICA = StorageMode()


def _size_text(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def class_modes(setting: Mapping[str, Any] | None) -> dict[str, StorageMode]:
    """The `storage_classes` cluster setting ({class: mode record}) as modes; entries
    that do not parse are left out (the command that sets it checks them)."""
    found = {}
    for name, record in (setting or {}).items():
        try:
            found[name] = StorageMode.from_record(record)
        except (StorageModeError, TypeError, ValueError):
            continue
    return found


def check_fits(mode: StorageMode, nodes: int) -> None:
    """StorageModeError when a cluster of `nodes` active storage nodes cannot hold the
    mode's fragments on distinct nodes."""
    if mode.mode != "replica" and mode.fragments > nodes:
        raise StorageModeError(
            f"{mode.data}+{mode.parity} needs {mode.fragments} storage nodes; "
            f"the placement map has {nodes} active"
        )
