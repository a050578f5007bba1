"""certkit.cli.suggest: "did you mean" for commands, and for options people reach for by meaning."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from certkit.cli import cli
from certkit.cli.suggest import COMMAND_ALIASES, OPTION_ALIASES
from tests.cli_helpers import run_cli


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, name
    return command


def _options(command: click.Command) -> set[str]:
    return {opt for p in command.params if isinstance(p, click.Option) for opt in (*p.opts, *p.secondary_opts)}


ENTRIES = [(cmd, typed, meant) for cmd, table in OPTION_ALIASES.items() for typed, meant in table.items()]


@pytest.mark.parametrize(("name", "typed", "meant"), ENTRIES, ids=[f"{c} {t}" for c, t, _ in ENTRIES])
def test_every_alias_points_from_a_missing_option_to_an_existing_one(name: str, typed: str, meant: str) -> None:
    options = _options(_command(name))
    assert meant in options, f"certkit {name} has no {meant}"
    assert typed not in options, f"certkit {name} now has {typed}: drop it from the table"


@pytest.mark.parametrize(("name", "typed", "meant"), ENTRIES, ids=[f"{c} {t}" for c, t, _ in ENTRIES])
def test_the_cli_suggests_the_option_meant(
    name: str, typed: str, meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, name, typed, "x")
    assert code == (3 if name in ("check-expiry", "status") else 2) and out == ""  # Nagios: usage is UNKNOWN
    assert f"No such option: {typed}. Did you mean {meant}?" in err, err
    assert "Traceback" not in err


def test_renew_warn_points_to_within_not_wait(capsys: pytest.CaptureFixture[str]) -> None:
    # click's closest spelling of --warn is --wait (wait for another renewal): not what was meant.
    code, _, err = run_cli(capsys, "renew", "--warn", "30d")
    assert code == 2
    assert "Did you mean --within? (Renew what expires within this window)" in err
    assert "--wait" not in err


def test_other_typos_keep_clicks_spelling_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "renew", "--dry-rn")
    assert code == 2 and "--dry-run" in err


@pytest.mark.parametrize(
    ("typed", "meant"), [("renw", "renew"), ("stauts", "status"), ("check", "check-expiry"), ("certificates", "status")]
)
def test_a_mistyped_command_gets_did_you_mean(typed: str, meant: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, typed)
    assert code == 2 and out == ""
    assert f"No such command '{typed}'. Did you mean '{meant}'?" in err, err


def test_a_command_nothing_resembles_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "xyzzy")
    assert code == 2 and "No such command 'xyzzy'." in err and "Did you mean" not in err


def test_command_aliases_name_real_commands() -> None:
    known = cli.list_commands(click.Context(cli))
    assert all(meant in known and typed not in known for typed, meant in COMMAND_ALIASES.items())


def test_check_expiry_o_is_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "certs").mkdir()
    report = tmp_path / "report.json"
    code, out, _ = run_cli(capsys, "check-expiry", "--format", "json", "-o", str(report), str(tmp_path / "certs"))
    assert code == 3 and out == ""  # an empty folder is UNKNOWN; the report went to the file
    assert json.loads(report.read_text())["summary"]["status"] == "UNKNOWN"
