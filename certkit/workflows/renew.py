"""`certkit renew` as one core call: the fast path, then lock, hooks, renewal, compose and database.

This module is imported on the cron path, so it imports only the standard library at the top:
the heavy modules are imported in the functions that need them, after the fast path said no.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from certkit import defaults
from certkit.durations import Duration

if TYPE_CHECKING:
    from certkit.compose.cache import ParseCache
    from certkit.compose.model import ComposeOutcome
    from certkit.deploy.database import DatabaseStep, DeployResult
    from certkit.errors import CertkitError
    from certkit.pki.keys import EarlyKeys
    from certkit.pki.renew import RenewResult
    from certkit.pki.unlock import Unlock
    from certkit.profile import Profile
    from certkit.store.owed import OwedDeploy
    from certkit.workflows.deploy import DeployRun, DeployStep
    from certkit.workflows.hooks import HookResult


@dataclass(frozen=True)
class RenewRequest:
    """What `certkit renew` was asked to do; the time and ``environ`` are inputs, never read here.

    ``now`` is the moment the run judges.  With ``clock``, the renewal itself reads the moment from
    it once it holds the lock and the pre hook has run (``--wait`` or a slow hook can take minutes,
    and the new certificates should start when they are made).
    """

    notary_dir: Path
    now: datetime
    within: Duration
    profile_source: str | None = None
    force: bool = False
    rotate_keys: bool = False
    ca_store: Path | None = None
    compose: bool = True
    container_dirs: Mapping[str, str] = field(default_factory=dict)
    pgdata: Path | None = None
    keep: int = defaults.KEEP
    pre_hook: str | None = None
    deploy_hook: str | None = None
    post_hook: str | None = None
    hook_timeout: float | None = defaults.HOOK_TIMEOUT
    wait: bool = False
    wait_timeout: float | None = None
    dry_run: bool = False
    # The fast path answers "nothing is due" without a RenewResult; a caller that needs the
    # full result (--json) turns it off.
    fast_path: bool = True
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], datetime] | None = None
    # --deploy: recreate the running services whose files changed, through the engine, and verify
    # (certkit.workflows.deploy).  Off by default: recreating interrupts the service, and a person
    # at a terminal chooses the moment; the scheduled job asks for it.
    deploy: bool = False
    docker_host: str | None = None  # --docker-host; else DOCKER_HOST, else the default socket
    engine_timeout: float = defaults.ENGINE_TIMEOUT  # seconds for each call to the engine
    deploy_timeout: float = defaults.DEPLOY_TIMEOUT  # seconds for the recreate and its verification
    # The CA keys' secrets (certkit.pki.unlock), asked for only when a CA key must sign or be stored:
    # a passphrase file, the exported offline root for this run, the token for new CA keys, and a prompt
    # (the command line's, on a terminal).  $CREDENTIALS_DIRECTORY comes from ``environ``.
    ca_passphrase_file: Path | None = None
    ca_root_key: Path | None = None
    ca_pkcs11: str | None = None
    prompt: Callable[[str], str] | None = None

    def unlock(self) -> Unlock:
        from certkit.pki.unlock import Unlock

        return Unlock(
            passphrase_file=self.ca_passphrase_file,
            credentials_dir=credentials_dir(self.environ),
            prompt=self.prompt,
            root_key_file=self.ca_root_key,
            pkcs11_uri=self.ca_pkcs11,
        )

    @property
    def may_take_fast_path(self) -> bool:
        """Only a plain run can be answered from the record: every option here changes what is done."""
        return self.fast_path and not (
            self.force
            or self.rotate_keys
            or self.dry_run
            or self.pre_hook
            or self.deploy_hook
            or self.post_hook
            or self.container_dirs
        )


def credentials_dir(environ: Mapping[str, str]) -> Path | None:
    """systemd's $CREDENTIALS_DIRECTORY (LoadCredential*=), where the CA passphrase may be."""
    value = environ.get("CREDENTIALS_DIRECTORY", "")
    return Path(value) if value.startswith("/") else None


@dataclass
class RenewRun:
    """What happened.  ``result`` is None when the fast path answered (``nothing_due_until``
    is then the earliest notAfter) or when the pre hook failed before the renewal."""

    result: RenewResult | None = None
    nothing_due_until: datetime | None = None
    compose: list[ComposeOutcome] = field(default_factory=list)
    # Set when the database's TLS files changed: postgres needs them in its data folder.
    database: DatabaseStep | None = None
    deployed: DeployResult | None = None
    hooks: list[HookResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per failed hook
    # --deploy: what the deploy step planned, did and verified (None: not asked for)
    deploy: DeployRun | None = None
    # Without --deploy: a deploy an earlier `renew --deploy` could not do, still owed (certkit.store.owed).
    owed: OwedDeploy | None = None
    # In the order they are reported: the renewal's own, then the compose step's, the deploy's, the database's.
    errors: list[CertkitError] = field(default_factory=list)
    exit_code: int = 0

    def raise_for_errors(self) -> None:
        """Raise the first error (the renewal's own, else the compose step's, else the database's).

        The hooks ran around the renewal, so its refusal is returned here rather than raised.
        """
        if self.errors:
            raise self.errors[0]


def run_renew(request: RenewRequest) -> RenewRun:
    """Renew what is due in ``request.notary_dir``, as `certkit renew` does.

    Raises CertkitError for what stops the run before anything is written (layout, state
    folder, lock, hooks).  Errors after the renewal was committed are returned in
    ``RenewRun.errors``, so the caller shows the renewal first.
    """
    if request.may_take_fast_path:
        # The cron case: decided from certkit's record of the last run, before anything heavy is imported.
        earliest = _nothing_due(request)
        if earliest is not None:
            return RenewRun(nothing_due_until=earliest)
    return _renew(request)


def _nothing_due(request: RenewRequest) -> datetime | None:
    from certkit.store.fastpath import nothing_due, profile_id

    store = Path(os.path.abspath(request.ca_store)) if request.ca_store is not None else None
    return nothing_due(
        Path(os.path.abspath(request.notary_dir)),
        profile_id(request.profile_source),
        store,
        request.within.after(request.now),
        compose=request.compose,
        deploy=request.deploy,
    )


def _renew(request: RenewRequest) -> RenewRun:
    from certkit.profile import load_profile

    profile = load_profile(request.profile_source)
    early = None if request.dry_run else _start_keys(request, profile)
    unlock = request.unlock()
    if not request.dry_run:
        _prefetch(request, profile, unlock)
    try:
        return _renew_with(request, profile, early, unlock)
    finally:
        if early is not None:
            early.close()  # kills the workers of keys nobody took


def _start_keys(request: RenewRequest, profile: Profile) -> EarlyKeys | None:
    """Before the heavy imports: the RSA prime search of keys that will be needed (a new CA, a missing
    key file) runs in worker processes while the rest is imported, checked and planned."""
    from certkit.errors import CertkitError
    from certkit.pki.keys import EarlyKeys, likely_needed
    from certkit.store.layout import require_layout

    try:
        require_layout(request.notary_dir, profile)  # not a Notary folder: refused below, with the reason
        return EarlyKeys(likely_needed(request.notary_dir, profile, request.ca_store, rotate_keys=request.rotate_keys))
    except CertkitError:
        return None


def _prefetch(request: RenewRequest, profile: Profile, unlock: Unlock) -> None:
    """With an encrypted CA store, derive the passphrase's key for the CA a routine renewal signs with, in a
    thread while the rest is imported and planned (certkit.pki.unlock.Unlock.prefetch)."""
    from collections import Counter

    from certkit.profile import KeyLocation
    from certkit.store.layout import ca_store_path

    store = ca_store_path(request.notary_dir, profile, request.ca_store)
    # One key only (each costs a full PBKDF2): the CA that signs the most leaves (Notary: the intermediate).
    issuers = Counter(
        s.issuer for s in profile.certificates if s.key_location is KeyLocation.FILE and not s.self_signed
    )
    if issuers:
        unlock.prefetch(store / f"{issuers.most_common(1)[0][0]}.key")  # certkit.pki.planning.ca_key_path


def _renew_with(request: RenewRequest, profile: Profile, early: EarlyKeys | None, unlock: Unlock) -> RenewRun:
    from certkit.store.handles import pinned
    from certkit.store.layout import STATE_FOLDER, ca_store_path, require_layout
    from certkit.store.lock import renewal_lock
    from certkit.store.state import verify as verify_state
    from certkit.workflows.hooks import HookSet, run_with_hooks

    notary_dir = request.notary_dir
    compose = _ComposeStep(request, profile)
    deploy = _deploy_step(request, profile)

    def attempt() -> RenewResult:
        from certkit.pki.renew import renew

        result = renew(
            notary_dir,
            profile,
            request.clock() if request.clock is not None else request.now,
            request.within,
            force=request.force,
            rotate_keys=request.rotate_keys,
            dry_run=request.dry_run,
            ca_store=request.ca_store,
            keep=request.keep,
            before_write=compose.prepare if request.compose else None,
            early_keys=early,
            unlock=unlock,
        )
        if request.compose and not compose.prepared:
            # Nothing renewed, but the services must still see the set: files regenerated some other
            # way (Notary's script) stay baked into the images until an override mounts them.
            # A dry run predicts a compose failure the same way.
            compose.prepare()
        if compose.prepared and not request.dry_run:
            compose.finish(result)
        if deploy is not None:
            # Before the deploy and post hooks: they see the services as they now run.
            deploy.finish(result, compose.outcomes or compose.prepared)
        return result

    hooks = HookSet(pre=request.pre_hook, post=request.post_hook, deploy=request.deploy_hook)
    # The layout is checked before the lock, which creates NOTARY_DIR/.certkit: a wrong
    # folder must be left exactly as it was.  A dry run writes nothing, so takes no lock.
    require_layout(notary_dir, profile)
    store = ca_store_path(notary_dir, profile, request.ca_store)
    # The state folder is input: refuse a planted or loosened one before the lock writes its note there.
    verify_state(notary_dir / STATE_FOLDER, store)
    # The checkout and the CA store are opened once, here: the lock, the renewal, the compose override
    # and certkit's records are all written through these handles (certkit.store.handles).
    with pinned([notary_dir, store]):
        if request.dry_run:
            hooked = run_with_hooks(
                hooks, notary_dir, attempt, dry_run=True, base_env=request.environ, timeout=request.hook_timeout
            )
        else:
            with renewal_lock(notary_dir, wait=request.wait, timeout=request.wait_timeout):
                hooked = run_with_hooks(
                    hooks, notary_dir, attempt, base_env=request.environ, timeout=request.hook_timeout
                )
        run = RenewRun(
            result=hooked.result,
            compose=compose.outcomes,
            hooks=hooked.hooks,
            problems=hooked.problems,
            exit_code=hooked.exit_code,
        )
        if hooked.result is not None:
            from certkit.deploy.database import step_after_renew

            # postgres keeps its own copy of the database set: what it needs when that changed.
            run.database = step_after_renew(notary_dir, hooked.result.touched)
        if hooked.error is not None:
            run.errors.append(hooked.error)
        if compose.error is not None:
            run.errors.append(compose.error)
        if deploy is not None:
            run.deploy = deploy.run
            if deploy.run.error is not None:  # also a dry run's: the engine could not show the plan
                run.errors.append(deploy.run.error)
        result = hooked.result
        if result is None or request.dry_run:
            return run
        if deploy is None:
            from certkit.store.owed import read as read_owed

            run.owed = read_owed(notary_dir)  # one lstat when nothing is owed
        if hooked.error is None:
            _remember(
                request,
                profile,
                result,
                compose_ok=request.compose and compose.error is None,
                deployed=_deployed(request, deploy, result, compose.outcomes),
            )
            if compose.memo is not None:
                compose.memo.save(notary_dir / STATE_FOLDER)  # verified above; written only when its entries changed
    # Outside the checkout's pin: the data folder given with --pgdata is written by path.
    if request.pgdata is not None and run.database is not None:
        _deploy_database(run, notary_dir, request.pgdata)
    return run


class _ComposeStep:
    """Renewed files reach compose containers only through mounts (certkit.compose.mounts): the step is
    worked out in memory before the renewal's first write, and written after it."""

    def __init__(self, request: RenewRequest, profile: Profile) -> None:
        self.request = request
        self.profile = profile
        self.prepared: list[ComposeOutcome] = []
        self.outcomes: list[ComposeOutcome] = []
        self.error: CertkitError | None = None
        self.memo: ParseCache | None = None  # parses and renders kept between runs (certkit.compose.cache)

    def prepare(self) -> None:
        # Before the first write: a compose file or Dockerfile certkit cannot handle stops the
        # run with nothing changed, instead of after the certificates were replaced.
        from certkit.compose.cache import ParseCache
        from certkit.compose.mounts import prepare_after_renew
        from certkit.store.layout import STATE_FOLDER

        request = self.request
        if self.memo is None:
            self.memo = ParseCache.load(request.notary_dir / STATE_FOLDER)
        self.prepared.extend(
            prepare_after_renew(
                request.notary_dir,
                self.profile,
                ca_store=request.ca_store,
                environ=dict(request.environ),
                container_dirs=dict(request.container_dirs),
                memo=self.memo,
            )
        )

    def finish(self, result: RenewResult) -> None:
        from certkit.compose.mounts import finish_after_renew
        from certkit.errors import CertkitError

        renewed = [f.path for f in result.files if f.action.changed]
        try:
            self.outcomes = finish_after_renew(
                self.request.notary_dir,
                self.prepared,
                renewed=renewed,
                container_dirs=dict(self.request.container_dirs),
            )
        except CertkitError as exc:  # the renewal is done: shown, then this error with its own exit code
            self.error = type(exc)(
                f"the certificates were renewed, but writing the compose override failed: "
                f"{exc} (fix it, then run `certkit compose`)"
            )


def _deploy_database(run: RenewRun, notary_dir: Path, pgdata: Path) -> None:
    """--pgdata: the renewal is committed already; a failure here is reported with its own code."""
    from certkit.deploy.database import deploy_to_pgdata
    from certkit.errors import DatabaseError

    try:
        run.deployed = deploy_to_pgdata(notary_dir, pgdata)
    except DatabaseError as exc:
        run.errors.append(DatabaseError(f"the certificates were renewed, but {exc}"))


def _deploy_step(request: RenewRequest, profile: Profile) -> DeployStep | None:
    if not request.deploy:
        return None
    from certkit.workflows.deploy import DeployRequest, DeployStep

    return DeployStep(
        DeployRequest(
            request.notary_dir,
            request.now,
            request.environ,
            request.docker_host,
            request.engine_timeout,
            request.deploy_timeout,
            request.ca_store,
            request.container_dirs,
        ),
        profile,
    )


def _deployed(
    request: RenewRequest, deploy: DeployStep | None, result: RenewResult, outcomes: list[ComposeOutcome]
) -> bool:
    """For the cron record: do the containers run this set?  With --deploy, what the deploy found;
    without, unchanged since the last run if this one wrote nothing, else not (nobody recreated them)."""
    if deploy is not None:
        return deploy.run.done
    if result.changed or any(o.written for o in outcomes):
        return False
    from certkit.workflows.deploy import last_run_deployed

    return last_run_deployed(request.notary_dir)


def _remember(
    request: RenewRequest, profile: Profile, result: RenewResult, *, compose_ok: bool, deployed: bool
) -> None:
    """The record certkit.store.fastpath answers the next cron run from."""
    from certkit.pki.renew import remember_nothing_due
    from certkit.store.fastpath import profile_id

    source = request.profile_source
    remember_nothing_due(
        request.notary_dir,
        profile,
        result,
        profile_id(source),
        None if source in (None, *defaults.BUILTIN_PROFILES) else Path(str(source)),
        compose=compose_ok,
        deployed=deployed,
    )
