"""Reading and judging X.509 certificates: the one place certkit parses them and checks issuers.

Parsing comes in two strengths.  ``parse_certificates`` is strict: a PEM bundle or one DER
certificate, or one ``NotACertificate`` saying why not (what renew, trust and status need:
a file they must use whole).  ``parse_bundle`` is tolerant: a PEM bundle block by block, so
the good certificates of a bundle with one damaged block are still judged and the bad block
is reported by its index (what check-expiry needs).

``issued_by`` is the one answer to "was this signed by that issuer": the issuer name must
equal the issuer's subject and the signature must verify with the issuer's public key
(cryptography's ``verify_directly_issued_by``: RSA PKCS#1 v1.5 and PSS, ECDSA, Ed25519,
Ed448).  A SHA-1 signature, which that call refuses as an unsupported algorithm, is verified
with the issuer's key directly: whether a certificate was signed by its issuer is one
question, whether its hash is still acceptable another (``weak_signature``).  Notary's own
``self-signed_*.crt`` fixtures are ecdsa-with-SHA1 and really self-signed.  No path building,
no time, no extensions: those belong to the verifiers that need them (validation's
PolicyBuilder, notary_config's chain checks).

The validity predicates are cert-level wrappers over ``certkit.validity``, which stays
standard-library only because the renew fast path uses it before cryptography is imported.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certkit import validity
from certkit.text import one_line

PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"
_PEM_CERT_END = b"-----END CERTIFICATE-----"
# A block runs to its END line, or to the end of the data when the END line is missing
# (a truncated copy), so a truncated last block is still reported by its index.
_PEM_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.*?(?:-----END CERTIFICATE-----|\Z)", re.DOTALL)


class NotACertificate(ValueError):
    """The bytes hold no certificate certkit can read (the message says why, in one line)."""


# --------------------------------------------------------------------------- parsing


def parse_certificates(data: bytes, *, der: bool = True) -> list[x509.Certificate]:
    """All certificates in ``data``, in file order: a PEM bundle, or (``der=True``) one DER certificate.

    Strict: any damaged block fails the whole file.  ``der=False`` is for files that Go's
    TLS stack reads (Notary's configs name PEM files only), where DER would not work.

    Raises:
        NotACertificate: empty, damaged, or neither PEM nor DER.
    """
    if PEM_CERT_MARKER in data:
        try:
            found = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise NotACertificate(f"damaged PEM certificate ({one_line(exc, 120)})") from exc
        if len(found) < data.count(PEM_CERT_MARKER):
            # cryptography skips a block without its END line (a truncated copy).
            raise NotACertificate("truncated PEM certificate (no END line)")
        return found
    if not data.strip():
        raise NotACertificate("empty file")
    if not der:
        raise NotACertificate("no PEM certificate")
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise NotACertificate("neither a PEM nor a DER certificate") from exc


def parse_bundle(data: bytes) -> tuple[list[tuple[int, x509.Certificate]], list[tuple[int, str]]]:
    """Tolerant: the certificates (by bundle index) and the damaged blocks (index, reason) in ``data``.

    Both lists are empty for data that is no certificate at all (no PEM block, not a DER
    certificate): the caller decides whether that is a problem.
    """
    if PEM_CERT_MARKER in data:
        try:
            found = x509.load_pem_x509_certificates(data)
            # cryptography passes over a last block without its END line (a truncated
            # copy) silently; counting the BEGIN lines catches it.
            if len(found) >= data.count(PEM_CERT_MARKER):
                return list(enumerate(found)), []
        except ValueError:
            pass
        # One damaged block spoils the fast path: parse block by block so the good
        # certificates of the bundle are still there.
        good: list[tuple[int, x509.Certificate]] = []
        bad: list[tuple[int, str]] = []
        for index, block in enumerate(_PEM_CERT_BLOCK.findall(data)):
            try:
                good.append((index, x509.load_pem_x509_certificate(block)))
            except ValueError as exc:
                bad.append(
                    (
                        index,
                        "truncated PEM certificate (no END line)"
                        if _PEM_CERT_END not in block
                        else f"damaged PEM certificate ({one_line(exc, 160)})",
                    )
                )
        return good, bad
    if data[:1] == b"\x30":  # a DER SEQUENCE
        cert = load_der(data)
        if cert is not None:
            return [(0, cert)], []
    return [], []


def load_der(data: bytes) -> x509.Certificate | None:
    """One DER certificate (e.g. what a TLS server sent), or None when it cannot be parsed."""
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return None


def to_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER encoding (what ``openssl x509 -fingerprint -sha256`` shows, without colons)."""
    return hashlib.sha256(to_der(cert)).hexdigest()


# --------------------------------------------------------------------------- issuers


def issuer_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why ``cert`` was not issued by ``issuer`` (one line), or None when it was.

    The name is compared first so the usual mistake (a bundle in the wrong order, another
    CA) gets a readable answer rather than a signature error.
    """
    if cert.issuer != issuer.subject:
        return f"issuer name {cert.issuer.rfc4514_string()} is not {issuer.subject.rfc4514_string()}"
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError as exc:  # an unsupported signature algorithm: SHA-1 is checked by hand
        if not _sha1_signed(cert):
            return one_line(exc, 160)
        try:
            _verify_sha1(cert, issuer)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as sha1_exc:
            return one_line(sha1_exc, 160)
    except (InvalidSignature, TypeError, UnsupportedAlgorithm) as exc:
        # InvalidSignature: another key; TypeError: the issuer's key type cannot sign (e.g. X25519).
        return one_line(exc, 160)
    return None


def weak_signature(cert: x509.Certificate) -> str | None:
    """ "SHA-1 (ecdsa-with-SHA1)" for a certificate signed with a hash no verifier accepts any more
    (Go's crypto/x509 refuses SHA-1 signatures since Go 1.18, browsers since 2017); else None."""
    if not _sha1_signed(cert):
        return None
    oid = cert.signature_algorithm_oid
    return f"SHA-1 ({_SHA1_NAMES.get(oid, oid.dotted_string)})"


_SHA1_NAMES = {
    x509.SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    x509.SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    x509.SignatureAlgorithmOID.DSA_WITH_SHA1: "dsa-with-sha1",
}


def _sha1_signed(cert: x509.Certificate) -> bool:
    try:
        return isinstance(cert.signature_hash_algorithm, hashes.SHA1)
    except UnsupportedAlgorithm:
        return False


def _verify_sha1(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """The signature check ``verify_directly_issued_by`` refuses for SHA-1, with the issuer's key."""
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        params = cert.signature_algorithm_parameters
        pad = params if isinstance(params, (padding.PKCS1v15, padding.PSS)) else padding.PKCS1v15()
        key.verify(cert.signature, cert.tbs_certificate_bytes, pad, hashes.SHA1())
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))
    else:
        raise TypeError(f"a {type(key).__name__} cannot make a SHA-1 signature")


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches and the signature verifies with the issuer's key."""
    return issuer_problem(cert, issuer) is None


def self_issued(cert: x509.Certificate) -> bool:
    """Subject equals issuer (a root, or a CA re-keyed under its own name); says nothing of the signature."""
    return cert.issuer == cert.subject


# --------------------------------------------------------------------------- names


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address (no brackets, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):  # ValueError: a malformed extension
        return None


def subject_alt_names(cert: x509.Certificate) -> set[x509.GeneralName]:
    """The subjectAltName entries as cryptography objects (empty without the extension)."""
    sans = _sans(cert)
    return set(sans) if sans is not None else set()


def san_strings(cert: x509.Certificate) -> list[str]:
    """The subjectAltName as OpenSSL writes it: "DNS:name", "IP:address", "email:...", "URI:..."."""
    sans = _sans(cert)
    out: list[str] = []
    for general in sans if sans is not None else []:
        if isinstance(general, x509.DNSName):
            out.append(f"DNS:{general.value}")
        elif isinstance(general, x509.IPAddress):
            out.append(f"IP:{general.value}")
        elif isinstance(general, x509.RFC822Name):
            out.append(f"email:{general.value}")
        elif isinstance(general, x509.UniformResourceIdentifier):
            out.append(f"URI:{general.value}")
    return out


def covers(cert: x509.Certificate, hostname: str) -> bool:
    """Does the certificate's subjectAltName cover ``hostname``?  (Go ignores the CN.)"""
    sans = _sans(cert)
    if sans is None:
        return False
    try:
        address = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        wanted = hostname.lower().rstrip(".")
        for name in sans.get_values_for_type(x509.DNSName):
            pattern = name.lower().rstrip(".")
            if pattern == wanted:
                return True
            # One leftmost wildcard label, matching exactly one label (RFC 6125 6.4.3).
            if pattern.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == pattern[2:]:
                return True
        return False
    return address in sans.get_values_for_type(x509.IPAddress)


# --------------------------------------------------------------------------- time (certkit.validity)


def valid_at(cert: x509.Certificate, now: datetime) -> bool:
    """Inside notBefore..notAfter at ``now``, both ends included (RFC 5280 4.1.2.5)."""
    return validity.valid_at(cert.not_valid_before_utc, cert.not_valid_after_utc, now)


def expired(cert: x509.Certificate, now: datetime) -> bool:
    """Past notAfter; at notAfter itself still valid."""
    return validity.expired(cert.not_valid_after_utc, now)


def not_yet_valid(cert: x509.Certificate, now: datetime) -> bool:
    """Before notBefore: neither valid nor expired."""
    return not valid_at(cert, now) and not expired(cert, now)


def expires_within(cert: x509.Certificate, now: datetime, horizon: datetime) -> bool:
    """Less than the window (``horizon`` = now + window) left, or expired."""
    return validity.expires_within(cert.not_valid_after_utc, now, horizon)
