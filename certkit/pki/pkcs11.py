"""CA keys in a PKCS#11 token (an HSM, a smart card, SoftHSM): made there, used there, never exported.

A key is named by an RFC 7512 URI: ``pkcs11:token=certkit;object=root-ca;id=%3a%01?module-path=
/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/certkit/pin``.  The module is the
vendor's PKCS#11 library (``module-path``; without it, p11-kit's proxy or SoftHSM's where installed).

cryptography signs only with keys it holds, so a certificate is assembled around the token's
signature: cryptography builds it signed by a throwaway key of the same family (RSA or ECDSA),
which gives the exact ``tbsCertificate`` and ``signatureAlgorithm`` (sha256WithRSAEncryption and
ecdsa-with-SHA256 do not depend on the key size or curve); the token signs the TBS bytes; and
``SEQUENCE { tbs, algorithm, BIT STRING signature }`` (RFC 5280 4.1) is put together with
certkit.pki.der.  The result is checked against the CA's public key before it is used.

python-pkcs11 (the ``hsm`` extra; a prebuilt wheel, it loads the module only when asked) is
imported here and only here, when a token is used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from certkit.errors import MaterialError, TokenError, UsageError
from certkit.pki import der
from certkit.pki.keys import PrivateKey, PublicKey
from certkit.pki.unlock import Unlock
from certkit.profile import KeySpec, KeyType
from certkit.text import one_line

# Where Debian puts the modules, tried in this order when the URI names none.
DEFAULT_MODULES = (
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/softhsm/libsofthsm2.so",
)
_CURVES = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
_PATH_ATTRS = ("token", "manufacturer", "serial", "model", "object", "id", "type")
_QUERY_ATTRS = ("module-path", "module-name", "pin-source")


@dataclass(frozen=True)
class KeyURI:
    """The parts of an RFC 7512 URI certkit uses."""

    token: str
    object: str = ""
    id: bytes = b""
    module_path: str = ""
    pin_source: str = ""  # file:PATH
    serial: str = ""

    def text(self) -> str:
        path = [f"token={_enc(self.token)}"]
        if self.serial:
            path.append(f"serial={_enc(self.serial)}")
        if self.object:
            path.append(f"object={_enc(self.object)}")
        if self.id:
            path.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        query = []
        if self.module_path:
            query.append(f"module-path={_enc(self.module_path)}")
        if self.pin_source:
            query.append(f"pin-source={_enc(self.pin_source)}")
        return "pkcs11:" + ";".join(path) + ("?" + "&".join(query) if query else "")

    def pin_file(self) -> Path | None:
        return Path(self.pin_source[len("file:") :]) if self.pin_source.startswith("file:") else None


def _enc(text: str) -> str:
    return quote(text, safe="/:-_.~")


def parse_uri(text: str, where: str = "--ca-pkcs11") -> KeyURI:
    """Raises UsageError (2) for a URI certkit cannot use (not pkcs11:, no token, a PIN in it)."""
    if not text.startswith("pkcs11:"):
        raise UsageError(f"{where}: {text!r} is not a pkcs11: URI (RFC 7512), e.g. pkcs11:token=certkit")
    path, _, query = text[len("pkcs11:") :].partition("?")
    values: dict[str, str] = {}
    raw_id = ""
    for part, allowed, sep in ((path, _PATH_ATTRS, ";"), (query, _QUERY_ATTRS, "&")):
        for item in filter(None, part.split(sep)):
            name, eq, value = item.partition("=")
            if name == "pin-value":
                raise UsageError(
                    f"{where}: a PIN inside the URI would be on the command line and in the CA store; "
                    "use pin-source=file:PATH (mode 0600) or the systemd credential certkit-ca-pin"
                )
            if not eq or name not in allowed:
                raise UsageError(f"{where}: {name!r} is not an attribute certkit uses (RFC 7512: {', '.join(allowed)})")
            if name == "id":
                raw_id = value
            values[name] = unquote(value)
    if not values.get("token"):
        raise UsageError(f"{where}: the URI names no token; add token=LABEL (softhsm2-util --show-slots lists them)")
    try:
        ident = unquote_to_bytes(raw_id)
    except ValueError as exc:
        raise UsageError(f"{where}: id={raw_id}: {exc}") from None
    pin_source = values.get("pin-source", "")
    if pin_source and not pin_source.startswith("file:"):
        raise UsageError(f"{where}: pin-source={pin_source}: certkit reads a PIN from file:PATH only")
    return KeyURI(
        token=values["token"],
        object=values.get("object", ""),
        id=ident,
        module_path=values.get("module-path", ""),
        pin_source=pin_source,
        serial=values.get("serial", ""),
    )


def unquote_to_bytes(text: str) -> bytes:
    from urllib.parse import unquote_to_bytes as decode

    return decode(text)


def _module(uri: KeyURI) -> str:
    if uri.module_path:
        if not os.path.isfile(uri.module_path):
            raise TokenError(f"module-path={uri.module_path}: no such PKCS#11 module; install the token's library")
        return uri.module_path
    for candidate in DEFAULT_MODULES:
        if os.path.isfile(candidate):
            return candidate
    raise TokenError(
        f"{uri.text()}: no PKCS#11 module found ({', '.join(DEFAULT_MODULES)}); add module-path=... to the URI"
    )


def _library() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise TokenError(
            "CA keys in a PKCS#11 token need python-pkcs11: pip install 'certkit[hsm]'; nothing was written"
        ) from exc
    return pkcs11


@contextmanager
def session(uri: KeyURI, unlock: Unlock, *, rw: bool = False) -> Iterator[Any]:
    """A logged-in session on the URI's token.

    Raises:
        TokenError: (exit 25) no module, no such token, a missing or wrong PIN; never the PIN itself.
    """
    pkcs11 = _library()
    from pkcs11 import exceptions as errors

    module = _module(uri)
    try:
        lib = pkcs11.lib(module)
        query: dict[str, Any] = {"token_label": uri.token}
        if uri.serial:
            query["token_serial"] = uri.serial.encode()
        token = lib.get_token(**query)
    except errors.NoSuchToken as exc:
        raise TokenError(
            f"no PKCS#11 token labelled {uri.token!r} in {module}: plug the token in, or fix token= in the URI; "
            "nothing was written"
        ) from exc
    except (errors.PKCS11Error, RuntimeError, OSError) as exc:
        raise TokenError(f"{module}: the PKCS#11 module cannot be used ({one_line(exc)}); nothing was written") from exc
    pin = unlock.pin(uri.token, uri.pin_file())
    try:
        opened = token.open(user_pin=pin.decode("utf-8", "surrogateescape"), rw=rw)
    except (errors.PinIncorrect, errors.PinInvalid, errors.PinLenRange) as exc:
        raise TokenError(
            f"the PIN for the PKCS#11 token {uri.token!r} is wrong; fix the PIN source; nothing was written"
        ) from exc
    except errors.PinLocked as exc:
        raise TokenError(f"the PKCS#11 token {uri.token!r} is locked (too many wrong PINs); unlock it") from exc
    except errors.PKCS11Error as exc:
        raise TokenError(f"cannot log in to the PKCS#11 token {uri.token!r} ({one_line(exc)})") from exc
    with opened as live:
        yield live


def _private_key(live: Any, uri: KeyURI) -> Any:
    from pkcs11 import ObjectClass
    from pkcs11 import exceptions as errors

    query: dict[str, Any] = {"object_class": ObjectClass.PRIVATE_KEY}
    if uri.object:
        query["label"] = uri.object
    if uri.id:
        query["id"] = uri.id
    if len(query) == 1:
        raise TokenError(f"{uri.text()}: names no key (no object= or id=); restore the CA store's key file")
    try:
        return live.get_key(**query)
    except errors.NoSuchKey as exc:
        raise TokenError(
            f"{uri.text()}: no such private key in the token {uri.token!r}; was it deleted, or is it another token? "
            "nothing was written"
        ) from exc
    except errors.MultipleObjectsReturned as exc:
        raise TokenError(f"{uri.text()}: names more than one key; add id= to the URI") from exc


def generate(uri: KeyURI, name: str, spec: KeySpec, unlock: Unlock) -> tuple[KeyURI, PublicKey]:
    """A new key pair in the token, labelled ``name`` with a fresh random id; never extractable."""
    from pkcs11 import Attribute
    from pkcs11 import KeyType as TokenKeyType
    from pkcs11 import exceptions as errors
    from pkcs11.util.ec import encode_named_curve_parameters

    ident = secrets.token_bytes(8)
    private_template = {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.PRIVATE: True,
        Attribute.SIGN: True,
    }
    with session(uri, unlock, rw=True) as live:
        try:
            if spec.type is KeyType.RSA:
                public, _ = live.generate_keypair(
                    TokenKeyType.RSA, spec.size, store=True, label=name, id=ident, private_template=private_template
                )
            else:
                params = live.create_domain_parameters(
                    TokenKeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[spec.curve])},
                    local=True,
                )
                public, _ = params.generate_keypair(store=True, label=name, id=ident, private_template=private_template)
        except errors.PKCS11Error as exc:
            raise TokenError(
                f"the PKCS#11 token {uri.token!r} cannot make a {spec.describe()} key ({one_line(exc)})"
            ) from exc
        made = _public_of(public, spec)
    return replace(uri, object=name, id=ident), made


def _public_of(public: Any, spec: KeySpec) -> PublicKey:
    from pkcs11 import Attribute

    if spec.type is KeyType.RSA:
        n = int.from_bytes(public[Attribute.MODULUS], "big")
        e = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = public[Attribute.EC_POINT]
    tag, start, end = der.read(point)  # CKA_EC_POINT is the DER OCTET STRING of the point (PKCS#11 2.40 2.3.3)
    raw = point[start:end] if tag == der.OCTET_STRING and end == len(point) else point
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[spec.curve]
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)


def _sign(uri: KeyURI, public: PublicKey, unlock: Unlock, data: bytes) -> bytes:
    """The token's signature of ``data`` with SHA-256, as X.509 wants it (ECDSA: DER Ecdsa-Sig-Value)."""
    from pkcs11 import Mechanism
    from pkcs11 import exceptions as errors

    with session(uri, unlock) as live:
        key = _private_key(live, uri)
        try:
            if isinstance(public, rsa.RSAPublicKey):
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            # Plain CKM_ECDSA over a digest made here: every token has it; ECDSA_SHA256 is optional.
            digest = hashes.Hash(hashes.SHA256())
            digest.update(data)
            raw = bytes(key.sign(digest.finalize(), mechanism=Mechanism.ECDSA))
        except errors.PKCS11Error as exc:
            raise TokenError(f"{uri.text()}: the token refused to sign ({one_line(exc)})") from exc
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


@cache
def _throwaway(family: str) -> PrivateKey:
    # Only its signature algorithm is used (then replaced): the smallest key of the family will do.
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return ec.generate_private_key(ec.SECP256R1())


def sign_certificate(
    builder: x509.CertificateBuilder, uri: KeyURI, public: PublicKey, unlock: Unlock
) -> x509.Certificate:
    """``builder``'s certificate signed in the token by the key at ``uri`` (whose public key is ``public``)."""
    family = "rsa" if isinstance(public, rsa.RSAPublicKey) else "ec"
    draft = builder.sign(_throwaway(family), hashes.SHA256())
    tbs, algorithm, _ = der.children(draft.public_bytes(Encoding.DER))
    signature = _sign(uri, public, unlock, tbs)
    cert = x509.load_der_x509_certificate(der.sequence(tbs, algorithm, der.bit_string(signature)))
    try:
        verify_signature(public, cert)
    except InvalidSignature as exc:
        raise MaterialError(
            f"{uri.text()}: the token's key does not match the CA's public key in the CA store; restore the key file"
        ) from exc
    return cert


def verify_signature(public: PublicKey, cert: x509.Certificate) -> None:
    """Raises InvalidSignature unless ``public`` signed ``cert``."""
    assert cert.signature_hash_algorithm is not None
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


def probe(uri: KeyURI, public: PublicKey, unlock: Unlock) -> None:
    """Sign a probe in the token and check it with the public key: the token, the PIN and the object work."""
    data = b"certkit key probe"
    signature = _sign(uri, public, unlock, data)
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise TokenError(
            f"{uri.text()}: the token's key does not match the public key in the CA store; restore the key file"
        ) from exc
