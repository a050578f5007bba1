"""Folder handles: certkit writes relative to folders it opened once, never through paths walked again.

A path is looked up by the kernel every time it is used.  Between certkit's checks and its writes,
anyone who may rename a folder on the way (the checkout's parent, say) could swap the checkout for a
symlink to a tree of their own, and every later write would follow it.  ``O_NOFOLLOW`` guards only
the last component.  So a renewal *pins* the folders it may write in (the checkout, the CA store):

- each is opened once, walking down from ``/`` one component at a time with
  ``O_DIRECTORY | O_NOFOLLOW`` (``openat``), so the handle is the folder the real path named at that
  moment and no symlink was followed on the way;
- every write inside a pinned folder walks down from that handle, again ``O_NOFOLLOW`` at every
  step, and acts relative to the last folder's handle (``openat``, ``renameat``, ``unlinkat``,
  ``mkdirat``); each folder's handle is opened once per run and reused;
- while a pin is held, a write to a path below no pinned folder is refused: a path computed after a
  swap (``realpath`` through the new symlink) can never be written.

certkit.store.safety checks every folder from ``/`` down to each pinned one (OpenSSH's StrictModes)
and compares what it saw with the pinned handle (``fstat``: device and inode).

Outside a pin (``certkit trust``, ``schedule``, ``check-expiry --output``, the tests' direct calls) a
write opens its folder by path, as before.  Standard library only: the cron path imports it.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from certkit.errors import FilesystemError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Anchor:
    """A pinned folder: its handle, and the paths (as given and real) whose descendants it serves."""

    given: str  # absolute, normalised: the nearest existing folder of the path certkit was given
    real: str  # its real path when it was opened
    fd: int
    device: int
    inode: int
    folders: dict[tuple[str, ...], int] = field(default_factory=dict)  # handles below it, opened once

    def relative(self, path: str) -> tuple[str, ...] | None:
        """The components of ``path`` below this folder (by either name), or None when not below it."""
        for base in (self.real, self.given):
            if path == base:
                return ()
            prefix = base if base.endswith("/") else base + "/"
            if path.startswith(prefix):
                return tuple(path[len(prefix) :].split("/"))
        return None

    def close(self) -> None:
        for fd in self.folders.values():
            os.close(fd)
        self.folders.clear()
        os.close(self.fd)


_PINNED: contextvars.ContextVar[tuple[Anchor, ...] | None] = contextvars.ContextVar("certkit_pinned", default=None)


def _absolute(path: Path | str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _nearest_existing(path: str) -> str:
    current = path
    while not os.path.lexists(current) and current != "/":
        current = os.path.dirname(current)
    return current


def walk_from_root(real: str, visit: Callable[[str, int], None] | None = None) -> int:
    """Open ``/`` and each folder of ``real`` below it in turn, never following a symlink; return the
    handle on ``real`` (the caller closes it).

    ``visit(path, handle)`` is called for every folder on the way, ``/`` and ``real`` included, while
    its handle is open: what certkit.store.safety checks is exactly what was opened.

    Raises:
        FilesystemError: a component is a symlink or not a folder (it changed since its real path
            was read: someone renamed it).
        OSError: a component is missing or cannot be opened.
    """
    names = [p for p in real.split("/") if p]
    fd = _open_step("/", None, last=not names)
    current = "/"
    try:
        if visit is not None:
            visit(current, fd)
        for index, name in enumerate(names):
            current = os.path.join(current, name)
            try:
                child = _open_step(name, fd, last=index == len(names) - 1)
            except OSError as exc:
                raise _walk_error(current, exc) from exc
            os.close(fd)
            fd = child
            if visit is not None:
                visit(current, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_step(name: str, parent: int | None, *, last: bool) -> int:
    """Open one folder of a walk from ``/``.  A folder above the target that the runner may search but
    not read (a root-owned 0711 folder, for an ordinary user) is opened ``O_PATH``: enough to walk on
    and to ``fstat``; the target itself must be readable (its handle is fsynced, locked and listed)."""
    flags = _DIR_FLAGS if parent is not None else os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent)
    except PermissionError:
        if last:
            raise
        return os.open(name, flags | os.O_PATH, dir_fd=parent)


def open_folder(path: Path | str) -> tuple[str, str, int]:
    """(given, real, handle) of the nearest existing folder of ``path``, opened by walking its real path from ``/``."""
    given = _nearest_existing(_absolute(path))
    real = os.path.realpath(given)
    return given, real, walk_from_root(real)


@contextlib.contextmanager
def pinned(paths: Iterable[Path | str]) -> Iterator[tuple[Anchor, ...]]:
    """Pin ``paths`` (folders; a missing one pins its nearest existing parent) for the ``with`` block.

    Nested: inside a pin, a path already below a pinned folder reuses it; one below none is refused,
    since it can only be there because a folder was swapped since the outer pin was made.
    """
    outer = _PINNED.get()
    opened: list[Anchor] = []
    try:
        for path in paths:
            absolute = _absolute(path)
            anchors = (*(outer or ()), *opened)
            if any(a.relative(absolute) is not None for a in anchors) or any(
                a.relative(os.path.realpath(absolute)) is not None for a in anchors
            ):
                continue
            if outer is not None:
                opened_here = ", ".join(a.given for a in outer)
                raise FilesystemError(
                    f"{absolute}: no longer inside the folders certkit opened for this run ({opened_here}): "
                    "it was moved or replaced meanwhile; nothing was written there"
                )
            given, real, fd = open_folder(absolute)
            st = os.fstat(fd)
            opened.append(Anchor(given, real, fd, st.st_dev, st.st_ino))
        token = _PINNED.set((*(outer or ()), *opened))
        try:
            yield _PINNED.get() or ()
        finally:
            _PINNED.reset(token)
    finally:
        for anchor in opened:
            anchor.close()


def active() -> bool:
    """Whether a pin is held (certkit writes only below pinned folders)."""
    return _PINNED.get() is not None


def identity(real: str) -> tuple[int, int] | None:
    """(device, inode) of the pinned folder opened at exactly ``real``, or None when none is."""
    for anchor in _PINNED.get() or ():
        if anchor.real == real:
            return anchor.device, anchor.inode
    return None


def _anchor_for(path: str) -> tuple[Anchor, tuple[str, ...]] | None:
    best: tuple[Anchor, tuple[str, ...]] | None = None
    for anchor in _PINNED.get() or ():
        parts = anchor.relative(path)
        if parts is not None and (best is None or len(parts) < len(best[1])):
            best = (anchor, parts)
    return best


@contextlib.contextmanager
def folder(path: Path | str, *, create: int | None = None) -> Iterator[int]:
    """A handle on the folder ``path`` for the ``with`` block (do not close it).

    Inside a pin it is walked down from the pinned folder holding ``path``, ``O_NOFOLLOW`` at every
    step; outside, opened by path.  With ``create`` (a mode), missing folders are made with exactly
    that mode (whatever the umask).

    Raises:
        FilesystemError: inside a pin, ``path`` is below no pinned folder, or a folder on the way
            is now a symlink or a file.
        OSError: the folder is missing (without ``create``), or cannot be opened or made.
    """
    absolute = _absolute(path)
    found = _anchor_for(absolute)
    if found is None:
        if _PINNED.get() is not None:
            raise FilesystemError(
                f"{absolute}: outside the folders certkit opened for this run "
                f"({', '.join(a.given for a in _PINNED.get() or ())}); a folder on the way was moved or replaced "
                "meanwhile (or a symlink leads there): nothing was written there"
            )
        fd = _open_unpinned(absolute, create)
        try:
            yield fd
        finally:
            os.close(fd)
        return
    anchor, parts = found
    yield _walk_pinned(anchor, parts, create)


def _open_unpinned(absolute: str, create: int | None) -> int:
    if create is None:
        return os.open(absolute, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    base = _nearest_existing(absolute)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    rest = [p for p in absolute[len(base) :].split("/") if p]
    try:
        for name in rest:
            child = _open_or_make(fd, name, create, os.path.join(base, name))
            os.close(fd)
            fd, base = child, os.path.join(base, name)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _walk_pinned(anchor: Anchor, parts: tuple[str, ...], create: int | None) -> int:
    fd = anchor.fd
    where = anchor.real
    for depth in range(1, len(parts) + 1):
        key = parts[:depth]
        where = os.path.join(where, key[-1])
        cached = anchor.folders.get(key)
        if cached is None:
            cached = _open_or_make(fd, key[-1], create, where)
            anchor.folders[key] = cached
        fd = cached
    return fd


def _open_or_make(parent: int, name: str, create: int | None, where: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if create is None:
            raise
    except OSError as exc:
        raise _walk_error(where, exc) from exc
    try:
        os.mkdir(name, create, dir_fd=parent)
    except FileExistsError:
        pass  # made meanwhile by someone else: opened below, without following a symlink
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        raise _walk_error(where, exc) from exc
    os.fchmod(fd, create)  # exactly ``create``: a folder looser than the umask allows is refused later
    return fd


def _walk_error(where: str, exc: OSError) -> Exception:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return FilesystemError(
            f"{where}: is now a symlink or not a folder: it was moved or replaced while certkit ran "
            "(certkit never follows a symlink it did not check); nothing was written there"
        )
    return exc


@contextlib.contextmanager
def parent(path: Path | str, *, create: int | None = None) -> Iterator[tuple[int, str]]:
    """(handle on the folder holding ``path``, the file's name in it) for the ``with`` block."""
    absolute = _absolute(path)
    head, name = os.path.split(absolute)
    with folder(head, create=create) as fd:
        yield fd, name


def reopen(path: Path | str) -> int:
    """A new handle (a new open file description) on the folder ``path``, for the caller to close:
    the renewal lock's ``flock`` must be its own, not shared with the pinned handle."""
    with folder(path) as fd:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)


def listdir(path: Path | str) -> list[str]:
    """The names in the folder ``path`` (read through its handle); [] when it does not exist."""
    try:
        with folder(path) as fd:
            return os.listdir(fd)
    except FileNotFoundError:
        return []


def remove_tree(path: Path | str) -> None:
    """Delete the folder ``path`` and everything in it, never following a symlink (missing: nothing to do)."""
    absolute = _absolute(path)
    try:
        with parent(absolute) as (fd, name):
            _remove_below(fd, name)
    except FileNotFoundError:
        return
    found = _anchor_for(absolute)
    if found is not None:
        anchor, parts = found
        for key in [k for k in anchor.folders if k[: len(parts)] == parts]:
            os.close(anchor.folders.pop(key))


def _remove_below(parent_fd: int, name: str) -> None:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            os.unlink(name, dir_fd=parent_fd)  # a symlink or file where a folder was: remove the entry only
            return
        raise
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if stat.S_ISDIR(entry.stat(follow_symlinks=False).st_mode):
                    _remove_below(fd, entry.name)
                else:
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)
