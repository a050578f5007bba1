"""`certkit renew` past the fast path, inside the checkout certkit.workflows.renew opened and checked.

Under the renewal lock, with the hooks around it: plan the renewal, prepare it (keys made, the set
issued and validated in memory), prepare the compose step, commit, write the compose step, deploy;
then the database step and the record the next cron run answers from.  A dry run takes no lock and
stops before the writes: it plans, predicts the compose step, and previews.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from certkit import defaults
from certkit.deploy.database import deploy_to_pgdata, step_after_renew
from certkit.errors import CertkitError, DatabaseError
from certkit.pki import renew as renewal
from certkit.pki.keys import KeyMaker
from certkit.pki.renew import RenewResult
from certkit.pki.unlock import Unlock
from certkit.store import fastpath, owed
from certkit.store.checkout import Checkout
from certkit.store.lock import renewal_lock
from certkit.workflows.hooks import HookSet, run_with_hooks
from certkit.workflows.renew_model import RenewRequest, RenewRun

if TYPE_CHECKING:
    from certkit.compose.cache import ParseCache
    from certkit.compose.model import ComposeOutcome, ComposeRun, PreparedCompose
    from certkit.workflows.deploy import DeployRequest, DeployStep


def run(request: RenewRequest, checkout: Checkout, maker: KeyMaker, unlock: Unlock) -> RenewRun:
    """Renew ``checkout`` as ``request`` asks; ``maker`` makes the keys (and may have started some)."""
    compose = _ComposeStep(request, checkout) if request.compose else None
    deploy = _deploy_step(request, checkout)

    def attempt() -> RenewResult:
        now = request.clock() if request.clock is not None else request.now
        notices = renewal.pending(checkout) if request.dry_run else renewal.recover(checkout)
        planned = renewal.plan_renewal(
            checkout,
            now,
            request.within,
            force=request.force,
            rotate_keys=request.rotate_keys,
            unlock=unlock,
            notices=notices,
        )
        prepared = None if request.dry_run else renewal.prepare(planned, maker=maker, keep=request.keep)
        if compose is not None:
            # Before the first write: a compose file or Dockerfile certkit cannot handle stops the run with
            # nothing changed, instead of after the certificates were replaced (a dry run predicts it so).
            # Also when nothing is renewed: files regenerated some other way (Notary's script) stay baked
            # into the images until an override mounts them.
            compose.prepare()
        if prepared is None:
            result = renewal.preview(planned)
        else:
            result = renewal.commit(prepared)
            if compose is not None:
                compose.finish(result)
        if deploy is not None:
            # Before the deploy and post hooks: they see the services as they now run.
            deploy.finish(result, compose.written_or_prepared() if compose is not None else [])
        return result

    hooks = HookSet(pre=request.pre_hook, post=request.post_hook, deploy=request.deploy_hook)
    root = checkout.root
    if request.dry_run:  # writes nothing, so takes no lock
        hooked = run_with_hooks(
            hooks, root, attempt, dry_run=True, base_env=request.environ, timeout=request.hook_timeout
        )
    else:
        with renewal_lock(root, wait=request.wait, timeout=request.wait_timeout):
            hooked = run_with_hooks(hooks, root, attempt, base_env=request.environ, timeout=request.hook_timeout)
    renew_run = RenewRun(
        result=hooked.result,
        compose=compose.outcomes_or_preview(request.dry_run) if compose is not None else [],
        hooks=hooked.hooks,
        problems=hooked.problems,
        exit_code=hooked.exit_code,
    )
    result = hooked.result
    if result is not None:
        # postgres keeps its own copy of the database set: what it needs when that changed.
        renew_run.database = step_after_renew(root, result.touched)
    if hooked.error is not None:
        renew_run.errors.append(hooked.error)
    if compose is not None and compose.error is not None:
        renew_run.errors.append(compose.error)
    if deploy is not None:
        renew_run.deploy = deploy.run
        if deploy.run.error is not None:  # also a dry run's: the engine could not show the plan
            renew_run.errors.append(deploy.run.error)
    if result is None or request.dry_run:
        return renew_run
    if deploy is None:
        renew_run.owed = owed.read(root)  # one lstat when nothing is owed
    if hooked.error is None:
        compose_ok = compose is not None and compose.error is None
        _remember(request, checkout, result, compose_ok=compose_ok, deployed=_deployed(root, deploy, result, compose))
        if compose is not None and compose.memo is not None:
            compose.memo.save(checkout.state_dir)  # verified when opened; written only when its entries changed
    return renew_run


def deploy_database(run: RenewRun, root: Path, pgdata: Path) -> None:
    """--pgdata: the renewal is committed already; a failure here is reported with its own code."""
    try:
        run.deployed = deploy_to_pgdata(root, pgdata)
    except DatabaseError as exc:
        run.errors.append(DatabaseError(f"the certificates were renewed, but {exc}"))


def look_at_running(run: RenewRun, request: RenewRequest, checkout: Checkout) -> None:
    """Without --deploy, after a real renewal that wrote something: what runs from the checkout, asked of the
    engine read-only (certkit.workflows.deploy.look_at_running), so the output names the action for the project
    in use.  An engine named with --docker-host that cannot be used is an error; any other failure a note."""
    result = run.result
    if request.deploy or not request.engine or request.dry_run or result is None:
        return
    if not (result.changed or any(o.written for o in run.compose)):
        return
    from certkit.workflows.deploy import look_at_running as look

    run.running = look(_deploy_request(request, checkout), checkout.profile, result, run.compose)
    if run.running.error is not None:
        run.errors.append(type(run.running.error)(f"renew is done, but {run.running.error}"))


class _ComposeStep:
    """Renewed files reach compose containers only through mounts (certkit.compose.apply): the step is
    worked out in memory before the renewal's first write, and written after it.

    certkit.compose is imported only when the step runs: a `renew --no-compose` never pays for it.
    """

    def __init__(self, request: RenewRequest, checkout: Checkout) -> None:
        self.request = request
        self.checkout = checkout
        self.prepared: list[PreparedCompose] = []
        self.outcomes: list[ComposeOutcome] = []
        self.error: CertkitError | None = None
        self.memo: ParseCache | None = None  # parses and renders kept between runs (certkit.compose.cache)

    def prepare(self) -> None:
        from certkit.compose.apply import prepare_after_renew
        from certkit.compose.cache import ParseCache

        checkout, request = self.checkout, self.request
        self.memo = ParseCache.load(checkout.state_dir)
        self.prepared = prepare_after_renew(
            checkout.root,
            checkout.profile,
            ca_store=checkout.ca_store,
            environ=dict(request.environ),
            container_dirs=dict(request.container_dirs),
            memo=self.memo,
        )

    def finish(self, result: RenewResult) -> None:
        if not self.prepared:
            return
        from certkit.compose.apply import finish_after_renew

        renewed = [f.path for f in result.files if f.action.changed]
        try:
            self.outcomes = finish_after_renew(
                self.checkout.root,
                self.prepared,
                renewed=renewed,
                container_dirs=dict(self.request.container_dirs),
            )
        except CertkitError as exc:  # the renewal is done: shown, then this error with its own exit code
            self.error = type(exc)(
                f"the certificates were renewed, but writing the compose override failed: "
                f"{exc} (fix it, then run `certkit compose`)"
            )

    def outcomes_or_preview(self, dry_run: bool) -> list[ComposeOutcome]:
        """What the step wrote; in a dry run what it would write (so a dry run's report names the
        project in use as the real run's does)."""
        return [p.outcome(dry_run=True) for p in self.prepared] if dry_run else self.outcomes

    def written_or_prepared(self) -> Sequence[ComposeRun]:
        """What the deploy step recreates from: the written step, or in a dry run the prepared one."""
        return self.outcomes or self.prepared


def _deploy_step(request: RenewRequest, checkout: Checkout) -> DeployStep | None:
    if not request.deploy:
        return None
    # Imported only for --deploy: the engine's client and the deploy machinery.
    from certkit.workflows.deploy import DeployStep

    return DeployStep(_deploy_request(request, checkout), checkout.profile)


def _deploy_request(request: RenewRequest, checkout: Checkout) -> DeployRequest:
    from certkit.workflows.deploy import DeployRequest

    return DeployRequest(
        checkout.root,
        request.now,
        request.environ,
        request.docker_host,
        request.engine_timeout,
        request.deploy_timeout,
        checkout.ca_store,
        request.container_dirs,
    )


def _deployed(root: Path, deploy: DeployStep | None, result: RenewResult, compose: _ComposeStep | None) -> bool:
    """For the cron record: do the containers run this set?  With --deploy, what the deploy found;
    without, unchanged since the last run if this one wrote nothing, else not (nobody recreated them)."""
    if deploy is not None:
        return deploy.run.done
    if result.changed or (compose is not None and any(o.written for o in compose.outcomes)):
        return False
    return fastpath.last_run_deployed(root)


def _remember(
    request: RenewRequest, checkout: Checkout, result: RenewResult, *, compose_ok: bool, deployed: bool
) -> None:
    """The record certkit.store.fastpath answers the next cron run from."""
    source = request.profile_source
    renewal.remember_nothing_due(
        checkout,
        result,
        fastpath.profile_id(source),
        None if source in (None, *defaults.BUILTIN_PROFILES) else Path(str(source)),
        compose=compose_ok,
        deployed=deployed,
    )
