"""`check-expiry --exclude GLOB`: gitignore-like patterns over paths below a folder argument.

The rules follow .gitignore (gitignore(5)), the syntax users already write for the
same tree, on the path relative to the folder given on the command line, with ``/``
as separator:

- ``*`` matches within one path component, ``?`` one character, ``[abc]``/``[!abc]`` a class;
- ``**`` matches any number of components: ``trustpinning/**``, ``**/testdata/*.crt``;
- a pattern without a ``/`` (other than a trailing one) matches the name at any depth:
  ``*.der`` or ``compatibility``; one with a ``/`` is anchored at the folder given
  (a leading ``/`` or ``./`` is allowed and changes nothing);
- a trailing ``/`` matches folders only; an excluded folder is not walked at all.

Unlike .gitignore there is no ``!`` negation: a skipped folder is never read, so
nothing below it could be brought back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def translate(pattern: str) -> tuple[re.Pattern[str], bool]:
    """(regular expression over the relative path, folders only?) for one pattern."""
    text = pattern.strip()
    dirs_only = text.endswith("/")
    text = text.rstrip("/")
    while text.startswith("./"):
        text = text[2:]
    anchored = "/" in text
    return glob_regex(text.lstrip("/"), anchored=anchored), dirs_only


def glob_regex(text: str, *, anchored: bool) -> re.Pattern[str]:
    """The regular expression of one gitignore-style glob over a ``/``-separated relative path.

    Shared with certkit.store.ignorefiles, which applies Docker's and git's rules on top of it.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("/**", i) and i + 3 == len(text):
            out.append("/.*")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = text.find("]", i + 2 if text.startswith("[!", i) or text.startswith("[^", i) else i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = text[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:].replace("\\", "\\\\")
                else:
                    body = body.replace("\\", "\\\\")
                out.append(f"[{body}]")
                i = end + 1
        elif c == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out) + r"\Z", re.DOTALL)


class ExcludeRules:
    """The --exclude patterns of one run; ``match`` tells whether a walked path is skipped."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = [p for p in patterns if p.strip()]
        self._rules = [translate(p) for p in self.patterns]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def match(self, relative: str, *, is_dir: bool) -> bool:
        return any((is_dir or not dirs_only) and regex.match(relative) for regex, dirs_only in self._rules)


__all__ = ["ExcludeRules", "translate"]
