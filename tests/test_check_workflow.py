"""certkit.workflows.check: the check as a stream (what check-expiry writes as it goes) and as a whole (the API)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from certkit.durations import parse_duration
from certkit.workflows.check import CheckRequest, run_check, stream_check
from tests.certfactory import around, make_ca, make_leaf

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)


def _request(*paths: Path, now: datetime = NOW) -> CheckRequest:
    return CheckRequest(paths, now, parse_duration("30d"), parse_duration("7d"), environ={})


def _leaf(path: Path, name: str, days_left: int) -> None:
    ca = make_ca("Stream Root", *around(NOW, expires_in=timedelta(days=4000)))
    leaf = make_leaf(name, ca, *around(NOW, expires_in=timedelta(days=days_left)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(leaf.pem())


def test_a_folder_is_judged_as_the_findings_are_read(tmp_path: Path) -> None:
    """The walk runs as the stream is read: a file that appears in a folder not yet walked is found.
    A check that held every finding before giving the first (as check-expiry did at 10,000 files,
    issue 21) would not see it."""
    _leaf(tmp_path / "a" / "first.crt", "first.example", 3)
    (tmp_path / "z").mkdir()
    stream = stream_check(_request(tmp_path))
    findings = iter(stream)
    first = next(findings)
    assert first.path.endswith("first.crt") and first.status.name == "CRITICAL"
    assert stream.summary.total == 1  # counted as read
    _leaf(tmp_path / "z" / "later.crt", "later.example", 20)  # z/ is listed after a/ is done
    rest = list(findings)
    assert [Path(f.path).name for f in rest] == ["later.crt"]
    assert rest[0].status.name == "WARNING"
    assert stream.summary.total == 2 and stream.summary.status.name == "CRITICAL"


def test_a_checkout_is_read_whole_before_its_first_finding(reference_copy: Path) -> None:
    """A Notary checkout is read whole first, so a renewal switching its files meanwhile is read
    again (consistent_read): a file added after the first finding was given is not in this run."""
    stream = stream_check(_request(reference_copy))
    findings = iter(stream)
    assert "/trustpinning/" not in next(findings).path  # a folder a streamed walk would list only later
    shutil.copy(reference_copy / "fixtures" / "notary-server.crt", reference_copy / "trustpinning" / "zzz-added.crt")
    assert not any(f.path.endswith("zzz-added.crt") for f in findings)
    again = [f.path for f in stream_check(_request(reference_copy))]
    assert any(p.endswith("zzz-added.crt") for p in again)  # the next run sees it


def test_the_stream_gives_what_run_check_gives(reference_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    _leaf(plain / "x" / "one.crt", "one.example", 3)
    _leaf(plain / "y" / "two.crt", "two.example", 90)
    for paths in ((reference_dir,), (plain,), (reference_dir, plain)):
        whole = run_check(_request(*paths, now=NOW + timedelta(days=1)))
        stream = stream_check(_request(*paths, now=NOW + timedelta(days=1)))
        streamed = list(stream)
        assert [(f.path, f.index, f.shown_status) for f in streamed] == [
            (f.path, f.index, f.shown_status) for f in whole.findings
        ]
        assert stream.summary.line() == whole.summary.line() and stream.summary.notes == whole.summary.notes
