"""What runs, not only what is on disk: the certificate each container of a checkout actually has.

Renewing the files of a Notary checkout changes nothing the services use until the containers see
them: an image that baked the old files in keeps them (BAKED), a container made before certkit's
compose override mounted them keeps the image's copy, and a Notary process that read its TLS files
at start keeps serving the old certificate until it restarts (both STALE).  Judging the files alone
said OK through all of it.

Two sources, both read-only:

- the compose analysis (certkit.compose): for each service of the project `docker compose up` would
  run in the checkout (the default files and their override, or COMPOSE_FILE from the environment or
  .env), which renewed file it reads at which container path, mounted or baked.  A baked read is
  BAKED before any deploy, with no engine at all (the pre-deploy check);
- the Docker engine (certkit.engine), when one answers: every container of the checkout's compose
  projects (matched by the working-folder label, running or stopped, never started), the bytes it
  has at each of those paths (the archive API), its mounts, its start time and its published ports.

Nothing here prints; the findings are data for certkit.workflows.check and certkit.workflows.status.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.bounded import UnreadableInput, read_regular
from certkit.check.runs import RunningFile, Verdict
from certkit.errors import CertkitError
from certkit.hints import stale_hint
from certkit.outcomes import StrEnum
from certkit.text import one_line, utc_second

if TYPE_CHECKING:
    from certkit.compose.model import FileRead
    from certkit.engine import ComposeContainer, Engine
    from certkit.profile import Profile


class EngineUse(StrEnum):
    """Whether to ask the Docker engine what runs."""

    AUTO = "auto"  # when a socket is there (DOCKER_HOST, else /var/run/docker.sock); none: a note
    OFF = "off"  # --no-engine: the files and the compose analysis only; the Docker SDK is never imported


@dataclass
class RunningReport:
    files: list[RunningFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine: str | None = None  # the engine asked (its address), None when none was

    @property
    def problems(self) -> list[RunningFile]:
        return [f for f in self.files if f.verdict in (Verdict.STALE, Verdict.BAKED)]


@dataclass(frozen=True)
class RunningRequest:
    root: Path
    profile: Profile
    environ: Mapping[str, str]
    engine_use: EngineUse = EngineUse.AUTO
    docker_host: str | None = None  # --docker-host; an engine named so that does not answer is an error
    timeout: float = 5.0


def check_running(request: RunningRequest) -> RunningReport:
    """The compose project's baked reads, then (engine permitting) what each container has.

    Raises:
        EngineError: only with --docker-host: the engine named cannot be reached or used.  Without
            it, no engine is a note and an engine that refuses is a note too (the files are still judged).
    """
    from certkit.compose.files import discover
    from certkit.compose.files import project_env as compose_env

    root = request.root
    report = RunningReport()
    env = compose_env(root, request.environ)
    if not discover(root) and not env.get("COMPOSE_FILE", "").strip():
        return report  # no compose project here: nothing runs from this checkout that certkit can know of
    managed = _managed(root, request.profile)
    default = _default_reads(request, managed, report)
    renewed = _renewed_since_found(root)
    if request.engine_use is EngineUse.OFF:
        report.files.extend(_baked_rows(root, default, covered=set(), renewed=renewed))
        return report
    engine = _engine(request, report)
    covered: set[tuple[str, str]] = set()
    if engine is not None:
        with engine:
            covered = _containers(request, engine, managed, default, report)
    report.files.extend(_baked_rows(root, default, covered, renewed))
    return report


# --- the compose analysis ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reads:
    """The renewed certificate files one compose project's services read: service -> reads."""

    label: str  # the compose files, as a user names them
    files: tuple[Path, ...]
    services: Mapping[str, tuple[FileRead, ...]]

    def read(self, service: str, container_path: str) -> FileRead | None:
        return next((r for r in self.services.get(service, ()) if r.container_path == container_path), None)


def _managed(root: Path, profile: Profile) -> set[str]:
    """Real paths of the certificate files certkit renews (and their copies)."""
    paths = set()
    for spec in profile.certificates:
        for rel in (spec.cert_file, *spec.copies):
            if rel:
                paths.add(os.path.realpath(root / rel))
    return paths


def _analyse(request: RunningRequest, files: tuple[Path, ...], managed: set[str]) -> _Reads:
    """Raises CertkitError (and OSError/ValueError from a file changing under it) when not analysable."""
    from certkit.compose.analysis import load
    from certkit.compose.files import project_env as compose_env
    from certkit.compose.model import Options, ReadKind

    options = Options(request.profile, environ=request.environ)
    loaded = load(request.root, files, options)
    project, analyses = loaded.project, loaded.analyses
    services = {
        name: tuple(
            read
            for read in analysis.reads
            if read.kind == ReadKind.CERTIFICATE
            and read.host_path is not None
            and os.path.realpath(read.host_path) in managed
        )
        for name, analysis in analyses.items()
    }
    # A service with profiles runs only when COMPOSE_PROFILES names one (Compose's rule for a plain `up`).
    active = {p.strip() for p in compose_env(request.root, request.environ).get("COMPOSE_PROFILES", "").split(",")}
    services = {
        name: reads
        for name, reads in services.items()
        if not project.services[name].profiles or active & set(project.services[name].profiles)
    }
    paths = tuple(f.path for f in project.files)
    return _Reads(" + ".join(p.name for p in paths), paths, services)


def _default_reads(request: RunningRequest, managed: set[str], report: RunningReport) -> _Reads | None:
    try:
        return _analyse(request, (), managed)
    except (CertkitError, OSError, ValueError) as exc:
        report.notes.append(f"the compose project of {request.root} was not analysed ({one_line(exc, 200)})")
        return None


def _renewed_since_found(root: Path) -> set[str]:
    """Real paths of the files certkit has changed since it first found the set (generation 0, kept
    for rollback, is the set as cloned: what images built from the checkout baked in).

    A checkout certkit never renewed has none: its images bake exactly what is on disk, so the
    compose analysis alone has nothing to say about them (the engine, when asked, still compares).
    A state folder certkit cannot read (another user's) counts every managed file as renewed.
    """
    from certkit.store import generations
    from certkit.store.layout import STATE_FOLDER

    state = root / STATE_FOLDER
    try:
        if not generations.numbers(state) or not generations.live_number(state):
            return set()
        found = generations.load(state, 0, root)
    except (CertkitError, OSError, ValueError):
        return {"*"}
    changed = set()
    for entry in found:
        try:
            if read_regular(entry.target) != entry.data:
                changed.add(os.path.realpath(entry.target))
        except UnreadableInput:
            continue
    return changed


def _baked_rows(
    root: Path, default: _Reads | None, covered: set[tuple[str, str]], renewed: set[str]
) -> list[RunningFile]:
    """BAKED rows of the analysis alone: what `docker compose up` would run from the image, for the
    files certkit renewed since the clone (``renewed``; "*": all).  A service path a container
    already showed from its image (``covered``: the engine's row says whether that copy differs
    from disk) is not repeated."""
    from certkit.compose.model import ServedFrom

    if default is None:
        return []
    rows = []
    for service, reads in default.services.items():
        for read in reads:
            if read.status != ServedFrom.BAKED or (service, read.container_path) in covered:
                continue
            assert read.host_path is not None
            if "*" not in renewed and os.path.realpath(read.host_path) not in renewed:
                continue  # as cloned: the image baked this very file
            rows.append(
                RunningFile(
                    service,
                    None,
                    None,
                    default.label,
                    read.container_path,
                    _shown(root, read.host_path),
                    Verdict.BAKED,
                    f"BAKED: {_shown(root, read.host_path)} was renewed, but `docker compose up` ({default.label}) "
                    f"would run service {service} with the image's copy (no bind mount); run "
                    f"`certkit compose` to mount the files, then `docker compose up -d --force-recreate {service}`",
                )
            )
    return rows


# --- the engine ----------------------------------------------------------------------------------


def _engine(request: RunningRequest, report: RunningReport) -> Engine | None:
    from certkit.engine import connect, engine_host, probe
    from certkit.errors import EngineError

    host = engine_host(request.docker_host, request.environ)
    report.engine = host
    if request.docker_host is not None:
        # Named on the command line: an engine that is not there is an error (exit 3 in check-expiry).
        return connect(request.docker_host, request.environ, timeout=request.timeout)
    try:
        engine = probe(None, request.environ, timeout=request.timeout)
    except EngineError as exc:
        report.notes.append(f"what runs was not checked: {exc}")
        report.engine = None
        return None
    if engine is None:
        report.notes.append(f"no Docker engine at {host}: what runs was not checked, only the files on disk")
        report.engine = None
    return engine


def _containers(
    request: RunningRequest, engine: Engine, managed: set[str], default: _Reads | None, report: RunningReport
) -> set[tuple[str, str]]:
    from certkit.engine import ContainerFileError
    from certkit.errors import EngineError

    covered: set[tuple[str, str]] = set()
    try:
        containers = engine.containers_of(request.root)
    except EngineError as exc:
        if request.docker_host is not None:
            raise
        report.notes.append(f"what runs was not checked: {exc}")
        return covered
    if not containers:
        report.notes.append(
            f"no container of this checkout's compose projects on the Docker engine at {engine.host}: "
            "only the files on disk were checked"
        )
        return covered
    analyses: dict[tuple[Path, ...], _Reads | None] = {}
    for container in containers:
        reads = _container_reads(request, container, managed, default, analyses, report)
        if reads is None:
            continue
        for read in reads.services.get(container.service, ()):
            try:
                row = _judge(request, engine, container, read, default)
            except ContainerFileError as exc:
                row = _row(request.root, container, read, Verdict.UNREADABLE, f"cannot read it in the container: {exc}")
            except EngineError as exc:
                if request.docker_host is not None:
                    raise
                report.notes.append(f"what runs was not fully checked: {exc}")
                return covered
            report.files.append(row)
            mount = container.mount_at(read.container_path)
            if mount is None or mount.type != "bind":
                # The container shows what the service's image has there: the analysis's guess
                # (the next `up` runs the image's copy) is answered by the engine's bytes.
                covered.add((container.service, read.container_path))
    return covered


def _container_reads(
    request: RunningRequest,
    container: ComposeContainer,
    managed: set[str],
    default: _Reads | None,
    analyses: dict[tuple[Path, ...], _Reads | None],
    report: RunningReport,
) -> _Reads | None:
    """The analysis of the compose files the container was started with (its label), read now;
    the default project's when those files are gone or cannot be analysed."""
    files = container.config_files
    if files not in analyses:
        result: _Reads | None = None
        if files and all(f.is_file() for f in files):
            try:
                result = _analyse(request, files, managed)
            except (CertkitError, OSError, ValueError) as exc:
                report.notes.append(
                    f"{', '.join(f.name for f in files)} (container {container.name}'s compose files): not analysed "
                    f"({one_line(exc, 200)}); judged with the default project's"
                )
        analyses[files] = result
    return analyses[files] or default


def _judge(
    request: RunningRequest, engine: Engine, container: ComposeContainer, read: FileRead, default: _Reads | None
) -> RunningFile:
    from certkit.certificates import parse_bundle, to_der
    from certkit.compose.model import ServedFrom

    assert read.host_path is not None
    root = request.root
    inside = engine.read_file(container.id, read.container_path)
    state = "" if container.running else f" ({container.state}: not started by certkit)"
    if inside is None:
        return _row(root, container, read, Verdict.MISSING, f"MISSING: no file at {read.container_path}{state}")
    certs, _ = parse_bundle(inside)
    leaf = to_der(certs[0][1]) if certs else b""
    if not certs:
        return _row(root, container, read, Verdict.UNREADABLE, f"no certificate in the container's file{state}")
    try:
        disk = read_regular(read.host_path)
    except UnreadableInput:
        disk = None  # judged as a file by the file check; here only the container's copy is shown
    mount = container.mount_at(read.container_path)
    bind = mount is not None and mount.type == "bind"
    shown = _shown(root, read.host_path)
    if disk is None or _leaf_der(disk) == leaf:
        if disk is not None and bind:
            stale = _still_serves_old(request, container, read.host_path, leaf)
            if stale:
                return _row(root, container, read, Verdict.STALE, f"STALE: {stale}{state}", leaf)
        return _row(root, container, read, Verdict.OK, f"runs {shown}{state}", leaf)
    now_reads = default.read(container.service, read.container_path) if default is not None else None
    mounted_now = now_reads is not None and now_reads.status in (
        ServedFrom.MOUNTED,
        ServedFrom.MOUNTED_RW,
        ServedFrom.MOUNTED_FILE,
    )
    recreate = f"docker compose up -d --force-recreate {container.service}"
    if bind:
        text = (
            f"STALE: the container's {read.container_path} (through its bind mount of "
            f"{mount.source if mount else '?'}) differs from {shown}; {stale_hint(container.service, mounted=False)}"
        )
        return _row(root, container, read, Verdict.STALE, text + state, leaf)
    if mounted_now:
        text = (
            f"STALE: the container predates the bind mount of {shown} (made before the compose override), "
            f"so it runs the image's old copy; {stale_hint(container.service, mounted=False)}"
        )
        return _row(root, container, read, Verdict.STALE, text + state, leaf)
    text = (
        f"BAKED: the container runs the image's copy at {read.container_path} (no bind mount), which differs "
        f"from the renewed {shown}; run `certkit compose` (or `certkit renew`) to mount the files, then `{recreate}`"
    )
    return _row(root, container, read, Verdict.BAKED, text + state, leaf)


def _still_serves_old(request: RunningRequest, container: ComposeContainer, host_path: Path, leaf: bytes) -> str | None:
    """Why a container that sees the renewed file through its bind mount still runs the old one, or None.

    Notary reads its TLS files only at start.  A published TLS port shows what the process serves;
    without one, a file changed after the process started means it still has the old one.
    """
    if not container.running:
        return None  # a stopped container reads the files when it starts
    restart = stale_hint(container.service, mounted=True)
    served = _served_leaves(request, container)
    from certkit.certificates import load_der

    disk_cert = load_der(leaf)
    for address, der in served:
        cert = load_der(der)
        if cert is None or disk_cert is None or cert.subject != disk_cert.subject:
            continue
        if der == leaf:
            return None
        return (
            f"{address} still serves serial {cert.serial_number:X} (until {cert.not_valid_after_utc:%Y-%m-%d}), "
            f"not the renewed file its bind mount shows; {restart}"
        )
    try:
        changed = datetime.fromtimestamp(os.stat(host_path).st_mtime, timezone.utc)
    except OSError:
        return None
    if container.started is not None and changed > container.started:
        return (
            f"{_shown(request.root, host_path)} changed at {utc_second(changed)}, after the process started "
            f"({utc_second(container.started)}): Notary reads TLS files only at start; "
            f"{restart}"
        )
    return None


def _served_leaves(request: RunningRequest, container: ComposeContainer) -> list[tuple[str, bytes]]:
    ports = [p for p in container.ports if p.protocol == "tcp"]
    if not ports:
        return []
    from certkit.check.endpoints import fetch_chain

    found = []
    for port in ports:
        host = port.host_ip if port.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1"
        address = f"[{host}]:{port.host_port}" if ":" in host else f"{host}:{port.host_port}"
        chain = fetch_chain(address, servername="localhost", timeout=min(request.timeout, 5.0))
        if chain.chain:
            found.append((address, chain.chain[0]))
    return found


def _row(
    root: Path, container: ComposeContainer, read: FileRead, verdict: Verdict, text: str, der: bytes = b""
) -> RunningFile:
    assert read.host_path is not None
    return RunningFile(
        container.service,
        container.name,
        container.state,
        container.project,
        read.container_path,
        _shown(root, read.host_path),
        verdict,
        text,
        der,
    )


def _leaf_der(data: bytes) -> bytes:
    from certkit.certificates import parse_bundle, to_der

    certs, _ = parse_bundle(data)
    return to_der(certs[0][1]) if certs else b""


def _shown(root: Path, path: Path) -> str:
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return os.path.relpath(real, real_root) if real.startswith(real_root + os.sep) else str(path)


__all__ = ["EngineUse", "RunningFile", "RunningReport", "RunningRequest", "Verdict", "check_running"]
