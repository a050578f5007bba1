"""certkit: certificate lifecycle toolkit for Notary (Docker Content Trust).

The public Python API is what this module names in ``__all__``; everything else is internal
and may change.  Each workflow takes a request and returns data (it never prints); the time
is always a parameter::

    from datetime import datetime, timezone
    from pathlib import Path

    import certkit

    now = datetime.now(timezone.utc)
    run = certkit.run_check(certkit.CheckRequest((Path("notary"),), now, certkit.parse_duration("30d"),
                                                 certkit.parse_duration("7d")))
    print(run.summary.status.name)                  # OK, WARNING, CRITICAL or UNKNOWN

    renewal = certkit.run_renew(certkit.RenewRequest(Path("notary"), now, certkit.parse_duration("30d")))

The names are loaded on first use, so ``import certkit`` stays as light as the cron path needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it
_API = {
    "RenewRequest": "certkit.workflows.renew",
    "RenewRun": "certkit.workflows.renew",
    "RenewResult": "certkit.pki.renew",
    "run_renew": "certkit.workflows.renew",
    "CheckRequest": "certkit.workflows.check",
    "CheckRun": "certkit.workflows.check",
    "Summary": "certkit.workflows.check",
    "run_check": "certkit.workflows.check",
    "RollbackResult": "certkit.workflows.rollback",
    "run_rollback": "certkit.workflows.rollback",
    "list_generations": "certkit.workflows.rollback",
    "Finding": "certkit.check.findings",
    "Status": "certkit.check.findings",
    "StatusRun": "certkit.workflows.status",
    "run_status": "certkit.workflows.status",
    "Profile": "certkit.profile",
    "load_profile": "certkit.profile",
    "Duration": "certkit.durations",
    "parse_duration": "certkit.durations",
    "CertkitError": "certkit.errors",
}
__all__ = [
    "__version__",
    "RenewRequest",
    "RenewRun",
    "RenewResult",
    "run_renew",
    "CheckRequest",
    "CheckRun",
    "Summary",
    "run_check",
    "RollbackResult",
    "run_rollback",
    "list_generations",
    "StatusRun",
    "run_status",
    "Finding",
    "Status",
    "Profile",
    "load_profile",
    "Duration",
    "parse_duration",
    "CertkitError",
]

if TYPE_CHECKING:
    from certkit.check.findings import Finding, Status
    from certkit.durations import Duration, parse_duration
    from certkit.errors import CertkitError
    from certkit.pki.renew import RenewResult
    from certkit.profile import Profile, load_profile
    from certkit.workflows.check import CheckRequest, CheckRun, Summary, run_check
    from certkit.workflows.renew import RenewRequest, RenewRun, run_renew
    from certkit.workflows.rollback import RollbackResult, list_generations, run_rollback
    from certkit.workflows.status import StatusRun, run_status


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'certkit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
