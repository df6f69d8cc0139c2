"""Multipart uploads through real gateways: the AWS rules, ETags, checksums,
parts spread over two gateways, listing, copy, and concurrent completion."""

import base64
import hashlib
import os
import threading
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.helpers import error_code, memory, reset_peak_memory

MiB = 1024 * 1024


def _aws_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def _upload(client, bucket, key, upload_id, number, data, **extra):
    return client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra
    )


def test_three_parts_through_two_gateways(s3_clients, bucket):
    first, second = s3_clients[0], s3_clients[-1]
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 123), os.urandom(MiB // 3)]
    created = first.create_multipart_upload(
        Bucket=bucket, Key="big/file.bin", ContentType="video/mp4", Metadata={"who": "me"}
    )
    upload_id = created["UploadId"]
    etags = []
    for number, data in enumerate(parts, start=1):
        client = s3_clients[number % len(s3_clients)]
        etags.append(_upload(client, bucket, "big/file.bin", upload_id, number, data)["ETag"])
    assert etags == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]

    listed = second.list_parts(Bucket=bucket, Key="big/file.bin", UploadId=upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts]
    assert [p["ETag"] for p in listed["Parts"]] == etags

    done = second.complete_multipart_upload(
        Bucket=bucket,
        Key="big/file.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    whole = b"".join(parts)
    assert done["ETag"] == _aws_etag(parts)
    got = first.get_object(Bucket=bucket, Key="big/file.bin")
    assert got["Body"].read() == whole
    assert got["ETag"] == _aws_etag(parts)
    assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"who": "me"}
    assert got["ContentLength"] == len(whole)

    # A range across the first part boundary, then whole parts by number.
    start, end = 5 * MiB - 10, 5 * MiB + 10
    ranged = second.get_object(Bucket=bucket, Key="big/file.bin", Range=f"bytes={start}-{end}")
    assert ranged["Body"].read() == whole[start : end + 1]
    part2 = first.get_object(Bucket=bucket, Key="big/file.bin", PartNumber=2)
    assert part2["Body"].read() == parts[1]
    assert part2["PartsCount"] == 3
    head = second.head_object(Bucket=bucket, Key="big/file.bin", PartNumber=3)
    assert head["ContentLength"] == len(parts[2]) and head["PartsCount"] == 3
    with pytest.raises(ClientError) as info:  # no part 4
        first.get_object(Bucket=bucket, Key="big/file.bin", PartNumber=4)
    assert error_code(info) == (400, "InvalidPart")

    with pytest.raises(ClientError) as info:
        first.list_parts(Bucket=bucket, Key="big/file.bin", UploadId=upload_id)
    assert error_code(info) == (404, "NoSuchUpload")
    listed = [o["Key"] for o in first.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["big/file.bin"]  # parts never show up as objects


def test_part_rules(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    small = _upload(s3, bucket, "k", upload_id, 1, b"a" * 1000)["ETag"]
    last = _upload(s3, bucket, "k", upload_id, 2, b"b" * 1000)["ETag"]

    def complete(parts):
        return s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        )

    with pytest.raises(ClientError) as info:
        complete([(1, small), (2, last)])
    assert error_code(info) == (400, "EntityTooSmall")
    with pytest.raises(ClientError) as info:
        complete([(1, '"0123456789abcdef0123456789abcdef"')])
    assert error_code(info) == (400, "InvalidPart")
    with pytest.raises(ClientError) as info:
        complete([(2, last), (1, small)])
    assert error_code(info) == (400, "InvalidPartOrder")
    with pytest.raises(ClientError) as info:
        complete([(7, small)])
    assert error_code(info) == (400, "InvalidPart")
    for bad in (0, 10001):
        with pytest.raises(ClientError) as info:
            _upload(s3, bucket, "k", upload_id, bad, b"x")
        assert error_code(info)[0] == 400

    # Re-uploading a part number replaces it.
    again = _upload(s3, bucket, "k", upload_id, 1, b"c" * 2000)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, 2000, again),
        (2, 1000, last),
    ]
    # A single part may be any size.
    complete([(1, again)])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"c" * 2000


def test_no_such_upload(s3, bucket):
    with pytest.raises(ClientError) as info:
        _upload(s3, bucket, "k", "0" * 32, 1, b"x")
    assert error_code(info) == (404, "NoSuchUpload")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    _upload(s3, bucket, "k", upload_id, 1, b"x")
    with pytest.raises(ClientError) as info:  # the upload belongs to another key
        _upload(s3, bucket, "other", upload_id, 1, b"x")
    assert error_code(info) == (404, "NoSuchUpload")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    for call in (
        lambda: _upload(s3, bucket, "k", upload_id, 2, b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        ),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert error_code(info) == (404, "NoSuchUpload")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_list_multipart_uploads(s3, bucket):
    ids = {}
    for key in ["a/1", "a/2", "b/1", "c"]:
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    second = s3.create_multipart_upload(Bucket=bucket, Key="a/1")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)
    pairs = [(u["Key"], u["UploadId"]) for u in listed["Uploads"]]
    assert [k for k, _ in pairs] == ["a/1", "a/1", "a/2", "b/1", "c"]
    assert {ids["a/1"], second} == {u for k, u in pairs if k == "a/1"}

    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/"]
    assert [u["Key"] for u in rolled["Uploads"]] == ["c"]
    prefixed = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert [u["Key"] for u in prefixed["Uploads"]] == ["a/1", "a/1", "a/2"]

    seen = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    ):
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
    assert seen == pairs

    for key, upload_id in pairs:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_upload_part_copy_with_range(s3, bucket):
    source = os.urandom(7 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    one = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    two = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=2,
        CopySource=f"{bucket}/src",
    )["CopyPartResult"]["ETag"]
    assert one == f'"{hashlib.md5(source[: 5 * MiB]).hexdigest()}"'
    with pytest.raises(ClientError) as info:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload_id,
            PartNumber=3,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes=0-{len(source)}",
        )
    assert error_code(info)[0] == 416
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": one}, {"PartNumber": 2, "ETag": two}]},
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source[: 5 * MiB] + source


def test_composite_crc32_checksum(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    answers = [
        _upload(s3, bucket, "ck", upload_id, n, data, ChecksumAlgorithm="CRC32")
        for n, data in enumerate(parts, start=1)
    ]
    crcs = [base64.b64encode(zlib.crc32(p).to_bytes(4, "big")).decode() for p in parts]
    assert [a["ChecksumCRC32"] for a in answers] == crcs
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="ck",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": n, "ETag": a["ETag"], "ChecksumCRC32": a["ChecksumCRC32"]}
                for n, a in enumerate(answers, start=1)
            ]
        },
    )
    composite = zlib.crc32(b"".join(base64.b64decode(c) for c in crcs)).to_bytes(4, "big")
    assert done["ChecksumCRC32"] == f"{base64.b64encode(composite).decode()}-2"


def test_boto3_transfer_manager(s3, bucket, tmp_path):
    """upload_file switches to parallel multipart above its threshold."""
    source = tmp_path / "movie.bin"
    source.write_bytes(os.urandom(21 * MiB))
    config = TransferConfig(
        multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4
    )
    s3.upload_file(str(source), bucket, "movie.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="movie.bin")
    assert head["ETag"].endswith('-3"')
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "movie.bin", str(target), Config=config)
    assert target.read_bytes() == source.read_bytes()


def test_complete_races_abort_and_complete(s3_clients, bucket):
    """Completes and Aborts racing through different gateways: one outcome."""
    data = os.urandom(1000)
    upload_id = s3_clients[0].create_multipart_upload(Bucket=bucket, Key="race")["UploadId"]
    etag = _upload(s3_clients[0], bucket, "race", upload_id, 1, data)["ETag"]
    outcomes: list[str] = []

    def complete(client):
        try:
            client.complete_multipart_upload(
                Bucket=bucket,
                Key="race",
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
            )
            outcomes.append("completed")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    def abort(client):
        try:
            client.abort_multipart_upload(Bucket=bucket, Key="race", UploadId=upload_id)
            outcomes.append("aborted")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=complete, args=(c,)) for c in s3_clients]
    threads += [threading.Thread(target=abort, args=(c,)) for c in s3_clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"completed", "aborted", "NoSuchUpload"}
    assert ("completed" in outcomes) != ("aborted" in outcomes), outcomes
    if "completed" in outcomes:
        assert outcomes.count("aborted") == 0
        for client in s3_clients:
            assert client.get_object(Bucket=bucket, Key="race")["Body"].read() == data
    else:
        assert outcomes.count("aborted") == 1
        with pytest.raises(ClientError):
            s3_clients[0].head_object(Bucket=bucket, Key="race")


def test_many_parts_at_once_keep_memory_bounded(cluster, s3_clients, bucket, tmp_path):
    """16 parts of 8 MiB uploaded 8 at a time through both gateways: no gateway
    or storage node grows its peak memory by 100 MiB."""
    from concurrent.futures import ThreadPoolExecutor

    pids = {name: p.pid for name, p in cluster.processes.items() if name != "etcd"}
    for pid in pids.values():
        reset_peak_memory(pid)
    before = {name: memory(pid)[0] for name, pid in pids.items()}
    part = os.urandom(8 * MiB)
    upload_id = s3_clients[0].create_multipart_upload(Bucket=bucket, Key="wide")["UploadId"]

    def send(number: int) -> dict:
        client = s3_clients[number % len(s3_clients)]
        etag = _upload(client, bucket, "wide", upload_id, number, part)["ETag"]
        return {"PartNumber": number, "ETag": etag}

    with ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(send, range(1, 17)))
    s3_clients[1].complete_multipart_upload(
        Bucket=bucket, Key="wide", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    growth = {name: memory(pid)[1] - before[name] for name, pid in pids.items()}
    print("\n[memory growth MiB]", {n: round(g / MiB) for n, g in growth.items()})
    assert all(g < 100 * MiB for g in growth.values()), growth
    head = s3_clients[0].head_object(Bucket=bucket, Key="wide")
    assert head["ContentLength"] == 16 * 8 * MiB and head["ETag"].endswith('-16"')


def test_a_repeated_complete_answers_again_and_the_upload_is_gone_otherwise(s3, bucket):
    """A client that lost Complete's answer retries it: S3 answers 200 again, with the
    same object; every other call treats the upload as gone."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = _upload(s3, bucket, "k", upload_id, 1, b"p" * 1000)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts
    )
    again = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=parts
    )
    assert again["ETag"] == first["ETag"] and again["Key"] == "k"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"p" * 1000
    other = {"Parts": [{"PartNumber": 2, "ETag": etag}]}
    for call in (
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=other
        ),
        lambda: _upload(s3, bucket, "k", upload_id, 2, b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert error_code(info) == (404, "NoSuchUpload")
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_get_object_attributes(s3, bucket):
    body = b"x" * 1000
    s3.put_object(Bucket=bucket, Key="one", Body=body, ChecksumAlgorithm="CRC32")
    got = s3.get_object_attributes(
        Bucket=bucket,
        Key="one",
        ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"],
    )
    assert got["ETag"] == hashlib.md5(body).hexdigest()  # without quotes
    assert got["ObjectSize"] == 1000 and got["StorageClass"] == "STANDARD"
    assert (
        got["Checksum"]["ChecksumCRC32"]
        == s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")["ChecksumCRC32"]
    )
    assert "ObjectParts" not in got  # not a multipart object

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = [b"a" * (5 * MiB), b"b" * (5 * MiB), b"c" * 100]
    etags = [_upload(s3, bucket, "mp", upload_id, n, p)["ETag"] for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    page = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2
    )["ObjectParts"]
    assert page["TotalPartsCount"] == 3 and page["IsTruncated"] is True
    assert [(p["PartNumber"], p["Size"]) for p in page["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB)]
    rest = s3.get_object_attributes(
        Bucket=bucket,
        Key="mp",
        ObjectAttributes=["ObjectParts"],
        PartNumberMarker=page["NextPartNumberMarker"],
    )["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 100)]
    assert rest["IsTruncated"] is False
    with pytest.raises(ClientError) as info:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_code(info) == (404, "NoSuchKey")
