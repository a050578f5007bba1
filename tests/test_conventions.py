"""One set of conventions across commands, checked by walking every command's --help."""

from __future__ import annotations

import re
from pathlib import Path

import click
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


# --- one source for the user contract: exit codes, duration units, option defaults (issue 21) -------

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def _tables(text: str) -> list[list[str]]:
    """Every Markdown table of ``text``, as its lines (header, rule, rows)."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_every_exit_code_is_defined_once_and_every_error_uses_it() -> None:
    """certkit.exitcodes is the one table: each CertkitError's code is in it, each code once, and the
    codes certkit exits with outside the hierarchy (signals, the Nagios statuses) are its numbers too."""
    import inspect
    import signal

    from certkit import errors, exitcodes
    from certkit.check.findings import Status
    from certkit.signals import Interrupted

    numbers = [c.code for c in exitcodes.COMMAND_CODES]
    assert len(numbers) == len(set(numbers)) and len({c.name for c in exitcodes.COMMAND_CODES}) == len(numbers)
    classes = [c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, errors.CertkitError)]
    assert {c.exit_code for c in classes} <= set(numbers)
    # Every code has a raiser: an error class, a signal, or success.
    assert set(numbers) == {c.exit_code for c in classes} | {0, exitcodes.INTERRUPTED.code, exitcodes.TERMINATED.code}
    assert Interrupted(signal.SIGINT).exit_code == exitcodes.INTERRUPTED.code
    assert Interrupted(signal.SIGTERM).exit_code == exitcodes.TERMINATED.code
    assert [(s.value, s.name) for s in Status] == [(c.code, c.name) for c in exitcodes.NAGIOS_CODES]


def test_the_help_prints_the_exit_codes_from_the_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    from certkit import exitcodes

    _, out, _ = run_cli(capsys, "--help")
    shown = [line.strip() for line in out.split("Exit codes")[1].splitlines()]
    for line in exitcodes.help_text(exitcodes.COMMAND_CODES).splitlines():
        assert line.strip() in shown, line
    _, out, _ = run_cli(capsys, "check-expiry", "--help")
    shown = [line.strip() for line in out.split("Exit codes")[1].splitlines()]
    for line in exitcodes.help_text(exitcodes.NAGIOS_CODES, names=True).splitlines():
        assert line.strip() in shown, line


def test_every_documented_exit_code_table_is_the_one_table() -> None:
    """A table whose first column is `code` in the README or docs/ is one of the two tables of
    certkit.exitcodes, exactly; and each of the two is documented in exactly one place."""
    from certkit import exitcodes

    expected = {
        exitcodes.markdown(exitcodes.COMMAND_CODES): "commands",
        exitcodes.markdown(exitcodes.NAGIOS_CODES): "check-expiry",
    }
    found: dict[str, list[str]] = {name: [] for name in expected.values()}
    for document in DOCUMENTS:
        for table in _tables(document.read_text(encoding="utf-8")):
            if not re.match(r"\|\s*code\s*\|", table[0]):
                continue
            text = "\n".join(table)
            assert text in expected, (
                f"{document.relative_to(ROOT)}: an exit-code table that is not certkit.exitcodes' own; "
                f"use one of these exactly (or link to docs/cli.md#exit-codes):\n\n" + "\n\n".join(expected)
            )
            found[expected[text]].append(str(document.relative_to(ROOT)))
    assert found == {"commands": ["docs/cli.md"], "check-expiry": ["docs/cli.md"]}, found


def test_the_duration_units_are_written_once_in_the_words_of_the_code() -> None:
    """certkit.durations.UNITS_TEXT is what every duration option's --help says; the docs quote it once
    and nowhere list the units in other words."""
    from certkit.durations import UNITS_TEXT

    quoted = [d for d in DOCUMENTS for _ in range(d.read_text(encoding="utf-8").count(UNITS_TEXT))]
    assert [str(d.relative_to(ROOT)) for d in quoted] == ["docs/cli.md"]
    listing = re.compile(r"`?m`? (or `?min`? )?\(?minutes|`?mo`? \(?months|minutes, `?mo`?", re.I)
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8").replace(UNITS_TEXT, "")
        for line in text.splitlines():
            assert not listing.search(line), f"{document.relative_to(ROOT)} lists the units again: {line}"


def _option_defaults() -> dict[str, set[str]]:
    """Every option of every command with a default, as --help shows it: --within -> {"30d"}."""
    from certkit.cli import cli

    defaults: dict[str, set[str]] = {}
    context = click.Context(cli)
    for name in _COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None
        commands = [command]
        if isinstance(command, click.Group):
            commands += [command.get_command(context, sub) for sub in command.list_commands(context)]  # type: ignore[misc]
        for each in commands:
            for param in each.params:
                default = param.default
                # A value, not click's "unset" marker, None or a flag's False.
                if isinstance(param, click.Option) and isinstance(default, (str, int, float)) and not param.is_flag:
                    for flag in param.opts:
                        if flag.startswith("--"):
                            defaults.setdefault(flag, set()).add(str(default))
    return defaults


def _same(written: str, defaults: set[str]) -> bool:
    """The docs' default is the code's; a bare number of seconds may carry its unit ("5 s", "5s" for 5)."""
    value = written.strip()
    return value in defaults or re.sub(r"\s*s$", "", value) in {d for d in defaults if d.isdigit()}


def test_every_option_default_the_docs_repeat_is_the_code_s() -> None:
    """`--opt` (default `X`) in prose, or an options table's default column: X is the option's default."""
    defaults = _option_defaults()
    assert defaults["--within"] == {"30d"} and "7d" in defaults["--crit"]
    prose = re.compile(r"`(--[a-z-]+)(?: [A-Z]+)?`[^`.;]{0,40}?\(default:? `?([^`),;:]+?)`?[),;:]")
    checked = 0
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for option, value in prose.findall(text):
            if option in defaults:
                assert _same(value, defaults[option]), f"{document.relative_to(ROOT)}: {option} default {value}"
                checked += 1
        for table in _tables(text):
            header = [cell.strip() for cell in table[0].strip("|").split("|")]
            if header[:2] != ["option", "default"]:
                continue
            for row in table[2:]:
                cells = [cell.strip() for cell in row.strip("|").split("|")]
                match = re.match(r"`(--[a-z-]+)", cells[0])
                value = cells[1].strip("`")
                if match and match.group(1) in defaults:
                    assert _same(value, defaults[match.group(1)]), (
                        f"{document.relative_to(ROOT)}: {match.group(1)} default {value!r}, "
                        f"the code's: {defaults[match.group(1)]}"
                    )
                    checked += 1
    assert checked >= 8  # the check found the defaults it is about


def test_every_certkit_command_a_message_names_exists() -> None:
    """A hint that names `certkit COMMAND [SUBCOMMAND] --option` must name what exists: a user types it
    as shown (a hint once said `certkit ca-keys encrypt`, which never existed)."""
    import re

    import click

    from certkit.cli import cli

    root = Path(__file__).resolve().parent.parent / "certkit"
    context = click.Context(cli)
    named = re.compile(r"`certkit ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)((?: --?[a-z][a-z-]*)*)")
    wrong = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "suggest.py":  # names the typos it answers (`certkit renew --warn`) on purpose
            continue
        for match in named.finditer(path.read_text()):
            words = match.group(1).split()
            command = cli.get_command(context, words[0])
            if command is None:
                wrong.append(f"{path.name}: `certkit {match.group(1)}`")
                continue
            if isinstance(command, click.Group) and len(words) > 1:
                command = command.get_command(click.Context(command), words[1])
                if command is None:
                    wrong.append(f"{path.name}: `certkit {match.group(1)}`")
                    continue
            known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            for option in match.group(2).split():
                if option not in known:
                    wrong.append(f"{path.name}: `certkit {match.group(1)} {option}`")
    assert not wrong, wrong
