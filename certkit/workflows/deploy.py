"""`renew --deploy`'s step in the workflow: connect, plan, recreate, verify; or record the deploy owed.

Run by certkit.workflows.renew inside the renewal (after the compose step wrote the overrides and
before the deploy and post hooks run, while the lock is held), so a hook sees the services as
they now run.  A deploy that cannot be done or verified never undoes the renewal: the error is
kept for the report (exit 21 EngineError or 22 DeployError) and ``.certkit/deploy-owed``
(certkit.store.owed) makes the next run retry it and check-expiry and status report it.

The engine is asked only when there is something to deploy: this run changed files or
overrides, an earlier deploy is owed, or the last run renewed without deploying.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from certkit import defaults
from certkit.errors import CertkitError, DeployError, EngineError
from certkit.store import fastpath, owed

if TYPE_CHECKING:
    from certkit.compose.model import ComposeRun
    from certkit.deploy.deploy_model import DeployPlan, DeployResult
    from certkit.pki.renew import RenewResult
    from certkit.profile import Profile


@dataclass(frozen=True)
class DeployRequest:
    """What the deploy step needs of `renew --deploy`'s request (certkit.workflows.renew.RenewRequest)."""

    notary_dir: Path
    now: datetime
    environ: Mapping[str, str]
    docker_host: str | None = None
    engine_timeout: float = defaults.ENGINE_TIMEOUT
    deploy_timeout: float = defaults.DEPLOY_TIMEOUT
    ca_store: Path | None = None
    container_dirs: Mapping[str, str] = field(default_factory=dict)


@dataclass
class DeployRun:
    """What the deploy step did: a plan (also in a dry run), a result, or the error and the owed record."""

    asked: bool = False  # the engine was asked (something was to deploy)
    plan: DeployPlan | None = None
    result: DeployResult | None = None
    error: CertkitError | None = None
    owed: owed.OwedDeploy | None = None  # the record left standing (None: nothing is owed)
    cleared: bool = False  # an earlier owed deploy is now done
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """The containers run what is on disk, as far as the deploy could tell (for the cron record)."""
        return self.error is None


class DeployStep:
    """The deploy step of one `renew --deploy` run."""

    def __init__(self, request: DeployRequest, profile: Profile) -> None:
        self.request = request
        self.profile = profile
        self.run = DeployRun()
        self.owed_before: owed.OwedDeploy | None = None

    def finish(self, result: RenewResult, compose: Sequence[ComposeRun]) -> None:
        """Deploy what ``result`` changed (or plan it, in a dry run); never raises a CertkitError."""
        from certkit.deploy.database import step_after_renew

        request = self.request
        root = request.notary_dir
        # Read here, under the renewal lock (a dry run takes none, and writes nothing).
        self.owed_before = owed.read(root)
        changed = [root / path for path in result.touched]  # written, or in a dry run to be written
        database = step_after_renew(root, result.touched) is not None or (
            self.owed_before is not None and self.owed_before.database
        )
        wanted = (
            bool(changed)
            or any(o.changed for o in compose)
            or self.owed_before is not None
            or not fastpath.last_run_deployed(root)
        )
        if not wanted:
            return  # nothing changed since a run that deployed: the engine is not asked (the cron no-op)
        self.run.asked = True
        try:
            self._deploy(changed, database, dry_run=result.dry_run)
        except (EngineError, DeployError) as exc:
            self.run.error = exc
            if not result.dry_run:
                self._owe(exc, result, compose, database)

    def _deploy(self, changed: list[Path], database: bool, *, dry_run: bool) -> None:
        from certkit.compose.model import Options
        from certkit.deploy.compose_cli import find_compose
        from certkit.deploy.engine_deploy import plan_deploy, run_deploy
        from certkit.engine import connect

        request = self.request
        root = request.notary_dir
        options = Options(self.profile, request.ca_store, dict(request.container_dirs), dict(request.environ))
        with connect(request.docker_host, request.environ, timeout=request.engine_timeout) as engine:
            plan = plan_deploy(engine, root, options, changed=changed, database_changed=database)
            self.run.plan = plan
            if dry_run or plan.empty:
                if not dry_run:
                    self.run.cleared = owed.clear(root)
                return
            cli = find_compose(request.environ, engine.host, cwd=root)
            self.run.result = run_deploy(engine, plan, cli, root, timeout=request.deploy_timeout)
        self.run.cleared = owed.clear(root)

    def _owe(self, exc: CertkitError, result: RenewResult, compose: Sequence[ComposeRun], database: bool) -> None:
        """Record the deploy owed and turn the error into the one line the user reads."""
        request = self.request
        root = request.notary_dir
        before = self.owed_before
        plan = self.run.plan
        by_hand = plan.by_hand() if plan is not None and not plan.empty else []
        if not by_hand and compose:
            by_hand = [f"cd {_quote(root)} && {compose[0].command}"]  # the compose step's line for the default project
        if not by_hand and before is not None:
            by_hand = list(before.by_hand)
        projects = (
            tuple(
                owed.OwedProject(
                    p.project, str(p.working_dir), tuple(map(str, p.files)), tuple(s.service for s in p.recreate)
                )
                for p in plan.projects
                if p.recreate or p.database
            )
            if plan is not None
            else (before.projects if before is not None else ())
        )
        since: datetime = before.since if before is not None and before.since is not None else request.now
        record = owed.OwedDeploy(
            since,
            str(exc),
            exc.exit_code,
            (before.attempts + 1) if before is not None else 1,
            tuple(by_hand),
            projects,
            database,
        )
        try:
            owed.write(root, record)
        except (CertkitError, OSError) as write_error:
            self.run.notes.append(f"could not record the owed deploy in {owed.path_of(root)}: {write_error}")
        self.run.owed = record
        if result.changed:
            what = "the certificates were renewed, but"
        elif before is not None:
            what = "the deploy owed since an earlier run failed again:"
        else:  # the last run renewed without --deploy: this is the first attempt, not a retry
            what = "an earlier renewal (made without --deploy) is not deployed yet, and deploying it failed:"
        hand = f" (or by hand: {'; '.join(by_hand)})" if by_hand else ""
        self.run.error = type(exc)(
            f"{what} {exc}; a deploy is owed: run `certkit renew --deploy {_quote(root)}` once that is fixed{hand}"
        )


@dataclass(frozen=True)
class RunningLook:
    """Without --deploy: which of the checkout's compose projects run, asked of the engine read-only, so
    that renew names the action for the project in use (certkit.render.renew).  ``plan`` is what
    `renew --deploy` would do now; None when no engine answered (``note`` says why)."""

    host: str
    plan: DeployPlan | None = None
    note: str = ""
    error: CertkitError | None = None  # an engine named with --docker-host that cannot be used

    @property
    def database_in_use(self) -> bool:
        """A postgres of a project that runs (or waits, stopped) holds the database set."""
        return self.plan is not None and (any(p.database for p in self.plan.projects) or self.plan.database_waits)


def look_at_running(
    request: DeployRequest, profile: Profile, result: RenewResult, compose: Sequence[ComposeRun]
) -> RunningLook:
    """What runs from the checkout, for a renewal that will not deploy: the engine is only read, and
    one that is absent, refuses or fails is a note, never an error (the renewal is done)."""
    from certkit.compose.model import Options
    from certkit.deploy.database import step_after_renew
    from certkit.deploy.engine_deploy import plan_deploy
    from certkit.engine import connect, engine_host, probe

    root = request.notary_dir
    host = engine_host(request.docker_host, request.environ)
    try:
        engine = (
            connect(request.docker_host, request.environ, timeout=request.engine_timeout)
            if request.docker_host is not None
            else probe(None, request.environ, timeout=request.engine_timeout)
        )
    except EngineError as exc:
        named = request.docker_host is not None  # named on the command line: an error, as everywhere
        return RunningLook(host, note=f"what runs was not asked: {exc}", error=exc if named else None)
    if engine is None:
        return RunningLook(host, note=f"no Docker engine at {host}")
    options = Options(profile, request.ca_store, dict(request.container_dirs), dict(request.environ))
    with engine:
        try:
            plan = plan_deploy(
                engine,
                root,
                options,
                changed=[root / path for path in result.touched],
                database_changed=step_after_renew(root, result.touched) is not None,
            )
        except (EngineError, DeployError) as exc:
            return RunningLook(host, note=f"what runs was not worked out: {exc}")
    return RunningLook(host, plan)


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(os.path.abspath(path))
