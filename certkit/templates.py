"""Jinja2 templates shipped with certkit (templates/ in the repository, certkit/templates in the wheel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2


def templates_dir() -> Path:
    """The templates folder: inside the installed package, else the repository's top-level one."""
    packaged = Path(__file__).resolve().parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def render(name: str, **context: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(name).render(**context)
