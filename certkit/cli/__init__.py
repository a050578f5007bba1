"""The command-line layer: thin click commands over the core modules.

Subcommands are imported only when invoked, so `certkit check-expiry` from cron does
not pay for the renewal machinery (and vice versa).  Every CertkitError becomes one
line on stderr and its documented exit code; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys

import click

from certkit import __version__, exitcodes

# name -> (module, command object, one line for `certkit --help`, read here so that the help needs
# no command module imported: each loads only when run).
_COMMANDS = {
    "init": ("certkit.cli.renew_cmd", "init_command", "make a fresh Notary certificate set in a new folder"),
    "renew": ("certkit.cli.renew_cmd", "renew_command", "renew what is due in a Notary checkout (and mount it)"),
    "status": ("certkit.cli.status_cmd", "status_command", "the set as a tree: expiry, keys, copies, mounts, served"),
    "check-expiry": (
        "certkit.cli.expiry_cmd",
        "check_expiry_command",
        "check expiry, chains, keys and hostnames (cron, CI, Nagios, Prometheus)",
    ),
    "compose": ("certkit.cli.compose_cmd", "compose_command", "make compose mount the renewed files, or --check it"),
    "trust": ("certkit.cli.trust_cmd", "trust_command", "make the Docker CLI and the notary client trust the root"),
    "rollback": ("certkit.cli.rollback_cmd", "rollback_command", "switch back to an earlier generation of the set"),
    "ca-keys": (
        "certkit.cli.cakeys_cmd",
        "ca_keys_command",
        "CA keys: list, encrypt at rest, take the root offline",
    ),
    "schedule": (
        "certkit.cli.schedule_cmd",
        "schedule_command",
        "renew daily from cron or a systemd timer; Prometheus alert rules",
    ),
    "db-deploy": (
        "certkit.cli.db_cmd",
        "db_deploy_command",
        "put renewed database TLS files into a reachable postgres data folder",
    ),
    "completion": ("certkit.cli.completion_cmd", "completion_command", "shell completion for bash, zsh or fish"),
}

# Printed from certkit.exitcodes, where each code is defined once (docs/cli.md holds the same as Markdown).
EXIT_CODES_HELP = (
    "\b\nExit codes (every command but check-expiry):\n"
    + exitcodes.help_text(exitcodes.COMMAND_CODES)
    + f"\ncheck-expiry and status use the Nagios codes: {exitcodes.nagios_line()}."
)


class _State:
    debug = False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [c for c in _COMMANDS if _available(c)]  # in the order a user meets them

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # click suggests from self.commands, which a lazy group leaves empty: suggest here.
        name = click.utils.make_str(args[0])
        if not ctx.resilient_parsing and not name.startswith("-") and self.get_command(ctx, name) is None:
            from certkit.cli.suggest import command

            meant = command(name, self.list_commands(ctx))
            ctx.fail(f"No such command {name!r}." + (f" Did you mean {meant!r}?" if meant else ""))
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None or not _available(cmd_name):
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command


def _available(name: str) -> bool:
    module = _COMMANDS[name][0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="certkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
def cli(debug: bool) -> None:
    """certkit: keep Notary's TLS certificates valid, trusted and mounted.

    Start with `certkit renew` in your Notary checkout, then `certkit status`.
    Every command has examples in its --help.
    """
    _State.debug = debug or os.environ.get("CERTKIT_DEBUG") == "1"


def main(argv: list[str] | None = None) -> None:
    from certkit import signals
    from certkit.cli.output import echo, error
    from certkit.errors import CertkitError

    with signals.handled(then_ignore=True):
        try:
            # standalone_mode=False: click returns ctx.exit()'s code instead of exiting.
            code = cli.main(args=argv, prog_name="certkit", standalone_mode=False)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            from certkit.cli.suggest import better

            shown = better(exc)
            shown.show()
            sys.exit(shown.exit_code)
        except click.Abort:
            echo("certkit: aborted", err=True)
            sys.exit(exitcodes.INTERNAL.code)
        except CertkitError as exc:
            if _State.debug:
                raise
            error(str(exc))
            sys.exit(exc.exit_code)
        except OSError as exc:  # a file system refusal certkit did not anticipate: still one line
            if _State.debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            error(f"{where}{exc.strerror or exc}; check the path and its permissions")
            sys.exit(exitcodes.FILESYSTEM.code)
        except signals.Interrupted as exc:  # hooks were stopped, staging discarded, the lock released
            echo(f"certkit: {'interrupted' if exc.signum == signal.SIGINT else 'stopped'} by {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo("certkit: interrupted", err=True)
            sys.exit(exitcodes.INTERRUPTED.code)
        except Exception as exc:  # a bug: one line, and the way to the traceback
            if _State.debug:
                raise
            error(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", "certkit: internal error: ")
            sys.exit(exitcodes.INTERNAL.code)
        sys.exit(code if isinstance(code, int) else 0)
