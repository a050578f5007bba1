"""Checking a certificate set before it is written: chains, key pairs, usages, time.

Uses cryptography's RFC 5280 path builder (x509.verification) for server leaves, which
is about as strict as Go's crypto/x509 (SANs required, EKUs honoured), and direct
signature checks for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cryptography import x509
from cryptography.x509 import verification

from certkit.certificates import issuer_problem, valid_at
from certkit.errors import ValidationError
from certkit.pki import keys as keymod
from certkit.pki.issuance import Signer
from certkit.pki.keys import PrivateKey
from certkit.profile import SELF_ISSUER, Profile
from certkit.text import utc_minute


def validate_set(
    profile: Profile,
    certs: dict[str, list[x509.Certificate]],
    keys: Mapping[str, PrivateKey | Signer],
    now: datetime,
) -> None:
    """Raise ValidationError naming the first certificate that fails a check."""
    for spec in profile.certificates:
        chain = certs[spec.name]
        leaf = chain[0]
        where = f"{spec.cert_file} ({spec.name})"
        if not valid_at(leaf, now):
            raise ValidationError(f"{where}: not valid at {utc_minute(now)}")
        key = keys.get(spec.name)
        if key is not None and not keymod.same_public_key(key, leaf.public_key()):
            raise ValidationError(f"{where}: certificate does not match its private key")
        if spec.issuer is None:
            issuer, signer = leaf, SELF_ISSUER
        else:
            issuer, signer = certs[spec.issuer][0], spec.issuer
        problem = issuer_problem(leaf, issuer)
        if problem is not None:
            raise ValidationError(f"{where}: not validly signed by {signer}: {problem}")
        expected = [certs[name][0] for name in spec.chain]
        if chain[1:] != expected:
            raise ValidationError(f"{where}: bundle does not hold {', '.join(spec.chain)}")
        if not spec.self_signed and "server_auth" in spec.extended_key_usage:
            _verify_server_path(profile, spec.name, certs, now)


def _verify_server_path(profile: Profile, name: str, certs: dict[str, list[x509.Certificate]], now: datetime) -> None:
    spec = profile.get(name)
    intermediates = []
    current = spec
    while current.issuer is not None:
        current = profile.get(current.issuer)
        if current.issuer is not None:
            intermediates.append(certs[current.name][0])
    anchor = certs[current.name][0]
    dns = [s.partition(":")[2] for s in spec.sans if s.startswith("DNS:")]
    if not dns:
        return
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([anchor]))
        .time(now)
        .build_server_verifier(x509.DNSName(dns[0]))
    )
    try:
        verifier.verify(certs[name][0], intermediates)
    except verification.VerificationError as exc:
        raise ValidationError(f"{spec.cert_file} ({name}): chain to {current.name} fails verification: {exc}") from exc
