"""Assertions on certificates: every extension and its criticality (after trustme's tests)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCKER_PREFIX = [("C", "US"), ("ST", "CA"), ("L", "San Francisco"), ("O", "Docker")]
_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "CN": NameOID.COMMON_NAME,
}


def name(*pairs: tuple[str, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(_OIDS[k], v) for k, v in pairs])


def ext(cert: x509.Certificate, cls: type) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(cls)


def extension_classes(cert: x509.Certificate) -> set[type]:
    return {type(e.value) for e in cert.extensions}


def assert_key(cert: x509.Certificate, kind: str, size_or_curve: int | str) -> None:
    key = cert.public_key()
    if kind == "rsa":
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == size_or_curve
        assert key.public_numbers().e == 65537
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == size_or_curve


def assert_validity(cert: x509.Certificate, days: float) -> None:
    """notAfter is `days` after issuance; notBefore is backdated by a few minutes."""
    span = cert.not_valid_after_utc - cert.not_valid_before_utc
    backdate = span - timedelta(days=days)
    assert timedelta(minutes=1) <= backdate <= timedelta(minutes=10), span


def assert_ski(cert: x509.Certificate) -> None:
    e = ext(cert, x509.SubjectKeyIdentifier)
    assert e.critical is False
    assert e.value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def assert_aki(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    e = ext(cert, x509.AuthorityKeyIdentifier)
    assert e.critical is False
    assert e.value.key_identifier == ext(issuer, x509.SubjectKeyIdentifier).value.digest


def assert_key_usage(cert: x509.Certificate, **expected: bool) -> None:
    e = ext(cert, x509.KeyUsage)
    assert e.critical is True
    for field in (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    ):
        assert getattr(e.value, field) is expected.get(field, False), field


def assert_eku(cert: x509.Certificate, *oids: x509.ObjectIdentifier) -> None:
    e = ext(cert, x509.ExtendedKeyUsage)
    assert e.critical is False
    assert list(e.value) == list(oids)


def assert_is_ca(cert: x509.Certificate, path_length: int | None) -> None:
    e = ext(cert, x509.BasicConstraints)
    assert e.critical is True
    assert e.value.ca is True
    assert e.value.path_length == path_length


def assert_is_leaf(cert: x509.Certificate) -> None:
    e = ext(cert, x509.BasicConstraints)
    assert e.critical is True
    assert e.value.ca is False
    assert e.value.path_length is None


def assert_sans(cert: x509.Certificate, dns: list[str], ips: list[str]) -> None:
    e = ext(cert, x509.SubjectAlternativeName)
    assert e.critical is False
    assert e.value.get_values_for_type(x509.DNSName) == dns
    assert e.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(i) for i in ips]
    assert len(list(e.value)) == len(dns) + len(ips)


SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
CODE_SIGNING = ExtendedKeyUsageOID.CODE_SIGNING
