"""`certkit ca-keys`: the CA keys as a table, and what a conversion or an export did."""

from __future__ import annotations

from typing import Any

from certkit.workflows.cakeys import Change, KeyRow


def _form(row: KeyRow) -> str:
    return row.form.value if row.form is not None else "missing"


def rows_text(rows: list[KeyRow]) -> str:
    width = max([len(r.path) for r in rows] + [4])
    lines = [f"{'CA':<16} {'FILE':<{width}}  {'FORM':<9}  {'KEY':<11}  WHERE"]
    for row in rows:
        lines.append(f"{row.name:<16} {row.path:<{width}}  {_form(row):<9}  {row.key:<11}  {row.detail}".rstrip())
    return "\n".join(lines)


def rows_json(rows: list[KeyRow]) -> dict[str, Any]:
    return {
        "schema": "certkit.ca-keys/1",
        "keys": [{"name": r.name, "file": r.path, "form": _form(r), "key": r.key, "where": r.detail} for r in rows],
    }


def change_text(change: Change) -> str:
    lines = []
    if change.exported_to is not None:
        lines.append(f"exported and verified: {change.exported_to} (encrypted, mode 0600): keep it off this machine")
    for path in change.written:
        lines.append(f"rewritten: {path}")
    if change.generations:
        lines.append(f"rewritten: {change.generations} copies kept for rollback in .certkit/generations")
    lines += [f"note: {n}" for n in change.notes]
    lines.append(rows_text(change.rows))
    return "\n".join(lines)
