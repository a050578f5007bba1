"""Which files of a Notary checkout the services use: what `check-expiry` judges there.

A Notary clone carries, besides the TLS files its services run with, certificates that only
Notary's Go unit tests read (``trustpinning/*.crt``, ``fixtures/compatibility/...``), some
expired on purpose years ago.  Judging those made `check-expiry` exit 2 on a checkout that
`certkit renew` had just renewed.  A file counts as used when any of these names it:

1. the profile: every ``cert_file``, ``key_file`` and ``copies`` entry (what certkit renews);
2. the Notary configs (``certkit.check.notary_config``): every TLS path of the server, signer,
   client and escrow configs, relative to the config's folder as Notary resolves it;
3. the compose files in the checkout's top folder (``certkit.compose.analysis.analyse``): each
   service's ``-config`` file and the TLS paths in it, absolute paths in its environment
   and command, and the TLS files in the host folders it bind-mounts.

Nothing here prints; problems analysing a compose file become notes for the report, except a
compose file nested too deep for certkit to read (certkit.bounded.TooDeep): Docker Compose loads
such a file and runs its services, so what they use is unknown, an UNKNOWN finding of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from certkit.bounded import TooDeep
from certkit.check.findings import Finding, Reason, Status
from certkit.check.notary_config import NotaryNotes
from certkit.errors import CertkitError
from certkit.profile import Profile
from certkit.text import one_line

_COMPOSE_SUFFIXES = (".yml", ".yaml")
_OVERRIDE = re.compile(r"(^|\.)override\.ya?ml$")
# What analysing a compose file can raise: certkit's ComposeError for anything it refuses, and
# OSError/ValueError from a folder or file that changes under it; none may stop the check.
_ANALYSIS_ERRORS = (CertkitError, OSError, ValueError)


@dataclass
class Deployment:
    """The files the services of one checkout use, each with the first reason found."""

    root: Path
    used: dict[str, str] = field(default_factory=dict)  # real path -> why ("profile: notary-server", ...)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # compose files certkit cannot read (too deep)

    def add(self, path: Path, why: str) -> None:
        self.used.setdefault(os.path.realpath(path), why)


def is_checkout(path: Path, profile: Profile) -> bool:
    """Does ``path`` hold one of the profile's markers (``certkit renew`` would accept it)?"""
    return any((path / marker).exists() for marker in profile.markers)


def deployed_files(
    root: Path, profile: Profile, notary: NotaryNotes | None = None, environ: Mapping[str, str] | None = None
) -> Deployment:
    """The files under ``root`` the services use, per the profile, configs and compose files."""
    deployment = Deployment(root)
    for spec in profile.certificates:
        for rel in (spec.cert_file, spec.key_file, *spec.copies):
            if rel:
                deployment.add(root / rel, f"profile: {spec.name}")
    if notary is not None:
        for real, why in notary.used.items():
            deployment.used.setdefault(real, why)
    _compose(root, profile, deployment, dict(environ or {}))
    return deployment


def compose_files(root: Path) -> list[list[Path]]:
    """The compose projects in ``root``'s top folder: each base file with its override, if any.

    Notary ships several alternative projects side by side (docker-compose.yml,
    docker-compose.postgresql.yml, development.rethink.yml, ...); a YAML file counts when it
    has a top-level ``services:`` key.  ``X.override.yml`` (where certkit's compose step
    writes) is merged with ``X.yml``, as ``docker compose -f X.yml -f X.override.yml`` would.
    """
    from certkit.compose.files import override_path_for

    projects: list[list[Path]] = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    for name in names:
        path = root / name
        if not name.endswith(_COMPOSE_SUFFIXES) or _OVERRIDE.search(name) or not _has_services(path):
            continue
        override = override_path_for(path)
        projects.append([path, override] if _has_services(override) else [path])
    return projects


def _has_services(path: Path) -> bool:
    from certkit.compose.files import has_services

    return has_services(path)


def _compose(root: Path, profile: Profile, deployment: Deployment, environ: dict[str, str]) -> None:
    # Imported here: ruamel.yaml is only needed for checkouts that have compose files.
    from certkit.compose.analysis import analyse
    from certkit.compose.files import Project, load_project, project_env
    from certkit.compose.model import Options
    from certkit.compose.projects import with_recorded_dirs

    failed: dict[str, list[str]] = {}  # "service client: <why>" -> the compose files it failed in
    for files in compose_files(root):
        label = " + ".join(f.name for f in files)
        try:
            project = load_project(files, project_env(root, environ))
        except _ANALYSIS_ERRORS as exc:
            if isinstance(exc.__cause__, TooDeep):
                text = f"compose file not analysed: {one_line(exc)}; files only it uses are listed as unused"
                deployment.findings.append(
                    Finding("file", str(files[0]), None, None, None, [Reason("unreadable", Status.UNKNOWN, text)])
                )
                continue
            deployment.notes.append(
                f"{label}: not analysed ({one_line(exc, 200)}); files only it uses are listed as unused"
            )
            continue
        for name, service in project.services.items():
            # One service at a time, so that one certkit cannot analyse leaves the others counted.
            single = Project(project.directory, project.files, {name: service})
            options = Options(profile=profile, environ=environ)
            try:
                analyses = analyse(single, with_recorded_dirs(root, options))
            except _ANALYSIS_ERRORS as exc:
                failed.setdefault(f"service {name}: not analysed ({one_line(exc, 200)})", []).append(label)
                continue
            for read in analyses[name].reads:
                if read.host_path is not None:
                    deployment.add(read.host_path, f"{label}: service {name} ({read.via})")
    # One note per failure, not per compose file: Notary's three development.*.yml share a client service.
    for text, labels in failed.items():
        deployment.notes.append(f"{', '.join(labels)}: {text}; files only it uses are listed as unused")


__all__ = ["Deployment", "compose_files", "deployed_files", "is_checkout"]
