"""Bad input to `certkit renew`/`init`: one clear line, a documented exit code, no traceback, nothing changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def certkit(
    *args: str, user: str | None = None, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "certkit", *args]
    if user is not None:
        argv = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *argv]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **(env_extra or {})},
    )


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("certkit: error:"), lines[0]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_corrupt_key_is_refused(reference_copy: Path) -> None:
    key = reference_copy / "fixtures/notary-server.key"
    key.write_bytes(key.read_bytes()[:400] + b"garbage\n-----END PRIVATE KEY-----\n")
    before = snapshot(reference_copy)
    result = certkit("renew", str(reference_copy))
    assert_one_line_error(result, 12, "fixtures/notary-server.key", "--rotate-keys")
    assert snapshot(reference_copy) == before


def test_encrypted_key_is_refused(reference_copy: Path) -> None:
    path = reference_copy / "fixtures/notary-signer.key"
    key = load_pem_private_key(path.read_bytes(), None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    before = snapshot(reference_copy)
    result = certkit("renew", str(reference_copy))
    assert_one_line_error(result, 12, "fixtures/notary-signer.key", "encrypted")
    assert snapshot(reference_copy) == before


def test_rotate_keys_replaces_an_unusable_key(reference_copy: Path) -> None:
    (reference_copy / "fixtures/notary-server.key").write_text("not a key\n")
    result = certkit("renew", str(reference_copy), "--rotate-keys")
    assert result.returncode == 0, result.stderr
    load_pem_private_key((reference_copy / "fixtures/notary-server.key").read_bytes(), None)


def test_not_a_notary_layout_points_to_init_only_where_init_works(tmp_path: Path) -> None:
    """An empty folder: the line suggests `certkit init`, and following it works. A folder with files:
    init would refuse it (not empty), so the line does not send the user there (review: the two
    commands sent a user back and forth)."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "random.txt").write_text("hello")
    result = certkit("renew", str(busy))
    assert_one_line_error(result, 10, str(busy), "--profile")
    assert "certkit init" not in result.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["random.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = certkit("renew", str(empty))
    assert_one_line_error(result, 10, str(empty), f"certkit init {empty}")
    assert certkit("init", str(empty)).returncode == 0


def test_unknown_duration(fresh_layout: Path) -> None:
    result = certkit("renew", str(fresh_layout), "--within", "soon")
    assert result.returncode == 2
    assert "unknown duration 'soon'" in result.stderr and "30d" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            'extends = "notary"\n[certificates.notary-server]\nvalidity = "soon"\n',
            "certificates.notary-server.validity",
        ),
        (
            'extends = "notary"\n[certificates.x]\nissuer = "nope"\nkey = {type="rsa"}\nsubject = {CN="x"}\n'
            'validity = "1d"\ncert_file = "x.crt"\n',
            "certificates.x.issuer: unknown certificate 'nope'",
        ),
        ('extends = "notary"\n[certificates.notary-server]\nsans = ["notary"]\n', 'write "DNS:name"'),
        (
            'extends = "notary"\n[certificates.notary-server]\nkey = {type = "dsa"}\n',
            "certificates.notary-server.key.type",
        ),
        ('extends = "notary"\n[certificates.root-ca]\ncert_file = "../../etc/passwd"\n', "relative path inside"),
        ("this is = = not toml", "invalid TOML"),
        # Values cryptography would only reject while building (an "internal error" before).
        (
            'extends = "notary"\n[certificates.notary-server]\nsubject = {CN = "' + "a" * 65 + '"}\n',
            "certificates.notary-server.subject.CN: 65 characters",
        ),
        (
            'extends = "notary"\n[certificates.notary-server]\nsubject = {C = "\u00dcS", CN = "x"}\n',
            "certificates.notary-server.subject.C",
        ),
        (
            'extends = "notary"\n[certificates.notary-server]\nsans = ["DNS:b\u00fccher.example"]\n',
            "xn--bcher-kva.example",
        ),
        (
            'extends = "notary"\n'
            + "".join(
                f'[certificates.c{i}]\nissuer = "{"root-ca" if i == 0 else f"c{i - 1}"}"\nca = true\n'
                f'key = {{type = "ecdsa"}}\nsubject = {{CN = "c{i}"}}\nvalidity = "10d"\n'
                f'key_usage = ["key_cert_sign"]\ncert_file = "deep/c{i}.crt"\n'
                for i in range(1200)
            ),
            "at most 100 can be verified",
        ),
    ],
    ids=["validity", "issuer", "san", "key-type", "path", "toml", "long-cn", "country", "idn", "deep-chain"],
)
def test_invalid_profile_names_field_and_reason(fresh_layout: Path, tmp_path: Path, body: str, needle: str) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(body)
    before = snapshot(fresh_layout)
    result = certkit("renew", str(fresh_layout), "--profile", str(profile))
    assert_one_line_error(result, 11, str(profile), needle)
    assert snapshot(fresh_layout) == before


def test_read_only_folder_changes_nothing(reference_dir: Path) -> None:
    # root ignores permission bits, so the run drops to an unprivileged user when we are root
    # (in a folder that user can reach: pytest's tmp_path is private to root).
    user = None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv (util-linux) is needed to drop privileges")
        user = "65534"
    base = Path(tempfile.mkdtemp(prefix="certkit-ro-"))
    base.chmod(0o755)
    reference_copy = base / "notary"
    shutil.copytree(reference_dir, reference_copy)
    for path in [reference_copy, *reference_copy.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = snapshot(reference_copy)
    try:
        result = certkit("renew", str(reference_copy), user=user)
        # Either refusal comes first: the loose (0444) keys cannot be set to 0600, or a folder is not writable.
        assert_one_line_error(result, 13, str(reference_copy))
        assert "not writable" in result.stderr or "cannot be set to 0600" in result.stderr
        assert snapshot(reference_copy) == before
        assert not (reference_copy / ".certkit").exists()
    finally:
        for path in [reference_copy, *reference_copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base)


def test_symlink_leaving_the_folder_is_refused(fresh_layout: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.crt"
    outside.write_text("precious\n")
    target = fresh_layout / "fixtures/notary-server.crt"
    target.unlink()
    target.symlink_to(outside)
    before = snapshot(fresh_layout)
    result = certkit("renew", str(fresh_layout), "--force")
    assert_one_line_error(result, 13, "outside", "symlink")
    assert outside.read_text() == "precious\n"
    assert snapshot(fresh_layout) == before


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = certkit("init", str(tmp_path))
    assert_one_line_error(result, 13, "not empty", "certkit renew")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = certkit("--debug", "renew", str(tmp_path))
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "NotALayoutError" in result.stderr


def test_help_documents_exit_codes() -> None:
    result = certkit("--help")
    assert result.returncode == 0
    assert "10   not a Notary checkout" in result.stdout  # certkit.exitcodes, printed as the table
    renew_help = certkit("renew", "--help").stdout
    for option in ("--within", "--force", "--rotate-keys", "--dry-run", "--json", "--profile", "--ca-store"):
        assert option in renew_help


@pytest.mark.parametrize(
    ("mode", "gid", "needle"),
    [
        (0o777, None, "writable by everyone: fixtures (0777)"),
        # nogroup is nobody's and _apt's primary group: not the owner's private group.
        (0o775, 65534, "writable by group nogroup (gid 65534), which has other members"),
    ],
)
def test_folder_writable_by_others_is_refused(fresh_layout: Path, mode: int, gid: int | None, needle: str) -> None:
    if gid is not None:
        if os.geteuid() != 0:
            pytest.skip("needs root to give the folder another group")
        os.chown(fresh_layout / "fixtures", -1, gid)
    (fresh_layout / "fixtures").chmod(mode)
    before = snapshot(fresh_layout)
    result = certkit("renew", str(fresh_layout), "--force")
    assert_one_line_error(result, 13, needle, "chmod go-w", str(fresh_layout / "fixtures"))
    assert snapshot(fresh_layout) == before


def test_fixtures_folder_symlinked_elsewhere_is_refused(fresh_layout: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (fresh_layout / "fixtures").rename(elsewhere)
    (fresh_layout / "fixtures").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    result = certkit("renew", str(fresh_layout), "--force")
    assert_one_line_error(result, 13, "outside", "symlink")
    assert snapshot(elsewhere) == before


def test_key_symlink_leaving_the_folder_is_refused(fresh_layout: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.key"
    key = fresh_layout / "fixtures/notary-server.key"
    outside.write_bytes(key.read_bytes())
    outside.chmod(0o600)
    key.unlink()
    key.symlink_to(outside)
    before = outside.read_bytes()
    result = certkit("renew", str(fresh_layout), "--force", "--rotate-keys")
    assert_one_line_error(result, 13, "outside", "symlink")
    assert outside.read_bytes() == before
