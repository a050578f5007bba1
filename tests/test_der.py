"""certkit.pki.der and certkit.pki.pkcs8: the DER certkit writes itself, checked by openssl and cryptography."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certkit.pki import der, pkcs8
from tests.certfactory import make_ca
from tests.notary_harness import require_binary


def _asn1parse(data: bytes, tmp_path: Path) -> str:
    openssl = require_binary("openssl", "openssl")
    path = tmp_path / "x.der"
    path.write_bytes(data)
    done = subprocess.run(
        [openssl, "asn1parse", "-inform", "DER", "-in", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "020100"),
        (127, "02017f"),
        (128, "02020080"),  # the high bit set: a leading zero keeps it positive
        (256, "02020100"),
        (-1, "0201ff"),
        (-128, "020180"),
        (-129, "0202ff7f"),
        (310_000, "020304baf0"),
    ],
)
def test_integer_is_the_shortest_twos_complement(value: int, encoded: str) -> None:
    assert der.integer(value).hex() == encoded


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 65_535, 70_000])
def test_length_forms_read_back(size: int) -> None:
    element = der.octet_string(b"x" * size)
    tag, start, end = der.read(element)
    assert (tag, end - start, end) == (der.OCTET_STRING, size, len(element))
    assert (element[1] < 0x80) == (size < 0x80)  # short form exactly below 128


def test_oids_match_openssl(tmp_path: Path) -> None:
    encoded = der.sequence(
        der.oid("1.2.840.113549.1.5.13"), der.oid("2.16.840.1.101.3.4.1.42"), der.oid("1.2.840.113549.2.9")
    )
    text = _asn1parse(encoded, tmp_path)
    assert ":PBES2" in text and ":aes-256-cbc" in text and ":hmacWithSHA256" in text


def test_oid_refuses_nonsense() -> None:
    for bad in ("3.1", "1", "1.40", "1.-2"):
        with pytest.raises(ValueError):
            der.oid(bad)


def test_a_certificate_splits_and_reassembles_byte_for_byte() -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    cert = make_ca("DER test", now - timedelta(days=1), now + timedelta(days=1))
    data = cert.cert.public_bytes(serialization.Encoding.DER)
    tbs, algorithm, signature = der.children(data)
    assert tbs == cert.cert.tbs_certificate_bytes
    tag, start, end = der.read(signature)
    assert tag == der.BIT_STRING and signature[start:end] == b"\x00" + cert.cert.signature
    assert der.sequence(tbs, algorithm, der.bit_string(cert.cert.signature)) == data
    assert x509.load_der_x509_certificate(der.sequence(tbs, algorithm, der.bit_string(cert.cert.signature)))


@pytest.mark.parametrize("bad", [b"", b"\x30", b"\x30\x05\x00", b"\x30\x81\x05hello", b"\x1f\x00"])
def test_reader_refuses_broken_der(bad: bytes) -> None:
    with pytest.raises(der.DERError):
        der.children(bad)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_encrypted_pkcs8_opens_with_openssl_and_cryptography(tmp_path: Path, kind: str) -> None:
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP384R1())
    pem = pkcs8.encrypt(key, b"s3cret phrase", iterations=20_000)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    path = tmp_path / "k.pem"
    path.write_bytes(pem)
    (tmp_path / "pass").write_text("s3cret phrase\n")
    openssl = require_binary("openssl", "openssl")
    done = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-passin", f"file:{tmp_path / 'pass'}", "-pubout"],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert done.stdout == public
    assert (
        pkcs8.decrypt(pem, b"s3cret phrase")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        == public
    )
    with pytest.raises(ValueError):
        pkcs8.decrypt(pem, b"wrong")


def test_the_default_kdf_is_the_documented_one(tmp_path: Path) -> None:
    import base64

    pem = pkcs8.encrypt(ec.generate_private_key(ec.SECP256R1()), b"pw")
    data = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    text = _asn1parse(data, tmp_path)
    assert ":PBES2" in text and ":PBKDF2" in text and ":hmacWithSHA256" in text and ":aes-256-cbc" in text
    assert f"INTEGER           :{pkcs8.ITERATIONS:06X}" in text
    assert pkcs8.ITERATIONS >= 310_000  # OWASP's 2021 figure for PBKDF2-HMAC-SHA256; never below it
