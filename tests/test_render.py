"""certkit.render's shared pieces: emphasis byte for byte as click makes it (render imports no click)."""

from __future__ import annotations

import click
import pytest

from certkit.render import label, minute, plural, style


@pytest.mark.parametrize(
    ("fg", "bold"), [("red", True), ("green", False), ("yellow", None), ("magenta", True), (None, True), (None, False)]
)
def test_style_is_clicks(fg: str | None, bold: bool | None) -> None:
    assert style("CRITICAL", fg=fg, bold=bold) == click.style("CRITICAL", fg=fg, bold=bold)


def test_no_emphasis_is_the_bare_text() -> None:
    assert style("OK") == "OK"


def test_label_plural_and_minute() -> None:
    from datetime import datetime, timezone

    assert label("note") == click.style("note: ", bold=True)
    assert (plural(1, "file"), plural(2, "file"), plural(2, "copy", "copies")) == ("1 file", "2 files", "2 copies")
    assert minute(datetime(2027, 1, 31, 12, 0, 59, tzinfo=timezone.utc)) == "2027-01-31 12:00 UTC"
    assert minute(None) == ""
