"""`certkit check-expiry` as one core call: gather the findings of files, configs and endpoints.

The check reads a Notary checkout as it is deployed (certkit.check.deployed: what the services use),
its configs (certkit.check.notary_config), the certificate files (walked by certkit.check.walk,
judged by certkit.check.expiry) and what servers serve (certkit.check.endpoints), never across a
renewal's switch of files, and returns the findings with their Summary: the worst status is the exit
code.  It returns data; certkit.render.expiry writes it in the asked-for format.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from certkit.check.findings import SKIPPED, Finding, Status, Thresholds, worst
from certkit.check.running import EngineUse
from certkit.durations import Duration
from certkit.errors import UsageError

if TYPE_CHECKING:
    from certkit.check.expiry import ServedChain
    from certkit.check.findings import Note
    from certkit.check.runs import RunningFile
    from certkit.profile import Profile

T = TypeVar("T")
SETTLE_WAIT = 10.0  # seconds to wait for a renewal in progress; the switch itself takes milliseconds
_NAGIOS_SHOWN = 5  # problems the Summary keeps for the Nagios status line; the rest are counted


@dataclass(frozen=True)
class CheckRequest:
    paths: tuple[Path, ...]
    now: datetime
    warn: Duration
    crit: Duration
    endpoints: tuple[str, ...] = ()
    servername: str | None = None
    timeout: float = 5.0
    judge_all: bool = False
    exclude: tuple[str, ...] = ()
    profile_source: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # What runs (certkit.check.running): the compose analysis always; the engine when a socket is there.
    engine_use: EngineUse = EngineUse.AUTO
    docker_host: str | None = None
    engine_timeout: float = 5.0

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.warn, self.crit)


@dataclass
class CheckRun:
    findings: list[Finding]
    summary: Summary
    thresholds: Thresholds


class CheckStream:
    """One check's findings as they are made, each once, and its Summary, complete once they are all read.

    What `check-expiry` writes as it goes: a walk of 100,000 files holds one file's findings at a
    time, never the list (make bench-expiry).  The order is run_check's.
    """

    def __init__(self, findings: Iterable[Finding], summary: Summary, thresholds: Thresholds) -> None:
        self._findings = findings
        self.summary = summary
        self.thresholds = thresholds

    def __iter__(self) -> Iterator[Finding]:
        for finding in self._findings:
            self.summary.add(finding)
            yield finding


class Summary:
    """Counts per status and the worst one: all a run needs to decide its exit code.

    Rows of files no service uses (``Finding.used`` false) are counted apart and never
    change the status: they are listed for information only.
    """

    def __init__(self, notes: list[str] | None = None) -> None:
        self.counts = {status: 0 for status in Status}
        self.problems: list[Finding] = []  # only the first few, for the Nagios line
        self.problem_count = 0
        self.min_seconds_left: int | None = None
        self.unused = 0
        self.skipped = 0  # symlinked folders outside the folder checked (listed, not walked)
        self.notes = list(notes or [])  # about the run itself (a compose file certkit could not analyse)

    def add(self, finding: Finding) -> None:
        if not finding.used:
            if finding.shown_status == SKIPPED:
                self.skipped += 1
            else:
                self.unused += 1
            return
        status = finding.status
        self.counts[status] += 1
        if status is not Status.OK:
            self.problem_count += 1
            if len(self.problems) < _NAGIOS_SHOWN:
                self.problems.append(finding)
        if finding.seconds_left is not None:
            if self.min_seconds_left is None or finding.seconds_left < self.min_seconds_left:
                self.min_seconds_left = finding.seconds_left

    @property
    def status(self) -> Status:
        if self.total == 0:
            return Status.UNKNOWN  # nothing judged (only unused files): a check that found nothing does not pass
        return worst(s for s, n in self.counts.items() if n)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def counts_text(self) -> str:
        """The counts, worst first: ``1 CRITICAL, 0 WARNING, 0 UNKNOWN, 12 OK``."""
        return ", ".join(
            f"{self.counts[s]} {s.name}" for s in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN, Status.OK)
        )

    def line(self) -> str:
        line = f"{self.total} checked: {self.counts_text()} -> {self.status.name} (exit {self.status.value})"
        if self.unused:
            line += f"; {self.unused} not used by any service (listed, not judged; --all judges them)"
        if self.skipped:
            line += f"; {self.skipped} symlinked folder{'s' if self.skipped != 1 else ''} outside not followed"
        return line


def run_check(request: CheckRequest) -> CheckRun:
    """Check ``request.paths`` (default ".") and endpoints; the Summary holds the exit status.

    Raises:
        UsageError: --warn shorter than --crit, or an endpoint that is not HOST:PORT.
    """
    stream = stream_check(request)
    findings = list(stream)
    return CheckRun(findings, stream.summary, stream.thresholds)


def stream_check(request: CheckRequest) -> CheckStream:
    """:func:`run_check` as a stream: what can fail or wait (the endpoints, the configs, the compose
    analysis, the engine) is done before this returns; the walk runs as the findings are read.

    In the order run_check gives: the files and folders (the walk's order), the config checks,
    what runs, a deploy owed.  A Notary checkout's findings are read whole before the first is
    given (a few dozen files), so that a renewal switching its files meanwhile is read again
    (:func:`consistent_read`); any other folder streams, however large.

    Raises:
        UsageError: --warn shorter than --crit, or an endpoint that is not HOST:PORT.
    """
    from certkit.check.deploy_owed import owed_finding
    from certkit.check.notary_config import find_layout_root
    from certkit.profile import load_profile

    now = request.now
    warn, crit = request.warn, request.crit
    if warn.after(now) < crit.after(now):
        raise UsageError(
            f"--warn {warn} is shorter than --crit {crit}; the warning window must include the critical one"
        )
    paths = request.paths
    served = []
    if request.endpoints:  # ssl and socket only for the runs that connect (cron checks of files stay lighter)
        from certkit.check.endpoints import fetch_chain, parse_address

        for address in request.endpoints:
            parse_address(address)  # a usage error before anything is fetched
        served = [
            fetch_chain(address, servername=request.servername, timeout=request.timeout)
            for address in request.endpoints
        ]
    elif not paths:
        paths = (Path("."),)

    profile = load_profile(request.profile_source)
    layouts = [
        root for root in (find_layout_root(p, profile) if p.is_dir() else None for p in paths) if root is not None
    ]
    summary = Summary()
    if layouts:
        held, notes = consistent_read(layouts, lambda: _held(_gather(request, paths, profile, served)))
        found: Iterable[Finding] = held
    else:
        found, notes = _gather(request, paths, profile, served)
    summary.notes.extend(notes)
    after: list[Finding] = []
    for root in _checkouts(paths, profile, request.judge_all):
        running = running_findings(root, profile, request)
        after.extend(running[0])
        summary.notes.extend(n for n in running[1] if n not in summary.notes)
        owed = owed_finding(root)  # a deploy renew --deploy could not do: the renewal has not reached what runs
        if owed is not None:
            after.append(owed)
    return CheckStream(itertools.chain(found, after), summary, request.thresholds)


def _gather(
    request: CheckRequest, paths: tuple[Path, ...], profile: Profile, served: list[ServedChain]
) -> tuple[Iterator[Finding], list[str]]:
    """The findings of the files and configs (a stream: the walk runs as it is read), and notes on the run."""
    from certkit.check.deployed import deployed_files, is_checkout
    from certkit.check.expiry import Checker
    from certkit.check.notary_config import find_layout_root, notary_notes
    from certkit.check.offline import offline_key_notes
    from certkit.check.walk import Scope

    now = request.now
    notes: dict[str, list[Note]] = {}
    shown: dict[str, str] = {}
    config_findings: list[Finding] = []
    scopes: dict[str, Scope] = {}
    run_notes: list[str] = []
    for path in paths:
        if not path.is_dir():
            continue  # a file named on the command line is always judged
        root = find_layout_root(path, profile)
        result = None
        if root is not None:
            result = notary_notes(root, now, profile)
            result.merge_into(notes, shown)
            config_findings.extend(result.findings)
        elif is_checkout(path, profile):
            root = path
        if root is not None:
            offline_notes, offline_shown = offline_key_notes(root, profile, now, request.thresholds)
            for real, items in offline_notes.items():
                notes.setdefault(real, []).extend(items)
            for real, path_text in offline_shown.items():
                shown.setdefault(real, path_text)
        if root is not None and not request.judge_all:
            deployment = deployed_files(root, profile, result, request.environ)
            scopes[str(path)] = Scope(frozenset(deployment.used))
            run_notes.extend(n for n in deployment.notes if n not in run_notes)
            config_findings.extend(deployment.findings)
    checker = Checker(
        now,
        request.thresholds,
        served=served,
        notes=notes,
        note_paths=shown,
        scopes=scopes,
        exclude=request.exclude,
    )
    return itertools.chain(checker.run(list(paths)), config_findings), run_notes


def _held(gathered: tuple[Iterator[Finding], list[str]]) -> tuple[list[Finding], list[str]]:
    findings, notes = gathered
    return list(findings), notes


def _checkouts(paths: tuple[Path, ...], profile: Profile, judge_all: bool) -> list[Path]:
    """The Notary checkouts among the folder arguments, each once."""
    from certkit.check.deployed import is_checkout
    from certkit.check.notary_config import find_layout_root

    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            continue
        root = find_layout_root(path, profile) or (path if is_checkout(path, profile) else None)
        if root is not None and os.path.realpath(root) not in {os.path.realpath(f) for f in found}:
            found.append(root)
    return found


def running_findings(root: Path, profile: Profile, request: CheckRequest) -> tuple[list[Finding], list[str]]:
    """What the containers of ``root`` run (and what `docker compose up` would run there), as findings."""
    from certkit.check.running import RunningRequest, check_running

    report = check_running(
        RunningRequest(
            root,
            profile,
            request.environ,
            engine_use=request.engine_use,
            docker_host=request.docker_host,
            timeout=request.engine_timeout,
        )
    )
    return [running_finding(row, request.now, request.thresholds) for row in report.files], report.notes


def running_finding(row: RunningFile, now: datetime, thresholds: Thresholds) -> Finding:
    """One row of certkit.check.running as a Finding: the container's certificate judged by time,
    plus its verdict (STALE and BAKED are CRITICAL: the renewal does not reach what runs)."""
    from certkit.check.expiry import judge_time
    from certkit.check.findings import Reason
    from certkit.check.runs import Verdict

    cert = row.leaf()
    left, reasons = judge_time(cert, now, thresholds) if cert is not None else (None, [])
    finding = Finding("container" if row.container else "compose", row.where, None, cert, left, [], runs=row)
    status = {
        Verdict.OK: Status.OK,
        Verdict.STALE: Status.CRITICAL,
        Verdict.BAKED: Status.CRITICAL,
        Verdict.MISSING: Status.CRITICAL,
        Verdict.UNREADABLE: Status.UNKNOWN,
    }[row.verdict]
    finding.add(Reason(str(row.verdict), status, row.text))
    for reason in reasons:
        finding.add(reason)
    return finding


def consistent_read(layouts: list[Path], gather: Callable[[], T]) -> T:
    """``gather()``, never across a renewal's switch of files: a key and a certificate from two sets.

    A renewal switches its files between a commit record and its removal (certkit.store.transaction).
    Before reading, wait (at most SETTLE_WAIT) while a live renewal has one pending; if a
    transaction started or ended while reading, read once more.  A record left by a crashed
    renewal (nobody holds the lock) is not waited for: the files are reported as they are.
    """
    from certkit.store.layout import STATE_FOLDER
    from certkit.store.lock import holder_pid
    from certkit.store.transaction import activity

    states = [root / STATE_FOLDER for root in layouts]

    def marks() -> list[tuple[int, bool] | None]:
        deadline = time.monotonic() + SETTLE_WAIT
        while (
            any(mark is not None and mark[1] for mark in (activity(s) for s in states))
            and any(holder_pid(root) is not None for root in layouts)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        return [activity(s) for s in states]

    before = marks()
    result = gather()
    if not states or marks() == before:
        return result
    marks()
    return gather()
