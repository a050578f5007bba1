"""The compose step's data: where a container gets each file it reads, the analysis of a service,
the mounts planned, a run prepared and its outcome, and the report of `certkit compose --check`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from certkit.compose.files import Mount
from certkit.outcomes import StrEnum
from certkit.profile import Profile

if TYPE_CHECKING:
    from certkit.compose.cache import ParseCache
    from certkit.compose.dockerfiles import ImageFacts


class ServedFrom(StrEnum):
    """Where a container gets a file it reads (the "status" of `certkit compose --check`)."""

    MOUNTED = "mounted"  # a read-only bind mount of a host folder: the container sees the host's file
    MOUNTED_RW = "mounted-rw"  # the same, but writable from the container
    MOUNTED_FILE = "mounted-file"  # a single-file bind mount: goes stale after a rename (moby/moby#22627)
    BAKED = "baked"  # copied into the image at build time from the build context
    IMAGE = "image"  # whatever the image holds; not from this folder
    VOLUME = "volume"  # a named or anonymous volume

    @property
    def text(self) -> str:
        """The words of the STATUS column."""
        return _SERVED_TEXT[self]


_SERVED_TEXT = {
    ServedFrom.MOUNTED: "mounted read-only from the host",
    ServedFrom.MOUNTED_RW: "mounted read-write from the host",
    ServedFrom.MOUNTED_FILE: "single-file mount: stale after a renewal (moby/moby#22627)",
    ServedFrom.BAKED: "baked into the image at build time",
    ServedFrom.IMAGE: "inside the image, not from this folder",
    ServedFrom.VOLUME: "in a Docker volume, not from this folder",
}


class ReadKind(StrEnum):
    """What sort of file a service reads."""

    CONFIG = "config"  # a notary-server/-signer/escrow config (its TLS paths are read too)
    CERTIFICATE = "certificate"
    KEY = "key"
    FILE = "file"


@dataclass(frozen=True)
class FileRead:
    """One file a service reads, and where the container gets it from."""

    container_path: str
    kind: ReadKind
    via: str  # how certkit found it
    status: ServedFrom
    host_path: Path | None  # the host file behind it (for BAKED: the build-context copy)
    mount: Mount | None  # the mount that serves it, if any


@dataclass
class ServiceAnalysis:
    name: str
    workdir: str | None
    workdir_source: str
    image: ImageFacts | None  # which container paths show which host files, when certkit can tell
    reads: list[FileRead] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reads_tls(self) -> bool:
        return any(r.kind != ReadKind.CONFIG for r in self.reads)


@dataclass(frozen=True)
class PlannedMount:
    service: str
    source: Path  # host folder (absolute)
    target: str  # container folder
    replaces: Mount | None  # the existing mount at the same target
    serves: tuple[str, ...]  # container paths of the files it brings
    reason: str  # why it is needed, for comments and output


@dataclass(frozen=True)
class CheckRow:
    service: str
    container_path: str
    kind: ReadKind
    status: ServedFrom
    host_path: str  # relative to the project folder when inside it
    not_after: datetime | None
    managed: bool  # renewed by certkit's profile
    problems: tuple[str, ...]


@dataclass
class CheckReport:
    directory: Path
    files: list[Path]
    rows: list[CheckRow]
    problems: list[str]  # project-wide problems (CA store exposed, services certkit cannot analyse)
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and not any(r.problems for r in self.rows)


class Selection(StrEnum):
    """How the compose files of a run were chosen (certkit.compose.projects.select_files)."""

    DISCOVERED = "discovered"  # no -f: the folder's default file and its override, as `docker compose` finds them
    GIVEN = "given"  # -f FILE ...
    FROM_ENV = "COMPOSE_FILE"  # the COMPOSE_FILE variable (the shell's, or the folder's .env)


class OverrideMode(StrEnum):
    """Where certkit writes the mounts (the "mode" of `certkit compose --json`)."""

    OVERRIDE = "override"  # certkit's own override file, beside the base file
    IN_PLACE = "in-place"  # the compose files themselves (--in-place)


@dataclass(frozen=True, kw_only=True)
class ComposeRun:
    """What a compose run shows, worked out or done: the mounts, the diff and the line that applies it."""

    directory: Path
    files: list[Path]  # the compose files read
    mode: OverrideMode
    mounts: list[PlannedMount]
    diff: str
    restart: list[str]  # services to recreate so they see the new mounts/files
    tls_services: list[str]  # every service that reads TLS files
    command: str  # the exact `docker compose ... up -d --force-recreate` line
    notes: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.diff)


@dataclass(frozen=True, kw_only=True)
class PreparedCompose(ComposeRun):
    """Everything a compose run works out before it writes (certkit.compose.apply.prepare): what
    certkit.compose.writes.write needs, and what renew's finish needs without parsing the files again."""

    selection: Selection  # how the files were chosen: see select_files
    services: list[str] = field(repr=False)
    analyses: dict[str, ServiceAnalysis] = field(repr=False)
    compose_file_env: str | None = field(repr=False)  # COMPOSE_FILE=... the command needs
    pending: dict[Path, tuple[str, str]] = field(repr=False)  # path -> (old, new) text

    def outcome(
        self, *, dry_run: bool, written: list[Path] | None = None, backups: list[Path] | None = None
    ) -> ComposeOutcome:
        """How this run ended: a dry run (nothing written), or what certkit.compose.writes.write wrote."""
        shown = {f.name: getattr(self, f.name) for f in fields(ComposeRun)}
        return ComposeOutcome(**shown, dry_run=dry_run, written=written or [], backups=backups or [])


@dataclass(frozen=True, kw_only=True)
class ComposeOutcome(ComposeRun):
    """A compose run as it ended: what was written (nothing in a dry run) and the backups made."""

    dry_run: bool
    written: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """What the caller knows that the files do not say."""

    profile: Profile
    ca_store: Path | None = None  # default: <directory>/<profile.ca_store>
    container_dirs: Mapping[str, str] = field(default_factory=dict)  # service -> folder; "" -> all others
    environ: Mapping[str, str] = field(default_factory=dict)  # the shell environment for ${VAR}
    # renew's cache of parsed compose files and rendered overrides (certkit.compose.cache)
    memo: ParseCache | None = field(default=None, compare=False)
