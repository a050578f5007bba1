"""`certkit rollback` as one core call: make an earlier generation live again, all files at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.errors import FilesystemError
from certkit.pki import managed
from certkit.profile import Profile
from certkit.store import generations, handles, storage, transaction
from certkit.store import state as state_folder
from certkit.store.layout import STATE_FOLDER, ca_store_path, require_layout

if TYPE_CHECKING:
    from certkit.deploy.database import DatabaseStep
    from certkit.store.history import Generation


@dataclass
class RollbackResult:
    root: Path
    previous: int | None  # the generation that was live
    live: int  # the generation live now
    files: list[str]  # restored, relative to the checkout where inside it
    kept: list[int]
    # postgres holds its own copy of the database set (certkit.deploy.database): a rollback must reach it too.
    database: DatabaseStep | None = None


def run_rollback(
    root: Path, profile: Profile, *, to: int | None = None, ca_store: Path | None = None, wait: bool = False
) -> RollbackResult:
    """Switch ``root`` back to generation ``to`` (default: the one before the live one), under the lock."""
    from certkit.deploy.database import step_after_renew
    from certkit.store.lock import renewal_lock

    _verify_state(root, profile, ca_store)
    # Opened once (certkit.store.handles): the lock and every write go through these handles.
    with handles.pinned([root, ca_store_path(root, profile, ca_store)]), renewal_lock(root, wait=wait):
        result = rollback(root, profile, to=to, ca_store=ca_store)
    result.database = step_after_renew(root, result.files)
    return result


def list_generations(root: Path, profile: Profile, *, ca_store: Path | None = None) -> list[Generation]:
    """The kept generations, oldest first (certkit.store.history), from a verified state folder."""
    from certkit.store.history import describe

    _verify_state(root, profile, ca_store)
    return describe(root, profile)


def rollback(root: Path, profile: Profile, *, to: int | None = None, ca_store: Path | None = None) -> RollbackResult:
    """Make an earlier generation live again, all or nothing; the caller holds the lock."""
    require_layout(root, profile)
    store = ca_store_path(root, profile, ca_store)
    with handles.pinned([root, store]):
        return _rollback_pinned(root, profile, store, to)


def _rollback_pinned(root: Path, profile: Profile, store: Path, to: int | None) -> RollbackResult:
    state_dir = managed.real(root) / STATE_FOLDER
    real_store = managed.real(store)
    state_folder.verify(state_dir, real_store)
    managed.check_safety(root, profile, store)
    transaction.recover(state_dir, managed.folders(profile, root, store), roots=[store])
    previous = generations.live_number(state_dir)
    target = generations.rollback_target(state_dir, to)
    files = generations.load(state_dir, target, root)
    fs_root = storage.Root(root)
    writes = []
    for item in files:
        real = managed.real(item.target)
        if not (real.is_relative_to(fs_root.real) or real.is_relative_to(real_store)):
            raise FilesystemError(f"{real}: generation {target} names a file outside {root}; refusing to write it")
        writes.append(transaction.Write(real, item.data, item.mode, storage.owner_to_keep(real)))
    for folder in sorted({w.target.parent for w in writes}):
        storage.probe_writable(folder)
    for folder in sorted({w.target.parent for w in writes}):
        storage.ensure_dir(folder, private=managed.real(folder) == real_store)
    transaction.run(state_dir, [*writes, generations.live_marker(state_dir, target)])
    shown = [
        str(w.target.relative_to(fs_root.real)) if w.target.is_relative_to(fs_root.real) else str(w.target)
        for w in writes
    ]
    return RollbackResult(root, previous, target, shown, generations.numbers(state_dir))


def _verify_state(root: Path, profile: Profile, ca_store: Path | None) -> None:
    # Input: a planted or loosened state folder is refused before anything reads it.
    state_folder.verify(root / STATE_FOLDER, ca_store_path(root, profile, ca_store))
