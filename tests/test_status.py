"""`certkit status`: the set as a tree, on Notary's real checkout before and after renewal, and broken sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.test_cli_renew import certkit


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = run_cli(capsys, "status", *args)
    assert err == "" or code != 0, err
    return code, out


def test_the_expired_checkout_is_critical_and_every_node_says_why(
    reference_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(capsys, str(reference_copy))
    assert code == 2
    assert "└─ intermediate-ca  " in out and "   ├─ notary-server  CRITICAL  fixtures/notary-server.crt" in out
    assert "problem: expired 2023-04-22" in out
    assert "no CA key: the next renewal below it makes a new CA" in out  # the script deleted them
    assert out.rstrip().endswith("13 certificates: CRITICAL")


def test_after_renew_everything_is_ok_mounted_and_the_tree_is_complete(
    reference_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert certkit("renew", str(reference_copy)).returncode == 0
    code, out = status(capsys, str(reference_copy), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["schema"] == "certkit.status/1" and data["status"] == "OK"
    roots = {r["name"]: r for r in data["roots"]}
    assert list(roots) == ["root-ca", "self-signed-docker", "self-signed-secure", "database-ca", "rethinkdb"]
    intermediate = roots["root-ca"]["children"][0]
    assert intermediate["name"] == "intermediate-ca"
    assert [c["name"] for c in intermediate["children"]] == [
        "notary-server",
        "notary-signer",
        "notary-escrow",
        "secure.example.com",
    ]
    server = intermediate["children"][0]
    assert server["key"] == "RSA-2048" and server["days_left"] >= 748
    assert "docker-compose.yml: server" in server["mounted_by"] and "docker-compose.yml: signer" in server["mounted_by"]
    assert roots["root-ca"]["copies"] == ["cmd/notary/root-ca.crt"]
    code, text = status(capsys, str(reference_copy))
    assert "mounted read-only by server, signer (in 6 compose files)" in text


def test_a_broken_set_still_prints_the_whole_tree(reference_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # With the compose step: a checkout renewed with --no-compose is BAKED (its images' copies would run).
    assert certkit("renew", str(reference_copy)).returncode == 0
    (reference_copy / "fixtures/notary-signer.crt").write_text("garbage\n")
    (reference_copy / "fixtures/notary-escrow.crt").unlink()  # the key stays: a key without its certificate
    (reference_copy / "cmd/notary/root-ca.crt").write_text("stale copy\n")
    code, out = status(capsys, str(reference_copy))
    assert code == 2
    assert "notary-signer  CRITICAL  fixtures/notary-signer.crt" in out and "problem: not a PEM certificate" in out
    assert "notary-escrow  CRITICAL  fixtures/notary-escrow.crt" in out and "problem: missing" in out
    assert "copy cmd/notary/root-ca.crt differs from fixtures/root-ca.crt" in out
    assert "notary-server  OK" in out  # the healthy nodes are still there


def test_not_a_notary_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # One line and renew's code (10), not a tree of missing files (issue 20).
    code, out, err = run_cli(capsys, "status", str(tmp_path))
    assert code == 10 and out == "" and err.count("\n") == 1
    assert err.startswith(f"certkit: error: {tmp_path}: not a Notary checkout")


def test_connect_marks_a_stale_server(reference_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.notary_harness import notary_server_only

    assert certkit("renew", str(reference_copy)).returncode == 0  # --no-compose would be BAKED
    with notary_server_only(reference_copy, tls_dir="fixtures") as server:
        address = f"127.0.0.1:{server.port}"
        code, out = status(capsys, str(reference_copy), "--connect", address)
        assert code == 0 and f"{address}: serves this certificate" in out, out
        assert certkit("renew", "--force", str(reference_copy)).returncode == 0
        code, out = status(capsys, str(reference_copy), "--connect", address)
        assert code == 2 and f"{address}: STALE, serves another certificate" in out, out
        # A restart would keep a container made before the override: the hint recreates it (issue 20).
        assert "recreate its container: `docker compose up -d --force-recreate SERVICE`" in out, out


@pytest.mark.parametrize("args", [["--bogus"], ["--warn", "30M"], ["--no-engine", "--docker-host", "unix:///x.sock"]])
def test_a_usage_error_is_unknown_not_critical(
    reference_copy: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    """status uses the Nagios codes (its --help says 3 for a usage error): click's 2 would read as CRITICAL
    to a monitor, for a typo."""
    code, out, err = run_cli(capsys, "status", *args, str(reference_copy))
    assert code == 3 and out == "" and err, (code, out, err)


def test_quiet_prints_nothing_for_a_healthy_set_and_everything_for_a_sick_one(
    reference_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--quiet is for cron mail: a healthy set prints nothing, even with a note (here: no engine to ask);
    a set with a problem prints the tree."""
    assert certkit("renew", str(reference_copy)).returncode == 0
    code, out, err = run_cli(capsys, "status", "--quiet", str(reference_copy))
    assert (code, out) == (0, ""), out + err
    (reference_copy / "fixtures/notary-signer.crt").write_text("garbage\n")
    code, out, err = run_cli(capsys, "status", "--quiet", str(reference_copy))
    assert code == 2 and "notary-signer  CRITICAL" in out
