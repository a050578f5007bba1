"""What runs, without an engine: the pre-deploy BAKED check on Notary's real checkout, the engine
options, and engines that are absent, silent or refused (real sockets), at the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose_helpers import NOTARY_WD

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/certkit-test/docker.sock"}
BAKED_SERVER = f"server:{NOTARY_WD}/fixtures/notary-server.crt"


def certkit(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certkit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "COMPOSE_FILE")}, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def _compose_rows(output: str) -> dict[str, dict[str, object]]:
    return {r["path"]: r for r in json.loads(output)["certificates"] if r["source"] == "compose"}


def test_renew_without_compose_fails_as_baked_and_renew_passes(reference_copy: Path, tmp_path: Path) -> None:
    """The pre-deploy check on Notary's checkout: `renew --no-compose` leaves `docker compose up` running
    the image's copies (BAKED, exit 2, no engine needed); `renew` writes the override: exit 0."""
    baked = tmp_path / "baked"
    mounted = tmp_path / "mounted"
    import shutil

    shutil.copytree(reference_copy, baked)
    shutil.copytree(reference_copy, mounted)
    assert certkit("renew", "--no-compose", str(baked), env=NO_ENGINE).returncode == 0
    assert certkit("renew", str(mounted), env=NO_ENGINE).returncode == 0

    result = certkit("check-expiry", "--json", str(baked), env=NO_ENGINE)
    assert result.returncode == 2, result.stdout + result.stderr
    rows = _compose_rows(result.stdout)
    assert BAKED_SERVER in rows and rows[BAKED_SERVER]["codes"] == ["baked"], sorted(rows)
    assert {r["runs"]["service"] for r in rows.values()} == {"server", "signer"}  # type: ignore[index]
    assert json.loads(result.stdout)["summary"]["counts"]["CRITICAL"] == len(rows)  # nothing else is wrong
    notes = json.loads(result.stdout)["summary"]["notes"]
    assert sum("no Docker engine" in n for n in notes) == 1, notes  # said once, not an error
    # --no-engine changes nothing here: the compose analysis needs no engine.
    assert certkit("check-expiry", "-q", "--no-engine", str(baked)).returncode == 2
    table = certkit("check-expiry", "-q", "--no-engine", str(baked)).stdout
    assert "BAKED" in table and "certkit compose" in table
    nagios = certkit("check-expiry", "--format", "nagios", "--no-engine", str(baked))
    assert nagios.stdout.startswith("CERTKIT CRITICAL") and "BAKED" in nagios.stdout
    prom = certkit("check-expiry", "--format", "prometheus", "--no-engine", str(baked)).stdout
    assert f'certkit_running_mismatch{{path="{BAKED_SERVER}",service="server"' in prom
    html = certkit("check-expiry", "--format", "html", "--no-engine", str(baked)).stdout
    assert "BAKED" in html
    status = certkit("status", "--json", "--no-engine", str(baked))
    assert status.returncode == 2 and '"verdict": "baked"' in status.stdout
    assert "BAKED" in certkit("status", "--no-engine", str(baked)).stdout

    # renew's compose step mounts the files: the same check passes.
    passed = certkit("check-expiry", "--json", str(mounted), env=NO_ENGINE)
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert _compose_rows(passed.stdout) == {}
    assert certkit("status", "--no-engine", str(mounted)).returncode == 0


def test_compose_file_from_the_environment_decides_the_project(reference_copy: Path) -> None:
    """COMPOSE_FILE names the project `docker compose up` runs: without the override, BAKED."""
    assert certkit("renew", str(reference_copy), env=NO_ENGINE).returncode == 0
    plain = {**NO_ENGINE, "COMPOSE_FILE": "docker-compose.yml"}
    assert certkit("check-expiry", "-q", ".", env=plain, cwd=reference_copy).returncode == 2
    with_override = {**NO_ENGINE, "COMPOSE_FILE": "docker-compose.yml:docker-compose.override.yml"}
    assert certkit("check-expiry", "-q", ".", env=with_override, cwd=reference_copy).returncode == 0
    (reference_copy / ".env").write_text("COMPOSE_FILE=docker-compose.yml\n")
    assert certkit("check-expiry", "-q", ".", env=NO_ENGINE, cwd=reference_copy).returncode == 2


def test_no_engine_never_imports_the_docker_sdk(reference_copy: Path) -> None:
    code = (
        "import sys\n"
        "from certkit.cli import main\n"
        "try:\n"
        f"    main(['check-expiry', '-q', {str(reference_copy)!r}] + sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('docker' in sys.modules)\n"
    )
    for extra, env in ((["--no-engine"], {}), ([], NO_ENGINE)):
        result = subprocess.run(
            [sys.executable, "-c", code, *extra],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **env},
        )
        assert result.stdout.strip().splitlines()[-1] == "False", result.stdout + result.stderr


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that accepts and never answers: an engine hung."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(timeout=10)
        for sock in accepted:
            sock.close()
        server.close()


def test_a_silent_engine_is_a_bounded_wait_and_one_line(reference_copy: Path, silent_socket: Path) -> None:
    started = time.monotonic()
    named = certkit(
        "check-expiry", "--docker-host", f"unix://{silent_socket}", "--engine-timeout", "0.5", str(reference_copy)
    )
    assert named.returncode == 3, named.stdout + named.stderr
    assert named.stdout == ""  # the engine is asked before the first finding is written (the findings stream)
    assert named.stderr.count("\n") == 1 and "did not answer within 0.5 s" in named.stderr, named.stderr
    assert "Traceback" not in named.stderr
    # Found through DOCKER_HOST (not named): a note, and the files are still judged.
    auto = certkit(
        "check-expiry", "--engine-timeout", "0.5", str(reference_copy), env={"DOCKER_HOST": f"unix://{silent_socket}"}
    )
    assert auto.returncode == 2 and "note: what runs was not checked" in auto.stdout, auto.stdout[-2000:]
    assert "did not answer within 0.5 s" in auto.stdout
    assert time.monotonic() - started < 120  # bounded (the SDK's own default is 60 s per call)


def test_engine_options_contradicting_is_a_usage_error(reference_copy: Path) -> None:
    result = certkit("check-expiry", "--no-engine", "--docker-host", "unix:///x.sock", str(reference_copy))
    assert result.returncode == 3 and "contradict" in result.stderr
    result = certkit("status", "--no-engine", "--docker-host", "unix:///x.sock", str(reference_copy))
    assert result.returncode == 3 and "contradict" in result.stderr
