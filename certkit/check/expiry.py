"""Judging certificates: expiry against thresholds, bundle chains, key pairs, stale servers.

The core of `certkit check-expiry`.  ``Checker.run`` judges files and folders as a stream:
the walk (certkit.check.walk) meets one file at a time, and each certificate file is read,
judged and yielded as ``Finding`` objects before the next file is opened, so memory does not
grow with the size of the tree (the benchmark checks 100,000 files).  Nothing here prints or
reads the clock: ``now`` comes from the caller.  The words of a finding are certkit.check.findings.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

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
from certkit.check.findings import Finding, Note, Reason, Status, Thresholds, unknown, unreadable
from certkit.check.keypairs import KeyProblem, holds_private_key, key_like, load_public_of_private_key, paired_key_paths
from certkit.check.walk import Scope, Walk, cert_like
from certkit.hints import stale_text
from certkit.pki.keys import same_public_key
from certkit.store.pathglob import ExcludeRules
from certkit.text import utc_second

# 1 MiB: larger than any real bundle (Mozilla's CA bundle is ~220 KB); a bigger file is not
# read, so a stray disk image or log named *.pem cannot exhaust memory (see certkit.bounded).
MAX_FILE_BYTES = MAX_INPUT_BYTES

PEM_ANY_MARKER = b"-----BEGIN "


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
    return _Judge(now, thresholds).time(cert)


@dataclass(frozen=True)
class _Judge:
    """:func:`judge_time` with the window ends worked out once for a whole walk (calendar
    arithmetic on every file cost a tenth of a 10,000-file check)."""

    now: datetime
    thresholds: Thresholds
    crit_at: datetime = field(init=False)
    warn_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "crit_at", self.thresholds.crit.after(self.now))
        object.__setattr__(self, "warn_at", self.thresholds.warn.after(self.now))

    def time(self, cert: x509.Certificate) -> tuple[int, list[Reason]]:
        now, thresholds = self.now, self.thresholds
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        left = int((not_after - now).total_seconds())
        if not_yet_valid(cert, now):
            return left, [
                Reason("not-yet-valid", Status.CRITICAL, f"not yet valid: valid from {utc_second(not_before)}")
            ]
        if cert_expired(cert, now):
            return left, [Reason("expired", Status.CRITICAL, f"expired {_ago(-left)} ago, on {utc_second(not_after)}")]
        if cert_expires_within(cert, now, self.crit_at):
            return left, [Reason("expiring", Status.CRITICAL, f"expires in {_ago(left)} (--crit {thresholds.crit})")]
        if cert_expires_within(cert, now, self.warn_at):
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


@dataclass
class _ServedIndex:
    """For each served leaf's subject: the newest certificate on disk with that subject.

    Only subjects that an endpoint served are tracked, so this stays as small as the
    number of endpoints however many files are walked.
    """

    wanted: set[x509.Name] = field(default_factory=set)
    newest: dict[x509.Name, tuple[x509.Certificate, str]] = field(default_factory=dict)

    def see(self, cert: x509.Certificate, path: str) -> None:
        if not self.wanted or cert.subject not in self.wanted:
            return  # no endpoint: the subject is not even decoded (a tenth of a walk's time)
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
        scopes: Mapping[str, Scope] | None = None,
        exclude: Sequence[str] = (),
        max_depth: int = MAX_WALK_DEPTH,
        max_entries: int = MAX_WALK_ENTRIES,
    ) -> None:
        self.now = now
        self.thresholds = thresholds
        self._judge = _Judge(now, thresholds)
        self.served = list(served)
        self.notes = notes or {}
        self.note_paths = note_paths or {}  # real path -> path to show when not met in the walk
        self.walk = Walk(
            scopes=scopes,
            exclude=ExcludeRules(exclude),
            max_depth=max_depth,
            max_entries=max_entries,
            remember_excluded=bool(self.notes),
        )
        self._used_notes: set[str] = set()
        self._stale = _ServedIndex()
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
            if real not in self._used_notes and real not in self.walk.excluded:
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

    # Files ----------------------------------------------------------------------

    def _path(self, path: str) -> Iterator[Finding]:
        try:
            info = os.stat(path)
        except OSError as exc:
            yield unreadable(path, exc)
            return
        if stat.S_ISDIR(info.st_mode):
            yield from self.walk.argument(path, info, self._walked)
        else:
            yield from self._file(path, explicit=True)

    def _walked(
        self, path: str, *, info: os.stat_result | None = None, real: str | None = None, judge: bool = True
    ) -> Iterator[Finding]:
        """A file the walk met (certkit.check.walk.Judge)."""
        return self._file(path, explicit=False, info=info, real=real, judge=judge)

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
        claims = explicit or cert_like(os.path.basename(path))
        if key_like(os.path.basename(path)) and not explicit:
            return  # keys are read when their certificate is (pairing)
        try:
            if info is None:
                info = os.stat(path)
        except OSError as exc:
            if claims or exc.errno == errno.ELOOP:
                self._row_made(path, real)
                yield unreadable(path, exc)
            return
        # Checked before opening, so a FIFO or device in a walked folder is never opened;
        # read_regular checks again on the open descriptor (the file may be swapped meanwhile).
        if not stat.S_ISREG(info.st_mode):
            if claims:
                self._row_made(path, real)
                yield unknown(path, not_regular_text(info.st_mode))
            return
        if info.st_size > MAX_FILE_BYTES:
            if claims:
                self._row_made(path, real)
                yield unknown(path, too_large_text(info.st_size, MAX_FILE_BYTES))
            return
        try:
            data = read_regular(path, MAX_FILE_BYTES)
        except UnreadableInput as exc:
            if claims or _is_loop(exc):
                self._row_made(path, real)
                cause = exc.__cause__
                yield unreadable(path, cause) if isinstance(cause, OSError) else unknown(path, exc.reason)
            return
        if real is None and self.notes and judge:
            real = os.path.realpath(path)
        notes = self.notes.get(real, []) if real else []
        if notes and real:
            self._used_notes.add(real)
        if not data.strip():
            if claims:
                yield unknown(path, "empty file")
            return
        certs, bad = parse_bundle(data)
        if certs or bad:
            if certs or claims:  # a damaged block in e.g. a JSON file is not a certificate file
                yield from self._judge_file(path, data, certs, bad, notes, judge=judge)
            return
        if holds_private_key(data):
            if explicit:
                yield unknown(path, "a private key, not a certificate: name its certificate or its folder")
            return
        if not claims or (PEM_ANY_MARKER in data and not explicit):
            return  # not a certificate file, or another PEM type (CSR, public key, parameters)
        yield unknown(path, "no certificate in the file (neither PEM nor DER)")

    def _row_made(self, path: str, real: str | None) -> None:
        """A file that got its own UNKNOWN row here (unreadable, not a regular file, too large): a config's
        note about the same file (certkit.check.notary_config, which could not read it either) adds no
        second row for it at the end of the run."""
        if self.notes:
            self._used_notes.add(real or os.path.realpath(path))

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
            left, reasons = self._judge.time(cert)
            findings[index] = Finding("file", path, index, cert, left, reasons)
            if judge:
                self._stale.see(cert, path)
        for index, text in bad:
            findings[index] = unknown(path, text, index)
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
        if holds_private_key(data):
            sources = [(path, data)]
        else:
            sources = []
            for candidate in paired_key_paths(path):
                if os.path.lexists(candidate):
                    try:
                        sources.append((candidate, read_regular(candidate, MAX_FILE_BYTES)))
                    except UnreadableInput as exc:
                        cause = exc.__cause__
                        if isinstance(cause, OSError):
                            return [unreadable(candidate, cause, what="cannot read the private key")]
                        return [unknown(candidate, f"{exc.reason} (the key of {path})")]
                    break
        if not sources:
            return []
        key_path, key_data = sources[0]
        try:
            public = load_public_of_private_key(key_data, key_path)
        except KeyProblem as exc:
            return [unknown(key_path, f"{exc} (the key of {path})")]
        if not same_public_key(public, leaf.cert.public_key()):
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
            left, reasons = self._judge.time(cert)
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
                    f"STALE: serves serial {leaf.serial_number:X} (until {utc_second(leaf.not_valid_after_utc)}) but "
                    f"{disk_path} holds serial {disk.serial_number:X} (until {utc_second(disk.not_valid_after_utc)}): "
                    f"{stale_text()}",
                )
            )
        yield from findings


def _is_loop(exc: UnreadableInput) -> bool:
    return isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.ELOOP


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


__all__ = ["MAX_FILE_BYTES", "Checker", "ServedChain", "judge_bundle", "judge_time"]
