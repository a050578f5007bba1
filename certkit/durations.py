"""Human durations ("30d", "2w", "6 months", "1y 2m") as calendar-aware offsets.

Months and years are calendar units (dateutil's relativedelta), so "6 months"
from 31 August is 28/29 February, as a person would count it.
"""

from __future__ import annotations

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
    "m": "months",
    "mo": "months",
    "month": "months",
    "months": "months",
    "y": "years",
    "yr": "years",
    "year": "years",
    "years": "years",
}

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
    """Parse "30d", "2w", "6 months", "1y 6m", "43800h", "0".

    Raises UsageError with the accepted forms when the text is not a duration.
    """
    cleaned = text.strip().lower()
    if cleaned == "0":
        return Duration(text, relativedelta())
    pos = 0
    fields: dict[str, int] = {}
    while pos < len(cleaned):
        match = _PART.match(cleaned, pos)
        if not match or match.end() == pos:
            break
        unit = _UNITS.get(match.group(2))
        if unit is None:
            break
        fields[unit] = fields.get(unit, 0) + int(match.group(1))
        pos = match.end()
    if not fields or pos != len(cleaned):
        raise UsageError(f"unknown duration {text!r}: use a number and a unit, e.g. 30d, 2w, 12h, 6 months, 1y")
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
