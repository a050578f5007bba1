"""The renewal lock, with real processes: a holder, a refused second attempt, a waiter, a SIGKILLed holder."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certkit.errors import FilesystemError, LockedError
from certkit.store.lock import holder_pid, lock_path, renewal_lock

REPO = Path(__file__).resolve().parent.parent

# Holds the lock until its stdin is closed; says "locked" once it has it.
HOLDER = """
import sys
from pathlib import Path
from certkit.store.lock import renewal_lock
with renewal_lock(Path(sys.argv[1]), wait=False):
    print("locked", flush=True)
    sys.stdin.read()
"""

# Tries the lock as a CLI would: the error's line on stderr and its exit code.
CONTENDER = """
import sys
from pathlib import Path
from certkit.errors import CertkitError
from certkit.store.lock import renewal_lock
try:
    with renewal_lock(Path(sys.argv[1]), wait=sys.argv[2] == "wait"):
        print("got the lock", flush=True)
except CertkitError as exc:
    print(f"certkit: error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, text=True, **kwargs)


def _start_holder(folder: Path) -> subprocess.Popen[str]:
    holder = _python(HOLDER, str(folder), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "locked\n"  # blocks until the child holds the lock
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    (tmp_path / ".certkit").mkdir(mode=0o700)  # as after a first renewal: the pid note has a home
    process = _start_holder(tmp_path)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_second_process_fails_fast_with_message_and_exit_code(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    started = time.monotonic()
    contender = _python(CONTENDER, str(tmp_path), "nowait", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = contender.communicate(timeout=20)
    assert contender.returncode == 16
    assert out == ""
    assert err.strip() == (
        f"certkit: error: another certkit is renewing {tmp_path} (pid {holder.pid}); try again later or use --wait"
    )
    assert time.monotonic() - started < 10  # no waiting: python start-up is the whole cost


def test_in_process_attempt_raises_locked_error(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(LockedError) as failure:
        with renewal_lock(tmp_path, wait=False):
            pytest.fail("got a lock another process holds")
    assert failure.value.exit_code == 16
    assert f"(pid {holder.pid})" in str(failure.value)
    assert holder_pid(tmp_path) == holder.pid


def test_waiter_gets_the_lock_after_the_holder_exits(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    waiter = _python(CONTENDER, str(tmp_path), "wait", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # long enough for the waiter to start and find the lock taken
        assert waiter.poll() is None, "the waiter must still be waiting while the holder runs"
        _release(holder)
        out, err = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 0, err
    assert out == "got the lock\n"


def test_wait_gives_up_after_timeout(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    started = time.monotonic()
    with pytest.raises(LockedError, match=rf"still renewing .* \(pid {holder.pid}\) after waiting 0.3s"):
        with renewal_lock(tmp_path, wait=True, timeout=0.3):
            pytest.fail("got a lock another process holds")
    assert 0.3 <= time.monotonic() - started < 3


def test_lock_of_a_sigkilled_holder_does_not_block(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    assert holder_pid(tmp_path) == holder.pid  # it never got to clean up...
    with renewal_lock(tmp_path, wait=False) as lock:  # ...and still blocks nobody
        assert lock.pid == os.getpid()
        assert lock_path(tmp_path).read_text() == f"{os.getpid()}\n"


def test_pid_is_recorded_while_held_and_cleared_after(tmp_path: Path) -> None:
    (tmp_path / ".certkit").mkdir(mode=0o700)  # the pid note is kept only where certkit's state folder exists
    with renewal_lock(tmp_path, wait=False) as lock:
        assert lock.path == tmp_path / ".certkit" / "lock"
        assert lock.path.read_text() == f"{os.getpid()}\n"
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
    assert not lock.path.exists()  # the note goes with the holder; the lock itself is the folder
    assert holder_pid(tmp_path) is None
    with renewal_lock(tmp_path, wait=False):  # released: free again
        pass


def test_a_nested_attempt_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with renewal_lock(tmp_path, wait=False):
        with pytest.raises(LockedError, match=rf"\(pid {os.getpid()}\)"):
            with renewal_lock(tmp_path, wait=False):
                pass


def test_hooks_started_inside_the_lock_do_not_inherit_it(tmp_path: Path) -> None:
    # A deploy hook may start a daemon; if it inherited the descriptor, the lock would outlive certkit.
    with renewal_lock(tmp_path, wait=False):
        daemon = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        contender = _python(CONTENDER, str(tmp_path), "nowait", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = contender.communicate(timeout=20)
        assert contender.returncode == 0, err
    finally:
        daemon.kill()
        daemon.wait()


def test_locking_creates_nothing(tmp_path: Path) -> None:
    """The lock is the folder itself: a refused renewal must leave a checkout exactly as it was."""
    (tmp_path / "keep.txt").write_text("x")
    with renewal_lock(tmp_path, wait=False):
        assert holder_pid(tmp_path) == os.getpid()  # named by the kernel's lock table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_existing_certkit_folder_keeps_its_mode(tmp_path: Path) -> None:
    (tmp_path / ".certkit").mkdir()
    os.chmod(tmp_path / ".certkit", 0o750)
    with renewal_lock(tmp_path, wait=False):
        pass
    assert stat.S_IMODE((tmp_path / ".certkit").stat().st_mode) == 0o750


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FilesystemError, match="no such folder"):
        with renewal_lock(tmp_path / "absent", wait=False):
            pass
    assert not (tmp_path / "absent").exists()


def test_certkit_symlink_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    notary, elsewhere = tmp_path / "notary", tmp_path / "elsewhere"
    notary.mkdir()
    elsewhere.mkdir()
    (notary / ".certkit").symlink_to(elsewhere)
    with pytest.raises(FilesystemError, match="outside"):
        with renewal_lock(notary, wait=False):
            pass
    assert list(elsewhere.iterdir()) == []


def test_forked_children_do_not_keep_the_lock(tmp_path: Path) -> None:
    """Key generation forks workers; if certkit is SIGKILLed, they must not hold its lock."""
    import signal

    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from certkit.store.lock import renewal_lock\n"
        "with renewal_lock(Path(sys.argv[1]), wait=False):\n"
        "    child = os.fork()\n"
        "    if child == 0:\n"
        "        print('child', os.getpid(), flush=True)  # Python runs here after the at-fork hooks\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline().split()[1])  # the child is past fork: its hook has run
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        with renewal_lock(tmp_path, wait=False):  # free although the forked child lives on
            pass
    finally:
        os.kill(child_pid, signal.SIGKILL)
