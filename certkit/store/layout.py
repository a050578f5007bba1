"""The Notary checkout layout: recognising it and keeping the CA store out of images."""

from __future__ import annotations

import os
from pathlib import Path

# Named here too, where the other layout rules are (the one definition is certkit.defaults').
from certkit.defaults import CA_STORE_RECORD as CA_STORE_RECORD
from certkit.defaults import CONTAINER_DIRS_RECORD as CONTAINER_DIRS_RECORD
from certkit.defaults import STATE_FOLDER as STATE_FOLDER
from certkit.errors import FilesystemError, NotALayoutError, ProfileError, UsageError
from certkit.profile import CertSpec, Profile


def require_layout(root: Path, profile: Profile) -> None:
    """Refuse a folder that does not look like the profile's layout (a Notary checkout), in one line
    that names the checkout above it when there is one (``certkit status`` in ``notary/fixtures/``)."""
    if not root.exists():
        raise NotALayoutError(
            f"{root}: no such folder; give the path of your Notary checkout, or run `certkit init {root}`"
        )
    if not root.is_dir():
        raise NotALayoutError(f"{root}: not a folder; give the path of your Notary checkout")
    if is_layout(root, profile):
        return
    markers = ", ".join(profile.markers[:3])
    above = layout_above(root, profile)
    if above is not None:
        cd = "" if above == "." else f" (or cd {above})"
        raise NotALayoutError(
            f"{root}: not a Notary checkout (none of {markers} found), but inside the checkout {above}; "
            f"give that folder{cd}"
        )
    # `certkit init` makes a set only in an empty folder: suggest it only there (else the two commands
    # would send the user back and forth).
    fresh = f", or run `certkit init {root}` to create a fresh Notary certificate set there" if _empty(root) else ""
    raise NotALayoutError(
        f"{root}: not a Notary checkout (none of {markers} found); "
        f"give the checkout's path, or use --profile for another layout{fresh}"
    )


def _empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def is_layout(root: Path, profile: Profile) -> bool:
    """True when ``root`` holds one of the profile's markers (the files that identify the layout)."""
    return any((root / marker).exists() for marker in profile.markers)


def layout_above(root: Path, profile: Profile) -> str | None:
    """The nearest folder above ``root`` that is the profile's layout, as a user would type it:
    relative (``..``, ``../..``) when ``root`` was given relative, else absolute; None when none is."""
    for folder in Path(os.path.abspath(root)).parents:
        if is_layout(folder, profile):
            return str(folder) if root.is_absolute() else os.path.relpath(folder)
    return None


MAX_RECORD_BYTES = 64 * 1024


def recorded_container_dirs(root: Path) -> dict[str, str]:
    """The remembered --container-dir answers; a record that is not certkit's shape is ignored."""
    import json

    from certkit.bounded import parse_nested, read_input
    from certkit.errors import CertkitError

    path = root / STATE_FOLDER / CONTAINER_DIRS_RECORD
    if not os.path.lexists(path):
        return {}
    try:
        raw = read_input(path, MAX_RECORD_BYTES, CertkitError, "record")
        data = parse_nested(lambda: json.loads(raw))
    except (CertkitError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    # Only absolute container folders: the record is input like any other file in the checkout.
    return {
        k: v
        for k, v in data.items()
        if isinstance(k, str) and isinstance(v, str) and v.startswith("/") and "\n" not in v and "\n" not in k
    }


def container_dirs_record(container_dirs: dict[str, str]) -> bytes:
    import json

    return (json.dumps(dict(sorted(container_dirs.items())), indent=2) + "\n").encode()


def ca_store_path(root: Path, profile: Profile, override: Path | None) -> Path:
    """The CA store: --ca-store when given, else the one a renewal recorded, else the profile's.

    Remembering a --ca-store matters: a later `certkit renew` without it would otherwise not
    find the CA keys and make a new root, and `certkit compose` would not know which
    folder must never be mounted.
    """
    if override is not None:
        return override
    recorded = recorded_ca_store(root)
    return recorded if recorded is not None else root / profile.ca_store


def key_path(spec: CertSpec, root: Path, ca_store: Path) -> Path | None:
    """Where ``spec``'s private key lives (its CertSpec.key_location): its ``key_file`` in the checkout, a CA's
    key in the CA store, or nowhere (None) for a key discarded after issuance."""
    if spec.key_file:
        return root / spec.key_file
    return ca_key_path(ca_store, spec) if spec.ca else None


def ca_key_path(ca_store: Path, spec: CertSpec) -> Path:
    """A CA's key in the CA store (KeyLocation.CA_STORE): ``NAME.key``."""
    return ca_store / f"{spec.name}.key"


def recorded_ca_store(root: Path) -> Path | None:
    try:
        text = (root / STATE_FOLDER / CA_STORE_RECORD).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text:
        return None
    path = Path(text)
    return path if path.is_absolute() else root / path


def ca_store_record(root: Path, store: Path) -> bytes:
    """The record of ``store``: relative to ``root`` when inside it, else absolute."""
    real_root, real_store = os.path.realpath(root), os.path.realpath(store)
    if os.path.commonpath([real_root, real_store]) == real_root:
        text = os.path.relpath(real_store, real_root)
    else:
        text = real_store
    return f"{text}\n".encode()


def ignore_entry(root: Path, ca_store: Path) -> str | None:
    """The .dockerignore/.gitignore line for a CA store inside ``root`` (None when outside).

    Notary's compose files build the server and signer with `context: .` and the
    Dockerfiles copy the whole checkout into the image, so a key anywhere in the checkout
    would end up in an image unless .dockerignore excludes it.
    """
    real_root = os.path.realpath(root)
    real_store = os.path.realpath(ca_store)
    if os.path.commonpath([real_root, real_store]) != real_root:
        return None
    relative = Path(os.path.relpath(real_store, real_root)).as_posix()
    return f"/{relative}/" if relative != "." else None


# Files whose content decides what reaches images and commits; a profile writing over one of them
# could re-include the CA store.  `.git/` is git's own state.
_PROTECTED_NAMES = {".dockerignore", ".gitignore", ".git"}


def check_paths(root: Path, profile: Profile, store: Path, *, store_given: bool) -> None:
    """Refuse a profile or CA store that would put CA keys where compose mounts, docker builds or git commits.

    - no certificate, key or copy may be an ignore file, inside `.git/`, certkit's state folder or the
      CA store (a leaf `key_file` that is a CA key included);
    - the CA store may not be the checkout itself, hold a managed file's folder, or sit inside one
      (compose mounts those folders read-only into the containers).
    """
    real_root = os.path.realpath(root)
    real_store = os.path.realpath(store)
    state = os.path.join(real_root, STATE_FOLDER)
    who = "--ca-store" if store_given else f"{profile.source}: ca_store"
    error: type[Exception] = UsageError if store_given else ProfileError
    if real_store == real_root or _within(real_root, real_store):
        raise error(
            f"{who} {store}: the CA store would be the checkout itself; give a folder of its own (default .certkit/ca)"
        )
    folders: set[str] = set()
    for spec in profile.certificates:
        for field, rel in (
            ("cert_file", spec.cert_file),
            ("key_file", spec.key_file),
            *(("copies", c) for c in spec.copies),
        ):
            if not rel:
                continue
            # The declared path, not where a symlink leads: a link leaving the folder is refused on write.
            real = os.path.normpath(os.path.join(real_root, rel))
            where = f"{profile.source}: certificates.{spec.name}.{field} = {rel!r}"
            parts = {part.lower() for part in Path(os.path.relpath(real, real_root)).parts}
            if parts & _PROTECTED_NAMES:
                raise ProfileError(
                    f"{where}: names a file git or docker reads ({', '.join(sorted(parts & _PROTECTED_NAMES))}); "
                    "certificates and keys must go elsewhere"
                )
            if _within(real, state) or _within(real, real_store):
                raise ProfileError(
                    f"{where}: inside certkit's state folder or the CA store (CA private keys); "
                    "choose a path outside .certkit/"
                )
            folders.add(os.path.dirname(real))
    for folder in sorted(folders):
        if _within(folder, real_store) or _within(real_store, folder):
            shown = os.path.relpath(folder, real_root)
            raise error(
                f"{who} {store}: shares the folder {shown}/ with the certificates, which compose mounts "
                "into the containers; keep CA keys in a folder of their own (default .certkit/ca)"
            )


def check_ignore_files(root: Path, store: Path, entries: list[str]) -> None:
    """Refuse before writing when .dockerignore or .gitignore, with certkit's ``entries`` appended
    where missing, would still let the CA store into an image or a commit (a later ``!`` line)."""
    from certkit.bounded import MIB, read_input
    from certkit.store.ignorefiles import docker_excluded, git_ignored

    real_root, real_store = os.path.realpath(root), os.path.realpath(store)
    if not _within(real_store, real_root):
        return  # outside the checkout: no build context or repository holds it
    probe = Path(os.path.relpath(os.path.join(real_store, "root-ca.key"), real_root)).as_posix()
    for name, excluded in ((".dockerignore", docker_excluded), (".gitignore", git_ignored)):
        path = root / name
        text = ""
        if os.path.lexists(path):
            text = read_input(path, MIB, FilesystemError, name).decode("utf-8", errors="replace")
        lines = {line.strip() for line in text.splitlines()}
        simulated = text + "".join(f"\n{e}" for e in entries if e not in lines and "/" + e.lstrip("/") not in lines)
        if not excluded(simulated, probe):
            raise FilesystemError(
                f"{path}: a later line re-includes the CA store {os.path.relpath(real_store, real_root)}/ "
                f"(e.g. a `!` pattern), so CA private keys would reach "
                f"{'an image' if name == '.dockerignore' else 'a commit'}; remove that line"
            )


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
