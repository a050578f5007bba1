"""What to run so that a server loads renewed files: one text for every place that says STALE.

``docker compose restart SERVICE`` keeps the container: one created before certkit's override
has no mount of the renewed folder and goes on serving the files baked into its image.
``docker compose up -d --force-recreate SERVICE`` makes a new container from the compose files
as they are now (the override included), and loads the renewed files either way.  So the hint
says recreate unless the caller knows the container already mounts the folder (certkit asks
the Docker engine where it can: ``mounted``).
"""

from __future__ import annotations

import shlex

STALE_TEXT = "renewed on disk, not reloaded by the server"


def stale_hint(service: str | None = None, *, mounted: bool | None = None) -> str:
    """The command that makes ``service`` (SERVICE when unknown) serve the renewed files.

    ``mounted``: True when its container is known to mount the renewed folder (a restart is then
    enough); False or None (unknown, e.g. a server found only by --connect): recreate it.
    """
    name = shlex.quote(service) if service else "SERVICE"
    if mounted:
        return f"restart it: `docker compose restart {name}` (its container already mounts the renewed folder)"
    return (
        f"recreate its container: `docker compose up -d --force-recreate {name}` (a restart keeps a "
        "container made before certkit's override, which does not mount the renewed files)"
    )


def stale_text(service: str | None = None, *, mounted: bool | None = None) -> str:
    """STALE's reason after the serials: what happened, then what to run."""
    return f"{STALE_TEXT}: {stale_hint(service, mounted=mounted)}"
