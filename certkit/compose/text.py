"""How certkit writes into compose files: YAML scalars, Compose's ``$$``, one-line comments and
the ``./`` paths of short volume syntax.  Text from the checkout reaches a compose file only
through these."""

from __future__ import annotations

import json
import re
from pathlib import Path

from certkit.text import visible


def relative_text(path: Path, directory: Path) -> str:
    try:
        return "./" + str(path.relative_to(directory)) if path != directory else "."
    except ValueError:
        return str(path)


def comment_text(text: str) -> str:
    """``text`` for a one-line YAML comment: every line break or control character escaped."""
    return visible(text)


_PLAIN = re.compile(r"^[A-Za-z0-9_./~@+-][A-Za-z0-9_./~@+:=-]*$")


def yaml_scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when unambiguous, else double-quoted (JSON strings are valid YAML)."""
    if (
        _PLAIN.match(text)
        and text.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~")
        and not re.match(r"^[-+]?[0-9]", text)
    ):
        return text
    return json.dumps(text)


def compose_text(path: str) -> str:
    """A literal path as Compose text: ``$`` would start a variable, so it is written ``$$``."""
    return path.replace("$", "$$")
