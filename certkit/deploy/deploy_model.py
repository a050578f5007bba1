"""The deploy step's data: what `renew --deploy` plans (projects, services, the exact compose
arguments) and what it did.  Made by certkit.deploy.engine_deploy, checked by certkit.deploy.verify,
shown by certkit.render.deploy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from certkit.compose.model import FileRead
from certkit.deploy import database


@dataclass(frozen=True)
class TlsPort:
    """A container port a service serves TLS on, and the certificate file it serves there."""

    container_port: int
    cert_file: Path  # on the host
    postgres: bool = False  # an SSLRequest comes before the handshake


@dataclass(frozen=True)
class ServiceDeploy:
    """A service to recreate, the containers it had, and why."""

    service: str
    container_ids: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class ProjectDeploy:
    """One running compose project of the checkout, and what the deploy does in it."""

    project: str
    working_dir: Path
    files: tuple[Path, ...]  # the -f files: the ones it was started with, plus certkit's override
    recreate: tuple[ServiceDeploy, ...]
    database: ServiceDeploy | None  # the postgres service the database set is copied into
    reads: Mapping[str, tuple[FileRead, ...]]  # per service: the files it reads that have a host file
    tls: Mapping[str, tuple[TlsPort, ...]]  # per service: the TLS ports it serves

    @property
    def compose_args(self) -> list[str]:
        """`docker compose` options naming exactly this project: its name, folder and files."""
        args = ["-p", self.project, "--project-directory", str(self.working_dir)]
        for path in self.files:
            args += ["-f", str(path)]
        return args

    @property
    def up_args(self) -> list[str]:
        # --no-deps: only the services named (a stopped database stays stopped);
        # --no-build: a scheduled run never builds images, it recreates from the built ones.
        services = [s.service for s in self.recreate]
        return [*self.compose_args, "up", "-d", "--force-recreate", "--no-deps", "--no-build", *services]

    @property
    def database_args(self) -> list[list[str]]:
        """The database step's two calls: copy the set into $PGDATA in the container, restart postgres."""
        if self.database is None:
            return []
        name = self.database.service
        return [
            [*self.compose_args, "exec", "-T", name, "sh", "-c", database.container_script()],
            [*self.compose_args, "restart", name],
        ]

    def by_hand(self) -> list[str]:
        """The same, as lines a person runs (the fallback certkit prints when it cannot deploy)."""
        from certkit.deploy.compose_cli import command_line

        lines = [command_line(args) for args in self.database_args]
        if self.recreate:
            lines.append(command_line(self.up_args))
        return lines


@dataclass
class DeployPlan:
    """What `renew --deploy` will do; empty when nothing runs from the checkout or all is current."""

    host: str
    projects: list[ProjectDeploy] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # containers left stopped: "signer (project notary): exited"
    notes: list[str] = field(default_factory=list)
    found: int = 0  # containers of the checkout's projects, running or not
    database_waits: bool = False  # a stopped postgres still has the old database set (see notes)

    @property
    def empty(self) -> bool:
        return not any(p.recreate or p.database for p in self.projects)

    def by_hand(self) -> list[str]:
        return [line for p in self.projects for line in p.by_hand()]

    @property
    def services(self) -> list[str]:
        return [f"{s.service} (project {p.project})" for p in self.projects for s in p.recreate]


@dataclass
class DeployResult:
    """What the deploy did and what was verified."""

    plan: DeployPlan
    recreated: list[str] = field(default_factory=list)  # "server (project notary)"
    verified: list[str] = field(default_factory=list)  # one line per proof
    seconds: float = 0.0  # from the first compose call until everything was verified
