"""Key pairs as a check sees them: which files are keys, where a certificate's key lies, and its public half.

The comparison itself is certkit.pki.keys.same_public_key, the one renew uses.  Reading the key
is the check's own: it takes any key type (renew's loader accepts only the RSA and ECDSA keys it
makes), finds the key inside a bundle that holds certificates too, and words its problems for a
report (renew's advise --rotate-keys).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from certkit.text import one_line

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

KEY_SUFFIXES = (".key",)
PEM_KEY_RE = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)
_ENCRYPTED = "encrypted private key: cannot check that it matches its certificate without the passphrase"


class KeyProblem(Exception):
    """A private key file that cannot be used to check a pair (encrypted, unreadable, damaged)."""


def load_public_of_private_key(data: bytes, where: str) -> PublicKeyTypes:
    """The public key of the first private key in ``data``.

    RSA validation is skipped: it costs ~0.3 s per 4096-bit key and only matters for
    signing; comparing public keys is all a pair check needs.
    """
    match = PEM_KEY_RE.search(data)
    if match is None:
        raise KeyProblem(f"{where}: no PEM private key in the file")
    if match.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in match.group(0):
        raise KeyProblem(_ENCRYPTED)
    try:
        key = serialization.load_pem_private_key(match.group(0), password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise KeyProblem(_ENCRYPTED) from None
    except Exception as exc:  # ValueError, UnsupportedAlgorithm: a damaged or exotic key
        raise KeyProblem(f"not a readable private key ({one_line(exc, 160)})") from exc
    return key.public_key()


def holds_private_key(data: bytes) -> bool:
    return PEM_KEY_RE.search(data) is not None


def key_like(name: str) -> bool:
    """Named as a private key file: X.key, X-key.pem, key.pem, certbot's privkey.pem."""
    lower = name.lower()
    return lower.endswith(KEY_SUFFIXES) or lower.endswith("-key.pem") or lower in ("key.pem", "privkey.pem")


def paired_key_paths(cert_path: str) -> list[str]:
    """Where a generic layout keeps the key of ``cert_path``: X.crt/X.key, X.pem/X-key.pem,
    cert.pem/key.pem, and certbot's fullchain.pem/privkey.pem."""
    folder, name = os.path.split(cert_path)
    stem, suffix = os.path.splitext(name)
    candidates: list[str] = []
    if name == "cert.pem":
        candidates.append("key.pem")
    elif name in ("fullchain.pem", "chain.pem"):
        candidates.append("privkey.pem")
    elif suffix == ".pem":
        candidates += [f"{stem}-key.pem", f"{stem}.key"]
    elif suffix in (".crt", ".cer", ".cert"):
        candidates.append(f"{stem}.key")
    return [os.path.join(folder, c) for c in candidates]


__all__ = ["KeyProblem", "holds_private_key", "key_like", "load_public_of_private_key", "paired_key_paths"]
