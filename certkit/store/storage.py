"""Writing files safely: atomic replace, exact modes, no symlink escapes.

Every write goes to a temporary file in the destination folder, created with its final
mode (0600 for keys: the key is never readable by others, not even for an instant),
fsynced, then renamed over the destination with os.replace, and the folder fsynced.
Each step acts relative to a handle on the folder (certkit.store.handles), opened without
following a symlink from the folder a renewal pinned: a folder swapped mid-run cannot redirect it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from certkit.errors import FilesystemError
from certkit.paths import inside
from certkit.store import handles

Owner = tuple[int, int]  # (uid, gid) for os.fchown; -1 leaves one unchanged

KEY_MODE = 0o600
GROUP_KEY_MODE = 0o640  # a key its group may read (postgres: root-owned, its group), kept when found so
CERT_MODE = 0o644
PRIVATE_DIR_MODE = 0o700

# Fault injection for the crash-consistency tests (tests/test_crash.py): with
# CERTKIT_FAILPOINT="kill:N" the process SIGKILLs itself at its N-th write, fsync or
# rename; "sigint:N", "sigterm:N" send it that signal there; "enospc:N", "eio:N",
# "eperm:N" raise that OSError there instead; "pause:OPERATION" (e.g. "pause:rename
# notary-server.crt") sleeps CERTKIT_FAILPOINT_SECONDS (default 3) at that step.  Unset, this
# costs one dictionary lookup per file operation.
_FAILPOINT = os.environ.get("CERTKIT_FAILPOINT", "")
_operations = 0


def checkpoint(operation: str) -> None:
    """Count a file-system step; trigger the configured failpoint when its turn comes."""
    global _operations
    if not _FAILPOINT:
        return
    _operations += 1
    kind, _, when = _FAILPOINT.partition(":")
    if kind == "pause":  # "pause:rename notary-server.crt": hold still there, so a test can look mid-renewal
        if operation == when:
            time.sleep(float(os.environ.get("CERTKIT_FAILPOINT_SECONDS", "3")))
        return
    if not when.isdigit() or _operations != int(when):
        return
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind in ("sigint", "sigterm"):  # Ctrl-C / `kill` at this exact step (certkit.signals)
        os.kill(os.getpid(), signal.SIGINT if kind == "sigint" else signal.SIGTERM)
        return
    codes = {"enospc": errno.ENOSPC, "eio": errno.EIO, "eperm": errno.EPERM}
    if kind in codes:
        raise OSError(codes[kind], f"{os.strerror(codes[kind])} (injected at {operation})")


class Root:
    """A folder certkit may write inside; every path is checked against it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.real = Path(os.path.realpath(path))

    def resolve(self, relative: str) -> Path:
        """The real path to write for ``relative``, refusing anything that leaves the root.

        A symlink inside the root that points inside the root is followed (the file it
        names is replaced); one that points elsewhere is refused, so certkit can never be
        tricked into overwriting a file outside the Notary folder.
        """
        candidate = self.path / relative
        real = Path(os.path.realpath(candidate))
        if not inside(real, self.real):
            raise FilesystemError(
                f"{candidate}: resolves to {real}, outside {self.path}; certkit does not write "
                "through symlinks that leave the target folder (replace the link with a real file)"
            )
        return real

    def holds(self, path: Path) -> bool:
        """Whether ``path`` (a path read from a record) is the real path of a file inside the root.

        It must be absolute and normalised (no ``..``), its folder must contain no symlink
        (its real path is itself), and the file must not be a symlink: so replacing or
        deleting it can only ever touch this root.
        """
        text = str(path)
        if not path.is_absolute() or os.path.normpath(text) != text or path == self.real:
            return False
        parent = path.parent
        if os.path.realpath(parent) != str(parent) or not inside(parent, self.real):
            return False
        return not os.path.islink(path)


def atomic_write(path: Path, data: bytes, mode: int, owner: Owner | None = None) -> None:
    """Write ``data`` to ``path`` atomically with exactly ``mode`` (and ``owner``, see write_new).

    Every step (the temporary file, the rename, the folder's fsync) acts on one handle on the
    folder (certkit.store.handles): inside a pinned folder, a path swapped meanwhile cannot redirect it.
    """
    try:
        with handles.parent(path) as (folder, name):
            temp = f".{name}.certkit-{secrets.token_hex(4)}.tmp"
            _write_new_at(folder, temp, path.parent / temp, data, mode, owner)
            try:
                _rename_at(folder, temp, folder, name, path)
            except BaseException:  # also Ctrl-C/SIGTERM (certkit.signals): leave no temporary file behind
                _unlink_quietly(folder, temp)
                raise
            _fsync_folder(folder, path.parent)
    except OSError as exc:  # the folder itself could not be opened
        raise FilesystemError(f"{path}: cannot write ({exc.strerror or exc}); check the folder's permissions") from exc


def owner_to_keep(path: Path) -> Owner | None:
    """The (uid, gid) a file replacing ``path`` should get: the old file's, as far as this
    process may give it (root: any; others: their own uid and groups they belong to).

    A renewal must not undo an administrator's ``chown 999 server.key`` (postgres must own
    its key).  -1 leaves that id as the process's own; None when there is nothing to keep.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot inspect ({exc.strerror or exc})") from exc
    euid = os.geteuid()
    if euid == 0:
        return (st.st_uid, st.st_gid)
    uid = -1  # only root can give a file away
    gid = st.st_gid if st.st_gid in {os.getegid(), *os.getgroups()} else -1
    return None if uid == gid == -1 else (uid, gid)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int) -> Iterator[IO[str]]:
    """Stream text into ``path`` atomically: a temporary file in the same folder with exactly
    ``mode``, fsynced, renamed over ``path`` when the block ends without an exception."""
    stack = contextlib.ExitStack()
    try:
        folder, name = stack.enter_context(handles.parent(path))
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    with stack:
        temp = f".{name}.certkit-{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(temp, _NEW_FILE, mode, dir_fd=folder)
        except OSError as exc:
            raise FilesystemError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            _rename_at(folder, temp, folder, name, path)
        except BaseException as exc:
            _unlink_quietly(folder, temp)
            if isinstance(exc, OSError):
                raise FilesystemError(f"{path}: cannot write ({exc.strerror or exc})") from exc
            raise
        _fsync_folder(folder, path.parent)


# O_EXCL: never an existing file (nor a symlink: O_NOFOLLOW) in its place.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_new(path: Path, data: bytes, mode: int, owner: Owner | None = None) -> None:
    """Create ``path`` (which must not exist) with ``data``, exactly ``mode``, fsynced.

    With ``owner`` (uid, gid; -1 keeps the process's own), the file is given to them
    before the first byte: it is created 0600 or tighter, handed over, then set to
    ``mode``, so a 0640 key is group-readable only once its group is the intended one.
    """
    try:
        with handles.parent(path) as (folder, name):
            _write_new_at(folder, name, path, data, mode, owner)
    except OSError as exc:  # the folder itself could not be opened
        raise FilesystemError(
            f"{path.parent / path.name.lstrip('.')}: cannot write ({exc.strerror or exc}); "
            "check the folder's permissions and free space"
        ) from exc


def _write_new_at(folder: int, name: str, path: Path, data: bytes, mode: int, owner: Owner | None) -> None:
    """write_new's work, on the file ``name`` in the folder handle ``folder`` (``path`` names it in errors)."""
    try:
        # O_EXCL + owner-only mode at creation: the umask can only tighten it, fchmod then
        # sets it exactly (a key is never looser than 0600 at any moment).
        fd = os.open(name, _NEW_FILE, mode & 0o700, dir_fd=folder)
    except OSError as exc:
        raise FilesystemError(
            f"{path.parent / path.name.lstrip('.')}: cannot write ({exc.strerror or exc}); "
            "check the folder's permissions and free space"
        ) from exc
    try:
        if owner is not None:
            try:
                os.fchown(fd, owner[0], owner[1])
            except OSError as exc:
                raise FilesystemError(
                    f"{path}: cannot keep the owner uid {owner[0]}, gid {owner[1]} "
                    f"({exc.strerror or exc}); run certkit as root or as the file's owner"
                ) from exc
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            checkpoint(f"write {path.name}")
            written = os.write(fd, view)
            view = view[written:]
        checkpoint(f"fsync {path.name}")
        os.fsync(fd)
    except BaseException as exc:  # an I/O error, or Ctrl-C/SIGTERM (certkit.signals): no partial file stays
        os.close(fd)
        _unlink_quietly(folder, name)
        if isinstance(exc, OSError):
            raise FilesystemError(
                f"{path}: cannot write ({exc.strerror or exc}); check free space and the disk"
            ) from exc
        raise
    os.close(fd)


def replace(source: Path, target: Path) -> None:
    """os.replace with the failpoint and a clear error, relative to the two folders' handles."""
    try:
        with handles.parent(source) as (source_folder, source_name), handles.parent(target) as (folder, name):
            _rename_at(source_folder, source_name, folder, name, target)
    except OSError as exc:  # a folder could not be opened
        raise FilesystemError(f"{target}: cannot replace ({exc.strerror or exc})") from exc


def _rename_at(source_folder: int, source: str, folder: int, name: str, target: Path) -> None:
    try:
        checkpoint(f"rename {target.name}")
        os.rename(source, name, src_dir_fd=source_folder, dst_dir_fd=folder)
    except OSError as exc:
        raise FilesystemError(f"{target}: cannot replace ({exc.strerror or exc})") from exc


def _unlink_quietly(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass


def fsync_dir(folder: Path) -> None:
    stack = contextlib.ExitStack()
    try:
        fd = stack.enter_context(handles.folder(folder))
    except OSError:
        return  # a folder that is gone has nothing to flush
    with stack:
        _fsync_folder(fd, folder)


def _fsync_folder(fd: int, folder: Path) -> None:
    try:
        checkpoint(f"fsync {folder.name}/")
        os.fsync(fd)
    except OSError as exc:
        raise FilesystemError(f"{folder}: cannot flush the folder to disk ({exc.strerror or exc})") from exc


def ensure_dir(path: Path, mode: int = 0o755, private: bool = False) -> None:
    """Create ``path`` and missing parents with exactly ``mode`` (whatever the umask: a
    group-writable folder would be refused by the next renewal); a private folder is
    forced to 0700 even when it exists."""
    try:
        with handles.folder(path, create=mode) as fd:
            if private:
                os.fchmod(fd, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot create folder ({exc.strerror or exc})") from exc


def probe_writable(folder: Path) -> None:
    """Fail early, before anything changes, when ``folder`` (or its nearest existing parent) is not writable."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise FilesystemError(f"{existing}: is not a folder, so {folder} cannot be created")
    probe = f".certkit-probe-{secrets.token_hex(4)}"
    try:
        with handles.folder(existing) as fd:
            os.close(os.open(probe, _NEW_FILE, 0o600, dir_fd=fd))
            os.unlink(probe, dir_fd=fd)
    except OSError as exc:
        raise FilesystemError(
            f"{existing}: not writable ({exc.strerror or exc}); run certkit as a user who may write there, "
            "or make the folder writable"
        ) from exc


def set_mode(path: Path, mode: int) -> None:
    """Change a file's mode in place, through its folder's handle and never through a symlink.

    Refused for a file with more than one hard link: its other names (anywhere on the file system)
    share the inode, so the change would reach them too.  Replace such a file instead.
    """
    try:
        with handles.parent(path) as (folder, name):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    raise FilesystemError(
                        f"{path}: not a file of its own ({st.st_nlink} hard links); certkit does not change it in place"
                    )
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
    except OSError as exc:
        raise FilesystemError(
            f"{path}: cannot set mode {mode:04o} ({exc.strerror or exc}); fix its permissions"
        ) from exc


def links(path: Path) -> int:
    """How many names the file ``path`` has (hard links); 0 when it does not exist."""
    try:
        return os.lstat(path).st_nlink
    except FileNotFoundError:
        return 0


def remove(path: Path) -> None:
    """Delete the file ``path`` through its folder's handle (missing: nothing to do)."""
    try:
        with handles.parent(path) as (folder, name):
            os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot remove ({exc.strerror or exc})") from exc


def exists(path: Path) -> bool:
    """Whether ``path`` exists (without following it), looked up through its folder's handle."""
    try:
        with handles.parent(path) as (folder, name):
            os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist.

    Opened without blocking and refused unless it is a regular file: a FIFO planted where a
    certificate belongs would otherwise hang the run (under cron, forever) on its open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot read ({exc.strerror or exc}); check its permissions") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            from certkit.bounded import kind_of
            from certkit.errors import MaterialError

            raise MaterialError(
                f"{path}: {kind_of(mode)}, not a regular file: not read; remove it or put the file there "
                "(nothing was written)"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot read ({exc.strerror or exc}); check its permissions") from exc
    finally:
        os.close(fd)


def with_lines(current: bytes | None, lines: list[str], comment: str) -> bytes | None:
    """``current`` (e.g. a .gitignore) with each of ``lines`` appended unless present; None
    when nothing is missing.

    The file is handled as bytes: whatever its encoding (a Latin-1 .gitignore stays
    Latin-1) and line ends (CRLF stays CRLF), every existing byte is kept and the new lines
    use the file's own line end.
    """
    data = current or b""
    present = {raw.strip() for raw in data.splitlines()}

    def listed(line: str) -> bool:
        bare = line.strip().strip("/").encode()
        return any(v in present for v in (bare, bare + b"/", b"/" + bare, b"/" + bare + b"/"))

    missing = [line for line in lines if not listed(line)]
    if not missing:
        return None
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    added = eol.join([f"# {comment}".encode(), *(m.encode() for m in missing)]) + eol
    if data and not data.endswith(b"\n"):
        added = eol + added
    return data + added
