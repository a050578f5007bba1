"""Human durations ("30d", "2w", "6mo", "90m", "1y 2mo") as calendar-aware offsets.

``m`` is minutes, as in Prometheus, systemd, Go and step; months are ``mo`` (or ``month``,
``months``).  A bare uppercase ``M`` is refused: some tools read it as months, others as
minutes, and a window off by a factor of 40,000 is worse than a question.

Months and years are calendar units (dateutil's relativedelta), so "6 months"
from 31 August is 28/29 February, as a person would count it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from certkit.errors import UsageError

_UNITS: dict[str, str] = {
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "wk": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "mo": "months",
    "mos": "months",
    "month": "months",
    "months": "months",
    "y": "years",
    "yr": "years",
    "year": "years",
    "years": "years",
}

# The one description of the units, for every option that takes a duration (certkit.cli.options
# appends it to their help) and for the error below: users read the same words everywhere.
UNITS_TEXT = "Units: s, m or min (minutes), h, d, w, mo (months), y; e.g. 30d, 12h, 30m, 6mo, 1y."

MAX_DAYS = 100 * 366  # far beyond any certificate; keeps date arithmetic from overflowing
_PART = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)\s*,?")


class Duration:
    """A parsed duration; add it to an aware datetime with ``now + duration``."""

    def __init__(self, text: str, delta: relativedelta) -> None:
        self.text = text
        self.delta = delta

    def after(self, moment: datetime) -> datetime:
        return moment + self.delta

    def before(self, moment: datetime) -> datetime:
        return moment - self.delta

    def approx_timedelta(self, anchor: datetime) -> timedelta:
        """The exact length of this duration when counted from ``anchor``."""
        return self.after(anchor) - anchor

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str) -> Duration:
    """Parse "30d", "2w", "6 months", "1y 6mo", "90m", "43800h", "0".

    Raises UsageError with the accepted forms when the text is not a duration.
    """
    cleaned = text.strip()
    if cleaned == "0":
        return Duration(text, relativedelta())
    pos = 0
    fields: dict[str, int] = {}
    while pos < len(cleaned):
        match = _PART.match(cleaned, pos)
        if not match or match.end() == pos:
            break
        if match.group(2) == "M":
            raise UsageError(f"duration {text!r}: M is ambiguous; write m or min for minutes, mo for months")
        unit = _UNITS.get(match.group(2).lower())
        if unit is None:
            break
        fields[unit] = fields.get(unit, 0) + int(match.group(1))
        pos = match.end()
    if not fields or pos != len(cleaned):
        raise UsageError(f"unknown duration {text!r}: use a number and a unit. {UNITS_TEXT}")
    approx_days = (
        fields.get("years", 0) * 366
        + fields.get("months", 0) * 31
        + fields.get("weeks", 0) * 7
        + fields.get("days", 0)
        + fields.get("hours", 0) / 24
        + fields.get("minutes", 0) / 1440
        + fields.get("seconds", 0) / 86400
    )
    if approx_days > MAX_DAYS:
        raise UsageError(f"duration {text!r} is too long: at most {MAX_DAYS // 366} years")
    delta = relativedelta(
        years=fields.get("years", 0),
        months=fields.get("months", 0),
        weeks=fields.get("weeks", 0),
        days=fields.get("days", 0),
        hours=fields.get("hours", 0),
        minutes=fields.get("minutes", 0),
        seconds=fields.get("seconds", 0),
    )
    return Duration(text, delta.normalized())


def parse_seconds(text: str, anchor: datetime) -> float:
    """A timeout in seconds: a bare number ("600", "2.5") is seconds, as before durations were
    accepted; anything else is a duration ("10m", "1h"), counted from ``anchor``."""
    try:
        seconds = float(text)
    except ValueError:
        return parse_duration(text).approx_timedelta(anchor).total_seconds()
    if not math.isfinite(seconds):
        raise UsageError(f"{text!r} is not a number of seconds. {UNITS_TEXT}")
    return seconds
