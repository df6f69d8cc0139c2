"""Bucket tagging: the Tagging document (parse, render, botocore round trip) and
PutBucketTagging's limits, with AWS's codes and messages."""

from __future__ import annotations

import pytest

from gateway.s3 import tagging
from gateway.s3 import xml as s3xml
from gateway.s3.errors import S3Error


def check_bucket_tags(tags):
    tagging.check(tags, tagging.BUCKET_RULES)


NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def doc(*tags: str, ns: bool = True) -> bytes:
    root = f"<Tagging {NS}>" if ns else "<Tagging>"
    return f"{root}<TagSet>{''.join(tags)}</TagSet></Tagging>".encode()


def tag(key: str, value: str) -> str:
    return f"<Tag><Key>{key}</Key><Value>{value}</Value></Tag>"


def error(fn, *args) -> S3Error:
    with pytest.raises(S3Error) as info:
        fn(*args)
    return info.value


# -- the document --------------------------------------------------------------------------


def test_parse_keeps_order_and_empty_values():
    body = doc(tag("b", "2"), tag("a", ""), "<Tag><Value/><Key>c</Key></Tag>")
    assert s3xml.parse_tagging(body) == [("b", "2"), ("a", ""), ("c", "")]
    assert s3xml.parse_tagging(doc(tag("k", "v"), ns=False)) == [("k", "v")]
    assert s3xml.parse_tagging(doc()) == []


def test_parse_decodes_entities():
    assert s3xml.parse_tagging(doc(tag("a&amp;b", "&lt;x&gt;"))) == [("a&b", "<x>")]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<Tagging><TagSet>",
        b"<Tags><TagSet/></Tags>",
        b"<Tagging/>",
        b"<Tagging><TagSet/><TagSet/></Tagging>",
        b"<Tagging><Other/></Tagging>",
        doc("<Tag><Key>k</Key></Tag>"),
        doc("<Tag><Value>v</Value></Tag>"),
        doc("<Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag>"),
        doc("<Tag><Key>k</Key><Value>v</Value><Extra/></Tag>"),
        doc("<Tag><Key><b>k</b></Key><Value>v</Value></Tag>"),
        doc("<Item><Key>k</Key><Value>v</Value></Item>"),
        b'<!DOCTYPE x [<!ENTITY a "b">]><Tagging><TagSet/></Tagging>',
    ],
)
def test_parse_malformed(body):
    assert error(s3xml.parse_tagging, body).code == "MalformedXML"


def test_render_round_trip():
    tags = [("project", "tessera"), ("empty", ""), ("esc", "<&>\"'"), ("ü", "日本")]
    body = s3xml.tagging(tags)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns=')
    assert s3xml.parse_tagging(body) == tags


def test_botocore_parses_what_we_render(fake_s3):
    tags = [("project", "tessera"), ("empty", ""), ("a b", "x/y:z=1+2@3")]
    fake_s3.reply(s3xml.tagging(tags))
    out = fake_s3.client.get_bucket_tagging(Bucket="bkt")
    assert [(t["Key"], t["Value"]) for t in out["TagSet"]] == tags


def test_we_parse_what_botocore_sends(fake_s3):
    fake_s3.reply(b"", status=204)
    tag_set = [{"Key": "k1", "Value": "v1"}, {"Key": "<&>", "Value": ""}]
    fake_s3.client.put_bucket_tagging(Bucket="bkt", Tagging={"TagSet": tag_set})
    method, path, query, _ = fake_s3.last()
    assert (method, path, "tagging" in query) == ("PUT", "/bkt", True)
    assert s3xml.parse_tagging(fake_s3.requests[-1].body) == [("k1", "v1"), ("<&>", "")]


# -- limits ----------------------------------------------------------------------------------


def test_valid_tag_sets():
    check_bucket_tags([])
    check_bucket_tags([(f"k{i}", "v") for i in range(50)])
    check_bucket_tags([("k" * 128, "v" * 256)])
    check_bucket_tags([("Name é 日本 ٣", "a b_.:/=+-@")])
    check_bucket_tags([("key", "")])
    check_bucket_tags([("awsome", "v"), ("x-aws:", "v")])  # only the prefix is reserved


def test_more_than_50_tags():
    err = error(check_bucket_tags, [(f"k{i}", "v") for i in range(51)])
    assert (err.code, err.status) == ("BadRequest", 400)
    assert err.message == "Bucket tag count cannot be greater than 50"


@pytest.mark.parametrize(
    "tags, message, extra",
    [
        (
            [("dup", "1"), ("dup", "2")],
            "Cannot provide multiple Tags with the same key",
            {"TagKey": "dup"},
        ),
        (
            [("aws:cloudformation", "v")],
            "System tags cannot be added/updated by requester",
            {"TagKey": "aws:cloudformation"},
        ),
        (
            [("AWS:Upper", "v")],
            "System tags cannot be added/updated by requester",
            {"TagKey": "AWS:Upper"},
        ),
        ([("k" * 129, "v")], "The TagKey you have provided is invalid", {"TagKey": "k" * 129}),
        ([("", "v")], "The TagKey you have provided is invalid", {"TagKey": ""}),
        ([("a*b", "v")], "The TagKey you have provided is invalid", {"TagKey": "a*b"}),
        ([("tab\there", "v")], "The TagKey you have provided is invalid", {"TagKey": "tab\there"}),
        (
            [("k", "v" * 257)],
            "The TagValue you have provided is invalid",
            {"TagKey": "k", "TagValue": "v" * 257},
        ),
        (
            [("k", "semi;colon")],
            "The TagValue you have provided is invalid",
            {"TagKey": "k", "TagValue": "semi;colon"},
        ),
    ],
)
def test_invalid_tags(tags, message, extra):
    err = error(check_bucket_tags, tags)
    assert (err.code, err.status, err.message, err.extra) == ("InvalidTag", 400, message, extra)


def test_first_problem_wins():
    # A duplicate is reported before the invalid value of the same tag.
    err = error(check_bucket_tags, [("k", "v"), ("k", "bad;")])
    assert err.message == "Cannot provide multiple Tags with the same key"
    # Tags are checked in document order.
    err = error(check_bucket_tags, [("bad*", "v"), ("aws:x", "v")])
    assert err.message == "The TagKey you have provided is invalid"
