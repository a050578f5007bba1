"""`certkit check-expiry` from the command line: exit codes, formats, quiet, output file, endpoints."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from certkit.cli import cli
from certkit.render.formats import FORMATS
from tests.certfactory import Issued, around, make_ca, make_leaf, new_key

NOW = datetime(2027, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
AT = ["--at", "2027-03-01T12:00:00Z"]
LEAVES = (
    "fixtures/notary-server.crt",
    "fixtures/notary-signer.crt",
    "fixtures/notary-escrow.crt",
    "fixtures/secure.example.com.crt",
    "fixtures/self-signed_docker.com-notary.crt",
    "fixtures/self-signed_secure.example.com.crt",
    "fixtures/database/notary-server.pem",
    "fixtures/database/notary-signer.pem",
    "fixtures/database/ca.pem",
    "fixtures/rethinkdb/cert.pem",
    "fixtures/rethinkdb/ca.pem",
    "notarysql/postgresql-initdb.d/server.crt",
    "notarysql/postgresql-initdb.d/root.crt",
)


def check(*args: str) -> Result:
    return CliRunner().invoke(cli, ["check-expiry", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("CLI Root", NOW - timedelta(days=400), NOW + timedelta(days=4000))


def _set(folder: Path, ca: Issued, **offsets: timedelta) -> Path:
    """One leaf per name, expiring at the given offset from NOW."""
    for name, offset in offsets.items():
        make_leaf(f"{name}.example", ca, *around(NOW, expires_in=offset)).write(folder / f"{name}.crt")
    return folder


# --------------------------------------------------------------------------- the real files


def test_reference_set_exits_2_naming_each_expired_file(reference_dir: Path) -> None:
    result = check("--at", "2026-11-25", str(reference_dir))
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    for leaf in LEAVES:
        row = [line for line in lines if f"{reference_dir / leaf}#0" in line]
        assert len(row) == 1 and row[0].startswith("CRITICAL") and "expired" in row[0], leaf
    for ca_file in ("fixtures/root-ca.crt", "fixtures/intermediate-ca.crt", "cmd/notary/root-ca.crt"):
        row = [line for line in lines if f"{reference_dir / ca_file}#0" in line]
        assert row and row[0].startswith("OK") and "2031-" in row[0], ca_file
    for unused in ("trustpinning/ca.crt", "trustpinning/test.crt"):  # Go test fixtures, expired on purpose
        row = [line for line in lines if f"{reference_dir / unused}#0" in line]
        assert len(row) == 1 and row[0].startswith("UNUSED") and "not used by any service" in row[0], unused
    summary = [line for line in lines if " checked: " in line]
    assert summary == [
        "19 checked: 13 CRITICAL, 0 WARNING, 0 UNKNOWN, 6 OK -> CRITICAL (exit 2); "
        "3 not used by any service (listed, not judged; --all judges them)"
    ]


def test_reference_set_judged_while_valid_is_ok(reference_dir: Path) -> None:
    result = check("--at", "2022-06-01", str(reference_dir))
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith(("CRITICAL", "WARNING", "UNKNOWN"))]


def test_reference_set_json_schema(reference_dir: Path) -> None:
    result = check("--at", "2026-11-25", "--format", "json", str(reference_dir))
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert doc["schema"] == "certkit.check-expiry/1" and doc["checked_at"] == "2026-11-25T00:00:00Z"
    assert doc["summary"]["status"] == "CRITICAL" and doc["summary"]["exit_code"] == 2
    rows = {(os.path.relpath(r["path"], reference_dir), r["index"]): r for r in doc["certificates"]}
    server = rows[("fixtures/notary-server.crt", 0)]
    assert set(server) == {
        "source",
        "path",
        "index",
        "subject",
        "issuer",
        "serial",
        "fingerprint_sha256",
        "sans",
        "not_before",
        "not_after",
        "seconds_left",
        "status",
        "reasons",
        "codes",
        "used",
        "runs",  # null for a file; what a container or the compose project runs (docs/check-expiry.md)
    }
    assert server["runs"] is None
    assert server["subject"].startswith("CN=notary-server,")
    assert server["issuer"].startswith("CN=Notary Intermediate Testing CA,")
    assert server["sans"] == ["DNS:notary-server", "DNS:notaryserver", "DNS:localhost", "IP:127.0.0.1"]
    assert server["not_after"] == "2023-04-22T13:09:33Z" and server["status"] == "CRITICAL"
    assert server["seconds_left"] == int(
        (
            datetime(2023, 4, 22, 13, 9, 33, tzinfo=timezone.utc) - datetime(2026, 11, 25, tzinfo=timezone.utc)
        ).total_seconds()
    )
    assert server["codes"] == ["expired"]
    assert rows[("fixtures/notary-server.crt", 1)]["status"] == "OK"
    used = [r for r in doc["certificates"] if r["used"]]
    assert sum(doc["summary"]["counts"].values()) == len(used) == doc["summary"]["total"] == 19
    unused = rows[("trustpinning/test.crt", 0)]
    assert unused["used"] is False and unused["status"] == "UNUSED" and unused["codes"] == ["unused", "expired"]
    assert doc["summary"]["unused"] == len(doc["certificates"]) - 19 == 3


def test_reference_set_prometheus_parses(reference_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "textfile" / "certkit.prom"
    out.parent.mkdir()
    result = check("--at", "2026-11-25", "--format", "prometheus", "--output", str(out), str(reference_dir))
    assert result.exit_code == 2 and result.output == ""
    assert [p.name for p in out.parent.iterdir()] == ["certkit.prom"]  # no temporary file left behind
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    families = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    not_after = families["certkit_cert_not_after_timestamp_seconds"]
    assert not_after.type == "gauge"
    samples = {(os.path.relpath(s.labels["path"], reference_dir), s.labels["index"]): s for s in not_after.samples}
    server = samples[("fixtures/notary-server.crt", "0")]
    assert server.value == datetime(2023, 4, 22, 13, 9, 33, tzinfo=timezone.utc).timestamp()
    assert (
        server.labels["subject"].startswith("CN=notary-server,") and "serial" not in server.labels
    )  # no new series per renewal
    status = {
        (os.path.relpath(s.labels["path"], reference_dir), s.labels["index"]): s.value
        for s in families["certkit_cert_status"].samples
    }
    assert status[("fixtures/notary-server.crt", "0")] == 2 and status[("fixtures/root-ca.crt", "0")] == 0
    assert [s.value for s in families["certkit_check_status"].samples] == [2]
    counts = {s.labels["status"]: s.value for s in families["certkit_check_findings"].samples}
    assert counts == {"OK": 6, "WARNING": 0, "CRITICAL": 13, "UNKNOWN": 0}


def test_reference_set_nagios_line(reference_dir: Path) -> None:
    result = check("--at", "2026-11-25", "--format", "nagios", str(reference_dir))
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1
    text, perf = lines[0].split(" | ")
    assert text.startswith("CERTKIT CRITICAL - 13 critical, 0 warning, 0 unknown, 6 ok, 3 unused (not judged): ")
    assert "(+8 more)" in text
    assert "'certificates'=19;;;0" in perf.split() and "'critical'=13;;;0" in perf.split()
    assert any(p.startswith("'min_seconds_left'=-") and p.endswith(";2592000:;604800:") for p in perf.split())


# --------------------------------------------------------------------------- exit codes and thresholds


@pytest.mark.parametrize(
    ("offsets", "code"),
    [
        ({"a": timedelta(days=90)}, 0),
        ({"a": timedelta(days=90), "b": timedelta(days=29, hours=23)}, 1),
        ({"a": timedelta(days=90), "b": timedelta(days=20), "c": timedelta(days=6)}, 2),
        ({"a": timedelta(seconds=-1)}, 2),
    ],
)
def test_exit_code_is_the_worst_finding(tmp_path: Path, ca: Issued, offsets: dict[str, timedelta], code: int) -> None:
    result = check(*AT, str(_set(tmp_path, ca, **offsets)))
    assert result.exit_code == code, result.output


def test_custom_thresholds_edges(tmp_path: Path, ca: Issued) -> None:
    _set(
        tmp_path, ca, plus=timedelta(days=14, seconds=1), exact=timedelta(days=14), minus=timedelta(days=14, seconds=-1)
    )
    result = check(*AT, "--warn", "60d", "--crit", "14d", "--format", "json", str(tmp_path))
    statuses = {Path(r["path"]).name: r["status"] for r in json.loads(result.output)["certificates"]}
    assert statuses == {"plus.crt": "WARNING", "exact.crt": "WARNING", "minus.crt": "CRITICAL"}
    assert result.exit_code == 2


def test_pre_deploy_gate_with_crit_14d(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path, ca, svc=timedelta(days=10))
    assert check(*AT, "--crit", "14d", str(folder)).exit_code == 2
    assert check(*AT, "--crit", "7d", "--warn", "7d", str(folder)).exit_code == 0


def test_unknown_outranked_only_by_critical(tmp_path: Path, ca: Issued) -> None:
    _set(tmp_path, ca, soon=timedelta(days=20))
    (tmp_path / "broken.crt").write_bytes(b"")
    assert check(*AT, str(tmp_path)).exit_code == 3
    _set(tmp_path, ca, gone=timedelta(days=-2))
    assert check(*AT, str(tmp_path)).exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--warn", "soon"],
        ["--format", "xml"],
        ["--at", "yesterday"],
        ["--warn", "1d", "--crit", "2d"],
        ["--connect", "no-port"],
        ["--no-such-option"],
    ],
)
def test_usage_errors_exit_3_unknown(tmp_path: Path, args: list[str]) -> None:
    result = check(*args, str(tmp_path))
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output


def test_help_documents_exit_codes() -> None:
    result = check("--help")
    assert result.exit_code == 0
    for text in (
        "0  OK",
        "1  WARNING",
        "2  CRITICAL",
        "3  UNKNOWN",
        "STALE",
        "--connect",
        "--servername",
        "--warn",
        "--crit",
        "--at",
        "--quiet",
        "--timeout",
        "--output",
    ):
        assert text in result.output


def test_bad_input_never_a_traceback(tmp_path: Path, ca: Issued) -> None:
    _set(tmp_path, ca, fine=timedelta(days=300))
    (tmp_path / "junk.pem").write_bytes(os.urandom(500))
    (tmp_path / "empty.crt").write_bytes(b"")
    (tmp_path / "self.crt").symlink_to("self.crt")
    result = check(*AT, str(tmp_path))
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert any(line.startswith("OK") and "fine.crt#0" in line for line in lines)
    assert any(line.startswith("UNKNOWN") and "empty.crt" in line and "empty file" in line for line in lines)
    assert any(line.startswith("UNKNOWN") and "self.crt" in line and "symlink loop" in line for line in lines)
    assert any(line.startswith("UNKNOWN") and "junk.pem" in line for line in lines)


# --------------------------------------------------------------------------- quiet, colour, output


def test_quiet_prints_nothing_when_all_ok(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path, ca, a=timedelta(days=100), b=timedelta(days=200))
    for fmt in ("table", "json", "nagios", "prometheus"):
        result = check(*AT, "--quiet", "--format", fmt, str(folder))
        assert (result.exit_code, result.output) == (0, ""), fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_the_option_offers_reports_the_expired_file(tmp_path: Path, ca: Issued, fmt: str) -> None:
    folder = _set(tmp_path, ca, fine=timedelta(days=100), gone=timedelta(days=-3))
    result = check(*AT, "--format", fmt, str(folder))
    assert result.exit_code == 2, result.output
    assert "gone.crt" in result.output


def test_a_format_not_offered_is_a_usage_error(tmp_path: Path) -> None:
    result = check("--format", "xml", str(tmp_path))
    assert (
        result.exit_code == 3 and "'xml' is not one of 'table', 'json', 'prometheus', 'nagios', 'html'" in result.output
    )


def test_quiet_shows_only_problems(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path, ca, fine=timedelta(days=100), soon=timedelta(days=3))
    result = check(*AT, "--quiet", str(folder))
    assert result.exit_code == 2
    assert "soon.crt" in result.output and "fine.crt" not in result.output


def test_colour_only_when_asked_or_on_a_terminal(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path, ca, a=timedelta(days=3))
    assert "\x1b[" not in check(*AT, str(folder)).output  # CliRunner is not a terminal
    assert "\x1b[1;31mCRITICAL" in check(*AT, "--color", str(folder)).output


def test_output_file_is_replaced_atomically(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path / "certs", ca, a=timedelta(days=100))
    out = tmp_path / "report.json"
    out.write_text("old")
    result = check(*AT, "--format", "json", "--output", str(out), str(folder))
    assert result.exit_code == 0 and result.output == ""
    assert json.loads(out.read_text())["summary"]["status"] == "OK"
    unwritable = check(*AT, "--output", str(tmp_path / "no-such-dir" / "x.txt"), str(folder))
    assert unwritable.exit_code == 3 and "does not exist" in unwritable.output and unwritable.output.count("\n") == 1


def test_real_process_exit_code_and_stderr(tmp_path: Path, ca: Issued) -> None:
    """Through `python -m certkit` (main(), sys.exit): what cron sees."""
    folder = _set(tmp_path, ca, a=timedelta(days=-1))
    done = subprocess.run(
        [sys.executable, "-m", "certkit", "check-expiry", *AT, "--quiet", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "a.crt" in done.stdout and done.stderr == ""
    bad = subprocess.run(
        [sys.executable, "-m", "certkit", "check-expiry", "--crit", "nope", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 3 and "Traceback" not in bad.stderr


# --------------------------------------------------------------------------- endpoints (no TLS server needed)


def test_unreachable_endpoint_is_unknown_with_the_socket_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = check("--connect", f"127.0.0.1:{port}")
    assert result.exit_code == 3
    assert f"127.0.0.1:{port}" in result.output and "Connection refused" in result.output


def test_silent_endpoint_is_bounded_by_the_timeout() -> None:
    """A server that accepts but never answers the TLS handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = check("--connect", f"127.0.0.1:{port}", "--timeout", "0.5", "--format", "json")
        elapsed = time.monotonic() - started
    finally:
        for conn in accepted:
            conn.close()
        listener.close()
    assert result.exit_code == 3
    row = json.loads(result.output)["certificates"][0]
    assert row["source"] == "endpoint" and row["status"] == "UNKNOWN" and "timed out" in row["reasons"][0]
    assert elapsed < 5


def test_copy_of_reference_with_renewed_leaf_is_ok_then_key_mismatch(reference_dir: Path, tmp_path: Path) -> None:
    """Judged as of 2022 the real set passes every Notary relation check; a swapped key fails it."""
    layout = tmp_path / "notary"
    shutil.copytree(reference_dir, layout)
    assert check("--at", "2022-06-01", str(layout)).exit_code == 0
    shutil.copy(layout / "fixtures" / "notary-escrow.key", layout / "fixtures" / "notary-signer.key")
    result = check("--at", "2022-06-01", "--format", "json", str(layout))
    assert result.exit_code == 2
    bad = [r for r in json.loads(result.output)["certificates"] if r["status"] != "OK" and r["used"]]
    assert [(os.path.relpath(r["path"], layout), r["codes"]) for r in bad] == [
        ("fixtures/notary-signer.crt", ["key-mismatch"])
    ]


def test_quiet_never_empties_the_output_file(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path / "certs", ca, a=timedelta(days=100))
    out = tmp_path / "certkit.prom"
    result = check(*AT, "--quiet", "--format", "prometheus", "--output", str(out), str(folder))
    assert (result.exit_code, result.output) == (0, "")
    families = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    assert [s.value for s in families["certkit_cert_status"].samples] == [0]


# --------------------------------------------------------------------------- a check that finds nothing


def _empty(tmp_path: Path) -> Path:
    """A folder with files, none a certificate: a README, a key, a config (a mistyped path in cron)."""
    folder = tmp_path / "not-the-certs"
    folder.mkdir()
    (folder / "README.md").write_text("no certificates here\n")
    (folder / "server.key").write_bytes(Issued(make_ca("K", NOW, NOW).cert, new_key()).key_pem())
    (folder / "config.json").write_text("{}\n")
    return folder


@pytest.mark.parametrize("quiet", [False, True], ids=["", "quiet"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_folder_without_certificates_is_unknown_in_every_format(tmp_path: Path, fmt: str, quiet: bool) -> None:
    folder = _empty(tmp_path)
    result = check(*AT, "--format", fmt, *(["--quiet"] if quiet else []), str(folder))
    assert result.exit_code == 3, result.output  # UNKNOWN, as a Nagios plugin that cannot tell
    out = result.output
    if fmt == "table":
        assert out == f"{folder}: no certificate files found here -> UNKNOWN (exit 3)\n"
    elif fmt == "json":
        data = json.loads(out)
        assert data["summary"]["status"] == "UNKNOWN" and data["summary"]["exit_code"] == 3
        assert [(c["path"], c["codes"], c["status"]) for c in data["certificates"]] == [
            (str(folder), ["no-certificates"], "UNKNOWN")
        ]
    elif fmt == "prometheus":
        # The textfile says the check ran and found nothing: an alert (CertkitNothingChecked) can fire.
        samples = {
            (s.name, s.labels.get("code", "")): s.value
            for family in text_string_to_metric_families(out)
            for s in family.samples
        }
        assert samples[("certkit_check_status", "")] == 3
        assert samples[("certkit_cert_problem", "no-certificates")] == 3
        assert samples[("certkit_check_timestamp_seconds", "")] == NOW.timestamp()
    elif fmt == "nagios":
        assert out.startswith("CERTKIT UNKNOWN - ") and f"{folder}: no certificate files found here" in out
        assert out.count("\n") == 1
    else:
        assert "UNKNOWN" in out and "no certificate files found here" in out


def test_an_empty_folder_beside_good_files_still_makes_the_check_unknown(tmp_path: Path, ca: Issued) -> None:
    good = _set(tmp_path / "good", ca, fine=timedelta(days=100))
    empty = tmp_path / "typo"
    empty.mkdir()
    result = check(*AT, str(good), str(empty))
    assert result.exit_code == 3
    assert any(line.startswith("UNKNOWN") and str(empty) in line for line in result.output.splitlines())
    assert "1 UNKNOWN, 1 OK -> UNKNOWN (exit 3)" in result.output


def test_everything_excluded_is_nothing_found(tmp_path: Path, ca: Issued) -> None:
    folder = _set(tmp_path / "certs", ca, fine=timedelta(days=100))
    result = check(*AT, "--exclude", "*.crt", str(folder))
    assert result.exit_code == 3 and "no certificate files found here (after --exclude)" in result.output


def test_a_named_file_without_a_certificate_is_unknown(tmp_path: Path) -> None:
    folder = _empty(tmp_path)
    result = check(*AT, "--quiet", str(folder / "README.md"))
    assert result.exit_code == 3 and "no certificate in the file" in result.output


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_an_unreadable_file_a_config_names_is_one_row(reference_copy: Path, kind: str) -> None:
    """A FIFO (or a folder) where server-config.json's certificate belongs: the walk's UNKNOWN row and the
    config's note are about one file, so one row, not `./fixtures/...` and `fixtures/...` (review)."""
    target = reference_copy / "fixtures" / "notary-server.crt"
    target.unlink()
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "certkit", "check-expiry", "--no-engine", "--format", "json", "."],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=reference_copy,
    )
    assert done.returncode == 3 or done.returncode == 2, done.stderr
    rows = [r for r in json.loads(done.stdout)["certificates"] if r["path"].endswith("fixtures/notary-server.crt")]
    assert len(rows) == 1 and rows[0]["status"] == "UNKNOWN", rows
