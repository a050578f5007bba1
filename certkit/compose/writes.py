"""Writing what a compose run prepared: every destination checked first, backups, atomic writes.

Through a handle on the project's folder opened once (certkit.store.handles; inside a renewal,
the renewal's own).  A compose file that is a symlink is edited where it points, never outside
the folder; a read-only file is left as it is.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

from certkit.compose.model import ComposeOutcome, OverrideMode, PreparedCompose
from certkit.compose.text import relative_text
from certkit.errors import ComposeError
from certkit.store import handles, storage


def write(prepared: PreparedCompose) -> ComposeOutcome:
    """Write what certkit.compose.apply.prepare worked out (atomically, backups first in place mode),
    through a handle on the project's folder opened once; the outcome says what was written."""
    written: list[Path] = []
    backups: list[Path] = []
    if prepared.pending:
        with handles.pinned([prepared.directory]):
            written, backups = _write(
                prepared.pending, prepared.directory, backup=prepared.mode == OverrideMode.IN_PLACE
            )
    return prepared.outcome(dry_run=False, written=written, backups=backups)


def diff(path: Path, old: str, new: str, directory: Path) -> str:
    """The unified diff of one file's change, as `git diff` shows it (``old`` empty: a new file)."""
    name = relative_text(path, directory).removeprefix("./")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}" if old else "/dev/null", f"b/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _write(outputs: Mapping[Path, tuple[str, str]], directory: Path, *, backup: bool) -> tuple[list[Path], list[Path]]:
    """Check every destination first, then back up and write each one atomically."""
    root = storage.Root(directory)
    plans: list[tuple[Path, Path, int, str, str]] = []
    for path, (old, new) in outputs.items():
        # A compose file that is a symlink is edited where it points, but never outside the folder.
        real = root.resolve(os.path.relpath(path, directory))
        mode = 0o644
        if real.exists():
            mode = real.stat().st_mode & 0o777
            # atomic_write renames over the file, which needs only the folder to be writable: honour
            # a read-only file (mode without any write bit) explicitly, even for root.
            if not mode & 0o222 or not os.access(real, os.W_OK):
                raise ComposeError(
                    f"{path}: the file is read-only; certkit leaves it unchanged (make it writable, "
                    "or run without --in-place to write an override)"
                )
        storage.probe_writable(real.parent)
        plans.append((path, real, mode, old, new))
    written: list[Path] = []
    backups: list[Path] = []
    for path, real, mode, old, new in plans:
        if backup and real.exists():
            copy = _backup_name(real)
            storage.atomic_write(copy, old.encode("utf-8"), mode)
            backups.append(copy)
        storage.atomic_write(real, new.encode("utf-8"), mode)
        written.append(path)
    return written, backups


def _backup_name(path: Path) -> Path:
    candidate = path.with_name(path.name + ".certkit-bak")
    number = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.certkit-bak.{number}")
        number += 1
    return candidate


__all__ = ["diff", "write"]
