"""Options and parameter types shared by several commands (defined once, stacked as decorators)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from certkit import defaults
from certkit.durations import UNITS_TEXT, Duration, parse_duration, parse_seconds
from certkit.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def duration_help(text: str) -> str:
    """The help of an option that takes a duration: what it does, then the units, the same words
    for every such option (tests/test_durations.py finds them all and checks)."""
    return f"{text} {UNITS_TEXT}"


def seconds_text(seconds: float) -> str:
    """A default timeout as the option shows it and takes it: "10m" for 600 seconds, "5" for 5."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}"


def seconds_help(text: str) -> str:
    """The help of a timeout: a bare number is seconds; a duration works too."""
    return f"{text} A number of seconds, or a duration. {UNITS_TEXT}"


class DurationType(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Duration:
        if isinstance(value, Duration):
            return value
        try:
            return parse_duration(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


class SecondsType(click.ParamType):  # type: ignore[type-arg]
    """A timeout as float seconds: "600" (seconds, as before) or a duration ("10m", "1h")."""

    name = "DURATION"

    def __init__(self, minimum: float, *, minimum_open: bool = False) -> None:
        self.minimum = minimum
        self.minimum_open = minimum_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            try:
                seconds = parse_seconds(str(value), utc_now())
            except UsageError as exc:
                self.fail(str(exc), param, ctx)
        if seconds < self.minimum or (self.minimum_open and seconds == self.minimum):
            bound = f"more than {self.minimum:g}" if self.minimum_open else f"at least {self.minimum:g}"
            self.fail(f"{value!r} is {seconds:g} seconds; give {bound} seconds", param, ctx)
        return seconds


class MomentType(click.ParamType):  # type: ignore[type-arg]
    """An ISO date or date-time (UTC unless an offset is given)."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        from dateutil import parser

        try:
            moment = parser.isoparse(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date; use e.g. 2027-01-31 or 2027-01-31T12:00:00Z", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


DURATION = DurationType()
MOMENT = MomentType()

profile_option = click.option(
    "--profile",
    "profile_source",
    metavar="FILE|NAME",
    default=None,
    help='PKI profile: a TOML file (may say extends = "notary") or a built-in name. Default: notary.',
)
dry_run_option = click.option("--dry-run", is_flag=True, help="Show what would be done; write nothing.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def notary_dir_argument(func: F) -> F:
    return click.argument("notary_dir", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))(
        func
    )


def utc_now() -> datetime:
    """The only place the CLI reads the clock; the core always takes `now` as a parameter."""
    return datetime.now(timezone.utc)


container_dir_option = click.option(
    "--container-dir",
    "container_dirs",
    multiple=True,
    metavar="[SERVICE=]DIR",
    help="The container folder that holds this checkout's files, for a service whose folder certkit cannot "
    "tell (an image: with no build:). Repeatable; without SERVICE= it applies to every service. "
    "Remembered in NOTARY_DIR/.certkit, so later runs need no flag.",
)


def parse_container_dirs(values: tuple[str, ...]) -> dict[str, str]:
    """``SERVICE=DIR`` / ``DIR`` answers as {service: folder}; "" stands for every service."""
    result: dict[str, str] = {}
    for value in values:
        service, sep, folder = value.partition("=") if not value.startswith("/") else ("", "", value)
        if not folder.startswith("/") or "\n" in value:
            raise UsageError(
                f"--container-dir {value}: give an absolute container folder, e.g. "
                "--container-dir server=/go/src/github.com/theupdateframework/notary"
            )
        result[service if sep else ""] = folder.rstrip("/") or "/"
    return result


quiet_option = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Errors and warnings only; nothing at all when nothing happened (for cron mail).",
)

verbose_option = click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Show every file, every note and every line to run, not only what changed and the action.",
)


ca_store_option = click.option(
    "--ca-store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the CA private keys, never mounted, built into an image or committed. "
    "Default: NOTARY_DIR/.certkit/ca, or the folder an earlier --ca-store recorded for NOTARY_DIR.",
)


# What runs (check-expiry, status): the Docker engine is asked when a socket is there.
no_engine_option = click.option(
    "--no-engine",
    is_flag=True,
    help="Do not ask the Docker engine what the containers run (the files and the compose analysis only; "
    "the Docker SDK is not even loaded). Default: ask it when its socket is there (DOCKER_HOST, else "
    "/var/run/docker.sock); no engine there is a note, not an error.",
)
docker_host_option = click.option(
    "--docker-host",
    metavar="URL",
    default=None,
    help="The Docker engine to ask (unix:///path/docker.sock, tcp://HOST:2376); wins over DOCKER_HOST. "
    "An engine named here that cannot be used is an error, not a note.",
)
engine_timeout_option = click.option(
    "--engine-timeout",
    type=SecondsType(0.1),
    default=seconds_text(defaults.ENGINE_TIMEOUT),
    show_default=True,
    help=seconds_help("Bound on each call to the Docker engine."),
)


def engine_options(func: F) -> F:
    """--no-engine, --docker-host and --engine-timeout, in that order."""
    return no_engine_option(docker_host_option(engine_timeout_option(func)))


# The CA keys' secrets (certkit.pki.unlock): never on the command line or in the environment, only the
# path of a file (checked like a state file), a systemd credential, or a prompt on a terminal.
ca_passphrase_file_option = click.option(
    "--ca-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="The CA keys' passphrase, on the first line of FILE (yours, mode 0600). Read only when a CA key must "
    "sign or be stored. Before it: the systemd credential certkit-ca-passphrase; after it: a prompt on a terminal.",
)
ca_root_key_option = click.option(
    "--ca-root-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="The root key `certkit ca-keys export-root` wrote, for a renewal that needs the offline root "
    "(exit 24 says when); used for this run only, never stored.",
)
ca_pkcs11_option = click.option(
    "--ca-pkcs11",
    metavar="URI",
    default=None,
    help="Make new CA keys in this PKCS#11 token, never exported: an RFC 7512 URI such as "
    "'pkcs11:token=certkit?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/certkit/pin' "
    "(the PIN from pin-source, the systemd credential certkit-ca-pin, or a prompt). Needs certkit[hsm].",
)


def terminal_prompt() -> Callable[[str], str] | None:
    """A hidden prompt when certkit runs on a terminal; None from cron or a unit (then no source is an error)."""
    import sys

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None

    def ask(text: str) -> str:
        return str(click.prompt(text, hide_input=True, err=True, default="", show_default=False))

    return ask


def new_passphrase(file: Path | None, what: str) -> bytes | None:
    """A new passphrase: the first line of ``file`` (checked as a secret file), else typed twice on a terminal."""
    import sys

    from certkit.errors import PassphraseError
    from certkit.pki.unlock import read_secret

    if file is not None:
        return read_secret(file, f"--new-passphrase-file {file}", PassphraseError)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    typed = click.prompt(f"certkit: new passphrase {what}", hide_input=True, confirmation_prompt=True, err=True)
    return str(typed).encode() or None


class NagiosCommand(click.Command):
    """A command whose exit codes are Nagios' (check-expiry, status): a usage error exits 3 (UNKNOWN),
    as a Nagios plugin must, not click's 2, which a monitor reads as CRITICAL."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _unknown(exc)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # an option mix the command itself refuses
            _unknown(exc)
            raise


def _unknown(exc: click.UsageError) -> None:
    from certkit import exitcodes

    # An instance attribute click reads when exiting; click declares it on the class.
    setattr(exc, "exit_code", exitcodes.NAGIOS_UNKNOWN.code)  # noqa: B010
