"""`certkit check-expiry`: the thin command over certkit.workflows.check and certkit.render.expiry."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from certkit import exitcodes
from certkit.bounded import MAX_NESTING, MAX_WALK_DEPTH, MAX_WALK_ENTRIES
from certkit.cli import options
from certkit.durations import Duration
from certkit.errors import CertkitError
from certkit.render.formats import FORMATS

if TYPE_CHECKING:
    from certkit.workflows.check import CheckRequest

UNKNOWN = exitcodes.NAGIOS_UNKNOWN.code

HELP_EPILOG = (
    "\b\nExit codes (Nagios plugin convention; the worst finding wins,\nCRITICAL > UNKNOWN > WARNING > OK):\n"
    + exitcodes.help_text(exitcodes.NAGIOS_CODES, names=True)
    + f"""
The bounds: {MAX_WALK_DEPTH} folder levels, {MAX_WALK_ENTRIES:,} entries, {MAX_NESTING} nesting levels.
Certificate files in a Notary checkout that no service uses are
listed as UNUSED and never change the exit code (--all judges them).
A symlink to a folder outside the folder given is listed as SKIPPED,
not followed (name it as an argument to check it).

\b
Examples:
  certkit check-expiry                              # the Notary checkout in this folder
  certkit check-expiry --quiet /srv/notary          # cron: mail only on problems
  certkit check-expiry --crit 14d /srv/notary && docker compose up -d   # pre-deploy: stop on trouble
  certkit check-expiry --connect notary-server:4443 /srv/notary
  certkit check-expiry --all /srv/notary            # judge every certificate file
  certkit check-expiry --exclude 'trustpinning/' --exclude '**/testdata/**' .
  certkit check-expiry --format prometheus --output /var/lib/node_exporter/textfile/certkit.prom /srv/notary
  certkit check-expiry --format html --output expiry.html /srv/notary   # a page to look at"""
)


@click.command("check-expiry", cls=options.NagiosCommand, epilog=HELP_EPILOG)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--connect",
    "endpoints",
    metavar="HOST:PORT",
    multiple=True,
    help="Also check the chain a TLS server serves (repeatable). With PATHs, a served leaf "
    "that differs from the newest file with the same subject is STALE.",
)
@click.option(
    "--servername",
    metavar="NAME",
    default=None,
    help="SNI name to send, and the name the served leaf must cover (default: HOST).",
)
@click.option(
    "--warn",
    type=options.DURATION,
    default="30d",
    show_default=True,
    help=options.duration_help("WARNING when a certificate expires within this."),
)
@click.option(
    "--crit",
    type=options.DURATION,
    default="7d",
    show_default=True,
    help=options.duration_help("CRITICAL when a certificate expires within this."),
)
@click.option(
    "--at",
    "at",
    type=options.MOMENT,
    default=None,
    metavar="DATE",
    help="Judge as of this moment instead of now (2027-01-31, 2027-01-31T12:00:00Z).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format. html: one self-contained page (timeline by chain); use with --output.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the report to FILE atomically (for node_exporter's textfile collector) instead of stdout.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when everything is OK; otherwise only the problems.")
@click.option(
    "--timeout",
    type=options.SecondsType(0.1),
    default="5",
    show_default=True,
    help=options.seconds_help("Connect and handshake timeout for --connect."),
)
@click.option("--color/--no-color", default=None, help="Colour the status column (default: only on a terminal).")
@click.option(
    "--all",
    "judge_all",
    is_flag=True,
    help="In a Notary checkout, judge every certificate file found, not only those a service uses.",
)
@click.option(
    "--exclude",
    "exclude",
    metavar="GLOB",
    multiple=True,
    help="Skip files and folders matching GLOB (repeatable): .gitignore syntax on the path relative "
    "to the folder given (trustpinning/, '*.der', 'fixtures/**/old-*.crt'). Files named as "
    "arguments are always checked.",
)
@options.profile_option
@options.engine_options
@click.option("--json", "as_json", is_flag=True, help="Same as --format json (the flag every other command has).")
@click.pass_context
def check_expiry_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    endpoints: tuple[str, ...],
    servername: str | None,
    warn: Duration,
    crit: Duration,
    at: datetime | None,
    fmt: str,
    output: Path | None,
    quiet: bool,
    timeout: float,
    color: bool | None,
    judge_all: bool,
    exclude: tuple[str, ...],
    profile_source: str | None,
    no_engine: bool,
    docker_host: str | None,
    engine_timeout: float,
    as_json: bool,
) -> None:
    """Check certificates in PATHs (files or folders, default .) and on live endpoints.

    Reads PEM bundles (every certificate, in order) and DER files, recursively;
    other files are skipped. Keys are matched to their certificates (X.crt/X.key,
    X.pem/X-key.pem, cert.pem/key.pem). Only regular files up to 1 MiB are read;
    a FIFO, device or larger file is UNKNOWN, never waited on.

    In a Notary checkout (a folder the profile recognises) it judges what is
    deployed: the profile's files, the TLS files the server, signer, client and
    escrow configs name, and the files the compose services read. Other
    certificate files (Notary's Go test fixtures such as trustpinning/*.crt) are
    listed as UNUSED, not judged. It also checks what the services use, from
    fixtures/*-config*.json, cmd/notary/config.json and cmd/escrow/config.toml:
    key pairs, chains to the roots the server and client trust, the signer's
    client CA, and the names peers dial.

    And what runs: the compose project `docker compose up` would start there
    (the default files and override, or COMPOSE_FILE) must not read a renewed
    certificate from the image (BAKED, even with no engine); when a Docker
    engine answers (its socket is there: DOCKER_HOST, else
    /var/run/docker.sock), each container of the checkout's compose projects,
    running or stopped, is read at the paths its service reads: STALE when it
    has (or serves) another certificate than the file, BAKED when it runs the
    image's copy. No engine, or no container: a note. --no-engine: files only.
    """
    if as_json:
        if fmt not in ("table", "json"):
            raise click.UsageError(f"--json and --format {fmt} name two formats; give one")
        fmt = "json"
    from certkit.check.running import EngineUse
    from certkit.cli.output import error
    from certkit.workflows.check import CheckRequest

    if no_engine and docker_host:
        error("--no-engine and --docker-host contradict each other; give one")
        ctx.exit(UNKNOWN)  # a usage error is UNKNOWN for a Nagios plugin
    try:
        request = CheckRequest(
            paths,
            at if at is not None else options.utc_now(),
            warn,
            crit,
            endpoints=endpoints,
            servername=servername,
            timeout=timeout,
            judge_all=judge_all,
            exclude=exclude,
            profile_source=profile_source,
            engine_use=EngineUse.OFF if no_engine else EngineUse.AUTO,
            docker_host=docker_host,
            engine_timeout=engine_timeout,
        )
        code = _run(request, fmt, output, quiet, color)
    except CertkitError as exc:
        from certkit.cli.output import error

        error(str(exc))
        code = UNKNOWN
    ctx.exit(code)


def _run(request: CheckRequest, fmt: str, output: Path | None, quiet: bool, color: bool | None) -> int:
    from certkit.render.formats import REPORTS, ReportOptions
    from certkit.workflows.check import stream_check

    # Each finding goes to the report as it is made (the formats write as they go), so memory does
    # not grow with the tree; the summary is complete once they have all been read.
    stream = stream_check(request)
    # --quiet is for cron's mail: it silences stdout, never the file --output asks for.
    quiet = quiet and output is None
    with _destination(output) as out:
        use_color = color if color is not None else (output is None and _is_terminal(out))
        report = REPORTS[fmt](out, ReportOptions(request.now, stream.thresholds, quiet=quiet, color=use_color))
        for finding in stream:
            report.add(finding)
        report.finish(stream.summary)
    return stream.summary.status.value


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _destination(output: Path | None) -> Iterator[IO[str]]:
    """stdout, or FILE written atomically: a temporary file in the same folder, fsynced,
    then renamed over FILE, so node_exporter never scrapes a half-written file (its
    textfile collector documentation asks for exactly this)."""
    if output is None:
        yield _stdout()
        return
    from certkit.store.storage import atomic_writer

    _check_output_folder(output)
    with atomic_writer(output, 0o644) as handle:
        yield handle


def _check_output_folder(output: Path) -> None:
    """Refuse, before anything is checked or written, a --output whose folder is missing or
    not writable (a typo in the textfile directory should not look like a check result)."""
    import os

    from certkit.errors import FilesystemError

    folder = output.parent
    if not folder.exists():
        raise FilesystemError(
            f"--output {output}: folder {folder} does not exist; create it (for node_exporter: "
            "its --collector.textfile.directory) or give another --output"
        )
    if not folder.is_dir():
        raise FilesystemError(f"--output {output}: {folder} is not a folder; give a file inside a folder")
    if not os.access(folder, os.W_OK):
        raise FilesystemError(
            f"--output {output}: folder {folder} is not writable; run as a user who may write "
            "there, or give another --output"
        )


def _stdout() -> IO[str]:
    return sys.stdout  # looked up at call time, so CliRunner's redirection applies
