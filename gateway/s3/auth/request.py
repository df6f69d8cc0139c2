"""A transport-neutral view of the parts of an HTTP request that SigV4 signs."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote


@dataclass(frozen=True)
class RequestView:
    """The request as it appeared on the wire.

    ``raw_path`` and ``raw_query`` must be exactly what the client sent (still
    percent-encoded); if the transport hands over bytes, decode them as UTF-8 with
    ``errors="surrogateescape"`` so that no byte is lost. ``headers`` has lower-cased
    names, with repeated headers already joined with ``","``. ``bucket_from_host`` is the
    bucket a virtual-hosted-style request named in its Host (then ``raw_path`` holds only
    the key); SigV2 signs it as part of the resource, SigV4 signs the Host header itself.
    """

    method: str
    raw_path: str
    raw_query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    bucket_from_host: str | None = None

    def query_pairs(self) -> list[tuple[str, str]]:
        """Decode ``raw_query`` into ``(name, value)`` pairs, in order, keeping blanks.

        '+' stays a literal plus: SigV4 clients encode spaces as %20, and S3 treats a
        bare '+' in a query value as '+'.
        """
        pairs: list[tuple[str, str]] = []
        for item in self.raw_query.split("&"):
            if not item:
                continue
            name, _, value = item.partition("=")
            pairs.append((unquote(name, errors="replace"), unquote(value, errors="replace")))
        return pairs

    def query_get(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (case-sensitive), or None."""
        for key, value in self.query_pairs():
            if key == name:
                return value
        return None
