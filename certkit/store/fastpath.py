"""The cron case in a few milliseconds: is a renewal certainly not due, judged without parsing anything?

`certkit renew` runs from cron and systemd timers many times a day, and nearly always nothing
is due.  After every real run renew records, in ``.certkit/nothing-due``, what it judged
(the profile, the CA store) and the state of every file it manages and every folder on the
way to them (size, times, inode, owner, mode), with the earliest notAfter of the set.  While
all of that is unchanged, the only input that moves is the clock, and a renewal is due only
once ``now + within`` reaches that notAfter: the same rule as planning's "expires within".
Any difference, a pending transaction or a missing or foreign record sends the run down the
normal path, which checks everything (ownership included) and judges each certificate.

This module imports only the standard library (and certkit.store.records, which does too): it
runs before cryptography, the profile loader or the renewal machinery are imported.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from certkit import defaults
from certkit.store.records import read_own_json

RECORD = defaults.NOTHING_DUE_RECORD
FORMAT = 1
MAX_RECORD_BYTES = 256 * 1024


def fingerprint(paths: Iterable[Path]) -> dict[str, list[int]]:
    """Each path's identity and metadata; a missing path is recorded as missing."""
    result: dict[str, list[int]] = {}
    for path in paths:
        try:
            info = os.lstat(path)
        except OSError:
            result[str(path)] = []
            continue
        if stat.S_ISDIR(info.st_mode):
            # A folder's times change whenever an entry is added (a compose override, this record):
            # who owns it and who may write it is what matters.
            result[str(path)] = [info.st_ino, info.st_dev, info.st_mode, info.st_uid, info.st_gid]
        else:
            result[str(path)] = [
                info.st_size,
                info.st_mtime_ns,
                info.st_ctime_ns,
                info.st_ino,
                info.st_dev,
                info.st_mode,
                info.st_uid,
                info.st_gid,
            ]
    return result


def watched(root: Path, files: Iterable[Path]) -> list[Path]:
    """The files, and every folder from ``root`` down to each (a changed owner or mode there matters too)."""
    paths = {root}
    for path in files:
        paths.add(path)
        parent = path.parent
        while parent != parent.parent and (parent == root or root in parent.parents):
            paths.add(parent)
            parent = parent.parent
    return sorted(paths)


def compose_inputs(root: Path) -> list[str]:
    """The top-level files renew's compose step reads (compose files and overrides, .env, Dockerfiles):
    a new, removed or edited one means the step must run again."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if n.endswith((".yml", ".yaml")) or n == ".env" or "Dockerfile" in n)


def record(
    profile_id: str,
    store: Path,
    files: list[Path],
    root: Path,
    earliest_not_after: datetime,
    *,
    compose: bool,
    deployed: bool = False,
) -> bytes:
    """The record renew writes after a run that left the set valid (and, unless --no-compose, mounted;
    ``deployed``: and the running containers use it, as far as `renew --deploy` could tell)."""
    inputs = compose_inputs(root)
    data = {
        "format": FORMAT,
        "profile": profile_id,
        "ca_store": str(store),
        "earliest_not_after": earliest_not_after.astimezone(timezone.utc).isoformat(),
        "compose_inputs": inputs,
        "compose": compose,  # the run also did the compose step
        "deployed": deployed,  # the run's deploy step left nothing to do (renew --deploy)
        "files": fingerprint([*watched(root, files), *(root / n for n in inputs)]),
    }
    return (json.dumps(data, sort_keys=True) + "\n").encode()


def nothing_due(
    root: Path,
    profile_id: str,
    store: Path | None,
    horizon: datetime,
    *,
    compose: bool = True,
    deploy: bool = False,
) -> datetime | None:
    """The earliest notAfter when nothing can be due up to ``horizon`` (now + within); else None.

    None means "look properly": no record, a record that is not certkit's own (not a regular
    file owned by this user with mode 0600, unreadable, another format), another profile or
    CA store, a compose step owed (``compose`` and the last run had --no-compose), a deploy
    owed (certkit.store.owed: an earlier deploy failed; or ``deploy`` and the last run changed
    files without deploying them), a pending transaction, or any watched file changed.
    """
    state = root / defaults.STATE_FOLDER
    path = state / RECORD
    if os.path.lexists(state / defaults.DEPLOY_OWED_RECORD):
        return None  # an earlier `renew --deploy` could not deploy: this run retries (or reports) it
    try:
        if os.listdir(state / defaults.TXN_FOLDER):
            return None  # an interrupted renewal: the normal path recovers it first
    except OSError:
        pass
    data = read_own_json(path, MAX_RECORD_BYTES)
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("profile") != profile_id:
        return None
    if store is not None and data.get("ca_store") != str(store):
        return None
    if compose and data.get("compose") is not True:
        return None  # the last run skipped the compose step (--no-compose); this one must do it
    if deploy and data.get("deployed") is not True:
        return None  # the last run renewed without --deploy: the containers may run the old set
    files = data.get("files")
    if not isinstance(files, dict) or not files or data.get("compose_inputs") != compose_inputs(root):
        return None
    if fingerprint(Path(p) for p in files) != files:
        return None
    try:
        earliest = datetime.fromisoformat(str(data["earliest_not_after"]))
    except (KeyError, ValueError):
        return None
    if earliest.tzinfo is None or horizon >= earliest:
        return None  # due (or the record is not certkit's): the normal path renews
    return earliest


def last_run_deployed(root: Path) -> bool:
    """Did the last full run leave the containers on the set, as far as it could tell (its record says so)?"""
    data = read_own_json(root / defaults.STATE_FOLDER / RECORD, MAX_RECORD_BYTES)
    return isinstance(data, dict) and data.get("deployed") is True


def profile_id(source: str | None) -> str:
    """What identifies the profile in the record: a built-in name, or the profile file's path."""
    if source is None or source in defaults.BUILTIN_PROFILES:
        return f"built-in:{source or defaults.BUILTIN_PROFILES[0]}"
    return "file:" + os.path.abspath(source)
