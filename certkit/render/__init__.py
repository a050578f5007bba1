"""Presentation: certkit's results as text for people, JSON for programs, metrics and HTML.

Every renderer lives here, one module per command (expiry holds check-expiry's formats and
the one table that dispatches them).  Renderers decide nothing and read nothing: they take
a core result and return text (or write it to the stream they are given).  No click here:
emphasis is plain ANSI, which click.echo strips when the output is not a terminal.
"""

from __future__ import annotations

from datetime import datetime

from certkit.text import utc_minute

_RESET = "\x1b[0m"
_FG = {"red": "31", "green": "32", "yellow": "33", "magenta": "35"}


def style(text: str, *, fg: str | None = None, bold: bool | None = None) -> str:
    """ANSI emphasis, byte for byte as click.style makes it (click.echo removes it off a terminal):
    the colour, then bold on (``True``) or off (``False``), then the text and a reset."""
    codes = ([f"\x1b[{_FG[fg]}m"] if fg else []) + ([] if bold is None else ["\x1b[1m" if bold else "\x1b[22m"])
    return "".join(codes) + text + _RESET if codes else text


def label(word: str) -> str:
    """ "note: ", "problem: " in bold: the start of a line that is not a table row."""
    return style(f"{word}: ", bold=True)


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 file", "2 files" (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def minute(moment: datetime | None) -> str:
    """A notAfter as tables show it: ``2027-01-31 12:00 UTC``; "" for none."""
    return utc_minute(moment) if moment else ""
