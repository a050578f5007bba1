"""The renewal lock: one certkit at a time may change a Notary folder.

Two renewals of the same folder at once (cron plus a person, two timers) could each
re-issue the set and leave files from both runs.  The lock is a non-blocking
``fcntl.flock`` on the Notary folder itself (its directory descriptor), in the spirit of
certbot's ``lock`` module:

- the kernel drops a flock when the holding process dies, however it dies (SIGKILL,
  OOM), so a lock left by a dead process never blocks anyone and needs no clean-up;
- locking the folder creates nothing, so a renewal refused for bad input leaves the
  folder exactly as it was (no lock file appears in a checkout certkit never changed);
- the holder writes its pid into ``NOTARY_DIR/.certkit/lock`` when that state folder
  exists, only so the refusal message can name it; that note is never the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from certkit import defaults
from certkit.errors import FilesystemError, LockedError
from certkit.store import handles, storage

STATE_NAME, NOTE_NAME = defaults.STATE_FOLDER, defaults.LOCK_NOTE
LOCK_FILE = f"{STATE_NAME}/{NOTE_NAME}"

# A flock belongs to the open file description, which fork() shares: a forked child (a hook
# between its fork and its exec, or any fork a library makes) would keep the lock alive after
# certkit itself is SIGKILLed.
# O_CLOEXEC covers exec; this covers fork: the child closes its copies at once.
_HELD: set[int] = set()


def _close_inherited() -> None:
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_inherited)

# Polling while --wait: short first (a dry run holds the lock for well under a second),
# then capped so a long wait costs nothing.
_FIRST_POLL = 0.05
_MAX_POLL = 0.5


@dataclass(frozen=True)
class HeldLock:
    """What the ``with`` block gets: the lock file and the pid written into it."""

    path: Path
    pid: int


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder`` (refusing a ``.certkit`` symlink that leaves the folder)."""
    return storage.Root(folder).resolve(LOCK_FILE)


@contextlib.contextmanager
def renewal_lock(folder: Path, wait: bool, timeout: float | None = None) -> Iterator[HeldLock]:
    """Hold the renewal lock of ``folder`` for the ``with`` block.

    Args:
        folder: the Notary folder (must exist); the lock is ``folder/.certkit/lock``,
            and ``.certkit`` is created with mode 0700 when absent.
        wait: when the lock is held, wait for it instead of failing at once.
        timeout: with ``wait``, give up after this many seconds (None: wait forever).

    Raises:
        LockedError: (exit 16) the lock is held and ``wait`` is false, or the wait timed out.
        FilesystemError: (exit 13) the folder is missing or the lock file cannot be opened.
    """
    if not folder.is_dir():
        raise FilesystemError(f"{folder}: no such folder; cannot take the renewal lock there")
    note = lock_path(folder)
    fd = _open_folder(folder)
    _HELD.add(fd)
    acquired = False
    try:
        _acquire(fd, folder, note, wait, timeout)
        acquired = True
        _record_pid(fd, os.getpid())
        yield HeldLock(note, os.getpid())
    finally:
        if acquired:
            # Remove the note while still holding the lock, so a later reader never names
            # a process that has finished and a run leaves no trace.
            _record_pid(fd, None)
        _HELD.discard(fd)
        os.close(fd)  # closing the last descriptor releases the flock


def holder_pid(folder: Path) -> int | None:
    """The pid holding the lock of ``folder`` (from /proc/locks, else the pid note), if any."""
    return _kernel_holder(folder) or _read_pid(lock_path(folder))


def _kernel_holder(folder: Path) -> int | None:
    """The pid the kernel lists for a flock on ``folder`` (Linux /proc/locks), if any."""
    try:
        st = os.stat(folder)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 23276 fe:00:2148127 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit():
            pid = int(fields[4])
            return pid if pid > 0 else None
    return None


def _open_folder(folder: Path) -> int:
    # O_CLOEXEC (Python's default since PEP 446, stated because it matters here): a hook,
    # or a daemon a hook starts, must not inherit the descriptor, or the lock would
    # outlive certkit.  A read-only folder can still be locked: flock needs no write access.
    # Inside a pin, the folder certkit checked and pinned (certkit.store.handles), in a new open
    # file description of its own: the flock must not be shared with the pinned handle.
    try:
        return handles.reopen(folder)
    except OSError as exc:
        raise FilesystemError(f"{folder}: cannot open to lock it ({exc.strerror or exc})") from exc


def _acquire(fd: int, folder: Path, note: Path, wait: bool, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = _FIRST_POLL
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:
            raise FilesystemError(
                f"{folder}: cannot lock ({exc.strerror or exc}); is it on a file system without locks?"
            ) from exc
        holder = _kernel_holder(folder) or _read_pid(note)
        who = f"pid {holder}" if holder is not None else "pid unknown"
        if not wait:
            raise LockedError(f"another certkit is renewing {folder} ({who}); try again later or use --wait")
        if deadline is not None and time.monotonic() >= deadline:
            raise LockedError(
                f"another certkit is still renewing {folder} ({who}) after waiting {timeout:g}s; try again later"
            )
        sleep_for = pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(sleep_for)
        pause = min(pause * 2, _MAX_POLL)


def _read_pid(note: Path) -> int | None:
    try:
        return _parse_pid(note.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None


def _parse_pid(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _record_pid(folder_fd: int, pid: int | None) -> None:
    """Write the pid note (or remove it), only where certkit's state folder already exists.

    Relative to the locked folder's own handle, never through a symlink; the note is replaced
    (unlinked, then created anew), never truncated in place: the file is never one certkit did not make.
    """
    try:
        state = os.open(STATE_NAME, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
    except OSError:
        return  # no state folder (or a symlink, which certkit.store.state refuses): no note
    try:
        try:
            os.unlink(NOTE_NAME, dir_fd=state)
        except OSError:
            pass
        if pid is None:
            return
        try:
            fd = os.open(
                NOTE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=state
            )
        except OSError:
            return  # a read-only state folder: the lock still works, only the note is missing
        try:
            os.write(fd, f"{pid}\n".encode("ascii"))
        except OSError:
            pass
        finally:
            os.close(fd)
    finally:
        os.close(state)
