"""`certkit compose` output, and the compose part of `certkit renew`'s."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from certkit.render import label, plural
from certkit.text import visible

if TYPE_CHECKING:
    from certkit.compose.model import CheckReport, ComposeOutcome


def outcome_text(outcome: ComposeOutcome) -> str:
    # Service names, paths, reasons, notes and the diff come from the checkout's files: made visible
    # (certkit.text.visible); the diff keeps its line ends.
    lines: list[str] = []
    directory = visible(str(outcome.directory))
    if outcome.mounts:
        width = max(len(visible(m.service)) for m in outcome.mounts)
        for mount in outcome.mounts:
            source = os.path.relpath(mount.source, outcome.directory)
            lines.append(
                f"{visible(mount.service).ljust(width)}  "
                + visible(f"./{source} -> {mount.target} (read-only)  {mount.reason}")
            )
    for note in outcome.notes:
        lines.append(label("note") + visible(note))
    if outcome.dry_run:
        lines.append(
            visible(outcome.diff.rstrip("\n"), keep="\n")
            if outcome.diff
            else "no change: the compose files already mount every TLS folder read-only"
        )
        if outcome.diff:
            lines.append("(dry run: nothing written)")
        return "\n".join(lines)
    if outcome.written:
        for path in outcome.written:
            lines.append(f"wrote {visible(os.path.relpath(path, outcome.directory))}")
        for path in outcome.backups:
            lines.append(f"backup {visible(os.path.relpath(path, outcome.directory))}")
        lines.append(f"apply it (Notary reads its TLS files only at start), in {directory}:")
    else:
        lines.append("no change: the compose files already mount every TLS folder read-only")
        if not outcome.tls_services:
            return "\n".join(lines)
        lines.append(f"after a renewal, restart the services that read TLS files, in {directory}:")
    lines.append(f"  {visible(outcome.command)}")
    return "\n".join(lines)


def renew_compose_text(outcomes: list[ComposeOutcome], *, restart: bool = True) -> str:
    """The compose part of `certkit renew`'s output: what was written and the exact restart lines
    (``restart``: unless renew --deploy did them)."""
    lines = [""]
    for outcome in outcomes:
        for path in outcome.written:
            lines.append(
                f"compose: wrote {visible(os.path.relpath(path, outcome.directory))} (read-only folder mounts, "
                "so the containers see the renewed files)"
            )
        if not outcome.written:
            names = visible(", ".join(os.path.relpath(p, outcome.directory) for p in outcome.files))
            lines.append(f"compose: {names}: the services already mount the renewed folders read-only")
        for note in outcome.notes:
            lines.append(label("note") + visible(note))
    commands = [visible(o.command) for o in outcomes if o.restart or o.tls_services] if restart else []
    if commands:
        directory = visible(str(outcomes[0].directory))
        lines.append(
            f"restart the services (Notary reads TLS files only at start), in {directory}, "
            + ("with the compose files you start Notary with:" if len(commands) > 1 else "with:")
        )
        lines.extend(f"  {command}" for command in commands)
    return "\n".join(lines)


def outcome_json(outcome: ComposeOutcome) -> dict[str, Any]:
    return {
        "directory": str(outcome.directory),
        "files": [str(p) for p in outcome.files],
        "mode": outcome.mode,
        "dry_run": outcome.dry_run,
        "changed": outcome.changed,
        "mounts": [
            {
                "service": m.service,
                "source": str(m.source),
                "target": m.target,
                "read_only": True,
                "replaces": f"{m.replaces.source}:{m.replaces.target}" if m.replaces else None,
                "serves": list(m.serves),
                "reason": m.reason,
            }
            for m in outcome.mounts
        ],
        "written": [str(p) for p in outcome.written],
        "backups": [str(p) for p in outcome.backups],
        "diff": outcome.diff,
        "restart": outcome.restart,
        "tls_services": outcome.tls_services,
        "command": outcome.command,
        "notes": outcome.notes,
    }


def check_table(report: CheckReport) -> str:
    headers = ("SERVICE", "CONTAINER PATH", "HOST FILE", "NOT AFTER", "STATUS")
    rows = [
        (
            visible(r.service),
            visible(r.container_path),
            visible(r.host_path or "-"),
            f"{r.not_after:%Y-%m-%d}" if r.not_after else "-",
            visible("PROBLEM: " + "; ".join(r.problems)) if r.problems else r.status.text,
        )
        for r in report.rows
    ]
    lines: list[str] = []
    if rows:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:4])]
        for row in [headers, *rows]:
            lines.append("  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4])
    else:
        lines.append("no service reads TLS files certkit can find")
    for note in report.notes:
        lines.append(label("note") + visible(note))
    for problem in report.problems:
        lines.append(label("problem") + visible(problem))
    bad = sum(1 for r in report.rows if r.problems) + len(report.problems)
    files = visible(", ".join(os.path.relpath(p, report.directory) for p in report.files))
    lines.append("")
    lines.append(
        f"OK: every TLS file is the host's current one, mounted read-only ({files})"
        if report.ok
        else f"FAILED: {plural(bad, 'problem')} ({files}); "
        "fix with `certkit compose` (mounts) and `certkit renew` (expiry)"
    )
    return "\n".join(lines)


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "directory": str(report.directory),
        "files": [str(p) for p in report.files],
        "ok": report.ok,
        "rows": [
            {
                "service": r.service,
                "container_path": r.container_path,
                "kind": r.kind,
                "status": r.status,
                "host_path": r.host_path or None,
                "not_after": r.not_after.isoformat() if r.not_after else None,
                "managed": r.managed,
                "problems": list(r.problems),
            }
            for r in report.rows
        ],
        "problems": report.problems,
        "notes": report.notes,
    }
