"""Reading and writing certificate files: PEM bundles (several certificates) and DER."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"


class NotACertificate(ValueError):
    """The bytes hold no certificate certkit can read."""


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """All certificates in ``data``, in file order: a PEM bundle or one DER certificate."""
    if PEM_CERT_MARKER in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise NotACertificate(f"damaged PEM certificate ({_first_line(exc)})") from exc
    if not data.strip():
        raise NotACertificate("empty file")
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise NotACertificate("neither a PEM nor a DER certificate") from exc


def to_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0][:120] if text else type(exc).__name__
