"""`certkit status` as one core call: the set as a tree, with its compose mounts and what servers serve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.check.running import EngineUse
from certkit.durations import Duration

if TYPE_CHECKING:
    from certkit.check.status import SetTree

UNKNOWN = 3  # as check-expiry: an endpoint that could not be reached


@dataclass
class StatusRun:
    tree: SetTree
    unreachable: list[str]  # "HOST:PORT: why", for each --connect that gave no chain

    @property
    def exit_code(self) -> int:
        """The set's health (0 OK, 1 WARNING, 2 CRITICAL); 3 when it is healthy but a server was not reached."""
        if self.unreachable and self.tree.health == 0:
            return UNKNOWN
        return int(self.tree.health)


def run_status(
    notary_dir: Path,
    now: datetime,
    warn: Duration,
    *,
    profile_source: str | None = None,
    ca_store: Path | None = None,
    addresses: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
    engine_use: EngineUse = EngineUse.AUTO,
    docker_host: str | None = None,
    engine_timeout: float = 5.0,
) -> StatusRun:
    import os

    from certkit.check.deploy_owed import owed_text
    from certkit.check.endpoints import fetch_chain
    from certkit.check.running import RunningRequest, check_running
    from certkit.check.status import compose_mounts, mark_running, status
    from certkit.profile import load_profile
    from certkit.store.layout import require_layout
    from certkit.store.owed import read as read_owed

    profile = load_profile(profile_source)
    # A folder that is not a checkout is one line (exit 10, as renew), not a tree of missing files.
    require_layout(notary_dir, profile)
    served: dict[str, bytes] = {}
    unreachable: list[str] = []
    for address in addresses:
        chain = fetch_chain(address)
        if chain.error or not chain.chain:
            unreachable.append(f"{address}: {chain.error}")
        else:
            served[address] = chain.chain[0]
    env = dict(os.environ if environ is None else environ)
    mounts, compose_notes = compose_mounts(notary_dir, profile, env)
    result = status(
        notary_dir,
        profile,
        now,
        warn_days=max(0, (warn.after(now) - now).days),
        ca_store=ca_store,
        served=served,
        mounts=mounts,
    )
    running = check_running(
        RunningRequest(notary_dir, profile, env, engine_use=engine_use, docker_host=docker_host, timeout=engine_timeout)
    )
    result.notes += compose_notes + mark_running(result, running.files) + running.notes + unreachable
    record = read_owed(notary_dir)  # one lstat when no deploy is owed
    if record is not None:
        result.deploy_owed = owed_text(record, notary_dir)
    return StatusRun(result, unreachable)
