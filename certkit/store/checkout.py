"""The checkout a writing command works on, worked out once and passed down.

renew, init, rollback and `ca-keys convert`/`export-root` write the profile's files in a checkout and
the CA keys in its CA store.  Before the first write, and before a renewal reads anything it would act
on, :func:`open_checkout` makes every check that needs no certificate parsed, once:

- where the CA store is (``--ca-store``, else the one a renewal recorded, else the profile's), and
  that it is a real folder;
- that no certificate, key or copy of the profile, nor the CA store, lands where compose mounts,
  docker builds or git commits would expose a CA key (certkit.store.layout);
- that certkit's state folder is its own (certkit.store.state);
- that no other user could change a folder or file certkit writes (certkit.store.safety), compared
  with the folders it then pins for the run's writes (certkit.store.handles).

It yields a frozen :class:`Checkout`: the later steps take the answers from it instead of deriving
the CA store again, with another path form, or checking the state folder a second time.  The
layout itself (is this a Notary checkout?) is the caller's check: `certkit init` fills a folder that is
not one yet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from certkit.errors import FilesystemError
from certkit.profile import CertSpec, Profile
from certkit.store import handles, safety
from certkit.store import state as state_folder
from certkit.store.layout import STATE_FOLDER, ca_store_path, check_ignore_files, check_paths, ignore_entry, key_path

# The files that keep the state folder and the CA store out of images and git.
IGNORE_FILES = (".dockerignore", ".gitignore")


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class Checkout:
    """The checkout, its profile and its CA store, as :func:`open_checkout` found them."""

    root: Path  # as given: output names files relative to it
    profile: Profile
    ca_store: Path  # as given, recorded or the profile's (certkit.store.layout.ca_store_path)
    store_given: bool  # --ca-store was given: a renewal records it for the commands after it
    real_root: Path  # real paths: records, snapshots and transactions name files by these
    real_store: Path

    @property
    def state_dir(self) -> Path:
        return self.real_root / STATE_FOLDER

    def key_path(self, spec: CertSpec) -> Path | None:
        """Where ``spec``'s private key is (certkit.store.layout.key_path), as given."""
        return key_path(spec, self.root, self.ca_store)

    def targets(self) -> list[Path]:
        """Every file of the set, resolved: certificates, their copies, leaf keys and CA keys."""
        return [real(p) for p in self.managed_paths()]

    def managed_paths(self) -> list[Path]:
        """Every file of the set as the profile names it (not resolved)."""
        paths: list[Path] = []
        for spec in self.profile.certificates:
            paths += [self.root / spec.cert_file, *(self.root / c for c in spec.copies)]
            key = self.key_path(spec)
            if key is not None:
                paths.append(key)
        return paths

    def key_paths(self) -> set[Path]:
        """The private keys among :meth:`targets`, resolved: leaf key files and CA keys."""
        return {real(p) for p in map(self.key_path, self.profile.certificates) if p is not None}

    def folders(self) -> list[Path]:
        """The folders that hold the set, and the checkout itself (a transaction's roots)."""
        return sorted({p.parent for p in self.targets()} | {self.real_root})

    def ignore_entries(self) -> list[str]:
        """The .dockerignore/.gitignore lines that keep the state folder and the CA store out."""
        entries = {f"/{STATE_FOLDER}/"}
        store_entry = ignore_entry(self.root, self.ca_store)
        if store_entry is not None and not store_entry.startswith(f"/{STATE_FOLDER}/"):
            entries.add(store_entry)  # a CA store elsewhere in the checkout (--ca-store)
        return sorted(entries)


@contextlib.contextmanager
def open_checkout(
    root: Path, profile: Profile, ca_store: Path | None = None, *, also: Iterable[Path] = ()
) -> Iterator[Checkout]:
    """Check ``root`` for a writing command and pin its folders for the ``with`` block (``also``: other
    folders the command writes in, pinned with them: an exported root key's).

    Raises (before anything is written, so a refusal leaves the folder exactly as it was):
        FilesystemError: (exit 13) the CA store is a symlink, an ignore file lets the CA store into
            an image or a commit, the state folder is not certkit's own, or another user could change
            a folder or file certkit writes.
        ProfileError / UsageError: (11 / 2) a profile path or the CA store would expose CA keys.
    """
    store = ca_store_path(root, profile, ca_store)
    if store.exists() and store.is_symlink():
        raise FilesystemError(f"{store}: the CA store is a symlink; make it a real folder (mode 0700)")
    # Real paths: the records and snapshots name absolute real paths, the same whether the folder was
    # given as "." or absolute (a relative one once left CA keys out of the snapshots).
    checkout = Checkout(root, profile, store, ca_store is not None, real(root), real(store))
    check_paths(root, profile, store, store_given=checkout.store_given)
    check_ignore_files(root, store, checkout.ignore_entries())
    state_folder.verify(checkout.state_dir, checkout.real_store)
    _refuse_dangling_links(checkout)
    # Every write goes through handles on these folders, opened here once, walking down from `/` without
    # following a symlink; the ownership check compares them with what it sees, so a folder renamed or
    # swapped after this point cannot redirect a write.
    with handles.pinned([root, store, *also]):
        _check_safety(checkout)
        yield checkout


def _refuse_dangling_links(checkout: Checkout) -> None:
    """A file of the set that is a symlink to nothing: a write would follow it wherever it points (the
    handles refuse one outside, late and without naming the file), and a dry run would promise a write.
    Refused up front, naming the link."""
    for path in checkout.managed_paths():
        if os.path.islink(path) and not os.path.exists(path):
            raise FilesystemError(
                f"{path}: a symlink to {os.readlink(path)}, which does not exist; certkit does not write through "
                "a dangling link: remove it (certkit then writes the file there); nothing was written"
            )


def _check_safety(checkout: Checkout) -> None:
    """Refuse folders and files another user could change (certkit.store.safety), at every run."""
    root, profile = checkout.root, checkout.profile
    files = checkout.targets()
    ignores = [real(root / name) for name in IGNORE_FILES]
    leaf_keys = [real(root / spec.key_file) for spec in profile.certificates if spec.key_file]
    held = {t.parent for t in files} | {checkout.state_dir, checkout.real_store}
    safety.check(root, held, [*files, *ignores], leaf_keys)
