"""What Notary's services actually use: TLS files and peer names read from their configs.

A Notary checkout names its TLS material in config files, each path relative to the
config's own folder (Notary resolves them that way):

- ``fixtures/server-config*.json``: the server's cert/key (``server.tls_*``), and for a
  remote trust service the CA it trusts for the signer (``trust_service.tls_ca_file``),
  the signer's host name (``trust_service.hostname``), and its client cert/key for mutual TLS;
- ``fixtures/signer-config*.json``: the signer's cert/key and ``client_ca_file``, the pool
  it accepts client certificates from (``notary-server.crt`` in Notary's fixtures);
- ``cmd/notary/config.json``: the client's server URL and ``root_ca``;
- ``cmd/escrow/config.toml``: the escrow server's cert/key.

``notary_notes`` checks those relations (pairs, chains, names) and returns the problems
as notes keyed by the real path of the certificate file they concern, so
``certkit.check.expiry.Checker`` reports them on the file's own row.  Nothing here prints.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.x509 import verification

from certkit.bounded import UnreadableInput, parse_nested, read_regular
from certkit.certificates import NotACertificate, covers, issued_by, parse_certificates, san_strings
from certkit.check.findings import Finding, Note, Reason, Status
from certkit.check.keypairs import KeyProblem, load_public_of_private_key
from certkit.pki.keys import same_public_key
from certkit.text import one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from certkit.profile import Profile


@dataclass
class NotaryNotes:
    root: Path
    notes: dict[str, list[Note]] = field(default_factory=dict)  # real path -> notes
    shown: dict[str, str] = field(default_factory=dict)  # real path -> path to show
    findings: list[Finding] = field(default_factory=list)  # problems with the configs themselves
    # Every file a config names (real path -> "fixtures/server-config.json (server.tls_cert_file)"),
    # and the configs themselves: what check-expiry counts as used by a service.
    used: dict[str, str] = field(default_factory=dict)

    def merge_into(self, notes: dict[str, list[Note]], shown: dict[str, str]) -> None:
        for real, items in self.notes.items():
            target = notes.setdefault(real, [])
            target.extend(n for n in items if n not in target)
        for real, path in self.shown.items():
            shown.setdefault(real, path)


def find_layout_root(path: Path, profile: Profile) -> Path | None:
    """The Notary checkout ``path`` is (or whose fixtures/ folder it is), else None.

    A checkout holds one of the profile's ``service_configs``.
    """
    if any((path / config).is_file() for config in profile.service_configs):
        return path
    if path.name == "fixtures" and (any(path.glob("server-config*.json")) or any(path.glob("signer-config*.json"))):
        return path.parent
    return None


def notary_notes(root: Path, now: datetime, profile: Profile) -> NotaryNotes:
    """Check the TLS relations the configs under ``root`` set up, as of ``now``.

    An absolute path under the profile's ``container_root`` names the checkout's own file.
    """
    check = _Check(root, now, profile.container_root)
    check.run()
    return check.result


class _Check:
    def __init__(self, root: Path, now: datetime, container_root: str) -> None:
        self.root = root
        self.now = now
        self.container_root = container_root
        self.result = NotaryNotes(root)
        self._certs: dict[str, list[x509.Certificate] | None] = {}

    # -- plumbing -------------------------------------------------------------------

    def shown(self, path: Path) -> str:
        try:
            return str(self.root / path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def note(self, path: Path, index: int, code: str, status: Status, text: str) -> None:
        real = os.path.realpath(path)
        self.result.shown.setdefault(real, self.shown(path))
        notes = self.result.notes.setdefault(real, [])
        note = Note(index, Reason(code, status, text))
        if note not in notes:
            notes.append(note)

    def resolve(self, config: Path, value: object, key: str) -> Path | None:
        """A TLS path from a config: relative to the config's folder, container paths mapped."""
        if not isinstance(value, str) or not value:
            return None
        if self.container_root and value.startswith(self.container_root + "/"):
            path = self.root / value[len(self.container_root) + 1 :]
        else:
            path = Path(value)
            path = path if path.is_absolute() else config.parent / path
        self.result.used.setdefault(os.path.realpath(path), f"{self.shown(config)} ({key})")
        return path

    def certs(self, path: Path, named_by: str) -> list[x509.Certificate] | None:
        """The certificates in a file a config names; a missing one is CRITICAL (the service fails)."""
        real = os.path.realpath(path)
        if real in self._certs:
            return self._certs[real]
        certs: list[x509.Certificate] | None = None
        if not os.path.lexists(path):
            self.note(path, 0, "missing", Status.CRITICAL, f"missing: named by {named_by}; the service will not start")
        else:
            try:
                # PEM only: Go's crypto/tls (every Notary service) reads nothing else.
                certs = parse_certificates(read_regular(path), der=False) or None
            except UnreadableInput as exc:
                # Bounded and non-blocking: a config naming a FIFO or /dev/zero must not hang
                # or exhaust memory.  The note makes the file a row even outside the walk.
                self.note(path, 0, "unreadable", Status.UNKNOWN, f"{exc.reason}; named by {named_by}")
            except NotACertificate:
                certs = None  # the walk reports a damaged file itself
        self._certs[real] = certs
        return certs

    def load_config(self, path: Path) -> dict[str, Any] | None:
        self.result.used.setdefault(os.path.realpath(path), "a Notary config")
        try:
            text = read_regular(path).decode("utf-8")
            if path.suffix == ".toml":
                data: Any = parse_nested(lambda: tomllib.loads(text))
            else:
                data = parse_nested(lambda: json.loads(text))
        except UnreadableInput as exc:
            self._unreadable(path, exc.reason)
            return None
        except ValueError as exc:  # JSONDecodeError, TOMLDecodeError, UnicodeDecodeError and TooDeep are ValueErrors
            self._unreadable(path, one_line(exc, 160))
            return None
        return data if isinstance(data, dict) else None

    def _unreadable(self, path: Path, why: str) -> None:
        """A config that cannot be read is an UNKNOWN finding of its own; its checks are skipped."""
        reason = Reason("config", Status.UNKNOWN, f"cannot read this Notary config: {why}")
        self.result.findings.append(Finding("file", self.shown(path), None, None, None, [reason]))

    # -- the checks ------------------------------------------------------------------

    def run(self) -> None:
        fixtures = self.root / "fixtures"
        client_host, client_root = self.client()
        signers = {}
        for path in sorted(fixtures.glob("signer-config*.json")):
            config = self.load_config(path)
            if config is not None:
                signers[_variant(path.name, "signer-config")] = (path, config)
                self.signer(path, config)
        for path in sorted(fixtures.glob("server-config*.json")):
            config = self.load_config(path)
            if config is None:
                continue
            variant = _variant(path.name, "server-config")
            signer = signers.get(variant) or signers.get("")
            self.server(path, config, client_host, client_root, signer)
            self.storage(path, config)
        for path in sorted(fixtures.glob("signer-config*.json")):
            if _variant(path.name, "signer-config") in signers:
                self.storage(path, signers[_variant(path.name, "signer-config")][1])
        escrow = self.root / "cmd" / "escrow" / "config.toml"
        if os.path.lexists(escrow):
            config = self.load_config(escrow)
            server = config.get("server") if config else None
            if isinstance(server, dict):
                self.pair(escrow, server.get("tls_cert_file"), server.get("tls_key_file"), "server.tls_cert_file")

    def client(self) -> tuple[str | None, Path | None]:
        path = self.root / "cmd" / "notary" / "config.json"
        if not os.path.lexists(path):
            return None, None
        config = self.load_config(path)
        remote = config.get("remote_server") if config else None
        if not isinstance(remote, dict):
            return None, None
        host = urlsplit(str(remote.get("url", ""))).hostname
        root_ca = self.resolve(path, remote.get("root_ca"), "root_ca")
        if root_ca is not None:
            self.certs(root_ca, f"{self.shown(path)} (remote_server.root_ca)")
        return host, root_ca

    def pair(
        self, config: Path, cert_value: object, key_value: object, cert_key: str
    ) -> tuple[Path | None, list[x509.Certificate] | None]:
        cert_path = self.resolve(config, cert_value, cert_key)
        key_path = self.resolve(config, key_value, "key")
        if cert_path is None:
            return None, None
        certs = self.certs(cert_path, f"{self.shown(config)} ({cert_key})")
        if certs and key_path is not None and os.path.lexists(key_path):
            try:
                public = load_public_of_private_key(read_regular(key_path), str(key_path))
            except UnreadableInput as exc:
                self.note(
                    key_path,
                    0,
                    "unreadable",
                    Status.UNKNOWN,
                    f"{exc.reason}; named by {self.shown(config)} as the key of {self.shown(cert_path)}",
                )
            except KeyProblem:
                pass  # the walk pairs X.crt/X.key itself and reports an unusable key there
            else:
                if not same_public_key(public, certs[0].public_key()):
                    self.note(
                        cert_path,
                        0,
                        "key-mismatch",
                        Status.CRITICAL,
                        f"private key {self.shown(key_path)} does not match this certificate",
                    )
        elif certs and key_path is not None:
            self.note(
                key_path,
                0,
                "missing",
                Status.CRITICAL,
                f"missing: named by {self.shown(config)} as the key of {self.shown(cert_path)}",
            )
        return cert_path, certs

    def signer(self, path: Path, config: dict[str, Any]) -> None:
        server = config.get("server")
        if not isinstance(server, dict):
            return
        self.pair(path, server.get("tls_cert_file"), server.get("tls_key_file"), "server.tls_cert_file")
        pool = self.resolve(path, server.get("client_ca_file"), "client_ca_file")
        if pool is not None:
            self.certs(pool, f"{self.shown(path)} (server.client_ca_file)")

    def server(
        self,
        path: Path,
        config: dict[str, Any],
        client_host: str | None,
        client_root: Path | None,
        signer: tuple[Path, dict[str, Any]] | None,
    ) -> None:
        server = config.get("server")
        if not isinstance(server, dict):
            return
        where = self.shown(path)
        cert_path, certs = self.pair(
            path, server.get("tls_cert_file"), server.get("tls_key_file"), "server.tls_cert_file"
        )
        trust = config.get("trust_service")
        trust = trust if isinstance(trust, dict) else {}
        server_root = self.resolve(path, trust.get("tls_ca_file"), "trust_service.tls_ca_file")
        if cert_path is not None and certs:
            if client_host and not covers(certs[0], client_host):
                self.note(
                    cert_path,
                    0,
                    "hostname",
                    Status.CRITICAL,
                    f"does not cover {client_host}, the host the notary client dials "
                    f"(cmd/notary/config.json remote_server.url); SANs: {', '.join(san_strings(certs[0])) or 'none'}",
                )
            anchors = [
                (client_root, "the notary client's root_ca (cmd/notary/config.json)"),
                (server_root, f"the root the server trusts ({where} trust_service.tls_ca_file)"),
            ]
            for anchor, role in anchors:
                if anchor is not None:
                    self.chain(cert_path, certs, anchor, role, client_host, client=False)
        if trust.get("type", "remote") != "remote":
            return
        client_path, client_certs = self.pair(
            path, trust.get("tls_client_cert"), trust.get("tls_client_key"), "trust_service.tls_client_cert"
        )
        signer_host = trust.get("hostname") if isinstance(trust.get("hostname"), str) else None
        if server_root is not None:
            self.certs(server_root, f"{where} (trust_service.tls_ca_file)")
        if signer is None:
            return
        signer_path, signer_config = signer
        signer_server = signer_config.get("server")
        if not isinstance(signer_server, dict):
            return
        signer_cert = self.resolve(signer_path, signer_server.get("tls_cert_file"), "server.tls_cert_file")
        signer_certs = self.certs(signer_cert, self.shown(signer_path)) if signer_cert else None
        if signer_cert is not None and signer_certs:
            if signer_host and not covers(signer_certs[0], signer_host):
                self.note(
                    signer_cert,
                    0,
                    "hostname",
                    Status.CRITICAL,
                    f"does not cover {signer_host}, the host notary-server dials ({where} trust_service.hostname, "
                    f"the signer's compose alias); SANs: {', '.join(san_strings(signer_certs[0])) or 'none'}",
                )
            if server_root is not None:
                self.chain(
                    signer_cert,
                    signer_certs,
                    server_root,
                    f"the root notary-server trusts for the signer ({where} trust_service.tls_ca_file)",
                    signer_host,
                    client=False,
                )
        pool = self.resolve(signer_path, signer_server.get("client_ca_file"), "client_ca_file")
        if client_path is not None and client_certs and pool is not None:
            self.chain(
                client_path,
                client_certs,
                pool,
                f"the signer's client_ca_file ({self.shown(signer_path)}), so the signer refuses notary-server",
                None,
                client=True,
            )

    def storage(self, path: Path, config: dict[str, Any]) -> None:
        """Database client TLS: rethinkdb's files, postgres' sslrootcert/sslcert/sslkey in db_url."""
        store = config.get("storage")
        if not isinstance(store, dict):
            return
        triples: list[tuple[object, object, object]] = []
        if "client_cert_file" in store:
            triples.append((store.get("client_cert_file"), store.get("client_key_file"), store.get("tls_ca_file")))
        url = store.get("db_url")
        if isinstance(url, str) and "sslcert=" in url:
            query = parse_qs(urlsplit(url).query)
            triples.append(tuple(query.get(k, [None])[0] for k in ("sslcert", "sslkey", "sslrootcert")))  # type: ignore[arg-type]
        for cert_value, key_value, ca_value in triples:
            cert_path, certs = self.pair(path, cert_value, key_value, "storage client cert")
            ca_path = self.resolve(path, ca_value, "storage CA")
            if cert_path is None or not certs or ca_path is None:
                continue
            cas = self.certs(ca_path, f"{self.shown(path)} (storage CA)")
            # The database checks only the signature, not Go's name/EKU rules (cfssl's client
            # certs carry an empty DNS SAN that a strict verifier would reject).
            if cas and not any(issued_by(certs[0], ca) for ca in cas):
                self.note(
                    cert_path,
                    0,
                    "chain",
                    Status.CRITICAL,
                    f"broken chain: not signed by {self.shown(ca_path)}, the database CA in {self.shown(path)}",
                )

    def chain(
        self,
        cert_path: Path,
        certs: list[x509.Certificate],
        anchor_path: Path,
        role: str,
        hostname: str | None,
        *,
        client: bool,
    ) -> None:
        anchors = self.certs(anchor_path, role)
        if not anchors:
            return
        leaf, intermediates = certs[0], certs[1:]
        moment = _judging_moment([leaf, *intermediates, *anchors], self.now)
        builder = verification.PolicyBuilder().store(verification.Store(anchors)).time(moment)
        try:
            if client:
                builder.build_client_verifier().verify(leaf, intermediates)
            else:
                name = hostname if hostname and covers(leaf, hostname) else _any_name(leaf)
                if name is None:
                    self.note(
                        cert_path,
                        0,
                        "hostname",
                        Status.CRITICAL,
                        "no DNS or IP subjectAltName: Go's crypto/x509 rejects a server certificate without one",
                    )
                    return
                builder.build_server_verifier(_general_name(name)).verify(leaf, intermediates)
        except (verification.VerificationError, ValueError) as exc:
            self.note(
                cert_path,
                0,
                "chain",
                Status.CRITICAL,
                f"broken chain: does not chain to {self.shown(anchor_path)}, {role}: {str(exc)[:200]}",
            )


def _variant(name: str, prefix: str) -> str:
    """ "server-config.postgres.json" -> ".postgres": pairs each server config with its signer."""
    return name[len(prefix) : -len(".json")] if name.startswith(prefix) and name.endswith(".json") else name


def _judging_moment(certs: list[x509.Certificate], now: datetime) -> datetime:
    """A moment at which every certificate of the chain is valid, as close to ``now`` as possible.

    Expiry is reported on each file's own row; the chain check should say whether the
    signatures, names and usages link up, not repeat "expired".
    """
    start = max(c.not_valid_before_utc for c in certs)
    end = min(c.not_valid_after_utc for c in certs)
    if start > end:
        return now
    return min(max(now, start), end)


def _any_name(cert: x509.Certificate) -> str | None:
    for san in san_strings(cert):
        kind, _, value = san.partition(":")
        if kind in ("DNS", "IP") and value:
            return value
    return None


def _general_name(name: str) -> x509.DNSName | x509.IPAddress:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


__all__ = ["NotaryNotes", "find_layout_root", "notary_notes"]
