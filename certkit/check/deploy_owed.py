"""A deploy `renew --deploy` could not do, as a check-expiry finding (certkit.store.owed's record).

While ``.certkit/deploy-owed`` exists, the renewed files are on disk but the containers may still
run the old ones: CRITICAL, like STALE, until a `renew --deploy` succeeds and removes the record.
Read without the engine (one lstat when nothing is owed), so `check-expiry --no-engine` and a check
with the engine down report it too.  Nothing here prints.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from certkit.check.findings import Finding, Reason, Status
from certkit.store import owed
from certkit.text import utc_minute

CODE = "deploy-owed"


def owed_text(record: owed.OwedDeploy, root: Path) -> str:
    """One sentence: since when, why, and what to run."""
    since = f" since {utc_minute(record.since)}" if record.since is not None else ""
    tries = f", {record.attempts} attempts" if record.attempts > 1 else ""
    who = f" ({', '.join(record.services)})" if record.services else ""
    hand = f" (or by hand: {'; '.join(record.by_hand)})" if record.by_hand else ""
    return (
        f"deploy owed{since}{tries}: {record.reason}; the containers{who} may still run the old certificates: "
        f"run `certkit renew --deploy {shlex.quote(os.path.abspath(root))}`{hand}"
    )


def owed_finding(root: Path) -> Finding | None:
    """The finding for ``root``'s owed deploy, or None when nothing is owed."""
    record = owed.read(root)
    if record is None:
        return None
    finding = Finding("deploy", str(owed.path_of(root)), None, None, None)
    finding.add(Reason(CODE, Status.CRITICAL, owed_text(record, root)))
    return finding
