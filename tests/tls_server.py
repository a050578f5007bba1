"""A real TLS server for --connect tests: stdlib ssl (OpenSSL) on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.certfactory import Issued


class Served:
    """What :func:`switchable_tls_server` serves; replaced between handshakes (one server for many
    certificates, e.g. every example of a hypothesis test)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.context: ssl.SSLContext | None = None
        self._count = 0

    def serve(self, served: Issued, chain: list[Issued]) -> None:
        self._count += 1
        cert_file = served.write(self.folder / f"served-{self._count}.crt", chain=chain)
        key_file = self.folder / f"served-{self._count}.key"
        key_file.write_bytes(served.key_pem())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.context = context


@contextmanager
def switchable_tls_server(folder: Path) -> Iterator[tuple[int, Served]]:
    """A TLS server on 127.0.0.1 serving what ``Served.serve`` last set; yields (port, Served).
    It listens before it yields (no readiness guess), and is stopped and joined on exit."""
    folder.mkdir()
    served = Served(folder)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            context = served.context
            try:
                conn.settimeout(5)
                if context is None:
                    conn.close()
                    continue
                with context.wrap_socket(conn, server_side=True):
                    pass  # the handshake is all certkit needs
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1]), served
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@contextmanager
def tls_server(served: Issued, chain: list[Issued], folder: Path) -> Iterator[int]:
    """Serve ``served`` (then ``chain``) on 127.0.0.1; yields the port."""
    with switchable_tls_server(folder) as (port, switch):
        switch.serve(served, chain)
        yield port
