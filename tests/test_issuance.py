"""The built-in notary profile reproduces regenerateTestingCerts.sh's certificates, extension by extension."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification

from tests.notary_harness import require_binary
from tests.pkiasserts import (
    CLIENT_AUTH,
    CODE_SIGNING,
    DOCKER_PREFIX,
    SERVER_AUTH,
    assert_aki,
    assert_eku,
    assert_is_ca,
    assert_is_leaf,
    assert_key,
    assert_key_usage,
    assert_sans,
    assert_ski,
    assert_validity,
    extension_classes,
    name,
)

X = x509


def load(folder: Path, relative: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((folder / relative).read_bytes())


def test_root_ca(fresh_layout: Path) -> None:
    [root] = load(fresh_layout, "fixtures/root-ca.crt")
    assert root.subject == name(*DOCKER_PREFIX, ("CN", "Notary Testing CA"))
    assert root.issuer == root.subject
    assert_key(root, "rsa", 4096)
    assert isinstance(root.signature_hash_algorithm, hashes.SHA256)
    assert_validity(root, 3650)
    assert_is_ca(root, path_length=1)
    assert_key_usage(root, content_commitment=True, key_cert_sign=True, crl_sign=True)
    assert_ski(root)
    assert extension_classes(root) == {X.BasicConstraints, X.KeyUsage, X.SubjectKeyIdentifier}
    root.verify_directly_issued_by(root)
    # The notary client's copy is the same certificate.
    assert (fresh_layout / "cmd/notary/root-ca.crt").read_bytes() == (
        fresh_layout / "fixtures/root-ca.crt"
    ).read_bytes()


def test_intermediate_ca(fresh_layout: Path) -> None:
    [root] = load(fresh_layout, "fixtures/root-ca.crt")
    [inter] = load(fresh_layout, "fixtures/intermediate-ca.crt")
    assert inter.subject == name(*DOCKER_PREFIX, ("CN", "Notary Intermediate Testing CA"))
    assert inter.issuer == root.subject
    assert_key(inter, "rsa", 4096)
    assert_validity(inter, 3650)
    assert_aki(inter, root)
    assert_is_ca(inter, path_length=0)
    assert_eku(inter, SERVER_AUTH, CLIENT_AUTH)
    assert_key_usage(inter, content_commitment=True, key_cert_sign=True, crl_sign=True)
    assert_ski(inter)
    assert extension_classes(inter) == {
        X.AuthorityKeyIdentifier,
        X.BasicConstraints,
        X.ExtendedKeyUsage,
        X.KeyUsage,
        X.SubjectKeyIdentifier,
    }
    inter.verify_directly_issued_by(root)


@pytest.mark.parametrize(
    ("cn", "key_bits", "dns", "bundle"),
    [
        ("notary-server", 2048, ["notary-server", "notaryserver", "localhost"], True),
        ("notary-signer", 2048, ["notary-signer", "notarysigner", "localhost"], True),
        ("notary-escrow", 4096, ["notary-escrow", "notaryescrow", "localhost"], True),
        ("secure.example.com", 2048, ["secure.example.com", "localhost"], False),
    ],
)
def test_service_leaves(fresh_layout: Path, cn: str, key_bits: int, dns: list[str], bundle: bool) -> None:
    [inter] = load(fresh_layout, "fixtures/intermediate-ca.crt")
    chain = load(fresh_layout, f"fixtures/{cn}.crt")
    leaf = chain[0]
    # Bundle order: the leaf, then the intermediate (secure.example.com is the leaf alone).
    assert chain[1:] == ([inter] if bundle else [])
    assert leaf.subject == name(*DOCKER_PREFIX, ("CN", cn))
    assert leaf.issuer == inter.subject
    assert_key(leaf, "rsa", key_bits)
    assert_validity(leaf, 750)
    assert_aki(leaf, inter)
    assert_is_leaf(leaf)
    assert_eku(leaf, SERVER_AUTH, CLIENT_AUTH)
    assert_key_usage(leaf, digital_signature=True, key_encipherment=True)
    assert_sans(leaf, dns, ["127.0.0.1"])
    assert_ski(leaf)
    assert extension_classes(leaf) == {
        X.AuthorityKeyIdentifier,
        X.BasicConstraints,
        X.ExtendedKeyUsage,
        X.KeyUsage,
        X.SubjectAlternativeName,
        X.SubjectKeyIdentifier,
    }
    leaf.verify_directly_issued_by(inter)
    key_pem = (fresh_layout / f"fixtures/{cn}.key").read_bytes()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert load_pem_private_key(key_pem, None).public_key() == leaf.public_key()
    assert (fresh_layout / f"fixtures/{cn}.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("filename", "subject"),
    [
        ("self-signed_docker.com-notary.crt", (("O", "Docker"), ("CN", "docker.com/notary"))),
        ("self-signed_secure.example.com.crt", (("O", "secure.example.com"), ("CN", "secure.example.com"))),
    ],
)
def test_self_signed_code_signing(fresh_layout: Path, filename: str, subject: tuple[tuple[str, str], ...]) -> None:
    [cert] = load(fresh_layout, f"fixtures/{filename}")
    assert cert.subject == name(*subject) == cert.issuer
    assert_key(cert, "ecdsa", "secp256r1")
    assert_validity(cert, 750)
    assert_is_leaf(cert)
    assert_key_usage(cert, digital_signature=True, key_encipherment=True)
    assert_eku(cert, CODE_SIGNING)
    assert_ski(cert)
    assert extension_classes(cert) == {X.BasicConstraints, X.KeyUsage, X.ExtendedKeyUsage, X.SubjectKeyIdentifier}
    cert.verify_directly_issued_by(cert)
    # As in the script, the key is thrown away: nothing beside the certificate.
    assert not list((fresh_layout / "fixtures").glob(filename.replace(".crt", ".key")))


def test_database_pki(fresh_layout: Path) -> None:
    [ca] = load(fresh_layout, "fixtures/database/ca.pem")
    assert ca.subject == name(("CN", "Test Notary CA")) == ca.issuer
    assert_key(ca, "rsa", 2048)
    assert_validity(ca, 43800 / 24)
    assert_is_ca(ca, path_length=None)
    assert_key_usage(ca, key_cert_sign=True, crl_sign=True)
    assert extension_classes(ca) == {X.BasicConstraints, X.KeyUsage, X.SubjectKeyIdentifier}
    assert (fresh_layout / "notarysql/postgresql-initdb.d/root.crt").read_bytes() == (
        fresh_layout / "fixtures/database/ca.pem"
    ).read_bytes()

    [server] = load(fresh_layout, "notarysql/postgresql-initdb.d/server.crt")
    assert server.subject == name(("CN", "database"))
    assert_key(server, "rsa", 2048)
    assert_validity(server, 43800 / 24)
    assert_is_leaf(server)
    assert_eku(server, SERVER_AUTH)
    assert_key_usage(server, digital_signature=True, key_encipherment=True)
    assert_sans(server, ["postgresql", "mysql"], [])
    assert_aki(server, ca)
    server.verify_directly_issued_by(ca)

    for cn, stem in (("server", "notary-server"), ("signer", "notary-signer")):
        [client] = load(fresh_layout, f"fixtures/database/{stem}.pem")
        assert client.subject == name(("CN", cn))
        assert_is_leaf(client)
        assert_eku(client, CLIENT_AUTH)
        assert_aki(client, ca)
        # cfssl's empty "DNS:" SAN is a quirk that is not reproduced: no SAN at all.
        assert X.SubjectAlternativeName not in extension_classes(client)
        client.verify_directly_issued_by(ca)
        assert (fresh_layout / f"fixtures/database/{stem}-key.pem").stat().st_mode & 0o777 == 0o600


def test_serials_are_random_and_distinct(fresh_layout: Path) -> None:
    serials = [
        c.serial_number
        for p in (fresh_layout / "fixtures").rglob("*.crt")
        for c in load(fresh_layout, str(p.relative_to(fresh_layout)))[:1]
    ]
    assert len(set(serials)) == len(serials)
    assert all(s.bit_length() > 64 for s in serials)


def test_chains_verify_with_cryptography_policy_builder(fresh_layout: Path) -> None:
    [root] = load(fresh_layout, "fixtures/root-ca.crt")
    [inter] = load(fresh_layout, "fixtures/intermediate-ca.crt")
    builder = verification.PolicyBuilder().store(verification.Store([root])).time(datetime.now(timezone.utc))
    for cn in ("notary-server", "notary-signer", "notary-escrow", "secure.example.com"):
        leaf, *rest = load(fresh_layout, f"fixtures/{cn}.crt")
        chain = builder.build_server_verifier(x509.DNSName("localhost")).verify(leaf, [inter])
        assert chain == [leaf, inter, root]
        client = builder.build_client_verifier().verify(leaf, [inter])
        assert client.chain == [leaf, inter, root]


def test_chains_verify_with_openssl(fresh_layout: Path) -> None:
    openssl = require_binary("openssl", "openssl")
    fixtures = fresh_layout / "fixtures"
    for cn in ("notary-server", "notary-signer", "notary-escrow", "secure.example.com"):
        leaf_only = fresh_layout / f"{cn}.leaf.pem"
        leaf_only.write_bytes(
            (fixtures / f"{cn}.crt").read_bytes().split(b"-----END CERTIFICATE-----")[0]
            + b"-----END CERTIFICATE-----\n"
        )
        result = subprocess.run(
            [
                openssl,
                "verify",
                "-CAfile",
                str(fixtures / "root-ca.crt"),
                "-untrusted",
                str(fixtures / "intermediate-ca.crt"),
                "-purpose",
                "sslserver",
                str(leaf_only),
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith(": OK")
    db = fixtures / "database"
    result = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            str(db / "ca.pem"),
            str(db / "notary-server.pem"),
            str(db / "notary-signer.pem"),
            str(fresh_layout / "notarysql/postgresql-initdb.d/server.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 3


def test_openssl_rejects_a_leaf_from_another_root(fresh_layout: Path, tmp_path: Path) -> None:
    """The openssl check above can fail: a leaf checked against the database CA is refused."""
    openssl = require_binary("openssl", "openssl")
    fixtures = fresh_layout / "fixtures"
    result = subprocess.run(
        [openssl, "verify", "-CAfile", str(fixtures / "database/ca.pem"), str(fixtures / "secure.example.com.crt")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_rethinkdb_set(fresh_layout: Path) -> None:
    """Not made by Notary's script, but shipped with the checkout (expired April 2026)."""
    [cert] = load(fresh_layout, "fixtures/rethinkdb/cert.pem")
    assert cert.subject == name(("CN", "*.rdb")) == cert.issuer
    assert_key(cert, "rsa", 2048)
    assert_validity(cert, 3650)
    assert_is_ca(cert, path_length=None)
    assert_key_usage(cert, digital_signature=True, key_encipherment=True, key_cert_sign=True)
    assert_eku(cert, SERVER_AUTH, CLIENT_AUTH)
    assert_sans(
        cert,
        ["*.rdb", "rdb-proxy.rdb", "rdb-01.rdb", "rdb-02.rdb", "rdb-03.rdb", "rdb-proxy", "localhost"],
        ["127.0.0.1"],
    )
    cert.verify_directly_issued_by(cert)
    assert (fresh_layout / "fixtures/rethinkdb/ca.pem").read_bytes() == (
        fresh_layout / "fixtures/rethinkdb/cert.pem"
    ).read_bytes()
    assert (fresh_layout / "fixtures/rethinkdb/key.pem").stat().st_mode & 0o777 == 0o600
    # The name notary-server dials is in the SANs.  (cryptography's strict RFC 5280 verifier
    # refuses a CA:TRUE end-entity outright; Go and OpenSSL accept the self-signed anchor, see
    # test_e2e_notary.py::test_rethinkdb_certificate_is_accepted_by_go and the openssl check below.)
    openssl = require_binary("openssl", "openssl")
    rdb = fresh_layout / "fixtures/rethinkdb"
    for host in ("rdb-proxy.rdb", "rdb-01.rdb", "rdb-02.rdb", "rdb-03.rdb"):  # the names rethink.yml dials
        result = subprocess.run(
            [openssl, "verify", "-CAfile", str(rdb / "ca.pem"), "-verify_hostname", host, str(rdb / "cert.pem")],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
