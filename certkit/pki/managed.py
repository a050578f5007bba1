"""The files a profile manages in a checkout, and the ownership check every writer makes first.

renew and rollback both write these files (certificates, keys, copies, CA keys in the store)
and both refuse to touch them while another user could change them (certkit.store.safety).
"""

from __future__ import annotations

import os
from pathlib import Path

from certkit.pki.planning import ca_key_path
from certkit.profile import KeyLocation, Profile
from certkit.store import safety
from certkit.store.layout import STATE_FOLDER

# The files that keep the state folder and the CA store out of images and git.
IGNORE_FILES = (".dockerignore", ".gitignore")


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def targets(profile: Profile, root: Path, store: Path) -> list[Path]:
    """Every file of the set, resolved: certificates, their copies, leaf keys and CA keys."""
    paths: list[Path] = []
    for spec in profile.certificates:
        paths += [root / spec.cert_file, *(root / c for c in spec.copies)]
        if spec.key_location is KeyLocation.CA_STORE:
            paths.append(ca_key_path(store, spec))
        elif spec.key_file:
            paths.append(root / spec.key_file)
    return [real(p) for p in paths]


def key_paths(profile: Profile, root: Path, store: Path) -> set[Path]:
    """The private keys among :func:`targets`, resolved: leaf key files and CA keys."""
    paths = {ca_key_path(store, s) for s in profile.certificates if s.key_location is KeyLocation.CA_STORE}
    paths |= {root / s.key_file for s in profile.certificates if s.key_location is KeyLocation.FILE and s.key_file}
    return {real(p) for p in paths}


def folders(profile: Profile, root: Path, store: Path) -> list[Path]:
    """The folders that hold the set, and the checkout itself (a transaction's roots)."""
    return sorted({p.parent for p in targets(profile, root, store)} | {real(root)})


def check_safety(root: Path, profile: Profile, store: Path) -> None:
    """Refuse folders and files another user could change (certkit.store.safety), at every run."""
    files = targets(profile, root, store)
    ignores = [real(root / name) for name in IGNORE_FILES]
    leaf_keys = [
        real(root / spec.key_file)
        for spec in profile.certificates
        if spec.key_location is KeyLocation.FILE and spec.key_file
    ]
    held = {t.parent for t in files} | {real(root / STATE_FOLDER), real(store)}
    safety.check(root, held, [*files, *ignores], leaf_keys)
