"""`certkit status`: the whole set as a tree, as `certbot certificates` shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certkit.cli import options, output

if TYPE_CHECKING:
    from certkit.durations import Duration


@click.command("status", cls=options.NagiosCommand)
@options.notary_dir_argument
@click.option(
    "--connect",
    "addresses",
    multiple=True,
    metavar="HOST:PORT",
    help="Also fetch what a server serves there and mark the certificate it should serve "
    "(STALE when the server still serves an older one). Repeatable.",
)
@click.option(
    "--warn",
    type=options.DURATION,
    default="30d",
    show_default=True,
    help=options.duration_help("A certificate expiring within this is WARNING."),
)
@options.ca_store_option
@click.option("--color/--no-color", default=None, help="Colour the status words (default: only on a terminal).")
@options.profile_option
@options.engine_options
@options.json_option
@options.quiet_option
@click.pass_context
def status_command(
    ctx: click.Context,
    notary_dir: Path,
    addresses: tuple[str, ...],
    warn: Duration,
    ca_store: Path | None,
    color: bool | None,
    profile_source: str | None,
    no_engine: bool,
    docker_host: str | None,
    engine_timeout: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Show the certificate set of NOTARY_DIR (default: current folder) as a tree.

    Each root with the certificates it signs below it, then the database PKI and the
    self-signed ones; for each: notAfter, days left, key type, where its key is, the files
    it is copied to, the compose services that mount it, what each container of the
    checkout's compose projects has of it (a Docker engine answering; STALE when it has or
    serves another certificate than the file, BAKED when it runs the image's copy; stopped
    containers are shown, never started), and with --connect what the running server serves.
    A broken node (missing, unreadable, key mismatch, expired) stays in the tree and says what is wrong.

    \b
    Examples:
      certkit status
      certkit status --connect localhost:4443 /srv/notary
      certkit status --json | jq '.roots[].children[].not_after'

    \b
    Exit codes (as check-expiry): 0 every certificate healthy, 1 one expires within --warn,
    2 a certificate is missing, broken, expired, mismatched, STALE or BAKED, or a deploy is owed,
    3 usage error; 10 (as renew) NOTARY_DIR is not a Notary checkout.
    """
    from certkit.check.running import EngineUse
    from certkit.render.status import status_json, status_text
    from certkit.workflows.status import run_status

    if no_engine and docker_host:
        raise click.UsageError("--no-engine and --docker-host contradict each other; give one")
    run = run_status(
        notary_dir,
        options.utc_now(),
        warn,
        profile_source=profile_source,
        ca_store=ca_store,
        addresses=addresses,
        engine_use=EngineUse.OFF if no_engine else EngineUse.AUTO,
        docker_host=docker_host,
        engine_timeout=engine_timeout,
    )
    result = run.tree
    if as_json:
        output.echo(json.dumps(status_json(result), indent=2))
    elif not (quiet and result.health == 0):  # --quiet: a healthy set's notes (no engine, ...) are not news
        output.echo(status_text(result), color=color)
    ctx.exit(run.exit_code)
