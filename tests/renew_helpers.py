"""certkit.pki.renew's steps on a folder, called directly: the checkout checked and pinned once
(certkit.store.checkout) as `certkit renew` does, without its lock (a test's folder is its own)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from certkit.durations import Duration
from certkit.pki import renew as renewal
from certkit.pki.renew import RenewResult
from certkit.profile import Profile, load_profile
from certkit.store.checkout import open_checkout


def renew_folder(
    root: Path, now: datetime, within: Duration, *, profile: Profile | None = None, **options: Any
) -> RenewResult:
    """A real renewal: recover, plan, prepare, commit."""
    with open_checkout(root, profile or load_profile()) as checkout:
        return renewal.renew(checkout, now, within, **options)


def preview_folder(
    root: Path, now: datetime, within: Duration, *, profile: Profile | None = None, **options: Any
) -> RenewResult:
    """A dry run: what a renewal would do, with nothing built or written."""
    with open_checkout(root, profile or load_profile()) as checkout:
        planned = renewal.plan_renewal(checkout, now, within, notices=renewal.pending(checkout), **options)
        return renewal.preview(planned)
