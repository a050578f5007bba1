"""The CPU the tests run on, as Python and the binaries see it (scripts/arm64.sh runs this on aarch64)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.notary_harness import elf_machine, expected_machine, require_binary


def test_python_runs_on_the_machine_it_reports() -> None:
    # Under qemu-user the interpreter is an aarch64 ELF and uname says aarch64; a mismatch
    # would mean the run is not where it claims to be.
    machine = expected_machine()
    print(f"platform.machine() = {machine}")
    assert elf_machine(sys.executable) == machine


def test_cryptography_is_built_for_this_machine() -> None:
    from cryptography.hazmat.bindings._rust import __file__ as rust_binding

    assert elf_machine(rust_binding) == expected_machine()


@pytest.mark.parametrize("name", ["notary-server", "notary-signer", "notary", "openssl"])
def test_real_binaries_are_built_for_this_machine(name: str) -> None:
    path = require_binary(name, "openssl" if name == "openssl" else "notary")
    assert elf_machine(path) == expected_machine()


def test_elf_machine_reads_the_header(tmp_path: Path) -> None:
    # The check must be able to fail: a made-up aarch64 header and a non-ELF file.
    arm = tmp_path / "arm"
    arm.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (0xB7).to_bytes(2, "little") + bytes(44))
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert elf_machine(str(arm)) == "aarch64"
    assert elf_machine(str(text)) == "not ELF"
