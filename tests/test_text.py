"""certkit.text: one-line error causes, UTC timestamps, and outside text made visible."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from certkit.render import label, style
from certkit.text import one_line, terminal_safe, utc_minute, visible


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


# --------------------------------------------------------------------------- outside text made visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("CN=notary-server, O=Docker", "CN=notary-server, O=Docker"),  # printable text is left alone
        ("\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J"),  # OSC title, BEL, clear screen
        ("a\r\nb\tc\x00d\x7f", "a\\r\\nb\\tc\\x00d\\x7f"),
        ("csi\x9b2J", "csi\\x9b2J"),  # C1 CSI: one byte that many terminals obey
        ("abc\u202edcba", "abc\\u202edcba"),  # a bidi override would reorder what is shown
        ("line\u2028sep", "line\\u2028sep"),
        ("bad\udcffname", "bad\\udcffname"),  # a file name that is not UTF-8 (surrogateescape)
        ("Grüße, 証明書", "Grüße, 証明書"),  # printable non-ASCII stays as it is
    ],
)
def test_visible_escapes_every_non_printable_character(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert visible(text).isprintable()
    assert visible(text).encode("utf-8")  # lone surrogates are gone: always writable as UTF-8


def test_visible_keeps_what_it_is_asked_to() -> None:
    assert visible("a\nb\rc", keep="\n") == "a\nb\\rc"


def test_terminal_safe_keeps_newlines_and_certkit_colours_only() -> None:
    ours = style("CRITICAL", fg="red", bold=True) + "  path\n" + label("note") + "text"
    assert terminal_safe(ours) == ours
    hostile = "x\x1b]0;t\x07\x1b[2J\x1b[8mhidden\x1b[32mOK\r\n"
    assert terminal_safe(hostile) == "x\\x1b]0;t\\x07\\x1b[2J\\x1b[8mhidden\x1b[32mOK\\r\n"


def test_every_colour_certkit_writes_is_an_own_style() -> None:
    """terminal_safe lets exactly these through: the renderers must use nothing else."""
    from certkit.render import _FG
    from certkit.render.expiry import _COLOURS, _RESET

    made = {style("x", fg=fg, bold=bold) for fg in [None, *_FG] for bold in (None, True, False)}
    made |= {colour + "x" + _RESET for colour in _COLOURS.values()}
    for text in made:
        assert terminal_safe(text) == text, repr(text)
