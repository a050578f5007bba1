"""CA keys in a PKCS#11 token: Debian's SoftHSM 2 in a temp folder, certkit in its own process (a module is
loaded once per process), the certificates checked by cryptography's verifier and `openssl verify`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import verification

from tests.cakeys_helpers import Token, certkit, snapshot, softhsm_token
from tests.notary_harness import require_binary


@pytest.fixture
def token(tmp_path: Path) -> Token:
    return softhsm_token(tmp_path / "hsm")


@pytest.fixture
def hsm_layout(tmp_path: Path, token: Token) -> Path:
    layout = tmp_path / "notary"
    done = certkit(["init", "--ca-pkcs11", token.uri, str(layout)], env=token.env)
    assert done.returncode == 0, done.stderr
    return layout


def _forms(layout: Path, env: dict[str, str]) -> dict[str, dict[str, str]]:
    done = certkit(["ca-keys", "list", "--json", str(layout)], env=env)
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)["keys"]}


def test_ca_keys_are_made_in_the_token_and_the_set_verifies(hsm_layout: Path, token: Token) -> None:
    forms = _forms(hsm_layout, token.env)
    assert {row["form"] for row in forms.values()} == {"pkcs11"}
    assert all(row["where"].startswith(f"pkcs11:token={token.label};object=") for row in forms.values())
    # No private key of a CA anywhere on disk: the store holds URIs and public keys only.
    for name in forms:
        text = (hsm_layout / ".certkit" / "ca" / f"{name}.key").read_text()
        assert "PRIVATE KEY" not in text and "BEGIN PUBLIC KEY" in text
    fixtures = hsm_layout / "fixtures"
    root = x509.load_pem_x509_certificate((fixtures / "root-ca.crt").read_bytes())
    intermediate = x509.load_pem_x509_certificate((fixtures / "intermediate-ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((fixtures / "notary-server.crt").read_bytes())
    root.verify_directly_issued_by(root)
    intermediate.verify_directly_issued_by(root)
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root]))
        .time(datetime.now(timezone.utc))
        .build_server_verifier(x509.DNSName("notary-server"))
    )
    verifier.verify(leaf, [intermediate])
    openssl = require_binary("openssl", "openssl")
    done = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            str(fixtures / "root-ca.crt"),
            "-untrusted",
            str(fixtures / "intermediate-ca.crt"),
            str(fixtures / "notary-server.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and ": OK" in done.stdout, done.stdout + done.stderr


def test_token_keys_are_sensitive_and_never_extractable(hsm_layout: Path, token: Token) -> None:
    script = f"""
import pkcs11
from pkcs11 import Attribute, ObjectClass
lib = pkcs11.lib({token.module!r})
with lib.get_token(token_label={token.label!r}).open(user_pin={token.pin_file.read_text().strip()!r}) as s:
    keys = list(s.get_objects({{Attribute.CLASS: ObjectClass.PRIVATE_KEY}}))
    print(sorted((k.label, bool(k[Attribute.SENSITIVE]), bool(k[Attribute.EXTRACTABLE])) for k in keys))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**__import__("os").environ, **token.env}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        [("database-ca", True, False), ("intermediate-ca", True, False), ("root-ca", True, False)]
    )


def test_renewal_signs_in_the_token(hsm_layout: Path, token: Token) -> None:
    before = (hsm_layout / "fixtures" / "notary-signer.crt").read_bytes()
    done = certkit(["renew", "--force", "--no-compose", str(hsm_layout)], env=token.env)
    assert done.returncode == 0, done.stderr
    assert (hsm_layout / "fixtures" / "notary-signer.crt").read_bytes() != before
    intermediate = x509.load_pem_x509_certificate((hsm_layout / "fixtures" / "intermediate-ca.crt").read_bytes())
    x509.load_pem_x509_certificate(
        (hsm_layout / "fixtures" / "notary-signer.crt").read_bytes()
    ).verify_directly_issued_by(intermediate)


def test_nothing_due_never_opens_the_token(hsm_layout: Path, token: Token) -> None:
    token.pin_file.write_text("0000\n")  # a wrong PIN: opening the token now would fail (see below)
    for args in (["renew", "--no-compose"], ["renew", "--json", "--no-compose"]):
        done = certkit([*args, str(hsm_layout)], env=token.env)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("case", ["wrong-pin", "absent-token", "no-such-key", "no-module", "empty-pin"])
def test_token_problems_are_one_line_exit_25_nothing_written(hsm_layout: Path, token: Token, case: str) -> None:
    key = hsm_layout / ".certkit" / "ca" / "intermediate-ca.key"
    if case == "wrong-pin":
        token.pin_file.write_text("9999\n")
    elif case == "empty-pin":
        token.pin_file.write_text("\n")
    elif case == "absent-token":
        key.write_text(key.read_text().replace(f"token={token.label}", "token=unplugged"))
    elif case == "no-such-key":
        key.write_text(key.read_text().replace("object=intermediate-ca", "object=gone").replace(";id=", ";x-id="))
        key.write_text(key.read_text().replace(";x-id=%", ";id=%00"))  # an id no object has
    elif case == "no-module":
        key.write_text(key.read_text().replace(token.module, "/nonexistent/libpkcs11.so"))
    before = snapshot(hsm_layout)
    done = certkit(["renew", "--force", "--no-compose", str(hsm_layout)], env=token.env)
    assert done.returncode == 25, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("certkit: error: ") and "Traceback" not in done.stderr
    assert "9999" not in done.stderr and "4711" not in done.stderr
    assert snapshot(hsm_layout) == before


def test_a_pin_inside_the_uri_is_refused(tmp_path: Path, token: Token) -> None:
    done = certkit(["init", "--ca-pkcs11", token.uri + "&pin-value=4711", str(tmp_path / "n")], env=token.env)
    assert done.returncode == 2 and "pin-source" in done.stderr and "4711" not in done.stderr
    assert not (tmp_path / "n").exists()


def test_ecdsa_ca_keys_in_the_token(tmp_path: Path, token: Token) -> None:
    """ECDSA CAs (P-384 root, P-256 intermediate): the token's raw r||s signature becomes X.509's DER one."""
    profile = tmp_path / "ec.toml"
    profile.write_text(
        'extends = "notary"\n'
        '[certificates.root-ca]\nkey = { type = "ecdsa", curve = "P-384" }\n'
        '[certificates.intermediate-ca]\nkey = { type = "ecdsa", curve = "P-256" }\n'
    )
    layout = tmp_path / "notary"
    done = certkit(["init", "--profile", str(profile), "--ca-pkcs11", token.uri, str(layout)], env=token.env)
    assert done.returncode == 0, done.stderr
    forms = _forms_with(layout, token.env, profile)
    assert forms["root-ca"]["key"] == "ECDSA P-384" and forms["intermediate-ca"]["key"] == "ECDSA P-256"
    fixtures = layout / "fixtures"
    root = x509.load_pem_x509_certificate((fixtures / "root-ca.crt").read_bytes())
    intermediate = x509.load_pem_x509_certificate((fixtures / "intermediate-ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((fixtures / "notary-server.crt").read_bytes())
    root.verify_directly_issued_by(root)
    intermediate.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(intermediate)
    openssl = require_binary("openssl", "openssl")
    checked = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            str(fixtures / "root-ca.crt"),
            "-untrusted",
            str(fixtures / "intermediate-ca.crt"),
            str(fixtures / "notary-server.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _forms_with(layout: Path, env: dict[str, str], profile: Path) -> dict[str, dict[str, str]]:
    done = certkit(["ca-keys", "list", "--json", "--profile", str(profile), str(layout)], env=env)
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)["keys"]}
