"""`certkit rollback --list`: each generation with its time, what it changed, the root's and the server's notAfter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.test_cli_renew import certkit


def test_list_tells_generations_apart(reference_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "rollback", "--list", str(reference_copy))
    assert code == 0 and "no generations kept yet" in out
    assert certkit("renew", "--no-compose", str(reference_copy)).returncode == 0
    assert certkit("renew", "--no-compose", "--within", "800d", str(reference_copy)).returncode == 0
    code, out, _ = run_cli(capsys, "rollback", "--list", str(reference_copy))
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("  0 ") and "notary-server until 2023-04-22" in lines[0]  # as cloned
    assert lines[1].strip() == "the set certkit first found"
    assert lines[2].startswith("  1 ") and "notary-server until 2023" not in lines[2]
    # The keys of the clone were 0644: generation 1 set them to 0600, and says so.
    assert lines[4].strip().startswith("set the mode of 8 files: fixtures/database/notary-server-key.pem 0644 -> 0600")
    assert lines[5].startswith("  2  LIVE") and "changed 6 files: fixtures/notary-escrow.crt" in lines[6]
    code, out, _ = run_cli(capsys, "rollback", "--list", "--json", str(reference_copy))
    data = json.loads(out)
    assert data["live"] == 2 and [g["number"] for g in data["generations"]] == [0, 1, 2]
    second = data["generations"][2]
    assert "fixtures/notary-server.crt" in second["changed"] and "fixtures/root-ca.crt" not in second["changed"]
    assert second["not_after"]["root-ca"] == data["generations"][1]["not_after"]["root-ca"]  # the CA was kept
    code, out, _ = run_cli(capsys, "rollback", "--to", "1", str(reference_copy))
    assert code == 0
    code, out, _ = run_cli(capsys, "rollback", "--list", str(reference_copy))
    assert out.splitlines()[2].startswith("  1  LIVE")
