"""A real postgres (Debian's `postgresql` package) on loopback, set up the way Notary's
docker-compose.postgresql.yml gets it: initdb, then Notary's notarysql/postgresql-initdb.d
scripts read in place, exactly as the official image's entrypoint runs them on the first start
of an empty volume.

The cluster lives in its own temp folder (data folder and unix socket), runs as the `postgres`
user (setpriv) when the test runs as root, listens on a free port of 127.0.0.1 and is always
stopped with `pg_ctl stop`, even when the test fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.notary_harness import IN_CI, NotaryServices, free_port

INITDB_SCRIPTS = "notarysql/postgresql-initdb.d"
# The folder the official image mounts the initdb scripts at; tls-setup.sh copies from there.
CONTAINER_INITDB = "/docker-entrypoint-initdb.d"


def pg_bin(name: str) -> str:
    """A postgres server binary (Debian keeps them off PATH, in /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        message = f"{name} not found: install Debian's postgresql package (apt-get install -y postgresql)"
        if IN_CI:
            pytest.fail(message + " -- required under CI=true")
        pytest.skip(message)
    return found[-1]


def require_root() -> None:
    """tls-setup.sh chowns to postgres and the server must run as a non-root user: root is needed."""
    if os.geteuid() != 0:
        message = "the real-postgres test needs root (tls-setup.sh chowns to postgres; postgres runs as that user)"
        if IN_CI:
            pytest.fail(message + " -- required under CI=true")
        pytest.skip(message)


@dataclass
class Postgres:
    base: Path  # the temp folder holding data/ and sock/
    pgdata: Path
    socket_dir: Path
    port: int
    log: Path
    user: str

    def as_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        entry = pwd.getpwnam(self.user)
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", *argv]

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.as_user([pg_bin("pg_ctl"), "-D", str(self.pgdata), *args]),
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
            cwd=self.base,
        )

    def start(self, *, tcp: bool = True) -> None:
        """Start and wait (pg_ctl -w polls until postgres accepts connections)."""
        listen = f"-c listen_addresses=127.0.0.1 -p {self.port}" if tcp else "-c listen_addresses='' "
        started = self.pg_ctl(
            "-w",
            "-t",
            "60",
            "-l",
            str(self.log),
            "-o",
            f"{listen} -k {self.socket_dir} -p {self.port} -c fsync=off",
            "start",
            check=False,
        )
        if started.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise AssertionError(f"postgres did not start:\n{started.stdout}{started.stderr}\n{log}")

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self.pg_ctl("-w", "-m", "fast", "stop", check=False)

    def restart(self) -> None:
        """What recreating the database container amounts to: same data folder, new process,
        and no initdb script runs (the folder is not empty)."""
        self.stop()
        self.start()

    def sql(self, database: str, query: str) -> str:
        """As the superuser over the unix socket (the test's own inspection channel).  The SQL
        goes through stdin, as `psql -f` would read a file: statements run one by one (CREATE
        DATABASE refuses a transaction block), and postgres need not read the test's folder."""
        result = subprocess.run(
            self.as_user(
                [
                    pg_bin("psql"),
                    "-h",
                    str(self.socket_dir),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    database,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-tA",
                    "-f",
                    "-",
                ]
            ),
            input=query,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.base,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {database}: {result.stderr}")
        return result.stdout.strip()

    def sql_file(self, database: str, path: Path) -> None:
        self.sql(database, path.read_text())


@contextlib.contextmanager
def notary_postgres(initdb_dir: Path, migrations: Path) -> Iterator[Postgres]:
    """A postgres set up from ``initdb_dir`` (Notary's notarysql/postgresql-initdb.d, read in
    place) as the image's first start does, with Notary's migrations applied; always stopped."""
    require_root()
    initdb = pg_bin("initdb")
    base = Path(tempfile.mkdtemp(prefix="certkit-pg-"))
    base.chmod(0o755)  # postgres (another user) must reach its folders
    pg = Postgres(base, base / "data", base / "sock", free_port(), base / "postgres.log", "postgres")
    entry = pwd.getpwnam(pg.user)
    for folder in (pg.pgdata, pg.socket_dir):
        folder.mkdir(mode=0o700)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chown(base, entry.pw_uid, entry.pw_gid)  # for the log file
    try:
        subprocess.run(
            pg.as_user([initdb, "-D", str(pg.pgdata), "-U", "postgres", "--auth=trust", "--no-sync"]),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=base,
        )
        # The image's first start: a temporary server on the socket only, the initdb scripts in
        # name order (*.sql through psql, *.sh sourced with PGDATA set), then a stop.
        pg.start(tcp=False)
        for script in sorted(initdb_dir.iterdir()):
            if script.suffix == ".sql":
                pg.sql_file("postgres", script)
            elif script.suffix == ".sh":
                _run_setup_script(script, initdb_dir, pg.pgdata)
        _adapt_hba(pg.pgdata)
        _migrate(pg, migrations)
        pg.stop()
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def _run_setup_script(script: Path, initdb_dir: Path, pgdata: Path) -> None:
    """Notary's tls-setup.sh as written, except that the folder it copies from is where the
    checkout is instead of the container's mount point.  It runs as root here (the image runs
    it as postgres): its chown postgres:postgres then has the same result, and root can read
    a key in a test folder postgres cannot enter."""
    text = script.read_text().replace(CONTAINER_INITDB, str(initdb_dir))
    subprocess.run(
        ["bash", "-c", text],
        env={**os.environ, "PGDATA": str(pgdata)},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _adapt_hba(pgdata: Path) -> None:
    """Two changes to the pg_hba.conf tls-setup.sh copied, neither weakening the TLS it tests:

    - `clientcert=1` is refused by postgres 12+ ("clientcert can only be configured as
      verify-ca or verify-full"), and with `cert` auth only verify-full is accepted (14+); the
      cert method already requires a client certificate signed by root.crt whose CN is the user.
    - a `local` line for the superuser over the unix socket in the test's own temp folder: the
      test's way to look at the rows; TCP, which Notary uses, stays hostssl + cert only.
    """
    hba = pgdata / "pg_hba.conf"
    text = hba.read_text().replace("clientcert=1", "clientcert=verify-full")
    hba.write_text("local all postgres trust\n" + text)


def _migrate(pg: Postgres, migrations: Path) -> None:
    """Notary's migrate.sh needs golang-migrate, which Debian does not ship: the same .up.sql
    files are applied in order with psql, then the tables are granted to the service users (the
    containers run the migrations as those users, so they own what they create)."""
    for database, user, folder in (("notaryserver", "server", "server"), ("notarysigner", "signer", "signer")):
        for sql in sorted((migrations / folder / "postgresql").glob("*.up.sql")):
            pg.sql_file(database, sql)
        pg.sql(
            database,
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {user}; "
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {user};",
        )


# Notary's configs name the files by their path inside the server/signer images.
IMAGE_CHECKOUT = "/go/src/github.com/theupdateframework/notary"


def postgres_config(checkout: Path, name: str, pg: Postgres, **changes: object) -> Path:
    """Notary's fixtures/<name> (server-config.postgres.json or signer-config.postgres.json)
    with its db_url pointed at ``pg`` and the checkout copy, written beside it (Notary reads
    the TLS paths relative to the config's folder)."""
    import json

    config = json.loads((checkout / "fixtures" / name).read_text())
    storage = config["storage"]
    storage["db_url"] = (
        storage["db_url"].replace(IMAGE_CHECKOUT, str(checkout)).replace("@postgresql:5432/", f"@127.0.0.1:{pg.port}/")
    )
    for section, values in changes.items():
        assert isinstance(values, dict)
        config[section].update(values)
    target = checkout / "fixtures" / f"test-{name}"
    target.write_text(json.dumps(config, indent=1))
    return target


def server_start_failure(checkout: Path, pg: Postgres, timeout: float = 30) -> str:
    """Start notary-server on postgres and return its log once it exits: it must refuse to
    start when it cannot reach the database (a server still running is a test failure)."""
    from tests.notary_harness import require_binary

    config = postgres_config(
        checkout,
        "server-config.postgres.json",
        pg,
        server={"http_addr": f"127.0.0.1:{free_port()}"},
        trust_service={"type": "local"},
    )
    process = subprocess.Popen(
        [require_binary("notary-server"), f"-config={config}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"notary-server kept running with the database set it was given:\n{out[-2000:]}") from None
    return out


@contextlib.contextmanager
def notary_on_postgres(checkout: Path, pg: Postgres) -> Iterator[NotaryServices]:
    """notary-signer and notary-server, both on postgres with Notary's *.postgres.json configs
    (remote signer, mutual TLS), on free ports; always stopped."""
    from tests.notary_harness import _start, _stop, require_binary, wait_for_port

    server_port, signer_port = free_port(), free_port()
    signer_config = postgres_config(
        checkout, "signer-config.postgres.json", pg, server={"grpc_addr": f"127.0.0.1:{signer_port}"}
    )
    server_config = postgres_config(
        checkout,
        "server-config.postgres.json",
        pg,
        server={"http_addr": f"127.0.0.1:{server_port}"},
        trust_service={"hostname": "localhost", "port": str(signer_port)},
    )
    env = {**os.environ, "NOTARY_SIGNER_DEFAULT_ALIAS": "timestamp_1", "NOTARY_SIGNER_TIMESTAMP_1": "testpassword"}
    folder = checkout / "fixtures"
    signer_log, server_log = pg.base / "signer.log", pg.base / "server.log"
    signer = _start([require_binary("notary-signer"), f"-config={signer_config}"], folder, signer_log, env)
    server: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(signer_port, signer, signer_log)
        server = _start([require_binary("notary-server"), f"-config={server_config}"], folder, server_log, env)
        wait_for_port(server_port, server, server_log)
        yield NotaryServices(
            folder, server_port, signer_port, f"https://localhost:{server_port}", server, signer, server_log, signer_log
        )
    finally:
        if server is not None:
            _stop(server)
        _stop(signer)
