"""Test certificates at chosen validity offsets (EC P-256: fast), kept in memory until written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self, password: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    def write(self, path: Path, *, chain: list[Issued] | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem() + b"".join(c.pem() for c in chain or []))
        return path


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(
    name: str,
    not_before: datetime,
    not_after: datetime,
    *,
    issuer: Issued | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Issued:
    key = key or new_key()
    builder = _base(name, key, not_before, not_after, issuer)
    builder = builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True
    )
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=False,
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
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def make_leaf(
    name: str,
    issuer: Issued,
    not_before: datetime,
    not_after: datetime,
    *,
    sans: tuple[str, ...] | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Issued:
    key = key or new_key()
    builder = _base(name, key, not_before, not_after, issuer)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=True,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
    )
    names: list[x509.GeneralName] = [x509.DNSName(s) for s in (sans if sans is not None else (name,))]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


HOSTILE_CN = '<script>alert("pwned")</script>\n"quoted" & \\back\\slash <b>bold</b>'[:64]


def hostile_certificate(now: datetime) -> Issued:
    """Self-signed, its subject full of HTML, quotes, backslashes and a newline: what a
    report or a label must show as text (a CA would sign such a request without a blink)."""
    key = new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE_CN),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, '"><img src=x onerror=alert(1)>'),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=400))
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def around(
    now: datetime, *, expires_in: timedelta, valid_for: timedelta = timedelta(days=365)
) -> tuple[datetime, datetime]:
    """(not_before, not_after) for a certificate that expires ``expires_in`` after ``now``."""
    not_after = now + expires_in
    return not_after - valid_for, not_after


def _base(
    name: str, key: ec.EllipticCurvePrivateKey, not_before: datetime, not_after: datetime, issuer: Issued | None
) -> x509.CertificateBuilder:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    return builder
