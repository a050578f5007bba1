"""Deciding what a renewal must do: a pure function of what is on disk, the profile and `now`.

``read_state`` gathers the current certificates and keys; ``make_plan`` decides, for each
certificate of the profile, whether it is kept or re-issued and why, and whether its key
is reused or replaced.  Nothing here writes or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certkit.certificates import (
    NotACertificate,
    expired,
    expires_within,
    issued_by,
    not_yet_valid,
    parse_certificates,
    subject_alt_names,
    to_der,
    weak_signature,
)
from certkit.durations import Duration
from certkit.outcomes import Notice, NoticeKind
from certkit.paths import shown
from certkit.pki import cakeys
from certkit.pki import keys as keymod
from certkit.pki.cakeys import CAKey
from certkit.pki.issuance import san_entries, subject_name
from certkit.pki.keys import PrivateKey
from certkit.pki.unlock import Unlock
from certkit.profile import CertSpec, KeyLocation, Profile
from certkit.store import layout
from certkit.store.storage import read_bytes


@dataclass
class CertState:
    """What is on disk for one certificate of the profile."""

    spec: CertSpec
    cert_path: Path
    key_path: Path | None  # None: the key is discarded after issuance
    certs: list[x509.Certificate] | None = None  # the file's certificates, leaf first
    cert_problem: str | None = None  # "missing" or why the file cannot be read
    # A leaf key, or a CA key's handle (certkit.pki.cakeys): its public key only, until a run must sign.
    key: PrivateKey | CAKey | None = None

    @property
    def leaf(self) -> x509.Certificate | None:
        return self.certs[0] if self.certs else None


@dataclass
class Decision:
    spec: CertSpec
    renew: bool
    reasons: list[str] = field(default_factory=list)
    new_key: bool = False
    key_reason: str = ""

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Plan:
    decisions: list[Decision]
    notices: list[str]

    def get(self, name: str) -> Decision:
        return next(d for d in self.decisions if d.name == name)


def read_state(
    profile: Profile, root: Path, ca_store: Path, *, load_leaf_keys: bool = True, unlock: Unlock | None = None
) -> dict[str, CertState]:
    """Read every certificate and key the profile names.

    CA keys become handles (certkit.pki.cakeys.CAKey): an encrypted, offline or token key is opened
    with ``unlock`` only when the renewal signs with it, never for planning.

    Raises MaterialError for a key that exists but cannot be used (corrupt, encrypted):
    certkit will not silently replace a key someone may depend on.  With
    ``load_leaf_keys=False`` (--rotate-keys) leaf keys are not read at all.
    """
    states: dict[str, CertState] = {}
    for spec in profile.certificates:
        key_path = layout.key_path(spec, root, ca_store)
        state = CertState(spec=spec, cert_path=root / spec.cert_file, key_path=key_path)
        data = read_bytes(state.cert_path)
        if data is None:
            state.cert_problem = "missing"
        else:
            try:
                state.certs = parse_certificates(data)
            except NotACertificate as exc:
                state.cert_problem = f"unreadable ({exc})"
        if key_path is not None and (spec.key_location is KeyLocation.CA_STORE or load_leaf_keys):
            key_data = read_bytes(key_path)
            if key_data is not None and spec.key_location is KeyLocation.CA_STORE:
                state.key = cakeys.load(key_path, shown(key_path, root), spec.name, unlock or Unlock(), key_data)
            elif key_data is not None:
                # OpenSSL's RSA self-check costs ~0.3 s per 4096-bit key; instead, the keys
                # a renewal relies on get a probe signature (renew.py, keys.check_signs).
                state.key = keymod.load_pem(key_data, trusted=True, where=shown(key_path, root))
        states[spec.name] = state
    return states


def make_plan(
    profile: Profile,
    states: dict[str, CertState],
    now: datetime,
    within: Duration,
    *,
    force: bool = False,
    rotate_keys: bool = False,
) -> Plan:
    due: dict[str, list[str]] = {}
    new_key: dict[str, str] = {}
    deadline = within.after(now)
    for spec in profile.certificates:
        state = states[spec.name]
        key_reason = _key_reason(spec, state, rotate_keys)
        if key_reason:
            new_key[spec.name] = key_reason
        # A CA whose key is not in the store (a fresh clone: the script deleted it) is
        # not due by itself; it is re-made only when something below needs signing.
        own_key_reason = "" if (spec.key_location is KeyLocation.CA_STORE and state.key is None) else key_reason
        reasons = _own_reasons(spec, state, states, now, deadline, force, own_key_reason)
        if reasons:
            due[spec.name] = reasons

    # Propagate until stable: a due certificate needs its issuer's key (a CA without its
    # key must itself be re-made), and everything below a re-made CA is re-issued.
    changed = True
    while changed:
        changed = False
        for spec in profile.certificates:
            if spec.name in due and spec.issuer is not None:
                issuer = states[spec.issuer]
                if issuer.key is None and spec.issuer not in due:
                    due[spec.issuer] = [f"its key is not in the CA store, and it must sign {spec.name}"]
                    changed = True
            if spec.name not in due:
                if spec.issuer is not None and spec.issuer in due:
                    due[spec.name] = [f"its issuer {spec.issuer} is re-issued"]
                    changed = True
                elif any(name in due for name in spec.chain):
                    due[spec.name] = ["a certificate in its bundle is re-issued"]
                    changed = True

    decisions: list[Decision] = []
    notices: list[str] = []
    for spec in profile.certificates:
        renew = spec.name in due
        state = states[spec.name]
        needs_key = renew and (spec.name in new_key or spec.key_location is KeyLocation.DISCARDED or state.key is None)
        key_reason = new_key.get(spec.name, "")
        if needs_key and not key_reason:
            key_reason = (
                "new key for every issuance" if spec.key_location is KeyLocation.DISCARDED else "no key on disk"
            )
        decisions.append(
            Decision(spec, renew, due.get(spec.name, []), needs_key if renew else False, key_reason if renew else "")
        )
        if renew and needs_key and spec.key_location is KeyLocation.CA_STORE and spec.self_signed:
            copies = (
                (
                    f"; its copy {spec.copies[0]} is updated"
                    if len(spec.copies) == 1
                    else f"; its copies {', '.join(spec.copies)} are updated"
                )
                if spec.copies
                else ""
            )
            who = spec.trust_hint or "whatever trusted the old one outside this folder must get the new one"
            notices.append(
                Notice(
                    f"new root CA {spec.name} ({spec.cert_file}{copies}): {who}",
                    NoticeKind.NEW_ROOT,
                    (spec.cert_file, *spec.copies),
                )
            )
        if not renew and spec.key_location is KeyLocation.CA_STORE and state.key is None and state.certs:
            notices.append(
                f"{spec.name}: its private key is not in the CA store; the next renewal that needs it "
                "will make a new CA"
            )
    return Plan(decisions, notices)


def _key_reason(spec: CertSpec, state: CertState, rotate_keys: bool) -> str:
    if spec.key_location is KeyLocation.DISCARDED:
        return ""
    if state.key is None:
        return "no key in the CA store" if spec.key_location is KeyLocation.CA_STORE else "key file missing"
    if rotate_keys and spec.key_location is not KeyLocation.CA_STORE:
        return "--rotate-keys"
    if not keymod.matches_spec(state.key, spec.key):
        return f"key is {keymod.describe(state.key)}, the profile asks for {spec.key.describe()}"
    return ""


def _own_reasons(
    spec: CertSpec,
    state: CertState,
    states: dict[str, CertState],
    now: datetime,
    deadline: datetime,
    force: bool,
    key_reason: str,
) -> list[str]:
    leaf = state.leaf
    if leaf is None:
        return [state.cert_problem or "missing"]
    reasons: list[str] = []
    if force:
        reasons.append("--force")
    not_after = leaf.not_valid_after_utc
    if expired(leaf, now):
        reasons.append(f"expired {not_after:%Y-%m-%d}")
    elif expires_within(leaf, now, deadline):
        reasons.append(f"expires {not_after:%Y-%m-%d} ({(not_after - now).days} days left)")
    if not_yet_valid(leaf, now):
        reasons.append(f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M}")
    if key_reason:
        reasons.append(key_reason)
    elif state.key is not None and not keymod.same_public_key(state.key, leaf.public_key()):
        reasons.append("certificate does not match its key")
    drift = _profile_drift(spec, leaf)
    if drift:
        reasons.append(f"differs from the profile ({drift})")
    issuer_leaf = leaf if spec.issuer is None else states[spec.issuer].leaf
    if issuer_leaf is not None and not issued_by(leaf, issuer_leaf):
        reasons.append("not signed by itself" if spec.self_signed else f"not signed by the current {spec.issuer}")
    elif weak := weak_signature(leaf):
        # Signed by the right key, with a hash Go's crypto/x509 refuses: re-issued with SHA-256.
        reasons.append(f"self-signed with {weak}" if spec.self_signed else f"signed with {weak}")
    actual_chain = [to_der(c) for c in state.certs[1:]] if state.certs else []
    expected_chain = [to_der(c) for c in (states[name].leaf for name in spec.chain) if c is not None]
    if actual_chain != expected_chain:
        reasons.append(
            f"bundle does not hold the current {', '.join(spec.chain)}"
            if spec.chain
            else "extra certificates after the leaf"
        )
    return reasons


def _profile_drift(spec: CertSpec, cert: x509.Certificate) -> str:
    if cert.subject != subject_name(spec):
        return "subject"
    if subject_alt_names(cert) != set(san_entries(spec)):
        return "SANs"
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if basic.ca != spec.ca or (spec.ca and basic.path_length != spec.path_length):
            return "basic constraints"
    except x509.ExtensionNotFound:
        return "basic constraints"
    if not keymod.matches_spec(cert.public_key(), spec.key):
        return f"key type {keymod.describe(cert.public_key())}"
    return ""
