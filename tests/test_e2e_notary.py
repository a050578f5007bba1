"""End to end with the real Notary (Debian's notary 0.7.0): Go's crypto/x509 judges the files.

The same test runs on certkit's output (must publish) and on the expired reference set
(must fail with the x509 expiry error): proof that the test can fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from certkit.cli import main
from tests.notary_harness import NotaryClientError, notary_services, publish_and_list

pytestmark = pytest.mark.e2e


def _renew(folder: Path, *args: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["renew", str(folder), *args])
    assert exit_info.value.code == 0


def test_certkit_set_publishes_with_real_notary(tmp_path: Path) -> None:
    layout = tmp_path / "notary"
    with pytest.raises(SystemExit) as exit_info:
        main(["init", str(layout)])
    assert exit_info.value.code == 0
    with notary_services(layout, tls_dir="fixtures") as services:
        # The client trusts the copy certkit keeps beside its config, as Notary's own client does.
        listing = publish_and_list(tmp_path, services, layout / "cmd" / "notary" / "root-ca.crt")
    assert "v1" in listing


def test_renewed_reference_checkout_publishes(tmp_path: Path, reference_dir: Path) -> None:
    layout = tmp_path / "notary"
    shutil.copytree(reference_dir, layout)
    _renew(layout)
    with notary_services(layout, tls_dir="fixtures") as services:
        listing = publish_and_list(tmp_path, services, layout / "cmd" / "notary" / "root-ca.crt")
    assert "v1" in listing.split()


def test_expired_reference_set_fails_with_x509_expiry(tmp_path: Path, reference_dir: Path) -> None:
    layout = tmp_path / "notary"
    shutil.copytree(reference_dir, layout)
    with notary_services(layout, tls_dir="fixtures") as services:
        with pytest.raises(NotaryClientError) as failure:
            publish_and_list(tmp_path, services, layout / "cmd" / "notary" / "root-ca.crt")
    assert "x509: certificate has expired or is not yet valid" in failure.value.output


def test_rethinkdb_certificate_is_accepted_by_go(tmp_path: Path, fresh_layout: Path) -> None:
    """The renewed *.rdb certificate (self-signed, its own CA file) passes Go's crypto/x509.

    notary-server serves it, and the real notary client, trusting ca.pem, publishes through it.
    """
    from tests.notary_harness import notary_server_only

    served = tmp_path / "served"
    served.mkdir()
    rdb = fresh_layout / "fixtures" / "rethinkdb"
    shutil.copy(rdb / "cert.pem", served / "notary-server.crt")
    shutil.copy(rdb / "key.pem", served / "notary-server.key")
    with notary_server_only(served) as server:
        services = type("Endpoint", (), {"server_url": f"https://localhost:{server.port}"})()
        listing = publish_and_list(tmp_path, services, rdb / "ca.pem")
    assert "v1" in listing.split()


# The arm64 root (scripts/arm64.sh, a cached recipe) has no softhsm2; the x86-64 run covers the token.
@pytest.mark.parametrize(
    "kind", ["plain", "encrypted", "offline-root", pytest.param("pkcs11", marks=pytest.mark.x86_only)]
)
def test_each_ca_store_kind_publishes_with_real_notary(tmp_path: Path, reference_dir: Path, kind: str) -> None:
    """The CA keys kept each way certkit keeps them: renew Notary's expired checkout (new CAs), then a routine
    renewal that re-signs every leaf with the intermediate (with the root's key exported and gone, for
    offline-root; signing in SoftHSM, for pkcs11); the real notary-server, notary-signer and client publish."""
    from tests.cakeys_helpers import certkit, secret_file, softhsm_token

    layout = tmp_path / "notary"
    shutil.copytree(reference_dir, layout)
    env: dict[str, str] = {}
    secrets: list[str] = []
    if kind in ("encrypted", "offline-root"):
        secrets = ["--ca-passphrase-file", str(secret_file(tmp_path / "ca-pass", "e2e passphrase"))]
    first = list(secrets)
    if kind == "pkcs11":
        token = softhsm_token(tmp_path / "hsm")
        env = token.env
        first = ["--ca-pkcs11", token.uri]
    done = certkit(["renew", "--no-compose", *first, str(layout)], env=env)
    assert done.returncode == 0, done.stderr
    if kind == "offline-root":
        done = certkit(["ca-keys", "export-root", "--to", str(tmp_path / "usb" / "root.key"), *secrets, str(layout)])
        assert done.returncode == 0, done.stderr
    listed = certkit(["ca-keys", "list", "--json", str(layout)], env=env)
    forms = {row["name"]: row["form"] for row in __import__("json").loads(listed.stdout)["keys"]}
    expected = {"plain": "plain", "encrypted": "encrypted", "offline-root": "offline", "pkcs11": "pkcs11"}[kind]
    assert forms["root-ca"] == expected
    leaf_before = (layout / "fixtures" / "notary-server.crt").read_bytes()
    root_before = (layout / "fixtures" / "root-ca.crt").read_bytes()
    done = certkit(["renew", "--within", "800d", "--no-compose", *secrets, str(layout)], env=env)
    assert done.returncode == 0, done.stderr
    assert (layout / "fixtures" / "notary-server.crt").read_bytes() != leaf_before  # re-signed ...
    assert (layout / "fixtures" / "root-ca.crt").read_bytes() == root_before  # ... under the same root
    with notary_services(layout, tls_dir="fixtures") as services:
        listing = publish_and_list(tmp_path, services, layout / "cmd" / "notary" / "root-ca.crt")
    assert "v1" in listing.split()
