"""`certkit check-expiry`: the thin command over certkit.expiry, endpoints and reporting."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Callable, Iterator, TypeVar

import click

from certkit.cli import options
from certkit.durations import Duration
from certkit.errors import CertkitError, UsageError

UNKNOWN = 3
T = TypeVar("T")
# The --format names, each a Report of certkit.reporting (html: certkit.report_html) chosen in
# _run.  Defined here, not in certkit.reporting: importing that (cryptography) for the option
# would cost every `--help` and shell completion about 0.1 s.
FORMATS = ("table", "json", "prometheus", "nagios", "html")

HELP_EPILOG = """\b
Exit codes (Nagios plugin convention; the worst finding wins,
CRITICAL > UNKNOWN > WARNING > OK):
  0  OK        everything valid beyond --warn
  1  WARNING   something expires within --warn
  2  CRITICAL  expires within --crit, expired, not yet valid, broken chain,
               key mismatch, STALE (server not reloaded), hostname not covered
  3  UNKNOWN   unreadable input, unreachable endpoint, usage error
Certificate files in a Notary checkout that no service uses are
listed as UNUSED and never change the exit code (--all judges them).

\b
Examples:
  certkit check-expiry --quiet /srv/notary          # cron: mail only on problems
  certkit check-expiry --exclude 'trustpinning/' --exclude '**/testdata/**' .
  certkit check-expiry --all NOTARY_DIR             # judge every certificate file
  certkit check-expiry --crit 14d NOTARY_DIR && docker compose up -d
  certkit check-expiry --connect notary-server:4443 NOTARY_DIR
  certkit check-expiry --format prometheus --output /var/lib/node_exporter/certkit.prom NOTARY_DIR
  certkit check-expiry --format html --output expiry.html NOTARY_DIR   # a page to look at"""


class NagiosCommand(click.Command):
    """Usage errors exit 3 (UNKNOWN), as a Nagios plugin must, not click's 2 (= CRITICAL)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            setattr(exc, "exit_code", UNKNOWN)  # an instance attribute click reads when exiting
            raise


@click.command("check-expiry", cls=NagiosCommand, epilog=HELP_EPILOG)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--connect", "endpoints", metavar="HOST:PORT", multiple=True,
              help="Also check the chain a TLS server serves (repeatable). With PATHs, a served leaf "
                   "that differs from the newest file with the same subject is STALE.")
@click.option("--servername", metavar="NAME", default=None,
              help="SNI name to send, and the name the served leaf must cover (default: HOST).")
@click.option("--warn", type=options.DURATION, default="30d", show_default=True,
              help="WARNING when a certificate expires within this (30d, 2w, 12h, 6 months).")
@click.option("--crit", type=options.DURATION, default="7d", show_default=True,
              help="CRITICAL when a certificate expires within this.")
@click.option("--at", "at", type=options.MOMENT, default=None, metavar="DATE",
              help="Judge as of this moment instead of now (2027-01-31, 2027-01-31T12:00:00Z).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              default="table", show_default=True,
              help="Output format. html: one self-contained page (timeline by chain); use with --output.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Write the report to FILE atomically (for node_exporter's textfile collector) instead of stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when everything is OK; otherwise only the problems.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True, metavar="SECONDS",
              help="Connect and handshake timeout for --connect.")
@click.option("--color/--no-color", default=None, help="Colour the status column (default: only on a terminal).")
@click.option("--all", "judge_all", is_flag=True,
              help="In a Notary checkout, judge every certificate file found, not only those a service uses.")
@click.option("--exclude", "exclude", metavar="GLOB", multiple=True,
              help="Skip files and folders matching GLOB (repeatable): .gitignore syntax on the path relative "
                   "to the folder given (trustpinning/, '*.der', 'fixtures/**/old-*.crt'). Files named as "
                   "arguments are always checked.")
@options.profile_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json (the flag every other command has).")
@click.pass_context
def check_expiry_command(ctx: click.Context, paths: tuple[Path, ...], endpoints: tuple[str, ...],
                         servername: str | None, warn: Duration, crit: Duration, at: datetime | None, fmt: str,
                         output: Path | None, quiet: bool, timeout: float, color: bool | None, judge_all: bool,
                         exclude: tuple[str, ...], profile_source: str | None, as_json: bool) -> None:
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

    \b
    Examples:
      certkit check-expiry                         # the Notary checkout in this folder
      certkit check-expiry --quiet /srv/notary     # cron: silent unless something is wrong
      certkit check-expiry --connect notary-server:4443 .
      certkit check-expiry --format prometheus --output /var/lib/node_exporter/textfile/certkit.prom .
      certkit check-expiry --format html --output report.html .
    """
    if as_json:
        if fmt not in ("table", "json"):
            raise click.UsageError(f"--json and --format {fmt} name two formats; give one")
        fmt = "json"
    try:
        code = _run(paths, endpoints, servername, warn, crit, at, fmt, output, quiet, timeout, color,
                    judge_all, exclude, profile_source)
    except CertkitError as exc:
        click.echo(f"certkit: check-expiry: {exc}", err=True)
        code = UNKNOWN
    ctx.exit(code)


def _run(paths: tuple[Path, ...], endpoints: tuple[str, ...], servername: str | None, warn: Duration,
         crit: Duration, at: datetime | None, fmt: str, output: Path | None, quiet: bool, timeout: float,
         color: bool | None, judge_all: bool, exclude: tuple[str, ...], profile_source: str | None) -> int:
    import os

    from certkit.deployed import deployed_files, is_checkout
    from certkit.expiry import Checker, Finding, Note, Scope, Thresholds
    from certkit.notary_config import find_layout_root, notary_notes
    from certkit.profile import load_profile
    from certkit.reporting import JsonReport, NagiosReport, PrometheusReport, Report, Summary, TableReport

    now = at if at is not None else options.utc_now()
    if warn.after(now) < crit.after(now):
        raise UsageError(f"--warn {warn} is shorter than --crit {crit}; the warning window must include the critical one")
    served = []
    if endpoints:  # ssl and socket only for the runs that connect (cron checks of files stay lighter)
        from certkit.endpoints import fetch_chain, parse_address

        for address in endpoints:
            parse_address(address)  # a usage error before anything is fetched
        served = [fetch_chain(address, servername=servername, timeout=timeout) for address in endpoints]
    elif not paths:
        paths = (Path("."),)

    profile = load_profile(profile_source)
    thresholds = Thresholds(warn, crit)
    layouts = [root for root in (find_layout_root(p, profile) if p.is_dir() else None for p in paths) if root is not None]

    def gather() -> tuple[list[Finding], list[str]]:
        notes: dict[str, list[Note]] = {}
        shown: dict[str, str] = {}
        config_findings = []
        scopes: dict[str, Scope] = {}
        run_notes: list[str] = []
        for path in paths:
            if not path.is_dir():
                continue  # a file named on the command line is always judged
            root = find_layout_root(path, profile)
            result = None
            if root is not None:
                result = notary_notes(root, now, profile)
                result.merge_into(notes, shown)
                config_findings.extend(result.findings)
            elif is_checkout(path, profile):
                root = path
            if root is not None and not judge_all:
                deployment = deployed_files(root, profile, result, os.environ)
                scopes[str(path)] = Scope(frozenset(deployment.used))
                run_notes.extend(n for n in deployment.notes if n not in run_notes)
        checker = Checker(now, thresholds, served=served, notes=notes, note_paths=shown, scopes=scopes,
                          exclude=exclude)
        return [*checker.run(list(paths)), *config_findings], run_notes

    findings, run_notes = _consistent_read(layouts, gather)
    summary = Summary(run_notes)
    # --quiet is for cron's mail: it silences stdout, never the file --output asks for.
    quiet = quiet and output is None
    with _destination(output) as out:
        report: Report
        if fmt == "json":
            report = JsonReport(out, now=now, thresholds=thresholds, quiet=quiet)
        elif fmt == "prometheus":
            report = PrometheusReport(out, now=now, quiet=quiet)
        elif fmt == "nagios":
            report = NagiosReport(out, now=now, thresholds=thresholds, quiet=quiet)
        elif fmt == "html":
            from certkit.report_html import HtmlReport

            report = HtmlReport(out, now=now, thresholds=thresholds, quiet=quiet)
        else:
            use_color = color if color is not None else (output is None and _is_terminal(out))
            report = TableReport(out, color=use_color, quiet=quiet)
        for finding in findings:
            summary.add(finding)
            report.add(finding)
        report.finish(summary)
    return summary.status.value


SETTLE_WAIT = 10.0  # seconds to wait for a renewal in progress; the switch itself takes milliseconds


def _consistent_read(layouts: list[Path], gather: Callable[[], T]) -> T:
    """``gather()``, never across a renewal's switch of files: a key and a certificate from two sets.

    A renewal switches its files between a commit record and its removal (certkit.transaction).
    Before reading, wait (at most SETTLE_WAIT) while a live renewal has one pending; if a
    transaction started or ended while reading, read once more.  A record left by a crashed
    renewal (nobody holds the lock) is not waited for: the files are reported as they are.
    """
    from certkit.layout import STATE_FOLDER
    from certkit.lock import holder_pid
    from certkit.transaction import activity

    states = [root / STATE_FOLDER for root in layouts]

    def marks() -> list[tuple[int, bool] | None]:
        deadline = time.monotonic() + SETTLE_WAIT
        while any(mark is not None and mark[1] for mark in (activity(s) for s in states)) \
                and any(holder_pid(root) is not None for root in layouts) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [activity(s) for s in states]

    before = marks()
    result = gather()
    if not states or marks() == before:
        return result
    marks()
    return gather()


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
    from certkit.storage import atomic_writer

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
        raise FilesystemError(f"--output {output}: folder {folder} does not exist; create it (for node_exporter: "
                              "its --collector.textfile.directory) or give another --output")
    if not folder.is_dir():
        raise FilesystemError(f"--output {output}: {folder} is not a folder; give a file inside a folder")
    if not os.access(folder, os.W_OK):
        raise FilesystemError(f"--output {output}: folder {folder} is not writable; run as a user who may write "
                              "there, or give another --output")


def _stdout() -> IO[str]:
    return sys.stdout  # looked up at call time, so CliRunner's redirection applies
