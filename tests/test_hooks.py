"""Hooks with real shell commands around a real renewal of a `certkit init` layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from certkit.cli.lifecycle_options import hook_options, wait_options
from certkit.durations import parse_duration
from certkit.errors import HookError, NotALayoutError
from certkit.pki.renew import RenewResult
from certkit.workflows.hooks import (
    OUTPUT_TAIL,
    HookSet,
    hook_env,
    renewed_certs,
    renewed_files,
    run_hook,
    run_with_hooks,
    validate_hook,
)
from tests.cli_helpers import run_cli
from tests.crashcheck import live_files
from tests.renew_helpers import preview_folder, renew_folder

ROOT = Path(__file__).resolve().parent.parent

NOW = datetime.now(timezone.utc)


@pytest.fixture
def layout(fresh_layout: Path) -> Path:
    return fresh_layout


def _renewal(folder: Path, *, force: bool) -> RenewResult:
    return renew_folder(folder, NOW, parse_duration("30d"), force=force)


def _log_hooks(log: Path) -> HookSet:
    line = f'echo "$CERTKIT_HOOK" >> {log}'
    return HookSet(pre=line, deploy=line, post=line)


# --- the environment (a pure function of the result) ---------------------------------------


def test_env_lists_what_a_forced_renewal_wrote(layout: Path) -> None:
    result = _renewal(layout, force=True)
    env = hook_env(result, layout, "deploy")
    files = env["CERTKIT_RENEWED_FILES"].split("\n")
    assert "fixtures/notary-server.crt" in files
    assert "cmd/notary/root-ca.crt" in files  # the client's copy was rewritten too
    assert not any(f.endswith((".dockerignore", ".gitignore")) for f in files)
    certs = env["CERTKIT_RENEWED_CERTS"].split(" ")
    assert {"root-ca", "intermediate-ca", "notary-server", "notary-signer"} <= set(certs)
    assert env["CERTKIT_NOTARY_DIR"] == str(layout.absolute())
    assert env["CERTKIT_HOOK"] == "deploy"


def test_env_is_empty_when_nothing_was_due(layout: Path) -> None:
    result = _renewal(layout, force=False)
    assert renewed_files(result) == [] and renewed_certs(result) == []
    env = hook_env(result, layout)
    assert env["CERTKIT_RENEWED_FILES"] == "" and env["CERTKIT_RENEWED_CERTS"] == ""
    assert "CERTKIT_HOOK" not in env
    assert hook_env(None, layout)["CERTKIT_RENEWED_FILES"] == ""


def test_dry_run_result_lists_nothing(layout: Path) -> None:
    result = preview_folder(layout, NOW, parse_duration("30d"), force=True)
    assert renewed_files(result) == []


# --- the whole sequence ---------------------------------------------------------------------


def test_pre_deploy_post_run_in_order_and_deploy_sees_the_files(layout: Path, tmp_path: Path) -> None:
    log, seen = tmp_path / "hooks.log", tmp_path / "seen"
    deploy = (
        f'echo deploy >> {log}; printf "%s\\n" "$CERTKIT_RENEWED_CERTS" > {seen}.certs; '
        f'for f in $CERTKIT_RENEWED_FILES; do test -f "$CERTKIT_NOTARY_DIR/$f" && echo "$f"; done > {seen}.files'
    )
    hooks = HookSet(pre=f"echo pre >> {log}", deploy=deploy, post=f"echo post >> {log}")
    run = run_with_hooks(hooks, layout, lambda: _renewal(layout, force=True))
    assert run.exit_code == 0 and run.error is None and run.problems == []
    assert log.read_text().split() == ["pre", "deploy", "post"]
    assert "notary-server" in Path(f"{seen}.certs").read_text().split()
    assert "fixtures/notary-server.crt" in Path(f"{seen}.files").read_text().split()
    assert [h.stage for h in run.hooks] == ["pre", "deploy", "post"]


def test_deploy_is_skipped_when_nothing_was_renewed(layout: Path, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    run = run_with_hooks(_log_hooks(log), layout, lambda: _renewal(layout, force=False))
    assert run.exit_code == 0
    assert log.read_text().split() == ["pre", "post"]


def test_failing_deploy_hook_keeps_the_renewal_and_exits_17(layout: Path) -> None:
    before = (layout / "fixtures" / "notary-server.crt").read_bytes()
    hooks = HookSet(deploy="echo restarting; echo 'no such container' >&2; exit 3")
    run = run_with_hooks(hooks, layout, lambda: _renewal(layout, force=True))
    assert run.exit_code == HookError.exit_code == 17
    assert run.error is None and run.result is not None
    assert run.problems == [f"deploy hook failed (exit 3): {hooks.deploy}: no such container"]
    assert run.hooks[0].output == "restarting\nno such container\n"
    after = (layout / "fixtures" / "notary-server.crt").read_bytes()
    assert after != before  # the valid new certificate stays
    assert _renewal(layout, force=False).renewed == []  # and the set on disk is complete and current


def test_failing_pre_hook_skips_the_renewal_but_runs_post(layout: Path, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    attempted: list[bool] = []

    def attempt() -> RenewResult:
        attempted.append(True)
        return _renewal(layout, force=True)

    hooks = HookSet(pre="exit 1", post=f"echo post >> {log}")
    run = run_with_hooks(hooks, layout, attempt)
    assert attempted == []
    assert run.skipped and run.result is None and run.exit_code == 17
    assert run.problems == ["pre hook failed (exit 1): exit 1; renewal not attempted"]
    assert log.read_text() == "post\n"


def test_post_runs_after_a_failed_attempt_and_the_attempt_error_wins(layout: Path, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"

    def attempt() -> RenewResult:
        raise NotALayoutError("not a Notary checkout")

    run = run_with_hooks(_log_hooks(log), layout, attempt)
    assert isinstance(run.error, NotALayoutError)
    assert run.exit_code == 10
    assert log.read_text().split() == ["pre", "post"]


def test_post_runs_even_when_the_attempt_crashes(layout: Path, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"

    def attempt() -> RenewResult:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        run_with_hooks(_log_hooks(log), layout, attempt)
    assert log.read_text().split() == ["pre", "post"]


def test_dry_run_validates_but_runs_no_hook(layout: Path, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    run = run_with_hooks(_log_hooks(log), layout, lambda: _renewal(layout, force=True), dry_run=True)
    assert run.hooks == [] and not log.exists()
    with pytest.raises(HookError):
        run_with_hooks(
            HookSet(deploy="certkit-no-such-command"), layout, lambda: _renewal(layout, force=True), dry_run=True
        )


# --- missing and invalid hooks: refused before anything runs --------------------------------


def test_missing_hook_is_refused_before_anything_runs(layout: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pre-ran"
    attempted: list[bool] = []

    def attempt() -> RenewResult:
        attempted.append(True)
        return _renewal(layout, force=True)

    hooks = HookSet(pre=f"touch {marker}", deploy="certkit-no-such-command --restart")
    with pytest.raises(HookError) as failure:
        run_with_hooks(hooks, layout, attempt, base_env={"PATH": "/usr/bin:/bin"})
    assert failure.value.exit_code == 17
    assert str(failure.value) == (
        "deploy hook: command not found: certkit-no-such-command (PATH=/usr/bin:/bin); "
        "give its absolute path or install it: certkit-no-such-command --restart"
    )
    assert not marker.exists() and attempted == []


@pytest.mark.parametrize(
    "command",
    [
        "true",
        "cd . && true",
        "VAR=1 true",
        "[ -d . ]",
        "if true; then :; fi",
        "{ echo a; }",
        "( exit 0 )",
        "/bin/echo ok",
        "echo 'quoted # not a comment'",
    ],
)
def test_valid_hooks_pass_validation(tmp_path: Path, command: str) -> None:
    validate_hook("post", command, tmp_path)


def test_relative_script_is_judged_from_the_notary_folder(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    validate_hook("deploy", "./deploy.sh", tmp_path)
    with pytest.raises(HookError, match="command not found: ./missing.sh"):
        validate_hook("deploy", "./missing.sh", tmp_path)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("", "deploy hook is empty"),
        ("   ", "deploy hook is empty"),
        ("if true; then", "deploy hook is not valid shell"),
        ("echo 'unterminated", "deploy hook is not valid shell"),
        ("/nonexistent/bin/tool", "command not found: /nonexistent/bin/tool"),
    ],
)
def test_invalid_hooks_are_refused(tmp_path: Path, command: str, message: str) -> None:
    with pytest.raises(HookError, match=message):
        validate_hook("deploy", command, tmp_path)


# --- running one hook -----------------------------------------------------------------------


def test_hook_that_vanished_after_validation_reports_not_found(tmp_path: Path) -> None:
    result = run_hook("deploy", "/nonexistent/restart-notary", {"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.exit_code == 127 and not result.ok
    assert result.summary().startswith("deploy hook failed (not found): /nonexistent/restart-notary: ")


def test_hook_gets_exactly_the_given_environment_and_folder(tmp_path: Path) -> None:
    result = run_hook(
        "post",
        'echo "$PWD|$CERTKIT_NOTARY_DIR|${HOME-unset}"',
        {"PATH": "/usr/bin:/bin", "CERTKIT_NOTARY_DIR": "/x"},
        cwd=tmp_path,
    )
    assert result.ok
    assert result.output == f"{tmp_path}|/x|unset\n"


def test_output_tail_is_bounded(tmp_path: Path) -> None:
    result = run_hook(
        "post",
        "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo LAST",
        {"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert result.ok
    assert len(result.output) <= OUTPUT_TAIL
    assert result.output.endswith("line-2999\nLAST\n")


def test_hook_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_hook("deploy", "sleep 30 & wait; echo never", {"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=0.5)
    assert result.timed_out and result.exit_code == 124
    assert result.summary() == "deploy hook failed (timed out): sleep 30 & wait; echo never"
    assert time.monotonic() - started < 10


# --- the CLI options the renew command stacks -----------------------------------------------


def test_cli_options_parse() -> None:
    @click.command()
    @hook_options
    @wait_options
    def probe(**kwargs: object) -> None:
        click.echo(repr(sorted(kwargs.items())))

    result = CliRunner().invoke(
        probe,
        [
            "--pre-hook",
            "a",
            "--deploy-hook",
            "b c",
            "--post-hook",
            "d",
            "--hook-timeout",
            "5",
            "--wait",
            "--wait-timeout",
            "2.5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(
        sorted(
            {
                "pre_hook": "a",
                "deploy_hook": "b c",
                "post_hook": "d",
                "hook_timeout": 5.0,
                "wait": True,
                "wait_timeout": 2.5,
            }.items()
        )
    )


# --- output, unforgeable variables, time limit, and hooks ending with certkit ------------------


def test_hook_output_is_shown_prefixed_and_in_json(layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hooks = [
        "--pre-hook",
        "echo preparing",
        "--deploy-hook",
        'echo "deployed $CERTKIT_HOOK"; echo "restart failed" >&2',
    ]
    code, out, err = run_cli(capsys, "renew", "--force", "--no-compose", *hooks, str(layout))
    assert code == 0, err
    assert err.splitlines() == ["pre-hook: preparing", "deploy-hook: deployed deploy", "deploy-hook: restart failed"]
    assert "pre-hook" not in out  # stdout stays the renewal report
    code, out, err = run_cli(capsys, "renew", "--force", "--no-compose", "--json", *hooks, str(layout))
    assert code == 0, err
    data = json.loads(out)
    assert data["changed"] is True
    assert data["hooks"] == [
        {
            "stage": "pre",
            "command": "echo preparing",
            "exit_code": 0,
            "timed_out": False,
            "output": "preparing\n",
            "output_truncated": False,
        },
        {
            "stage": "deploy",
            "command": hooks[3],
            "exit_code": 0,
            "timed_out": False,
            "output": "deployed deploy\nrestart failed\n",
            "output_truncated": False,
        },
    ]


def test_failed_pre_hook_output_is_in_json_and_nothing_renewed(
    layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = live_files(layout)
    code, out, err = run_cli(
        capsys, "renew", "--force", "--no-compose", "--json", "--pre-hook", "echo backup disk full; exit 4", str(layout)
    )
    assert code == 17
    data = json.loads(out)
    assert data["changed"] is False
    assert data["hooks"][0]["exit_code"] == 4 and data["hooks"][0]["output"] == "backup disk full\n"
    assert "pre hook failed (exit 4): echo backup disk full; exit 4: backup disk full" in err
    assert live_files(layout) == before


def test_truncated_output_is_marked() -> None:
    from certkit.render.renew import hook_lines

    result = run_hook(
        "post",
        "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done",
        {"PATH": "/usr/bin:/bin"},
        cwd=Path("/"),
    )
    assert result.truncated
    lines = hook_lines(result)
    assert lines[0].startswith("post-hook: ... (earlier output cut")
    assert lines[-1] == "post-hook: line-2999"
    assert not run_hook("post", "echo short", {"PATH": "/usr/bin:/bin"}, cwd=Path("/")).truncated


def test_a_file_name_with_a_newline_cannot_forge_a_renewed_file(
    layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A profile whose copy is named "cmd/notary/copy<newline>fixtures/notary-server.key": listed one
    # per line, it would tell a deploy hook that the server's private key was renewed (e.g. to publish it).
    forged = "cmd/notary/copy\nfixtures/notary-server.key"
    text = (Path(__file__).resolve().parent.parent / "certkit/profiles/notary.toml").read_text()
    text = text.replace(
        'copies = ["cmd/notary/root-ca.crt"]',
        'copies = ["cmd/notary/root-ca.crt", "cmd/notary/copy\\nfixtures/notary-server.key"]',
    )
    assert forged.replace("\n", "\\n") in text
    profile = tmp_path / "evil.toml"
    profile.write_text(text)
    lines, listed = tmp_path / "files.txt", tmp_path / "files.json"
    hook = f'printf "%s" "$CERTKIT_RENEWED_FILES" > {lines}; printf "%s" "$CERTKIT_RENEWED_FILES_JSON" > {listed}'
    code, _, err = run_cli(
        capsys, "renew", "--force", "--no-compose", "--profile", str(profile), "--deploy-hook", hook, str(layout)
    )
    assert code == 0, err
    complete = json.loads(listed.read_text())
    assert forged in complete and "fixtures/root-ca.crt" in complete
    one_per_line = lines.read_text().split("\n")
    assert "fixtures/notary-server.key" not in one_per_line  # the forged line is not there
    assert "fixtures/root-ca.crt" in one_per_line
    assert set(one_per_line) == {f for f in complete if "\n" not in f}


def test_hooks_have_a_default_time_limit() -> None:
    from certkit.workflows.hooks import DEFAULT_TIMEOUT

    @click.command()
    @hook_options
    def probe(**kwargs: object) -> None:
        click.echo(repr(kwargs["hook_timeout"]))

    assert CliRunner().invoke(probe, []).output.strip() == repr(DEFAULT_TIMEOUT) == "600.0"
    started = time.monotonic()
    result = run_hook("pre", "sleep 30", {"PATH": "/usr/bin:/bin"}, cwd=Path("/"), timeout=0.3)
    assert result.timed_out and time.monotonic() - started < 10


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in process group ``pgid`` (from /proc)."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [
        (signal.SIGKILL, -signal.SIGKILL, None),
        (signal.SIGINT, 130, "certkit: interrupted by SIGINT"),
        (signal.SIGTERM, 143, "certkit: stopped by SIGTERM"),
    ],
)
def test_a_pre_hook_does_not_outlive_certkit(
    layout: Path, tmp_path: Path, sig: int, code: int, line: str | None
) -> None:
    pidfile, marker = tmp_path / "hook.pid", tmp_path / "marker"
    hook = f"echo $$ > {pidfile}; sleep 60; touch {marker}"
    before = live_files(layout)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "certkit", "renew", "--force", "--no-compose", "--pre-hook", hook, str(layout)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pgid = 0
    try:
        assert _wait_until(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit(), 60), "hook never started"
        pgid = os.getpgid(int(pidfile.read_text()))
        assert pgid != os.getpgid(process.pid)  # its own group: a terminal's Ctrl-C reaches certkit only
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        assert process.returncode == code, err
        if line is not None:
            assert err.strip().splitlines()[-1] == line, err
            assert "Traceback" not in err
        assert _wait_until(lambda: not _group_alive(pgid), 10), "the hook kept running after certkit ended"
        assert not marker.exists()
        assert live_files(layout) == before  # stopped before the renewal: nothing changed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)  # whatever happened, stop what this test started
            except ProcessLookupError:
                pass
