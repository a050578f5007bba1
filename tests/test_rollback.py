"""Generations and `certkit rollback`: back to an earlier set, all at once."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from certkit.cli import cli
from certkit.durations import parse_duration
from certkit.errors import CertkitError
from tests.cli_helpers import run_cli
from tests.crashcheck import live_files, problems
from tests.renew_helpers import renew_folder
from tests.test_cli_renew import certkit
from tests.test_safety import tree

NOW = datetime.now(timezone.utc)


def invoke(*args: str) -> tuple[int, str]:
    """Run the real entry point (with its error mapping); stdout and stderr together."""
    runner = CliRunner()
    result = runner.invoke(cli, list(args))
    if isinstance(result.exception, CertkitError):
        return result.exception.exit_code, str(result.exception)
    return result.exit_code, result.output


def test_rollback_restores_the_previous_generation(fresh_layout: Path) -> None:
    original = live_files(fresh_layout)  # `certkit init` recorded this as generation 1
    renew_folder(fresh_layout, NOW, parse_duration("0"), force=True, rotate_keys=True)  # gen 2
    second = live_files(fresh_layout)
    renew_folder(fresh_layout, NOW, parse_duration("0"), force=True, rotate_keys=True)  # gen 3
    assert live_files(fresh_layout) != second
    code, out = invoke("rollback", str(fresh_layout), "--list", "--json")
    assert code == 0 and listed(out) == (3, [1, 2, 3])

    code, out = invoke("rollback", str(fresh_layout))
    assert code == 0, out
    assert "generation 2 is live (was 3)" in out
    assert live_files(fresh_layout) == second
    assert not problems(fresh_layout)

    code, out = invoke("rollback", str(fresh_layout), "--to", "1")
    assert code == 0, out
    assert live_files(fresh_layout) == original


def test_generation_zero_is_the_set_certkit_found(reference_copy: Path) -> None:
    original = live_files(reference_copy)
    renew_folder(reference_copy, NOW, parse_duration("30d"))
    code, out = invoke("rollback", str(reference_copy), "--to", "0")
    assert code == 0, out
    after = live_files(reference_copy)
    # Every file of the checkout is back; only the CA keys certkit created stay (nothing is lost).
    assert {k: v for k, v in after.items() if not k.startswith(".certkit/")} == original


def test_keep_prunes_old_generations(fresh_layout: Path) -> None:
    for _ in range(4):
        renew_folder(fresh_layout, NOW, parse_duration("0"), force=True, keep=2)
    code, out = invoke("rollback", str(fresh_layout), "--list", "--json")
    assert listed(out) == (5, [4, 5])  # init found nothing: no generation 0


def test_generation_zero_survives_pruning(reference_copy: Path) -> None:
    original = live_files(reference_copy)
    for _ in range(4):
        renew_folder(reference_copy, NOW, parse_duration("0"), force=True, keep=2)
    code, out = invoke("rollback", str(reference_copy), "--list", "--json")
    assert listed(out) == (4, [0, 3, 4])
    assert invoke("rollback", str(reference_copy), "--to", "0")[0] == 0
    after = live_files(reference_copy)
    assert {k: v for k, v in after.items() if not k.startswith(".certkit/")} == original


def test_nothing_to_roll_back_to(fresh_layout: Path) -> None:
    code, out = invoke("rollback", str(fresh_layout))
    assert code == 19
    assert "no generation older than the live one" in out
    never = fresh_layout.parent / "never"
    never.mkdir()
    (never / "fixtures").mkdir()
    (never / "fixtures/root-ca.crt").write_bytes((fresh_layout / "fixtures/root-ca.crt").read_bytes())
    code, out = invoke("rollback", str(never))
    assert code == 19 and "has not renewed anything here yet" in out
    code, out = invoke("rollback", str(fresh_layout), "--to", "7")
    assert code == 19 and "generation 7 does not exist" in out


def _pubkey_of_cert(cert: Path) -> bytes:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], capture_output=True, check=True
    ).stdout


def _pubkey_of_key(key: Path) -> bytes:
    return subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True, check=True).stdout


def test_relative_folder_snapshots_the_ca_keys_it_creates(
    reference_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `cd notary; certkit renew`: the real checkout has no CA keys, so this run makes them
    # (a new root CA among them) in the CA store.
    monkeypatch.chdir(reference_copy)
    code, _, err = run_cli(capsys, "renew", "--no-compose")
    assert code == 0, err
    ca_key = reference_copy / ".certkit/ca/root-ca.key"
    first_key = ca_key.read_bytes()
    manifest = json.loads((reference_copy / ".certkit/generations/1/manifest.json").read_text())
    assert ".certkit/ca/root-ca.key" in [entry["target"] for entry in manifest]
    # The root key is lost, so a forced renewal makes a new root (generation 2)...
    ca_key.unlink()
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", ".")
    assert code == 0, err
    assert ca_key.read_bytes() != first_key
    # ...and rolling back to generation 1 must bring back its root key with its root certificate.
    code, _, err = run_cli(capsys, "rollback", "--to", "1")
    assert code == 0, err
    assert ca_key.read_bytes() == first_key
    assert _pubkey_of_key(ca_key) == _pubkey_of_cert(reference_copy / "fixtures/root-ca.crt")
    assert not problems(reference_copy)


def test_rolled_back_root_cert_and_key_mismatch_is_detected(reference_copy: Path) -> None:
    # The check above can fail: a root key that does not belong to the certificate is seen as such.
    renew_folder(reference_copy, NOW, parse_duration("30d"))
    other = reference_copy / "other.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(other)],
        check=True,
        capture_output=True,
    )
    assert _pubkey_of_key(other) != _pubkey_of_cert(reference_copy / "fixtures/root-ca.crt")
    assert _pubkey_of_key(reference_copy / ".certkit/ca/root-ca.key") == _pubkey_of_cert(
        reference_copy / "fixtures/root-ca.crt"
    )


def listed(out: str) -> tuple[int, list[int]]:
    """(live, kept numbers) from `rollback --list --json`."""
    data = json.loads(out)
    return data["live"], [g["number"] for g in data["generations"]]


# --------------------------------------------------------------------------- a umask-002 clone (issue 20)


def umask_002_clone(reference_dir: Path, target: Path) -> Path:
    """The reference checkout as a user's `git clone` under Ubuntu's umask 002 leaves it: folders
    0775, files 0664 (the group is the user's private one; here root's, which is private too)."""
    shutil.copytree(reference_dir, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o775 if path.is_dir() else 0o664)
    return target


def _changed_by_renew(before: dict[str, tuple[object, ...]], after: dict[str, tuple[object, ...]]) -> list[str]:
    """The files of the set a renewal changed, worked out from the trees (not from certkit): every
    file whose bytes differ, and the CA keys it created; not the ignore files and compose overrides."""
    changed = []
    for path, entry in after.items():
        if path.startswith(".certkit/") and not path.startswith(".certkit/ca/"):
            continue
        if path in (".gitignore", ".dockerignore") or ".override." in path or entry[0] != stat.S_IFREG:
            continue
        if path not in before or before[path][4] != entry[4]:
            changed.append(path)
    return sorted(changed)


def test_a_umask_002_clone_rolls_back_to_the_set_as_found(reference_dir: Path, tmp_path: Path) -> None:
    clone = umask_002_clone(reference_dir, tmp_path / "notary")
    if os.geteuid() == 0:  # as an administrator does for postgres (uid 999): the owner must come back too
        key = clone / "notarysql/postgresql-initdb.d/server.key"
        os.chown(key, 999, 0)
        key.chmod(0o600)
    before = tree(clone)
    renewed = certkit("renew", str(clone))
    assert renewed.returncode == 0, renewed.stderr
    after = tree(clone)
    changed = _changed_by_renew(before, after)
    assert "fixtures/notary-server.crt" in changed and ".certkit/ca/root-ca.key" in changed

    listing = certkit("rollback", "--list", str(clone))
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert "damaged" not in listing.stdout, listing.stdout  # 0664 is how the set was found, not damage
    assert lines[0].startswith("  0 ") and lines[1].strip() == "the set certkit first found"
    assert lines[2].startswith("  1  LIVE") and f"changed {len(changed)} files: " in lines[3], listing.stdout
    data = json.loads(certkit("rollback", "--list", "--json", str(clone)).stdout)
    live = data["generations"][1]
    assert live["changed"] == changed and live["problem"] is None
    # The keys were 0664 as cloned and are 0600 now: the live generation says that too.
    assert {m["file"] for m in live["modes"]} >= {"fixtures/notary-server.key", "fixtures/rethinkdb/key.pem"}
    assert all((m["before"], m["after"]) == ("0664", "0600") for m in live["modes"])

    back = certkit("rollback", str(clone))
    assert back.returncode == 0, back.stderr
    assert "choose another" not in back.stdout + back.stderr
    restored = tree(clone)
    # Exactly as first found: bytes, mode, owner and group of every file and folder certkit found
    # (.gitignore keeps the line that keeps the CA store out of commits: not part of the set).
    for path, entry in before.items():
        if path != ".gitignore":
            assert restored[path] == entry, path
    assert "fixtures/notary-server.key: private key restored with mode 0664, as first found" in back.stdout

    forward = certkit("rollback", "--to", "1", str(clone))
    assert forward.returncode == 0, forward.stderr
    assert tree(clone)["fixtures/notary-server.crt"] == after["fixtures/notary-server.crt"]
    again = certkit("rollback", "--to", "0", str(clone))
    assert again.returncode == 0, again.stderr
    assert {p: e for p, e in tree(clone).items() if p in before and p != ".gitignore"} == {
        p: e for p, e in before.items() if p != ".gitignore"
    }


def test_a_damaged_only_other_generation_never_says_choose_another(reference_copy: Path) -> None:
    assert certkit("renew", "--no-compose", str(reference_copy)).returncode == 0
    manifest = reference_copy / ".certkit/generations/0/manifest.json"
    entries = json.loads(manifest.read_text())
    entries[0]["mode"] = 0o666  # writable by everyone: certkit never writes nor accepts that
    manifest.write_text(json.dumps(entries))
    result = certkit("rollback", str(reference_copy))
    assert result.returncode == 13 and "generation 0 is damaged" in result.stderr
    assert "no other generation is kept to roll back to" in result.stderr
    assert "choose another" not in result.stderr
    listing = certkit("rollback", "--list", str(reference_copy))
    assert "changes unknown (the generation before it cannot be read)" in listing.stdout, listing.stdout
