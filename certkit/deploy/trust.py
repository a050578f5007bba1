"""Making Docker Content Trust and the notary client trust a Notary set's root CA.

Where the clients look (see docs/lifecycle.md, "Client trust"):

- the Docker CLI, for ``DOCKER_CONTENT_TRUST_SERVER=https://HOST:PORT``, adds every
  ``*.crt`` in ``$DOCKER_CONFIG/tls/HOST:PORT/`` (default ``~/.docker``) to the CAs it
  accepts for that server (docker/cli ``cli/trust``: the folder is named after the URL's
  host *with* the port, so the URL must carry an explicit port);
- the notary client reads ``~/.notary/config.json``: ``remote_server.url`` and
  ``remote_server.root_ca``.  certkit points ``root_ca`` at a copy it keeps in
  ``~/.notary/certkit-root-ca.crt`` (absolute path) rather than at the checkout's file, so
  the client keeps working when the checkout moves or is deleted, and both clients trust
  the same bytes; re-run ``certkit trust`` after the root itself is replaced.

Everything that can be wrong (URL, root file, existing config, permissions) is checked
before the first write, so a refusal changes nothing; every write is atomic and only
happens when the content differs (running it twice changes nothing the second time).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import socket
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509

from certkit.bounded import TooDeep, parse_nested
from certkit.certificates import NotACertificate, expired, is_ip, parse_certificates, to_pem
from certkit.errors import ClientConfigError, FilesystemError, MaterialError, NotALayoutError, UsageError
from certkit.outcomes import Action
from certkit.store import storage

if TYPE_CHECKING:
    from certkit.profile import Profile

DEFAULT_SERVER = "https://notary-server:4443"
DOCKER_CA_NAME = "ca.crt"
NOTARY_ROOT_COPY = "certkit-root-ca.crt"
HOSTS_FILE = Path("/etc/hosts")
HOSTS_COMMENT = "# added by certkit trust (Notary server)"
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


@dataclass(frozen=True)
class Server:
    """A Notary server URL reduced to what the clients use."""

    url: str  # https://HOST:PORT, as exported in DOCKER_CONTENT_TRUST_SERVER
    host: str  # the name to resolve (no IPv6 brackets)
    port: int
    netloc: str  # HOST:PORT as Go's url.URL.Host spells it: the Docker tls/ folder name


@dataclass(frozen=True)
class FileChange:
    path: Path
    action: Action  # CREATED, UPDATED or KEPT

    @property
    def changed(self) -> bool:
        return self.action != Action.KEPT


@dataclass(frozen=True)
class TrustResult:
    server: Server
    root: Path  # the certificate file that was installed
    root_subject: str
    root_not_after: datetime
    docker_ca: FileChange
    notary_root: FileChange
    notary_config: FileChange
    resolves: bool  # the server's host name resolves (or is an IP address)
    hosts_line: str | None  # the /etc/hosts line to add when it does not resolve
    hosts_file: FileChange | None  # set when editing the hosts file was asked for
    exports: list[str]  # shell lines enabling Docker Content Trust for this server
    hosts_path: Path = HOSTS_FILE  # the hosts file hosts_line belongs in (--hosts-file)

    @property
    def changed(self) -> bool:
        files = [self.docker_ca, self.notary_root, self.notary_config, self.hosts_file]
        return any(f is not None and f.changed for f in files)


def parse_server(value: str) -> Server:
    """Parse ``https://HOST:PORT`` (``HOST:PORT`` alone means https).

    Raises:
        UsageError: (exit 2) not https, no host, no port, or a path/user part.
    """
    text = value.strip()
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--server {value!r}: not a URL ({exc}); use e.g. {DEFAULT_SERVER}") from exc
    if parts.scheme != "https":
        raise UsageError(f"--server {value!r}: Notary is served over TLS; use an https:// URL, e.g. {DEFAULT_SERVER}")
    if not parts.hostname:
        raise UsageError(f"--server {value!r}: no host name; use e.g. {DEFAULT_SERVER}")
    if port is None:
        # Docker names the CA folder after the URL's host:port exactly, so an implied
        # :443 would put the CA where Docker does not look for an explicit one.
        raise UsageError(f"--server {value!r}: give the port explicitly, e.g. https://{parts.hostname}:4443")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"--server {value!r}: only https://HOST:PORT is allowed (no user, path or query)")
    if not (is_ip(parts.hostname) or _HOST_NAME.fullmatch(parts.hostname)):
        # The host becomes a folder name, a hosts-file line and printed shell text: only
        # what DNS allows (RFC 1123 letters, digits, hyphens, dots) gets that far.
        raise UsageError(f"--server {value!r}: {parts.hostname!r} is not a host name or IP address")
    netloc = parts.netloc
    return Server(url=f"https://{netloc}", host=parts.hostname, port=port, netloc=netloc)


def layout_root(notary_dir: Path, profile: Profile) -> Path:
    """The root CA file of a Notary checkout: the profile's ``trust_root`` certificate.

    Raises:
        NotALayoutError: (exit 10) that file is not in ``notary_dir``, or the profile has no root CA.
    """
    spec = profile.root()
    if spec is None:
        raise NotALayoutError(f"{profile.source} has no self-signed CA to trust; give the root with --root FILE")
    path = notary_dir / spec.cert_file
    if not path.is_file():
        from certkit.store.layout import is_layout, require_layout

        if not is_layout(notary_dir, profile):
            require_layout(notary_dir, profile)  # the one line for a wrong folder, with the checkout above
        raise NotALayoutError(
            f"{path}: not found; give your Notary checkout (certkit init/renew make this file), "
            "--profile for another layout, or --root FILE"
        )
    return path


def docker_config_dir(home: Path, env: Mapping[str, str]) -> Path:
    """Where the Docker CLI keeps its configuration: ``$DOCKER_CONFIG``, else ``HOME/.docker``."""
    configured = env.get("DOCKER_CONFIG")
    return Path(configured) if configured else home / ".docker"


def resolves(host: str, port: int) -> bool:
    """Whether ``host`` resolves (the system resolver: /etc/hosts, DNS, ...)."""
    try:
        return bool(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except (socket.gaierror, UnicodeError, OSError):
        return False


def install_trust(
    root_file: Path,
    server: Server,
    *,
    home: Path,
    docker_config: Path,
    now: datetime,
    edit_hosts: bool = False,
    hosts_file: Path = HOSTS_FILE,
    resolver: Callable[[str, int], bool] = resolves,
) -> TrustResult:
    """Install ``root_file`` as the CA of ``server`` for the Docker CLI and the notary client.

    Raises:
        MaterialError: (12) the root file is not a CA certificate, or is expired.
        ClientConfigError: (18) ~/.notary/config.json is not a JSON object; it is left untouched.
        FilesystemError: (13) a destination is read-only or cannot be written.
    """
    certs, pem = _load_root(root_file, now)
    docker_ca = docker_config / "tls" / server.netloc / DOCKER_CA_NAME
    notary_dir = home / ".notary"
    notary_root = notary_dir / NOTARY_ROOT_COPY
    config_path = Path(os.path.realpath(notary_dir / "config.json"))  # keep a dotfiles symlink working
    config_bytes = _merged_config(config_path, server, notary_root)
    name_resolves = is_ip(server.host) or resolver(server.host, server.port)
    hosts_line = None if name_resolves else f"127.0.0.1 {server.host}"
    hosts_text: str | None = None
    if edit_hosts and hosts_line is not None:
        hosts_text = _hosts_with(hosts_file, server.host, hosts_line)

    # Every check is done; from here on only writes (each atomic, each skipped when equal).
    for folder in (docker_ca.parent, notary_dir, config_path.parent):
        storage.probe_writable(folder)
    if hosts_text is not None:
        _refuse_read_only(hosts_file)
    _make_private_dir(docker_config)  # it also holds registry credentials (config.json)
    storage.ensure_dir(docker_ca.parent)
    docker_change = _write_if_changed(docker_ca, pem, 0o644)
    _make_private_dir(notary_dir)  # the notary client keeps its private keys under it
    root_change = _write_if_changed(notary_root, pem, 0o644)
    config_change = _write_if_changed(config_path, config_bytes, _mode_of(config_path, default=0o600))
    hosts_change: FileChange | None = None
    if edit_hosts:
        hosts_change = (
            _write_hosts(hosts_file, hosts_text) if hosts_text is not None else FileChange(hosts_file, Action.KEPT)
        )
    # Printed for `eval`: every value shell-quoted, whatever parse_server let through.
    exports = ["export DOCKER_CONTENT_TRUST=1", f"export DOCKER_CONTENT_TRUST_SERVER={shlex.quote(server.url)}"]
    return TrustResult(
        server=server,
        root=root_file,
        root_subject=certs[0].subject.rfc4514_string(),
        root_not_after=certs[0].not_valid_after_utc,
        docker_ca=docker_change,
        notary_root=root_change,
        notary_config=config_change,
        resolves=name_resolves,
        hosts_line=None if hosts_change is not None else hosts_line,  # added now, or already listed
        hosts_file=hosts_change,
        exports=exports,
        hosts_path=hosts_file,
    )


def _load_root(path: Path, now: datetime) -> tuple[list[x509.Certificate], bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MaterialError(f"{path}: cannot read the root certificate ({exc.strerror or exc})") from exc
    try:
        certs = parse_certificates(data)
    except NotACertificate as exc:
        raise MaterialError(f"{path}: not a certificate ({exc}); give the Notary root CA") from exc
    for cert in certs:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            # Go (Docker, notary) would accept a leaf as a trust anchor, but trusting a
            # server certificate breaks at its next renewal; the root is what to trust.
            raise MaterialError(f"{path}: {cert.subject.rfc4514_string()} is not a CA certificate; give the root CA")
        if expired(cert, now):
            raise MaterialError(
                f"{path}: {cert.subject.rfc4514_string()} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                "run `certkit renew` first"
            )
    return certs, to_pem(certs)  # PEM: the only form both clients read


def _merged_config(path: Path, server: Server, root_copy: Path) -> bytes:
    """The notary client config with remote_server.url and .root_ca set, all other keys kept."""
    current: dict[str, Any] = {}
    existing = storage.read_bytes(path)
    if existing is not None:
        _refuse_read_only(path)
        try:
            loaded = parse_nested(lambda: json.loads(existing.decode("utf-8"))) if existing.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError, TooDeep) as exc:
            raise ClientConfigError(
                f"{path}: not valid JSON ({exc}); fix or move it, certkit left it untouched"
            ) from exc
        if not isinstance(loaded, dict):
            raise ClientConfigError(f"{path}: not a JSON object; fix or move it, certkit left it untouched")
        current = loaded
    remote = current.get("remote_server", {})
    if not isinstance(remote, dict):
        raise ClientConfigError(f"{path}: remote_server is not a JSON object; fix it, certkit left the file untouched")
    merged = {**current, "remote_server": {**remote, "url": server.url, "root_ca": str(root_copy.absolute())}}
    if existing is not None and merged == current:
        return existing  # already right: keep the bytes (and the user's formatting)
    return (json.dumps(merged, indent=2) + "\n").encode("utf-8")


def _hosts_with(path: Path, host: str, line: str) -> str | None:
    """The hosts file's new text with ``line`` appended, or None when ``host`` is already listed."""
    current = storage.read_bytes(path)
    text = current.decode("utf-8", errors="replace") if current is not None else ""
    for entry in text.splitlines():
        names = entry.split("#", 1)[0].split()[1:]
        if host.lower() in (name.lower() for name in names):
            return None  # listed (perhaps with another address): the user's choice stands
    prefix = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{prefix}{line}  {HOSTS_COMMENT}\n"


def _write_hosts(path: Path, text: str | None) -> FileChange:
    if text is None:
        return FileChange(path, Action.KEPT)
    existed = path.exists()
    try:
        storage.atomic_write(path, text.encode("utf-8"), _mode_of(path, default=0o644))
    except FilesystemError as exc:
        cause = exc.__cause__
        if not (isinstance(cause, OSError) and cause.errno in (errno.EBUSY, errno.EXDEV)):
            raise
        # In a container /etc/hosts is a bind mount: it cannot be replaced by rename, only
        # written in place.  Appending our one line with O_APPEND is the least risky edit.
        _append_in_place(path, text)
    return FileChange(path, Action.UPDATED if existed else Action.CREATED)


def _append_in_place(path: Path, text: str) -> None:
    current = storage.read_bytes(path) or b""
    addition = text.encode("utf-8")[len(current) :] if text.encode("utf-8").startswith(current) else b""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, addition)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot write ({exc.strerror or exc}); add the line yourself") from exc


def _write_if_changed(path: Path, data: bytes, mode: int) -> FileChange:
    current = storage.read_bytes(path)
    if current == data:
        return FileChange(path, Action.KEPT)
    storage.atomic_write(path, data, mode)
    return FileChange(path, Action.CREATED if current is None else Action.UPDATED)


def _refuse_read_only(path: Path) -> None:
    """Refuse a file its owner marked read-only, even where rename could replace it (or root could write it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot read its status ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise FilesystemError(f"{path}: not a regular file; certkit left it untouched")
    if not (st.st_mode & 0o222) or not os.access(path, os.W_OK):
        raise FilesystemError(
            f"{path}: is read-only; certkit left it untouched (make it writable, or edit it yourself)"
        )


def _make_private_dir(path: Path) -> None:
    # Only a folder certkit creates gets 0700; an existing one keeps the mode its owner chose.
    if not path.exists():
        storage.ensure_dir(path, private=True)


def _mode_of(path: Path, default: int) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return default
