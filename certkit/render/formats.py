"""check-expiry's formats, in one table: --format's choices are its keys, and each entry makes its report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import IO, Callable

from certkit.expiry import Thresholds
from certkit.render.expiry import JsonReport, NagiosReport, PrometheusReport, Report, TableReport


@dataclass(frozen=True)
class ReportOptions:
    now: datetime
    thresholds: Thresholds
    quiet: bool = False
    color: bool = False  # the table only


def _html(out: IO[str], o: ReportOptions) -> Report:
    from certkit.render.expiry_html import HtmlReport  # only when asked for: it loads jinja2

    return HtmlReport(out, now=o.now, thresholds=o.thresholds, quiet=o.quiet)


# Every format check-expiry writes and how each is made; --format's choices are its keys.
REPORTS: dict[str, Callable[[IO[str], ReportOptions], Report]] = {
    "table": lambda out, o: TableReport(out, color=o.color, quiet=o.quiet),
    "json": lambda out, o: JsonReport(out, now=o.now, thresholds=o.thresholds, quiet=o.quiet),
    "prometheus": lambda out, o: PrometheusReport(out, now=o.now, quiet=o.quiet),
    "nagios": lambda out, o: NagiosReport(out, now=o.now, thresholds=o.thresholds, quiet=o.quiet),
    "html": _html,
}
FORMATS = tuple(REPORTS)
