"""Private keys: generate (in parallel threads), load, serialize, compare."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certkit.errors import MaterialError
from certkit.profile import KeyLocation, KeySpec, KeyType

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from certkit.store.checkout import Checkout

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@runtime_checkable
class KeyPair(Protocol):
    """What holds a private key: the key itself, or a CA key's handle (certkit.pki.cakeys.CAKey), whose
    private half may be encrypted, offline or in a token; either answers for its public key."""

    def public_key(self) -> PublicKey: ...


_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def generate(spec: KeySpec) -> PrivateKey:
    if spec.type is KeyType.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    return ec.generate_private_key(_CURVES[spec.curve]())


class KeyMaker:
    """Makes keys in threads, as many at once as there are cores.

    RSA's prime search is the slow, random part of a renewal (about 0.1 to 1.5 s for a 4096-bit key), and
    cryptography (from 47 on) releases the GIL while it runs: the threads make keys in parallel and beside
    the main thread's own work.  :meth:`start` begins the keys a renewal will almost surely make
    (:func:`likely_needed`) before the rest of certkit is imported, checked and planned; :meth:`make` takes
    those the plan wants and makes the rest.  A key started for nothing is finished and dropped when the
    maker closes (a thread cannot be stopped, and a half-made key holds nothing worth stopping for):
    only a run whose plan made no key after all waits for it.  Nothing is written: the keys live in memory.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._started: list[tuple[KeySpec, Future[PrivateKey]]] = []

    def __enter__(self) -> KeyMaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, specs: Iterable[KeySpec]) -> None:
        """Begin making these keys (RSA only: an ECDSA key takes a millisecond when it is needed)."""
        # The biggest first: they take longest, and the small ones fill in behind them.
        for spec in sorted((s for s in specs if s.type is KeyType.RSA), key=lambda s: -s.size):
            self._started.append((spec, self._submit(spec)))

    def make(self, specs: Sequence[KeySpec]) -> list[PrivateKey]:
        """One new key per spec, in their order: a started one where it matches, the rest made now."""
        futures: dict[int, Future[PrivateKey]] = {}
        for index, spec in enumerate(specs):
            taken = next((i for i, (started, _) in enumerate(self._started) if started == spec), None)
            if taken is not None:
                futures[index] = self._started.pop(taken)[1]
        for index in sorted(set(range(len(specs))) - set(futures), key=lambda i: -specs[i].size):
            futures[index] = self._submit(specs[index])
        return [futures[index].result() for index in range(len(specs))]

    def close(self) -> None:
        """Wait for the threads: a key nobody took is finished, then dropped; one not begun yet is not made."""
        pool, self._pool, self._started = self._pool, None, []
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, spec: KeySpec) -> Future[PrivateKey]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="certkit-key")
        return self._pool.submit(generate, spec)


def likely_needed(checkout: Checkout, *, rotate_keys: bool = False) -> list[KeySpec]:
    """The key specs a renewal of the checkout will almost surely make, judged from which key files exist,
    without parsing anything: a CA key missing from the CA store, a leaf key file that is missing (every
    leaf key file, with --rotate-keys).  Only a head start for :class:`KeyMaker`: the plan decides which
    keys are made, and a key it does not want is dropped.
    """
    specs = []
    for spec in checkout.profile.certificates:
        path = checkout.key_path(spec)
        rotated = rotate_keys and spec.key_location is KeyLocation.FILE
        if path is not None and (rotated or not os.path.lexists(path)):
            specs.append(spec.key)
    return specs


def likely_signer(checkout: Checkout) -> Path | None:
    """The CA key a routine renewal signs with: the issuer of the most leaves whose keys are kept (Notary's
    intermediate), or None.  One key only: deriving a passphrase's key costs a full PBKDF2 each
    (certkit.pki.unlock.Unlock.prefetch)."""
    issuers = Counter(
        spec.issuer
        for spec in checkout.profile.certificates
        if spec.key_location is KeyLocation.FILE and spec.issuer is not None
    )
    if not issuers:
        return None
    return checkout.key_path(checkout.profile.get(issuers.most_common(1)[0][0]))


def generate_many(specs: Sequence[KeySpec], maker: KeyMaker | None = None) -> list[PrivateKey]:
    """One new key per spec, made in parallel threads (``maker``'s, taking the keys it started)."""
    if maker is not None:
        return maker.make(specs)
    with KeyMaker() as own:
        return own.make(specs)


def to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_pem(data: bytes, *, trusted: bool = False, where: str = "key") -> PrivateKey:
    """Load an unencrypted PEM private key.

    ``trusted`` skips OpenSSL's RSA consistency check (~0.27 s for 4096 bits); use it only
    for keys certkit wrote, and still call ``check_signs`` before relying on a key.
    """
    try:
        key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=trusted)
    except TypeError as exc:  # raised for an encrypted key with no password
        raise MaterialError(
            f"{where}: the private key is encrypted; certkit needs it unencrypted "
            f"(decrypt it with `openssl pkey -in {where} -out {where}`) or replace it with --rotate-keys"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MaterialError(
            f"{where}: not a usable PEM private key ({_short(exc)}); restore it or replace it with --rotate-keys"
        ) from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise MaterialError(f"{where}: unsupported key type {type(key).__name__}; use RSA or ECDSA, or --rotate-keys")
    return key


def check_signs(key: PrivateKey, where: str) -> None:
    """Sign and verify a probe: catches a damaged key that loaded without validation."""
    probe = b"certkit key probe"
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
            key.public_key().verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = key.sign(probe, ec.ECDSA(hashes.SHA256()))
            key.public_key().verify(signature, probe, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise MaterialError(
            f"{where}: the private key is damaged (it cannot make a valid signature); "
            "restore it or replace it with --rotate-keys"
        ) from exc


def matches_spec(key: KeyPair | PublicKeyTypes, spec: KeySpec) -> bool:
    return describe(key) == spec.describe()


def _public(key: KeyPair | PublicKeyTypes) -> PublicKeyTypes:
    return key.public_key() if isinstance(key, KeyPair) else key


def describe(key: KeyPair | PublicKeyTypes) -> str:
    public = _public(key)
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA-{public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"ECDSA {_CURVE_NAMES.get(public.curve.name, public.curve.name)}"
    return type(public).__name__


def same_public_key(a: KeyPair | PublicKeyTypes, b: KeyPair | PublicKeyTypes) -> bool:
    """True when ``a`` and ``b`` (private or public keys, any algorithm) hold the same public key."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return _public(a).public_bytes(*spki) == _public(b).public_bytes(*spki)


def _short(exc: Exception) -> str:
    """The first sentence of an exception's message (OpenSSL's run on for several lines)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(". ")[0].rstrip(".")
