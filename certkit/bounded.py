"""Reading an input file that someone else chose: regular files only, never too much, never too deep.

`check-expiry` reads paths from its command line, from folders it walks and from the
Notary configs it finds.  Any of those can name a FIFO (``open()`` blocks until a writer
appears: a cron job that never ends), a character device such as ``/dev/zero`` (an endless
read exhausts memory) or a multi-gigabyte file.  ``read_regular`` opens with
``O_NONBLOCK`` (so opening a FIFO returns at once), checks with ``fstat`` on the open
descriptor (no window between the check and the read) that it is a regular file, and
reads at most ``limit`` bytes.

Documents are bounded in depth as well as size (``parse_nested``): Python's JSON, TOML and YAML
parsers recurse once per nesting level, so 100,000 ``[`` in a Notary config (or a compose file
1,000 lists deep, which Docker Compose itself loads) ended every command in
``internal error: RecursionError``.  The parser's RecursionError is caught where it is called,
and what it returns is measured without recursion before anything walks it.

Symlinks are followed on purpose (no ``O_NOFOLLOW``): certbot-style ``live/`` folders
and Notary checkouts that link certificates are ordinary set-ups; the walk in
``certkit.check.walk`` guards against symlink loops itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TypeVar

from certkit import exitcodes
from certkit.errors import CertkitError

T = TypeVar("T")

# Larger than any real certificate bundle or Notary config (Mozilla's CA bundle is
# ~220 KB; Notary's configs are under 2 KB); a larger input is not read at all.
MAX_INPUT_BYTES = 1024 * 1024
MIB = 1024 * 1024
# Nesting levels a parsed document may have.  Notary's configs nest 3 deep, its compose files 5;
# a document past 100 is no configuration but a way to exhaust the recursion of the parser and of
# every walk over its result.
MAX_NESTING = 100
# Bounds of check-expiry's walk of one folder argument.  A git clone holds folders 1,500 levels
# deep as readily as 5, and a committed symlink can point anywhere; Notary's tree is 6 levels and
# about 1,500 entries (.git aside), /etc about 3,000.  Past a bound the walk stops there, with one
# UNKNOWN finding that says so: a check that did not look everywhere cannot be OK.
MAX_WALK_DEPTH = 64
MAX_WALK_ENTRIES = 100_000

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableInput(CertkitError):
    """An input that is not read: not a regular file, too large, or refused by the OS."""

    exit_code = exitcodes.NAGIOS_UNKNOWN.code  # check-expiry reports these as UNKNOWN rows; only a fallback

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def kind_of(mode: int) -> str:
    """ "a FIFO (named pipe)", "a character device", ... for a mode that is not a regular file."""
    for test, text in _KINDS:
        if test(mode):
            return text
    return "a special file"


def not_regular_text(mode: int) -> str:
    return f"{kind_of(mode)}, not a regular file: not read"


def too_large_text(size: int | None, limit: int) -> str:
    shown = f"{size} bytes" if size is not None else "more than the limit"
    return f"file too large ({shown}, limit {limit} bytes): not read"


def read_regular(path: str | os.PathLike[str], limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises UnreadableInput (never blocks) for a FIFO, device, socket or folder, for a file
    larger than ``limit`` (by its size, or by what a read finds if it grows meanwhile), and
    for any OSError (missing, no permission, symlink loop), with the OS's reason.
    """
    shown = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableInput(shown, f"cannot read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableInput(shown, not_regular_text(info.st_mode))
        if info.st_size > limit:
            raise UnreadableInput(shown, too_large_text(info.st_size, limit))
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise UnreadableInput(shown, too_large_text(None, limit))
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableInput(shown, f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


class TooDeep(ValueError):
    """A document nested deeper than MAX_NESTING levels (a ValueError, as a parser's own errors are)."""

    def __init__(self, limit: int = MAX_NESTING) -> None:
        super().__init__(f"nested deeper than {limit} levels (certkit reads no deeper)")


def parse_nested(parse: Callable[[], T], limit: int = MAX_NESTING) -> T:
    """``parse()``'s document, or TooDeep when it nests deeper than ``limit`` levels.

    The parser may give up first (json, tomllib and ruamel.yaml raise RecursionError near
    Python's recursion limit): that is TooDeep too.  A shallower document is then measured
    by :func:`check_nesting`, before certkit's own recursive walks see it.
    """
    try:
        value = parse()
    except RecursionError:
        raise TooDeep(limit) from None
    check_nesting(value, limit)
    return value


def check_nesting(value: object, limit: int = MAX_NESTING) -> None:
    """TooDeep when mappings and lists in ``value`` nest deeper than ``limit``; no recursion.

    YAML aliases make a graph of shared nodes, even a cycle (``&a [*a]``): a node is walked
    again only when reached deeper than before, so the work stays below nodes x limit and a
    cycle is simply too deep.
    """
    deepest: dict[int, int] = {}
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: list[object] = list(node.values())
        elif isinstance(node, (list, tuple)):
            children = list(node)
        else:
            continue
        if depth > limit:
            raise TooDeep(limit)
        if deepest.get(id(node), 0) >= depth:
            continue
        deepest[id(node)] = depth
        stack.extend((child, depth + 1) for child in children)


def read_input(path: str | os.PathLike[str], limit: int, error: type[CertkitError], what: str) -> bytes:
    """:func:`read_regular` for commands whose bad input is an error of their own (compose: 15, profile: 11)."""
    try:
        return read_regular(path, limit)
    except UnreadableInput as exc:
        raise error(
            f"{exc.path}: {exc.reason} (certkit reads a {what} only from a regular file of at most {limit // 1024} KiB)"
        ) from None


__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_NESTING",
    "MAX_WALK_DEPTH",
    "MAX_WALK_ENTRIES",
    "TooDeep",
    "check_nesting",
    "parse_nested",
    "UnreadableInput",
    "kind_of",
    "not_regular_text",
    "read_input",
    "read_regular",
    "too_large_text",
]
