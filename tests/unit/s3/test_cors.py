"""Bucket CORS (gateway.s3.cors): the CORSConfiguration document, rule matching, and the
headers and errors of preflight and actual requests, as Amazon S3 answers them."""

from __future__ import annotations

import pytest

from gateway.s3 import cors
from gateway.s3.cors import VARY, CorsRule
from gateway.s3.errors import S3Error

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
ORIGIN = "<AllowedOrigin>https://example.com</AllowedOrigin>"
METHOD = "<AllowedMethod>GET</AllowedMethod>"
MINIMAL = ORIGIN + METHOD


def config(*rules: str) -> bytes:
    inner = "".join(f"<CORSRule>{r}</CORSRule>" for r in rules)
    return f"<CORSConfiguration {NS}>{inner}</CORSConfiguration>".encode()


def rule(origins=("*",), methods=("GET",), headers=(), expose=(), max_age=None, id=None):
    return CorsRule(list(origins), list(methods), list(headers), list(expose), max_age, id)


def error(fn, *args, **kwargs) -> S3Error:
    with pytest.raises(S3Error) as info:
        fn(*args, **kwargs)
    return info.value


# -- the document --------------------------------------------------------------------------


def test_parse_every_element():
    body = config(
        "<ID>site</ID>" + ORIGIN + "<AllowedOrigin>https://*.example.com</AllowedOrigin>"
        "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>"
        "<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
        "<MaxAgeSeconds>0042</MaxAgeSeconds>",
        MINIMAL,
    )
    assert cors.parse_cors_configuration(body) == [
        rule(
            ["https://example.com", "https://*.example.com"],
            ["PUT", "DELETE"],
            ["*"],
            ["ETag"],
            42,
            "site",
        ),
        rule(["https://example.com"]),
    ]


def test_parse_without_namespace_and_with_whitespace():
    body = b"<CORSConfiguration>\n  <CORSRule>\n    " + MINIMAL.encode() + b"\n  </CORSRule>\n"
    body += b"</CORSConfiguration>"
    assert cors.parse_cors_configuration(body) == [rule(["https://example.com"])]


def test_100_rules_are_allowed():
    assert len(cors.parse_cors_configuration(config(*[MINIMAL] * 100))) == 100


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        config(),
        config(*[MINIMAL] * 101),
        b"<CORSRules><CORSRule>" + MINIMAL.encode() + b"</CORSRule></CORSRules>",
        f"<CORSConfiguration>{MINIMAL}</CORSConfiguration>".encode(),
        config(""),
        config(METHOD),
        config(ORIGIN),
        config(MINIMAL, METHOD),
        config(MINIMAL + "<AllowedHeaders>*</AllowedHeaders>"),
        config(MINIMAL + "<allowedheader>*</allowedheader>"),
        config(MINIMAL + "text"),
        config("<AllowedOrigin><O>*</O></AllowedOrigin>" + METHOD),
        config(MINIMAL + "<MaxAgeSeconds></MaxAgeSeconds>"),
        config(MINIMAL + "<MaxAgeSeconds>-1</MaxAgeSeconds>"),
        config(MINIMAL + "<MaxAgeSeconds>1.5</MaxAgeSeconds>"),
        config(MINIMAL + "<MaxAgeSeconds>2147483648</MaxAgeSeconds>"),
        config(MINIMAL + "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds>"),
        config(MINIMAL + f"<ID>{'a' * 256}</ID>"),
        config(MINIMAL + "<ID>a</ID><ID>b</ID>"),
        # Structure is checked before values: a bad method does not hide a missing origin.
        config("<AllowedMethod>PATCH</AllowedMethod>"),
    ],
)
def test_parse_malformed(body):
    assert error(cors.parse_cors_configuration, body).code == "MalformedXML"


@pytest.mark.parametrize(
    "rule_xml, message",
    [
        (
            ORIGIN + "<AllowedMethod>PATCH</AllowedMethod>",
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
        ),
        (
            ORIGIN + "<AllowedMethod>get</AllowedMethod>",
            "Found unsupported HTTP method in CORS config. Unsupported method is get",
        ),
        (
            ORIGIN + "<AllowedMethod>OPTIONS</AllowedMethod>",
            "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS",
        ),
        (
            "<AllowedOrigin>https://*.example.*</AllowedOrigin>" + METHOD,
            'AllowedOrigin "https://*.example.*" can not have more than one wildcard.',
        ),
        (
            MINIMAL + "<AllowedHeader>x-*-meta-*</AllowedHeader>",
            'AllowedHeader "x-*-meta-*" can not have more than one wildcard.',
        ),
        (
            MINIMAL + "<ExposeHeader>x-amz-*</ExposeHeader>",
            'ExposeHeader "x-amz-*" contains wildcard. '
            "We currently do not support wildcard for ExposeHeader.",
        ),
        # Methods are checked before origins, origins before headers.
        (
            "<AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>PUTS</AllowedMethod>",
            "Found unsupported HTTP method in CORS config. Unsupported method is PUTS",
        ),
        (
            "<AllowedOrigin>*.*</AllowedOrigin>" + METHOD + "<AllowedHeader>**</AllowedHeader>",
            'AllowedOrigin "*.*" can not have more than one wildcard.',
        ),
    ],
)
def test_parse_invalid_request(rule_xml, message):
    err = error(cors.parse_cors_configuration, config(MINIMAL, rule_xml))
    assert (err.code, err.status, err.message) == ("InvalidRequest", 400, message)


def test_render_in_aws_order_and_round_trip():
    rules = [
        rule(["https://a.com", "https://*.b.org"], ["GET", "PUT"], ["x-amz-*"], ["ETag"], 0, "r1"),
        rule(),
        rule(["https://a.com/?x=1&y=<2>"], ["HEAD"], id=""),
    ]
    body = cors.cors_configuration(rules)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns=')
    assert (
        b"<CORSRule><ID>r1</ID><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
        b"<AllowedOrigin>https://a.com</AllowedOrigin><AllowedOrigin>https://*.b.org</AllowedOrigin>"
        b"<AllowedHeader>x-amz-*</AllowedHeader><MaxAgeSeconds>0</MaxAgeSeconds>"
        b"<ExposeHeader>ETag</ExposeHeader></CORSRule>"
        b"<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>"
    ) in body
    assert cors.parse_cors_configuration(body) == rules


def test_record_round_trip():
    rules = [rule(["https://a.com"], ["GET", "PUT"], ["*"], ["ETag"], 30, "x"), rule()]
    assert cors.rules_of([r.to_record() for r in rules]) == rules
    assert cors.rules_of(()) is None
    assert cors.rules_of(None) is None


def test_botocore_round_trip(fake_s3):
    rules_in = [
        {
            "ID": "site",
            "AllowedOrigins": ["https://example.com", "https://*.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag", "x-amz-request-id"],
            "MaxAgeSeconds": 3000,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
    ]
    fake_s3.reply(b"")
    fake_s3.client.put_bucket_cors(Bucket="bkt", CORSConfiguration={"CORSRules": rules_in})
    assert fake_s3.last()[0] == "PUT" and "cors" in fake_s3.last()[2]
    parsed = cors.parse_cors_configuration(fake_s3.requests[-1].body)
    fake_s3.reply(cors.cors_configuration(parsed))
    assert fake_s3.client.get_bucket_cors(Bucket="bkt")["CORSRules"] == rules_in


# -- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, origin, matches",
    [
        ("*", "https://example.com", True),
        ("*", "null", True),
        ("https://example.com", "https://example.com", True),
        ("https://example.com", "http://example.com", False),
        ("https://example.com", "https://example.com:8443", False),
        ("https://example.com", "https://www.example.com", False),
        ("https://*.example.com", "https://www.example.com", True),
        ("https://*.example.com", "https://a.b.example.com", True),
        ("https://*.example.com", "https://example.com", False),
        ("https://*.example.com", "https://www.example.com.evil", False),
        ("https://*.example.com", "https://WWW.example.com", True),  # the wildcard part
        ("https://example.com:*", "https://example.com:8443", True),
        ("http*://example.com", "https://example.com", True),
        ("https://a*a", "https://aa", True),
        ("https://a*a", "https://a", False),  # prefix and suffix do not overlap
        # Origins compare case-sensitively, like text.
        ("https://example.com", "https://EXAMPLE.com", False),
        ("HTTPS://example.com", "https://example.com", False),
    ],
)
def test_origin_patterns(pattern, origin, matches):
    assert (cors.match_rule([rule([pattern])], origin, "GET") is not None) is matches


@pytest.mark.parametrize(
    "method, matches",
    [("GET", True), ("HEAD", True), ("PUT", False), ("get", False), ("OPTIONS", False)],
)
def test_methods(method, matches):
    assert (cors.match_rule([rule(methods=["GET", "HEAD"])], "o", method) is not None) is matches


@pytest.mark.parametrize(
    "allowed, requested, matches",
    [
        ([], [], True),
        ([], ["content-type"], False),
        (["content-type"], ["content-type"], True),
        (["Content-Type"], ["content-type"], True),  # AllowedHeader ignores case
        (["content-type"], ["content-type", "x-amz-date"], False),
        (["content-type", "x-amz-date"], ["x-amz-date", "content-type"], True),
        (["*"], ["authorization", "x-custom"], True),
        (["X-Amz-*"], ["x-amz-date", "x-amz-meta-a"], True),
        (["x-amz-*"], ["x-amz-"], True),
        (["x-amz-*"], ["x-amzn-trace-id"], False),
        (["x-amz-*"], ["my-x-amz-date"], False),
        (["*-type"], ["content-type"], True),
        (["x-*-id"], ["x-request-id"], True),
        (["x-*-id"], ["x-id"], False),
    ],
)
def test_request_headers(allowed, requested, matches):
    found = cors.match_rule([rule(headers=allowed)], "o", "GET", requested)
    assert (found is not None) is matches


def test_split_request_headers():
    assert cors.split_request_headers("Content-Type,X-Amz-Date ,  x-amz-meta-N") == [
        "content-type",
        "x-amz-date",
        "x-amz-meta-n",
    ]
    assert cors.split_request_headers(" , ,") == []
    assert cors.split_request_headers(None) == []


def test_first_matching_rule_wins():
    exact = rule(["https://example.com"], ["GET", "PUT"], id="exact")
    pattern = rule(["https://*.com"], ["GET"], ["*"], id="pattern")
    anyone = rule(["*"], ["GET", "HEAD"], id="any")
    assert cors.match_rule([exact, pattern, anyone], "https://example.com", "GET").id == "exact"
    assert cors.match_rule([anyone, exact], "https://example.com", "GET").id == "any"
    assert cors.match_rule([pattern, exact, anyone], "https://example.com", "PUT").id == "exact"
    assert cors.match_rule([exact, pattern, anyone], "https://example.com", "HEAD").id == "any"
    found = cors.match_rule([exact, pattern, anyone], "https://example.com", "GET", ["x-a"])
    assert found.id == "pattern"
    # Origin, method and headers must all be allowed by the same rule.
    split = [rule(["https://example.com"], ["PUT"]), rule(["https://other.com"], ["GET"])]
    assert cors.match_rule(split, "https://example.com", "GET") is None
    assert cors.match_rule([], "https://example.com", "GET") is None


# -- preflight -------------------------------------------------------------------------------

SITE = rule(
    ["https://example.com", "https://*.example.com"],
    ["GET", "PUT", "DELETE"],
    ["Content-Type", "x-amz-*"],
    ["ETag", "x-amz-request-id"],
    3000,
    "site",
)
PUBLIC = rule(["*"], ["GET", "HEAD"], id="public")
RULES = [SITE, PUBLIC]


def request(origin=None, method=None, headers=None) -> dict[str, str]:
    out = {}
    if origin is not None:
        out["origin"] = origin
    if method is not None:
        out["access-control-request-method"] = method
    if headers is not None:
        out["access-control-request-headers"] = headers
    return out


def preflight(rules, req, exists=True, resource="OBJECT"):
    return cors.preflight(rules, req, bucket_exists=exists, resource_type=resource)


def test_preflight_match_with_headers():
    req = request("https://example.com", "PUT", "Content-Type,X-Amz-Date ,x-amz-meta-Name")
    assert preflight(RULES, req) == {
        "Access-Control-Allow-Origin": "https://example.com",
        "Access-Control-Allow-Methods": "GET, PUT, DELETE",
        "Access-Control-Allow-Headers": "content-type, x-amz-date, x-amz-meta-name",
        "Access-Control-Expose-Headers": "ETag, x-amz-request-id",
        "Access-Control-Max-Age": "3000",
        "Access-Control-Allow-Credentials": "true",
        "Vary": VARY,
    }


def test_preflight_wildcard_origin_answers_star_without_credentials():
    assert preflight(RULES, request("https://example.org", "GET", "")) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Vary": VARY,
    }
    # HEAD is allowed only by the second rule.
    headers = preflight(RULES, request("https://example.com", "HEAD"))
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert VARY == "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@pytest.mark.parametrize(
    "req, message",
    [
        (request(None, "GET"), "Insufficient information. Origin request header needed."),
        (request("", "GET"), "Insufficient information. Origin request header needed."),
        (request("https://example.com"), "Invalid Access-Control-Request-Method: null"),
        (request("https://example.com", "PATCH"), "Invalid Access-Control-Request-Method: PATCH"),
        (request("https://example.com", "get"), "Invalid Access-Control-Request-Method: get"),
    ],
)
def test_preflight_bad_request(req, message):
    err = error(preflight, RULES, req)
    assert (err.code, err.status, err.message) == ("BadRequest", 400, message)


@pytest.mark.parametrize(
    "rules, exists, req, message",
    [
        (None, False, request("https://example.com", "GET"), cors.BUCKET_NOT_FOUND),
        (None, True, request("https://example.com", "GET"), cors.NOT_ENABLED),
        (RULES, True, request("https://example.org", "PUT"), cors.NOT_ALLOWED),
        (RULES, True, request("https://EXAMPLE.com", "PUT"), cors.NOT_ALLOWED),
        (RULES, True, request("https://example.com", "POST"), cors.NOT_ALLOWED),
        (RULES, True, request("https://example.com", "PUT", "authorization"), cors.NOT_ALLOWED),
        (RULES, True, request("https://example.org", "GET", "content-type"), cors.NOT_ALLOWED),
    ],
)
def test_preflight_forbidden(rules, exists, req, message):
    err = error(preflight, rules, req, exists=exists, resource="BUCKET")
    assert (err.code, err.status, err.message) == ("AccessForbidden", 403, message)
    assert err.extra == {"Method": req["access-control-request-method"], "ResourceType": "BUCKET"}


def test_not_allowed_message_is_aws():
    assert cors.NOT_ALLOWED.startswith("CORSResponse: This CORS request is not allowed.")
    assert S3Error("AccessForbidden").message == cors.NOT_ALLOWED


# -- actual requests -------------------------------------------------------------------------


def test_response_headers_for_actual_requests():
    assert cors.response_headers(RULES, "https://app.example.com", "PUT") == {
        "Access-Control-Allow-Origin": "https://app.example.com",
        "Access-Control-Allow-Methods": "GET, PUT, DELETE",
        "Access-Control-Expose-Headers": "ETag, x-amz-request-id",
        "Access-Control-Max-Age": "3000",
        "Access-Control-Allow-Credentials": "true",
        "Vary": VARY,
    }
    assert cors.response_headers(RULES, "https://example.org", "GET") == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, HEAD",
        "Vary": VARY,
    }
    # AllowedHeader plays no part outside a preflight.
    strict = [rule(["https://example.com"], headers=["x-only"])]
    assert "Access-Control-Allow-Origin" in cors.response_headers(
        strict, "https://example.com", "GET"
    )


@pytest.mark.parametrize(
    "rules, origin, method",
    [
        (None, "https://example.com", "GET"),
        ([], "https://example.com", "GET"),
        (RULES, "https://example.org", "PUT"),
        (RULES, "https://example.com", "POST"),
        (RULES, "", "GET"),
    ],
)
def test_no_response_headers(rules, origin, method):
    assert cors.response_headers(rules, origin, method) == {}
