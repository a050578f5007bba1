"""`certkit renew` and `certkit init`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certkit.cli import options
from certkit.durations import Duration
from certkit.profile import load_profile

if TYPE_CHECKING:
    from certkit.renew import RenewResult


@click.command("renew")
@options.notary_dir_argument
@click.option("--within", type=options.DURATION, default="30d", show_default=True,
              help="Renew what expires within this window (30d, 2w, 6 months, 12h).")
@click.option("--force", is_flag=True, help="Re-issue every certificate of the profile.")
@click.option("--rotate-keys", is_flag=True, help="Make new leaf keys instead of reusing them (CA keys are kept).")
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for CA private keys. Default: NOTARY_DIR/.certkit/ca (kept out of images by .dockerignore).")
@options.profile_option
@options.dry_run_option
@options.json_option
def renew_command(notary_dir: Path, within: Duration, force: bool, rotate_keys: bool, ca_store: Path | None,
                  profile_source: str | None, dry_run: bool, as_json: bool) -> None:
    """Renew the Notary certificate set in NOTARY_DIR (default: current folder).

    Renews what is missing, invalid, or expiring within --within, and leaves the rest
    byte-for-byte untouched. Leaf keys are reused; CA keys are kept in the CA store so
    renewals keep the root clients trust. A CA that is re-made re-issues all below it.
    """
    from certkit.renew import renew

    result = renew(notary_dir, load_profile(profile_source), options.utc_now(), within,
                   force=force, rotate_keys=rotate_keys, dry_run=dry_run, ca_store=ca_store)
    _show(result, as_json)


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


def _show(result: RenewResult, as_json: bool) -> None:
    from certkit.cli.output import renew_json, renew_table

    if as_json:
        click.echo(json.dumps(renew_json(result), indent=2))
        return
    click.echo(renew_table(result))

