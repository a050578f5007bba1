"""The exit codes certkit's commands end with, each defined once: its number, its name, its meaning.

certkit.errors takes every error's code from here; `certkit --help` and check-expiry's help print
these tables (:func:`help_text`); docs/cli.md holds them as Markdown (:func:`markdown`), and
tests/test_conventions.py checks that every exit-code table in README.md and docs/ is exactly that.
A code changes here, or nowhere.

Standard library only: certkit.errors imports it, and so does every command.
"""

from __future__ import annotations


class ExitCode:
    """One exit code: the number a shell sees, a name for code and docs, one line for people.

    A plain class, not a dataclass: every run imports this module (through certkit.errors), the cron
    no-op included, and dataclasses costs that path about 20 ms of imports."""

    __slots__ = ("code", "name", "meaning")

    def __init__(self, code: int, name: str, meaning: str) -> None:
        self.code = code
        self.name = name
        self.meaning = meaning

    def __repr__(self) -> str:
        return f"ExitCode({self.code}, {self.name!r})"


# renew, init, status's 10, rollback, compose, trust, schedule, db-deploy, ca-keys.
OK = ExitCode(0, "OK", "success")
INTERNAL = ExitCode(1, "INTERNAL", "internal error: a bug in certkit; please report it with the `--debug` output")
USAGE = ExitCode(2, "USAGE", "usage error: an unknown option, a bad value (a duration, a date), a bad option mix")
NOT_A_LAYOUT = ExitCode(
    10,
    "NOT_A_LAYOUT",
    "not a Notary checkout (none of the profile's markers); in a folder inside one, the line names the checkout",
)
PROFILE = ExitCode(11, "PROFILE", "invalid profile file: the line names the field and the reason")
MATERIAL = ExitCode(
    12, "MATERIAL", "an existing key or certificate cannot be used (corrupt, encrypted: decrypt it, or `--rotate-keys`)"
)
FILESYSTEM = ExitCode(
    13,
    "FILESYSTEM",
    "cannot read or write (no permission, read-only, a dangling symlink or one leaving the folder, a folder or "
    "file others may change by its mode or an ACL, from `/` down, a folder replaced mid-run), or a `.certkit/` "
    "state folder certkit cannot trust",
)
VALIDATION = ExitCode(14, "VALIDATION", "the new certificates failed validation; nothing was written")
COMPOSE = ExitCode(
    15,
    "COMPOSE",
    "a compose file or Dockerfile certkit cannot read or edit safely, an override `COMPOSE_FILE` would put "
    "outside the checkout, or `compose --check` found a problem",
)
LOCKED = ExitCode(16, "LOCKED", "another certkit is renewing this folder (`--wait` waits for it)")
HOOK = ExitCode(17, "HOOK", "a hook was not found or failed (a renewal that succeeded is kept)")
CLIENT_CONFIG = ExitCode(
    18, "CLIENT_CONFIG", "`~/.notary/config.json` cannot be merged (`trust`); it is left as it was"
)
ROLLBACK = ExitCode(19, "ROLLBACK", "no generation to roll back to (`rollback`)")
DATABASE = ExitCode(
    20,
    "DATABASE",
    "postgres's data folder cannot be reached or written (`db-deploy`, `renew --pgdata`; a renewal is kept)",
)
ENGINE = ExitCode(
    21,
    "ENGINE",
    "the Docker engine cannot be reached or used, or `renew --deploy` finds no `docker compose` "
    "(a renewal is kept; the deploy is owed to the next run)",
)
DEPLOY = ExitCode(
    22,
    "DEPLOY",
    "`renew --deploy` ran but is not verified: compose failed, a container not running in time, its file not "
    "the disk's, the old certificate still served (a renewal is kept; the deploy is owed)",
)
PASSPHRASE = ExitCode(
    23,
    "PASSPHRASE",
    "the CA keys' passphrase: no source, a passphrase file that is missing, not yours, readable by others or "
    "empty, an empty credential, or a wrong passphrase",
)
OFFLINE_KEY = ExitCode(
    24,
    "OFFLINE_KEY",
    "the renewal needs the offline root key (`renew --ca-root-key FILE`), or FILE is not that key",
)
TOKEN = ExitCode(
    25, "TOKEN", "a CA key in a PKCS#11 token cannot be used: no module or token, a wrong or missing PIN, no such key"
)
INTERRUPTED = ExitCode(130, "INTERRUPTED", "interrupted by Ctrl-C (SIGINT): the set is wholly old or wholly new")
TERMINATED = ExitCode(143, "TERMINATED", "stopped by SIGTERM: the set is wholly old or wholly new")

COMMAND_CODES: tuple[ExitCode, ...] = (
    OK,
    INTERNAL,
    USAGE,
    NOT_A_LAYOUT,
    PROFILE,
    MATERIAL,
    FILESYSTEM,
    VALIDATION,
    COMPOSE,
    LOCKED,
    HOOK,
    CLIENT_CONFIG,
    ROLLBACK,
    DATABASE,
    ENGINE,
    DEPLOY,
    PASSPHRASE,
    OFFLINE_KEY,
    TOKEN,
    INTERRUPTED,
    TERMINATED,
)

# check-expiry (and status) speak the Nagios plugin convention instead: the worst finding decides,
# ranked CRITICAL > UNKNOWN > WARNING > OK (certkit.check.findings.Status holds the same numbers).
NAGIOS_OK = ExitCode(0, "OK", "everything valid for longer than `--warn`")
NAGIOS_WARNING = ExitCode(1, "WARNING", "something expires within `--warn`")
NAGIOS_CRITICAL = ExitCode(
    2,
    "CRITICAL",
    "expires within `--crit`, expired, not yet valid, broken chain, key mismatch, STALE or BAKED "
    "(a container that does not run the file on disk), a deploy owed, hostname not covered, "
    "a file a Notary config names is missing",
)
NAGIOS_UNKNOWN = ExitCode(
    3,
    "UNKNOWN",
    "unreadable input, unreachable endpoint, a folder with no certificate file (a check that finds nothing "
    "never passes), a walk or document past its bound, usage error (3, not click's 2, which reads as CRITICAL)",
)
NAGIOS_CODES: tuple[ExitCode, ...] = (NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN)


def markdown(codes: tuple[ExitCode, ...]) -> str:
    """The table as docs/cli.md holds it (the tests compare every documented table with this)."""
    lines = ["| code | name | meaning |", "| --- | --- | --- |"]
    lines += [f"| {c.code} | {c.name} | {c.meaning} |" for c in codes]
    return "\n".join(lines)


def help_text(codes: tuple[ExitCode, ...], *, names: bool = False, width: int = 76, indent: int = 2) -> str:
    """The table for a --help epilog (which click indents by two more): one entry per code, its meaning
    wrapped under itself; ``names`` puts the name between (check-expiry's status words).

    Backquotes are dropped: they mark code in Markdown, not in a terminal."""
    import textwrap  # only for --help: certkit.errors (every run, the cron no-op too) imports this module

    number = max(len(str(c.code)) for c in codes) + 2
    name = max(len(c.name) for c in codes) + 2 if names else 0
    lines = []
    for entry in codes:
        first = " " * indent + str(entry.code).ljust(number) + (entry.name.ljust(name) if names else "")
        lines += textwrap.wrap(
            entry.meaning.replace("`", ""),
            width=width,
            initial_indent=first,
            subsequent_indent=" " * len(first),
            break_on_hyphens=False,
        )
    return "\n".join(lines)


def nagios_line() -> str:
    """check-expiry's codes in one line, for the other commands' help."""
    return ", ".join(f"{c.code} {c.name}" for c in NAGIOS_CODES)
