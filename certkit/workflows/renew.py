"""`certkit renew` as one core call: the cron's fast path, else the full renewal.

cron runs `certkit renew` many times a day and nearly always nothing is due: :func:`run_renew` answers that
from certkit's record of the last run (certkit.store.fastpath) with the standard library alone.  Only past
it does the full path import the rest, in an order that pays: the profile, the layout and the checkout
first, then the keys the renewal will make are started (certkit.pki.keys.KeyMaker), and the rest of certkit
is imported while they are made (certkit.workflows.renew_full).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from certkit.store import fastpath

# The request and the run, named here too: this is the module callers know (certkit.run_renew).
from certkit.workflows.renew_model import RenewRequest as RenewRequest
from certkit.workflows.renew_model import RenewRun as RenewRun
from certkit.workflows.renew_model import credentials_dir as credentials_dir


def run_renew(request: RenewRequest) -> RenewRun:
    """Renew what is due in ``request.notary_dir``, as `certkit renew` does.

    Raises CertkitError for what stops the run before anything is written (layout, the checkout's
    checks: CA store, state folder, who else may write; then lock, hooks).  Errors after the renewal
    was committed are returned in ``RenewRun.errors``, so the caller shows the renewal first.
    """
    if request.may_take_fast_path:
        earliest = _nothing_due(request)
        if earliest is not None:
            return RenewRun(nothing_due_until=earliest)
    return _renew(request)


def _nothing_due(request: RenewRequest) -> datetime | None:
    """The cron case: decided from the record of the last run, before anything heavy is imported."""
    store = Path(os.path.abspath(request.ca_store)) if request.ca_store is not None else None
    return fastpath.nothing_due(
        Path(os.path.abspath(request.notary_dir)),
        fastpath.profile_id(request.profile_source),
        store,
        request.within.after(request.now),
        compose=request.compose,
        deploy=request.deploy,
    )


def _renew(request: RenewRequest) -> RenewRun:
    # Imported here, past the fast path; what the checks need first, the rest (renew_full) once the keys run.
    from certkit.pki.keys import KeyMaker, likely_needed, likely_signer
    from certkit.pki.unlock import Unlock
    from certkit.profile import load_profile
    from certkit.store.checkout import open_checkout
    from certkit.store.layout import require_layout

    profile = load_profile(request.profile_source)
    # Before the lock, which writes its note into NOTARY_DIR/.certkit: a wrong folder is left as it was.
    require_layout(request.notary_dir, profile)
    unlock = Unlock(
        passphrase_file=request.ca_passphrase_file,
        credentials_dir=credentials_dir(request.environ),
        prompt=request.prompt,
        root_key_file=request.ca_root_key,
        pkcs11_uri=request.ca_pkcs11,
    )
    with open_checkout(request.notary_dir, profile, request.ca_store) as checkout, KeyMaker() as maker:
        if not request.dry_run:  # a dry run makes no key and opens none
            # Head starts, in threads, while the rest is imported, checked and planned: the RSA keys the renewal
            # will almost surely make, and the key that decrypts the CA key it will sign with (an encrypted store).
            maker.start(likely_needed(checkout, rotate_keys=request.rotate_keys))
            signer = likely_signer(checkout)
            if signer is not None:
                unlock.prefetch(signer)
        from certkit.workflows import renew_full

        run = renew_full.run(request, checkout, maker, unlock)
    if request.pgdata is not None and run.database is not None:
        # Outside the checkout's pin: the data folder given with --pgdata is written by path.
        renew_full.deploy_database(run, request.notary_dir, request.pgdata)
    renew_full.look_at_running(run, request, checkout)
    return run
