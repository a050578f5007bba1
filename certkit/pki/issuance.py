"""Building X.509 certificates from a CertSpec: the one place extensions are decided.

Every certificate gets: a random serial, a notBefore BACKDATE in the past (clock skew
between containers), SHA-256 signatures, a Subject Key Identifier, and an Authority Key
Identifier when it is not self-signed (Go's verifier uses it to pick the issuer).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkit.pki.keys import PrivateKey, PublicKey
from certkit.profile import KEY_USAGES, CertSpec


class Signer(Protocol):
    """A key that signs certificates without handing its private key over (certkit.pki.cakeys.CAKey:
    decrypted on demand, brought back from offline, or in a PKCS#11 token)."""

    def public_key(self) -> PublicKey: ...

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate: ...


BACKDATE = timedelta(minutes=5)

_NAME_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}
EKU_OIDS = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "time_stamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def subject_name(spec: CertSpec) -> x509.Name:
    return x509.Name([x509.NameAttribute(_NAME_OIDS[attr], value) for attr, value in spec.subject])


def san_entries(spec: CertSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for entry in spec.sans:
        kind, _, value = entry.partition(":")
        if kind == "DNS":
            names.append(x509.DNSName(value))
        else:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
    return names


def build_certificate(
    spec: CertSpec,
    key: PrivateKey | Signer,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey | Signer,
    now: datetime,
) -> x509.Certificate:
    """Issue ``spec`` for ``key``, signed by ``issuer_key`` (itself when issuer_cert is None)."""
    public_key = key.public_key()
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject_name(spec)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(spec))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + spec.validity)
    )
    if issuer_cert is not None:
        issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False
        )
    builder = builder.add_extension(
        x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length if spec.ca else None), critical=True
    )
    if spec.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([EKU_OIDS[e] for e in spec.extended_key_usage]), critical=False
        )
    if spec.key_usage:
        flags = {usage: usage in spec.key_usage for usage in KEY_USAGES}
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if spec.sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(san_entries(spec)), critical=False)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if isinstance(issuer_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return builder.sign(issuer_key, hashes.SHA256())
    return issuer_key.sign_certificate(builder)
