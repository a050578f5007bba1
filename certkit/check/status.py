"""The set as a whole, as `certbot certificates` shows it: which certificate signs which, when each
expires, where each is copied and mounted, and what a running server serves.

Returns a tree of dataclasses (roots first, each issuer's certificates below it, in profile order);
the CLI draws it.  A broken node (missing, unreadable, a key that does not match) stays in the tree
and says what is wrong, so the first question after `certkit renew` ("is everything right now?") is
answered in one look, and the worst status gives the exit code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.bounded import UnreadableInput, read_regular
from certkit.profile import CertSpec, Profile
from certkit.validity import expired, expires_within

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from certkit.check.runs import RunningFile


class Health(IntEnum):
    """Nagios order, as check-expiry: the worst node decides the exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass
class Node:
    name: str  # the profile's name for it
    cert_file: str
    health: Health
    problems: list[str]
    subject: str = ""
    not_after: datetime | None = None
    days_left: int | None = None
    key: str = ""  # "RSA 4096", "ECDSA P-256"
    key_file: str = ""  # where its private key is ("CA store", a path, "discarded")
    copies: list[str] = field(default_factory=list)
    mounted_by: list[str] = field(default_factory=list)  # "docker-compose.yml: server", ...
    served: str = ""  # "same as on disk" / "STALE: ..." with --connect
    runs: list[RunsIn] = field(default_factory=list)  # what containers (or `docker compose up`) run of it
    children: list[Node] = field(default_factory=list)
    der: bytes = field(default=b"", repr=False)  # the certificate on disk, to compare with a served one


@dataclass(frozen=True)
class RunsIn:
    """One container (or the compose project, ``container`` empty) that reads the node's file."""

    where: str  # container:/path, or service:/path for the compose analysis
    service: str
    container: str
    state: str
    verdict: str  # ok, stale, baked, missing, unreadable
    text: str


@dataclass
class SetTree:
    directory: Path
    roots: list[Node]
    notes: list[str]
    # A deploy `renew --deploy` could not do (certkit.check.deploy_owed): CRITICAL until one succeeds.
    deploy_owed: str | None = None

    @property
    def health(self) -> Health:
        worst = Health.CRITICAL if self.deploy_owed else Health.OK
        stack = list(self.roots)
        while stack:
            node = stack.pop()
            worst = max(worst, node.health)
            stack.extend(node.children)
        return worst


def status(
    root: Path,
    profile: Profile,
    now: datetime,
    *,
    warn_days: int = 30,
    ca_store: Path | None = None,
    served: Mapping[str, bytes] | None = None,
    mounts: Mapping[str, list[str]] | None = None,
) -> SetTree:
    """The tree of ``profile``'s certificates as they are on disk in ``root`` at ``now``.

    ``served`` maps an address to the DER leaf a server serves there (--connect); ``mounts`` maps a
    real host path to the compose services that read it (see :func:`compose_mounts`).
    """
    from certkit.store.layout import ca_store_path

    store = ca_store_path(root, profile, ca_store)
    nodes = {spec.name: _node(root, store, spec, now, warn_days, mounts or {}) for spec in profile.certificates}
    for address, der in (served or {}).items():
        _mark_served(nodes, address, der)
    roots: list[Node] = []
    for spec in profile.certificates:
        node = nodes[spec.name]
        parent = nodes.get(spec.issuer) if spec.issuer is not None else None
        if spec.self_signed or parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    notes = [] if any(n.not_after for n in nodes.values()) else [f"{root}: none of the profile's certificates is here"]
    return SetTree(root, roots, notes)


def _node(
    root: Path, store: Path, spec: CertSpec, now: datetime, warn_days: int, mounts: Mapping[str, list[str]]
) -> Node:
    from certkit.certificates import NotACertificate, parse_certificates, to_der
    from certkit.pki.keys import describe

    path = root / spec.cert_file
    key_where = spec.key_file or ("CA store" if spec.ca else "discarded after signing")
    node = Node(
        spec.name,
        spec.cert_file,
        Health.OK,
        [],
        key_file=key_where,
        mounted_by=sorted(mounts.get(os.path.realpath(path), [])),
    )
    try:
        data = read_regular(path)
        cert = parse_certificates(data, der=False)[0]
    except UnreadableInput as exc:
        missing = not os.path.lexists(path)
        node.health, node.problems = Health.CRITICAL, ["missing" if missing else exc.reason]
        return node
    except NotACertificate:
        node.health, node.problems = Health.CRITICAL, ["not a PEM certificate"]
        return node
    node.subject = cert.subject.rfc4514_string()
    node.not_after = cert.not_valid_after_utc
    node.days_left = (node.not_after - now).days
    node.key = describe(cert.public_key())
    node.der = to_der(cert)
    if expired(node.not_after, now):
        node.health = Health.CRITICAL
        node.problems.append(f"expired {node.not_after:%Y-%m-%d}")
    elif expires_within(node.not_after, now, now + timedelta(days=warn_days)):
        node.health = Health.WARNING
        node.problems.append(f"expires in {node.days_left} days")
    for copy in spec.copies:
        try:
            same = read_regular(root / copy) == data  # renew writes copies byte for byte
        except UnreadableInput as exc:
            node.copies.append(f"{copy} ({exc.reason})")
            node.health = max(node.health, Health.CRITICAL)
            node.problems.append(f"copy {copy} unreadable")
            continue
        node.copies.append(copy if same else f"{copy} (DIFFERS)")
        if not same:
            node.health = max(node.health, Health.CRITICAL)
            node.problems.append(f"copy {copy} differs from {spec.cert_file}")
    key_path = root / spec.key_file if spec.key_file else (store / f"{spec.name}.key" if spec.ca else None)
    if spec.ca and not spec.key_file and key_path is not None and not os.path.lexists(key_path):
        # A fresh clone: Notary's script deleted its CA keys. Valid as it stands, but not renewable as it is.
        node.health = max(node.health, Health.WARNING)
        node.key_file = "none in the CA store"
        node.problems.append("no CA key: the next renewal below it makes a new CA, which clients must then trust")
    elif key_path is not None and spec.ca and not spec.key_file:
        where, problem = _ca_key(key_path, cert)
        node.key_file = where
        if problem:
            node.health = max(node.health, Health.CRITICAL)
            node.problems.append(problem)
    elif key_path is not None:
        problem = _key_problem(key_path, cert)
        if problem:
            node.health = max(node.health, Health.CRITICAL)
            node.problems.append(problem)
    return node


def _ca_key(path: Path, cert: x509.Certificate) -> tuple[str, str | None]:
    """Where a CA key is ("CA store, encrypted", "offline: exported to ...", "PKCS#11 token ...") and
    whether it matches the certificate, judged from its public key: nothing is decrypted or opened."""
    from certkit.errors import CertkitError
    from certkit.pki.cakeys import KeyForm, parse, public_key_of

    try:
        file = parse(read_regular(path), str(path))
        public = public_key_of(file, str(path))
    except UnreadableInput as exc:
        return "CA store", f"key {path.name}: {exc.reason}"
    except CertkitError as exc:
        return "CA store", str(exc)
    where = {
        KeyForm.PLAIN: "CA store",
        KeyForm.ENCRYPTED: "CA store, encrypted",
        KeyForm.OFFLINE: f"offline (exported to {file.fields.get('exported-to', '?')})",
        KeyForm.PKCS11: f"PKCS#11 {file.fields.get('uri', '').split('?')[0]}",
    }[file.form]
    return where, _mismatch(path, public, cert)


def _key_problem(path: Path, cert: x509.Certificate) -> str | None:
    from certkit.check.keypairs import KeyProblem, load_public_of_private_key

    try:
        public = load_public_of_private_key(read_regular(path), str(path))
    except UnreadableInput as exc:
        return f"key {path.name}: {exc.reason}"
    except KeyProblem as exc:
        return str(exc)
    return _mismatch(path, public, cert)


def _mismatch(path: Path, public: PublicKeyTypes, cert: x509.Certificate) -> str | None:
    from certkit.pki.keys import same_public_key

    return None if same_public_key(public, cert.public_key()) else f"key {path.name} does not match the certificate"


def _mark_served(nodes: Mapping[str, Node], address: str, der: bytes) -> None:
    """Mark the node whose subject the served leaf has: the same certificate, or STALE."""
    from certkit.certificates import load_der
    from certkit.hints import stale_hint

    served = load_der(der)
    if served is None:
        return  # nothing to compare (the TLS library accepted what cryptography cannot parse)
    subject = served.subject.rfc4514_string()
    for node in nodes.values():
        if node.subject != subject or not node.der:
            continue
        if node.der == der:
            node.served = f"{address}: serves this certificate"
        else:
            node.served = (
                f"{address}: STALE, serves another certificate (notAfter "
                f"{served.not_valid_after_utc:%Y-%m-%d}); {stale_hint()}"
            )
            node.health = max(node.health, Health.CRITICAL)
            node.problems.append(f"{address} serves another certificate than the file")


def mark_running(tree: SetTree, rows: list[RunningFile]) -> list[str]:
    """Attach what runs to the nodes whose file (or copy) it is; STALE and BAKED make a node CRITICAL,
    a file the container cannot give UNKNOWN.  Returns notes for rows of files the set does not hold."""
    from certkit.check.runs import Verdict

    nodes: dict[str, Node] = {}
    stack = list(tree.roots)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        for path in (node.cert_file, *(c.split(" (")[0] for c in node.copies)):
            nodes[os.path.normpath(path)] = node
    notes: list[str] = []
    for row in rows:
        target = nodes.get(os.path.normpath(row.host_path))
        if target is None:
            notes.append(f"{row.where}: {row.text}")
            continue
        node = target
        node.runs.append(
            RunsIn(row.where, row.service, row.container or "", row.state or "", str(row.verdict), row.text)
        )
        if row.verdict in (Verdict.STALE, Verdict.BAKED, Verdict.MISSING):
            node.health = max(node.health, Health.CRITICAL)
            node.problems.append(f"{row.where}: {row.verdict.upper()}")
        elif row.verdict is Verdict.UNREADABLE:
            node.health = max(node.health, Health.UNKNOWN)
    return notes


def compose_mounts(root: Path, profile: Profile, environ: Mapping[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """{real host path: ["docker-compose.yml: server", ...]} for the compose services that read a file
    *mounted from the host* (a baked copy does not count), and notes for projects certkit cannot analyse."""
    from certkit.compose.analysis import load
    from certkit.compose.model import Options, ServedFrom
    from certkit.compose.projects import renew_projects
    from certkit.errors import CertkitError

    result: dict[str, list[str]] = {}
    notes: list[str] = []
    options = Options(profile, environ=environ)
    for index, files in enumerate(renew_projects(root, environ)):
        label = files[0].name
        try:
            analyses = load(root, files if index else (), options).analyses
        except CertkitError as exc:
            notes.append(f"{label}: not analysed ({exc})")
            continue
        for name, analysis in analyses.items():
            for read in analysis.reads:
                entry = f"{label}: {name}"
                if read.host_path is not None and read.status == ServedFrom.MOUNTED:
                    readers = result.setdefault(os.path.realpath(read.host_path), [])
                    if entry not in readers:
                        readers.append(entry)
    return result, notes
