"""A bucket's storage mode (coordinator/storage_mode.py) and its place in the record."""

from __future__ import annotations

import pytest

from coordinator.buckets import Bucket
from coordinator.storage_mode import REPLICA, StorageMode, StorageModeError, check_fits


def test_which_objects_are_coded() -> None:
    assert not REPLICA.erasure_for(10 << 30)
    erasure = StorageMode("erasure", 4, 2)
    assert erasure.erasure_for(1) and erasure.erasure_for(None)
    hybrid = StorageMode("hybrid", 4, 2, threshold=1 << 20)
    assert not hybrid.erasure_for((1 << 20) - 1)
    assert hybrid.erasure_for(1 << 20)
    assert hybrid.erasure_for(None)  # a body of unknown length may be large


def test_coded_buckets_keep_keys_on_enough_nodes_for_m_failures() -> None:
    assert REPLICA.replicas == 3
    assert StorageMode("erasure", 2, 1).replicas == 3
    assert StorageMode("erasure", 4, 2).replicas == 5
    assert StorageMode("hybrid", 8, 4).replicas == 9


@pytest.mark.parametrize(
    ("mode", "data", "parity"),
    [("raid5", 4, 2), ("erasure", 0, 2), ("erasure", 4, 0), ("erasure", 12, 8)],
)
def test_impossible_modes_are_refused(mode: str, data: int, parity: int) -> None:
    with pytest.raises(StorageModeError):
        StorageMode(mode, data, parity)


def test_a_mode_must_fit_the_cluster() -> None:
    check_fits(StorageMode("erasure", 4, 2), 6)
    check_fits(REPLICA, 1)
    with pytest.raises(StorageModeError, match="needs 6 storage nodes"):
        check_fits(StorageMode("erasure", 4, 2), 5)


def test_the_record_round_trips_and_defaults_to_replicas() -> None:
    assert Bucket(name="b").storage_mode == REPLICA
    for mode in (REPLICA, StorageMode("erasure", 2, 1), StorageMode("hybrid", 4, 2, 65536)):
        assert StorageMode.from_record(mode.to_record()) == mode
        record = Bucket(name="b", storage=mode.to_record()).to_record()
        assert Bucket.from_record(record).storage_mode == mode
    assert "threshold" not in StorageMode("erasure", 4, 2).to_record()
    assert StorageMode("hybrid", 4, 2, 1 << 20).describe() == "hybrid 4+2 from 1 MiB"
    assert StorageMode("hybrid", 4, 2, 1000).describe() == "hybrid 4+2 from 1000 bytes"
    assert StorageMode("erasure", 4, 2).describe() == "erasure 4+2"
