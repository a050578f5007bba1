"""Text for people: one-line error causes and timestamps, written the same way everywhere."""

from __future__ import annotations

from datetime import datetime, timezone


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its type name when it has none), cut to ``limit``.

    Library messages (OpenSSL, YAML, TOML) run on for several lines; certkit's errors are one line.
    """
    lines = str(exc).splitlines()
    return (lines[0] if lines else type(exc).__name__)[:limit]


def utc_minute(moment: datetime) -> str:
    """``2027-01-31 12:00 UTC``: how tables and messages show a moment (an aware one in UTC)."""
    when = moment.astimezone(timezone.utc) if moment.tzinfo is not None else moment
    return f"{when:%Y-%m-%d %H:%M} UTC"
