"""The incremental multipart/form-data parser, fed in every slice size."""

from __future__ import annotations

import pytest

from gateway.s3.errors import S3Error
from gateway.s3.formdata import (
    Field,
    FileData,
    FileEnd,
    FileStart,
    FormDataParser,
    boundary_of,
)

BOUNDARY = b"----WebKitFormBoundaryABC123"


def form(
    fields: list[tuple[str, str]],
    file: bytes | None,
    *,
    filename: str = "photo.jpg",
    after: list[tuple[str, str]] = (),
    boundary: bytes = BOUNDARY,
    preamble: bytes = b"",
    epilogue: bytes = b"",
) -> bytes:
    out = bytearray(preamble)
    for name, value in fields:
        out += b"--" + boundary + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    if file is not None:
        out += b"--" + boundary + b"\r\n"
        out += f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
        out += b"Content-Type: image/jpeg\r\n\r\n" + file + b"\r\n"
    for name, value in after:
        out += b"--" + boundary + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += b"--" + boundary + b"--\r\n" + epilogue
    return bytes(out)


def parse(body: bytes, step: int, **limits: int) -> list:
    parser = FormDataParser(BOUNDARY, **limits)
    events: list = []
    for i in range(0, len(body), step):
        events += parser.feed(body[i : i + step])
    parser.finish()
    return events


def merged(events: list) -> list:
    """Events with consecutive FileData joined, as slicing splits them arbitrarily."""
    out: list = []
    for event in events:
        if isinstance(event, FileData) and out and isinstance(out[-1], FileData):
            out[-1] = FileData(out[-1].data + event.data)
        else:
            out.append(event)
    return out


# File contents that look like boundaries, CRLFs and partial delimiters.
TRICKY = (
    b"\r\n--" + BOUNDARY[:-1] + b"X\r\n\r\n--\r\n-" + b"\x00\xff" * 50 + b"\r\n--" + BOUNDARY[:5]
)


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7, 13, 31, 64, 1000, 1 << 20])
def test_any_slicing_gives_the_same_events(step: int) -> None:
    body = form(
        [("key", "uploads/${filename}"), ("Content-Type", "image/jpeg"), ("empty", "")],
        TRICKY,
        after=[("ignored", "after the file")],
        preamble=b"this is a preamble\r\n",
        epilogue=b"epilogue",
    )
    assert merged(parse(body, step)) == [
        Field("key", "uploads/${filename}"),
        Field("content-type", "image/jpeg"),
        Field("empty", ""),
        FileStart("photo.jpg", "image/jpeg"),
        FileData(TRICKY),
        FileEnd(),
    ]


@pytest.mark.parametrize("step", [1, 4, 1 << 16])
def test_empty_file(step: int) -> None:
    events = parse(form([("key", "k")], b""), step)
    assert events == [Field("key", "k"), FileStart("photo.jpg", "image/jpeg"), FileEnd()]


def test_large_file_is_streamed_in_bounded_pieces() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    parser = FormDataParser(BOUNDARY)
    body = form([("key", "k")], data)
    pieces = []
    for i in range(0, len(body), 65536):
        for event in parser.feed(body[i : i + 65536]):
            if isinstance(event, FileData):
                assert len(event.data) <= 65536 + len(BOUNDARY) + 4
                pieces.append(event.data)
    assert b"".join(pieces) == data
    assert parser.done


def test_fields_after_the_file_are_not_parsed() -> None:
    body = form([], b"x", after=[("key", "late")]) + b"garbage that is not multipart"
    events = parse(body, 3)
    assert [e for e in events if isinstance(e, Field)] == []


def test_no_file_ends_with_the_closing_boundary() -> None:
    events = parse(form([("key", "k")], None), 2)
    assert events == [Field("key", "k")]


def test_truncated_body_is_malformed() -> None:
    body = form([("key", "k")], b"0123456789")
    parser = FormDataParser(BOUNDARY)
    events = parser.feed(body[:-30])
    assert not any(isinstance(e, FileEnd) for e in events)
    with pytest.raises(S3Error) as info:
        parser.finish()
    assert info.value.code == "MalformedPOSTRequest"


def test_field_too_large() -> None:
    body = form([("key", "k" * 200)], b"x")
    with pytest.raises(S3Error) as info:
        parse(body, 7, max_field=100)
    assert info.value.code == "MaxPostPreDataLengthExceeded"


def test_fields_before_file_too_large_in_total() -> None:
    body = form([(f"x-amz-meta-{i}", "v" * 50) for i in range(40)], b"x")
    with pytest.raises(S3Error) as info:
        parse(body, 64, max_pre_data=1000)
    assert info.value.code == "MaxPostPreDataLengthExceeded"


def test_the_file_does_not_count_as_pre_data() -> None:
    events = parse(form([("key", "k")], b"z" * 5000), 100, max_pre_data=1000)
    assert merged(events)[2] == FileData(b"z" * 5000)


def test_part_without_name_is_malformed() -> None:
    body = b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data\r\n\r\nv\r\n--" + BOUNDARY
    with pytest.raises(S3Error) as info:
        parse(body + b"--", 5)
    assert info.value.code == "MalformedPOSTRequest"


def test_garbage_after_boundary_is_malformed() -> None:
    body = b"--" + BOUNDARY + b"junk\r\nContent-Disposition: form-data; name=a\r\n\r\nv"
    with pytest.raises(S3Error):
        parse(body, 4)


def test_invalid_utf8_field_is_malformed() -> None:
    body = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--'
    with pytest.raises(S3Error) as info:
        parse(body + BOUNDARY + b"--", 3)
    assert info.value.code == "MalformedPOSTRequest"


def test_disposition_parameters() -> None:
    head = (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="FILE"; filename="a \\"q\\";b.txt"\r\n\r\n'
        b"data\r\n--" + BOUNDARY + b"--"
    )
    assert parse(head, 1)[0] == FileStart('a "q";b.txt', None)
    rfc5987 = (
        b"--" + BOUNDARY + b"\r\n"
        b"Content-Disposition: form-data; name=file; filename=x; "
        b"filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\ndata\r\n--" + BOUNDARY + b"--"
    )
    assert parse(rfc5987, 2)[0] == FileStart("été.txt", None)
    windows = (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="C:\\dir\\f.txt"\r\n\r\n'
        b"d\r\n--" + BOUNDARY + b"--"
    )
    assert parse(windows, 3)[0] == FileStart("C:\\dir\\f.txt", None)


def test_boundary_of() -> None:
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of('Multipart/Form-Data; charset=utf-8; boundary="a b;c"') == b"a b;c"
    with pytest.raises(S3Error) as info:
        boundary_of("application/x-www-form-urlencoded")
    assert (info.value.code, info.value.status) == ("PreconditionFailed", 412)
    with pytest.raises(S3Error) as info:
        boundary_of(None)
    assert info.value.status == 412
    with pytest.raises(S3Error) as info:
        boundary_of("multipart/form-data")
    assert info.value.code == "MalformedPOSTRequest"
    with pytest.raises(S3Error):
        boundary_of("multipart/form-data; boundary=" + "x" * 71)
