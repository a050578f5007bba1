"""Running `certkit renew` on a schedule: a crontab line, or a systemd service + timer;
and watching it from Prometheus: the alerting rules for check-expiry's textfile metrics.

Both jobs run ``certkit renew --quiet --deploy NOTARY_DIR`` and then ``certkit check-expiry
--quiet NOTARY_DIR``, with absolute paths (cron and systemd start with a bare PATH and an
unknown folder).  The job closes the loop by itself: the renewal recreates the running services
whose files changed and verifies them (certkit.workflows.deploy; a deploy that fails is retried
by the next run), and the check judges what the containers run.  Both print nothing on stdout
when all is well, and every problem or owed action on stderr, which cron mails.  ``--no-deploy``
leaves the deploy out (Notary run without Docker); ``docker_host`` is carried on both commands,
since cron gives no DOCKER_HOST.  The core returns text; only :func:`write_units` touches the disk.
"""

from __future__ import annotations

import os
import random
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from certkit import __version__
from certkit.durations import Duration
from certkit.errors import UsageError
from certkit.hints import stale_hint
from certkit.pki.cakeys import KeyForm
from certkit.store import storage
from certkit.templates import render

SERVICE = "certkit-renew.service"
TIMER = "certkit-renew.timer"
DEFAULT_HOUR = 3
DEFAULT_ON_CALENDAR = "daily"
DEFAULT_RANDOMIZED_DELAY = 3600  # seconds
RULES_TEMPLATE = "prometheus/certkit-rules.yml.j2"


@dataclass(frozen=True)
class Job:
    """The two commands a scheduled run executes, as argument lists."""

    renew: list[str]
    check: list[str]
    deploy: bool = True  # the renewal recreates the running services: the job runs after the engine


def job(
    certkit: Sequence[str],
    notary_dir: Path,
    *,
    deploy: bool = True,
    docker_host: str | None = None,
    passphrase_file: Path | None = None,
) -> Job:
    """The commands for ``notary_dir``, which must be an existing folder (made absolute here).

    ``certkit`` is how to start certkit, e.g. ``["/usr/local/bin/certkit"]`` or
    ``[sys.executable, "-m", "certkit"]``; its first element must be an absolute path.
    ``deploy``: the renewal recreates the running services (``renew --deploy``).
    ``docker_host``: the engine both commands talk to (``--docker-host``).
    ``passphrase_file``: the encrypted CA store's passphrase file the renewal reads when it must sign
    (``--ca-passphrase-file``); checked now as renew checks it (a regular file, the runner's, mode
    0600), so a file the job would refuse at 3 am is refused here.
    """
    if not certkit or not Path(certkit[0]).is_absolute():
        raise UsageError(f"the certkit command must start with an absolute path, not {list(certkit)!r}")
    from certkit.profile import load_profile
    from certkit.store.layout import require_layout

    # The job runs `certkit renew NOTARY_DIR` (the built-in profile): a folder it would refuse every
    # night is refused now, with the checkout above it when there is one.
    require_layout(notary_dir, load_profile(None))
    if docker_host is not None and not docker_host.strip():
        raise UsageError("--docker-host: give the engine's address, e.g. unix:///var/run/docker.sock")
    folder = str(notary_dir.resolve())
    secret: list[str] = []
    if passphrase_file is not None:
        from certkit.errors import PassphraseError
        from certkit.pki.unlock import read_secret

        absolute = os.path.abspath(passphrase_file)
        read_secret(Path(absolute), f"--ca-passphrase-file {absolute}", PassphraseError)
        secret = ["--ca-passphrase-file", absolute]
    for arg in (*certkit, folder, docker_host or "", *secret):
        if "\n" in arg or "\r" in arg:
            raise UsageError(f"{arg!r}: a value with a line break cannot go into a crontab or a unit file")
    engine = ["--docker-host", docker_host] if docker_host else []
    renew = [*certkit, "renew", "--quiet", *(["--deploy", *engine] if deploy else []), *secret, folder]
    return Job(renew=renew, check=[*certkit, "check-expiry", "--quiet", *engine, folder], deploy=deploy)


def unattended_gaps(forms: Collection[KeyForm | None], *, passphrase_source: bool) -> list[str]:
    """What would stop the scheduled renewal from signing with nobody there, as notes for the person now.

    ``forms``: the form of each CA key in the store (certkit.workflows.cakeys.list_keys; None: missing).
    An encrypted CA store needs its passphrase when a run must sign; a job has no terminal to ask on,
    so without a file or a credential the renewal that matters (a leaf due) would exit 23 at night.
    """
    if KeyForm.ENCRYPTED in forms and not passphrase_source:
        return [
            "the CA keys are encrypted and the job has no passphrase source: nobody answers a prompt at night, "
            "so a renewal that must sign would exit 23; add --ca-passphrase-file FILE (mode 0600)"
            " or, for systemd, --ca-passphrase-credential FILE"
        ]
    return []


CRON_PATH = "/usr/bin:/bin"  # what cron gives a job (Debian's cron, and the ones users meet)
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd's default for services


def deploy_gaps(planned: Job, docker_host: str | None, *, path: str, home: str) -> list[str]:
    """What would make the job's deploy step fail every night, checked now, as notes for the person.

    The job talks to ``docker_host`` or the default socket (a job has no DOCKER_HOST), and runs
    `docker compose` found on the job's ``path`` (cron's is short).  Nothing is changed: the engine is
    only pinged, and `docker compose version` asks nothing of it.
    """
    if not planned.deploy:
        return []
    from certkit.deploy.compose_cli import find_compose
    from certkit.engine import connect
    from certkit.errors import EngineError

    notes = []
    folder = Path(planned.renew[-1])
    try:
        connect(docker_host, {}, timeout=5).close()
    except EngineError as exc:
        notes.append(
            f"{exc} now, so the job's deploy would fail (exit 21) and mail you every night until an engine runs "
            "there; --docker-host names another engine, --no-deploy leaves the deploy out (Notary without Docker)"
        )
    try:
        find_compose({"PATH": path, "HOME": home}, docker_host or "unix:///var/run/docker.sock", cwd=folder)
    except EngineError as exc:
        notes.append(f"with the job's PATH ({path}): {exc}; until then its deploy fails (exit 21)")
    return notes


def random_minute(rng: random.Random | None = None) -> int:
    """A minute in 0..59; a random one spreads many hosts' runs over the hour."""
    return (rng or random.SystemRandom()).randrange(60)


def cron_line(planned: Job, *, minute: int, hour: int = DEFAULT_HOUR) -> str:
    """A crontab entry (user crontab format) running the renewal daily at hour:minute.

    Nothing is thrown away: ``renew --quiet`` prints nothing on stdout and what a person must do
    on stderr; the check's report (``--quiet``: only when something is wrong) goes to stderr too
    (``>&2``), so the job's stdout is empty whatever happens and cron mails exactly the problems
    and owed actions.  The check runs even when the renewal failed (``;``), because then its
    report matters most.
    """
    if not 0 <= minute <= 59:
        raise UsageError(f"--minute {minute}: must be 0..59")
    if not 0 <= hour <= 23:
        raise UsageError(f"--hour {hour}: must be 0..23")
    renew = _cron_command(planned.renew)
    check = _cron_command(planned.check)
    return f"{minute} {hour} * * * {renew}; {check} >&2"


def systemd_units(
    planned: Job,
    *,
    on_calendar: str = DEFAULT_ON_CALENDAR,
    randomized_delay: int = DEFAULT_RANDOMIZED_DELAY,
    credentials: Sequence[tuple[str, Path]] = (),
) -> dict[str, str]:
    """The text of certkit-renew.service and certkit-renew.timer, by file name.

    ``credentials``: (name, encrypted file) pairs for ``LoadCredentialEncrypted=``, e.g. the CA keys'
    passphrase (certkit.pki.unlock.PASSPHRASE_CREDENTIAL), which certkit then finds in $CREDENTIALS_DIRECTORY.
    """
    for _, path in credentials:
        if not path.is_absolute() or any(c in str(path) for c in "\r\n:"):
            raise UsageError(f"{path}: give the encrypted credential's absolute path (no ':' or line break)")
    if not on_calendar.strip() or any(c in on_calendar for c in "\r\n"):
        raise UsageError(f"--on-calendar {on_calendar!r}: give a systemd calendar expression such as daily")
    if randomized_delay < 0:
        raise UsageError("--randomized-delay must not be negative")
    folder = planned.renew[-1]
    context = {
        "version": __version__,
        "on_calendar": on_calendar.strip(),
        "randomized_delay": f"{randomized_delay}s",
    }
    return {
        SERVICE: render(
            f"systemd/{SERVICE}.j2",
            **context,
            description=_systemd_text(f"Renew the Notary TLS certificates in {folder} (certkit)"),
            renew_command=_systemd_command(planned.renew),
            credentials=[(name, _systemd_text(str(path))) for name, path in credentials],
            check_command=_systemd_command(planned.check),
            after_docker=planned.deploy,
        ),
        TIMER: render(
            f"systemd/{TIMER}.j2",
            **context,
            description=_systemd_text(f"Daily renewal of the Notary TLS certificates in {folder} (certkit)"),
        ),
    }


def prometheus_rules(
    *, warn: Duration, crit: Duration, stale_after: Duration, stale_for: Duration, now: datetime
) -> str:
    """The Prometheus rule file (YAML) alerting on check-expiry's textfile metrics.

    PromQL compares plain seconds, so the windows are turned into seconds here; months and
    years are counted from ``now`` (the moment the rules are written), as --warn is by a check.
    """
    seconds = {
        name: int(value.approx_timedelta(now).total_seconds())
        for name, value in (("warn", warn), ("crit", crit), ("stale_after", stale_after), ("stale_for", stale_for))
    }
    if seconds["warn"] < seconds["crit"]:
        raise UsageError(
            f"--warn {warn} is shorter than --crit {crit}; the warning window must include the critical one"
        )
    for name in ("crit", "stale_after"):
        if seconds[name] <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be longer than 0")
    return render(
        RULES_TEMPLATE,
        version=__version__,
        warn=warn,
        crit=crit,
        stale_after=stale_after,
        warn_seconds=seconds["warn"],
        crit_seconds=seconds["crit"],
        stale_after_seconds=seconds["stale_after"],
        stale_for=f"{seconds['stale_for']}s",
        stale_for_text=stale_for,
        stale_hint=stale_hint(),  # the words check-expiry and status use (certkit.hints)
    )


def write_units(units: dict[str, str], output_dir: Path) -> list[Path]:
    """Write the unit files (0644) into ``output_dir``, creating it; returns their paths."""
    storage.probe_writable(output_dir)
    storage.ensure_dir(output_dir)
    written = []
    for name, text in units.items():
        path = output_dir / name
        storage.atomic_write(path, text.encode("utf-8"), 0o644)
        written.append(path)
    return written


def _cron_command(argv: Sequence[str]) -> str:
    # crontab(5): an unescaped % ends the command and starts its stdin.
    return " ".join(shlex.quote(arg) for arg in argv).replace("%", "\\%")


def _systemd_text(text: str) -> str:
    # systemd.unit(5): % starts a specifier in most settings, %% is a literal %.
    return text.replace("%", "%%")


def _systemd_command(argv: Sequence[str]) -> str:
    return " ".join(_systemd_arg(arg) for arg in argv)


def _systemd_arg(arg: str) -> str:
    # systemd.service(5) "Command lines": words split on whitespace, double quotes group,
    # backslash escapes; $ expands environment variables ($$ is a literal $).
    escaped = _systemd_text(arg).replace("$", "$$")
    if escaped and not any(c in escaped for c in " \t\"'\\;"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
