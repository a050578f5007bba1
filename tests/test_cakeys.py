"""CA keys encrypted at rest and the root offline (certkit.pki.cakeys, certkit.workflows.cakeys, the CLI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from tests.cakeys_helpers import (
    CA_NAMES,
    ca_public_keys,
    certkit,
    private_blocks,
    secret_file,
    snapshot,
    spki_of,
)
from tests.cli_helpers import as_cron, run_cli
from tests.notary_harness import require_binary

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def passphrase(tmp_path: Path) -> Path:
    return secret_file(tmp_path / "ca-pass", PASSPHRASE)


@pytest.fixture
def encrypted(fresh_layout: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A fresh layout whose CA store was converted to encrypted (after one renewal, so generations hold copies)."""
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(fresh_layout))
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "ca-keys", "convert", "--to", "encrypted", "--new-passphrase-file", str(passphrase), str(fresh_layout)
    )
    assert code == 0, err
    assert "copies kept for rollback" in out
    return fresh_layout


def _forms(capsys: pytest.CaptureFixture[str], layout: Path) -> dict[str, str]:
    import json

    code, out, err = run_cli(capsys, "ca-keys", "list", "--json", str(layout))
    assert code == 0, err
    return {row["name"]: row["form"] for row in json.loads(out)["keys"]}


def test_a_copy_of_an_encrypted_state_folder_gives_no_usable_ca_key(tmp_path: Path, encrypted: Path) -> None:
    """What a backup, `cp -a` or a tarball of .certkit/ hands over: no CA key without the passphrase."""
    stolen = tmp_path / "stolen"
    shutil.copytree(encrypted / ".certkit", stolen)
    ca_keys = set(ca_public_keys(encrypted).values())
    blocks = private_blocks(stolen)
    opened_with_passphrase = {spki_of(block, PASSPHRASE.encode()) for _, block in blocks}
    # The test can fail: the CA keys are in the copy, and the right passphrase opens them ...
    assert ca_keys <= opened_with_passphrase
    for path, block in blocks:
        # ... but nothing there opens to a CA key without it, or with another passphrase.
        assert spki_of(block, None) not in ca_keys, f"{path}: a CA key in plaintext"
        assert spki_of(block, b"a guess") is None, path


def test_the_same_check_finds_the_plaintext_keys_of_a_plain_store(tmp_path: Path, fresh_layout: Path) -> None:
    """The check above on a store as certkit kept it before: every CA key is there for the taking."""
    stolen = tmp_path / "stolen"
    shutil.copytree(fresh_layout / ".certkit", stolen)
    plain = {spki_of(block, None) for _, block in private_blocks(stolen)}
    assert set(ca_public_keys(fresh_layout).values()) <= plain


def test_encrypted_keys_are_pkcs8_openssl_opens(encrypted: Path, passphrase: Path) -> None:
    openssl = require_binary("openssl", "openssl")
    for name in CA_NAMES:
        key = encrypted / ".certkit" / "ca" / f"{name}.key"
        assert key.stat().st_mode & 0o777 == 0o600
        done = subprocess.run(
            [openssl, "pkey", "-in", str(key), "-passin", f"file:{passphrase}", "-noout"], capture_output=True
        )
        assert done.returncode == 0, done.stderr
        refused = subprocess.run(
            [openssl, "pkey", "-in", str(key), "-passin", "pass:nope", "-noout"], capture_output=True
        )
        assert refused.returncode != 0


def test_renewal_signs_with_the_encrypted_keys_and_keeps_them_encrypted(
    encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root_before = (encrypted / "fixtures" / "root-ca.crt").read_bytes()
    code, _, err = run_cli(
        capsys, "renew", "--within", "800d", "--no-compose", "--ca-passphrase-file", str(passphrase), str(encrypted)
    )
    assert code == 0, err
    assert (encrypted / "fixtures" / "root-ca.crt").read_bytes() == root_before  # same root: no re-trust
    leaf = x509.load_pem_x509_certificate((encrypted / "fixtures" / "notary-server.crt").read_bytes())
    intermediate = x509.load_pem_x509_certificate((encrypted / "fixtures" / "intermediate-ca.crt").read_bytes())
    leaf.verify_directly_issued_by(intermediate)
    assert set(_forms(capsys, encrypted).values()) == {"encrypted"}


def test_a_new_ca_key_is_stored_encrypted(
    encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (encrypted / ".certkit" / "ca" / "database-ca.key").unlink()  # a renewal that must sign makes a new one
    code, _, err = run_cli(
        capsys, "renew", "--force", "--no-compose", "--ca-passphrase-file", str(passphrase), str(encrypted)
    )
    assert code == 0, err
    assert _forms(capsys, encrypted)["database-ca"] == "encrypted"


def test_nothing_to_sign_asks_for_no_passphrase(encrypted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["renew", "--no-compose"], ["renew", "--json", "--no-compose"], ["renew", "--no-compose"]):
        code, _, err = run_cli(capsys, *args, str(encrypted))  # the full path (--json), then the cron fast path
        assert code == 0, err
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(encrypted))
    assert code == 23, err  # the store does need the passphrase once something must be signed


def test_passphrase_change_and_back_to_plain(
    tmp_path: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = secret_file(tmp_path / "new-pass", "another long passphrase")
    args = ["ca-keys", "convert", "--to", "encrypted", "--ca-passphrase-file", str(passphrase)]
    code, _, err = run_cli(capsys, *args, "--new-passphrase-file", str(new), str(encrypted))
    assert code == 0, err
    code, _, err = run_cli(
        capsys, "renew", "--force", "--no-compose", "--ca-passphrase-file", str(passphrase), str(encrypted)
    )
    assert code == 23 and "does not decrypt" in err
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", "--ca-passphrase-file", str(new), str(encrypted))
    assert code == 0, err
    code, _, err = run_cli(
        capsys, "ca-keys", "convert", "--to", "plain", "--ca-passphrase-file", str(new), str(encrypted)
    )
    assert code == 0, err
    assert set(_forms(capsys, encrypted).values()) == {"plain"}
    plain = {spki_of(block, None) for _, block in private_blocks(encrypted / ".certkit")}
    assert set(ca_public_keys(encrypted).values()) <= plain
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(encrypted))
    assert code == 0, err


@pytest.mark.parametrize("kill_at", [2, 5, 9, 14, 20, 30])
def test_convert_killed_anywhere_leaves_one_form(
    tmp_path: Path, fresh_layout: Path, passphrase: Path, capsys: pytest.CaptureFixture[str], kill_at: int
) -> None:
    """SIGKILL at the kill_at-th file operation: after recovery the store and its copies are wholly plain or
    wholly encrypted, never a mix (one transaction)."""
    code, _, err = run_cli(capsys, "renew", "--force", "--no-compose", str(fresh_layout))
    assert code == 0, err
    killed = certkit(
        ["ca-keys", "convert", "--to", "encrypted", "--new-passphrase-file", str(passphrase), str(fresh_layout)],
        env={"CERTKIT_FAILPOINT": f"kill:{kill_at}"},
    )
    assert killed.returncode in (0, -9), killed.stderr
    code, _, err = run_cli(capsys, "renew", "--json", "--no-compose", str(fresh_layout))  # recovers first
    assert code == 0, err
    forms = set(_forms(capsys, fresh_layout).values())
    assert forms in ({"plain"}, {"encrypted"}), forms
    blocks = private_blocks(fresh_layout / ".certkit")
    plain = {spki_of(block, None) for _, block in blocks}
    ca_keys = set(ca_public_keys(fresh_layout).values())
    if forms == {"encrypted"}:
        assert not (ca_keys & plain)  # the generations' copies were converted in the same transaction
    else:
        assert ca_keys <= plain


@pytest.mark.parametrize("case", ["wrong", "missing", "loose", "empty", "no-source", "empty-credential", "owner"])
def test_bad_passphrase_sources_are_one_line_exit_23_nothing_written(
    tmp_path: Path, encrypted: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    secret = "wrong passphrase 1234"
    args = ["renew", "--force", "--no-compose", str(encrypted)]
    if case == "wrong":
        args += ["--ca-passphrase-file", str(secret_file(tmp_path / "p", secret))]
    elif case == "missing":
        args += ["--ca-passphrase-file", str(tmp_path / "absent")]
    elif case == "loose":
        args += ["--ca-passphrase-file", str(secret_file(tmp_path / "p", PASSPHRASE, 0o644))]
    elif case == "empty":
        args += ["--ca-passphrase-file", str(secret_file(tmp_path / "p", ""))]
    elif case == "empty-credential":
        credentials = tmp_path / "credentials"
        credentials.mkdir(mode=0o700)
        secret_file(credentials / "certkit-ca-passphrase", "", 0o400)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    elif case == "owner":
        path = secret_file(tmp_path / "p", PASSPHRASE)
        os.chown(path, 12345, -1)
        args += ["--ca-passphrase-file", str(path)]
    before = snapshot(encrypted)
    code, out, err = run_cli(capsys, *args)
    assert code == 23, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("certkit: error: ") and "Traceback" not in err
    assert "nothing was written" in err
    assert secret not in err + out and PASSPHRASE not in err + out
    assert snapshot(encrypted) == before


def test_a_passphrase_file_for_a_plain_store_is_refused(
    fresh_layout: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(fresh_layout)
    code, _, err = run_cli(
        capsys, "renew", "--force", "--no-compose", "--ca-passphrase-file", str(passphrase), str(fresh_layout)
    )
    assert code == 23 and "ca-keys" in err
    assert snapshot(fresh_layout) == before


# --------------------------------------------------------------------------- the root offline


@pytest.fixture
def offline(tmp_path: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    export = tmp_path / "usb" / "root-ca.key"
    code, out, err = run_cli(
        capsys,
        "ca-keys",
        "export-root",
        "--to",
        str(export),
        "--ca-passphrase-file",
        str(passphrase),
        str(encrypted),
    )
    assert code == 0, err
    assert "exported and verified" in out
    return export


def test_export_root_leaves_no_root_key_behind(
    offline: Path, encrypted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert offline.stat().st_mode & 0o777 == 0o600
    root = ca_public_keys(encrypted)["root-ca"]
    assert spki_of(private_blocks(offline.parent)[0][1], PASSPHRASE.encode()) == root  # the export opens
    # Not even with the passphrase is the root's key anywhere in the state folder now, copies included.
    for path, block in private_blocks(encrypted / ".certkit"):
        assert spki_of(block, PASSPHRASE.encode()) != root, path
        assert spki_of(block, None) != root, path
    assert _forms(capsys, encrypted) == {
        "root-ca": "offline",
        "intermediate-ca": "encrypted",
        "database-ca": "encrypted",
    }
    code, out, err = run_cli(capsys, "status", str(encrypted))
    assert f"key: offline (exported to {offline})" in out and "key: CA store, encrypted" in out, out + err


def test_routine_renewal_runs_without_the_root(
    offline: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "renew", "--within", "800d", "--no-compose", "--ca-passphrase-file", str(passphrase), str(encrypted)
    )
    assert code == 0, err
    intermediate = x509.load_pem_x509_certificate((encrypted / "fixtures" / "intermediate-ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((encrypted / "fixtures" / "notary-signer.crt").read_bytes())
    leaf.verify_directly_issued_by(intermediate)


def test_renewal_that_needs_the_root_says_how_exit_24_nothing_written(
    tmp_path: Path, offline: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(encrypted)
    code, out, err = run_cli(
        capsys, "renew", "--force", "--no-compose", "--ca-passphrase-file", str(passphrase), str(encrypted)
    )
    assert code == 24, err
    assert len(err.strip().splitlines()) == 1
    assert f"--ca-root-key {offline}" in err and "intermediate-ca" in err and "nothing was written" in err
    assert snapshot(encrypted) == before
    # The dry run says the same beforehand.
    code, out, err = run_cli(capsys, "renew", "--force", "--dry-run", "--no-compose", str(encrypted))
    assert code == 0 and f"--ca-root-key {offline}" in out
    # Another key, even under the same passphrase, is refused: exit 24, nothing written.
    from cryptography.hazmat.primitives.asymmetric import rsa

    from certkit.pki import pkcs8

    other = tmp_path / "other.key"
    other.write_bytes(pkcs8.encrypt(rsa.generate_private_key(65537, 2048), PASSPHRASE.encode(), iterations=1000))
    code, _, err = run_cli(
        capsys,
        "renew",
        "--force",
        "--no-compose",
        "--ca-passphrase-file",
        str(passphrase),
        "--ca-root-key",
        str(other),
        str(encrypted),
    )
    assert code == 24 and "not root-ca's key" in err and len(err.strip().splitlines()) == 1
    assert snapshot(encrypted) == before


def test_the_exported_root_signs_for_one_run_and_stays_offline(
    offline: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root_cert = (encrypted / "fixtures" / "root-ca.crt").read_bytes()
    code, _, err = run_cli(
        capsys,
        "renew",
        "--force",
        "--no-compose",
        "--ca-passphrase-file",
        str(passphrase),
        "--ca-root-key",
        str(offline),
        str(encrypted),
    )
    assert code == 0, err
    root = x509.load_pem_x509_certificate((encrypted / "fixtures" / "root-ca.crt").read_bytes())
    assert root.public_key() == x509.load_pem_x509_certificate(root_cert).public_key()  # the same root key
    intermediate = x509.load_pem_x509_certificate((encrypted / "fixtures" / "intermediate-ca.crt").read_bytes())
    intermediate.verify_directly_issued_by(root)
    assert _forms(capsys, encrypted)["root-ca"] == "offline"


def test_export_refuses_a_place_inside_the_checkout_or_an_existing_file(
    tmp_path: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(encrypted)
    for target in (encrypted / "root.key", passphrase):
        code, _, err = run_cli(
            capsys,
            "ca-keys",
            "export-root",
            "--to",
            str(target),
            "--ca-passphrase-file",
            str(passphrase),
            str(encrypted),
        )
        assert code == 2, err
    assert snapshot(encrypted) == before


def test_check_expiry_warns_before_the_offline_root_is_needed(
    offline: Path, encrypted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The intermediate runs 10 years: judged 3619 days ahead (with --at) the root is needed within 30 days."""
    import json
    from datetime import timedelta

    intermediate = x509.load_pem_x509_certificate((encrypted / "fixtures" / "intermediate-ca.crt").read_bytes())
    needed = intermediate.not_valid_after_utc - timedelta(days=30)
    now = needed - timedelta(days=20)
    code, out, _ = run_cli(capsys, "check-expiry", "--json", "--at", now.isoformat(), str(encrypted))
    rows = json.loads(out)["certificates"]
    flagged = [r for r in rows if "offline-key" in r["codes"]]
    assert {r["path"].rsplit("/", 1)[-1] for r in flagged} >= {"intermediate-ca.crt"}
    assert all(r["status"] in ("WARNING", "CRITICAL") for r in flagged) and code >= 1
    assert str(offline) in " ".join(" ".join(r["reasons"]) for r in flagged)
    code, out, _ = run_cli(capsys, "check-expiry", "--format", "prometheus", str(encrypted))
    assert "certkit_offline_key_needed_timestamp_seconds{" in out
    assert f"}} {needed.timestamp():.0f}" in out


def test_the_passphrase_reaches_no_hook_and_no_output(
    tmp_path: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "hook-env.txt"
    code, out, err = run_cli(
        capsys,
        "renew",
        "--force",
        "--no-compose",
        "--ca-passphrase-file",
        str(passphrase),
        "--deploy-hook",
        f"env > {dump}",
        str(encrypted),
    )
    assert code == 0, err
    assert dump.read_text()  # the hook ran and saw its environment ...
    assert PASSPHRASE not in dump.read_text() + out + err  # ... which holds no passphrase


def test_alert_rules_warn_before_the_offline_root_is_needed(
    tmp_path: Path, offline: Path, encrypted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """promtool runs the shipped rules on the real textfile's series, the day moved near: 20 days ahead the
    warning fires and the critical one does not; 40 days ahead neither; 5 days ahead both."""
    from prometheus_client.parser import text_string_to_metric_families
    from ruamel.yaml import YAML

    from tests.test_prometheus_rules import _annotations

    promtool = require_binary("promtool", "prometheus")
    code, text, err = run_cli(capsys, "check-expiry", "--format", "prometheus", str(encrypted))
    samples = [
        dict(s.labels)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "certkit_offline_key_needed_timestamp_seconds"
    ]
    labels = next(s for s in samples if s["path"].endswith("intermediate-ca.crt"))
    code, rules_text, _ = run_cli(capsys, "schedule", "--prometheus-rules")
    (tmp_path / "rules.yml").write_text(rules_text)
    rules = {r["alert"]: r for r in YAML(typ="safe").load(rules_text)["groups"][0]["rules"]}
    day, eval_s = 86400, 300
    tests = []
    series = []
    for days, host in ((20, "soon"), (40, "later"), (5, "now")):
        full = {**labels, "instance": host, "job": "node"}
        selector = ",".join(f'{k}="{v}"' for k, v in sorted(full.items()))
        series.append(
            {"series": f"certkit_offline_key_needed_timestamp_seconds{{{selector}}}", "values": f"{days * day}+0x10"}
        )
    for alert, hosts in (("CertkitOfflineKeyNeededSoon", ("soon", "now")), ("CertkitOfflineKeyNeededNow", ("now",))):
        severity = rules[alert]["labels"]["severity"]
        days_of = {"soon": 20, "later": 40, "now": 5}
        tests.append(
            {
                "eval_time": f"{eval_s}s",
                "alertname": alert,
                "exp_alerts": [
                    {
                        "exp_labels": {**labels, "instance": h, "job": "node", "severity": severity},
                        "exp_annotations": _annotations(
                            rules[alert], {**labels, "instance": h}, days_of[h] * day - eval_s
                        ),
                    }
                    for h in hosts
                ],
            }
        )
    unit = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}],
    }
    with (tmp_path / "unit.yml").open("w") as handle:
        YAML(typ="safe", pure=True).dump(unit, handle)
    done = subprocess.run(
        [promtool, "test", "rules", "unit.yml"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_key_encryption_key_is_derived_ahead_in_a_thread(encrypted: Path, passphrase: Path) -> None:
    """Unlock.prefetch derives the intermediate's PBKDF2 key beside the main thread; decrypting then uses it."""
    from certkit.pki import pkcs8
    from certkit.pki.unlock import Unlock

    key_file = encrypted / ".certkit" / "ca" / "intermediate-ca.key"
    found = pkcs8.params(key_file.read_bytes())
    assert found is not None and found.iterations == pkcs8.ITERATIONS
    unlock = Unlock(passphrase_file=passphrase)
    unlock.prefetch(key_file)
    kek = unlock.derived(PASSPHRASE.encode(), found.salt, found.iterations)
    assert kek == pkcs8.derive(PASSPHRASE.encode(), found)
    assert unlock.derived(b"another", found.salt, found.iterations) is None  # only for the passphrase it used
    key = pkcs8.decrypt(key_file.read_bytes(), PASSPHRASE.encode(), kek)
    intermediate = x509.load_pem_x509_certificate((encrypted / "fixtures" / "intermediate-ca.crt").read_bytes())
    assert key.public_key() == intermediate.public_key()
    # Without a source at hand (a prompt only), nothing is derived and nothing is asked.
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "x"

    quiet = Unlock(prompt=prompt)
    quiet.prefetch(key_file)
    assert asked == [] and quiet.derived(b"x", found.salt, found.iterations) is None


def _cron_renew(line: str) -> str:
    """The renew command of the crontab line (before `; ... check-expiry`), without the time fields."""
    return line.split(None, 5)[5].split("; ", 1)[0]


def test_the_cron_line_of_an_encrypted_store_signs_with_its_passphrase_file(
    tmp_path: Path, encrypted: Path, passphrase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line `schedule --cron --ca-passphrase-file` prints, run as cron runs it, renews a leaf that is
    due with the encrypted intermediate; the line printed without the file warns now, and at night exits 23
    with one line on stderr and nothing written."""
    leaf = encrypted / "fixtures" / "notary-server.crt"
    before = leaf.read_bytes()
    leaf.unlink()  # a leaf that must be issued again: the renewal must sign with the intermediate
    certkit_exe = str(Path(sys.executable).with_name("certkit"))

    bare = subprocess.run(
        [certkit_exe, "schedule", "--cron", "--no-deploy", str(encrypted)], capture_output=True, text=True, timeout=60
    )
    assert bare.returncode == 0, bare.stderr
    assert "--ca-passphrase-file" in bare.stderr and "exit 23" in bare.stderr, bare.stderr
    home = tmp_path / "home"
    home.mkdir()
    snapshot_before = snapshot(encrypted / "fixtures")
    night = as_cron(_cron_renew(bare.stdout.strip().splitlines()[-1]), home)
    assert night.returncode == 23, night.stdout + night.stderr
    assert len(night.stderr.strip().splitlines()) == 1 and "passphrase" in night.stderr, night.stderr
    assert night.stdout == "" and snapshot(encrypted / "fixtures") == snapshot_before

    printed = subprocess.run(
        [certkit_exe, "schedule", "--cron", "--no-deploy", "--ca-passphrase-file", str(passphrase), str(encrypted)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0 and printed.stderr == "", printed.stderr
    line = printed.stdout.strip().splitlines()[-1]
    assert f"--ca-passphrase-file {passphrase}" in line
    ran = as_cron(_cron_renew(line), home)
    assert ran.returncode == 0 and ran.stdout == "", ran.stdout + ran.stderr
    renewed = x509.load_pem_x509_certificate(leaf.read_bytes())
    intermediate = x509.load_pem_x509_certificate((encrypted / "fixtures" / "intermediate-ca.crt").read_bytes())
    renewed.verify_directly_issued_by(intermediate)
    assert leaf.read_bytes() != before
    assert set(_forms(capsys, encrypted).values()) == {"encrypted"}


def test_schedule_refuses_a_loose_passphrase_file_and_credentials_for_cron(
    tmp_path: Path, encrypted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = secret_file(tmp_path / "loose", PASSPHRASE, mode=0o644)
    code, out, err = run_cli(capsys, "schedule", "--cron", "--ca-passphrase-file", str(loose), str(encrypted))
    assert code == 23 and out == "" and len(err.strip().splitlines()) == 1 and "chmod 600" in err, err
    code, out, err = run_cli(capsys, "schedule", "--cron", "--ca-passphrase-credential", str(loose), str(encrypted))
    assert code == 2 and "--ca-passphrase-file" in err and out == "", err
