"""certkit.check.deployed: which files of a Notary checkout the services use (profile, configs, compose)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from certkit.check.deployed import compose_files, deployed_files, is_checkout
from certkit.check.notary_config import notary_notes
from certkit.profile import load_profile

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def _real(root: Path, relative: str) -> str:
    return os.path.realpath(root / relative)


def test_reference_compose_projects_are_found_and_codecov_is_not(reference_dir: Path) -> None:
    names = [[f.name for f in files] for files in compose_files(reference_dir)]
    assert names == [
        ["development.mysql.yml"],
        ["development.postgresql.yml"],
        ["development.rethink.yml"],
        ["docker-compose.postgresql.yml"],
        ["docker-compose.rethink.yml"],
        ["docker-compose.yml"],
    ]


def test_an_override_is_merged_with_its_base_not_read_alone(reference_copy: Path) -> None:
    (reference_copy / "docker-compose.override.yml").write_text("services:\n  server:\n    volumes: []\n")
    names = [[f.name for f in files] for files in compose_files(reference_copy)]
    assert ["docker-compose.yml", "docker-compose.override.yml"] in names
    assert ["docker-compose.override.yml"] not in names


def test_reference_used_files_come_from_profile_configs_and_compose(reference_dir: Path) -> None:
    profile = load_profile()
    assert is_checkout(reference_dir, profile)
    deployment = deployed_files(reference_dir, profile, notary_notes(reference_dir, NOW, profile))
    used = deployment.used
    for relative in (
        "fixtures/notary-server.crt",
        "fixtures/notary-server.key",
        "cmd/notary/root-ca.crt",
        "notarysql/postgresql-initdb.d/server.crt",
        "fixtures/rethinkdb/ca.pem",
    ):
        assert used[_real(reference_dir, relative)].startswith("profile: "), relative
    # The configs themselves count as used (the walk never reports them, but they are deployed).
    assert _real(reference_dir, "fixtures/server-config.postgres.json") in used
    for relative in ("trustpinning/ca.crt", "trustpinning/test.crt"):
        assert _real(reference_dir, relative) not in used, relative


def test_a_file_only_compose_names_is_used_with_its_service(reference_copy: Path) -> None:
    (reference_copy / "tls").mkdir()
    (reference_copy / "tls" / "edge.crt").write_text("placeholder")
    compose = reference_copy / "docker-compose.rethink.yml"
    text = compose.read_text()
    assert "- ./fixtures/rethinkdb:/tls" in text
    compose.write_text(text.replace("- ./fixtures/rethinkdb:/tls", "- ./tls:/tls", 1))
    deployment = deployed_files(reference_copy, load_profile())
    why = deployment.used[_real(reference_copy, "tls/edge.crt")]
    assert why.startswith("docker-compose.rethink.yml: service ") and "volume ./tls:/tls" in why


def test_a_service_certkit_cannot_analyse_is_a_note_and_the_others_still_count(tmp_path: Path) -> None:
    root = tmp_path / "notary"
    (root / "fixtures").mkdir(parents=True)
    (root / "fixtures" / "root-ca.crt").write_text("")  # a profile marker
    (root / "certs").mkdir()
    (root / "docker-compose.yml").write_text(
        "services:\n"
        "  proxy:\n    image: nginx:1.25\n    volumes:\n      - ./certs:/etc/tls:ro\n"
        # An image with no build: its working folder is unknown, so a relative -config cannot be placed.
        "  app:\n    image: example/app:1\n    command: app -config=conf/app.json\n"
    )
    (root / "certs" / "proxy.crt").write_text("placeholder")
    deployment = deployed_files(root, load_profile())
    assert _real(root, "certs/proxy.crt") in deployment.used
    assert len(deployment.notes) == 1
    assert deployment.notes[0].startswith("docker-compose.yml: service app: not analysed (")
    assert deployment.notes[0].endswith("files only it uses are listed as unused")


def test_an_unparsable_compose_file_is_a_note(tmp_path: Path, reference_dir: Path) -> None:
    root = tmp_path / "notary"
    shutil.copytree(reference_dir / "fixtures", root / "fixtures")
    (root / "docker-compose.yml").write_text("services:\n  a: [unclosed\n")
    deployment = deployed_files(root, load_profile())
    assert len(deployment.notes) == 1 and deployment.notes[0].startswith("docker-compose.yml: not analysed (")
