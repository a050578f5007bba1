"""What `certkit renew` is asked (:class:`RenewRequest`) and what it did (:class:`RenewRun`).

Read on the cron path before anything heavy is imported (certkit.workflows.renew), so the standard library
and certkit.defaults only; the types of the steps' results are named for the type checker alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from certkit import defaults
from certkit.durations import Duration

if TYPE_CHECKING:
    from certkit.compose.model import ComposeOutcome
    from certkit.deploy.database import DatabaseStep, DeployResult
    from certkit.errors import CertkitError
    from certkit.pki.renew import RenewResult
    from certkit.store.owed import OwedDeploy
    from certkit.workflows.deploy import DeployRun, RunningLook
    from certkit.workflows.hooks import HookResult


@dataclass(frozen=True)
class RenewRequest:
    """What `certkit renew` was asked to do; the time and ``environ`` are inputs, never read here.

    ``now`` is the moment the run judges.  With ``clock``, the renewal itself reads the moment from
    it once it holds the lock and the pre hook has run (``--wait`` or a slow hook can take minutes,
    and the new certificates should start when they are made).
    """

    notary_dir: Path
    now: datetime
    within: Duration
    profile_source: str | None = None
    force: bool = False
    rotate_keys: bool = False
    ca_store: Path | None = None
    compose: bool = True
    container_dirs: Mapping[str, str] = field(default_factory=dict)
    pgdata: Path | None = None
    keep: int = defaults.KEEP
    pre_hook: str | None = None
    deploy_hook: str | None = None
    post_hook: str | None = None
    hook_timeout: float | None = defaults.HOOK_TIMEOUT
    wait: bool = False
    wait_timeout: float | None = None
    dry_run: bool = False
    # The fast path answers "nothing is due" without a RenewResult; a caller that needs the
    # full result (--json) turns it off.
    fast_path: bool = True
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], datetime] | None = None
    # --deploy: recreate the running services whose files changed, through the engine, and verify
    # (certkit.workflows.deploy).  Off by default: recreating interrupts the service, and a person
    # at a terminal chooses the moment; the scheduled job asks for it.
    deploy: bool = False
    # Without --deploy, after a renewal: ask the engine (read-only) which of the checkout's projects run,
    # so the output names the action for the one in use (--no-engine: never ask).
    engine: bool = True
    docker_host: str | None = None  # --docker-host; else DOCKER_HOST, else the default socket
    engine_timeout: float = defaults.ENGINE_TIMEOUT  # seconds for each call to the engine
    deploy_timeout: float = defaults.DEPLOY_TIMEOUT  # seconds for the recreate and its verification
    # The CA keys' secrets (certkit.pki.unlock), asked for only when a CA key must sign or be stored:
    # a passphrase file, the exported offline root for this run, the token for new CA keys, and a prompt
    # (the command line's, on a terminal).  $CREDENTIALS_DIRECTORY comes from ``environ``.
    ca_passphrase_file: Path | None = None
    ca_root_key: Path | None = None
    ca_pkcs11: str | None = None
    prompt: Callable[[str], str] | None = None

    @property
    def may_take_fast_path(self) -> bool:
        """Only a plain run can be answered from the record: every option here changes what is done."""
        return self.fast_path and not (
            self.force
            or self.rotate_keys
            or self.dry_run
            or self.pre_hook
            or self.deploy_hook
            or self.post_hook
            or self.container_dirs
        )


def credentials_dir(environ: Mapping[str, str]) -> Path | None:
    """systemd's $CREDENTIALS_DIRECTORY (LoadCredential*=), where the CA passphrase may be."""
    value = environ.get("CREDENTIALS_DIRECTORY", "")
    return Path(value) if value.startswith("/") else None


@dataclass
class RenewRun:
    """What happened.  ``result`` is None when the fast path answered (``nothing_due_until``
    is then the earliest notAfter) or when the pre hook failed before the renewal."""

    result: RenewResult | None = None
    nothing_due_until: datetime | None = None
    compose: list[ComposeOutcome] = field(default_factory=list)
    # Set when the database's TLS files changed: postgres needs them in its data folder.
    database: DatabaseStep | None = None
    deployed: DeployResult | None = None
    hooks: list[HookResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per failed hook
    # --deploy: what the deploy step planned, did and verified (None: not asked for)
    deploy: DeployRun | None = None
    # Without --deploy: a deploy an earlier `renew --deploy` could not do, still owed (certkit.store.owed).
    owed: OwedDeploy | None = None
    # Without --deploy, after a renewal that changed something: what runs from the checkout (None: not asked).
    running: RunningLook | None = None
    # In the order they are reported: the renewal's own, then the compose step's, the deploy's, the database's.
    errors: list[CertkitError] = field(default_factory=list)
    exit_code: int = 0

    def raise_for_errors(self) -> None:
        """Raise the first error (the renewal's own, else the compose step's, the deploy's, the database's).

        The hooks ran around the renewal, so its refusal is returned here rather than raised.
        """
        if self.errors:
            raise self.errors[0]
