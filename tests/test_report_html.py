"""`check-expiry --format html`: the page, rendered by a real browser (Debian's chromium,
headless), must hold one row per certificate with the status check-expiry gives it, grouped
by chain; hostile subjects stay text; the file needs nothing from the network."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import markupsafe
import pytest
from click.testing import CliRunner, Result

from certkit.cli import cli
from tests.certfactory import around, hostile_certificate, make_ca, make_leaf
from tests.notary_harness import require_binary

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)
AT = ["--at", "2027-03-01T12:00:00Z"]
ROLE_RANK = {"root": 0, "self-signed": 0, "intermediate": 1, "leaf": 2}


def check(*args: str) -> Result:
    return CliRunner().invoke(cli, ["check-expiry", *args], catch_exceptions=False)


class Rows(HTMLParser):
    """The certificate rows of the page: (status, role, file text, subject text), by chain."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[dict[str, str]]] = []
        self.scripts = 0
        self.external: list[str] = []
        self._row: dict[str, str] | None = None
        self._field: str | None = None
        self.empty_text = ""
        self._in_empty = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if key in a:
                self.external.append(a[key])
        if tag == "tbody" and "chain" in a.get("class", ""):
            self.groups.append([])
        if tag == "tr" and "cert" in a.get("class", "").split():
            self._row = {
                "status": a["data-status"],
                "role": a["data-role"],
                "file": "",
                "subject": "",
                "bar": "",
                "class": a["class"],
            }
            self.groups[-1].append(self._row)
        if self._row is not None and tag == "span" and a.get("class") in ("file", "subject"):
            self._field = a["class"]
        if self._row is not None and tag == "div" and a.get("class") == "track":
            self._row["bar"] = a.get("aria-label", "")
        if tag == "p" and a.get("id") == "empty":
            self._in_empty = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._field = None
        if tag == "tr":
            self._row = None
        if tag == "p":
            self._in_empty = False

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._field:
            self._row[self._field] += data
        if self._in_empty:
            self.empty_text += data


def parse(html: str) -> Rows:
    rows = Rows()
    rows.feed(html)
    return rows


def chromium(page: Path, tmp_path: Path, screenshot: Path | None = None) -> str:
    """The DOM after Chromium loaded ``page`` (headless, no network, own profile)."""
    binary = require_binary("chromium", "chromium")
    common = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    done = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    if screenshot is not None:
        shot = subprocess.run(
            [*common, f"--screenshot={screenshot}", "--window-size=1200,900", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _json_statuses(*args: str) -> dict[tuple[str, int | None], str]:
    result = check(*args, "--format", "json")
    return {(r["path"], r["index"]): r["status"] for r in json.loads(result.output)["certificates"]}


# --------------------------------------------------------------------------- in the browser


def test_reference_report_in_chromium_one_row_per_certificate_with_its_status(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real (expired) Notary checkout, judged as of a fixed day: what the browser shows
    matches, row for row, what --format json says."""
    monkeypatch.chdir(reference_dir.parent)  # relative paths, as a person would type them
    target = reference_dir.name
    page = tmp_path / "report.html"
    result = check("--at", "2026-11-25", "--format", "html", "--output", str(page), target)
    assert result.exit_code == 2 and result.output == ""
    expected = _json_statuses("--at", "2026-11-25", target)

    dom = parse(chromium(page, tmp_path, screenshot=tmp_path / "report.png"))
    assert dom.scripts == 0 and dom.external == []
    rows = [row for group in dom.groups for row in group]
    shown: dict[tuple[str, int | None], str] = {}
    for row in rows:
        path, sep, index = row["file"].rpartition("#")
        # A compose project's BAKED row (SERVICE:/container/path) has no certificate index.
        shown[(path, int(index)) if sep else (row["file"], None)] = row["status"]
    assert len(rows) == len(expected) == len(shown)  # one row per certificate, none twice
    assert shown == expected
    assert shown[(f"{target}/fixtures/notary-server.crt", 0)] == "CRITICAL"
    assert shown[(f"{target}/fixtures/root-ca.crt", 0)] == "OK"
    assert shown[(f"{target}/trustpinning/test.crt", 0)] == "UNUSED"  # no service uses it: listed, not judged
    # Grouped by chain: within a chain the root comes first, then intermediates, then leaves.
    notary = [g for g in dom.groups if any(r["file"] == f"{target}/fixtures/root-ca.crt#0" for r in g)]
    assert len(notary) == 1
    roles = [r["role"] for r in notary[0]]
    assert roles[0] == "root" and "intermediate" in roles and "leaf" in roles
    assert [ROLE_RANK[r] for r in roles] == sorted(ROLE_RANK[r] for r in roles)
    server = [r for r in notary[0] if r["file"] == f"{target}/fixtures/notary-server.crt#0"][0]
    assert "status-critical" in server["class"] and server["bar"].startswith("CRITICAL: CN=notary-server valid ")
    assert png_size(tmp_path / "report.png") == (1200, 900)


def test_expiring_set_with_a_hostile_subject_in_chromium(tmp_path: Path) -> None:
    """WARNING and CRITICAL rows, and a subject full of markup, quotes and a newline that the
    browser must show as text (no script element appears in its DOM)."""
    ca = make_ca("Report Root", NOW - timedelta(days=100), NOW + timedelta(days=3000))
    folder = tmp_path / "certs"
    make_leaf("soon.example", ca, *around(NOW, expires_in=timedelta(days=20))).write(folder / "soon.crt", chain=[ca])
    make_leaf("sooner.example", ca, *around(NOW, expires_in=timedelta(days=2))).write(folder / "sooner.crt", chain=[ca])
    ca.write(folder / "root.crt")
    hostile_certificate(NOW).write(folder / "hostile.crt")
    page = tmp_path / "report.html"
    assert check(*AT, "--format", "html", "--output", str(page), str(folder)).exit_code == 2

    dom = parse(chromium(page, tmp_path))
    assert dom.scripts == 0
    rows = {r["file"].removeprefix(str(folder) + "/"): r for g in dom.groups for r in g}
    assert {k: r["status"] for k, r in rows.items()} == {
        "soon.crt#0": "WARNING",
        "soon.crt#1": "OK",
        "sooner.crt#0": "CRITICAL",
        "sooner.crt#1": "OK",
        "root.crt#0": "OK",
        "hostile.crt#0": "OK",
    }
    assert rows["hostile.crt#0"]["subject"] == hostile_certificate(NOW).cert.subject.rfc4514_string()
    assert "<script" in rows["hostile.crt#0"]["subject"]  # shown as text, not run


# --------------------------------------------------------------------------- the file itself


def test_hostile_subject_is_escaped_in_the_html(tmp_path: Path) -> None:
    hostile_certificate(NOW).write(tmp_path / "certs" / "hostile.crt")
    result = check(*AT, "--format", "html", str(tmp_path / "certs"))
    html = result.output
    assert result.exit_code == 0
    subject = hostile_certificate(NOW).cert.subject.rfc4514_string()
    assert "<script" in subject and "\n" in subject and '"' in subject  # the danger is really there
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert str(markupsafe.escape(subject)) in html
    assert "&lt;script&gt;alert(" in html.replace("\\", "")


def test_page_is_self_contained(tmp_path: Path, ca_set: Path) -> None:
    html = check(*AT, "--format", "html", str(ca_set)).output
    for needle in ("<script", "http://", "https://", "@import", "url(", "<link", "@font-face", " src="):
        assert needle not in html, needle
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_empty_set_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    page = tmp_path / "report.html"
    result = check(*AT, "--format", "html", "--output", str(page), str(tmp_path / "empty"))
    # A check that finds nothing does not pass (issue 20): UNKNOWN, and the page says why.
    assert result.exit_code == 3
    dom = parse(page.read_text())
    [group] = dom.groups
    assert [(r["status"], r["role"]) for r in group] == [("UNKNOWN", "input")]
    assert "no certificate files found here" in page.read_text()


def test_unreadable_input_gets_a_row_without_a_bar(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    dom = parse(check(*AT, "--format", "html", str(folder)).output)
    [group] = dom.groups
    assert [(r["status"], r["role"]) for r in group] == [("UNKNOWN", "input")]
    assert "truncated" in group[0]["bar"]


def test_a_chain_whose_issuer_is_not_in_the_set_is_grouped_under_that_issuer(tmp_path: Path) -> None:
    ca = make_ca("Absent Root", NOW - timedelta(days=100), NOW + timedelta(days=3000))
    folder = tmp_path / "certs"
    make_leaf("orphan.example", ca, *around(NOW, expires_in=timedelta(days=90))).write(folder / "orphan.crt")
    make_ca("Present Root", NOW - timedelta(days=100), NOW + timedelta(days=3000)).write(folder / "root.crt")
    html = check(*AT, "--format", "html", str(folder)).output
    dom = parse(html)
    assert [[(r["role"], r["file"].rsplit("/", 1)[1]) for r in g] for g in dom.groups] == [
        [("root", "root.crt#0")],
        [("leaf", "orphan.crt#0")],
    ]
    assert 'Chain: CN=Absent Root <span class="note">(issuer not among the checked files)' in html


@pytest.fixture
def ca_set(tmp_path: Path) -> Path:
    ca = make_ca("Set Root", NOW - timedelta(days=100), NOW + timedelta(days=3000))
    folder = tmp_path / "set"
    make_leaf("a.example", ca, *around(NOW, expires_in=timedelta(days=90))).write(folder / "a.crt", chain=[ca])
    return folder


# --------------------------------------------------------------------------- bad --output


@pytest.mark.parametrize("fmt", ["html", "prometheus"])
def test_output_into_a_missing_folder_is_one_line_exit_3_nothing_written(
    tmp_path: Path, ca_set: Path, fmt: str
) -> None:
    target = tmp_path / "no-such-textfile-dir" / "certkit.out"
    result = check(*AT, "--format", fmt, "--output", str(target), str(ca_set))
    assert result.exit_code == 3
    assert result.output == (
        f"certkit: check-expiry: --output {target}: folder {target.parent} does not exist; "
        "create it (for node_exporter: its --collector.textfile.directory) or give another --output\n"
    )
    assert not target.parent.exists()


@pytest.mark.parametrize("fmt", ["html", "prometheus"])
def test_output_into_a_folder_that_is_not_writable(tmp_path: Path, ca_set: Path, fmt: str) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits; sysfs refuses new files even to root.
        folder = Path("/sys")
    else:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
    before = sorted(os.listdir(folder))
    result = check(*AT, "--format", fmt, "--output", str(folder / "certkit.out"), str(ca_set))
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and f"{folder / 'certkit.out'}" in result.output
    assert "not writable" in result.output or "cannot write" in result.output
    assert sorted(os.listdir(folder)) == before


def test_output_whose_folder_is_a_file(tmp_path: Path, ca_set: Path) -> None:
    (tmp_path / "plain").write_text("x")
    result = check(*AT, "--format", "html", "--output", str(tmp_path / "plain" / "r.html"), str(ca_set))
    assert result.exit_code == 3 and "is not a folder" in result.output and result.output.count("\n") == 1
    assert (tmp_path / "plain").read_text() == "x"
