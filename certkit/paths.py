"""Small path questions asked all over certkit: is it inside that folder, and how to name it."""

from __future__ import annotations

from pathlib import Path


def inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it.

    Lexical, like ``Path.parents``: pass real paths (``os.path.realpath``) where a symlink
    could lead out of the folder.
    """
    return path == folder or folder in path.parents


def shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else as given: how output names a file."""
    return str(path.relative_to(root)) if inside(path, root) else str(path)
