from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest

from certkit.cli import cli
from certkit.cli.options import DurationType, SecondsType
from certkit.durations import UNITS_TEXT, Duration, parse_duration, parse_seconds
from certkit.errors import UsageError
from tests.cli_helpers import run_cli

T0 = datetime(2027, 8, 31, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", T0 + timedelta(days=30)),
        ("2w", T0 + timedelta(days=14)),
        ("12h", T0 + timedelta(hours=12)),
        ("43800h", T0 + timedelta(hours=43800)),
        ("90 days", T0 + timedelta(days=90)),
        ("1w 2d", T0 + timedelta(days=9)),
        ("6 months", datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)),  # calendar months, leap year
        ("1y", datetime(2028, 8, 31, 12, 0, tzinfo=timezone.utc)),
        ("0", T0),
        ("30s", T0 + timedelta(seconds=30)),
        # m is minutes, as in Prometheus, systemd, Go and step; months are mo (issue 20).
        ("30m", T0 + timedelta(minutes=30)),
        ("90min", T0 + timedelta(minutes=90)),
        ("2 minutes", T0 + timedelta(minutes=2)),
        ("6mo", datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)),
        ("1 month", datetime(2027, 9, 30, 12, 0, tzinfo=timezone.utc)),
        ("1y 6mo", datetime(2029, 2, 28, 12, 0, tzinfo=timezone.utc)),
        ("1h 30m", T0 + timedelta(minutes=90)),
        ("12H", T0 + timedelta(hours=12)),
    ],
)
def test_parse(text: str, expected: datetime) -> None:
    assert parse_duration(text).after(T0) == expected


@pytest.mark.parametrize("text", ["", "soon", "30", "d30", "30 parsecs", "-5d", "3.5d"])
def test_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="unknown duration") as info:
        parse_duration(text)
    assert UNITS_TEXT in str(info.value)  # the error names the units, in the words of every --help


@pytest.mark.parametrize("text", ["30M", "1y 6M"])
def test_a_capital_m_is_refused_as_ambiguous(text: str) -> None:
    # Some tools read M as months, others as minutes: a window off by 40,000 is worse than a question.
    with pytest.raises(UsageError, match="M is ambiguous; write m or min for minutes, mo for months"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("600", 600.0), ("2.5", 2.5), ("30m", 1800.0), ("1h", 3600.0), ("0", 0.0)]
)
def test_timeouts_are_seconds_or_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text, T0) == seconds


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "soon"])
def test_timeouts_refuse_what_is_no_time(text: str) -> None:
    with pytest.raises(UsageError):
        parse_seconds(text, T0)


@pytest.mark.parametrize("text", ["99999999999d", "10000y", "101y", "99999999999999999s"])
def test_rejects_absurd_lengths(text: str) -> None:
    with pytest.raises(UsageError, match="too long"):
        parse_duration(text)


def test_a_hundred_years_is_the_longest_length() -> None:
    assert parse_duration("100y").after(T0).year == 2127
    with pytest.raises(UsageError, match="too long"):
        parse_duration("100y 1d")


# --------------------------------------------------------------------------- every option that takes one


def _options() -> Iterator[tuple[str, click.Command, click.Option]]:
    """Every option of every command, read from the click commands themselves."""
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option):
                yield name, command, param


DURATION_OPTIONS = [
    pytest.param(name, command, option, id=f"{name} {option.opts[0]}")
    for name, command, option in _options()
    if isinstance(option.type, (DurationType, SecondsType))
]


def test_the_duration_options_are_found() -> None:
    # A search that found nothing would pass every test below.
    found = {p.id for p in DURATION_OPTIONS}
    assert {"renew --within", "check-expiry --warn", "schedule --stale-for", "renew --wait-timeout"} <= found
    assert len(found) >= 12


@pytest.mark.parametrize(("name", "command", "option"), DURATION_OPTIONS)
def test_30m_is_30_minutes_at_every_option(name: str, command: click.Command, option: click.Option) -> None:
    ctx = command.make_context(name, [option.opts[0], "30m"])
    value = ctx.params[option.name or ""]
    if isinstance(value, Duration):
        assert value.after(T0) - T0 == timedelta(minutes=30)
    else:
        assert value == 30 * 60.0
    # And months are mo, at every option too.
    ctx = command.make_context(name, [option.opts[0], "2mo"])
    value = ctx.params[option.name or ""]
    months = value.after(T0) - T0 if isinstance(value, Duration) else timedelta(seconds=value)
    assert timedelta(days=59) <= months <= timedelta(days=62)


@pytest.mark.parametrize(("name", "command", "option"), DURATION_OPTIONS)
def test_every_duration_option_names_the_units_in_its_help(
    name: str, command: click.Command, option: click.Option
) -> None:
    assert option.help is not None and option.help.endswith(UNITS_TEXT), option.help


def test_no_time_option_takes_a_bare_number() -> None:
    # A new timeout or window must take a duration too (and so be found above): none is a plain
    # number of seconds or days any more.
    for name, _, option in _options():
        words = " ".join([*option.opts, option.metavar or "", option.help or ""]).lower()
        if re.search(r"timeout|delay|\bseconds\b|\bdays\b|\bwithin\b", words) and not option.is_flag:
            assert isinstance(option.type, (DurationType, SecondsType)), f"{name} {option.opts[0]}"


# --------------------------------------------------------------------------- what 30m does, end to end


def test_renew_within_30m_renews_nothing_of_a_fresh_set(fresh_layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Every leaf has about 749 days left: 30 minutes is far from them (30 months was not).
    code, out, err = run_cli(capsys, "renew", "--no-compose", "--dry-run", "--within", "30m", str(fresh_layout))
    assert code == 0, err
    assert "would renew" not in out, out
    code, out, err = run_cli(capsys, "renew", "--no-compose", "--dry-run", "--within", "30mo", str(fresh_layout))
    assert code == 0 and "fixtures/notary-server.crt" in out and "would renew" in out, out


def test_check_expiry_warn_30m_is_ok_for_a_fresh_set(fresh_layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "check-expiry", "--warn", "30m", "--crit", "10m", str(fresh_layout))
    assert code == 0, out
    assert "0 CRITICAL, 0 WARNING, 0 UNKNOWN" in out


def test_prometheus_stale_for_10m_waits_600_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "schedule", "--prometheus-rules", "--stale-for", "10m")
    assert code == 0, err
    assert re.search(r"^\s+for: 600s$", out, re.MULTILINE), out  # was 26265600s: 304 days
