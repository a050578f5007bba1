"""`certkit compose`: make the containers mount the renewed certificates, or check that they do."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from certkit.cli import options, output
from certkit.errors import ComposeError, UsageError
from certkit.profile import load_profile


@click.command("compose")
@options.notary_dir_argument
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Compose file, relative to NOTARY_DIR (repeatable, in order, as with docker compose -f). "
    "Default: the folder's compose.yaml / docker-compose.yml and its override.",
)
@click.option(
    "--in-place",
    is_flag=True,
    help="Edit the compose files themselves (a .certkit-bak backup is written first) "
    "instead of writing certkit's override file.",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing: report, per service, whether each TLS file it reads is mounted from the host "
    "or baked into the image, and its expiry. Exit 15 if any is baked, missing or expired.",
)
@options.container_dir_option
@options.ca_store_option
@options.profile_option
@options.dry_run_option
@options.json_option
@options.quiet_option
def compose_command(
    notary_dir: Path,
    files: tuple[Path, ...],
    in_place: bool,
    check_only: bool,
    container_dirs: tuple[str, ...],
    ca_store: Path | None,
    profile_source: str | None,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Make compose services read the host's renewed TLS files (read-only folder mounts).

    Notary's images copy fixtures/ in at build time, so renewed files on the host never
    reach the containers. This finds, per service, the TLS files it reads (from its -config
    file, environment and volumes) and mounts their host folders read-only over them:
    by default in an override file Docker Compose loads by itself, or with --in-place in
    the compose file. A second run changes nothing. --dry-run prints the diff.

    \b
    Examples:
      certkit compose                     # write docker-compose.override.yml (Compose loads it itself)
      certkit compose -f docker-compose.postgresql.yml
      certkit compose --check             # pre-deploy: will every container see the host's valid files?
      certkit compose --in-place --dry-run
      certkit compose --container-dir escrow=/go/src/github.com/theupdateframework/notary
    """
    from certkit.compose.apply import apply
    from certkit.compose.check import check
    from certkit.compose.model import Options
    from certkit.compose.projects import remember_container_dirs
    from certkit.render.compose import check_json, check_table, outcome_json, outcome_text

    if check_only and (in_place or dry_run):
        raise UsageError("--check writes nothing; it does not combine with --in-place or --dry-run")
    answers = options.parse_container_dirs(container_dirs)
    opts = Options(load_profile(profile_source), ca_store, answers, dict(os.environ))
    if not files:
        from certkit.store.layout import require_layout

        require_layout(notary_dir, opts.profile)  # with -f the files say where the project is
    if check_only:
        report = check(notary_dir, files, opts, options.utc_now())
        if as_json:
            output.echo(json.dumps(check_json(report), indent=2))
        elif not (quiet and report.ok):
            output.echo(check_table(report))
        if not report.ok:
            raise click.exceptions.Exit(ComposeError.exit_code)
        return
    outcome = apply(notary_dir, files, opts, in_place=in_place, dry_run=dry_run)
    if answers and not dry_run:
        remember_container_dirs(notary_dir, answers)
    if as_json:
        output.echo(json.dumps(outcome_json(outcome), indent=2))
    elif not quiet or outcome.diff:  # quiet: silent when nothing changed
        output.echo(outcome_text(outcome))
