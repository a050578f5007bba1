"""`certkit completion SHELL`: the script is click's, and completing really works through it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parent.parent)


def certkit_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": ROOT, **extra}


@pytest.mark.parametrize(
    "shell, marker",
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef certkit"), ("fish", "complete --no-files --command certkit")],
)
def test_script_for_each_shell(shell: str, marker: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "certkit", "completion", shell],
        capture_output=True,
        text=True,
        env=certkit_env(),
        timeout=60,
    )
    assert out.returncode == 0 and marker in out.stdout and "_CERTKIT_COMPLETE" in out.stdout


def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    shim = tmp_path / "certkit"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m certkit "$@"\n')
    shim.chmod(0o755)
    script = subprocess.run(
        [str(shim), "completion", "bash"], capture_output=True, text=True, env=certkit_env(), check=True, timeout=60
    ).stdout
    probe = (
        script
        + "\nCOMP_WORDS=(certkit st); COMP_CWORD=1; _certkit_completion certkit; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
        "COMPREPLY=(); COMP_WORDS=(certkit renew --no-c); COMP_CWORD=2; _certkit_completion certkit; "
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run(
        [bash, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env=certkit_env(PATH=f"{tmp_path}:{os.environ['PATH']}"),
    )
    assert out.stdout.split() == ["status", "--no-compose"], out.stdout + out.stderr
