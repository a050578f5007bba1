"""Where certkit's text leaves for a terminal, a pipe or a cron mail: the one writer of the CLI.

Every command writes through :func:`echo` (tests/test_conventions.py checks that no other module
of certkit.cli calls click.echo), and every error line through :func:`error`.  Renderers have
already made outside text visible field by field (certkit.text.visible: a newline in a subject
cannot start a line of its own); here :func:`certkit.text.terminal_safe` escapes whatever control
character is left but the newlines and certkit's own colours, so no text, however it got into the
output, can set a window title, clear the screen or move the cursor.  Off a terminal click then
drops certkit's colours as well.
"""

from __future__ import annotations

import click

from certkit.text import terminal_safe, visible


def echo(message: str, *, err: bool = False, color: bool | None = None, nl: bool = True) -> None:
    """``click.echo`` of a rendered text (any number of lines), made terminal-safe."""
    click.echo(terminal_safe(message), err=err, color=color, nl=nl)


def error(message: str, prefix: str = "certkit: error: ") -> None:
    """One error line on stderr: ``message`` (an exception's text, naming files and what they hold)
    with every control character visible, a newline included, so an error is always one line."""
    click.echo(prefix + visible(message), err=True)
