"""Helpers for the CA key tests: secret files, snapshots of a folder, the PEM blocks in a tree, SoftHSM tokens."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.notary_harness import require_binary

CA_NAMES = ("root-ca", "intermediate-ca", "database-ca")
CA_CERTS = {
    "root-ca": "fixtures/root-ca.crt",
    "intermediate-ca": "fixtures/intermediate-ca.crt",
    "database-ca": "fixtures/database/ca.pem",
}
_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]*PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL)


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode (the lock note left out: taking the lock rewrites it)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != "lock":
            found[str(path.relative_to(folder))] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return found


def ca_public_keys(layout: Path) -> dict[str, bytes]:
    """The CA certificates' public keys (SPKI DER), by CA name."""
    keys = {}
    for name, rel in CA_CERTS.items():
        cert = x509.load_pem_x509_certificate((layout / rel).read_bytes())
        keys[name] = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return keys


def private_blocks(folder: Path) -> list[tuple[Path, bytes]]:
    """Every PEM private key block in every file under ``folder``."""
    blocks = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            blocks += [(path, m.group(0)) for m in _BLOCK.finditer(path.read_bytes())]
    return blocks


def spki_of(block: bytes, password: bytes | None) -> bytes | None:
    """The public key of a PEM private key block opened with ``password``; None when it does not open."""
    try:
        key = serialization.load_pem_private_key(block, password=password, unsafe_skip_rsa_key_validation=True)
    except (TypeError, ValueError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certkit(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """certkit in its own process (a PKCS#11 module is loaded once per process; a failpoint kills it)."""
    return subprocess.run(
        [sys.executable, "-m", "certkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Token:
    """A SoftHSM token in a temp folder (SOFTHSM2_CONF) and the URI certkit is given."""

    env: dict[str, str]
    uri: str
    pin_file: Path
    module: str
    label: str


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_token(folder: Path, label: str = "certkit", pin: str = "4711") -> Token:
    util = require_binary("softhsm2-util", "softhsm2")
    tokens = folder / "tokens"
    tokens.mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    done = subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-" + pin],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    pin_file = secret_file(folder / "pin", pin)
    module = SOFTHSM_MODULE if os.path.exists(SOFTHSM_MODULE) else shutil.which("libsofthsm2.so") or SOFTHSM_MODULE
    uri = f"pkcs11:token={label}?module-path={module}&pin-source=file:{pin_file}"
    return Token(env, uri, pin_file, module, label)
