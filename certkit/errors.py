"""One error hierarchy: every failure a user can cause is a CertkitError.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``; each code is
defined once, with its meaning, in certkit.exitcodes (which `certkit --help` and docs/cli.md prints).
"""

from __future__ import annotations

from certkit import exitcodes


class CertkitError(Exception):
    """Base class: a failure with a one-line explanation and an exit code."""

    exit_code = exitcodes.INTERNAL.code


class UsageError(CertkitError):
    """A command-line value certkit cannot use (bad duration, bad option mix)."""

    exit_code = exitcodes.USAGE.code


class NotALayoutError(CertkitError):
    """The folder is not a Notary checkout (or not the layout the profile describes)."""

    exit_code = exitcodes.NOT_A_LAYOUT.code


class ProfileError(CertkitError):
    """The PKI profile file is invalid."""

    exit_code = exitcodes.PROFILE.code


class MaterialError(CertkitError):
    """An existing key or certificate cannot be used (corrupt, encrypted, wrong type)."""

    exit_code = exitcodes.MATERIAL.code


class FilesystemError(CertkitError):
    """certkit may not or cannot write where it must (read-only, symlink escape, permissions)."""

    exit_code = exitcodes.FILESYSTEM.code


class ValidationError(CertkitError):
    """Freshly built material failed its own checks; nothing was written."""

    exit_code = exitcodes.VALIDATION.code


class LockedError(CertkitError):
    """Another certkit process holds the renewal lock of this Notary folder."""

    exit_code = exitcodes.LOCKED.code


class HookError(CertkitError):
    """A --pre/--post/--deploy hook was not found or failed (a valid renewal is kept)."""

    exit_code = exitcodes.HOOK.code


class ClientConfigError(CertkitError):
    """An existing client configuration (~/.notary/config.json) cannot be merged safely; it was left untouched."""

    exit_code = exitcodes.CLIENT_CONFIG.code


class ComposeError(CertkitError):
    """A compose file certkit cannot read, analyse or edit safely; nothing was written."""

    exit_code = exitcodes.COMPOSE.code


class RollbackError(CertkitError):
    """There is no kept generation to roll back to."""

    exit_code = exitcodes.ROLLBACK.code


class DatabaseError(CertkitError):
    """The renewed database TLS files cannot be put into postgres's data folder from here
    (unreachable, not a data folder, not permitted); the renewal itself is kept."""

    exit_code = exitcodes.DATABASE.code


class EngineError(CertkitError):
    """The Docker engine cannot be reached or used (no socket, refused, permission denied, API error, timeout)."""

    exit_code = exitcodes.ENGINE.code


class DeployError(CertkitError):
    """`renew --deploy` recreated the services but could not verify the result (a container not
    running or healthy in time, the old certificate still served, a container's file differing
    from the disk) or `docker compose` failed; the renewal is kept and a deploy is owed."""

    exit_code = exitcodes.DEPLOY.code


class PassphraseError(CertkitError):
    """The CA keys' passphrase cannot be had or is wrong (no source, a missing, loose or empty file or
    credential, no terminal to ask on, a passphrase that does not decrypt them); nothing was written."""

    exit_code = exitcodes.PASSPHRASE.code


class OfflineKeyError(CertkitError):
    """This run needs a CA key that was exported and removed from the CA store (the offline root), or the
    file given for it is not that key; nothing was written."""

    exit_code = exitcodes.OFFLINE_KEY.code


class TokenError(CertkitError):
    """A CA key in a PKCS#11 token cannot be used (no module or token, a wrong or missing PIN, a URI that
    names no key); nothing was written."""

    exit_code = exitcodes.TOKEN.code
