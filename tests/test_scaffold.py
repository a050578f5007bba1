"""certkit.workflows.init (`certkit init`): which service configs it writes is the profile's answer, not its name."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certkit.profile import load_profile
from certkit.workflows.init import init_layout

NOW = datetime(2027, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
_SMALL = """
name = "notary"
[certificates.ca]
issuer = "self"
ca = true
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "Small CA" }
validity = "300d"
key_usage = ["key_cert_sign"]
cert_file = "pki/ca.crt"
"""


def _files(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and ".certkit" not in p.parts and p.name not in (".gitignore", ".dockerignore")
    )


@pytest.mark.parametrize(
    ("configs", "written"),
    [
        # Named "notary" but listing no service configs: nothing beyond the certificates.
        ("", ["pki/ca.crt"]),
        # Only the configs the profile lists and certkit has a template for (an unknown one is not invented).
        (
            'service_configs = ["cmd/notary/config.json", "etc/other.json"]\n',
            ["CERTKIT-README.txt", "cmd/notary/config.json", "pki/ca.crt"],
        ),
    ],
)
def test_init_writes_the_service_configs_the_profile_lists(tmp_path: Path, configs: str, written: list[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(configs + _SMALL)
    layout = tmp_path / "layout"
    init_layout(layout, load_profile(path), NOW)
    assert _files(layout) == written
    if "cmd/notary/config.json" in written:
        client = json.loads((layout / "cmd" / "notary" / "config.json").read_text())
        assert client["remote_server"]["url"] == "https://notary-server:4443"


def test_init_of_the_built_in_profile_writes_its_three_configs(fresh_layout_template: Path) -> None:
    for relative in load_profile().service_configs:
        assert (fresh_layout_template / relative).is_file(), relative


def test_the_readme_runs_as_written_from_the_set_folder(fresh_layout: Path, tmp_path: Path) -> None:
    """CERTKIT-README.txt's commands, in order, from the folder it lies in: the services start with
    Debian's notary binaries and the client reaches them (it once said `cd fixtures`, then gave the
    client a path relative to the set folder, issue 20)."""
    import os
    import signal
    import subprocess

    from tests.notary_harness import free_port, require_native_binary, wait_for_port

    for binary in ("notary-signer", "notary-server", "notary"):
        require_native_binary(binary)
    readme = (fresh_layout / "CERTKIT-README.txt").read_text()
    assert "\n.certkit/ca/ " in readme  # where the CA keys are, from this folder (not from where init ran)
    assert readme.rstrip().endswith("certkit renew")
    commands = [line[2:] for line in readme.splitlines() if line.startswith("  ") and line[2:3] != " "]
    assert len(commands) >= 3, readme
    # Only the addresses change (free ports; names that resolve here): every path stays the README's.
    server_port, signer_port = free_port(), free_port()
    addresses = {
        "fixtures/server-config.json": {
            "server": {"http_addr": f"127.0.0.1:{server_port}"},
            "trust_service": {"hostname": "localhost", "port": str(signer_port)},
        },
        "fixtures/signer-config.json": {"server": {"grpc_addr": f"127.0.0.1:{signer_port}"}},
        "cmd/notary/config.json": {"remote_server": {"url": f"https://localhost:{server_port}"}},
    }
    for relative, sections in addresses.items():
        data = json.loads((fresh_layout / relative).read_text())
        for section, values in sections.items():
            data[section].update(values)
        (fresh_layout / relative).write_text(json.dumps(data))
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "NOTARY_ROOT_PASSPHRASE": "rootpass",
        "NOTARY_TARGETS_PASSPHRASE": "targetspass",
        "NOTARY_SNAPSHOT_PASSPHRASE": "snapshotpass",
    }
    cwd = fresh_layout
    started: list[subprocess.Popen[bytes]] = []
    outputs: list[str] = []
    try:
        for index, command in enumerate(commands):
            if command.startswith("cd "):
                cwd = cwd / command[3:].strip()
                continue
            if command.endswith("&"):
                log = open(tmp_path / f"service-{index}.log", "wb")  # noqa: SIM115  # closed with the process
                process = subprocess.Popen(
                    ["sh", "-c", command.rstrip("& ")], cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True
                )
                log.close()
                started.append(process)
                port = signer_port if "notary-signer" in command else server_port
                wait_for_port(port, process, tmp_path / f"service-{index}.log")
                continue
            done = subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
            outputs.append(done.stdout + done.stderr)
        # The client line ran against the README's services: the server answered (no such repository
        # yet), so the TLS files the configs name were found and trusted.
        assert outputs and "does not have trust data for example.com/demo" in outputs[-1], outputs
        # And the signer serves the server: a publish goes through both, with the README's configs.
        client = ["notary", "-c", "cmd/notary/config.json"]
        payload = tmp_path / "payload.txt"
        payload.write_text("certkit README payload\n")
        for step in (["init", "example.com/demo"], ["add", "example.com/demo", "v1", str(payload)]):
            ran = subprocess.run([*client, *step], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
            assert ran.returncode == 0, ran.stdout + ran.stderr
        ran = subprocess.run(
            [*client, "publish", "example.com/demo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
