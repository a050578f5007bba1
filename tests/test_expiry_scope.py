"""check-expiry in a Notary checkout judges what the services use; the Go test fixtures are UNUSED.

End to end on the real checkout (../shared/notary-reference, copied): the expired clone fails
naming its deployed files, the same clone renewed by `certkit renew` passes, both through the
command line a user types and through the exact commands `certkit schedule` writes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certkit.deploy import schedule
from certkit.store.pathglob import ExcludeRules
from tests.certfactory import around, make_ca, make_leaf
from tests.conftest import reference_path

CERTKIT = str(Path(sys.executable).with_name("certkit"))  # the venv's console script
UNUSED = ("trustpinning/ca.crt", "trustpinning/test.crt")
# Deployed leaves of the reference that are expired in 2026-11 (see ../shared/notary-facts.md).
EXPIRED_DEPLOYED = (
    "fixtures/notary-server.crt",
    "fixtures/notary-signer.crt",
    "fixtures/notary-escrow.crt",
    "fixtures/database/notary-server.pem",
    "fixtures/rethinkdb/cert.pem",
    "notarysql/postgresql-initdb.d/server.crt",
)
# As cron and systemd start a job: a bare PATH, no certkit on it, another working folder.
BARE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return target


def certkit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A timeout, so a regression that hangs fails instead of blocking the suite.
    return subprocess.run(
        [CERTKIT, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def expired_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real checkout as cloned: every deployed leaf expired."""
    return _copy(reference_path(), tmp_path_factory.mktemp("expired") / "notary")


@pytest.fixture(scope="module")
def renewed_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real checkout renewed by `certkit renew`, its compose override written (read-only
    for tests; with --no-compose, `docker compose up` would run the images' copies: BAKED)."""
    folder = _copy(reference_path(), tmp_path_factory.mktemp("renewed") / "notary")
    result = certkit("renew", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def _rows(output: str, folder: str) -> dict[str, str]:
    """Table rows by path relative to ``folder`` (the #0 row of each file)."""
    rows = {}
    for line in output.splitlines():
        for word in line.split():
            if word.endswith("#0"):
                rows[os.path.relpath(word[:-2], folder)] = line
    return rows


def _cron_check(folder: Path, tmp_path: Path) -> str:
    """The check-expiry command of the line `certkit schedule --cron` prints, as cron's sh runs it."""
    result = certkit("schedule", "--cron", str(folder), "--minute", "7", "--certkit-path", CERTKIT)
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[-1]
    command = line.split(None, 5)[5]  # after "m h dom mon dow"
    renew, _, check = command.partition("; ")
    assert shlex.split(renew)[1:] == ["renew", "--quiet", "--deploy", str(folder.resolve())]
    # The check's report goes to stderr, which cron mails (the job's stdout stays empty: issue 18).
    assert shlex.split(check)[1:] == ["check-expiry", "--quiet", str(folder.resolve()), ">&2"]
    return check


def _systemd_check(folder: Path, tmp_path: Path) -> list[str]:
    """The second ExecStart= of the unit `certkit schedule --systemd` writes, split as systemd does."""
    units = tmp_path / "units"
    result = certkit("schedule", "--systemd", str(folder), "--output-dir", str(units), "--certkit-path", CERTKIT)
    assert result.returncode == 0, result.stderr
    execs = [
        line.split("=", 1)[1]
        for line in (units / schedule.SERVICE).read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    assert len(execs) == 2
    # The unit's quoting rules (systemd.service(5)) for the words certkit writes: "..", \\, %%, $$.
    words = [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(execs[1], posix=True)]
    assert words[1:] == ["check-expiry", "--quiet", str(folder.resolve())]
    return words


# --------------------------------------------------------------------------- end to end


def test_expired_checkout_fails_on_deployed_files_and_lists_test_fixtures_as_unused(
    expired_checkout: Path, tmp_path: Path
) -> None:
    result = certkit("check-expiry", "--at", "2026-11-27", ".", cwd=expired_checkout)
    assert result.returncode == 2, result.stdout + result.stderr
    rows = _rows(result.stdout, ".")
    for path in EXPIRED_DEPLOYED:
        assert rows[path].startswith("CRITICAL") and "expired" in rows[path], path
    for path in UNUSED:
        assert rows[path].startswith("UNUSED") and "not used by any service" in rows[path], path
    compatibility = [p for p in rows if p.startswith("fixtures/compatibility/")]
    assert len(compatibility) == 1 and rows[compatibility[0]].startswith("UNUSED")
    assert "19 checked: 13 CRITICAL" in result.stdout and "3 not used by any service" in result.stdout
    # As cloned: the images bake exactly these files, so the compose analysis alone finds nothing BAKED.
    assert "BAKED" not in result.stdout

    # The scheduled jobs see the same: exit 2, the expired deployed files named, the fixtures not.
    cron = subprocess.run(
        ["/bin/sh", "-c", _cron_check(expired_checkout, tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env=BARE_ENV,
        stdin=subprocess.DEVNULL,
    )
    systemd = subprocess.run(
        _systemd_check(expired_checkout, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env=BARE_ENV,
        stdin=subprocess.DEVNULL,
    )
    assert cron.stdout == ""  # the report is on stderr
    for job, report in ((cron, cron.stderr), (systemd, systemd.stdout)):
        assert job.returncode == 2, job.stdout + job.stderr
        assert f"{expired_checkout.resolve() / 'fixtures/notary-server.crt'}#0" in report
        assert "trustpinning" not in report  # --quiet: unused files are no problem to mail about


def test_renewed_checkout_passes_from_the_shell_and_from_the_scheduled_jobs(
    renewed_checkout: Path, tmp_path: Path
) -> None:
    result = certkit("check-expiry", ".", cwd=renewed_checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout, ".")
    for path in EXPIRED_DEPLOYED:
        assert rows[path].startswith("OK"), path
    for path in UNUSED:
        assert rows[path].startswith("UNUSED") and "expired" in rows[path], path  # still expired, only listed
    assert "-> OK (exit 0)" in result.stdout

    cron = subprocess.run(
        ["/bin/sh", "-c", _cron_check(renewed_checkout, tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env=BARE_ENV,
        stdin=subprocess.DEVNULL,
    )
    assert (cron.returncode, cron.stdout, cron.stderr) == (0, "", ""), cron.stdout + cron.stderr  # cron mails nothing
    systemd = subprocess.run(
        _systemd_check(renewed_checkout, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env=BARE_ENV,
        stdin=subprocess.DEVNULL,
    )
    assert (systemd.returncode, systemd.stdout) == (0, ""), systemd.stdout + systemd.stderr


def test_the_fixtures_folder_of_a_checkout_is_scoped_too(renewed_checkout: Path) -> None:
    result = certkit("check-expiry", "fixtures", cwd=renewed_checkout)
    assert result.returncode == 0, result.stdout
    rows = _rows(result.stdout, "fixtures")
    assert rows["notary-server.crt"].startswith("OK")
    compatibility = [p for p in rows if p.startswith("compatibility/")]
    assert len(compatibility) == 1 and rows[compatibility[0]].startswith("UNUSED")


def test_all_judges_the_test_fixtures_again(renewed_checkout: Path) -> None:
    result = certkit("check-expiry", "--all", ".", cwd=renewed_checkout)
    assert result.returncode == 2, result.stdout
    rows = _rows(result.stdout, ".")
    for path in UNUSED:
        assert rows[path].startswith("CRITICAL") and "expired" in rows[path], path
    assert "UNUSED" not in result.stdout


def test_all_with_exclude_skips_the_fixtures(renewed_checkout: Path) -> None:
    result = certkit(
        "check-expiry",
        "--all",
        "--exclude",
        "trustpinning/",
        "--exclude",
        "fixtures/compatibility",
        ".",
        cwd=renewed_checkout,
    )
    assert result.returncode == 0, result.stdout
    assert "trustpinning" not in result.stdout and "compatibility" not in result.stdout
    # "**" and a name-only pattern do the same.
    again = certkit(
        "check-expiry",
        "--all",
        "--exclude",
        "trustpinning/**",
        "--exclude",
        "*.crt",
        "--format",
        "json",
        ".",
        cwd=renewed_checkout,
    )
    paths = [r["path"] for r in json.loads(again.stdout)["certificates"]]
    assert paths and not [p for p in paths if p.endswith(".crt")]


def test_a_file_named_as_argument_is_always_judged(renewed_checkout: Path) -> None:
    result = certkit("check-expiry", ".", "trustpinning/test.crt", "--exclude", "test.crt", cwd=renewed_checkout)
    assert result.returncode == 2, result.stdout
    judged = [line for line in result.stdout.splitlines() if line.startswith("CRITICAL")]
    assert len(judged) == 1 and "trustpinning/test.crt#0" in judged[0] and "expired" in judged[0]


def test_a_plain_folder_is_judged_as_before(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    ca = make_ca("Plain Root", now - timedelta(days=400), now + timedelta(days=4000))
    make_leaf("old.example", ca, *around(now, expires_in=timedelta(days=-3))).write(tmp_path / "tests" / "old.crt")
    result = certkit("check-expiry", "--at", "2026-11-27", str(tmp_path))
    assert result.returncode == 2, result.stdout
    assert "UNUSED" not in result.stdout and "CRITICAL" in result.stdout


# --------------------------------------------------------------------------- what counts as used


def test_a_file_a_config_names_is_judged(renewed_checkout: Path, tmp_path: Path) -> None:
    folder = _copy(renewed_checkout, tmp_path / "notary")
    config = (folder / "cmd" / "escrow" / "config.toml").read_text()
    assert "../../fixtures/notary-escrow.crt" in config
    (folder / "cmd" / "escrow" / "config.toml").write_text(
        config.replace("../../fixtures/notary-escrow.crt", "../../trustpinning/ca.crt")
    )
    result = certkit("check-expiry", ".", cwd=folder)
    assert result.returncode == 2, result.stdout
    rows = _rows(result.stdout, ".")
    assert rows["trustpinning/ca.crt"].startswith("CRITICAL") and rows["trustpinning/test.crt"].startswith("UNUSED")


def test_a_file_a_compose_service_mounts_is_judged(renewed_checkout: Path, tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    folder = _copy(renewed_checkout, tmp_path / "notary")
    now = datetime.now(timezone.utc)
    ca = make_ca("Proxy Root", now - timedelta(days=400), now + timedelta(days=4000))
    make_leaf("proxy.example", ca, *around(now, expires_in=timedelta(days=-2))).write(folder / "proxy" / "tls.crt")
    before = certkit("check-expiry", ".", cwd=folder)
    assert before.returncode == 0 and _rows(before.stdout, ".")["proxy/tls.crt"].startswith("UNUSED"), before.stdout
    # A service that bind-mounts the folder makes its files deployed.
    compose = folder / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "volumes:\n  notary_data:",
            "  proxy:\n    image: nginx:1.25\n    volumes:\n      - ./proxy:/etc/nginx/tls:ro\n"
            "volumes:\n  notary_data:",
        )
    )
    after = certkit("check-expiry", ".", cwd=folder)
    assert after.returncode == 2, after.stdout + after.stderr
    assert _rows(after.stdout, ".")["proxy/tls.crt"].startswith("CRITICAL")


# --------------------------------------------------------------------------- --exclude rules


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "skipped"),
    [
        ("trustpinning/", "trustpinning", True, True),
        ("trustpinning/", "trustpinning", False, False),  # a trailing / matches folders only
        ("trustpinning", "a/b/trustpinning", True, True),  # no / inside: any depth
        ("fixtures/compatibility", "fixtures/compatibility", True, True),
        ("fixtures/compatibility", "x/fixtures/compatibility", True, False),  # a / inside: anchored
        ("/fixtures/*.crt", "fixtures/root-ca.crt", False, True),
        ("./fixtures/*.crt", "fixtures/database/ca.crt", False, False),  # * stops at /
        ("fixtures/**/*.pem", "fixtures/database/ca.pem", False, True),
        ("fixtures/**/*.pem", "fixtures/ca.pem", False, True),  # **/ also matches no folder
        ("**/testdata/*.crt", "a/b/testdata/x.crt", False, True),
        ("trustpinning/**", "trustpinning/sub/test.crt", False, True),
        ("*.crt", "fixtures/root-ca.crt", False, True),
        ("*.crt", "fixtures/root-ca.pem", False, False),
        ("test?.crt", "test1.crt", False, True),
        ("test[!0-9].crt", "test1.crt", False, False),
        ("test[0-9].crt", "test1.crt", False, True),
    ],
)
def test_exclude_rules(pattern: str, path: str, is_dir: bool, skipped: bool) -> None:
    assert ExcludeRules([pattern]).match(path, is_dir=is_dir) is skipped
