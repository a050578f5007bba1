"""Verifying a deploy: the recreated containers run, have the disk's files, serve the renewed certificate.

A container that runs is not yet proof.  Within the deploy's deadline, each recreated container
must be running (and healthy, with a healthcheck); at every path its service reads it must have the
bytes of the file on disk (the engine's archive API: through a mount the host's file, without one
the image's copy); each published TLS port must serve the renewed leaf byte for byte
(certkit.deploy.served).  For postgres after the database step: running, its data folder's set
equal to the disk's, and the renewed server.crt served after an SSLRequest.  Anything else is one
DeployError (exit 22) naming the container and the fix.  Nothing here prints.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from certkit.compose.model import ServedFrom
from certkit.deploy import database
from certkit.deploy.deploy_model import DeployResult, ProjectDeploy, ServiceDeploy
from certkit.errors import CertkitError, DeployError, EngineError
from certkit.paths import shown

if TYPE_CHECKING:
    from certkit.engine import ComposeContainer, Engine

_HEALTHY = (None, "healthy")
_GONE_STATES = ("exited", "dead", "removing")
_PGDATA = "/var/lib/postgresql/data"  # the official postgres image's ENV PGDATA


def verify_project(
    engine: Engine,
    project: ProjectDeploy,
    targets: list[ServiceDeploy],
    root: Path,
    result: DeployResult,
    deadline: float,
    clock: Callable[[], float],
) -> None:
    if not targets:
        return
    fresh = _wait_running(engine, project, targets, root, deadline, clock)
    for target in targets:
        if target is project.database:
            for container in fresh[target.service]:
                result.verified += _verify_database_copy(engine, project, target.service, container, root)
        else:
            for container in fresh[target.service]:
                _verify_files(engine, project, target.service, container, root)
            result.verified.append(
                f"{target.service} (project {project.project}): running; has the files on disk at the "
                f"{len(project.reads.get(target.service, ()))} paths it reads"
            )
        for container in fresh[target.service]:
            result.verified += _verify_ports(engine, project, target.service, container, root, deadline, clock)
    # Still running after all that: a service that served once and then exited (a crash on its first
    # connection to a peer) is not deployed.
    for target in targets:
        for container in fresh[target.service]:
            why = _gone(engine, root, container.id)
            if why is not None:
                logs = f"docker compose -p {shlex.quote(project.project)} logs {shlex.quote(target.service)}"
                raise DeployError(
                    f"{target.service} (project {project.project}) stopped right after the deploy ({why}); see `{logs}`"
                )


def _wait_running(
    engine: Engine,
    project: ProjectDeploy,
    targets: list[ServiceDeploy],
    root: Path,
    deadline: float,
    clock: Callable[[], float],
) -> dict[str, list[ComposeContainer]]:
    """Poll the engine until every target service has running (and healthy) new containers."""
    restarted = {t.service for t in targets if project.database is t}
    while True:
        current = [c for c in engine.containers_of(root) if c.project == project.project]
        ready: dict[str, list[ComposeContainer]] = {}
        waiting: list[str] = []
        for target in targets:
            mine = [c for c in current if c.service == target.service]
            # A recreated service has new containers; a restarted database keeps its container.
            new = mine if target.service in restarted else [c for c in mine if c.id not in target.container_ids]
            if not new:
                waiting.append(f"{target.service}: no new container")
                continue
            bad = [c for c in new if c.state in _GONE_STATES]
            if bad:
                raise DeployError(
                    f"{target.service} (project {project.project}) is {bad[0].state} after the deploy; see "
                    f"`docker compose -p {shlex.quote(project.project)} logs {shlex.quote(target.service)}`"
                )
            if all(c.running and c.health in _HEALTHY for c in new):
                ready[target.service] = new
            else:
                state = ", ".join(f"{c.state}{'/' + c.health if c.health else ''}" for c in new)
                waiting.append(f"{target.service}: {state}")
        if not waiting:
            return ready
        if clock() >= deadline:
            raise DeployError(
                f"not running (or not healthy) in time after the deploy of project {project.project}: "
                f"{'; '.join(waiting)}; see `docker compose -p {shlex.quote(project.project)} ps` and its logs"
            )
        time.sleep(min(0.2, max(0.0, deadline - clock())))


def _verify_files(
    engine: Engine, project: ProjectDeploy, service: str, container: ComposeContainer, root: Path
) -> None:
    for read in project.reads.get(service, ()):
        assert read.host_path is not None
        disk = host_bytes(read.host_path)
        if disk is None:
            continue
        inside = container_bytes(engine, container, read.container_path)
        if inside == disk:
            continue
        what = "does not have" if inside is None else "has another"
        hint = (
            "the image's copy is what runs: make compose mount the renewed folder with `certkit compose` "
            f"in {root}, then `certkit renew --deploy`"
            if read.status in (ServedFrom.BAKED, ServedFrom.IMAGE)
            else "check its mounts with `certkit compose --check`"
        )
        raise DeployError(
            f"{service} (project {project.project}) {what} {read.container_path} than "
            f"{shown(read.host_path, root)} on disk after the deploy; {hint}"
        )


def _verify_database_copy(
    engine: Engine, project: ProjectDeploy, service: str, container: ComposeContainer, root: Path
) -> list[str]:
    """The set in postgres's data folder is the disk's (the official image's PGDATA; another one is
    not known here, and then the served certificate is the proof)."""
    checked = 0
    for name in database.FILES:
        disk = host_bytes(root / database.INITDB_DIR / name)
        inside = container_bytes(engine, container, f"{_PGDATA}/{name}")
        if disk is None or inside is None:
            continue
        if inside != disk:
            raise DeployError(
                f"{service} (project {project.project}) has another {_PGDATA}/{name} than "
                f"{database.INITDB_DIR}/{name} on disk after the database step; run it by hand: "
                f"{'; '.join(project.by_hand()[:2])}"
            )
        checked += 1
    if not checked:
        return []
    return [f"{service} (project {project.project}): its data folder has the renewed database set"]


def _verify_ports(
    engine: Engine,
    project: ProjectDeploy,
    service: str,
    container: ComposeContainer,
    root: Path,
    deadline: float,
    clock: Callable[[], float],
) -> list[str]:
    from certkit.deploy.served import dial_address, wait_for_leaf

    lines = []
    for tls in project.tls.get(service, ()):
        expected = _leaf_der(tls.cert_file)
        if expected is None:
            continue
        for published in container.ports:
            if published.container_port != tls.container_port or published.protocol != "tcp":
                continue
            host = dial_address(published.host_ip)
            where = f"{host}:{published.host_port}"

            def gone(cid: str = container.id) -> str | None:
                return _gone(engine, root, cid)

            served = wait_for_leaf(host, published.host_port, deadline, postgres=tls.postgres, clock=clock, gone=gone)
            if served.leaf is None:
                logs = f"docker compose -p {shlex.quote(project.project)} logs {shlex.quote(service)}"
                raise DeployError(
                    f"{service} (project {project.project}) serves no certificate on {where} after the deploy "
                    f"({served.error}); see `{logs}`"
                )
            if served.leaf != expected:
                raise DeployError(
                    f"{service} (project {project.project}) still serves another certificate than "
                    f"{shown(tls.cert_file, root)} on {where} after the deploy ({_describe(served.leaf)}); "
                    f"check that nothing else publishes that port, then `certkit renew --deploy`"
                )
            lines.append(f"{service} (project {project.project}): serves {shown(tls.cert_file, root)} on {where}")
    return lines


def _gone(engine: Engine, root: Path, container_id: str) -> str | None:
    try:
        for container in engine.containers_of(root):
            if container.id == container_id:
                return None if container.running else f"the container is {container.state}"
    except EngineError as exc:
        return str(exc)
    return "the container is gone"


# -- reading -----------------------------------------------------------------------------------------


def host_bytes(path: Path) -> bytes | None:
    from certkit.bounded import read_regular

    try:
        return read_regular(path)
    except (CertkitError, OSError):
        return None


def container_bytes(engine: Engine, container: ComposeContainer, path: str) -> bytes | None:
    from certkit.engine import ContainerFileError

    try:
        return engine.read_file(container.id, str(PurePosixPath(path)))
    except ContainerFileError:
        return None


def _leaf_der(path: Path) -> bytes | None:
    from certkit.certificates import NotACertificate, parse_certificates, to_der

    data = host_bytes(path)
    if data is None:
        return None
    try:
        certs = parse_certificates(data)
    except NotACertificate:
        return None
    return to_der(certs[0]) if certs else None


def _describe(der: bytes) -> str:
    from certkit.certificates import load_der
    from certkit.text import utc_minute

    cert = load_der(der)
    if cert is None:
        return "not a certificate certkit can read"
    return f"notAfter {utc_minute(cert.not_valid_after_utc)}"
