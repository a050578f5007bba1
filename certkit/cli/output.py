"""Rendering core results for people (tables) and programs (JSON)."""

from __future__ import annotations

import os

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from certkit.outcomes import Action
from certkit.text import utc_minute

if TYPE_CHECKING:
    from certkit.database import DatabaseStep, DeployResult
    from certkit.renew import RenewResult


def _date(moment: datetime | None) -> str:
    return utc_minute(moment) if moment else ""


def renew_table(result: RenewResult) -> str:
    rows = [(f.path, f.action, _date(f.not_after), "; ".join(r for r in f.reasons if r)) for f in result.files]
    headers = ("FILE", "ACTION", "NOT AFTER", "WHY")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:3])]
    lines = []
    for row in [headers, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        text = "  ".join(cells)
        if row is not headers and row[1] != Action.KEPT and row[3]:
            text += "  " + row[3]
        elif row is headers:
            text += "  " + headers[3]
        lines.append(text.rstrip())
    lines.append("")
    lines.append(renew_summary(result))
    return "\n".join(lines)


def renew_summary(result: RenewResult) -> str:
    """The line under the table, and the notes: what renew --quiet prints when something changed."""
    done = [f for f in result.files if f.action != Action.KEPT]
    verb = "would change" if result.dry_run else "changed"
    summary = f"{plural(len(done), 'file')} {verb}, {len(result.files) - len(done)} kept"
    if not done:
        summary = "nothing is due; no file changed"
    lines = [summary + (" (dry run: nothing written)" if result.dry_run else "")]
    for notice in result.notices:
        lines.append(click.style("note: ", bold=True) + notice)
    return "\n".join(lines)


def renew_json(result: RenewResult) -> dict[str, Any]:
    return {
        "root": str(result.root),
        "root_absolute": os.path.abspath(result.root),  # every "path" below is relative to it
        "profile": result.profile,
        "ca_store": str(result.ca_store),
        "dry_run": result.dry_run,
        "changed": result.changed,
        "renewed": result.renewed,
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "action": f.action,
                "certificate": f.certificate,
                "not_after": f.not_after.isoformat() if f.not_after else None,
                "reasons": [r for r in f.reasons if r],
            }
            for f in result.files
        ],
        "notices": result.notices,
        "database": database_json(result.database) if result.database else None,
    }


def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 file", "2 files" (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def database_text(step: DatabaseStep, dry_run: bool = False) -> str:
    """The database part of `certkit renew`'s output: why, then the exact lines to run."""
    lines = ["", click.style("database: ", bold=True) + ("would change " if dry_run else "changed ")
             + ", ".join(step.changed) + "; " + step.summary]
    if step.commands:
        lines.append("in the Notary checkout, before restarting notary-server and notary-signer, run for the "
                     "compose file you start the database with (postgres 9.5, Notary's image, loads SSL files "
                     "only at start, so it is restarted; the data volume is kept):")
        lines.extend(f"  {command}" for command in step.commands)
    lines.append("for a postgres whose data folder is reachable from this host (not in a container): "
                 f"{step.host_command} (then it prints the reload or restart to run)")
    return "\n".join(lines)


def database_json(step: DatabaseStep) -> dict[str, Any]:
    return {"changed": step.changed, "ca_changed": step.ca_changed, "compose_files": step.compose_files,
            "commands": step.commands, "host_command": step.host_command}


def deploy_text(result: DeployResult) -> str:
    lines = [f"copied {', '.join(result.files)} into {result.pgdata} (owner {result.owner[0]}:{result.owner[1]}, "
             "server.key 0600)"]
    version = f"postgres {result.version}" if result.version is not None else "this postgres"
    how = "reloads SSL files on SIGHUP" if result.reloads else "loads SSL files only at start"
    lines.append(f"{version} {how}; now run:")
    lines.extend(f"  {line}" for line in result.reload)
    return "\n".join(lines)
