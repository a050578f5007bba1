"""The `certkit` command's entry point, kept light so that a Ctrl-C during start-up is a clean exit.

Until certkit.cli.main installs its own handlers (certkit.signals), Python's default would
turn a SIGINT that lands while click and the rest are imported into a KeyboardInterrupt
traceback and a death by signal. Nothing has been read or written yet then, so the command
simply ends with 130, as a shell reports an interrupted command.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)  # nothing started yet: no cleanup to run


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupted_while_starting)
    from certkit.cli import main as run

    run()
