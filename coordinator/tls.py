"""TLS for Tessera's processes: mutual TLS on gRPC (storage nodes' Storage, Admin), HTTPS
on gateways.

A process finds its TLS material in TESSERA_TLS_CA, TESSERA_TLS_CERT and TESSERA_TLS_KEY
(paths to PEM files, made by `tessera cert`; `tessera cluster up --tls` sets them for
its processes). With them, its gRPC servers accept only callers that show a certificate
of the same cluster CA, its channels to other processes show its own certificate and
check theirs, and a gateway serves HTTPS with the same certificate; without them,
everything is plaintext as before (loopback only).
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from coordinator import certs

ENV_CA, ENV_CERT, ENV_KEY = "TESSERA_TLS_CA", "TESSERA_TLS_CERT", "TESSERA_TLS_KEY"
# Seconds between looks at the TLS files for a rotated certificate.
RELOAD_CHECK = 5.0

log = logging.getLogger("tessera.tls")


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
        try:
            certs.verify(tls.cert, tls.ca)
            certs.check_key(tls.cert, tls.key)
        except certs.CertError as exc:
            raise certs.CertError(f"{cert} (CA {ca}, key {key}): {exc}") from None
        return tls

    def https_context(self) -> ssl.SSLContext:
        """A server context for HTTPS with this certificate; S3 clients show none."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.load_into(context)
        return context

    def load_into(self, context: ssl.SSLContext) -> None:
        """Make context serve this certificate (to connections made from now on)."""
        # ssl reads a certificate chain from files only: hand it a private copy.
        with tempfile.TemporaryDirectory(prefix="tessera-tls-") as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_bytes(self.cert)
            key.touch(mode=0o600)
            key.write_bytes(self.key)
            context.load_cert_chain(cert, key)

    def certificate_configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(self.key, self.cert)], self.ca)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca, self.key, self.cert)


def env_paths() -> tuple[Path, Path, Path] | None:
    """(CA, certificate, key) named by TESSERA_TLS_*, or None when none is set."""
    paths = [os.environ.get(name) for name in (ENV_CA, ENV_CERT, ENV_KEY)]
    if not any(paths):
        return None
    if not all(paths):
        raise certs.CertError(f"set all of {ENV_CA}, {ENV_CERT} and {ENV_KEY}, or none")
    ca, cert, key = (Path(p) for p in paths if p)
    return ca, cert, key


class TlsFiles:
    """A process's TLS files, read again when they change (`watch`): an operator
    rotates a certificate (or adds a CA to the CA file) by replacing the files, and new
    connections use the new ones without a restart. Changed files that do not make a
    valid set (half written, another CA, a key that is not the certificate's) are
    logged and ignored until they do. Reading `material` and `generation` costs no I/O:
    request paths may look at them."""

    def __init__(self, ca: Path, cert: Path, key: Path) -> None:
        self.paths = (ca, cert, key)
        self._stamp = self._stat()
        self._rejected: tuple[tuple[int, int, int] | None, ...] | None = None
        self.material = Tls.from_files(ca, cert, key)
        self.generation = 0  # how many times the material changed
        self._lock = threading.Lock()

    def _stat(self) -> tuple[tuple[int, int, int] | None, ...]:
        stamps: list[tuple[int, int, int] | None] = []
        for path in self.paths:
            try:
                st = path.stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(stamps)

    def watch(self) -> None:
        """Look at the files every RELOAD_CHECK seconds, in a daemon thread."""

        def loop() -> None:
            while True:
                time.sleep(RELOAD_CHECK)
                try:
                    self.reload()
                except Exception:  # never let the watch die: the next look may work
                    log.exception("checking the TLS files failed")

        threading.Thread(target=loop, name="tls-files", daemon=True).start()

    def reload(self) -> bool:
        """Read the files again if they changed; whether the material changed."""
        with self._lock:
            stamp = self._stat()
            if stamp in (self._stamp, self._rejected):
                return False
            try:
                material = Tls.from_files(*self.paths)
            except certs.CertError as exc:
                log.error("TLS files changed but cannot be used, keeping the old ones: %s", exc)
                self._rejected = stamp  # said once; tried again when they change again
                return False
            self._stamp, self.material = stamp, material
            self.generation += 1
        facts = certs.describe(material.cert)
        log.info(
            "TLS certificate reloaded subject=%s expires=%s fingerprint=%s",
            facts.subject,
            f"{facts.not_after:%Y-%m-%d}",
            facts.fingerprint[:16],
        )
        return True

    def server_credentials(self) -> grpc.ServerCredentials:
        """mTLS server credentials that take the current material at each handshake."""
        served = [self.generation]

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            material, generation = self.material, self.generation
            if generation == served[0]:
                return None  # unchanged
            served[0] = generation
            return material.certificate_configuration()

        return grpc.dynamic_ssl_server_credentials(
            self.material.certificate_configuration(),
            fetch,
            require_client_authentication=True,
        )


@functools.cache
def process_files() -> TlsFiles | None:
    """This process's TLS files from its environment, watched for replacements
    (CertError when they are unusable)."""
    paths = env_paths()
    if paths is None:
        return None
    files = TlsFiles(*paths)
    files.watch()
    return files


def process_tls() -> Tls | None:
    """This process's current TLS material, or None when it has none."""
    files = process_files()
    return None if files is None else files.material


def generation() -> int:
    """Changes whenever this process's TLS material does (channels dialled before are
    dialled again)."""
    files = process_files()
    return 0 if files is None else files.generation


def listen(server: grpc.Server, address: str, files: TlsFiles | None) -> int:
    """Bind server to address, with mutual TLS when files are given (a rotated
    certificate is taken up by new connections); the port (0: failed)."""
    if files is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, files.server_credentials())


def process_dialer(aio: bool = False) -> Callable[..., Any]:
    """dial(address, options=...) with this process's TLS material as it is when the
    channel is dialled (grpc.aio channels when aio)."""

    def dial(address: str, options: Any = None) -> Any:
        make = aio_dialer if aio else dialer
        return make(process_tls())(address, options=options)

    return dial


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
