"""Recognising a checkout (certkit.store.layout): every command that takes NOTARY_DIR refuses a
folder that is not one in one line with renew's code (10), and names the checkout above it."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest

from certkit.cli import cli
from certkit.errors import NotALayoutError
from tests.cli_helpers import run_cli

# What a command needs besides NOTARY_DIR to run at all (a command with other required options
# fails here with click's usage error, which says what to add).
EXTRA_ARGS = {"schedule": ["--cron"], "db-deploy": ["--pgdata", "/nonexistent-pgdata"]}


def _notary_dir_commands() -> list[str]:
    """Every command whose NOTARY_DIR may be left out (defaulting to the current folder): read from
    the click commands, so a new one is covered by itself.  `init` takes a new folder instead."""
    ctx = click.Context(cli)
    names = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        if any(p.name == "notary_dir" and not p.required for p in command.params):
            names.append(name)
    return names


COMMANDS = _notary_dir_commands()


def test_the_commands_are_found() -> None:
    assert {"renew", "status", "rollback", "compose", "trust", "schedule", "db-deploy"} <= set(COMMANDS)


@pytest.fixture
def checkout(reference_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "notary"
    shutil.copytree(reference_dir / "fixtures", target / "fixtures")
    shutil.copytree(reference_dir / "cmd", target / "cmd")
    return target


@pytest.mark.parametrize("name", COMMANDS)
def test_in_fixtures_every_command_is_one_line_pointing_to_the_checkout(
    name: str, checkout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(checkout / "fixtures")
    code, out, err = run_cli(capsys, name, *EXTRA_ARGS.get(name, []))
    assert code == NotALayoutError.exit_code == 10, (code, out, err)
    assert out == "" and err.count("\n") == 1, err  # not a 33-line tree of "problem: missing"
    assert err.startswith("certkit: error: .: not a Notary checkout")
    assert "inside the checkout ..; give that folder (or cd ..)" in err


@pytest.mark.parametrize("name", COMMANDS)
def test_a_folder_given_below_a_checkout_is_named_as_given(
    name: str, checkout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(checkout.parent)
    code, _, err = run_cli(capsys, name, *EXTRA_ARGS.get(name, []), "notary/fixtures/database")
    assert code == 10 and "inside the checkout notary; give that folder (or cd notary)" in err, err
    code, _, err = run_cli(capsys, name, *EXTRA_ARGS.get(name, []), str(checkout / "fixtures"))
    assert code == 10 and f"inside the checkout {checkout}; give that folder" in err, err


@pytest.mark.parametrize("name", COMMANDS)
def test_a_folder_outside_any_checkout_is_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "somewhere").mkdir()
    code, out, err = run_cli(capsys, name, *EXTRA_ARGS.get(name, []), str(tmp_path / "somewhere"))
    assert code == 10 and out == "" and err.count("\n") == 1, err
    assert "not a Notary checkout" in err and "inside the checkout" not in err and "certkit init" in err
