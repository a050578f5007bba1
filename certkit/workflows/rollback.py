"""`certkit rollback` as one core call: make an earlier generation live again, all files at once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from certkit.deploy.database import DatabaseStep, step_after_renew
from certkit.errors import FilesystemError
from certkit.profile import Profile
from certkit.store import generations, safety, storage, transaction
from certkit.store import state as state_folder
from certkit.store.checkout import Checkout, open_checkout, real
from certkit.store.history import Generation, describe
from certkit.store.layout import STATE_FOLDER, ca_store_path, require_layout
from certkit.store.lock import renewal_lock


@dataclass
class RollbackResult:
    root: Path
    previous: int | None  # the generation that was live
    live: int  # the generation live now
    files: list[str]  # restored, relative to the checkout where inside it
    kept: list[int]
    # postgres holds its own copy of the database set (certkit.deploy.database): a rollback must reach it too.
    database: DatabaseStep | None = None
    notes: list[str] = field(default_factory=list)  # modes restored as found that a person should know of


def run_rollback(
    root: Path, profile: Profile, *, to: int | None = None, ca_store: Path | None = None, wait: bool = False
) -> RollbackResult:
    """Switch ``root`` back to generation ``to`` (default: the one before the live one), under the lock."""
    require_layout(root, profile)
    # Checked and opened once (certkit.store.checkout): the lock and every write go through its handles.
    with open_checkout(root, profile, ca_store) as checkout, renewal_lock(root, wait=wait):
        result = rollback(checkout, to=to)
    result.database = step_after_renew(root, result.files)
    return result


def list_generations(root: Path, profile: Profile, *, ca_store: Path | None = None) -> list[Generation]:
    """The kept generations, oldest first (certkit.store.history), from a verified state folder."""
    require_layout(root, profile)
    _verify_state(root, profile, ca_store)
    return describe(root, profile)


def rollback(checkout: Checkout, *, to: int | None = None) -> RollbackResult:
    """Make an earlier generation live again, all or nothing; the caller holds the lock."""
    root, state_dir, real_store = checkout.root, checkout.state_dir, checkout.real_store
    transaction.recover(state_dir, checkout.folders(), roots=[checkout.ca_store])
    previous = generations.live_number(state_dir)
    target = generations.rollback_target(state_dir, to)
    files = generations.load(state_dir, target, root)
    fs_root = storage.Root(root)
    writes = []
    notes: list[str] = []
    keys = checkout.key_paths()
    for item in files:
        path = real(item.target)
        if not (path.is_relative_to(fs_root.real) or path.is_relative_to(real_store)):
            raise FilesystemError(f"{path}: generation {target} names a file outside {root}; refusing to write it")
        owner = storage.owner_to_keep(path)
        mode = _restorable_mode(item.mode, owner, _shown(path, fs_root.real), path in keys, notes)
        writes.append(transaction.Write(path, item.data, mode, owner))
    for folder in sorted({w.target.parent for w in writes}):
        storage.probe_writable(folder)
    for folder in sorted({w.target.parent for w in writes}):
        storage.ensure_dir(folder, private=real(folder) == real_store)
    transaction.run(state_dir, [*writes, generations.live_marker(state_dir, target)])
    shown = [_shown(w.target, fs_root.real) for w in writes]
    return RollbackResult(root, previous, target, shown, generations.numbers(state_dir), notes=notes)


def _shown(path: Path, real_root: Path) -> str:
    return str(path.relative_to(real_root)) if path.is_relative_to(real_root) else str(path)


def _restorable_mode(mode: int, owner: storage.Owner | None, shown: str, key: bool, notes: list[str]) -> int:
    """The mode a restored file gets: the recorded one (generation 0 holds the modes as found),
    without group write unless the group is the owner's private one (certkit.store.safety)."""
    uid = os.geteuid() if owner is None or owner[0] == -1 else owner[0]
    gid = os.getegid() if owner is None or owner[1] == -1 else owner[1]
    if mode & 0o020 and not safety.private_group(gid, uid):
        notes.append(
            f"{shown}: restored as {mode & ~0o020:04o}, not {mode:04o}: its group {safety.group_name(gid)} "
            "is shared, so group write is left off"
        )
        mode &= ~0o020
    if mode & 0o077 and key:
        notes.append(
            f"{shown}: private key restored with mode {mode:04o}, as first found; `certkit renew` sets it to 0600 again"
        )
    return mode


def _verify_state(root: Path, profile: Profile, ca_store: Path | None) -> None:
    # Input: a planted or loosened state folder is refused before anything reads it.
    state_folder.verify(root / STATE_FOLDER, ca_store_path(root, profile, ca_store))
