"""What a command did to each file, as types: the words of the table and JSON output.

The member values are the exact words certkit has always printed and written to JSON
(a public contract: scripts read them from `renew --json`'s "action" and "kind"), so each enum
mixes in ``str``: a member compares equal to its word, prints as it and serialises as it.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """``enum.StrEnum`` (Python 3.11) for 3.10 too: ``str()`` and ``format()`` give the value.

    A plain ``(str, Enum)`` prints as ``Action.CREATED`` in f-strings from Python 3.12 on.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return str(self.value).__format__(spec)


class Action(StrEnum):
    """What happened (or, in a dry run, would happen) to a file."""

    CREATED = "created"
    RENEWED = "renewed"
    UPDATED = "updated"
    KEPT = "kept"
    MISSING = "missing"  # a key not made yet: made when something must be signed
    WOULD_CREATE = "would create"
    WOULD_RENEW = "would renew"
    WOULD_UPDATE = "would update"

    @property
    def changed(self) -> bool:
        """The file was really written (a dry run's "would ..." never counts)."""
        return self in CHANGED


# The one definition of "this run wrote the file" (hooks, compose, the JSON "changed" flag).
CHANGED = frozenset({Action.CREATED, Action.RENEWED, Action.UPDATED})


class FileKind(StrEnum):
    """Which sort of file a renewal outcome is about."""

    CERTIFICATE = "certificate"
    KEY = "key"
    CA_KEY = "ca-key"  # a CA's private key, in the CA store
    COPY = "copy"  # a copy of a certificate elsewhere (cmd/notary/root-ca.crt)
    IGNORE_FILE = "ignore-file"  # .dockerignore / .gitignore keeping the CA store out


class NoticeKind(StrEnum):
    """What a renewal's note is about, so the output can group and place it."""

    NOTE = "note"
    LOOSE_KEY = "loose-key"  # a private key others could read, set to 0600
    NEW_ROOT = "new-root"  # a root CA made new: who must trust it
    KEY_OWNER = "key-owner"  # who must own or read a key a container reads


class Notice(str):
    """A note for the user: its text (a ``str``, as JSON and every caller has it) with its kind and the
    files it is about (relative to the checkout), so the output can fold notes that do not apply."""

    kind: NoticeKind
    about: tuple[str, ...]

    def __new__(cls, text: str, kind: NoticeKind = NoticeKind.NOTE, about: tuple[str, ...] = ()) -> Notice:
        notice = super().__new__(cls, text)
        notice.kind = kind
        notice.about = about
        return notice
