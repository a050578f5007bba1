"""After `certkit renew`, a real postgres and Notary's services trust each other again.

Debian's postgresql 15 stands in for Notary's postgres:9.5.4 container: set up from Notary's own
notarysql/postgresql-initdb.d (read in place, see tests/postgres_harness.py for the two pg_hba
adaptations a newer postgres needs), with Debian's notary-server and notary-signer on Notary's
*.postgres.json configs.  The data folder is kept throughout, as the docker volume is.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.notary_harness import publish_and_list
from tests.postgres_harness import Postgres, notary_on_postgres, notary_postgres, pg_bin, server_start_failure

INITDB = "notarysql/postgresql-initdb.d"
MARKER = "written before the renewal"


def _certkit(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certkit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **(env_extra or {})},
    )


def _run_as_printed(line: str, pg: Postgres) -> subprocess.CompletedProcess[str]:
    """Run a line certkit printed.  The only change: PGDATA, the placeholder for the data
    folder, is this test's data folder; `certkit` is this interpreter's certkit, and pg_ctl
    (off PATH on Debian) runs as the postgres user, as any pg_ctl must."""
    argv = [str(pg.pgdata) if word == "PGDATA" else word for word in shlex.split(line)]
    if argv[0] == "certkit":
        return _certkit(*argv[1:])
    assert argv[0] == "pg_ctl", line
    return subprocess.run(pg.as_user([pg_bin("pg_ctl"), *argv[1:]]), capture_output=True, text=True, timeout=60)


def _wait_for_reload(pg: Postgres, before: int) -> None:
    """pg_ctl reload only signals postgres: poll its log until the postmaster has re-read
    its configuration (SSL files included, postgres 10+)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pg.log.read_text().count("received SIGHUP") > before:
            return
        time.sleep(0.05)  # poll interval
    raise AssertionError(f"postgres did not reload:\n{pg.log.read_text()[-2000:]}")


def _host_step(out: str, pg: Postgres) -> None:
    """certkit's step for a data folder reachable here, exactly as printed, then the reload it prints."""
    step = next(line.split(": ", 1)[1] for line in out.splitlines() if "certkit db-deploy" in line)
    step = step.split(" (then")[0]
    deployed = _run_as_printed(step, pg)
    assert deployed.returncode == 0, deployed.stderr
    assert "postgres 15 reloads SSL files on SIGHUP" in deployed.stdout
    reload_line = next(line.strip() for line in deployed.stdout.splitlines() if line.strip().startswith("pg_ctl"))
    sighups = pg.log.read_text().count("received SIGHUP")
    reloaded = _run_as_printed(reload_line, pg)
    assert reloaded.returncode == 0, reloaded.stderr
    _wait_for_reload(pg, sighups)
    assert "could not load" not in pg.log.read_text().split("received SIGHUP")[-1]


def _container_step(out: str, pg: Postgres, checkout: Path) -> None:
    """The two lines printed for Notary's container, without Docker: `docker compose exec -T
    postgresql sh -c SCRIPT` is SCRIPT run by sh as root with the container's PGDATA, where the
    container's /docker-entrypoint-initdb.d is the checkout's folder; `docker compose restart
    postgresql` is a restart with the same data folder."""
    prefix = "docker compose -f docker-compose.postgresql.yml "
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith(prefix)]
    exec_line, restart_line = lines[0], lines[1]
    argv = shlex.split(exec_line)
    assert argv[:9] == [*shlex.split(prefix), "exec", "-T", "postgresql", "sh", "-c"] and len(argv) == 10, exec_line
    assert restart_line == prefix + "restart postgresql"
    script = argv[9].replace("/docker-entrypoint-initdb.d", str(checkout / INITDB))
    subprocess.run(["sh", "-c", script], env={**os.environ, "PGDATA": str(pg.pgdata)}, check=True, timeout=60)
    pg.restart()


@pytest.mark.parametrize("route", ["host", "container"])
def test_renewed_database_set_reaches_a_real_postgres_without_data_loss(reference_copy: Path, route: str) -> None:
    """route "host": `certkit db-deploy --pgdata` as printed; "container": the lines printed for
    Notary's compose file, run against the same kind of data folder."""
    checkout = reference_copy
    # lib/pq refuses a client key readable by others before any TLS is tried; 0600 here so what
    # the expired set shows is the expiry, not the clone's 0644 (certkit renew sets 0600 itself).
    for key in (checkout / "fixtures" / "database").glob("*-key.pem"):
        key.chmod(0o600)
    with notary_postgres(checkout / INITDB, checkout / "migrations") as pg:
        pg.sql(
            "notaryserver", f"CREATE TABLE certkit_marker (note text); INSERT INTO certkit_marker VALUES ('{MARKER}');"
        )

        # The expired set: notary-server cannot even start on the database.
        expired = server_start_failure(checkout, pg)
        assert "Error starting postgres driver: x509: certificate has expired or is not yet valid" in expired, expired

        # The postgres project is the one in use (COMPOSE_FILE, no engine here): renew shows its database
        # step in full (on the default MariaDB project it is one line; tests/test_renew_output.py).
        in_use = {"COMPOSE_FILE": "docker-compose.postgresql.yml", "DOCKER_HOST": f"unix://{checkout}/no-docker.sock"}
        renewed = _certkit("renew", str(checkout), env_extra=in_use)
        assert renewed.returncode == 0, renewed.stderr
        out = renewed.stdout
        assert "database-ca" in out and "root.crt in its data folder" in out
        assert "--force-recreate postgresql" not in out.split("compose:")[0]  # the old, wrong advice is gone
        assert "docker compose -f docker-compose.postgresql.yml exec -T postgresql sh -c" in out

        # Today's advice (recreate the container): the same data folder, a new process, no
        # initdb script.  postgres still presents the old server certificate from the old CA.
        pg.restart()
        after_restart = server_start_failure(checkout, pg)
        assert "Error starting postgres driver: x509: certificate" in after_restart, after_restart

        if route == "host":
            _host_step(out, pg)
        else:
            _container_step(out, pg, checkout)

        # Both services connect with sslmode=verify-ca and their renewed client certificates,
        # and a publish goes through the signer and server into postgres.
        with notary_on_postgres(checkout, pg) as services:
            listed = publish_and_list(services.folder, services, checkout / "fixtures" / "root-ca.crt")
        assert re.search(r"^\s*v1\s", listed, re.MULTILINE), listed
        assert int(pg.sql("notaryserver", "SELECT count(*) FROM tuf_files WHERE gun = 'example.com/demo'")) >= 4
        assert int(pg.sql("notarysigner", "SELECT count(*) FROM private_keys")) >= 1
        assert pg.sql("notaryserver", "SELECT note FROM certkit_marker") == MARKER  # the data folder was kept
        deployed_key = (pg.pgdata / "server.key").stat()  # what postgres accepted: its user's, 0600
        assert (deployed_key.st_uid, deployed_key.st_mode & 0o777) == (pg.pgdata.stat().st_uid, 0o600)
        assert (pg.pgdata / "root.crt").read_bytes() == (checkout / INITDB / "root.crt").read_bytes()
