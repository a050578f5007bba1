"""`certkit compose --check`: does every service see the host's current TLS files, and are they valid?

A pre-deploy gate: for each file a service reads, where its container gets it from (certkit.compose.
analysis), whether the host file exists and, for a certificate, whether it has expired at ``now``;
and any mount that would put the CA store in a container.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from certkit.compose.analysis import load, managed_paths
from certkit.compose.files import OVERRIDE_MARKER, override_path_for
from certkit.compose.model import CheckReport, CheckRow, Options, ReadKind, Selection, ServedFrom
from certkit.compose.mounts import ca_exposure, ca_store_path
from certkit.compose.text import relative_text
from certkit.validity import expired


def check(directory: Path, files: Iterable[Path], options: Options, now: datetime) -> CheckReport:
    """Does every service see the host's current TLS files, and are they valid at ``now``?"""
    loaded = load(directory, files, options)
    paths, project, analyses = loaded.paths, loaded.project, loaded.analyses
    managed = managed_paths(project.directory, options.profile)
    store = ca_store_path(project.directory, options)
    rows: list[CheckRow] = []
    problems: list[str] = []
    notes: list[str] = []
    for name, analysis in analyses.items():
        for note in analysis.notes:
            notes.append(f"{name}: {note}")
        if analysis.reads:
            notes.append(f"{name}: working folder {analysis.workdir or 'unknown'} ({analysis.workdir_source})")
        for read in analysis.reads:
            row_problems: list[str] = []
            not_after = None
            if read.status in (ServedFrom.BAKED, ServedFrom.IMAGE, ServedFrom.VOLUME, ServedFrom.MOUNTED_FILE):
                row_problems.append(read.status.text)
            if read.host_path is not None:
                if not read.host_path.is_file():
                    row_problems.append("missing on the host")
                elif read.kind == ReadKind.CERTIFICATE:
                    not_after = _not_after(read.host_path)
                    if not_after is not None and expired(not_after, now):
                        row_problems.append(f"expired on {not_after:%Y-%m-%d}")
            rows.append(
                CheckRow(
                    name,
                    read.container_path,
                    read.kind,
                    read.status,
                    relative_text(read.host_path, project.directory) if read.host_path else "",
                    not_after,
                    bool(read.host_path and os.path.realpath(read.host_path) in managed),
                    tuple(row_problems),
                )
            )
        for mount in project.services[name].mounts.values():
            if mount.type == "bind" and mount.source:
                exposure = ca_exposure(Path(mount.source), store)
                if exposure:
                    problems.append(f"{name}: the mount {mount.source}:{mount.target} would {exposure}")
    if loaded.selection == Selection.GIVEN and any(r.problems for r in rows):
        base = [p for p in paths if not p.read_text(errors="replace").startswith(OVERRIDE_MARKER)]
        ours = override_path_for(base[0]) if base else None
        if ours is not None and ours not in paths and ours.is_file():
            notes.append(f"certkit's override {ours.name} exists but was not given: add -f {ours.name}")
    return CheckReport(project.directory, paths, rows, problems, notes)


def _not_after(path: Path) -> datetime | None:
    """notAfter of the file's first certificate (PEM or DER), as check-expiry reads it; None if unreadable."""
    from certkit.certificates import parse_bundle

    try:
        good, _ = parse_bundle(path.read_bytes())
    except OSError:
        return None
    return good[0][1].not_valid_after_utc if good and good[0][0] == 0 else None


__all__ = ["check"]
