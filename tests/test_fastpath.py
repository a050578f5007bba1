"""The cron case: `certkit renew` with nothing due decides from its record, without the renewal machinery,
and any change the record does not vouch for sends it down the full path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.test_cli_renew import certkit, snapshot

FAST = "nothing is due: the earliest certificate expires"


def modules_loaded(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `certkit renew` in-process in a child and list the modules it imported."""
    code = (
        "import sys, runpy\nsys.argv = ['certkit', 'renew', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('certkit', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("MODULES "))
    return result, set(line.split()[1:])


@pytest.fixture
def renewed(reference_copy: Path) -> Path:
    first = certkit("renew", str(reference_copy))
    assert first.returncode == 0, first.stderr
    return reference_copy


def test_nothing_due_is_decided_without_cryptography(renewed: Path) -> None:
    before = snapshot(renewed)
    result, modules = modules_loaded(renewed)
    assert FAST in result.stdout, result.stdout + result.stderr
    heavy = {"cryptography", "certkit.pki.renew", "ruamel", "certkit.workflows.hooks", "certkit.profile", "jinja2"}
    assert not heavy & {
        m.split(".")[0] if m.startswith(("cryptography", "ruamel", "jinja2")) else m for m in modules
    }, sorted(heavy & modules)
    assert snapshot(renewed) == before
    record = renewed / ".certkit/nothing-due"
    assert record.stat().st_mode & 0o777 == 0o600
    earliest = json.loads(record.read_text())["earliest_not_after"]
    assert earliest.startswith(f"{datetime.now(timezone.utc).year + 2}")  # 750-day leaves


def test_the_window_reaching_the_earliest_expiry_takes_the_full_path(renewed: Path) -> None:
    record = json.loads((renewed / ".certkit/nothing-due").read_text())
    earliest = datetime.fromisoformat(record["earliest_not_after"])
    days = (earliest - datetime.now(timezone.utc)).days
    result = certkit("renew", "--no-compose", "--within", f"{days - 1}d", str(renewed))
    assert FAST in result.stdout
    result = certkit("renew", "--no-compose", "--within", f"{days + 1}d", str(renewed))
    assert FAST not in result.stdout and "renewed" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "change",
    ["expired-cert", "loose-key", "world-writable-root", "foreign-record", "pending-transaction", "other-profile"],
)
def test_any_change_the_record_does_not_vouch_for_takes_the_full_path(
    renewed: Path, reference_dir: Path, tmp_path: Path, change: str
) -> None:
    args = ["renew", "--no-compose"]
    expected: tuple[str, int | None]
    if change == "expired-cert":  # the expired file from the clone is back: renewed again
        (renewed / "fixtures/notary-server.crt").write_bytes(
            (reference_dir / "fixtures/notary-server.crt").read_bytes()
        )
        expected = ("renewed", 0)
    elif change == "loose-key":
        (renewed / "fixtures/notary-server.key").chmod(0o644)
        expected = ("set to 0600", 0)
    elif change == "world-writable-root":
        renewed.chmod(0o777)
        expected = ("", 13)
    elif change == "foreign-record":
        (renewed / ".certkit/nothing-due").chmod(0o644)  # not certkit's own mode: not trusted
        expected = ("nothing is due; no file changed", 0)
    elif change == "pending-transaction":
        (renewed / ".certkit/txn/x.intent").write_text("{}")
        expected = ("", None)
    else:
        profile = tmp_path / "p.toml"
        profile.write_text('extends = "notary"\n')
        args += ["--profile", str(profile)]
        expected = ("nothing is due; no file changed", 0)
    result = certkit(*args, str(renewed))
    assert FAST not in result.stdout, result.stdout
    text, code = expected
    assert text in result.stdout + result.stderr
    if code is not None:
        assert result.returncode == code, result.stderr


def test_files_regenerated_elsewhere_still_get_mounted(reference_copy: Path) -> None:
    """Renewed by other means (here `--no-compose`, as Notary's script would leave them): the next plain
    `certkit renew` has nothing to renew but still writes the override, and then takes the fast path."""
    first = certkit("renew", "--no-compose", str(reference_copy))
    assert first.returncode == 0 and not (reference_copy / "docker-compose.override.yml").exists()
    second = certkit("renew", str(reference_copy))
    assert second.returncode == 0, second.stderr
    assert FAST not in second.stdout and "compose: wrote docker-compose.override.yml" in second.stdout
    assert second.stderr.startswith(f"next: cd {reference_copy} && docker compose up -d --force-recreate server signer")
    third = certkit("renew", str(reference_copy))
    assert FAST in third.stdout
    (reference_copy / "docker-compose.override.yml").unlink()  # a compose input changed: full path again
    fourth = certkit("renew", str(reference_copy))
    assert FAST not in fourth.stdout and "compose: wrote docker-compose.override.yml" in fourth.stdout


def test_every_built_in_profile_takes_the_fast_path(fresh_layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second built-in profile is answered from the record too: the fast path and the record that
    answers it name the profile the same way (they did not: the fast path kept its own list of names)."""
    import certkit.defaults
    import certkit.profile
    from certkit.durations import parse_duration
    from certkit.workflows.renew import RenewRequest, run_renew

    notary = certkit.profile._builtin_data("notary")
    monkeypatch.setattr(certkit.defaults, "BUILTIN_PROFILES", ("notary", "notary-twin"))
    monkeypatch.setattr(certkit.profile, "_builtin_data", lambda name: dict(notary))
    request = RenewRequest(
        fresh_layout, datetime.now(timezone.utc), parse_duration("30d"), profile_source="notary-twin", compose=False
    )
    first = run_renew(request)
    assert first.result is not None and not first.errors
    assert json.loads((fresh_layout / ".certkit/nothing-due").read_text())["profile"] == "built-in:notary-twin"
    second = run_renew(request)
    assert second.result is None and second.nothing_due_until is not None
