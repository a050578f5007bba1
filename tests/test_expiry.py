"""certkit.check.expiry and certkit.check.notary_config: the judging core, on real and generated files."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from certkit.check.deployed import deployed_files
from certkit.check.expiry import Checker, ServedChain, judge_time
from certkit.check.findings import Finding, Note, Status, Thresholds, worst
from certkit.check.notary_config import find_layout_root, notary_notes
from certkit.check.walk import Scope
from certkit.durations import parse_duration
from certkit.profile import load_profile
from tests.certfactory import Issued, around, make_ca, make_leaf

NOW = datetime(2027, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
DEFAULT = Thresholds(parse_duration("30d"), parse_duration("7d"))
# A moment when every certificate of the reference set is valid (leaves: 2021-04-02 .. 2023-04-22).
REFERENCE_VALID = datetime(2022, 6, 1, tzinfo=timezone.utc)
REFERENCE_EXPIRED = datetime(2026, 11, 25, tzinfo=timezone.utc)


def run(
    paths: list[Path],
    now: datetime = NOW,
    thresholds: Thresholds = DEFAULT,
    *,
    served: list[ServedChain] | None = None,
    notary: bool = False,
    deployed: bool = False,
    exclude: tuple[str, ...] = (),
) -> list[Finding]:
    """Findings as check-expiry makes them; ``deployed`` judges only what the services use."""
    notes: dict[str, list[Note]] = {}
    shown: dict[str, str] = {}
    extra: list[Finding] = []
    scopes: dict[str, Scope] = {}
    if notary:
        for path in paths:
            root = find_layout_root(path, load_profile())
            assert root is not None, path
            result = notary_notes(root, now, load_profile())
            result.merge_into(notes, shown)
            extra += result.findings
            if deployed:
                scopes[str(path)] = Scope(frozenset(deployed_files(root, load_profile(), result).used))
    checker = Checker(
        now, thresholds, served=served or [], notes=notes, note_paths=shown, scopes=scopes, exclude=exclude
    )
    return [*checker.run(paths), *extra]


def by_path(findings: list[Finding]) -> dict[tuple[str, int | None], Finding]:
    return {(os.path.basename(f.path), f.index): f for f in findings}


def codes(finding: Finding) -> list[str]:
    return [r.code for r in finding.reasons]


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("Test Root", NOW - timedelta(days=400), NOW + timedelta(days=4000))


# --------------------------------------------------------------------------- time and thresholds


@pytest.mark.parametrize(
    ("expires_in", "status", "code"),
    [
        (timedelta(days=30, seconds=1), Status.OK, None),
        (timedelta(days=30), Status.OK, None),  # exactly the threshold left: not within it (openssl -checkend)
        (timedelta(days=30, seconds=-1), Status.WARNING, "expiring"),
        (timedelta(days=7, seconds=1), Status.WARNING, "expiring"),
        (timedelta(days=7), Status.WARNING, "expiring"),
        (timedelta(days=7, seconds=-1), Status.CRITICAL, "expiring"),
        (timedelta(0), Status.CRITICAL, "expiring"),  # exactly notAfter: still valid (RFC 5280, Go), 0 s left
        (timedelta(seconds=-1), Status.CRITICAL, "expired"),
        (timedelta(days=-500), Status.CRITICAL, "expired"),
    ],
)
def test_threshold_edges(ca: Issued, expires_in: timedelta, status: Status, code: str | None) -> None:
    leaf = make_leaf("edge.example", ca, *around(NOW, expires_in=expires_in))
    seconds_left, reasons = judge_time(leaf.cert, NOW, DEFAULT)
    assert seconds_left == int(expires_in.total_seconds())
    assert worst(r.status for r in reasons) is status
    assert [r.code for r in reasons] == ([code] if code else [])


def test_not_before_in_the_future_is_critical(ca: Issued) -> None:
    leaf = make_leaf("future.example", ca, NOW + timedelta(seconds=1), NOW + timedelta(days=90))
    _, reasons = judge_time(leaf.cert, NOW, DEFAULT)
    assert [(r.code, r.status) for r in reasons] == [("not-yet-valid", Status.CRITICAL)]
    starts_now = make_leaf("now.example", ca, NOW, NOW + timedelta(days=90))
    assert judge_time(starts_now.cert, NOW, DEFAULT)[1] == []


def test_calendar_thresholds_and_at(ca: Issued) -> None:
    leaf = make_leaf("months.example", ca, *around(NOW, expires_in=timedelta(days=50)))
    months = Thresholds(parse_duration("2 months"), parse_duration("1 month"))
    assert worst(r.status for r in judge_time(leaf.cert, NOW, months)[1]) is Status.WARNING
    # The same certificate judged 45 days later ("--at") is within the critical month.
    later = NOW + timedelta(days=45)
    assert worst(r.status for r in judge_time(leaf.cert, later, months)[1]) is Status.CRITICAL


def test_worst_ranks_critical_over_unknown_over_warning() -> None:
    assert worst([Status.OK, Status.WARNING, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.CRITICAL, Status.WARNING]) is Status.CRITICAL
    assert worst([]) is Status.OK


# --------------------------------------------------------------------------- files and bundles


def test_folder_walk_bundles_der_and_quiet_skips(tmp_path: Path, ca: Issued) -> None:
    inter = make_ca("Test Intermediate", NOW - timedelta(days=10), NOW + timedelta(days=3000), issuer=ca)
    good = make_leaf("good.example", inter, *around(NOW, expires_in=timedelta(days=200)))
    soon = make_leaf("soon.example", inter, *around(NOW, expires_in=timedelta(days=20)))
    good.write(tmp_path / "a" / "good.crt", chain=[inter])
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "soon.der").write_bytes(soon.der())
    (tmp_path / "README.md").write_text("# not a certificate\n")
    (tmp_path / "config.json").write_text('{"cert": "-----BEGIN CERTIFICATE-----\\nMIIB"}')
    (tmp_path / "blob.bin").write_bytes(os.urandom(2048))
    (tmp_path / "csr.pem").write_text("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
    findings = run([tmp_path])
    assert [(os.path.relpath(f.path, tmp_path), f.index) for f in findings] == [
        ("a/b/soon.der", 0),
        ("a/good.crt", 0),
        ("a/good.crt", 1),
    ]
    found = by_path(findings)
    assert found[("good.crt", 0)].status is Status.OK and found[("good.crt", 0)].cert == good.cert
    assert found[("good.crt", 1)].cert == inter.cert  # every certificate of a bundle, in order
    assert found[("soon.der", 0)].status is Status.WARNING


def test_bundle_with_wrong_issuer_is_a_broken_chain(tmp_path: Path, ca: Issued) -> None:
    inter = make_ca("Test Intermediate", NOW - timedelta(days=10), NOW + timedelta(days=3000), issuer=ca)
    other = make_ca("Other Intermediate", NOW - timedelta(days=10), NOW + timedelta(days=3000), issuer=ca)
    leaf = make_leaf("svc.example", inter, *around(NOW, expires_in=timedelta(days=200)))
    leaf.write(tmp_path / "wrong-order.crt", chain=[ca, inter])
    # Same subject as the real issuer, different key: the signature does not verify.
    impostor = make_ca("Test Intermediate", NOW - timedelta(days=10), NOW + timedelta(days=3000), issuer=other)
    leaf.write(tmp_path / "impostor.crt", chain=[impostor])
    found = by_path(run([tmp_path]))
    assert codes(found[("wrong-order.crt", 0)]) == ["chain"]
    assert "followed by #1 CN=Test Root" in found[("wrong-order.crt", 0)].reasons[0].text
    assert codes(found[("impostor.crt", 0)]) == ["chain"]
    assert "not validly signed" in found[("impostor.crt", 0)].reasons[0].text
    assert found[("impostor.crt", 0)].status is Status.CRITICAL


@pytest.mark.parametrize(
    ("cert_name", "key_name"),
    [
        ("svc.crt", "svc.key"),
        ("svc.pem", "svc-key.pem"),
        ("cert.pem", "key.pem"),
        ("fullchain.pem", "privkey.pem"),
    ],
)
def test_key_pairs_match_and_mismatch(tmp_path: Path, ca: Issued, cert_name: str, key_name: str) -> None:
    leaf = make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    other = make_leaf("other.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    good, bad = tmp_path / "good", tmp_path / "bad"
    leaf.write(good / cert_name)
    (good / key_name).write_bytes(leaf.key_pem())
    leaf.write(bad / cert_name)
    (bad / key_name).write_bytes(other.key_pem())
    found = {os.path.basename(os.path.dirname(f.path)): f for f in run([tmp_path])}
    assert set(found) == {"good", "bad"}  # the keys themselves are not rows
    assert found["good"].status is Status.OK
    assert codes(found["bad"]) == ["key-mismatch"] and found["bad"].status is Status.CRITICAL
    assert key_name in found["bad"].reasons[0].text


def test_encrypted_key_is_unknown_for_the_key_file(tmp_path: Path, ca: Issued) -> None:
    leaf = make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    leaf.write(tmp_path / "svc.crt")
    (tmp_path / "svc.key").write_bytes(leaf.key_pem(password=b"secret"))
    findings = run([tmp_path])
    assert [(os.path.basename(f.path), f.status) for f in findings] == [
        ("svc.crt", Status.OK),
        ("svc.key", Status.UNKNOWN),
    ]
    assert "encrypted private key" in findings[1].reasons[0].text


def test_bad_inputs_are_unknown_each_and_the_rest_is_checked(tmp_path: Path, ca: Issued) -> None:
    good = make_leaf("good.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    second = make_leaf("second.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    good.write(tmp_path / "good.crt")
    pem = good.pem()
    (tmp_path / "truncated.pem").write_bytes(pem[: len(pem) // 2])
    (tmp_path / "garbage.crt").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "empty.crt").write_bytes(b"")
    (tmp_path / "binary.der").write_bytes(b"\x30\x82\x01\x00" + os.urandom(300))
    (tmp_path / "text.pem").write_text("hello, I am not PEM\n")
    (tmp_path / "loop.crt").symlink_to("loop.crt")
    (tmp_path / "dangling.crt").symlink_to("nowhere.crt")
    with open(tmp_path / "huge.pem", "wb") as handle:  # sparse: big on paper, no disk used
        handle.truncate(64 * 1024 * 1024)
    # A bundle whose second block is damaged: the first is still judged.
    damaged = second.pem().replace(b"MII", b"M!I", 1)
    (tmp_path / "half.crt").write_bytes(good.pem() + damaged)
    findings = run([tmp_path])
    found = by_path(findings)
    assert found[("good.crt", 0)].status is Status.OK
    expected = {
        ("truncated.pem", 0): "truncated PEM certificate",
        ("garbage.crt", 0): "damaged PEM certificate",
        ("empty.crt", None): "empty file",
        ("binary.der", None): "neither PEM nor DER",
        ("text.pem", None): "neither PEM nor DER",
        ("loop.crt", None): "symlink loop",
        ("dangling.crt", None): "broken symlink",
        ("huge.pem", None): "file too large",
        ("half.crt", 1): "damaged PEM certificate",
    }
    for key, text in expected.items():
        assert key in found, (key, sorted(found))
        assert found[key].status is Status.UNKNOWN, key
        assert text in found[key].reasons[0].text, (key, found[key].reasons)
    assert found[("half.crt", 0)].status is Status.OK and found[("half.crt", 0)].cert == good.cert


def test_unreadable_file_is_unknown(tmp_path: Path, ca: Issued, monkeypatch: pytest.MonkeyPatch) -> None:
    leaf = make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    leaf.write(tmp_path / "ok.crt")
    secret = leaf.write(tmp_path / "secret.crt")
    if os.geteuid() == 0:
        # root reads any file whatever its mode: simulate the EACCES a normal user gets.
        real_open = os.open

        def guarded(file: str, flags: int, *args: int, **kwargs: object) -> int:
            if str(file) == str(secret):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, flags, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", guarded)  # certkit.bounded.read_regular opens with os.open
    else:
        secret.chmod(0)
    found = by_path(run([tmp_path]))
    assert found[("ok.crt", 0)].status is Status.OK
    assert found[("secret.crt", None)].status is Status.UNKNOWN
    assert "Permission denied" in found[("secret.crt", None)].reasons[0].text


def test_directory_symlink_cycle_terminates(tmp_path: Path, ca: Issued) -> None:
    leaf = make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=200)))
    leaf.write(tmp_path / "d" / "svc.crt")
    (tmp_path / "d" / "up").symlink_to("..")
    findings = run([tmp_path])
    assert [(os.path.relpath(f.path, tmp_path), f.status) for f in findings] == [("d/svc.crt", Status.OK)]


def test_explicit_non_certificate_file_is_unknown(tmp_path: Path) -> None:
    note = tmp_path / "notes.txt"
    note.write_text("nothing here")
    findings = run([note, tmp_path / "missing.crt"])
    assert [(f.status, f.reasons[0].text) for f in findings] == [
        (Status.UNKNOWN, "no certificate in the file (neither PEM nor DER)"),
        (Status.UNKNOWN, "cannot read: No such file or directory"),
    ]


# --------------------------------------------------------------------------- served chains (no network)


def test_served_leaf_stale_and_hostname(tmp_path: Path, ca: Issued) -> None:
    old = make_leaf("svc.example", ca, NOW - timedelta(days=300), NOW + timedelta(days=60))
    new = make_leaf("svc.example", ca, NOW - timedelta(days=1), NOW + timedelta(days=700), key=old.key)
    new.write(tmp_path / "svc.crt")
    stale = ServedChain("127.0.0.1:4443", "svc.example", (old.der(), ca.der()))
    current = ServedChain("127.0.0.1:4444", "svc.example", (new.der(), ca.der()))
    wrong_name = ServedChain("127.0.0.1:4445", "other.example", (new.der(),))
    findings = [f for f in run([tmp_path], served=[stale, current, wrong_name]) if f.source == "endpoint"]
    leaf_rows = {f.path: f for f in findings if f.index == 0}
    assert codes(leaf_rows["127.0.0.1:4443"]) == ["stale"]
    assert (
        "renewed on disk, not reloaded by the server: recreate its container: "
        "`docker compose up -d --force-recreate SERVICE`" in leaf_rows["127.0.0.1:4443"].reasons[0].text
    )
    assert str(tmp_path / "svc.crt") in leaf_rows["127.0.0.1:4443"].reasons[0].text
    assert leaf_rows["127.0.0.1:4444"].status is Status.OK
    assert codes(leaf_rows["127.0.0.1:4445"]) == ["hostname"]
    # Without files there is nothing to be stale against.
    alone = [f for f in run([], served=[stale]) if f.index == 0]
    assert alone[0].status is Status.OK


# --------------------------------------------------------------------------- the real Notary files


def test_reference_set_as_of_today_every_leaf_expired(reference_dir: Path) -> None:
    findings = run([reference_dir], REFERENCE_EXPIRED, notary=True)
    leaves = {os.path.relpath(f.path, reference_dir): f for f in findings if f.index == 0}
    for name in (
        "fixtures/notary-server.crt",
        "fixtures/notary-signer.crt",
        "fixtures/notary-escrow.crt",
        "fixtures/secure.example.com.crt",
        "fixtures/self-signed_docker.com-notary.crt",
        "fixtures/database/notary-server.pem",
        "fixtures/rethinkdb/cert.pem",
        "notarysql/postgresql-initdb.d/server.crt",
    ):
        assert leaves[name].status is Status.CRITICAL and "expired" in codes(leaves[name]), name
    for name in ("fixtures/root-ca.crt", "fixtures/intermediate-ca.crt", "cmd/notary/root-ca.crt"):
        assert leaves[name].status is Status.OK, (name, leaves[name].reasons)
        cert = leaves[name].cert
        assert cert is not None and cert.not_valid_after_utc.year == 2031


def test_reference_set_relations_hold_while_valid(reference_dir: Path) -> None:
    """Keys match, chains link, names are covered: no finding but expiry windows.

    trustpinning/test.crt (a Go test fixture, expired since 2017) is listed as unused, not judged.
    """
    findings = run([reference_dir], REFERENCE_VALID, notary=True, deployed=True)
    problems = [(f.path, f.index, f.reasons) for f in findings if f.used and f.status is not Status.OK]
    assert problems == []
    assert len([f for f in findings if f.used and f.index is not None]) == 19
    unused = sorted(os.path.relpath(f.path, reference_dir) for f in findings if not f.used)
    assert unused[1:] == ["trustpinning/ca.crt", "trustpinning/test.crt"]
    assert unused[0].startswith("fixtures/compatibility/")


def _copy(reference_dir: Path, tmp_path: Path) -> Path:
    layout = tmp_path / "notary"
    shutil.copytree(reference_dir, layout)
    return layout


def test_notary_client_root_that_does_not_match_is_a_broken_chain(reference_dir: Path, tmp_path: Path) -> None:
    layout = _copy(reference_dir, tmp_path)
    stranger = make_ca("Stranger Root", REFERENCE_VALID - timedelta(days=10), REFERENCE_VALID + timedelta(days=999))
    stranger.write(layout / "cmd" / "notary" / "root-ca.crt")
    found = by_path(run([layout], REFERENCE_VALID, notary=True))
    server = found[("notary-server.crt", 0)]
    assert codes(server) == ["chain"]
    assert "cmd/notary/root-ca.crt" in server.reasons[0].text and "notary client" in server.reasons[0].text


def test_notary_key_mismatch_names_and_signer_client_ca(reference_dir: Path, tmp_path: Path) -> None:
    layout = _copy(reference_dir, tmp_path)
    # The server's key replaced by the signer's: the server cannot use its certificate.
    shutil.copy(layout / "fixtures" / "notary-signer.key", layout / "fixtures" / "notary-server.key")
    # notary-server dials another name than the signer's certificate covers.
    config_path = layout / "fixtures" / "server-config.json"
    config = json.loads(config_path.read_text())
    config["trust_service"]["hostname"] = "signer.internal"
    config_path.write_text(json.dumps(config))
    # The signer trusts another CA for client certificates: it refuses notary-server.
    signer_path = layout / "fixtures" / "signer-config.json"
    signer = json.loads(signer_path.read_text())
    signer["server"]["client_ca_file"] = "./database/ca.pem"
    signer_path.write_text(json.dumps(signer))
    found = by_path(run([layout], REFERENCE_VALID, notary=True))
    server_codes = codes(found[("notary-server.crt", 0)])
    assert "key-mismatch" in server_codes and "chain" in server_codes
    assert any("client_ca_file" in r.text for r in found[("notary-server.crt", 0)].reasons)
    signer_reasons = found[("notary-signer.crt", 0)].reasons
    assert [r.code for r in signer_reasons] == ["hostname"] and "signer.internal" in signer_reasons[0].text


def test_notary_config_naming_a_missing_file_is_critical(reference_dir: Path, tmp_path: Path) -> None:
    layout = _copy(reference_dir, tmp_path)
    (layout / "fixtures" / "notary-signer.crt").unlink()
    (layout / "fixtures" / "signer-config-local.json").write_text("{ not json")
    findings = run([layout], REFERENCE_VALID, notary=True)
    missing = [f for f in findings if f.path.endswith("notary-signer.crt")]
    assert len(missing) == 1 and missing[0].status is Status.CRITICAL and codes(missing[0]) == ["missing"]
    broken = [f for f in findings if f.path.endswith("signer-config-local.json")]
    assert broken and broken[0].status is Status.UNKNOWN


def test_layout_root_detection(reference_dir: Path, tmp_path: Path) -> None:
    assert find_layout_root(reference_dir, load_profile()) == reference_dir
    assert find_layout_root(reference_dir / "fixtures", load_profile()) == reference_dir
    assert find_layout_root(tmp_path, load_profile()) is None


def test_layout_root_and_container_paths_follow_the_profile(reference_dir: Path, tmp_path: Path) -> None:
    """Which files mark a checkout, and which container folder maps to it, are the profile's facts."""
    ca_pem = os.path.realpath(reference_dir / "fixtures" / "database" / "ca.pem")
    # Built-in: server-config.postgres.json's sslrootcert=/go/src/.../fixtures/database/ca.pem is the checkout's file.
    assert ca_pem in notary_notes(reference_dir, NOW, load_profile()).used
    other = tmp_path / "other.toml"
    other.write_text('extends = "notary"\nservice_configs = ["etc/notary.json"]\ncontainer_root = "/srv/notary"\n')
    profile = load_profile(other)
    assert find_layout_root(reference_dir, profile) is None  # none of its service_configs is there
    assert find_layout_root(reference_dir / "fixtures", profile) == reference_dir  # the fixtures/ folder still counts
    notes = notary_notes(reference_dir, NOW, profile)
    assert ca_pem not in notes.used  # /go/src/... is no longer this checkout: a missing absolute path
    assert "/go/src/github.com/theupdateframework/notary/fixtures/database/ca.pem" in notes.used


def test_vcs_folders_are_not_walked(tmp_path: Path, ca: Issued) -> None:
    make_leaf("old.example", ca, *around(NOW, expires_in=timedelta(days=-9))).write(tmp_path / ".git" / "old.crt")
    make_leaf("svc.example", ca, *around(NOW, expires_in=timedelta(days=90))).write(tmp_path / "svc.crt")
    assert [os.path.basename(f.path) for f in run([tmp_path])] == ["svc.crt"]


def test_exclude_skips_files_folders_and_broken_links(tmp_path: Path, ca: Issued) -> None:
    """--exclude matches below the folder argument; a folder argument's own name does not count."""
    expired = make_leaf("old.example", ca, *around(NOW, expires_in=timedelta(days=-1)))
    expired.write(tmp_path / "keep" / "live.crt")
    expired.write(tmp_path / "testdata" / "a" / "old.crt")
    expired.write(tmp_path / "keep" / "old.der.crt")
    (tmp_path / "keep" / "gone.crt").symlink_to(tmp_path / "nowhere.crt")
    everything = by_path(run([tmp_path]))
    assert {key for key in everything} == {("live.crt", 0), ("old.crt", 0), ("old.der.crt", 0), ("gone.crt", None)}
    kept = by_path(run([tmp_path], exclude=("testdata/", "*.der.crt", "keep/gone.crt")))
    assert list(kept) == [("live.crt", 0)]
    assert kept[("live.crt", 0)].status is Status.CRITICAL
