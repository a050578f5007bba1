"""`certkit renew` behaviour: what is due, what is kept byte for byte, what is refused."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from certkit.cli import cli
from certkit.durations import parse_duration
from certkit.profile import load_profile
from tests.renew_helpers import renew_folder

NOW = datetime.now(timezone.utc)


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leaf(folder: Path, relative: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates((folder / relative).read_bytes())[0]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), standalone_mode=False, catch_exceptions=True)
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        from certkit.errors import CertkitError

        assert isinstance(result.exception, CertkitError), result.exception
        return result.exception.exit_code, result.stdout, str(result.exception)
    return code, result.stdout, result.stderr


def test_renew_twice_with_nothing_due_changes_no_byte(fresh_layout: Path) -> None:
    before = snapshot(fresh_layout)
    mtimes = {p: p.stat().st_mtime_ns for p in fresh_layout.rglob("*") if p.is_file()}
    result = renew_folder(fresh_layout, NOW, parse_duration("30d"))
    assert not result.changed
    result = renew_folder(fresh_layout, NOW, parse_duration("30d"))
    assert not result.changed
    assert snapshot(fresh_layout) == before
    assert {p: p.stat().st_mtime_ns for p in fresh_layout.rglob("*") if p.is_file()} == mtimes


def test_within_800d_reissues_leaves_but_keeps_cas_and_leaf_keys(fresh_layout: Path) -> None:
    before = snapshot(fresh_layout)
    old_server = leaf(fresh_layout, "fixtures/notary-server.crt")
    result = renew_folder(fresh_layout, NOW, parse_duration("800d"))
    after = snapshot(fresh_layout)
    # CAs (3650 days) are not due: byte-identical, as are their copies and all kept keys.
    for same in (
        "fixtures/root-ca.crt",
        "fixtures/intermediate-ca.crt",
        "cmd/notary/root-ca.crt",
        "fixtures/notary-server.key",
        "fixtures/notary-signer.key",
        "fixtures/notary-escrow.key",
        "fixtures/secure.example.com.key",
        ".certkit/ca/root-ca.key",
        ".certkit/ca/intermediate-ca.key",
    ):
        assert after[same] == before[same], same
    for renewed in (
        "fixtures/notary-server.crt",
        "fixtures/notary-signer.crt",
        "fixtures/notary-escrow.crt",
        "fixtures/secure.example.com.crt",
    ):
        assert after[renewed] != before[renewed], renewed
    new_server = leaf(fresh_layout, "fixtures/notary-server.crt")
    assert new_server.public_key() == old_server.public_key()
    assert new_server.serial_number != old_server.serial_number
    assert "notary-server" in result.renewed and "root-ca" not in result.renewed
    # The database PKI (1825 days) is not within 800 days: kept.
    assert after["fixtures/database/ca.pem"] == before["fixtures/database/ca.pem"]


def test_rotate_keys_replaces_leaf_keys_only(fresh_layout: Path) -> None:
    before = snapshot(fresh_layout)
    old = leaf(fresh_layout, "fixtures/notary-server.crt")
    renew_folder(fresh_layout, NOW, parse_duration("800d"), rotate_keys=True)
    after = snapshot(fresh_layout)
    assert after["fixtures/notary-server.key"] != before["fixtures/notary-server.key"]
    assert leaf(fresh_layout, "fixtures/notary-server.crt").public_key() != old.public_key()
    assert after[".certkit/ca/root-ca.key"] == before[".certkit/ca/root-ca.key"]
    assert after["fixtures/root-ca.crt"] == before["fixtures/root-ca.crt"]


def test_expiring_intermediate_reissues_everything_below_it(fresh_layout: Path) -> None:
    later = NOW + timedelta(days=3650 - 10)
    result = renew_folder(fresh_layout, later, parse_duration("30d"))
    renewed = set(result.renewed)
    assert {
        "root-ca",
        "intermediate-ca",
        "notary-server",
        "notary-signer",
        "notary-escrow",
        "secure.example.com",
    } <= renewed


def test_missing_ca_key_makes_a_new_root_and_says_so(fresh_layout: Path) -> None:
    (fresh_layout / ".certkit/ca/intermediate-ca.key").unlink()
    (fresh_layout / ".certkit/ca/root-ca.key").unlink()
    old_root = (fresh_layout / "fixtures/root-ca.crt").read_bytes()
    result = renew_folder(fresh_layout, NOW, parse_duration("30d"))
    assert not result.changed  # nothing needed signing
    assert any("not in the CA store" in n for n in result.notices)
    result = renew_folder(fresh_layout, NOW, parse_duration("800d"))
    assert (fresh_layout / "fixtures/root-ca.crt").read_bytes() != old_root
    assert any("new root CA" in n and "trust" in n for n in result.notices)


def test_reference_checkout_renewal_then_idempotent(reference_copy: Path) -> None:
    result = renew_folder(reference_copy, NOW, parse_duration("30d"))
    assert set(result.renewed) == {s.name for s in load_profile().certificates}
    # Leaf keys of the checkout are reused, as the script does.
    key = (reference_copy / "fixtures/notary-server.key").read_bytes()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert (
        load_pem_private_key(key, None).public_key() == leaf(reference_copy, "fixtures/notary-server.crt").public_key()
    )
    # CA store protected from images and git.
    assert "/.certkit/" in (reference_copy / ".dockerignore").read_text().splitlines()
    assert "/.certkit/" in (reference_copy / ".gitignore").read_text().splitlines()
    store = reference_copy / ".certkit/ca"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in store.iterdir())
    before = snapshot(reference_copy)
    assert not renew_folder(reference_copy, NOW, parse_duration("30d")).changed
    assert snapshot(reference_copy) == before


def test_dry_run_writes_nothing(reference_copy: Path) -> None:
    before = snapshot(reference_copy)
    code, out, _ = run("renew", str(reference_copy), "--dry-run")
    assert code == 0
    assert "would renew" in out and "expired 2023-04-22" in out
    assert snapshot(reference_copy) == before
    assert not (reference_copy / ".certkit").exists()


def test_json_output(fresh_layout: Path) -> None:
    code, out, _ = run("renew", str(fresh_layout), "--within", "800d", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["changed"] is True
    rows = {f["path"]: f for f in data["files"]}
    assert rows["fixtures/notary-server.crt"]["action"] == "renewed"
    assert rows["fixtures/root-ca.crt"]["action"] == "kept"
    assert datetime.fromisoformat(rows["fixtures/notary-server.crt"]["not_after"]) > NOW + timedelta(days=749)


def test_keys_are_0600_even_under_umask_000(reference_copy: Path) -> None:
    old = os.umask(0)
    try:
        renew_folder(reference_copy, NOW, parse_duration("30d"), rotate_keys=True)
    finally:
        os.umask(old)
    for relative in (
        "fixtures/notary-server.key",
        "fixtures/database/notary-server-key.pem",
        ".certkit/ca/root-ca.key",
        "notarysql/postgresql-initdb.d/server.key",
    ):
        assert stat.S_IMODE((reference_copy / relative).stat().st_mode) == 0o600, relative
    assert stat.S_IMODE((reference_copy / "fixtures/notary-server.crt").stat().st_mode) == 0o644


def test_profile_extension_adds_a_registry_leaf(fresh_layout: Path, tmp_path: Path) -> None:
    profile = tmp_path / "registry.toml"
    profile.write_text("""
extends = "notary"

[certificates.registry]
issuer = "intermediate-ca"
key = { type = "ecdsa", curve = "P-384" }
subject = { O = "Example", CN = "registry.example.com" }
validity = "90d"
key_usage = ["digital_signature"]
extended_key_usage = ["server_auth"]
sans = ["DNS:registry.example.com", "IP:10.0.0.5"]
cert_file = "registry/registry.crt"
key_file = "registry/registry.key"
chain = ["intermediate-ca"]

[certificates.notary-server]
sans = ["DNS:notary.internal", "DNS:localhost"]
""")
    before = snapshot(fresh_layout)
    code, out, err = run("renew", str(fresh_layout), "--profile", str(profile))
    assert code == 0, err
    reg = leaf(fresh_layout, "registry/registry.crt")
    assert reg.subject.rfc4514_string() == "CN=registry.example.com,O=Example"
    assert reg.not_valid_after_utc - reg.not_valid_before_utc < timedelta(days=91)
    sans = reg.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["registry.example.com"]
    server = leaf(fresh_layout, "fixtures/notary-server.crt")
    assert server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["notary.internal", "localhost"]
    # Same intermediate signs it; the root and intermediate are untouched.
    assert snapshot(fresh_layout)["fixtures/intermediate-ca.crt"] == before["fixtures/intermediate-ca.crt"]
    reg.verify_directly_issued_by(leaf(fresh_layout, "fixtures/intermediate-ca.crt"))


def test_ca_store_elsewhere_is_remembered(fresh_layout: Path, tmp_path: Path) -> None:
    """After `renew --ca-store DIR`, later runs without the option use DIR: no new root."""
    store = fresh_layout / "ca-keys"  # in the checkout, but in no folder compose mounts
    (fresh_layout / ".certkit" / "ca").rename(store)
    code, out, err = run("renew", str(fresh_layout), "--ca-store", str(store), "--within", "800d", "--json")
    assert code == 0, err
    root_before = (fresh_layout / "fixtures/root-ca.crt").read_bytes()
    # Both ignore files name the store itself.
    assert "/ca-keys/" in (fresh_layout / ".dockerignore").read_text().splitlines()
    assert "/ca-keys/" in (fresh_layout / ".gitignore").read_text().splitlines()
    code, out, err = run("renew", str(fresh_layout), "--force", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (fresh_layout / "fixtures/root-ca.crt").read_bytes() != root_before  # re-issued (--force)...
    assert not any("new root" in n for n in data["notices"])  # ...with the same key: clients keep trusting
    assert not (fresh_layout / ".certkit/ca").exists()


def test_folders_certkit_creates_ignore_the_umask(tmp_path: Path) -> None:
    """Under umask 002 (Debian/Ubuntu user groups) init must not make group-writable folders,
    which the next renewal would refuse."""
    old = os.umask(0o002)
    try:
        from certkit.workflows.init import init_layout

        init_layout(tmp_path / "n", load_profile(), NOW)
    finally:
        os.umask(old)
    for folder in [tmp_path / "n", *(p for p in (tmp_path / "n").rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) & 0o022 == 0, folder
    assert renew_folder(tmp_path / "n", NOW, parse_duration("0"), force=True).changed
