"""The "deploy owed" record: a `renew --deploy` whose deploy could not be done or verified.

When the renewed files are on disk but the running containers could not be recreated (no
engine, `docker compose` missing, a container that never came up, the old certificate still
served), the renewal is kept and ``.certkit/deploy-owed`` says what is owed.  It is what makes
the loop close by itself: while it exists the cron fast path (certkit.store.fastpath) takes the
full path, so the next `renew --deploy` retries; check-expiry and status report it until then;
a deploy that succeeds removes it.

A state file like the others (0600 in the 0700 state folder, verified by certkit.store.state),
JSON with a format number.  Standard library only: the fast path asks :func:`owed` (one lstat)
before anything heavy is imported, and check-expiry reads it without the engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from certkit import defaults
from certkit.store.records import read_own_json

RECORD = defaults.DEPLOY_OWED_RECORD
FORMAT = 1
MAX_RECORD_BYTES = 64 * 1024


@dataclass(frozen=True)
class OwedProject:
    """One compose project whose services were to be recreated."""

    project: str
    working_dir: str
    config_files: tuple[str, ...]
    services: tuple[str, ...]


@dataclass(frozen=True)
class OwedDeploy:
    """What the record says.  ``readable`` is False for a record that exists but is not certkit's
    own or not its shape: a deploy is still owed, only the details are unknown."""

    since: datetime | None
    reason: str
    exit_code: int
    attempts: int = 1
    by_hand: tuple[str, ...] = ()  # the lines that do the deploy without certkit
    projects: tuple[OwedProject, ...] = ()
    database: bool = False  # the database step (postgres's copy of the database set) is owed too
    readable: bool = True

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(s for p in self.projects for s in p.services))


def path_of(root: Path) -> Path:
    return root / defaults.STATE_FOLDER / RECORD


def owed(root: Path) -> bool:
    """Is a deploy owed in the checkout ``root``?  One lstat: the cron fast path asks it."""
    return os.path.lexists(path_of(root))


def read(root: Path) -> OwedDeploy | None:
    """The record of ``root``, None when no deploy is owed."""
    path = path_of(root)
    if not os.path.lexists(path):
        return None
    data = read_own_json(path, MAX_RECORD_BYTES)
    try:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not certkit's record")
        since = datetime.fromisoformat(str(data["since"]))
        projects = tuple(
            OwedProject(
                str(p["project"]),
                str(p["working_dir"]),
                tuple(str(f) for f in p["config_files"]),
                tuple(str(s) for s in p["services"]),
            )
            for p in data.get("projects", [])
        )
        return OwedDeploy(
            since if since.tzinfo is not None else None,
            str(data["reason"]),
            int(data["exit_code"]),
            int(data.get("attempts", 1)),
            tuple(str(line) for line in data.get("by_hand", [])),
            projects,
            bool(data.get("database", False)),
        )
    except (KeyError, TypeError, ValueError):
        # Someone else's file, or a torn write: the deploy is still owed, its details are lost.
        return OwedDeploy(None, f"{path} cannot be read as certkit's record", 0, readable=False)


def encode(owed: OwedDeploy) -> bytes:
    data = {
        "format": FORMAT,
        "since": (owed.since or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(),
        "reason": owed.reason,
        "exit_code": owed.exit_code,
        "attempts": owed.attempts,
        "by_hand": list(owed.by_hand),
        "projects": [
            {
                "project": p.project,
                "working_dir": p.working_dir,
                "config_files": list(p.config_files),
                "services": list(p.services),
            }
            for p in owed.projects
        ],
        "database": owed.database,
    }
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def write(root: Path, record: OwedDeploy) -> None:
    """Record (or update) the owed deploy: 0600 from its first byte, in certkit's marked state folder."""
    from certkit.store import state, storage

    folder = root / defaults.STATE_FOLDER
    state.ensure(folder)
    storage.atomic_write(folder / RECORD, encode(record), storage.KEY_MODE)


def clear(root: Path) -> bool:
    """The deploy was done: remove the record (through the folder's handle inside a renewal's pinned
    folders, see certkit.store.handles).  True when there was one."""
    from certkit.store import handles, storage

    path = path_of(root)
    with handles.parent(path) as (folder, name):
        try:
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            return False
    storage.fsync_dir(path.parent)
    return True
