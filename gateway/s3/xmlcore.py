"""The XML writer and parser every S3 document is built with (sans-IO, standard library only).

This module is the bottom of the S3 layer: it imports nothing of ours, so that
:mod:`gateway.s3.errors` (the ``<Error>`` body) and the document modules (:mod:`gateway.s3.xml`,
:mod:`gateway.s3.acl`, :mod:`gateway.s3.cors`, ...) all import it in one direction.

Every document starts with the XML declaration, like AWS's bodies. Texts go through
:func:`xml_escape`, which also copes with characters XML 1.0 cannot carry literally (see there);
clients that need such keys use ``encoding-type=url``, which botocore always sends for listings.
"""

from __future__ import annotations

import functools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

_ESCAPES: dict[int, str] = {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord('"'): "&quot;",
    ord("'"): "&apos;",
    # A literal CR (or CRLF) is turned into LF by every XML parser's end-of-line handling, so
    # line breaks go out as references, as AWS's key-naming guide prescribes.
    ord("\r"): "&#13;",
    ord("\n"): "&#10;",
}
# Characters outside XML 1.0's Char production. AWS writes them as numeric references; strict
# parsers (expat, hence botocore) still reject those, which is why encoding-type=url exists. A
# reference at least keeps the document encodable, even for lone surrogates.
for _cp in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000)]:
    _ESCAPES[_cp] = f"&#x{_cp:X};"
_ESCAPES[0xFFFE] = "&#xFFFE;"
_ESCAPES[0xFFFF] = "&#xFFFF;"
del _cp

# Bytes S3 leaves alone in encoding-type=url output (the set MinIO uses to mimic AWS);
# a space becomes '+', everything else %XX of its UTF-8 bytes. Clients decode with
# urllib.parse.unquote_plus (botocore's unquote_str), so '+' itself must be escaped, as it is.
_URL_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./*")


# Any character _ESCAPES rewrites: most texts (keys, ETags) have none and go out as they are.
_NEEDS_ESCAPE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_ESCAPES)) + "]")


def xml_escape(text: str) -> str:
    """Escape ``text`` for an XML text node or attribute value."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_ESCAPES)


def url_encode(text: str) -> str:
    """Encode ``text`` for ``encoding-type=url`` listings: percent-encoding of every byte
    but the unreserved ones and '/'. AWS writes a space as '+'; '%20' decodes to a space
    both for clients that decode forms (botocore's unquote_plus) and for those that only
    percent-decode, and is what the conformance suites expect."""
    out: list[str] = []
    for byte in text.encode("utf-8", "surrogatepass"):
        if byte in _URL_SAFE:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def iso8601(ts: float) -> str:
    """``2009-10-12T17:50:30.000Z``: the timestamp form of listings (UTC, milliseconds)."""
    if ts < 0:
        dt = datetime.fromtimestamp(ts, tz=UTC)
        return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"
    # As datetime.fromtimestamp rounds (half to even, to the microsecond), with the part
    # up to the second formatted once per second: a listing writes a thousand of these.
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole += 1
        micros -= 1_000_000
    return f"{_iso_second(int(whole))}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


class Doc:
    """Tiny append-only XML writer; cheaper and more predictable than building a tree."""

    def __init__(self) -> None:
        self._parts: list[str] = [XML_DECLARATION]

    def open(self, tag: str, *, ns: bool = False, attrs: Mapping[str, str] | None = None) -> None:
        """Open ``tag``; ``ns`` declares the S3 namespace, ``attrs`` are written in order."""
        if attrs is None:
            self._parts.append(f'<{tag} xmlns="{S3_NAMESPACE}">' if ns else f"<{tag}>")
            return
        head = f'<{tag} xmlns="{S3_NAMESPACE}"' if ns else f"<{tag}"
        written = "".join(f' {name}="{xml_escape(value)}"' for name, value in attrs.items())
        self._parts.append(f"{head}{written}>")

    def markup(self, text: str) -> None:
        """Append ``text`` as it is: markup already built and escaped."""
        self._parts.append(text)

    def close(self, tag: str) -> None:
        self._parts.append(f"</{tag}>")

    def elem(self, tag: str, text: str | int | bool | None) -> None:
        if isinstance(text, bool):
            value = "true" if text else "false"
        elif text is None:
            value = ""
        else:
            value = xml_escape(str(text))
        self._parts.append(f"<{tag}>{value}</{tag}>")

    def owner(self, owner: tuple[str, str]) -> None:
        self.open("Owner")
        self.elem("ID", owner[0])
        self.elem("DisplayName", owner[1])
        self.close("Owner")

    def to_bytes(self) -> bytes:
        return "".join(self._parts).encode("utf-8")


def local_name(tag: str) -> str:
    """Tag name without its ``{namespace}`` (clients send the S3 namespace or none)."""
    return tag.rsplit("}", 1)[-1]


class MalformedXML(ValueError):
    """A request body that is not a well-formed XML document, or that has a DTD."""


def parse(body: bytes) -> ET.Element:
    """Parse a request body, refusing DTDs; raise :class:`MalformedXML` on anything off.

    A DOCTYPE is never needed by S3 documents and is where entity-expansion attacks live, so it
    is rejected before the parser sees it. :func:`gateway.s3.xml.parse_xml` turns the error into
    S3's ``MalformedXML``.
    """
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise MalformedXML("a DTD in a request body")
    try:
        return ET.fromstring(body)
    except (ET.ParseError, ValueError) as exc:
        raise MalformedXML(str(exc)) from exc
