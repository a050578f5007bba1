"""certkit.compose (mounts, files, edit): analysis, planning, override, in-place edits, bad input."""

from __future__ import annotations

import difflib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from certkit.compose.analysis import load
from certkit.compose.apply import apply, finish_after_renew, prepare_after_renew
from certkit.compose.check import check
from certkit.compose.files import interpolate, split_short_volume
from certkit.compose.model import ComposeOutcome, Options, ServedFrom
from certkit.errors import ComposeError
from certkit.profile import load_profile
from tests.compose_helpers import (
    NOTARY_WD,
    PG_DB_READS,
    PG_SERVER_READS,
    SERVER_READS,
    SIGNER_READS,
    copy_reference,
    write,
)

BEFORE_EXPIRY = datetime(2022, 6, 1, tzinfo=timezone.utc)  # every reference leaf was still valid then
AFTER_EXPIRY = datetime(2026, 11, 1, tzinfo=timezone.utc)


def opts(**kwargs: Any) -> Options:
    return Options(load_profile(), environ={}, **kwargs)


@pytest.fixture
def notary(reference_dir: Path, tmp_path: Path) -> Path:
    return copy_reference(reference_dir, tmp_path)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- analysis of the real Notary compose files ------------------------------------------------------


def test_reference_server_and_signer_read_baked_fixtures(notary: Path) -> None:
    loaded = load(notary, [], opts())
    project, analyses = loaded.project, loaded.analyses
    assert sorted(project.services) == ["mysql", "server", "signer"]
    server = analyses["server"]
    # Resolved from the checkout's own server.Dockerfile: ENV NOTARYPKG (legacy form), then
    # WORKDIR /go/src/${NOTARYPKG}.
    assert server.workdir == NOTARY_WD and server.workdir_source == "WORKDIR in server.Dockerfile"
    assert sorted(r.container_path for r in server.reads) == sorted(SERVER_READS)
    assert {r.status for r in server.reads} == {ServedFrom.BAKED}
    assert sorted(r.container_path for r in analyses["signer"].reads) == sorted(SIGNER_READS)
    assert analyses["mysql"].reads == []  # mariadb here uses no TLS


def test_reference_postgres_reads_db_url_paths_and_initdb_folder(notary: Path) -> None:
    analyses = load(notary, [Path("docker-compose.postgresql.yml")], opts()).analyses
    server = {r.container_path: r for r in analyses["server"].reads}
    assert sorted(server) == sorted(PG_SERVER_READS)
    assert server[f"{NOTARY_WD}/fixtures/database/ca.pem"].host_path == notary / "fixtures/database/ca.pem"
    db = {r.container_path: r for r in analyses["postgresql"].reads}
    assert sorted(db) == sorted(PG_DB_READS)
    assert {r.status for r in db.values()} == {ServedFrom.MOUNTED_RW}  # the existing mount is a folder, but writable


def test_reference_rethink_existing_tls_mount_is_made_read_only_not_duplicated(notary: Path) -> None:
    outcome = apply(notary, [Path("docker-compose.rethink.yml")], opts(), dry_run=True)
    by_service: dict[str, list[str]] = {}
    for mount in outcome.mounts:
        by_service.setdefault(mount.service, []).append(mount.target)
    assert by_service["rdb-01"] == ["/tls"]
    assert sorted(by_service["server"]) == sorted(["/tls", f"{NOTARY_WD}/fixtures"])
    tls = [m for m in outcome.mounts if m.target == "/tls"]
    assert all(m.replaces is not None and m.source == notary / "fixtures/rethinkdb" for m in tls)
    assert not (notary / "docker-compose.rethink.override.yml").exists()  # dry run


# -- the override mode -------------------------------------------------------------------------------


def test_override_is_written_next_to_base_and_second_run_is_byte_identical(notary: Path) -> None:
    first = apply(notary, [], opts())
    override = notary / "docker-compose.override.yml"
    assert first.written == [override]
    text = override.read_text()
    assert text.startswith("# certkit-compose-override")
    assert f"target: {NOTARY_WD}/fixtures" in text and "read_only: true" in text
    assert "moby/moby#22627" in text
    assert first.command == "docker compose up -d --force-recreate server signer"
    before = snapshot(notary)
    second = apply(notary, [], opts())
    assert second.written == [] and second.diff == ""
    assert snapshot(notary) == before


def test_override_for_named_file_is_loaded_with_explicit_f(notary: Path) -> None:
    outcome = apply(notary, [Path("docker-compose.postgresql.yml")], opts())
    assert outcome.written == [notary / "docker-compose.postgresql.override.yml"]
    assert outcome.command == (
        "docker compose -f docker-compose.postgresql.yml -f docker-compose.postgresql.override.yml"
        " up -d --force-recreate server signer postgresql"
    )


def test_foreign_override_is_never_overwritten(notary: Path) -> None:
    write(notary, "docker-compose.override.yml", "services:\n  server:\n    environment:\n      A: b\n")
    before = snapshot(notary)
    with pytest.raises(ComposeError, match="not written by certkit"):
        apply(notary, [], opts())
    assert snapshot(notary) == before


def test_dry_run_prints_diff_and_writes_nothing(notary: Path) -> None:
    before = snapshot(notary)
    outcome = apply(notary, [], opts(), dry_run=True)
    assert outcome.diff.startswith("--- /dev/null\n+++ b/docker-compose.override.yml\n")
    assert snapshot(notary) == before


# -- check -------------------------------------------------------------------------------------------


def test_check_fails_on_baked_certificates_and_passes_once_mounted(notary: Path) -> None:
    report = check(notary, [], opts(), BEFORE_EXPIRY)
    assert not report.ok
    assert {r.status for r in report.rows} == {ServedFrom.BAKED}
    assert all("baked into the image at build time" in r.problems for r in report.rows)
    apply(notary, [], opts())
    report = check(notary, [], opts(), BEFORE_EXPIRY)
    assert report.ok, [r for r in report.rows if r.problems]
    assert {r.status for r in report.rows} == {ServedFrom.MOUNTED}
    crt = next(r for r in report.rows if r.container_path.endswith("/notary-server.crt"))
    assert crt.not_after == datetime(2023, 4, 22, 13, 9, 33, tzinfo=timezone.utc) and crt.managed


def test_check_fails_on_expired_even_when_mounted(notary: Path) -> None:
    apply(notary, [], opts())
    report = check(notary, [], opts(), AFTER_EXPIRY)
    assert not report.ok
    expired = {r.container_path.rsplit("/", 1)[1] for r in report.rows if r.problems}
    assert expired == {"notary-server.crt", "notary-signer.crt"}


# -- in-place edits of the real files ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.postgresql.yml", "docker-compose.rethink.yml"])
def test_in_place_touches_only_volumes_and_is_idempotent(notary: Path, name: str) -> None:
    original = (notary / name).read_text()
    outcome = apply(notary, [Path(name)], opts(), in_place=True)
    edited = (notary / name).read_text()
    assert outcome.backups == [notary / f"{name}.certkit-bak"]
    assert outcome.backups[0].read_text() == original
    _assert_only_volume_lines_changed(original, edited)
    before = snapshot(notary)
    again = apply(notary, [Path(name)], opts(), in_place=True)
    assert again.diff == "" and again.written == [] and snapshot(notary) == before


def _assert_only_volume_lines_changed(original: str, edited: str) -> None:
    diff = list(difflib.ndiff(original.splitlines(), edited.splitlines()))
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    # A removed line can only be an existing volume entry, now the same entry made read-only.
    for line in removed:
        entry, sep, comment = line.partition(" #")
        assert entry.lstrip().startswith("- "), line
        made_ro = entry.rstrip().removesuffix(":rw") + ":ro"
        replacement = next(a for a in added if a.startswith(made_ro))
        assert replacement.endswith(sep + comment)  # its comment survives too
        added.remove(replacement)
    # Everything else added is a new read-only folder mount.
    for line in added:
        assert line.strip().startswith(
            ("- type: bind", "volumes:", "# certkit:", "source: ./", "target: /", "read_only: true")
        ), line
    for line in original.splitlines():
        if "#" in line and line not in removed:
            assert line in edited.splitlines(), line


# -- files the tests write themselves ----------------------------------------------------------------

TRICKY = """\
# top comment: keep me
x-common: &common   # anchor for shared settings
  restart: unless-stopped
  environment:
    LOG_LEVEL: 'debug'   # single-quoted on purpose

services:
  # the server, built from a tiny Dockerfile
  server:
    <<: *common
    build:
      context: .
      dockerfile: server.Dockerfile   # WORKDIR /app
    command: ["notary-server", "-config=fixtures/server-config.json"]   # flow list
    labels:
      price: "$$5"   # a literal dollar
    volumes:
      # keep this comment
      - ${DATA_DIR:-./data}:/var/lib/data   # interpolated source
      - type: volume
        source: logs
        target: /var/log
  signer:
    <<: *common
    build: {context: ., dockerfile: signer.Dockerfile}
    entrypoint: /usr/bin/env sh
    command: -c "notary-signer -config=fixtures/signer-config.json"
    volumes: [ "./fixtures:/srv/app/fixtures", logs:/var/log ]   # same target: replace, do not duplicate
  db:
    image: postgres:16
    volumes:
      - ./notarysql/postgresql-initdb.d:/docker-entrypoint-initdb.d:rw   # made read-only
volumes:
  logs: {}   # named volume
"""


def tricky(notary: Path) -> Path:
    write(notary, "server.Dockerfile", "FROM scratch\nWORKDIR /app\nCOPY . .\n")
    # Multi-stage, relative WORKDIR: the last stage's /srv + app.
    write(notary, "signer.Dockerfile", "FROM golang AS build\nWORKDIR /src\n\nFROM alpine\nWORKDIR /srv\nWORKDIR app\n")
    (notary / "docker-compose.yml").unlink()
    return write(notary, "compose.yaml", TRICKY)


def test_tricky_file_analysis(notary: Path) -> None:
    tricky(notary)
    analyses = load(notary, [], opts()).analyses
    assert analyses["server"].workdir == "/app" and analyses["server"].workdir_source == "WORKDIR in server.Dockerfile"
    assert analyses["signer"].workdir == "/srv/app"
    signer = {r.container_path: r.status for r in analyses["signer"].reads}
    assert signer["/srv/app/fixtures/notary-signer.crt"] == ServedFrom.MOUNTED_RW
    assert {r.status for r in analyses["server"].reads} == {ServedFrom.BAKED}


def test_tricky_file_in_place_keeps_every_comment_anchor_and_variable(notary: Path) -> None:
    path = tricky(notary)
    outcome = apply(notary, [], opts(), in_place=True)
    edited = path.read_text()
    assert outcome.written == [path]
    for line in TRICKY.splitlines():
        if "#" in line and "fixtures:/srv" not in line and "initdb.d:rw" not in line:
            assert line in edited.splitlines(), line
    assert '"./fixtures:/srv/app/fixtures:ro"' in edited  # quoting style kept
    assert "- ./notarysql/postgresql-initdb.d:/docker-entrypoint-initdb.d:ro   # made read-only" in edited
    assert edited.count("/srv/app/fixtures") == 1  # replaced, not duplicated
    assert "${DATA_DIR:-./data}:/var/lib/data" in edited and '"$$5"' in edited and "<<: *common" in edited
    assert (
        "      - type: bind\n        source: ./fixtures\n        target: /app/fixtures\n        read_only: true\n"
        in edited
    )
    changed = [
        line
        for line in difflib.unified_diff(TRICKY.splitlines(), edited.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len([line for line in changed if line.startswith("-")]) == 2  # the two replaced entries, nothing else
    assert apply(notary, [], opts(), in_place=True).diff == ""


def test_tricky_file_override_mode(notary: Path) -> None:
    tricky(notary)
    outcome = apply(notary, [], opts())
    assert outcome.written == [notary / "compose.override.yaml"]
    assert outcome.command == "docker compose up -d --force-recreate server signer db"
    assert apply(notary, [], opts()).diff == ""


def test_shared_volume_alias_is_refused_in_place_and_file_unchanged(notary: Path) -> None:
    write(notary, "Dockerfile", "FROM scratch\nWORKDIR /app\n")
    text = """\
x-vols: &vols
  - ./fixtures:/app/fixtures
services:
  server:
    build: .
    command: notary-server -config=fixtures/server-config.json
    volumes: *vols
  signer:
    build: .
    command: notary-signer -config=fixtures/signer-config.json
    volumes: *vols
"""
    path = write(notary, "docker-compose.yml", text)
    with pytest.raises(ComposeError, match=r"anchor shared with signer.*Refused: run without --in-place"):
        apply(notary, [], opts(), in_place=True)
    assert path.read_text() == text
    outcome = apply(notary, [], opts())  # the override handles it per service
    assert {m.service for m in outcome.mounts} == {"server", "signer"}


def test_volumes_from_merge_key_are_refused_in_place(notary: Path) -> None:
    write(notary, "Dockerfile", "FROM scratch\nWORKDIR /app\n")
    text = """\
x-base: &base
  volumes:
    - ./fixtures:/app/fixtures
services:
  server:
    <<: *base
    build: .
    command: notary-server -config=fixtures/server-config.json
"""
    path = write(notary, "docker-compose.yml", text)
    with pytest.raises(ComposeError, match=r"`<<` merge of &base"):
        apply(notary, [], opts(), in_place=True)
    assert path.read_text() == text


def test_several_files_and_extends(notary: Path) -> None:
    write(notary, "Dockerfile", "FROM scratch\nWORKDIR /app\nCOPY . .\n")
    write(notary, "base.yml", "services:\n  notary-base:\n    build: .\n")
    write(
        notary,
        "compose.yaml",
        """\
services:
  server:   # extends a service of another file
    extends: {file: base.yml, service: notary-base}
    command: notary-server -config=fixtures/server-config.json
  signer:
    extends:
      file: base.yml
      service: notary-base
    command: notary-signer -config=fixtures/signer-config.json
""",
    )
    write(
        notary,
        "compose.prod.yaml",
        "services:\n  signer:\n    command: notary-signer -config=fixtures/signer-config-local.json\n",
    )
    files = [Path("compose.yaml"), Path("compose.prod.yaml")]
    analyses = load(notary, files, opts()).analyses
    assert "/app/fixtures/signer-config-local.json" in {r.container_path for r in analyses["signer"].reads}
    outcome = apply(notary, files, opts(), dry_run=True)
    assert outcome.command == (
        "docker compose -f compose.yaml -f compose.prod.yaml -f compose.override.yaml "
        "up -d --force-recreate server signer"
    )
    in_place = apply(notary, files, opts(), in_place=True)
    # Each service is edited in the last file that defines it.
    assert sorted(in_place.written) == sorted([notary / "compose.yaml", notary / "compose.prod.yaml"])
    assert "target: /app/fixtures" in (notary / "compose.prod.yaml").read_text()
    assert apply(notary, files, opts(), in_place=True).diff == ""


def test_image_without_build_asks_for_container_dir(notary: Path) -> None:
    text = "services:\n  escrow:\n    image: notary:escrow\n    command: escrow -config=cmd/escrow/config.toml\n"
    path = write(notary, "docker-compose.yml", text)
    with pytest.raises(ComposeError, match=r"--container-dir escrow=/folder/in/container"):
        apply(notary, [], opts())
    assert path.read_text() == text and not (notary / "docker-compose.override.yml").exists()
    outcome = apply(notary, [], opts(container_dirs={"escrow": NOTARY_WD}))
    targets = sorted(m.target for m in outcome.mounts)
    # config.toml names ../../fixtures/notary-escrow.{crt,key}, relative to the config's folder.
    assert targets == [f"{NOTARY_WD}/cmd/escrow", f"{NOTARY_WD}/fixtures"]


def test_mount_that_would_expose_the_ca_store_is_refused(notary: Path) -> None:
    write(notary, "Dockerfile", "FROM scratch\nWORKDIR /app\nCOPY . .\n")
    write(notary, "server.json", '{"server": {"tls_cert_file": "./fixtures/notary-server.crt"}}')
    path = write(
        notary,
        "docker-compose.yml",
        "services:\n  server:\n    build: .\n    command: notary-server -config=server.json\n",
    )
    with pytest.raises(ComposeError, match=r"expose the CA store"):
        apply(notary, [], opts())
    assert not (notary / "docker-compose.override.yml").exists() and path.exists()


def test_single_file_mount_is_refused_with_the_reason(notary: Path) -> None:
    write(
        notary,
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres\n    volumes:\n      - ./fixtures/root-ca.crt:/etc/ssl/root.crt:ro\n",
    )
    with pytest.raises(ComposeError, match=r"moby/moby#22627"):
        apply(notary, [], opts())
    assert not check(notary, [], opts(), BEFORE_EXPIRY).ok


# -- bad input: one clear error, files byte-identical ------------------------------------------------

BAD = {
    "invalid": ("services:\n  server: [unclosed\n", r":3:1: invalid YAML"),
    "duplicate": ("services:\n  server:\n    image: a\n    image: b\n", r":4:5: found duplicate key \"image\""),
    "documents": ("services: {}\n---\nservices: {}\n", r"several YAML documents"),
    "tabs": ("services:\n\tserver:\n\t\timage: a\n", r":2:1: a tab where YAML needs spaces"),
    "not-a-mapping": ("- a\n- b\n", r"top level must be a mapping"),
    "empty": ("", r"empty file"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("in_place", [False, True])
def test_bad_yaml_is_one_clear_error_and_nothing_changes(notary: Path, case: str, in_place: bool) -> None:
    text, message = BAD[case]
    write(notary, "docker-compose.yml", text)
    before = snapshot(notary)
    with pytest.raises(ComposeError, match=message) as info:
        apply(notary, [], opts(), in_place=in_place)
    assert "\n" not in str(info.value) and "docker-compose.yml" in str(info.value)
    assert snapshot(notary) == before


def test_read_only_file_is_refused_in_place(notary: Path) -> None:
    path = notary / "docker-compose.yml"
    original = path.read_bytes()
    path.chmod(0o444)
    with pytest.raises(ComposeError, match="read-only"):
        apply(notary, [], opts(), in_place=True)
    assert path.read_bytes() == original and not (notary / "docker-compose.yml.certkit-bak").exists()


def test_unreadable_file_is_one_clear_error(notary: Path) -> None:
    path = notary / "docker-compose.yml"
    if os.geteuid() == 0:  # root reads through mode 000: make the path unreadable as a file instead
        path.unlink()
        path.mkdir()
        expected = "a folder, not a regular file"
    else:
        path.chmod(0)
        expected = "cannot read"
    with pytest.raises(ComposeError, match=expected):
        apply(notary, [Path("docker-compose.yml")], opts())
    assert not (notary / "docker-compose.override.yml").exists()


# -- renew wiring, small units -----------------------------------------------------------------------


def _renew_step(root: Path, renewed: list[str]) -> list[ComposeOutcome]:
    """The compose step as renew runs it: prepared before the renewal writes, finished after."""
    return finish_after_renew(root, prepare_after_renew(root, load_profile(), environ={}), renewed=renewed)


def test_the_compose_step_of_renew(notary: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _renew_step(empty, []) == []
    outcomes = _renew_step(notary, ["fixtures/notary-server.crt"])
    # The default project first, then every other compose file of the checkout that uses the renewed set.
    written = [o.written for o in outcomes]
    assert written[0] == [notary / "docker-compose.override.yml"]
    assert sorted(p.name for w in written[1:] for p in w) == sorted(
        [
            "development.mysql.override.yml",
            "development.postgresql.override.yml",
            "development.rethink.override.yml",
            "docker-compose.postgresql.override.yml",
            "docker-compose.rethink.override.yml",
        ]
    )
    assert outcomes[0].command == "docker compose up -d --force-recreate server signer"
    assert (
        "docker compose -f docker-compose.postgresql.yml -f docker-compose.postgresql.override.yml up -d "
        "--force-recreate server signer postgresql" in [o.command for o in outcomes]
    )
    again = _renew_step(notary, ["notarysql/postgresql-initdb.d/server.crt"])
    assert [o.written for o in again] == [[]] * len(outcomes)
    assert again[0].restart == []
    postgres = next(o for o in again if o.files[0].name == "docker-compose.postgresql.yml")
    assert postgres.restart == ["postgresql"]


def test_writing_leaves_the_prepared_run_as_it_was(notary: Path) -> None:
    """What renew prepared (and a dry run shows) stays what it was once the step is written: the
    outcome is a new value, not the prepared run with its dry_run flag flipped."""
    prepared = prepare_after_renew(notary, load_profile(), environ={})
    shown = [run.outcome(dry_run=True) for run in prepared]
    before = [(run.restart, run.command, run.pending) for run in prepared]
    done = finish_after_renew(notary, prepared, renewed=["fixtures/notary-server.crt"])
    assert [(run.restart, run.command, run.pending) for run in prepared] == before
    assert all(s.dry_run and s.written == [] for s in shown)
    assert not any(o.dry_run for o in done) and done[0].written == [notary / "docker-compose.override.yml"]


def test_interpolation_and_short_syntax() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$$-$SET", env) == "v-d-e--$-v"
    assert interpolate("${UNSET:-${SET}}", env) == "v"
    with pytest.raises(ComposeError, match="required variable"):
        interpolate("${UNSET:?give it}", env)
    assert split_short_volume("${D:-./x}:/tls:ro") == ["${D:-./x}", "/tls", "ro"]
