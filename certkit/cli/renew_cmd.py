"""`certkit renew` and `certkit init`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from certkit.cli import lifecycle_options, options
from certkit.durations import Duration

if TYPE_CHECKING:
    from datetime import datetime

    from certkit.hooks import HookResult

    from certkit.compose import ComposeOutcome
    from certkit.database import DeployResult
    from certkit.profile import Profile
    from certkit.renew import RenewResult


@click.command("renew")
@options.notary_dir_argument
@click.option("--within", type=options.DURATION, default="30d", show_default=True,
              help="Renew what expires within this window (30d, 2w, 6 months, 12h).")
@click.option("--force", is_flag=True, help="Re-issue every certificate of the profile.")
@click.option("--rotate-keys", is_flag=True, help="Make new leaf keys instead of reusing them (CA keys are kept).")
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for CA private keys. Default: NOTARY_DIR/.certkit/ca (kept out of images by .dockerignore).")
@click.option("--no-compose", is_flag=True,
              help="Skip the compose step (by default, in a folder with compose files, renew makes the "
                   "services mount the renewed folders read-only, as `certkit compose` does).")
@options.container_dir_option
@click.option("--pgdata", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="postgres's data folder, reachable from this host: when the database's TLS files were "
                   "renewed, copy them there as `certkit db-deploy` does (exit 20 if it cannot; the renewal is kept).")
@click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
              help="Generations to keep for `certkit rollback`.")
@lifecycle_options.hook_options
@lifecycle_options.wait_options
@options.profile_option
@options.dry_run_option
@options.json_option
@options.quiet_option
@click.pass_context
def renew_command(ctx: click.Context, notary_dir: Path, within: Duration, force: bool, rotate_keys: bool,
                  ca_store: Path | None, no_compose: bool, container_dirs: tuple[str, ...], pgdata: Path | None, keep: int, pre_hook: str | None, deploy_hook: str | None,
                  post_hook: str | None, hook_timeout: float | None, wait: bool, wait_timeout: float | None,
                  profile_source: str | None, dry_run: bool, as_json: bool, quiet: bool) -> None:
    """Renew the Notary certificate set in NOTARY_DIR (default: current folder).

    Renews what is missing, invalid, or expiring within --within, and leaves the rest
    byte-for-byte untouched. Leaf keys are reused; CA keys are kept in the CA store so
    renewals keep the root clients trust. A CA that is re-made re-issues all below it.

    A renewal is one transaction: killed at any moment, the set stays wholly old or is
    completed by the next run. One renewal per folder at a time (a lock); each keeps a
    generation for `certkit rollback`.

    Every check comes before the first write, so a refusal changes nothing. Folders and
    files another user could change are refused (exit 13, with one command that fixes
    them all); a group-writable clone made under umask 002 with your private group is
    fine. A replaced file keeps its owner and group.

    When the database set changes, postgres must get it in its data folder (its initdb
    scripts copied the old one there once): renew prints the exact lines, or copies it
    itself with --pgdata DIR when the data folder is reachable from here.

    \b
    Examples:
      certkit renew                         # in your Notary checkout
      certkit renew --dry-run               # what is due and why; writes nothing
      certkit renew --quiet /srv/notary     # cron: silent when nothing is due
      certkit renew --within "6 months" --json
      certkit renew --deploy-hook 'docker compose up -d --force-recreate server signer'
    """
    if not (force or rotate_keys or dry_run or as_json or pre_hook or deploy_hook or post_hook or container_dirs):
        # The cron case: decided from certkit's record of the last run, before anything heavy is imported.
        earliest = _nothing_due(notary_dir, profile_source, ca_store, within, compose=not no_compose)
        if earliest is not None:
            if not quiet:
                from certkit.text import utc_minute

                click.echo(f"nothing is due: the earliest certificate expires {utc_minute(earliest)}, "
                           f"beyond --within {within}; no file changed")
            return
    from certkit.hooks import HookSet, run_with_hooks
    from certkit.layout import STATE_FOLDER, ca_store_path, require_layout
    from certkit.state import verify as verify_state
    from certkit.lock import renewal_lock
    from certkit.profile import load_profile
    from certkit.renew import remember_nothing_due, renew


    profile = load_profile(profile_source)
    answers = options.parse_container_dirs(container_dirs)
    compose: list[list[ComposeOutcome]] = [[]]
    compose_error: list[Exception | None] = [None]

    def attempt() -> RenewResult:
        prepared: list[ComposeOutcome] = []

        def prepare_compose() -> None:
            # Before the first write: a compose file or Dockerfile certkit cannot handle stops the
            # run with nothing changed, instead of after the certificates were replaced.
            prepared.extend(_prepare_compose(notary_dir, profile, ca_store, answers))

        with_compose = not no_compose
        result = renew(notary_dir, profile, options.utc_now(), within, force=force, rotate_keys=rotate_keys,
                       dry_run=dry_run, ca_store=ca_store, keep=keep,
                       before_write=prepare_compose if with_compose else None)
        if with_compose and not prepared:
            # Nothing renewed, but the services must still see the set: files regenerated some other
            # way (Notary's script) stay baked into the images until an override mounts them.
            # A dry run predicts a compose failure the same way.
            prepare_compose()
        if prepared and not dry_run:
            compose[0], compose_error[0] = _finish_compose(notary_dir, prepared, result, answers)
        return result

    hooks = HookSet(pre=pre_hook, post=post_hook, deploy=deploy_hook)
    # The layout is checked before the lock, which creates NOTARY_DIR/.certkit: a wrong
    # folder must be left exactly as it was.  A dry run writes nothing, so takes no lock.
    require_layout(notary_dir, profile)
    # The state folder is input: refuse a planted or loosened one before the lock writes its note there.
    verify_state(notary_dir / STATE_FOLDER, ca_store_path(notary_dir, profile, ca_store))
    if dry_run:
        run = run_with_hooks(hooks, notary_dir, attempt, dry_run=True, timeout=hook_timeout)
    else:
        with renewal_lock(notary_dir, wait=wait, timeout=wait_timeout):
            run = run_with_hooks(hooks, notary_dir, attempt, timeout=hook_timeout)
    deployed: list[DeployResult] = []
    database_error: Exception | None = None
    if run.result is not None and pgdata is not None and run.result.database is not None and not dry_run:
        database_error = _deploy_database(notary_dir, pgdata, deployed)
    if run.result is not None and run.error is None and not dry_run:
        from certkit.fastpath import profile_id
        from certkit.profile import BUILTIN_PROFILES

        remember_nothing_due(notary_dir, profile, run.result, profile_id(profile_source, BUILTIN_PROFILES),
                             None if profile_source in (None, *BUILTIN_PROFILES) else Path(str(profile_source)),
                             compose=not no_compose and compose_error[0] is None)
    if run.result is not None:
        _show(run.result, as_json, compose[0], deployed, hooks=run.hooks, quiet=quiet)
    elif as_json:  # the pre hook failed: no renewal to show, but what the hook said
        click.echo(json.dumps({"changed": False, "hooks": [_hook_json(h) for h in run.hooks]}, indent=2))
    if not as_json:
        for hook in run.hooks:  # as certbot does: what a hook said is part of the run's record
            for line in hook_lines(hook):
                click.echo(line, err=True)
    for line in run.problems:
        click.echo(f"certkit: error: {line}", err=True)
    if run.error is not None:
        raise run.error
    if compose_error[0] is not None:
        raise compose_error[0]
    if database_error is not None:
        raise database_error
    ctx.exit(run.exit_code)


def _nothing_due(notary_dir: Path, profile_source: str | None, ca_store: Path | None,
                 within: Duration, *, compose: bool) -> datetime | None:
    import os

    from certkit.fastpath import nothing_due, profile_id

    builtin = ("notary",)  # certkit.profile.BUILTIN_PROFILES, without importing the profile loader
    store = Path(os.path.abspath(ca_store)) if ca_store is not None else None
    return nothing_due(Path(os.path.abspath(notary_dir)), profile_id(profile_source, builtin), store,
                       within.after(options.utc_now()), compose=compose)


def _deploy_database(notary_dir: Path, pgdata: Path, deployed: list[DeployResult]) -> Exception | None:
    """--pgdata: the renewal is committed already; a failure here is reported with its own code."""
    from certkit.database import deploy_to_pgdata
    from certkit.errors import DatabaseError

    try:
        deployed.append(deploy_to_pgdata(notary_dir, pgdata))
    except DatabaseError as exc:
        return DatabaseError(f"the certificates were renewed, but {exc}")
    return None


def _prepare_compose(notary_dir: Path, profile: Profile, ca_store: Path | None,
                     container_dirs: dict[str, str]) -> list[ComposeOutcome]:
    """Renewed files reach compose containers only through mounts: see certkit.compose."""
    import os

    from certkit.compose import prepare_after_renew

    return prepare_after_renew(notary_dir, profile, ca_store=ca_store, environ=dict(os.environ),
                               container_dirs=container_dirs)


def _finish_compose(notary_dir: Path, prepared: list[ComposeOutcome], result: RenewResult,
                    container_dirs: dict[str, str]) -> tuple[list[ComposeOutcome], Exception | None]:
    from certkit.compose import finish_after_renew
    from certkit.errors import CertkitError

    renewed = [f.path for f in result.files if f.action.changed]
    try:
        return finish_after_renew(notary_dir, prepared, renewed=renewed, container_dirs=container_dirs), None
    except CertkitError as exc:  # the renewal is done: show it, then this error with its own exit code
        return [], type(exc)(f"the certificates were renewed, but writing the compose override failed: {exc} "
                             "(fix it, then run `certkit compose`)")


@click.command("init")
@click.argument("notary_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for CA private keys. Default: NOTARY_DIR/.certkit/ca.")
@options.profile_option
@options.json_option
@options.quiet_option
def init_command(notary_dir: Path, ca_store: Path | None, profile_source: str | None, as_json: bool,
                 quiet: bool) -> None:
    """Create a complete, fresh Notary certificate set (all keys new) in NOTARY_DIR.

    NOTARY_DIR must be empty or not exist yet. Also writes notary-server, notary-signer
    and notary client configs (memory storage) so the set runs as it is.

    \b
    Examples:
      certkit init demo                     # then: certkit status demo
      certkit init /srv/notary --ca-store /root/notary-ca
    """
    from certkit.profile import load_profile
    from certkit.scaffold import init_layout

    result = init_layout(notary_dir, load_profile(profile_source), options.utc_now(), ca_store=ca_store)
    if not quiet or as_json:
        _show(result, as_json, database=False)  # a new set: no database holds the old one yet


def hook_lines(hook: HookResult) -> list[str]:
    """A hook's output, each line prefixed with its kind (``deploy-hook: ...``)."""
    prefix = f"{hook.stage}-hook:"
    from certkit.hooks import OUTPUT_TAIL

    lines = [f"{prefix} ... (earlier output cut; last {OUTPUT_TAIL} characters shown)"] if hook.truncated else []
    return lines + [f"{prefix} {line}".rstrip() for line in hook.output.splitlines()]


def _hook_json(hook: HookResult) -> dict[str, Any]:
    return {"stage": hook.stage, "command": hook.command, "exit_code": hook.exit_code,
            "timed_out": hook.timed_out, "output": hook.output, "output_truncated": hook.truncated}


def _show(result: RenewResult, as_json: bool, compose: list[ComposeOutcome] | None = None,
          deployed: list[DeployResult] | None = None, *, database: bool = True,
          hooks: list[HookResult] | None = None, quiet: bool = False) -> None:
    from certkit.cli.output import database_text, deploy_text, renew_json, renew_table

    if as_json:
        data: dict[str, Any] = renew_json(result)
        if not database:
            data["database"] = None
        if compose:
            from certkit.cli.compose_cmd import outcome_json

            data["compose"] = [outcome_json(outcome) for outcome in compose]
        if deployed:
            data["database_deployed"] = {"pgdata": str(deployed[0].pgdata), "reload": deployed[0].reload}
        if hooks is not None:
            data["hooks"] = [_hook_json(h) for h in hooks]
        click.echo(json.dumps(data, indent=2))
        return
    if quiet:
        # Errors and warnings only: nothing when nothing happened; else what changed, the notes and
        # the lines to run, without the table.
        if not result.changed and not any(o.written for o in compose or []):
            return
        from certkit.cli.output import renew_summary

        click.echo(renew_summary(result))
    else:
        click.echo(renew_table(result))
    if database and result.database is not None:
        if deployed:
            click.echo("\n" + click.style("database: ", bold=True) + deploy_text(deployed[0]))
        else:
            click.echo(database_text(result.database, result.dry_run))
    # With nothing renewed and no override written, the compose step has nothing to say (cron).
    shown = compose if result.changed else [o for o in (compose or []) if o.written]
    if shown:
        from certkit.cli.compose_cmd import renew_compose_text

        click.echo(renew_compose_text(shown))

