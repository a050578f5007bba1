"""`certkit status`: the whole set as a tree, as `certbot certificates` shows it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from certkit.cli import options
from certkit.text import utc_minute

if TYPE_CHECKING:
    from certkit.durations import Duration
    from certkit.status import Node, Status

_COLOURS = {"OK": "green", "WARNING": "yellow", "CRITICAL": "red", "UNKNOWN": "magenta"}


@click.command("status")
@options.notary_dir_argument
@click.option("--connect", "addresses", multiple=True, metavar="HOST:PORT",
              help="Also fetch what a server serves there and mark the certificate it should serve "
                   "(STALE when the server still serves an older one). Repeatable.")
@click.option("--warn", type=options.DURATION, default="30d", show_default=True,
              help="A certificate expiring within this is WARNING.")
@click.option("--ca-store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the CA private keys. Default: the recorded one, else NOTARY_DIR/.certkit/ca.")
@click.option("--color/--no-color", default=None, help="Colour the status words (default: only on a terminal).")
@options.profile_option
@options.json_option
@options.quiet_option
@click.pass_context
def status_command(ctx: click.Context, notary_dir: Path, addresses: tuple[str, ...], warn: Duration,
                   ca_store: Path | None, color: bool | None, profile_source: str | None, as_json: bool,
                   quiet: bool) -> None:
    """Show the certificate set of NOTARY_DIR (default: current folder) as a tree.

    Each root with the certificates it signs below it, then the database PKI and the
    self-signed ones; for each: notAfter, days left, key type, where its key is, the files
    it is copied to, the compose services that mount it, and with --connect what the
    running server serves. A broken node (missing, unreadable, key mismatch, expired) stays
    in the tree and says what is wrong.

    \b
    Examples:
      certkit status
      certkit status --connect localhost:4443 /srv/notary
      certkit status --json | jq '.roots[].children[].not_after'

    \b
    Exit codes (as check-expiry): 0 every certificate healthy, 1 one expires within --warn,
    2 a certificate is missing, broken, expired, mismatched or STALE, 3 usage error.
    """
    from certkit.endpoints import fetch_chain
    from certkit.profile import load_profile
    from certkit.status import compose_mounts, status

    profile = load_profile(profile_source)
    now = options.utc_now()
    served: dict[str, bytes] = {}
    notes: list[str] = []
    for address in addresses:
        chain = fetch_chain(address)
        if chain.error or not chain.chain:
            notes.append(f"{address}: {chain.error}")
        else:
            served[address] = chain.chain[0]
    mounts, compose_notes = compose_mounts(notary_dir, profile, dict(os.environ))
    result = status(notary_dir, profile, now, warn_days=max(0, (warn.after(now) - now).days), ca_store=ca_store,
                    served=served, mounts=mounts)
    result.notes += compose_notes + notes
    if as_json:
        click.echo(json.dumps(status_json(result), indent=2))
    elif not (quiet and result.health == 0 and not result.notes):
        click.echo(status_text(result), color=color)
    ctx.exit(int(result.health) if not (notes and result.health == 0) else 3)


def status_text(result: Status) -> str:
    lines: list[str] = []

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        health = click.style(node.health.name, fg=_COLOURS[node.health.name], bold=node.health != 0)
        when = (f"notAfter {utc_minute(node.not_after)} ({_days(node.days_left)})"
                if node.not_after is not None else "")
        lines.append(f"{prefix}{branch}{node.name}  {health}  {node.cert_file}  {when}".rstrip())
        inner = prefix + ("" if top else ("   " if last else "│  "))
        pad = inner + ("│  " if node.children else "   ")
        details = []
        if node.key:
            details.append(f"{node.key}, key: {node.key_file}")
        if node.copies:
            details.append("copied to " + ", ".join(node.copies))
        if node.mounted_by:
            details.append(_mounts_text(node.mounted_by))
        if node.served:
            details.append(node.served)
        details += [f"problem: {p}" for p in node.problems]
        lines.extend(f"{pad}{d}" for d in details)
        for index, child in enumerate(node.children):
            walk(child, inner, index == len(node.children) - 1, False)

    for root in result.roots:
        walk(root, "", True, True)
        lines.append("")
    lines.extend(click.style("note: ", bold=True) + note for note in result.notes)
    count = _count(result.roots)
    lines.append(f"{count} certificate{'s' if count != 1 else ''}: {result.health.name}")
    return "\n".join(lines)


def _mounts_text(mounted_by: list[str]) -> str:
    """"docker-compose.yml: server", ... as "mounted read-only by server, signer (in 6 compose files)"."""
    services = sorted({entry.split(": ", 1)[-1] for entry in mounted_by})
    files = sorted({entry.split(": ", 1)[0] for entry in mounted_by})
    where = ", ".join(files) if len(files) <= 2 else f"{len(files)} compose files"
    return f"mounted read-only by {', '.join(services)} (in {where})"


def _days(days: int | None) -> str:
    if days is None:
        return ""
    if days < 0:
        return f"expired {-days} day{'s' if days != -1 else ''} ago"
    return f"{days} day{'s' if days != 1 else ''} left"


def _count(nodes: list[Node]) -> int:
    return sum(1 + _count(n.children) for n in nodes)


def status_json(result: Status) -> dict[str, Any]:
    def node_json(node: Node) -> dict[str, Any]:
        return {
            "name": node.name, "cert_file": node.cert_file, "status": node.health.name, "subject": node.subject,
            "not_after": node.not_after.isoformat() if node.not_after else None, "days_left": node.days_left,
            "key": node.key, "key_file": node.key_file, "copies": node.copies, "mounted_by": node.mounted_by,
            "served": node.served, "problems": node.problems, "children": [node_json(c) for c in node.children],
        }

    return {"schema": "certkit.status/1", "directory": str(result.directory), "status": result.health.name,
            "roots": [node_json(r) for r in result.roots], "notes": result.notes}
