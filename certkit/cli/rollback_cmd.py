"""`certkit rollback`: make an earlier generation of the certificate set live again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certkit.cli import options
from certkit.cli.output import plural
from certkit.text import utc_minute

if TYPE_CHECKING:
    from certkit.profile import Profile


@click.command("rollback")
@options.notary_dir_argument
@click.option("--to", "to", type=click.IntRange(min=0), default=None, metavar="N",
              help="Generation to make live (default: the one before the live one). 0 is the set certkit first found.")
@click.option("--list", "list_only", is_flag=True, help="List the kept generations and which one is live.")
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for CA private keys, if renew used --ca-store.")
@click.option("--wait", is_flag=True, help="If another certkit is renewing this folder, wait for it.")
@options.profile_option
@options.json_option
@options.quiet_option
def rollback_command(notary_dir: Path, to: int | None, list_only: bool, ca_store: Path | None, wait: bool,
                     profile_source: str | None, as_json: bool, quiet: bool) -> None:
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
    from certkit.lock import renewal_lock
    from certkit.profile import load_profile
    from certkit.layout import STATE_FOLDER, ca_store_path
    from certkit.renew import rollback
    from certkit.state import verify as verify_state

    profile = load_profile(profile_source)
    state_dir = notary_dir / STATE_FOLDER
    # Input: a planted or loosened state folder is refused before anything reads it.
    verify_state(state_dir, ca_store_path(notary_dir, profile, ca_store))
    if list_only:
        _list(notary_dir, profile, as_json)
        return
    with renewal_lock(notary_dir, wait=wait):
        result = rollback(notary_dir, profile, to=to, ca_store=ca_store)
    if as_json:
        click.echo(json.dumps({"previous": result.previous, "live": result.live, "files": result.files,
                               "generations": result.kept}, indent=2))
        return
    if not quiet:
        click.echo(f"generation {result.live} is live (was {result.previous}); "
                   f"{plural(len(result.files), 'file')} restored")
    click.echo("restart the services to load them: docker compose up -d --force-recreate (Notary reads TLS files at start)")
    from certkit.cli.output import database_text
    from certkit.database import step_after_renew

    # postgres holds its own copy of the database set (certkit.database): a rollback must reach it too.
    step = step_after_renew(notary_dir, result.files)
    if step is not None:
        click.echo(database_text(step))


def _list(notary_dir: Path, profile: Profile, as_json: bool) -> None:
    from certkit.history import describe

    kept = describe(notary_dir, profile)
    if as_json:
        click.echo(json.dumps({
            "live": next((g.number for g in kept if g.live), None),
            "generations": [{"number": g.number, "live": g.live, "made": g.made.isoformat() if g.made else None,
                             "changed": g.changed, "not_after": {k: v.isoformat() for k, v in g.not_after.items()},
                             "problem": g.problem or None} for g in kept],
        }, indent=2))
        return
    if not kept:
        click.echo("no generations kept yet (certkit renew records one per renewal)")
        return
    for gen in kept:
        made = utc_minute(gen.made) if gen.made else "time unknown"
        marks = "  ".join(f"{name} until {when:%Y-%m-%d}" for name, when in gen.not_after.items())
        head = f"{gen.number:>3}{'  LIVE' if gen.live else '      '}  {made}  {marks}".rstrip()
        click.echo(head)
        if gen.problem:
            click.echo(f"       damaged: {gen.problem}")
        elif gen.number == 0:
            click.echo("       the set certkit first found")
        elif gen.changed:
            shown = ", ".join(gen.changed[:4]) + (f" and {len(gen.changed) - 4} more" if len(gen.changed) > 4 else "")
            click.echo(f"       changed {plural(len(gen.changed), 'file')}: {shown}")
        else:
            click.echo("       changed nothing")
