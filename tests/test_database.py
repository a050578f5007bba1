"""certkit.deploy.database: the step that gets a renewed database set into postgres's data folder.

The end-to-end proof with a real postgres is tests/test_database_real.py; here: which renewals
need the step, what it prints, the container snippet run by a real shell, and bad input.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certkit.deploy.database import INITDB_DIR, container_script, deploy_to_pgdata, step_after_renew
from certkit.durations import parse_duration
from certkit.errors import DatabaseError
from certkit.workflows.renew import RenewRequest, run_renew
from tests.test_cli_renew import assert_one_line_error, certkit, snapshot

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def _pgdata(tmp_path: Path, version: str = "15") -> Path:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir(mode=0o700)
    (pgdata / "PG_VERSION").write_text(version + "\n")
    if os.geteuid() == 0:
        os.chown(pgdata, 999, 999)  # the official image's postgres user: the data folder's owner
    return pgdata


def test_renewing_the_reference_checkout_names_the_database_step(reference_copy: Path) -> None:
    run = run_renew(RenewRequest(reference_copy, NOW, parse_duration("30d"), compose=False))
    result, step = run.result, run.database
    assert result is not None
    assert step is not None and step.ca_changed
    assert f"{INITDB_DIR}/root.crt" in step.changed and f"{INITDB_DIR}/server.crt" in step.changed
    assert step.compose_files == ["docker-compose.postgresql.yml", "development.postgresql.yml"]
    assert step.commands[0] == (
        "docker compose -f docker-compose.postgresql.yml exec -T postgresql sh -c " + shlex.quote(container_script())
    )
    assert step.commands[1] == "docker compose -f docker-compose.postgresql.yml restart postgresql"
    assert step.host_command == f"certkit db-deploy {reference_copy} --pgdata PGDATA"
    ca_notice = next(n for n in result.notices if n.startswith("new root CA database-ca"))
    assert "root.crt in its data folder" in ca_notice and "recreate" not in ca_notice
    assert "down -v" in step.summary


def test_no_step_when_the_database_set_is_untouched(fresh_layout: Path) -> None:
    run = run_renew(
        RenewRequest(fresh_layout, datetime.now(timezone.utc), parse_duration("30d"), compose=False, fast_path=False)
    )
    assert run.result is not None and not run.result.changed and run.database is None
    assert step_after_renew(fresh_layout, ["fixtures/notary-server.crt", f"{INITDB_DIR}/pg_hba.conf"]) is None


def test_container_snippet_run_by_a_real_shell(reference_copy: Path, tmp_path: Path) -> None:
    """The snippet `certkit renew` prints for `docker compose exec`, run by sh against a data
    folder, from the checkout's folder instead of the container's mount point."""
    pgdata = _pgdata(tmp_path)
    (pgdata / "server.key").write_text("old key")
    (pgdata / "server.key").chmod(0o600)
    source = reference_copy / INITDB_DIR
    subprocess.run(["sh", "-c", container_script(str(source))], env={**os.environ, "PGDATA": str(pgdata)}, check=True)
    owner = (pgdata.stat().st_uid, pgdata.stat().st_gid)
    for name, mode in (("server.crt", 0o644), ("server.key", 0o600), ("root.crt", 0o644)):
        st = (pgdata / name).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (*owner, mode), name
        assert (pgdata / name).read_bytes() == (source / name).read_bytes()
    assert not list(pgdata.glob(".*certkit-new"))


def test_deploy_copies_with_the_data_folders_owner_and_says_reload_or_restart(
    reference_copy: Path, tmp_path: Path
) -> None:
    pgdata = _pgdata(tmp_path, "9.5")
    result = deploy_to_pgdata(reference_copy, pgdata)
    key = (pgdata / "server.key").stat()
    assert (key.st_uid, key.st_mode & 0o777) == (pgdata.stat().st_uid, 0o600)
    assert result.version == 9 and not result.reloads
    assert result.reload == [f"pg_ctl restart -D {pgdata} -m fast"]
    (pgdata / "PG_VERSION").write_text("15\n")
    assert deploy_to_pgdata(reference_copy, pgdata).reload[0] == f"pg_ctl reload -D {pgdata}"


@pytest.mark.parametrize("case", ["missing", "not-a-data-folder"])
def test_deploy_to_an_unusable_folder_says_what_to_run_by_hand(reference_copy: Path, tmp_path: Path, case: str) -> None:
    pgdata = tmp_path / "pgdata"
    if case == "not-a-data-folder":
        pgdata.mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseError) as info:
        deploy_to_pgdata(reference_copy, pgdata)
    assert "docker compose -f docker-compose.postgresql.yml exec -T postgresql sh -c" in str(info.value)
    assert snapshot(tmp_path) == before


def test_renew_with_an_unreachable_pgdata_keeps_the_renewal_and_exits_20(reference_copy: Path, tmp_path: Path) -> None:
    old_root = (reference_copy / INITDB_DIR / "root.crt").read_bytes()
    result = certkit("renew", str(reference_copy), "--no-compose", "--pgdata", str(tmp_path / "gone"))
    assert_one_line_error(
        result,
        20,
        "the certificates were renewed, but",
        "cannot deploy the database TLS files",
        "docker compose -f docker-compose.postgresql.yml exec -T postgresql",
    )
    assert (reference_copy / INITDB_DIR / "root.crt").read_bytes() != old_root  # committed
    assert "database-ca" in result.stdout  # and shown


def test_renew_with_pgdata_deploys_and_json_names_the_step(reference_copy: Path, tmp_path: Path) -> None:
    pgdata = _pgdata(tmp_path)
    result = certkit("renew", str(reference_copy), "--no-compose", "--pgdata", str(pgdata), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["database"]["ca_changed"] is True
    assert data["database_deployed"]["reload"][0] == f"pg_ctl reload -D {pgdata}"
    assert (pgdata / "root.crt").read_bytes() == (reference_copy / INITDB_DIR / "root.crt").read_bytes()


def test_db_deploy_bad_input_is_one_line(reference_copy: Path, tmp_path: Path) -> None:
    result = certkit("db-deploy", str(reference_copy), "--pgdata", str(tmp_path / "gone"))
    assert_one_line_error(result, 20, "gone", "cannot deploy", "restart postgresql")


def test_dry_run_shows_the_step_and_writes_nothing(reference_copy: Path) -> None:
    before = snapshot(reference_copy)
    result = certkit("renew", str(reference_copy), "--dry-run", "--no-compose")
    assert result.returncode == 0, result.stderr
    assert "database: would change notarysql/postgresql-initdb.d/root.crt" in result.stdout
    assert snapshot(reference_copy) == before


def test_rollback_names_the_database_step(reference_copy: Path) -> None:
    renewed = certkit("renew", str(reference_copy), "--no-compose")
    assert renewed.returncode == 0, renewed.stderr
    rolled = certkit("rollback", str(reference_copy), "--to", "0")
    assert rolled.returncode == 0, rolled.stderr
    assert "database: changed" in rolled.stdout and "notarysql/postgresql-initdb.d/root.crt" in rolled.stdout
    assert "docker compose -f docker-compose.postgresql.yml exec -T postgresql sh -c" in rolled.stdout


def test_a_failure_while_staging_leaves_postgres_set_as_it_was(reference_copy: Path, tmp_path: Path) -> None:
    pgdata = _pgdata(tmp_path)
    for name in ("server.crt", "server.key", "root.crt"):
        (pgdata / name).write_text(f"old {name}")
    (pgdata / ".root.crt.certkit-new").mkdir()  # the last file cannot be staged
    before = snapshot(pgdata)
    with pytest.raises(DatabaseError, match="cannot deploy the database TLS files"):
        deploy_to_pgdata(reference_copy, pgdata)
    assert snapshot(pgdata) == before
    assert sorted(p.name for p in pgdata.iterdir() if p.name.startswith(".")) == [".root.crt.certkit-new"]
