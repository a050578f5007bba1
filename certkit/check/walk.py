"""check-expiry's walk of a folder argument: bounded, inside the folder given, one file at a time.

The walk decides which files are met and in what order (sorted by name, folder by folder), and
reports what it could not walk (a folder it cannot list, one nested past the bound, the entries
bound, a symlink loop, a symlinked folder outside); judging a file is the caller's (``judge``),
called for each file as it is met, so nothing is held between files.  Version-control history
and certkit's own state folder are walked past.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from certkit.bounded import MAX_WALK_DEPTH, MAX_WALK_ENTRIES
from certkit.check.findings import (
    NOTHING_FOUND_CODE,
    NOTHING_FOUND_TEXT,
    SKIPPED,
    UNUSED_TEXT,
    Finding,
    Reason,
    Status,
    unknown,
    unreadable,
)
from certkit.check.keypairs import key_like
from certkit.paths import inside
from certkit.store.pathglob import ExcludeRules

CERT_SUFFIXES = (".crt", ".pem", ".cer", ".cert", ".der")

# Folders walked past: version-control history, and certkit's own state folder (its
# generations are earlier, replaced sets kept for rollback, not what any service uses).
_SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", ".certkit"})


def cert_like(name: str) -> bool:
    """Named as a certificate file (and not as a key)."""
    return name.lower().endswith(CERT_SUFFIXES) and not key_like(name)


@dataclass(frozen=True)
class Scope:
    """What is judged under one folder argument that is a Notary checkout.

    ``used`` holds the real paths of the files some service uses (the profile's files, the
    TLS paths of the Notary configs, the files the compose services read): those are judged;
    any other certificate file found under the folder is listed as unused (``Finding.used``).
    """

    used: frozenset[str]

    def uses(self, path: str) -> bool:
        return os.path.realpath(path) in self.used


class Judge(Protocol):
    """Judges one file the walk met: ``info`` its stat, ``real`` its real path when known,
    ``judge`` False for a file no service uses (read and dated only)."""

    def __call__(
        self, path: str, *, info: os.stat_result | None = None, real: str | None = None, judge: bool = True
    ) -> Iterator[Finding]: ...


@dataclass
class _Budget:
    """One folder argument's walk: where it may lead (the argument's real path) and what is left."""

    boundary: str
    entries_left: int
    stopped: bool = False  # the entries bound was hit (reported once)


class Walk:
    """The walks of one check: a folder met twice (a symlink back up the tree) is walked once."""

    def __init__(
        self,
        *,
        scopes: Mapping[str, Scope] | None = None,
        exclude: ExcludeRules | None = None,
        max_depth: int = MAX_WALK_DEPTH,
        max_entries: int = MAX_WALK_ENTRIES,
        remember_excluded: bool = False,
    ) -> None:
        self.scopes = dict(scopes or {})  # folder argument (as given) -> its Scope
        self.exclude = exclude or ExcludeRules(())
        self.max_depth = max_depth
        self.max_entries = max_entries
        # Real paths --exclude skipped (only when asked: a realpath per excluded file), so the
        # caller's config notes do not bring them back.
        self.remember_excluded = remember_excluded
        self.excluded: set[str] = set()
        self._visited: set[tuple[int, int]] = set()

    def argument(self, path: str, info: os.stat_result, judge: Judge) -> Iterator[Finding]:
        """The findings under the folder argument ``path``; a folder with no certificate file is UNKNOWN."""
        # A folder the user named is walked, wherever it leads (a symlink given as the argument
        # is the user's choice); below it, no symlink leads the walk out of it (see _folder).
        budget = _Budget(os.path.realpath(path), self.max_entries)
        found = False
        for finding in self._folder(path, info, "", self.scopes.get(path), budget, 0, judge):
            found = found or finding.shown_status != SKIPPED  # a link not followed checked nothing
            yield finding
        if not found:
            text = NOTHING_FOUND_TEXT + (" (after --exclude)" if self.exclude else "")
            yield Finding("file", path, None, None, None, [Reason(NOTHING_FOUND_CODE, Status.UNKNOWN, text)])

    def _folder(
        self,
        folder: str,
        info: os.stat_result,
        relative: str,
        scope: Scope | None,
        budget: _Budget,
        depth: int,
        judge: Judge,
    ) -> Iterator[Finding]:
        """Walk ``folder``; ``relative`` is its path below the folder argument ("" for the
        argument itself), what --exclude patterns are matched against; ``depth`` its level below it."""
        ident = (info.st_dev, info.st_ino)
        if ident in self._visited:
            return  # a symlink back up the tree: every file below is already checked
        self._visited.add(ident)
        if budget.stopped:
            return
        if depth > self.max_depth:
            yield unknown(
                folder,
                f"folder nested more than {self.max_depth} levels below the folder checked: not walked "
                "further (certificates below it are not checked)",
            )
            return
        try:
            with os.scandir(folder) as listing:
                # At most what the walk may still take: a folder of a million entries is not sorted whole.
                # .git, .hg, .svn, .certkit: a Notary clone's .git holds thousands of objects and no live certificate.
                entries = sorted(
                    (e.name, e.path, e.is_symlink())
                    for e in itertools.islice(
                        (e for e in listing if e.name not in _SKIPPED_FOLDERS), budget.entries_left + 1
                    )
                )
        except OSError as exc:
            yield unreadable(folder, exc, what="cannot list folder")
            return
        for name, path, is_link in entries:
            budget.entries_left -= 1
            if budget.entries_left < 0:
                budget.stopped = True
                yield unknown(
                    folder,
                    f"walk stopped after {self.max_entries} entries below the folder checked: certificates "
                    "beyond are not checked; name narrower folders or skip some with --exclude",
                )
                return
            child_relative = f"{relative}/{name}" if relative else name
            try:
                child = os.stat(path)
            except OSError as exc:
                if self.exclude and self.exclude.match(child_relative, is_dir=False):
                    continue  # an excluded broken link or loop is not reported either
                if exc.errno == errno.ELOOP:
                    yield unknown(path, "symlink loop: the link never reaches a file")
                elif cert_like(name):
                    yield unreadable(path, exc)
                continue
            is_dir = stat.S_ISDIR(child.st_mode)
            if self.exclude and self.exclude.match(child_relative, is_dir=is_dir):
                if not is_dir and self.remember_excluded:
                    self.excluded.add(os.path.realpath(path))
                continue
            if is_dir and is_link:
                target = os.path.realpath(path)
                if not inside(Path(target), Path(budget.boundary)):
                    yield from self._linked_out(path, target, budget, scope, judge)
                    continue
            if is_dir:
                yield from self._folder(path, child, child_relative, scope, budget, depth + 1, judge)
                if budget.stopped:
                    return
            elif scope is not None and not scope.uses(path):
                for finding in judge(path, info=child, judge=False):
                    finding.used = False
                    finding.reasons.insert(0, Reason("unused", Status.OK, UNUSED_TEXT))
                    yield finding
            else:
                # FIFOs, devices and sockets too: the judge reports one named like a certificate
                # as UNKNOWN without opening it, and passes over the others quietly.
                yield from judge(path, info=child)

    def _linked_out(
        self, link: str, target: str, budget: _Budget, scope: Scope | None, judge: Judge
    ) -> Iterator[Finding]:
        """A symlink to a folder outside the folder checked: listed as SKIPPED, not walked.

        A checkout's ``fixtures/x -> /etc`` would otherwise list every certificate of the host
        (and ``-> /`` walk all of it).  What the services use is still judged, file by file:
        the profile's, the configs' and the compose files' files that lie under the link's target
        (``fixtures -> /srv/notary-tls`` is a real set-up), and nothing else there is read.
        """
        shown_target = os.readlink(link) if os.path.islink(link) else target
        reason = Reason(
            "skipped",
            Status.OK,
            f"symlink to a folder outside {budget.boundary} ({shown_target}): not followed; "
            "name it as an argument to check it",
        )
        yield Finding("file", link, None, None, None, [reason], used=False)
        if scope is None:
            return
        for real in sorted(u for u in scope.used if inside(Path(u), Path(target))):
            if os.path.isfile(real):
                yield from judge(os.path.join(link, os.path.relpath(real, target)), real=real)


__all__ = ["CERT_SUFFIXES", "Judge", "Scope", "Walk", "cert_like"]
