"""Incremental S3 checksums (x-amz-checksum-*), base64 encoded like AWS."""

from __future__ import annotations

import base64
import hashlib
import zlib

from awscrt import checksums as crt

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


class Checksum:
    """One running checksum; `update` with bytes, `b64()` for the header value."""

    def __init__(self, algorithm: str) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(algorithm)
        self.algorithm = algorithm
        self._crc = 0
        self._hash = hashlib.new(algorithm) if algorithm.startswith("sha") else None

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.algorithm == "crc32":
            self._crc = zlib.crc32(data, self._crc)
        elif self.algorithm == "crc32c":
            self._crc = crt.crc32c(data, self._crc)
        else:
            self._crc = crt.crc64nvme(data, self._crc)

    def digest(self) -> bytes:
        if self._hash is not None:
            return self._hash.digest()
        width = 8 if self.algorithm == "crc64nvme" else 4
        return self._crc.to_bytes(width, "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


def header_name(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm}"


def requested(headers: dict[str, str]) -> dict[str, str]:
    """Checksums the client sent as headers: algorithm → expected base64 value."""
    return {algo: headers[header_name(algo)] for algo in ALGORITHMS if header_name(algo) in headers}


def trailer_algorithms(headers: dict[str, str]) -> list[str]:
    """Algorithms announced in x-amz-trailer for an aws-chunked body."""
    names = [n.strip().lower() for n in headers.get("x-amz-trailer", "").split(",") if n.strip()]
    return [n.removeprefix("x-amz-checksum-") for n in names if n.startswith("x-amz-checksum-")]
