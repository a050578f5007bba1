"""Hooks with real shell commands around a real renewal of a `certkit init` layout."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from certkit.cli.lifecycle_options import hook_options, wait_options
from certkit.durations import parse_duration
from certkit.errors import HookError, NotALayoutError
from certkit.hooks import (
    OUTPUT_TAIL,
    HookSet,
    hook_env,
    renewed_certs,
    renewed_files,
    run_hook,
    run_with_hooks,
    validate_hook,
)
from certkit.profile import load_profile
from certkit.renew import RenewResult, renew

NOW = datetime.now(timezone.utc)


@pytest.fixture
def layout(fresh_layout: Path) -> Path:
    return fresh_layout


def _renewal(folder: Path, *, force: bool) -> RenewResult:
    return renew(folder, load_profile(None), NOW, parse_duration("30d"), force=force)


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
    result = renew(layout, load_profile(None), NOW, parse_duration("30d"), force=True, dry_run=True)
    assert renewed_files(result) == []


# --- the whole sequence ---------------------------------------------------------------------

def test_pre_deploy_post_run_in_order_and_deploy_sees_the_files(layout: Path, tmp_path: Path) -> None:
    log, seen = tmp_path / "hooks.log", tmp_path / "seen"
    deploy = (f'echo deploy >> {log}; printf "%s\\n" "$CERTKIT_RENEWED_CERTS" > {seen}.certs; '
              f'for f in $CERTKIT_RENEWED_FILES; do test -f "$CERTKIT_NOTARY_DIR/$f" && echo "$f"; done > {seen}.files')
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
        run_with_hooks(HookSet(deploy="certkit-no-such-command"), layout, lambda: _renewal(layout, force=True),
                       dry_run=True)


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
    assert str(failure.value) == ("deploy hook: command not found: certkit-no-such-command (PATH=/usr/bin:/bin); "
                                  "give its absolute path or install it: certkit-no-such-command --restart")
    assert not marker.exists() and attempted == []


@pytest.mark.parametrize("command", [
    "true", "cd . && true", "VAR=1 true", "[ -d . ]", "if true; then :; fi", "{ echo a; }", "( exit 0 )",
    "/bin/echo ok", "echo 'quoted # not a comment'",
])
def test_valid_hooks_pass_validation(tmp_path: Path, command: str) -> None:
    validate_hook("post", command, tmp_path)


def test_relative_script_is_judged_from_the_notary_folder(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    validate_hook("deploy", "./deploy.sh", tmp_path)
    with pytest.raises(HookError, match="command not found: ./missing.sh"):
        validate_hook("deploy", "./missing.sh", tmp_path)


@pytest.mark.parametrize(("command", "message"), [
    ("", "deploy hook is empty"),
    ("   ", "deploy hook is empty"),
    ("if true; then", "deploy hook is not valid shell"),
    ("echo 'unterminated", "deploy hook is not valid shell"),
    ("/nonexistent/bin/tool", "command not found: /nonexistent/bin/tool"),
])
def test_invalid_hooks_are_refused(tmp_path: Path, command: str, message: str) -> None:
    with pytest.raises(HookError, match=message):
        validate_hook("deploy", command, tmp_path)


# --- running one hook -----------------------------------------------------------------------

def test_hook_that_vanished_after_validation_reports_not_found(tmp_path: Path) -> None:
    result = run_hook("deploy", "/nonexistent/restart-notary", {"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.exit_code == 127 and not result.ok
    assert result.summary().startswith("deploy hook failed (not found): /nonexistent/restart-notary: ")


def test_hook_gets_exactly_the_given_environment_and_folder(tmp_path: Path) -> None:
    result = run_hook("post", 'echo "$PWD|$CERTKIT_NOTARY_DIR|${HOME-unset}"',
                      {"PATH": "/usr/bin:/bin", "CERTKIT_NOTARY_DIR": "/x"}, cwd=tmp_path)
    assert result.ok
    assert result.output == f"{tmp_path}|/x|unset\n"


def test_output_tail_is_bounded(tmp_path: Path) -> None:
    result = run_hook("post", "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo LAST",
                      {"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
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

    result = CliRunner().invoke(probe, ["--pre-hook", "a", "--deploy-hook", "b c", "--post-hook", "d",
                                        "--hook-timeout", "5", "--wait", "--wait-timeout", "2.5"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(sorted({
        "pre_hook": "a", "deploy_hook": "b c", "post_hook": "d", "hook_timeout": 5.0,
        "wait": True, "wait_timeout": 2.5,
    }.items()))
