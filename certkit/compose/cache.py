"""A cache of the slow, pure parts of renew's compose step, in ``NOTARY_DIR/.certkit/compose-cache``.

renew prepares its compose step for every compose project of the checkout at every run (six in
Notary's tree).  Most of that time went to ruamel.yaml's round-trip parser (the compose files,
then the rendered override parsed back to check it) and to importing and compiling jinja2 for
the override.  Those results depend on nothing but their input text and the code that made
them, so each entry is keyed on the SHA-256 of exactly that: the whole text parsed (or the
template source and every value it was rendered with), plus the versions of certkit, Python,
ruamel.yaml and jinja2 recorded for the whole file.  A changed compose file, include, override
or template is a new key, so a stale entry can never be found; everything that depends on the
environment, .env, the Dockerfiles, the profile or the disk (interpolation, merging, the
analysis, the plan, the safety checks) is worked out again at every run from the cached parse.

The file is input like every other in the state folder: certkit.store.state refuses a state folder
where it has another owner or a loose mode (exit 13), as for any state file. Beyond that it is used
only when it is a regular file of this user, mode 0600, within its size limit, of this format and
these versions; a damaged, older or other-format file is ignored and rewritten after the run. Only
documents whose plain form loses nothing certkit reads are stored: a file with
``!reset``/``!override`` tags or numbers of ruamel's own types is parsed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from certkit.errors import FilesystemError
from certkit.store.records import read_own_json, replace_own

RECORD = "compose-cache"
FORMAT = 1
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 256
_MISSING = object()


def _versions() -> dict[str, Any]:
    """What the cached values were made with: certkit, Python, and the installed ruamel.yaml and
    jinja2 (by their files' size and time: an upgrade changes them, and neither is imported here)."""
    import importlib.util

    from certkit import __version__

    found: dict[str, Any] = {"certkit": __version__, "python": sys.version}
    # The version string is not bumped at every change of certkit's own parser: the parser's file
    # (size and time, as for the libraries) keys the cache too, so a changed certkit never reads
    # parses an older one made.
    parser = Path(__file__).with_name("files.py")
    try:
        parsed_by = os.stat(parser)
        found["parser"] = [parsed_by.st_size, parsed_by.st_mtime_ns]
    except OSError:
        found["parser"] = None
    for name in ("ruamel.yaml", "jinja2"):
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            info = os.stat(origin) if origin else None
        except (ImportError, OSError, ValueError):
            info = None
        found[name] = [origin, info.st_size, info.st_mtime_ns] if info is not None else None
    return found


class ParseCache:
    """Cached values by key; remembers which were used, so a saved file holds only live entries."""

    def __init__(self, entries: dict[str, Any] | None = None, versions: dict[str, Any] | None = None) -> None:
        self._entries = dict(entries or {})
        self._versions = versions if versions is not None else _versions()
        self._used: dict[str, Any] = {}
        self._loaded = frozenset(self._entries)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(kind: str, *parts: str) -> str:
        return hashlib.sha256(json.dumps([kind, *parts]).encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> Any:
        """The cached value, or :data:`_MISSING` (see :func:`missing`)."""
        if key in self._entries:
            self.hits += 1
            self._used[key] = self._entries[key]
            return self._entries[key]
        self.misses += 1
        return _MISSING

    def put(self, key: str, value: Any) -> None:
        self._entries[key] = value
        self._used[key] = value

    def record(self) -> bytes | None:
        """The file to write, or None when it would hold the same entries as the one read."""
        if frozenset(self._used) == self._loaded or len(self._used) > MAX_ENTRIES:
            return None
        data = {"format": FORMAT, "versions": self._versions, "entries": self._used}
        # Not sort_keys: the order of a mapping (services, volumes) is part of the parsed document.
        text = (json.dumps(data) + "\n").encode("utf-8", "surrogatepass")
        return text if len(text) <= MAX_RECORD_BYTES else None

    @classmethod
    def load(cls, state_dir: Path) -> ParseCache:
        """The cache in ``state_dir``; an empty one when there is none or it is not certkit's own and current."""
        versions = _versions()
        data = read_own_json(state_dir / RECORD, MAX_RECORD_BYTES)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("versions") != versions:
            return cls(None, versions)
        entries = data.get("entries")
        if not isinstance(entries, dict) or len(entries) > MAX_ENTRIES:
            return cls(None, versions)
        return cls(entries, versions)

    def save(self, state_dir: Path) -> bool:
        """Write the entries this run used, when they differ from the file read; only into an
        existing state folder.  A cache: a failure to write is not an error."""
        data = self.record()
        if data is None or not state_dir.is_dir():
            return False
        try:
            replace_own(state_dir / RECORD, data)
        except (OSError, FilesystemError):  # FilesystemError: the folder was swapped (certkit.store.handles)
            return False
        return True


def missing(value: Any) -> bool:
    return value is _MISSING


def plain_exact(node: Any) -> bool:
    """True when ``node`` (a plain document) is made only of dict, list, str, int, float, bool and
    None of exactly those types: a JSON round trip then gives back the same values."""
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in (str, int, float, bool, type(None)):
            return False
        elif kind is float and item != item:
            return False  # NaN: never equal to itself, so an equality check of it could differ
    return True
