"""check-expiry never hangs and never reads without bound: FIFOs, /dev/zero, huge files are UNKNOWN.

Every command runs in a child process with a timeout: a regression that blocks on a FIFO or
reads /dev/zero forever fails the test (TimeoutExpired) instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certkit.bounded import MAX_INPUT_BYTES, UnreadableInput, read_regular

TIMEOUT = 60  # seconds; a healthy run takes about one


def check(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certkit", "check-expiry", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def _rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {str(r["path"]): r for r in json.loads(result.stdout)["certificates"]}


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(size)  # a hole: no disk space, but read() would return `size` zero bytes
    return path


# --------------------------------------------------------------------------- read_regular


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.crt"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableInput, match=r"a FIFO \(named pipe\), not a regular file"):
        read_regular(fifo)  # no writer: a plain open() would block here for ever


def test_read_regular_refuses_dev_zero_and_large_files(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInput, match="a character device, not a regular file"):
        read_regular("/dev/zero")
    with pytest.raises(UnreadableInput, match=f"file too large \\(4294967296 bytes, limit {MAX_INPUT_BYTES} bytes"):
        read_regular(_sparse(tmp_path / "huge.pem", 4 << 30))
    exact = _sparse(tmp_path / "exact.pem", MAX_INPUT_BYTES)
    assert len(read_regular(exact)) == MAX_INPUT_BYTES  # the limit itself is allowed
    with pytest.raises(UnreadableInput, match="No such file"):
        read_regular(tmp_path / "missing.crt")


# --------------------------------------------------------------------------- the command


def test_fifo_dev_zero_and_sparse_file_as_arguments(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.crt"
    os.mkfifo(fifo)
    huge = _sparse(tmp_path / "huge.pem", 3 << 30)
    result = check("--format", "json", str(fifo), "/dev/zero", str(huge))
    assert result.returncode == 3, result.stdout + result.stderr
    rows = _rows(result)
    assert rows[str(fifo)]["reasons"] == ["a FIFO (named pipe), not a regular file: not read"]
    assert rows["/dev/zero"]["reasons"] == ["a character device, not a regular file: not read"]
    assert rows[str(huge)]["reasons"] == [f"file too large ({3 << 30} bytes, limit {MAX_INPUT_BYTES} bytes): not read"]
    assert all(r["status"] == "UNKNOWN" for r in rows.values())
    assert result.stderr == ""


def test_fifo_and_sparse_file_in_a_walked_folder(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.crt")
    os.mkfifo(tmp_path / "pipe.txt")  # not named like a certificate: passed over quietly
    _sparse(tmp_path / "disk.img.pem", 2 << 30)
    result = check("--format", "json", str(tmp_path))
    assert result.returncode == 3, result.stdout + result.stderr
    rows = _rows(result)
    assert sorted(os.path.basename(p) for p in rows) == ["disk.img.pem", "pipe.crt"]
    assert rows[str(tmp_path / "pipe.crt")]["reasons"] == ["a FIFO (named pipe), not a regular file: not read"]


def test_fifo_and_dev_zero_named_by_notary_configs(reference_copy: Path) -> None:
    """A config's TLS path naming a FIFO or /dev/zero is UNKNOWN with the config named; nothing hangs."""
    fifo = reference_copy / "fixtures" / "fifo-cert"
    os.mkfifo(fifo)
    server_config = reference_copy / "fixtures" / "server-config.json"
    config = json.loads(server_config.read_text())
    config["server"]["tls_cert_file"] = "./fifo-cert"
    config["trust_service"]["tls_ca_file"] = "/dev/zero"
    server_config.write_text(json.dumps(config))
    escrow = reference_copy / "cmd" / "escrow" / "config.toml"
    escrow.write_text(escrow.read_text().replace("../../fixtures/notary-escrow.key", "/dev/zero"))
    result = check("--at", "2022-06-01", "--format", "json", str(reference_copy))
    assert result.returncode == 3, result.stdout + result.stderr
    rows = _rows(result)
    assert rows[str(fifo)]["status"] == "UNKNOWN"
    assert rows[str(fifo)]["reasons"] == ["a FIFO (named pipe), not a regular file: not read"]
    assert rows["/dev/zero"]["status"] == "UNKNOWN"
    problems = {p: r["codes"] for p, r in rows.items() if r["status"] != "OK" and r["used"]}
    assert problems == {str(fifo): ["unreadable"], "/dev/zero": ["unreadable"]}


def test_a_notary_config_that_is_a_fifo_or_huge(reference_copy: Path) -> None:
    signer = reference_copy / "fixtures" / "signer-config.json"
    signer.unlink()
    os.mkfifo(signer)
    client = reference_copy / "cmd" / "notary" / "config.json"
    client.unlink()
    _sparse(client, 2 << 30)
    result = check("--at", "2022-06-01", "--format", "json", str(reference_copy))
    assert result.returncode == 3, result.stdout + result.stderr
    rows = {os.path.relpath(p, reference_copy): r for p, r in _rows(result).items()}
    assert rows["fixtures/signer-config.json"]["reasons"] == [
        "cannot read this Notary config: a FIFO (named pipe), not a regular file: not read"
    ]
    assert rows["cmd/notary/config.json"]["reasons"] == [
        f"cannot read this Notary config: file too large ({2 << 30} bytes, limit {MAX_INPUT_BYTES} bytes): not read"
    ]
