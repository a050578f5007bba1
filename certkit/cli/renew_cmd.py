"""`certkit renew` and `certkit init`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from certkit import defaults
from certkit.cli import lifecycle_options, options, output
from certkit.durations import Duration


@click.command("renew")
@options.notary_dir_argument
@click.option(
    "--within",
    type=options.DURATION,
    default="30d",
    show_default=True,
    help=options.duration_help("Renew what expires within this window."),
)
@click.option("--force", is_flag=True, help="Re-issue every certificate of the profile.")
@click.option("--rotate-keys", is_flag=True, help="Make new leaf keys instead of reusing them (CA keys are kept).")
@options.ca_store_option
@options.ca_passphrase_file_option
@options.ca_root_key_option
@options.ca_pkcs11_option
@click.option(
    "--no-compose",
    is_flag=True,
    help="Skip the compose step (by default, in a folder with compose files, renew makes the "
    "services mount the renewed folders read-only, as `certkit compose` does).",
)
@options.container_dir_option
@click.option(
    "--pgdata",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="postgres's data folder, reachable from this host: when the database's TLS files were "
    "renewed, copy them there as `certkit db-deploy` does (exit 20 if it cannot; the renewal is kept).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=defaults.KEEP,
    show_default=True,
    help="Generations to keep for `certkit rollback`.",
)
@lifecycle_options.deploy_options
@click.option(
    "--no-engine",
    is_flag=True,
    help="Without --deploy: do not ask the Docker engine which of the checkout's compose projects run (by "
    "default renew reads it, never changes it, to print the line for the project in use; no engine there "
    "is a note). The default project's line is printed instead.",
)
@lifecycle_options.hook_options
@lifecycle_options.wait_options
@options.profile_option
@options.dry_run_option
@options.json_option
@options.quiet_option
@options.verbose_option
@click.pass_context
def renew_command(
    ctx: click.Context,
    notary_dir: Path,
    within: Duration,
    force: bool,
    rotate_keys: bool,
    ca_store: Path | None,
    ca_passphrase_file: Path | None,
    ca_root_key: Path | None,
    ca_pkcs11: str | None,
    no_compose: bool,
    container_dirs: tuple[str, ...],
    pgdata: Path | None,
    keep: int,
    deploy: bool,
    docker_host: str | None,
    engine_timeout: float,
    deploy_timeout: float,
    no_engine: bool,
    pre_hook: str | None,
    deploy_hook: str | None,
    post_hook: str | None,
    hook_timeout: float | None,
    wait: bool,
    wait_timeout: float | None,
    profile_source: str | None,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Renew the Notary certificate set in NOTARY_DIR (default: current folder).

    Renews what is missing, invalid, or expiring within --within, and leaves the rest
    byte-for-byte untouched. Leaf keys are reused; CA keys are kept in the CA store so
    renewals keep the root clients trust. A CA that is re-made re-issues all below it.

    A renewal is one transaction: killed at any moment, the set stays wholly old or is
    completed by the next run. One renewal per folder at a time (a lock); each keeps a
    generation for `certkit rollback`.

    Every check comes before the first write, so a refusal changes nothing. Folders and
    files another user could change, by their mode or an ACL, from / down to each file,
    are refused (exit 13, with one command that fixes them all); a group-writable clone
    made under umask 002 with your private group is fine. Writes go through the folders
    opened at the start, so a folder swapped mid-run cannot redirect them. A replaced
    file keeps its owner and group; a file with other hard links is never changed in place.

    CA keys can be encrypted (`certkit ca-keys convert`), the root kept offline (`certkit
    ca-keys export-root`; a renewal that needs it says so, exit 24, and takes --ca-root-key),
    or made in a PKCS#11 token (--ca-pkcs11). A run with nothing to sign asks for nothing.

    When the database set changes, postgres must get it in its data folder (its initdb
    scripts copied the old one there once): renew prints the exact lines, or copies it
    itself with --pgdata DIR when the data folder is reachable from here.

    Notary reads its TLS files only at start. Without --deploy renew changes nothing in
    the Docker engine (recreating a service interrupts it, and you choose the moment): it
    prints first, on stderr, the line that recreates the services of the project in use
    (the one the engine shows running from this checkout, read only; else the default
    project). --deploy does it: the compose projects running from this checkout (found
    through the engine by their labels) are recreated with the files they were started
    with, and verified (exit 21/22 if that cannot be done; the renewal is kept, and the
    next `renew --deploy` retries). `certkit schedule` jobs run with --deploy.

    The report lists the files that changed (--verbose: every file, every note, the line
    for each compose file); the database step only when a postgres project is in use.
    --quiet prints nothing on stdout; on stderr only what a person must do or know.

    \b
    Examples:
      certkit renew                         # in your Notary checkout
      certkit renew --dry-run               # what is due and why; writes nothing
      certkit renew --deploy                # and recreate the running services, verified
      certkit renew --dry-run --deploy      # what the deploy would recreate (asks the engine)
      certkit renew --quiet --deploy /srv/notary   # cron: silent when all went well
      certkit renew --within 6mo --json
    """
    from certkit.workflows.renew import RenewRequest, run_renew

    request = RenewRequest(
        notary_dir,
        options.utc_now(),
        within,
        profile_source=profile_source,
        force=force,
        rotate_keys=rotate_keys,
        ca_store=ca_store,
        compose=not no_compose,
        container_dirs=options.parse_container_dirs(container_dirs),
        pgdata=pgdata,
        keep=keep,
        pre_hook=pre_hook,
        deploy_hook=deploy_hook,
        post_hook=post_hook,
        hook_timeout=hook_timeout,
        wait=wait,
        wait_timeout=wait_timeout,
        dry_run=dry_run,
        fast_path=not as_json,
        clock=options.utc_now,
        deploy=deploy,
        engine=not no_engine,
        docker_host=docker_host,
        engine_timeout=engine_timeout,
        deploy_timeout=deploy_timeout,
        ca_passphrase_file=ca_passphrase_file,
        ca_root_key=ca_root_key,
        ca_pkcs11=ca_pkcs11,
        prompt=options.terminal_prompt(),
    )
    if docker_host is not None and no_engine:
        from certkit.errors import UsageError

        raise UsageError("--docker-host names the engine to ask, --no-engine says not to ask one: choose one")
    if deploy and no_engine:
        from certkit.errors import UsageError

        raise UsageError("--deploy recreates the services through the Docker engine: it cannot go with --no-engine")
    run = run_renew(request)
    if run.nothing_due_until is not None:
        if not quiet:
            from certkit.render.renew import nothing_due_text

            output.echo(nothing_due_text(run, within))
        return
    from certkit.render.renew import attention_lines, hook_lines, run_json, run_text

    if as_json:
        output.echo(json.dumps(run_json(run), indent=2))
    else:
        for line in attention_lines(run, quiet=quiet):  # first: what is still to do (cron mails stderr)
            output.echo(line, err=True)
        text = run_text(run, quiet=quiet, verbose=verbose)
        if text is not None:
            output.echo(text)
        for hook in run.hooks:  # as certbot does: what a hook said is part of the run's record
            for line in hook_lines(hook):
                output.echo(line, err=True)
    for line in run.problems:
        output.error(line)
    run.raise_for_errors()
    ctx.exit(run.exit_code)


@click.command("init")
@click.argument("notary_dir", type=click.Path(file_okay=False, path_type=Path))
@options.ca_store_option
@options.ca_passphrase_file_option
@options.ca_pkcs11_option
@options.profile_option
@options.json_option
@options.quiet_option
@options.verbose_option
def init_command(
    notary_dir: Path,
    ca_store: Path | None,
    ca_passphrase_file: Path | None,
    ca_pkcs11: str | None,
    profile_source: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Create a complete, fresh Notary certificate set (all keys new) in NOTARY_DIR.

    NOTARY_DIR must be empty or not exist yet. Also writes notary-server, notary-signer
    and notary client configs (memory storage) so the set runs as it is. Prints what was
    made in a few lines (--verbose: every file).

    \b
    Examples:
      certkit init demo                     # then: certkit status demo
      certkit init /srv/notary --ca-store /root/notary-ca
      certkit init demo --ca-passphrase-file /root/ca-pass    # CA keys encrypted
      certkit init demo --ca-pkcs11 'pkcs11:token=certkit'     # CA keys in a token
    """
    from certkit.pki.unlock import Unlock
    from certkit.profile import load_profile
    from certkit.render.renew import init_json, init_text
    from certkit.workflows.init import init_layout
    from certkit.workflows.renew import credentials_dir

    unlock = Unlock(
        passphrase_file=ca_passphrase_file,
        credentials_dir=credentials_dir(os.environ),
        prompt=options.terminal_prompt(),
        pkcs11_uri=ca_pkcs11,
    )
    result = init_layout(notary_dir, load_profile(profile_source), options.utc_now(), ca_store=ca_store, unlock=unlock)
    if as_json:
        output.echo(json.dumps(init_json(result), indent=2))
    elif not quiet:
        output.echo(init_text(result, verbose=verbose))
