"""certkit.certificates: strict and tolerant parsing, issued_by, SAN helpers, fingerprints, validity edges.

Issuer and fingerprint answers are checked against ``openssl`` (an independent verifier); the
validity edges run through each command that judges time (renew's plan, check-expiry, status,
compose --check) on the real Notary checkout, so the same certificate at the same moment gets
the same answer everywhere.
"""

from __future__ import annotations

import ipaddress
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from certkit import certificates as certs
from certkit.certificates import NotACertificate, issued_by, issuer_problem, parse_bundle, parse_certificates
from tests.certfactory import Issued, make_ca, make_leaf
from tests.notary_harness import require_binary

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
YEAR = timedelta(days=365)


@pytest.fixture(scope="module")
def chain() -> tuple[Issued, Issued, Issued]:
    root = make_ca("root", NOW - YEAR, NOW + YEAR)
    inter = make_ca("inter", NOW - YEAR, NOW + YEAR, issuer=root)
    leaf = make_leaf("leaf", inter, NOW - YEAR, NOW + YEAR, sans=("leaf.example", "*.wild.example"))
    return root, inter, leaf


def _damage(pem: bytes) -> bytes:
    """The same block with a few base64 characters replaced: still PEM, no longer a certificate."""
    lines = pem.split(b"\n")
    lines[3] = b"A" * len(lines[3])
    lines[4] = b"!" + lines[4][1:]
    return b"\n".join(lines)


# -- strict parsing -----------------------------------------------------------------------------------


def test_strict_reads_a_pem_bundle_in_order_and_der(chain: tuple[Issued, Issued, Issued]) -> None:
    root, inter, leaf = chain
    bundle = leaf.pem() + inter.pem() + root.pem()
    assert parse_certificates(b"comment line\n" + bundle) == [leaf.cert, inter.cert, root.cert]
    assert parse_certificates(leaf.der()) == [leaf.cert]


@pytest.mark.parametrize(
    "data, der, message",
    [
        (b"", True, "empty file"),
        (b"  \n", True, "empty file"),
        (b"\x30\x03\x02\x01\x01", True, "neither a PEM nor a DER certificate"),
        (b"hello", True, "neither a PEM nor a DER certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", True, "damaged PEM certificate ("),
        (None, False, "no PEM certificate"),  # DER where only PEM will do (what Go's TLS stack reads)
    ],
)
def test_strict_refuses_with_one_line(
    chain: tuple[Issued, Issued, Issued], data: bytes | None, der: bool, message: str
) -> None:
    with pytest.raises(NotACertificate) as info:
        parse_certificates(data if data is not None else chain[2].der(), der=der)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_strict_fails_a_bundle_with_one_damaged_block(chain: tuple[Issued, Issued, Issued]) -> None:
    root, inter, leaf = chain
    with pytest.raises(NotACertificate, match="damaged PEM certificate"):
        parse_certificates(leaf.pem() + _damage(inter.pem()) + root.pem())


# -- tolerant parsing ---------------------------------------------------------------------------------


def test_tolerant_keeps_the_good_blocks_around_a_damaged_middle(chain: tuple[Issued, Issued, Issued]) -> None:
    root, inter, leaf = chain
    good, bad = parse_bundle(leaf.pem() + _damage(inter.pem()) + root.pem())
    assert good == [(0, leaf.cert), (2, root.cert)]
    assert [index for index, _ in bad] == [1]
    assert bad[0][1].startswith("damaged PEM certificate (")


def test_tolerant_names_a_truncated_last_block(chain: tuple[Issued, Issued, Issued]) -> None:
    root, inter, leaf = chain
    good, bad = parse_bundle(leaf.pem() + inter.pem()[:200])
    assert good == [(0, leaf.cert)]
    assert bad == [(1, "truncated PEM certificate (no END line)")]
    with pytest.raises(NotACertificate, match=r"^truncated PEM certificate \(no END line\)$"):
        parse_certificates(leaf.pem() + inter.pem()[:200])


def test_tolerant_reads_der_and_passes_over_what_is_no_certificate(chain: tuple[Issued, Issued, Issued]) -> None:
    leaf = chain[2]
    assert parse_bundle(leaf.der()) == ([(0, leaf.cert)], [])
    assert parse_bundle(b'{"json": true}') == ([], [])
    assert parse_bundle(b"\x30\x03\x02\x01\x01") == ([], [])  # a DER SEQUENCE, not a certificate
    assert certs.load_der(b"\x30\x00") is None


# -- issued_by ----------------------------------------------------------------------------------------


def _rsa_ca(name: str, issuer: Issued | None = None) -> Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return make_ca(name, NOW - YEAR, NOW + YEAR, issuer=issuer, key=key)  # type: ignore[arg-type]


def _ed25519_pair() -> tuple[x509.Certificate, x509.Certificate]:
    """An Ed25519 CA and a leaf it signs (Ed25519 signs without a separate hash)."""
    ca_key = ed25519.Ed25519PrivateKey.generate()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - YEAR)
        .not_valid_after(NOW + YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, None)
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed-leaf")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - YEAR)
        .not_valid_after(NOW + YEAR)
        .sign(ca_key, None)
    )
    return leaf, ca


def _pairs() -> dict[str, tuple[x509.Certificate, x509.Certificate, bool]]:
    """name -> (certificate, candidate issuer, issued by it?)"""
    ec_root = make_ca("root", NOW - YEAR, NOW + YEAR)
    ec_inter = make_ca("inter", NOW - YEAR, NOW + YEAR, issuer=ec_root)
    ec_leaf = make_leaf("leaf", ec_inter, NOW - YEAR, NOW + YEAR)
    ec_twin = make_ca("inter", NOW - YEAR, NOW + YEAR, issuer=ec_root)  # same name, another key
    rsa_root = _rsa_ca("rsa-root")
    rsa_leaf = make_leaf("rsa-leaf", rsa_root, NOW - YEAR, NOW + YEAR)
    rsa_twin = _rsa_ca("rsa-root")
    ed_leaf, ed_ca = _ed25519_pair()
    return {
        "ecdsa": (ec_leaf.cert, ec_inter.cert, True),
        "ecdsa self-signed": (ec_root.cert, ec_root.cert, True),
        "rsa": (rsa_leaf.cert, rsa_root.cert, True),
        "ed25519": (ed_leaf, ed_ca, True),
        "wrong issuer name": (ec_leaf.cert, ec_root.cert, False),
        "ecdsa: right name, wrong key": (ec_leaf.cert, ec_twin.cert, False),
        "rsa: right name, wrong key": (rsa_leaf.cert, rsa_twin.cert, False),
        "ecdsa leaf, rsa issuer of that name": (ec_leaf.cert, _rsa_ca("inter").cert, False),
    }


PAIRS = _pairs()


@pytest.mark.parametrize("case", list(PAIRS))
def test_issued_by(case: str, tmp_path: Path) -> None:
    cert, issuer, expected = PAIRS[case]
    assert issued_by(cert, issuer) is expected
    problem = issuer_problem(cert, issuer)
    assert (problem is None) is expected
    if problem is not None:
        assert "\n" not in problem
        if case == "wrong issuer name":
            assert problem == "issuer name CN=inter is not CN=root"
    # openssl agrees: the candidate as the only trust anchor, time and purpose left out.
    (tmp_path / "ca.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        [
            require_binary("openssl", "openssl"),
            "verify",
            "-partial_chain",
            "-no_check_time",
            "-CAfile",
            str(tmp_path / "ca.pem"),
            str(tmp_path / "cert.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode == 0) is expected, result.stdout + result.stderr


# -- names and fingerprints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("2001:db8::1", True),
        ("notary-server", False),
        ("[::1]", False),
        ("127.0.0.1:4443", False),
        ("", False),
        ("999.1.1.1", False),
    ],
)
def test_is_ip(text: str, expected: bool) -> None:
    assert certs.is_ip(text) is expected


def test_san_helpers() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored.example")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - YEAR)
        .not_valid_after(NOW + YEAR)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("notary-server"),
                    x509.DNSName("*.example.com"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.RFC822Name("ops@example.com"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    assert certs.san_strings(cert) == [
        "DNS:notary-server",
        "DNS:*.example.com",
        "IP:127.0.0.1",
        "IP:::1",
        "email:ops@example.com",
    ]
    assert len(certs.subject_alt_names(cert)) == 5
    covered = {
        h: certs.covers(cert, h)
        for h in (
            "notary-server",
            "NOTARY-SERVER.",
            "a.example.com",
            "a.b.example.com",
            "example.com",
            "127.0.0.1",
            "[::1]",
            "127.0.0.2",
            "ignored.example",
        )
    }
    assert covered == {
        "notary-server": True,
        "NOTARY-SERVER.": True,
        "a.example.com": True,
        "a.b.example.com": False,
        "example.com": False,
        "127.0.0.1": True,
        "[::1]": True,
        "127.0.0.2": False,
        "ignored.example": False,
    }  # Go ignores the CN


def test_no_san_extension(chain: tuple[Issued, Issued, Issued]) -> None:
    root = chain[0].cert
    assert certs.san_strings(root) == []
    assert certs.subject_alt_names(root) == set() and not certs.covers(root, "root")


def test_fingerprint_matches_openssl(chain: tuple[Issued, Issued, Issued]) -> None:
    leaf = chain[2]
    result = subprocess.run(
        [require_binary("openssl", "openssl"), "x509", "-noout", "-fingerprint", "-sha256"],
        input=leaf.pem(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    openssl_hex = result.stdout.decode().strip().split("=", 1)[1].replace(":", "").lower()
    assert certs.fingerprint_sha256(leaf.cert) == openssl_hex
    assert certs.fingerprint_sha256(chain[1].cert) != openssl_hex


# -- validity edges, cert-level --------------------------------------------------------------------

NOT_BEFORE = datetime(2029, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NOT_AFTER = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
WINDOW = timedelta(days=30)


@pytest.fixture(scope="module")
def dated() -> x509.Certificate:
    root = make_ca("root", NOT_BEFORE, NOT_AFTER)
    return make_leaf("dated", root, NOT_BEFORE, NOT_AFTER).cert


@pytest.mark.parametrize(
    "now, valid, expired, not_yet",
    [
        (NOT_BEFORE - SECOND, False, False, True),
        (NOT_BEFORE, True, False, False),  # notBefore is inside the validity period
        (NOT_AFTER - SECOND, True, False, False),
        (NOT_AFTER, True, False, False),  # so is notAfter (RFC 5280 4.1.2.5; Go rejects only After(NotAfter))
        (NOT_AFTER + SECOND, False, True, False),
    ],
)
def test_validity_edges(dated: x509.Certificate, now: datetime, valid: bool, expired: bool, not_yet: bool) -> None:
    assert (certs.valid_at(dated, now), certs.expired(dated, now), certs.not_yet_valid(dated, now)) == (
        valid,
        expired,
        not_yet,
    )


@pytest.mark.parametrize(
    "left, within",
    [
        (WINDOW + SECOND, False),
        (WINDOW, False),  # exactly the window left is not within it (openssl x509 -checkend)
        (WINDOW - SECOND, True),
        (timedelta(0), True),
        (-SECOND, True),  # expired counts as within
    ],
)
def test_expires_within_edges(dated: x509.Certificate, left: timedelta, within: bool) -> None:
    now = NOT_AFTER - left
    assert certs.expires_within(dated, now, now + WINDOW) is within


# -- the same edges through every command, on the real checkout --------------------------------------

EXPIRY_EDGES = [(-SECOND, False), (timedelta(0), False), (SECOND, True)]  # offset from notAfter -> expired?
WINDOW_EDGES = [
    (WINDOW + SECOND, False),
    (WINDOW, False),
    (WINDOW - SECOND, True),
]  # time left -> within --warn/--within 30d?


def _server_not_after(notary: Path) -> datetime:
    return parse_certificates((notary / "fixtures/notary-server.crt").read_bytes())[0].not_valid_after_utc


def _verdicts(notary: Path, now: datetime) -> dict[str, str]:
    """What renew, check-expiry, status and compose --check say about fixtures/notary-server.crt at ``now``."""
    from certkit.check.expiry import Checker
    from certkit.check.findings import Thresholds
    from certkit.check.status import status
    from certkit.compose.check import check
    from certkit.compose.model import Options
    from certkit.durations import parse_duration
    from certkit.pki.planning import make_plan, read_state
    from certkit.profile import load_profile

    profile = load_profile()
    plan = make_plan(profile, read_state(profile, notary, notary / ".certkit-absent"), now, parse_duration("30d"))
    reasons = plan.get("notary-server").reasons
    renew = (
        "expired"
        if any(r.startswith("expired") for r in reasons)
        else "due"
        if any(r.startswith("expires") for r in reasons)
        else "ok"
    )

    checker = Checker(now, Thresholds(warn=parse_duration("30d"), crit=parse_duration("7d")))
    leaf = next(f for f in checker.run([notary / "fixtures/notary-server.crt"]) if f.index == 0)
    codes = {r.code for r in leaf.reasons}
    check_expiry = "expired" if "expired" in codes else "due" if "expiring" in codes else "ok"

    tree = status(notary, profile, now, warn_days=30, ca_store=notary / ".certkit-absent")
    stack, node = list(tree.roots), None
    while stack:
        node = stack.pop()
        if node.name == "notary-server":
            break
        stack.extend(node.children)
    assert node is not None and node.name == "notary-server"
    shown = " ".join(node.problems)
    status_says = "expired" if "expired" in shown else "due" if "expires in" in shown else "ok"

    report = check(notary, [], Options(profile, environ={}), now)
    row = next(r for r in report.rows if r.container_path.endswith("/notary-server.crt") and r.service == "server")
    compose_says = "expired" if any(p.startswith("expired on") for p in row.problems) else "ok"
    return {"renew": renew, "check-expiry": check_expiry, "status": status_says, "compose --check": compose_says}


@pytest.fixture
def mounted_notary(reference_dir: Path, tmp_path: Path) -> Path:
    """A copy of the real checkout with certkit's compose override, so compose --check reads the host files."""
    from certkit.compose.apply import apply
    from certkit.compose.model import Options
    from certkit.profile import load_profile
    from tests.compose_helpers import copy_reference

    notary = copy_reference(reference_dir, tmp_path)
    apply(notary, [], Options(load_profile(), environ={}))
    return notary


def test_every_command_agrees_at_notafter(mounted_notary: Path) -> None:
    not_after = _server_not_after(mounted_notary)
    for offset, is_expired in EXPIRY_EDGES:
        verdicts = _verdicts(mounted_notary, not_after + offset)
        expected = "expired" if is_expired else "due"
        assert verdicts == {
            "renew": expected,
            "check-expiry": expected,
            "status": expected,
            "compose --check": "expired" if is_expired else "ok",
        }, (offset, verdicts)


def test_renew_check_expiry_and_status_agree_at_the_window(mounted_notary: Path) -> None:
    not_after = _server_not_after(mounted_notary)
    for left, within in WINDOW_EDGES:
        verdicts = _verdicts(mounted_notary, not_after - left)
        expected = "due" if within else "ok"
        # compose --check judges expiry only, never a window.
        assert verdicts == {"renew": expected, "check-expiry": expected, "status": expected, "compose --check": "ok"}, (
            left,
            verdicts,
        )


# -- SHA-1 signatures (Notary's self-signed_*.crt fixtures are ecdsa-with-SHA1) ----------------------


def _self_signed_twin(subject: x509.Name) -> x509.Certificate:
    """A self-signed certificate with ``subject`` and another key (SHA-256: cryptography signs no SHA-1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - YEAR)
        .not_valid_after(NOW + YEAR)
        .sign(key, hashes.SHA256())
    )


def _openssl_self_signature_ok(anchor: x509.Certificate, cert: x509.Certificate, tmp_path: Path) -> bool:
    (tmp_path / "ca.pem").write_bytes(anchor.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    argv = [require_binary("openssl", "openssl"), "verify", "-partial_chain", "-no_check_time", "-check_ss_sig"]
    # -auth_level 0: OpenSSL 3 refuses SHA-1 at level 1; the question here is the signature, not its strength.
    argv += ["-auth_level", "0", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).returncode == 0


@pytest.mark.parametrize("name", ["self-signed_docker.com-notary.crt", "self-signed_secure.example.com.crt"])
def test_a_sha1_self_signed_fixture_is_self_signed_with_a_weak_hash(
    reference_dir: Path, tmp_path: Path, name: str
) -> None:
    [cert] = parse_certificates((reference_dir / "fixtures" / name).read_bytes())
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA1
    # cryptography's verify_directly_issued_by refuses SHA-1 as an unsupported algorithm; the
    # signature is nevertheless its own key's, which openssl confirms.
    assert issuer_problem(cert, cert) is None and issued_by(cert, cert)
    assert _openssl_self_signature_ok(cert, cert, tmp_path)
    assert certs.weak_signature(cert) == "SHA-1 (ecdsa-with-SHA1)"
    # The same name with another key is still refused: the SHA-1 path checks the signature.
    twin = _self_signed_twin(cert.subject)
    problem = issuer_problem(cert, twin)
    assert problem is not None and "\n" not in problem
    assert not _openssl_self_signature_ok(twin, cert, tmp_path)


def test_a_sha256_certificate_is_not_weak(chain: tuple[Issued, Issued, Issued]) -> None:
    assert all(certs.weak_signature(issued.cert) is None for issued in chain)
