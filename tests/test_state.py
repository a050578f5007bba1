"""The state folder (.certkit/) is input: crafted records, manifests, symlinks and foreign folders are refused.

Each attack is built the way an attacker would leave it (a checkout with a planted
``.certkit/``, or one certkit made and someone then edited) and run through the real
entry point.  A file outside the Notary folder (an ``authorized_keys``-like file in a
sibling folder) must stay exactly as it was, and certkit must refuse with exit 13.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certkit.durations import parse_duration
from tests.cli_helpers import run_cli
from tests.crashcheck import live_files, problems
from tests.renew_helpers import renew_folder

NOW = datetime.now(timezone.utc)
PLANTED = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeep me@victim\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A sibling folder with a file certkit must never touch."""
    folder = tmp_path / "home-ssh"
    folder.mkdir()
    (folder / "authorized_keys").write_bytes(PLANTED)
    (folder / "authorized_keys").chmod(0o600)
    return folder


def _private_write(path: Path, data: bytes) -> None:
    """Write a crafted state file with the modes certkit itself uses, so only the path check can catch it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(data)
    path.chmod(0o600)


def _record(entries: list[dict[str, object]]) -> bytes:
    return json.dumps({"entries": entries}).encode()


def _unchanged(outside: Path) -> None:
    assert (outside / "authorized_keys").read_bytes() == PLANTED


def test_commit_record_with_an_outside_target_is_refused(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = b"ssh-ed25519 AAAAattacker\n"
    staged = outside / ".authorized_keys.certkit-abcdef.new"
    staged.write_bytes(evil)
    _private_write(
        fresh_layout / ".certkit/txn/abcdef.commit",
        _record(
            [
                {
                    "target": str(outside / "authorized_keys"),
                    "staged": str(staged),
                    "sha256": hashlib.sha256(evil).hexdigest(),
                    "mode": 0o644,
                }
            ]
        ),
    )
    before = live_files(fresh_layout)
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(fresh_layout))
    assert code == 13, err
    assert "outside" in err and "abcdef.commit" in err and len(err.strip().splitlines()) == 1
    _unchanged(outside)
    assert staged.read_bytes() == evil
    assert live_files(fresh_layout) == before


def test_commit_record_with_a_relative_escape_is_refused(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = b"attacker\n"
    staged = fresh_layout / "fixtures" / ".x.certkit-abcdef.new"
    staged.write_bytes(evil)
    target = fresh_layout / "fixtures" / ".." / ".." / outside.name / "authorized_keys"
    _private_write(
        fresh_layout / ".certkit/txn/abcdef.commit",
        _record(
            [{"target": str(target), "staged": str(staged), "sha256": hashlib.sha256(evil).hexdigest(), "mode": 0o644}]
        ),
    )
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(fresh_layout))
    assert code == 13, err
    _unchanged(outside)


def test_intent_record_with_an_outside_staged_path_deletes_nothing(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _private_write(
        fresh_layout / ".certkit/txn/abcdef.intent",
        _record(
            [
                {
                    "target": str(fresh_layout / "fixtures/root-ca.crt"),
                    "staged": str(outside / "authorized_keys"),
                    "sha256": "0" * 64,
                    "mode": 0o644,
                }
            ]
        ),
    )
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(fresh_layout))
    assert code == 13, err
    assert "abcdef.intent" in err
    _unchanged(outside)


def test_generation_manifest_cannot_copy_a_secret_from_elsewhere(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renew_folder(fresh_layout, NOW, parse_duration("0"), force=True)  # generation 2; 1 is init's
    gen = fresh_layout / ".certkit/generations/1"
    manifest = json.loads((gen / "manifest.json").read_text())
    stolen = os.path.relpath(outside / "authorized_keys", gen)
    manifest.append({"stored": stolen, "target": "fixtures/stolen.crt", "mode": 0o644})
    _private_write(gen / "manifest.json", json.dumps(manifest).encode())
    code, _, err = run_cli(capsys, "rollback", "--to", "1", str(fresh_layout))
    assert code == 13, err
    assert "generation 1" in err
    assert not (fresh_layout / "fixtures/stolen.crt").exists()
    _unchanged(outside)


def test_generation_manifest_with_an_absolute_stored_path_is_refused(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renew_folder(fresh_layout, NOW, parse_duration("0"), force=True)
    gen = fresh_layout / ".certkit/generations/1"
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest[0]["stored"] = str(outside / "authorized_keys")
    _private_write(gen / "manifest.json", json.dumps(manifest).encode())
    before = live_files(fresh_layout)
    code, _, err = run_cli(capsys, "rollback", "--to", "1", str(fresh_layout))
    assert code == 13, err
    assert live_files(fresh_layout) == before


def test_generation_manifest_target_outside_is_refused(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renew_folder(fresh_layout, NOW, parse_duration("0"), force=True)
    gen = fresh_layout / ".certkit/generations/1"
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest[0]["target"] = str(outside / "authorized_keys")
    _private_write(gen / "manifest.json", json.dumps(manifest).encode())
    code, _, err = run_cli(capsys, "rollback", "--to", "1", str(fresh_layout))
    assert code == 13, err
    _unchanged(outside)


def test_generations_symlink_to_outside_is_refused(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = outside / "gens"
    shutil.move(str(fresh_layout / ".certkit/generations"), elsewhere)
    (fresh_layout / ".certkit/generations").symlink_to(elsewhere)
    kept = sorted(p.name for p in elsewhere.iterdir())
    before = live_files(fresh_layout)
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(fresh_layout))
    assert code == 13, err
    assert "symlink" in err
    assert sorted(p.name for p in elsewhere.iterdir()) == kept  # no leaf-key copy went there
    assert live_files(fresh_layout) == before


# (A CA key readable by its group is tightened and reported instead: the key policy of certkit.store.safety.)
@pytest.mark.parametrize("where", [".certkit", ".certkit/generations", ".certkit/generations/1/manifest.json"])
def test_state_readable_by_the_group_is_refused(
    fresh_layout: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = fresh_layout / where
    path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o040)
    mode = stat.S_IMODE(path.stat().st_mode)
    before = live_files(fresh_layout)
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(fresh_layout))
    assert code == 13, err
    assert where in err and "group" in err and len(err.strip().splitlines()) == 1
    assert stat.S_IMODE(path.stat().st_mode) == mode  # refused, not silently "fixed"
    assert live_files(fresh_layout) == before


def test_state_owned_by_another_user_is_refused(fresh_layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a folder's owner needs root")  # CI runs as root
    os.chown(
        fresh_layout / ".certkit/txn" if (fresh_layout / ".certkit/txn").exists() else fresh_layout / ".certkit",
        4242,
        4242,
    )
    before = live_files(fresh_layout)
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(fresh_layout))
    assert code == 13, err
    assert "owned by uid 4242" in err
    assert live_files(fresh_layout) == before


def _commit_to_git_style(folder: Path, mode_dirs: int, mode_files: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(mode_dirs if path.is_dir() else mode_files)


def test_a_hard_link_in_the_state_folder_is_refused(
    fresh_layout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lock note is written with O_TRUNC: linked to authorized_keys, it would wipe it.
    os.link(outside / "authorized_keys", fresh_layout / ".certkit/lock")
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(fresh_layout))
    assert code == 13, err
    assert "hard links" in err
    _unchanged(outside)


def test_checkout_with_a_committed_state_folder_is_refused(
    reference_copy: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `git clone` of a repository with a committed .certkit/ leaves: 0755 folders, 0644 files.
    evil = b"attacker\n"
    (reference_copy / ".certkit/txn").mkdir(parents=True)
    (outside / ".x.new").write_bytes(evil)
    (reference_copy / ".certkit/txn/abcdef.commit").write_bytes(
        _record(
            [
                {
                    "target": str(outside / "authorized_keys"),
                    "staged": str(outside / ".x.new"),
                    "sha256": hashlib.sha256(evil).hexdigest(),
                    "mode": 0o644,
                }
            ]
        )
    )
    _commit_to_git_style(reference_copy / ".certkit", 0o755, 0o644)
    before = live_files(reference_copy)
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(reference_copy))
    assert code == 13, err
    assert ".certkit" in err
    _unchanged(outside)
    assert live_files(reference_copy) == before


def test_private_state_folder_without_certkit_marker_is_refused(
    reference_copy: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same, checked out with umask 077: owner and modes look right, but certkit never made it.
    evil = b"attacker\n"
    (outside / ".x.new").write_bytes(evil)
    _private_write(
        reference_copy / ".certkit/txn/abcdef.commit",
        _record(
            [
                {
                    "target": str(outside / "authorized_keys"),
                    "staged": str(outside / ".x.new"),
                    "sha256": hashlib.sha256(evil).hexdigest(),
                    "mode": 0o644,
                }
            ]
        ),
    )
    _commit_to_git_style(reference_copy / ".certkit", 0o700, 0o600)
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(reference_copy))
    assert code == 13, err
    assert "not made by certkit" in err
    _unchanged(outside)


def test_a_state_folder_certkit_made_is_accepted(fresh_layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(fresh_layout))
    assert code == 0, err
    assert not problems(fresh_layout)


def test_a_state_folder_holding_only_compose_answers_is_adopted(
    reference_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `certkit compose --container-dir` records its answers in .certkit/ before any renewal made it.
    from certkit.compose.projects import remember_container_dirs

    remember_container_dirs(reference_copy, {"server": "/go/src/github.com/theupdateframework/notary"})
    # ...and the cron fast path's cache, which a run writes into any existing state folder.
    from certkit.store.fastpath import RECORD

    (reference_copy / ".certkit" / RECORD).write_bytes(b"{}")
    (reference_copy / ".certkit" / RECORD).chmod(0o600)
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(reference_copy))
    assert code == 0, err
    assert (reference_copy / ".certkit/certkit-state").is_file()
    assert not problems(reference_copy)
