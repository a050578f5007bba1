"""`certkit compose`: make the containers mount the renewed certificates, or check that they do."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from certkit.cli import options
from certkit.cli.output import plural
from certkit.errors import ComposeError, UsageError
from certkit.profile import load_profile

if TYPE_CHECKING:
    from certkit.compose import CheckReport, ComposeOutcome


@click.command("compose")
@options.notary_dir_argument
@click.option("-f", "--file", "files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Compose file, relative to NOTARY_DIR (repeatable, in order, as with docker compose -f). "
                   "Default: the folder's compose.yaml / docker-compose.yml and its override.")
@click.option("--in-place", is_flag=True,
              help="Edit the compose files themselves (a .certkit-bak backup is written first) "
                   "instead of writing certkit's override file.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing: report, per service, whether each TLS file it reads is mounted from the host "
                   "or baked into the image, and its expiry. Exit 15 if any is baked, missing or expired.")
@options.container_dir_option
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the CA private keys, never to be mounted. Default: NOTARY_DIR/.certkit/ca.")
@options.profile_option
@options.dry_run_option
@options.json_option
@options.quiet_option
def compose_command(notary_dir: Path, files: tuple[Path, ...], in_place: bool, check_only: bool,
                    container_dirs: tuple[str, ...], ca_store: Path | None, profile_source: str | None,
                    dry_run: bool, as_json: bool, quiet: bool) -> None:
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
    from certkit.compose import Options, apply, check, remember_container_dirs

    if check_only and (in_place or dry_run):
        raise UsageError("--check writes nothing; it does not combine with --in-place or --dry-run")
    answers = options.parse_container_dirs(container_dirs)
    opts = Options(load_profile(profile_source), ca_store, answers, dict(os.environ))
    if check_only:
        report = check(notary_dir, files, opts, options.utc_now())
        if as_json:
            click.echo(json.dumps(check_json(report), indent=2))
        elif not (quiet and report.ok):
            click.echo(check_table(report))
        if not report.ok:
            raise click.exceptions.Exit(ComposeError.exit_code)
        return
    outcome = apply(notary_dir, files, opts, in_place=in_place, dry_run=dry_run)
    if answers and not dry_run:
        remember_container_dirs(notary_dir, answers)
    if as_json:
        click.echo(json.dumps(outcome_json(outcome), indent=2))
    elif not quiet or outcome.diff:  # quiet: silent when nothing changed
        click.echo(outcome_text(outcome))


def outcome_text(outcome: ComposeOutcome) -> str:
    lines: list[str] = []
    if outcome.mounts:
        width = max(len(m.service) for m in outcome.mounts)
        for mount in outcome.mounts:
            source = os.path.relpath(mount.source, outcome.directory)
            lines.append(f"{mount.service.ljust(width)}  ./{source} -> {mount.target} (read-only)  {mount.reason}")
    for note in outcome.notes:
        lines.append(click.style("note: ", bold=True) + note)
    if outcome.dry_run:
        lines.append(outcome.diff.rstrip("\n") if outcome.diff else "no change: the compose files already mount "
                     "every TLS folder read-only")
        if outcome.diff:
            lines.append("(dry run: nothing written)")
        return "\n".join(lines)
    if outcome.written:
        for path in outcome.written:
            lines.append(f"wrote {os.path.relpath(path, outcome.directory)}")
        for path in outcome.backups:
            lines.append(f"backup {os.path.relpath(path, outcome.directory)}")
        lines.append("apply it (Notary reads its TLS files only at start), in "
                     f"{outcome.directory}:")
    else:
        lines.append("no change: the compose files already mount every TLS folder read-only")
        if not outcome.tls_services:
            return "\n".join(lines)
        lines.append(f"after a renewal, restart the services that read TLS files, in {outcome.directory}:")
    lines.append(f"  {outcome.command}")
    return "\n".join(lines)


def renew_compose_text(outcomes: list[ComposeOutcome]) -> str:
    """The compose part of `certkit renew`'s output: what was written and the exact restart lines."""
    lines = [""]
    for outcome in outcomes:
        for path in outcome.written:
            lines.append(f"compose: wrote {os.path.relpath(path, outcome.directory)} (read-only folder mounts, "
                         "so the containers see the renewed files)")
        if not outcome.written:
            names = ", ".join(os.path.relpath(p, outcome.directory) for p in outcome.files)
            lines.append(f"compose: {names}: the services already mount the renewed folders read-only")
        for note in outcome.notes:
            lines.append(click.style("note: ", bold=True) + note)
    commands = [o.command for o in outcomes if o.restart or o.tls_services]
    if commands:
        directory = outcomes[0].directory
        lines.append(f"restart the services (Notary reads TLS files only at start), in {directory}, "
                     + ("with the compose files you start Notary with:" if len(commands) > 1 else "with:"))
        lines.extend(f"  {command}" for command in commands)
    return "\n".join(lines)


def outcome_json(outcome: ComposeOutcome) -> dict[str, Any]:
    return {
        "directory": str(outcome.directory),
        "files": [str(p) for p in outcome.files],
        "mode": outcome.mode,
        "dry_run": outcome.dry_run,
        "changed": outcome.changed,
        "mounts": [{"service": m.service, "source": str(m.source), "target": m.target, "read_only": True,
                    "replaces": f"{m.replaces.source}:{m.replaces.target}" if m.replaces else None,
                    "serves": list(m.serves), "reason": m.reason} for m in outcome.mounts],
        "written": [str(p) for p in outcome.written],
        "backups": [str(p) for p in outcome.backups],
        "diff": outcome.diff,
        "restart": outcome.restart,
        "tls_services": outcome.tls_services,
        "command": outcome.command,
        "notes": outcome.notes,
    }


def check_table(report: CheckReport) -> str:
    headers = ("SERVICE", "CONTAINER PATH", "HOST FILE", "NOT AFTER", "STATUS")
    rows = [(r.service, r.container_path, r.host_path or "-",
             f"{r.not_after:%Y-%m-%d}" if r.not_after else "-",
             ("PROBLEM: " + "; ".join(r.problems)) if r.problems else r.status.text)
            for r in report.rows]
    lines: list[str] = []
    if rows:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:4])]
        for row in [headers, *rows]:
            lines.append("  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4])
    else:
        lines.append("no service reads TLS files certkit can find")
    for note in report.notes:
        lines.append(click.style("note: ", bold=True) + note)
    for problem in report.problems:
        lines.append(click.style("problem: ", bold=True) + problem)
    bad = sum(1 for r in report.rows if r.problems) + len(report.problems)
    files = ", ".join(os.path.relpath(p, report.directory) for p in report.files)
    lines.append("")
    lines.append(f"OK: every TLS file is the host's current one, mounted read-only ({files})" if report.ok else
                 f"FAILED: {plural(bad, 'problem')} ({files}); fix with `certkit compose` (mounts) and `certkit renew` (expiry)")
    return "\n".join(lines)


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "directory": str(report.directory),
        "files": [str(p) for p in report.files],
        "ok": report.ok,
        "rows": [{"service": r.service, "container_path": r.container_path, "kind": r.kind, "status": r.status,
                  "host_path": r.host_path or None, "not_after": r.not_after.isoformat() if r.not_after else None,
                  "managed": r.managed, "problems": list(r.problems)} for r in report.rows],
        "problems": report.problems,
        "notes": report.notes,
    }
