"""Private keys: generate (in parallel processes), load, serialize, compare.

RSA key generation is the slow, random part of a renewal (~0.1-1 s for 4096 bits),
so independent keys are made in separate processes, one per core.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certkit.errors import MaterialError
from certkit.profile import KeyLocation, KeySpec, KeyType, Profile

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

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


def _generate_pkcs8(spec: KeySpec) -> bytes:
    return to_pem(generate(spec))


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Pool initializer: a worker dies at once when certkit itself dies, however it dies.

    Without this, a SIGKILLed certkit left its forked workers blocked forever: each holds
    both ends of the pool's pipe (fork copies them), so its read never sees end-of-file.
    prctl(PR_SET_PDEATHSIG) asks Linux to SIGKILL the worker when the thread that forked it
    ends; the pool forks from the thread calling generate_many, which outlives the pool.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # certkit died before the prctl took effect: no one wants our keys
        os._exit(1)


def _pool(workers: int) -> ProcessPoolExecutor:
    # Imported here: a routine renewal makes no key and should not pay for them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the children need nothing but this module, and start in ~1 ms.
    context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),)
    )


class EarlyKeys:
    """RSA keys started in worker processes as soon as the command can tell they will be needed
    (a CA key missing from the CA store, a leaf key file missing), so the random prime search
    overlaps the imports, checks and planning of the main process.  :func:`generate_many` takes
    the keys it needs from here and makes the rest in the same workers; a key nobody takes is
    thrown away (:meth:`close` stops its worker).  Nothing is written: the keys live in memory.
    """

    def __init__(self, specs: list[KeySpec]) -> None:
        rsa_specs = [s for s in specs if s.type is KeyType.RSA]
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[tuple[KeySpec, Future[bytes]]] = []
        if not rsa_specs:
            return
        self._pool = _pool(max(1, min(len(rsa_specs), os.cpu_count() or 1)))
        # The biggest first: they take longest, and the small ones fill in behind them.
        for spec in sorted(rsa_specs, key=lambda s: -s.size):
            self._pending.append((spec, self._pool.submit(_generate_pkcs8, spec)))

    def take(self, spec: KeySpec) -> Future[bytes] | None:
        for index, (pending, future) in enumerate(self._pending):
            if pending == spec:
                del self._pending[index]
                return future
        return None

    def submit(self, spec: KeySpec) -> Future[bytes] | None:
        return self._pool.submit(_generate_pkcs8, spec) if self._pool is not None else None

    def close(self) -> None:
        """Stop the workers; a key still being made for nobody is abandoned (its worker killed)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        unused = [f for _, f in self._pending if not f.done()]
        self._pending = []
        processes: dict[Any, Any] = dict(getattr(pool, "_processes", None) or {})
        pool.shutdown(wait=not unused, cancel_futures=True)
        # No worker outlives close(): a prime search nobody waits for is killed, and a worker the
        # shutdown has not reaped yet (seen under load) is stopped and reaped here too.
        for process in processes.values():
            if process.is_alive():
                process.kill()  # only our own fork workers
        for process in processes.values():
            process.join()


def likely_needed(root: Path, profile: Profile, ca_store: Path | None, *, rotate_keys: bool = False) -> list[KeySpec]:
    """The key specs a renewal of ``root`` will almost surely make, judged from which key files
    exist, without parsing anything: a CA key missing from the CA store, a leaf key file that is
    missing (every leaf key file, with --rotate-keys).  Only a head start for :class:`EarlyKeys`:
    the plan decides which keys are made, and a key it does not want is thrown away.
    """
    from certkit.store.layout import ca_store_path

    store = ca_store_path(root, profile, ca_store)
    specs = []
    for spec in profile.certificates:
        if spec.key_location is KeyLocation.CA_STORE:
            path: Path | None = store / f"{spec.name}.key"  # certkit.pki.planning.ca_key_path (not imported: heavy)
        elif spec.key_file:
            path = root / spec.key_file
        else:
            path = None
        if path is not None and ((rotate_keys and spec.key_location is KeyLocation.FILE) or not os.path.lexists(path)):
            specs.append(spec.key)
    return specs


def generate_many(specs: list[KeySpec], early: EarlyKeys | None = None) -> list[PrivateKey]:
    """Generate one key per spec; RSA keys in parallel processes when there are several.

    With ``early``, keys started there are taken first and the rest are made by its workers.
    """
    slow = [i for i, s in enumerate(specs) if s.type is KeyType.RSA]
    workers = min(len(slow), os.cpu_count() or 1)
    keys: list[PrivateKey | None] = [None] * len(specs)
    futures: dict[int, Future[bytes]] = {}
    if early is not None:
        for index in slow:
            taken = early.take(specs[index])
            if taken is not None:
                futures[index] = taken
        for index in sorted(set(slow) - set(futures), key=lambda i: -specs[i].size):
            extra = early.submit(specs[index])
            if extra is not None:
                futures[index] = extra
    if futures:
        pems = {index: future.result() for index, future in futures.items()}
    elif workers >= 2:
        with _pool(workers) as pool:
            pems = dict(zip(slow, pool.map(_generate_pkcs8, [specs[i] for i in slow]), strict=True))
    else:
        pems = {}
    for index, pem in pems.items():
        # certkit made these keys itself a moment ago: skip the slow RSA self-check.
        keys[index] = load_pem(pem, trusted=True)
    for index, spec in enumerate(specs):
        if keys[index] is None:
            keys[index] = generate(spec)
    return [k for k in keys if k is not None]


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
