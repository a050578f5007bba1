"""The README, run as a new user reads it (issue 20): its shell blocks in order, from a fresh clone.

A fresh clone is a copy of the repository's files (tracked, or new and not ignored: what a clone of
this work holds), without a venv.  HOME is a new folder whose `notary` is a writable copy of Notary's
checkout as cloned ("your clone of Notary", `cd ~/notary`).  PATH is a plain user's
(/usr/local/bin:/usr/bin:/bin): no venv is on it, so `certkit` exists only once the README installed
it.  Every block runs in one bash, in README order, each line as written, so a `cd` or an `export`
holds for the lines after it, as in the reader's terminal.

Every fenced `sh` block of the README carries a marker (checked here): `<!-- walkthrough -->` runs;
`<!-- walkthrough: engine -->` runs against a Docker engine in which Notary's compose project runs
from the checkout, started by the user (as in tests/test_deploy_engine.py: built from the expired
checkout, memory storage from a compose file of the user's own, since mariadb's image cannot be
pulled here); `<!-- not run: REASON -->` does not.  Where the machine cannot give what a block
needs (no root for the engine, no Docker), the block is left out, the rest still runs, and the test
then skips with the reason: under CI=true it fails instead.  `sudo apt-get install -y PKG` is the
one line read, not run, when PKG is installed already (a second apt-get could collide with the
machine's own package runs); as root without sudo it runs as `apt-get`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.notary_harness import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"<!-- (walkthrough|walkthrough: engine|not run: [^>]+) -->")
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
PROJECT = "certkit-readme"


@dataclass(frozen=True)
class Block:
    kind: str  # "walkthrough", "engine" or "not run"
    text: str
    reason: str = ""


def readme_blocks(text: str) -> list[Block]:
    """Every ```sh block of the README with the marker on the line above it (one is required)."""
    blocks = []
    for fence in FENCE.finditer(text):
        above = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(above.strip())
        assert marker, f"a README shell block has no walkthrough or not-run marker above it:\n{fence.group(0)}"
        word = marker.group(1)
        if word.startswith("not run: "):
            blocks.append(Block("not run", fence.group(1), word.removeprefix("not run: ")))
        else:
            blocks.append(Block("engine" if word.endswith("engine") else "walkthrough", fence.group(1)))
    return blocks


def fresh_clone(target: Path) -> Path:
    """The repository's files as a clone of this work has them: tracked and new, never ignored ones."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if not source.is_file():
            continue  # deleted in the work tree, not yet committed
        destination = target / os.fsdecode(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    return target


def user_environment(home: Path) -> dict[str, str]:
    """A plain user's shell: their HOME and PATH, and the machine's pip and proxy settings (a local
    wheel mirror, where the machine has one; without it pip reaches PyPI as it would for the user)."""
    env = {"HOME": str(home), "PATH": USER_PATH, "LANG": "C.UTF-8", "USER": "root" if os.geteuid() == 0 else "user"}
    for name, value in os.environ.items():
        if name.startswith("PIP_") or name.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            env[name] = value
    return env


def line_as_run(line: str) -> tuple[str, str]:
    """(the shell line to run, why it is read instead of run, or "") for one README line."""
    words = shlex.split(line, comments=True)
    if words[:3] == ["sudo", "apt-get", "install"]:
        packages = [w for w in words[3:] if not w.startswith("-")]
        installed = subprocess.run(["dpkg", "-s", *packages], capture_output=True).returncode == 0
        if installed:
            return f": already installed: {' '.join(packages)}", ""
        if os.geteuid() == 0 and shutil.which("sudo") is None:
            return line.removeprefix("sudo "), ""
        return "", f"`{line.strip()}` needs root to install {' '.join(packages)}"
    return line, ""


def test_every_readme_shell_block_is_marked() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    kinds = [b.kind for b in blocks]
    assert kinds.count("walkthrough") >= 4 and "engine" in kinds
    assert all(b.reason for b in blocks if b.kind == "not run")
    # The two commands a fresh machine needs come first.
    assert blocks[0].text.split()[:2] == ["make", "demo"] and blocks[1].text.split()[:2] == ["make", "test"]


def test_the_readme_runs_in_order_from_a_fresh_clone(
    request: pytest.FixtureRequest, reference_dir: Path, tmp_path: Path
) -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    clone = fresh_clone(tmp_path / "certkit")
    home = tmp_path / "home"
    home.mkdir()
    notary = home / "notary"
    shutil.copytree(reference_dir, notary)
    for path in [notary, *notary.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # as a clone is: the user's own, writable files
    env = user_environment(home)

    left_out: list[str] = []
    engine_setup = _engine_or_reason(request, home, notary, env) if any(b.kind == "engine" for b in blocks) else None
    if isinstance(engine_setup, str):
        left_out.append(engine_setup)

    script = ["set -e", f"cd {shlex.quote(str(clone))}"]
    for block in blocks:
        if block.kind == "not run":
            continue
        if block.kind == "engine" and not isinstance(engine_setup, _RunningNotary):
            continue
        for line in block.text.splitlines():
            if not line.strip():
                continue
            run, why = line_as_run(line)
            if why:
                left_out.append(why)
                continue
            script += [f"printf '%s\\n' {shlex.quote('$ ' + line.strip())}", run]
    try:
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            stdin=subprocess.DEVNULL,
        )
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"a README line failed (exit {done.returncode}):\n{out[-8000:]}"
        if isinstance(engine_setup, _RunningNotary):
            engine_setup.assert_serves_the_renewal()
    finally:
        if isinstance(engine_setup, _RunningNotary):
            engine_setup.stop()

    # What the reader sees at each step: make demo says how to run certkit, the installs work, the
    # renewal says first what to run, the check passes, the crontab line names certkit by its path.
    assert "nothing is due" in out or "files changed" in out
    assert f"{clone}/.venv/bin/certkit" in done.stdout and ". .venv/bin/activate" in done.stdout
    assert done.stdout.count("certkit, version ") == 2  # pipx's, then the venv's
    assert re.search(r"^next: ", out, re.M), out[-4000:]
    assert re.search(r"^\S+ \S+ \* \* \* /\S+/certkit renew --quiet --deploy ", done.stdout, re.M), out[-4000:]
    assert (home / ".docker" / "tls" / "notary-server:4443" / "ca.crt").is_file()  # certkit trust
    if left_out:
        reason = "README lines left out: " + "; ".join(left_out)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: the README must run whole)")
        pytest.skip(reason)


def _anchors(document: Path) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings: lower case, punctuation dropped, spaces as '-'."""
    headings = re.findall(r"^#+ (.*)$", FENCED.sub("", document.read_text(encoding="utf-8")), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


FENCED = re.compile(r"^```.*?^```$", re.S | re.M)


def test_every_link_between_the_documents_resolves() -> None:
    """The README is one line and a link per command: each relative link (and its #anchor) must land."""
    documents = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    checked = 0
    for document in documents:
        for link in re.findall(r"\]\(([^)\s]+)\)", FENCED.sub("", document.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", link):
                continue  # https:, mailto:
            path, _, anchor = link.partition("#")
            target = (document.parent / path).resolve() if path else document
            checked += 1
            if not target.exists():
                broken.append(f"{document.relative_to(ROOT)}: {link} (no such file)")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{document.relative_to(ROOT)}: {link} (no such heading)")
    assert checked >= 30 and not broken, broken


# --- Notary running in a Docker engine, as the user started it -----------------------------------


class _RunningNotary:
    """Notary's compose project started by the user from the expired checkout, in the session's engine."""

    def __init__(self, request: pytest.FixtureRequest, home: Path, notary: Path, env: dict[str, str]) -> None:
        from tests.compose_helpers import docker_compose
        from tests.docker_engine import ComposeProject
        from tests.test_deploy_engine import MEMORY_YML, docker_compose_plugin

        self.engine = request.getfixturevalue("engine")
        request.getfixturevalue("golang_image")  # the FROM image of Notary's Dockerfiles
        self.notary = notary
        self.port = free_port()
        self.mine = home / "memory.yml"  # the user's own compose file, outside the checkout
        self.mine.write_text(MEMORY_YML.format(port=self.port))
        plugins = home / ".docker" / "cli-plugins"  # where Docker's docker-compose-plugin would put it
        plugins.mkdir(parents=True)
        shutil.copy(docker_compose_plugin(), plugins / "docker-compose")
        (plugins / "docker-compose").chmod(0o755)
        env["DOCKER_HOST"] = self.engine.env["DOCKER_HOST"]
        self.project = ComposeProject(self.engine, docker_compose(), notary, PROJECT)
        try:
            self.project.run("-f", "docker-compose.yml", "-f", str(self.mine), "up", "-d", "--build")
        except BaseException:
            self.stop()  # whatever it started
            raise

    def assert_serves_the_renewal(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        from tests.docker_engine import served_certificate

        renewed = x509.load_pem_x509_certificates((self.notary / "fixtures" / "notary-server.crt").read_bytes())[0]
        served = served_certificate(self.port, timeout=120, alive=lambda: self.project.container_problem("server"))
        assert served == renewed.public_bytes(Encoding.DER), "after the README, the server does not serve the renewal"

    def stop(self) -> None:
        self.project.run("-f", "docker-compose.yml", "-f", str(self.mine), "down", "-v", "-t", "1", check=False)


def _engine_or_reason(
    request: pytest.FixtureRequest, home: Path, notary: Path, env: dict[str, str]
) -> _RunningNotary | str:
    """The running project, or why this machine cannot give one (the engine fixture fails under CI)."""
    try:
        return _RunningNotary(request, home, notary, env)
    except pytest.skip.Exception as exc:
        return f"the engine block (needs a Docker engine running Notary's project: {exc.msg})"
