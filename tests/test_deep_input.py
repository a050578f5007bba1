"""Issue 19, item 7: documents and folders nested too deep for a recursive reader.

100,000 ``[`` in a Notary config, a compose file 1,000 lists deep (Docker Compose itself loads
it) and a folder 1,500 levels below fixtures/ (git clones it) ended every command in
``internal error: RecursionError`` (exit 1: Nagios WARNING while the set was CRITICAL, and no
--output file).  Now each is the reader's own one-line error with its documented code, and
check-expiry reports that input UNKNOWN with every other finding, and writes its report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.test_cli_renew import assert_one_line_error, certkit, snapshot

DEEP_JSON = "[" * 100_000
MAX_NESTING = 100  # the documented bound (README, certkit.bounded.MAX_NESTING)
LEVELS = 1000


def deep_yaml_lists(levels: int = LEVELS) -> str:
    """``x-deep:`` holding ``levels`` block lists, one inside the other."""
    return "x-deep:\n" + "".join("  " * i + "-\n" for i in range(1, levels)) + "  " * levels + "- end\n"


def deep_folder(top: Path, levels: int) -> Path:
    """``levels`` nested folders below ``top`` (made by handle: the path grows past what one
    call should be handed), with a certificate-named file at the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("deep.crt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as handle:
            handle.write("not reached\n")
    finally:
        os.close(fd)
    return top


def remove_deep(top: Path, levels: int) -> None:
    # Bottom up, by path: shutil.rmtree (pytest's clean-up) recurses once per level.
    path = top / "/".join(["d"] * levels)
    (path / "deep.crt").unlink()
    for _ in range(levels):
        path.rmdir()
        path = path.parent


def _samples(text: str, path_end: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("certkit_cert_status{") and path_end in line]


# --------------------------------------------------------------------------- check-expiry


def test_check_expiry_a_deep_config_is_unknown_and_the_report_is_written(
    fresh_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fresh_layout / "fixtures/server-config.json").write_text(DEEP_JSON)
    code, out, err = run_cli(capsys, "check-expiry", str(fresh_layout))
    assert code == 3 and err == "", err  # UNKNOWN: everything else is valid
    rows = [line for line in out.splitlines() if line.startswith(("OK", "UNKNOWN", "CRITICAL", "WARNING"))]
    assert [r for r in rows if r.startswith("UNKNOWN")] == [
        f"UNKNOWN           -                 {fresh_layout}/fixtures/server-config.json  cannot read this Notary "
        f"config: nested deeper than {MAX_NESTING} levels (certkit reads no deeper)"
    ]
    assert sum(r.startswith("OK") for r in rows) >= 15  # the set's certificates are all still judged
    prom = tmp_path / "certkit.prom"
    code, out, err = run_cli(capsys, "check-expiry", "--format", "prometheus", "--output", str(prom), str(fresh_layout))
    assert code == 3 and out == err == ""
    text = prom.read_text()
    assert [line.rsplit(" ", 1)[1] for line in _samples(text, "fixtures/server-config.json")] == ["3"]
    assert _samples(text, "fixtures/notary-server.crt") and "certkit_check_status 3" in text


def test_check_expiry_a_deep_escrow_toml_is_unknown(fresh_layout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    escrow = fresh_layout / "cmd/escrow/config.toml"
    escrow.parent.mkdir(parents=True)
    escrow.write_text("a = " + "[" * 100_000)
    code, out, _ = run_cli(capsys, "check-expiry", "--format", "json", str(fresh_layout))
    assert code == 3
    unknown = [r for r in json.loads(out)["certificates"] if r["status"] == "UNKNOWN"]
    assert [(r["path"], r["reasons"]) for r in unknown] == [
        (
            f"{fresh_layout}/cmd/escrow/config.toml",
            [f"cannot read this Notary config: nested deeper than {MAX_NESTING} levels (certkit reads no deeper)"],
        )
    ]


def test_check_expiry_a_deep_compose_file_is_unknown_with_every_other_finding(
    reference_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compose = reference_copy / "docker-compose.yml"
    compose.write_text(compose.read_text() + deep_yaml_lists())
    prom = tmp_path / "certkit.prom"
    code, out, err = run_cli(
        capsys, "check-expiry", "--format", "prometheus", "--output", str(prom), str(reference_copy)
    )
    assert code == 2 and out == err == ""  # CRITICAL: Notary's expired leaves still win
    text = prom.read_text()
    assert [line.rsplit(" ", 1)[1] for line in _samples(text, 'path="' + str(compose) + '"')] == ["3"]
    assert _samples(text, "fixtures/notary-server.crt")  # the other findings are all there
    code, out, _ = run_cli(capsys, "check-expiry", str(reference_copy))
    deep = [line for line in out.splitlines() if "docker-compose.yml" in line and line.startswith("UNKNOWN")]
    assert len(deep) == 1 and f"nested deeper than {MAX_NESTING} levels" in deep[0]
    assert "Docker Compose may load it, certkit cannot analyse it" in deep[0]


def test_check_expiry_a_deep_folder_is_walked_to_a_bound(
    fresh_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = fresh_layout / "fixtures/tree"
    top.mkdir()
    deep_folder(top, 1500)
    try:
        code, out, err = run_cli(capsys, "check-expiry", "--format", "json", str(fresh_layout))
    finally:
        remove_deep(top, 1500)
    assert code == 3 and err == "", err
    records = json.loads(out)["certificates"]
    unknown = [r for r in records if r["status"] == "UNKNOWN"]
    assert len(unknown) == 1 and unknown[0]["path"].startswith(f"{top}/d/d/")
    assert unknown[0]["reasons"] == [
        "folder nested more than 64 levels below the folder checked: not walked further "
        "(certificates below it are not checked)"
    ]
    assert sum(r["status"] == "OK" for r in records) >= 15


# --------------------------------------------------------------------------- the other commands


@pytest.mark.parametrize("command", ["renew", "compose"])
def test_renew_and_compose_refuse_a_deep_compose_file_in_one_line(reference_copy: Path, command: str) -> None:
    compose = reference_copy / "docker-compose.yml"
    compose.write_text(compose.read_text() + deep_yaml_lists())
    before = snapshot(reference_copy)
    result = certkit(command, str(reference_copy))
    assert_one_line_error(result, 15, "docker-compose.yml", f"nested deeper than {MAX_NESTING} levels")
    assert snapshot(reference_copy) == before


def test_status_notes_a_deep_compose_file(reference_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compose = reference_copy / "docker-compose.yml"
    compose.write_text(compose.read_text() + deep_yaml_lists())
    code, out, err = run_cli(capsys, "status", str(reference_copy))
    assert code == 2 and err == ""  # the expired leaves
    assert f"docker-compose.yml: nested deeper than {MAX_NESTING} levels" in out


@pytest.mark.parametrize("command", ["renew", "compose", "status"])
def test_a_deep_config_is_a_note_of_the_compose_step(
    reference_copy: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A config the compose step cannot read is a note (its TLS paths unknown), as an invalid one was."""
    (reference_copy / "fixtures/server-config.json").write_text(DEEP_JSON)
    args = [command, "--dry-run", str(reference_copy)] if command != "status" else [command, str(reference_copy)]
    code, out, err = run_cli(capsys, *args)
    assert "RecursionError" not in out + err and "internal error" not in err, err
    assert code in (0, 2), (code, err)  # status: Notary's expired leaves


def test_a_deep_exec_form_in_a_dockerfile_is_one_line(reference_copy: Path) -> None:
    dockerfile = reference_copy / "server.Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nCOPY " + DEEP_JSON + "\n")
    result = certkit("compose", str(reference_copy))
    assert_one_line_error(result, 15, "server.Dockerfile", f"nested deeper than {MAX_NESTING} levels")


def test_a_deep_profile_is_a_profile_error(tmp_path: Path, fresh_layout: Path) -> None:
    profile = tmp_path / "deep.toml"
    profile.write_text('extends = "notary"\nx = ' + "[" * 100_000)
    result = certkit("renew", "--profile", str(profile), str(fresh_layout))
    assert_one_line_error(result, 11, str(profile), f"nested deeper than {MAX_NESTING} levels")


# --------------------------------------------------------------------------- the bound itself


def test_parse_nested_turns_the_parsers_recursion_into_too_deep() -> None:
    from certkit.bounded import MAX_NESTING as BOUND
    from certkit.bounded import TooDeep, parse_nested

    assert BOUND == MAX_NESTING
    with pytest.raises(TooDeep):
        parse_nested(lambda: json.loads(DEEP_JSON + "]" * 100_000))
    shallow = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert parse_nested(lambda: json.loads(shallow)) is not None
    with pytest.raises(TooDeep):  # one more level than allowed, well within Python's own recursion
        parse_nested(lambda: json.loads("[" + shallow + "]"))


def test_check_nesting_walks_shared_nodes_once_and_finds_cycles() -> None:
    from certkit.bounded import TooDeep, check_nesting

    # A YAML alias bomb's shape: each level lists the one below nine times (9**40 paths, 40 nodes).
    node: list[object] = ["lol"]
    for _ in range(40):
        node = [node] * 9
    check_nesting(node)  # 41 levels: fine, and quick although the tree is enormous
    cycle: list[object] = []
    cycle.append({"a": cycle})
    with pytest.raises(TooDeep):
        check_nesting(cycle)
