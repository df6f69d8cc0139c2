"""Presigned SigV4 URLs, made the way AWS SDKs make them (the console's share links). Pure."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from .request import RequestView
from .sigv4 import UNSIGNED_PAYLOAD, canonical_request, sign, signing_key, string_to_sign


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def presigned_url(
    *,
    method: str,
    scheme: str,
    host: str,
    bucket: str,
    key: str,
    access_key: str,
    secret_key: str,
    region: str,
    expires: int,
    now: datetime,
    query: dict[str, str] | None = None,
) -> str:
    """A path-style URL to bucket/key that authorises `method` for `expires` seconds from
    `now` (UTC), signed with the key's secret; `query` adds parameters it signs too."""
    date = now.strftime("%Y%m%d")
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{date}/{region}/s3/aws4_request"
    params = {
        **(query or {}),
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    raw_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
    raw_path = "/" + _encode(bucket) + "/" + quote(key, safe="/-_.~")
    view = RequestView(
        method=method, raw_path=raw_path, raw_query=raw_query, headers={"host": host}
    )
    canonical = canonical_request(view, ["host"], UNSIGNED_PAYLOAD, presigned=True)
    signature = sign(
        signing_key(secret_key, date, region, "s3"), string_to_sign(amz_date, scope, canonical)
    )
    return f"{scheme}://{host}{raw_path}?{raw_query}&X-Amz-Signature={signature}"
