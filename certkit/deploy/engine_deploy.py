"""The deploy step of `certkit renew --deploy`: the running containers get the renewed files.

Notary reads its TLS files only at start, so renewed files on disk change nothing until the
services are recreated; under cron nobody types the line renew prints.  This step does it:

1. **Which containers** (:func:`plan_deploy`): the compose projects that run from this checkout,
   found through the engine by Compose's labels (the working folder must be the checkout's real
   path; the project name alone proves nothing: another clone makes the same name).  Each project
   is recreated with the compose files it was started with (its ``config_files`` label) plus
   certkit's override for that file set, so the containers come back as the user made them, with
   the read-only mounts of the renewed folders.
2. **Which services**: those with a running container that does not run the files on disk: it
   reads a file this run changed, it started before a file it reads was last changed, or its copy
   of a file differs from the disk (baked into the image).  Stopped containers are reported, never
   started.  A postgres reading the database set from its initdb folder is not recreated (that
   keeps the old copy in its data volume): when the database set changed, the database step runs
   in it instead (certkit.deploy.database: copy into $PGDATA, restart), before the Notary services.
3. **Through the user's own `docker compose`** (certkit.deploy.compose_cli), bounded in time.
4. **Verified** (:func:`run_deploy`, certkit.deploy.verify): each recreated container is running
   (and healthy, if it has a healthcheck) before the deadline; at every path its service reads, the
   container has the bytes of the file on disk (the engine's archive API); each published TLS port
   serves the renewed certificate.  Anything else is a DeployError (exit 22) naming the container
   and the fix.

The plan reads the engine and writes nothing, so `renew --dry-run --deploy` shows it as it would
be done.  Nothing here prints.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certkit import defaults
from certkit.compose.files import OVERRIDE_MARKER, override_path_for
from certkit.compose.model import FileRead, Options, ReadKind, ServedFrom, ServiceAnalysis
from certkit.deploy import database
from certkit.deploy.deploy_model import DeployPlan, DeployResult, ProjectDeploy, ServiceDeploy, TlsPort
from certkit.deploy.verify import container_bytes, host_bytes, verify_project
from certkit.errors import CertkitError, DeployError
from certkit.paths import shown

if TYPE_CHECKING:
    from certkit.deploy.compose_cli import ComposeCLI
    from certkit.engine import ComposeContainer, Engine

DEFAULT_TIMEOUT = defaults.DEPLOY_TIMEOUT  # seconds: the recreate, and every container running and serving, within this
_CONFIG_MAX = 1024 * 1024

# -- planning ----------------------------------------------------------------------------------------


def plan_deploy(
    engine: Engine,
    root: Path,
    options: Options,
    *,
    changed: Iterable[Path] = (),
    database_changed: bool = False,
) -> DeployPlan:
    """Find the checkout's running projects and decide what to recreate; reads only.

    ``changed``: the files this run changed (or, in a dry run, would change).  ``database_changed``:
    the database set changed (or an earlier database step is owed).

    Raises:
        EngineError: the engine failed.
        DeployError: a project's compose files cannot be read (gone, or not what certkit can analyse).
    """
    containers = engine.containers_of(root)
    plan = DeployPlan(engine.host, found=len(containers))
    changed_real = {os.path.realpath(p) for p in changed}
    groups: dict[tuple[str, tuple[Path, ...]], list[ComposeContainer]] = {}
    for container in containers:
        groups.setdefault((container.project, container.config_files), []).append(container)
    for (project, config_files), members in sorted(groups.items(), key=lambda item: item[0][0]):
        planned = _plan_project(
            engine, root, options, project, config_files, members, changed_real, plan, database_changed=database_changed
        )
        if planned is not None:
            plan.projects.append(planned)
    if database_changed and not any(p.database for p in plan.projects) and not plan.database_waits:
        plan.notes.append(
            "the database set changed, but no postgres of this checkout's compose projects reads it from "
            f"{database.CONTAINER_INITDB}: nothing holds an old copy here (a new database volume copies the "
            "renewed set when it is created)"
        )
    return plan


def _plan_project(
    engine: Engine,
    root: Path,
    options: Options,
    project: str,
    config_files: tuple[Path, ...],
    members: list[ComposeContainer],
    changed: set[str],
    plan: DeployPlan,
    *,
    database_changed: bool,
) -> ProjectDeploy | None:
    working_dir = members[0].working_dir
    files = _files_for(project, config_files, working_dir)
    try:
        from certkit.compose.analysis import load

        # The services as Compose will run them now: the project's files plus certkit's override.
        analyses = load(working_dir, files, options).analyses
    except (CertkitError, OSError) as exc:
        raise DeployError(
            f"cannot work out the services of compose project {project} (started from {working_dir} with "
            f"{', '.join(p.name for p in config_files) or 'no files named'}): {exc}"
        ) from exc
    recreate: list[ServiceDeploy] = []
    db: ServiceDeploy | None = None
    reads: dict[str, tuple[FileRead, ...]] = {}
    tls: dict[str, tuple[TlsPort, ...]] = {}
    by_service: dict[str, list[ComposeContainer]] = {}
    for container in members:
        by_service.setdefault(container.service, []).append(container)
    for service, containers in sorted(by_service.items()):
        running = [c for c in containers if c.running]
        for container in containers:
            if not container.running:
                plan.stopped.append(f"{service} (project {project}): {container.state}")
        analysis = analyses.get(service)
        if analysis is None:
            if running:
                plan.notes.append(f"{service} (project {project}): not in its compose files any more; left alone")
            continue
        known = tuple(r for r in analysis.reads if r.host_path is not None)
        if database_changed and not running and known and _is_database(known, root):
            plan.database_waits = True
            step = ProjectDeploy(project, working_dir, files, (), ServiceDeploy(service, (), ""), {}, {})
            plan.notes.append(
                f"{service} (project {project}) is stopped: left so; its data volume still has the old database "
                f"set: once you start it, run: {'; '.join(step.by_hand())}"
            )
        if not running or not known:
            continue
        reads[service] = known
        tls[service] = tuple(_tls_ports(analysis, root))
        if _is_database(known, root):
            # Recreating postgres keeps its data volume and so its old copy of the set: the database
            # step copies the renewed set into $PGDATA and restarts it instead.
            if database_changed:
                db = ServiceDeploy(service, tuple(c.id for c in running), "the database set changed")
            continue
        why = _stale_reason(engine, running, known, changed, root)
        if why is not None:
            recreate.append(ServiceDeploy(service, tuple(c.id for c in running), why))
    if not recreate and db is None and not reads:
        return None
    return ProjectDeploy(project, working_dir, files, tuple(recreate), db, reads, tls)


def _files_for(project: str, config_files: tuple[Path, ...], working_dir: Path) -> tuple[Path, ...]:
    """The project's -f files as labelled, plus certkit's override for that set when it is not among them."""
    if not config_files:
        raise DeployError(
            f"compose project {project} (from {working_dir}) carries no com.docker.compose.project.config_files "
            "label (made by an old docker-compose?): recreate it by hand, once, with `docker compose up -d`"
        )
    for path in config_files:
        if not path.is_file():
            raise DeployError(
                f"compose project {project} was started with {path}, which is gone; certkit recreates a project "
                "only with the files it was started with: recreate it by hand with the files you use now"
            )
    base = [p for p in config_files if not _ours(p)]
    if not base:
        return config_files
    override = override_path_for(base[0])
    if override in config_files or not override.is_file() or not _ours(override):
        return config_files
    return (*config_files, override)


def _ours(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(OVERRIDE_MARKER)).decode(errors="replace") == OVERRIDE_MARKER
    except OSError:
        return False


def _is_database(reads: tuple[FileRead, ...], root: Path) -> bool:
    """Does the service read the database set from its initdb folder (Notary's postgres)?"""
    server_crt = os.path.realpath(root / database.INITDB_DIR / "server.crt")
    return any(
        r.host_path is not None
        and os.path.realpath(r.host_path) == server_crt
        and r.container_path.startswith(database.CONTAINER_INITDB + "/")
        for r in reads
    )


def _stale_reason(
    engine: Engine, running: list[ComposeContainer], reads: tuple[FileRead, ...], changed: set[str], root: Path
) -> str | None:
    """Why the service's containers do not run the files on disk, or None when they do."""
    renewed = [r.host_path for r in reads if r.host_path is not None and os.path.realpath(r.host_path) in changed]
    if renewed:
        more = f" and {len(renewed) - 1} more" if len(renewed) > 1 else ""
        return f"reads {shown(renewed[0], root)}{more}, renewed"
    for read in reads:
        assert read.host_path is not None
        try:
            changed_at = datetime.fromtimestamp(os.stat(read.host_path).st_mtime_ns / 1e9, timezone.utc)
        except OSError:
            continue  # a file that is not there: judged by the checks, not a reason to recreate
        for container in running:
            if container.started is not None and container.started < changed_at:
                return f"started before {shown(read.host_path, root)} last changed"
    for read in reads:
        assert read.host_path is not None
        if read.status in (ServedFrom.MOUNTED, ServedFrom.MOUNTED_RW):
            continue  # a bind mount shows the host's file itself: the comparison proves nothing
        disk = host_bytes(read.host_path)
        if disk is None:
            continue
        for container in running:
            inside = container_bytes(engine, container, read.container_path)
            if inside is not None and inside != disk:
                return f"its {read.container_path} differs from {shown(read.host_path, root)} (baked into the image)"
    return None


def _tls_ports(analysis: ServiceAnalysis, root: Path) -> list[TlsPort]:
    """The TLS ports a service serves, from the Notary config it runs with (or postgres's initdb set).

    Notary's configs (fixtures/server-config*.json, signer-config*.json): ``server.tls_cert_file``
    (relative to the config's folder) is served on ``server.http_addr`` by notary-server, and on
    ``server.grpc_addr`` by notary-signer (whose http_addr is plain HTTP).
    """
    ports: list[TlsPort] = []
    for read in analysis.reads:
        if read.kind != ReadKind.CONFIG or read.host_path is None or read.host_path.suffix != ".json":
            continue
        try:
            from certkit.bounded import read_regular

            data: Any = json.loads(read_regular(read.host_path, _CONFIG_MAX))
        except (CertkitError, OSError, ValueError):
            continue
        server = data.get("server") if isinstance(data, dict) else None
        if not isinstance(server, dict) or not isinstance(server.get("tls_cert_file"), str):
            continue
        address = server.get("grpc_addr") if "grpc_addr" in server else server.get("http_addr")
        port = _port_of(address)
        if port is not None:
            ports.append(TlsPort(port, read.host_path.parent / server["tls_cert_file"]))
    if _is_database(tuple(r for r in analysis.reads if r.host_path is not None), root):
        ports.append(TlsPort(5432, root / database.INITDB_DIR / "server.crt", postgres=True))
    return ports


def _port_of(address: object) -> int | None:
    if not isinstance(address, str):
        return None
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() and 0 < int(port) < 65536 else None


# -- doing it ----------------------------------------------------------------------------------------


def run_deploy(
    engine: Engine,
    plan: DeployPlan,
    cli: ComposeCLI,
    root: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Do what ``plan`` says, then verify it; everything within ``timeout`` seconds.

    Raises:
        EngineError: (21) the engine failed while certkit verified.
        DeployError: (22) docker compose failed, or the result is not what it must be.
    """
    result = DeployResult(plan)
    start = clock()
    deadline = start + timeout
    for project in plan.projects:
        if project.database is not None:
            # First the database: notary-server and notary-signer connect to it when they start.
            for args in project.database_args:
                _compose(cli, args, project, deadline, clock, "the database step")
            verify_project(engine, project, [project.database], root, result, deadline, clock)
        if project.recreate:
            _compose(cli, project.up_args, project, deadline, clock, "the recreate")
            result.recreated += [f"{s.service} (project {project.project})" for s in project.recreate]
    for project in plan.projects:
        verify_project(engine, project, list(project.recreate), root, result, deadline, clock)
    result.seconds = clock() - start
    return result


def _compose(
    cli: ComposeCLI, args: list[str], project: ProjectDeploy, deadline: float, clock: Callable[[], float], what: str
) -> None:
    from certkit.deploy.compose_cli import command_line

    left = deadline - clock()
    if left <= 0:
        raise DeployError(f"no time left for {what} of project {project.project}; run by hand: {command_line(args)}")
    finished = cli.run(args, cwd=project.working_dir, timeout=left)
    if finished.code != 0:
        said = _last_line(finished.output) or f"exit {finished.code}"
        if finished.timed_out:
            said = f"still running after {left:.0f} s, stopped"
        raise DeployError(f"{what} of compose project {project.project} failed ({said}): {command_line(args)}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
