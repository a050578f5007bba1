"""`certkit schedule`: the crontab line, the systemd units (checked by systemd-analyze when present),
pre-commit hooks."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certkit.cli import _COMMANDS
from certkit.cli.schedule_cmd import certkit_command
from certkit.deploy import schedule
from certkit.errors import NotALayoutError, UsageError
from tests.cli_helpers import run_cli
from tests.notary_harness import require_binary

REPO = Path(__file__).resolve().parent.parent
CERTKIT = str(Path(sys.executable).with_name("certkit"))  # the venv's console script


_cli = run_cli


def _checkout(folder: Path) -> Path:
    """``folder`` made to look like a Notary checkout (a profile marker): schedule refuses any other folder."""
    (folder / "fixtures").mkdir(parents=True, exist_ok=True)
    (folder / "fixtures" / "server-config.json").write_text("{}\n")
    return folder


def _parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists: systemd allows repeated keys (ExecStart)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        assert current is not None, line
        sections[current].append((key, value))
    return sections


def _systemd_words(value: str) -> list[str]:
    """Undo _systemd_arg for the cases it produces (double quotes, backslash, %%, $$)."""
    return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(value, posix=True)]


# --- cron -----------------------------------------------------------------------------------


def test_cron_line_runs_renew_then_check_with_absolute_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _checkout(tmp_path)
    code, out, err = _cli(
        capsys, "schedule", "--cron", str(tmp_path), "--minute", "17", "--hour", "4", "--certkit-path", CERTKIT
    )
    assert code == 0, err
    comment, line = out.splitlines()
    assert comment.startswith("# ")
    # Nothing is thrown away (issue 18: the one line that mattered went to /dev/null): renew --quiet says
    # nothing on stdout and what is owed on stderr; the check's report goes to stderr, which cron mails.
    assert line == (
        f"17 4 * * * {CERTKIT} renew --quiet --deploy {tmp_path.resolve()}; "
        f"{CERTKIT} check-expiry --quiet {tmp_path.resolve()} >&2"
    )
    assert "/dev/null" not in line


def test_cron_line_carries_the_docker_host_or_leaves_the_deploy_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("schedule", "--cron", str(_checkout(tmp_path)), "--minute", "5", "--certkit-path", CERTKIT)
    code, out, err = _cli(capsys, *args, "--docker-host", "unix:///run/my docker.sock")
    assert code == 0, err
    renew, check = out.splitlines()[1].split(" ", 5)[5].removesuffix(" >&2").split("; ")
    host = ["--docker-host", "unix:///run/my docker.sock"]
    assert shlex.split(renew) == [CERTKIT, "renew", "--quiet", "--deploy", *host, str(tmp_path.resolve())]
    assert shlex.split(check) == [CERTKIT, "check-expiry", "--quiet", *host, str(tmp_path.resolve())]
    code, out, err = _cli(capsys, *args, "--no-deploy")
    assert code == 0, err
    renew = out.splitlines()[1].split(" ", 5)[5].split("; ")[0]
    assert shlex.split(renew) == [CERTKIT, "renew", "--quiet", str(tmp_path.resolve())]


def test_random_minute_is_seedable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("schedule", "--cron", str(_checkout(tmp_path)), "--certkit-path", CERTKIT)
    lines = set()
    _, first, _ = _cli(capsys, *args, "--seed", "42")
    _, second, _ = _cli(capsys, *args, "--seed", "42")
    assert first == second
    assert first.splitlines()[1].split()[0] == str(random.Random(42).randrange(60))
    for seed in range(20):
        _, out, _ = _cli(capsys, *args, "--seed", str(seed))
        lines.add(out.splitlines()[1].split()[0])
    assert len(lines) > 5  # really random across seeds
    assert all(0 <= int(m) <= 59 for m in lines)


def test_cron_line_quotes_spaces_and_escapes_percent(tmp_path: Path) -> None:
    folder = _checkout(tmp_path / "my notary%1")
    line = schedule.cron_line(schedule.job([CERTKIT], folder), minute=0)
    command = line.split(" ", 5)[5]
    assert "\\%" in command and "%1" not in command.replace("\\%1", "")
    # cron turns \% back into %, then hands the rest to /bin/sh:
    renew, check = command.replace("\\%", "%").removesuffix(" >&2").split("; ")
    assert shlex.split(renew) == [CERTKIT, "renew", "--quiet", "--deploy", str(folder.resolve())]
    assert shlex.split(check) == [CERTKIT, "check-expiry", "--quiet", str(folder.resolve())]


@pytest.mark.parametrize(("minute", "hour"), [(60, 3), (-1, 3), (0, 24)])
def test_cron_line_refuses_out_of_range_times(tmp_path: Path, minute: int, hour: int) -> None:
    with pytest.raises(UsageError):
        schedule.cron_line(schedule.job([CERTKIT], _checkout(tmp_path)), minute=minute, hour=hour)


@pytest.mark.parametrize("modes", [(), ("--cron", "--systemd")])
def test_cli_requires_exactly_one_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], modes: tuple[str, ...]
) -> None:
    code, out, err = _cli(capsys, "schedule", *modes, str(tmp_path))
    assert code == 2 and out == ""
    assert err == (
        "certkit: error: choose one of --cron (print a crontab line), --systemd (write unit files) "
        "or --prometheus-rules (print alert rules)\n"
    )
    assert list(tmp_path.iterdir()) == []  # no unit file written


def test_cli_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "schedule", "--cron", str(tmp_path / "absent"))
    assert code == NotALayoutError.exit_code == 10
    assert err.count("\n") == 1 and "no such folder" in err


def test_job_refuses_a_relative_certkit(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="absolute path"):
        schedule.job(["certkit"], tmp_path)


def test_certkit_command_prefers_the_running_console_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [CERTKIT, "schedule"])
    assert certkit_command() == [CERTKIT]
    monkeypatch.setattr(sys, "argv", [str(REPO / "certkit" / "__main__.py")])  # python -m certkit
    monkeypatch.setenv("PATH", "/nonexistent")
    assert certkit_command() == [sys.executable, "-m", "certkit"]
    monkeypatch.setenv("PATH", str(Path(CERTKIT).parent))
    assert certkit_command() == [CERTKIT]


# --- systemd --------------------------------------------------------------------------------


def _write_units(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Path:
    out_dir = tmp_path / "units"
    _checkout(folder)
    code, out, err = _cli(
        capsys, "schedule", "--systemd", str(folder), "--output-dir", str(out_dir), "--certkit-path", CERTKIT, *extra
    )
    assert code == 0, err
    assert f"wrote {out_dir / schedule.SERVICE}" in out
    assert "systemctl enable --now certkit-renew.timer" in out
    return out_dir


def test_systemd_units_have_the_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = _write_units(tmp_path, tmp_path, capsys)
    assert sorted(p.name for p in out_dir.iterdir()) == [schedule.SERVICE, schedule.TIMER]
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in out_dir.iterdir())
    service = _parse_unit((out_dir / schedule.SERVICE).read_text())
    assert dict(service["Service"])["Type"] == "oneshot"
    starts = [_systemd_words(v) for k, v in service["Service"] if k == "ExecStart"]
    folder = str(tmp_path.resolve())
    assert starts == [[CERTKIT, "renew", "--quiet", "--deploy", folder], [CERTKIT, "check-expiry", "--quiet", folder]]
    # The deploy talks to the engine: the job runs after it, and pulls it in (issue 18).
    unit = service["Unit"]
    assert ("After", "docker.service") in unit and ("Wants", "docker.service") in unit
    timer = _parse_unit((out_dir / schedule.TIMER).read_text())
    assert dict(timer["Timer"]) == {"OnCalendar": "daily", "RandomizedDelaySec": "3600s", "Persistent": "true"}
    assert dict(timer["Install"]) == {"WantedBy": "timers.target"}


def test_systemd_without_deploy_needs_no_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = _write_units(tmp_path, tmp_path, capsys, "--no-deploy")
    service = _parse_unit((out_dir / schedule.SERVICE).read_text())
    assert [k for k, _ in service["Unit"]] == ["Description"]
    starts = [_systemd_words(v) for k, v in service["Service"] if k == "ExecStart"]
    assert starts[0] == [CERTKIT, "renew", "--quiet", str(tmp_path.resolve())]
    result = _verify(out_dir / schedule.SERVICE, out_dir / schedule.TIMER)
    assert result.returncode == 0, result.stdout + result.stderr


def test_systemd_options_reach_the_timer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = _write_units(tmp_path, tmp_path, capsys, "--on-calendar", "*-*-* 04:00:00", "--randomized-delay", "30min")
    timer = dict(_parse_unit((out_dir / schedule.TIMER).read_text())["Timer"])
    assert timer["OnCalendar"] == "*-*-* 04:00:00"
    assert timer["RandomizedDelaySec"] == "1800s"


def test_systemd_escapes_spaces_percent_and_dollar(tmp_path: Path) -> None:
    folder = _checkout(tmp_path / "a b%c$d")
    units = schedule.systemd_units(schedule.job([CERTKIT], folder))
    service = _parse_unit(units[schedule.SERVICE])
    renew = next(v for k, v in service["Service"] if k == "ExecStart")
    assert "%%c$$d" in renew
    assert _systemd_words(renew) == [CERTKIT, "renew", "--quiet", "--deploy", str(folder.resolve())]
    assert "%%c" in dict(service["Unit"])["Description"]


def _verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    # Skipped on a machine without systemd (the configparser checks above still run); .ci/run
    # installs it, so under CI=true a missing systemd-analyze fails instead.
    analyze = require_binary("systemd-analyze", "systemd")
    return subprocess.run(
        [analyze, "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    folder = _checkout(tmp_path / "notary dir%x")
    out_dir = tmp_path / "units"
    planned = schedule.job([CERTKIT], folder, docker_host="unix:///run/docker 1.sock")
    schedule.write_units(schedule.systemd_units(planned), out_dir)
    result = _verify(out_dir / schedule.SERVICE, out_dir / schedule.TIMER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "certkit-renew" not in result.stderr  # no warning about our units
    assert "docker.service" not in result.stderr  # After=/Wants= are well-formed (a missing unit is fine)


def test_systemd_analyze_would_catch_a_broken_unit(tmp_path: Path) -> None:
    # The check above can fail: a relative ExecStart is exactly what a PATH-less certkit would write.
    out_dir = tmp_path / "units"
    schedule.write_units(schedule.systemd_units(schedule.job([CERTKIT], _checkout(tmp_path))), out_dir)
    service = out_dir / schedule.SERVICE
    service.write_text(service.read_text().replace(f"ExecStart={CERTKIT}", "ExecStart=bin/certkit"))
    result = _verify(service, out_dir / schedule.TIMER)
    assert result.returncode != 0
    assert "bin/certkit" in result.stderr


def test_systemd_refuses_a_bad_calendar(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        schedule.systemd_units(schedule.job([CERTKIT], _checkout(tmp_path)), on_calendar="daily\nExecStart=/bin/evil")


def test_systemd_output_dir_not_writable_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = _checkout(tmp_path) / "file"
    blocker.write_text("")
    code, out, err = _cli(
        capsys,
        "schedule",
        "--systemd",
        str(tmp_path),
        "--output-dir",
        str(blocker / "units"),
        "--certkit-path",
        CERTKIT,
    )
    assert code == 13
    assert err.startswith("certkit: error: ") and err.count("\n") == 1


# --- pre-commit -----------------------------------------------------------------------------


def _load_yaml(path: Path) -> object:
    try:
        from ruamel.yaml import YAML
    except ImportError:
        yaml = pytest.importorskip("yaml", reason="needs ruamel.yaml or PyYAML to read .pre-commit-hooks.yaml")
        return yaml.safe_load(path.read_text())
    return YAML(typ="safe").load(path.read_text())


def test_pre_commit_hooks_manifest() -> None:
    manifest = REPO / ".pre-commit-hooks.yaml"
    hooks = _load_yaml(manifest)
    assert isinstance(hooks, list)
    by_id = {hook["id"]: hook for hook in hooks}
    assert set(by_id) == {"certkit-check-expiry", "certkit-compose-check"}
    assert by_id["certkit-check-expiry"]["entry"] == "certkit check-expiry"
    assert by_id["certkit-compose-check"]["entry"] == "certkit compose --check"
    for hook in hooks:
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False and hook["always_run"] is True
        program, command = hook["entry"].split()[:2]
        assert program == "certkit" and command in _COMMANDS
    # The framework's own schema check (pre-commit is a test dependency; under CI=true it must run).
    beside = Path(sys.executable).with_name("pre-commit")
    tool = str(beside) if beside.exists() else shutil.which("pre-commit")
    if tool is None:
        tool = require_binary("pre-commit", "pre-commit (pip install pre-commit)")
    result = subprocess.run([tool, "validate-manifest", str(manifest)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_docker_host_that_would_break_the_line_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _checkout(tmp_path)
    for bad in ("unix:///x.sock\n17 * * * * /bin/evil", "  "):
        with pytest.raises(UsageError):
            schedule.job([CERTKIT], tmp_path, docker_host=bad)
    code, out, err = _cli(
        capsys, "schedule", "--cron", str(tmp_path), "--docker-host", "a\rb", "--certkit-path", CERTKIT
    )
    assert code == 2 and out == "" and err.count("\n") == 1 and "line break" in err


def test_cron_warns_now_of_what_would_fail_the_deploy_every_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No engine at the address the job will use, and no compose plugin on cron's PATH for this HOME:
    said now on stderr (the line is still printed); --no-deploy has neither to say."""
    folder = _checkout(tmp_path / "notary")
    gone = f"unix://{tmp_path / 'no-engine.sock'}"
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [CERTKIT, "schedule", "--cron", "--docker-host", gone, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
    )
    assert done.returncode == 0 and "renew --quiet --deploy" in done.stdout, done.stderr
    warnings = done.stderr.strip().splitlines()
    assert any(w.startswith("certkit: warning: no Docker engine at " + gone) for w in warnings), done.stderr
    assert all("--no-deploy" in w or "PATH (/usr/bin:/bin)" in w for w in warnings), done.stderr
    quiet = subprocess.run(
        [CERTKIT, "schedule", "--cron", "--no-deploy", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
