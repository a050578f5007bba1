"""`certkit renew` and `certkit init`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from certkit.cli import options
from certkit.durations import Duration
from certkit.profile import load_profile

if TYPE_CHECKING:
    from certkit.compose import ComposeOutcome
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
@options.profile_option
@options.dry_run_option
@options.json_option
def renew_command(notary_dir: Path, within: Duration, force: bool, rotate_keys: bool, ca_store: Path | None,
                  no_compose: bool, profile_source: str | None, dry_run: bool, as_json: bool) -> None:
    """Renew the Notary certificate set in NOTARY_DIR (default: current folder).

    Renews what is missing, invalid, or expiring within --within, and leaves the rest
    byte-for-byte untouched. Leaf keys are reused; CA keys are kept in the CA store so
    renewals keep the root clients trust. A CA that is re-made re-issues all below it.
    """
    from certkit.renew import renew

    profile = load_profile(profile_source)
    result = renew(notary_dir, profile, options.utc_now(), within,
                   force=force, rotate_keys=rotate_keys, dry_run=dry_run, ca_store=ca_store)
    if dry_run or no_compose or not result.changed:
        _show(result, as_json)
        return
    compose, error = _compose_step(notary_dir, profile, result, ca_store)
    _show(result, as_json, compose)
    if error is not None:
        raise error


def _compose_step(notary_dir: Path, profile: Profile, result: RenewResult,
                  ca_store: Path | None) -> tuple[ComposeOutcome | None, Exception | None]:
    """Renewed files reach compose containers only through mounts: see certkit.compose."""
    import os

    from certkit.compose import apply_after_renew
    from certkit.errors import CertkitError

    renewed = [f.path for f in result.files if f.action in ("created", "renewed", "updated")]
    try:
        return apply_after_renew(notary_dir, profile, renewed=renewed, ca_store=ca_store,
                                 environ=dict(os.environ)), None
    except CertkitError as exc:  # the renewal is done: show it, then this error with its own exit code
        return None, type(exc)(f"the certificates were renewed, but the compose step failed: {exc} "
                               "(fix it, then run `certkit compose`)")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for CA private keys. Default: DIRECTORY/.certkit/ca.")
@options.profile_option
@options.json_option
def init_command(directory: Path, ca_store: Path | None, profile_source: str | None, as_json: bool) -> None:
    """Create a complete, fresh Notary certificate set (all keys new) in DIRECTORY.

    DIRECTORY must be empty or not exist yet. Also writes notary-server, notary-signer
    and notary client configs (memory storage) so the set runs as it is.
    """
    from certkit.scaffold import init_layout

    result = init_layout(directory, load_profile(profile_source), options.utc_now(), ca_store=ca_store)
    _show(result, as_json)


def _show(result: RenewResult, as_json: bool, compose: ComposeOutcome | None = None) -> None:
    from certkit.cli.output import renew_json, renew_table

    if as_json:
        data: dict[str, Any] = renew_json(result)
        if compose is not None:
            from certkit.cli.compose_cmd import outcome_json

            data["compose"] = outcome_json(compose)
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(renew_table(result))
    if compose is not None:
        from certkit.cli.compose_cmd import renew_compose_text

        click.echo(renew_compose_text(compose))

