"""`certkit trust`: install the root CA for the Docker CLI and the notary client."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certkit.cli import options, output

if TYPE_CHECKING:
    pass


@click.command("trust")
@options.notary_dir_argument
@click.option(
    "--server",
    default=None,
    metavar="URL",
    help="The Notary server as clients reach it: https://HOST:PORT. [default: https://notary-server:4443]",
)
@click.option(
    "--root",
    "root_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The root CA to trust. Default: the profile's trust_root in NOTARY_DIR (notary: fixtures/root-ca.crt).",
)
@options.profile_option
@click.option(
    "--docker-config",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The Docker CLI's config folder. Default: $DOCKER_CONFIG, else HOME/.docker.",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The home folder holding .notary (and .docker). Default: $HOME.",
)
@click.option(
    "--hosts",
    "edit_hosts",
    is_flag=True,
    help="Add '127.0.0.1 HOST' to the hosts file when HOST does not resolve (needs root).",
)
@click.option(
    "--hosts-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/etc/hosts"),
    show_default=True,
    help="The hosts file --hosts edits.",
)
@options.json_option
@options.quiet_option
def trust_command(
    notary_dir: Path,
    server: str | None,
    root_file: Path | None,
    profile_source: str | None,
    docker_config: Path | None,
    home: Path | None,
    edit_hosts: bool,
    hosts_file: Path,
    as_json: bool,
    quiet: bool,
) -> None:
    """Make Docker Content Trust and the notary client trust NOTARY_DIR's root CA.

    \b
    Docker CLI:    DOCKER_CONFIG/tls/HOST:PORT/ca.crt
    notary client: ~/.notary/certkit-root-ca.crt, and ~/.notary/config.json's
                   remote_server.url / remote_server.root_ca (other keys kept)
    Prints the `export DOCKER_CONTENT_TRUST...` lines (the output can be eval'ed) and,
    when HOST does not resolve, the hosts line to add (--hosts adds it).
    Run it again after the root CA itself is replaced.

    \b
    Examples:
      certkit trust --server https://notary-server:4443
      eval "$(certkit trust /srv/notary)"          # and enable content trust in this shell
      sudo certkit trust --hosts                    # also add 127.0.0.1 notary-server to /etc/hosts
      certkit trust --profile my-pki.toml /srv/pki  # the root named by the profile's trust_root
    """
    from certkit.deploy import trust
    from certkit.render.trust import trust_json, trust_text

    parsed = trust.parse_server(server if server is not None else trust.DEFAULT_SERVER)
    if root_file is not None:
        root = root_file
    else:
        from certkit.profile import load_profile

        root = trust.layout_root(notary_dir, load_profile(profile_source))
    home_dir = home if home is not None else Path.home()
    docker_dir = docker_config if docker_config is not None else trust.docker_config_dir(home_dir, os.environ)
    result = trust.install_trust(
        root,
        parsed,
        home=home_dir,
        docker_config=docker_dir,
        now=options.utc_now(),
        edit_hosts=edit_hosts,
        hosts_file=hosts_file,
    )
    if as_json:
        output.echo(json.dumps(trust_json(result), indent=2))
    elif not quiet:
        output.echo(trust_text(result))
    elif result.hosts_line is not None:  # the one warning worth a cron mail
        output.echo(
            f"certkit: warning: {result.server.host} does not resolve; add to {result.hosts_path}: {result.hosts_line}",
            err=True,
        )
