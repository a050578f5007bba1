"""Judging certificates: expiry against thresholds, bundle chains, key pairs, stale servers.

The core of `certkit check-expiry`.  ``Checker.run`` walks files and folders as a stream:
each certificate file is read, judged and yielded as ``Finding`` objects before the next
file is opened, so memory does not grow with the size of the tree (the benchmark checks
10,000 files).  Nothing here prints or reads the clock: ``now`` comes from the caller.

Statuses follow the Nagios plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN);
when findings are combined, CRITICAL > UNKNOWN > WARNING > OK: a certificate known to be
broken outranks one that could not be read, which outranks one merely expiring soon.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certkit.bounded import (
    MAX_INPUT_BYTES,
    MAX_WALK_DEPTH,
    MAX_WALK_ENTRIES,
    UnreadableInput,
    not_regular_text,
    read_regular,
    too_large_text,
)
from certkit.certificates import covers, issuer_problem, load_der, not_yet_valid, parse_bundle, san_strings, self_issued
from certkit.certificates import expired as cert_expired
from certkit.certificates import expires_within as cert_expires_within
from certkit.durations import Duration
from certkit.hints import stale_text
from certkit.paths import inside
from certkit.pki import keys as keymod
from certkit.store.pathglob import ExcludeRules
from certkit.text import one_line

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from certkit.check.runs import RunningFile

# 1 MiB: larger than any real bundle (Mozilla's CA bundle is ~220 KB); a bigger file is not
# read, so a stray disk image or log named *.pem cannot exhaust memory (see certkit.bounded).
MAX_FILE_BYTES = MAX_INPUT_BYTES

CERT_SUFFIXES = (".crt", ".pem", ".cer", ".cert", ".der")
KEY_SUFFIXES = (".key",)
PEM_ANY_MARKER = b"-----BEGIN "
PEM_KEY_RE = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)

# Folders walked past: version-control history, and certkit's own state folder (its
# generations are earlier, replaced sets kept for rollback, not what any service uses).
_SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", ".certkit"})

UNUSED_TEXT = "not used by any service (listed, not judged; --all judges it)"
# A folder argument with no certificate file in it: UNKNOWN, as Nagios plugins answer a check that
# cannot tell (a mistyped path in cron must not be green forever).
NOTHING_FOUND_CODE = "no-certificates"
NOTHING_FOUND_TEXT = "no certificate files found here"

SKIPPED = "SKIPPED"  # the status word of a symlinked folder the walk did not enter


class Status(IntEnum):
    """Nagios plugin states; the value is the exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Rank for "worst wins": CRITICAL > UNKNOWN > WARNING > OK."""
        return _SEVERITY[self]


_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    result = Status.OK
    for status in statuses:
        if status.severity > result.severity:
            result = status
    return result


@dataclass(frozen=True)
class Reason:
    """One problem: a stable machine code, its status, and a sentence for people."""

    code: str  # expired, not-yet-valid, expiring, chain, key-mismatch, hostname, stale, missing, unreadable, ...
    status: Status
    text: str
    at: datetime | None = None  # offline-key: the day a renewal will need the offline CA key (certkit.check.offline)


@dataclass
class Finding:
    """The verdict on one certificate (or on an input that could not be read)."""

    source: str  # "file" or "endpoint"
    path: str  # as the user gave it (joined with the walked folder), or HOST:PORT
    index: int | None  # position in the bundle / served chain; None when no certificate was read
    cert: x509.Certificate | None
    seconds_left: int | None
    reasons: list[Reason] = field(default_factory=list)
    # False for a certificate file in a Notary checkout that no service uses (a Go test
    # fixture): it is listed for information and left out of the summary and exit code.
    used: bool = True
    # For source "container" (what a container has) and "compose" (what `docker compose up` would
    # run): the service, container, paths and verdict (certkit.check.running).
    runs: RunningFile | None = None

    @property
    def status(self) -> Status:
        return worst(r.status for r in self.reasons)

    @property
    def shown_status(self) -> str:
        """The status column: OK/WARNING/CRITICAL/UNKNOWN, UNUSED for an unused file, SKIPPED for a
        symlinked folder outside the walked one (neither is judged)."""
        if self.used:
            return self.status.name
        return SKIPPED if any(r.code == "skipped" for r in self.reasons) else "UNUSED"

    def add(self, reason: Reason) -> None:
        if all((r.code, r.text) != (reason.code, reason.text) for r in self.reasons):
            self.reasons.append(reason)


@dataclass(frozen=True)
class Thresholds:
    warn: Duration
    crit: Duration


@dataclass(frozen=True)
class Note:
    """A problem found elsewhere (e.g. from a Notary config) to attach to a file's finding."""

    index: int  # certificate index in the file (0: the leaf)
    reason: Reason


@dataclass(frozen=True)
class Scope:
    """What is judged under one folder argument that is a Notary checkout.

    ``used`` holds the real paths of the files some service uses (the profile's files, the
    TLS paths of the Notary configs, the files the compose services read): those are judged;
    any other certificate file found under the folder is listed as unused (``Finding.used``).
    """

    used: frozenset[str]

    def uses(self, path: str) -> bool:
        return os.path.realpath(path) in self.used


@dataclass
class _Walk:
    """One folder argument's walk: where it may lead (the argument's real path) and what is left."""

    boundary: str
    entries_left: int
    stopped: bool = False  # the entries bound was hit (reported once)


@dataclass(frozen=True)
class ServedChain:
    """What an endpoint served (DER certificates, leaf first) or why it could not be fetched."""

    address: str  # HOST:PORT as given
    hostname: str  # the name the leaf must cover (--servername, else HOST)
    chain: tuple[bytes, ...] = ()
    error: str | None = None


# --------------------------------------------------------------------------- judging


def judge_time(cert: x509.Certificate, now: datetime, thresholds: Thresholds) -> tuple[int, list[Reason]]:
    """Seconds left and the time-based reasons for one certificate.

    Validity includes both notBefore and notAfter (RFC 5280 4.1.2.5; Go's crypto/x509
    rejects only ``now.After(NotAfter)``), so at exactly notAfter a certificate still
    works, with 0 seconds left.  A threshold is reached when fewer than its length are
    left, as with ``openssl x509 -checkend``: exactly 7 days left is not within --crit 7d.
    """
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    left = int((not_after - now).total_seconds())
    if not_yet_valid(cert, now):
        return left, [Reason("not-yet-valid", Status.CRITICAL, f"not yet valid: valid from {_stamp(not_before)}")]
    if cert_expired(cert, now):
        return left, [Reason("expired", Status.CRITICAL, f"expired {_ago(-left)} ago, on {_stamp(not_after)}")]
    if cert_expires_within(cert, now, thresholds.crit.after(now)):
        return left, [Reason("expiring", Status.CRITICAL, f"expires in {_ago(left)} (--crit {thresholds.crit})")]
    if cert_expires_within(cert, now, thresholds.warn.after(now)):
        return left, [Reason("expiring", Status.WARNING, f"expires in {_ago(left)} (--warn {thresholds.warn})")]
    return left, []


def judge_bundle(certs: Sequence[x509.Certificate]) -> dict[int, Reason]:
    """Chain problems inside one bundle or served chain, by index.

    A bundle is sent as it is by Go's TLS stack (Notary), so each certificate that is not
    self-issued should be followed by its issuer.  A file of unrelated self-signed roots
    (a CA bundle) is left alone.
    """
    problems: dict[int, Reason] = {}
    for index, cert in enumerate(certs[:-1]):
        if self_issued(cert):
            continue
        following = certs[index + 1]
        if following.subject != cert.issuer:
            problems[index] = Reason(
                "chain",
                Status.CRITICAL,
                f"broken chain: issued by {_name(cert.issuer)} but followed by #{index + 1} {_name(following.subject)}",
            )
            continue
        problem = issuer_problem(cert, following)
        if problem is not None:
            problems[index] = Reason(
                "chain",
                Status.CRITICAL,
                f"broken chain: not validly signed by #{index + 1} {_name(following.subject)} ({problem})",
            )
    return problems


# --------------------------------------------------------------------------- keys


class KeyProblem(Exception):
    """A private key file that cannot be used to check a pair (encrypted, unreadable, damaged)."""


def load_public_of_private_key(data: bytes, where: str) -> PublicKeyTypes:
    """The public key of the first private key in ``data``.

    RSA validation is skipped: it costs ~0.3 s per 4096-bit key and only matters for
    signing; comparing public keys is all a pair check needs.
    """
    match = PEM_KEY_RE.search(data)
    if match is None:
        raise KeyProblem(f"{where}: no PEM private key in the file")
    if match.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in match.group(0):
        raise KeyProblem("encrypted private key: cannot check that it matches its certificate without the passphrase")
    try:
        key = serialization.load_pem_private_key(match.group(0), password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise KeyProblem(
            "encrypted private key: cannot check that it matches its certificate without the passphrase"
        ) from None
    except Exception as exc:  # ValueError, UnsupportedAlgorithm: a damaged or exotic key
        raise KeyProblem(f"not a readable private key ({_short(exc)})") from exc
    return key.public_key()


def same_key(public: PublicKeyTypes, cert: x509.Certificate) -> bool:
    return keymod.same_public_key(public, cert.public_key())


def paired_key_paths(cert_path: str) -> list[str]:
    """Where a generic layout keeps the key of ``cert_path``: X.crt/X.key, X.pem/X-key.pem,
    cert.pem/key.pem, and certbot's fullchain.pem/privkey.pem."""
    folder, name = os.path.split(cert_path)
    stem, suffix = os.path.splitext(name)
    candidates: list[str] = []
    if name == "cert.pem":
        candidates.append("key.pem")
    elif name in ("fullchain.pem", "chain.pem"):
        candidates.append("privkey.pem")
    elif suffix == ".pem":
        candidates += [f"{stem}-key.pem", f"{stem}.key"]
    elif suffix in (".crt", ".cer", ".cert"):
        candidates.append(f"{stem}.key")
    return [os.path.join(folder, c) for c in candidates]


# --------------------------------------------------------------------------- the walk


@dataclass
class _ServedIndex:
    """For each served leaf's subject: the newest certificate on disk with that subject.

    Only subjects that an endpoint served are tracked, so this stays as small as the
    number of endpoints however many files are walked.
    """

    wanted: set[x509.Name] = field(default_factory=set)
    newest: dict[x509.Name, tuple[x509.Certificate, str]] = field(default_factory=dict)

    def see(self, cert: x509.Certificate, path: str) -> None:
        if cert.subject not in self.wanted:
            return
        current = self.newest.get(cert.subject)
        if current is None or (cert.not_valid_before_utc, cert.not_valid_after_utc) > (
            current[0].not_valid_before_utc,
            current[0].not_valid_after_utc,
        ):
            self.newest[cert.subject] = (cert, path)


class Checker:
    """Runs one check: files and folders (streamed), then served chains.

    ``notes`` maps a real path to problems found by other checks (the Notary config
    checks) that belong on that file's findings.
    """

    def __init__(
        self,
        now: datetime,
        thresholds: Thresholds,
        *,
        served: Sequence[ServedChain] = (),
        notes: dict[str, list[Note]] | None = None,
        note_paths: dict[str, str] | None = None,
        max_bytes: int = MAX_FILE_BYTES,
        scopes: Mapping[str, Scope] | None = None,
        exclude: Sequence[str] = (),
        max_depth: int = MAX_WALK_DEPTH,
        max_entries: int = MAX_WALK_ENTRIES,
    ) -> None:
        self.now = now
        self.thresholds = thresholds
        self.served = list(served)
        self.notes = notes or {}
        self.note_paths = note_paths or {}  # real path -> path to show when not met in the walk
        self.max_bytes = max_bytes
        self.scopes = dict(scopes or {})  # folder argument (as given) -> its Scope
        self.exclude = ExcludeRules(exclude)
        self.max_depth = max_depth
        self.max_entries = max_entries
        self._excluded: set[str] = set()  # real paths --exclude skipped, so config notes do not bring them back
        self._used_notes: set[str] = set()
        self._stale = _ServedIndex()
        self._visited_dirs: set[tuple[int, int]] = set()
        for chain in self.served:
            if chain.chain:
                leaf = load_der(chain.chain[0])
                if leaf is not None:
                    self._stale.wanted.add(leaf.subject)

    # The public entry point -------------------------------------------------

    def run(self, paths: Sequence[Path]) -> Iterator[Finding]:
        for path in paths:
            yield from self._path(str(path))
        # Files a config names but the walk did not meet (outside the given folders, or missing).
        for real in list(self.notes):
            if real not in self._used_notes and real not in self._excluded:
                shown = self.note_paths.get(real, real)
                if os.path.lexists(real):
                    yield from self._file(shown, explicit=True, real=real)
                else:
                    finding = Finding("file", shown, None, None, None)
                    for note in self.notes[real]:
                        finding.add(note.reason)
                    yield finding
        for chain in self.served:
            yield from self._served(chain)

    # Files and folders --------------------------------------------------------

    def _path(self, path: str) -> Iterator[Finding]:
        try:
            info = os.stat(path)
        except OSError as exc:
            yield self._unreadable(path, exc)
            return
        if stat.S_ISDIR(info.st_mode):
            # A folder the user named is walked, wherever it leads (a symlink given as the argument
            # is the user's choice); below it, no symlink leads the walk out of it (see _folder).
            walk = _Walk(os.path.realpath(path), self.max_entries)
            found = False
            for finding in self._folder(path, info, "", self.scopes.get(path), walk, 0):
                found = found or finding.shown_status != SKIPPED  # a link not followed checked nothing
                yield finding
            if not found:
                text = NOTHING_FOUND_TEXT + (" (after --exclude)" if self.exclude else "")
                yield Finding("file", path, None, None, None, [Reason(NOTHING_FOUND_CODE, Status.UNKNOWN, text)])
        else:
            yield from self._file(path, explicit=True)

    def _folder(
        self, folder: str, info: os.stat_result, relative: str, scope: Scope | None, walk: _Walk, depth: int
    ) -> Iterator[Finding]:
        """Walk ``folder``; ``relative`` is its path below the folder argument ("" for the
        argument itself), what --exclude patterns are matched against; ``depth`` its level below it."""
        ident = (info.st_dev, info.st_ino)
        if ident in self._visited_dirs:
            return  # a symlink back up the tree: every file below is already checked
        self._visited_dirs.add(ident)
        if walk.stopped:
            return
        if depth > self.max_depth:
            yield _unknown(
                folder,
                f"folder nested more than {self.max_depth} levels below the folder checked: not walked "
                "further (certificates below it are not checked)",
            )
            return
        try:
            with os.scandir(folder) as listing:
                # At most what the walk may still take: a folder of a million entries is not sorted whole.
                entries = sorted(
                    (e.name, e.path, e.is_symlink())
                    for e in itertools.islice(
                        (e for e in listing if e.name not in _SKIPPED_FOLDERS), walk.entries_left + 1
                    )
                )
        except OSError as exc:
            yield self._unreadable(folder, exc, what="cannot list folder")
            return
        # .git, .hg, .svn, .certkit: a Notary clone's .git holds thousands of objects and no live certificate.
        for name, path, is_link in entries:
            walk.entries_left -= 1
            if walk.entries_left < 0:
                walk.stopped = True
                yield _unknown(
                    folder,
                    f"walk stopped after {self.max_entries} entries below the folder checked: certificates "
                    "beyond are not checked; name narrower folders or skip some with --exclude",
                )
                return
            child_relative = f"{relative}/{name}" if relative else name
            try:
                child = os.stat(path)
            except OSError as exc:
                if self.exclude and self.exclude.match(child_relative, is_dir=False):
                    continue  # an excluded broken link or loop is not reported either
                if exc.errno == errno.ELOOP:
                    yield Finding(
                        "file",
                        path,
                        None,
                        None,
                        None,
                        [Reason("unreadable", Status.UNKNOWN, "symlink loop: the link never reaches a file")],
                    )
                elif _cert_like(name):
                    yield self._unreadable(path, exc)
                continue
            is_dir = stat.S_ISDIR(child.st_mode)
            if self.exclude and self.exclude.match(child_relative, is_dir=is_dir):
                if not is_dir and self.notes:
                    self._excluded.add(os.path.realpath(path))
                continue
            if is_dir and is_link:
                target = os.path.realpath(path)
                if not inside(Path(target), Path(walk.boundary)):
                    yield from self._linked_out(path, target, walk, scope)
                    continue
            if is_dir:
                yield from self._folder(path, child, child_relative, scope, walk, depth + 1)
                if walk.stopped:
                    return
            elif scope is not None and not scope.uses(path):
                for finding in self._file(path, explicit=False, info=child, judge=False):
                    finding.used = False
                    finding.reasons.insert(0, Reason("unused", Status.OK, UNUSED_TEXT))
                    yield finding
            else:
                # FIFOs, devices and sockets too: _file reports one named like a certificate
                # as UNKNOWN without opening it, and passes over the others quietly.
                yield from self._file(path, explicit=False, info=child)

    def _linked_out(self, link: str, target: str, walk: _Walk, scope: Scope | None) -> Iterator[Finding]:
        """A symlink to a folder outside the folder checked: listed as SKIPPED, not walked.

        A checkout's ``fixtures/x -> /etc`` would otherwise list every certificate of the host
        (and ``-> /`` walk all of it).  What the services use is still judged, file by file:
        the profile's, the configs' and the compose files' files that lie under the link's target
        (``fixtures -> /srv/notary-tls`` is a real set-up), and nothing else there is read.
        """
        shown_target = os.readlink(link) if os.path.islink(link) else target
        reason = Reason(
            "skipped",
            Status.OK,
            f"symlink to a folder outside {walk.boundary} ({shown_target}): not followed; "
            "name it as an argument to check it",
        )
        yield Finding("file", link, None, None, None, [reason], used=False)
        if scope is None:
            return
        for real in sorted(u for u in scope.used if inside(Path(u), Path(target))):
            if os.path.isfile(real):
                yield from self._file(os.path.join(link, os.path.relpath(real, target)), explicit=False, real=real)

    def _file(
        self,
        path: str,
        *,
        explicit: bool,
        info: os.stat_result | None = None,
        real: str | None = None,
        judge: bool = True,
    ) -> Iterator[Finding]:
        """Findings for one file; quiet about files that are not certificates unless
        they claim to be (by name, or by being named on the command line).

        ``judge=False`` (a file no service uses) reads and dates the certificates but
        skips what only matters for deployed files: key pairs, config notes, STALE.
        """
        claims = explicit or _cert_like(os.path.basename(path))
        if _key_like(os.path.basename(path)) and not explicit:
            return  # keys are read when their certificate is (pairing)
        try:
            if info is None:
                info = os.stat(path)
        except OSError as exc:
            if claims or exc.errno == errno.ELOOP:
                yield self._unreadable(path, exc)
            return
        # Checked before opening, so a FIFO or device in a walked folder is never opened;
        # read_regular checks again on the open descriptor (the file may be swapped meanwhile).
        if not stat.S_ISREG(info.st_mode):
            if claims:
                yield _unknown(path, not_regular_text(info.st_mode))
            return
        if info.st_size > self.max_bytes:
            if claims:
                yield _unknown(path, too_large_text(info.st_size, self.max_bytes))
            return
        try:
            data = read_regular(path, self.max_bytes)
        except UnreadableInput as exc:
            if claims or _is_loop(exc):
                cause = exc.__cause__
                yield self._unreadable(path, cause) if isinstance(cause, OSError) else _unknown(path, exc.reason)
            return
        if real is None and self.notes and judge:
            real = os.path.realpath(path)
        notes = self.notes.get(real, []) if real else []
        if notes and real:
            self._used_notes.add(real)
        if not data.strip():
            if claims:
                yield _unknown(path, "empty file")
            return
        certs, bad = parse_bundle(data)
        if certs or bad:
            if certs or claims:  # a damaged block in e.g. a JSON file is not a certificate file
                yield from self._judge_file(path, data, certs, bad, notes, judge=judge)
            return
        if PEM_KEY_RE.search(data):
            if explicit:
                yield _unknown(path, "a private key, not a certificate: name its certificate or its folder")
            return
        if not claims or (PEM_ANY_MARKER in data and not explicit):
            return  # not a certificate file, or another PEM type (CSR, public key, parameters)
        yield _unknown(path, "no certificate in the file (neither PEM nor DER)")

    def _judge_file(
        self,
        path: str,
        data: bytes,
        certs: list[tuple[int, x509.Certificate]],
        bad: list[tuple[int, str]],
        notes: list[Note],
        *,
        judge: bool = True,
    ) -> Iterator[Finding]:
        findings: dict[int, Finding] = {}
        for index, cert in certs:
            left, reasons = judge_time(cert, self.now, self.thresholds)
            findings[index] = Finding("file", path, index, cert, left, reasons)
            if judge:
                self._stale.see(cert, path)
        for index, text in bad:
            findings[index] = _unknown(path, text, index)
        ordered = [findings[i] for i in sorted(findings)]
        contiguous = [f.cert for f in ordered if f.cert is not None]
        if len(contiguous) == len(ordered):
            for index, reason in judge_bundle(contiguous).items():
                ordered[index].add(reason)
        extra: list[Finding] = []
        leaf = findings.get(0)
        if judge and leaf is not None and leaf.cert is not None:
            extra = self._pair(path, data, leaf)
        for note in notes:
            target = findings.get(note.index) or (ordered[0] if ordered else None)
            if target is not None:
                target.add(note.reason)
        yield from ordered
        yield from extra

    def _pair(self, path: str, data: bytes, leaf: Finding) -> list[Finding]:
        """Match the certificate's private key where the layout pairs them."""
        assert leaf.cert is not None
        if PEM_KEY_RE.search(data):
            sources = [(path, data)]
        else:
            sources = []
            for candidate in paired_key_paths(path):
                if os.path.lexists(candidate):
                    try:
                        sources.append((candidate, read_regular(candidate, self.max_bytes)))
                    except UnreadableInput as exc:
                        cause = exc.__cause__
                        if isinstance(cause, OSError):
                            return [self._unreadable(candidate, cause, what="cannot read the private key")]
                        return [_unknown(candidate, f"{exc.reason} (the key of {path})")]
                    break
        if not sources:
            return []
        key_path, key_data = sources[0]
        try:
            public = load_public_of_private_key(key_data, key_path)
        except KeyProblem as exc:
            return [_unknown(key_path, f"{exc} (the key of {path})")]
        if not same_key(public, leaf.cert):
            leaf.add(Reason("key-mismatch", Status.CRITICAL, f"private key {key_path} does not match this certificate"))
        return []

    # Endpoints ------------------------------------------------------------------

    def _served(self, served: ServedChain) -> Iterator[Finding]:
        if served.error is not None:
            yield Finding(
                "endpoint", served.address, None, None, None, [Reason("unreachable", Status.UNKNOWN, served.error)]
            )
            return
        certs: list[x509.Certificate] = []
        for der in served.chain:
            cert = load_der(der)
            if cert is None:
                yield Finding(
                    "endpoint",
                    served.address,
                    len(certs),
                    None,
                    None,
                    [Reason("unreadable", Status.UNKNOWN, "the server sent a certificate certkit cannot parse")],
                )
                return
            certs.append(cert)
        if not certs:
            yield Finding(
                "endpoint",
                served.address,
                None,
                None,
                None,
                [Reason("unreadable", Status.UNKNOWN, "the server sent no certificate")],
            )
            return
        findings = []
        for index, cert in enumerate(certs):
            left, reasons = judge_time(cert, self.now, self.thresholds)
            findings.append(Finding("endpoint", served.address, index, cert, left, reasons))
        for index, reason in judge_bundle(certs).items():
            findings[index].add(reason)
        leaf = certs[0]
        if not covers(leaf, served.hostname):
            sans = ", ".join(san_strings(leaf)) or "none"
            findings[0].add(Reason("hostname", Status.CRITICAL, f"does not cover {served.hostname} (SANs: {sans})"))
        newest = self._stale.newest.get(leaf.subject)
        if newest is not None and newest[0] != leaf:
            disk, disk_path = newest
            findings[0].add(
                Reason(
                    "stale",
                    Status.CRITICAL,
                    f"STALE: serves serial {leaf.serial_number:X} (until {_stamp(leaf.not_valid_after_utc)}) but "
                    f"{disk_path} holds serial {disk.serial_number:X} (until {_stamp(disk.not_valid_after_utc)}): "
                    f"{stale_text()}",
                )
            )
        yield from findings

    # Helpers -------------------------------------------------------------------------

    def _unreadable(self, path: str, exc: OSError, what: str = "cannot read") -> Finding:
        if exc.errno == errno.ELOOP:
            text = "symlink loop: the link never reaches a file"
        elif exc.errno == errno.ENOENT and os.path.islink(path):
            text = f"broken symlink to {os.readlink(path)}"
        else:
            text = f"{what}: {exc.strerror or exc}"
        return Finding("file", path, None, None, None, [Reason("unreadable", Status.UNKNOWN, text)])


def _is_loop(exc: UnreadableInput) -> bool:
    return isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.ELOOP


def _unknown(path: str, text: str, index: int | None = None) -> Finding:
    return Finding("file", path, index, None, None, [Reason("unreadable", Status.UNKNOWN, text)])


def _cert_like(name: str) -> bool:
    return name.lower().endswith(CERT_SUFFIXES) and not _key_like(name)


def _key_like(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(KEY_SUFFIXES) or lower.endswith("-key.pem") or lower in ("key.pem", "privkey.pem")


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _ago(seconds: int) -> str:
    if seconds >= 86400 * 2:
        return f"{seconds // 86400} days"
    if seconds >= 3600 * 2:
        return f"{seconds // 3600} hours"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds} s"


def _name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return f"CN={cns[0].value!s}" if cns else name.rfc4514_string()


def _short(exc: BaseException) -> str:
    return one_line(exc, 160)


__all__ = [
    "Checker",
    "Finding",
    "Note",
    "Reason",
    "Scope",
    "ServedChain",
    "Status",
    "Thresholds",
    "UNUSED_TEXT",
    "judge_bundle",
    "judge_time",
    "worst",
]
