"""`certkit compose` and the compose step of `certkit renew`: prepare, then write.

:func:`prepare` works out everything for one project (the files, the analysis, the planned mounts,
the override or in-place edit, the diff, the line that recreates the services) and writes nothing:
a dry run stops there.  :func:`apply` writes it (certkit.compose.writes).  renew prepares every
project of the checkout before the renewal's first write (:func:`prepare_after_renew`), so a compose
file certkit cannot handle stops the run with nothing changed, and writes them after the renewal
(:func:`finish_after_renew`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.compose.analysis import analyse, load, managed_paths, reads_any
from certkit.compose.files import OVERRIDE_MARKER, load_project, project_env, read_compose_text
from certkit.compose.model import ComposeOutcome, Options, OverrideMode, PreparedCompose, Selection
from certkit.compose.mounts import plan
from certkit.compose.override import override_target, render_override
from certkit.compose.projects import remember_container_dirs, renew_projects, select_files, with_recorded_dirs
from certkit.compose.text import relative_text
from certkit.compose.writes import diff, write
from certkit.errors import ComposeError
from certkit.paths import inside
from certkit.profile import Profile

if TYPE_CHECKING:
    from certkit.compose.cache import ParseCache


def apply(
    directory: Path, files: Iterable[Path], options: Options, *, in_place: bool = False, dry_run: bool = False
) -> ComposeOutcome:
    """Make every TLS-reading service mount the renewed host folders read-only.

    Default: (re)write certkit's override next to the base file.  ``in_place``: edit the files
    themselves (round-trip, see certkit.compose.edit).  A second run changes nothing.
    """
    prepared = prepare(directory, files, options, in_place=in_place)
    _refuse_writers(directory, prepared)  # a dry run too: it must not promise a write the real run refuses
    return prepared.outcome(dry_run=True) if dry_run else write(prepared)


def _refuse_writers(directory: Path, prepared: PreparedCompose) -> None:
    """`certkit compose` alone is checked as a renewal is (certkit.store.safety): the folders it
    writes in, every folder above the checkout up to ``/``, and the files it replaces, so that no
    other user can swap a folder or file under a write (inside a renewal, the renewal checked)."""
    from certkit.store import safety

    targets = [Path(os.path.realpath(path)) for path in prepared.pending]
    safety.check(directory, folders={t.parent for t in targets}, files=targets)


def prepare(directory: Path, files: Iterable[Path], options: Options, *, in_place: bool = False) -> PreparedCompose:
    """Everything :func:`apply` works out, with the new file contents held in memory: a dry run stops here."""
    paths, how = select_files(directory, files, options.environ)
    options = with_recorded_dirs(directory, options)
    texts = {p: read_compose_text(p) for p in paths}
    ours = [p for p in paths if texts[p].startswith(OVERRIDE_MARKER)]
    base_files = [p for p in paths if p not in ours] if not in_place else paths
    if not base_files:
        raise ComposeError(f"{', '.join(map(str, paths))}: only certkit's own override given; name the base file too")
    env = project_env(base_files[0].parent, options.environ)
    project = load_project(base_files, env, texts, None if in_place else options.memo)
    analyses = analyse(project, options)
    mounts = plan(project, analyses, options)
    tls_services = [n for n, a in analyses.items() if a.reads_tls]
    notes = [f"{name}: {note}" for name, analysis in analyses.items() for note in analysis.notes]
    if in_place:
        from certkit.compose.edit import edit_files

        new_texts = edit_files(project, mounts, env) if mounts else {}
        if new_texts:
            _verify(paths, {**texts, **new_texts}, env, options)
        outputs = {p: (texts[p], t) for p, t in new_texts.items() if t != texts[p]}
        command_files = [] if how != Selection.GIVEN else paths
        compose_file_env = None
    else:
        target = override_target(base_files, paths, how == Selection.DISCOVERED, texts)
        old = texts.get(target) if target in texts else (read_compose_text(target) if target.exists() else None)
        new = render_override(project, mounts, base_files, options.memo) if mounts else None
        outputs = {}
        if new is not None and new != old:
            outputs[target] = (old or "", new)
        if new is None and old is not None:
            notes.append(f"{target.name}: nothing left to mount; the existing override is kept as it is")
        with_override = bool(mounts) or old is not None
        command_files = [*base_files, *([target] if with_override else [])] if how == Selection.GIVEN else []
        compose_file_env = None
        if how == Selection.FROM_ENV and with_override and target not in paths:
            # COMPOSE_FILE replaces discovery: Compose will not load the override unless it is listed.
            listed = os.pathsep.join(relative_text(p, project.directory).removeprefix("./") for p in [*paths, target])
            compose_file_env = f"COMPOSE_FILE={listed}"
            notes.append(
                f"COMPOSE_FILE does not list {target.name}, so Compose would not load it: "
                f"set {compose_file_env} (in the shell or the folder's .env)"
            )
    if how != Selection.GIVEN:
        _refuse_outside(outputs, directory, paths)
    changes = "".join(diff(p, old, new, project.directory) for p, (old, new) in outputs.items())
    # Only a changed mount needs a recreate; unchanged files mean the containers already have them.
    restart = [n for n in project.services if outputs and any(m.service == n for m in mounts)]
    return PreparedCompose(
        directory=project.directory,
        files=paths,
        mode=OverrideMode.IN_PLACE if in_place else OverrideMode.OVERRIDE,
        mounts=mounts,
        diff=changes,
        restart=restart,
        tls_services=tls_services,
        command=up_command(project.directory, command_files, restart or tls_services, compose_file_env),
        notes=notes,
        selection=how,
        services=list(project.services),
        analyses=analyses,
        compose_file_env=compose_file_env,
        pending=outputs,
    )


def _refuse_outside(outputs: Mapping[Path, tuple[str, str]], directory: Path, paths: list[Path]) -> None:
    """certkit never writes outside the checkout, whatever a file of the checkout says.

    With COMPOSE_FILE (the shell's or the checkout's ``.env``) the project's first file decides where
    Compose keeps it, and certkit's override goes beside that file: a first file outside the checkout
    would put it outside.  Refused rather than moved inside: the project then lives outside (Compose
    resolves its relative paths from that folder), and COMPOSE_FILE must be edited anyway to load an
    override.  Files outside may still be read (``include:``, ``extends:``, ``env_file:``, later
    COMPOSE_FILE entries), as Compose reads them.  Files named with -f are the user's own choice.
    """
    checkout = Path(os.path.realpath(directory))
    for target in outputs:
        if not inside(Path(os.path.realpath(target)), checkout):
            outside = next((p for p in paths if not inside(Path(os.path.realpath(p)), checkout)), paths[0])
            raise ComposeError(
                f"{target}: outside {directory}, and certkit never writes outside the checkout (COMPOSE_FILE, in "
                f"the shell or the checkout's .env, names {outside}); list the checkout's own compose file first "
                "in COMPOSE_FILE, or renew with --no-compose"
            )


def _verify(paths: list[Path], texts: dict[Path, str], env: Mapping[str, str], options: Options) -> None:
    """Re-read the edited files as Compose would: nothing may be left to mount."""
    project = load_project(paths, env, texts)
    left = plan(project, analyse(project, options), options)
    if left:
        raise ComposeError(
            "internal: the in-place edit would still leave "
            + ", ".join(f"{m.service}:{m.target}" for m in left)
            + " unmounted; nothing was written (run without --in-place to write an override instead)"
        )


def prepare_after_renew(
    root: Path,
    profile: Profile,
    *,
    ca_store: Path | None = None,
    environ: Mapping[str, str] | None = None,
    container_dirs: Mapping[str, str] | None = None,
    memo: ParseCache | None = None,
) -> list[PreparedCompose]:
    """The compose step of `certkit renew`, worked out and not written, for every project of
    :func:`renew_projects` (a project whose services read nothing the profile manages is left out).

    renew calls it before it writes a single file, so a compose file or Dockerfile certkit cannot
    handle stops the run with nothing changed, instead of after the certificates were replaced.
    ``memo``: parses and renders from certkit.compose.cache (the caller saves it after the run).
    """
    env = dict(os.environ) if environ is None else dict(environ)
    options = Options(profile, ca_store, dict(container_dirs or {}), env, memo)
    managed = managed_paths(root, profile)
    outcomes: list[PreparedCompose] = []
    for index, files in enumerate(renew_projects(root, env)):
        # The first project is the one `docker compose` finds by itself (discovery or COMPOSE_FILE).
        chosen = files if index else ()
        try:
            outcome = prepare(root, chosen, options)
        except ComposeError:
            if _uses_none(root, chosen, options, managed):
                continue  # a project that reads none of the renewed files never blocks the renewal
            raise
        if index and not reads_any(outcome.analyses, managed):
            continue  # another compose file of the folder that does not use the renewed set
        outcomes.append(outcome)
    return outcomes


def _uses_none(root: Path, files: Iterable[Path], options: Options, managed: set[str]) -> bool:
    """True when the project's services provably read none of ``managed``: what could not be planned
    for it (a file it reads from its image, say) then does not concern the renewal."""
    try:
        analyses = load(root, files, options).analyses
    except ComposeError:
        return False  # where some service reads its files is unknown: it may read the renewed ones
    return not reads_any(analyses, managed)


def finish_after_renew(
    root: Path,
    prepared: list[PreparedCompose],
    *,
    renewed: Iterable[str] = (),
    container_dirs: Mapping[str, str] | None = None,
) -> list[ComposeOutcome]:
    """Write the prepared compose step, and name the services to recreate.

    ``renewed`` are the paths (relative to ``root``) the renewal changed; services reading them
    are listed for a restart too, since Notary reads its TLS files only at start.
    ``container_dirs`` given to this run are remembered for the folder.
    """
    changed = {os.path.realpath(root / p) for p in renewed}
    outcomes: list[ComposeOutcome] = []
    for run in prepared:
        outcome = write(run)
        if changed:
            readers = {
                n
                for n, a in run.analyses.items()
                if any(r.host_path and os.path.realpath(r.host_path) in changed for r in a.reads)
            }
            restart = [n for n in run.services if n in readers or n in run.restart]
            command = up_command(
                root, _command_files(run, outcome.written), restart or run.tls_services, run.compose_file_env
            )
            outcome = replace(outcome, restart=restart, command=command)
        outcomes.append(outcome)
    if container_dirs:
        remember_container_dirs(root, container_dirs)
    return outcomes


def _command_files(run: PreparedCompose, written: list[Path]) -> list[Path]:
    if run.selection != Selection.GIVEN:
        return []  # discovered, or COMPOSE_FILE: `docker compose` finds the same files by itself
    files = [p for p in run.files if not read_compose_text(p).startswith(OVERRIDE_MARKER)]
    overrides = [p for p in [*run.files, *written] if p not in files]
    return [*files, *dict.fromkeys(overrides)]


def up_command(directory: Path, files: list[Path], services: list[str], compose_file_env: str | None = None) -> str:
    """The exact line that makes Compose recreate ``services`` with the current files and mounts."""
    flags = "".join(f" -f {shlex.quote(relative_text(p, directory).removeprefix('./'))}" for p in files)
    prefix = f"{shlex.quote(compose_file_env)} " if compose_file_env else ""
    return f"{prefix}docker compose{flags} up -d --force-recreate {' '.join(map(shlex.quote, services))}".rstrip()


__all__ = ["apply", "finish_after_renew", "prepare", "prepare_after_renew", "up_command"]
