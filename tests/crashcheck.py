"""Independent consistency check of a Notary set on disk, with the openssl command line.

Used after crashes and injected faults: every chain verifies, every key matches its
certificate (public key comparison, the modern form of the modulus check), every bundle
carries the intermediate on disk, every copy equals its original.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.notary_harness import require_binary

LEAVES = ("notary-server", "notary-signer", "notary-escrow", "secure.example.com")
BUNDLES = ("notary-server", "notary-signer", "notary-escrow")
PAIRS = [(f"fixtures/{n}.crt", f"fixtures/{n}.key") for n in LEAVES] + [
    ("fixtures/database/notary-server.pem", "fixtures/database/notary-server-key.pem"),
    ("fixtures/database/notary-signer.pem", "fixtures/database/notary-signer-key.pem"),
    ("notarysql/postgresql-initdb.d/server.crt", "notarysql/postgresql-initdb.d/server.key"),
    ("fixtures/root-ca.crt", ".certkit/ca/root-ca.key"),
    ("fixtures/intermediate-ca.crt", ".certkit/ca/intermediate-ca.key"),
    ("fixtures/database/ca.pem", ".certkit/ca/database-ca.key"),
    ("fixtures/rethinkdb/cert.pem", "fixtures/rethinkdb/key.pem"),
]
COPIES = [
    ("fixtures/root-ca.crt", "cmd/notary/root-ca.crt"),
    ("fixtures/database/ca.pem", "notarysql/postgresql-initdb.d/root.crt"),
    ("fixtures/rethinkdb/cert.pem", "fixtures/rethinkdb/ca.pem"),
]
END = b"-----END CERTIFICATE-----\n"


def openssl() -> str:
    return require_binary("openssl", "openssl")


def _run(*args: str, data: bytes | None = None) -> bytes:
    result = subprocess.run([openssl(), *args], input=data, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {result.stdout!r} {result.stderr!r}")
    return result.stdout


def problems(folder: Path) -> list[str]:
    """Everything inconsistent about the set in ``folder`` (empty list: consistent)."""
    found: list[str] = []
    fx = folder / "fixtures"
    for name in LEAVES:
        data = (fx / f"{name}.crt").read_bytes()
        leaf = data.split(END)[0] + END
        tail = data[len(leaf) :]
        if name in BUNDLES and tail != (fx / "intermediate-ca.crt").read_bytes():
            found.append(f"{name}.crt: bundle does not carry the intermediate on disk")
        result = subprocess.run(
            [openssl(), "verify", "-CAfile", str(fx / "root-ca.crt"), "-untrusted", str(fx / "intermediate-ca.crt")],
            input=leaf,
            capture_output=True,
        )
        if result.returncode != 0:
            found.append(
                f"{name}.crt: openssl verify: {result.stdout.decode().strip()} {result.stderr.decode().strip()}"
            )
    db = subprocess.run(
        [
            openssl(),
            "verify",
            "-CAfile",
            str(fx / "database/ca.pem"),
            str(fx / "database/notary-server.pem"),
            str(fx / "database/notary-signer.pem"),
            str(folder / "notarysql/postgresql-initdb.d/server.crt"),
        ],
        capture_output=True,
    )
    if db.returncode != 0:
        found.append(f"database PKI: openssl verify: {db.stdout.decode().strip()}")
    for cert, key in PAIRS:
        if not (folder / key).exists():
            found.append(f"{key}: missing")
            continue
        cert_pub = _run("x509", "-noout", "-pubkey", "-in", str(folder / cert))
        key_pub = _run("pkey", "-pubout", "-in", str(folder / key))
        if cert_pub != key_pub:
            found.append(f"{cert}: does not match {key}")
    for original, copy in COPIES:
        if (folder / original).read_bytes() != (folder / copy).read_bytes():
            found.append(f"{copy}: differs from {original}")
    strays = [p for p in folder.rglob("*") if ".certkit-" in p.name and p.name.endswith((".new", ".tmp"))]
    if strays:
        found.append(f"stray staging files: {', '.join(str(p.relative_to(folder)) for p in strays)}")
    return found


def live_files(folder: Path) -> dict[str, str]:
    """Hashes of the live set: not the .certkit bookkeeping (except the CA keys), nor the
    ignore files, which certkit completes before a renewal's transaction on purpose."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or (rel.parts[0] == ".certkit" and rel.parts[:2] != (".certkit", "ca")):
            continue
        if str(rel) in (".dockerignore", ".gitignore"):
            continue
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def old_or_new(before: dict[str, str], after: dict[str, str], must_change: set[str]) -> str:
    """'old' when nothing changed, 'new' when every file in ``must_change`` changed, else a description."""
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if not changed:
        return "old"
    if must_change <= changed:
        return "new"
    return f"MIXED: changed {sorted(changed)}, unchanged {sorted(must_change - changed)}"
