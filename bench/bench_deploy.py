"""Benchmark: the deploy window of `certkit renew --deploy` against `docker compose down && up -d`, and
the scheduled job's no-op against `certkit --version`.

A real engine (Debian's dockerd, started here as the tests start it: tests/docker_engine.py) runs
Notary's compose project built from a copy of the reference checkout, with the user's memory.yml
(the database swapped for Notary's memory-storage configs) and certkit's override (a first
`certkit renew --deploy` wrote and applied it).  Alternating rounds, each after
`certkit renew --force --no-compose` (a renewal: new server and signer certificates on disk):

  deploy    certkit's deploy step (certkit.deploy.engine_deploy.run_deploy, in this process, with the
            docker CLI and compose plugin a cron job uses): `up -d --force-recreate --no-deps
            --no-build server signer`, then its own verification
  down+up   the same compose files by hand: `docker compose down`, then `docker compose up -d`

The window: from the start of the recreate until, polled every 50 ms from outside, the server's
published port serves the renewed certificate and `notary list` answers (the notary client, trusting
the root, reaches the server; with memory storage a recreated server has no repository any more, so
"does not have trust data" counts as an answer for both).  certkit's own verification runs meanwhile
and is part of its time only in that it shares the machine.

The no-op: `certkit renew --quiet --deploy --docker-host ...` on the deployed checkout (nothing due,
nothing owed: answered from the record, the engine not asked) against `certkit --version`,
alternating, as bench/bench_renew.py does.

Usage (root, docker.io, busybox-static, notary installed):
    python bench/bench_deploy.py [--rounds 7] [--noop-rounds 21] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

from certkit.deploy.served import fetch_leaf  # noqa: E402
from tests.compose_helpers import docker_compose  # noqa: E402
from tests.docker_engine import ComposeProject, docker_engine, import_golang_image  # noqa: E402
from tests.notary_harness import free_port, publish_and_list, run_client  # noqa: E402
from tests.test_deploy_engine import MEMORY_YML, clone, cron_home, first_certificate  # noqa: E402

CERTKIT = str(Path(sys.executable).with_name("certkit"))
POLL = 0.05


def reference() -> Path:
    override = os.environ.get("CERTKIT_NOTARY_REFERENCE")
    return Path(override) if override else ROOT.parent / "shared" / "notary-reference"


class _Remote:
    def __init__(self, port: int) -> None:
        self.server_url = f"https://localhost:{port}"


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr}")
    return result


def window(
    start_recreate: Callable[[], None], port: int, expected: bytes, client: Path, root_ca: Path
) -> tuple[float, float]:
    """Seconds from calling ``start_recreate`` (in a thread) until the renewed leaf is served and
    `notary list` answers (the window), and until the leaf alone was first served."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            start_recreate()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=target)
    start = time.monotonic()
    thread.start()
    done: float | None = None
    first_served: float | None = None
    deadline = start + 300
    while done is None and time.monotonic() < deadline:
        served = fetch_leaf("127.0.0.1", port, timeout=0.5)  # short: a blocked attempt must not hide the moment
        if served.leaf == expected:
            first_served = first_served or time.monotonic()
            listing = run_client(client, _Remote(port), root_ca, "list", "example.com/demo", timeout=30)
            said = listing.stdout + listing.stderr
            if listing.returncode == 0 or "does not have trust data" in said:
                done = time.monotonic()
                break
        time.sleep(POLL)
    thread.join(timeout=300)
    if errors:
        raise SystemExit(f"the recreate failed: {errors[0]}")
    if done is None or first_served is None:
        raise SystemExit("the renewed certificate was not served within 300 s")
    return done - start, first_served - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--noop-rounds", type=int, default=21)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "certkit")], check=True)
    load_before = os.getloadavg()
    certkit_windows: list[float] = []
    plain_windows: list[float] = []
    certkit_served: list[float] = []  # when the renewed leaf was first served (before `notary list` answered)
    plain_served: list[float] = []
    noop: list[float] = []
    version: list[float] = []
    with tempfile.TemporaryDirectory(prefix="certkit-bench-deploy-") as temp:
        work = Path(temp)
        with docker_engine(work / "engine") as engine:
            import_golang_image(engine, work)
            checkout, port = work / "notary", free_port()
            clone(reference(), checkout)
            mine = work / "user" / "memory.yml"
            mine.parent.mkdir()
            mine.write_text(MEMORY_YML.format(port=port))
            home = cron_home(work)
            host = f"unix://{engine.socket_path}"
            cron_env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
            with ComposeProject(engine, docker_compose(), checkout, "bench-deploy") as project:
                project.run("-f", "docker-compose.yml", "-f", str(mine), "up", "-d", "--build")
                first = run([CERTKIT, "renew", "--deploy", "--docker-host", host, str(checkout)], cron_env, home)
                if "done and verified" not in first.stdout:
                    raise SystemExit(f"the first renew --deploy did not deploy:\n{first.stdout}{first.stderr}")
                client = work / "client"
                client.mkdir()
                root_ca = checkout / "fixtures" / "root-ca.crt"
                publish_and_list(client, _Remote(port), root_ca)
                files = [str(checkout / "docker-compose.yml"), str(mine), str(checkout / "docker-compose.override.yml")]
                compose = ["/usr/bin/docker", "compose", "-p", project.name, "--project-directory", str(checkout)]
                for path in files:
                    compose += ["-f", path]
                docker_env = {**cron_env, "DOCKER_HOST": host}
                for index in range(args.rounds):
                    for method in ("deploy", "down+up") if index % 2 == 0 else ("down+up", "deploy"):
                        run([CERTKIT, "renew", "--force", "--no-compose", str(checkout)], cron_env, home)
                        expected = first_certificate(checkout / "fixtures" / "notary-server.crt")
                        der = expected.public_bytes(Encoding.DER)
                        if method == "deploy":
                            recreate = _certkit_recreate(checkout, host, docker_env)
                            took, served_at = window(recreate, port, der, client, root_ca)
                            certkit_windows.append(took)
                            certkit_served.append(served_at)
                        else:

                            def plain() -> None:
                                run([*compose, "down"], docker_env, checkout)
                                run([*compose, "up", "-d"], docker_env, checkout)

                            took, served_at = window(plain, port, der, client, root_ca)
                            plain_windows.append(took)
                            plain_served.append(served_at)
                    print(
                        f"round {index + 1}/{args.rounds}: deploy {certkit_windows[-1]:.2f} s "
                        f"(served at {certkit_served[-1]:.2f} s), down+up {plain_windows[-1]:.2f} s "
                        f"(served at {plain_served[-1]:.2f} s)",
                        flush=True,
                    )
                # Deployed and recorded: the cron no-op from here on.
                run([CERTKIT, "renew", "--quiet", "--deploy", "--docker-host", host, str(checkout)], cron_env, home)
                job = [CERTKIT, "renew", "--quiet", "--deploy", "--docker-host", host, str(checkout)]
                for _ in range(args.noop_rounds):
                    noop.append(_timed(job, cron_env, home))
                    version.append(_timed([CERTKIT, "--version"], cron_env, home, silent=False))
                farm = _farm_bench(job, cron_env, home, args.noop_rounds)
                project.run("-f", "docker-compose.yml", "-f", str(mine), "down", "-v", "-t", "1", check=False)
    c, p = statistics.median(certkit_windows), statistics.median(plain_windows)
    n, v = statistics.median(noop), statistics.median(version)
    load = os.getloadavg()
    machine = f"{os.cpu_count()} cores {platform.machine()}, Python {platform.python_version()}"
    loads = f"load {' '.join(f'{x:.2f}' for x in load_before)} before, {' '.join(f'{x:.2f}' for x in load)} after"
    text = "\n".join(
        [
            "## renew --deploy: the deploy window, and the scheduled job's no-op",
            "",
            f"`python bench/bench_deploy.py --rounds {args.rounds} --noop-rounds {args.noop_rounds}` "
            f"({time.strftime('%Y-%m-%d')}, {machine}; {loads}; machine shared with other jobs).",
            "Notary's compose project (server and signer, memory storage, certkit's override) in a dockerd started "
            "for the run; each round renews with `renew --force --no-compose`, then recreates; alternating order.",
            "The window: from the start of the recreate until the published port serves the renewed certificate "
            "and `notary list` answers (polled every 50 ms).",
            "",
            "| | median | runs |",
            "| --- | --- | --- |",
            f"| certkit's deploy (`up -d --force-recreate --no-deps --no-build server signer`, verified) | "
            f"{c:.2f} s | {', '.join(f'{x:.2f}' for x in certkit_windows)} |",
            f"| `docker compose down && docker compose up -d` | {p:.2f} s | "
            f"{', '.join(f'{x:.2f}' for x in plain_windows)} |",
            f"| **ratio** | **{c / p:.2f}x** the plain down+up | |",
            "",
            f"| the cron no-op, `renew --quiet --deploy --docker-host ...` (nothing due, nothing owed) | {n:.3f} s | "
            f"**{n / v:.2f}x** `certkit --version` ({v:.3f} s); target <= 1.5x |",
            "| --- | --- | --- |",
            "",
        ]
    )
    if farm:
        text += (
            "\n`farm-bench --vs` of the same pair (A: the no-op, B: `certkit --version`):\n\n```\n" + farm + "\n```\n"
        )
    print(text)
    if args.results is not None:
        with args.results.open("a") as handle:
            handle.write("\n" + text)


def _certkit_recreate(checkout: Path, host: str, env: dict[str, str]) -> Callable[[], None]:
    """The deploy step as `renew --deploy` runs it, planned now; calling the result recreates and verifies."""
    from certkit.compose.model import Options
    from certkit.deploy.compose_cli import find_compose
    from certkit.deploy.engine_deploy import plan_deploy, run_deploy
    from certkit.engine import connect
    from certkit.profile import load_profile

    changed = [checkout / "fixtures" / name for name in ("notary-server.crt", "notary-signer.crt")]
    engine = connect(host, env, timeout=5)
    plan = plan_deploy(engine, checkout, Options(load_profile(None), environ=env), changed=changed)
    assert sorted(s.service for p in plan.projects for s in p.recreate) == ["server", "signer"], plan
    cli = find_compose(env, engine.host, cwd=checkout)

    def recreate() -> None:
        try:
            run_deploy(engine, plan, cli, checkout)
        finally:
            engine.close()

    return recreate


def _farm_bench(job: list[str], env: dict[str, str], cwd: Path, runs: int) -> str:
    """The same pair through farm-bench (times each whole process from outside, A/B pair by pair), when
    it is installed; its report as it printed it."""
    tool = shutil.which("farm-bench")
    if tool is None:
        return ""

    result = subprocess.run(
        [tool, "-n", str(min(runs, 100)), "--timeout", "600", "--vs", f"{CERTKIT} --version", "--", *job],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return (result.stdout + result.stderr).strip()


def _timed(argv: list[str], env: dict[str, str], cwd: Path, *, silent: bool = True) -> float:
    """Seconds for one run; ``silent``: it must print nothing (the scheduled job with nothing to say)."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or (silent and (result.stdout or result.stderr)):
        raise SystemExit(f"{' '.join(argv)}: exit {result.returncode}, {result.stdout}{result.stderr}")
    return elapsed


if __name__ == "__main__":
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        sys.exit("bench_deploy needs root and Debian's docker.io (it starts its own dockerd)")
    main()
