"""Issue 19, item 5: text from a checkout, a certificate or a server never drives the terminal.

The attack: ``ESC]0;...BEL ESC[2J ESC[H ESC[32mOK: all certificates valid`` in a certificate's CN
and SAN, in a file name, in a compose ``include:`` path and in the certificate a TLS server
serves sets the window title, clears the screen and paints a fake green OK.  Each test runs
certkit's real entry point twice: off a terminal (pipes, as cron runs it and mails the output)
and on one (a pseudo-terminal in raw mode, so nothing is translated between certkit and the
test), and asserts that no control character reaches the output but the newlines and, on the
terminal, certkit's own colours; the attack is shown as visible text instead.
"""

from __future__ import annotations

import ast
import os
import pty
import select
import subprocess
import sys
import time
import tty
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.certfactory import Issued, make_ca, make_leaf
from tests.cli_helpers import run_cli
from tests.tls_server import tls_server

ATTACK = "\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[32mOK: all certificates valid"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\x1b[32mOK: all certificates valid"  # as certkit writes it
NOW = datetime.now(timezone.utc)
# The colour codes certkit writes on a terminal (certkit.render.style, check-expiry's status colours),
# written out here so the test does not take certkit's word for what is allowed.
OWN_STYLES = ("\x1b[0m", "\x1b[1m", "\x1b[22m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[1;31m")
REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm"}


def run(args: list[str], *, terminal: bool, cwd: Path | None = None) -> tuple[int, str]:
    """(exit code, everything certkit wrote to stdout and stderr) of `certkit ARGS`."""
    argv = [sys.executable, "-m", "certkit", *args]
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=_env(), cwd=cwd)
        return done.returncode, done.stdout + done.stderr
    master, slave = pty.openpty()
    tty.setraw(slave)  # no output processing: the test reads exactly the bytes certkit wrote
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=_env(), cwd=cwd)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 180
    try:
        while True:
            ready, _, _ = select.select([master], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise AssertionError(f"certkit {args} did not finish within 180 s")
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        os.close(master)
    return code, b"".join(chunks).decode("utf-8")


def assert_no_control_characters(output: str, *, terminal: bool) -> None:
    """Only printable characters and newlines; on a terminal certkit's own colour codes too."""
    text = output
    if terminal:
        for style in OWN_STYLES:
            text = text.replace(style, "")
    bad = sorted({repr(ch) for ch in text if ch != "\n" and not ch.isprintable()})
    assert not bad, f"control characters {bad} reached the output:\n{output!r}"


@pytest.fixture
def hostile_certs(tmp_path: Path) -> tuple[Path, Issued]:
    ca = make_ca("Escape Root", NOW - timedelta(days=10), NOW + timedelta(days=3000))
    leaf = make_leaf(ATTACK, ca, NOW - timedelta(days=1), NOW + timedelta(days=300), sans=("x" + ATTACK,))
    folder = tmp_path / "certs"
    leaf.write(folder / f"{ATTACK}.crt", chain=[ca])
    return folder, leaf


@pytest.mark.parametrize("terminal", [False, True], ids=["off-terminal", "on-terminal"])
def test_check_expiry_table_and_connect_show_the_attack_as_text(
    tmp_path: Path, hostile_certs: tuple[Path, Issued], terminal: bool
) -> None:
    folder, leaf = hostile_certs
    with tls_server(leaf, [], tmp_path / "server") as port:
        # A name the leaf does not cover: the reason lists its SANs, the attack among them.
        code, output = run(
            ["check-expiry", "--connect", f"127.0.0.1:{port}", "--servername", "other.example", str(folder)],
            terminal=terminal,
        )
    assert code == 2, output  # CRITICAL: the served leaf does not cover other.example
    assert_no_control_characters(output, terminal=terminal)
    lines = output.splitlines()
    # The file name, the CN of the file's certificate, the CN the server sent, and its SAN.
    assert any(f"{SHOWN}.crt#0 (CN={SHOWN})" in line for line in lines), output
    assert any(line.startswith(("CRITICAL", "\x1b[1;31mCRITICAL")) and f"(CN={SHOWN})" in line for line in lines)
    assert any(f"(SANs: DNS:x{SHOWN})" in line for line in lines), output
    if terminal:
        assert "\x1b[1;31mCRITICAL" in output  # certkit's own colours still work on a terminal


@pytest.mark.parametrize("terminal", [False, True], ids=["off-terminal", "on-terminal"])
def test_check_expiry_nagios_line_stays_one_visible_line(hostile_certs: tuple[Path, Issued], terminal: bool) -> None:
    folder, _ = hostile_certs
    (folder / f"{ATTACK}\r\nOK - all fine | x=1.crt").write_text("not a certificate")
    code, output = run(["check-expiry", "--format", "nagios", str(folder)], terminal=terminal)
    assert code == 3, output  # the unreadable file: UNKNOWN
    assert_no_control_characters(output, terminal=terminal)
    assert output.count("\n") == 1 and output.startswith("CERTKIT UNKNOWN - "), output
    assert f"{SHOWN}\\r\\nOK - all fine / x=1.crt" in output  # visible, and no second perfdata bar


def _include_attack(checkout: Path) -> None:
    """A compose file whose `include:` names a file after the attack (YAML's escapes write it)."""
    compose = checkout / "docker-compose.yml"
    escaped = ATTACK.replace("\x1b", "\\e").replace("\x07", "\\a")
    compose.write_text(f'include:\n  - "{escaped}.yml"\n' + compose.read_text())


@pytest.mark.parametrize("terminal", [False, True], ids=["off-terminal", "on-terminal"])
@pytest.mark.parametrize("command", ["renew", "compose"])
def test_renew_and_compose_errors_are_one_visible_line(reference_copy: Path, terminal: bool, command: str) -> None:
    _include_attack(reference_copy)
    code, output = run([command, str(reference_copy)], terminal=terminal)
    assert code == 15, output
    assert_no_control_characters(output, terminal=terminal)
    lines = output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("certkit: error: "), output
    assert lines[0].endswith(f"docker-compose.yml: includes {reference_copy}/{SHOWN}.yml, which does not exist")


@pytest.mark.parametrize("terminal", [False, True], ids=["off-terminal", "on-terminal"])
def test_status_tree_shows_the_attack_as_text(reference_copy: Path, terminal: bool) -> None:
    _include_attack(reference_copy)
    code, output = run(["status", str(reference_copy)], terminal=terminal)
    assert code == 2, output  # Notary's expired leaves
    assert_no_control_characters(output, terminal=terminal)
    note = (
        f"docker-compose.yml: not analysed ({reference_copy}/docker-compose.yml: includes {reference_copy}/{SHOWN}.yml"
    )
    assert note in output
    if terminal:
        assert "\x1b[31m\x1b[1mCRITICAL\x1b[0m" in output  # status colours its words on a terminal


def test_the_last_resort_error_line_is_visible_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An unexpected exception whose text carries the attack (a library quoting its input) stays one
    visible line: the CLI's error printer is the same function for every error."""
    import certkit.workflows.check

    def explode(request: object) -> None:
        raise RuntimeError(f"bad input {ATTACK}\nsecond line")

    monkeypatch.setattr(certkit.workflows.check, "stream_check", explode)
    code, out, err = run_cli(capsys, "check-expiry", str(tmp_path))
    assert code == 1 and out == ""
    shown = f"RuntimeError: bad input {SHOWN}\\nsecond line (run with --debug for the traceback)"
    assert err == f"certkit: internal error: {shown}\n"


def test_every_command_writes_through_the_one_writer() -> None:
    """No module of certkit.cli calls click.echo/secho itself: everything goes through certkit.cli.output."""
    offenders = []
    for path in sorted((REPO / "certkit" / "cli").glob("*.py")):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("echo", "secho")
                and isinstance(node.value, ast.Name)
                and node.value.id == "click"
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"click.echo outside certkit/cli/output.py: {offenders}"
