"""`check-expiry --connect` against the real notary-server (Debian's notary package).

The scenario of the Notary expiry issues: the files on disk are renewed but the running
server still serves the old certificate until it is restarted.  check-expiry must say
STALE (CRITICAL) until the restart, then OK.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from certkit.cli import cli, main
from tests.notary_harness import notary_server_only

pytestmark = pytest.mark.e2e


def _certkit(*args: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == 0


def _check(server_port: int, layout: Path) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(
        cli,
        [
            "check-expiry",
            "--connect",
            f"127.0.0.1:{server_port}",
            "--servername",
            "notary-server",
            "--format",
            "json",
            "--timeout",
            "5",
            str(layout / "fixtures"),
        ],
        catch_exceptions=False,
    )
    doc = json.loads(result.output)
    return result.exit_code, [r for r in doc["certificates"] if r["source"] == "endpoint"]


def test_connect_reports_stale_until_the_server_is_restarted(tmp_path: Path) -> None:
    layout = tmp_path / "notary"
    _certkit("init", str(layout))
    disk_serial = format(_leaf_serial(layout), "X")
    with notary_server_only(layout, tls_dir="fixtures") as server:
        code, served = _check(server.port, layout)
        assert code == 0, served
        assert served[0]["index"] == 0 and served[0]["serial"] == disk_serial and served[0]["status"] == "OK"
        # The served chain is the bundle: leaf, then the intermediate.
        assert [r["index"] for r in served] == [0, 1]
        assert str(served[1]["subject"]).startswith("CN=Notary Intermediate Testing CA")

        _certkit("renew", str(layout), "--force")
        new_serial = format(_leaf_serial(layout), "X")
        assert new_serial != disk_serial
        code, served = _check(server.port, layout)
        assert code == 2
        leaf = served[0]
        assert leaf["serial"] == disk_serial  # still the old one
        assert leaf["status"] == "CRITICAL" and leaf["codes"] == ["stale"]
        reason = str(leaf["reasons"])
        assert (
            "not reloaded by the server: recreate its container: `docker compose up -d --force-recreate SERVICE`"
            in reason
        )
        assert new_serial in reason and "notary-server.crt" in reason

        server.restart()
        code, served = _check(server.port, layout)
        assert code == 0, served
        assert served[0]["serial"] == new_serial and served[0]["status"] == "OK"


def test_connect_flags_a_name_the_served_leaf_does_not_cover(tmp_path: Path) -> None:
    layout = tmp_path / "notary"
    _certkit("init", str(layout))
    with notary_server_only(layout, tls_dir="fixtures") as server:
        result = CliRunner().invoke(
            cli,
            [
                "check-expiry",
                "--connect",
                f"127.0.0.1:{server.port}",
                "--servername",
                "registry.example.com",
            ],
            catch_exceptions=False,
        )
    assert result.exit_code == 2
    row = [line for line in result.output.splitlines() if f"127.0.0.1:{server.port}#0" in line][0]
    assert row.startswith("CRITICAL") and "does not cover registry.example.com" in row


def _leaf_serial(layout: Path) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificates((layout / "fixtures" / "notary-server.crt").read_bytes())[0].serial_number
