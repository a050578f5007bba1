"""The deploy part of `certkit renew`'s output (--deploy, --dry-run --deploy), and the lines that tell a
person what is still to do when certkit did not deploy (printed first, on stderr, where cron mails them)."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any

from certkit.render import label, minute, plural

if TYPE_CHECKING:
    from certkit.deploy.deploy_model import DeployPlan, ProjectDeploy
    from certkit.store.owed import OwedDeploy
    from certkit.workflows.deploy import DeployRun


def deploy_text(run: DeployRun, *, dry_run: bool) -> str:
    """What the deploy step planned (dry run), did and verified."""
    lines = [""]
    if not run.asked:
        lines.append(label("deploy") + "nothing changed since the last deploy; the Docker engine was not asked")
        return "\n".join(lines)
    plan = run.plan
    if plan is None:  # the engine failed before a plan: the error line says why
        return ""
    where = f"engine {plan.host}"
    if plan.empty:
        if plan.found:
            lines.append(label("deploy") + f"the running containers already use the files on disk ({where})")
        else:
            lines.append(label("deploy") + f"no container of this checkout's compose projects exists ({where})")
    verb = "would" if dry_run else ("" if run.result is not None else "to")
    for project in plan.projects:
        lines.extend(_project_lines(project, verb=verb))
    for stopped in plan.stopped:
        lines.append(label("deploy") + f"left stopped, not started: {stopped}")
    for note in [*plan.notes, *run.notes]:
        lines.append(label("note") + note)
    result = run.result
    if result is not None:
        lines.append(label("deploy") + f"done and verified in {result.seconds:.1f} s:")
        lines.extend(f"  {line}" for line in result.verified)
    if run.cleared:
        lines.append(label("deploy") + "the deploy owed by an earlier run is done")
    return "\n".join(lines)


def _project_lines(project: ProjectDeploy, *, verb: str) -> list[str]:
    """``verb``: "would" (dry run), "" (done) or "to" (not done: the error says why)."""
    if not (project.recreate or project.database):
        return []
    files = ", ".join(_short(p, project.working_dir) for p in project.files)
    lines = [label("deploy") + f"project {project.project} (in {project.working_dir}, with {files}):"]
    copy, recreate = ("copied", "recreated") if not verb else (f"{verb} copy", f"{verb} recreate")
    if project.database is not None:
        restart = "restarted" if not verb else "restart"
        lines.append(
            f"  {copy} the database set into $PGDATA of {project.database.service} and {restart} it "
            "(postgres loads SSL files at start; the data volume is kept)"
        )
    for service in project.recreate:
        lines.append(f"  {recreate} {service.service}: {service.why}")
    if verb == "would":
        lines.extend(f"  {line}" for line in project.by_hand())
    return lines


def _short(path: os.PathLike[str] | str, folder: os.PathLike[str] | str) -> str:
    relative = os.path.relpath(path, folder)
    return path.__fspath__() if isinstance(path, os.PathLike) and relative.startswith("..") else relative


def owed_line(record: OwedDeploy, notary_dir: os.PathLike[str] | str) -> str:
    """A deploy an earlier `renew --deploy` could not do (printed by renew without --deploy)."""
    since = f" since {minute(record.since)}" if record.since else ""
    hand = f" (or by hand: {'; '.join(record.by_hand)})" if record.by_hand else ""
    return (
        f"a deploy is owed{since} ({plural(record.attempts, 'attempt')} failed: {record.reason}): "
        f"run `certkit renew --deploy {shlex.quote(os.fspath(notary_dir))}`{hand}"
    )


def deploy_json(run: DeployRun) -> dict[str, Any]:
    plan = run.plan
    result = run.result
    return {
        "asked": run.asked,
        "engine": plan.host if plan is not None else None,
        "plan": _plan_json(plan) if plan is not None else None,
        "recreated": result.recreated if result is not None else [],
        "verified": result.verified if result is not None else [],
        "seconds": round(result.seconds, 3) if result is not None else None,
        "error": str(run.error) if run.error is not None else None,
        "exit_code": run.error.exit_code if run.error is not None else 0,
        "owed": owed_json(run.owed) if run.owed is not None else None,
        "owed_cleared": run.cleared,
        "notes": run.notes,
    }


def _plan_json(plan: DeployPlan) -> dict[str, Any]:
    return {
        "projects": [
            {
                "project": p.project,
                "working_dir": str(p.working_dir),
                "files": [str(f) for f in p.files],
                "recreate": [
                    {"service": s.service, "why": s.why, "containers": list(s.container_ids)} for s in p.recreate
                ],
                "database": p.database.service if p.database is not None else None,
                "commands": p.by_hand(),
            }
            for p in plan.projects
        ],
        "stopped": plan.stopped,
        "notes": plan.notes,
    }


def owed_json(record: OwedDeploy) -> dict[str, Any]:
    return {
        "since": record.since.isoformat() if record.since else None,
        "reason": record.reason,
        "exit_code": record.exit_code,
        "attempts": record.attempts,
        "by_hand": list(record.by_hand),
        "services": record.services,
        "database": record.database,
    }
