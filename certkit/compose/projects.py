"""Which compose projects certkit looks after in a folder, and the answers it remembers for them.

A project is the list of compose files `docker compose` would read: ``-f`` files, else
COMPOSE_FILE, else the folder's default file and its override (Compose's own order).  renew looks
after every project at the top of a Notary checkout; the ``--container-dir`` answers a user gave
are remembered beside the CA-store record, so later runs need no flag.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from certkit.compose.files import (
    OVERRIDE_MARKER,
    discover,
    has_services,
    override_path_for,
    project_env,
    read_compose_text,
)
from certkit.compose.model import Options, Selection
from certkit.errors import ComposeError
from certkit.store import layout, storage


def select_files(
    directory: Path, files: Iterable[Path] = (), environ: Mapping[str, str] | None = None
) -> tuple[list[Path], Selection]:
    """The compose files `docker compose` would read in ``directory``, and how they were chosen.

    -f wins; else COMPOSE_FILE (from the shell or the folder's ``.env``, split on
    COMPOSE_PATH_SEPARATOR, ``:`` by default), which replaces discovery entirely, as in Compose;
    else the default file and its override.
    """
    given = [f if f.is_absolute() else directory / f for f in files]
    if given:
        for path in given:
            if not path.exists():
                raise ComposeError(f"{path}: no such compose file")
        return [Path(os.path.normpath(p)) for p in given], Selection.GIVEN
    env = project_env(directory, environ or {})
    listed = env.get("COMPOSE_FILE", "")
    if listed.strip():
        separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        paths = [Path(os.path.normpath(directory / p)) for p in listed.split(separator) if p.strip()]
        for path in paths:
            if not path.is_file():
                raise ComposeError(
                    f"{path}: named by COMPOSE_FILE={listed}, but there is no such file; "
                    "fix COMPOSE_FILE (in the shell or the folder's .env)"
                )
        return paths, Selection.FROM_ENV
    found = discover(directory)
    if not found:
        raise ComposeError(
            f"{directory}: no compose file ({', '.join(n for n in ('compose.yaml', 'docker-compose.yml'))}, ...); "
            "name one with -f"
        )
    return found, Selection.DISCOVERED


def renew_projects(directory: Path, environ: Mapping[str, str]) -> list[list[Path]]:
    """The compose projects `certkit renew` looks after in a checkout: each a list of -f files.

    With COMPOSE_FILE set, only that project (it is how the user starts the services).  Else the
    default project, then every other compose file at the top of the folder on its own (Notary
    ships docker-compose.postgresql.yml, docker-compose.rethink.yml and development.*.yml, each
    started alone with -f), each with certkit's override for it when there is one.
    """
    if project_env(directory, environ).get("COMPOSE_FILE", "").strip():
        return [select_files(directory, (), environ)[0]]
    projects: list[list[Path]] = []
    default = discover(directory)
    if default:
        projects.append(default)
    taken = {p.name for p in default}
    for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
        if path.name in taken or ".override." in path.name or not path.is_file() or not has_services(path):
            continue
        ours = override_path_for(path)
        own = [ours] if ours.is_file() and read_compose_text(ours).startswith(OVERRIDE_MARKER) else []
        # As -f takes them: relative to the folder (``directory`` may itself be relative, "notary").
        projects.append([Path(p.name) for p in (path, *own)])
    return projects


def with_recorded_dirs(directory: Path, options: Options) -> Options:
    """``options`` with the --container-dir answers remembered for ``directory`` (given ones win)."""
    recorded = layout.recorded_container_dirs(directory)
    if not recorded:
        return options
    return replace(options, container_dirs={**recorded, **options.container_dirs})


def remember_container_dirs(root: Path, container_dirs: Mapping[str, str]) -> None:
    """Record --container-dir answers beside the CA-store record, so later runs need no flag."""
    from certkit.store import state as state_folder

    merged = {**layout.recorded_container_dirs(root), **container_dirs}
    state = root / layout.STATE_FOLDER
    state_folder.ensure(state)  # made as certkit's own (0700, marked), like every state folder
    storage.atomic_write(state / layout.CONTAINER_DIRS_RECORD, layout.container_dirs_record(merged), 0o600)


__all__ = ["remember_container_dirs", "renew_projects", "select_files", "with_recorded_dirs"]
