"""`certkit completion bash|zsh|fish`: the shell completion script, from click's own completion support."""

from __future__ import annotations

import click


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> None:
    """Print the completion script for SHELL (commands, options, file names).

    \b
    Examples:
      certkit completion bash > ~/.local/share/bash-completion/completions/certkit
      certkit completion zsh > "${fpath[1]}/_certkit"
      certkit completion fish > ~/.config/fish/completions/certkit.fish
    """
    from click.shell_completion import get_completion_class

    from certkit.cli import cli, output

    completion = get_completion_class(shell)
    assert completion is not None  # click ships all three
    output.echo(completion(cli, {}, "certkit", "_CERTKIT_COMPLETE").source())
