"""Fetching the certificate chain a TLS server serves (stdlib ssl; cryptography has no TLS).

The handshake deliberately does not verify: the point is to see what the server sends,
expired or untrusted, and judge it like a file.  Every failure comes back as a
``ServedChain`` with an ``error`` (UNKNOWN in the report), never as an exception.
"""

from __future__ import annotations

import socket
import ssl

from certkit.certificates import is_ip
from certkit.check.expiry import ServedChain
from certkit.errors import UsageError

DEFAULT_TIMEOUT = 5.0


def parse_address(text: str) -> tuple[str, int]:
    """ "host:443", "[::1]:4443" -> (host, port); UsageError for anything else."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--connect {text!r}: use HOST:PORT, e.g. notary-server:4443 or [::1]:4443")
    return host.strip("[]"), int(port)


def fetch_chain(address: str, *, servername: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> ServedChain:
    """Connect to ``address`` (HOST:PORT) and return the chain it serves, leaf first."""
    host, port = parse_address(address)
    name = servername or host
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # SNI must be a host name; Python refuses to send an IP address as server_hostname.
    sni = None if is_ip(name) else name
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=sni) as tls:
                chain = _served_chain(tls)
    except TimeoutError:
        return ServedChain(address, name, error=f"cannot connect: timed out after {timeout:g} s")
    except ssl.SSLError as exc:
        return ServedChain(address, name, error=f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return ServedChain(address, name, error=f"cannot connect: {exc.strerror or exc}")
    if not chain:
        return ServedChain(address, name, error="the server sent no certificate")
    return ServedChain(address, name, tuple(chain))


def _served_chain(tls: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13+ has a public get_unverified_chain(); 3.10-3.12 have it on the private
    # _sslobj (returning _ssl.Certificate objects).  Without either, only the leaf is
    # available, which is all that the STALE comparison needs.
    getter = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            items = getter() or []
            return [
                item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                for item in items
            ]
        except (AttributeError, ssl.SSLError, ValueError):
            pass
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []
