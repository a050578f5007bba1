from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from certkit.durations import parse_duration
from certkit.errors import UsageError

T0 = datetime(2027, 8, 31, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", T0 + timedelta(days=30)),
        ("2w", T0 + timedelta(days=14)),
        ("12h", T0 + timedelta(hours=12)),
        ("43800h", T0 + timedelta(hours=43800)),
        ("90 days", T0 + timedelta(days=90)),
        ("1w 2d", T0 + timedelta(days=9)),
        ("6 months", datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)),  # calendar months, leap year
        ("1y", datetime(2028, 8, 31, 12, 0, tzinfo=timezone.utc)),
        ("0", T0),
        ("30s", T0 + timedelta(seconds=30)),
    ],
)
def test_parse(text: str, expected: datetime) -> None:
    assert parse_duration(text).after(T0) == expected


@pytest.mark.parametrize("text", ["", "soon", "30", "d30", "30 parsecs", "-5d", "3.5d"])
def test_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="unknown duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999d", "10000y", "101y", "99999999999999999s"])
def test_rejects_absurd_lengths(text: str) -> None:
    with pytest.raises(UsageError, match="too long"):
        parse_duration(text)
    assert parse_duration("100y").after(T0).year == 2127
