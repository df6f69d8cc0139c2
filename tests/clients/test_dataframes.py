"""Data tools against a real local cluster: pyarrow's S3FileSystem (the AWS SDK for C++)
writes a partitioned Parquet dataset and reads it back, and polars (Rust's object_store)
reads the same dataset from s3:// and writes a file of its own."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

ROWS = 200_000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """A table of a few types, large enough that each file spans several Parquet pages."""
    return pa.table(
        {
            "id": pa.array(range(ROWS), type=pa.int64()),
            "city": pa.array([("oslo", "lima", "pune", "kyiv")[i % 4] for i in range(ROWS)]),
            "value": pa.array([i * 0.5 for i in range(ROWS)], type=pa.float64()),
            "note": pa.array([f"row {i} " + "x" * (i % 50) for i in range(ROWS)]),
        }
    )


def _arrow_fs(cluster: Any) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=cluster.access_key,
        secret_key=cluster.secret_key,
        region=cluster.region,
        endpoint_override=cluster.endpoints[0],
        allow_bucket_creation=False,
        allow_bucket_deletion=False,
    )


def _polars_options(cluster: Any) -> dict[str, str]:
    return {
        "aws_access_key_id": cluster.access_key,
        "aws_secret_access_key": cluster.secret_key,
        "aws_region": cluster.region,
        "aws_endpoint_url": cluster.endpoints[0],
        "aws_allow_http": "true",
    }


def test_pyarrow_writes_and_reads_a_partitioned_dataset(cluster, bucket, table, s3) -> None:
    fs = _arrow_fs(cluster)
    ds.write_dataset(
        table,
        f"{bucket}/sales",
        filesystem=fs,
        format="parquet",
        partitioning=["city"],
        partitioning_flavor="hive",
        max_rows_per_file=30_000,
        max_rows_per_group=10_000,
    )
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    keys = sorted(k for k in listed if not k.endswith("/"))  # pyarrow adds directory markers
    assert {k.split("/")[1] for k in keys} == {
        f"city={c}" for c in ("kyiv", "lima", "oslo", "pune")
    }
    assert len(keys) >= 8  # 50,000 rows per city in files of at most 30,000
    back = ds.dataset(f"{bucket}/sales", filesystem=fs, format="parquet", partitioning="hive")
    read = back.to_table().sort_by("id")
    assert read.num_rows == ROWS
    assert read.column("id").to_pylist() == table.column("id").to_pylist()
    assert read.column("note").equals(table.column("note"))
    assert read.column("city").cast(pa.string()).to_pylist() == table.column("city").to_pylist()
    # A filtered read touches only one partition and returns its rows.
    lima = back.to_table(filter=ds.field("city") == "lima")
    assert lima.num_rows == ROWS // 4
    # One file read whole through the filesystem, byte for byte as S3 holds it.
    first = keys[0]
    with fs.open_input_file(f"{bucket}/{first}") as handle:
        data = handle.read()
    assert data == s3.get_object(Bucket=bucket, Key=first)["Body"].read()
    assert pq.read_metadata(pa.BufferReader(data)).num_rows > 0

    # polars reads the same dataset from s3:// with its own S3 client.
    options = _polars_options(cluster)
    frame = (
        pl.scan_parquet(
            f"s3://{bucket}/sales/**/*.parquet", storage_options=options, hive_partitioning=True
        )
        .sort("id")
        .collect()
    )
    assert frame.height == ROWS
    assert frame["id"].to_list() == table.column("id").to_pylist()
    assert frame["value"].sum() == pytest.approx(sum(i * 0.5 for i in range(ROWS)))
    per_city = dict(frame.group_by("city").len().iter_rows())
    assert per_city == {c: ROWS // 4 for c in ("kyiv", "lima", "oslo", "pune")}

    # polars writes a file of its own, which pyarrow reads back.
    summary = frame.group_by("city").agg(pl.col("value").sum()).sort("city")
    summary.write_parquet(f"s3://{bucket}/summary.parquet", storage_options=options)
    written = pq.read_table(f"{bucket}/summary.parquet", filesystem=fs)
    assert written.column("city").to_pylist() == ["kyiv", "lima", "oslo", "pune"]
