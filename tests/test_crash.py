"""Crash consistency: SIGKILL and injected I/O errors at every step of a renewal.

A renewal (`certkit renew --force --rotate-keys`, which rewrites every certificate and
leaf key) runs in a subprocess and is killed or fails at a chosen file-system step
(CERTKIT_FAILPOINT, see certkit/store/storage.py) or at a random moment.  The next run
recovers; then openssl finds the set consistent, and it is wholly old or wholly new.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crashcheck import live_files, old_or_new, problems

ROOT = Path(__file__).resolve().parent.parent
RENEW = ["renew", "--force", "--rotate-keys", "--no-compose"]


def certkit(folder: Path, *args: str, failpoint: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CERTKIT_FAILPOINT", None)
    if failpoint:
        env["CERTKIT_FAILPOINT"] = failpoint
    argv = [sys.executable, "-m", "certkit", *args, str(folder)]
    with group_reaped(
        subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
    ) as process:
        stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@contextlib.contextmanager
def group_reaped(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """A certkit started in its own session: whatever happens (a timeout, a failed assert), the
    whole process group is SIGKILLed and the parent reaped, so no renewal (nor anything it started)
    outlives the test, even on a machine slow enough for kills to land in key generation."""
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def group_members(group: int) -> list[int]:
    """Live (non-zombie) processes in a process group, from /proc (Linux)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry.name))
    return members


def must_change(before: dict[str, str]) -> set[str]:
    """What --force --rotate-keys rewrites: every certificate, leaf key and copy (CA keys stay)."""
    return {
        k
        for k in before
        if not k.startswith(".certkit/") and not k.endswith((".json", ".txt")) and not k.startswith(".")
    }


def settle_and_check(folder: Path, before: dict[str, str]) -> str:
    recovered = certkit(folder, "renew")  # recovery first; the fresh set itself is not due
    assert recovered.returncode == 0, recovered.stderr
    found = problems(folder)
    assert not found, found
    verdict = old_or_new(before, live_files(folder), must_change(before))
    assert verdict in ("old", "new"), verdict
    return verdict


@pytest.fixture
def layout(fresh_layout: Path) -> Path:
    # A first renewal so the layout has generations and ignore files, as after real use.
    assert certkit(fresh_layout, "renew", "--force").returncode == 0
    return fresh_layout


_STEPS: list[int] = []


def count_steps(layout: Path, tmp_path: Path) -> int:
    """The number of file-system steps of one renewal, found by killing ever later (cached)."""
    if not _STEPS:
        _STEPS.append(_count_steps(layout, tmp_path))
    return _STEPS[0]


def _count_steps(layout: Path, tmp_path: Path) -> int:
    probe = tmp_path / "probe"
    low, high = 1, 4096
    while low < high:  # smallest k whose failpoint is never reached
        mid = (low + high) // 2
        shutil.rmtree(probe, ignore_errors=True)
        shutil.copytree(layout, probe, symlinks=True)
        if certkit(probe, *RENEW, failpoint=f"kill:{mid}").returncode == -signal.SIGKILL:
            low = mid + 1
        else:
            high = mid
    return low - 1


def kill_at_steps(layout: Path, tmp_path: Path, steps: list[int], kind: str = "kill") -> dict[str, int]:
    before = live_files(layout)
    verdicts = {"old": 0, "new": 0}
    for step in steps:
        work = tmp_path / f"{kind}-{step}"
        shutil.copytree(layout, work, symlinks=True)
        run = certkit(work, *RENEW, failpoint=f"{kind}:{step}")
        if kind == "kill":
            assert run.returncode == -signal.SIGKILL, (step, run.returncode, run.stderr)
        else:
            assert run.returncode == 13, (step, run.returncode, run.stderr)
            lines = run.stderr.strip().splitlines()
            assert len(lines) == 1 and "injected" in lines[0] and "Traceback" not in run.stderr, run.stderr
        verdicts[settle_and_check(work, before)] += 1
        shutil.rmtree(work)
    return verdicts


def test_kill_at_chosen_steps(layout: Path, tmp_path: Path) -> None:
    total = count_steps(layout, tmp_path)
    assert total > 20
    rng = random.Random(total)
    steps = sorted({1, 2, total // 2, total - 1, total, *rng.sample(range(1, total + 1), 3)})
    verdicts = kill_at_steps(layout, tmp_path, steps)
    # Early kills leave the old set, late ones (after the commit) the new one: both happen.
    assert verdicts["old"] >= 1 and verdicts["new"] >= 1, verdicts


@pytest.mark.parametrize("kind", ["enospc", "eio", "eperm"])
def test_injected_io_errors(layout: Path, tmp_path: Path, kind: str) -> None:
    total = count_steps(layout, tmp_path) if kind == "enospc" else 60
    steps = sorted({1, 5, total // 3, (2 * total) // 3}) if kind == "enospc" else [3, 17]
    kill_at_steps(layout, tmp_path, [s for s in steps if s >= 1], kind)


@pytest.mark.parametrize(("kind", "code", "word"), [("sigint", 130, "interrupted"), ("sigterm", 143, "stopped")])
def test_ctrl_c_and_sigterm_exit_130_143_with_a_consistent_set(
    layout: Path, tmp_path: Path, kind: str, code: int, word: str
) -> None:
    """Ctrl-C / SIGTERM at any step: the documented exit code, and a consistent set on disk at once.

    Unlike SIGKILL, a signal certkit can catch leaves nothing for the next run to settle:
    staging is discarded (old set) or, once committed, the renames finish (new set) first.
    """
    total = count_steps(layout, tmp_path)
    before = live_files(layout)
    verdicts = {"old": 0, "new": 0}
    for step in sorted({1, 2, total // 3, total // 2, (2 * total) // 3, total - 2, total - 1, total}):
        work = tmp_path / f"{kind}-{step}"
        shutil.copytree(layout, work, symlinks=True)
        run = certkit(work, *RENEW, failpoint=f"{kind}:{step}")
        assert run.returncode == code, (step, run.returncode, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert lines == [f"certkit: {word} by {kind.upper()}"], (step, run.stderr)
        # Consistent before any recovery: no reader can find a half-switched set.
        assert not (work / ".certkit/txn").exists() or not any((work / ".certkit/txn").iterdir()), step
        assert not problems(work), (step, problems(work))
        verdict = old_or_new(before, live_files(work), must_change(before))
        assert verdict in ("old", "new"), (step, verdict)
        verdicts[verdict] += 1
        settle_and_check(work, before)
        shutil.rmtree(work)
    assert verdicts["old"] >= 1 and verdicts["new"] >= 1, verdicts


def test_random_sigkill_default(layout: Path, tmp_path: Path) -> None:
    random_kills(layout, tmp_path, runs=5)


@pytest.mark.slow
def test_random_sigkill_stress(layout: Path, tmp_path: Path) -> None:
    stats = random_kills(layout, tmp_path, runs=60)
    print(f"random SIGKILL stress: {stats}")


@pytest.mark.slow
def test_every_step_every_fault(layout: Path, tmp_path: Path) -> None:
    total = count_steps(layout, tmp_path)
    for kind in ("kill", "enospc", "eio", "eperm"):
        verdicts = kill_at_steps(layout, tmp_path, list(range(1, total + 1)), kind)
        print(f"{kind}: {total} steps, {verdicts}")


def random_kills(layout: Path, tmp_path: Path, runs: int) -> dict[str, int]:
    """Kill renewals at random moments: half over the whole run, half over its writing phase.

    Most of a run is start-up and key generation; the writing phase (first file-system
    step to exit) is short, so uniform kills alone would rarely land in it.
    """
    before = live_files(layout)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CERTKIT_FAILPOINT", None)
    timing = tmp_path / "timing"
    shutil.copytree(layout, timing, symlinks=True)
    start = time.monotonic()
    assert certkit(timing, *RENEW).returncode == 0
    duration = time.monotonic() - start
    shutil.rmtree(timing)
    shutil.copytree(layout, timing, symlinks=True)
    start = time.monotonic()
    assert certkit(timing, *RENEW, failpoint="kill:1").returncode == -signal.SIGKILL
    first_write = time.monotonic() - start
    rng = random.Random()
    stats = {"killed": 0, "finished": 0, "old": 0, "new": 0}
    for index in range(runs):
        work = tmp_path / f"random-{index}"
        shutil.copytree(layout, work, symlinks=True)
        if index % 2:
            delay = rng.uniform(0, duration * 1.1)
        else:
            delay = rng.uniform(max(0.0, first_write - 0.05), duration + 0.05)
        process = subprocess.Popen(
            [sys.executable, "-m", "certkit", *RENEW, str(work)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        with group_reaped(process):
            time.sleep(delay)  # the moment of the kill, not a readiness wait
            process.send_signal(signal.SIGKILL)  # certkit alone, as the OOM killer or `kill -9` would
            code = process.wait()
            # Nothing it started may linger (forked key workers did: see
            # test_sigkill_during_key_generation_leaves_no_worker).
            assert_group_empties(process.pid)
        stats["killed" if code == -signal.SIGKILL else "finished"] += 1
        stats[settle_and_check(work, before)] += 1
        shutil.rmtree(work)
    return stats


def assert_group_empties(group: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := group_members(group)) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval: the kernel delivers the workers' death signal asynchronously
    assert not left, f"processes left behind by a SIGKILLed certkit: {left}"


def test_sigkill_during_key_generation_leaves_no_worker(layout: Path, tmp_path: Path) -> None:
    """SIGKILL certkit while it generates RSA keys: nothing may outlive it.

    Forked key workers once did: each blocked forever reading the pool's pipe, since the fork left
    it holding the pipe's write end too (four were found after the random-kill test on an emulated
    arm64 machine).  Keys are now made in threads of certkit's own process (certkit.pki.keys.KeyMaker),
    so the process group never has a second member, and a kill ends the key threads with it.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CERTKIT_FAILPOINT", None)
    work = tmp_path / "work"
    shutil.copytree(layout, work, symlinks=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "certkit", *RENEW, str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    with group_reaped(process):
        deadline = time.monotonic() + 120
        members: set[int] = set()
        while threads(process.pid) < 2:  # readiness: a key thread runs beside the main thread
            assert process.poll() is None and time.monotonic() < deadline, "certkit never started a key thread"
            members.update(group_members(process.pid))
            time.sleep(0.02)
        members.update(group_members(process.pid))
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        assert_group_empties(process.pid)
    assert members <= {process.pid}, f"certkit started other processes to make keys: {members}"
    settle_and_check(work, live_files(layout))


def threads(pid: int) -> int:
    """How many threads process ``pid`` runs now (0 once it has exited), from /proc (Linux)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def test_the_check_detects_a_mixed_set(layout: Path, tmp_path: Path) -> None:
    """The checker can fail: a new leaf beside an old key, and a stale bundle, are both caught."""
    before = live_files(layout)
    renewed = tmp_path / "renewed"
    shutil.copytree(layout, renewed, symlinks=True)
    assert certkit(renewed, *RENEW).returncode == 0
    mixed = tmp_path / "mixed"
    shutil.copytree(layout, mixed, symlinks=True)
    shutil.copy2(renewed / "fixtures/notary-server.crt", mixed / "fixtures/notary-server.crt")
    found = problems(mixed)
    assert any("notary-server.crt: does not match fixtures/notary-server.key" in p for p in found), found
    assert old_or_new(before, live_files(mixed), must_change(before)).startswith("MIXED")
    shutil.copy2(renewed / "fixtures/intermediate-ca.crt", mixed / "fixtures/intermediate-ca.crt")
    assert any("bundle does not carry the intermediate" in p for p in problems(mixed))


def test_check_expiry_never_reads_a_half_switched_set(layout: Path) -> None:
    """A renewal held still in the middle of its switch (new key renamed, certificate not yet):
    check-expiry run at that moment waits for the switch and judges the complete new set."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CERTKIT_FAILPOINT": "pause:rename notary-server.crt",
        "CERTKIT_FAILPOINT_SECONDS": "8",
    }
    renewal = subprocess.Popen(
        [sys.executable, "-m", "certkit", *RENEW, str(layout)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(layout.glob(".certkit/txn/*.commit")) and time.monotonic() < deadline:
            assert renewal.poll() is None, renewal.stderr.read() if renewal.stderr else ""
            time.sleep(0.02)
        assert list(layout.glob(".certkit/txn/*.commit")), "the renewal never reached its switch"
        assert problems(layout), "the set on disk is not half-switched at this moment"  # the check can fail
        check = certkit(layout, "check-expiry", "--format", "json")
        assert renewal.wait(timeout=120) == 0
        assert check.returncode == 0, check.stdout + check.stderr
        assert not problems(layout)
    finally:
        if renewal.poll() is None:
            renewal.kill()
            renewal.wait()


def test_help_lists_the_signal_exit_codes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certkit", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["130", "interrupted", "by", "Ctrl-C", "(SIGINT):"] in [words[:5] for words in lines], result.stdout
    assert ["143", "stopped", "by", "SIGTERM:"] in [words[:4] for words in lines], result.stdout


def test_ctrl_c_from_a_terminal_at_any_moment(layout: Path, tmp_path: Path) -> None:
    """Ctrl-C reaches certkit's whole process group (anything it started too), as from a terminal.

    At every moment, from start-up through key generation to the writes: exit 130 with one line (or 0
    when it had finished), no traceback, and a consistent set at once.
    """
    before = live_files(layout)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CERTKIT_FAILPOINT", None)
    timing = tmp_path / "timing"
    shutil.copytree(layout, timing, symlinks=True)
    start = time.monotonic()
    assert certkit(timing, *RENEW).returncode == 0
    duration = time.monotonic() - start
    outcomes = {"interrupted": 0, "finished": 0}
    for index in range(6):
        work = tmp_path / f"ctrl-c-{index}"
        shutil.copytree(layout, work, symlinks=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "certkit", *RENEW, str(work)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(duration * (index + 1) / 7)  # the moment of the Ctrl-C, not a readiness wait
        try:
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        _, err = process.communicate(timeout=120)
        assert process.returncode in (0, 130), (index, process.returncode, err)
        if process.returncode == 130:
            outcomes["interrupted"] += 1
            assert err.strip().splitlines() == ["certkit: interrupted by SIGINT"], (index, err)
        else:
            outcomes["finished"] += 1
        assert not problems(work), (index, problems(work))
        assert old_or_new(before, live_files(work), must_change(before)) in ("old", "new")
        shutil.rmtree(work)
    assert outcomes["interrupted"] >= 1, outcomes
