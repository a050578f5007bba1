"""`certkit renew`, `init`, `rollback` and `db-deploy` output: tables, summaries, JSON, hook output."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from certkit.outcomes import Action
from certkit.render import label, minute, plural
from certkit.text import visible

if TYPE_CHECKING:
    from certkit.deploy.database import DatabaseStep, DeployResult
    from certkit.pki.renew import RenewResult
    from certkit.workflows.hooks import HookResult
    from certkit.workflows.renew import RenewRun


def renew_table(result: RenewResult) -> str:
    rows = [
        (visible(f.path), f.action, minute(f.not_after), visible("; ".join(r for r in f.reasons if r)))
        for f in result.files
    ]
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
        lines.append(label("note") + visible(notice))
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
    }


def run_json(run: RenewRun) -> dict[str, Any]:
    """`certkit renew --json`: the renewal with what the compose, database and hook steps did."""
    from certkit.render.compose import outcome_json

    if run.result is None:  # the pre hook failed: no renewal to show, but what the hooks said
        return {"changed": False, "hooks": [hook_json(h) for h in run.hooks]}
    data = renew_json(run.result)
    data["database"] = database_json(run.database) if run.database else None
    if run.compose:
        data["compose"] = [outcome_json(outcome) for outcome in run.compose]
    if run.deployed is not None:
        data["database_deployed"] = {"pgdata": str(run.deployed.pgdata), "reload": run.deployed.reload}
    if run.deploy is not None:
        from certkit.render.deploy import deploy_json

        data["deploy"] = deploy_json(run.deploy)
    if run.owed is not None:
        from certkit.render.deploy import owed_json

        data["deploy_owed"] = owed_json(run.owed)
    data["hooks"] = [hook_json(h) for h in run.hooks]
    return data


def run_text(run: RenewRun, *, quiet: bool = False) -> str | None:
    """`certkit renew`'s report for people, on stdout; None when there is nothing to say.

    --quiet (cron) says nothing here, ever: what a person must do or know goes to stderr
    (:func:`attention_lines`), so an empty stdout means nothing is owed.
    """
    from certkit.render.compose import renew_compose_text

    result = run.result
    if result is None or quiet:
        return None
    parts = [renew_table(result)]
    deployed = run.deploy is not None and run.deploy.result is not None
    if run.database is not None:
        if run.deployed is not None:
            parts.append("\n" + label("database") + deploy_text(run.deployed))
        elif not _database_deployed(run):
            parts.append(database_text(run.database, result.dry_run))
    # With nothing renewed and no override written, the compose step has nothing to say (cron).
    shown = run.compose if result.changed else [o for o in run.compose if o.written]
    if shown:
        # After a verified deploy the restart lines are done, not to do.
        parts.append(renew_compose_text(shown, restart=not deployed))
    if run.deploy is not None:
        from certkit.render.deploy import deploy_text as engine_deploy_text

        text = engine_deploy_text(run.deploy, dry_run=result.dry_run)
        if text:
            parts.append(text)
    return "\n".join(parts)


def attention_lines(run: RenewRun, *, quiet: bool = False) -> list[str]:
    """What a person must still do or know, for stderr (cron mails it), printed before the report.

    Always: the one line that makes the running services use a renewal renew did not deploy
    (no --deploy), and a deploy still owed by an earlier run.  With --quiet also what the report
    would have said that asks something of a person: the notes (a new root to trust, keys
    tightened), the database lines, stopped containers left stopped.
    """
    from certkit.render.deploy import next_line, owed_line

    result = run.result
    lines: list[str] = []
    if result is None:
        return lines
    if quiet:
        lines += [label("note") + notice for notice in result.notices]
        if run.database is not None and run.deployed is None and not _database_deployed(run):
            lines += [line for line in database_text(run.database, result.dry_run).splitlines() if line]
        if run.deploy is not None and run.deploy.plan is not None:
            lines += [label("deploy") + f"left stopped, not started: {s}" for s in run.deploy.plan.stopped]
            lines += [label("note") + note for note in [*run.deploy.plan.notes, *run.deploy.notes]]
    if run.deploy is None and not result.dry_run and (result.changed or any(o.written for o in run.compose)):
        line = next_line(run.compose)
        if line is not None:
            lines.insert(0, line)
    if run.owed is not None:
        lines.append(owed_line(run.owed, result.root))
    return lines


def _database_deployed(run: RenewRun) -> bool:
    """The deploy step took the database step over: the engine answered, so the deploy ran it (or
    shows it, in a dry run), owes it with the lines to run, or its notes say no postgres holds an
    old copy; the generic lines for a person are not needed then."""
    return run.deploy is not None and run.deploy.plan is not None


def nothing_due_text(run: RenewRun, within: object) -> str:
    """The fast path's one line (certkit.store.fastpath answered without reading a certificate)."""
    return (
        f"nothing is due: the earliest certificate expires {minute(run.nothing_due_until)}, "
        f"beyond --within {within}; no file changed"
    )


def init_json(result: RenewResult) -> dict[str, Any]:
    return {**renew_json(result), "database": None}  # a new set: no database holds the old one yet


def hook_lines(hook: HookResult) -> list[str]:
    """A hook's output, each line prefixed with its kind (``deploy-hook: ...``), made visible: a hook
    prints file names and what the services said, and its lines go to stderr and cron mail."""
    from certkit.workflows.hooks import OUTPUT_TAIL

    prefix = f"{hook.stage}-hook:"
    lines = [f"{prefix} ... (earlier output cut; last {OUTPUT_TAIL} characters shown)"] if hook.truncated else []
    return lines + [f"{prefix} {visible(line)}".rstrip() for line in hook.output.splitlines()]


def hook_json(hook: HookResult) -> dict[str, Any]:
    return {
        "stage": hook.stage,
        "command": hook.command,
        "exit_code": hook.exit_code,
        "timed_out": hook.timed_out,
        "output": hook.output,
        "output_truncated": hook.truncated,
    }


def database_text(step: DatabaseStep, dry_run: bool = False) -> str:
    """The database part of `certkit renew`'s output: why, then the exact lines to run."""
    lines = [
        "",
        label("database")
        + ("would change " if dry_run else "changed ")
        + visible(", ".join(step.changed) + "; " + step.summary),
    ]
    if step.commands:
        lines.append(
            "in the Notary checkout, before restarting notary-server and notary-signer, run for the "
            "compose file you start the database with (postgres 9.5, Notary's image, loads SSL files "
            "only at start, so it is restarted; the data volume is kept):"
        )
        lines.extend(f"  {visible(command)}" for command in step.commands)
    lines.append(
        "for a postgres whose data folder is reachable from this host (not in a container): "
        f"{visible(step.host_command)} (then it prints the reload or restart to run)"
    )
    return "\n".join(lines)


def database_json(step: DatabaseStep) -> dict[str, Any]:
    return {
        "changed": step.changed,
        "ca_changed": step.ca_changed,
        "compose_files": step.compose_files,
        "commands": step.commands,
        "host_command": step.host_command,
    }


def deploy_text(result: DeployResult) -> str:
    lines = [
        visible(f"copied {', '.join(result.files)} into {result.pgdata}")
        + f" (owner {result.owner[0]}:{result.owner[1]}, server.key 0600)"
    ]
    version = f"postgres {result.version}" if result.version is not None else "this postgres"
    how = "reloads SSL files on SIGHUP" if result.reloads else "loads SSL files only at start"
    lines.append(f"{version} {how}; now run:")
    lines.extend(f"  {visible(line)}" for line in result.reload)
    return "\n".join(lines)


def deploy_json(result: DeployResult) -> dict[str, Any]:
    return {
        "pgdata": str(result.pgdata),
        "files": result.files,
        "owner": list(result.owner),
        "version": result.version,
        "reloads": result.reloads,
        "reload": result.reload,
    }
