"""`check-expiry --format html`: the page, rendered by a real browser (Debian's chromium,
headless, 1280 px wide), must show every certificate check-expiry judged with its status, one
row per certificate listing every file it is in, grouped by chains whose signatures verify, on
an axis that covers every bar (or marks the cut), with the --warn/--crit windows visible on a
zoomed strip; hostile subjects stay text; the file needs nothing from the network."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

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
    """The certificate rows of the page, by chain: status, role, files ((path, index) pairs, their
    text), subject, the bars' text alternative, and per track ("long", "near") its zones and marks."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[dict[str, Any]]] = []
        self.group_titles: list[str] = []
        self.scripts = 0
        self.external: list[str] = []
        self.summary = ""
        self.axis = ""
        self._row: dict[str, Any] | None = None
        self._field: str | None = None
        self._track: dict[str, Any] | None = None
        self._cut: str | None = None
        self._in: str | None = None
        self.empty_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if key in a:
                self.external.append(a[key])
        if tag == "tbody" and "chain" in classes:
            self.groups.append([])
            self.group_titles.append("")
            self._in = "group"
        if tag == "tr" and "cert" in classes:
            self._in = None
            self._row = {
                "status": a["data-status"],
                "role": a["data-role"],
                "files": [],
                "file": "",
                "subject": "",
                "bar": "",
                "class": a["class"],
                "tracks": {},
            }
            self.groups[-1].append(self._row)
        if self._row is not None and tag == "li" and "file" in classes:
            index = a["data-index"]
            self._row["files"].append((a["data-path"], int(index) if index else None))
            self._field = "file"
        if self._row is not None and tag == "span" and "subject" in classes:
            self._field = "subject"
        if self._row is not None and tag == "div" and "track" in classes:
            self._row["bar"] = a.get("aria-label", "")
            self._track = {"zones": {}, "cuts": {}, "bar": None}
            self._row["tracks"][classes[1]] = self._track
        if self._track is not None and tag == "div" and "zone" in classes:
            self._track["zones"][classes[1]] = _width(a["style"])
        if self._track is not None and tag == "div" and "bar" in classes:
            self._track["bar"] = a["style"]
        if self._track is not None and tag == "span" and "cut" in classes:
            self._cut = classes[1]
            self._track["cuts"][self._cut] = ""
        if tag == "p" and a.get("id") in ("empty", "summary"):
            self._in = a["id"]
        if tag == "th" and a.get("scope") == "col" and not self.axis:
            self._in = "axis"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "li"):
            self._field = None
            self._cut = None
        if tag == "tr":
            self._row = None
            self._track = None
            if self._in == "group":
                self._in = None
        if tag == "p" or (tag == "div" and self._in == "axis"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cut is not None and self._track is not None:
            self._track["cuts"][self._cut] += data
        elif self._row is not None and self._field:
            self._row[self._field] += data
        if self._in == "empty":
            self.empty_text += data
        if self._in == "summary":
            self.summary += data
        if self._in == "group":
            self.group_titles[-1] += data
        if self._in == "axis" and data.strip().startswith("Validity"):
            self.axis = data.strip()


def _width(style: str) -> float:
    match = re.search(r"width: ([0-9.]+)%", style)
    assert match, style
    return float(match.group(1))


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
            [*common, f"--screenshot={screenshot}", "--window-size=1280,900", page.as_uri()],
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


def places(dom: Rows) -> dict[tuple[str, int | None], dict[str, Any]]:
    """Each (path, index) the page shows, with its row; a place shown twice fails."""
    found: dict[tuple[str, int | None], dict[str, Any]] = {}
    for group in dom.groups:
        for row in group:
            assert row["files"], row
            for place in row["files"]:
                assert place not in found, f"{place} is shown twice"
                found[place] = row
    return found


def test_reference_report_in_chromium_every_certificate_with_its_status(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real (expired) Notary checkout, judged as of a fixed day: what the browser shows
    matches, place for place, what --format json says; a certificate in several files is one row."""
    monkeypatch.chdir(reference_dir.parent)  # relative paths, as a person would type them
    target = reference_dir.name
    page = tmp_path / "report.html"
    result = check("--at", "2026-11-25", "--format", "html", "--output", str(page), target)
    assert result.exit_code == 2 and result.output == ""
    expected = _json_statuses("--at", "2026-11-25", target)

    dom = parse(chromium(page, tmp_path, screenshot=tmp_path / "report.png"))
    assert dom.scripts == 0 and dom.external == []
    shown = {place: row["status"] for place, row in places(dom).items()}
    assert shown == expected  # every certificate JSON lists, with its status, none twice
    assert shown[(f"{target}/fixtures/notary-server.crt", 0)] == "CRITICAL"
    assert shown[(f"{target}/fixtures/root-ca.crt", 0)] == "OK"
    assert shown[(f"{target}/trustpinning/test.crt", 0)] == "UNUSED"  # no service uses it: listed, not judged
    # Grouped by chain: within a chain the root comes first, then intermediates, then leaves.
    rows = places(dom)
    notary = [g for g in dom.groups if rows[(f"{target}/fixtures/root-ca.crt", 0)] in g]
    assert len(notary) == 1
    roles = [r["role"] for r in notary[0]]
    assert roles[0] == "root" and "intermediate" in roles and "leaf" in roles
    assert [ROLE_RANK[r] for r in roles] == sorted(ROLE_RANK[r] for r in roles)
    server = rows[(f"{target}/fixtures/notary-server.crt", 0)]
    assert "status-critical" in server["class"] and server["bar"].startswith("CRITICAL: CN=notary-server valid ")
    # The intermediate is one certificate in four files (its own, and the second of each bundle):
    # one row listing them, as is the root with its copy for the notary client.
    intermediate = rows[(f"{target}/fixtures/intermediate-ca.crt", 0)]
    assert sorted(intermediate["files"]) == [
        (f"{target}/fixtures/intermediate-ca.crt", 0),
        (f"{target}/fixtures/notary-escrow.crt", 1),
        (f"{target}/fixtures/notary-server.crt", 1),
        (f"{target}/fixtures/notary-signer.crt", 1),
    ]
    assert intermediate["file"].count("2nd of 2 in this bundle") == 3
    assert [r["role"] for r in notary[0]].count("intermediate") == 1
    assert sorted(rows[(f"{target}/fixtures/root-ca.crt", 0)]["files"]) == [
        (f"{target}/cmd/notary/root-ca.crt", 0),
        (f"{target}/fixtures/root-ca.crt", 0),
    ]
    # trustpinning/ca.crt names the testing CA as its issuer, but another key signed it: not in the
    # live root's chain, and its own group says why.
    pinning = rows[(f"{target}/trustpinning/ca.crt", 0)]
    assert pinning not in notary[0]
    [title] = [t for g, t in zip(dom.groups, dom.group_titles, strict=True) if pinning in g]
    assert "another key" in title
    # The header is a sentence, not a shell line.
    assert "->" not in dom.summary and "(exit" not in dom.summary
    assert dom.summary.split()[0] == "CRITICAL" and "13 CRITICAL" in dom.summary
    assert png_size(tmp_path / "report.png") == (1280, 900)


def test_axis_covers_every_bar_and_marks_the_ones_past_its_reach(tmp_path: Path) -> None:
    """A renewed Notary-like set: a 10-year root, 2-year leaves, and a 100-year test certificate.
    The long axis reaches the root's end (no CA bar cut off); the 100-year bar, past the axis'
    15-year reach, ends in a mark with its year; the --warn and --crit windows are wide on the strip."""
    root = make_ca("Axis Root", NOW - timedelta(minutes=5), NOW + timedelta(days=3650))
    folder = tmp_path / "set"
    make_leaf("leaf.example", root, NOW - timedelta(minutes=5), NOW + timedelta(days=750)).write(
        folder / "leaf.crt", chain=[root]
    )
    root.write(folder / "root.crt")
    make_ca("Century", NOW - timedelta(days=1), NOW + timedelta(days=36500)).write(folder / "century.crt")
    page = tmp_path / "report.html"
    assert check(*AT, "--format", "html", "--output", str(page), str(folder)).exit_code == 0

    dom = parse(chromium(page, tmp_path))
    match = re.search(r"Validity, (\S+) to (\S+)", dom.axis)
    assert match, dom.axis
    end = datetime.fromisoformat(match.group(2)).replace(tzinfo=timezone.utc)
    rows = places(dom)
    root_row = rows[(str(folder / "root.crt"), 0)]
    assert NOW + timedelta(days=3650) <= end  # the root's bar ends on the axis ...
    assert root_row["tracks"]["long"]["cuts"] == {}  # ... and is not cut
    century = rows[(str(folder / "century.crt"), 0)]["tracks"]["long"]
    assert end < NOW + timedelta(days=36500)  # the axis does not stretch 100 years for one certificate
    assert century["cuts"] == {"right": f"{(NOW + timedelta(days=36500)).year} \u25b6\ufe0e"}  # the cut, marked
    for track in (t for r in rows.values() for t in r["tracks"].values()):
        # Every bar that touches an end of its axis has a mark there.
        style = track["bar"] or ""
        at = re.search(r"left: ([0-9.]+)%", style)
        left = float(at.group(1)) if at else 50.0
        right = left + (_width(style) if style else 0.0)
        assert left > 0.0 or "left" in track["cuts"] or not style, track
        assert right < 100.0 or "right" in track["cuts"], track
    # On the 10-year axis the 30-day window is a sliver; the near-term strip shows both windows.
    long_zones = root_row["tracks"]["long"]["zones"]
    near_zones = root_row["tracks"]["near"]["zones"]
    assert long_zones["warn"] < 1.0
    assert near_zones["crit"] >= 5.0 and near_zones["warn"] >= 15.0


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
    rows = {f"{p.removeprefix(str(folder) + '/')}#{i}": r for (p, i), r in places(dom).items()}
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
    assert [[(r["role"], [(p.rsplit("/", 1)[1], i) for p, i in r["files"]]) for r in g] for g in dom.groups] == [
        [("root", [("root.crt", 0)])],
        [("leaf", [("orphan.crt", 0)])],
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
        f"certkit: error: --output {target}: folder {target.parent} does not exist; "
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
