"""What certkit knows about a container of a compose project, as the Docker engine reports it.

Plain frozen data: made once from the engine's answers (certkit.engine.client) and handed to the
checks and the deploy step, which never talk to the engine API themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# The labels Docker Compose puts on every container it creates (compose-spec, pkg/api/labels.go).
PROJECT_LABEL = "com.docker.compose.project"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
SERVICE_LABEL = "com.docker.compose.service"


@dataclass(frozen=True)
class Mount:
    """One of a container's mounts as the engine has it (not as a compose file asks for it)."""

    type: str  # bind, volume, tmpfs, ...
    source: str  # the host path (bind) or the volume's folder
    destination: str  # the container path
    read_only: bool


@dataclass(frozen=True)
class PublishedPort:
    """A container port published on the host."""

    container_port: int
    protocol: str  # tcp or udp
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class ComposeContainer:
    """A container that Docker Compose made for a project run from ``working_dir``."""

    id: str
    name: str
    project: str
    service: str
    working_dir: Path
    config_files: tuple[Path, ...]
    state: str  # running, exited, created, paused, restarting, dead
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    image_id: str
    created: datetime
    started: datetime | None  # when its process last started (None if never)
    mounts: tuple[Mount, ...]
    ports: tuple[PublishedPort, ...]

    @property
    def running(self) -> bool:
        return self.state == "running"

    def mount_at(self, container_path: str) -> Mount | None:
        """The mount that shows ``container_path`` (the deepest one covering it), if any."""
        best: Mount | None = None
        path = os.path.normpath(container_path)
        for mount in self.mounts:
            target = os.path.normpath(mount.destination)
            if path == target or path.startswith(target.rstrip("/") + "/"):
                if best is None or len(target) > len(os.path.normpath(best.destination)):
                    best = mount
        return best


__all__ = [
    "CONFIG_FILES_LABEL",
    "ComposeContainer",
    "Mount",
    "PROJECT_LABEL",
    "PublishedPort",
    "SERVICE_LABEL",
    "WORKING_DIR_LABEL",
]
