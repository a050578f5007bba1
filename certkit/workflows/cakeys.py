"""`certkit ca-keys`: list the CA keys, encrypt or decrypt the CA store (or change its passphrase), and
take the root offline.

Each change is one crash-safe transaction (certkit.store.transaction) under the renewal lock, and it
rewrites the copies of the CA keys that generations keep for `certkit rollback` too: a store encrypted
or a root taken offline leaves no plaintext copy behind in ``.certkit/generations``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certkit import paths
from certkit.errors import OfflineKeyError, PassphraseError, UsageError
from certkit.pki import cakeys, pkcs8
from certkit.pki import keys as keymod
from certkit.pki.cakeys import CAKey, KeyForm
from certkit.pki.unlock import Unlock
from certkit.profile import CertSpec, KeyLocation, Profile
from certkit.store import generations, storage, transaction
from certkit.store.checkout import open_checkout
from certkit.store.layout import ca_key_path, ca_store_path, require_layout
from certkit.store.lock import renewal_lock
from certkit.text import utc_minute


@dataclass(frozen=True)
class KeyRow:
    name: str
    path: str  # the key file, as shown
    form: KeyForm | None  # None: missing from the CA store
    key: str  # RSA-4096, ...
    detail: str = ""  # where an offline key went, the token URI


@dataclass
class Change:
    """What a conversion or an export did."""

    rows: list[KeyRow]
    written: list[str] = field(default_factory=list)  # files replaced, as shown
    generations: int = 0  # generation copies rewritten
    exported_to: Path | None = None
    notes: list[str] = field(default_factory=list)


def _ca_specs(profile: Profile) -> list[CertSpec]:
    return [s for s in profile.certificates if s.key_location is KeyLocation.CA_STORE]


def _load(root: Path, profile: Profile, store: Path, unlock: Unlock) -> dict[str, CAKey]:
    found = {}
    for spec in _ca_specs(profile):
        path = ca_key_path(store, spec)
        data = storage.read_bytes(path)
        if data is not None:
            found[spec.name] = cakeys.load(path, paths.shown(path, root), spec.name, unlock, data)
    return found


def list_keys(root: Path, profile: Profile, ca_store: Path | None) -> list[KeyRow]:
    """Each CA key of the profile: its form and where it is. Reads no secret."""
    require_layout(root, profile)
    store = ca_store_path(root, profile, ca_store)
    return _rows(root, profile, store, _load(root, profile, store, Unlock()))


def _rows(root: Path, profile: Profile, store: Path, found: dict[str, CAKey]) -> list[KeyRow]:
    rows = []
    for spec in _ca_specs(profile):
        shown = paths.shown(ca_key_path(store, spec), root)
        key = found.get(spec.name)
        if key is None:
            rows.append(KeyRow(spec.name, shown, None, spec.key.describe()))
            continue
        detail = key.exported_to if key.form == KeyForm.OFFLINE else key.uri.split("?")[0]
        rows.append(KeyRow(spec.name, shown, key.form, keymod.describe(key), detail))
    return rows


def _generation_copies(state_dir: Path, root: Path, targets: set[Path]) -> list[tuple[Path, Path, bytes]]:
    """(stored copy, its live target, its bytes) for every copy of a file in ``targets`` a generation keeps."""
    copies = []
    for number in generations.numbers(state_dir):
        for stored, item in generations.stored_files(state_dir, number, root):
            if item.target in targets:
                copies.append((stored, item.target, item.data))
    return copies


def convert(
    root: Path,
    profile: Profile,
    ca_store: Path | None,
    unlock: Unlock,
    new_passphrase: bytes | None,
    *,
    wait: bool = False,
) -> Change:
    """Encrypt the CA store with ``new_passphrase`` (also: change it), or decrypt it (None).

    The current passphrase comes from ``unlock`` when the store is encrypted.  Offline keys stay offline
    (their export keeps the passphrase it was written with); keys in a token are not touched.

    Raises:
        PassphraseError: (23) the current passphrase is missing or wrong; nothing was written.
    """
    require_layout(root, profile)
    # Checked and opened once (certkit.store.checkout): the lock and every write go through its handles.
    with open_checkout(root, profile, ca_store) as checkout, renewal_lock(root, wait=wait):
        store, state_dir = checkout.ca_store, checkout.state_dir
        transaction.recover(state_dir, checkout.folders(), roots=[store])
        found = _load(root, profile, store, unlock)
        if not found:
            raise UsageError(f"{store}: no CA key to convert; `certkit renew` makes them")
        if any(k.form == KeyForm.PKCS11 for k in found.values()):
            raise UsageError(f"{store}: the CA keys are in a PKCS#11 token; there is nothing to encrypt")

        def rewrite(data: bytes, where: str, name: str) -> bytes | None:
            key = cakeys.load(Path(where), where, name, unlock, data)
            if key.form == KeyForm.OFFLINE:
                return None
            private = key.private()
            return cakeys.render_encrypted(private, new_passphrase) if new_passphrase else keymod.to_pem(private)

        change = Change([])
        writes: list[transaction.Write] = []
        live_targets: dict[Path, str] = {}
        for spec in _ca_specs(profile):
            path = ca_key_path(store, spec)
            real = Path(os.path.realpath(path))
            live_targets[real] = spec.name
            key = found.get(spec.name)
            if key is None or key.form == KeyForm.OFFLINE:
                if key is not None:
                    change.notes.append(
                        f"{spec.name} is offline: its export ({key.exported_to}) keeps the passphrase it was "
                        "written with"
                    )
                continue
            data = rewrite(storage.read_bytes(path) or b"", key.where, spec.name)
            assert data is not None
            writes.append(transaction.Write(real, data, storage.KEY_MODE, storage.owner_to_keep(real)))
            change.written.append(key.where)
        for stored, target, data in _generation_copies(state_dir, root, set(live_targets)):
            new = rewrite(data, str(stored), live_targets[target])
            if new is not None and new != data:
                writes.append(transaction.Write(stored, new, 0o600))
                change.generations += 1
        transaction.run(state_dir, writes)
        change.rows = _rows(root, profile, store, _load(root, profile, store, Unlock()))
        return change


def export_root(
    root: Path,
    profile: Profile,
    ca_store: Path | None,
    unlock: Unlock,
    destination: Path,
    export_passphrase: bytes | None,
    now: datetime,
    *,
    ca: str | None = None,
    wait: bool = False,
) -> Change:
    """Export the root CA's key, encrypted, to ``destination``; check the export; then remove the key from
    the store (and from the generations' copies), leaving its public key and where it went.

    The export is encrypted with the store's passphrase when the store is encrypted, else with
    ``export_passphrase``; `certkit renew --ca-root-key FILE` opens it with the same passphrase sources.

    Raises:
        UsageError: the key is not in the store as a key (missing, already offline, in a token).
        PassphraseError: (23) no passphrase for the export, or the store's is wrong.
    """
    require_layout(root, profile)
    name = ca or profile.trust_root
    spec = next((s for s in _ca_specs(profile) if s.name == name), None)
    if spec is None:
        raise UsageError(f"--ca {name}: not a CA whose key is in the CA store ({', '.join(_names(profile))})")
    if os.path.realpath(destination).startswith(os.path.realpath(root) + os.sep):
        raise UsageError(
            f"{destination}: inside the checkout; export the root key to a place that leaves this machine "
            "(a USB stick, a vault), not beside the certificates"
        )
    # Checked and opened once (certkit.store.checkout), the export's folder too (given on the command line).
    export_folder = Path(os.path.abspath(destination)).parent
    with open_checkout(root, profile, ca_store, also=[export_folder]) as checkout, renewal_lock(root, wait=wait):
        store, state_dir = checkout.ca_store, checkout.state_dir
        transaction.recover(state_dir, checkout.folders(), roots=[store])
        found = _load(root, profile, store, unlock)
        key = found.get(name)
        if key is None:
            raise UsageError(f"{name}: no key in the CA store {store}; nothing to export")
        if key.form == KeyForm.OFFLINE:
            raise UsageError(f"{name}: already offline (exported to {key.exported_to})")
        if key.form == KeyForm.PKCS11:
            raise UsageError(f"{name}: its key is in a PKCS#11 token and never leaves it")
        private = key.private()
        if key.form == KeyForm.ENCRYPTED:
            passphrase = unlock.passphrase("of the CA keys")
        elif export_passphrase:
            passphrase = export_passphrase
        else:
            raise PassphraseError(
                "the export must be encrypted: give --new-passphrase-file FILE or type one on a terminal; "
                "nothing was written"
            )
        cert = _certificate(root, spec)
        if cert is not None and not keymod.same_public_key(private, cert.public_key()):
            raise OfflineKeyError(f"{key.where}: does not match {spec.cert_file}; export nothing, renew first")
        exported = (
            f"{cakeys.HEADER}: export of {name}\nexported-at: {utc_minute(now)}\n"
            "note: bring it back for one run with `certkit renew --ca-root-key THIS_FILE`\n"
        ).encode() + pkcs8.encrypt(private, passphrase)
        target = Path(os.path.abspath(destination))
        if os.path.lexists(target):
            raise UsageError(f"{target}: exists; choose a new file (certkit never overwrites an export)")
        storage.ensure_dir(target.parent)
        storage.atomic_write(target, exported, storage.KEY_MODE)
        # Verify what is on disk before the key leaves the store: it must decrypt to the very same key.
        back = storage.read_bytes(target) or b""
        start = back.find(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        try:
            again = pkcs8.decrypt(back[start:], passphrase)
        except ValueError as exc:
            raise OfflineKeyError(f"{target}: the export does not read back; the key stays in the store") from exc
        if keymod.to_pem(again) != keymod.to_pem(private):
            raise OfflineKeyError(f"{target}: the export reads back as another key; the key stays in the store")
        real = Path(os.path.realpath(ca_key_path(store, spec)))
        stub = cakeys.render_offline(private.public_key(), str(target), utc_minute(now))
        writes = [transaction.Write(real, stub, storage.KEY_MODE, storage.owner_to_keep(real))]
        change = Change([], written=[key.where], exported_to=target)
        for stored, _, data in _generation_copies(state_dir, root, {real}):
            copy = cakeys.parse(data, str(stored))
            if copy.form in (KeyForm.PLAIN, KeyForm.ENCRYPTED):
                public = cakeys.public_key_of(copy, str(stored))
                writes.append(
                    transaction.Write(stored, cakeys.render_offline(public, str(target), utc_minute(now)), 0o600)
                )
                change.generations += 1
                if not keymod.same_public_key(public, private):
                    change.notes.append(
                        f"{stored}: an older {name} key kept for rollback was removed too; rolling back to it "
                        "would need that key"
                    )
        transaction.run(state_dir, writes)
        change.rows = _rows(root, profile, store, _load(root, profile, store, Unlock()))
        return change


def _names(profile: Profile) -> list[str]:
    return [s.name for s in _ca_specs(profile)]


def _certificate(root: Path, spec: CertSpec) -> x509.Certificate | None:
    from certkit.certificates import NotACertificate, parse_certificates

    data = storage.read_bytes(root / spec.cert_file)
    if data is None:
        return None
    try:
        return parse_certificates(data)[0]
    except NotACertificate:
        return None
