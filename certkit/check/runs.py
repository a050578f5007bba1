"""The verdict on what runs (certkit.check.running), as plain data the findings and renderers carry.

Apart from certkit.check.running so that a Finding can carry it without the check's modules
importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from certkit.compose.model import ServedFrom
from certkit.outcomes import StrEnum

if TYPE_CHECKING:
    from cryptography import x509


class Verdict(StrEnum):
    """What a container (or the compose project) runs, against the file on disk."""

    OK = "ok"  # the same certificate as on disk
    STALE = "stale"  # differs from disk (or the process still serves the old one): recreate or restart
    BAKED = (
        ServedFrom.BAKED.value
    )  # the image's copy, no bind mount over it, and it differs from disk (or would, pre-deploy)
    MISSING = "missing"  # the service reads the path, the container has no file there
    UNREADABLE = "unreadable"  # the container's file could not be read or parsed


@dataclass(frozen=True)
class RunningFile:
    """One renewed certificate file a service reads, as one container has it, or (``container`` None)
    as the compose project would run it."""

    service: str
    container: str | None  # the container's name; None for a row of the compose analysis alone
    state: str | None  # running, exited, ... (None: no container)
    project: str  # the compose project (label), or the compose files' names for an analysis row
    container_path: str
    host_path: str  # the file on disk it should be (relative to the checkout when inside it)
    verdict: Verdict
    text: str  # why, and what to run
    der: bytes = b""  # the leaf the container has (DER); empty when none was read

    @property
    def where(self) -> str:
        """``container:/path`` as `docker cp` writes it, or ``service:/path`` for an analysis row."""
        return f"{self.container or self.service}:{self.container_path}"

    def leaf(self) -> x509.Certificate | None:
        from certkit.certificates import load_der

        return load_der(self.der) if self.der else None


__all__ = ["RunningFile", "Verdict"]
