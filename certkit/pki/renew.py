"""`certkit renew` and `certkit init`: plan, build in memory, validate, then write.

Nothing is written until the whole new set is built and has passed validation; then
every file goes through storage.atomic_write.  Returns a RenewResult; never prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certkit import defaults, paths
from certkit.certificates import to_pem
from certkit.durations import Duration
from certkit.errors import FilesystemError, OfflineKeyError
from certkit.outcomes import Action, FileKind
from certkit.paths import inside
from certkit.pki import cakeys, managed
from certkit.pki import keys as keymod
from certkit.pki.cakeys import CAKey, KeyForm, StoreMode
from certkit.pki.issuance import build_certificate
from certkit.pki.keys import PrivateKey
from certkit.pki.planning import CertState, Decision, Plan, ca_key_path, make_plan, read_state
from certkit.pki.unlock import Unlock
from certkit.pki.validation import validate_set
from certkit.profile import KeyLocation, Profile
from certkit.store import generations, handles, safety, storage, transaction
from certkit.store import state as state_folder
from certkit.store.layout import (
    CA_STORE_RECORD,
    STATE_FOLDER,
    ca_store_path,
    ca_store_record,
    check_ignore_files,
    check_paths,
    ignore_entry,
    require_layout,
)
from certkit.store.records import replace_own

DEFAULT_KEEP = defaults.KEEP


@dataclass
class FileOutcome:
    path: str  # relative to the Notary folder when inside it
    kind: FileKind
    action: Action
    certificate: str = ""  # the profile name it belongs to
    not_after: datetime | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class RenewResult:
    root: Path
    profile: str
    ca_store: Path
    dry_run: bool
    files: list[FileOutcome]
    notices: list[str]
    plan: Plan

    @property
    def changed(self) -> bool:
        return any(f.action.changed for f in self.files)

    @property
    def touched(self) -> list[str]:
        """The files this run wrote or would write (paths as in ``files``)."""
        return [f.path for f in self.files if f.action not in (Action.KEPT, Action.MISSING)]

    @property
    def renewed(self) -> list[str]:
        return [d.name for d in self.plan.decisions if d.renew]


def renew(
    root: Path,
    profile: Profile,
    now: datetime,
    within: Duration,
    *,
    force: bool = False,
    rotate_keys: bool = False,
    dry_run: bool = False,
    ca_store: Path | None = None,
    require_notary_layout: bool = True,
    keep: int = DEFAULT_KEEP,
    before_write: Callable[[], None] | None = None,
    early_keys: keymod.EarlyKeys | None = None,
    unlock: Unlock | None = None,
) -> RenewResult:
    """Renew what is due; the caller holds the renewal lock (certkit.store.lock) when not dry_run.

    ``before_write`` runs once the new set is built and validated and before the first write,
    only when something will be written; an error it raises leaves every file as it was.
    ``early_keys``: RSA keys the caller started before planning (see :func:`certkit.pki.keys.likely_needed`);
    the plan still decides which keys are made, and takes only those.
    ``unlock``: where the CA keys' passphrase, PIN or offline root come from; asked only when a CA
    key must sign or a new one be stored (a run with nothing to sign never asks).
    """
    unlock = unlock if unlock is not None else Unlock()
    if require_notary_layout:
        require_layout(root, profile)
    store = ca_store_path(root, profile, ca_store)
    # Every write below goes through handles on these folders, opened here once, walking down from
    # `/` without following a symlink (certkit.store.handles); the ownership check compares them with
    # what it sees, so a folder renamed or swapped after this point cannot redirect a write.
    with handles.pinned([root, store]):
        return _renew_pinned(
            root,
            profile,
            store,
            now,
            within,
            force=force,
            rotate_keys=rotate_keys,
            dry_run=dry_run,
            store_given=ca_store is not None,
            keep=keep,
            before_write=before_write,
            early_keys=early_keys,
            unlock=unlock,
        )


def _renew_pinned(
    root: Path,
    profile: Profile,
    store: Path,
    now: datetime,
    within: Duration,
    *,
    force: bool,
    rotate_keys: bool,
    dry_run: bool,
    store_given: bool,
    keep: int,
    before_write: Callable[[], None] | None,
    early_keys: keymod.EarlyKeys | None,
    unlock: Unlock,
) -> RenewResult:
    if store.exists() and store.is_symlink():
        raise FilesystemError(f"{store}: the CA store is a symlink; make it a real folder (mode 0700)")
    check_paths(root, profile, store, store_given=store_given)
    check_ignore_files(root, store, _ignore_entries(root, store))
    # Real path: the records and snapshots name absolute real paths, the same whether the
    # folder was given as "." or absolute (a relative one left CA keys out of snapshots).
    state_dir = _real(root) / STATE_FOLDER
    state_folder.verify(state_dir, _real(store))
    # Every check that can refuse comes before the first write, so a refusal leaves the
    # folder exactly as it was; a dry run makes the same checks and so predicts the refusal.
    managed.check_safety(root, profile, store)
    notices: list[str] = []
    if dry_run:
        if transaction.pending(state_dir):
            notices.append("an interrupted renewal is pending; the next real run completes or discards it first")
    else:
        # The one write before the remaining checks: finishing (or discarding) a renewal a
        # crash interrupted, so that what is read next is a whole set.
        recovery = transaction.recover(state_dir, managed.folders(profile, root, store), roots=[store])
        if recovery.rolled_forward:
            notices.append("completed a renewal that was interrupted (crash or kill) before this run")
        if recovery.discarded:
            notices.append("discarded the unfinished staging of an interrupted renewal; the old set was intact")
    states = read_state(profile, root, store, load_leaf_keys=not rotate_keys, unlock=unlock)
    ca_keys = [state.key for state in states.values() if isinstance(state.key, CAKey)]
    mode = cakeys.store_mode(ca_keys, unlock, store)
    loose = _loose_keys(states)
    notices += _loose_key_notices(loose, root, dry_run)
    plan = make_plan(profile, states, now, within, force=force, rotate_keys=rotate_keys)
    plan.notices[:0] = notices
    if dry_run:
        plan.notices += _offline_notes(plan, states)
        plan.notices += _owner_notes(
            profile, plan, states, root, set(), dry_run=True, tightened={key.path for key in loose}
        )
        return _result(root, profile, store, plan, states, {}, set(), dry_run=True, written_ignores=[])

    fs_root = storage.Root(root)
    _probe_used_keys(plan, states, root)
    new_keys = _generate_keys(plan, early_keys, mode, ca_keys, unlock)
    if mode == StoreMode.ENCRYPTED and any(d.renew and d.name in new_keys for d in plan.decisions if d.spec.ca):
        _check_passphrase(ca_keys)  # a new key must not be stored under a mistyped passphrase
    certs, keys = _issue(profile, plan, states, new_keys, now)
    validate_set(profile, certs, keys, now)
    writes = _files_to_write(profile, plan, states, certs, new_keys, root, store, mode, unlock)
    # Prepare, then commit: every destination is resolved and probed, and everything the writes
    # need is read, before the first write; after ``before_write`` certkit only writes.
    live = [
        transaction.Write(target, data, mode, storage.owner_to_keep(target))
        for target, data, mode in ((_destination(fs_root, store, p), d, m) for p, d, m in writes)
    ]
    plan.notices += _hard_link_notes(live, root)
    ignores = _ignore_updates(root, store) if live else []
    real_store = _real(store)
    new_folders = {folder: _real(folder) == real_store for folder in {w.target.parent for w in live}}
    created_paths = frozenset(w.target for w in live if not os.path.lexists(w.target))
    snapshot: list[transaction.Write] = []
    if live:
        tightened = {key.path: storage.KEY_MODE for key in loose}
        snapshot = _generation_writes(profile, root, store, state_dir, live, tightened)
        if store_given:  # remembered, so later runs without --ca-store find the same keys
            snapshot.append(transaction.Write(state_dir / CA_STORE_RECORD, ca_store_record(root, store), 0o600))
    folders = {w.target.parent for w in live} | ({state_dir, root} if live else set()) | {k.path.parent for k in loose}
    for folder in sorted(folders):
        storage.probe_writable(folder)
    if live and before_write is not None:
        before_write()
    # From here on certkit writes.
    _tighten_key_modes(loose)
    if not live:
        return _result(root, profile, store, plan, states, certs, set(), dry_run=False, written_ignores=[])
    # Before any key reaches the disk: keep the state folder and CA store out of images and git.
    written_ignores = _write_ignores(ignores)
    state_folder.ensure(state_dir)
    for folder, private in sorted(new_folders.items()):
        storage.ensure_dir(folder, private=private)
    generations.prepare_folders(snapshot)
    transaction.run(state_dir, live + snapshot)
    generations.prune(state_dir, keep)
    changed_paths = {w.target for w in live}
    plan.notices += _owner_notes(profile, plan, states, root, changed_paths, dry_run=False)
    return _result(
        root,
        profile,
        store,
        plan,
        states,
        certs,
        changed_paths,
        dry_run=False,
        written_ignores=written_ignores,
        created_paths=created_paths,
    )


def _generation_writes(
    profile: Profile,
    root: Path,
    store: Path,
    state_dir: Path,
    live: list[transaction.Write],
    tightened: dict[Path, int],
) -> list[transaction.Write]:
    """Snapshots for rollback: the set after this renewal, and the set before certkit's first one.

    Read before the first write, so each mode is the one certkit found: generation 0 keeps it, so a
    rollback to it gives back the files exactly as found (loose keys included).  ``tightened``: the
    modes this run gives loose keys, which the new generation records.
    """
    changed = {_real(w.target): w for w in live}
    after: list[generations.LiveFile] = []
    before: list[generations.LiveFile] = []
    for target in managed.targets(profile, root, store):
        old = storage.read_bytes(target)
        found_mode = target.stat().st_mode & 0o777 if old is not None else 0
        if old is not None:
            before.append(generations.LiveFile(target, old, found_mode))
        if target in changed:
            after.append(generations.LiveFile(target, changed[target].data, changed[target].mode))
        elif old is not None:
            after.append(generations.LiveFile(target, old, tightened.get(target, found_mode)))
    existing = generations.numbers(state_dir)
    number = (existing[-1] + 1) if existing else 1
    writes = []
    if not existing and before:
        writes += generations.snapshot_writes(state_dir, 0, root, before, live=False)
    writes += generations.snapshot_writes(state_dir, number, root, after, live=True)
    return writes


def key_mode(path: Path | None) -> int:
    """The mode for a (new) key replacing ``path``: 0640 when the old one was readable by its
    group only (postgres accepts a root-owned key 0640 with its group: an administrator's
    choice to keep), else 0600."""
    if path is None:
        return storage.KEY_MODE
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return storage.KEY_MODE
    return storage.GROUP_KEY_MODE if mode & 0o077 == 0o040 else storage.KEY_MODE


@dataclass(frozen=True)
class _LooseKey:
    """A kept private key readable beyond what key_mode allows, to be made 0600."""

    path: Path  # real path
    mode: int
    links: int
    data: bytes | None = None  # with other hard links: its bytes, written anew (0600) by rename instead
    owner: storage.Owner | None = None


def _loose_keys(states: dict[str, CertState]) -> list[_LooseKey]:
    """Private keys readable (or writable) beyond their owner, or beyond a reading group for a
    leaf key (see key_mode)."""
    loose = []
    for state in states.values():
        path = state.key_path
        if path is None or path.is_symlink() or not path.is_file():
            continue
        st = path.stat()
        mode = st.st_mode & 0o777
        group_may_read = state.spec.key_location is KeyLocation.FILE  # never a CA key
        if mode & 0o077 not in ((0, 0o040) if group_may_read else (0,)):
            real = _real(path)
            if st.st_nlink > 1:  # never chmod-ed in place: the other names share the inode (issue 19)
                loose.append(_LooseKey(real, mode, st.st_nlink, storage.read_bytes(real), storage.owner_to_keep(real)))
            else:
                loose.append(_LooseKey(real, mode, 1))
    return loose


def _loose_key_notices(loose: list[_LooseKey], root: Path, dry_run: bool) -> list[str]:
    notes = []
    for key in loose:
        note = f"{paths.shown(key.path, _real(root))}: private key was mode {key.mode:04o}, readable by others; "
        if key.links > 1:
            note += (
                f"{'would replace' if dry_run else 'replaced'} it by a copy with mode 0600, since it has "
                f"{key.links} hard links: a chmod would change its other names too"
            )
        else:
            note += "would set 0600" if dry_run else "set to 0600"
        notes.append(note)
    return notes


def _hard_link_notes(live: list[transaction.Write], root: Path) -> list[str]:
    """Files this run replaces that have other names: the rename gives the path a new file, the others keep the old."""
    notes = []
    for write in live:
        count = storage.links(write.target)
        if count > 1:
            notes.append(
                f"{paths.shown(write.target, _real(root))}: had {count} hard links; certkit replaced it (a rename), "
                "so its other names keep the old file"
            )
    return notes


def _tighten_key_modes(loose: list[_LooseKey]) -> None:
    """A private key readable by others is made 0600 (reported), even when kept: in place when it
    is a file of its own, else replaced by a copy, so no other name of it changes."""
    for key in loose:
        if key.data is not None:
            storage.atomic_write(key.path, key.data, storage.KEY_MODE, key.owner)
        else:
            storage.set_mode(key.path, storage.KEY_MODE)


def _owner_notes(
    profile: Profile,
    plan: Plan,
    states: dict[str, CertState],
    root: Path,
    changed: set[Path],
    *,
    dry_run: bool,
    tightened: Collection[Path] = (),
) -> list[str]:
    """Where a key's owner matters to a container: a key certkit wrote (or would write)
    that belongs to another user, or whose profile names the user who must read it.

    ``tightened``: keys a dry run would set to 0600 (a real run already has): judged with the
    mode they would have, so the dry run says what the run will, never "would keep 0664" beside
    "would set 0600" for the same key."""
    notes = []
    runner = os.geteuid()
    for spec in profile.certificates:
        state = states[spec.name]
        if spec.key_location is not KeyLocation.FILE or state.key_path is None:
            continue
        decision = plan.get(spec.name)
        if dry_run:
            touched = decision.renew
        else:
            touched = _real(state.key_path) in changed or _real(root / spec.cert_file) in changed
        if not touched:
            continue
        try:
            st = state.key_path.stat()
        except OSError:
            continue
        shown, mode = paths.shown(state.key_path, root), st.st_mode & 0o777
        if _real(state.key_path) in tightened:
            mode = storage.KEY_MODE
        keeps = "would keep" if dry_run else "keeps"
        if st.st_uid != runner:
            notes.append(
                f"{shown}: {keeps} its owner {safety.user_name(st.st_uid)} and group "
                f"{safety.group_name(st.st_gid)}, mode {mode:04o}: the container that reads it "
                "must run as that user (or that group, with mode 0640)"
            )
        elif mode & 0o040:
            notes.append(
                f"{shown}: {keeps} mode {mode:04o} and group {safety.group_name(st.st_gid)}: "
                "that group's members and containers may read it"
            )
        elif spec.key_owner_hint:
            notes.append(
                f"{shown}: owned by {safety.user_name(st.st_uid)}, group {safety.group_name(st.st_gid)}, "
                f"mode {mode:04o}; {spec.key_owner_hint}"
            )
    return notes


def _probe_used_keys(plan: Plan, states: dict[str, CertState], root: Path) -> None:
    """A probe signature with every existing key this renewal relies on: the reused keys of
    re-issued certificates and their issuers' keys (a damaged key loads fine unvalidated)."""
    used: set[str] = set()
    for decision in plan.decisions:
        if decision.renew:
            if not decision.new_key:
                used.add(decision.name)
            if decision.spec.issuer is not None:
                used.add(decision.spec.issuer)
    for name in sorted(used):
        state = states[name]
        if isinstance(state.key, CAKey):
            try:
                state.key.probe()
            except OfflineKeyError as exc:
                raise OfflineKeyError(f"{_needed_for(name, plan, states)}: {exc}; nothing was written") from exc
        elif state.key is not None and state.key_path is not None:
            shown = paths.shown(state.key_path, root)
            keymod.check_signs(state.key, shown)


def _needed_for(name: str, plan: Plan, states: dict[str, CertState]) -> str:
    """Why this renewal needs CA ``name``'s key: the certificates it must sign and why they are due."""
    signed = [d for d in plan.decisions if d.renew and name in (d.name, d.spec.issuer)]
    parts = [f"{d.name} ({'; '.join(d.reasons[:1]) or 'due'})" for d in signed]
    return f"renewing {', '.join(parts) or name} needs {name}'s key"


def _offline_notes(plan: Plan, states: dict[str, CertState]) -> list[str]:
    """A dry run names the offline key the real run would need, and how to bring it."""
    needed = {d.name for d in plan.decisions if d.renew and not d.new_key}
    needed |= {d.spec.issuer for d in plan.decisions if d.renew and d.spec.issuer is not None}
    notes = []
    for name in sorted(needed):
        key = states[name].key if name in states else None
        if isinstance(key, CAKey) and key.form == KeyForm.OFFLINE and key.unlock.root_key_file is None:
            notes.append(f"{_needed_for(name, plan, states)}: {key.offline_text()}")
    return notes


def _check_passphrase(ca_keys: list[CAKey]) -> None:
    for key in ca_keys:
        if key.form == KeyForm.ENCRYPTED:
            key.private()  # PassphraseError (23) when the passphrase is not the store's
            return


def _generate_keys(
    plan: Plan,
    early: keymod.EarlyKeys | None = None,
    mode: StoreMode = StoreMode.PLAIN,
    ca_keys: list[CAKey] | None = None,
    unlock: Unlock | None = None,
) -> dict[str, PrivateKey | CAKey]:
    wanted = [d for d in plan.decisions if d.renew and d.new_key]
    in_token = [d for d in wanted if mode == StoreMode.PKCS11 and d.spec.key_location is KeyLocation.CA_STORE]
    software = [d for d in wanted if d not in in_token]
    made = keymod.generate_many([d.spec.key for d in software], early)
    keys: dict[str, PrivateKey | CAKey] = {d.name: key for d, key in zip(software, made, strict=True)}
    if in_token:
        assert unlock is not None
        keys.update(_token_keys(in_token, ca_keys or [], unlock))
    return keys


def _token_keys(decisions: list[Decision], ca_keys: list[CAKey], unlock: Unlock) -> dict[str, PrivateKey | CAKey]:
    """New CA keys made in the PKCS#11 token (--ca-pkcs11, or the token the store's keys are in)."""
    from certkit.pki import pkcs11

    if unlock.pkcs11_uri is not None:
        base = pkcs11.parse_uri(unlock.pkcs11_uri)
    else:
        base = next(k.key_uri() for k in ca_keys if k.form == KeyForm.PKCS11)
    made: dict[str, PrivateKey | CAKey] = {}
    for decision in decisions:
        uri, public = pkcs11.generate(base, decision.name, decision.spec.key, unlock)
        text = cakeys.render_pkcs11(uri.text(), public)
        made[decision.name] = CAKey(decision.name, uri.text(), cakeys.parse(text, uri.text()), unlock)
    return made


def _issue(
    profile: Profile,
    plan: Plan,
    states: dict[str, CertState],
    new_keys: dict[str, PrivateKey | CAKey],
    now: datetime,
) -> tuple[dict[str, list[x509.Certificate]], dict[str, PrivateKey | CAKey]]:
    leaves: dict[str, x509.Certificate] = {}
    keys: dict[str, PrivateKey | CAKey] = {}
    for spec in profile.certificates:  # issuers come first
        decision = plan.get(spec.name)
        state = states[spec.name]
        key = new_keys.get(spec.name) or state.key
        if key is not None:
            keys[spec.name] = key
        if not decision.renew:
            assert state.leaf is not None
            leaves[spec.name] = state.leaf
            continue
        assert key is not None
        if spec.issuer is None:
            leaves[spec.name] = build_certificate(spec, key, None, key, now)
        else:
            leaves[spec.name] = build_certificate(spec, key, leaves[spec.issuer], keys[spec.issuer], now)
    certs = {spec.name: [leaves[spec.name], *(leaves[name] for name in spec.chain)] for spec in profile.certificates}
    return certs, keys


def _files_to_write(
    profile: Profile,
    plan: Plan,
    states: dict[str, CertState],
    certs: dict[str, list[x509.Certificate]],
    new_keys: dict[str, PrivateKey | CAKey],
    root: Path,
    store: Path,
    mode: StoreMode = StoreMode.PLAIN,
    unlock: Unlock | None = None,
) -> list[tuple[str | Path, bytes, int]]:
    writes: list[tuple[str | Path, bytes, int]] = []
    for spec in profile.certificates:
        decision = plan.get(spec.name)
        state = states[spec.name]
        # The key goes first: a crash between the two leaves a new key beside a
        # certificate that no longer matches it, which the next run detects and re-issues.
        if decision.renew and spec.name in new_keys and state.key_path is not None:
            new_key = new_keys[spec.name]
            if spec.key_location is KeyLocation.CA_STORE:
                data = cakeys.stored_form(new_key, mode, unlock or Unlock())
                writes.append((state.key_path, data, storage.KEY_MODE))
            else:
                assert not isinstance(new_key, CAKey)
                writes.append((state.key_path, keymod.to_pem(new_key), key_mode(state.key_path)))
        cert_pem = to_pem(certs[spec.name])
        if decision.renew:
            writes.append((spec.cert_file, cert_pem, storage.CERT_MODE))
        for copy in spec.copies:
            if decision.renew or storage.read_bytes(root / copy) != cert_pem:
                writes.append((copy, cert_pem, storage.CERT_MODE))
    return writes


def _destination(fs_root: storage.Root, store: Path, path: str | Path) -> Path:
    if isinstance(path, Path) and inside(path, store):
        # The CA store may be outside the Notary folder (--ca-store).  The real path, as
        # for every other file: transaction records and snapshots must name the same
        # file whether NOTARY_DIR was given as "." or absolute.
        return storage.Root(store).resolve(str(path.relative_to(store)))
    relative = path if isinstance(path, str) else str(path.relative_to(fs_root.path))
    return fs_root.resolve(relative)


def _ignore_entries(root: Path, store: Path) -> list[str]:
    """The .dockerignore/.gitignore lines that keep the state folder and the CA store out."""
    entries = {f"/{STATE_FOLDER}/"}
    store_entry = ignore_entry(root, store)
    if store_entry is not None and not store_entry.startswith(f"/{STATE_FOLDER}/"):
        entries.add(store_entry)  # a CA store elsewhere in the checkout (--ca-store)
    return sorted(entries)


_IGNORE_COMMENT = "certkit: CA private keys must never reach an image or a repository"


@dataclass(frozen=True)
class _IgnoreUpdate:
    name: str
    target: Path
    data: bytes
    mode: int
    owner: storage.Owner | None
    action: Action  # CREATED or UPDATED


def _ignore_updates(root: Path, store: Path) -> list[_IgnoreUpdate]:
    """What .dockerignore and .gitignore need so the state folder and CA store stay out of
    images and git (read and resolved before anything is written)."""
    entries = _ignore_entries(root, store)
    updates = []
    for name in managed.IGNORE_FILES:
        target = storage.Root(root).resolve(name)
        current = storage.read_bytes(target)
        data = storage.with_lines(current, entries, _IGNORE_COMMENT)
        if data is None:
            continue
        # The file keeps its mode and owner: it is the project's file, certkit only appends.
        mode = target.stat().st_mode & 0o777 if current is not None else 0o644
        owner = storage.owner_to_keep(target) if current is not None else None
        updates.append(
            _IgnoreUpdate(name, target, data, mode, owner, Action.UPDATED if current is not None else Action.CREATED)
        )
    return updates


def _write_ignores(updates: list[_IgnoreUpdate]) -> list[tuple[str, Action]]:
    for update in updates:
        storage.atomic_write(update.target, update.data, update.mode, update.owner)
    return [(u.name, u.action) for u in updates]


def _result(
    root: Path,
    profile: Profile,
    store: Path,
    plan: Plan,
    states: dict[str, CertState],
    certs: dict[str, list[x509.Certificate]],
    changed_paths: set[Path],
    *,
    dry_run: bool,
    written_ignores: list[tuple[str, Action]],
    created_paths: frozenset[Path] = frozenset(),
) -> RenewResult:
    files: list[FileOutcome] = []

    def shown(path: Path | str) -> str:
        # Relative to the Notary folder, whether ``root`` was given relative or absolute: profile paths
        # (certificates) already are; key paths are joined to ``root`` and are made so here.
        return paths.shown(Path(path), root)

    for name, ignore_action in written_ignores:
        files.append(
            FileOutcome(name, FileKind.IGNORE_FILE, ignore_action, reasons=["keeps the CA store out of images and git"])
        )
    for decision in plan.decisions:
        spec = decision.spec
        state = states[spec.name]
        existed = state.leaf is not None or state.cert_problem != "missing"
        if not decision.renew:
            action = Action.KEPT
        elif dry_run:
            action = Action.WOULD_RENEW if existed else Action.WOULD_CREATE
        else:
            action = Action.RENEWED if existed else Action.CREATED
        leaf = certs[spec.name][0] if certs else state.leaf
        not_after = leaf.not_valid_after_utc if (leaf is not None and (not dry_run or not decision.renew)) else None
        files.append(
            FileOutcome(shown(spec.cert_file), FileKind.CERTIFICATE, action, spec.name, not_after, decision.reasons)
        )
        if state.key_path is not None:
            if decision.new_key:
                key_action = Action.WOULD_CREATE if dry_run else Action.CREATED
                reasons = [decision.key_reason]
            elif state.key is None:
                key_action, reasons = Action.MISSING, ["not needed yet: made when something must be signed"]
            else:
                key_action, reasons = Action.KEPT, []
            kind = FileKind.CA_KEY if spec.key_location is KeyLocation.CA_STORE else FileKind.KEY
            files.append(FileOutcome(shown(state.key_path), kind, key_action, spec.name, reasons=reasons))
        for copy in spec.copies:
            copy_path = root / copy
            if dry_run:
                current = storage.read_bytes(copy_path)
                pending = decision.renew or (state.certs is not None and current != to_pem(state.certs))
                copy_action = Action.WOULD_UPDATE if pending else Action.KEPT
            else:
                real_copy = _real(copy_path)
                copy_action = (
                    (Action.CREATED if real_copy in created_paths else Action.UPDATED)
                    if real_copy in changed_paths
                    else Action.KEPT
                )
            files.append(
                FileOutcome(copy, FileKind.COPY, copy_action, spec.name, not_after, [f"copy of {spec.cert_file}"])
            )
    return RenewResult(root, profile.name, store, dry_run, files, list(plan.notices), plan)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def remember_nothing_due(
    root: Path,
    profile: Profile,
    result: RenewResult,
    profile_id: str,
    profile_file: Path | None = None,
    *,
    compose: bool = True,
    deployed: bool = False,
) -> bool:
    """Record the state a successful real run left, for certkit.store.fastpath (the cron case).

    Written only when the whole set is present and the record differs from the one on disk,
    so a run with nothing due changes no byte.  Returns whether it wrote.
    """
    from certkit.store import fastpath

    not_afters = [f.not_after for f in result.files if f.kind == FileKind.CERTIFICATE]
    if result.dry_run or not not_afters or any(n is None for n in not_afters):
        return False
    absolute = Path(os.path.abspath(root))
    files: list[Path] = []
    for spec in profile.certificates:
        files += [absolute / rel for rel in (spec.cert_file, spec.key_file, *spec.copies) if rel]
        if spec.ca:
            files.append(Path(os.path.abspath(ca_key_path(result.ca_store, spec))))
    if profile_file is not None:
        files.append(Path(os.path.abspath(profile_file)))
    earliest = min(n for n in not_afters if n is not None)
    data = fastpath.record(
        profile_id,
        Path(os.path.abspath(result.ca_store)),
        files,
        absolute,
        earliest,
        compose=compose,
        deployed=deployed,
    )
    target = absolute / STATE_FOLDER / fastpath.RECORD
    if storage.read_bytes(target) == data or not (absolute / STATE_FOLDER).is_dir():
        return False
    try:
        replace_own(target, data)
    except (OSError, FilesystemError):  # FilesystemError: the folder was swapped (certkit.store.handles)
        return False  # only a cache: the next run takes the full path
    return True
