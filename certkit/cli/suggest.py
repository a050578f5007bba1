""" "Did you mean": for a mistyped command, and for an option people reach for by meaning.

click suggests options by spelling (difflib), which misleads where a word means something else
here: `certkit renew --warn 30d` is closest to `--wait`, but the person meant the renewal
window, `--within` (check-expiry's --warn).  So a small table maps what people type to the option
that does it, per command; tests/test_suggest.py checks every entry against the commands
themselves.  Commands load lazily (certkit.cli), so their names are suggested here as well.
"""

from __future__ import annotations

import difflib

import click

# What people type -> the command they mean, where spelling alone would not find it.
COMMAND_ALIASES = {
    "check": "check-expiry",
    "expiry": "check-expiry",
    "certificates": "status",  # certbot's word for the same view
    "show": "status",
    "undo": "rollback",
}

# Per command: an option people type -> the option that does what they meant.
OPTION_ALIASES: dict[str, dict[str, str]] = {
    "renew": {
        "--warn": "--within",
        "--crit": "--within",
        "--days": "--within",
        "--before": "--within",
        "--expires": "--within",
        "--threshold": "--within",
        "--ca": "--ca-store",
        "--ca-dir": "--ca-store",
        "--restart": "--deploy-hook",
        "--hook": "--deploy-hook",
        "--override": "--no-compose",
    },
    "check-expiry": {
        "--within": "--warn",
        "--days": "--warn",
        "--warning": "--warn",
        "--critical": "--crit",
        "--out": "--output",
        "--host": "--connect",
        "--server": "--connect",
        "--endpoint": "--connect",
        "--sni": "--servername",
        "--silent": "--quiet",
        "--date": "--at",
        "--as-of": "--at",
        "--ignore": "--exclude",
        "--skip": "--exclude",
    },
    "status": {
        "--within": "--warn",
        "--days": "--warn",
        "--host": "--connect",
        "--server": "--connect",
        "--endpoint": "--connect",
    },
    "trust": {
        "--host": "--server",  # by spelling --hosts, which edits /etc/hosts
        "--url": "--server",
        "--ca": "--root",
        "--root-ca": "--root",
        "--cert": "--root",
    },
    "rollback": {"--generation": "--to", "--ls": "--list", "--show": "--list"},
    "schedule": {
        "--crontab": "--cron",
        "--timer": "--systemd",
        "--rules": "--prometheus-rules",
        "--prometheus": "--prometheus-rules",
        "--alerts": "--prometheus-rules",
        "--dir": "--output-dir",
    },
    "compose": {"--write": "--in-place", "--verify": "--check", "--diff": "--dry-run"},
    "db-deploy": {"--data-dir": "--pgdata", "--datadir": "--pgdata", "--pg-data": "--pgdata"},
}


def command(name: str, known: list[str]) -> str | None:
    """The command ``name`` most likely meant: by meaning first, then by spelling."""
    if name in COMMAND_ALIASES and COMMAND_ALIASES[name] in known:
        return COMMAND_ALIASES[name]
    close = difflib.get_close_matches(name, known, n=1)
    return close[0] if close else None


def better(exc: click.ClickException) -> click.ClickException:
    """``exc``, or for an unknown option the table knows, the same error pointing to the option
    meant (with the first sentence of its help, so the person sees why)."""
    if not isinstance(exc, click.NoSuchOption) or exc.ctx is None:
        return exc
    cmd = exc.ctx.command
    target = OPTION_ALIASES.get(cmd.name or "", {}).get(exc.option_name)
    option = next((p for p in cmd.params if isinstance(p, click.Option) and target in p.opts), None)
    if target is None or option is None:
        return exc
    first = (option.help or "").split(". ")[0].rstrip(".")
    why = f" ({first})" if first else ""
    hint = click.UsageError(f"No such option: {exc.option_name}. Did you mean {target}?{why}", ctx=exc.ctx)
    # check-expiry's usage errors are Nagios UNKNOWN (3); click declares exit_code on the class.
    setattr(hint, "exit_code", exc.exit_code)  # noqa: B010
    return hint
