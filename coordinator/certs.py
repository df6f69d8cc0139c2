"""Cluster certificates: one certificate authority per cluster, and the certificates it
signs for each host, for TLS and mutual authentication between Tessera's processes.

A host certificate names the host (its DNS names and IP addresses as subject alternative
names) and serves both ends of a connection (server and client authentication), so one
certificate per host covers its storage node, its gateway and its etcd member. Keys are
ECDSA P-256. Everything here is pure: PEM bytes in, PEM bytes out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
HOST_DAYS = 397  # what browsers accept for a server certificate
ORGANIZATION = "Tessera"


class CertError(Exception):
    """A certificate that cannot be used, and why, in one line."""


@dataclass(frozen=True)
class Described:
    """What an operator wants to know about a certificate."""

    subject: str
    issuer: str
    hosts: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool
    fingerprint: str  # SHA-256, hex


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def new_ca(cluster: str, now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """A new certificate authority for the cluster named `cluster`: (key, certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Tessera cluster CA {cluster}"),
        ]
    )
    start = _now(now) - dt.timedelta(minutes=5)  # hosts' clocks differ a little
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def issue(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    name: str,
    hosts: list[str],
    days: int = HOST_DAYS,
    now: dt.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A certificate for host `name`, valid for each of hosts (DNS names or IP
    addresses; name itself is always one), signed by the CA: (key, certificate)."""
    if not name:
        raise CertError("a certificate needs a name")
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertError("the CA key is not an ECDSA key made by `tessera cert init`")
    ca_cert = load(ca_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    start = _now(now) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names([name, *hosts])), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip() for h in hosts if h.strip()):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def load(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertError(f"not a PEM certificate: {exc}") from None


def check_key(cert_pem: bytes, key_pem: bytes) -> None:
    """CertError unless key_pem is the private key of the certificate."""
    cert = load(cert_pem)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertError(f"not a PEM private key without a password: {exc}") from None
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
        raise CertError(
            f"the private key is not the key of certificate {cert.subject.rfc4514_string()}"
        )


def describe(cert_pem: bytes) -> Described:
    """The facts of a certificate, for `tessera cert list`."""
    cert = load(cert_pem)
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = tuple(str(v) for v in alt.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in alt.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        hosts = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return Described(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        hosts=hosts,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=is_ca,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def load_bundle(pem: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a CA file may hold the old and the new CA while
    the cluster's CA is rotated)."""
    try:
        bundle = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertError(f"not a PEM certificate: {exc}") from None
    return bundle


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify(cert_pem: bytes, ca_cert_pem: bytes, now: dt.datetime | None = None) -> None:
    """CertError (saying why) unless the certificate was signed by this cluster's CA (one
    of them, when the CA file holds several) and is valid now."""
    cert = load(cert_pem)
    issuers = [ca for ca in load_bundle(ca_cert_pem) if ca.subject == cert.issuer]
    if not issuers:
        raise CertError(
            f"certificate {cert.subject.rfc4514_string()} is from another CA "
            f"({cert.issuer.rfc4514_string()}), not this cluster's"
        )
    if not any(_signed_by(cert, ca) for ca in issuers):
        raise CertError(
            f"certificate {cert.subject.rfc4514_string()} is not signed by this cluster's CA "
            "(another CA of the same name)"
        )
    moment = _now(now)
    if moment < cert.not_valid_before_utc:
        raise CertError(
            f"certificate {cert.subject.rfc4514_string()} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if moment > cert.not_valid_after_utc:
        raise CertError(
            f"certificate {cert.subject.rfc4514_string()} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
