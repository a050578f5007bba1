"""`certkit init`: a complete, fresh Notary layout in an empty folder."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from certkit import __version__
from certkit.durations import parse_duration
from certkit.errors import FilesystemError
from certkit.pki.pkcs11 import parse_uri
from certkit.pki.renew import RenewResult, renew
from certkit.pki.unlock import Unlock
from certkit.profile import Profile
from certkit.store import storage
from certkit.store.checkout import open_checkout
from certkit.templates import render
from certkit.text import utc_minute

# The configs Notary's services and client read, as in a Notary checkout but with
# memory storage so they run without a database.  Written for each of the profile's
# ``service_configs`` found here (the built-in profile lists all three).
TEMPLATES = {
    "fixtures/server-config.json": (
        "init/server-config.json.j2",
        {"server_addr": ":4443", "signer_host": "notarysigner", "signer_port": "7899"},
    ),
    "fixtures/signer-config.json": ("init/signer-config.json.j2", {"signer_addr": ":7899"}),
    "cmd/notary/config.json": ("init/client-config.json.j2", {"server_url": "https://notary-server:4443"}),
}


def init_layout(
    directory: Path, profile: Profile, now: datetime, *, ca_store: Path | None = None, unlock: Unlock | None = None
) -> RenewResult:
    """A fresh set in ``directory``; with ``unlock`` naming a passphrase source (or a token), the CA keys are
    stored encrypted (or made in the token) from the start."""
    if unlock is not None and unlock.pkcs11_uri is not None:
        parse_uri(unlock.pkcs11_uri)  # a URI certkit cannot use is refused before the folder is made
    if directory.exists():
        if not directory.is_dir():
            raise FilesystemError(f"{directory}: exists and is not a folder; choose a new or empty folder")
        if any(directory.iterdir()):
            raise FilesystemError(
                f"{directory}: not empty; `certkit init` only creates a fresh set in an empty or new folder "
                f"(to renew an existing Notary checkout, run `certkit renew {directory}`)"
            )
    storage.probe_writable(directory)
    storage.ensure_dir(directory)
    # Checked and opened once (certkit.store.checkout): the set and the configs are written through its handles.
    with open_checkout(directory, profile, ca_store) as checkout:
        result = renew(checkout, now, parse_duration("0"), force=True, unlock=unlock)
        _write_configs(directory, profile, now, result)
    return result


def _write_configs(directory: Path, profile: Profile, now: datetime, result: RenewResult) -> None:
    configs = [(relative, TEMPLATES[relative]) for relative in profile.service_configs if relative in TEMPLATES]
    if configs:
        root = storage.Root(directory)
        for relative, (template, context) in configs:
            target = root.resolve(relative)
            storage.ensure_dir(target.parent)
            storage.atomic_write(target, render(template, **context).encode(), 0o644)
        readme = render(
            "init/README.txt.j2",
            version=__version__,
            now=utc_minute(now),
            ca_store=_from_folder(result.ca_store, directory),
        )
        storage.atomic_write(root.resolve("CERTKIT-README.txt"), readme.encode(), 0o644)


def _from_folder(path: Path, directory: Path) -> str:
    """``path`` as the README in ``directory`` names it: relative to that folder when inside it
    (the README's commands run there), else absolute."""
    real_dir, real_path = os.path.realpath(directory), os.path.realpath(path)
    if real_path == real_dir or real_path.startswith(real_dir.rstrip("/") + "/"):
        return os.path.relpath(real_path, real_dir)
    return real_path
