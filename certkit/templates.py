"""Jinja2 templates shipped with certkit (templates/ in the repository, certkit/templates in the wheel)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from certkit.text import visible

if TYPE_CHECKING:
    import jinja2


def templates_dir() -> Path:
    """The templates folder: inside the installed package, else the repository's top-level one."""
    packaged = Path(__file__).resolve().parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def render(name: str, **context: Any) -> str:
    """Config files and unit files: not HTML, so nothing is escaped."""
    return _environment(autoescape=False).get_template(name).render(**context)


def render_html(name: str, **context: Any) -> str:
    """HTML pages: every value is escaped, so a certificate subject full of markup stays text, and
    made visible, so a control character in it (which HTML forbids) is shown as ``\x1b``, not sent.
    A line feed stays: HTML shows it as a space."""
    return _environment(autoescape=True).get_template(name).render(**context)


def _environment(*, autoescape: bool) -> jinja2.Environment:
    import jinja2  # here: renew's compose step finds its override in certkit.compose.cache without it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=True,
        autoescape=autoescape,
        # finalize sees every {{ value }} before it is escaped: one place for the whole page.
        finalize=_visible if autoescape else None,
    )


def _visible(value: Any) -> Any:
    return visible(value, keep="\n") if isinstance(value, str) else value
