"""bench-compare's arithmetic and table: medians, ratios, CPU per unit of work."""

from __future__ import annotations

import os

import pytest

from tools import bench_compare as bc


def test_rates_and_cpu_per_unit() -> None:
    large = bc.Workload("256 MiB PUT", "MiB", 256)
    small = bc.Workload("2000 x 4 KiB GET", "ops", 2000)
    assert bc.rate(large, bc.Sample(seconds=2.0, cpu=8.0)) == 128.0
    assert bc.cpu_per_unit(large, bc.Sample(seconds=2.0, cpu=8.0)) == 32.0  # s per GiB
    assert bc.rate(small, bc.Sample(seconds=4.0, cpu=2.0)) == 500.0
    assert bc.cpu_per_unit(small, bc.Sample(seconds=4.0, cpu=2.0)) == 1.0  # ms per op


def test_summary_takes_medians_and_the_ratio() -> None:
    w = bc.Workload("2000 x 4 KiB PUT", "ops", 2000)
    results = bc.Results()
    for seconds in (4.0, 5.0, 100.0):  # one outlier: the median ignores it
        results.add("Tessera", w.name, bc.Sample(seconds, 2.0))
    for seconds in (2.0, 2.5, 3.0):
        results.add("SeaweedFS", w.name, bc.Sample(seconds, 1.0))
    (row,) = bc.summary([w], results, ("Tessera", "SeaweedFS"))
    assert row["Tessera"] == 2000 / 5.0 and row["SeaweedFS"] == 2000 / 2.5
    assert row["ratio"] == pytest.approx(0.5)
    assert row["Tessera_cpu"] == 1.0 and row["SeaweedFS_cpu"] == 0.5
    text = bc.render([row], ("Tessera", "SeaweedFS"), 3)
    assert "medians of 3 interleaved round(s)" in text
    line = next(t for t in text.splitlines() if t.strip().startswith("2000 x 4 KiB PUT"))
    assert "400.0" in line and "800.0" in line and "0.50" in line and "1.00 / 0.50" in line
    assert "fsync" in text


def test_a_workload_without_samples_shows_a_dash() -> None:
    w = bc.Workload("LIST 2000 keys", "ops", 2000)
    (row,) = bc.summary([w], bc.Results(), ("Tessera", "SeaweedFS"))
    assert row["ratio"] is None
    assert " - " in bc.render([row], ("Tessera", "SeaweedFS"), 1)


def test_workloads_and_files(tmp_path) -> None:
    workloads = bc.workloads_for([256, 1024], 3, 2)
    assert workloads["1 GiB PUT"].amount == 1024 and workloads["256 MiB GET"].unit == "MiB"
    assert workloads["small PUT"].amount == 3 and workloads["medium GET"].amount == 2
    files = bc.make_files(tmp_path / "f", [1], 3, 2)
    assert os.path.getsize(files["large"]["1 MiB"]) == 1 << 20
    assert [os.path.getsize(files["small"]["dir"] / n) for n in files["small"]["names"]] == [
        4096
    ] * 3
    assert bc.cpu_seconds([os.getpid()]) > 0 and bc.cpu_seconds([2**22 + 11]) == 0


def test_peak_memory_is_read_and_reported() -> None:
    assert bc.peak_rss_mib(os.getpid()) > 0
    assert bc.peak_rss_mib(2**22 + 12345) == 0  # no such process
    line = bc.memory_line({"Tessera": {"gateway1": 120, "node1": 60}, "SeaweedFS": {"volume": 9}})
    assert "Tessera 180 MiB in all (gateway1 120, node1 60)" in line
    assert "SeaweedFS 9 MiB in all" in line
