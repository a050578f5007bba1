"""`certkit ca-keys`: list, convert (encrypt, decrypt, change the passphrase), export-root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certkit.cli import lifecycle_options, options, output

if TYPE_CHECKING:
    from certkit.pki.unlock import Unlock
    from certkit.profile import Profile

new_passphrase_file_option = click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="The new passphrase, on the first line of FILE (yours, mode 0600); without it, typed twice on a terminal.",
)


def _unlock(ca_passphrase_file: Path | None) -> Unlock:
    from certkit.pki.unlock import Unlock
    from certkit.workflows.renew import credentials_dir

    return Unlock(
        passphrase_file=ca_passphrase_file,
        credentials_dir=credentials_dir(os.environ),
        prompt=options.terminal_prompt(),
    )


@click.group("ca-keys")
def ca_keys_command() -> None:
    """The CA keys: where they are and how they are kept.

    \b
    A copied disk, a backup or a tarball of the checkout gives away plaintext CA keys.
    Encrypt them (convert --to encrypted), keep the root offline (export-root: routine
    renewals need only the intermediate), or make them in a PKCS#11 token
    (`certkit init/renew --ca-pkcs11 URI`).

    \b
    Examples:
      certkit ca-keys list
      certkit ca-keys convert --to encrypted --new-passphrase-file /root/ca-pass
      certkit ca-keys export-root --to /media/usb/root-ca.key --ca-passphrase-file /root/ca-pass
    """


@ca_keys_command.command("list")
@options.notary_dir_argument
@options.ca_store_option
@options.profile_option
@options.json_option
def list_command(notary_dir: Path, ca_store: Path | None, profile_source: str | None, as_json: bool) -> None:
    """Each CA key: plain, encrypted, offline (and where to) or in a token. Reads no secret.

    \b
    Examples:
      certkit ca-keys list /srv/notary
    """
    from certkit.profile import load_profile
    from certkit.render.cakeys import rows_json, rows_text
    from certkit.workflows.cakeys import list_keys

    rows = list_keys(notary_dir, load_profile(profile_source), ca_store)
    output.echo(json.dumps(rows_json(rows), indent=2) if as_json else rows_text(rows))


@ca_keys_command.command("convert")
@options.notary_dir_argument
@click.option(
    "--to",
    "target",
    type=click.Choice(["encrypted", "plain"]),
    required=True,
    help="encrypted: encrypt the CA keys (or, when they are, change the passphrase); plain: decrypt them.",
)
@new_passphrase_file_option
@options.ca_passphrase_file_option
@options.ca_store_option
@options.profile_option
@lifecycle_options.wait_options
def convert_command(
    notary_dir: Path,
    target: str,
    new_passphrase_file: Path | None,
    ca_passphrase_file: Path | None,
    ca_store: Path | None,
    profile_source: str | None,
    wait: bool,
    wait_timeout: float | None,
) -> None:
    """Encrypt or decrypt the CA store, or change its passphrase, in one crash-safe transaction.

    The copies of the CA keys that generations keep for `certkit rollback` are converted in
    the same transaction, so no plaintext copy is left behind. The current passphrase (an
    encrypted store) comes from --ca-passphrase-file, the systemd credential or a prompt;
    the new one from --new-passphrase-file or a prompt (typed twice).

    \b
    Examples:
      certkit ca-keys convert --to encrypted --new-passphrase-file /root/ca-pass
      certkit ca-keys convert --to encrypted --ca-passphrase-file old --new-passphrase-file new
      certkit ca-keys convert --to plain --ca-passphrase-file /root/ca-pass
    """
    from certkit.errors import PassphraseError
    from certkit.profile import load_profile
    from certkit.render.cakeys import change_text
    from certkit.workflows.cakeys import convert

    new = None
    if target == "encrypted":
        new = options.new_passphrase(new_passphrase_file, "for the CA keys")
        if new is None:
            raise PassphraseError(
                "--to encrypted needs the new passphrase: give --new-passphrase-file FILE (mode 0600) or run on a "
                "terminal to type it; nothing was written"
            )
    change = convert(notary_dir, load_profile(profile_source), ca_store, _unlock(ca_passphrase_file), new, wait=wait)
    output.echo(change_text(change))


@ca_keys_command.command("export-root")
@options.notary_dir_argument
@click.option(
    "--to",
    "destination",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    metavar="FILE",
    help="Where to write the encrypted root key (a new file, outside the checkout: a USB stick, a vault).",
)
@click.option("--ca", default=None, metavar="NAME", help="The CA to take offline (default: the profile's root).")
@new_passphrase_file_option
@options.ca_passphrase_file_option
@options.ca_store_option
@options.profile_option
@lifecycle_options.wait_options
def export_root_command(
    notary_dir: Path,
    destination: Path,
    ca: str | None,
    new_passphrase_file: Path | None,
    ca_passphrase_file: Path | None,
    ca_store: Path | None,
    profile_source: str | None,
    wait: bool,
    wait_timeout: float | None,
) -> None:
    """Take the root CA's key offline: export it encrypted, check the export, remove it here.

    The export is encrypted with the CA store's passphrase (an encrypted store) or with a
    new one (--new-passphrase-file, or typed twice). Routine renewals then need only the
    intermediate's key. A renewal that needs the root (the intermediate is due, --force)
    stops before writing anything, exit 24, and says to run again with
    `--ca-root-key FILE`; check-expiry and its metrics warn before that day comes.

    \b
    Examples:
      certkit ca-keys export-root --to /media/usb/notary-root-ca.key /srv/notary
      certkit renew --ca-root-key /media/usb/notary-root-ca.key /srv/notary   # when asked
    """
    from certkit.profile import load_profile
    from certkit.render.cakeys import change_text
    from certkit.workflows.cakeys import export_root

    unlock = _unlock(ca_passphrase_file)
    profile = load_profile(profile_source)
    store_encrypted = _store_encrypted(notary_dir, profile, ca_store)
    new = None if store_encrypted else options.new_passphrase(new_passphrase_file, "for the exported root key")
    change = export_root(
        notary_dir,
        profile,
        ca_store,
        unlock,
        destination,
        new,
        options.utc_now(),
        ca=ca,
        wait=wait,
    )
    output.echo(change_text(change))


def _store_encrypted(notary_dir: Path, profile: Profile, ca_store: Path | None) -> bool:
    from certkit.pki.cakeys import KeyForm
    from certkit.workflows.cakeys import list_keys

    return any(row.form is KeyForm.ENCRYPTED for row in list_keys(notary_dir, profile, ca_store))
