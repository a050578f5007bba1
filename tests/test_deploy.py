"""renew --deploy without a usable engine, and the deploy-owed record (no Docker engine needed).

The engine cases that need containers are in tests/test_deploy_engine.py; here the engine is
absent or a real socket that never answers, and the record is read by the fast path, check-expiry
and status.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certkit.store import owed
from certkit.store.fastpath import nothing_due, profile_id
from certkit.store.state import verify
from tests.test_cli_renew import certkit, snapshot

FAST = "nothing is due: the earliest certificate expires"


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("certkit: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that accepts and reads but never answers: an engine that hangs."""
    path = Path("/tmp") / f"ck-silent-{os.getpid()}-{time.monotonic_ns()}.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()
        path.unlink(missing_ok=True)


def test_no_engine_keeps_the_renewal_owes_the_deploy_and_says_so_in_one_line(reference_copy: Path) -> None:
    absent = f"unix://{reference_copy}/no-docker.sock"
    result = certkit("renew", "--quiet", "--deploy", "--docker-host", absent, str(reference_copy))
    assert result.returncode == 21, result.stderr
    assert result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]  # after the notes (a new root to trust, keys tightened)
    assert error.startswith("certkit: error: the certificates were renewed, but no Docker engine at " + absent)
    assert f"a deploy is owed: run `certkit renew --deploy {reference_copy}` once that is fixed" in error
    assert "(or by hand: cd " in error and "docker compose up -d --force-recreate server signer" in error
    record = owed.read(reference_copy)
    assert record is not None and record.exit_code == 21 and record.attempts == 1 and record.readable
    path = owed.path_of(reference_copy)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.geteuid()
    verify(reference_copy / ".certkit")  # a state file certkit trusts like the others

    # The next run retries: not the fast path, though nothing is due; the record counts the attempts.
    again = certkit("renew", "--quiet", "--deploy", "--docker-host", absent, str(reference_copy))
    assert again.returncode == 21 and FAST not in again.stdout
    assert one_error_line(again.stderr).startswith(
        "certkit: error: the deploy owed since an earlier run failed again: no Docker"
    )
    second = owed.read(reference_copy)
    assert second is not None and second.attempts == 2 and second.since == record.since

    # check-expiry and status report it until it is done (without the engine too).
    check = certkit("check-expiry", "--no-engine", str(reference_copy))
    assert check.returncode == 2, check.stdout + check.stderr
    row = next(line for line in check.stdout.splitlines() if "deploy-owed" in line)
    assert row.startswith("CRITICAL") and "deploy owed since" in row and "2 attempts" in row
    assert f"run `certkit renew --deploy {reference_copy}`" in row
    status = certkit("status", "--no-engine", str(reference_copy))
    assert status.returncode == 2 and "problem: deploy owed since" in status.stdout
    assert status.stdout.rstrip().endswith("certificates: CRITICAL")
    # renew without --deploy does not touch the engine, but says what is owed.
    plain = certkit("renew", str(reference_copy))
    assert plain.returncode == 0 and "a deploy is owed since" in plain.stderr, plain.stderr


def test_an_engine_that_never_answers_is_bounded(reference_copy: Path, silent_socket: Path) -> None:
    before = (reference_copy / "fixtures" / "notary-server.crt").read_bytes()
    start = time.monotonic()
    result = certkit(
        "renew", "--deploy", "--docker-host", f"unix://{silent_socket}", "--engine-timeout", "1", str(reference_copy)
    )
    assert time.monotonic() - start < 60  # one call's bound, not a hang
    assert result.returncode == 21, result.stderr
    error = one_error_line(result.stderr)
    assert "did not answer within 1 s" in error and "a deploy is owed" in error
    assert (reference_copy / "fixtures" / "notary-server.crt").read_bytes() != before  # the renewal is kept
    assert owed.owed(reference_copy)


def test_dry_run_with_no_engine_is_one_line_and_writes_nothing(reference_copy: Path) -> None:
    before = snapshot(reference_copy)
    absent = f"unix://{reference_copy}/no-docker.sock"
    result = certkit("renew", "--dry-run", "--deploy", "--docker-host", absent, str(reference_copy))
    assert result.returncode == 21
    assert one_error_line(result.stderr).startswith(f"certkit: error: no Docker engine at {absent}")
    assert snapshot(reference_copy) == before and not owed.owed(reference_copy)


def test_without_deploy_renew_prints_the_line_to_run_first(reference_copy: Path) -> None:
    """No engine answers: the action is the default project's line, first and alone on its line; why on
    the next; the other compose files folded under one line (issue 20: the line that matters was last)."""
    absent = f"unix://{reference_copy}/no-docker.sock"
    result = certkit("renew", str(reference_copy), env_extra={"DOCKER_HOST": absent})
    assert result.returncode == 0, result.stderr
    first, why, others = result.stderr.splitlines()[:3]
    assert first == f"next: cd {reference_copy} && docker compose up -d --force-recreate server signer"
    assert why.startswith("      (the default project, docker-compose.yml; no Docker engine at " + absent)
    assert why.endswith("Or: certkit renew --deploy)")
    assert others.startswith("      (started with another compose file? development.mysql.yml, ")
    assert "docker compose " not in result.stdout  # one action (above), not a line per compose file
    quiet = certkit("renew", "--quiet", "--force", "--no-engine", str(reference_copy))
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert (
        quiet.stderr.splitlines()[0]
        == f"next: cd {reference_copy} && docker compose up -d --force-recreate server signer"
    )
    assert "the Docker engine was not asked (--no-engine)" in quiet.stderr.splitlines()[1]


def test_engine_options_that_contradict_are_usage_errors(reference_copy: Path) -> None:
    before = snapshot(reference_copy)
    for args in (["--no-engine", "--docker-host", "unix:///x.sock"], ["--deploy", "--no-engine"]):
        result = certkit("renew", *args, str(reference_copy))
        assert result.returncode == 2, result.stderr
        assert "--no-engine" in one_error_line(result.stderr)
        assert snapshot(reference_copy) == before


def test_a_named_engine_that_cannot_be_asked_is_an_error_after_the_renewal(reference_copy: Path) -> None:
    """Without --deploy, --docker-host names the engine renew asks what runs; one that is not there is an
    error as for check-expiry (exit 21), after a renewal that is kept."""
    before = (reference_copy / "fixtures" / "notary-server.crt").read_bytes()
    absent = f"unix://{reference_copy}/no-docker.sock"
    result = certkit("renew", "--docker-host", absent, str(reference_copy))
    assert result.returncode == 21
    last = result.stderr.splitlines()[-1]  # after the action lines, which the renewal still owes
    assert last.startswith(f"certkit: error: renew is done, but no Docker engine at {absent}"), result.stderr
    assert result.stderr.count("certkit: error:") == 1
    assert (reference_copy / "fixtures" / "notary-server.crt").read_bytes() != before
    assert not owed.owed(reference_copy)  # nothing was to deploy: no deploy is owed


# --- the record ------------------------------------------------------------------------------------


def test_the_record_round_trips_and_a_foreign_one_still_counts(tmp_path: Path) -> None:
    assert owed.read(tmp_path) is None and not owed.owed(tmp_path)
    since = datetime(2026, 12, 1, 3, 17, tzinfo=timezone.utc)
    record = owed.OwedDeploy(
        since,
        "no Docker engine at unix:///var/run/docker.sock",
        21,
        2,
        ("docker compose -p notary up -d",),
        (owed.OwedProject("notary", "/srv/notary", ("/srv/notary/docker-compose.yml",), ("server", "signer")),),
        True,
    )
    owed.write(tmp_path, record)
    assert owed.read(tmp_path) == record and record.services == ["server", "signer"]
    assert (tmp_path / ".certkit" / "certkit-state").is_file()  # written only into certkit's own state folder
    owed.path_of(tmp_path).chmod(0o644)  # not certkit's own any more: the details are not trusted
    foreign = owed.read(tmp_path)
    assert foreign is not None and not foreign.readable and foreign.exit_code == 0
    assert owed.clear(tmp_path) and not owed.owed(tmp_path) and not owed.clear(tmp_path)


def test_the_fast_path_never_answers_while_a_deploy_is_owed(reference_copy: Path) -> None:
    assert certkit("renew", str(reference_copy)).returncode == 0
    root = Path(os.path.abspath(reference_copy))
    args = (root, profile_id(None), None, datetime.now(timezone.utc))
    assert nothing_due(*args) is not None  # the record of that run answers
    # That run renewed without --deploy: a renew --deploy must look (the containers may run the old set).
    assert nothing_due(*args, deploy=True) is None
    owed.write(root, owed.OwedDeploy(datetime.now(timezone.utc), "test", 22))
    assert nothing_due(*args) is None
    owed.clear(root)
    assert nothing_due(*args) is not None


def test_a_deploy_owed_is_reported_in_every_format(reference_copy: Path, tmp_path: Path) -> None:
    import json

    from prometheus_client.parser import text_string_to_metric_families

    assert certkit("renew", str(reference_copy)).returncode == 0
    base = ("check-expiry", "--no-engine", str(reference_copy))
    assert certkit(*base).returncode == 0  # renewed and mounted: nothing else is wrong
    owed.write(reference_copy, owed.OwedDeploy(datetime.now(timezone.utc), "no Docker engine at unix:///x.sock", 21))
    path = str(owed.path_of(reference_copy))

    data = json.loads(certkit(*base, "--format", "json").stdout)
    rows = [r for r in data["certificates"] if r["source"] == "deploy"]
    assert len(rows) == 1 and rows[0]["path"] == path and rows[0]["status"] == "CRITICAL"
    assert rows[0]["codes"] == ["deploy-owed"] and "no Docker engine at unix:///x.sock" in rows[0]["reasons"][0]
    assert data["summary"]["exit_code"] == 2

    metrics = tmp_path / "certkit.prom"
    assert certkit(*base, "--format", "prometheus", "--output", str(metrics)).returncode == 2
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    problem = [s for s in families["certkit_cert_problem"].samples if s.labels["path"] == path]
    assert [(s.labels["code"], s.value) for s in problem] == [("deploy-owed", 2)]

    nagios = certkit(*base, "--format", "nagios")
    assert (
        nagios.returncode == 2 and nagios.stdout.startswith("CERTKIT CRITICAL - 1 critical") and path in nagios.stdout
    )

    page = tmp_path / "report.html"
    assert certkit(*base, "--format", "html", "--output", str(page)).returncode == 2
    html = page.read_text()
    assert "Deploy owed" in html and "deploy owed since" in html and "(a deploy, not a certificate)" in html

    status = json.loads(certkit("status", "--no-engine", "--json", str(reference_copy)).stdout)
    assert status["deploy_owed"].startswith("deploy owed since")


def test_the_first_deploy_of_a_renewal_made_without_deploy_is_not_called_a_retry(
    reference_copy: Path, tmp_path: Path
) -> None:
    """A renewal made without --deploy, then the cron line's `renew --deploy` with nothing due: the deploy
    is tried for the first time. When it fails, the one stderr line says so (not "failed again"), and the
    owed record is written for the next run."""
    assert certkit("renew", str(reference_copy)).returncode == 0
    gone = f"unix://{tmp_path / 'no-engine.sock'}"
    result = certkit("renew", "--quiet", "--deploy", "--docker-host", gone, str(reference_copy))
    assert result.returncode == 21 and result.stdout == "", result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "made without --deploy) is not deployed yet, and deploying it failed" in lines[0]
    record = owed.read(reference_copy)
    assert record is not None and record.attempts == 1
    again = certkit("renew", "--quiet", "--deploy", "--docker-host", gone, str(reference_copy))
    assert again.returncode == 21 and "failed again" in again.stderr
    assert (owed.read(reference_copy) or record).attempts == 2
