"""Delimiter roll-up and paging over an in-memory sorted listing."""

import pytest

from gateway.cluster.store import ObjectVersion
from gateway.s3.errors import S3Error
from gateway.s3.listing import collect, decode_token, encode_token, parse_max_keys


class SortedListing:
    def __init__(self, keys, prefix="", start_after=""):
        self.keys = sorted(k for k in keys if k.startswith(prefix) and k > start_after)
        self.skipped = None

    async def next(self):
        while self.keys:
            key = self.keys.pop(0)
            if self.skipped and key.startswith(self.skipped):
                continue
            return ObjectVersion(key, "v", 1, 1, False, b"")
        return None

    def skip_prefix(self, prefix):
        self.skipped = prefix


KEYS = ["a", "b/1", "b/2", "c/x/1", "c/y", "d", "e/", "e/1"]


async def _all_pages(prefix, delimiter, max_keys):
    seen, start = [], ""
    while True:
        page = await collect(SortedListing(KEYS, prefix, start), prefix, delimiter, max_keys, start)
        seen += sorted([e.key for e in page.contents] + page.common_prefixes)
        if not page.is_truncated:
            return seen
        start = page.last


async def test_delimiter_rolls_up_prefixes():
    page = await collect(SortedListing(KEYS), "", "/", 1000, "")
    assert [e.key for e in page.contents] == ["a", "d"]
    assert page.common_prefixes == ["b/", "c/", "e/"]
    assert not page.is_truncated


async def test_prefix_and_delimiter():
    page = await collect(SortedListing(KEYS, "c/"), "c/", "/", 1000, "")
    assert page.common_prefixes == ["c/x/"] and [e.key for e in page.contents] == ["c/y"]


@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
async def test_paging_never_repeats_or_skips(max_keys):
    expected = ["a", "b/", "c/", "d", "e/"]
    assert await _all_pages("", "/", max_keys) == expected
    assert await _all_pages("", "", max_keys) == KEYS


async def test_truncation_only_when_more_follow():
    page = await collect(SortedListing(["a", "b"]), "", "", 2, "")
    assert not page.is_truncated
    page = await collect(SortedListing(["a", "b", "c"]), "", "", 2, "")
    assert page.is_truncated and page.last == "b"


def test_max_keys_parsing():
    assert parse_max_keys(None) == 1000
    assert parse_max_keys("5000") == 1000
    assert parse_max_keys("0") == 0
    for bad in ("-1", "abc"):
        with pytest.raises(S3Error) as info:
            parse_max_keys(bad)
        assert info.value.code == "InvalidArgument"


def test_tokens_round_trip_unicode():
    key = "dir/ä €/&<>\r"
    assert decode_token(encode_token(key)) == key
    with pytest.raises(S3Error):
        decode_token("%%%")
