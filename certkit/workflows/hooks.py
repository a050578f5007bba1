"""Renewal hooks: shell commands run before, after, and on a successful change.

- ``pre``: before the renewal is attempted.  If it fails, nothing is renewed (the
  hook was meant to make renewal safe, e.g. take a backup), but ``post`` still runs.
- ``deploy``: only when files were really written (created, renewed or updated), e.g.
  ``docker compose up -d --force-recreate server signer`` (`renew --deploy` does that itself, verified).
- ``post``: always, after every attempt, even a failed one (it undoes what ``pre`` did).

Every hook runs as ``/bin/sh -c COMMAND`` in the Notary folder with the caller's
environment plus ``CERTKIT_*`` variables (see :func:`hook_env`).  A hook that cannot be
found is refused before anything runs; a hook that fails makes the final exit code 17
(HookError) but never undoes a renewal: the new files are valid, only the follow-up
step went wrong, and rolling back would bring the expired files back.

Hooks run while the renewal lock is held, so each gets a time limit (DEFAULT_TIMEOUT,
``--hook-timeout``), and none outlives certkit: each runs in its own process group,
stopped when it times out, when certkit is interrupted (Ctrl-C, SIGTERM: the group is
stopped as the exception unwinds), and when certkit is SIGKILLed (Linux
``PR_SET_PDEATHSIG`` sends the hook's supervising shell SIGTERM, and its trap passes
that on to the whole group).  Each hook's output (its tail) is kept for the report.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from certkit import defaults
from certkit.children import SHELL, run_bounded
from certkit.errors import CertkitError, HookError
from certkit.outcomes import FileKind

if TYPE_CHECKING:
    from certkit.pki.renew import RenewResult

OUTPUT_TAIL = 4000  # characters of a hook's combined stdout/stderr kept for the report
DEFAULT_TIMEOUT = defaults.HOOK_TIMEOUT  # seconds; a hook holds the renewal lock, so it may not hang forever


@dataclass(frozen=True)
class HookSet:
    """The hook commands given on the command line (None: no such hook)."""

    pre: str | None = None
    post: str | None = None
    deploy: str | None = None

    def items(self) -> list[tuple[str, str]]:
        return [
            (stage, command)
            for stage, command in (("pre", self.pre), ("deploy", self.deploy), ("post", self.post))
            if command is not None
        ]

    def validate(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        """Refuse, before anything runs, a hook that is empty, not valid shell, or whose command is not found.

        Under cron, PATH is short (/usr/bin:/bin), so a hook that works in a terminal can
        be "not found" at 3 a.m.; checking first turns that into an error with nothing changed.

        Raises:
            HookError: (exit 17) one line naming the hook and the problem.
        """
        for stage, command in self.items():
            validate_hook(stage, command, cwd, env)


@dataclass(frozen=True)
class HookResult:
    """One hook run: the command, its exit code (127: not found, 124: timed out) and the tail of its output."""

    stage: str
    command: str
    exit_code: int
    output: str
    timed_out: bool = False
    truncated: bool = False  # the output was longer; ``output`` is its last OUTPUT_TAIL characters

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        """One line for the user: which hook, how it failed, and its last line of output."""
        how = "timed out" if self.timed_out else ("not found" if self.exit_code == 127 else f"exit {self.exit_code}")
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        last = f": {lines[-1]}" if lines else ""
        return f"{self.stage} hook failed ({how}): {self.command}{last}"


@dataclass
class HookedRun:
    """A renewal attempt with its hooks.

    ``result`` is None when the attempt did not happen (pre hook failed) or raised;
    ``error`` is the CertkitError the attempt raised (the hooks still ran around it).
    """

    result: RenewResult | None
    error: CertkitError | None
    hooks: list[HookResult] = field(default_factory=list)
    skipped: bool = False  # the attempt was not made because the pre hook failed

    @property
    def failed(self) -> list[HookResult]:
        return [h for h in self.hooks if not h.ok]

    @property
    def problems(self) -> list[str]:
        """One line per failed hook (the attempt's own error is in ``error``)."""
        lines = [h.summary() for h in self.failed]
        if self.skipped and lines:
            lines[0] += "; renewal not attempted"
        return lines

    @property
    def exit_code(self) -> int:
        """The renewal's own error code wins; else 17 when any hook failed; else 0."""
        if self.error is not None:
            return self.error.exit_code
        return HookError.exit_code if self.failed else 0


def renewed_files(result: RenewResult) -> list[str]:
    """Paths of the files the renewal really wrote (relative to the Notary folder when inside it)."""
    if result.dry_run:
        return []
    return [f.path for f in result.files if f.action.changed and f.kind != FileKind.IGNORE_FILE]


def renewed_certs(result: RenewResult) -> list[str]:
    """Profile names of the certificates the renewal wrote (created or re-issued)."""
    if result.dry_run:
        return []
    return sorted(
        {f.certificate for f in result.files if f.action.changed and f.kind == FileKind.CERTIFICATE and f.certificate}
    )


def hook_env(result: RenewResult | None, notary_dir: Path, stage: str | None = None) -> dict[str, str]:
    """The variables certkit adds to a hook's environment (a pure function of the result).

    - ``CERTKIT_NOTARY_DIR``: absolute path of the Notary folder;
    - ``CERTKIT_RENEWED_FILES_JSON``: the written files, a JSON array of strings: the
      complete, unforgeable list (``jq -r '.[]'``, ``json.loads``);
    - ``CERTKIT_RENEWED_FILES``: the same, one per line (``while read -r f``), for
      scripts; a name containing a newline or another control character could forge
      a line, so such a name is left out here (it is only in the JSON list);
    - ``CERTKIT_RENEWED_CERTS_JSON`` / ``CERTKIT_RENEWED_CERTS``: the written
      certificates' profile names, as a JSON array / space-separated (names with
      whitespace or control characters only in the JSON array);
    - ``CERTKIT_HOOK``: pre, deploy or post (one script can serve all three).

    The lists are empty before the attempt (pre) and when nothing was written.
    """
    files = renewed_files(result) if result is not None else []
    certs = renewed_certs(result) if result is not None else []
    env = {
        "CERTKIT_NOTARY_DIR": os.path.abspath(notary_dir),
        "CERTKIT_RENEWED_FILES": "\n".join(f for f in files if _plain(f)),
        "CERTKIT_RENEWED_FILES_JSON": json.dumps(files),
        "CERTKIT_RENEWED_CERTS": " ".join(c for c in certs if _plain(c) and not any(ch.isspace() for ch in c)),
        "CERTKIT_RENEWED_CERTS_JSON": json.dumps(certs),
    }
    if stage is not None:
        env["CERTKIT_HOOK"] = stage
    return env


def validate_hook(stage: str, command: str, cwd: Path, env: Mapping[str, str] | None = None) -> None:
    """Check one hook: non-empty, valid shell (``sh -n``), first command found (``command -v``).

    The check is made by /bin/sh itself, with the hook's PATH and folder, so builtins
    (cd, echo, [), keywords (if, for) and relative paths are judged as the real run will.
    """
    if not command.strip():
        raise HookError(f"{stage} hook is empty; give a shell command or leave the option out")
    environment = dict(os.environ if env is None else env)
    syntax = _sh(["-n", "-c", command], cwd, environment)
    if syntax.returncode != 0:
        detail = _last_line(syntax.stdout) or "syntax error"
        raise HookError(f"{stage} hook is not valid shell ({detail}): {command}")
    word = _first_command(command)
    if word is None:
        return  # a compound command ( ... ), { ...; }, ! ...: judged when it runs
    found = _sh(["-c", 'command -v "$1" >/dev/null 2>&1', "certkit-hook-check", word], cwd, environment)
    if found.returncode != 0:
        raise HookError(
            f"{stage} hook: command not found: {word} (PATH={environment.get('PATH', '')}); "
            f"give its absolute path or install it: {command}"
        )


def run_hook(
    stage: str, command: str, env: Mapping[str, str], *, cwd: Path, timeout: float | None = DEFAULT_TIMEOUT
) -> HookResult:
    """Run ``/bin/sh -c command`` with exactly ``env``; never raises for the hook's own failure.

    Through certkit.children: the hook gets its own process group, so a timeout, or certkit
    being interrupted or killed, stops everything it started (see the module doc); only the
    tail of its output is kept.
    """
    try:
        finished = run_bounded([SHELL, "-c", command], env, cwd=cwd, timeout=timeout, tail=OUTPUT_TAIL)
    except (OSError, subprocess.SubprocessError) as exc:
        return HookResult(stage, command, 127, f"cannot start {SHELL}: {getattr(exc, 'strerror', None) or exc}")
    return HookResult(stage, command, finished.code, finished.output, finished.timed_out, finished.truncated)


def run_with_hooks(
    hooks: HookSet,
    notary_dir: Path,
    attempt: Callable[[], RenewResult],
    *,
    dry_run: bool = False,
    base_env: Mapping[str, str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> HookedRun:
    """Validate the hooks, then run pre, the attempt, deploy (if files were written) and post.

    With ``dry_run`` the hooks are validated but none runs: nothing is written, so there
    is nothing to prepare for or deploy.  A CertkitError from ``attempt`` is captured in
    ``HookedRun.error`` (post still runs); any other exception propagates after post ran.

    Raises:
        HookError: (exit 17) a hook is invalid or not found; nothing ran, nothing changed.
    """
    base = dict(os.environ if base_env is None else base_env)
    hooks.validate(notary_dir, base)
    run = HookedRun(result=None, error=None)
    if dry_run:
        run.result = attempt()
        return run

    def fire(stage: str, command: str | None) -> bool:
        if command is None:
            return True
        outcome = run_hook(
            stage, command, {**base, **hook_env(run.result, notary_dir, stage)}, cwd=notary_dir, timeout=timeout
        )
        run.hooks.append(outcome)
        return outcome.ok

    try:
        if not fire("pre", hooks.pre):
            run.skipped = True
            return run
        try:
            run.result = attempt()
        except CertkitError as exc:
            run.error = exc
            return run
        if renewed_files(run.result):
            fire("deploy", hooks.deploy)
        return run
    finally:
        fire("post", hooks.post)


def _first_command(command: str) -> str | None:
    try:
        words = shlex.split(command, comments=True, posix=True)
    except ValueError:
        return None  # sh -n accepted it; shlex is stricter than sh, so leave it to the shell
    for word in words:
        if "=" in word and not word.startswith("=") and word.split("=", 1)[0].isidentifier():
            continue  # VAR=value prefix
        if word[:1] in "({!":
            return None
        return word
    return None


def _sh(args: Iterable[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [SHELL, *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HookError(f"cannot check hooks with {SHELL} in {cwd}: {exc}") from exc


def _plain(name: str) -> bool:
    """No control character (newline, CR, tab, escape...) that could forge a line or hide text."""
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
