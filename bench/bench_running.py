"""Benchmark: `certkit check-expiry` on Notary's checkout with the engine query, beside the plain file check.

A real engine (Debian's dockerd, started here as the tests start it: tests/docker_engine.py) runs
Notary's compose project built from a copy of the reference checkout (renewed, mounted, recreated:
the healthy state a cron check meets).  Alternating rounds of
  `certkit check-expiry -q --no-engine .`   (files and the compose analysis only)
  `certkit check-expiry -q .`               (the same, plus every container's files through the engine)
give medians and their ratio; `python -X importtime` shows which path imports the Docker SDK.

Usage (root, docker.io, busybox-static, notary installed):
    python bench/bench_running.py [--rounds 7] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.compose_helpers import docker_compose  # noqa: E402
from tests.docker_engine import ComposeProject, docker_engine, import_golang_image, served_certificate  # noqa: E402
from tests.notary_harness import free_port  # noqa: E402
from tests.test_docker_engine import USER_COMPOSE_FILE, clone  # noqa: E402

WITH_OVERRIDE = USER_COMPOSE_FILE + ":docker-compose.override.yml"


def reference() -> Path:
    override = os.environ.get("CERTKIT_NOTARY_REFERENCE")
    return Path(override) if override else ROOT.parent / "shared" / "notary-reference"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr}")
    return elapsed


def imported(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[bool, float]:
    """Whether `docker` (the SDK) is imported, and the cumulative import time (s) of all modules."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    names = []
    total = 0
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            names.append(match.group(4))
            if not match.group(3).strip(" ") and len(match.group(3)) == 1:
                total += int(match.group(2))
    return "docker" in names, total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "certkit")], check=True)
    with tempfile.TemporaryDirectory(prefix="certkit-bench-running-") as temp:
        work = Path(temp)
        with docker_engine(work / "engine") as engine:
            import_golang_image(engine, work)
            checkout, port = work / "notary", free_port()
            clone(reference(), checkout, port)
            user = {"COMPOSE_FILE": USER_COMPOSE_FILE}
            with ComposeProject(engine, docker_compose(), checkout, "certkit-bench", user) as project:
                project.run("up", "-d", "--build")
                env = {**os.environ, "DOCKER_HOST": engine.env["DOCKER_HOST"], "COMPOSE_FILE": USER_COMPOSE_FILE}
                out = subprocess.run(
                    [sys.executable, "-m", "certkit", "renew", "."],
                    cwd=checkout,
                    env=env,
                    capture_output=True,
                    text=True,
                ).stdout
                line = next(x.strip() for x in out.splitlines() if "docker compose" in x and " up -d " in x)
                project.run_printed(line)
                served_certificate(port, timeout=60)
                env["COMPOSE_FILE"] = WITH_OVERRIDE
                base = [sys.executable, "-m", "certkit", "check-expiry", "-q"]
                plain, engined = [], []
                for _ in range(args.rounds):
                    plain.append(timed([*base, "--no-engine", "."], checkout, env))
                    engined.append(timed([*base, "."], checkout, env))
                plain_sdk, plain_imports = imported(
                    ["-m", "certkit", "check-expiry", "-q", "--no-engine", "."], checkout, env
                )
                engine_sdk, engine_imports = imported(["-m", "certkit", "check-expiry", "-q", "."], checkout, env)
                containers = len(engine.docker("ps", "-q").stdout.split())
    p, e = statistics.median(plain), statistics.median(engined)
    load = os.getloadavg()
    machine = f"{os.cpu_count()} cores {platform.machine()}, Python {platform.python_version()}; load {load[0]:.1f}"
    runs_p, runs_e = ", ".join(f"{x:.2f}" for x in plain), ", ".join(f"{x:.2f}" for x in engined)
    text = "\n".join(
        [
            "## check-expiry: what runs (engine query) beside the file check",
            "",
            f"`python bench/bench_running.py --rounds {args.rounds}` ({time.strftime('%Y-%m-%d')}, {machine}; "
            "machine shared with other jobs).",
            f"Notary's checkout (a copy of the reference, renewed, its override mounted, {containers} containers "
            "of its compose project recreated and running in a dockerd started for the run); `check-expiry -q`, "
            "exit 0 both ways; alternating rounds.",
            "",
            "| | median | runs |",
            "| --- | --- | --- |",
            f"| `--no-engine` (files + compose analysis) | {p:.2f} s | {runs_p} |",
            f"| engine query (each container's files via the archive API, its published port) | {e:.2f} s | {runs_e} |",
            f"| **ratio** | **{e / p:.2f}x** the file check | |",
            "",
            "`python -X importtime -m certkit check-expiry -q [--no-engine] .`:",
            "",
            "| path | Docker SDK imported | top-level import time |",
            "| --- | --- | --- |",
            f"| `--no-engine` | {'yes' if plain_sdk else 'no'} | {plain_imports:.3f} s |",
            f"| engine query | {'yes' if engine_sdk else 'no'} | {engine_imports:.3f} s |",
            "",
        ]
    )
    print(text)
    if args.results is not None:
        with args.results.open("a") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
