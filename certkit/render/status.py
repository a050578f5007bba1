"""`certkit status` output: the set as a tree for people, and its JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from certkit.render import label, minute, style
from certkit.text import visible

if TYPE_CHECKING:
    from certkit.check.status import Node, SetTree

_COLOURS = {"OK": "green", "WARNING": "yellow", "CRITICAL": "red", "UNKNOWN": "magenta"}


def status_text(result: SetTree) -> str:
    lines: list[str] = []

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        health = style(node.health.name, fg=_COLOURS[node.health.name], bold=node.health != 0)
        when = f"notAfter {minute(node.not_after)} ({_days(node.days_left)})" if node.not_after is not None else ""
        # Names and paths (a profile's, a compose file's), problems and notes are outside text: visible.
        lines.append(f"{prefix}{branch}{visible(node.name)}  {health}  {visible(node.cert_file)}  {when}".rstrip())
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
        details += [f"runs in {r.where}: " + ("OK" if r.verdict == "ok" else r.text) for r in node.runs]
        details += [f"problem: {p}" for p in node.problems]
        lines.extend(f"{pad}{visible(d)}" for d in details)
        for index, child in enumerate(node.children):
            walk(child, inner, index == len(node.children) - 1, False)

    for root in result.roots:
        walk(root, "", True, True)
        lines.append("")
    lines.extend(label("note") + visible(note) for note in result.notes)
    if result.deploy_owed:
        lines.append(label("problem") + visible(result.deploy_owed))
    count = _count(result.roots)
    lines.append(f"{count} certificate{'s' if count != 1 else ''}: {result.health.name}")
    return "\n".join(lines)


def _mounts_text(mounted_by: list[str]) -> str:
    """ "docker-compose.yml: server", ... as "mounted read-only by server, signer (in 6 compose files)"."""
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


def status_json(result: SetTree) -> dict[str, Any]:
    def node_json(node: Node) -> dict[str, Any]:
        return {
            "name": node.name,
            "cert_file": node.cert_file,
            "status": node.health.name,
            "subject": node.subject,
            "not_after": node.not_after.isoformat() if node.not_after else None,
            "days_left": node.days_left,
            "key": node.key,
            "key_file": node.key_file,
            "copies": node.copies,
            "mounted_by": node.mounted_by,
            "served": node.served,
            "runs": [
                {
                    "where": r.where,
                    "service": r.service,
                    "container": r.container or None,
                    "state": r.state or None,
                    "verdict": r.verdict,
                    "text": r.text,
                }
                for r in node.runs
            ],
            "problems": node.problems,
            "children": [node_json(c) for c in node.children],
        }

    return {
        "schema": "certkit.status/1",
        "directory": str(result.directory),
        "status": result.health.name,
        "roots": [node_json(r) for r in result.roots],
        "notes": result.notes,
        "deploy_owed": result.deploy_owed,
    }
