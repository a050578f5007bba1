"""check-expiry's formats, in one table: --format's choices are its keys, and each entry makes its report.

Light on purpose: the CLI reads FORMATS when it declares its options, so `--help` and shell
completion must not pay for cryptography; each report's module is imported when it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from certkit.check.findings import Thresholds
    from certkit.render.expiry import Report


@dataclass(frozen=True)
class ReportOptions:
    now: datetime
    thresholds: Thresholds
    quiet: bool = False
    color: bool = False  # the table only


def _table(out: IO[str], o: ReportOptions) -> Report:
    from certkit.render.expiry import TableReport

    return TableReport(out, color=o.color, quiet=o.quiet)


def _json(out: IO[str], o: ReportOptions) -> Report:
    from certkit.render.expiry import JsonReport

    return JsonReport(out, now=o.now, thresholds=o.thresholds, quiet=o.quiet)


def _prometheus(out: IO[str], o: ReportOptions) -> Report:
    from certkit.render.expiry import PrometheusReport

    return PrometheusReport(out, now=o.now, quiet=o.quiet)


def _nagios(out: IO[str], o: ReportOptions) -> Report:
    from certkit.render.expiry import NagiosReport

    return NagiosReport(out, now=o.now, thresholds=o.thresholds, quiet=o.quiet)


def _html(out: IO[str], o: ReportOptions) -> Report:
    from certkit.render.expiry_html import HtmlReport  # jinja2, only when asked for

    return HtmlReport(out, now=o.now, thresholds=o.thresholds, quiet=o.quiet)


# Every format check-expiry writes and how each is made; --format's choices are its keys.
REPORTS: dict[str, Callable[[IO[str], ReportOptions], Report]] = {
    "table": _table,
    "json": _json,
    "prometheus": _prometheus,
    "nagios": _nagios,
    "html": _html,
}
FORMATS = tuple(REPORTS)
