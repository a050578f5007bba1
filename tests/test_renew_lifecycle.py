"""`certkit renew` with its lock and hooks, as two real processes and real shell hooks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "certkit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_second_renewal_fails_fast_then_waits(fresh_layout: Path, tmp_path: Path) -> None:
    entered, go = tmp_path / "entered", tmp_path / "go"
    # The first renewal parks in its pre-hook (inside the lock) until the test says go.
    hook = f"touch {entered}; while [ ! -f {go} ]; do sleep 0.02; done"
    first = start("renew", "--force", "--no-compose", "--pre-hook", hook, str(fresh_layout))
    try:
        wait_for(entered, first)
        second = subprocess.run(
            [sys.executable, "-m", "certkit", "renew", str(fresh_layout)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=60,
        )
        assert second.returncode == 16
        assert second.stderr.strip() == (
            f"certkit: error: another certkit is renewing {fresh_layout} "
            f"(pid {first.pid}); try again later or use --wait"
        )
        waiter = start("renew", "--wait", "--json", str(fresh_layout))
        go.touch()
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        out, err = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, err
        assert '"changed": false' in out  # the first renewal already did the work
    finally:
        go.touch()
        if first.poll() is None:
            first.kill()
            first.wait()


def test_deploy_hook_gets_the_renewed_files(fresh_layout: Path, tmp_path: Path) -> None:
    record = tmp_path / "deployed"
    hook = f'printf "%s\\n" "$CERTKIT_RENEWED_FILES" > {record}'
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certkit",
            "renew",
            "--within",
            "800d",
            "--no-compose",
            "--deploy-hook",
            hook,
            str(fresh_layout),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "fixtures/notary-server.crt" in record.read_text().split()
    # Nothing due: the deploy hook does not run.
    record.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "certkit", "renew", "--deploy-hook", hook, str(fresh_layout)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert result.returncode == 0 and not record.exists()


def test_failing_deploy_hook_keeps_the_renewal(fresh_layout: Path) -> None:
    before = (fresh_layout / "fixtures/notary-server.crt").read_bytes()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certkit",
            "renew",
            "--within",
            "800d",
            "--no-compose",
            "--deploy-hook",
            "exit 3",
            str(fresh_layout),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert result.returncode == 17
    assert "deploy" in result.stderr and "Traceback" not in result.stderr
    assert (fresh_layout / "fixtures/notary-server.crt").read_bytes() != before


def test_missing_hook_refused_before_anything(fresh_layout: Path) -> None:
    before = (fresh_layout / "fixtures/notary-server.crt").read_bytes()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "certkit",
            "renew",
            "--force",
            "--no-compose",
            "--deploy-hook",
            "/nonexistent/restart-notary",
            str(fresh_layout),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert result.returncode == 17
    assert len(result.stderr.strip().splitlines()) == 1 and "/nonexistent/restart-notary" in result.stderr
    assert (fresh_layout / "fixtures/notary-server.crt").read_bytes() == before
