"""`certkit db-deploy`: put the renewed database TLS files into postgres's data folder."""

from __future__ import annotations

import json
from pathlib import Path

import click

from certkit.cli import options, output


@click.command("db-deploy")
@options.notary_dir_argument
@click.option(
    "--pgdata",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    metavar="DIR",
    help="postgres's data folder ($PGDATA), reachable from this host.",
)
@options.json_option
def db_deploy_command(notary_dir: Path, pgdata: Path, as_json: bool) -> None:
    """Copy NOTARY_DIR's renewed database TLS files into postgres's data folder.

    postgres reads server.crt, server.key and root.crt from its data folder, where Notary's
    tls-setup.sh copies them only when the database is first created; after `certkit renew`
    this makes the same copy again, keeping every row: the files get the data folder's owner
    (the database user), server.key mode 0600, each replaced atomically. It then prints how to
    make postgres load them: a reload from postgres 10 on, a restart before.

    \b
    For postgres in Notary's container, run the lines `certkit renew` prints instead
    (docker compose exec ... then restart), as this host cannot reach the volume.
    Exit codes: 0 copied; 20 the data folder cannot be reached or written (one line says
    what to run by hand; nothing was changed); 2 usage error.

    \b
    Examples:
      certkit db-deploy --pgdata /var/lib/postgresql/15/main
      certkit renew --pgdata /var/lib/postgresql/15/main     # renew, then this step
    """
    from certkit.deploy.database import deploy_to_pgdata
    from certkit.render.renew import deploy_json, deploy_text

    result = deploy_to_pgdata(notary_dir, pgdata)
    if as_json:
        output.echo(json.dumps(deploy_json(result)))
        return
    output.echo(deploy_text(result))
