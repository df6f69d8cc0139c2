"""SigV4 against AWS's published test suite and the S3 documentation examples."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from gateway.s3.auth import (
    UNSIGNED_PAYLOAD,
    AuthError,
    RequestView,
    canonical_request,
    signing_key,
    string_to_sign,
    verify,
)
from gateway.s3.auth.sigv4 import sign

# --------------------------------------------------------------------------- aws-sig-v4-test-suite

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = "20150830T123600Z"
SUITE_SCOPE = "20150830/us-east-1/service/aws4_request"
HOST = "example.amazonaws.com"
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# name, method, raw path, raw query, extra headers, body, signed headers, signature
SUITE = [
    ("get-vanilla", "GET", "/", "", {}, b"", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", {}, b"",
     "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", {}, b"",
     "host;x-amz-date", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
    ("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", {}, b"",
     "host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
    ("get-vanilla-query-unreserved", "GET", "/", f"{UNRESERVED}={UNRESERVED}", {}, b"",
     "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "/", "\u1234=bar", {}, b"", "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-vanilla-utf8-query-encoded", "GET", "/", "%E1%88%B4=bar", {}, b"", "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-unreserved", "GET", "/" + UNRESERVED, "", {}, b"", "host;x-amz-date",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-utf8", "GET", "/\u1234", "", {}, b"", "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-header-value-trim", "GET", "/", "",
     {"my-header1": " value1", "my-header2": ' "a   b   c"'}, b"",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("get-header-key-duplicate", "GET", "/", "", {"my-header1": "value2,value2,value1"}, b"",
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-order", "GET", "/", "", {"my-header1": "value4,value1,value3,value2"},
     b"", "host;my-header1;x-amz-date",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    ("post-vanilla", "POST", "/", "", {}, b"", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-vanilla-query", "POST", "/", "Param1=value1", {}, b"", "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-header-key-sort", "POST", "/", "", {"my-header1": "value1"}, b"",
     "host;my-header1;x-amz-date",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    ("post-header-value-case", "POST", "/", "", {"my-header1": "VALUE1"}, b"",
     "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-x-www-form-urlencoded", "POST", "/", "",
     {"content-type": "application/x-www-form-urlencoded", "content-length": "13"},
     b"Param1=value1", "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ("post-x-www-form-urlencoded-parameters", "POST", "/", "",
     {"content-type": "application/x-www-form-urlencoded; charset=utf8", "content-length": "13"},
     b"Param1=value1", "content-type;host;x-amz-date",
     "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
]  # fmt: skip


def _suite_view(method: str, path: str, query: str, extra: dict[str, str]) -> RequestView:
    return RequestView(method, path, query, {"host": HOST, "x-amz-date": SUITE_DATE, **extra})


@pytest.mark.parametrize(
    ("method", "path", "query", "extra", "body", "signed", "expected"),
    [case[1:] for case in SUITE],
    ids=[case[0] for case in SUITE],
)
def test_aws_suite_signature(method, path, query, extra, body, signed, expected):
    view = _suite_view(method, path, query, extra)
    creq = canonical_request(
        view, signed.split(";"), hashlib.sha256(body).hexdigest(), presigned=False
    )
    key = signing_key(SUITE_SECRET, "20150830", "us-east-1", "service")
    assert sign(key, string_to_sign(SUITE_DATE, SUITE_SCOPE, creq)) == expected


def test_aws_suite_get_vanilla_intermediates():
    view = _suite_view("GET", "/", "", {})
    creq = canonical_request(
        view, ["host", "x-amz-date"], hashlib.sha256().hexdigest(), presigned=False
    )
    assert creq == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert string_to_sign(SUITE_DATE, SUITE_SCOPE, creq) == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )


@pytest.mark.parametrize(
    ("name", "query", "canonical"),
    [
        ("order-key-case", "Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
        ("order-value", "Param1=value2&Param1=value1", "Param1=value1&Param1=value2"),
        ("utf8", "\u1234=bar", "%E1%88%B4=bar"),
        ("blank", "acl&b=", "acl=&b="),
    ],
)
def test_aws_suite_canonical_query(name, query, canonical):
    creq = canonical_request(_suite_view("GET", "/", query, {}), ["host"], "x", presigned=False)
    assert creq.split("\n")[2] == canonical


def test_header_value_trim_canonical_form():
    view = _suite_view("GET", "/", "", {"my-header1": " value1", "my-header2": '"a   b   c"'})
    creq = canonical_request(view, ["host", "my-header1", "my-header2"], "x", presigned=False)
    assert 'my-header1:value1\nmy-header2:"a b c"\n' in creq


# --------------------------------------------------------------------------- S3 documentation

S3_ACCESS = "AKIAIOSFODNN7EXAMPLE"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
S3_DATE = "20130524T000000Z"
S3_SCOPE = "20130524/us-east-1/s3/aws4_request"
S3_NOW = datetime(2013, 5, 24, 0, 3, tzinfo=UTC)
EMPTY = hashlib.sha256(b"").hexdigest()
BUCKET_HOST = "examplebucket.s3.amazonaws.com"


def _lookup(access_key: str) -> str | None:
    return S3_SECRET if access_key == S3_ACCESS else None


def _s3_key() -> bytes:
    return signing_key(S3_SECRET, "20130524", "us-east-1", "s3")


def _authz(signed: str, signature: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={S3_ACCESS}/{S3_SCOPE},"
        f"SignedHeaders={signed},Signature={signature}"
    )


GET_OBJECT_SIG = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
GET_OBJECT_SIGNED = "host;range;x-amz-content-sha256;x-amz-date"


def _get_object_view(**extra: str) -> RequestView:
    headers = {
        "host": BUCKET_HOST,
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY,
        "x-amz-date": S3_DATE,
        "authorization": _authz(GET_OBJECT_SIGNED, GET_OBJECT_SIG),
    }
    headers.update(extra)
    return RequestView("GET", "/test.txt", "", {k: v for k, v in headers.items() if v})


def test_s3_get_object_intermediates():
    view = _get_object_view()
    creq = canonical_request(view, GET_OBJECT_SIGNED.split(";"), EMPTY, presigned=False)
    assert creq == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY}"
    )
    sts = string_to_sign(S3_DATE, S3_SCOPE, creq)
    assert sts == (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    )
    assert sign(_s3_key(), sts) == GET_OBJECT_SIG


def test_s3_get_object_verify():
    result = verify(_get_object_view(), _lookup, S3_NOW)
    assert result is not None
    assert result.access_key == S3_ACCESS
    assert result.scope == S3_SCOPE
    assert result.amz_date == S3_DATE
    assert result.signature == GET_OBJECT_SIG
    assert result.payload_hash == EMPTY
    assert result.presigned is False
    assert result.signing_key == _s3_key()
    assert "signing_key" not in repr(result)


PUT_BODY_HASH = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
PUT_SIGNED = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
PUT_SIG = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


@pytest.mark.parametrize("raw_path", ["/test$file.text", "/test%24file.text"])
def test_s3_put_object(raw_path):
    view = RequestView(
        "PUT",
        raw_path,
        "",
        {
            "host": BUCKET_HOST,
            "date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-date": S3_DATE,
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": PUT_BODY_HASH,
            "authorization": _authz(PUT_SIGNED, PUT_SIG),
        },
    )
    creq = canonical_request(view, PUT_SIGNED.split(";"), PUT_BODY_HASH, presigned=False)
    assert creq.split("\n")[1] == "/test%24file.text"
    assert sign(_s3_key(), string_to_sign(S3_DATE, S3_SCOPE, creq)) == PUT_SIG
    result = verify(view, _lookup, S3_NOW)
    assert result is not None and result.payload_hash == PUT_BODY_HASH


@pytest.mark.parametrize(
    ("query", "signature"),
    [
        ("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        ("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ],
    ids=["get-bucket-lifecycle", "list-objects"],
)
def test_s3_bucket_requests(query, signature):
    signed = "host;x-amz-content-sha256;x-amz-date"
    view = RequestView(
        "GET",
        "/",
        query,
        {
            "host": BUCKET_HOST,
            "x-amz-date": S3_DATE,
            "x-amz-content-sha256": EMPTY,
            "authorization": _authz(signed, signature),
        },
    )
    creq = canonical_request(view, signed.split(";"), EMPTY, presigned=False)
    assert sign(_s3_key(), string_to_sign(S3_DATE, S3_SCOPE, creq)) == signature
    assert verify(view, _lookup, S3_NOW) is not None


PRESIGN_SIG = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
PRESIGN_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    f"&X-Amz-Signature={PRESIGN_SIG}"
)


def _presigned_view(query: str = PRESIGN_QUERY) -> RequestView:
    return RequestView("GET", "/test.txt", query, {"host": BUCKET_HOST})


def test_s3_presigned_intermediates():
    creq = canonical_request(_presigned_view(), ["host"], UNSIGNED_PAYLOAD, presigned=True)
    assert creq == (
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
        "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
        "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\n"
        "host\nUNSIGNED-PAYLOAD"
    )
    sts = string_to_sign(S3_DATE, S3_SCOPE, creq)
    assert sts.endswith("3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04")
    assert sign(_s3_key(), sts) == PRESIGN_SIG


def test_s3_presigned_verify():
    result = verify(_presigned_view(), _lookup, S3_NOW + timedelta(hours=23))
    assert result is not None
    assert result.presigned is True
    assert result.payload_hash == UNSIGNED_PAYLOAD
    assert result.signature == PRESIGN_SIG


def _expect(code: str, view: RequestView, now: datetime = S3_NOW, lookup=_lookup) -> AuthError:
    with pytest.raises(AuthError) as info:
        verify(view, lookup, now)
    assert info.value.code == code, info.value.message
    return info.value


def test_s3_presigned_expired():
    err = _expect("AccessDenied", _presigned_view(), S3_NOW + timedelta(days=1, minutes=1))
    assert err.message == "Request has expired"


def test_s3_presigned_for_no_time_at_all():
    zero = _presigned_view(PRESIGN_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=0"))
    assert _expect("AccessDenied", zero).message == "Request has expired"


def test_s3_presigned_errors():
    # An expiry no URL could have is forbidden (403), as the conformance suites expect.
    for expires in ("604801", "soon", "-7"):
        query = PRESIGN_QUERY.replace("X-Amz-Expires=86400", f"X-Amz-Expires={expires}")
        assert _expect("AuthorizationQueryParametersError", _presigned_view(query)).status == 403
    _expect(
        "AuthorizationQueryParametersError",
        _presigned_view(PRESIGN_QUERY.replace("&X-Amz-SignedHeaders=host", "")),
    )
    _expect(
        "AuthorizationQueryParametersError",
        _presigned_view(PRESIGN_QUERY.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")),
    )
    _expect(
        "AuthorizationQueryParametersError",
        _presigned_view(PRESIGN_QUERY.replace("%2Faws4_request", "")),
    )
    _expect("InvalidAccessKeyId", _presigned_view(PRESIGN_QUERY.replace("AKIAIOS", "AKIAXXX")))
    _expect("SignatureDoesNotMatch", _presigned_view(PRESIGN_QUERY + "&response-x=1"))
    tampered = RequestView("GET", "/other.txt", PRESIGN_QUERY, {"host": BUCKET_HOST})
    _expect("SignatureDoesNotMatch", tampered)


def test_anonymous_request_returns_none():
    view = RequestView("GET", "/bucket/key", "list-type=2", {"host": "h"})
    assert verify(view, _lookup, S3_NOW) is None


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={h}, Signature={s}",
        "AWS4-HMAC-SHA256 Credential={c},SignedHeaders={h},Signature={s}",
        "AWS4-HMAC-SHA256 Credential={c} SignedHeaders={h} Signature={s}",
        "  AWS4-HMAC-SHA256   Credential={c} ,  SignedHeaders={h},\tSignature={s}  ",
        "AWS4-HMAC-SHA256 Signature={s}, Credential={c}, SignedHeaders={h}",
    ],
)
def test_authorization_header_separator_tolerance(header):
    value = header.format(c=f"{S3_ACCESS}/{S3_SCOPE}", h=GET_OBJECT_SIGNED, s=GET_OBJECT_SIG)
    assert verify(_get_object_view(authorization=value), _lookup, S3_NOW) is not None


def test_header_auth_errors():
    _expect("InvalidAccessKeyId", _get_object_view(), lookup=lambda _: None)
    _expect(
        "AuthorizationHeaderMalformed",
        _get_object_view(
            authorization=f"AWS4-HMAC-SHA256 Credential={S3_ACCESS}/{S3_SCOPE}, "
            f"SignedHeaders={GET_OBJECT_SIGNED}"
        ),
    )
    _expect(
        "AuthorizationHeaderMalformed",
        _get_object_view(
            authorization=_authz(GET_OBJECT_SIGNED, GET_OBJECT_SIG).replace("/aws4_request", "")
        ),
    )
    _expect("AuthorizationHeaderMalformed", _get_object_view(authorization="Bearer abc"))
    _expect(
        "InvalidRequest", _get_object_view(authorization="AWS AKIAIOSFODNN7EXAMPLE:c2lnbmF0dXJl")
    )
    _expect("AccessDenied", _get_object_view(**{"x-amz-date": ""}))
    err = _expect("InvalidRequest", _get_object_view(**{"x-amz-content-sha256": ""}))
    assert err.message == "Missing required header for this request: x-amz-content-sha256"
    _expect("InvalidArgument", _get_object_view(**{"x-amz-content-sha256": "not-a-hash"}))
    _expect("RequestTimeTooSkewed", _get_object_view(), S3_NOW + timedelta(minutes=16))
    _expect("RequestTimeTooSkewed", _get_object_view(), S3_NOW - timedelta(minutes=19))
    _expect("SignatureDoesNotMatch", _get_object_view(range="bytes=0-10"))
    _expect("SignatureDoesNotMatch", _get_object_view(), lookup=lambda _: "wrong")
    both = RequestView("GET", "/test.txt", PRESIGN_QUERY, _get_object_view().headers)
    _expect("InvalidArgument", both)
    sigv2 = RequestView("GET", "/k", "AWSAccessKeyId=AK&Expires=1&Signature=x", {"host": "h"})
    _expect("InvalidRequest", sigv2)


def test_skew_window_edges_and_naive_now():
    view = _get_object_view()
    start = datetime(2013, 5, 24, tzinfo=UTC)
    assert verify(view, _lookup, start + timedelta(minutes=15)) is not None
    assert verify(view, _lookup, start - timedelta(minutes=15)) is not None
    assert verify(view, _lookup, datetime(2013, 5, 24, 0, 1)) is not None  # naive means UTC


def _self_signed(
    headers: dict[str, str], *, region: str = "us-east-1", path: str = "/b/k", query: str = ""
) -> RequestView:
    """Sign a request with our own primitives (their correctness is pinned above)."""
    headers = {"host": "tessera.test", "x-amz-content-sha256": EMPTY, **headers}
    signed = sorted(headers)
    date = headers.get("x-amz-date", "20130524T000000Z")
    scope = f"{date[:8]}/{region}/s3/aws4_request"
    view = RequestView("GET", path, query, headers)
    creq = canonical_request(view, signed, EMPTY, presigned=False)
    signature = sign(
        signing_key(S3_SECRET, date[:8], region, "s3"), string_to_sign(date, scope, creq)
    )
    authz = (
        f"AWS4-HMAC-SHA256 Credential={S3_ACCESS}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return RequestView("GET", path, query, {**headers, "authorization": authz})


def test_any_region_is_accepted():
    view = _self_signed({"x-amz-date": S3_DATE}, region="mars-north-9")
    result = verify(view, _lookup, S3_NOW)
    assert result is not None and result.scope == "20130524/mars-north-9/s3/aws4_request"


def test_date_header_without_x_amz_date():
    view = _self_signed({"date": "Fri, 24 May 2013 00:00:00 GMT"})
    result = verify(view, _lookup, S3_NOW)
    assert result is not None and result.amz_date == S3_DATE
    _expect("RequestTimeTooSkewed", view, S3_NOW + timedelta(hours=1))


def test_credential_date_must_match_request_date():
    view = _self_signed({"x-amz-date": "20130523T235959Z"})
    headers = dict(view.headers)
    headers["x-amz-date"] = S3_DATE
    _expect("AuthorizationHeaderMalformed", RequestView("GET", "/b/k", "", headers))


def test_encoded_slash_stays_distinct_from_a_real_one():
    view = _self_signed({"x-amz-date": S3_DATE}, path="/b/a%2Fb")
    assert verify(view, _lookup, S3_NOW) is not None
    moved = RequestView("GET", "/b/a/b", "", view.headers)
    _expect("SignatureDoesNotMatch", moved)


def test_query_pairs_decoding():
    view = RequestView("GET", "/", "a=1+2&b=x%20y&acl&empty=&&c=%2B", {})
    assert view.query_pairs() == [
        ("a", "1+2"),
        ("b", "x y"),
        ("acl", ""),
        ("empty", ""),
        ("c", "+"),
    ]
    assert view.query_get("b") == "x y"
    assert view.query_get("missing") is None
