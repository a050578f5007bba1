"""When a renewal will need an offline CA key, and a warning early enough to fetch it.

With the root's key exported (`certkit ca-keys export-root`), routine renewals sign leaves with the
intermediate alone.  The day renew re-issues a certificate the offline key signs (the intermediate,
or the root itself) is known in advance: its notAfter minus renew's default window (30 days,
``--within``), the day the scheduled renewal first finds it due and stops (exit 24) until someone
brings the key back.  Fetching a key from a safe or a vault takes a person and days, so check-expiry
warns from ``--warn`` before that day (default 30 days: about 60 days before the intermediate expires),
and is critical from ``--crit`` before it (default 7 days), as it is for an expiring certificate.
The Prometheus metric ``certkit_offline_key_needed_timestamp_seconds`` carries the day itself, so the
shipped alert rule judges it against Prometheus' own clock.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from certkit.check.findings import Note, Reason, Status, Thresholds
from certkit.profile import KeyLocation, Profile

RENEW_WITHIN = timedelta(days=30)  # `certkit renew --within`'s default (certkit.cli.renew_cmd)
CODE = "offline-key"


def offline_key_notes(
    root: Path, profile: Profile, now: datetime, thresholds: Thresholds
) -> tuple[dict[str, list[Note]], dict[str, str]]:
    """Notes for each certificate whose renewal needs an offline CA key: (real path -> notes, real path -> shown)."""
    from certkit.certificates import NotACertificate, parse_certificates
    from certkit.errors import CertkitError
    from certkit.pki.cakeys import KeyForm, parse
    from certkit.store.layout import ca_store_path
    from certkit.store.storage import read_bytes

    store = ca_store_path(root, profile, None)
    offline: dict[str, str] = {}  # CA name -> where its key went
    for spec in profile.certificates:
        if spec.key_location is not KeyLocation.CA_STORE:
            continue
        data = read_bytes(store / f"{spec.name}.key")
        if data is None:
            continue
        try:
            file = parse(data, spec.name)
        except CertkitError:
            continue
        if file.form == KeyForm.OFFLINE:
            offline[spec.name] = file.fields.get("exported-to", "") or "the exported file"
    notes: dict[str, list[Note]] = {}
    shown: dict[str, str] = {}
    if not offline:
        return notes, shown
    warn_at = thresholds.warn.after(now)
    crit_at = thresholds.crit.after(now)
    for spec in profile.certificates:
        signer = spec.name if spec.issuer is None else spec.issuer
        if signer not in offline:
            continue
        path = root / spec.cert_file
        data = read_bytes(path)
        if data is None:
            continue
        try:
            leaf = parse_certificates(data)[0]
        except NotACertificate:
            continue
        needed = leaf.not_valid_after_utc - RENEW_WITHIN
        if needed > warn_at:
            status = Status.OK
        else:
            status = Status.CRITICAL if needed <= crit_at else Status.WARNING
        when = "now" if needed <= now else f"from {needed:%Y-%m-%d} ({(needed - now).days} days)"
        text = (
            f"renewing it needs {signer}'s offline key {when}, 30 days before it expires (renew's default "
            f"--within): bring {offline[signer]} and run `certkit renew --ca-root-key FILE`"
        )
        real = os.path.realpath(path)
        notes.setdefault(real, []).append(Note(0, Reason(CODE, status, text, at=needed)))
        shown[real] = str(path)
    return notes, shown
