"""`certkit schedule`: a crontab line or systemd units that renew daily; Prometheus alert rules."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certkit.cli import options, output

if TYPE_CHECKING:
    from certkit.durations import Duration


@click.command("schedule")
@options.notary_dir_argument
@click.option("--cron", is_flag=True, help="Print a crontab line (user crontab format).")
@click.option("--systemd", is_flag=True, help="Write certkit-renew.service and certkit-renew.timer into --output-dir.")
@click.option(
    "--minute",
    type=click.IntRange(0, 59),
    default=None,
    help="cron: the minute to run at. Default: random (spreads hosts over the hour).",
)
@click.option("--hour", type=click.IntRange(0, 23), default=3, show_default=True, help="cron: the hour to run at.")
@click.option("--seed", type=int, default=None, hidden=True, help="Seed for the random minute (tests).")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="systemd: where to write the unit files.",
)
@click.option("--on-calendar", default="daily", show_default=True, help="systemd: the timer's OnCalendar= value.")
@click.option(
    "--randomized-delay",
    type=options.DURATION,
    default="1h",
    show_default=True,
    help=options.duration_help("systemd: the timer's RandomizedDelaySec= window."),
)
@click.option(
    "--prometheus-rules",
    is_flag=True,
    help="Print Prometheus alerting rules for `check-expiry --format prometheus` textfiles.",
)
@click.option(
    "--warn",
    type=options.DURATION,
    default="30d",
    show_default=True,
    help=options.duration_help("rules: warn when a certificate expires within this (as check-expiry --warn)."),
)
@click.option(
    "--crit",
    type=options.DURATION,
    default="7d",
    show_default=True,
    help=options.duration_help("rules: critical when a certificate expires within this (as check-expiry --crit)."),
)
@click.option(
    "--stale-after",
    type=options.DURATION,
    default="26h",
    show_default=True,
    help=options.duration_help("rules: alert when the textfile is older than this (the check stopped running)."),
)
@click.option(
    "--stale-for",
    type=options.DURATION,
    default="10m",
    show_default=True,
    help=options.duration_help(
        "rules: how long a server may serve a renewed-away certificate (STALE) before it alerts."
    ),
)
@click.option(
    "--no-deploy",
    is_flag=True,
    help="cron/systemd: renew without --deploy (Notary run without Docker: nothing to recreate). "
    "Default: the job recreates the running services whose files changed, and verifies them.",
)
@click.option(
    "--docker-host",
    metavar="URL",
    default=None,
    help="cron/systemd: the Docker engine the job talks to (cron sets no DOCKER_HOST); the line carries it. "
    "Default: /var/run/docker.sock.",
)
@click.option(
    "--certkit-path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The certkit executable the job runs. Default: this certkit (absolute path).",
)
@click.option(
    "--ca-passphrase-credential",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="systemd: the CA keys' passphrase as an encrypted credential (systemd-creds encrypt); the unit "
    "loads it with LoadCredentialEncrypted=, and renew reads it from $CREDENTIALS_DIRECTORY.",
)
@click.option(
    "--ca-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="cron/systemd: the encrypted CA store's passphrase file (yours, mode 0600, checked now); the job's "
    "renew reads it when it must sign. Without it (or a credential) a renewal that must sign exits 23.",
)
@click.option(
    "--ca-pin-credential",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="systemd: the PKCS#11 token's PIN as an encrypted credential, likewise.",
)
def schedule_command(
    notary_dir: Path,
    cron: bool,
    systemd: bool,
    minute: int | None,
    hour: int,
    seed: int | None,
    output_dir: Path,
    on_calendar: str,
    randomized_delay: Duration,
    prometheus_rules: bool,
    warn: Duration,
    crit: Duration,
    stale_after: Duration,
    stale_for: Duration,
    no_deploy: bool,
    docker_host: str | None,
    certkit_path: Path | None,
    ca_passphrase_credential: Path | None,
    ca_passphrase_file: Path | None,
    ca_pin_credential: Path | None,
) -> None:
    """Renew NOTARY_DIR daily: print a crontab line or write systemd units;
    or print Prometheus alert rules.

    The job runs `certkit renew --quiet --deploy NOTARY_DIR`, then `certkit check-expiry
    --quiet NOTARY_DIR`, with absolute paths: the renewal recreates the running compose
    services whose files changed and verifies them (a deploy it cannot do is retried by the
    next run), and the check judges what the containers run. Nothing on stdout when all is
    well; every problem and owed action on stderr (cron mails it). The systemd service starts
    after docker.service. --no-deploy leaves the deploy out (no Docker); --docker-host names
    the engine (cron sets no DOCKER_HOST).

    \b
    Examples:
    certkit schedule --cron /srv/notary          print a crontab line; add it with
        (crontab -l; certkit schedule --cron /srv/notary) | crontab -
    certkit schedule --systemd /srv/notary --output-dir /etc/systemd/system
        then: systemctl daemon-reload && systemctl enable --now certkit-renew.timer
    certkit schedule --systemd /srv/notary --ca-passphrase-credential \
        /etc/credstore.encrypted/certkit-ca-passphrase    (an encrypted CA store)
    certkit schedule --cron /srv/notary --ca-passphrase-file /etc/certkit/ca-pass
        (an encrypted CA store under cron: the file is yours, mode 0600)
    certkit schedule --prometheus-rules > /etc/prometheus/rules/certkit.yml
        alerts on `certkit check-expiry --format prometheus --output DIR/certkit.prom`
        (DIR: node_exporter's --collector.textfile.directory); check: promtool check rules
    """
    import random

    from certkit.deploy import schedule
    from certkit.errors import UsageError

    if cron + systemd + prometheus_rules != 1:
        raise UsageError(
            "choose one of --cron (print a crontab line), --systemd (write unit files) "
            "or --prometheus-rules (print alert rules)"
        )
    if prometheus_rules:
        output.echo(
            schedule.prometheus_rules(
                warn=warn, crit=crit, stale_after=stale_after, stale_for=stale_for, now=options.utc_now()
            ),
            nl=False,
        )
        return
    mode = "cron" if cron else "systemd"
    if cron and (ca_passphrase_credential is not None or ca_pin_credential is not None):
        raise UsageError(
            "--ca-passphrase-credential and --ca-pin-credential are systemd credentials; cron has none: "
            "give --ca-passphrase-file FILE (mode 0600), or a pin-source=file: in the token's URI"
        )
    command = [os.path.abspath(certkit_path)] if certkit_path is not None else certkit_command()
    planned = schedule.job(
        command, notary_dir, deploy=not no_deploy, docker_host=docker_host, passphrase_file=ca_passphrase_file
    )
    has_source = ca_passphrase_file is not None or (systemd and ca_passphrase_credential is not None)
    # Reads no secret: only which form each CA key has (the workflow, as `certkit ca-keys list` reads it).
    from certkit.profile import load_profile
    from certkit.workflows.cakeys import list_keys

    forms = {row.form for row in list_keys(notary_dir, load_profile(None), None)}
    gaps = schedule.unattended_gaps(forms, passphrase_source=has_source)
    job_path = schedule.CRON_PATH if cron else schedule.SYSTEMD_PATH
    gaps += schedule.deploy_gaps(planned, docker_host, path=job_path, home=os.environ.get("HOME", "/root"))
    if mode == "cron":
        chosen = (
            minute if minute is not None else schedule.random_minute(random.Random(seed) if seed is not None else None)
        )
        output.echo(
            "# certkit: renew the Notary TLS certificates daily"
            + (" and recreate the services that read them" if not no_deploy else "")
            + "; cron mails only problems and what is still to do"
        )
        output.echo(schedule.cron_line(planned, minute=chosen, hour=hour))
        _warn(gaps)
        return
    anchor = options.utc_now()
    delay = int(randomized_delay.approx_timedelta(anchor).total_seconds())
    from certkit.pki.unlock import PASSPHRASE_CREDENTIAL, PIN_CREDENTIAL

    credentials = [
        (name, Path(os.path.abspath(path)))
        for name, path in ((PASSPHRASE_CREDENTIAL, ca_passphrase_credential), (PIN_CREDENTIAL, ca_pin_credential))
        if path is not None
    ]
    units = schedule.systemd_units(planned, on_calendar=on_calendar, randomized_delay=delay, credentials=credentials)
    for path in schedule.write_units(units, output_dir):
        output.echo(f"wrote {path}")
    target = output_dir.resolve()
    if target != Path("/etc/systemd/system"):
        output.echo(f"install: cp {target / schedule.SERVICE} {target / schedule.TIMER} /etc/systemd/system/")
    for name, path in credentials:
        if not path.exists():
            output.echo(
                f"credential: (umask 077; systemd-creds encrypt --name={name} SECRET_FILE {path}) "
                "then shred SECRET_FILE: the unit reads it encrypted with this host's key"
            )
    output.echo(f"enable:  systemctl daemon-reload && systemctl enable --now {schedule.TIMER}")
    _warn(gaps)


def _warn(gaps: list[str]) -> None:
    """After the job is printed or written (a refusal stays one line): what would fail it at night."""
    for note in gaps:
        output.error(note, prefix="certkit: warning: ")


def certkit_command() -> list[str]:
    """How the scheduled job starts this certkit, as an absolute command.

    The console script (sys.argv[0]) when that is what runs; it is made absolute but
    symlinks are kept, because a link such as ~/.local/bin/certkit (pipx) is the stable
    name that survives upgrades.  Else `certkit` on PATH; else this Python's `-m certkit`.
    """
    import shutil

    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if (
        argv0 is not None
        and argv0.name.startswith("certkit")
        and argv0.suffix != ".py"
        and argv0.is_file()
        and os.access(argv0, os.X_OK)
    ):
        return [os.path.abspath(argv0)]
    found = shutil.which("certkit")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "certkit"]
