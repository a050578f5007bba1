"""The textfile itself: Prometheus' own parser and linter (promtool check metrics) accept it,
label values are escaped per the text exposition format, and no label changes on renewal."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from certkit.cli import cli
from tests.certfactory import around, hostile_certificate, make_ca, make_leaf
from tests.notary_harness import require_binary
from tests.tls_server import tls_server

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)
AT = ["--at", "2027-03-01T12:00:00Z"]


def _textfile(folder: Path, out: Path) -> str:
    result = CliRunner().invoke(
        cli, ["check-expiry", *AT, "--format", "prometheus", "--output", str(out), str(folder)], catch_exceptions=False
    )
    assert result.output == "" and result.exit_code in (0, 1, 2)
    return out.read_text()


def _promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", "prometheus")
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)


def test_hostile_subject_is_escaped_in_labels(tmp_path: Path) -> None:
    hostile = hostile_certificate(NOW)
    subject = hostile.cert.subject.rfc4514_string()
    assert "\n" in subject and '"' in subject and "\\" in subject  # all three the format escapes
    hostile.write(tmp_path / "certs" / "hostile.crt")
    text = _textfile(tmp_path / "certs", tmp_path / "certkit.prom")
    escaped = subject.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    assert f'subject="{escaped}"' in text
    assert text.count("\n") == len(text.splitlines())  # the newline did not split a sample line
    done = _promtool_check(text)
    assert done.returncode == 0, done.stdout + done.stderr
    labels = [
        s.labels["subject"] for f in text_string_to_metric_families(text) for s in f.samples if "subject" in s.labels
    ]
    assert labels and set(labels) == {subject}


def test_unescaped_label_would_be_rejected_by_promtool() -> None:
    """The check above can fail: promtool refuses what an unescaped quote produces."""
    done = _promtool_check('# HELP x x\n# TYPE x gauge\nx{subject="CN="quoted""} 1\n')
    assert done.returncode != 0 and "parsing error" in done.stdout + done.stderr


def test_renewal_keeps_every_label_and_reports_problem_codes(tmp_path: Path) -> None:
    ca = make_ca("Textfile Root", NOW - timedelta(days=100), NOW + timedelta(days=3000))
    folder = tmp_path / "certs"
    make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=-3))).write(folder / "svc.crt", chain=[ca])
    before = _textfile(folder, tmp_path / "before.prom")
    make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=300))).write(folder / "svc.crt", chain=[ca])
    after = _textfile(folder, tmp_path / "after.prom")

    def series(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == name
        }

    name = "certkit_cert_not_after_timestamp_seconds"
    assert series(before, name).keys() == series(after, name).keys()  # same series: alerts resolve, none is orphaned
    assert series(before, name) != series(after, name)
    problems = series(before, "certkit_cert_problem")
    assert [(dict(k)["code"], dict(k)["index"], v) for k, v in problems.items()] == [("expired", "0", 2.0)]
    assert series(after, "certkit_cert_problem") == {}
    assert _promtool_check(before).returncode == 0 and _promtool_check(after).returncode == 0


def test_a_carriage_return_or_escape_never_breaks_a_sample_line(tmp_path: Path) -> None:
    """Issue 19, item 6: a CR in a CN, in a file name and in what a server serves (--connect).

    The format has no escape for CR or ESC: certkit writes them visibly (the two characters ``\\r``),
    so every sample stays on its line for every reader (universal newlines included), promtool
    accepts the file, and the label shows what the table shows.
    """
    ca = make_ca("Textfile Root", NOW - timedelta(days=100), NOW + timedelta(days=3000))
    hostile = make_leaf("line\rbreak \x1b[2Jx", ca, *around(NOW, expires_in=timedelta(days=300)), sans=("a\rb",))
    folder = tmp_path / "certs"
    hostile.write(folder / "cr\rname.crt", chain=[ca])
    out = tmp_path / "certkit.prom"
    with tls_server(hostile, [ca], tmp_path / "server") as port:
        result = CliRunner().invoke(
            cli,
            [
                "check-expiry",
                *AT,
                "--connect",
                f"127.0.0.1:{port}",
                "--servername",
                "a\rb",
                "--format",
                "prometheus",
                "--output",
                str(out),
                str(folder),
            ],
            catch_exceptions=False,
        )
    assert result.output == "" and result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert b"\r" not in raw and b"\x1b" not in raw  # no control character but the line ends
    text = raw.decode("utf-8")
    for line in text.split("\n")[:-1]:
        assert line.startswith(("# HELP certkit_", "# TYPE certkit_", "certkit_")), line
    done = _promtool_check(text)
    assert done.returncode == 0, done.stdout + done.stderr
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    subjects = {s.labels["subject"] for s in samples if s.name == "certkit_cert_status"}
    paths = {s.labels["path"] for s in samples if s.name == "certkit_cert_status"}
    assert "CN=line\\rbreak \\x1b[2Jx" in subjects  # the file's leaf and the served one
    assert str(folder / "cr\\rname.crt") in paths and f"127.0.0.1:{port}" in paths
    served = [s for s in samples if s.name == "certkit_cert_status" and s.labels["path"] == f"127.0.0.1:{port}"]
    assert len(served) == 2  # the leaf and the CA the server sent, each one sample on its own line
