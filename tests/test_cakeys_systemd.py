"""The CA passphrase as a systemd credential: `systemd-creds` encrypts it with this host's key, the unit
`certkit schedule --systemd` writes loads it (checked by `systemd-analyze verify`), and renew reads it
from $CREDENTIALS_DIRECTORY."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from certkit.pki.unlock import PASSPHRASE_CREDENTIAL
from tests.cakeys_helpers import secret_file, snapshot
from tests.cli_helpers import run_cli
from tests.notary_harness import require_binary

PASSPHRASE = "a passphrase only systemd knows"


def _creds(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    tool = require_binary("systemd-creds", "systemd")
    # As root, systemd-creds makes /var/lib/systemd/credential.secret (the host key) on first use.
    return subprocess.run([tool, *args], input=stdin, capture_output=True, timeout=60)


@pytest.fixture
def encrypted_store(fresh_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    passphrase = secret_file(tmp_path / "pass", PASSPHRASE)
    code, _, err = run_cli(
        capsys, "ca-keys", "convert", "--to", "encrypted", "--new-passphrase-file", str(passphrase), str(fresh_layout)
    )
    assert code == 0, err
    passphrase.unlink()
    return fresh_layout


def test_renew_reads_the_passphrase_from_a_systemd_credential(
    tmp_path: Path, encrypted_store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    encrypted = tmp_path / "certkit-ca-passphrase.cred"
    made = _creds("encrypt", f"--name={PASSPHRASE_CREDENTIAL}", "-", str(encrypted), stdin=PASSPHRASE.encode() + b"\n")
    assert made.returncode == 0, made.stderr
    assert PASSPHRASE.encode() not in encrypted.read_bytes()
    # What systemd does when the unit starts (LoadCredentialEncrypted=): decrypt into a private folder.
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    opened = _creds(
        "decrypt", f"--name={PASSPHRASE_CREDENTIAL}", str(encrypted), str(credentials / PASSPHRASE_CREDENTIAL)
    )
    assert opened.returncode == 0, opened.stderr
    (credentials / PASSPHRASE_CREDENTIAL).chmod(0o400)
    # Without it, a renewal that must sign has no passphrase: exit 23, nothing written.
    before = snapshot(encrypted_store)
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(encrypted_store))
    assert code == 23 and "certkit-ca-passphrase" in err
    assert snapshot(encrypted_store) == before
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(encrypted_store))
    assert code == 0, err


def test_a_credential_under_another_name_does_not_decrypt(tmp_path: Path) -> None:
    """systemd binds the credential to its name: one made for another name is refused (a swapped file)."""
    encrypted = tmp_path / "cred"
    assert _creds("encrypt", "--name=other", "-", str(encrypted), stdin=b"x\n").returncode == 0
    refused = _creds("decrypt", f"--name={PASSPHRASE_CREDENTIAL}", str(encrypted), "-")
    assert refused.returncode != 0


def _verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    analyze = require_binary("systemd-analyze", "systemd")
    return subprocess.run([analyze, "verify", "--man=no", *map(str, paths)], capture_output=True, text=True, timeout=60)


def test_the_unit_loads_the_encrypted_credential(
    tmp_path: Path, fresh_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fresh_layout  # schedule refuses a folder that is not a Notary checkout
    credential = tmp_path / "credstore" / "certkit-ca-passphrase"
    pin = tmp_path / "credstore" / "certkit-ca-pin"
    units = tmp_path / "units"
    code, out, err = run_cli(
        capsys,
        "schedule",
        "--systemd",
        str(folder),
        "--output-dir",
        str(units),
        "--certkit-path",
        sys.executable,  # an executable that exists: systemd-analyze checks ExecStart
        "--ca-passphrase-credential",
        str(credential),
        "--ca-pin-credential",
        str(pin),
    )
    assert code == 0, err
    assert f"systemd-creds encrypt --name=certkit-ca-passphrase SECRET_FILE {credential}" in out
    service = (units / "certkit-renew.service").read_text()
    assert f"LoadCredentialEncrypted=certkit-ca-passphrase:{credential}\n" in service
    assert f"LoadCredentialEncrypted=certkit-ca-pin:{pin}\n" in service
    result = _verify(units / "certkit-renew.service", units / "certkit-renew.timer")
    assert result.returncode == 0 and "certkit-renew.service" not in result.stderr, result.stderr
    # The same check reports a credential line systemd would ignore: the assertion above can fail.
    broken = units / "certkit-renew.service"
    broken.write_text(
        service.replace("LoadCredentialEncrypted=certkit-ca-pin:", "LoadCredentialEncrypted=certkit/pin:")
    )
    assert "not valid" in _verify(broken, units / "certkit-renew.timer").stderr


def test_schedule_refuses_a_relative_credential(fresh_layout: Path) -> None:
    from certkit.deploy import schedule
    from certkit.errors import UsageError

    planned = schedule.job(["/usr/bin/certkit"], fresh_layout)
    for bad in (Path("relative/cred"), Path("/etc/cred:with-colon"), Path("/etc/cred\nExecStart=/bin/sh")):
        with pytest.raises(UsageError):
            schedule.systemd_units(planned, credentials=[("certkit-ca-passphrase", bad)])
