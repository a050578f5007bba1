"""The words of a check: statuses, reasons and findings, as every check and every format uses them.

Statuses follow the Nagios plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN);
when findings are combined, CRITICAL > UNKNOWN > WARNING > OK: a certificate known to be
broken outranks one that could not be read, which outranks one merely expiring soon.
The checks (certkit.check) make findings, the formats (certkit.render.expiry) write them.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from certkit.durations import Duration

if TYPE_CHECKING:
    from cryptography import x509

    from certkit.check.runs import RunningFile

UNUSED_TEXT = "not used by any service (listed, not judged; --all judges it)"
# A folder argument with no certificate file in it: UNKNOWN, as Nagios plugins answer a check that
# cannot tell (a mistyped path in cron must not be green forever).
NOTHING_FOUND_CODE = "no-certificates"
NOTHING_FOUND_TEXT = "no certificate files found here"

SKIPPED = "SKIPPED"  # the status word of a symlinked folder the walk did not enter


class Status(IntEnum):
    """Nagios plugin states; the value is the exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Rank for "worst wins": CRITICAL > UNKNOWN > WARNING > OK."""
        return _SEVERITY[self]


_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    result = Status.OK
    for status in statuses:
        if status.severity > result.severity:
            result = status
    return result


@dataclass(frozen=True)
class Reason:
    """One problem: a stable machine code, its status, and a sentence for people."""

    code: str  # expired, not-yet-valid, expiring, chain, key-mismatch, hostname, stale, missing, unreadable, ...
    status: Status
    text: str
    at: datetime | None = None  # offline-key: the day a renewal will need the offline CA key (certkit.check.offline)


@dataclass
class Finding:
    """The verdict on one certificate (or on an input that could not be read)."""

    source: str  # "file" or "endpoint"
    path: str  # as the user gave it (joined with the walked folder), or HOST:PORT
    index: int | None  # position in the bundle / served chain; None when no certificate was read
    cert: x509.Certificate | None
    seconds_left: int | None
    reasons: list[Reason] = field(default_factory=list)
    # False for a certificate file in a Notary checkout that no service uses (a Go test
    # fixture): it is listed for information and left out of the summary and exit code.
    used: bool = True
    # For source "container" (what a container has) and "compose" (what `docker compose up` would
    # run): the service, container, paths and verdict (certkit.check.running).
    runs: RunningFile | None = None

    @property
    def status(self) -> Status:
        return worst(r.status for r in self.reasons)

    @property
    def shown_status(self) -> str:
        """The status column: OK/WARNING/CRITICAL/UNKNOWN, UNUSED for an unused file, SKIPPED for a
        symlinked folder outside the walked one (neither is judged)."""
        if self.used:
            return self.status.name
        return SKIPPED if any(r.code == "skipped" for r in self.reasons) else "UNUSED"

    def add(self, reason: Reason) -> None:
        if all((r.code, r.text) != (reason.code, reason.text) for r in self.reasons):
            self.reasons.append(reason)


@dataclass(frozen=True)
class Thresholds:
    warn: Duration
    crit: Duration


@dataclass(frozen=True)
class Note:
    """A problem found elsewhere (e.g. from a Notary config) to attach to a file's finding."""

    index: int  # certificate index in the file (0: the leaf)
    reason: Reason


def unknown(path: str, text: str, index: int | None = None) -> Finding:
    """A file that could not be judged, and why (UNKNOWN)."""
    return Finding("file", path, index, None, None, [Reason("unreadable", Status.UNKNOWN, text)])


def unreadable(path: str, exc: OSError, what: str = "cannot read") -> Finding:
    """A file or folder the system would not let certkit read (UNKNOWN), in words for people."""
    if exc.errno == errno.ELOOP:
        text = "symlink loop: the link never reaches a file"
    elif exc.errno == errno.ENOENT and os.path.islink(path):
        text = f"broken symlink to {os.readlink(path)}"
    else:
        text = f"{what}: {exc.strerror or exc}"
    return unknown(path, text)


__all__ = [
    "NOTHING_FOUND_CODE",
    "NOTHING_FOUND_TEXT",
    "SKIPPED",
    "UNUSED_TEXT",
    "Finding",
    "Note",
    "Reason",
    "Status",
    "Thresholds",
    "unknown",
    "unreadable",
    "worst",
]
