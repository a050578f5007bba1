"""Folder handles (certkit.store.handles) and the writes made through them (certkit.store.storage).

Inside a pin, a folder renamed away keeps receiving certkit's writes, a symlink put in its place (or
anywhere on the way) is never followed, and a path that leads elsewhere is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from certkit.errors import FilesystemError
from certkit.store import handles, safety, storage, transaction


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    folder = tmp_path / "notary"
    (folder / "fixtures").mkdir(parents=True)
    (folder / "fixtures" / "a.crt").write_bytes(b"old")
    return folder


@pytest.fixture
def other(tmp_path: Path) -> Path:
    folder = tmp_path / "other"
    (folder / "fixtures").mkdir(parents=True)
    (folder / "fixtures" / "a.crt").write_bytes(b"theirs")
    return folder


def swap(checkout: Path, moved: Path, other: Path) -> None:
    checkout.rename(moved)
    checkout.symlink_to(other)


def test_writes_follow_the_pinned_folder_not_the_path(checkout: Path, other: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    with handles.pinned([checkout]):
        swap(checkout, moved, other)
        storage.atomic_write(checkout / "fixtures" / "a.crt", b"new", 0o644)
        storage.ensure_dir(checkout / ".certkit" / "txn", private=True)
        storage.write_new(checkout / ".certkit" / "txn" / "x.intent", b"{}", 0o600)
        storage.replace(checkout / ".certkit" / "txn" / "x.intent", checkout / ".certkit" / "txn" / "x.commit")
        storage.fsync_dir(checkout / "fixtures")
    assert (moved / "fixtures" / "a.crt").read_bytes() == b"new"
    assert (moved / ".certkit" / "txn" / "x.commit").read_bytes() == b"{}"
    assert stat.S_IMODE((moved / ".certkit" / "txn").stat().st_mode) == 0o700
    assert (other / "fixtures" / "a.crt").read_bytes() == b"theirs"
    assert sorted(p.name for p in other.rglob("*")) == ["a.crt", "fixtures"]


def test_a_path_resolved_after_the_swap_is_refused(checkout: Path, other: Path, tmp_path: Path) -> None:
    with handles.pinned([checkout]):
        swap(checkout, tmp_path / "moved", other)
        late = Path(os.path.realpath(checkout / "fixtures" / "a.crt"))  # through the new symlink
        with pytest.raises(FilesystemError, match="outside the folders certkit opened"):
            storage.atomic_write(late, b"new", 0o644)
        with pytest.raises(FilesystemError, match="no longer inside the folders"):
            with handles.pinned([late.parent]):
                pass
    assert (other / "fixtures" / "a.crt").read_bytes() == b"theirs"


def test_a_symlink_planted_inside_is_never_followed(checkout: Path, other: Path) -> None:
    with handles.pinned([checkout]):
        (checkout / "fixtures").rename(checkout / "fixtures.old")
        (checkout / "fixtures").symlink_to(other / "fixtures")
        with pytest.raises(FilesystemError, match="symlink or not a folder"):
            storage.atomic_write(checkout / "fixtures" / "a.crt", b"new", 0o644)
        with pytest.raises(FilesystemError, match="symlink or not a folder"):
            storage.ensure_dir(checkout / "fixtures" / "database")
    assert (other / "fixtures" / "a.crt").read_bytes() == b"theirs"
    assert not (other / "fixtures" / "database").exists()


def test_the_check_refuses_a_checkout_that_is_not_the_pinned_folder(checkout: Path, tmp_path: Path) -> None:
    with handles.pinned([checkout]):
        checkout.rename(tmp_path / "moved")
        checkout.mkdir()  # a real folder, but not the one certkit opened
        with pytest.raises(FilesystemError, match="no longer the folder certkit opened"):
            safety.check(checkout, [checkout], [])


def test_recovery_lists_and_removes_through_the_handle(checkout: Path, other: Path, tmp_path: Path) -> None:
    stray = checkout / "fixtures" / ".a.crt.certkit-0123abcd.tmp"
    stray.write_bytes(b"torn")
    (other / "fixtures" / ".a.crt.certkit-0123abcd.tmp").write_bytes(b"theirs")
    moved = tmp_path / "moved"
    with handles.pinned([checkout]):
        swap(checkout, moved, other)
        transaction.recover(checkout / ".certkit", [checkout / "fixtures"])
    assert not (moved / "fixtures" / stray.name).exists()
    assert (other / "fixtures" / stray.name).read_bytes() == b"theirs"


def test_remove_tree_never_follows_a_symlink(checkout: Path, other: Path) -> None:
    doomed = checkout / ".certkit" / "generations" / "1"
    doomed.mkdir(parents=True)
    (doomed / "000-a.crt").write_bytes(b"x")
    (doomed / "link").symlink_to(other / "fixtures")
    with handles.pinned([checkout]):
        handles.remove_tree(doomed)
        handles.remove_tree(doomed)  # gone: nothing to do
    assert not doomed.exists()
    assert (other / "fixtures" / "a.crt").read_bytes() == b"theirs"


def test_set_mode_refuses_a_file_with_other_names(checkout: Path, tmp_path: Path) -> None:
    key = checkout / "fixtures" / "a.key"
    key.write_bytes(b"key")
    key.chmod(0o644)
    storage.set_mode(key, 0o600)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    outside = tmp_path / "outside.key"
    os.link(key, outside)
    key.chmod(0o644)
    with pytest.raises(FilesystemError, match="2 hard links"):
        storage.set_mode(key, 0o600)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644


def test_unpinned_writes_keep_following_the_path(checkout: Path, other: Path, tmp_path: Path) -> None:
    """Outside a pin (trust, schedule, --output), a path is a path: a symlinked folder is written through."""
    link = tmp_path / "link"
    link.symlink_to(other)
    storage.atomic_write(link / "fixtures" / "b.crt", b"b", 0o644)
    storage.ensure_dir(link / "fixtures" / "sub" / "deeper", 0o750)
    assert (other / "fixtures" / "b.crt").read_bytes() == b"b"
    assert stat.S_IMODE((other / "fixtures" / "sub").stat().st_mode) == 0o750
    assert not handles.active()


def test_the_lock_is_its_own_open_file_description(checkout: Path) -> None:
    """The renewal lock's flock must end with the lock, not live on in the pinned handle."""
    import fcntl

    from certkit.store.lock import renewal_lock

    with handles.pinned([checkout]):
        with renewal_lock(checkout, wait=False):
            pass
        probe = os.open(checkout, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again while the pin is still held
        finally:
            os.close(probe)
