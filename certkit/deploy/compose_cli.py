"""The user's own `docker compose`, found as cron finds it and run with a time limit.

certkit recreates services through the Compose the user runs (Docker's compose plugin of the
docker CLI), never a compose of its own: the same merge rules, the same container names and
labels, so what it leaves is exactly what `docker compose up` would.  Under cron PATH is
/usr/bin:/bin, so `docker` is the distribution's CLI (/usr/bin/docker), and `docker compose`
works only when the compose plugin is in one of the CLI's plugin folders (docker/cli
cli-plugins/manager: $DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins, then the system
folders below), which is where Docker's docker-compose-plugin package puts it.

Every call runs through certkit.children: a time limit, its own process group, never outliving
certkit.  The CLI talks to the engine certkit.engine connected to (DOCKER_HOST set to it), so
both always see the same containers.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from certkit.children import Finished, run_bounded
from certkit.errors import EngineError

# docker/cli cli-plugins/manager/manager_unix.go: defaultSystemPluginDirs, after the user's folder.
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
VERSION_TIMEOUT = 30.0  # `docker compose version` answers at once; a hung CLI must not hold the lock


@dataclass(frozen=True)
class ComposeCLI:
    """How to run `docker compose` here: the docker CLI's absolute path and the environment."""

    docker: str
    env: Mapping[str, str]
    version: str  # what `docker compose version` said, e.g. "Docker Compose version v2.40.3"

    def argv(self, *args: str) -> list[str]:
        return [self.docker, "compose", *args]

    def run(self, args: Sequence[str], *, cwd: Path, timeout: float) -> Finished:
        """Run `docker compose ARGS` (bounded); the result, never an exception for its own failure.

        Raises:
            EngineError: the docker CLI cannot be started at all.
        """
        try:
            return run_bounded(self.argv(*args), self.env, cwd=cwd, timeout=timeout)
        except OSError as exc:
            raise EngineError(f"cannot run {self.docker}: {exc.strerror or exc}") from exc


def plugin_dirs(environ: Mapping[str, str]) -> list[str]:
    """The folders the docker CLI looks for its compose plugin in, in its order."""
    config = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME") or "~", ".docker")
    return [os.path.join(config, "cli-plugins"), *SYSTEM_PLUGIN_DIRS]


def find_compose(environ: Mapping[str, str], host: str, *, cwd: Path, timeout: float = VERSION_TIMEOUT) -> ComposeCLI:
    """The docker CLI on ``environ``'s PATH, checked to run `docker compose` against ``host``.

    Raises:
        EngineError: (exit 21) no `docker` on PATH, or its compose plugin is missing or does not run.
    """
    path = environ.get("PATH") or os.defpath
    docker = shutil.which("docker", path=path)
    if docker is None:
        raise EngineError(
            f"no `docker` command on PATH ({path}), which `renew --deploy` runs `docker compose` with: install "
            "the Docker CLI (Debian: docker.io), or run certkit with a PATH that has it"
        )
    env = {**environ, "DOCKER_HOST": host}
    cli = ComposeCLI(os.path.abspath(docker), env, "")
    finished = cli.run(["version"], cwd=cwd, timeout=timeout)
    if finished.code != 0:
        said = _last_line(finished.output) or f"exit {finished.code}"
        folders = ", ".join(plugin_dirs(environ))
        raise EngineError(
            f"`{docker} compose` does not run ({said}): install Docker's compose plugin "
            f"(docker-compose-plugin) so that the docker CLI finds it in one of {folders}"
        )
    return ComposeCLI(cli.docker, env, _last_line(finished.output))


def command_line(args: Sequence[str]) -> str:
    """``docker compose ARGS`` as a person would type it (for the lines certkit prints)."""
    return " ".join(shlex.quote(a) for a in ["docker", "compose", *args])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
