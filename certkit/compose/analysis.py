"""What each compose service reads, and where its container gets each file from.

Per service: the container paths of the TLS files it reads (from the ``-config`` file named in
its command, absolute paths in its environment and command, and its existing volumes), and
whether each is served by a bind mount of the host's folder, a single-file mount, a volume, or
the image (baked in at build time from the checkout, or not from this folder at all).  The
working folder relative paths resolve against comes from ``working_dir``, the Dockerfile's
WORKDIR (certkit.compose.dockerfiles), or the user's ``--container-dir`` answer.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from certkit.bounded import MIB, parse_nested, read_input
from certkit.compose.dockerfiles import Copy, ImageFacts, read_image
from certkit.compose.files import Mount, Project, Service, load_project, project_env
from certkit.compose.model import FileRead, Options, ReadKind, Selection, ServedFrom, ServiceAnalysis
from certkit.compose.projects import select_files, with_recorded_dirs
from certkit.compose.text import relative_text
from certkit.errors import ComposeError
from certkit.paths import under
from certkit.profile import Profile

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


# What the analysis of one service does with a path it finds: the path as written, what sort of file
# it is, how certkit found it, and the container folder a relative path is relative to (None: the
# image's working folder is unknown); the read it made, or None for a path already seen.
AddRead = Callable[[str, ReadKind, str, str | None], FileRead | None]


@dataclass(frozen=True)
class LoadedProject:
    """A compose project as `docker compose` would run it, and what each of its services reads."""

    paths: list[Path]  # the compose files, as select_files chose them
    selection: Selection
    project: Project
    analyses: dict[str, ServiceAnalysis]


def load(directory: Path, files: Iterable[Path], options: Options) -> LoadedProject:
    """The project of ``directory`` (``files``: -f; none: as `docker compose` finds it), merged and analysed,
    with the --container-dir answers recorded for the folder."""
    paths, selection = select_files(directory, files, options.environ)
    options = with_recorded_dirs(directory, options)
    project = load_project(paths, project_env(paths[0].parent, options.environ))
    return LoadedProject(paths, selection, project, analyse(project, options))


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
        if mount.type != "bind" or any(under(r.container_path, mount.target) for r in analysis.reads):
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
        if under(container, mount.target) and (best is None or len(mount.target) > len(best.target)):
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


def _read_config(config: FileRead, analysis: ServiceAnalysis, add: AddRead) -> None:
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


def managed_paths(directory: Path, profile: Profile) -> set[str]:
    """Real paths of every file the profile renews: certificates, keys and copies."""
    paths: set[str] = set()
    for spec in profile.certificates:
        for rel in (spec.cert_file, spec.key_file, *spec.copies):
            if rel:
                paths.add(os.path.realpath(directory / rel))
    return paths


def reads_any(analyses: Mapping[str, ServiceAnalysis], paths: set[str]) -> bool:
    """Some service reads one of ``paths`` (real paths)."""
    return any(r.host_path and os.path.realpath(r.host_path) in paths for a in analyses.values() for r in a.reads)


__all__ = ["AddRead", "LoadedProject", "analyse", "load", "managed_paths", "reads_any"]
