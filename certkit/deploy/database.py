"""Getting a renewed database TLS set into postgres's data folder, without losing data.

Notary's postgres (docker-compose.postgresql.yml, image postgres:9.5.4) gets its TLS files
from notarysql/postgresql-initdb.d/tls-setup.sh, which copies server.crt, server.key and
root.crt into $PGDATA.  The official image runs initdb scripts only when the data folder is
empty, i.e. on the first start of the volume; recreating the container keeps the volume and
so the old files.  `docker compose down -v` would re-run them but deletes every signed
repository.  So after a renewal the same copy must be made again in the running database,
then postgres must load it: a reload (SIGHUP) from postgres 10 on, a restart before.

This module returns the steps as data (DatabaseStep) and makes the copy itself when the data
folder is reachable from here (deploy_to_pgdata).  It never prints.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from certkit.errors import DatabaseError, FilesystemError
from certkit.store import storage

INITDB_DIR = "notarysql/postgresql-initdb.d"  # mounted at /docker-entrypoint-initdb.d
CONTAINER_INITDB = "/docker-entrypoint-initdb.d"
COMPOSE_FILE = "docker-compose.postgresql.yml"
# Both run postgres:9.5.4 with the initdb folder mounted and a volume (named, or the image's
# anonymous one) that `up --force-recreate` keeps, so both need the step.
COMPOSE_FILES = (COMPOSE_FILE, "development.postgresql.yml")
SERVICE = "postgresql"
# What Notary's tls-setup.sh copies into $PGDATA (the names postgresql.conf points at:
# ssl_cert_file/ssl_key_file default to server.crt/server.key, ssl_ca_file = 'root.crt').
FILES = ("server.crt", "server.key", "root.crt")
KEY = "server.key"
# SSL settings are reloaded on SIGHUP from postgres 10 on (release notes of 10: "Allow SSL
# configuration to be updated during configuration reload"); 9.x reads them only at start.
RELOAD_SINCE = 10


def concerns_database(path: str) -> bool:
    """``path`` (relative to the checkout) is one postgres reads from its initdb folder: what only a
    postgres project uses (Notary's default project runs MariaDB, which reads none of the set)."""
    return path.startswith(INITDB_DIR + "/")


def container_script(source: str = CONTAINER_INITDB) -> str:
    """The TLS part of Notary's tls-setup.sh, re-runnable in a running container (as root).

    Each file is copied beside its target, given to the owner of $PGDATA (the database user,
    as tls-setup.sh's chown postgres:postgres does) and renamed into place, so postgres never
    reads a half-written file; the key is created under umask 077 and set to 0600, the mode
    postgres requires of a key its user owns.
    """
    src = shlex.quote(source.rstrip("/"))
    return (
        'set -e; owner=$(stat -c %u:%g "$PGDATA"); '
        f"for f in {' '.join(FILES)}; do "
        f'(umask 077; cp {src}/"$f" "$PGDATA/.$f.certkit-new"); '
        'chown "$owner" "$PGDATA/.$f.certkit-new"; '
        f'if [ "$f" = {KEY} ]; then chmod 0600 "$PGDATA/.$f.certkit-new"; '
        'else chmod 0644 "$PGDATA/.$f.certkit-new"; fi; '
        'mv -f "$PGDATA/.$f.certkit-new" "$PGDATA/$f"; done'
    )


@dataclass
class DatabaseStep:
    """What must happen so postgres uses a renewed database set (shown after a renewal)."""

    changed: list[str]  # the files under notarysql/postgresql-initdb.d that changed
    ca_changed: bool  # root.crt is a new database CA: postgres must trust it, or no client connects
    compose_files: list[str]  # the compose files that run postgres (none in a checkout without them)
    commands: list[str] = field(default_factory=list)  # for the container: copy into $PGDATA, restart
    host_command: str = ""  # for a postgres whose data folder is reachable here

    @property
    def summary(self) -> str:
        what = (
            "a new database CA (root.crt) and server certificate" if self.ca_changed else "a renewed server certificate"
        )
        return (
            f"postgres keeps its TLS files in its data folder, copied there only when the volume was "
            f"first created: {what} reach it only through this step (it keeps every signed repository; "
            "`docker compose down -v` would delete them, recreating the container does not copy them)"
        )


def step_after_renew(root: Path, changed: list[str]) -> DatabaseStep | None:
    """The database step for a renewal that changed ``changed`` (paths relative to ``root``)."""
    mine = sorted(p for p in changed if p.startswith(INITDB_DIR + "/") and p[len(INITDB_DIR) + 1 :] in FILES)
    if not mine:
        return None
    composes = [name for name in COMPOSE_FILES if (root / name).is_file()]
    commands = []
    for compose in composes:
        commands += [
            f"docker compose -f {compose} exec -T {SERVICE} sh -c {shlex.quote(container_script())}",
            # postgres:9.5.4 (Notary's image) loads SSL files only at start; a restart keeps the volume.
            f"docker compose -f {compose} restart {SERVICE}",
        ]
    host = f"certkit db-deploy {shlex.quote(str(root))} --pgdata PGDATA"
    return DatabaseStep(mine, f"{INITDB_DIR}/root.crt" in mine, composes, commands, host)


@dataclass
class DeployResult:
    pgdata: Path
    files: list[str]
    owner: tuple[int, int]
    version: int | None  # the major version in PG_VERSION, None when unreadable
    reload: list[str]  # how to make the running postgres load the files (reload or restart)

    @property
    def reloads(self) -> bool:
        """True when a reload is enough (postgres 10 and later), False when it needs a restart."""
        return self.version is not None and self.version >= RELOAD_SINCE


def deploy_to_pgdata(root: Path, pgdata: Path) -> DeployResult:
    """Copy the checkout's server.crt, server.key and root.crt into ``pgdata`` the way
    tls-setup.sh does: owned by the data folder's owner (the database user), key 0600.

    Everything is read and checked before the first write; each file is replaced atomically.
    """
    from certkit.profile import load_profile
    from certkit.store.layout import require_layout

    require_layout(root, load_profile(None))  # the database set is the built-in profile's
    source = root / INITDB_DIR
    datas: dict[str, bytes] = {}
    for name in FILES:
        try:
            datas[name] = (source / name).read_bytes()
        except OSError as exc:
            raise DatabaseError(
                f"{source / name}: cannot read ({exc.strerror or exc}); "
                "run `certkit renew` in the Notary checkout first"
            ) from exc
    try:
        st = pgdata.stat()
    except OSError as exc:
        raise DatabaseError(_unreachable(root, pgdata, exc.strerror or str(exc))) from exc
    if not (pgdata / "PG_VERSION").is_file():
        raise DatabaseError(_unreachable(root, pgdata, "no PG_VERSION: not a postgres data folder"))
    owner = (st.st_uid, st.st_gid)
    if os.geteuid() not in (0, st.st_uid):
        raise DatabaseError(_unreachable(root, pgdata, f"owned by uid {st.st_uid}; run as root or as that user"))
    try:
        storage.probe_writable(pgdata)
    except (OSError, FilesystemError) as exc:  # either way certkit cannot write there
        raise DatabaseError(_unreachable(root, pgdata, str(exc))) from exc
    _write_all(pgdata, datas, owner if os.geteuid() == 0 else None, root)
    version = _major_version(pgdata)
    return DeployResult(pgdata, list(FILES), owner, version, reload_commands(pgdata, version))


def _write_all(pgdata: Path, datas: dict[str, bytes], owner: storage.Owner | None, root: Path) -> None:
    """Stage all three files in full, then rename them into place: a full disk or a refusal
    while staging leaves postgres's set as it was (never a new server.crt beside the old CA)."""
    staged: list[tuple[Path, Path]] = []
    try:
        for name in FILES:
            temp = pgdata / f".{name}.certkit-new"
            if temp.exists():
                temp.unlink()  # left by an interrupted run: the checkout has the truth
            storage.write_new(temp, datas[name], storage.KEY_MODE if name == KEY else storage.CERT_MODE, owner)
            staged.append((temp, pgdata / name))
    except (OSError, FilesystemError) as exc:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise DatabaseError(_unreachable(root, pgdata, str(exc))) from exc
    for temp, target in staged:
        storage.replace(temp, target)
    storage.fsync_dir(pgdata)


def reload_commands(pgdata: Path, version: int | None) -> list[str]:
    """How the running postgres loads new SSL files: a reload from 10 on, else a restart."""
    quoted = shlex.quote(str(pgdata))
    if version is not None and version >= RELOAD_SINCE:
        return [f"pg_ctl reload -D {quoted}", "(or, in psql as a superuser: SELECT pg_reload_conf();)"]
    return [f"pg_ctl restart -D {quoted} -m fast"]


def _major_version(pgdata: Path) -> int | None:
    try:
        text = (pgdata / "PG_VERSION").read_text().strip()
        return int(text.split(".")[0])
    except (OSError, ValueError):
        return None


def _unreachable(root: Path, pgdata: Path, why: str) -> str:
    by_hand = (
        f"in the database's container run: docker compose -f {COMPOSE_FILE} exec -T {SERVICE} "
        f"sh -c {shlex.quote(container_script())}, then docker compose -f {COMPOSE_FILE} restart {SERVICE}"
    )
    return f"{pgdata}: cannot deploy the database TLS files here ({why}); {by_hand}"
