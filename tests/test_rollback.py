"""Generations and `certkit rollback`: back to an earlier set, all at once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from certkit.cli import cli
from certkit.durations import parse_duration
from certkit.errors import CertkitError
from certkit.profile import load_profile
from certkit.renew import renew
from tests.crashcheck import live_files, problems

NOW = datetime.now(timezone.utc)


def invoke(*args: str) -> tuple[int, str]:
    """Run the real entry point (with its error mapping); stdout and stderr together."""
    runner = CliRunner()
    result = runner.invoke(cli, list(args))
    if isinstance(result.exception, CertkitError):
        return result.exception.exit_code, str(result.exception)
    return result.exit_code, result.output


def test_rollback_restores_the_previous_generation(fresh_layout: Path) -> None:
    original = live_files(fresh_layout)  # `certkit init` recorded this as generation 1
    renew(fresh_layout, load_profile(), NOW, parse_duration("0"), force=True, rotate_keys=True)  # gen 2
    second = live_files(fresh_layout)
    renew(fresh_layout, load_profile(), NOW, parse_duration("0"), force=True, rotate_keys=True)  # gen 3
    assert live_files(fresh_layout) != second
    code, out = invoke("rollback", str(fresh_layout), "--list", "--json")
    assert code == 0 and json.loads(out) == {"live": 3, "generations": [1, 2, 3]}

    code, out = invoke("rollback", str(fresh_layout))
    assert code == 0, out
    assert "generation 2 is live (was 3)" in out
    assert live_files(fresh_layout) == second
    assert not problems(fresh_layout)

    code, out = invoke("rollback", str(fresh_layout), "--to", "1")
    assert code == 0, out
    assert live_files(fresh_layout) == original


def test_generation_zero_is_the_set_certkit_found(reference_copy: Path) -> None:
    original = live_files(reference_copy)
    renew(reference_copy, load_profile(), NOW, parse_duration("30d"))
    code, out = invoke("rollback", str(reference_copy), "--to", "0")
    assert code == 0, out
    after = live_files(reference_copy)
    # Every file of the checkout is back; only the CA keys certkit created stay (nothing is lost).
    assert {k: v for k, v in after.items() if not k.startswith(".certkit/")} == original


def test_keep_prunes_old_generations(fresh_layout: Path) -> None:
    for _ in range(4):
        renew(fresh_layout, load_profile(), NOW, parse_duration("0"), force=True, keep=2)
    code, out = invoke("rollback", str(fresh_layout), "--list", "--json")
    assert json.loads(out) == {"live": 5, "generations": [4, 5]}  # init found nothing: no generation 0


def test_generation_zero_survives_pruning(reference_copy: Path) -> None:
    original = live_files(reference_copy)
    for _ in range(4):
        renew(reference_copy, load_profile(), NOW, parse_duration("0"), force=True, keep=2)
    code, out = invoke("rollback", str(reference_copy), "--list", "--json")
    assert json.loads(out) == {"live": 4, "generations": [0, 3, 4]}
    assert invoke("rollback", str(reference_copy), "--to", "0")[0] == 0
    after = live_files(reference_copy)
    assert {k: v for k, v in after.items() if not k.startswith(".certkit/")} == original


def test_nothing_to_roll_back_to(fresh_layout: Path) -> None:
    code, out = invoke("rollback", str(fresh_layout))
    assert code == 19
    assert "no generation older than the live one" in out
    never = fresh_layout.parent / "never"
    never.mkdir()
    (never / "fixtures").mkdir()
    (never / "fixtures/root-ca.crt").write_bytes((fresh_layout / "fixtures/root-ca.crt").read_bytes())
    code, out = invoke("rollback", str(never))
    assert code == 19 and "has not renewed anything here yet" in out
    code, out = invoke("rollback", str(fresh_layout), "--to", "7")
    assert code == 19 and "generation 7 does not exist" in out
