"""A botocore S3 client whose requests never leave the process.

A ``before-send`` hook records each prepared request and answers with a canned response, so
the tests see both what a real client sends and how it parses what we render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object):
        yield self._body


@dataclass
class FakeS3:
    client: object
    requests: list = field(default_factory=list)
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def reply(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body, self.status, self.headers = body, status, headers or {}

    def last(self) -> tuple[str, str, dict[str, str], dict[str, str]]:
        """(method, raw path, query, lower-cased headers) of the last request."""
        req = self.requests[-1]
        parts = urlsplit(req.url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {
            k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()
        }
        return req.method, parts.path, query, headers


@pytest.fixture(scope="session")
def botocore_session() -> botocore.session.Session:
    # One session: it caches the loaded service model, the slow part of creating a client.
    return botocore.session.get_session()


@pytest.fixture
def fake_s3(botocore_session: botocore.session.Session) -> FakeS3:
    client = botocore_session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    fake = FakeS3(client=client)

    def before_send(request, **_: object) -> AWSResponse:
        fake.requests.append(request)
        return AWSResponse(request.url, fake.status, fake.headers, _Raw(fake.body))

    client.meta.events.register("before-send.s3", before_send)
    return fake
