"""The output formats of `certkit check-expiry`: table, JSON, Prometheus textfile, Nagios.

Each report takes findings one at a time and writes to a text stream it is given, so a
check of 10,000 files never holds them all: the table and JSON stream rows as they come,
Prometheus spools each metric family to a temporary file (the text format wants a
family's samples together), and Nagios keeps only counts and the first few problems.
No click, no clock, no printing to the terminal here: the CLI owns the streams.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, Protocol

from cryptography import x509

from certkit.certificates import fingerprint_sha256, san_strings
from certkit.check.findings import NOTHING_FOUND_CODE, Finding, Status, Thresholds, worst
from certkit.check.runs import Verdict
from certkit.text import terminal_safe, utc_minute, visible

if TYPE_CHECKING:
    from certkit.workflows.check import Summary

JSON_SCHEMA = "certkit.check-expiry/1"

_COLOURS = {
    Status.OK: "\x1b[32m",
    Status.WARNING: "\x1b[33m",
    Status.CRITICAL: "\x1b[1;31m",
    Status.UNKNOWN: "\x1b[35m",
}
_RESET = "\x1b[0m"


class Report(Protocol):
    def add(self, finding: Finding) -> None: ...

    def finish(self, summary: Summary) -> None: ...


# --------------------------------------------------------------------------- fields


def subject_text(cert: x509.Certificate | None) -> str | None:
    return cert.subject.rfc4514_string() if cert is not None else None


def short_subject(cert: x509.Certificate | None) -> str:
    if cert is None:
        return ""
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return f"CN={cns[0].value!s}" if cns else cert.subject.rfc4514_string()


def serial_text(cert: x509.Certificate | None) -> str | None:
    return f"{cert.serial_number:X}" if cert is not None else None


def record(finding: Finding) -> dict[str, Any]:
    """One JSON object of the documented schema (docs/check-expiry.md)."""
    cert = finding.cert
    return {
        "source": finding.source,
        "path": finding.path,
        "index": finding.index,
        "subject": subject_text(cert),
        "issuer": cert.issuer.rfc4514_string() if cert is not None else None,
        "serial": serial_text(cert),
        "fingerprint_sha256": fingerprint_sha256(cert) if cert is not None else None,
        "sans": san_strings(cert) if cert is not None else [],
        "not_before": _iso(cert.not_valid_before_utc) if cert is not None else None,
        "not_after": _iso(cert.not_valid_after_utc) if cert is not None else None,
        "seconds_left": finding.seconds_left,
        "status": finding.shown_status,
        "reasons": [r.text for r in finding.reasons],
        "codes": [r.code for r in finding.reasons],
        "used": finding.used,
        "runs": _runs(finding),
    }


def _runs(finding: Finding) -> dict[str, Any] | None:
    """For source "container" and "compose": what runs, where, and the verdict; null for files and endpoints."""
    row = finding.runs
    if row is None:
        return None
    return {
        "service": row.service,
        "container": row.container,
        "state": row.state,
        "project": row.project,
        "container_path": row.container_path,
        "host_path": row.host_path,
        "verdict": str(row.verdict),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- table


class TableReport:
    """Fixed-width columns, so rows can be written as they are found."""

    HEADER = f"{'STATUS':<8}  {'DAYS':>6}  {'NOT AFTER (UTC)':<16}  CERTIFICATE  REASON"

    def __init__(self, out: IO[str], *, color: bool = False, quiet: bool = False) -> None:
        self.out = out
        self.color = color
        self.quiet = quiet
        self._started = False
        self._nothing: list[Finding] = []  # folders with no certificate: one line each when alone

    def add(self, finding: Finding) -> None:
        status = finding.status
        if self.quiet and (status is Status.OK or not finding.used):
            return
        if not self._started and _nothing_found(finding):
            self._nothing.append(finding)
            return
        self._row(finding)

    def _row(self, finding: Finding) -> None:
        status = finding.status
        if not self._started:
            self._write(self.HEADER)
            self._started = True
        cert = finding.cert
        days = (
            "" if finding.seconds_left is None else str(int(finding.seconds_left / 86400))
        )  # toward 0, as "N days ago"
        not_after = utc_minute(cert.not_valid_after_utc, zone=False) if cert is not None else "-"
        # Paths, subjects and reasons come from the checkout, a certificate or a server: made visible.
        where = visible(finding.path) + (f"#{finding.index}" if finding.index is not None else "")
        subject = visible(short_subject(cert))
        name = f"{finding.shown_status:<8}"
        if self.color and finding.used:
            name = f"{_COLOURS[status]}{name}{_RESET}"
        line = f"{name}  {days:>6}  {not_after:<16}  {where}"
        if subject:
            line += f" ({subject})"
        if finding.reasons:
            line += "  " + "; ".join(visible(r.text) for r in finding.reasons)
        self._write(line)

    def finish(self, summary: Summary) -> None:
        if self.quiet and summary.status is Status.OK:
            return
        if (
            self._nothing
            and not self._started
            and summary.total == len(self._nothing)
            and not summary.unused
            and not summary.skipped
        ):
            # Only folders without certificates: one line each says it all (UNKNOWN, exit 3).
            for finding in self._nothing:
                where, why = visible(finding.path), visible(finding.reasons[0].text)
                self._write(f"{where}: {why} -> UNKNOWN (exit {Status.UNKNOWN.value})")
        else:
            for finding in self._nothing:
                self._row(finding)
            self._write("\n" + summary.line())
        for note in summary.notes:
            self._write(f"note: {visible(note)}")

    def _write(self, line: str) -> None:
        # The exit to a terminal or a mail: whatever a field let through, only newlines and
        # certkit's own colours stay raw (certkit.text.terminal_safe).
        self.out.write(terminal_safe(line) + "\n")


def _nothing_found(finding: Finding) -> bool:
    return any(r.code == NOTHING_FOUND_CODE for r in finding.reasons)


# --------------------------------------------------------------------------- JSON


class JsonReport:
    """One JSON document, written incrementally: {"schema", "checked_at", "thresholds",
    "certificates": [...], "summary"}.  The keys come in a fixed order."""

    def __init__(self, out: IO[str], *, now: datetime, thresholds: Thresholds, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.head = (
            '{"schema": '
            + json.dumps(JSON_SCHEMA)
            + ', "checked_at": '
            + json.dumps(_iso(now))
            + ', "thresholds": '
            + json.dumps({"warn": str(thresholds.warn), "crit": str(thresholds.crit)})
            + ', "certificates": ['
        )
        self._count = 0

    def add(self, finding: Finding) -> None:
        if self.quiet and (finding.status is Status.OK or not finding.used):
            return
        if self._count == 0:
            self.out.write(self.head + "\n")
        else:
            self.out.write(",\n")
        self.out.write("  " + json.dumps(record(finding)))
        self._count += 1

    def finish(self, summary: Summary) -> None:
        if self.quiet and summary.status is Status.OK:
            return
        if self._count == 0:
            self.out.write(self.head)
        summary_obj = {
            "status": summary.status.name,
            "exit_code": summary.status.value,
            "counts": {s.name: summary.counts[s] for s in Status},
            "total": summary.total,
            "unused": summary.unused,
            "skipped": summary.skipped,
            "notes": summary.notes,
        }
        self.out.write('\n], "summary": ' + json.dumps(summary_obj) + "}\n")


# --------------------------------------------------------------------------- Prometheus


_FAMILIES = (
    ("certkit_cert_not_after_timestamp_seconds", "gauge", "notAfter of the certificate, seconds since the Unix epoch"),
    (
        "certkit_cert_not_before_timestamp_seconds",
        "gauge",
        "notBefore of the certificate, seconds since the Unix epoch",
    ),
    (
        "certkit_cert_status",
        "gauge",
        "certkit check-expiry status of the certificate or input: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    ),
    (
        "certkit_cert_problem",
        "gauge",
        "one sample per problem found, by reason code (expired, expiring, stale, chain, key-mismatch, hostname, "
        "missing, unreadable, ...); the value is its status: 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    ),
    (
        "certkit_offline_key_needed_timestamp_seconds",
        "gauge",
        "the moment renew will need an offline CA key to re-issue this certificate (its notAfter minus renew's "
        "default 30 days), seconds since the Unix epoch",
    ),
    (
        "certkit_running_mismatch",
        "gauge",
        "1 when a container (or the compose project `docker compose up` would run) has another certificate than "
        "the renewed file on disk (STALE, BAKED), else 0; container is empty for the compose project's rows",
    ),
    (
        "certkit_check_status",
        "gauge",
        "worst status of the whole check (the exit code): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    ),
    ("certkit_check_findings", "gauge", "number of certificates and inputs checked, by status"),
    ("certkit_check_timestamp_seconds", "gauge", "the moment the certificates were judged as of (--at or now)"),
)


_PER_CERT = 5  # the first five families have one sample (or more) per certificate
_RUNNING = 5  # then certkit_running_mismatch: one sample per container file (spooled too)


class PrometheusReport:
    """node_exporter textfile-collector format (Prometheus text exposition 0.0.4)."""

    def __init__(self, out: IO[str], *, now: datetime, quiet: bool = False) -> None:
        self.out = out
        self.now = now
        self.quiet = quiet
        # One spool per per-certificate family: samples of a family must be contiguous.  newline="":
        # what is written is read back byte for byte (universal newlines would turn a CR into a line end).
        self._spools = [tempfile.TemporaryFile("w+", encoding="utf-8", newline="") for _ in range(_PER_CERT + 1)]

    def add(self, finding: Finding) -> None:
        if not finding.used:
            return  # a file no service uses is not monitored: alerting on it is what --all is for
        cert = finding.cert
        # No serial (nor fingerprint) label: a renewal would then start a new series for
        # every certificate, and alerts keyed on the old one would resolve and fire anew.
        # path + index + subject stay the same across renewals; the serial is in --format json.
        labels = _labels(
            {
                "path": finding.path,
                "index": "" if finding.index is None else str(finding.index),
                "subject": subject_text(cert) or "",
            }
        )
        if cert is not None:
            self._spools[0].write(f"{_FAMILIES[0][0]}{{{labels}}} {cert.not_valid_after_utc.timestamp():.0f}\n")
            self._spools[1].write(f"{_FAMILIES[1][0]}{{{labels}}} {cert.not_valid_before_utc.timestamp():.0f}\n")
        self._spools[2].write(f"{_FAMILIES[2][0]}{{{labels}}} {finding.status.value}\n")
        codes: dict[str, Status] = {}
        for reason in finding.reasons:  # one sample per code: two "chain" reasons are one series
            codes[reason.code] = worst((codes.get(reason.code, Status.OK), reason.status))
        for code, status in codes.items():
            if status is not Status.OK:  # a problem: an OK reason is information (offline-key far ahead)
                self._spools[3].write(f'{_FAMILIES[3][0]}{{{labels},code="{_escape(code)}"}} {status.value}\n')
        for reason in finding.reasons:
            if reason.code == "offline-key" and reason.at is not None:
                self._spools[4].write(f"{_FAMILIES[4][0]}{{{labels}}} {reason.at.timestamp():.0f}\n")
                break
        row = finding.runs
        if row is not None:
            # path is the finding's (container:/path), so an alert joins certkit_cert_problem on it.
            running = _labels(
                {
                    "path": finding.path,
                    "service": row.service,
                    "container": row.container or "",
                    "host_path": row.host_path,
                }
            )
            mismatch = 1 if row.verdict in (Verdict.STALE, Verdict.BAKED) else 0
            self._spools[_RUNNING].write(f"{_FAMILIES[_RUNNING][0]}{{{running}}} {mismatch}\n")

    def finish(self, summary: Summary) -> None:
        try:
            if self.quiet and summary.status is Status.OK:
                return
            for (name, kind, help_text), spool in zip(_FAMILIES[: _PER_CERT + 1], self._spools, strict=True):
                self.out.write(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
                spool.seek(0)
                while chunk := spool.read(1 << 16):
                    self.out.write(chunk)
            totals = [
                [f"{summary.status.value}"],
                [f'{{status="{status.name}"}} {summary.counts[status]}' for status in Status],
                [f"{self.now.timestamp():.0f}"],
            ]
            for (name, kind, help_text), samples in zip(_FAMILIES[_PER_CERT + 1 :], totals, strict=True):
                self.out.write(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
                for sample in samples:
                    self.out.write(name + ("" if sample.startswith("{") else " ") + sample + "\n")
        finally:
            for spool in self._spools:
                spool.close()


def _labels(values: dict[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in values.items())


def _escape(value: str) -> str:
    r"""A label value in the text exposition format, whatever its characters.

    The format escapes exactly three in label values: backslash, double quote and line feed (as
    ``\\``, ``\"``, ``\n``); any other escape is a parse error.  A CR, ESC or other control
    character has no escape there, and raw it breaks readers (a CR ends a line for any reader with
    universal newlines; node_exporter then fails the whole file and exports no certkit series) and
    reaches alert mails and chat through ``{{ $labels.subject }}``.  So every control character but
    the line feed is first written as its visible escape (certkit.text.visible: a CR becomes the
    two characters ``\r``, which the format then writes ``\\r``): the same text the table shows.
    The line feed keeps the format's own escape, so a subject with a newline keeps it.  Lone
    surrogates (a file name that is not UTF-8) become ``\udcXX``: the file stays valid UTF-8.
    """
    return visible(value, keep="\n").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --------------------------------------------------------------------------- Nagios


class NagiosReport:
    """One status line with perfdata (Nagios plugin guidelines):
    ``CERTKIT CRITICAL - 3 critical, ...: path expired ... | 'certificates'=19;;;0 ...``"""

    def __init__(self, out: IO[str], *, now: datetime, thresholds: Thresholds, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.warn_s = int(thresholds.warn.approx_timedelta(now).total_seconds())
        self.crit_s = int(thresholds.crit.approx_timedelta(now).total_seconds())

    def add(self, finding: Finding) -> None:
        pass  # the Summary keeps what the line needs

    def finish(self, summary: Summary) -> None:
        status = summary.status
        if self.quiet and status is Status.OK:
            return
        c = summary.counts
        text = (
            f"CERTKIT {status.name} - {c[Status.CRITICAL]} critical, {c[Status.WARNING]} warning, "
            f"{c[Status.UNKNOWN]} unknown, {c[Status.OK]} ok"
        )
        if summary.unused:
            text += f", {summary.unused} unused (not judged)"
        if summary.skipped:
            text += f", {summary.skipped} symlinked folders skipped"
        if summary.total == 0:
            text += ", no certificates found"
        shown = []
        for finding in summary.problems:
            where = finding.path + (f"#{finding.index}" if finding.index else "")
            shown.append(f"{where}: {finding.reasons[0].text if finding.reasons else finding.status.name}")
        if shown:
            more = summary.problem_count - len(shown)
            text += ": " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")
        # One line, always: the plugin output ends at the first line break, and a monitoring mail or
        # web UI must not obey a control character from a path or a certificate (certkit.text.visible).
        text = visible(text).replace("|", "/")  # a "|" would start the perfdata
        perf = [
            f"'certificates'={summary.total};;;0",
            f"'critical'={c[Status.CRITICAL]};;;0",
            f"'warning'={c[Status.WARNING]};;;0",
            f"'unknown'={c[Status.UNKNOWN]};;;0",
        ]
        if summary.min_seconds_left is not None:
            perf.append(f"'min_seconds_left'={summary.min_seconds_left}s;{self.warn_s}:;{self.crit_s}:")
        self.out.write(terminal_safe(text + " | " + " ".join(perf)) + "\n")
