"""`certkit renew`, `init`, `rollback` and `db-deploy` output: tables, summaries, JSON, hook output."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any

from certkit.outcomes import Action, FileKind, Notice, NoticeKind
from certkit.render import label, minute, plural
from certkit.text import visible

if TYPE_CHECKING:
    from certkit.compose.model import ComposeOutcome
    from certkit.deploy.database import DatabaseStep, DeployResult
    from certkit.pki.renew import RenewResult
    from certkit.workflows.hooks import HookResult
    from certkit.workflows.renew import RenewRun


def renew_table(result: RenewResult, *, verbose: bool = True, database: bool = True) -> str:
    """The files and what happened to each, then the summary line and the notes.

    Not ``verbose``: only the rows that changed (or would), the kept ones counted in the summary,
    and the notes grouped (see :func:`renew_summary`)."""
    files = [f for f in result.files if verbose or f.action != Action.KEPT]
    rows = [
        (visible(f.path), f.action, minute(f.not_after), visible("; ".join(r for r in f.reasons if r))) for f in files
    ]
    headers = ("FILE", "ACTION", "NOT AFTER", "WHY")
    lines = []
    if rows:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:3])]
        for row in [headers, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            text = "  ".join(cells)
            if row is not headers and row[1] != Action.KEPT and row[3]:
                text += "  " + row[3]
            elif row is headers:
                text += "  " + headers[3]
            lines.append(text.rstrip())
        lines.append("")
    lines.append(renew_summary(result, verbose=verbose, database=database))
    return "\n".join(lines)


def renew_summary(result: RenewResult, *, verbose: bool = True, database: bool = True) -> str:
    """The line under the table, and the notes: what renew --quiet prints when something changed.

    Not ``verbose``: the keys set to 0600 are one note (a count and the first few), and with
    ``database`` False the notes about the database set (a new database CA, postgres's key owner),
    which concern only a postgres project, are left out (the database line says so)."""
    done = [f for f in result.files if f.action != Action.KEPT]
    verb = "would change" if result.dry_run else "changed"
    kept = len(result.files) - len(done)
    summary = f"{plural(len(done), 'file')} {verb}, {kept} kept"
    if kept and not verbose and done:
        summary += " (--verbose lists them)"
    if not done:
        summary = "nothing is due; no file changed"
    lines = [summary + (" (dry run: nothing written)" if result.dry_run else "")]
    lines += [label("note") + visible(notice) for notice in notices(result, verbose=verbose, database=database)]
    return "\n".join(lines)


def notices(result: RenewResult, *, verbose: bool = True, database: bool = True) -> list[str]:
    """The renewal's notes as the report shows them (see :func:`renew_summary`)."""
    from certkit.deploy.database import concerns_database

    shown = [
        n
        for n in result.notices
        if database
        or not (
            isinstance(n, Notice)
            and n.kind in (NoticeKind.NEW_ROOT, NoticeKind.KEY_OWNER)  # a key set to 0600 is said anyway
            and any(concerns_database(path) for path in n.about)
        )
    ]
    loose = [n for n in shown if isinstance(n, Notice) and n.kind == NoticeKind.LOOSE_KEY]
    if verbose or len(loose) <= 1:
        return list(shown)
    paths = [n.about[0] for n in loose]
    first = ", ".join(paths[:FIRST_FEW]) + (f" and {len(paths) - FIRST_FEW} more" if len(paths) > FIRST_FEW else "")
    verb = "would set" if result.dry_run else "set"
    grouped = f"{len(paths)} private keys were readable by others; {verb} to 0600: {first}"
    rest = [n for n in shown if n not in loose]
    return [grouped, *rest]


FIRST_FEW = 3  # paths named in a grouped note; --verbose names every one


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


def run_text(run: RenewRun, *, quiet: bool = False, verbose: bool = False) -> str | None:
    """`certkit renew`'s report for people, on stdout; None when there is nothing to say.

    The action (the line that makes the running services use the renewal) is not here: it comes
    first, on stderr (:func:`attention_lines`).  Here: the files that changed (all with ``verbose``),
    the notes, the database step when a postgres project is in use (else one line), what the
    compose step wrote, and what --deploy did.

    --quiet (cron) says nothing here, ever: what a person must do or know goes to stderr
    (:func:`attention_lines`), so an empty stdout means nothing is owed.
    """
    from certkit.render.compose import renew_compose_text

    result = run.result
    if result is None or quiet:
        return None
    applies = database_applies(run)
    parts = [renew_table(result, verbose=verbose, database=applies or verbose)]
    deployed = run.deploy is not None and run.deploy.result is not None
    if run.database is not None:
        if run.deployed is not None:
            parts.append("\n" + label("database") + deploy_text(run.deployed))
        elif not _database_deployed(run):
            parts.append(database_text(run.database, result.dry_run) if applies or verbose else database_line(run))
    # With nothing renewed and no override written, the compose step has nothing to say (cron).
    shown = run.compose if result.changed else [o for o in run.compose if o.written]
    if shown:
        # After a verified deploy the restart lines are done, not to do; without --verbose the
        # action is the one line on stderr, not a line per compose file here.
        parts.append(renew_compose_text(shown, restart=not deployed) if verbose else compose_summary(shown))
    if run.deploy is not None:
        from certkit.render.deploy import deploy_text as engine_deploy_text

        text = engine_deploy_text(run.deploy, dry_run=result.dry_run)
        if text:
            parts.append(text)
    return "\n".join(parts)


def attention_lines(run: RenewRun, *, quiet: bool = False) -> list[str]:
    """What a person must still do or know, for stderr (cron mails it), printed before the report.

    First: the action that makes the running services use a renewal renew did not deploy (no
    --deploy), for the project in use: the one the engine shows running, else the default project
    (the other compose files folded under one line); and a deploy still owed by an earlier run.
    With --quiet also what the report would have said that asks something of a person: the notes
    (a new root to trust, keys tightened), the database lines (when a postgres project is in use),
    stopped containers left stopped.
    """
    from certkit.render.deploy import owed_line

    result = run.result
    lines: list[str] = []
    if result is None:
        return lines
    if quiet:
        applies = database_applies(run)
        lines += [label("note") + visible(n) for n in notices(result, verbose=False, database=applies)]
        if run.database is not None and run.deployed is None and not _database_deployed(run):
            text = database_text(run.database, result.dry_run) if applies else database_line(run)
            lines += [line for line in text.splitlines() if line]
        if run.deploy is not None and run.deploy.plan is not None:
            lines += [label("deploy") + f"left stopped, not started: {s}" for s in run.deploy.plan.stopped]
            lines += [label("note") + note for note in [*run.deploy.plan.notes, *run.deploy.notes]]
    if run.deploy is None and not result.dry_run and (result.changed or any(o.written for o in run.compose)):
        lines[:0] = next_lines(run)
    if run.owed is not None:
        lines.append(owed_line(run.owed, result.root))
    return lines


NEXT = "next: "
_MORE = " " * len(NEXT)


def next_lines(run: RenewRun) -> list[str]:
    """The action for the project in use, first and alone on its line, then why, then the rest folded.

    With an engine that shows the checkout's projects running: the exact lines that recreate the
    services still on the old files (what `renew --deploy` would run).  Without one: the default
    project's line (what `docker compose` finds by itself), and one line for the other compose files."""
    looked = run.running
    plan = looked.plan if looked is not None else None
    if plan is not None and not plan.empty:
        lines = plan.by_hand()
        projects = ", ".join(p.project for p in plan.projects if p.recreate or p.database)
        why = (
            f"(compose project {projects} runs from this checkout on {plan.host} with the old certificates, and "
            "Notary reads its TLS files only at start; or: certkit renew --deploy, which also verifies it)"
        )
        return [NEXT + visible(lines[0]), *(_MORE + visible(line) for line in lines[1:]), _MORE + visible(why)]
    if plan is not None and plan.found:
        stopped = f"; stopped, left so: {', '.join(plan.stopped)}" if plan.stopped else ""
        return [
            NEXT
            + visible(f"nothing to recreate: no running container of this checkout has the old files ({plan.host})")
            + visible(stopped)
        ]
    candidates = [o for o in run.compose if o.restart]
    if not candidates:
        return []
    chosen, others = candidates[0], candidates[1:]
    where = os.path.normpath(str(chosen.directory))
    cd = "" if where == "." else f"cd {shlex.quote(where)} && "
    files = ", ".join(_relative(p, chosen.directory) for p in chosen.files)
    which = "the default project" if chosen is run.compose[0] else "the first project that reads them"
    if looked is None:
        engine = "the Docker engine was not asked (--no-engine)"
    elif plan is not None:
        engine = f"no container of this checkout on {plan.host}"
    else:
        engine = looked.note
    lines = [
        NEXT + visible(cd + chosen.command),
        _MORE
        + visible(
            f"({which}, {files}; {engine}. Notary reads its TLS files only at start. Or: certkit renew --deploy)"
        ),
    ]
    if others:
        names = ", ".join(_relative(o.files[0], o.directory) for o in others if o.files)
        lines.append(
            _MORE
            + visible(
                f"(started with another compose file? {names} got an override too: "
                "`certkit compose -f FILE` prints its line)"
            )
        )
    return lines


def _relative(path: os.PathLike[str] | str, folder: os.PathLike[str] | str) -> str:
    relative = os.path.relpath(path, folder)
    return os.fspath(path) if relative.startswith("..") else relative


def database_applies(run: RenewRun) -> bool:
    """Does the database step concern this checkout as it runs?  A postgres project is in use: the engine
    shows one running (or stopped with the old set), or, without an engine, the default project (or
    COMPOSE_FILE) runs postgres.  Notary's default project uses MariaDB, which reads none of the set.
    Not known (no compose step): it applies."""
    from certkit.deploy.database import COMPOSE_FILES

    looked = run.running
    if looked is not None and looked.plan is not None and looked.plan.found:
        return looked.database_in_use
    if not run.compose:
        return True  # the compose step did not run (--no-compose): which project is in use is not known
    return any(os.path.basename(path) in COMPOSE_FILES for path in run.compose[0].files)


def database_line(run: RenewRun) -> str:
    """The database step folded to one line, where no postgres project is in use."""
    step = run.database
    assert step is not None
    users = ", ".join(step.compose_files) or "a postgres project"
    verb = "would change" if run.result is not None and run.result.dry_run else "changed"
    return (
        "\n"
        + label("database")
        + visible(
            f"{', '.join(step.changed)} {verb}; "
            f"only postgres uses them ({users}), not the project in use: nothing "
            "to do for it. For a postgres that runs them: `certkit renew --deploy` copies the set in "
            "(the lines by hand: --verbose, or docs/database.md)"
        )
    )


def compose_summary(outcomes: list[ComposeOutcome]) -> str:
    """The compose step in a line or two: the overrides written (the action is on stderr)."""
    written = [_relative(path, o.directory) for o in outcomes for path in o.written]
    lines = [""]
    if written:
        first = written[0] + (f" and {len(written) - 1} more" if len(written) > 1 else "")
        lines.append(
            label("compose")
            + visible(f"wrote {first} (read-only folder mounts, so the containers see the renewed files)")
        )
    else:
        lines.append(label("compose") + "the services already mount the renewed folders read-only")
    for outcome in outcomes:
        lines += [label("note") + visible(note) for note in outcome.notes]
    return "\n".join(lines)


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


def init_text(result: RenewResult, *, verbose: bool = False) -> str:
    """`certkit init`: what was made in a few lines (every file with ``verbose``), and what next."""
    if verbose:
        return renew_table(result, verbose=True, database=False)
    certificates = sum(1 for f in result.files if f.kind == FileKind.CERTIFICATE)
    keys = sum(1 for f in result.files if f.kind in (FileKind.KEY, FileKind.CA_KEY))
    copies = sum(1 for f in result.files if f.kind == FileKind.COPY)
    root = visible(str(result.root))
    lines = [
        f"made a fresh Notary set in {root}: {plural(certificates, 'certificate')}, {plural(keys, 'key')} "
        f"and {plural(copies, 'copy', 'copies')} (--verbose lists every file); the CA keys are in "
        + visible(str(result.ca_store))
    ]
    lines += [label("note") + visible(n) for n in notices(result, verbose=False, database=False)]
    where = shlex.quote(str(result.root))
    lines.append(
        f"next: certkit status {where}   (the set as a tree; to run it with Debian's notary: "
        f"{where}/CERTKIT-README.txt)"
    )
    return "\n".join(lines)


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
