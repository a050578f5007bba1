"""The shipped alert rules, checked and unit-tested by Prometheus' own promtool.

The promtool test's input series are certkit's real textfile output: five sets of
certificates (healthy, expiring, expired, stale, broken) are checked by `certkit
check-expiry --format prometheus --output`, each as if on its own host, and every sample of
those files becomes an input series. promtool's clock starts at the Unix epoch (``time()``
is the evaluation offset), so the certificates are made, and judged, around 1 January 1970:
the textfile values are then usable as they are, nothing is shifted or hand-written.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from tests.certfactory import Issued, around, make_ca, make_leaf, new_key
from tests.cli_helpers import run_cli
from tests.notary_harness import require_binary
from tests.tls_server import tls_server as _tls_server

NOW = datetime(1970, 1, 1, 1, 0, tzinfo=timezone.utc)
T0 = int(NOW.timestamp())  # 3600: the moment of the check, on promtool's clock
STALE_AFTER = 2 * 3600  # --stale-after 2h: short, so promtool evaluates few hours
STEP = 240  # seconds between input samples: under the 5 min lookback, so no series has gaps
SAMPLES = 80  # 80 x 4 min = 5.3 h of input, past the last evaluation (3 h after the check)


def _check(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> str:
    code, stdout, stderr = run_cli(
        capsys, "check-expiry", "--at", NOW.isoformat(), "--format", "prometheus", "--output", str(out), *args
    )
    assert stdout == "" and "Traceback" not in stderr, stderr
    assert code in (0, 1, 2, 3), stderr
    return out.read_text()


def make_textfiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """certkit's textfile for each set, by the instance (host) it stands for."""
    ca = make_ca("Rules Root CA", NOW - timedelta(days=30), NOW + timedelta(days=3650))
    texts: dict[str, str] = {}

    def leaf(folder: Path, name: str, expires_in: timedelta) -> Issued:
        issued = make_leaf(name, ca, *around(NOW, expires_in=expires_in))
        issued.write(folder / f"{name}.crt", chain=[ca])
        (folder / f"{name}.key").write_bytes(issued.key_pem())
        return issued

    healthy = tmp_path / "healthy"
    ca.write(healthy / "root-ca.crt")
    leaf(healthy, "server", timedelta(days=200))
    texts["healthy:9100"] = _check(capsys, tmp_path / "healthy.prom", str(healthy))

    expiring = tmp_path / "expiring"
    leaf(expiring, "soon", timedelta(days=20))
    leaf(expiring, "sooner", timedelta(days=3))
    texts["expiring:9100"] = _check(capsys, tmp_path / "expiring.prom", str(expiring))

    expired = tmp_path / "expired"
    leaf(expired, "gone", timedelta(days=-2))
    texts["expired:9100"] = _check(capsys, tmp_path / "expired.prom", str(expired))

    # STALE: the file was renewed, the server still serves the certificate it started with.
    stale = tmp_path / "stale"
    old = leaf(stale, "notary-server", timedelta(days=100))
    leaf(stale, "notary-server", timedelta(days=300))
    with _tls_server(old, [ca], tmp_path / "server") as port:
        texts["stale:9100"] = _check(
            capsys,
            tmp_path / "stale.prom",
            "--connect",
            f"127.0.0.1:{port}",
            "--servername",
            "notary-server",
            str(stale),
        )

    broken = tmp_path / "broken"
    leaf(broken, "mismatched", timedelta(days=200))
    (broken / "mismatched.key").write_bytes(Issued(ca.cert, new_key()).key_pem())  # someone else's key
    other = make_ca("Other CA", NOW - timedelta(days=30), NOW + timedelta(days=3650))
    make_leaf("misordered", ca, *around(NOW, expires_in=timedelta(days=200))).write(
        broken / "misordered.pem", chain=[other]
    )
    texts["broken:9100"] = _check(capsys, tmp_path / "broken.prom", str(broken))

    # A mistyped path: the check runs and finds nothing (UNKNOWN, issue 20); it must not look healthy.
    empty = tmp_path / "empty"
    empty.mkdir()
    texts["empty:9100"] = _check(capsys, tmp_path / "empty.prom", str(empty))
    return texts


# --------------------------------------------------------------------------- promtool's input


def _label_value(value: str) -> str:
    # promtool reads a series as a PromQL selector: a Go string literal needs these escaped.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_from_textfiles(texts: dict[str, str]) -> list[dict[str, Any]]:
    """Every sample of every textfile as a promtool input series, with its host's labels
    (what Prometheus adds when it scrapes node_exporter), constant over the test."""
    series = []
    for instance, text in texts.items():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = {**sample.labels, "instance": instance, "job": "node"}
                selector = ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items()))
                series.append({"series": f"{sample.name}{{{selector}}}", "values": f"{sample.value:.0f}+0x{SAMPLES}"})
    return series


# --------------------------------------------------------------------------- expected alerts


def _humanize_duration(seconds: float) -> str:
    """Prometheus' humanizeDuration template function (template/template.go), for whole seconds."""
    sign = "-" if seconds < 0 else ""
    v = abs(int(seconds))
    days, hours, minutes, secs = v // 86400, v // 3600 % 24, v // 60 % 60, v % 60
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{secs}s"


def _annotations(rule: dict[str, Any], labels: dict[str, str], value: float) -> dict[str, str]:
    """The rule's annotation templates filled in as Prometheus does for these two forms."""

    def fill(text: str) -> str:
        text = text.replace("{{ $value | humanizeDuration }}", _humanize_duration(value))
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)

    return {key: fill(str(text)) for key, text in rule["annotations"].items()}


def _textfile_samples(texts: dict[str, str], name: str) -> list[tuple[str, dict[str, str], float]]:
    found = []
    for instance, text in texts.items():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    found.append((instance, dict(sample.labels), float(sample.value)))
    return found


def expected_alerts(
    rules: dict[str, dict[str, Any]], texts: dict[str, str], eval_s: int, alertname: str, matches: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The alerts ``alertname`` must raise at ``eval_s``: one per textfile sample whose
    (instance, path or its file name) is in ``matches`` and that is the first certificate
    of its file (#0: the leaf), its value computed from the textfile."""
    rule = rules[alertname]
    metric = (
        "certkit_cert_problem" if "certkit_cert_problem" in rule["expr"] else "certkit_cert_not_after_timestamp_seconds"
    )
    out = []
    for instance, labels, value in _textfile_samples(texts, metric):
        if (instance, Path(labels["path"]).name) not in matches and (instance, labels["path"]) not in matches:
            continue
        if labels["index"] != ("" if alertname == "CertkitNothingChecked" else "0"):
            continue
        if metric == "certkit_cert_problem":
            wanted = {"CertkitCertificateStale": ("stale",), "CertkitNothingChecked": ("no-certificates",)}.get(
                alertname, ("chain", "key-mismatch")
            )
            if labels["code"] not in wanted:
                continue
            shown = value
        elif alertname == "CertkitCertificateExpired":
            shown = eval_s - value
        else:
            shown = value - eval_s
        full = {**labels, "instance": instance, "job": "node", "severity": rule["labels"]["severity"]}
        full = {k: v for k, v in full.items() if v != ""}  # Prometheus drops empty labels (no index, no subject)
        out.append({"exp_labels": full, "exp_annotations": _annotations(rule, full, shown)})
    assert out, f"no textfile sample for {alertname} {matches}: the test data is wrong"
    return out


def _promtool_test_rules(
    promtool: str, tmp_path: Path, unit: dict[str, Any], name: str
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on ``unit`` (written as ``name`` beside the rules file in ``tmp_path``)."""
    test_file = tmp_path / name
    with test_file.open("w") as handle:
        YAML(typ="safe", pure=True).dump(unit, handle)
    return subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )


# --------------------------------------------------------------------------- the tests


def _rules_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli(capsys, "schedule", "--prometheus-rules", *args)
    assert code == 0, err
    return out


def test_promtool_check_rules_accepts_the_shipped_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    promtool = require_binary("promtool", "prometheus")
    for args in ((), ("--warn", "6 weeks", "--crit", "10d", "--stale-after", "2h", "--stale-for", "0")):
        rules = tmp_path / "certkit-rules.yml"
        rules.write_text(_rules_text(capsys, *args))
        done = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "SUCCESS: 14 rules found" in done.stdout, done.stdout + done.stderr
    text = _rules_text(capsys, "--warn", "6 weeks", "--crit", "10d")
    assert "< 3628800 >= 864000" in text and "< 864000 >= 0" in text  # the windows, in seconds


def test_rules_reject_a_warn_window_shorter_than_crit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "schedule", "--prometheus-rules", "--warn", "3d", "--crit", "7d")
    assert code != 0 and out == "" and "--warn 3d is shorter than --crit 7d" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "schedule", "--prometheus-rules", "--cron")
    assert code != 0 and "choose one of" in err


def test_promtool_test_rules_on_real_textfiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each rule fires for its set and only there, with instance, path, index and subject."""
    promtool = require_binary("promtool", "prometheus")
    texts = make_textfiles(tmp_path, capsys)
    rules_text = _rules_text(capsys, "--stale-after", "2h", "--stale-for", "10min")
    (tmp_path / "certkit-rules.yml").write_text(rules_text)
    rules = {r["alert"]: r for r in YAML(typ="safe").load(rules_text)["groups"][0]["rules"]}

    soon = T0 + 3600  # an hour after the check ran
    late = T0 + STALE_AFTER + 3600  # past --stale-after: the textfile was never rewritten
    tests: list[dict[str, Any]] = []

    def at(eval_s: int, alertname: str, matches: list[tuple[str, str]] | None) -> None:
        exp = [] if matches is None else expected_alerts(rules, texts, eval_s, alertname, matches)
        tests.append({"eval_time": f"{eval_s}s", "alertname": alertname, "exp_alerts": exp})

    at(soon, "CertkitCertificateExpiresWithinWarn", [("expiring:9100", "soon.crt")])
    at(soon, "CertkitCertificateExpiresWithinCrit", [("expiring:9100", "sooner.crt")])
    at(soon, "CertkitCertificateExpired", [("expired:9100", "gone.crt")])
    at(soon, "CertkitCertificateStale", [("stale:9100", p) for p in _endpoints(texts)])
    at(soon, "CertkitChainOrKeyProblem", [("broken:9100", "mismatched.crt"), ("broken:9100", "misordered.pem")])
    at(soon, "CertkitNothingChecked", [("empty:9100", "empty")])
    for quiet in ("CertkitCertificateProblem", "CertkitInputUnreadable", "CertkitCheckNotRunning"):
        at(soon, quiet, None)
    # STALE waits --stale-for: a restart right after a renewal must not page anyone.
    at(5 * 60, "CertkitCertificateStale", None)

    # Hours later nobody has rewritten the textfiles: every host's check has stopped.
    hosts = sorted(texts)
    tests.append(
        {
            "eval_time": f"{late}s",
            "alertname": "CertkitCheckNotRunning",
            "exp_alerts": [
                {
                    "exp_labels": {"instance": host, "job": "node", "severity": "warning"},
                    "exp_annotations": _annotations(rules["CertkitCheckNotRunning"], {"instance": host}, late - T0),
                }
                for host in hosts
            ],
        }
    )

    unit: dict[str, Any] = {
        "rule_files": ["certkit-rules.yml"],
        "evaluation_interval": "2m",
        "tests": [{"interval": f"{STEP}s", "input_series": series_from_textfiles(texts), "alert_rule_test": tests}],
    }
    done = _promtool_test_rules(promtool, tmp_path, unit, "certkit-rules.test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout[-6000:] + done.stderr[-3000:]

    # The same test fails when the set it checks is healthy: these assertions can fail.
    texts["expiring:9100"] = texts["healthy:9100"]
    unit["tests"][0]["input_series"] = series_from_textfiles(texts)
    failed = _promtool_test_rules(promtool, tmp_path, unit, "certkit-rules.test.yml")
    assert failed.returncode != 0 and "CertkitCertificateExpiresWithinWarn" in failed.stdout + failed.stderr


def _endpoints(texts: dict[str, str]) -> list[str]:
    return sorted(
        {
            labels["path"]
            for _, labels, _ in _textfile_samples({"s": texts["stale:9100"]}, "certkit_cert_problem")
            if labels["code"] == "stale"
        }
    )


def test_promtool_running_alert_on_a_checkout_renewed_without_mounts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference_copy: Path
) -> None:
    """Notary's checkout after `renew --no-compose`: its compose project would run the images' copies
    (BAKED). CertkitRunningCertificateNotDeployed fires for each, after --stale-for, with service and
    host_path; the generic problem alert stays quiet about them."""
    promtool = require_binary("promtool", "prometheus")
    code, _, err = run_cli(capsys, "renew", "--no-compose", str(reference_copy))
    assert code == 0, err
    out = tmp_path / "baked.prom"
    code, _, err = run_cli(
        capsys, "check-expiry", "--no-engine", "--format", "prometheus", "--output", str(out), str(reference_copy)
    )
    assert code == 2, err
    texts = {"baked:9100": out.read_text()}
    rules_text = _rules_text(capsys, "--stale-for", "10min")
    (tmp_path / "certkit-rules.yml").write_text(rules_text)
    rule = {r["alert"]: r for r in YAML(typ="safe").load(rules_text)["groups"][0]["rules"]}[
        "CertkitRunningCertificateNotDeployed"
    ]
    samples = _textfile_samples(texts, "certkit_running_mismatch")
    assert samples and all(value == 1 for _, _, value in samples)
    assert {labels["service"] for _, labels, _ in samples} == {"server", "signer"}
    expected = []
    for instance, labels, value in samples:
        # An empty label (container, for the compose project's rows) is no label to Prometheus.
        full = {k: v for k, v in {**labels, "instance": instance, "job": "node", "severity": "critical"}.items() if v}
        expected.append({"exp_labels": full, "exp_annotations": _annotations(rule, full, value)})
    tests = [
        {"eval_time": "300s", "alertname": "CertkitRunningCertificateNotDeployed", "exp_alerts": []},
        {"eval_time": "3600s", "alertname": "CertkitRunningCertificateNotDeployed", "exp_alerts": expected},
        {"eval_time": "3600s", "alertname": "CertkitCertificateProblem", "exp_alerts": []},
        {"eval_time": "3600s", "alertname": "CertkitCertificateStale", "exp_alerts": []},
    ]
    unit = {
        "rule_files": ["certkit-rules.yml"],
        "evaluation_interval": "2m",
        "tests": [{"interval": f"{STEP}s", "input_series": series_from_textfiles(texts), "alert_rule_test": tests}],
    }
    done = _promtool_test_rules(promtool, tmp_path, unit, "running.test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout[-6000:] + done.stderr[-3000:]


def test_a_textfile_node_exporter_cannot_read_fires_an_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19, item 6: a textfile node_exporter rejects takes every certkit series with it, so no
    certkit alert can fire; CertkitTextfileUnreadable does.  Its input is what the real
    node_exporter reports for a real certkit textfile cut short (a full disk, a hand edit)."""
    from tests.test_prometheus_e2e import _get, node_exporter

    promtool = require_binary("promtool", "prometheus")
    folder = tmp_path / "certs"
    ca = make_ca("Rules Root CA", NOW - timedelta(days=30), NOW + timedelta(days=3650))
    make_leaf("server", ca, *around(NOW, expires_in=timedelta(days=200))).write(folder / "server.crt", chain=[ca])
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    text = _check(capsys, textfile_dir / "certkit.prom", str(folder))
    cut = text.index('subject="') + len('subject="') + 3
    (textfile_dir / "certkit.prom").write_text(text[:cut] + "\n")  # ends inside a label value
    with node_exporter(textfile_dir, tmp_path) as target:
        status, body = _get(f"http://{target}/metrics")
    assert status == 200
    values = {
        line.split()[0]: float(line.split()[1])
        for line in body.decode().splitlines()
        if line.startswith("node_textfile_scrape_error")
    }
    assert values == {"node_textfile_scrape_error": 1.0}  # node_exporter's verdict on that file
    assert "certkit_" not in body.decode()  # and no certkit series at all: every other alert is blind

    rules_text = _rules_text(capsys)
    (tmp_path / "certkit-rules.yml").write_text(rules_text)
    rule = {r["alert"]: r for r in YAML(typ="safe").load(rules_text)["groups"][0]["rules"]}["CertkitTextfileUnreadable"]
    series = [
        {
            "series": 'node_textfile_scrape_error{instance="broken:9100",job="node"}',
            "values": f"{values['node_textfile_scrape_error']:.0f}+0x30",
        },
        {"series": 'node_textfile_scrape_error{instance="healthy:9100",job="node"}', "values": "0+0x30"},
    ]
    labels = {"instance": "broken:9100", "job": "node", "severity": "critical"}
    annotations = {
        key: str(value).replace("{{ $labels.instance }}", "broken:9100").replace("{{ $value }}", "1")
        for key, value in rule["annotations"].items()
    }
    unit = {
        "rule_files": ["certkit-rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "CertkitTextfileUnreadable", "exp_alerts": []},  # for: 10m
                    {
                        "eval_time": "15m",
                        "alertname": "CertkitTextfileUnreadable",
                        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
                    },
                ],
            }
        ],
    }
    done = _promtool_test_rules(promtool, tmp_path, unit, "unreadable.test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


def test_promtool_deploy_owed_alert_after_a_deploy_that_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference_copy: Path
) -> None:
    """Notary's checkout renewed with `--deploy` while the engine is gone: the files are new, the
    containers are not, and `.certkit/deploy-owed` says so. CertkitDeployOwed fires at once with the
    record's path (the generic problem alert stays quiet about it); after a deploy that clears the
    record, the textfile has no such row and nothing fires."""
    promtool = require_binary("promtool", "prometheus")
    gone = f"unix://{tmp_path / 'no-engine.sock'}"
    code, _, err = run_cli(capsys, "renew", "--quiet", "--deploy", "--docker-host", gone, str(reference_copy))
    assert code == 21 and "a deploy is owed" in err, err
    out = tmp_path / "owed.prom"
    code, _, err = run_cli(
        capsys, "check-expiry", "--no-engine", "--format", "prometheus", "--output", str(out), str(reference_copy)
    )
    assert code == 2, err
    texts = {"owed:9100": out.read_text()}
    owed = [s for s in _textfile_samples(texts, "certkit_cert_problem") if s[1]["code"] == "deploy-owed"]
    assert len(owed) == 1
    rules_text = _rules_text(capsys)
    (tmp_path / "certkit-rules.yml").write_text(rules_text)
    rule = {r["alert"]: r for r in YAML(typ="safe").load(rules_text)["groups"][0]["rules"]}["CertkitDeployOwed"]
    instance, labels, value = owed[0]
    full = {k: v for k, v in {**labels, "instance": instance, "job": "node", "severity": "critical"}.items() if v}
    tests = [
        {
            "eval_time": "60s",
            "alertname": "CertkitDeployOwed",
            "exp_alerts": [{"exp_labels": full, "exp_annotations": _annotations(rule, full, value)}],
        },
        {"eval_time": "60s", "alertname": "CertkitCertificateProblem", "exp_alerts": []},
    ]
    (reference_copy / ".certkit" / "deploy-owed").unlink()  # what a deploy that succeeded does
    code, _, err = run_cli(
        capsys, "check-expiry", "--no-engine", "--format", "prometheus", "--output", str(out), str(reference_copy)
    )
    cleared = {"cleared:9100": out.read_text()}
    assert not [s for s in _textfile_samples(cleared, "certkit_cert_problem") if s[1]["code"] == "deploy-owed"]
    tests.append(
        {
            "eval_time": "60s",
            "alertname": "CertkitDeployOwed",
            "exp_alerts": [{"exp_labels": full, "exp_annotations": _annotations(rule, full, value)}],
        }
    )  # the owed instance only: the cleared one raises nothing
    unit = {
        "rule_files": ["certkit-rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": f"{STEP}s",
                "input_series": series_from_textfiles({**texts, **cleared}),
                "alert_rule_test": tests,
            }
        ],
    }
    done = _promtool_test_rules(promtool, tmp_path, unit, "owed.test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout[-6000:] + done.stderr[-3000:]


def test_every_shipped_alert_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/check-expiry.md's table of alerts names exactly the rules `schedule --prometheus-rules` prints."""
    rules = {r["alert"] for r in YAML(typ="safe").load(_rules_text(capsys))["groups"][0]["rules"]}
    docs = (Path(__file__).resolve().parent.parent / "docs" / "check-expiry.md").read_text()
    documented = set(re.findall(r"^\| `(Certkit\w+)` \|", docs, re.MULTILINE))
    assert documented == rules
