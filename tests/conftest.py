from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.notary_harness import IN_CI

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "notary-reference"


@pytest.fixture
def reference_dir() -> Path:
    """../shared/notary-reference: real Notary files (read-only; copy before changing)."""
    override = os.environ.get("CERTKIT_NOTARY_REFERENCE")
    path = Path(override) if override else REFERENCE
    if not (path / "fixtures" / "root-ca.crt").exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; it is required under CI=true")
        pytest.skip(f"{path} not present (a fresh clone has no ../shared/notary-reference)")
    return path
