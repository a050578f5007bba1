"""Child processes that never outlive certkit: hooks (certkit.workflows.hooks) and the user's
`docker compose` (certkit.deploy.compose_cli).

Both run while the renewal lock is held, so each gets a time limit, and neither may keep running
after certkit is gone: the program runs as a background job of a small supervising shell in its own
process group, which is stopped when the time limit passes, when certkit is interrupted (Ctrl-C,
SIGTERM: the group is stopped as the exception unwinds), and when certkit is SIGKILLed (Linux
``PR_SET_PDEATHSIG`` sends the supervising shell SIGTERM, and its trap passes that on to the whole
group).  Output goes to a temporary file, not a pipe, so a chatty child can neither block on a full
pipe nor fill memory; only its tail is kept.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SHELL = "/bin/sh"
OUTPUT_TAIL = 4000  # characters of a child's combined stdout/stderr kept for the report
# The program runs as a background job of the supervising shell: a trapped signal interrupts
# `wait` at once (POSIX), while a foreground command would delay the trap until it ends.
# On SIGTERM the trap removes itself and sends TERM to the child's whole process group.
# (`wait`'s stderr is silenced: dash reports a job killed by a signal as "Terminated".)
SUPERVISOR = 'trap "trap - TERM; kill -TERM 0" TERM; "$@" & wait $! 2>/dev/null'
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Finished:
    """How a child ended: its exit code (124 when stopped at the time limit, as timeout(1) says;
    128+N when killed by signal N, as a shell says) and the tail of its output."""

    code: int
    output: str
    timed_out: bool = False
    truncated: bool = False


def run_bounded(
    argv: Sequence[str], env: Mapping[str, str], *, cwd: Path, timeout: float | None, tail: int = OUTPUT_TAIL
) -> Finished:
    """Run ``argv`` with exactly ``env`` in ``cwd``, at most ``timeout`` seconds (None: no limit).

    Raises:
        OSError: the supervising shell cannot be started (the child's own failures are returned).
    """
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            [SHELL, "-c", SUPERVISOR, SHELL, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with(os.getpid()),
        )
        timed_out = False
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(process)
            code = 124  # as timeout(1) reports it
        except BaseException:  # certkit is interrupted (Ctrl-C, SIGTERM): the child must not outlive it
            kill_group(process)
            raise
        out.seek(0, os.SEEK_END)
        size = out.tell()
        out.seek(max(0, size - tail * 4))  # bytes; decoded and cut to characters below
        text = out.read().decode("utf-8", errors="replace")
    if code < 0:  # killed by a signal: report it the way a shell would
        code = 128 - code
    return Finished(code, text[-tail:], timed_out, size > tail * 4 or len(text) > tail)


def die_with(parent: int) -> Callable[[], None] | None:
    """A preexec function: the child gets SIGTERM when certkit dies, even by SIGKILL (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # an ignored SIGINT would survive the exec
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # certkit died between fork and prctl: nobody would signal us
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL, the child's whole process group; wait for the child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
