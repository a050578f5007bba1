"""Generations: every renewal's complete file set, kept so that `certkit rollback` can return to it.

``STATE/generations/N/`` holds a copy of every file of the profile (certificates, keys,
copies, CA keys) as it was live after renewal N, plus ``manifest.json`` naming where each
goes; generation 0 is the set as found before certkit first changed it.  ``LIVE`` holds
the number of the generation on disk now.  Snapshots and LIVE are written in the same
transaction as the live files, so they can never disagree.  The folder is inside the
0700 state folder (it holds private keys) that .dockerignore keeps out of images.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from certkit.bounded import parse_nested
from certkit.errors import FilesystemError, RollbackError
from certkit.paths import shown
from certkit.store import handles, storage
from certkit.store.transaction import Write

GENERATIONS = "generations"
LIVE = "LIVE"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class LiveFile:
    target: Path  # real path
    data: bytes
    mode: int


def folder(state_dir: Path) -> Path:
    return state_dir / GENERATIONS


def live_number(state_dir: Path) -> int | None:
    try:
        return int((folder(state_dir) / LIVE).read_text().strip())
    except (OSError, ValueError):
        return None


def numbers(state_dir: Path) -> list[int]:
    base = folder(state_dir)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def snapshot_writes(state_dir: Path, number: int, root: Path, files: list[LiveFile], *, live: bool) -> list[Write]:
    """The writes that record ``files`` as generation ``number`` (and mark it live)."""
    gen = folder(state_dir) / str(number)
    writes = []
    manifest = []
    for index, item in enumerate(files):
        stored = f"{index:03d}-{item.target.name}"
        manifest.append({"stored": stored, "target": _portable(item.target, root), "mode": item.mode})
        writes.append(Write(gen / stored, item.data, 0o600))
    writes.append(Write(gen / MANIFEST, json.dumps(manifest, indent=1).encode(), 0o600))
    if live:
        writes.append(live_marker(state_dir, number))
    return writes


def live_marker(state_dir: Path, number: int) -> Write:
    return Write(folder(state_dir) / LIVE, f"{number}\n".encode(), 0o600)


def prepare_folders(writes: list[Write]) -> None:
    for parent in sorted({w.target.parent for w in writes}):
        storage.ensure_dir(parent, 0o700)


def load(state_dir: Path, number: int, root: Path) -> list[LiveFile]:
    """The files of generation ``number``; the caller checks each target is inside the folder.

    The manifest is input (see certkit.store.state): a stored name must be a plain file name in
    the generation's own folder (never a path that reads a secret from elsewhere), read
    without following a symlink, and a mode may not open the file to everyone's writes.
    A group-writable mode is a umask-002 clone's as found (0664, 0775: certkit accepts them when
    the group is the owner's private one, see certkit.store.safety); the rollback checks the group.
    """
    return [item for _, item in stored_files(state_dir, number, root)]


def stored_files(state_dir: Path, number: int, root: Path) -> list[tuple[Path, LiveFile]]:
    """:func:`load`, with the path of each stored copy (a CA store conversion rewrites the copies of CA keys)."""
    gen = folder(state_dir) / str(number)
    try:
        text = (gen / MANIFEST).read_text()
        manifest = parse_nested(lambda: json.loads(text))  # TooDeep is a ValueError
        if not isinstance(manifest, list):
            raise TypeError("the manifest is not a list")
        files = []
        for entry in manifest:
            stored, target, mode = entry["stored"], entry["target"], entry["mode"]
            if not (isinstance(stored, str) and isinstance(target, str) and isinstance(mode, int)):
                raise TypeError(f"entry {entry!r} is not stored/target/mode")
            if stored in ("", ".", "..", MANIFEST, LIVE) or "/" in stored or "\0" in stored:
                raise ValueError(f"stored file {stored!r} is not a file of this generation")
            if mode & ~0o777 or mode & 0o002:
                raise ValueError(f"mode {mode:04o} for {target} is not one certkit writes or accepts")
            files.append((gen / stored, LiveFile(_resolve(target, root), _read_plain(gen / stored), mode)))
        return files
    except (OSError, ValueError, KeyError, TypeError) as exc:
        others = [n for n in numbers(state_dir) if n not in (number, live_number(state_dir))]
        hint = (
            f"choose another with --to ({', '.join(map(str, others))})"
            if others
            else "no other generation is kept to roll back to"
        )
        raise FilesystemError(
            f"{gen}: generation {number} is damaged or was not written by certkit ({exc}); {hint}"
        ) from exc


def _read_plain(path: Path) -> bytes:
    """A regular file's bytes, never through a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        return handle.read()


def prune(state_dir: Path, keep: int) -> list[int]:
    """Delete all but the ``keep`` newest generations.

    The live one always stays, and so does generation 0, the set certkit first found:
    the one way back to the files as they were before certkit ever changed them.
    """
    live = live_number(state_dir)
    existing = [n for n in numbers(state_dir) if n != 0]
    doomed = [n for n in existing[:-keep] if n != live] if keep > 0 else [n for n in existing if n != live]
    for number in doomed:
        try:
            handles.remove_tree(folder(state_dir) / str(number))
        except OSError:
            pass  # kept for now; the next renewal prunes it again
    return doomed


def rollback_target(state_dir: Path, to: int | None) -> int:
    existing = numbers(state_dir)
    live = live_number(state_dir)
    if to is not None:
        if to not in existing:
            raise RollbackError(f"generation {to} does not exist (kept: {', '.join(map(str, existing)) or 'none'})")
        return to
    if live is None:
        raise RollbackError(f"{state_dir.parent}: certkit has not renewed anything here yet; nothing to roll back to")
    older = [n for n in existing if n < live]
    if not older:
        raise RollbackError(
            f"{state_dir.parent}: no generation older than the live one ({live}) is kept; nothing to roll back to"
        )
    return older[-1]


def _portable(target: Path, root: Path) -> str:
    return shown(Path(target), Path(os.path.realpath(root)))


def _resolve(text: str, root: Path) -> Path:
    path = Path(text)
    return path if path.is_absolute() else Path(os.path.realpath(root)) / path
