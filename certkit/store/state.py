"""The state folder (``NOTARY_DIR/.certkit``) is input: trusted only when certkit made it and only its
user can change it.

It holds transaction records, generations and (by default) the CA keys.  Transaction
records and generation manifests name files that certkit then overwrites, deletes or
copies, so a planted or edited state folder could make certkit write outside the Notary
folder or publish a secret.  Before certkit acts on it, the whole folder must be:

- a real folder (no symlink anywhere inside it: a ``generations`` link would send
  private-key copies elsewhere);
- owned by the user running certkit, with nothing readable or writable by group or
  others (certkit makes every folder 0700 and every file 0600);
- marked with ``certkit-state``, the file certkit writes when it creates the folder.  A
  ``.certkit/`` that came with a checkout (committed to git, copied from another
  machine) has no marker, or the modes git gives (0755/0644), and is refused with the reason.

The paths *inside* the records are checked where they are read (certkit.store.transaction,
certkit.store.generations): every one must lie inside the Notary folder or the CA store.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certkit.defaults import CONTAINER_DIRS_RECORD, LOCK_NOTE, NOTHING_DUE_RECORD
from certkit.errors import FilesystemError
from certkit.paths import inside
from certkit.store import storage

MARKER = "certkit-state"
MARKER_TEXT = (
    b"certkit's state folder: renewal transactions, generations, CA private keys.\n"
    b"Never commit or copy it; certkit refuses a state folder it did not make.\n"
)
# A folder holding only these has nothing certkit would write through or copy from: an
# interrupted creation (folder made, marker not yet), the lock note, the --container-dir answers
# `certkit compose` records (certkit.compose.projects.remember_container_dirs now makes the folder
# as certkit's own; earlier versions wrote them into an unmarked one), or the cron fast path's
# cache (certkit.store.fastpath: it can only end a run early, never make one write).  ensure()
# marks it on the first renewal.
_ADOPTABLE = {MARKER, LOCK_NOTE, CONTAINER_DIRS_RECORD, NOTHING_DUE_RECORD}


def verify(state_dir: Path, ca_store: Path | None = None) -> None:
    """Refuse, before anything is read or written, a state folder certkit cannot trust.

    A missing folder is fine (certkit makes it with :func:`ensure`).  A CA store inside the
    state folder (the default ``.certkit/ca``) is checked for symlinks and hard links here,
    but its owners and modes follow the key policy of certkit.store.safety (checked at every
    run; a CA key readable by its group is tightened to 0600 and reported, not refused).

    Raises:
        FilesystemError: (exit 13) one line: which path, what is wrong, what to do.
    """
    try:
        top = os.lstat(state_dir)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FilesystemError(f"{state_dir}: cannot read certkit's state folder ({exc.strerror or exc})") from exc
    _check(state_dir, top, state_dir)
    store = Path(os.path.abspath(ca_store)) if ca_store is not None else None
    entries: list[str] = []
    for folder, dirnames, filenames in os.walk(state_dir):
        for name in [*dirnames, *filenames]:
            path = Path(folder) / name
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue  # removed meanwhile (e.g. the lock note)
            in_store = store is not None and inside(path, store)
            # The fast path's cache judges its own owner and mode (a loose one is ignored and
            # rewritten), and it can only end a run early: no reason to refuse the folder for it.
            cache = path == state_dir / NOTHING_DUE_RECORD
            _check(path, info, state_dir, owner_and_mode=not (in_store or cache))
            if Path(folder) == state_dir:
                entries.append(name)
    marker = state_dir / MARKER
    if MARKER not in entries:
        if set(entries) <= _ADOPTABLE:
            return  # empty (or only the lock note): nothing in it to trust; ensure() marks it
        raise FilesystemError(
            f"{state_dir}: not made by certkit (no {MARKER} marker: committed to git or copied from elsewhere?); "
            f"certkit would act on its records. Remove it (keep a copy of .certkit/ca if it holds your CA keys)"
        )
    if not stat.S_ISREG(os.lstat(marker).st_mode):
        raise FilesystemError(f"{marker}: not a regular file; {state_dir} was not made by certkit")


def ensure(state_dir: Path) -> None:
    """Create the state folder (0700) with its marker, or add the marker to an empty one."""
    storage.ensure_dir(state_dir, private=True)
    marker = state_dir / MARKER
    if not os.path.lexists(marker):
        storage.atomic_write(marker, MARKER_TEXT, 0o600)


def _check(path: Path, info: os.stat_result, state_dir: Path, owner_and_mode: bool = True) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise FilesystemError(
            f"{path}: is a symlink inside certkit's state folder; certkit does not follow links there "
            f"(they could send private keys elsewhere): replace it with a real folder or remove {state_dir}"
        )
    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        raise FilesystemError(f"{path}: not a file or folder; certkit's state folder holds only files it made")
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        # certkit never links files there; a hard link shares its contents with a file elsewhere,
        # which a write certkit meant for its state folder could reach.
        raise FilesystemError(
            f"{path}: has {info.st_nlink} hard links; certkit makes none in its state folder "
            f"(someone linked it to a file elsewhere): remove it"
        )
    if not owner_and_mode:
        return
    if info.st_uid != os.geteuid():
        raise FilesystemError(
            f"{path}: owned by uid {info.st_uid}, not by uid {os.geteuid()} running certkit; another user could "
            f"plant records there. Run certkit as its owner, or `chown -R` it back if it is yours"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        who = "others" if mode & 0o007 else "its group"
        raise FilesystemError(
            f"{path}: readable or writable by {who} (mode {mode:04o}); certkit keeps private keys and "
            f"transaction records there and makes it 0700/0600. If certkit made it, `chmod -R go= {state_dir}`; "
            "if it came with the checkout, remove it"
        )
