"""Mutual TLS between Tessera's processes (storage nodes' Storage and Admin gRPC).

A process finds its TLS material in TESSERA_TLS_CA, TESSERA_TLS_CERT and TESSERA_TLS_KEY
(paths to PEM files, made by `tessera cert`; `tessera cluster up --tls` sets them for
its processes). With them, its gRPC servers accept only callers that show a certificate
of the same cluster CA, and its channels to other processes show its own certificate
and check theirs; without them, everything is plaintext as before (loopback only).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from coordinator import certs

ENV_CA, ENV_CERT, ENV_KEY = "TESSERA_TLS_CA", "TESSERA_TLS_CERT", "TESSERA_TLS_KEY"


@dataclass(frozen=True)
class Tls:
    """A process's CA certificate, own certificate and key (PEM)."""

    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def from_files(cls, ca: Path, cert: Path, key: Path) -> Tls:
        """Read and check the files (CertError saying what is wrong)."""
        try:
            tls = cls(ca.read_bytes(), cert.read_bytes(), key.read_bytes())
        except OSError as exc:
            raise certs.CertError(f"cannot read TLS material: {exc}") from None
        certs.verify(tls.cert, tls.ca)
        return tls

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tls | None:
        """The material named by TESSERA_TLS_*, or None when none is set."""
        env = os.environ if environ is None else environ
        paths = [env.get(name) for name in (ENV_CA, ENV_CERT, ENV_KEY)]
        if not any(paths):
            return None
        if not all(paths):
            raise certs.CertError(f"set all of {ENV_CA}, {ENV_CERT} and {ENV_KEY}, or none")
        ca, cert, key = (Path(p) for p in paths if p)
        return cls.from_files(ca, cert, key)

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca, self.key, self.cert)


@functools.cache
def process_tls() -> Tls | None:
    """This process's TLS material from its environment (read once)."""
    return Tls.from_env()


def listen(server: grpc.Server, address: str, tls: Tls | None) -> int:
    """Bind server to address, with mutual TLS when tls is given; the port (0: failed)."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.server_credentials())


def dialer(tls: Tls | None) -> Callable[..., grpc.Channel]:
    """dial(address, options=...) → a channel, with mutual TLS when tls is given."""
    if tls is None:
        return grpc.insecure_channel
    credentials = tls.channel_credentials()

    def dial(address: str, options: Any = None) -> grpc.Channel:
        return grpc.secure_channel(address, credentials, options=options)

    return dial


def aio_dialer(tls: Tls | None) -> Callable[..., grpc.aio.Channel]:
    """dialer() for grpc.aio channels."""
    if tls is None:
        return grpc.aio.insecure_channel
    credentials = tls.channel_credentials()

    def dial(address: str, options: Any = None) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(address, credentials, options=options)

    return dial
