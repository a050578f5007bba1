"""certkit.store.ignorefiles: .gitignore judged against the real `git check-ignore`, .dockerignore
against moby's rules."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from certkit.store.ignorefiles import docker_excluded, git_ignored
from tests.notary_harness import require_binary

PATTERNS = [
    "/.certkit/",
    ".certkit",
    "!/.certkit/ca/",
    "!.certkit/ca",
    "/.certkit/*",
    "!/.certkit/ca/*.key",
    "*.key",
    "!root-ca.key",
    "**/ca/",
    "ca",
    "/.certkit/**",
    "!/.certkit/**/root-ca.key",
    ".cert?it/",
    "/.certkit/ca/*",
    "[.]certkit/",
]
PATHS = [
    (".certkit", True),
    (".certkit/ca", True),
    (".certkit/ca/root-ca.key", False),
    (".certkit/lock", False),
    ("fixtures/root-ca.key", False),
    ("fixtures/ca", True),
]


def _cases() -> list[list[str]]:
    # Every single pattern, every ordered pair, and some triples: negations before and after.
    pairs = [list(p) for p in itertools.permutations(PATTERNS, 2)]
    triples = [
        ["/.certkit/", "!/.certkit/ca/", "/.certkit/ca/*.key"],
        ["*", "!.certkit/", "!.certkit/ca/"],
        ["/.certkit/*", "!/.certkit/ca/", "/.certkit/ca/root-ca.key"],
        ["*.key", "!**/ca/*.key", ".certkit/"],
    ]
    return [[p] for p in PATTERNS] + pairs + triples


def test_gitignore_matches_real_git(tmp_path: Path) -> None:
    git = require_binary("git", "git")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([git, "init", "-q", str(repo)], check=True)
    for path, is_dir in PATHS:
        target = repo / path
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x")
    mismatches = []
    for lines in _cases():
        text = "\n".join(lines) + "\n"
        (repo / ".gitignore").write_text(text)
        out = subprocess.run(
            [git, "-C", str(repo), "check-ignore", "--no-index", "--stdin"],
            input="\n".join(p for p, _ in PATHS) + "\n",
            capture_output=True,
            text=True,
        )
        ignored_by_git = set(out.stdout.split())
        for path, is_dir in PATHS:
            if git_ignored(text, path, is_dir=is_dir) != (path in ignored_by_git):
                mismatches.append((lines, path, path in ignored_by_git))
    assert mismatches == []
    shutil.rmtree(repo)


@pytest.mark.parametrize(
    "lines, path, excluded",
    [
        (["/.certkit/"], ".certkit/ca/root-ca.key", True),  # a parent folder matches
        ([".certkit"], ".certkit/ca/root-ca.key", True),
        (["/.certkit/", "!/.certkit/ca/"], ".certkit/ca/root-ca.key", False),  # Docker re-includes (unlike git)
        (["/.certkit/", "!/.certkit/ca/", "/.certkit/"], ".certkit/ca/root-ca.key", True),  # last match wins
        (["*"], ".certkit/ca/root-ca.key", True),
        (["*", "!fixtures"], ".certkit/ca/root-ca.key", True),
        (["*", "!.certkit/ca/*.key"], ".certkit/ca/root-ca.key", False),
        (["**/*.key"], ".certkit/ca/root-ca.key", True),
        (["ca"], ".certkit/ca/root-ca.key", False),  # Docker patterns are anchored at the top
        (["./.certkit/./"], ".certkit/ca/root-ca.key", True),  # filepath.Clean
        (["# /.certkit/"], ".certkit/ca/root-ca.key", False),
    ],
)
def test_dockerignore_rules(lines: list[str], path: str, excluded: bool) -> None:
    assert docker_excluded("\n".join(lines), path) is excluded
