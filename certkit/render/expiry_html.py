"""`check-expiry --format html`: one self-contained page people can look at.

A timeline of every certificate's validity against now and the --warn/--crit windows, with a
zoomed strip of the next few --warn windows (a 30-day window is a few pixels on a 10-year axis),
grouped by chain (the root or top-most issuer present whose signature verifies, then
intermediates, then leaves), one row per certificate listing every file it was found in (a
bundle's copy of the intermediate is the intermediate), coloured by status with the status word
beside it (colour is never the only signal).
No script, no font, no network: CSS bars in one file, readable in any browser or mail
client. Unlike the streaming formats the page needs every finding before it can draw the
axis and the groups, so findings are kept in memory (a few hundred bytes each).
No click, no clock, no terminal here: ``now`` and the stream come from the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING

from cryptography import x509

from certkit import __version__
from certkit.certificates import fingerprint_sha256, issued_by, self_issued
from certkit.check.findings import Finding, Status, Thresholds, worst
from certkit.render.expiry import short_subject, subject_text
from certkit.templates import render_html
from certkit.text import utc_minute

if TYPE_CHECKING:
    from certkit.workflows.check import Summary

TEMPLATE = "report/check-expiry.html.j2"
# The long axis covers every judged certificate, but reaches at most this far either side of now: a
# 100-year test certificate would squeeze every other bar to a sliver.  A bar that runs past an end
# says so with an arrow and its date, never by a silent cut.
MAX_REACH = timedelta(days=15 * 366)
MAX_BACK = timedelta(days=10 * 366)
# The near-term strip: the --warn and --crit windows are a few pixels wide on a 10-year axis, so a
# second, zoomed axis shows the next NEAR_WARNS x --warn (at least NEAR_MIN) with a little of the past.
NEAR_WARNS = 3
NEAR_MIN = timedelta(days=60)
_ROLE_ORDER = {"root": 0, "self-signed": 0, "intermediate": 1, "leaf": 2}
_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}


@dataclass(frozen=True)
class FileRef:
    """One place a certificate was found: a file (and its position in it), a served chain, a container."""

    path: str
    index: int | None
    position: str  # "2nd of 2 in this bundle", "" for a file with one certificate


@dataclass(frozen=True)
class Bar:
    """A validity bar on one axis, in percent of it.  An end past the axis is never cut silently:
    ``cut_left``/``cut_right`` are the marks the page draws there (an arrow, with the year on the long axis)."""

    left: float = 0.0
    width: float = 0.0
    shown: bool = False  # any of it on the axis
    cut_left: str = ""
    cut_right: str = ""


@dataclass(frozen=True)
class Row:
    """One certificate (or unreadable input) with every place it was found: a table row and its bars."""

    status: str
    role: str  # root, intermediate, leaf, self-signed, input (nothing could be read), service, deploy
    files: tuple[FileRef, ...]
    subject: str  # full RFC 4514 subject, "" when unknown
    short: str  # CN=... when there is one
    not_before: str
    not_after: str
    days_left: int | None
    reasons: tuple[str, ...]
    bar: Bar = Bar()
    near: Bar = Bar()
    bar_label: str = ""  # text alternative of the bars

    @property
    def where(self) -> str:
        """The first place, as path#index (the table's and JSON's way of naming a certificate)."""
        first = self.files[0]
        return first.path + (f"#{first.index}" if first.index is not None else "")


@dataclass(frozen=True)
class Group:
    title: str
    note: str
    status: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Axis:
    start: str
    end: str
    now: float  # percent positions
    crit: float
    warn: float
    ticks: tuple[tuple[float, str], ...]

    @property
    def crit_width(self) -> float:
        return round(max(self.crit - self.now, 0.0), 3)

    @property
    def warn_width(self) -> float:
        return round(max(self.warn - self.crit, 0.0), 3)


@dataclass(frozen=True)
class Page:
    checked_at: str
    warn: str
    crit: str
    headline: str  # the verdict in words (no shell-like "-> OK (exit 0)")
    exit_code: int
    status: str
    counts: tuple[tuple[str, int], ...]
    axis: Axis
    near: Axis  # the zoomed strip: the next few --warn windows
    near_days: int
    groups: tuple[Group, ...]
    total: int
    rows: int  # distinct certificates shown (a certificate in several files is one row)
    version: str = __version__


@dataclass
class _Chains:
    """Who issued whom among the certificates seen: by name, and confirmed by the signature."""

    by_subject: dict[x509.Name, list[x509.Certificate]] = field(default_factory=dict)

    def add(self, cert: x509.Certificate) -> None:
        same = self.by_subject.setdefault(cert.subject, [])
        if cert not in same:
            same.append(cert)

    def issuer_of(self, cert: x509.Certificate) -> tuple[x509.Certificate | None, bool]:
        """(the certificate here that signed ``cert``, whether one here has its issuer's name)."""
        named = [c for c in self.by_subject.get(cert.issuer, []) if c != cert]
        return next((c for c in named if issued_by(cert, c)), None), bool(named)

    def top(self, cert: x509.Certificate) -> tuple[x509.Name, str, int]:
        """(name of the chain's top, how it stands: "root", "absent" or "other-key", depth).

        A certificate joins a chain only when its issuer's signature verifies: a name alone is
        not enough (Notary's trustpinning/ca.crt names the testing CA as issuer, but an old key
        of it signed it, not the root in the checkout)."""
        depth = 0
        seen = {cert.subject}
        current = cert
        while not self_issued(current):
            issuer, named = self.issuer_of(current)
            if issuer is None or issuer.subject in seen:
                return current.issuer, "other-key" if named else "absent", depth + 1
            seen.add(issuer.subject)
            current = issuer
            depth += 1
        return current.subject, "root", depth


_CHAIN_NOTES = {
    "root": "root in the checked files",
    "absent": "issuer not among the checked files",
    "other-key": "not signed by the CA of that name in the checked files: another key, same name",
}


def role(cert: x509.Certificate) -> str:
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    if cert.issuer == cert.subject:
        return "root" if is_ca else "self-signed"
    return "intermediate" if is_ca else "leaf"


def build_page(findings: list[Finding], summary: Summary, *, now: datetime, thresholds: Thresholds) -> Page:
    """Everything the template shows, computed here so the template only lays it out."""
    warn_at, crit_at = thresholds.warn.after(now), thresholds.crit.after(now)
    certs = [f.cert for f in findings if f.cert is not None]
    judged = [f.cert for f in findings if f.cert is not None and f.used]
    start, end = _axis_bounds(judged or certs, now, warn_at)
    near_end = max(now + NEAR_WARNS * (warn_at - now), now + NEAR_MIN)
    near_start = now - (near_end - now) / 9  # a tenth of the strip for what just expired
    long_axis, near_axis = _Scale(start, end), _Scale(near_start, near_end)

    chains = _Chains()
    for known in certs:
        chains.add(known)
    per_file: dict[str, int] = defaultdict(int)
    for finding in findings:
        if finding.index is not None:
            per_file[finding.path] += 1
    # One row per certificate and verdict: a bundle's copy of the intermediate is the intermediate,
    # found in several files, not several certificates.
    merged: dict[tuple[object, ...], list[Finding]] = {}
    for finding in findings:
        reasons = tuple(r.text for r in finding.reasons)
        identity: object = (
            fingerprint_sha256(finding.cert) if finding.cert is not None else (finding.path, finding.index)
        )
        merged.setdefault((identity, finding.shown_status, reasons, finding.runs is None), []).append(finding)

    grouped: dict[tuple[int, str], list[tuple[int, Row]]] = defaultdict(list)
    notes: dict[tuple[int, str], str] = {}
    for same in merged.values():
        finding = same[0]
        refs = tuple(_ref(f, per_file) for f in same)
        cert = finding.cert
        if cert is None and finding.runs is not None and finding.runs.container is None:
            # The compose analysis's rows: no certificate is read, what is judged is the project.
            key = (3, "What `docker compose up` would run")
            notes[key] = "services that would read a renewed certificate from their image (BAKED)"
            grouped[key].append((9, _row(finding, refs, "service", long_axis, near_axis, now)))
            continue
        if cert is None and finding.source == "deploy":
            # certkit.check.deploy_owed: a renewal that has not reached the running containers yet.
            key = (3, "Deploy owed")
            notes[key] = "renewed on disk, not yet in the running containers: `certkit renew --deploy` retries"
            grouped[key].append((9, _row(finding, refs, "deploy", long_axis, near_axis, now)))
            continue
        if cert is None:
            key = (3, "Inputs that could not be read")
            notes[key] = "no certificate could be read from these"
            grouped[key].append((9, _row(finding, refs, "input", long_axis, near_axis, now)))
            continue
        top, standing, depth = chains.top(cert)
        key = ({"root": 0, "absent": 1, "other-key": 2}[standing], top.rfc4514_string())
        notes[key] = _CHAIN_NOTES[standing]
        grouped[key].append((depth, _row(finding, refs, role(cert), long_axis, near_axis, now)))

    groups = []
    for key, rows in grouped.items():
        # Root first, then intermediates, then leaves; within a level by file.
        ordered = [row for _, row in sorted(rows, key=lambda r: (r[0], _ROLE_ORDER.get(r[1].role, 3), r[1].where))]
        statuses = [Status[row.status] for row in ordered if row.status in Status.__members__]  # not UNUSED
        status = worst(statuses)
        shown = status.name if statuses else "UNUSED"
        groups.append(
            ((-status.severity, key[0], -len(ordered), key[1]), Group(key[1], notes[key], shown, tuple(ordered)))
        )
    # Worst chains first; among equals the chains with a root present, then the bigger ones.
    groups.sort(key=lambda g: g[0])

    axis = Axis(
        _day(start),
        _day(end),
        long_axis.pos(now),
        long_axis.pos(crit_at),
        long_axis.pos(warn_at),
        tuple((long_axis.pos(moment), label) for moment, label in _ticks(start, end)),
    )
    near = Axis(
        _day(near_start),
        _day(near_end),
        near_axis.pos(now),
        near_axis.pos(crit_at),
        near_axis.pos(warn_at),
        (
            (near_axis.pos(now), "now"),
            (near_axis.pos(warn_at), f"+{thresholds.warn}"),
            (100.0, f"+{(near_end - now).days}d"),
        ),
    )
    return Page(
        checked_at=utc_minute(now),
        warn=str(thresholds.warn),
        crit=str(thresholds.crit),
        headline=_headline(summary),
        exit_code=summary.status.value,
        status=summary.status.name,
        counts=tuple((s.name, summary.counts[s]) for s in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN, Status.OK))
        + ((("UNUSED", summary.unused),) if summary.unused else ())
        + ((("SKIPPED", summary.skipped),) if summary.skipped else ()),
        axis=axis,
        near=near,
        near_days=(near_end - now).days,
        groups=tuple(g for _, g in groups),
        total=summary.total,
        rows=sum(len(g.rows) for _, g in groups),
    )


def _headline(summary: Summary) -> str:
    """The verdict as a sentence: the counts, and what was listed without being judged."""
    line = f"{summary.total} certificate{'s' if summary.total != 1 else ''} judged: {summary.counts_text()}."
    if summary.unused:
        line += f" {summary.unused} more in files no service uses: listed, not judged (--all judges them)."
    if summary.skipped:
        line += f" {summary.skipped} symlinked folder{'s' if summary.skipped != 1 else ''} outside not followed."
    return line


def render_page(page: Page) -> str:
    return render_html(TEMPLATE, page=page)


class HtmlReport:
    """Collects the findings, writes the page when the check is finished."""

    def __init__(self, out: IO[str], *, now: datetime, thresholds: Thresholds, quiet: bool = False) -> None:
        self.out = out
        self.now = now
        self.thresholds = thresholds
        self.quiet = quiet
        self.findings: list[Finding] = []

    def add(self, finding: Finding) -> None:
        if self.quiet and (finding.status is Status.OK or not finding.used):
            return
        self.findings.append(finding)

    def finish(self, summary: Summary) -> None:
        if self.quiet and summary.status is Status.OK:
            return
        page = build_page(self.findings, summary, now=self.now, thresholds=self.thresholds)
        self.out.write(render_page(page))


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Scale:
    start: datetime
    end: datetime

    def pos(self, moment: datetime) -> float:
        share = (moment - self.start).total_seconds() / (self.end - self.start).total_seconds()
        return round(min(max(share, 0.0), 1.0) * 100, 3)

    def bar(self, not_before: datetime, not_after: datetime, *, dates: bool = True) -> Bar:
        """``dates``: say the year a cut end reaches (the long axis); the near strip only points."""
        left, right = self.pos(not_before), self.pos(not_after)
        shown = not_after >= self.start and not_before <= self.end
        cut_left = cut_right = ""
        # Short marks (a year), so they never hide the bar they mark; the full dates are in the row.
        if not_after < self.start:
            cut_left = f"ended {not_after.year}" if dates else "ended"
        elif not_before < self.start:
            cut_left = f"{not_before.year}" if dates else ""
        if not_before > self.end:
            cut_right = f"starts {not_before.year}" if dates else "starts later"
        elif not_after > self.end:
            cut_right = f"{not_after.year}" if dates else "later"
        return Bar(
            left=left,
            width=max(round(right - left, 3), 0.4) if shown else 0.0,  # a sliver stays visible
            shown=shown,
            cut_left=cut_left,
            cut_right=cut_right,
        )


def _ref(finding: Finding, per_file: dict[str, int]) -> FileRef:
    count = per_file.get(finding.path, 0)
    position = ""
    if finding.index is not None and count > 1:
        position = f"{_ORDINALS.get(finding.index + 1, f'{finding.index + 1}th')} of {count}"
        position += " served" if finding.source == "endpoint" else " in this bundle"
    return FileRef(finding.path, finding.index, position)


def _row(
    finding: Finding, refs: tuple[FileRef, ...], kind: str, long_axis: _Scale, near_axis: _Scale, now: datetime
) -> Row:
    cert = finding.cert
    reasons = tuple(r.text for r in finding.reasons)
    status = finding.shown_status  # UNUSED for a file no service uses (listed, not judged)
    if cert is None:
        return Row(status, kind, refs, "", "", "", "", None, reasons, bar_label=f"{status}: {'; '.join(reasons)}")
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    days = None if finding.seconds_left is None else int(finding.seconds_left / 86400)  # toward 0, as the table
    state = (
        f"expired {-days} days ago"
        if days is not None and finding.seconds_left is not None and finding.seconds_left < 0
        else f"{days} days left"
    )
    label = f"{status}: {short_subject(cert)} valid {_day(not_before)} to {_day(not_after)}, {state}"
    return Row(
        status=status,
        role=kind,
        files=refs,
        subject=subject_text(cert) or "",
        short=short_subject(cert),
        not_before=utc_minute(not_before, zone=False),
        not_after=utc_minute(not_after, zone=False),
        days_left=days,
        reasons=reasons,
        bar=long_axis.bar(not_before, not_after),
        near=near_axis.bar(not_before, not_after, dates=False),
        bar_label=label,
    )


def _axis_bounds(certs: list[x509.Certificate], now: datetime, warn_at: datetime) -> tuple[datetime, datetime]:
    """From the earliest notBefore to the latest notAfter of the judged certificates (the files no service
    uses do not stretch it), with now and the warning window always on it, within MAX_BACK/MAX_REACH."""
    if not certs:
        return now - timedelta(days=30), max(warn_at, now + timedelta(days=30)) + timedelta(days=30)
    earliest = min(c.not_valid_before_utc for c in certs)
    latest = max(c.not_valid_after_utc for c in certs)
    start = max(min(earliest, now), now - MAX_BACK)
    end = min(max(latest, warn_at), now + MAX_REACH)
    end = max(end, warn_at)  # the warning window is always on the page
    margin = (end - start) * 0.02
    return start - margin, end + margin


def _ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Year marks on a long axis, month marks on a short one; at most ~12."""
    span_days = (end - start).days
    if span_days > 3 * 365:
        years = list(range(start.year + 1, end.year + 1))
        step = max(1, -(-len(years) // 7))  # ceil: at most 7 labels, so they never touch
        return [(datetime(y, 1, 1, tzinfo=timezone.utc), str(y)) for y in years[::step]]
    months = []
    year, month = start.year, start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        moment = datetime(year, month, 1, tzinfo=timezone.utc)
        if moment > end:
            break
        months.append((moment, f"{year}-{month:02d}"))
    step = max(1, -(-len(months) // 7))
    return months[::step]


def _day(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d}"
