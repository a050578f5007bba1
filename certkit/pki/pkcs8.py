"""CA private keys encrypted at rest: PKCS#8 ``EncryptedPrivateKeyInfo``, PBES2 (RFC 8018).

The format: PBKDF2-HMAC-SHA256 with ``ITERATIONS`` rounds and a 16-byte random salt derives a
256-bit key; AES-256-CBC with a random IV encrypts the key's PKCS#8 ``PrivateKeyInfo``.  This is
what ``openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter N`` writes, so
``openssl pkey -in FILE`` and cryptography's ``load_pem_private_key`` read it back (and a user can
take the key out of certkit with either).

Why written here: cryptography's ``BestAvailableEncryption`` writes the same structure with a fixed
2048 PBKDF2 rounds (too few against a guessing attack on a copied file) and its
``encryption_builder`` is only offered for OpenSSH and PKCS#12.  Why PBKDF2 and not scrypt:
OpenSSL (the command line, and so a user's way back out) refuses scrypt above N=2^14 at its
default 32 MiB memory cap, where the whole KDF costs about as much as PBKDF2 at the rounds below;
and the rounds are chosen against the budget of a routine renewal (bench/RESULTS.md), which must
decrypt the intermediate's key and stay within 1.2x of one with a plaintext key.
certkit decrypts its own format itself (the PBKDF2 step releases the GIL, so a renewal derives the key in a
thread while it loads and plans: certkit.pki.unlock.Unlock.prefetch); any other PBES2 file goes to
cryptography's loader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from certkit.pki import der
from certkit.pki.keys import PrivateKey

# OWASP's Password Storage Cheat Sheet asked 310,000 rounds of PBKDF2-HMAC-SHA256 until 2023
# (600,000 since); 310,000 is what keeps a routine renewal within 1.2x of a plaintext one here
# (about 40 ms to decrypt; measured in `make bench-renew`). A passphrase made by `systemd-creds`
# or a password manager has far more entropy than any count makes up for.
ITERATIONS = 310_000
SALT_BYTES = 16

_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_HMAC_SHA256 = "1.2.840.113549.2.9"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"

PEM_LABEL = b"ENCRYPTED PRIVATE KEY"


def encrypt(key: PrivateKey, passphrase: bytes, *, iterations: int = ITERATIONS) -> bytes:
    """``key`` as an encrypted PKCS#8 PEM block."""
    if not passphrase:
        raise ValueError("an empty passphrase encrypts nothing")
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(SALT_BYTES), os.urandom(16)
    secret = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    kdf = der.sequence(
        der.oid(_PBKDF2),
        der.sequence(der.octet_string(salt), der.integer(iterations), der.sequence(der.oid(_HMAC_SHA256), der.null())),
    )
    scheme = der.sequence(der.oid(_AES256_CBC), der.octet_string(iv))
    info = der.sequence(der.sequence(der.oid(_PBES2), der.sequence(kdf, scheme)), der.octet_string(encrypted))
    return pem_block(PEM_LABEL, info)


@dataclass(frozen=True)
class Params:
    """The PBES2 parameters of a key in certkit's own format (PBKDF2-HMAC-SHA256, AES-256-CBC)."""

    salt: bytes
    iterations: int
    iv: bytes
    encrypted: bytes


def params(pem: bytes) -> Params | None:
    """The parameters of ``pem`` when it is certkit's format; None for any other (cryptography then reads it)."""
    import base64

    try:
        body = pem.split(b"-----BEGIN ENCRYPTED PRIVATE KEY-----", 1)[1].split(b"-----END", 1)[0]
        info = base64.b64decode(b"".join(body.split()), validate=True)
        algorithm, encrypted = der.children(info)
        pbes2_oid, pbes2 = der.children(algorithm)
        kdf, scheme = der.children(pbes2)
        kdf_oid, kdf_params = der.children(kdf)
        salt, count, *prf = der.children(kdf_params)
        scheme_oid, iv = der.children(scheme)
        expected = (der.oid(_PBES2), der.oid(_PBKDF2), der.oid(_AES256_CBC))
        if (pbes2_oid, kdf_oid, scheme_oid) != expected or prf != [der.sequence(der.oid(_HMAC_SHA256), der.null())]:
            return None
        return Params(_content(salt), int.from_bytes(_content(count), "big"), _content(iv), _content(encrypted))
    except (IndexError, ValueError):
        return None


def _content(element: bytes) -> bytes:
    _, start, end = der.read(element)
    return element[start:end]


def derive(passphrase: bytes, found: Params) -> bytes:
    """The key-encryption key: the slow part, and it releases the GIL (a thread can run it beside other work)."""
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=found.salt, iterations=found.iterations).derive(
        passphrase
    )


def decrypt(pem: bytes, passphrase: bytes, kek: bytes | None = None) -> PrivateKey:
    """The key in an encrypted PKCS#8 PEM block (``kek``: its key-encryption key, derived ahead).

    Raises:
        ValueError: the passphrase is wrong, or the block is not an encrypted key.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    found = params(pem)
    if found is None:  # another tool's PBES2 choices: cryptography reads them all
        key = serialization.load_pem_private_key(pem, password=passphrase, unsafe_skip_rsa_key_validation=True)
    else:
        secret = kek if kek is not None else derive(passphrase, found)
        decryptor = Cipher(algorithms.AES(secret), modes.CBC(found.iv)).decryptor()
        padded = decryptor.update(found.encrypted) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()  # ValueError: a wrong passphrase (almost always here)
        # certkit wrote (and checks, with a probe signature) the keys it decrypts: skip OpenSSL's slow RSA check.
        key = serialization.load_der_private_key(plain, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def pem_block(label: bytes, data: bytes) -> bytes:
    import base64

    text = base64.b64encode(data)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"-----BEGIN " + label + b"-----\n" + b"\n".join(lines) + b"\n-----END " + label + b"-----\n"
