"""One meaning of "expired" and "expires within", used by every command.

RFC 5280 4.1.2.5: a certificate is valid from notBefore through notAfter, both included
(Go's crypto/x509, which Notary uses, rejects only ``now.After(NotAfter)``). So at the very
second of notAfter it still works. A window is reached when *less* than its length is left,
as with ``openssl x509 -checkend``: exactly 30 days left is not "within 30 days".

renew (what is due), check-expiry (OK/WARNING/CRITICAL), status, compose --check, trust and
the validation of a new set all decide with these two predicates, so no two commands can
disagree about the same certificate at the same moment.  Standard library only: the
fast path of `certkit renew` uses them before anything heavy is imported.
"""

from __future__ import annotations

from datetime import datetime


def valid_at(not_before: datetime, not_after: datetime, now: datetime) -> bool:
    """Inside the validity period at ``now`` (both ends included)."""
    return not_before <= now <= not_after


def expired(not_after: datetime, now: datetime) -> bool:
    """Past notAfter: at notAfter itself the certificate is still valid."""
    return now > not_after


def expires_within(not_after: datetime, now: datetime, horizon: datetime) -> bool:
    """Less than the window (``horizon`` = now + window) is left: due for renewal, or a warning.

    True for an expired certificate too.
    """
    return not_after < horizon or expired(not_after, now)
