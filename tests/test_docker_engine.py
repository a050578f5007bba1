"""Proof in a real Docker engine: the bug users hit, and the README's fix, with Notary's own files.

Debian's dockerd runs for the session (tests/docker_engine.py).  Notary's docker-compose.yml,
server.Dockerfile and signer.Dockerfile are used unmodified from a copy of the reference checkout;
the only change is the database: `memory.yml`, written by the test, points server and signer at
the memory-storage configs the checkout already has (same TLS files) and leaves mariadb out, since
no registry is reachable here.  What the containers serve is read over TLS from the published port.

a. The bug: regenerating the files alone, then `docker compose down -v && docker compose up -d`,
   still serves the expired certificate (it was copied into the image at build time).
b. The fix as the README tells it: `certkit renew`, then the `docker compose up -d
   --force-recreate ...` line it prints: the server serves the renewed certificate byte for byte,
   and the notary client on the host publishes through it (server -> signer inside the engine).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.compose_helpers import docker_compose
from tests.docker_engine import ComposeProject, DockerEngine, served_certificate
from tests.notary_harness import NotaryClientError, free_port, publish_and_list

pytestmark = pytest.mark.engine

# Notary's own memory-storage configs (fixtures/server-config-local.json, signer-config-local.json)
# read the same TLS files as the mariadb ones; only the storage differs.
MEMORY_YML = """\
# The certkit engine test swaps out the database and nothing else: mariadb's image cannot be
# pulled here, so the services use Notary's own memory-storage configs (same TLS files).
services:
  server:
    command: -c "./migrations/migrate.sh && notary-server -config=fixtures/server-config-local.json"
    depends_on: !override [signer]
    ports: !override ["127.0.0.1:{port}:4443"]  # a free port, on loopback only
    init: true  # a real pid 1, so `down` does not wait out Compose's 10 s stop timeout
  signer:
    command: -c "./migrations/migrate.sh && notary-signer -config=fixtures/signer-config-local.json"
    depends_on: !reset []
    init: true
  mysql:
    profiles: [database]  # never started by a plain `up`
"""
USER_COMPOSE_FILE = "docker-compose.yml:memory.yml"


def clone(reference_dir: Path, checkout: Path, port: int) -> None:
    """The checkout as a user has it after `git clone` (a writable copy), plus the test's memory.yml."""
    shutil.rmtree(checkout, ignore_errors=True)
    shutil.copytree(reference_dir, checkout)
    for path in [checkout, *checkout.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    (checkout / "memory.yml").write_text(MEMORY_YML.format(port=port))


def certkit(checkout: Path, *args: str, env: dict[str, str], expect: int = 0) -> subprocess.CompletedProcess[str]:
    """certkit as a user runs it in the checkout, with the same shell environment as docker compose."""
    result = subprocess.run(
        [sys.executable, "-m", "certkit", *args],
        cwd=checkout,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == expect, (
        f"certkit {' '.join(args)} exited {result.returncode}, not {expect}:\n{result.stdout}{result.stderr}"
    )
    return result


def first_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def served(project: ComposeProject, port: int) -> x509.Certificate:
    der = served_certificate(port, timeout=180, alive=lambda: project.container_problem("server"))
    return x509.load_der_x509_certificate(der)


def test_renewed_certificates_reach_the_containers(
    engine: DockerEngine, golang_image: str, reference_dir: Path, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    checkout, port = tmp_path / "notary", free_port()
    clone(reference_dir, checkout, port)
    expired = first_certificate(checkout / "fixtures" / "notary-server.crt")
    assert expired.not_valid_after_utc < now  # the reference set as cloned: the premise of the test
    user_env = {"COMPOSE_FILE": USER_COMPOSE_FILE}
    with ComposeProject(engine, docker_compose(), checkout, "certkit-engine", user_env) as project:
        # a. The user's services, built from the expired checkout and serving its certificate.
        project.run("up", "-d", "--build")
        assert served(project, port) == expired
        images = _image_ids(engine, project)

        # Regenerating the files without certkit's compose step, then the usual restart ...
        certkit(checkout, "renew", "--no-compose", env=user_env)
        renewed = first_certificate(checkout / "fixtures" / "notary-server.crt")
        assert renewed != expired and renewed.not_valid_after_utc > now
        project.run("down", "-v")
        project.run("up", "-d")
        # ... serves the expired certificate still: the one copied into the image at build time.
        still = served(project, port)
        assert still == expired, "the bug did not show: the container served something else than the baked file"
        assert still.not_valid_after_utc == expired.not_valid_after_utc < now
        # The notary client trusting the renewed root refuses it, as users saw; certkit's live check
        # sees the served leaf is not the file on disk.
        with pytest.raises(NotaryClientError, match="x509: certificate"):
            publish_and_list(
                _client_folder(tmp_path / "client-a"), _Remote(port), checkout / "fixtures" / "root-ca.crt"
            )
        live = certkit(checkout, "check-expiry", "--connect", f"localhost:{port}", ".", env=user_env, expect=2)
        assert "STALE" in live.stdout, live.stdout

        # b. The README's fix, from the expired checkout as cloned (a renewal of files that are
        # already fresh has nothing to do): the images stay as built, their containers running.
        clone(reference_dir, checkout, port)
        renewed_run = certkit(checkout, "renew", env=user_env)
        assert (checkout / "docker-compose.override.yml").read_text().startswith("# certkit-compose-override")
        command = _printed_up_command(renewed_run)
        project.run_printed(command)
        renewed = first_certificate(checkout / "fixtures" / "notary-server.crt")
        assert renewed.not_valid_after_utc > now
        now_served = served(project, port)
        assert now_served.public_bytes(Encoding.DER) == renewed.public_bytes(Encoding.DER), (
            f"served notAfter {now_served.not_valid_after_utc}, the renewed file's {renewed.not_valid_after_utc}"
        )
        # The notary client on the host, trusting the renewed root, publishes and lists through
        # the containerised server, which signs through the containerised signer (mutual TLS).
        listing = publish_and_list(
            _client_folder(tmp_path / "client-b"), _Remote(port), checkout / "fixtures" / "root-ca.crt"
        )
        assert "v1" in listing.split()
        assert _image_ids(engine, project) == images  # the mounts did it, not a rebuild
        # The README's proof step: the served chain is the renewed one (exit 0, no STALE), in the shell
        # renew's note asks for (COMPOSE_FILE with the override: without it, `up` would run BAKED copies).
        with_override = {"COMPOSE_FILE": USER_COMPOSE_FILE + ":docker-compose.override.yml"}
        certkit(checkout, "check-expiry", "--connect", f"localhost:{port}", ".", env=with_override)
        certkit(checkout, "check-expiry", ".", env=user_env, expect=2)


class _Remote:
    """The containerised notary-server as the host's notary client reaches it (the name is in its SANs)."""

    def __init__(self, port: int) -> None:
        self.server_url = f"https://localhost:{port}"


def _image_ids(engine: DockerEngine, project: ComposeProject) -> list[str]:
    names = [f"{project.name}-{service}" for service in ("server", "signer")]
    return engine.docker("image", "inspect", "--format", "{{.Id}}", *names).stdout.split()


def _client_folder(path: Path) -> Path:
    path.mkdir()
    return path


def _printed_up_command(result: subprocess.CompletedProcess[str]) -> str:
    """The action certkit renew prints first, on stderr, for the user to run:
    `next: [cd DIR && ][VAR=value ...] docker compose ... up -d ...` (with an engine that shows the
    project running: that project's exact `docker compose -p ... up -d --force-recreate ...` line)."""
    first = result.stderr.splitlines()[0] if result.stderr else ""
    assert first.startswith("next: "), f"certkit renew printed no action first:\n{result.stderr}{result.stdout}"
    line = first.removeprefix("next: ")
    if line.startswith("cd "):
        line = line.split(" && ", 1)[1]
    assert re.match(r"(\S+=\S+\s+)*docker compose( .*)? up -d ", line), line
    assert "server" in line.split() and "signer" in line.split(), line
    assert result.stdout.count(" up -d ") == 0, result.stdout  # one action, not one per compose file
    return line
