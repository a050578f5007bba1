"""Where the secrets that open the CA keys come from, asked for only when a key must sign.

The passphrase of an encrypted CA store, in the order a service manager and a person expect:

1. a systemd credential, ``$CREDENTIALS_DIRECTORY/certkit-ca-passphrase`` (``LoadCredentialEncrypted=``
   in the unit `certkit schedule --systemd` writes; systemd decrypts it into a private, unswappable
   folder only the service can read, for the run's lifetime);
2. ``--ca-passphrase-file FILE``: a regular file owned by the runner, mode 0600 or 0400 (checked
   like certkit's state folder: another user could read or swap it otherwise);
3. a prompt, only when certkit runs on a terminal.

The PIN of a PKCS#11 token: the URI's ``pin-source=file:PATH`` (RFC 7512 3.3), a credential
``certkit-ca-pin``, or a prompt.  A passphrase or PIN is never taken from the command line
(``ps`` shows it), from the environment (hooks inherit it) or put in a message or a log line.

A file or credential holds the secret on its first line (as ``openssl -passin file:`` reads it).
Nothing here prints: the prompt is a function the command line passes in.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.errors import PassphraseError, TokenError

if TYPE_CHECKING:
    import threading

PASSPHRASE_CREDENTIAL = "certkit-ca-passphrase"
PIN_CREDENTIAL = "certkit-ca-pin"
MAX_SECRET_BYTES = 4096


@dataclass
class Unlock:
    """The sources, given once by the caller (the environment is read by the command line only)."""

    passphrase_file: Path | None = None
    credentials_dir: Path | None = None  # $CREDENTIALS_DIRECTORY, when systemd set it
    prompt: Callable[[str], str] | None = None  # only on a terminal; returns what was typed
    root_key_file: Path | None = None  # `renew --ca-root-key FILE`: the exported, offline root for one run
    pkcs11_uri: str | None = None  # `--ca-pkcs11 URI`: the token that makes new CA keys
    _passphrase: bytes | None = field(default=None, repr=False)
    _pins: dict[str, bytes] = field(default_factory=dict, repr=False)
    _ahead: tuple[threading.Thread, list[tuple[bytes, int, bytes]]] | None = field(default=None, repr=False)

    def prefetch(self, key_file: Path) -> None:
        """Derive the key-encryption key of this CA key file in a thread, while the run loads and plans.

        PBKDF2 is the slow part of opening an encrypted key (about 50 ms) and releases the GIL, so it runs
        beside the imports and checks instead of after them.  Only with a passphrase at hand without asking
        (a credential or a file: never a prompt), and only a head start: anything that goes wrong here is
        ignored, and the key is opened (and the error reported) when a run really signs with it.  Nothing
        is decrypted here, only the key that decrypts is derived, and it stays in memory.
        """
        if not self.passphrase_available() or self._ahead is not None:
            return
        try:
            passphrase = self.passphrase("of the CA keys")
        except (PassphraseError, TokenError):
            return  # reported, if it matters, when a key must sign
        import threading

        result: list[tuple[bytes, int, bytes]] = []

        def derive() -> None:
            from certkit.pki import pkcs8

            try:
                with open(key_file, "rb") as handle:
                    found = pkcs8.params(handle.read(64 * 1024))
                if found is not None:
                    result.append((found.salt, found.iterations, pkcs8.derive(passphrase, found)))
            except Exception:  # noqa: BLE001  (a head start only: the key is opened, errors and all, when used)
                pass

        thread = threading.Thread(target=derive, name="certkit-kdf", daemon=True)
        thread.start()
        self._ahead = (thread, result)

    def derived(self, passphrase: bytes, salt: bytes, iterations: int) -> bytes | None:
        """The key-encryption key :meth:`prefetch` derived for this salt, waiting for it while it is being made."""
        if self._ahead is None or passphrase != self._passphrase:
            return None
        thread, result = self._ahead
        thread.join()
        for made_salt, made_iterations, kek in result:
            if (made_salt, made_iterations) == (salt, iterations):
                return kek
        return None

    def passphrase_available(self) -> bool:
        """A passphrase source is configured (a file or a credential), without reading it."""
        return self.passphrase_file is not None or self._credential(PASSPHRASE_CREDENTIAL) is not None

    def source(self) -> str:
        """Where the passphrase comes from, for messages (never the passphrase)."""
        if self._credential(PASSPHRASE_CREDENTIAL) is not None:
            return f"the systemd credential {PASSPHRASE_CREDENTIAL}"
        if self.passphrase_file is not None:
            return f"--ca-passphrase-file {self.passphrase_file}"
        return "the passphrase typed"

    def passphrase(self, why: str) -> bytes:
        """The CA store's passphrase (read once per run).

        Raises:
            PassphraseError: (exit 23) no source, or a source that is missing, loose or empty.
        """
        if self._passphrase is None:
            self._passphrase = self._secret(
                PASSPHRASE_CREDENTIAL,
                self.passphrase_file,
                "--ca-passphrase-file",
                f"passphrase {why}",
                PassphraseError,
            )
        return self._passphrase

    def forget_passphrase(self) -> None:
        """A typed passphrase was wrong: the next ask prompts again (a file would give the same)."""
        self._passphrase = None

    def pin(self, token: str, pin_file: Path | None) -> bytes:
        """The PIN of ``token`` (read once per run per token).

        Raises:
            TokenError: (exit 25) no source, or a source that is missing, loose or empty.
        """
        if token not in self._pins:
            self._pins[token] = self._secret(
                PIN_CREDENTIAL, pin_file, "pin-source=file:", f"PIN of the PKCS#11 token {token}", TokenError
            )
        return self._pins[token]

    def _credential(self, name: str) -> Path | None:
        if self.credentials_dir is None:
            return None
        path = self.credentials_dir / name
        return path if os.path.lexists(path) else None

    def _secret(
        self, credential: str, file: Path | None, option: str, what: str, error: type[PassphraseError | TokenError]
    ) -> bytes:
        found = self._credential(credential)
        if found is not None:
            # systemd makes the credential (root- or service-owned, 0400 or 0440 with the service's group).
            return read_secret(found, f"the systemd credential {credential} ({found})", error, check_owner=False)
        if file is not None:
            return read_secret(file, f"{option}{file}" if option.endswith(":") else f"{option} {file}", error)
        if self.prompt is not None:
            typed = self.prompt(f"certkit: {what}")
            if not typed:
                raise error(f"no {what} was typed; nothing was written")
            return typed.encode()
        raise error(
            f"the {what} is needed and there is no source for it: give {option}"
            f"{'FILE' if option.endswith(':') else ' FILE'} (mode 0600), set the systemd credential {credential}, "
            "or run certkit on a terminal to be asked; nothing was written"
        )


def read_secret(
    path: Path, where: str, error: type[PassphraseError | TokenError], *, check_owner: bool = True
) -> bytes:
    """The first line of a secret file, refused unless it is a regular file only its owner (the runner)
    can read: a passphrase others can read protects nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise error(f"{where}: no such file; create it (mode 0600) or give another; nothing was written") from exc
    except OSError as exc:
        raise error(f"{where}: cannot open it ({exc.strerror or exc}); nothing was written") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{where}: not a regular file; nothing was written")
        if check_owner:
            if info.st_uid != os.geteuid():
                raise error(
                    f"{where}: owned by uid {info.st_uid}, not by uid {os.geteuid()} running certkit; "
                    "another user could change it: `chown` it; nothing was written"
                )
            if info.st_mode & 0o077:
                raise error(
                    f"{where}: readable or writable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                    f"`chmod 600 {path}`; nothing was written"
                )
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise error(f"{where}: larger than {MAX_SECRET_BYTES} bytes, not a passphrase file; nothing was written")
    secret = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not secret:
        raise error(f"{where}: empty (its first line is the secret); nothing was written")
    return secret
