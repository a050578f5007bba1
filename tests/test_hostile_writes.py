"""Hostile input, round two (issue 19, items 1, 2 and 4): certkit never writes outside the checkout.

Each test is an attack that got through before the fix: a parent folder another user may write
(the checkout swapped for a symlink to their tree between the checks and the writes), a `.env`
naming a compose file outside the checkout, and a key hard-linked to a file outside. The file
outside must keep its bytes and mode, whatever certkit answers.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

import certkit
from certkit.durations import parse_duration
from certkit.pki import renew as renewal
from certkit.profile import load_profile
from certkit.store.checkout import open_checkout
from tests.crashcheck import live_files, old_or_new, problems
from tests.test_cli_renew import assert_one_line_error
from tests.test_cli_renew import certkit as run_certkit
from tests.test_safety import NOGROUP, fix_command, needs_root, tree

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.now(timezone.utc)
MONTH = parse_duration("30d")
NOBODY = 65534


def other_users_tree(source: Path, target: Path) -> Path:
    """A copy of ``source`` that another user (nobody) owns: what an attacker would point the checkout at."""
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)
    return target


# -- 1a: every folder above the checkout, up to / --------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "mode", "why"),
    [
        ((0, NOGROUP), 0o775, "writable by group nogroup"),
        ((0, 0), 0o777, "writable by everyone"),
        ((NOBODY, NOBODY), 0o755, "owned by nobody (uid 65534)"),
    ],
    ids=["group-shared", "world-writable", "another-owner"],
)
def test_a_parent_folder_another_user_may_change_is_refused(
    fresh_layout: Path, tmp_path: Path, owner: tuple[int, int], mode: int, why: str
) -> None:
    """/srv shared with a group (no sticky bit): its members could rename the checkout away mid-run."""
    needs_root()
    srv = tmp_path / "srv"
    srv.mkdir()
    checkout = srv / "notary"
    fresh_layout.rename(checkout)
    os.chown(srv, *owner)
    srv.chmod(mode)
    before = tree(checkout)
    for args in (["--dry-run"], ["--force"]):
        result = run_certkit("renew", *args, str(checkout))
        assert_one_line_error(result, 13, f"{why}", str(srv))
        assert tree(checkout) == before
    if owner[0] == 0:  # the fix command fixes it
        subprocess.run(fix_command(result.stderr), shell=True, check=True)
        assert stat.S_IMODE(srv.stat().st_mode) & 0o022 == 0
        assert run_certkit("renew", "--force", str(checkout)).returncode == 0
    else:  # another owner: no chown of someone else's folder is suggested
        assert "chown" not in result.stderr and "run certkit as" in result.stderr


def test_a_sticky_parent_is_accepted_when_the_checkout_below_it_is_ours(fresh_layout: Path, tmp_path: Path) -> None:
    """/tmp-like (1777): others may create entries there but cannot rename ours."""
    needs_root()
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    checkout = shared / "notary"
    fresh_layout.rename(checkout)
    result = run_certkit("renew", "--force", str(checkout))
    assert result.returncode == 0, result.stderr
    # The entry below the sticky folder must be ours: another user's is refused.
    os.chown(checkout, NOBODY, -1)
    refused = run_certkit("renew", "--force", str(checkout))
    assert_one_line_error(refused, 13, "owned by nobody")


@pytest.fixture
def public_base() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="certkit-hostile-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def test_an_ordinary_user_walks_through_a_folder_it_may_search_but_not_read(
    reference_dir: Path, public_base: Path
) -> None:
    """A root-owned 0711 folder above the checkout (as some systems make /home or /var/lib/...): an
    ordinary user cannot open it for reading, only pass through it; the walk from / must still work."""
    needs_root()
    srv = public_base / "srv"
    srv.mkdir(mode=0o711)
    srv.chmod(0o711)
    clone = srv / "notary"
    shutil.copytree(reference_dir, clone)
    for path in [clone, *clone.rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)
        path.chmod(0o755 if path.is_dir() else 0o644)
    result = run_certkit("renew", "--no-compose", str(clone), user=str(NOBODY))
    assert result.returncode == 0, result.stderr
    assert (clone / ".certkit").stat().st_uid == NOBODY


def test_an_outside_ca_store_below_a_loose_folder_is_refused(fresh_layout: Path, tmp_path: Path) -> None:
    """--ca-store /var/lib/certkit/ca where /var is writable by everyone: /var/lib could be renamed away."""
    needs_root()
    loose = tmp_path / "var"
    (loose / "lib").mkdir(parents=True)
    loose.chmod(0o777)
    store = loose / "lib" / "certkit" / "ca"
    result = run_certkit("renew", "--force", "--ca-store", str(store), str(fresh_layout))
    assert_one_line_error(result, 13, "writable by everyone", str(loose))
    assert not (loose / "lib" / "certkit").exists()


# -- 1b: the checkout swapped between the checks and the writes ---------------------------------------


def swap_to(checkout: Path, moved: Path, other: Path) -> None:
    checkout.rename(moved)
    checkout.symlink_to(other)


def test_a_checkout_swapped_for_a_symlink_after_the_checks_gets_nothing_written_outside(
    fresh_layout: Path, tmp_path: Path
) -> None:
    """Deterministic: the swap happens between the renewal's prepare (every check) and its commit (the writes)."""
    other = other_users_tree(fresh_layout, tmp_path / "attacker")
    moved = tmp_path / "moved"
    before_other = tree(other)
    before = live_files(fresh_layout)
    with open_checkout(fresh_layout, load_profile()) as checkout:
        planned = renewal.plan_renewal(checkout, NOW, MONTH, force=True, notices=renewal.recover(checkout))
        prepared = renewal.prepare(planned)
        swap_to(fresh_layout, moved, other)
        renewal.commit(prepared)
    assert tree(other) == before_other  # not one byte, mode or owner changed in the other tree
    # The renewal went to the folder certkit checked and opened, wherever it is now.
    assert not problems(moved)
    assert old_or_new(before, live_files(moved), {"fixtures/notary-server.crt", "fixtures/root-ca.crt"}) == "new"


def test_a_swap_after_the_renewal_cannot_redirect_the_compose_override(
    reference_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose step and the cron record are written after the renewal: the swap then must not reach them."""
    from certkit.compose import apply

    other = other_users_tree(reference_copy, tmp_path / "attacker")
    moved = tmp_path / "moved"
    before_other = tree(other)
    prepare = apply.prepare_after_renew

    def prepare_then_swap(*args: object, **kwargs: object) -> object:
        prepared = prepare(*args, **kwargs)  # type: ignore[arg-type]
        swap_to(reference_copy, moved, other)
        return prepared

    monkeypatch.setattr(apply, "prepare_after_renew", prepare_then_swap)
    run = certkit.run_renew(certkit.RenewRequest(reference_copy, NOW, MONTH, environ={}))
    assert tree(other) == before_other
    assert not problems(moved)
    assert run.result is not None and run.result.changed
    # The override's path now leads into the other tree: refused, and said so.
    assert [str(e) for e in run.errors if "outside the folders certkit opened" in str(e)], run.errors


def exchange(first: Path, second: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE, Linux 3.15): the attacker's tool, with
    no moment where the checkout's name is missing."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, bytes(first), at_fdcwd, bytes(second), rename_exchange) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def test_a_real_race_never_writes_into_the_other_tree(fresh_layout: Path, tmp_path: Path) -> None:
    """No failpoint: another process watches the checkout (it may read it) and, the moment certkit's
    transaction record appears, swaps the checkout for a symlink to its own tree, as the attacker of
    issue 19 did (7 of 10 races won). A run may finish or refuse; none may write into the other tree."""
    needs_root()
    other = other_users_tree(fresh_layout, tmp_path / "attacker")
    before_other = tree(other)
    link = tmp_path / "link"
    checkout = fresh_layout
    txn = checkout / ".certkit" / "txn"
    assert txn.is_dir()  # made by the renewal in `certkit init`
    codes: list[int] = []
    # Up to 12 runs, until 3 swaps landed: on a loaded machine the attacker's poll can miss a run's
    # window, so the number of runs adapts instead of the test passing on races that never happened.
    while len(codes) < 12 and sum(code != -1000 for code in codes) < 3:
        link.symlink_to(other)
        seen = set(os.listdir(txn))
        process = subprocess.Popen(
            [sys.executable, "-m", "certkit", "renew", "--force", "--no-compose", str(checkout)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        swapped = False
        try:
            while process.poll() is None and not swapped:  # the attacker's busy poll
                if any(n.endswith(".intent") for n in set(os.listdir(txn)) - seen):
                    exchange(link, checkout)  # checkout -> the other tree; link -> the real folder
                    swapped = True
            process.wait(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if swapped:
                exchange(link, checkout)
            link.unlink()
        codes.append(process.returncode if swapped else -1000)
        assert tree(other) == before_other, f"run {len(codes)} wrote into the other tree (exit codes {codes})"
        settled = run_certkit("renew", "--no-compose", str(checkout))  # recovers what a refused run left
        assert settled.returncode == 0, (codes, settled.stderr)
        assert not problems(checkout)
    assert sum(code != -1000 for code in codes) >= 3, codes  # the race really ran, three times


# -- 2: a compose file outside the checkout ------------------------------------------------------------

NETPLAN = "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n"


def env_names_outside(checkout: Path, outside: Path, first: bool) -> Path:
    """A fork's .env: COMPOSE_FILE with a host file (a YAML mapping, no `services:`) beside the checkout's own."""
    outside.mkdir()
    host_file = outside / "50-cloud-init.yaml"
    host_file.write_text(NETPLAN)
    compose = checkout / "docker-compose.yml"
    # The fork's compose file builds from its own folder, wherever the project directory is.
    compose.write_text(compose.read_text().replace("context: .", f"context: {checkout}"))
    listed = [str(host_file), "docker-compose.yml"] if first else ["docker-compose.yml", str(host_file)]
    (checkout / ".env").write_text(f"COMPOSE_FILE={':'.join(listed)}\n")
    return host_file


def test_an_env_naming_a_compose_file_outside_cannot_make_renew_write_there(
    reference_copy: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "etc-netplan"
    env_names_outside(reference_copy, outside, first=True)
    before, before_outside = tree(reference_copy), tree(outside)
    for args in (["--dry-run"], []):
        result = run_certkit("renew", *args, str(reference_copy))
        assert_one_line_error(result, 15, "COMPOSE_FILE", "50-cloud-init.yaml", "outside", "--no-compose")
        assert tree(outside) == before_outside
        assert tree(reference_copy) == before  # refused before the first write
    # The same refusal from `certkit compose` itself.
    assert_one_line_error(run_certkit("compose", str(reference_copy)), 15, "outside")
    assert tree(outside) == before_outside


def test_an_outside_compose_file_listed_after_the_checkouts_is_read_and_the_override_stays_inside(
    reference_copy: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "etc-netplan"
    env_names_outside(reference_copy, outside, first=False)
    before_outside = tree(outside)
    result = run_certkit("renew", str(reference_copy))
    assert result.returncode == 0, result.stderr
    assert (reference_copy / "docker-compose.override.yml").is_file()
    assert tree(outside) == before_outside


# -- 4: hard links ----------------------------------------------------------------------------------


def test_a_loose_key_hard_linked_outside_is_replaced_not_chmod_ed(reference_copy: Path, tmp_path: Path) -> None:
    key = reference_copy / "fixtures/notary-server.key"
    key.chmod(0o644)
    outside = tmp_path / "elsewhere.key"
    os.link(key, outside)
    data = outside.read_bytes()
    result = run_certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    # The file outside keeps its mode and bytes: certkit never changed the shared inode.
    assert (stat.S_IMODE(outside.stat().st_mode), outside.read_bytes()) == (0o644, data)
    assert outside.stat().st_nlink == 1
    # The key in the checkout is a file of its own now, 0600, with the same key.
    st = key.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_nlink, key.read_bytes()) == (0o600, 1, data)
    assert "fixtures/notary-server.key: private key was mode 0644" in result.stdout
    assert "2 hard links" in result.stdout and "replaced" in result.stdout


def test_a_renewed_certificate_hard_linked_outside_leaves_the_other_name_alone(
    reference_copy: Path, tmp_path: Path
) -> None:
    cert = reference_copy / "fixtures/notary-server.crt"
    outside = tmp_path / "elsewhere.crt"
    os.link(cert, outside)
    data = outside.read_bytes()
    result = run_certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    assert outside.read_bytes() == data and stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert cert.read_bytes() != data
    assert "fixtures/notary-server.crt: had 2 hard links" in result.stdout


@pytest.mark.parametrize("args", [[], ["--dry-run"], ["--in-place"]], ids=["override", "dry-run", "in-place"])
def test_certkit_compose_alone_refuses_a_parent_another_user_may_change(
    reference_copy: Path, tmp_path: Path, args: list[str]
) -> None:
    """`certkit compose` writes the overrides (or edits the compose files) without a renewal around it:
    the same ancestors check as renew, one line, exit 13, nothing written; fixed, it writes."""
    needs_root()
    srv = tmp_path / "srv"
    srv.mkdir()
    checkout = srv / "notary"
    reference_copy.rename(checkout)
    os.chown(srv, 0, NOGROUP)
    srv.chmod(0o775)
    before = tree(checkout)
    result = run_certkit("compose", *args, str(checkout))
    assert_one_line_error(result, 13, "writable by group nogroup", str(srv))
    assert tree(checkout) == before
    srv.chmod(0o755)
    done = run_certkit("compose", *args, str(checkout))
    assert done.returncode == 0, done.stderr
    assert (tree(checkout) == before) == (args == ["--dry-run"])


@pytest.mark.parametrize(
    "name",
    ["fixtures/notary-server.crt", "fixtures/notary-server.key", "fixtures/root-ca.crt", "fixtures/database/ca.pem"],
)
def test_a_fifo_where_a_managed_file_belongs_is_one_line_not_a_hang(reference_copy: Path, name: str) -> None:
    """A named pipe planted at a certificate or key path: open() would block until someone writes to it,
    so a cron job would never end. renew and its dry run refuse it in one line, exit 12, nothing written."""
    target = reference_copy / name
    target.unlink()
    os.mkfifo(target)
    before = tree(reference_copy)
    for args in (["--dry-run"], []):
        result = run_certkit("renew", *args, str(reference_copy))
        assert_one_line_error(result, 12, name, "FIFO (named pipe), not a regular file")
        assert tree(reference_copy) == before


@pytest.mark.parametrize("target", ["/nonexistent/x.crt", "elsewhere.crt"], ids=["outside", "inside"])
def test_a_dangling_link_where_a_certificate_belongs_is_named_in_one_line(reference_copy: Path, target: str) -> None:
    """A dry run promised to create the file; the real run then failed naming a folder, not the link
    (review). Both refuse it now, naming the link; removed, the file is written there."""
    link = reference_copy / "fixtures/notary-server.crt"
    link.unlink()
    link.symlink_to(target)
    before = tree(reference_copy)
    for args in (["--dry-run"], []):
        result = run_certkit("renew", *args, str(reference_copy))
        assert_one_line_error(result, 13, "fixtures/notary-server.crt: a symlink to " + target, "remove it")
        assert tree(reference_copy) == before
    link.unlink()
    assert run_certkit("renew", "--no-compose", str(reference_copy)).returncode == 0
    assert link.is_file() and not link.is_symlink()
