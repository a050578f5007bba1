"""certkit.text: one-line error causes and UTC timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from certkit.text import one_line, utc_minute


@pytest.mark.parametrize(
    ("exc", "limit", "expected"),
    [
        (ValueError("bad PEM\nline two\nline three"), None, "bad PEM"),
        (ValueError("x" * 300), 160, "x" * 160),
        (ValueError(""), None, "ValueError"),  # no message: the type says what happened
        (OSError(), 10, "OSError"),
    ],
)
def test_one_line(exc: BaseException, limit: int | None, expected: str) -> None:
    assert one_line(exc, limit) == expected


def test_utc_minute_shows_aware_moments_in_utc() -> None:
    moment = datetime(2027, 1, 31, 12, 0, 59, tzinfo=timezone.utc)
    assert utc_minute(moment) == "2027-01-31 12:00 UTC"
    assert utc_minute(moment.astimezone(timezone(timedelta(hours=-5)))) == "2027-01-31 12:00 UTC"
    assert utc_minute(datetime(2027, 1, 31, 12, 0)) == "2027-01-31 12:00 UTC"  # naive: taken as UTC already
