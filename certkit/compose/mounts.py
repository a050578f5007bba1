"""Planning the mounts that make renewed certificates reach the containers of a compose project.

Notary's compose files build the server and signer from the checkout, and the Dockerfiles
copy the checkout (``fixtures/`` included) into the image at the WORKDIR: the containers
read the certificates of build time, so renewing the files on the host changes nothing
until the image is rebuilt.  From the analysis of each service (certkit.compose.analysis),
this plans the read-only folder mounts that make every TLS file it reads the host's current one.

Folders are mounted, never single files: certkit replaces files by atomic rename, and a
single-file bind mount keeps showing the old inode after a rename (moby/moby#22627).
No mount may expose the CA store (the CA private keys).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from certkit.compose.files import Mount, Project
from certkit.compose.model import Options, PlannedMount, ServedFrom, ServiceAnalysis
from certkit.errors import ComposeError
from certkit.paths import inside, under
from certkit.store import layout


def plan(project: Project, analyses: Mapping[str, ServiceAnalysis], options: Options) -> list[PlannedMount]:
    """The folder mounts that make every TLS file a service reads the host's current one."""
    store = ca_store_path(project.directory, options)
    planned: list[PlannedMount] = []
    for name, analysis in analyses.items():
        service = project.services[name]
        if not analysis.reads_tls:
            continue
        candidates: dict[str, tuple[Path, Mount | None, list[str], str]] = {}
        for read in analysis.reads:
            if read.status == ServedFrom.MOUNTED:
                continue
            if read.status == ServedFrom.MOUNTED_FILE:
                assert read.mount is not None
                raise ComposeError(
                    f"service {name!r} mounts the single file {read.mount.source} at {read.mount.target}: after a "
                    "renewal (an atomic rename) the container keeps the old file (moby/moby#22627); "
                    "mount its folder instead, then run certkit compose again"
                )
            if read.status == ServedFrom.MOUNTED_RW:
                assert read.mount is not None
                # Make the existing folder mount read-only in place (same target: replace, not duplicate).
                target, source, reason = read.mount.target, Path(read.mount.source), "was mounted read-write"
            elif read.host_path is not None and analysis.image is not None:
                target = str(PurePosixPath(read.container_path).parent)
                source = read.host_path.parent
                reason = (
                    "was baked into the image at build time"
                    if read.status == ServedFrom.BAKED
                    else "came from the image, not this folder"
                )
            else:
                where = f"the Docker volume {read.mount.source or '(anonymous)'}" if read.mount else "the image"
                raise ComposeError(
                    f"service {name!r} reads {read.container_path} ({read.via}) from {where}, and certkit cannot "
                    f"tell which host folder should replace it; mount the folder yourself, or give once "
                    f"--container-dir {name}=/folder/in/container (the folder holding this checkout's files; "
                    "certkit remembers it)"
                )
            entry = candidates.setdefault(target, (source, service.mounts.get(target), [], reason))
            entry[2].append(read.container_path)
        # Keep the top-most folders: a mount of fixtures/ also brings fixtures/database/.
        for target in sorted(candidates, key=lambda t: (t.count("/"), t)):
            source, replaces, serves, reason = candidates[target]
            parent = next(
                (
                    p
                    for p in planned
                    if p.service == name and under(target, p.target) and p.replaces is None and replaces is None
                ),
                None,
            )
            if parent is not None:
                planned[planned.index(parent)] = PlannedMount(
                    name, parent.source, parent.target, None, tuple(sorted({*parent.serves, *serves})), parent.reason
                )
                continue
            planned.append(PlannedMount(name, source, target, replaces, tuple(sorted(serves)), reason))
    for mount in planned:
        if mount.source.is_file():
            raise ComposeError(
                f"service {mount.service!r}: {mount.source} is a file; certkit mounts folders only (moby/moby#22627)"
            )
        problem = ca_exposure(mount.source, store)
        if problem:
            raise ComposeError(
                f"service {mount.service!r}: mounting {mount.source} at {mount.target} would {problem}; keep the "
                "TLS files in their own folder (e.g. fixtures/) or move the CA store outside (--ca-store)"
            )
    for name, service in project.services.items():
        for existing in service.mounts.values():
            if existing.type == "bind" and existing.source:
                problem = ca_exposure(Path(existing.source), store)
                if problem:
                    raise ComposeError(
                        f"service {name!r}: its existing mount {existing.source}:{existing.target} "
                        f"would {problem}; remove that mount before running certkit compose"
                    )
    return planned


def ca_store_path(directory: Path, options: Options) -> Path:
    return layout.ca_store_path(directory, options.profile, options.ca_store)


def ca_exposure(source: Path, store: Path) -> str | None:
    """Why mounting ``source`` would put the CA store in a container, or None."""
    real_source = Path(os.path.realpath(source))
    real_store = Path(os.path.realpath(store))
    if inside(real_store, real_source):
        return f"expose the CA store {store} (CA private keys)"
    if real_store in real_source.parents:
        return f"mount part of the CA store {store}"
    return None


__all__ = ["ca_exposure", "ca_store_path", "plan"]
