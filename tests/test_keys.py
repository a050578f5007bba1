"""Key generation started early (certkit.pki.keys.EarlyKeys): which keys a renewal will make is judged from
the files of Notary's real checkout; the keys taken are real, matching keys; unused ones are thrown
away with their workers stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from certkit.pki import keys
from certkit.profile import KeyLocation, KeySpec, KeyType, load_profile
from tests.test_cli_renew import certkit

RSA_2048 = KeySpec(KeyType.RSA, 2048)


def test_a_checkout_without_ca_store_or_database_keys_needs_exactly_those_keys(reference_copy: Path) -> None:
    profile = load_profile(None)
    for name in ("fixtures/database/notary-server-key.pem", "notarysql/postgresql-initdb.d/server.key"):
        (reference_copy / name).unlink()
    wanted = sorted(s.describe() for s in keys.likely_needed(reference_copy, profile, None))
    # root and intermediate CA (RSA-4096), the database CA and the two removed database keys (RSA-2048).
    assert wanted == ["RSA-2048", "RSA-2048", "RSA-2048", "RSA-4096", "RSA-4096"]
    # --rotate-keys: every leaf key file is made again too.
    rotated = keys.likely_needed(reference_copy, profile, None, rotate_keys=True)
    with_file = [s for s in profile.certificates if s.key_location is KeyLocation.FILE]
    assert len(rotated) == 3 + len(with_file)


def test_a_renewed_checkout_needs_no_key_so_no_worker_starts(reference_copy: Path) -> None:
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    profile = load_profile(None)
    assert keys.likely_needed(reference_copy, profile, None) == []
    early = keys.EarlyKeys([])
    assert early.take(RSA_2048) is None and early.submit(RSA_2048) is None
    early.close()


def test_early_keys_are_taken_and_the_rest_made_by_the_same_workers() -> None:
    early = keys.EarlyKeys([RSA_2048, KeySpec(KeyType.ECDSA, curve="P-256")])
    try:
        made = keys.generate_many([KeySpec(KeyType.ECDSA, curve="P-256"), RSA_2048, RSA_2048], early)
    finally:
        early.close()
    assert [keys.describe(k) for k in made] == ["ECDSA P-256", "RSA-2048", "RSA-2048"]
    assert not keys.same_public_key(made[1], made[2])  # two keys, not one taken twice
    for key in made:
        keys.check_signs(key, "made")


def test_an_unused_early_key_is_thrown_away_and_its_worker_stopped() -> None:
    early = keys.EarlyKeys([KeySpec(KeyType.RSA, 4096), KeySpec(KeyType.RSA, 4096)])
    processes = list(early._pool._processes.values())  # type: ignore[union-attr]
    assert processes and all(p.is_alive() for p in processes)
    early.close()
    assert not any(p.is_alive() for p in processes)


def test_renew_force_with_early_keys_makes_a_set_openssl_accepts(reference_copy: Path) -> None:
    (reference_copy / "fixtures/database/notary-server-key.pem").unlink()
    result = certkit("renew", "--force", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    store = reference_copy / ".certkit/ca"
    assert sorted(p.name for p in store.iterdir()) == ["database-ca.key", "intermediate-ca.key", "root-ca.key"]
    checks = [
        ("fixtures/root-ca.crt", "fixtures/intermediate-ca.crt", "fixtures/notary-server.crt"),
        ("fixtures/database/ca.pem", None, "fixtures/database/notary-server.pem"),
    ]
    for root, untrusted, leaf in checks:
        argv = ["openssl", "verify", "-CAfile", str(reference_copy / root)]
        if untrusted:
            argv += ["-untrusted", str(reference_copy / untrusted)]
        verified = subprocess.run([*argv, str(reference_copy / leaf)], capture_output=True, text=True)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # Each new key belongs to its certificate (a key taken for the wrong one would fail here).
    modulus = {}
    for name in ("fixtures/database/notary-server-key.pem", "fixtures/database/notary-server.pem"):
        kind = "rsa" if name.endswith("key.pem") else "x509"
        out = subprocess.run(
            ["openssl", kind, "-noout", "-modulus", "-in", str(reference_copy / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        modulus[kind] = out.stdout
    assert modulus["rsa"] == modulus["x509"]
