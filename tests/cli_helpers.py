"""Running certkit's real entry point (with its error mapping) inside a test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from certkit.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `certkit ARGS`."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def as_cron(line: str, home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """A crontab command as cron runs it: `sh -c` in the home folder with HOME and PATH=/usr/bin:/bin only."""
    return subprocess.run(
        ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "sh", "-c", line],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
