"""What `certkit renew` and `certkit init` print, as a person reads it (issue 20 item 6).

On Notary's checkout the first renewal printed about 60 lines: the line to run came last, after a
postgres block and a `chown 999` note that do not apply to the default (MariaDB) project, and six
restart lines, one per compose file; `init` printed a table of every file.  Now: the action for the
project in use first (stderr), the files that changed, the notes that apply, the other compose
files folded; `--verbose` shows everything.  The engine case (the project that runs) is in
tests/test_running_engine.py and tests/test_docker_engine.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_cli_renew import certkit

NEXT = "next: "


def no_engine(checkout: Path) -> dict[str, str]:
    """A DOCKER_HOST where nothing listens: what a machine without Docker has."""
    return {"DOCKER_HOST": f"unix://{checkout}/no-docker.sock"}


def test_first_renewal_of_notary_puts_the_action_first_and_folds_the_rest(reference_copy: Path) -> None:
    result = certkit("renew", str(reference_copy), env_extra=no_engine(reference_copy))
    assert result.returncode == 0, result.stderr
    err, out = result.stderr.splitlines(), result.stdout.splitlines()
    # The action, first and alone on its line: the default project's (no engine says which runs).
    assert err[0] == f"next: cd {reference_copy} && docker compose up -d --force-recreate server signer"
    assert "the default project, docker-compose.yml" in err[1]
    # The five other compose files under one line, not five more restart lines.
    assert sum("docker compose" in line for line in err + out) == 1
    assert "development.postgresql.yml" in err[2] and "certkit compose -f FILE" in err[2]
    # The table has the rows that changed; the kept keys are counted.
    rows = [line.split()[:2] for line in out[1 : out.index("")]]
    assert rows and all(action != "kept" for _, action in rows)
    assert ["fixtures/notary-server.crt", "renewed"] in rows
    assert "21 files changed, 8 kept (--verbose lists them)" in out
    # The keys set to 0600: one note with a count and the first few, not eight.
    loose = [line for line in out if "readable by others" in line]
    assert loose == [
        "note: 8 private keys were readable by others; set to 0600: fixtures/notary-server.key, "
        "fixtures/notary-signer.key, fixtures/notary-escrow.key and 5 more"
    ]
    # The default project runs MariaDB: no postgres block, no chown 999, no database CA to trust; one line.
    text = result.stdout + result.stderr
    assert "exec -T postgresql" not in text and "chown 999" not in text and "new root CA database-ca" not in text
    [database] = [line for line in out if line.startswith("database: ")]
    assert "not the project in use" in database and "certkit renew --deploy" in database
    assert "new root CA root-ca" in result.stdout  # what does apply stays: clients must trust the new root
    assert len(out) + len(err) <= 36, text


def test_verbose_shows_every_file_note_and_line(reference_copy: Path) -> None:
    result = certkit("renew", "--verbose", str(reference_copy), env_extra=no_engine(reference_copy))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "fixtures/notary-server.key                   kept" in out
    assert sum("readable by others; set to 0600" in line for line in out.splitlines()) == 8
    assert "exec -T postgresql" in out and "chown 999" in out and "new root CA database-ca" in out
    assert sum(" up -d --force-recreate " in line for line in out.splitlines()) == 6  # one per compose file
    # --json has everything, as before.
    data = json.loads(certkit("renew", "--json", "--force", str(reference_copy)).stdout)
    # Every file of the set (the ignore files exist by now), kept ones too, and the database lines.
    assert len(data["files"]) == 27 and data["database"]["commands"]
    assert {"kept", "renewed"} <= {f["action"] for f in data["files"]}


def test_a_postgres_project_in_use_gets_the_database_block(reference_copy: Path) -> None:
    """COMPOSE_FILE names Notary's postgres project: the database step applies, with its notes."""
    env = {**no_engine(reference_copy), "COMPOSE_FILE": "docker-compose.postgresql.yml"}
    result = certkit("renew", str(reference_copy), env_extra=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "database: changed notarysql/postgresql-initdb.d/root.crt" in out
    assert "docker compose -f docker-compose.postgresql.yml exec -T postgresql" in out
    assert "new root CA database-ca" in out and "chown 999" in out
    assert result.stderr.startswith(
        f"{NEXT}cd {reference_copy} && COMPOSE_FILE=docker-compose.postgresql.yml:"
        "docker-compose.postgresql.override.yml docker compose up -d --force-recreate server signer postgresql"
    )


def test_init_says_what_it_made_in_a_few_lines(tmp_path: Path) -> None:
    result = certkit("init", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"made a fresh Notary set in {tmp_path / 'demo'}: 13 certificates, 11 keys")
    assert "FILE" not in result.stdout and "kept" not in result.stdout
    # No compose project here, so nothing about postgres; the new root is what a person must act on.
    assert "database-ca" not in result.stdout and "chown 999" not in result.stdout
    assert any(line.startswith("note: new root CA root-ca") for line in lines)
    assert lines[-1].startswith(f"next: certkit status {tmp_path / 'demo'}")
    assert len(lines) <= 4, result.stdout
    verbose = certkit("init", "--verbose", str(tmp_path / "demo2"))
    assert verbose.returncode == 0 and verbose.stdout.startswith("FILE ") and "29 files changed" in verbose.stdout


def test_renew_inside_the_checkout_prints_no_cd(reference_copy: Path) -> None:
    """Run where the README says (`cd ~/notary && certkit renew`): the line is `docker compose ...`,
    not `cd . && docker compose ...`; from elsewhere it still starts with the cd."""
    env = {
        **os.environ,
        **no_engine(reference_copy),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    inside = subprocess.run(
        [sys.executable, "-m", "certkit", "renew"],
        cwd=reference_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert inside.returncode == 0, inside.stderr
    first = inside.stderr.splitlines()[0]
    assert first == f"{NEXT}docker compose up -d --force-recreate server signer", first
    assert "cd ." not in inside.stderr


def test_a_dry_run_folds_the_database_step_as_the_real_run_does(reference_copy: Path) -> None:
    """Notary's default project uses MariaDB: the real run folds the postgres block into one line and
    leaves out the database CA's and postgres key owner's notes; the dry run must say the same, not
    print the postgres commands a real run would not (review)."""

    def renew(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "certkit", "renew", "--no-engine", *args, str(reference_copy)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    preview = renew("--dry-run")
    assert "would change; only postgres uses them" in preview, preview
    assert (
        "exec -T postgresql" not in preview and "chown 999" not in preview and "new root CA database-ca" not in preview
    )
    real = renew()
    assert "changed; only postgres uses them" in real and "exec -T postgresql" not in real
