"""Making renewed certificates reach the containers of a compose project, and proving it.

Notary's compose files build the server and signer from the checkout, and the Dockerfiles
copy the checkout (``fixtures/`` included) into the image at the WORKDIR: the containers
read the certificates of build time, so renewing the files on the host changes nothing
until the image is rebuilt.  This module works out, per service, which container paths
hold the TLS files it reads (from the ``-config`` file named in its command, absolute
paths in its environment and command, and its existing volumes), whether each is served
by a read-only bind mount of the host's folder, and plans the folder mounts that make it
so.  It never prints: it returns dataclasses the CLI renders.

Folders are mounted, never single files: certkit replaces files by atomic rename, and a
single-file bind mount keeps showing the old inode after a rename (moby/moby#22627).
No mount may expose the CA store (the CA private keys).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from certkit.bounded import MIB, parse_nested, read_input
from certkit.compose.dockerfiles import Copy, ImageFacts, read_image
from certkit.compose.files import (
    MAX_COMPOSE_BYTES,
    OVERRIDE_FILES,
    OVERRIDE_MARKER,
    ComposeFile,
    Mount,
    Project,
    Service,
    discover,
    has_services,
    load_project,
    override_path_for,
    project_env,
)
from certkit.compose.model import (
    DISCOVERED,
    FROM_ENV,
    GIVEN,
    CheckReport,
    CheckRow,
    ComposeOutcome,
    FileRead,
    Options,
    PlannedMount,
    ReadKind,
    ServedFrom,
    ServiceAnalysis,
)
from certkit.compose.text import comment_text, compose_text, relative_text, yaml_scalar
from certkit.errors import ComposeError
from certkit.paths import inside
from certkit.profile import Profile
from certkit.store import handles, layout, storage
from certkit.validity import expired

if TYPE_CHECKING:
    from certkit.compose.cache import ParseCache

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Config keys that name TLS files in notary-server/-signer/escrow configs; any other string
# value that looks like a certificate or key path counts too.
_TLS_KEYS = frozenset(
    {
        "tls_cert_file",
        "tls_key_file",
        "client_ca_file",
        "tls_ca_file",
        "tls_client_cert",
        "tls_client_key",
        "client_cert_file",
        "client_key_file",
        "root_ca",
        "ca_file",
        "cert_file",
        "key_file",
    }
)
_TLS_EXT = re.compile(r"\.(pem|crt|cert|key)$", re.IGNORECASE)
# Absolute paths inside a longer string, e.g. postgres URLs: ...&sslrootcert=/go/src/.../ca.pem&...
_EMBEDDED_PATH = re.compile(
    r"(?:(?<=[=\s,:'\"])|^)(/[^\s&;?,'\"=]+\.(?:pem|crt|cert|key))(?=$|[\s&;?,'\"])", re.IGNORECASE
)
_CONFIG_FLAG = re.compile(r"(?:^|[\s'\"])--?config(?:=|\s+)['\"]?([^\s'\";&|]+)")


# -- choosing files ------------------------------------------------------------------------------


def select_files(
    directory: Path, files: Iterable[Path] = (), environ: Mapping[str, str] | None = None
) -> tuple[list[Path], str]:
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
        return [Path(os.path.normpath(p)) for p in given], GIVEN
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
        return paths, FROM_ENV
    found = discover(directory)
    if not found:
        raise ComposeError(
            f"{directory}: no compose file ({', '.join(n for n in ('compose.yaml', 'docker-compose.yml'))}, ...); "
            "name one with -f"
        )
    return found, DISCOVERED


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
        own = [ours] if ours.is_file() and _read_text(ours).startswith(OVERRIDE_MARKER) else []
        # As -f takes them: relative to the folder (``directory`` may itself be relative, "notary").
        projects.append([Path(p.name) for p in (path, *own)])
    return projects


def with_recorded_dirs(directory: Path, options: Options) -> Options:
    """``options`` with the --container-dir answers remembered for ``directory`` (given ones win)."""
    recorded = layout.recorded_container_dirs(directory)
    if not recorded:
        return options
    return replace(options, container_dirs={**recorded, **options.container_dirs})


# -- analysis ------------------------------------------------------------------------------------


def analyse(project: Project, options: Options) -> dict[str, ServiceAnalysis]:
    """For every service: its working folder and every file it reads, with where each comes from."""
    return {name: _analyse_service(project, service, options) for name, service in project.services.items()}


def _analyse_service(project: Project, service: Service, options: Options) -> ServiceAnalysis:
    # What the image does matters only for the files the service reads: a Dockerfile certkit cannot
    # follow (say, a WORKDIR built from a variable of the base image) stops the run only when a
    # read depends on it, never for a service that reads none of the files (issue 20).
    image_error: ComposeError | None = None
    try:
        workdir, source, image = _image(project, service, options)
    except ComposeError as exc:
        image_error = exc
        workdir, source, image = service.working_dir, f"unknown ({exc})", None
    analysis = ServiceAnalysis(service.name, workdir, source, image)
    seen: set[str] = set()

    def add(path: str, kind: ReadKind, via: str, relative_to: str | None) -> FileRead | None:
        if image_error is not None and relative_to is None and not path.startswith("/"):
            raise image_error  # the working folder it is relative to is the image's
        container = _container_path(path, relative_to, service, via)
        if container in seen:
            return None
        seen.add(container)
        read = _locate(service, analysis, container, kind, via)
        if image_error is not None and read.mount is None:
            raise image_error  # whether the image holds it, and from which host file, is the image's
        analysis.reads.append(read)
        return read

    words = " ".join([*service.entrypoint, *service.command])
    for match in _CONFIG_FLAG.finditer(words):
        config = add(match.group(1), ReadKind.CONFIG, "command -config", workdir)
        if config is not None:
            _read_config(config, analysis, add)
    for key, value in sorted(service.environment.items()):
        for match in _EMBEDDED_PATH.finditer(value):
            add(match.group(1), _kind(match.group(1)), f"environment {key}", workdir)
    for token in re.split(r"[\s=;&|'\",]+", words):
        if _TLS_EXT.search(token) and "://" not in token:
            add(token, _kind(token), "command", workdir)
    for mount in sorted(service.mounts.values(), key=lambda m: m.target):
        # A folder mount with no known reader still brings TLS files (postgres reads its server.crt
        # from /docker-entrypoint-initdb.d); one that already serves known reads needs no guessing.
        if mount.type != "bind" or any(_under(r.container_path, mount.target) for r in analysis.reads):
            continue
        host = Path(mount.source)
        if host.is_dir():
            for child in sorted(host.iterdir()):
                if child.is_file() and _TLS_EXT.search(child.name):
                    add(
                        str(PurePosixPath(mount.target) / child.name),
                        _kind(child.name),
                        f"volume {relative_text(host, project.directory)}:{mount.target}",
                        None,
                    )
        elif host.is_file() and _TLS_EXT.search(host.name):
            add(mount.target, _kind(host.name), f"volume {relative_text(host, project.directory)}:{mount.target}", None)
    return analysis


def _image(project: Project, service: Service, options: Options) -> tuple[str | None, str, ImageFacts | None]:
    """The service's working folder, where that was learnt, and what its image copies from the host."""
    given = options.container_dirs.get(service.name, options.container_dirs.get(""))
    if given is not None:
        # The user's answer: the container folder that holds this checkout's files.
        flag = "--container-dir " + (f"{service.name}=" if service.name in options.container_dirs else "")
        image = ImageFacts(None, "", given, (Copy(given, project.directory),))
        return service.working_dir or given, f"{flag}{given}", image
    if service.dockerfile is not None and service.build_context is not None:
        image = read_image(
            service.dockerfile, service.build_context, target=service.build_target, build_args=service.build_args
        )
        where = f"WORKDIR in {relative_text(service.dockerfile, project.directory).removeprefix('./')}"
        if service.working_dir:
            return service.working_dir, "working_dir", image
        if image.workdir is None:
            return None, f"{service.dockerfile.name} sets no WORKDIR (its base image's is unknown)", image
        return image.workdir, where + (f" (stage {image.stage})" if image.stage else ""), image
    if service.working_dir:
        return service.working_dir, "working_dir", None
    return None, f"image {service.image or '?'} with no build: its WORKDIR is unknown", None


def _container_path(path: str, relative_to: str | None, service: Service, via: str) -> str:
    if path.startswith("/"):
        return os.path.normpath(path)
    if relative_to is None:
        why = f"image {service.image} with no build" if service.image and not service.dockerfile else "no WORKDIR known"
        raise ComposeError(
            f"service {service.name!r}: {via} names the relative path {path}, but certkit cannot tell the "
            f"container's working folder ({why}); "
            f"give it once with --container-dir {service.name}=/folder/in/container (certkit remembers it)"
        )
    return os.path.normpath(str(PurePosixPath(relative_to) / path))


def _locate(service: Service, analysis: ServiceAnalysis, container: str, kind: ReadKind, via: str) -> FileRead:
    # The most specific mount wins, as in the container's mount table.
    best: Mount | None = None
    for mount in service.mounts.values():
        if _under(container, mount.target) and (best is None or len(mount.target) > len(best.target)):
            best = mount
    if best is not None:
        if best.type != "bind":
            return FileRead(container, kind, via, ServedFrom.VOLUME, None, best)
        host = (
            Path(best.source) / os.path.relpath(container, best.target)
            if container != best.target
            else Path(best.source)
        )
        if Path(best.source).is_file():
            return FileRead(container, kind, via, ServedFrom.MOUNTED_FILE, host, best)
        status = ServedFrom.MOUNTED if best.read_only else ServedFrom.MOUNTED_RW
        return FileRead(container, kind, via, status, host, best)
    baked = analysis.image.host_path(container) if analysis.image is not None else None
    if baked is not None:
        return FileRead(
            container, kind, via, ServedFrom.BAKED if service.build_context else ServedFrom.IMAGE, baked, None
        )
    return FileRead(container, kind, via, ServedFrom.IMAGE, None, None)


def _read_config(config: FileRead, analysis: ServiceAnalysis, add: Any) -> None:
    """Collect the TLS paths of a Notary config; relative ones are relative to the config's folder."""
    if config.host_path is None:
        analysis.notes.append(f"{config.container_path}: comes from the image; certkit cannot read it")
        return
    if not os.path.lexists(config.host_path):
        analysis.notes.append(f"{config.container_path}: the host file {config.host_path} does not exist")
        return
    try:
        raw = read_input(config.host_path, MIB, ComposeError, "config")
        data: Any
        if config.host_path.suffix == ".toml":
            data = parse_nested(lambda: tomllib.loads(raw.decode("utf-8")))
        else:
            data = parse_nested(lambda: json.loads(raw))
    except (ComposeError, ValueError) as exc:  # ValueError: JSON, TOML, UTF-8, TooDeep
        analysis.notes.append(f"{config.host_path}: cannot read it as a config ({exc}); its TLS paths are unknown")
        return
    folder = str(PurePosixPath(config.container_path).parent)
    name = config.host_path.name
    for key, value in _strings(data):
        if not value:
            continue
        if "://" not in value and (key in _TLS_KEYS or _TLS_EXT.search(value)):
            add(value, _kind(value), f"{name}: {key}", folder)
            continue
        # Absolute paths inside longer values, e.g. a postgres db_url's sslrootcert=/.../ca.pem.
        for match in _EMBEDDED_PATH.finditer(value):
            add(match.group(1), _kind(match.group(1)), f"{name}: {key}", folder)


def _strings(data: Any, key: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v, key)
    elif isinstance(data, str):
        yield key, data


def _kind(path: str) -> ReadKind:
    lower = path.lower()
    if lower.endswith(".key") or lower.endswith("-key.pem") or PurePosixPath(lower).name == "key.pem":
        return ReadKind.KEY
    return ReadKind.CERTIFICATE if _TLS_EXT.search(lower) else ReadKind.FILE


def _under(path: str, folder: str) -> bool:
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder + "/") or folder == "/"


# -- planning ------------------------------------------------------------------------------------


def plan(project: Project, analyses: Mapping[str, ServiceAnalysis], options: Options) -> list[PlannedMount]:
    """The folder mounts that make every TLS file a service reads the host's current one."""
    store = ca_store_path(project.directory, options)
    planned: list[PlannedMount] = []
    for name, analysis in analyses.items():
        service = project.services[name]
        if not analysis.reads_tls:
            continue
        candidates: dict[str, tuple[Path, Mount | None, list[str], str]] = {}
        for read in analysis.reads:
            if read.status == ServedFrom.MOUNTED:
                continue
            if read.status == ServedFrom.MOUNTED_FILE:
                assert read.mount is not None
                raise ComposeError(
                    f"service {name!r} mounts the single file {read.mount.source} at {read.mount.target}: after a "
                    "renewal (an atomic rename) the container keeps the old file (moby/moby#22627); "
                    "mount its folder instead, then run certkit compose again"
                )
            if read.status == ServedFrom.MOUNTED_RW:
                assert read.mount is not None
                # Make the existing folder mount read-only in place (same target: replace, not duplicate).
                target, source, reason = read.mount.target, Path(read.mount.source), "was mounted read-write"
            elif read.host_path is not None and analysis.image is not None:
                target = str(PurePosixPath(read.container_path).parent)
                source = read.host_path.parent
                reason = (
                    "was baked into the image at build time"
                    if read.status == ServedFrom.BAKED
                    else "came from the image, not this folder"
                )
            else:
                where = f"the Docker volume {read.mount.source or '(anonymous)'}" if read.mount else "the image"
                raise ComposeError(
                    f"service {name!r} reads {read.container_path} ({read.via}) from {where}, and certkit cannot "
                    f"tell which host folder should replace it; mount the folder yourself, or give once "
                    f"--container-dir {name}=/folder/in/container (the folder holding this checkout's files; "
                    "certkit remembers it)"
                )
            entry = candidates.setdefault(target, (source, service.mounts.get(target), [], reason))
            entry[2].append(read.container_path)
        # Keep the top-most folders: a mount of fixtures/ also brings fixtures/database/.
        for target in sorted(candidates, key=lambda t: (t.count("/"), t)):
            source, replaces, serves, reason = candidates[target]
            parent = next(
                (
                    p
                    for p in planned
                    if p.service == name and _under(target, p.target) and p.replaces is None and replaces is None
                ),
                None,
            )
            if parent is not None:
                planned[planned.index(parent)] = PlannedMount(
                    name, parent.source, parent.target, None, tuple(sorted({*parent.serves, *serves})), parent.reason
                )
                continue
            planned.append(PlannedMount(name, source, target, replaces, tuple(sorted(serves)), reason))
    for mount in planned:
        if mount.source.is_file():
            raise ComposeError(
                f"service {mount.service!r}: {mount.source} is a file; certkit mounts folders only (moby/moby#22627)"
            )
        problem = ca_exposure(mount.source, store)
        if problem:
            raise ComposeError(
                f"service {mount.service!r}: mounting {mount.source} at {mount.target} would {problem}; keep the "
                "TLS files in their own folder (e.g. fixtures/) or move the CA store outside (--ca-store)"
            )
    for name, service in project.services.items():
        for existing in service.mounts.values():
            if existing.type == "bind" and existing.source:
                problem = ca_exposure(Path(existing.source), store)
                if problem:
                    raise ComposeError(
                        f"service {name!r}: its existing mount {existing.source}:{existing.target} "
                        f"would {problem}; remove that mount before running certkit compose"
                    )
    return planned


def ca_store_path(directory: Path, options: Options) -> Path:
    return layout.ca_store_path(directory, options.profile, options.ca_store)


def ca_exposure(source: Path, store: Path) -> str | None:
    """Why mounting ``source`` would put the CA store in a container, or None."""
    real_source = Path(os.path.realpath(source))
    real_store = Path(os.path.realpath(store))
    if inside(real_store, real_source):
        return f"expose the CA store {store} (CA private keys)"
    if real_store in real_source.parents:
        return f"mount part of the CA store {store}"
    return None


# -- check ---------------------------------------------------------------------------------------


def check(directory: Path, files: Iterable[Path], options: Options, now: datetime) -> CheckReport:
    """Does every service see the host's current TLS files, and are they valid at ``now``?"""
    paths, how = select_files(directory, files, options.environ)
    options = with_recorded_dirs(directory, options)
    env = project_env(paths[0].parent, options.environ)
    project = load_project(paths, env)
    analyses = analyse(project, options)
    managed = _managed_paths(project.directory, options.profile)
    store = ca_store_path(project.directory, options)
    rows: list[CheckRow] = []
    problems: list[str] = []
    notes: list[str] = []
    for name, analysis in analyses.items():
        for note in analysis.notes:
            notes.append(f"{name}: {note}")
        if analysis.reads:
            notes.append(f"{name}: working folder {analysis.workdir or 'unknown'} ({analysis.workdir_source})")
        for read in analysis.reads:
            row_problems: list[str] = []
            not_after = None
            if read.status in (ServedFrom.BAKED, ServedFrom.IMAGE, ServedFrom.VOLUME, ServedFrom.MOUNTED_FILE):
                row_problems.append(read.status.text)
            if read.host_path is not None:
                if not read.host_path.is_file():
                    row_problems.append("missing on the host")
                elif read.kind == ReadKind.CERTIFICATE:
                    not_after = _not_after(read.host_path)
                    if not_after is not None and expired(not_after, now):
                        row_problems.append(f"expired on {not_after:%Y-%m-%d}")
            rows.append(
                CheckRow(
                    name,
                    read.container_path,
                    read.kind,
                    read.status,
                    relative_text(read.host_path, project.directory) if read.host_path else "",
                    not_after,
                    bool(read.host_path and os.path.realpath(read.host_path) in managed),
                    tuple(row_problems),
                )
            )
        for mount in project.services[name].mounts.values():
            if mount.type == "bind" and mount.source:
                exposure = ca_exposure(Path(mount.source), store)
                if exposure:
                    problems.append(f"{name}: the mount {mount.source}:{mount.target} would {exposure}")
    if how == GIVEN and any(r.problems for r in rows):
        base = [p for p in paths if not p.read_text(errors="replace").startswith(OVERRIDE_MARKER)]
        ours = override_path_for(base[0]) if base else None
        if ours is not None and ours not in paths and ours.is_file():
            notes.append(f"certkit's override {ours.name} exists but was not given: add -f {ours.name}")
    return CheckReport(project.directory, paths, rows, problems, notes)


def _not_after(path: Path) -> datetime | None:
    """notAfter of the file's first certificate (PEM or DER), as check-expiry reads it; None if unreadable."""
    from certkit.certificates import parse_bundle

    try:
        good, _ = parse_bundle(path.read_bytes())
    except OSError:
        return None
    return good[0][1].not_valid_after_utc if good and good[0][0] == 0 else None


def _managed_paths(directory: Path, profile: Profile) -> set[str]:
    paths: set[str] = set()
    for spec in profile.certificates:
        for rel in (spec.cert_file, spec.key_file, *spec.copies):
            if rel:
                paths.add(os.path.realpath(directory / rel))
    return paths


# -- applying ------------------------------------------------------------------------------------


def apply(
    directory: Path, files: Iterable[Path], options: Options, *, in_place: bool = False, dry_run: bool = False
) -> ComposeOutcome:
    """Make every TLS-reading service mount the renewed host folders read-only.

    Default: (re)write certkit's override next to the base file.  ``in_place``: edit the files
    themselves (round-trip, see certkit.compose.edit).  A second run changes nothing.
    """
    outcome = prepare(directory, files, options, in_place=in_place)
    if not dry_run:
        write(outcome)
    return outcome


def prepare(directory: Path, files: Iterable[Path], options: Options, *, in_place: bool = False) -> ComposeOutcome:
    """Everything :func:`apply` works out, with the new file contents held in memory (a dry run)."""
    paths, how = select_files(directory, files, options.environ)
    options = with_recorded_dirs(directory, options)
    texts = {p: _read_text(p) for p in paths}
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
        command_files = [] if how != GIVEN else paths
        compose_file_env = None
    else:
        target = _override_target(base_files, paths, how == DISCOVERED, texts)
        old = texts.get(target) if target in texts else (_read_text(target) if target.exists() else None)
        new = render_override(project, mounts, base_files, options.memo) if mounts else None
        outputs = {}
        if new is not None and new != old:
            outputs[target] = (old or "", new)
        if new is None and old is not None:
            notes.append(f"{target.name}: nothing left to mount; the existing override is kept as it is")
        with_override = bool(mounts) or old is not None
        command_files = [*base_files, *([target] if with_override else [])] if how == GIVEN else []
        compose_file_env = None
        if how == FROM_ENV and with_override and target not in paths:
            # COMPOSE_FILE replaces discovery: Compose will not load the override unless it is listed.
            listed = os.pathsep.join(relative_text(p, project.directory).removeprefix("./") for p in [*paths, target])
            compose_file_env = f"COMPOSE_FILE={listed}"
            notes.append(
                f"COMPOSE_FILE does not list {target.name}, so Compose would not load it: "
                f"set {compose_file_env} (in the shell or the folder's .env)"
            )
    if how != GIVEN:
        _refuse_outside(outputs, directory, paths)
    diff = "".join(_diff(p, old, new, project.directory) for p, (old, new) in outputs.items())
    # Only a changed mount needs a recreate; unchanged files mean the containers already have them.
    restart = [n for n in project.services if outputs and any(m.service == n for m in mounts)]
    return ComposeOutcome(
        project.directory,
        paths,
        "in-place" if in_place else "override",
        mounts,
        [],
        [],
        diff,
        True,
        restart,
        tls_services,
        up_command(project.directory, command_files, restart or tls_services, compose_file_env),
        notes,
        list(project.services),
        analyses,
        compose_file_env,
        outputs,
        how,
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


def write(outcome: ComposeOutcome) -> None:
    """Write what :func:`prepare` worked out (atomically, backups first in place mode), through a handle
    on the project's folder opened once (certkit.store.handles; inside a renewal, the renewal's own)."""
    if outcome.pending:
        with handles.pinned([outcome.directory]):
            outcome.written, outcome.backups = _write(
                outcome.pending, outcome.directory, backup=outcome.mode == "in-place"
            )
    outcome.dry_run = False


def apply_after_renew(
    root: Path,
    profile: Profile,
    *,
    renewed: Iterable[str] = (),
    ca_store: Path | None = None,
    environ: Mapping[str, str] | None = None,
    container_dirs: Mapping[str, str] | None = None,
) -> list[ComposeOutcome]:
    """The compose step of `certkit renew` in one go: :func:`prepare_after_renew`, then :func:`finish_after_renew`."""
    outcomes = prepare_after_renew(root, profile, ca_store=ca_store, environ=environ, container_dirs=container_dirs)
    return finish_after_renew(root, outcomes, renewed=renewed, container_dirs=container_dirs)


def prepare_after_renew(
    root: Path,
    profile: Profile,
    *,
    ca_store: Path | None = None,
    environ: Mapping[str, str] | None = None,
    container_dirs: Mapping[str, str] | None = None,
    memo: ParseCache | None = None,
) -> list[ComposeOutcome]:
    """The compose step of `certkit renew`, worked out and not written, for every project of
    :func:`renew_projects` (a project whose services read nothing the profile manages is left out).

    renew calls it before it writes a single file, so a compose file or Dockerfile certkit cannot
    handle stops the run with nothing changed, instead of after the certificates were replaced.
    ``memo``: parses and renders from certkit.compose.cache (the caller saves it after the run).
    """
    env = dict(os.environ) if environ is None else dict(environ)
    options = Options(profile, ca_store, dict(container_dirs or {}), env, memo)
    managed = _managed_paths(root, profile)
    outcomes: list[ComposeOutcome] = []
    for index, files in enumerate(renew_projects(root, env)):
        # The first project is the one `docker compose` finds by itself (discovery or COMPOSE_FILE).
        chosen = files if index else ()
        try:
            outcome = prepare(root, chosen, options)
        except ComposeError:
            if _uses_none(root, chosen, options, managed):
                continue  # a project that reads none of the renewed files never blocks the renewal
            raise
        if index and not _uses(outcome.analyses, managed):
            continue  # another compose file of the folder that does not use the renewed set
        outcomes.append(outcome)
    return outcomes


def _uses_none(root: Path, files: Iterable[Path], options: Options, managed: set[str]) -> bool:
    """True when the project's services provably read none of ``managed``: what could not be planned
    for it (a file it reads from its image, say) then does not concern the renewal."""
    try:
        _, analyses = load(root, files, options)
    except ComposeError:
        return False  # where some service reads its files is unknown: it may read the renewed ones
    return not _uses(analyses, managed)


def finish_after_renew(
    root: Path,
    outcomes: list[ComposeOutcome],
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
    for outcome in outcomes:
        write(outcome)
        if changed:
            readers = {
                n
                for n, a in outcome.analyses.items()
                if any(r.host_path and os.path.realpath(r.host_path) in changed for r in a.reads)
            }
            outcome.restart = [n for n in outcome.services if n in readers or n in outcome.restart]
            outcome.command = up_command(
                root, _command_files(outcome), outcome.restart or outcome.tls_services, outcome.compose_file_env
            )
    if container_dirs:
        remember_container_dirs(root, container_dirs)
    return outcomes


def _uses(analyses: Mapping[str, ServiceAnalysis], paths: set[str]) -> bool:
    return any(r.host_path and os.path.realpath(r.host_path) in paths for a in analyses.values() for r in a.reads)


def _command_files(outcome: ComposeOutcome) -> list[Path]:
    if outcome.selection != GIVEN:
        return []  # discovered, or COMPOSE_FILE: `docker compose` finds the same files by itself
    files = [p for p in outcome.files if not _read_text(p).startswith(OVERRIDE_MARKER)]
    overrides = [p for p in [*outcome.files, *outcome.written] if p not in files]
    return [*files, *dict.fromkeys(overrides)]


def remember_container_dirs(root: Path, container_dirs: Mapping[str, str]) -> None:
    """Record --container-dir answers beside the CA-store record, so later runs need no flag."""
    merged = {**layout.recorded_container_dirs(root), **container_dirs}
    from certkit.store import state as state_folder

    state = root / layout.STATE_FOLDER
    state_folder.ensure(state)  # made as certkit's own (0700, marked), like every state folder
    storage.atomic_write(state / layout.CONTAINER_DIRS_RECORD, layout.container_dirs_record(merged), 0o600)


def up_command(directory: Path, files: list[Path], services: list[str], compose_file_env: str | None = None) -> str:
    """The exact line that makes Compose recreate ``services`` with the current files and mounts."""
    import shlex

    flags = "".join(f" -f {shlex.quote(relative_text(p, directory).removeprefix('./'))}" for p in files)
    prefix = f"{shlex.quote(compose_file_env)} " if compose_file_env else ""
    return f"{prefix}docker compose{flags} up -d --force-recreate {' '.join(map(shlex.quote, services))}".rstrip()


def _override_target(base_files: list[Path], paths: list[Path], discovered: bool, texts: dict[Path, str]) -> Path:
    target = override_path_for(base_files[0])
    if discovered:
        foreign = [p for p in paths if p not in base_files[:1] and not texts[p].startswith(OVERRIDE_MARKER)]
        if foreign:
            raise ComposeError(
                f"{foreign[0]}: an override not written by certkit; Docker Compose loads only one override file, "
                "so certkit will not add another or overwrite it: run with --in-place to edit the files themselves"
            )
        existing = [base_files[0].parent / n for n in OVERRIDE_FILES if (base_files[0].parent / n).is_file()]
        if existing and existing[0] != target:
            raise ComposeError(
                f"{existing[0]}: Docker Compose would load this override instead of {target.name}; "
                "run with --in-place, or remove it"
            )
    if target.exists() and not _read_text(target).startswith(OVERRIDE_MARKER):
        raise ComposeError(
            f"{target}: exists and was not written by certkit; certkit will not overwrite it "
            "(run with --in-place to edit the compose files themselves)"
        )
    return target


def render_override(
    project: Project, mounts: list[PlannedMount], base_files: list[Path], memo: ParseCache | None = None
) -> str:
    """certkit's override for ``mounts``, checked by parsing it back before anyone writes it.

    Text from the checkout (file names, paths from configs) reaches the file only as YAML scalars
    or as one-line comments with every line break escaped: a path in a config file must never be
    able to add YAML of its own (say, `privileged: true`) to a file Compose loads.
    With ``memo``, the text rendered earlier from the same template and values is reused (jinja2
    is then not even imported); the check by parsing it back runs either way.
    """
    services = []
    expected: dict[str, list[dict[str, Any]]] = {}
    for name in project.services:
        own = sorted((m for m in mounts if m.service == name), key=lambda m: m.target)
        if own:
            services.append(
                {
                    "name": yaml_scalar(name),
                    "mounts": [
                        {
                            "source": yaml_scalar(compose_text(relative_text(m.source, project.directory))),
                            "target": yaml_scalar(compose_text(m.target)),
                            "reason": comment_text(m.reason),
                            "serves": comment_text(_serves_text(m)),
                        }
                        for m in own
                    ],
                }
            )
            expected[name] = [
                {
                    "type": "bind",
                    "source": compose_text(relative_text(m.source, project.directory)),
                    "target": compose_text(m.target),
                    "read_only": True,
                }
                for m in own
            ]
    context = {
        "marker": OVERRIDE_MARKER,
        "services": services,
        "sources": [comment_text(relative_text(p, project.directory).removeprefix("./")) for p in base_files],
    }
    text = _render_cached("compose/override.yml.j2", context, memo)
    _check_override(text, expected, project.directory, memo)
    return text


def _render_cached(name: str, context: dict[str, Any], memo: ParseCache | None) -> str:
    if memo is None:
        from certkit.templates import render

        return render(name, **context)
    from certkit.compose.cache import missing
    from certkit.templates import templates_dir

    # The key holds the template's whole source: it includes no other template (one that did would
    # have to add that one's source too).
    source = (templates_dir() / name).read_text(encoding="utf-8")
    key = memo.key("render", name, source, json.dumps(context))  # order matters: not sorted
    hit = memo.get(key)
    if not missing(hit) and isinstance(hit, str):
        return hit
    from certkit.templates import render

    text = render(name, **context)
    memo.put(key, text)
    return text


def _check_override(
    text: str, expected: dict[str, list[dict[str, Any]]], directory: Path, memo: ParseCache | None = None
) -> None:
    from certkit.compose.files import parse_yaml, plain

    data: Any = None
    key = ""
    if memo is not None:
        from certkit.compose.cache import missing

        key = memo.key("override-yaml", text)
        hit = memo.get(key)
        data = None if missing(hit) or not isinstance(hit, dict) else hit.get("data")
    if not isinstance(data, dict):
        data = plain(parse_yaml(text, directory / "docker-compose.override.yml"))
        from certkit.compose.cache import plain_exact

        if memo is not None and isinstance(data, dict) and plain_exact(data):
            memo.put(key, {"data": data})
    actual = {name: body.get("volumes") for name, body in (data.get("services") or {}).items()}
    if set(data) != {"services"} or actual != expected or any(set(b) != {"volumes"} for b in data["services"].values()):
        raise ComposeError(
            "internal: the override certkit rendered does not parse back to exactly the planned "
            "mounts; nothing was written (please report this with --debug)"
        )


def _serves_text(mount: PlannedMount) -> str:
    names = [
        str(PurePosixPath(p).relative_to(mount.target))
        if _under(p, mount.target) and p != mount.target
        else PurePosixPath(p).name
        for p in mount.serves
    ]
    text = ", ".join(names[:4])
    return text + (f" and {len(names) - 4} more" if len(names) > 4 else "")


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


def _read_text(path: Path) -> str:
    try:
        return read_input(path, MAX_COMPOSE_BYTES, ComposeError, "compose file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComposeError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _diff(path: Path, old: str, new: str, directory: Path) -> str:
    name = relative_text(path, directory).removeprefix("./")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}" if old else "/dev/null", f"b/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _write(outputs: Mapping[Path, tuple[str, str]], directory: Path, *, backup: bool) -> tuple[list[Path], list[Path]]:
    """Check every destination first, then back up and write each one atomically."""
    root = storage.Root(directory)
    plans: list[tuple[Path, Path, int, str, str]] = []
    for path, (old, new) in outputs.items():
        # A compose file that is a symlink is edited where it points, but never outside the folder.
        real = root.resolve(os.path.relpath(path, directory))
        mode = 0o644
        if real.exists():
            mode = real.stat().st_mode & 0o777
            # atomic_write renames over the file, which needs only the folder to be writable: honour
            # a read-only file (mode without any write bit) explicitly, even for root.
            if not mode & 0o222 or not os.access(real, os.W_OK):
                raise ComposeError(
                    f"{path}: the file is read-only; certkit leaves it unchanged (make it writable, "
                    "or run without --in-place to write an override)"
                )
        storage.probe_writable(real.parent)
        plans.append((path, real, mode, old, new))
    written: list[Path] = []
    backups: list[Path] = []
    for path, real, mode, old, new in plans:
        if backup and real.exists():
            copy = _backup_name(real)
            storage.atomic_write(copy, old.encode("utf-8"), mode)
            backups.append(copy)
        storage.atomic_write(real, new.encode("utf-8"), mode)
        written.append(path)
    return written, backups


def _backup_name(path: Path) -> Path:
    candidate = path.with_name(path.name + ".certkit-bak")
    number = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.certkit-bak.{number}")
        number += 1
    return candidate


def load(directory: Path, files: Iterable[Path], options: Options) -> tuple[Project, dict[str, ServiceAnalysis]]:
    """The merged project and its analysis (for callers that only want to look)."""
    paths, _ = select_files(directory, files, options.environ)
    options = with_recorded_dirs(directory, options)
    project = load_project(paths, project_env(paths[0].parent, options.environ))
    return project, analyse(project, options)


__all__ = [
    "ComposeFile",
    "ComposeOutcome",
    "CheckReport",
    "CheckRow",
    "FileRead",
    "Options",
    "PlannedMount",
    "ServiceAnalysis",
    "analyse",
    "apply",
    "apply_after_renew",
    "check",
    "plan",
    "select_files",
]
