"""Text for people: one-line error causes, timestamps, and outside text made visible.

Each of these is written one way, here: a cause as :func:`one_line`, a moment as :func:`utc_minute`
or :func:`utc_second`.

Every text certkit did not write itself (a file name, a certificate's subject or SAN, a compose
path, a server's certificate, a library's message) reaches a terminal, a log line, a cron mail or
stderr only through :func:`visible`: a control character in it is shown as an escape (``\\x1b``,
``\\r``, ``\\n``), never obeyed.  Otherwise ``ESC]0;...BEL ESC[2J ESC[H`` in a certificate's CN sets
the window title, clears the screen and can paint a fake "OK" (issue 19).  :func:`terminal_safe`
is the same escaping for a whole rendered text at the exits (the CLI's writer, check-expiry's
table and Nagios line): it keeps the newlines and certkit's own colour codes and escapes anything
else, so a field a renderer forgot can never move the cursor, clear the screen or set a title.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its type name when it has none), cut to ``limit``.

    Library messages (OpenSSL, YAML, TOML) run on for several lines; certkit's errors are one line.
    """
    text = str(exc)
    lines = text.splitlines() if text.strip() else []
    return (lines[0] if lines else type(exc).__name__)[:limit]


def utc_minute(moment: datetime, *, zone: bool = True) -> str:
    """``2027-01-31 12:00 UTC``: how tables and messages show a moment (an aware one in UTC).

    ``zone=False``: ``2027-01-31 12:00``, in a column whose heading says UTC.
    """
    return f"{_utc(moment):%Y-%m-%d %H:%M}" + (" UTC" if zone else "")


def utc_second(moment: datetime) -> str:
    """``2027-01-31 12:00:00 UTC``: a moment to the second (validity limits, when a file changed)."""
    return f"{_utc(moment):%Y-%m-%d %H:%M:%S} UTC"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.tzinfo is not None else moment


def visible(text: str, keep: str = "") -> str:
    """``text`` with every character that is not printable written as its Python escape.

    Not printable (``str.isprintable``): the C0 controls (ESC, BEL, CR, LF, TAB, NUL...), DEL, the
    C1 controls (U+009B is a one-byte CSI to many terminals), line and paragraph separators,
    format characters (the bidirectional overrides that reorder what is shown), unassigned and
    private-use code points, and the lone surrogates a file name that is not UTF-8 decodes to
    (they could not even be written to a UTF-8 stream).  The space stays.  ``keep`` names
    characters to leave as they are (a multi-line text keeps ``"\\n"``).  Backslashes are not
    doubled: this is for people, who read ``\\x1b`` as an escape either way.
    """
    if text.isprintable():
        return text  # the common case: one C-level scan, no copy
    return "".join(ch if ch.isprintable() or ch in keep else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    return ascii(ch)[1:-1]  # "\x1b", "\r", "\u202e", "\udc80": the forms Python itself shows


# The SGR (colour) sequences certkit's renderers write, exactly: certkit.render.style and
# check-expiry's status colours.  Any other escape sequence in a text is escaped (test_text checks
# that every colour the renderers use is here).
OWN_STYLES = ("\x1b[0m", "\x1b[1m", "\x1b[22m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[1;31m")
_OWN_STYLE = re.compile("(" + "|".join(re.escape(s) for s in OWN_STYLES) + ")")


def terminal_safe(text: str) -> str:
    """A rendered, multi-line text made safe for a terminal: :func:`visible` on everything but its
    newlines and certkit's own colour codes (``OWN_STYLES``)."""
    if text.isprintable():
        return text
    parts = _OWN_STYLE.split(text)  # odd indexes: certkit's own colour codes
    return "".join(part if index % 2 else visible(part, keep="\n") for index, part in enumerate(parts))
