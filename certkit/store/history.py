"""What each kept generation is, for `certkit rollback --list`: when it was made, what it changed,
and the notAfter of the root and of the server certificate in it, so a person can choose one."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from certkit.errors import CertkitError
from certkit.profile import Profile
from certkit.store import generations

# The certificates whose notAfter tells generations apart for a person: the root clients trust
# and the certificate the server presents (names of the built-in profile; others are skipped).
LANDMARKS = ("root-ca", "notary-server")


@dataclass
class Generation:
    number: int
    live: bool
    made: datetime | None  # when its record was written
    changed: list[str] = field(default_factory=list)  # files that differ from the generation before it
    # files whose bytes stayed but whose mode differs (a loose key set to 0600): (file, before, after)
    modes: list[tuple[str, int, int]] = field(default_factory=list)
    not_after: dict[str, datetime] = field(default_factory=dict)  # landmark name -> notAfter
    problem: str = ""  # a damaged generation: why
    # False when the generation before it could not be read: "changed nothing" would be a guess.
    changes_known: bool = True


def describe(root: Path, profile: Profile) -> list[Generation]:
    """Every kept generation, oldest first."""
    from certkit.certificates import NotACertificate, parse_certificates
    from certkit.store.layout import STATE_FOLDER

    state = root / STATE_FOLDER
    live = generations.live_number(state)
    landmarks = {s.name: os.path.realpath(root / s.cert_file) for s in profile.certificates if s.name in LANDMARKS}
    result: list[Generation] = []
    previous: dict[str, tuple[str, int]] | None = None  # (digest, mode) per file before; None: unreadable
    for index, number in enumerate(generations.numbers(state)):
        entry = Generation(number, number == live, _made(state, number))
        try:
            files = generations.load(state, number, root)
        except CertkitError as exc:
            entry.problem = str(exc)
            result.append(entry)
            previous = None
            continue
        digests = {os.path.realpath(f.target): (hashlib.sha256(f.data).hexdigest(), f.mode) for f in files}
        if previous is not None:
            entry.changed = sorted(
                _shown(p, root) for p, (d, _) in digests.items() if p not in previous or previous[p][0] != d
            )
            entry.modes = sorted(
                (_shown(p, root), previous[p][1], m)
                for p, (d, m) in digests.items()
                if p in previous and previous[p][0] == d and previous[p][1] != m
            )
        elif index:
            entry.changes_known = False
        for name, path in landmarks.items():
            data = next((f.data for f in files if os.path.realpath(f.target) == path), None)
            if data is not None:
                try:
                    entry.not_after[name] = parse_certificates(data, der=False)[0].not_valid_after_utc
                except NotACertificate:
                    pass
        previous = digests
        result.append(entry)
    return result


def _made(state: Path, number: int) -> datetime | None:
    try:
        stamp = (generations.folder(state) / str(number) / generations.MANIFEST).stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc)


def _shown(path: str, root: Path) -> str:
    real_root = os.path.realpath(root)
    return os.path.relpath(path, real_root) if path.startswith(real_root + os.sep) else path
