"""What a recreated service serves: the leaf certificate on a published TLS port, polled until the
service answers or a deadline passes.

Used by the deploy step's verification (certkit.deploy.engine_deploy): a container that runs is
not yet proof; the proof is that its port hands out the renewed certificate.  Notary's server
speaks TLS from the first byte; postgres first answers an SSLRequest (the frontend/backend
protocol's startup message 80877103, "Message Flow: SSL Session Encryption" in postgres's docs)
with ``S`` and then does the TLS handshake, so both are read here without a client library.
The handshake does not verify: the point is to see which certificate is served.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from certkit.certificates import is_ip

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
POLL_INTERVAL = 0.2  # seconds between attempts while a just-started service comes up
ATTEMPT_TIMEOUT = 3.0  # seconds for one connect + handshake


@dataclass(frozen=True)
class Served:
    """The DER leaf a port served, or why none was read."""

    leaf: bytes | None
    error: str = ""


def fetch_leaf(host: str, port: int, *, postgres: bool = False, timeout: float = ATTEMPT_TIMEOUT) -> Served:
    """One attempt: connect to ``host:port`` and read the leaf certificate it presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if postgres:
                sock.sendall(SSL_REQUEST)
                answer = sock.recv(1)
                if answer != b"S":
                    return Served(None, "postgres refused TLS (ssl = off?)" if answer == b"N" else "no SSL answer")
            with context.wrap_socket(sock, server_hostname=None if is_ip(host) else host) as tls:
                leaf = tls.getpeercert(binary_form=True)
    except TimeoutError:
        return Served(None, f"timed out after {timeout:g} s")
    except ssl.SSLError as exc:
        return Served(None, f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return Served(None, exc.strerror or str(exc))
    return Served(leaf) if leaf else Served(None, "no certificate sent")


def wait_for_leaf(
    host: str,
    port: int,
    deadline: float,
    *,
    postgres: bool = False,
    clock: Callable[[], float] = time.monotonic,
    gone: Callable[[], str | None] | None = None,
) -> Served:
    """Poll :func:`fetch_leaf` until a certificate is read or ``deadline`` (of ``clock``) passes.

    A just-recreated service takes a moment to listen (docker-proxy accepts before it does);
    ``gone`` returns a reason when waiting longer is pointless (the container exited).
    """
    last = Served(None, "not tried")
    while True:
        left = deadline - clock()
        last = fetch_leaf(host, port, postgres=postgres, timeout=max(0.1, min(ATTEMPT_TIMEOUT, left)))
        if last.leaf is not None or clock() >= deadline:
            return last
        if gone is not None:
            why = gone()
            if why:
                return Served(None, why)
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - clock())))


def dial_address(host_ip: str) -> str:
    """Where the host reaches a published port: its own address, or loopback for "all addresses"."""
    if host_ip in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host_ip == "::":
        return "::1"
    return host_ip
