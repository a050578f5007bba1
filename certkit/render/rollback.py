"""`certkit rollback` output: the switch made, and the kept generations to choose from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from certkit.render import minute, plural
from certkit.text import visible

if TYPE_CHECKING:
    from certkit.store.history import Generation
    from certkit.workflows.rollback import RollbackResult

RESTART = "restart the services to load them: docker compose up -d --force-recreate (Notary reads TLS files at start)"


def rollback_text(result: RollbackResult, *, quiet: bool = False) -> str:
    from certkit.render.renew import database_text

    lines = (
        []
        if quiet
        else [f"generation {result.live} is live (was {result.previous}); {plural(len(result.files), 'file')} restored"]
    )
    lines += [f"note: {note}" for note in result.notes]
    lines.append(RESTART)
    if result.database is not None:
        lines.append(database_text(result.database))
    return "\n".join(lines)


def rollback_json(result: RollbackResult) -> dict[str, Any]:
    return {
        "previous": result.previous,
        "live": result.live,
        "files": result.files,
        "generations": result.kept,
        "notes": result.notes,
    }


def generations_json(kept: list[Generation]) -> dict[str, Any]:
    return {
        "live": next((g.number for g in kept if g.live), None),
        "generations": [
            {
                "number": g.number,
                "live": g.live,
                "made": g.made.isoformat() if g.made else None,
                "changed": g.changed,
                "modes": [{"file": f, "before": f"{a:04o}", "after": f"{b:04o}"} for f, a, b in g.modes],
                "not_after": {k: v.isoformat() for k, v in g.not_after.items()},
                "problem": g.problem or None,
            }
            for g in kept
        ],
    }


def generations_text(kept: list[Generation]) -> str:
    if not kept:
        return "no generations kept yet (certkit renew records one per renewal)"
    lines = []
    for gen in kept:
        made = minute(gen.made) or "time unknown"
        marks = "  ".join(f"{name} until {when:%Y-%m-%d}" for name, when in gen.not_after.items())
        lines.append(f"{gen.number:>3}{'  LIVE' if gen.live else '      '}  {made}  {marks}".rstrip())
        if gen.problem:
            lines.append(f"       damaged: {visible(gen.problem)}")
        elif gen.number == 0:
            lines.append("       the set certkit first found")
        elif not gen.changes_known:
            lines.append("       changes unknown (the generation before it cannot be read)")
        elif gen.changed or gen.modes:
            if gen.changed:
                shown = visible(", ".join(gen.changed[:4])) + (
                    f" and {len(gen.changed) - 4} more" if len(gen.changed) > 4 else ""
                )
                lines.append(f"       changed {plural(len(gen.changed), 'file')}: {shown}")
            if gen.modes:
                first = visible(", ".join(f"{f} {a:04o} -> {b:04o}" for f, a, b in gen.modes[:2]))
                more = f" and {len(gen.modes) - 2} more" if len(gen.modes) > 2 else ""
                lines.append(f"       set the mode of {plural(len(gen.modes), 'file')}: {first}{more}")
        else:
            lines.append("       changed nothing")
    return "\n".join(lines)
