"""CA keys in the CA store, in one of four forms, opened only when a run must sign.

``CA_STORE/NAME.key`` holds one of:

- **plain**: the unencrypted PKCS#8 PEM key (certkit's only form before encryption existed);
- **encrypted**: a header line, the key as an encrypted PKCS#8 block (certkit.pki.pkcs8) and the
  public key as a ``PUBLIC KEY`` block, so planning (is the certificate still this key's?) needs no
  passphrase; ``openssl pkey -in NAME.key`` reads the first block;
- **offline**: a header naming where the key was exported to, and the public key; the private key
  is not on this machine (`certkit ca-keys export-root`) and comes back for one run with
  ``renew --ca-root-key FILE``;
- **pkcs11**: a header with the RFC 7512 URI of the key in a PKCS#11 token, and the public key;
  the key never leaves the token (certkit.pki.pkcs11 signs there).

Every form is one file at the path a plain key has always had, so transactions, generations
(rollback), the fast path's fingerprints and the ownership checks treat them all alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certkit.errors import MaterialError, OfflineKeyError, PassphraseError
from certkit.pki import keys as keymod
from certkit.pki import pkcs8
from certkit.pki.keys import PrivateKey, PublicKey
from certkit.pki.unlock import Unlock

if TYPE_CHECKING:
    from certkit.pki.pkcs11 import KeyURI


class KeyForm(Enum):
    PLAIN = "plain"
    ENCRYPTED = "encrypted"
    OFFLINE = "offline"
    PKCS11 = "pkcs11"


class StoreMode(Enum):
    """How new CA keys are kept."""

    PLAIN = "plain"
    ENCRYPTED = "encrypted"
    PKCS11 = "pkcs11"


HEADER = "certkit-ca-key"
MAX_KEY_FILE = 64 * 1024
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----\r?\n?", re.DOTALL)


@dataclass(frozen=True)
class KeyFile:
    """A CA key file, parsed; nothing decrypted."""

    form: KeyForm
    fields: dict[str, str] = field(default_factory=dict)  # the header's "name: value" lines
    private_pem: bytes | None = None  # the plain or encrypted block
    public_pem: bytes | None = None  # the PUBLIC KEY block (every form but plain)


def parse(data: bytes, where: str) -> KeyFile:
    """Raises MaterialError (exit 12) for a file that is none of the four forms."""
    blocks = {m.group(1).decode(): m.group(0) for m in _BLOCK.finditer(data)}
    first = _BLOCK.search(data)
    head = data[: first.start()] if first else data
    fields: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            fields.setdefault(name.strip().lower(), value.strip())
    declared = fields.get(HEADER)
    public = blocks.get("PUBLIC KEY")
    if declared is None:
        if "ENCRYPTED PRIVATE KEY" in blocks:
            raise MaterialError(
                f"{where}: an encrypted key certkit did not write (no public key beside it); decrypt it with "
                "`openssl pkey` (a plain key), then `certkit ca-keys convert --to encrypted` stores it certkit's way"
            )
        return KeyFile(KeyForm.PLAIN, private_pem=data)
    try:
        form = KeyForm(declared)
    except ValueError:
        raise MaterialError(f"{where}: unknown CA key form {declared!r}; restore the file from a backup") from None
    if form == KeyForm.PLAIN or public is None:
        raise MaterialError(f"{where}: a {declared} CA key file without its public key; restore it from a backup")
    private = blocks.get("ENCRYPTED PRIVATE KEY") if form == KeyForm.ENCRYPTED else None
    if form == KeyForm.ENCRYPTED and private is None:
        raise MaterialError(f"{where}: an encrypted CA key file without the encrypted key; restore it from a backup")
    if form == KeyForm.PKCS11 and not fields.get("uri", "").startswith("pkcs11:"):
        raise MaterialError(f"{where}: a PKCS#11 CA key file without its pkcs11: URI; restore it from a backup")
    return KeyFile(form, fields, private, public)


def render_encrypted(key: PrivateKey, passphrase: bytes) -> bytes:
    return (
        (
            f"{HEADER}: encrypted\n"
            f"format: PKCS#8 PBES2, PBKDF2-HMAC-SHA256 {pkcs8.ITERATIONS} rounds, AES-256-CBC (openssl pkey reads it)\n"
        ).encode()
        + pkcs8.encrypt(key, passphrase)
        + _public_pem(key.public_key())
    )


def render_offline(public: PublicKey, exported_to: str, when: str) -> bytes:
    return (
        f"{HEADER}: offline\n"
        f"exported-to: {_one_line(exported_to)}\n"
        f"exported-at: {when}\n"
        "note: the private key is not here; a renewal that needs it takes `--ca-root-key FILE`\n"
    ).encode() + _public_pem(public)


def render_pkcs11(uri: str, public: PublicKey) -> bytes:
    return f"{HEADER}: pkcs11\nuri: {_one_line(uri)}\n".encode() + _public_pem(public)


def _public_pem(public: PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def public_key_of(file: KeyFile, where: str) -> PublicKey:
    """The public key of a CA key file of any form (a plain key is loaded, unvalidated: only its public half)."""
    if file.form == KeyForm.PLAIN:
        assert file.private_pem is not None
        return keymod.load_pem(file.private_pem, trusted=True, where=where).public_key()
    assert file.public_pem is not None
    loaded = serialization.load_pem_public_key(file.public_pem)
    if not isinstance(loaded, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise MaterialError(f"{where}: unsupported key type {type(loaded).__name__}")
    return loaded


class CAKey:
    """A CA key from the store: its public key at once, its private key (or token) only when asked."""

    def __init__(self, name: str, where: str, file: KeyFile, unlock: Unlock, private: PrivateKey | None = None):
        self.name = name
        self.where = where  # the key file, as shown to the user
        self.file = file
        self.unlock = unlock
        self._private = private
        self._public: PublicKey = private.public_key() if private is not None else public_key_of(file, where)

    @property
    def form(self) -> KeyForm:
        return self.file.form

    @property
    def exported_to(self) -> str:
        return self.file.fields.get("exported-to", "")

    @property
    def uri(self) -> str:
        return self.file.fields.get("uri", "")

    def public_key(self) -> PublicKey:
        return self._public

    def private(self) -> PrivateKey:
        """The private key, decrypted or brought back now.

        Raises:
            PassphraseError: (23) no passphrase, or a wrong one.
            OfflineKeyError: (24) the key is offline and no file was given, or the file is not this key.
        """
        if self._private is not None:
            return self._private
        if self.form == KeyForm.ENCRYPTED:
            assert self.file.private_pem is not None
            self._private = decrypt(self.file.private_pem, self.unlock, self.where)
        elif self.form == KeyForm.OFFLINE:
            self._private = self._brought_back()
        else:
            raise AssertionError("a key in a token never leaves it: use sign_certificate")
        if not keymod.same_public_key(self._private, self._public):
            raise MaterialError(f"{self.where}: the private key does not match the public key beside it; restore it")
        return self._private

    def _brought_back(self) -> PrivateKey:
        given = self.unlock.root_key_file
        if given is None:
            raise OfflineKeyError(self.offline_text())
        from certkit.bounded import read_input

        data = read_input(given, MAX_KEY_FILE, OfflineKeyError, "exported CA key")
        blocks = {m.group(1).decode(): m.group(0) for m in _BLOCK.finditer(data)}
        block = blocks.get("ENCRYPTED PRIVATE KEY")
        if block is None:
            raise OfflineKeyError(
                f"{given}: not an encrypted key as `certkit ca-keys export-root` writes; give the exported file"
            )
        key = decrypt(block, self.unlock, str(given))
        if not keymod.same_public_key(key, self._public):
            raise OfflineKeyError(
                f"{given}: not {self.name}'s key (its public key differs from the {self.name} certificate's); "
                f"give the file `certkit ca-keys export-root` wrote ({self.exported_to or 'see ' + self.where})"
            )
        return key

    def offline_text(self) -> str:
        place = self.exported_to or "the file `certkit ca-keys export-root` wrote"
        return (
            f"{self.name}'s private key is offline (exported to {place}); "
            f"bring it back for this run: certkit renew --ca-root-key {place if self.exported_to else 'FILE'}"
        )

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        if self.form == KeyForm.PKCS11:
            from certkit.pki import pkcs11

            return pkcs11.sign_certificate(builder, self.key_uri(), self._public, self.unlock)
        return builder.sign(self.private(), hashes.SHA256())

    def key_uri(self) -> KeyURI:
        from certkit.pki import pkcs11

        return pkcs11.parse_uri(self.uri, self.where)

    def probe(self) -> None:
        """A probe signature: the key (or the token, its PIN, its object) works, before anything is written."""
        if self.form == KeyForm.PKCS11:
            from certkit.pki import pkcs11

            pkcs11.probe(self.key_uri(), self._public, self.unlock)
            return
        keymod.check_signs(self.private(), self.where)


def decrypt(pem: bytes, unlock: Unlock, where: str) -> PrivateKey:
    """Raises PassphraseError (23) naming the file and the source, never the passphrase."""
    passphrase = unlock.passphrase(f"of the CA keys (to open {where})")
    found = pkcs8.params(pem)
    kek = unlock.derived(passphrase, found.salt, found.iterations) if found is not None else None
    try:
        return pkcs8.decrypt(pem, passphrase, kek)
    except (ValueError, TypeError) as exc:
        source = unlock.source()
        unlock.forget_passphrase()
        raise PassphraseError(
            f"{where}: {source} does not decrypt it (a wrong passphrase?); give the one the CA store was "
            "encrypted with; nothing was written"
        ) from exc


def load(path: Path, where: str, name: str, unlock: Unlock, data: bytes) -> CAKey:
    """The handle of the CA key in ``data`` (read from ``path``); a plain key is loaded at once, as before."""
    file = parse(data, where)
    if file.form == KeyForm.PLAIN:
        return CAKey(name, where, file, unlock, keymod.load_pem(data, trusted=True, where=where))
    return CAKey(name, where, file, unlock)


def store_mode(existing: list[CAKey], unlock: Unlock, store: Path) -> StoreMode:
    """How this run keeps a new CA key: as the store keeps its keys, or, for a store without keys, as the
    options say (``--ca-pkcs11`` a token; a passphrase file or credential encrypted; else plain)."""
    forms = {key.form for key in existing}
    if unlock.pkcs11_uri is not None:
        from certkit.pki.pkcs11 import parse_uri

        parse_uri(unlock.pkcs11_uri)
        software = sorted(k.where for k in existing if k.form != KeyForm.PKCS11)
        if software:
            from certkit.errors import UsageError

            raise UsageError(
                f"--ca-pkcs11: the CA store {store} holds keys outside a token ({', '.join(software)}); certkit "
                "never imports a key into a token: move the CA store away to start new CAs in the token "
                "(clients must then trust the new root)"
            )
        return StoreMode.PKCS11
    if KeyForm.PKCS11 in forms:
        return StoreMode.PKCS11
    if KeyForm.ENCRYPTED in forms:
        return StoreMode.ENCRYPTED
    if KeyForm.PLAIN in forms:
        # An offline root exported from a plain store: the passphrase is its export's, the rest stays plain.
        if unlock.passphrase_file is not None and KeyForm.OFFLINE not in forms:
            raise PassphraseError(
                f"--ca-passphrase-file: the CA store {store} holds unencrypted keys; encrypt them first with "
                f"`certkit ca-keys convert --to encrypted --new-passphrase-file FILE`; nothing was written"
            )
        return StoreMode.PLAIN
    return StoreMode.ENCRYPTED if unlock.passphrase_available() else StoreMode.PLAIN


def stored_form(key: PrivateKey | CAKey, mode: StoreMode, unlock: Unlock) -> bytes:
    """The bytes of a new CA key's file in a store of ``mode``."""
    if isinstance(key, CAKey):  # made in a token
        assert key.form == KeyForm.PKCS11
        return render_pkcs11(key.uri, key.public_key())
    if mode == StoreMode.ENCRYPTED:
        return render_encrypted(key, unlock.passphrase("of the CA keys (to encrypt a new CA key)"))
    return keymod.to_pem(key)
