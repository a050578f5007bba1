"""`certkit compose` from the command line: output, exit codes, one-line errors, files left alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from certkit.cli import main
from tests.compose_helpers import NOTARY_WD, copy_reference, write


@pytest.fixture
def notary(reference_dir: Path, tmp_path: Path) -> Path:
    return copy_reference(reference_dir, tmp_path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["compose", *args])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_compose_writes_override_and_prints_the_command(notary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(notary))
    assert code == 0, err
    assert "wrote docker-compose.override.yml" in out
    assert "  docker compose up -d --force-recreate server signer" in out
    code, out, _ = run(capsys, str(notary))
    assert code == 0 and "no change" in out
    _, out, _ = run(capsys, str(notary), "--check")
    assert f"server: working folder {NOTARY_WD} (WORKDIR in server.Dockerfile)" in out  # says where it came from


def test_dry_run_prints_a_unified_diff_only(notary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(notary), "--dry-run", "--in-place")
    assert code == 0
    assert "--- a/docker-compose.yml\n+++ b/docker-compose.yml\n" in out
    assert f"+        target: {NOTARY_WD}/fixtures" in out
    assert not (notary / "docker-compose.yml.certkit-bak").exists()
    assert not (notary / "docker-compose.override.yml").exists()


def test_check_exit_codes_and_json(notary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(notary), "--check")
    assert code == 15
    assert "baked into the image at build time" in out and out.rstrip().splitlines()[-1].startswith("FAILED")
    run(capsys, str(notary))
    code, out, _ = run(capsys, str(notary), "--check", "--json")
    report = json.loads(out)
    assert code == 15  # mounted now, but the reference leaves expired in 2023
    assert {r["status"] for r in report["rows"]} == {"mounted"}
    assert {p for r in report["rows"] for p in r["problems"]} == {"expired on 2023-04-22"}


def test_bad_file_is_one_line_on_stderr(notary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(notary, "docker-compose.yml", "services:\n  server:\n    image: a\n    image: b\n")
    before = path.read_bytes()
    code, out, err = run(capsys, str(notary), "--in-place")
    assert code == 15 and out == ""
    assert err.count("\n") == 1 and err.startswith("certkit: error: ") and "duplicate key" in err
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("services:\n  server:\n    image: a\n    volumes: 7\n", "`volumes` must be a list, not int 7"),
        ("services:\n  server:\n    image: a\n    environment: 5\n", "`environment` must be a mapping or a list"),
        ("services:\n  server:\n    build: [1]\n", "`build` must be a string or a mapping"),
    ],
)
def test_wrongly_shaped_fields_are_one_line(
    notary: Path, capsys: pytest.CaptureFixture[str], body: str, needle: str
) -> None:
    path = write(notary, "docker-compose.yml", body)
    code, out, err = run(capsys, str(notary))
    assert code == 15 and out == ""
    assert err.count("\n") == 1 and needle in err and "service 'server'" in err
    assert path.read_bytes() == body.encode()
    assert not (notary / "docker-compose.override.yml").exists()


def test_missing_container_dir_is_explained_and_the_answer_remembered(
    notary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        notary,
        "docker-compose.yml",
        "services:\n  escrow:\n    image: notary:escrow\n    command: escrow -config=cmd/escrow/config.toml\n",
    )
    code, _, err = run(capsys, str(notary))
    assert code == 15 and "--container-dir escrow=/folder/in/container" in err
    assert not (notary / "docker-compose.override.yml").exists()
    code, _, err = run(capsys, str(notary), "--container-dir", "relative/dir")
    assert code == 2 and "absolute" in err
    # The remedy exactly as printed (with the folder filled in), then never again.
    code, out, err = run(capsys, str(notary), "--container-dir", f"escrow={NOTARY_WD}")
    assert code == 0, err
    assert json.loads((notary / ".certkit/container-dirs").read_text()) == {"escrow": NOTARY_WD}
    assert (notary / ".certkit/container-dirs").stat().st_mode & 0o777 == 0o600
    code, out, err = run(capsys, str(notary), "--check")
    assert code == 15 and "escrow" in out and "container-dir" not in err  # expired, but analysed without the flag
    code, out, err = run(capsys, str(notary))
    assert code == 0 and "no change" in out, err


def test_container_dir_without_service_applies_to_every_service(
    notary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        notary,
        "docker-compose.yml",
        "services:\n  server:\n    image: notary:server\n"
        "    command: notary-server -config=fixtures/server-config.json\n"
        "  signer:\n    image: notary:signer\n"
        "    command: notary-signer -config=fixtures/signer-config.json\n",
    )
    code, _, err = run(capsys, str(notary), "--container-dir", NOTARY_WD)
    assert code == 0, err
    text = (notary / "docker-compose.override.yml").read_text()
    assert text.count(f"target: {NOTARY_WD}/fixtures") == 2


def test_check_does_not_combine_with_in_place(notary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(notary), "--check", "--in-place")
    assert code == 2 and "--check" in err


def test_no_compose_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "server-config.json").write_text("{}\n")  # a checkout, without compose files
    code, _, err = run(capsys, str(tmp_path))
    assert code == 15 and "no compose file" in err and "-f" in err


def test_renew_runs_the_compose_step_unless_told_not_to(notary: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(notary / ".certkit")  # the placeholder CA key of copy_reference is not a real key
    with pytest.raises(SystemExit) as info:
        main(["renew", str(notary), "--no-compose"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert (
        "compose: wrote" not in out
        and "--force-recreate server" not in out
        and not (notary / "docker-compose.override.yml").exists()
    )
    with pytest.raises(SystemExit) as info:
        main(["renew", str(notary), "--force", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    data = json.loads(out)  # one JSON document: the renewal and its compose step
    assert data["compose"][0]["written"] == [str(notary / "docker-compose.override.yml")]
    assert data["compose"][0]["command"] == "docker compose up -d --force-recreate server signer"
    assert len(data["compose"]) == 6  # every compose file of the checkout that uses the renewed set
    # Renewed and mounted: the pre-deploy check passes now.
    code, out, _ = run(capsys, str(notary), "--check")
    assert code == 0, out
