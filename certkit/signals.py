"""Ctrl-C and SIGTERM: stop cleanly with 130/143, never in the middle of switching the set.

The CLI runs inside :func:`handled`; from then on SIGINT and SIGTERM raise :class:`Interrupted`
(a BaseException, so no ``except Exception`` swallows it, and not KeyboardInterrupt,
which click turns into a generic "Aborted!" with exit 1).  Unwinding runs every
``finally``: a running hook's process group is stopped (certkit.workflows.hooks), staging is
discarded (certkit.store.transaction), the lock is released.

Inside :func:`deferred` (the transaction's commit and renames, a few milliseconds) a
signal is only noted, and raised when the block ends: an interrupted renewal leaves
the old set or the new one, never a mix for a reader to find.  Outside ``handled``
(certkit used as a library) nothing changes: Python's own handlers apply.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """certkit received SIGINT or SIGTERM; the exit code is 128 + the signal number, as a shell reports it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    depth = 0
    pending: int | None = None


@contextlib.contextmanager
def handled(*, then_ignore: bool = False) -> Iterator[None]:
    """Route SIGINT and SIGTERM to :class:`Interrupted` for the block, then restore the previous handlers.

    ``then_ignore`` (the CLI, which exits right after): ignore them instead, so that a Ctrl-C
    arriving while the interpreter shuts down, after the work is done, cannot turn the run's
    exit code into a death by signal.  Only in the main thread (the only one where Python runs
    signal handlers); elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    for signum in HANDLED:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, signal.SIG_IGN if then_ignore else action)


def _handler(signum: int, frame: FrameType | None) -> None:
    if _State.depth:
        _State.pending = _State.pending or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the block; raise the first one noted when it ends."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0 and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)
