"""Does `.dockerignore` / `.gitignore` keep a path out of images and commits?  Their own rules, negations included.

certkit keeps CA private keys in the checkout (``.certkit/ca``) and relies on both files to keep
them out of the images Notary's compose files build with ``context: .`` and out of git.  Finding
certkit's line in the file is not proof: a later ``!/.certkit/ca/`` re-includes the store.  So
the files are evaluated as the tools evaluate them:

- Docker (moby's patternmatcher, used by the builder): each pattern is ``filepath.Clean``-ed,
  a leading ``/`` dropped, and matched against the path *or any of its parents*; ``*`` and ``?``
  stay within one path element, ``**`` spans any number; the last matching pattern wins, so a
  ``!`` pattern can re-include a file inside an excluded folder.
- git (gitignore(5)): a pattern with a ``/`` before its end is anchored at the top, one without
  matches at any depth; a trailing ``/`` matches folders only; the last matching pattern wins,
  but a file can never be re-included once a folder above it is excluded.

Git's rules are checked against the real `git check-ignore` in the tests.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache


def docker_excluded(text: str, path: str) -> bool:
    """True when .dockerignore ``text`` keeps ``path`` (relative, ``/``-separated) out of the build context."""
    excluded = False
    parents = _parents(path)
    for negative, pattern in _docker_patterns(text):
        regex = _regex(pattern, anchored=True)
        if any(regex.fullmatch(p) for p in (path, *parents)):
            excluded = not negative
    return excluded


def git_ignored(text: str, path: str, *, is_dir: bool = False) -> bool:
    """True when .gitignore ``text`` (at the top of the checkout) makes git ignore ``path``."""
    patterns = list(_git_patterns(text))
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        current = "/".join(parts[:depth])
        folder = depth < len(parts) or is_dir
        if _git_status(patterns, current, folder):
            return True  # an excluded folder: nothing below it can be re-included
    return False


def _git_status(patterns: list[tuple[bool, bool, re.Pattern[str]]], path: str, is_dir: bool) -> bool:
    ignored = False
    for negative, dir_only, regex in patterns:
        if dir_only and not is_dir:
            continue
        if regex.fullmatch(path):
            ignored = not negative
    return ignored


def _docker_patterns(text: str) -> list[tuple[bool, str]]:
    result = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negative = line.startswith("!")
        if negative:
            line = line[1:].strip()
        line = posixpath.normpath(line).lstrip("/") if line not in (".", "/") else "."
        if line:
            result.append((negative, line))
    return result


def _git_patterns(text: str) -> list[tuple[bool, bool, re.Pattern[str]]]:
    result = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"(?<!\\)\s+$", "", line)  # trailing spaces are ignored unless escaped
        negative = line.startswith("!")
        if negative:
            line = line[1:]
        line = line.replace("\\!", "!").replace("\\#", "#")
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line  # a slash at the start or in the middle anchors it at the top
        result.append((negative, dir_only, _regex(line.lstrip("/"), anchored=anchored)))
    return result


@lru_cache(maxsize=256)
def _regex(pattern: str, *, anchored: bool) -> re.Pattern[str]:
    from certkit.store.pathglob import glob_regex

    return glob_regex(pattern, anchored=anchored)


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]
