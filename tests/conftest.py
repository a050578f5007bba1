from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.notary_harness import IN_CI, MACHINES_SEEN

if TYPE_CHECKING:
    from tests.docker_engine import DockerEngine


def pytest_report_header() -> str:
    import platform

    return f"platform.machine(): {platform.machine()}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which CPU the real Notary binaries were built for, and where they ran (see scripts/arm64.sh)."""
    if MACHINES_SEEN:
        seen = sorted(
            {f"{name} ({built} ELF) on platform.machine()={machine}" for name, built, machine in MACHINES_SEEN}
        )
        terminalreporter.write_line("notary binaries run: " + "; ".join(seen))


REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "notary-reference"


@pytest.fixture
def reference_dir() -> Path:
    """../shared/notary-reference: real Notary files (read-only; copy before changing)."""
    return reference_path()


def reference_path() -> Path:
    """The Notary checkout the tests read: CERTKIT_NOTARY_REFERENCE, else ../shared/notary-reference.

    Absent: a skip with the reason, but a failure under CI=true (usable from session fixtures too).
    """
    override = os.environ.get("CERTKIT_NOTARY_REFERENCE")
    path = Path(override) if override else REFERENCE
    if not (path / "fixtures" / "root-ca.crt").exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; it is required under CI=true")
        pytest.skip(f"{path} not present (a fresh clone has no ../shared/notary-reference)")
    return path


RELEASES = Path(__file__).resolve().parent.parent.parent / "shared" / "notary-releases"


def release_path(tag: str) -> Path:
    """An older Notary release's tree (../shared/notary-releases/TAG, or CERTKIT_NOTARY_RELEASES/TAG):
    tutorials pin tags, so users still clone them.  Read-only: copy before changing.

    Absent: a skip with the reason, but a failure under CI=true (as reference_path).
    """
    override = os.environ.get("CERTKIT_NOTARY_RELEASES")
    path = (Path(override) if override else RELEASES) / tag
    if not (path / "fixtures" / "root-ca.crt").exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; it is required under CI=true")
        pytest.skip(f"{path} not present (a fresh clone has no ../shared/notary-releases)")
    return path


@pytest.fixture
def notary_v050() -> Path:
    """Notary v0.5.0's tree: its client image's Dockerfile says `ENV PATH /osxcross/target/bin:$PATH`."""
    return release_path("v0.5.0")


@pytest.fixture(scope="session")
def fresh_layout_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `certkit init` per test session (RSA-4096 keys are slow); copy it before changing it."""
    from datetime import datetime, timezone

    from certkit.profile import load_profile
    from certkit.workflows.init import init_layout

    folder = tmp_path_factory.mktemp("template") / "notary"
    init_layout(folder, load_profile(), datetime.now(timezone.utc))
    return folder


@pytest.fixture
def fresh_layout(tmp_path: Path, fresh_layout_template: Path) -> Path:
    """A private copy of a freshly initialised Notary layout (modes preserved)."""
    import shutil

    target = tmp_path / "notary"
    shutil.copytree(fresh_layout_template, target, symlinks=True)
    return target


@pytest.fixture
def reference_copy(tmp_path: Path, reference_dir: Path) -> Path:
    """A writable copy of the real (expired) Notary checkout files."""
    import shutil

    target = tmp_path / "notary-ref"
    shutil.copytree(reference_dir, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


# One Docker engine per test session, shared by every test that needs one (a start and the image
# builds cost seconds to minutes under load; tests/docker_engine.py has the why of each flag).


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    from tests.docker_engine import docker_engine

    with docker_engine(tmp_path_factory.mktemp("engine")) as running:
        yield running


@pytest.fixture(scope="session")
def golang_image(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The FROM image of Notary's Dockerfiles, made once per session (no registry to pull it from)."""
    from tests.docker_engine import import_golang_image

    return import_golang_image(engine, tmp_path_factory.mktemp("rootfs"))


@pytest.fixture(scope="session")
def busybox_image(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny image (busybox-static, plus a baked file) for tests of the engine client; its name."""
    from tests.docker_engine import import_busybox_image

    return import_busybox_image(engine, tmp_path_factory.mktemp("busybox"))
