"""The Docker engine, read-only: which containers of a checkout's compose projects exist, and which
certificate bytes each one actually has at a path.

Above store/compose (it reads their answers' shape, nothing more) and below check/deploy/workflows.
Importing this package is cheap: the Docker SDK is imported only when connect() or probe() finds
a socket to talk to.
"""

from __future__ import annotations

from certkit.engine.client import (
    DEFAULT_HOST,
    DEFAULT_TIMEOUT,
    MAX_FILE_BYTES,
    ContainerFileError,
    Engine,
    NoEngine,
    connect,
    engine_host,
    probe,
)
from certkit.engine.model import ComposeContainer, Mount, PublishedPort

__all__ = [
    "ComposeContainer",
    "ContainerFileError",
    "DEFAULT_HOST",
    "DEFAULT_TIMEOUT",
    "Engine",
    "MAX_FILE_BYTES",
    "Mount",
    "NoEngine",
    "PublishedPort",
    "connect",
    "engine_host",
    "probe",
]
