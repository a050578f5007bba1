"""The public API (certkit.__all__): it resolves, it keeps `import certkit` light, and docs/api.md's
example runs as written on Notary's real expired checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import certkit

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _readme_example() -> str:
    text = API_DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example:[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/api.md lost its API example"
    return match.group(1)


def test_every_public_name_resolves() -> None:
    assert certkit.__all__[0] == "__version__"
    assert sorted(certkit.__all__[1:]) == sorted(certkit._API)  # the stated list and the lazy table agree
    for name in certkit.__all__:
        assert getattr(certkit, name) is not None, name
    assert callable(certkit.run_renew) and callable(certkit.run_check) and callable(certkit.run_rollback)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="renew_everything"):
        getattr(certkit, "renew_everything")  # noqa: B009 - the name is looked up at run time on purpose


def test_import_certkit_stays_light() -> None:
    code = (
        "import sys, certkit; heavy = [m for m in ('cryptography', 'click', 'jinja2', 'ruamel') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _run_example(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _readme_example()],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "COMPOSE_FILE": ""},
        timeout=300,
    )


def test_the_readme_example_renews_the_expired_reference_checkout(reference_copy: Path) -> None:
    os.rename(reference_copy, reference_copy.parent / "notary")
    done = _run_example(reference_copy.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "before: CRITICAL"
    assert lines[1].startswith("renewed: ") and "notary-server" in lines[1]
    assert lines[2] == "after: OK"


def test_the_readme_example_fails_loudly_without_a_checkout(tmp_path: Path) -> None:
    done = _run_example(tmp_path)  # no ./notary: the check is UNKNOWN and renew refuses
    assert done.returncode != 0
    assert "CertkitError" in done.stderr or "NotALayoutError" in done.stderr


def test_a_refusal_of_the_renewal_is_returned_and_raised_by_raise_for_errors(fresh_layout: Path) -> None:
    """The renewal refuses under its hooks (a damaged key, found when the set is read): returned in the run."""
    from datetime import datetime, timezone

    from certkit.errors import MaterialError

    (fresh_layout / "fixtures/notary-server.key").write_text(
        "-----BEGIN PRIVATE KEY-----\ndamaged\n-----END PRIVATE KEY-----\n"
    )
    now = datetime.now(timezone.utc)
    run = certkit.run_renew(certkit.RenewRequest(fresh_layout, now, certkit.parse_duration("30d"), force=True))
    assert run.result is None and run.exit_code == 12
    with pytest.raises(MaterialError, match="notary-server.key"):
        run.raise_for_errors()


def test_a_checkout_others_may_write_in_is_refused_before_the_lock_and_the_hooks(
    fresh_layout: Path, tmp_path: Path
) -> None:
    """The checkout's own checks (certkit.store.checkout) come first: raised, and no hook runs (a pre hook
    that stops the services would otherwise stop them for a renewal certkit refuses anyway)."""
    from datetime import datetime, timezone

    from certkit.errors import FilesystemError
    from tests.crashcheck import live_files

    (fresh_layout / "fixtures").chmod(0o757)  # others may write there: renew refuses (exit 13)
    before = live_files(fresh_layout)
    ran = tmp_path / "pre-hook-ran"
    request = certkit.RenewRequest(
        fresh_layout, datetime.now(timezone.utc), certkit.parse_duration("30d"), force=True, pre_hook=f"touch {ran}"
    )
    with pytest.raises(FilesystemError, match="fixtures") as refused:
        certkit.run_renew(request)
    assert refused.value.exit_code == 13
    assert not ran.exists()
    assert live_files(fresh_layout) == before


def test_with_a_clock_the_renewal_reads_the_time_after_the_lock_and_hooks(fresh_layout: Path) -> None:
    # `--wait` or a slow pre hook can take minutes: the new certificates start when they are made.
    from datetime import datetime, timedelta, timezone

    from cryptography import x509

    asked = datetime.now(timezone.utc) - timedelta(days=3)  # the moment the command was started
    later = asked + timedelta(days=3)
    reads: list[str] = []

    def clock() -> datetime:
        reads.append("clock")
        return later

    request = certkit.RenewRequest(
        fresh_layout, asked, certkit.parse_duration("30d"), force=True, compose=False, pre_hook="true", clock=clock
    )
    run = certkit.run_renew(request)
    run.raise_for_errors()
    leaf = x509.load_pem_x509_certificate((fresh_layout / "fixtures/notary-server.crt").read_bytes())
    assert reads == ["clock"]
    assert leaf.not_valid_before_utc > asked + timedelta(days=2)  # issued at the clock's time, not at `asked`
