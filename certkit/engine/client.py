"""Talking to the Docker engine: connect (or probe), list a checkout's compose containers, read a file.

Through the Docker SDK for Python (PyPI ``docker``): maintained by Docker, it speaks the same engine
API the ``docker`` CLI does (unix socket, tcp with TLS, ssh, DOCKER_HOST/DOCKER_TLS_VERIFY/
DOCKER_CERT_PATH as the CLI reads them).  It is imported only inside these functions: a check with
no socket, or with ``--no-engine``, never loads it (the cron path stays light).

Every call is bounded by the timeout given at connect time; anything the engine does wrong becomes
an EngineError with one line (what happened, what to run).
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import socket
import tarfile
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from certkit import defaults
from certkit.engine.model import (
    CONFIG_FILES_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    WORKING_DIR_LABEL,
    ComposeContainer,
    Mount,
    PublishedPort,
)
from certkit.errors import EngineError
from certkit.text import one_line

DEFAULT_HOST = "unix:///var/run/docker.sock"  # where the CLI and the SDK look without DOCKER_HOST
DEFAULT_TIMEOUT = defaults.ENGINE_TIMEOUT  # seconds for each call to the engine
MAX_FILE_BYTES = 1024 * 1024  # as certkit.bounded: larger than any real bundle
_TAR_SLACK = 64 * 1024  # tar headers (PAX ones for long names) and padding around one file
_MAX_LINKS = 40  # as Linux's limit on symlinks followed in one lookup (ELOOP)
# Go's os.FileMode bits in the archive API's stat header (moby: api/types/container.PathStat).
_MODE_DIR = 1 << 31
_MODE_SYMLINK = 1 << 27
_NEVER_STARTED = "0001-01-01T00:00:00Z"  # Go's zero time: State.StartedAt of a container never started


class NoEngine(EngineError):
    """No engine answers there (no socket, connection refused): `probe` returns None for it."""


class ContainerFileError(Exception):
    """A container's file that certkit will not read: too large, not a regular file, a link loop."""


def engine_host(docker_host: str | None, environ: Mapping[str, str]) -> str:
    """--docker-host wins, then DOCKER_HOST, then the default socket (as the docker CLI decides)."""
    return docker_host or environ.get("DOCKER_HOST") or DEFAULT_HOST


def probe(docker_host: str | None, environ: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT) -> Engine | None:
    """The engine, or None when none answers there (no socket, refused): "no engine here" is no error.

    Raises:
        EngineError: an engine is there but cannot be used (permission denied, timeout, API error).
    """
    try:
        return connect(docker_host, environ, timeout=timeout)
    except NoEngine:
        return None


def connect(docker_host: str | None, environ: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """Connect to the engine and ping it once; every later call is bounded by ``timeout`` seconds.

    Raises:
        NoEngine: nothing answers at the address (an EngineError).
        EngineError: the engine cannot be used (permission denied, timeout, API error).
    """
    host = engine_host(docker_host, environ)
    if host.startswith("unix://"):
        # Checked with a plain socket first, so that "no engine here" costs no import of the SDK.
        _check_unix_socket(host, timeout)
    try:
        import docker
        from docker.utils import kwargs_from_env
    except ImportError as exc:  # a broken install: the SDK is a declared dependency
        raise EngineError(f"cannot talk to the Docker engine: the Docker SDK for Python is missing ({exc})") from exc
    kwargs: dict[str, Any] = dict(kwargs_from_env(environment=dict(environ)))
    kwargs["base_url"] = host
    try:
        # version="auto" asks the engine (GET /version) and speaks its API version: Debian's 20.10
        # speaks 1.41, and engines from 29 on refuse versions below 1.44, so none can be fixed here.
        client_class: Any = docker.APIClient  # its stubs say int seconds; requests takes a float
        api: Any = client_class(version="auto", timeout=timeout, **kwargs)
    except Exception as exc:  # DockerException wraps the requests/socket error of the version call
        raise _engine_error(host, exc, timeout) from exc
    engine = Engine(api, host, timeout)
    try:
        api.ping()
    except Exception as exc:
        engine.close()
        raise _engine_error(host, exc, timeout) from exc
    return engine


def _check_unix_socket(host: str, timeout: float) -> None:
    path = host[len("unix://") :]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except FileNotFoundError as exc:
        raise NoEngine(f"no Docker engine at {host}: no socket at {path}") from exc
    except ConnectionRefusedError as exc:
        raise NoEngine(f"no Docker engine at {host}: nothing listens on {path}") from exc
    except PermissionError as exc:
        raise EngineError(_denied(host)) from exc
    except TimeoutError as exc:
        raise EngineError(_slow(host, timeout)) from exc
    except OSError as exc:
        if exc.errno == errno.ENOTSOCK or exc.errno == errno.ECONNREFUSED:
            raise NoEngine(f"no Docker engine at {host}: {path} is not a socket") from exc
        raise EngineError(f"cannot reach the Docker engine at {host}: {exc.strerror or exc}") from exc
    finally:
        sock.close()


def _denied(host: str) -> str:
    return (
        f"cannot reach the Docker engine at {host}: permission denied; run certkit as a user in the docker "
        "group (or root), give --docker-host, or --no-engine to check the files only"
    )


def _slow(host: str, timeout: float) -> str:
    return (
        f"the Docker engine at {host} did not answer within {timeout:g} s; check it with `docker info`, "
        "give a longer --engine-timeout, or --no-engine to check the files only"
    )


def _engine_error(host: str, exc: BaseException, timeout: float, what: str = "") -> EngineError:
    """One line for an SDK failure: the socket error inside it when there is one."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, PermissionError) for e in chain) or "Permission denied" in text:
        return EngineError(_denied(host))
    if any(isinstance(e, (FileNotFoundError, ConnectionRefusedError)) for e in chain) or (
        "Connection refused" in text or "No such file or directory" in text
    ):
        return NoEngine(f"no Docker engine at {host}: {one_line(exc, 200)}")
    if any(isinstance(e, TimeoutError | socket.timeout) for e in chain) or "timed out" in text.lower():
        return EngineError(_slow(host, timeout))
    explanation = getattr(exc, "explanation", None) or one_line(exc, 200)
    return EngineError(f"the Docker engine at {host} failed{' to ' + what if what else ''}: {explanation}")


class Engine:
    """A connected engine.  Use it as a context manager, or call close()."""

    def __init__(self, api: Any, host: str, timeout: float) -> None:
        # docker.APIClient, typed Any: its stubs leave out the session helpers (_get, _url) used below.
        self.api = api
        self.host = host
        self.timeout = timeout

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- containers ---------------------------------------------------------------------------

    def containers_of(self, checkout: Path) -> list[ComposeContainer]:
        """Every container (running or not) Compose made for a project run from ``checkout``.

        Matched by the working-folder label against the checkout's real path (symlinks resolved on
        both sides), never by project name: another clone with the same folder name makes containers
        of the same project name, and those are not this checkout's.
        """
        real = os.path.realpath(checkout)
        try:
            listed: list[dict[str, Any]] = self.api.containers(all=True, filters={"label": [PROJECT_LABEL]})
        except Exception as exc:
            raise _engine_error(self.host, exc, self.timeout, "to list containers") from exc
        found = []
        for summary in listed:
            labels = summary.get("Labels") or {}
            folder = labels.get(WORKING_DIR_LABEL)
            if not folder or os.path.realpath(folder) != real:
                continue
            try:
                details: dict[str, Any] = self.api.inspect_container(summary["Id"])
            except Exception as exc:
                if getattr(exc, "status_code", None) == 404:
                    continue  # removed between the listing and now
                raise _engine_error(self.host, exc, self.timeout, "to inspect a container") from exc
            found.append(_container(details))
        return sorted(found, key=lambda c: (c.project, c.service, c.name))

    # --- files --------------------------------------------------------------------------------

    def read_file(self, container_id: str, path: str, *, max_bytes: int = MAX_FILE_BYTES) -> bytes | None:
        """The bytes of the file at ``path`` in the container (running or stopped), or None when the
        path does not exist there.

        Read through the archive API (`docker cp CONTAINER:PATH -`): through a bind mount it shows the
        host's current file, without one the image's copy.  A symlink is followed as the container
        would follow it: the engine resolves it in the container's own file system view.

        Raises:
            ContainerFileError: larger than ``max_bytes``, not a regular file, or a symlink loop.
            EngineError: the engine failed, or the container is gone.
        """
        current = posixpath.normpath(path)
        for _ in range(_MAX_LINKS):
            response = self._archive(container_id, current)
            if response is None:
                return None
            try:
                stat = _path_stat(response.headers)
                mode = int(stat.get("mode", 0))
                if mode & _MODE_SYMLINK:
                    target = str(stat.get("linkTarget") or "")
                    if not target:
                        raise ContainerFileError(f"{current}: a symlink the engine did not resolve")
                    current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
                    continue
                if mode & _MODE_DIR:
                    raise ContainerFileError(f"{current}: a folder, not a file")
                size = int(stat.get("size", 0))
                if size > max_bytes:
                    raise ContainerFileError(f"{current}: {size} bytes, larger than the {max_bytes} certkit reads")
                data = self._read_body(response, max_bytes + _TAR_SLACK)
            finally:
                response.close()
            return _single_file(data, current, max_bytes)
        raise ContainerFileError(f"{path}: more than {_MAX_LINKS} symlinks (a loop?)")

    def _archive(self, container_id: str, path: str) -> Any:
        """The streamed response of GET /containers/{id}/archive?path=, or None for a missing path."""
        try:
            # The SDK's get_archive() turns the socket timeout off for the body; this asks for the same
            # endpoint through the SDK's session so that every read stays bounded.
            response = self.api._get(
                self.api._url("/containers/{0}/archive", container_id), params={"path": path}, stream=True
            )
        except Exception as exc:
            raise _engine_error(self.host, exc, self.timeout, f"to read {path} in a container") from exc
        if response.status_code == 404:
            response.close()
            self._container_exists(container_id)
            return None
        try:
            self.api._raise_for_status(response)
        except Exception as exc:
            response.close()
            raise _engine_error(self.host, exc, self.timeout, f"to read {path} in a container") from exc
        return response

    def _container_exists(self, container_id: str) -> None:
        try:
            self.api.inspect_container(container_id)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                raise EngineError(f"container {container_id[:12]} is gone (removed while certkit read it)") from exc
            raise _engine_error(self.host, exc, self.timeout, "to inspect a container") from exc

    def _read_body(self, response: Any, limit: int) -> bytes:
        deadline = time.monotonic() + self.timeout * 4
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise ContainerFileError(f"the archive is larger than the {limit} bytes certkit reads")
                if time.monotonic() > deadline:
                    raise EngineError(_slow(self.host, self.timeout))
        except (ContainerFileError, EngineError):
            raise
        except Exception as exc:
            raise _engine_error(self.host, exc, self.timeout, "to send a container's file") from exc
        return b"".join(chunks)


def _path_stat(headers: Mapping[str, str]) -> dict[str, Any]:
    from docker.utils import decode_json_header

    header = headers.get("X-Docker-Container-Path-Stat")
    if not header:
        return {}
    stat: dict[str, Any] = decode_json_header(header)
    return stat


def _single_file(data: bytes, path: str, max_bytes: int) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                if member.size > max_bytes:
                    raise ContainerFileError(f"{path}: {member.size} bytes, larger than the {max_bytes} certkit reads")
                handle = tar.extractfile(member)
                if handle is None:
                    break
                return handle.read()
    raise ContainerFileError(f"{path}: not a regular file")


def _container(details: dict[str, Any]) -> ComposeContainer:
    config = details.get("Config") or {}
    labels: dict[str, str] = config.get("Labels") or {}
    state = details.get("State") or {}
    health = (state.get("Health") or {}).get("Status") or None
    started_text = state.get("StartedAt") or _NEVER_STARTED
    mounts = tuple(
        Mount(
            type=str(m.get("Type", "")),
            source=str(m.get("Source", "")),
            destination=str(m.get("Destination", "")),
            read_only=not m.get("RW", True),
        )
        for m in details.get("Mounts") or []
    )
    ports: list[PublishedPort] = []
    for key, bindings in ((details.get("NetworkSettings") or {}).get("Ports") or {}).items():
        number, _, protocol = key.partition("/")
        for binding in bindings or []:
            if binding.get("HostPort"):
                ports.append(
                    PublishedPort(int(number), protocol or "tcp", binding.get("HostIp") or "", int(binding["HostPort"]))
                )
    files = labels.get(CONFIG_FILES_LABEL, "")
    return ComposeContainer(
        id=str(details["Id"]),
        name=str(details.get("Name", "")).lstrip("/"),
        project=labels.get(PROJECT_LABEL, ""),
        service=labels.get(SERVICE_LABEL, ""),
        working_dir=Path(labels.get(WORKING_DIR_LABEL, "")),
        config_files=tuple(Path(f) for f in files.split(",") if f),
        state=str(state.get("Status", "unknown")),
        health=str(health) if health else None,
        image_id=str(details.get("Image", "")),
        created=_moment(str(details.get("Created", _NEVER_STARTED))) or datetime.fromtimestamp(0, timezone.utc),
        started=_moment(started_text),
        mounts=mounts,
        ports=tuple(sorted(ports, key=lambda p: (p.container_port, p.host_ip, p.host_port))),
    )


def _moment(text: str) -> datetime | None:
    """RFC 3339 with Go's nanoseconds (2026-11-02T10:11:12.123456789Z); None for Go's zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    body = text.rstrip("Z")
    offset = "+00:00"
    for sign in ("+", "-"):
        head, found, tail = body.rpartition(sign)
        if found and "T" in head and ":" in tail and len(tail) == 5:
            body, offset = head, sign + tail
            break
    if "." in body:
        whole, fraction = body.split(".", 1)
        body = f"{whole}.{fraction[:6]}"
    try:
        return datetime.fromisoformat(body + offset).astimezone(timezone.utc)
    except ValueError:
        return None


__all__ = [
    "ContainerFileError",
    "DEFAULT_HOST",
    "DEFAULT_TIMEOUT",
    "Engine",
    "MAX_FILE_BYTES",
    "NoEngine",
    "connect",
    "engine_host",
    "probe",
]
