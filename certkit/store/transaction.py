"""Replacing a set of files all or nothing, across folders, surviving SIGKILL and power loss.

A renewal touches files in several folders (fixtures/, fixtures/database/, cmd/notary/,
notarysql/..., the CA store), and no single rename can switch them all.  So:

1. intent  ``STATE/txn/ID.intent`` lists every staged path (written first, so a crash
           while staging leaves nothing that recovery cannot find);
2. stage   each new file is written in full beside its target as ``.NAME.certkit-ID.new``
           (same folder: the later rename is atomic and never crosses file systems),
           with its final owner and mode, fsynced;
3. commit  ``STATE/txn/ID.commit`` (targets and SHA-256 of the new contents) appears by
           one atomic rename: the single moment the new set becomes the truth;
4. apply   every staged file is renamed over its target, folders fsynced;
5. done    the intent and commit records are removed.

``recover`` runs before every renewal: a committed transaction is applied again (each
step is idempotent: a target already holding the new bytes is skipped), an uncommitted
one is discarded.  So after a crash at any instant the set is wholly old or, once
recovered, wholly new; never a new key beside an old certificate, never a torn file.

Records are input too (see certkit.store.state): before recovery acts on any of them, every
recorded target must be a real path inside the Notary folder or the CA store, and every
staged path must be exactly the one certkit derives from it, or nothing is touched.

Ctrl-C and SIGTERM (certkit.signals) are held back from the commit record to the last
rename, so an interrupted renewal leaves the old set (staging discarded at once) or
the complete new one, never a half-applied set for readers to find.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from certkit import defaults, signals
from certkit.bounded import parse_nested
from certkit.errors import FilesystemError
from certkit.store import handles, storage

TXN_FOLDER = defaults.TXN_FOLDER


@dataclass(frozen=True)
class Write:
    target: Path  # real path of the file to replace
    data: bytes
    mode: int
    owner: storage.Owner | None = None  # (uid, gid) to keep from the file replaced (storage.owner_to_keep)


@dataclass
class Recovery:
    rolled_forward: list[str]  # transaction ids completed
    discarded: list[str]  # transaction ids thrown away (crash before commit)


def run(state_dir: Path, writes: list[Write]) -> None:
    """Replace all targets with their new contents, all or nothing (see module doc)."""
    if not writes:
        return
    txn_dir = state_dir / TXN_FOLDER
    storage.ensure_dir(state_dir, private=True)
    storage.ensure_dir(txn_dir, private=True)
    txn_id = secrets.token_hex(6)
    entries = [
        {
            "target": str(w.target),
            "staged": str(_staged_path(w.target, txn_id)),
            "sha256": hashlib.sha256(w.data).hexdigest(),
            "mode": w.mode,
        }
        for w in writes
    ]
    intent = txn_dir / f"{txn_id}.intent"
    try:
        storage.atomic_write(intent, json.dumps({"entries": entries}, indent=1).encode(), 0o600)
        for write, entry in zip(writes, entries, strict=True):
            storage.write_new(Path(str(entry["staged"])), write.data, write.mode, write.owner)
        for folder in sorted({w.target.parent for w in writes}):
            storage.fsync_dir(folder)
    except BaseException:  # a write failed or certkit was interrupted: the old set stands
        _discard(txn_dir, txn_id)
        raise
    with signals.deferred():
        # The commit point: from here on, recovery completes this transaction.
        storage.atomic_write(txn_dir / f"{txn_id}.commit", json.dumps({"entries": entries}, indent=1).encode(), 0o600)
        _apply(txn_dir, txn_id, entries)


def pending(state_dir: Path) -> bool:
    """True when a crashed renewal left a transaction behind (recover() will settle it)."""
    txn_dir = state_dir / TXN_FOLDER
    return txn_dir.is_dir() and any(p.suffix in (".intent", ".commit") for p in txn_dir.iterdir())


def activity(state_dir: Path) -> tuple[int, bool] | None:
    """A mark that changes whenever a transaction starts or ends (its records are created and removed
    in the transaction folder, which changes the folder's mtime), and whether one is pending now.

    A reader (check-expiry) compares the mark before and after reading a set of files: equal marks
    and nothing pending mean no renewal switched files while it read them.
    """
    txn_dir = state_dir / TXN_FOLDER
    try:
        return txn_dir.stat().st_mtime_ns, pending(state_dir)
    except OSError:
        return None


def recover(state_dir: Path, folders: Iterable[Path] = (), *, roots: Sequence[Path] = ()) -> Recovery:
    """Finish committed transactions and discard uncommitted ones left by a crash.

    Also removes temporary files (``.NAME.certkit-XXXX.tmp``) that an atomic write killed
    midway left in ``folders`` and the transaction folder.  ``roots`` are the folders a
    record may name (the Notary folder and the CA store); the state folder's parent is
    always one.

    Raises:
        FilesystemError: (exit 13) a record is damaged or names a path outside ``roots``;
            nothing was changed.
    """
    result = Recovery([], [])
    txn_dir = state_dir / TXN_FOLDER
    for place in [txn_dir, *folders]:
        # Listed and removed through the folder's handle (certkit.store.handles), as every write is.
        for name in handles.listdir(place):
            if fnmatch.fnmatchcase(name, ".*.certkit-*.tmp"):
                _remove(place / name)
    names = handles.listdir(txn_dir)
    ids = sorted({n.split(".")[0] for n in names if n.endswith((".intent", ".commit")) and not n.startswith(".")})
    if not ids:
        return result
    allowed = [storage.Root(r) for r in [state_dir.parent, *roots]]
    # Every record is checked before any is acted on: a refusal changes nothing.
    for txn_id in ids:
        for suffix in (".commit", ".intent"):
            record = txn_dir / f"{txn_id}{suffix}"
            if storage.exists(record):
                _check_entries(record, txn_id, _read_entries(record), allowed)
    for txn_id in ids:
        commit = txn_dir / f"{txn_id}.commit"
        if storage.exists(commit):
            entries = _read_entries(commit)
            _apply(txn_dir, txn_id, entries)
            result.rolled_forward.append(txn_id)
        else:
            _discard(txn_dir, txn_id)
            result.discarded.append(txn_id)
    return result


def _check_entries(record: Path, txn_id: str, entries: list[dict[str, object]], allowed: list[storage.Root]) -> None:
    for entry in entries:
        target, staged = entry.get("target"), entry.get("staged")
        if not (isinstance(target, str) and isinstance(staged, str) and isinstance(entry.get("sha256"), str)):
            raise FilesystemError(f"{record}: damaged renewal record; move it away and run certkit renew --force")
        if not any(root.holds(Path(target)) for root in allowed):
            raise FilesystemError(
                f"{record}: names {target}, outside {' and '.join(str(r.path) for r in allowed)} (or through a "
                "symlink); certkit did not write this record and changed nothing: remove it"
            )
        if staged != str(_staged_path(Path(target), txn_id)):
            raise FilesystemError(
                f"{record}: its staged file {staged} is not certkit's copy of {target}; "
                "certkit did not write this record and changed nothing: remove it"
            )


def _apply(txn_dir: Path, txn_id: str, entries: list[dict[str, object]]) -> None:
    for entry in entries:
        target, staged = Path(str(entry["target"])), Path(str(entry["staged"]))
        if storage.exists(staged):
            storage.replace(staged, target)
        elif _sha256(target) != entry["sha256"]:
            raise FilesystemError(
                f"{target}: an interrupted renewal cannot be completed (its staged copy is gone); "
                f"restore the folder or remove {txn_dir / txn_id}.commit and run certkit renew --force"
            )
    for folder in sorted({Path(str(e["target"])).parent for e in entries}):
        storage.fsync_dir(folder)
    _remove(txn_dir / f"{txn_id}.commit")
    _remove(txn_dir / f"{txn_id}.intent")
    storage.fsync_dir(txn_dir)


def _discard(txn_dir: Path, txn_id: str) -> None:
    intent = txn_dir / f"{txn_id}.intent"
    if storage.exists(intent):
        for entry in _read_entries(intent):
            _remove(Path(str(entry["staged"])))
    _remove(intent)
    storage.fsync_dir(txn_dir)


def _read_entries(record: Path) -> list[dict[str, object]]:
    try:
        text = record.read_text()
        entries = parse_nested(lambda: json.loads(text))["entries"]  # TooDeep is a ValueError
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("entries is not a list of objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FilesystemError(
            f"{record}: damaged renewal record ({exc}); move it away and run certkit renew --force"
        ) from exc
    return entries


def _staged_path(target: Path, txn_id: str) -> Path:
    return target.parent / f".{target.name}.certkit-{txn_id}.new"


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _remove(path: Path) -> None:
    storage.remove(path)
