"""Key generation in threads (certkit.pki.keys.KeyMaker), started early: which keys a renewal will make is
judged from the files of Notary's real checkout; the keys taken are real, matching keys; a key nobody takes
is finished and dropped, and no thread outlives the maker."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from certkit.pki import keys
from certkit.profile import KeyLocation, KeySpec, KeyType, load_profile
from certkit.store.checkout import open_checkout
from tests.test_cli_renew import certkit

RSA_2048 = KeySpec(KeyType.RSA, 2048)


def test_a_checkout_without_ca_store_or_database_keys_needs_exactly_those_keys(reference_copy: Path) -> None:
    profile = load_profile(None)
    for name in ("fixtures/database/notary-server-key.pem", "notarysql/postgresql-initdb.d/server.key"):
        (reference_copy / name).unlink()
    with open_checkout(reference_copy, profile) as checkout:
        wanted = sorted(s.describe() for s in keys.likely_needed(checkout))
        # --rotate-keys: every leaf key file is made again too.
        rotated = keys.likely_needed(checkout, rotate_keys=True)
    # root and intermediate CA (RSA-4096), the database CA and the two removed database keys (RSA-2048).
    assert wanted == ["RSA-2048", "RSA-2048", "RSA-2048", "RSA-4096", "RSA-4096"]
    with_file = [s for s in profile.certificates if s.key_location is KeyLocation.FILE]
    assert len(rotated) == 3 + len(with_file)


def test_a_renewed_checkout_needs_no_key_so_no_thread_starts(reference_copy: Path) -> None:
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    with open_checkout(reference_copy, load_profile(None)) as checkout:
        assert keys.likely_needed(checkout) == []
    before = threading.active_count()
    with keys.KeyMaker() as maker:
        maker.start([])
        assert threading.active_count() == before
        assert maker.make([]) == []


def test_started_keys_are_taken_and_the_rest_made_beside_them() -> None:
    with keys.KeyMaker() as maker:
        maker.start([RSA_2048, KeySpec(KeyType.ECDSA, curve="P-256")])  # the ECDSA key is not started: it is quick
        made = maker.make([KeySpec(KeyType.ECDSA, curve="P-256"), RSA_2048, RSA_2048])
    assert [keys.describe(k) for k in made] == ["ECDSA P-256", "RSA-2048", "RSA-2048"]
    assert not keys.same_public_key(made[1], made[2])  # two keys, not one taken twice
    for key in made:
        keys.check_signs(key, "made")


def test_keys_are_made_beside_the_main_thread() -> None:
    """The design's premise: cryptography releases the GIL in RSA's prime search (from 47 on, pyproject's
    floor), so the main thread runs Python while the keys are made.  Were the GIL held, the main thread
    would not get one step in until the key was done."""
    with keys.KeyMaker() as maker:
        maker.start([KeySpec(KeyType.RSA, 4096)])
        ((_, future),) = maker._started
        steps = 0
        while not future.done():
            steps += 1
        (made,) = maker.make([KeySpec(KeyType.RSA, 4096)])
    assert keys.describe(made) == "RSA-4096"
    # A 4096-bit key takes 0.05 s at the very least; even a small share of a loaded core does far more steps.
    assert steps > 10_000, steps


def test_an_unused_key_is_finished_and_dropped_and_no_thread_outlives_close() -> None:
    maker = keys.KeyMaker()
    maker.start([KeySpec(KeyType.RSA, 4096), KeySpec(KeyType.RSA, 4096), KeySpec(KeyType.RSA, 4096)])
    workers = [t for t in threading.enumerate() if t.name.startswith("certkit-key")]
    assert workers and all(t.is_alive() for t in workers)
    maker.close()
    assert not any(t.is_alive() for t in workers)
    assert not [t for t in threading.enumerate() if t.name.startswith("certkit-key")]


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
