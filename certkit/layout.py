"""The Notary checkout layout: recognising it and keeping the CA store out of images."""

from __future__ import annotations

import os
from pathlib import Path

from certkit.errors import NotALayoutError
from certkit.profile import Profile


def require_layout(root: Path, profile: Profile) -> None:
    """Refuse a folder that does not look like the profile's layout (a Notary checkout)."""
    if not root.exists():
        raise NotALayoutError(f"{root}: no such folder; give the path of your Notary checkout, or run `certkit init {root}`")
    if not root.is_dir():
        raise NotALayoutError(f"{root}: not a folder; give the path of your Notary checkout")
    if any((root / marker).exists() for marker in profile.markers):
        return
    raise NotALayoutError(
        f"{root}: not a Notary checkout (none of {', '.join(profile.markers[:3])} found); "
        f"give the checkout's path, use --profile for another layout, or run `certkit init {root}` "
        "to create a fresh Notary certificate set there"
    )


STATE_FOLDER = ".certkit"  # lock note, transactions, generations; the default CA store is inside
CA_STORE_RECORD = "ca-store"  # the file name inside STATE_FOLDER  # where `renew --ca-store DIR` put the CA keys, for every later command


CONTAINER_DIRS_RECORD = "container-dirs"  # `--container-dir` answers (JSON: service -> folder; "" = any service)
MAX_RECORD_BYTES = 64 * 1024


def recorded_container_dirs(root: Path) -> dict[str, str]:
    """The remembered --container-dir answers; a record that is not certkit's shape is ignored."""
    import json

    from certkit.errors import CertkitError
    from certkit.readers import read_regular

    path = root / STATE_FOLDER / CONTAINER_DIRS_RECORD
    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(read_regular(path, MAX_RECORD_BYTES, CertkitError, "record"))
    except (CertkitError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    # Only absolute container folders: the record is input like any other file in the checkout.
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and v.startswith("/")
            and "\n" not in v and "\n" not in k}


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
