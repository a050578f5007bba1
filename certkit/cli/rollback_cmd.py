"""`certkit rollback`: make an earlier generation of the certificate set live again."""

from __future__ import annotations

import json
from pathlib import Path

import click

from certkit.cli import options, output


@click.command("rollback")
@options.notary_dir_argument
@click.option(
    "--to",
    "to",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Generation to make live (default: the one before the live one). 0 is the set certkit first found.",
)
@click.option("--list", "list_only", is_flag=True, help="List the kept generations and which one is live.")
@options.ca_store_option
@click.option("--wait", is_flag=True, help="If another certkit is renewing this folder, wait for it.")
@options.profile_option
@options.json_option
@options.quiet_option
def rollback_command(
    notary_dir: Path,
    to: int | None,
    list_only: bool,
    ca_store: Path | None,
    wait: bool,
    profile_source: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Switch NOTARY_DIR back to an earlier generation, all files at once.

    Every renewal keeps the complete set it made as a generation (renew --keep, default 3),
    and generation 0, the set certkit first found, is always kept. Services read TLS files
    at start: restart them afterwards.

    \b
    Examples:
      certkit rollback --list          # the kept generations: when, what changed, notAfter, which is live
      certkit rollback                 # back to the generation before the live one
      certkit rollback --to 0          # the set certkit first found
    """
    from certkit.profile import load_profile
    from certkit.render.rollback import generations_json, generations_text, rollback_json, rollback_text
    from certkit.workflows.rollback import list_generations, run_rollback

    profile = load_profile(profile_source)
    if list_only:
        kept = list_generations(notary_dir, profile, ca_store=ca_store)
        output.echo(json.dumps(generations_json(kept), indent=2) if as_json else generations_text(kept))
        return
    result = run_rollback(notary_dir, profile, to=to, ca_store=ca_store, wait=wait)
    output.echo(json.dumps(rollback_json(result), indent=2) if as_json else rollback_text(result, quiet=quiet))
