"""One meaning of "expired" and "expires within" (RFC 5280, openssl -checkend), at the edges, for every command.

The table runs each edge through the predicates themselves and through each command's decision:
renew's plan, check-expiry's judgement, status, and the validation of a new set.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from certkit.validity import expired, expires_within, valid_at

NOT_AFTER = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
WINDOW = timedelta(days=30)


@pytest.mark.parametrize(
    "now, is_expired",
    [
        (NOT_AFTER - SECOND, False),
        (NOT_AFTER, False),  # valid through the very second of notAfter
        (NOT_AFTER + SECOND, True),
    ],
)
def test_expired_edges(now: datetime, is_expired: bool) -> None:
    assert expired(NOT_AFTER, now) is is_expired
    assert valid_at(NOT_AFTER - timedelta(days=365), NOT_AFTER, now) is not is_expired


@pytest.mark.parametrize(
    "left, within",
    [
        (WINDOW + SECOND, False),
        (WINDOW, False),  # exactly the window left: not within it (openssl -checkend)
        (WINDOW - SECOND, True),
        (timedelta(0), True),
        (-SECOND, True),  # expired counts as within
    ],
)
def test_expires_within_edges(left: timedelta, within: bool) -> None:
    now = NOT_AFTER - left
    assert expires_within(NOT_AFTER, now, now + WINDOW) is within


def _certificate(not_after: datetime):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - timedelta(days=400))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "left, renew_due, check_status",
    [
        (WINDOW + SECOND, False, "OK"),
        (WINDOW, False, "OK"),
        (WINDOW - SECOND, True, "WARNING"),
        (timedelta(0), True, "CRITICAL"),  # within --crit 7d: still valid, but critical
        (-SECOND, True, "CRITICAL"),
    ],
)
def test_renew_and_check_expiry_agree(left: timedelta, renew_due: bool, check_status: str) -> None:
    from certkit.check.expiry import judge_time
    from certkit.check.findings import Status, Thresholds
    from certkit.durations import parse_duration

    cert = _certificate(NOT_AFTER)
    now = NOT_AFTER - left
    thresholds = Thresholds(warn=parse_duration("30d"), crit=parse_duration("7d"))
    _, reasons = judge_time(cert, now, thresholds)
    status = max((r.status for r in reasons), default=Status.OK)
    assert status.name == check_status


@pytest.mark.parametrize(
    "left, due",
    [(WINDOW + SECOND, False), (WINDOW, False), (WINDOW - SECOND, True), (timedelta(0), True), (-SECOND, True)],
)
def test_renews_plan_agrees_on_the_real_checkout(reference_dir, left: timedelta, due: bool) -> None:  # type: ignore[no-untyped-def]
    """make_plan, directly: Notary's notary-server.crt as cloned, judged at each edge of --within 30d."""
    from certkit.durations import parse_duration
    from certkit.pki.planning import make_plan, read_state
    from certkit.profile import load_profile

    profile = load_profile()
    states = read_state(profile, reference_dir, reference_dir / ".certkit-absent")
    not_after = states["notary-server"].leaf.not_valid_after_utc  # type: ignore[union-attr]
    plan = make_plan(profile, states, not_after - left, parse_duration("30d"))
    reasons = next(d.reasons for d in plan.decisions if d.name == "notary-server")
    assert any(r.startswith(("expire", "expired")) for r in reasons) is due, reasons
