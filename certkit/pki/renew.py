"""`certkit renew` and `certkit init`: read and plan, then build and validate in memory, then write.

A renewal is three steps over one checkout (certkit.store.checkout.Checkout, checked and pinned once):

- :func:`plan_renewal` reads the set and decides what is due, why, and which keys are made.  It asks for
  no secret and makes nothing: it is all a dry run reports (:func:`preview`).
- :func:`prepare` makes the keys, issues, validates the new set, resolves and probes every destination
  and reads whatever the writes need: a :class:`PreparedRenewal`.
- :func:`commit` only writes (every file through one crash-safe transaction, certkit.store.transaction)
  and records.

A caller with a step of its own that must be able to refuse before anything is written (renew's compose
step) runs it between prepare and commit.  :func:`recover` is the one write before reading: it finishes
or discards a renewal a crash interrupted, so what is read is a whole set.  Nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certkit import defaults, paths
from certkit.certificates import to_pem
from certkit.durations import Duration
from certkit.errors import FilesystemError, OfflineKeyError
from certkit.outcomes import Action, FileKind, Notice, NoticeKind
from certkit.paths import inside
from certkit.pki import cakeys, pkcs11
from certkit.pki import keys as keymod
from certkit.pki.cakeys import CAKey, KeyForm, StoreMode
from certkit.pki.issuance import build_certificate
from certkit.pki.keys import PrivateKey
from certkit.pki.planning import CertState, Decision, Plan, make_plan, read_state
from certkit.pki.unlock import Unlock
from certkit.pki.validation import validate_set
from certkit.profile import KeyLocation
from certkit.store import fastpath, generations, safety, storage, transaction
from certkit.store import state as state_folder
from certkit.store.checkout import IGNORE_FILES, Checkout, real
from certkit.store.layout import CA_STORE_RECORD, STATE_FOLDER, ca_store_record
from certkit.store.records import replace_own


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


def recover(checkout: Checkout) -> list[str]:
    """Finish (or discard) a renewal a crash or a kill interrupted, before anything is read; its notices."""
    recovery = transaction.recover(checkout.state_dir, checkout.folders(), roots=[checkout.ca_store])
    notices = []
    if recovery.rolled_forward:
        notices.append("completed a renewal that was interrupted (crash or kill) before this run")
    if recovery.discarded:
        notices.append("discarded the unfinished staging of an interrupted renewal; the old set was intact")
    return notices


def pending(checkout: Checkout) -> list[str]:
    """What a dry run, which writes nothing, says of an interrupted renewal instead of recovering it."""
    if transaction.pending(checkout.state_dir):
        return ["an interrupted renewal is pending; the next real run completes or discards it first"]
    return []


@dataclass
class Planned:
    """What is on disk and what is due: all that a dry run reports, and what :func:`prepare` builds on."""

    checkout: Checkout
    now: datetime
    unlock: Unlock
    states: dict[str, CertState]
    plan: Plan
    ca_keys: list[CAKey]  # the CA keys found in the store: handles, opened only to sign
    mode: StoreMode  # how new CA keys are kept: as the store's are
    loose: list[_LooseKey]  # kept private keys readable beyond what they may be: made 0600 on commit
    notices: list[str]  # the run's notes before the plan's own (recovery)


def plan_renewal(
    checkout: Checkout,
    now: datetime,
    within: Duration,
    *,
    force: bool = False,
    rotate_keys: bool = False,
    unlock: Unlock | None = None,
    notices: Sequence[str] = (),
) -> Planned:
    """Read every certificate and key of the set and decide what a renewal at ``now`` does.

    ``unlock``: where the CA keys' passphrase, PIN or offline root come from; asked only when a CA key
    must sign or a new one be stored (:func:`prepare`): planning never asks.  ``notices``: the run's notes
    so far (:func:`recover`'s), shown first.
    """
    unlock = unlock if unlock is not None else Unlock()
    states = read_state(
        checkout.profile, checkout.root, checkout.ca_store, load_leaf_keys=not rotate_keys, unlock=unlock
    )
    ca_keys = [state.key for state in states.values() if isinstance(state.key, CAKey)]
    mode = cakeys.store_mode(ca_keys, unlock, checkout.ca_store)
    plan = make_plan(checkout.profile, states, now, within, force=force, rotate_keys=rotate_keys)
    return Planned(checkout, now, unlock, states, plan, ca_keys, mode, _loose_keys(states), list(notices))


def preview(planned: Planned) -> RenewResult:
    """A dry run's result: what :func:`commit` would write, and why, with nothing built or written."""
    checkout, plan, states = planned.checkout, planned.plan, planned.states
    tightened = {key.path for key in planned.loose}
    notices = [
        *_notices(planned, done=False),
        *_offline_notes(plan, states),
        *_owner_notes(checkout, plan, states, set(), dry_run=True, tightened=tightened),
    ]
    return _result(planned, {}, set(), notices, dry_run=True, written_ignores=[])


@dataclass(frozen=True)
class PreparedRenewal:
    """Everything the writes need, built, validated and resolved: :func:`commit` only writes."""

    planned: Planned
    certs: dict[str, list[x509.Certificate]]  # the whole set, leaf first, as it will be
    live: list[transaction.Write]  # the set's files, to their real destinations
    snapshot: list[transaction.Write]  # the generation kept for rollback (and the CA store's record)
    ignores: list[_IgnoreUpdate]  # .dockerignore/.gitignore lines that keep the CA store out
    new_folders: dict[Path, bool]  # the folders written in, each with whether it is the (private) CA store
    created: frozenset[Path]  # destinations that do not exist yet
    notices: list[str]
    keep: int

    @property
    def writes(self) -> bool:
        """Whether :func:`commit` writes a file of the set (else it only tightens loose key modes)."""
        return bool(self.live)


def prepare(planned: Planned, *, maker: keymod.KeyMaker | None = None, keep: int = defaults.KEEP) -> PreparedRenewal:
    """Make the keys the plan wants, issue and validate the new set, and resolve and probe every write.

    Every check that can refuse is made here, so a refusal leaves the folder exactly as it was.
    ``maker``: the threads that make the keys, which may have started some before planning
    (certkit.pki.keys.likely_needed); the plan still decides which keys are made, and takes only those.
    """
    checkout, plan, states = planned.checkout, planned.plan, planned.states
    _probe_used_keys(plan, states, checkout.root)
    new_keys = _generate_keys(planned, maker)
    if planned.mode == StoreMode.ENCRYPTED and any(d.renew and d.name in new_keys for d in plan.decisions if d.spec.ca):
        _check_passphrase(planned.ca_keys)  # a new key must not be stored under a mistyped passphrase
    certs, keys = _issue(planned, new_keys)
    validate_set(checkout.profile, certs, keys, planned.now)
    fs_root = storage.Root(checkout.root)
    live = [
        transaction.Write(target, data, mode, storage.owner_to_keep(target))
        for target, data, mode in (
            (_destination(fs_root, checkout.ca_store, p), d, m) for p, d, m in _files_to_write(planned, certs, new_keys)
        )
    ]
    snapshot: list[transaction.Write] = []
    if live:
        tightened = {key.path: storage.KEY_MODE for key in planned.loose}
        snapshot = _generation_writes(checkout, live, tightened)
        if checkout.store_given:  # remembered, so later runs without --ca-store find the same keys
            record = ca_store_record(checkout.root, checkout.ca_store)
            snapshot.append(transaction.Write(checkout.state_dir / CA_STORE_RECORD, record, 0o600))
    written_in = {w.target.parent for w in live}
    folders = (
        written_in | ({checkout.state_dir, checkout.root} if live else set()) | {k.path.parent for k in planned.loose}
    )
    for folder in sorted(folders):
        storage.probe_writable(folder)
    return PreparedRenewal(
        planned,
        certs,
        live,
        snapshot,
        _ignore_updates(checkout) if live else [],
        {folder: real(folder) == checkout.real_store for folder in written_in},
        frozenset(w.target for w in live if not os.path.lexists(w.target)),
        _hard_link_notes(live, checkout.root),
        keep,
    )


def commit(prepared: PreparedRenewal) -> RenewResult:
    """Write what :func:`prepare` made: loose key modes first, then the ignore lines, then the set and its
    generation in one transaction; the caller holds the renewal lock (certkit.store.lock)."""
    planned = prepared.planned
    checkout = planned.checkout
    _tighten_key_modes(planned.loose)
    notices = [*_notices(planned, done=True), *prepared.notices]
    if not prepared.writes:
        return _result(planned, prepared.certs, set(), notices, dry_run=False, written_ignores=[])
    # Before any key reaches the disk: keep the state folder and CA store out of images and git.
    written_ignores = _write_ignores(prepared.ignores)
    state_folder.ensure(checkout.state_dir)
    for folder, private in sorted(prepared.new_folders.items()):
        storage.ensure_dir(folder, private=private)
    generations.prepare_folders(prepared.snapshot)
    transaction.run(checkout.state_dir, prepared.live + prepared.snapshot)
    generations.prune(checkout.state_dir, prepared.keep)
    changed = {w.target for w in prepared.live}
    notices += _owner_notes(checkout, planned.plan, planned.states, changed, dry_run=False)
    return _result(
        planned,
        prepared.certs,
        changed,
        notices,
        dry_run=False,
        written_ignores=written_ignores,
        created_paths=prepared.created,
    )


def renew(
    checkout: Checkout,
    now: datetime,
    within: Duration,
    *,
    force: bool = False,
    rotate_keys: bool = False,
    keep: int = defaults.KEEP,
    unlock: Unlock | None = None,
) -> RenewResult:
    """The steps in one go, for a caller with nothing to do between them (`certkit init`); the caller holds
    the renewal lock, or owns the folder alone (a fresh one)."""
    notices = recover(checkout)
    planned = plan_renewal(checkout, now, within, force=force, rotate_keys=rotate_keys, unlock=unlock, notices=notices)
    return commit(prepare(planned, keep=keep))


def _notices(planned: Planned, *, done: bool) -> list[str]:
    """The run's notes in their order: recovery, loose keys (as done, or to do), then the plan's own."""
    loose = _loose_key_notices(planned.loose, planned.checkout.root, dry_run=not done)
    return [*planned.notices, *loose, *planned.plan.notices]


def _generation_writes(
    checkout: Checkout, live: list[transaction.Write], tightened: dict[Path, int]
) -> list[transaction.Write]:
    """Snapshots for rollback: the set after this renewal, and the set before certkit's first one.

    Read before the first write, so each mode is the one certkit found: generation 0 keeps it, so a
    rollback to it gives back the files exactly as found (loose keys included).  ``tightened``: the
    modes this run gives loose keys, which the new generation records.
    """
    changed = {real(w.target): w for w in live}
    after: list[generations.LiveFile] = []
    before: list[generations.LiveFile] = []
    for target in checkout.targets():
        old = storage.read_bytes(target)
        found_mode = target.stat().st_mode & 0o777 if old is not None else 0
        if old is not None:
            before.append(generations.LiveFile(target, old, found_mode))
        if target in changed:
            after.append(generations.LiveFile(target, changed[target].data, changed[target].mode))
        elif old is not None:
            after.append(generations.LiveFile(target, old, tightened.get(target, found_mode)))
    state_dir = checkout.state_dir
    existing = generations.numbers(state_dir)
    number = (existing[-1] + 1) if existing else 1
    writes = []
    if not existing and before:
        writes += generations.snapshot_writes(state_dir, 0, checkout.root, before, live=False)
    writes += generations.snapshot_writes(state_dir, number, checkout.root, after, live=True)
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
            real_path = real(path)
            if st.st_nlink > 1:  # never chmod-ed in place: the other names share the inode (issue 19)
                data, owner = storage.read_bytes(real_path), storage.owner_to_keep(real_path)
                loose.append(_LooseKey(real_path, mode, st.st_nlink, data, owner))
            else:
                loose.append(_LooseKey(real_path, mode, 1))
    return loose


def _loose_key_notices(loose: list[_LooseKey], root: Path, dry_run: bool) -> list[str]:
    notes: list[str] = []
    for key in loose:
        note = f"{paths.shown(key.path, real(root))}: private key was mode {key.mode:04o}, readable by others; "
        if key.links > 1:
            note += (
                f"{'would replace' if dry_run else 'replaced'} it by a copy with mode 0600, since it has "
                f"{key.links} hard links: a chmod would change its other names too"
            )
        else:
            note += "would set 0600" if dry_run else "set to 0600"
        kind = NoticeKind.LINKED_KEY if key.links > 1 else NoticeKind.LOOSE_KEY  # its other names keep the mode
        notes.append(Notice(note, kind, (paths.shown(key.path, real(root)),)))
    return notes


def _hard_link_notes(live: list[transaction.Write], root: Path) -> list[str]:
    """Files this run replaces that have other names: the rename gives the path a new file, the others keep the old."""
    notes = []
    for write in live:
        count = storage.links(write.target)
        if count > 1:
            notes.append(
                f"{paths.shown(write.target, real(root))}: had {count} hard links; certkit replaced it (a rename), "
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
    checkout: Checkout,
    plan: Plan,
    states: dict[str, CertState],
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
    notes: list[str] = []
    runner = os.geteuid()
    root = checkout.root
    for spec in checkout.profile.certificates:
        state = states[spec.name]
        if spec.key_location is not KeyLocation.FILE or state.key_path is None:
            continue
        decision = plan.get(spec.name)
        if dry_run:
            touched = decision.renew
        else:
            touched = real(state.key_path) in changed or real(root / spec.cert_file) in changed
        if not touched:
            continue
        try:
            st = state.key_path.stat()
        except OSError:
            continue
        shown, mode = paths.shown(state.key_path, root), st.st_mode & 0o777
        if real(state.key_path) in tightened:
            mode = storage.KEY_MODE
        keeps = "would keep" if dry_run else "keeps"
        if st.st_uid != runner:
            note = (
                f"{shown}: {keeps} its owner {safety.user_name(st.st_uid)} and group "
                f"{safety.group_name(st.st_gid)}, mode {mode:04o}: the container that reads it "
                "must run as that user (or that group, with mode 0640)"
            )
        elif mode & 0o040:
            note = (
                f"{shown}: {keeps} mode {mode:04o} and group {safety.group_name(st.st_gid)}: "
                "that group's members and containers may read it"
            )
        elif spec.key_owner_hint:
            note = (
                f"{shown}: owned by {safety.user_name(st.st_uid)}, group {safety.group_name(st.st_gid)}, "
                f"mode {mode:04o}; {spec.key_owner_hint}"
            )
        else:
            continue
        notes.append(Notice(note, NoticeKind.KEY_OWNER, (spec.key_file or shown,)))
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


def _generate_keys(planned: Planned, maker: keymod.KeyMaker | None) -> dict[str, PrivateKey | CAKey]:
    wanted = [d for d in planned.plan.decisions if d.renew and d.new_key]
    in_token = [d for d in wanted if planned.mode == StoreMode.PKCS11 and d.spec.key_location is KeyLocation.CA_STORE]
    software = [d for d in wanted if d not in in_token]
    made = keymod.generate_many([d.spec.key for d in software], maker)
    keys: dict[str, PrivateKey | CAKey] = {d.name: key for d, key in zip(software, made, strict=True)}
    if in_token:
        keys.update(_token_keys(in_token, planned.ca_keys, planned.unlock))
    return keys


def _token_keys(decisions: list[Decision], ca_keys: list[CAKey], unlock: Unlock) -> dict[str, PrivateKey | CAKey]:
    """New CA keys made in the PKCS#11 token (--ca-pkcs11, or the token the store's keys are in)."""
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
    planned: Planned, new_keys: dict[str, PrivateKey | CAKey]
) -> tuple[dict[str, list[x509.Certificate]], dict[str, PrivateKey | CAKey]]:
    profile, plan, states, now = planned.checkout.profile, planned.plan, planned.states, planned.now
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
    planned: Planned, certs: dict[str, list[x509.Certificate]], new_keys: dict[str, PrivateKey | CAKey]
) -> list[tuple[str | Path, bytes, int]]:
    plan, states, root = planned.plan, planned.states, planned.checkout.root
    writes: list[tuple[str | Path, bytes, int]] = []
    for spec in planned.checkout.profile.certificates:
        decision = plan.get(spec.name)
        state = states[spec.name]
        # The key goes first: a crash between the two leaves a new key beside a
        # certificate that no longer matches it, which the next run detects and re-issues.
        if decision.renew and spec.name in new_keys and state.key_path is not None:
            new_key = new_keys[spec.name]
            if spec.key_location is KeyLocation.CA_STORE:
                data = cakeys.stored_form(new_key, planned.mode, planned.unlock)
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


_IGNORE_COMMENT = "certkit: CA private keys must never reach an image or a repository"


@dataclass(frozen=True)
class _IgnoreUpdate:
    name: str
    target: Path
    data: bytes
    mode: int
    owner: storage.Owner | None
    action: Action  # CREATED or UPDATED


def _ignore_updates(checkout: Checkout) -> list[_IgnoreUpdate]:
    """What .dockerignore and .gitignore need so the state folder and CA store stay out of
    images and git (read and resolved before anything is written)."""
    entries = checkout.ignore_entries()
    updates = []
    for name in IGNORE_FILES:
        target = storage.Root(checkout.root).resolve(name)
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
    planned: Planned,
    certs: dict[str, list[x509.Certificate]],
    changed_paths: set[Path],
    notices: list[str],
    *,
    dry_run: bool,
    written_ignores: list[tuple[str, Action]],
    created_paths: frozenset[Path] = frozenset(),
) -> RenewResult:
    checkout, plan, states = planned.checkout, planned.plan, planned.states
    root = checkout.root
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
                real_copy = real(copy_path)
                copy_action = (
                    (Action.CREATED if real_copy in created_paths else Action.UPDATED)
                    if real_copy in changed_paths
                    else Action.KEPT
                )
            files.append(
                FileOutcome(copy, FileKind.COPY, copy_action, spec.name, not_after, [f"copy of {spec.cert_file}"])
            )
    return RenewResult(root, checkout.profile.name, checkout.ca_store, dry_run, files, notices, plan)


def remember_nothing_due(
    checkout: Checkout,
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
    not_afters = [f.not_after for f in result.files if f.kind == FileKind.CERTIFICATE]
    if result.dry_run or not not_afters or any(n is None for n in not_afters):
        return False
    # As the fast path names them: absolute, not real (it runs before anything is resolved).
    absolute = Path(os.path.abspath(checkout.root))
    files: list[Path] = []
    for spec in checkout.profile.certificates:
        files += [absolute / rel for rel in (spec.cert_file, *spec.copies)]
        key = checkout.key_path(spec)
        if key is not None:
            files.append(Path(os.path.abspath(key)))
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
