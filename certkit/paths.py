"""Small path questions asked all over certkit: is it inside that folder (host or container), how to name it."""

from __future__ import annotations

from pathlib import Path


def inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it.

    Lexical, like ``Path.parents``: pass real paths (``os.path.realpath``) where a symlink
    could lead out of the folder.
    """
    # As text: `folder in path.parents` builds every parent, and this runs for every entry of
    # the state folder on every renew.  Path's str is already normalised (no "//", no trailing "/").
    p, f = str(path), str(folder)
    if f == ".":
        return not path.is_absolute()
    return p == f or p.startswith(f if f.endswith("/") else f + "/")


def under(path: str, folder: str) -> bool:
    """The container path ``path`` (POSIX text, as a compose file or Dockerfile writes it) is
    ``folder`` or lies below it."""
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder + "/") or folder == "/"


def shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else as given: how output names a file."""
    return str(path.relative_to(root)) if inside(path, root) else str(path)
