"""Issue 19, item 8: check-expiry never follows a symlinked folder out of the folder it checks.

A committed ``fixtures/x -> /etc`` listed the host's certificates with their subjects, and
``-> /`` walked the whole host (then died of RecursionError).  Now such a link is one SKIPPED
row with the reason, the files the services use behind it are still judged one by one, the
walk is bounded in depth and entries, and a folder the user names is walked (its own links out
are not followed either; naming a link's target walks it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from certkit.bounded import MAX_WALK_DEPTH, MAX_WALK_ENTRIES
from certkit.check.expiry import Checker
from certkit.check.findings import Thresholds
from certkit.durations import parse_duration
from tests.certfactory import make_ca, make_leaf
from tests.cli_helpers import run_cli

NOW = datetime.now(timezone.utc)
REPO = Path(__file__).resolve().parent.parent


def host_folder(tmp_path: Path) -> Path:
    """A folder outside the checkout holding a certificate, as /etc/ssl holds the host's."""
    ca = make_ca("host secret CA", NOW - timedelta(days=10), NOW + timedelta(days=300))
    ca.write(tmp_path / "host" / "ssl" / "certs" / "host-ca.crt")
    return tmp_path / "host"


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code, out, err = run_cli(capsys, "check-expiry", "--format", "json", *args)
    assert err == "", err
    return code, json.loads(out)


def test_a_symlink_to_a_host_folder_is_skipped_not_listed(
    reference_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = host_folder(tmp_path)
    (reference_copy / "fixtures/x").symlink_to(host)
    (reference_copy / "fixtures/etc").symlink_to("/etc")
    code, report = check_json(capsys, str(reference_copy))
    assert code == 2  # Notary's expired leaves, as without the links
    records = report["certificates"]
    assert isinstance(records, list)
    assert not [r for r in records if "/fixtures/x/" in r["path"] or "/fixtures/etc/" in r["path"]]
    assert not [r for r in records if r["subject"] and "host secret" in r["subject"]]
    skipped = {r["path"]: r for r in records if r["status"] == "SKIPPED"}
    assert set(skipped) == {f"{reference_copy}/fixtures/x", f"{reference_copy}/fixtures/etc"}
    assert skipped[f"{reference_copy}/fixtures/etc"]["reasons"] == [
        f"symlink to a folder outside {reference_copy} (/etc): not followed; name it as an argument to check it"
    ]
    assert all(r["used"] is False and r["codes"] == ["skipped"] for r in skipped.values())
    assert report["summary"]["skipped"] == 2  # type: ignore[index]
    code, out, _ = run_cli(capsys, "check-expiry", str(reference_copy))
    summary = [line for line in out.splitlines() if " checked: " in line]  # notes may follow it
    assert "2 symlinked folders outside not followed" in summary[-1]


def test_a_symlink_to_the_root_folder_is_skipped_at_once(reference_copy: Path) -> None:
    (reference_copy / "fixtures/root").symlink_to("/")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "certkit", "check-expiry", str(reference_copy)],
        capture_output=True,
        text=True,
        timeout=90,  # main walked the whole host for minutes, then died of RecursionError
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2, done.stderr
    assert (
        f"SKIPPED           -                 {reference_copy}/fixtures/root  symlink to a folder outside"
        in done.stdout
    )
    assert time.monotonic() - started < 60


def test_a_symlink_inside_the_folder_is_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "certs"
    ca = make_ca("inside CA", NOW - timedelta(days=10), NOW + timedelta(days=300))
    ca.write(folder / "archive" / "ca.crt")
    (folder / "live").symlink_to("archive")  # certbot's live/ -> archive/ shape, inside the folder
    (tmp_path / "elsewhere").mkdir()
    ca.write(tmp_path / "elsewhere" / "other.crt")
    (folder / "live" / "link.crt").symlink_to(tmp_path / "elsewhere" / "other.crt")  # a file link: followed
    code, report = check_json(capsys, str(folder))
    assert code == 0
    records = report["certificates"]
    assert isinstance(records, list)
    assert sorted(r["path"].removeprefix(f"{folder}/") for r in records) == ["archive/ca.crt", "archive/link.crt"]


def test_files_the_services_use_behind_a_linked_out_folder_are_still_judged(
    fresh_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``fixtures/database -> /srv/...`` is a real set-up: the profile's files there are judged, one by one,
    and nothing else there is read."""
    outside = tmp_path / "srv-database"
    (fresh_layout / "fixtures/database").rename(outside)
    (fresh_layout / "fixtures/database").symlink_to(outside)
    make_ca("stray", NOW - timedelta(days=10), NOW - timedelta(days=1)).write(outside / "stray-expired.crt")
    code, report = check_json(capsys, str(fresh_layout))
    assert code == 0  # the stray expired certificate beside them is never read
    records = report["certificates"]
    assert isinstance(records, list)
    database = sorted(r["path"].removeprefix(f"{fresh_layout}/") for r in records if "/database" in r["path"])
    assert database == [
        "fixtures/database",
        "fixtures/database/ca.pem",
        "fixtures/database/notary-server.pem",
        "fixtures/database/notary-signer.pem",
    ]
    statuses = {r["path"].removeprefix(f"{fresh_layout}/"): r["status"] for r in records if "/database" in r["path"]}
    assert statuses["fixtures/database"] == "SKIPPED" and statuses["fixtures/database/ca.pem"] == "OK"


def test_a_folder_named_as_argument_is_walked_but_not_its_links_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = host_folder(tmp_path)
    other = tmp_path / "other"
    make_leaf("other.example", make_ca("o", NOW, NOW + timedelta(days=9)), NOW, NOW + timedelta(days=300)).write(
        other / "other.crt"
    )
    (host / "ssl" / "elsewhere").symlink_to(other)
    link = tmp_path / "checkout-link"
    link.symlink_to(host)  # the user names a link: its target is walked
    code, report = check_json(capsys, str(link))
    records = report["certificates"]
    assert isinstance(records, list)
    assert [(r["path"], r["status"]) for r in records] == [
        (f"{link}/ssl/certs/host-ca.crt", "OK"),
        (f"{link}/ssl/elsewhere", "SKIPPED"),
    ]
    code, report = check_json(capsys, str(link), str(link / "ssl" / "elsewhere"))  # named: walked
    records = report["certificates"]
    assert isinstance(records, list)
    assert (f"{link}/ssl/elsewhere/other.crt", "OK") in [(r["path"], r["status"]) for r in records]


# --------------------------------------------------------------------------- the walk's bounds


def _checker(*, max_depth: int = MAX_WALK_DEPTH, max_entries: int = MAX_WALK_ENTRIES) -> Checker:
    month = parse_duration("30d")
    return Checker(NOW, Thresholds(month, parse_duration("7d")), max_depth=max_depth, max_entries=max_entries)


def test_the_walk_stops_at_its_entry_bound_with_one_finding(tmp_path: Path) -> None:
    ca = make_ca("many", NOW - timedelta(days=10), NOW + timedelta(days=300))
    for index in range(30):
        ca.write(tmp_path / f"sub{index % 3}" / f"c{index:02}.crt")
    findings = list(_checker(max_entries=20).run([tmp_path]))
    unknown = [f for f in findings if f.reasons and f.reasons[0].code == "unreadable"]
    assert len(unknown) == 1 and unknown[0].reasons[0].text.startswith(
        "walk stopped after 20 entries below the folder checked: certificates beyond are not checked"
    )
    assert 10 <= len(findings) - 1 <= 20  # what was reached is still reported
    assert len(list(_checker().run([tmp_path]))) == 30  # the real bound is far above


def test_the_walk_stops_at_its_depth_bound_with_one_finding(tmp_path: Path) -> None:
    ca = make_ca("deep", NOW - timedelta(days=10), NOW + timedelta(days=300))
    ca.write(tmp_path / "a" / "top.crt")
    ca.write(tmp_path / "a" / "b" / "c" / "d" / "deep.crt")
    findings = list(_checker(max_depth=2).run([tmp_path]))
    assert [(Path(f.path).relative_to(tmp_path).as_posix(), f.status.name) for f in findings] == [
        ("a/b/c", "UNKNOWN"),
        ("a/top.crt", "OK"),
    ]


def test_a_folder_holding_only_a_link_out_checked_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A link not followed is no certificate checked: the folder is UNKNOWN, as an empty one is."""
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "etc").symlink_to(host_folder(tmp_path))
    code, report = check_json(capsys, str(folder))
    assert code == 3
    records = report["certificates"]
    assert isinstance(records, list)
    assert [(r["path"], r["status"], r["codes"]) for r in records] == [
        (f"{folder}/etc", "SKIPPED", ["skipped"]),
        (str(folder), "UNKNOWN", ["no-certificates"]),
    ]
