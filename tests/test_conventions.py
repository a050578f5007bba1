"""One set of conventions across commands, checked by walking every command's --help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from certkit.cli import _COMMANDS
from tests.cli_helpers import run_cli

# Commands that report on or change a Notary folder: they take it as NOTARY_DIR and speak JSON and quiet.
FOLDER_COMMANDS = ["init", "renew", "status", "compose", "trust", "rollback", "schedule", "db-deploy"]
JSON_COMMANDS = ["init", "renew", "status", "check-expiry", "compose", "trust", "rollback", "db-deploy"]
QUIET_COMMANDS = ["init", "renew", "status", "check-expiry", "compose", "trust", "rollback"]


def help_text(capsys: pytest.CaptureFixture[str], name: str) -> str:
    code, out, err = run_cli(capsys, name, "--help")
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_every_command_has_examples(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert "Examples:" in help_text(capsys, name)


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_the_folder_argument_has_one_name(capsys: pytest.CaptureFixture[str], name: str) -> None:
    usage = help_text(capsys, name).splitlines()[0]
    assert re.search(r"\bNOTARY_DIR\b", usage), usage
    assert not re.search(r"\b(DIR|DIRECTORY)\b", usage.replace("NOTARY_DIR", "")), usage


@pytest.mark.parametrize("name", JSON_COMMANDS)
def test_json_everywhere(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert "--json" in help_text(capsys, name)


@pytest.mark.parametrize("name", QUIET_COMMANDS)
def test_quiet_everywhere(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert "--quiet" in help_text(capsys, name)


def test_each_command_is_listed_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    commands = out.split("Commands:")[1].split("Exit codes")[0]
    assert out.count("Commands:") == 1
    for name in _COMMANDS:
        assert len(re.findall(rf"^\s+{re.escape(name)}\s", commands, re.M)) == 1, name


def test_quiet_renew_says_nothing_on_stdout_and_only_what_is_owed_on_stderr(
    fresh_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cron mails any output: an empty stdout means "nothing for you to do", also after a renewal.
    code, out, err = run_cli(capsys, "renew", "--quiet", str(fresh_layout))
    assert code == 0 and out == "" and err == ""
    (fresh_layout / "fixtures" / "notary-server.key").chmod(0o644)  # a key others may read: tightened, and said so
    code, out, err = run_cli(capsys, "renew", "--quiet", "--within", "800d", str(fresh_layout))
    assert code == 0 and out == ""
    assert err.startswith("note: ") and "notary-server.key" in err and "FILE" not in err
    code, out, err = run_cli(capsys, "renew", "--quiet", str(fresh_layout))  # the fast path, quiet too
    assert code == 0 and out == "" and err == ""


def test_every_exit_code_is_documented_in_the_readme_and_the_help() -> None:
    """One source: each CertkitError's exit code has a README row and a line in `certkit --help`."""
    import inspect
    import re
    from pathlib import Path

    from certkit import errors
    from certkit.cli import EXIT_CODES_HELP

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.CertkitError) and cls is not errors.CertkitError
    }
    assert {23, 24, 25} <= codes
    for code in sorted(codes):
        assert re.search(rf"^\| {code} \|", readme, re.MULTILINE), f"exit {code} has no README row"
        assert re.search(rf"(^|\s){code}\s", EXIT_CODES_HELP), f"exit {code} is not in certkit --help"
