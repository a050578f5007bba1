"""No private key is ever readable by group or others: watched while a renewal runs.

A watcher polls every key file and every staged file (``.*.certkit-*.new``/``.tmp``) of the
layout as fast as it can while `certkit renew --force --rotate-keys` runs in a subprocess,
under umask 000 and 077, with a pre-existing 0644 key.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY_NAMES = (".key", "-key.pem")


def is_private(path: Path) -> bool:
    name = path.name
    if ".certkit-" in name:  # a staged or temporary file: private if its target is a key
        name = name.lstrip(".").split(".certkit-")[0]
    return name.endswith(KEY_NAMES) or ".certkit" in path.parts and path.parent.name != ".certkit"


def watch(folder: Path, stop: threading.Event, seen: list[str], checked: list[int]) -> None:
    while not stop.is_set():
        for path in folder.rglob("*"):
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISREG(mode) and is_private(path):
                checked[0] += 1
                if stat.S_IMODE(mode) & 0o077:
                    seen.append(f"{path.relative_to(folder)} {stat.S_IMODE(mode):04o}")


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_keys_never_readable_by_others_during_renewal(fresh_layout: Path, umask: int) -> None:
    loose = fresh_layout / "fixtures/notary-signer.key"
    loose.chmod(0o644)  # as a user's copy might be
    stop, seen, checked = threading.Event(), list[str](), [0]
    watcher = threading.Thread(target=watch, args=(fresh_layout, stop, seen, checked))
    seen_before_start: list[str] = []
    # The pre-existing 0644 key is the one thing allowed to be loose before certkit runs.
    for path in fresh_layout.rglob("*"):
        if path.is_file() and is_private(path) and stat.S_IMODE(path.stat().st_mode) & 0o077:
            seen_before_start.append(str(path.relative_to(fresh_layout)))
    assert seen_before_start == ["fixtures/notary-signer.key"]
    loose.chmod(0o600)
    # Restore the loose mode inside the child, right before certkit runs, so the watcher
    # does not count the test's own setup.
    code = (
        f"import os,sys; os.umask({umask}); os.chmod({str(loose)!r}, 0o644); from certkit.cli import main; "
        f"sys.argv=['certkit','renew','--force','--rotate-keys',{str(fresh_layout)!r}]; main()"
    )
    watcher.start()
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        stop.set()
        watcher.join()
    assert result.returncode == 0, result.stderr
    # Only the pre-existing loose key may have been seen loose (before certkit fixed it).
    assert {s.split()[0] for s in seen} <= {"fixtures/notary-signer.key"}, seen
    assert checked[0] > 50  # the watcher really looked, many times
    for path in fresh_layout.rglob("*"):
        if path.is_file() and is_private(path):
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE((fresh_layout / ".certkit").stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh_layout / ".certkit/ca").stat().st_mode) == 0o700


def test_a_loose_kept_key_is_tightened_and_reported(fresh_layout: Path) -> None:
    key = fresh_layout / "fixtures/notary-server.key"
    key.chmod(0o644)
    before = key.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "certkit", "renew", str(fresh_layout)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "fixtures/notary-server.key: private key was mode 0644" in result.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == before


def test_the_dry_run_says_what_the_run_does_for_each_loose_key(reference_dir: Path, tmp_path: Path) -> None:
    """On a umask-002 clone every key is 0664: the dry run says it would set each to 0600, and then
    judges the key with that mode, as the real run does; never also "would keep mode 0664" (issue 20)."""
    from tests.test_cli_renew import certkit
    from tests.test_rollback import umask_002_clone

    clone = umask_002_clone(reference_dir, tmp_path / "notary")
    dry = certkit("renew", "--dry-run", "--no-compose", "--verbose", str(clone))  # --verbose: a note per key
    assert dry.returncode == 0, dry.stderr
    notes = [line for line in dry.stdout.splitlines() if line.startswith("note: ")]
    loose = [n.split(":")[1].strip() for n in notes if "private key was mode 0664" in n and "would set 0600" in n]
    assert "fixtures/notary-server.key" in loose and len(loose) == 8, notes
    for key in loose:
        about = [n for n in notes if n.startswith(f"note: {key}: ")]
        assert not any("would keep mode 0664" in n for n in about), about
    real = certkit("renew", "--no-compose", "--verbose", str(clone))
    assert real.returncode == 0, real.stderr
    real_notes = [line for line in real.stdout.splitlines() if line.startswith("note: ")]

    def words(line: str) -> str:  # the dry run's words for what the run did
        return line.replace("; set to 0600", "; would set 0600").replace(": keeps ", ": would keep ")

    # The key notes of the dry run are the run's, word for word (the postgres key's owner note included).
    key_notes = [n for n in notes if ".key:" in n or "-key.pem:" in n or "key.pem:" in n]
    assert key_notes == [words(n) for n in real_notes if ".key:" in n or "key.pem:" in n]
    assert any("server.key: owned by" in n and "chown 999" in n for n in key_notes)
