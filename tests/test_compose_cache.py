"""renew's compose cache (.certkit/compose-cache): the same outcome as parsing everything, on Notary's
real checkout; any change of a compose file, Dockerfile, .env or environment variable shows up at
once; a damaged, foreign or outdated cache is never trusted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from certkit.compose.cache import RECORD, ParseCache, missing

ROUTINE = ("renew", "--within", "800d", "--json")


def certkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**(os.environ if env is None else env), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


def outcome(folder: Path, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    """A routine renewal: its exit code, the compose part of its JSON (what the run planned, wrote
    and tells to run) and its errors, with the folder's own path written as ``NOTARY``."""
    result = certkit(*ROUTINE, str(folder), env=env)
    shown = json.loads(result.stdout.replace(str(folder), "NOTARY"))
    return result.returncode, shown.get("compose", []), result.stderr.replace(str(folder), "NOTARY")


def compose_json(folder: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    code, compose, errors = outcome(folder, env)
    assert code == 0, errors
    return compose


def overrides(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.override.yml"))}


@pytest.fixture
def cached(reference_copy: Path) -> Path:
    """A checkout renewed once (overrides written) and renewed again, so the cache holds this run's parses."""
    compose_json(reference_copy)
    compose_json(reference_copy)
    assert (reference_copy / ".certkit" / RECORD).is_file()
    return reference_copy


def twin(folder: Path) -> Path:
    """A copy of ``folder`` without the cache: the same run there parses everything."""
    copy = folder.with_name(folder.name + "-twin")
    shutil.copytree(folder, copy, symlinks=True)
    (copy / ".certkit" / RECORD).unlink()
    return copy


def test_a_current_cache_gives_the_same_outcome_without_ruamel_or_jinja2(cached: Path) -> None:
    record = cached / ".certkit" / RECORD
    assert record.stat().st_mode & 0o777 == 0o600
    written = overrides(cached)
    code = (
        "import sys, runpy\nsys.argv = ['certkit', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('certkit', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *ROUTINE, str(cached)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    modules = set(next(line for line in result.stderr.splitlines() if line.startswith("MODULES ")).split()[1:])
    assert "ruamel.yaml" not in modules and "jinja2" not in modules, result.stderr[-2000:]
    other = twin(cached)
    from_cache = json.loads(result.stdout.replace(str(cached), "NOTARY"))["compose"]
    assert len(from_cache) == 6  # Notary's six compose projects
    assert overrides(cached) == written
    assert from_cache == compose_json(other)
    assert overrides(other) == written


def _rename_server(folder: Path) -> None:
    path = folder / "docker-compose.yml"
    path.write_text(path.read_text().replace("\n  server:\n", "\n  notaryserver:\n", 1))


def _move_workdir(folder: Path) -> None:
    path = folder / "server.Dockerfile"
    path.write_text(path.read_text().replace("/go/src/${NOTARYPKG}", "/srv/notary"))


def _dotenv(folder: Path) -> None:
    (folder / ".env").write_text("COMPOSE_FILE=docker-compose.postgresql.yml\n")


@pytest.mark.parametrize(
    "change, sign",
    [
        (_rename_server, "notaryserver"),
        # The image no longer holds the configs' absolute paths: certkit asks where they are (exit 15).
        (_move_workdir, "certkit cannot tell which host folder should replace it"),
        (_dotenv, "docker-compose.postgresql.yml"),
    ],
)
def test_a_changed_input_is_seen_at_once(cached: Path, change: Any, sign: str) -> None:
    before = outcome(cached)
    other = twin(cached)
    change(cached)
    change(other)
    after = outcome(cached)
    assert after != before
    assert sign in json.dumps(after)
    if change is _dotenv:
        assert len(after[1]) == 1
    # Exactly what a run that parses everything says about the changed checkout, to the written byte.
    assert after == outcome(other)
    assert overrides(cached) == overrides(other)


def test_a_changed_environment_variable_is_seen_at_once(cached: Path) -> None:
    env = {**os.environ, "COMPOSE_FILE": "docker-compose.rethink.yml"}
    other = twin(cached)
    after = compose_json(cached, env)
    assert [o["files"] for o in after] == [["NOTARY/docker-compose.rethink.yml"]], after
    assert after == compose_json(other, env)
    assert len(compose_json(cached)) == 6  # the variable gone: every project again


def test_a_damaged_cache_is_ignored_and_rewritten(cached: Path) -> None:
    record = cached / ".certkit" / RECORD
    good = compose_json(cached)
    data = json.loads(record.read_text())
    # A well-formed record of another version: ignored (its entries could be another parser's).
    data["versions"]["certkit"] = "0.0.0-other"
    record.write_text(json.dumps(data))
    assert compose_json(cached) == good
    assert json.loads(record.read_text())["versions"]["certkit"] != "0.0.0-other"
    for damage in (
        b"{not json",
        b"",
        b'{"format": 1, "versions": {}, "entries": []}',
        b"\xff" * 100,
        record.read_bytes()[:-200],
    ):
        record.write_bytes(damage)
        record.chmod(0o600)
        assert compose_json(cached) == good
        rewritten = json.loads(record.read_text())
        assert rewritten["format"] == 1 and len(rewritten["entries"]) >= 10


def test_a_foreign_cache_is_refused_like_any_state_file(cached: Path) -> None:
    """A loose mode means someone else may have written it: the state folder is refused (exit 13), as
    for every file in it, with nothing changed."""
    record = cached / ".certkit" / RECORD
    record.chmod(0o644)
    before = record.read_bytes()
    result = certkit(*ROUTINE, str(cached))
    assert result.returncode == 13, result.stdout + result.stderr
    assert "compose-cache" in result.stderr and "Traceback" not in result.stderr
    assert record.read_bytes() == before
    # And the reader itself trusts no such file (for callers that did not verify the folder).
    memo = ParseCache.load(cached / ".certkit")
    assert all(missing(memo.get(key)) for key in json.loads(before)["entries"])
    record.chmod(0o600)
    memo = ParseCache.load(cached / ".certkit")
    assert not any(missing(memo.get(key)) for key in json.loads(before)["entries"])


def test_an_entry_for_other_text_is_never_used(tmp_path: Path) -> None:
    """Keys are the SHA-256 of the exact text: a one-byte change is another entry."""
    from certkit.compose.files import read_compose_file

    path = tmp_path / "compose.yml"
    memo = ParseCache(None)
    first = read_compose_file(path, "services:\n  a:\n    image: x\n", memo)
    assert memo.misses == 1 and memo.hits == 0
    again = read_compose_file(path, "services:\n  a:\n    image: x\n", memo)
    assert memo.hits == 1 and dict(again.data) == {"services": {"a": {"image": "x"}}}
    other = read_compose_file(path, "services:\n  a:\n    image: y\n", memo)
    assert memo.misses == 2 and other.data["services"]["a"]["image"] == "y"
    assert dict(first.data["services"]["a"]) == {"image": "x"}
    # Tags live only on the round-trip objects: such a file is parsed every time.
    tagged = "services:\n  a:\n    ports: !reset []\n"
    read_compose_file(path, tagged, memo)
    read_compose_file(path, tagged, memo)
    assert memo.hits == 1
