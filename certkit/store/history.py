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
    not_after: dict[str, datetime] = field(default_factory=dict)  # landmark name -> notAfter
    problem: str = ""  # a damaged generation: why


def describe(root: Path, profile: Profile) -> list[Generation]:
    """Every kept generation, oldest first."""
    from certkit.certificates import NotACertificate, parse_certificates
    from certkit.store.layout import STATE_FOLDER

    state = root / STATE_FOLDER
    live = generations.live_number(state)
    landmarks = {s.name: os.path.realpath(root / s.cert_file) for s in profile.certificates if s.name in LANDMARKS}
    result: list[Generation] = []
    previous: dict[str, str] = {}
    for number in generations.numbers(state):
        entry = Generation(number, number == live, _made(state, number))
        try:
            files = generations.load(state, number, root)
        except CertkitError as exc:
            entry.problem = str(exc)
            result.append(entry)
            continue
        digests = {os.path.realpath(f.target): hashlib.sha256(f.data).hexdigest() for f in files}
        if previous:
            entry.changed = sorted(_shown(p, root) for p, d in digests.items() if previous.get(p) != d)
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
