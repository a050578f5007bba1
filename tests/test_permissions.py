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
