"""End to end with the real engines: node_exporter reads certkit's textfile, Prometheus
scrapes it and evaluates the shipped rules; the expired-leaf alert fires, and resolves once
`certkit renew` and the next `check-expiry --format prometheus --output` have run.

Debian's prometheus-node-exporter and prometheus, each on a free 127.0.0.1 port, readiness
polled, every wait bounded, both stopped (and their folders removed with tmp_path) always.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from certkit.cli import main
from tests.notary_harness import free_port, require_binary

pytestmark = pytest.mark.e2e

T = TypeVar("T")
LEAF = "fixtures/notary-server.crt"


def _certkit(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    code = exit_info.value.code
    return code if isinstance(code, int) else 1


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), response.read()
    except OSError:
        return 0, b""  # not listening yet, or a 503 while starting (HTTPError is an OSError)


def _poll(
    what: str, probe: Callable[[], T | None], process: subprocess.Popen[bytes] | None, log: Path, timeout: float = 60.0
) -> T:
    """``probe()`` until it returns something, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)  # poll interval, not a readiness guess
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s\n{log.read_text()[-3000:]}")


@contextmanager
def _running(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def node_exporter(textfile_dir: Path, workdir: Path) -> Iterator[str]:
    """prometheus-node-exporter with only the textfile collector; yields HOST:PORT."""
    binary = require_binary("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    log = workdir / "node_exporter.log"
    argv = [
        binary,
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfile_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _running(argv, log) as process:
        url = f"http://127.0.0.1:{port}/metrics"
        _poll("node_exporter /metrics", lambda: True if _get(url)[0] == 200 else None, process, log)
        yield f"127.0.0.1:{port}"


@contextmanager
def prometheus(target: str, rules: Path, workdir: Path) -> Iterator[str]:
    """A Prometheus server scraping ``target`` every second with ``rules``; yields its base URL."""
    binary = require_binary("prometheus", "prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        json.dumps(
            {  # JSON is YAML
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [{"job_name": "node", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    log = workdir / "prometheus.log"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _running(argv, log) as process:
        base = f"http://127.0.0.1:{port}"
        _poll("prometheus /-/ready", lambda: True if _get(base + "/-/ready")[0] == 200 else None, process, log)
        yield base


def _alerts(base: str) -> list[dict[str, Any]]:
    status, body = _get(base + "/api/v1/alerts")
    assert status == 200, body
    alerts: list[dict[str, Any]] = json.loads(body)["data"]["alerts"]
    return alerts


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    status, body = _get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert status == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def _expired_leaf_alert(base: str, leaf_path: str) -> dict[str, Any] | None:
    for alert in _alerts(base):
        labels = alert["labels"]
        if (
            labels["alertname"] == "CertkitCertificateExpired"
            and labels.get("path") == leaf_path
            and labels.get("index") == "0"
            and alert["state"] == "firing"
        ):
            return alert
    return None


def test_expired_leaf_fires_through_node_exporter_and_prometheus_then_resolves_after_renew(
    reference_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    prom_file = textfile_dir / "certkit.prom"
    rules = tmp_path / "certkit-rules.yml"
    assert _certkit("schedule", "--prometheus-rules") == 0
    rules.write_text(capsys.readouterr().out)

    # The real (expired) Notary checkout, checked as cron would: against the clock. --all also
    # judges the files no service uses (Notary's trust-pinning test fixtures): after the renewal
    # they still fire, which shows the rules are still evaluated when the leaf's alert resolves.
    assert (
        _certkit("check-expiry", "--all", "--format", "prometheus", "--output", str(prom_file), str(reference_copy))
        == 2
    )
    leaf_path = str(reference_copy / LEAF)

    with node_exporter(textfile_dir, tmp_path) as target, prometheus(target, rules, tmp_path) as base:
        alert = _poll(
            "CertkitCertificateExpired firing",
            lambda: _expired_leaf_alert(base, leaf_path),
            None,
            tmp_path / "prometheus.log",
        )
        labels = alert["labels"]
        assert labels["instance"] == target and labels["job"] == "node" and labels["severity"] == "critical"
        assert labels["subject"].startswith("CN=notary-server,") and "serial" not in labels
        assert alert["annotations"]["summary"] == f"Certificate {leaf_path}#0 on {target} has expired"
        fired = time.monotonic()
        # node_exporter's own series for the file matches the rule's check-not-running regex.
        mtime = _query(base, 'node_textfile_mtime_seconds{file=~"(.*/)?certkit[^/]*[.]prom"}')
        assert [m["metric"]["file"] for m in mtime] == [str(prom_file)]

        assert _certkit("renew", "--no-compose", str(reference_copy)) == 0
        capsys.readouterr()
        assert (
            _certkit("check-expiry", "--all", "--format", "prometheus", "--output", str(prom_file), str(reference_copy))
            == 2
        )
        _poll(
            "CertkitCertificateExpired resolved",
            lambda: True if _expired_leaf_alert(base, leaf_path) is None else None,
            None,
            tmp_path / "prometheus.log",
        )
        resolved = time.monotonic()
        # Still firing, so the rules still run: Notary's trust-pinning test fixtures, which are
        # no TLS certificates and which certkit renew rightly leaves alone.
        remaining = {
            (a["labels"]["alertname"], a["labels"]["path"].removeprefix(str(reference_copy) + "/"))
            for a in _alerts(base)
            if a["state"] == "firing"
        }
        assert remaining == {
            ("CertkitCertificateExpired", "trustpinning/test.crt"),
            ("CertkitCertificateExpired", "trustpinning/ca.crt"),
        }, remaining
        # The same series (same labels) now holds the renewed notAfter, more than a year away.
        left = _query(base, f'certkit_cert_not_after_timestamp_seconds{{path="{leaf_path}",index="0"}} - time()')
        assert len(left) == 1 and float(left[0]["value"][1]) > 365 * 86400
    print(f"\nfiring after {fired - started:.1f} s, resolved {resolved - fired:.1f} s after (renew included)")


def test_a_carriage_return_in_a_subject_keeps_the_textfile_readable_by_node_exporter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19, item 6: one CR in one CN made node_exporter reject the whole file
    (node_textfile_scrape_error 1) and export no certkit series, silencing every certkit alert."""
    from datetime import datetime, timedelta, timezone

    from tests.certfactory import around, make_ca, make_leaf

    now = datetime.now(timezone.utc)
    ca = make_ca("Scrape Root", now - timedelta(days=10), now + timedelta(days=3000))
    folder = tmp_path / "certs"
    make_leaf("line\rbreak", ca, *around(now, expires_in=timedelta(days=300))).write(folder / "cr.crt", chain=[ca])
    make_leaf("plain.example", ca, *around(now, expires_in=timedelta(days=300))).write(folder / "plain.crt")
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    assert (
        _certkit("check-expiry", "--format", "prometheus", "--output", str(textfile_dir / "certkit.prom"), str(folder))
        == 0
    )
    with node_exporter(textfile_dir, tmp_path) as target:
        status, body = _get(f"http://{target}/metrics")
    assert status == 200
    metrics = body.decode("utf-8")
    assert "\nnode_textfile_scrape_error 0\n" in metrics, metrics[-3000:]
    subjects = [line for line in metrics.splitlines() if line.startswith("certkit_cert_status{")]
    assert len(subjects) == 3, metrics[-3000:]  # both leaves and the CA of the bundle
    assert any('subject="CN=line\\\\rbreak"' in line for line in subjects), subjects
