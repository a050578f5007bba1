"""`pip install .` gives a working certkit whose templates ship inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_installed_wheel_finds_its_templates(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = wheel_dir.glob("certkit-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "certkit/templates/init/server-config.json.j2" in names
    assert "certkit/profiles/notary.toml" in names

    env_dir = tmp_path / "venv"
    # The new venv borrows the test environment's packages for the dependencies (a .pth
    # line, so no network is needed); certkit itself comes from the wheel, which sits
    # earlier on sys.path than anything a .pth adds.
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    layout = tmp_path / "demo"
    run = subprocess.run(
        [str(env_dir / "bin" / "certkit"), "init", str(layout)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    where = subprocess.run(
        [str(python), "-c", "import certkit.templates as t; print(t.templates_dir())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert str(env_dir) in where.stdout, where.stdout  # the wheel's copy, not the repository's
    assert '"client_ca_file": "./notary-server.crt"' in (layout / "fixtures/signer-config.json").read_text()
