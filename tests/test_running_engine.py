"""check-expiry and status judge what runs: Notary's own compose project in a real Docker engine.

Notary's docker-compose.yml, server.Dockerfile and signer.Dockerfile, unmodified, build images that
bake the expired fixtures (the golang stand-in image of tests/docker_engine.py); memory.yml swaps
mariadb for the memory-storage configs, as in tests/test_docker_engine.py.  One engine (the
session's) and one build serve every step, in the order a user meets them:

a. the expired checkout running: check-expiry (no --connect) reports each container's certificate;
b. after `renew --no-compose`: the containers run the image's copies: BAKED, exit 2;
c. after `renew` (override written) but before recreating: STALE, exit 2, the hint is the recreate;
d. after the printed `docker compose up -d --force-recreate ...`: exit 0;
e. a renewal under the mounts with the processes still serving the old one: STALE (restart), then
   `docker compose restart`: exit 0.
`certkit status` (tree and --json) says the same at each step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compose_helpers import NOTARY_WD, docker_compose
from tests.docker_engine import ComposeProject, DockerEngine, served_certificate
from tests.notary_harness import free_port
from tests.test_docker_engine import USER_COMPOSE_FILE, _printed_up_command, certkit, clone

pytestmark = [pytest.mark.engine, pytest.mark.x86_only]

PROJECT = "certkit-running"
SERVER_CRT = f"{NOTARY_WD}/fixtures/notary-server.crt"
WITH_OVERRIDE = USER_COMPOSE_FILE + ":docker-compose.override.yml"


class Steps:
    """The checkout, its running project and the environment a user's shell has for it."""

    def __init__(self, engine: DockerEngine, checkout: Path, project: ComposeProject, port: int) -> None:
        self.engine, self.checkout, self.project, self.port = engine, checkout, project, port

    def env(self, compose_file: str = USER_COMPOSE_FILE) -> dict[str, str]:
        return {"DOCKER_HOST": self.engine.env["DOCKER_HOST"], "COMPOSE_FILE": compose_file}

    def check(self, *args: str, expect: int | None, compose_file: str = USER_COMPOSE_FILE) -> dict[str, Any]:
        """check-expiry --json; ``expect`` None: any Nagios code (0-2) will do."""
        env = self.env(compose_file)
        if expect is None:
            result = subprocess.run(
                [sys.executable, "-m", "certkit", "check-expiry", "--json", *args, "."],
                cwd=self.checkout,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode in (0, 1, 2), result.stdout + result.stderr
        else:
            result = certkit(self.checkout, "check-expiry", "--json", *args, ".", env=env, expect=expect)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def status(self, *, expect: int, compose_file: str = USER_COMPOSE_FILE) -> tuple[dict[str, Any], str]:
        env = self.env(compose_file)
        tree = certkit(self.checkout, "status", "--no-color", ".", env=env, expect=expect).stdout
        document: dict[str, Any] = json.loads(
            certkit(self.checkout, "status", "--json", ".", env=env, expect=expect).stdout
        )
        return document, tree

    def served(self) -> bytes:
        return served_certificate(self.port, timeout=180, alive=lambda: self.project.container_problem("server"))


@pytest.fixture(scope="module")
def steps(engine: DockerEngine, golang_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Steps]:
    from tests.conftest import reference_path

    checkout, port = tmp_path_factory.mktemp("running") / "notary", free_port()
    clone(reference_path(), checkout, port)
    user_env = {"COMPOSE_FILE": USER_COMPOSE_FILE}
    with ComposeProject(engine, docker_compose(), checkout, PROJECT, user_env) as project:
        project.run("up", "-d", "--build")
        running = Steps(engine, checkout, project, port)
        running.served()  # up and serving
        yield running


def _containers(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """check-expiry's container records by `container:/path`."""
    return {r["path"]: r for r in document["certificates"] if r["source"] == "container"}


def _server_row(document: dict[str, Any]) -> dict[str, Any]:
    rows = [r for path, r in _containers(document).items() if path.endswith(":" + SERVER_CRT)]
    server = [r for r in rows if r["runs"]["service"] == "server"]
    assert len(server) == 1, json.dumps(document, indent=1)[-4000:]
    return server[0]


def _runs_of(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    stack = list(document["roots"])
    while stack:
        node = stack.pop()
        if node["name"] == name:
            return list(node["runs"])
        stack.extend(node["children"])
    raise AssertionError(f"no node {name}")


def _disk_leaf_fingerprint(checkout: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    leaf = x509.load_pem_x509_certificates((checkout / "fixtures" / "notary-server.crt").read_bytes())[0]
    return leaf.fingerprint(hashes.SHA256()).hex()


def test_what_runs_from_expired_to_deployed(steps: Steps, reference_dir: Path) -> None:
    checkout = steps.checkout
    # a. The expired checkout running: the containers' own certificates are reported, expired.
    document = steps.check(expect=2)
    row = _server_row(document)
    assert row["runs"]["container"].startswith(PROJECT + "-server-") and row["runs"]["state"] == "running"
    assert row["runs"]["verdict"] == "ok" and "expired" in row["codes"] and row["status"] == "CRITICAL"
    assert row["fingerprint_sha256"].replace(":", "").lower() == _disk_leaf_fingerprint(checkout)
    assert any(r["runs"]["service"] == "signer" for r in _containers(document).values())
    runs = _runs_of(steps.status(expect=2)[0], "notary-server")
    assert {r["service"] for r in runs} == {"server", "signer"} and all(r["verdict"] == "ok" for r in runs)

    # b. Renewed without the compose step: the containers (and the next `up`) run the image's copies.
    certkit(checkout, "renew", "--no-compose", env=steps.env())
    document = steps.check(expect=2)
    row = _server_row(document)
    assert row["runs"]["verdict"] == "baked" and "baked" in row["codes"], row
    assert row["fingerprint_sha256"].replace(":", "").lower() != _disk_leaf_fingerprint(checkout)
    assert "certkit compose" in " ".join(row["reasons"])
    status, tree = steps.status(expect=2)
    assert any(r["verdict"] == "baked" for r in _runs_of(status, "notary-server"))
    assert "BAKED" in tree and f"{PROJECT}-server-" in tree

    # c. The README's fix from the clone: renew writes the override; the containers predate it.
    clone(reference_dir, checkout, steps.port)
    renewed = certkit(checkout, "renew", env=steps.env())
    command = _printed_up_command(renewed)
    # The engine shows the project running: the action is its own line, the one --deploy would run.
    assert command.startswith(f"docker compose -p {PROJECT} --project-directory ") and "--no-build" in command
    assert f"compose project {PROJECT} runs from this checkout" in renewed.stderr.splitlines()[1]
    document = steps.check(expect=2, compose_file=WITH_OVERRIDE)
    row = _server_row(document)
    assert row["runs"]["verdict"] == "stale" and "stale" in row["codes"], row
    assert "docker compose up -d --force-recreate server" in " ".join(row["reasons"])
    status, tree = steps.status(expect=2, compose_file=WITH_OVERRIDE)
    assert any(r["verdict"] == "stale" for r in _runs_of(status, "notary-server"))
    # The user's shell without the override in COMPOSE_FILE: its next `up` would run the image's copies.
    assert _server_row(steps.check(expect=2))["runs"]["verdict"] == "baked"

    # d. The printed line: the containers mount the renewed files; what runs is what is on disk.
    steps.project.run_printed(command)
    steps.served()
    document = steps.check(expect=0, compose_file=WITH_OVERRIDE)
    row = _server_row(document)
    assert row["runs"]["verdict"] == "ok" and row["status"] == "OK", row
    assert row["fingerprint_sha256"].replace(":", "").lower() == _disk_leaf_fingerprint(checkout)
    status, tree = steps.status(expect=0, compose_file=WITH_OVERRIDE)
    assert all(r["verdict"] == "ok" for r in _runs_of(status, "notary-server"))
    assert "certificates: OK" in tree

    # e. A renewal under the mounts: the container sees the new file, the process serves the old one.
    before = steps.served()
    certkit(checkout, "renew", "--force", env=steps.env(WITH_OVERRIDE))
    document = steps.check(expect=2, compose_file=WITH_OVERRIDE)
    row = _server_row(document)
    assert row["runs"]["verdict"] == "stale", row
    text = " ".join(row["reasons"])
    assert "still serves" in text and "docker compose restart server" in text, text
    steps.project.run("restart", "-t", "1", "server", "signer")
    assert steps.served() != before
    steps.check(expect=0, compose_file=WITH_OVERRIDE)
    steps.status(expect=0, compose_file=WITH_OVERRIDE)


def test_a_stopped_container_is_reported_and_left_stopped(steps: Steps) -> None:
    steps.project.run("stop", "-t", "1", "signer")
    try:
        document = steps.check(expect=None, compose_file=WITH_OVERRIDE)
        signer_rows = [r for r in _containers(document).values() if r["runs"]["service"] == "signer"]
        assert signer_rows and all(r["runs"]["state"] == "exited" for r in signer_rows)
        state = steps.engine.docker("inspect", "--format", "{{.State.Status}}", f"{PROJECT}-signer-1").stdout.strip()
        assert state == "exited"  # certkit never starts it
    finally:
        steps.project.run("start", "signer")


def test_a_container_of_another_folder_with_the_same_project_name_is_not_reported(
    steps: Steps, busybox_image: str, tmp_path: Path
) -> None:
    """Another clone started under the same project name (labels as Compose writes them): certkit
    neither reports nor touches its container."""
    other = tmp_path / "notary"
    other.mkdir()
    labels = {
        "com.docker.compose.project": PROJECT,
        "com.docker.compose.service": "server",
        "com.docker.compose.project.working_dir": str(other),
        "com.docker.compose.project.config_files": str(other / "docker-compose.yml"),
    }
    flags = [word for key, value in labels.items() for word in ("--label", f"{key}={value}")]
    name = "certkit-running-other-server"
    steps.engine.docker("run", "-d", "--name", name, *flags, busybox_image, "sleep", "3600")
    try:
        before = steps.engine.docker("inspect", "--format", "{{.State.StartedAt}} {{.State.Status}}", name).stdout
        document = steps.check(expect=None, compose_file=WITH_OVERRIDE)
        assert not [r for r in document["certificates"] if name in r["path"]], "another folder's container reported"
        assert all(r["runs"]["container"].startswith(PROJECT + "-") for r in _containers(document).values())
        after = steps.engine.docker("inspect", "--format", "{{.State.StartedAt}} {{.State.Status}}", name).stdout
        assert after == before and "running" in after
    finally:
        steps.engine.docker("rm", "-f", name, check=False)
