"""Running the real Notary binaries (Debian's `notary` package) on loopback for tests.

The recipe follows ../shared/notary-reference/README.md: notary-signer (gRPC, mutual TLS,
memory storage) and notary-server (HTTPS) on free ports, then the notary client.
Readiness is polled (TCP connect to the port), never slept for; processes are always
stopped, even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str, package: str = "notary") -> str:
    """The binary's path; a skip with a reason when absent, but a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: install Debian's {package} package (apt-get install -y {package})"
        if IN_CI:
            pytest.fail(message + " -- required under CI=true")
        pytest.skip(message)
    return path


# ELF e_machine values (the ELF specification's table) as platform.machine() spells them.
_ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "i686", 0x28: "armv7l"}

# (binary, its ELF machine, platform.machine()) for every Notary binary a test started:
# tests/conftest.py prints them at the end of the run, so a log shows what really ran where.
MACHINES_SEEN: list[tuple[str, str, str]] = []


def elf_machine(path: str) -> str:
    """The CPU a binary is built for, read from its ELF header (e_machine, little-endian)."""
    with open(os.path.realpath(path), "rb") as file:
        header = file.read(20)
    if header[:4] != b"\x7fELF":
        return "not ELF"
    code = int.from_bytes(header[18:20], "little")
    return _ELF_MACHINES.get(code, f"e_machine {code:#x}")


def expected_machine() -> str:
    """platform.machine(), checked against CERTKIT_EXPECT_MACHINE when set (scripts/arm64.sh sets aarch64)."""
    machine = platform.machine()
    want = os.environ.get("CERTKIT_EXPECT_MACHINE")
    assert want is None or machine == want, f"platform.machine() is {machine!r}, expected {want!r}"
    return machine


def require_native_binary(name: str) -> str:
    """require_binary, plus proof it is built for the CPU the tests run on (the arm64 run must
    start Debian's arm64 notary, not something else found on PATH); recorded in MACHINES_SEEN."""
    path = require_binary(name)
    machine, built_for = expected_machine(), elf_machine(path)
    assert built_for == machine, f"{path} is built for {built_for}, but platform.machine() is {machine}"
    MACHINES_SEEN.append((name, built_for, machine))
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening:\n{log.read_text()[-3000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # poll interval, not a readiness guess
    raise RuntimeError(f"port {port} not listening after {timeout}s:\n{log.read_text()[-3000:]}")


class NotaryRemote(Protocol):
    """Where the notary client finds notary-server: started here, or in a container."""

    server_url: str


@dataclass
class NotaryServices:
    folder: Path  # where the configs and certificate files are
    server_port: int
    signer_port: int
    server_url: str
    server_process: subprocess.Popen[bytes]
    signer_process: subprocess.Popen[bytes]
    server_log: Path
    signer_log: Path


def write_configs(folder: Path, server_port: int, signer_port: int, *, tls_dir: str = ".") -> None:
    """Server and signer configs from the reference README, with the given ports.

    ``tls_dir`` is the folder of the TLS files relative to ``folder`` (Notary resolves
    paths relative to the config file).
    """
    t = tls_dir.rstrip("/")
    signer = {
        "server": {
            "grpc_addr": f"127.0.0.1:{signer_port}",
            "tls_cert_file": f"{t}/notary-signer.crt",
            "tls_key_file": f"{t}/notary-signer.key",
            "client_ca_file": f"{t}/notary-server.crt",
        },
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }
    server = {
        "server": {
            "http_addr": f"127.0.0.1:{server_port}",
            "tls_key_file": f"{t}/notary-server.key",
            "tls_cert_file": f"{t}/notary-server.crt",
        },
        "trust_service": {
            "type": "remote",
            "hostname": "localhost",
            "port": str(signer_port),
            "tls_ca_file": f"{t}/root-ca.crt",
            "key_algorithm": "ecdsa",
            "tls_client_cert": f"{t}/notary-server.crt",
            "tls_client_key": f"{t}/notary-server.key",
        },
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }
    (folder / "e2e-signer.json").write_text(json.dumps(signer))
    (folder / "e2e-server.json").write_text(json.dumps(server))


def _start(argv: list[str], folder: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=folder, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def notary_services(folder: Path, *, tls_dir: str = ".") -> Iterator[NotaryServices]:
    """Start notary-signer and notary-server with the TLS files in ``folder/tls_dir``."""
    signer_bin = require_native_binary("notary-signer")
    server_bin = require_native_binary("notary-server")
    server_port, signer_port = free_port(), free_port()
    write_configs(folder, server_port, signer_port, tls_dir=tls_dir)
    env = {**os.environ, "NOTARY_SIGNER_DEFAULT_ALIAS": "timestamp_1", "NOTARY_SIGNER_TIMESTAMP_1": "testpassword"}
    signer_log, server_log = folder / "e2e-signer.log", folder / "e2e-server.log"
    signer = _start([signer_bin, "-config=e2e-signer.json"], folder, signer_log, env)
    server: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(signer_port, signer, signer_log)
        server = _start([server_bin, "-config=e2e-server.json"], folder, server_log, env)
        wait_for_port(server_port, server, server_log)
        yield NotaryServices(
            folder, server_port, signer_port, f"https://localhost:{server_port}", server, signer, server_log, signer_log
        )
    finally:
        if server is not None:
            _stop(server)
        _stop(signer)


def run_client(
    folder: Path, services: NotaryRemote, root_ca: Path, *args: str, config: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the notary client with a config trusting ``root_ca`` (or the given config file)."""
    client = require_native_binary("notary")
    if config is None:
        config = folder / "e2e-client.json"
        config.write_text(
            json.dumps(
                {
                    "trust_dir": str(folder / "trust"),
                    "remote_server": {"url": services.server_url, "root_ca": str(root_ca)},
                }
            )
        )
    env = {
        **os.environ,
        "NOTARY_ROOT_PASSPHRASE": "rootpass",
        "NOTARY_TARGETS_PASSPHRASE": "targetspass",
        "NOTARY_SNAPSHOT_PASSPHRASE": "snapshotpass",
        "NOTARY_DELEGATION_PASSPHRASE": "delegationpass",
    }
    return subprocess.run(
        [client, "-c", str(config), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def publish_and_list(folder: Path, services: NotaryRemote, root_ca: Path, gun: str = "example.com/demo") -> str:
    """init, add, publish and list a target; returns the `list` output. Raises on a failed step."""
    payload = folder / "payload.txt"
    payload.write_text("certkit end-to-end payload\n")
    for step in (["init", gun], ["add", gun, "v1", str(payload)], ["publish", gun], ["list", gun]):
        result = run_client(folder, services, root_ca, *step)
        if result.returncode != 0:
            raise NotaryClientError(step[0], result.stdout + result.stderr)
    return result.stdout


class NotaryClientError(Exception):
    def __init__(self, step: str, output: str) -> None:
        super().__init__(f"notary {step} failed: {output}")
        self.step = step
        self.output = output


@dataclass
class NotaryServer:
    """notary-server alone (local trust service: no signer), restartable on the same port."""

    folder: Path
    port: int
    config: str
    log: Path
    process: subprocess.Popen[bytes]

    def restart(self) -> None:
        """Stop and start again on the same port: the way a renewed certificate gets loaded."""
        _stop(self.process)
        self.process = _start(
            [require_binary("notary-server"), f"-config={self.config}"], self.folder, self.log, dict(os.environ)
        )
        wait_for_port(self.port, self.process, self.log)


@contextlib.contextmanager
def notary_server_only(folder: Path, *, tls_dir: str = ".") -> Iterator[NotaryServer]:
    """Start notary-server with ``trust_service.type = "local"`` (it signs in-process, so no
    notary-signer is needed) and the TLS files in ``folder/tls_dir``; always stopped."""
    server_bin = require_binary("notary-server")
    port = free_port()
    t = tls_dir.rstrip("/")
    config = {
        "server": {
            "http_addr": f"127.0.0.1:{port}",
            "tls_key_file": f"{t}/notary-server.key",
            "tls_cert_file": f"{t}/notary-server.crt",
        },
        "trust_service": {"type": "local"},
        "logging": {"level": "info"},
        "storage": {"backend": "memory"},
    }
    name = "server-only.json"
    (folder / name).write_text(json.dumps(config))
    log = folder / "server-only.log"
    server = NotaryServer(
        folder, port, name, log, _start([server_bin, f"-config={name}"], folder, log, dict(os.environ))
    )
    try:
        wait_for_port(port, server.process, log)
        yield server
    finally:
        _stop(server.process)
