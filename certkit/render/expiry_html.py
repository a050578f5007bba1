"""`check-expiry --format html`: one self-contained page people can look at.

A timeline of every certificate's validity against now and the --warn/--crit windows,
grouped by chain (the root or top-most issuer present, then intermediates, then leaves),
coloured by status with the status word beside it (colour is never the only signal).
No script, no font, no network: CSS bars in one file, readable in any browser or mail
client. Unlike the streaming formats the page needs every finding before it can draw the
axis and the groups, so findings are kept in memory (a few hundred bytes each).
No click, no clock, no terminal here: ``now`` and the stream come from the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING

from cryptography import x509

from certkit import __version__
from certkit.check.findings import Finding, Status, Thresholds, worst
from certkit.render.expiry import short_subject, subject_text
from certkit.templates import render_html
from certkit.text import utc_minute

if TYPE_CHECKING:
    from certkit.workflows.check import Summary

TEMPLATE = "report/check-expiry.html.j2"
# The axis shows at most this far either side of now; longer validity runs off the edge
# (marked), so a 100-year test certificate does not squeeze every other bar to a sliver.
MAX_REACH = timedelta(days=5 * 366)
_ROLE_ORDER = {"root": 0, "self-signed": 0, "intermediate": 1, "leaf": 2}


@dataclass(frozen=True)
class Row:
    """One certificate (or unreadable input): a table row and its bar."""

    status: str
    role: str  # root, intermediate, leaf, input (nothing could be read)
    where: str  # path#index
    subject: str  # full RFC 4514 subject, "" when unknown
    short: str  # CN=... when there is one
    not_before: str
    not_after: str
    days_left: int | None
    reasons: tuple[str, ...]
    bar_left: float = 0.0  # percent of the axis
    bar_width: float = 0.0
    runs_before: bool = False  # validity starts before the axis
    runs_after: bool = False  # validity ends after the axis
    bar_label: str = ""  # text alternative of the bar


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
    summary_line: str
    status: str
    counts: tuple[tuple[str, int], ...]
    axis: Axis
    groups: tuple[Group, ...]
    total: int
    version: str = __version__


@dataclass
class _Chains:
    """Who issued whom among the certificates seen, by subject."""

    by_subject: dict[x509.Name, x509.Certificate] = field(default_factory=dict)

    def add(self, cert: x509.Certificate) -> None:
        self.by_subject.setdefault(cert.subject, cert)

    def top(self, cert: x509.Certificate) -> tuple[x509.Name, bool, int]:
        """(name of the chain's top, whether that top is a self-issued root present here, depth)."""
        depth = 0
        seen = {cert.subject}
        current = cert
        while current.issuer != current.subject:
            issuer = self.by_subject.get(current.issuer)
            if issuer is None or issuer.subject in seen:
                return current.issuer, False, depth + 1
            seen.add(issuer.subject)
            current = issuer
            depth += 1
        return current.subject, True, depth


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
    certs: list[x509.Certificate] = [f.cert for f in findings if f.cert is not None]
    start, end = _axis_bounds(certs, now, warn_at)

    def pos(moment: datetime) -> float:
        share = (moment - start).total_seconds() / (end - start).total_seconds()
        return round(min(max(share, 0.0), 1.0) * 100, 3)

    chains = _Chains()
    for known in certs:
        chains.add(known)
    grouped: dict[tuple[int, str], list[tuple[int, Row]]] = defaultdict(list)
    notes: dict[tuple[int, str], str] = {}
    for finding in findings:
        cert = finding.cert
        if cert is None and finding.runs is not None and finding.runs.container is None:
            # The compose analysis's rows: no certificate is read, what is judged is the project.
            key = (2, "What `docker compose up` would run")
            notes[key] = "services that would read a renewed certificate from their image (BAKED)"
            grouped[key].append((9, _row(finding, "service", pos, start, end)))
            continue
        if cert is None and finding.source == "deploy":
            # certkit.check.deploy_owed: a renewal that has not reached the running containers yet.
            key = (2, "Deploy owed")
            notes[key] = "renewed on disk, not yet in the running containers: `certkit renew --deploy` retries"
            grouped[key].append((9, _row(finding, "deploy", pos, start, end)))
            continue
        if cert is None:
            key = (2, "Inputs that could not be read")
            notes[key] = "no certificate could be read from these"
            grouped[key].append((9, _row(finding, "input", pos, start, end)))
            continue
        top, present, depth = chains.top(cert)
        name = top.rfc4514_string()
        key = (0 if present else 1, name)
        notes[key] = "root in the checked files" if present else "issuer not among the checked files"
        grouped[key].append((depth, _row(finding, role(cert), pos, start, end)))

    groups = []
    for key, rows in grouped.items():
        # Root first, then intermediates, then leaves; within a level by file.
        ordered = [row for _, row in sorted(rows, key=lambda r: (r[0], _ROLE_ORDER.get(r[1].role, 3), r[1].where))]
        judged = [Status[row.status] for row in ordered if row.status in Status.__members__]  # not UNUSED
        status = worst(judged)
        shown = status.name if judged else "UNUSED"
        groups.append(
            ((-status.severity, key[0], -len(ordered), key[1]), Group(key[1], notes[key], shown, tuple(ordered)))
        )
    # Worst chains first; among equals the chains with a root present, then the bigger ones.
    groups.sort(key=lambda g: g[0])

    ticks = tuple((pos(moment), label) for moment, label in _ticks(start, end))
    axis = Axis(_day(start), _day(end), pos(now), pos(crit_at), pos(warn_at), ticks)
    return Page(
        checked_at=utc_minute(now),
        warn=str(thresholds.warn),
        crit=str(thresholds.crit),
        summary_line=summary.line(),
        status=summary.status.name,
        counts=tuple((s.name, summary.counts[s]) for s in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN, Status.OK))
        + ((("UNUSED", summary.unused),) if summary.unused else ())
        + ((("SKIPPED", summary.skipped),) if summary.skipped else ()),
        axis=axis,
        groups=tuple(g for _, g in groups),
        total=summary.total,
    )


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


def _row(finding: Finding, kind: str, pos: Callable[[datetime], float], start: datetime, end: datetime) -> Row:
    cert = finding.cert
    where = finding.path + (f"#{finding.index}" if finding.index is not None else "")
    reasons = tuple(r.text for r in finding.reasons)
    status = finding.shown_status  # UNUSED for a file no service uses (listed, not judged)
    if cert is None:
        return Row(status, kind, where, "", "", "", "", None, reasons, bar_label=f"{status}: {'; '.join(reasons)}")
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    days = None if finding.seconds_left is None else int(finding.seconds_left / 86400)  # toward 0, as the table
    left, right = pos(not_before), pos(not_after)
    state = (
        f"expired {-days} days ago"
        if days is not None and finding.seconds_left is not None and finding.seconds_left < 0
        else f"{days} days left"
    )
    label = f"{status}: {short_subject(cert)} valid {_day(not_before)} to {_day(not_after)}, {state}"
    return Row(
        status=status,
        role=kind,
        where=where,
        subject=subject_text(cert) or "",
        short=short_subject(cert),
        not_before=utc_minute(not_before, zone=False),
        not_after=utc_minute(not_after, zone=False),
        days_left=days,
        reasons=reasons,
        bar_left=left,
        bar_width=max(round(right - left, 3), 0.4),  # a sliver stays visible
        runs_before=not_before < start,
        runs_after=not_after > end,
        bar_label=label,
    )


def _axis_bounds(certs: list[x509.Certificate], now: datetime, warn_at: datetime) -> tuple[datetime, datetime]:
    if not certs:
        return now - timedelta(days=30), max(warn_at, now + timedelta(days=30)) + timedelta(days=30)
    earliest = min(c.not_valid_before_utc for c in certs)
    latest = max(c.not_valid_after_utc for c in certs)
    start = max(min(earliest, now), now - MAX_REACH)
    end = min(max(latest, warn_at), now + MAX_REACH)
    end = max(end, warn_at)  # the warning window is always on the page
    margin = (end - start) * 0.03
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
