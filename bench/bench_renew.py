"""Benchmark: `certkit renew` against the openssl command-line baseline, alternating runs.

Three timings per round, on fresh copies of a Notary checkout (../shared/notary-reference,
or a `certkit init` layout with its CA store removed when that is absent):

  baseline  bench/baseline_openssl.sh: the whole set with the openssl CLI, step by step
  fresh     `certkit renew --force` on a fresh checkout: new CA and database keys
            (no CA store yet; the database keys are removed, as cfssl makes new ones),
            service leaf keys reused as the script does
  routine   `certkit renew --within 800d --no-compose` on a checkout certkit renewed before:
            CA kept, leaf keys reused (what cron does every time something is due)
  routine, encrypted  the same with the CA keys encrypted at rest (`certkit ca-keys convert --to encrypted`):
            the intermediate's key is decrypted (PBKDF2, certkit.pki.pkcs8.ITERATIONS) to sign; target <= 1.2x
            the plaintext routine run, measured side by side in the same rounds
  routine+compose  the same with the compose step renew runs by default in a folder with
            compose files (parsing them, rendering the override); the baseline does no such work
  no-op     `certkit renew` on a renewed checkout with nothing due (the cron case), side by side
            with `certkit --version` (the floor of starting the command at all)
  keygen    the two RSA-4096 CA keys alone, generated in parallel (the floor of a fresh set)

certkit's bytecode is compiled first, as pip does when it installs the wheel: in an editable
install under PYTHONDONTWRITEBYTECODE=1 every run would otherwise compile all of certkit's
modules from source (~0.1 s a run, growing with the code), which no installed certkit pays.

Prints medians and the ratios baseline/fresh and baseline/routine.
Usage: python bench/bench_renew.py [--rounds N] [--only routine,routine-encrypted]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = Path(os.environ.get("CERTKIT_NOTARY_REFERENCE") or HERE.parent.parent / "shared" / "notary-reference")
CERTKIT = str(Path(sys.executable).parent / "certkit")
DB_KEYS = (
    "fixtures/database/notary-server-key.pem",
    "fixtures/database/notary-signer-key.pem",
    "notarysql/postgresql-initdb.d/server.key",
)


def source_checkout(work: Path) -> Path:
    if (REFERENCE / "fixtures" / "root-ca.crt").exists():
        return REFERENCE
    made = work / "source"
    subprocess.run([CERTKIT, "init", str(made)], check=True, capture_output=True)
    shutil.rmtree(made / ".certkit")
    return made


def fresh_copy(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


CPU: dict[str, list[float]] = {}  # user+system seconds of the routine pair's runs: load moves them far less


def timed(argv: list[str], cpu: str | None = None) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        CPU.setdefault(cpu, []).append(used)
    return elapsed


# The fresh set's floor: the two RSA-4096 CA keys in parallel, one per process (certkit.pki.keys makes
# them in threads: cryptography releases the GIL in the prime search, so the floor is the same).
KEYGEN = """
from concurrent.futures import ProcessPoolExecutor
from cryptography.hazmat.primitives.asymmetric import rsa
def make(_):
    return rsa.generate_private_key(public_exponent=65537, key_size=4096).key_size
with ProcessPoolExecutor(2) as pool:
    list(pool.map(make, range(2)))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated timings to run (default: all)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    if shutil.which("openssl") is None:
        sys.exit("openssl is needed for the baseline")
    times: dict[str, list[float]] = {
        "baseline": [],
        "fresh": [],
        "routine": [],
        "routine-encrypted": [],
        "routine+compose": [],
        "no-op": [],
        "version": [],
        "keygen": [],
    }
    keygen = [sys.executable, "-c", KEYGEN]
    import certkit

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(certkit.__file__).parent)], check=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = source_checkout(work)
        renewed = fresh_copy(source, work / "renewed")
        # --force: a source without CA keys (no reference: an init layout without its store) gets them too.
        subprocess.run([CERTKIT, "renew", "--force", str(renewed)], check=True, capture_output=True)
        passphrase = work / "ca-pass"
        passphrase.write_text("bench passphrase\n")
        passphrase.chmod(0o600)
        encrypted = fresh_copy(renewed, work / "encrypted")
        convert = ["ca-keys", "convert", "--to", "encrypted", "--new-passphrase-file", str(passphrase)]
        converted = subprocess.run([CERTKIT, *convert, str(encrypted)], capture_output=True, text=True)
        if converted.returncode != 0:
            sys.exit(f"cannot encrypt the CA store: {converted.stderr}")
        routine_args = ["renew", "--within", "800d", "--no-compose"]

        def want(name: str) -> bool:
            return not only or name in only

        for round_ in range(args.rounds):
            if want("baseline"):
                base = fresh_copy(source, work / "base")
                times["baseline"].append(timed(["bash", str(HERE / "baseline_openssl.sh"), str(base)]))
            if want("fresh"):
                fresh = fresh_copy(source, work / "fresh")
                for key in DB_KEYS:
                    (fresh / key).unlink(missing_ok=True)
                times["fresh"].append(timed([CERTKIT, "renew", "--force", "--no-compose", str(fresh)]))
            # Plaintext and encrypted CA keys side by side, in alternating order between rounds.
            pair = ["routine", "routine-encrypted"] if round_ % 2 == 0 else ["routine-encrypted", "routine"]
            for name in pair:
                if not want(name):
                    continue
                if name == "routine":
                    routine = fresh_copy(renewed, work / "routine")
                    times["routine"].append(timed([CERTKIT, *routine_args, str(routine)], cpu="routine"))
                else:
                    routine = fresh_copy(encrypted, work / "routine")
                    secret = ["--ca-passphrase-file", str(passphrase)]
                    times["routine-encrypted"].append(
                        timed([CERTKIT, *routine_args, *secret, str(routine)], cpu="routine-encrypted")
                    )
            if want("routine+compose"):
                routine = fresh_copy(renewed, work / "routine")
                times["routine+compose"].append(timed([CERTKIT, "renew", "--within", "800d", str(routine)]))
            if want("no-op"):
                times["no-op"].append(timed([CERTKIT, "renew", str(renewed)]))
                times["version"].append(timed([CERTKIT, "--version"]))
            if want("keygen"):
                times["keygen"].append(timed(keygen))
            print(
                f"round {round_ + 1}/{args.rounds}: " + "  ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items() if v),
                flush=True,
            )
    med = {k: statistics.median(v) if v else float("nan") for k, v in times.items()}
    print()
    print(
        f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores; {openssl}")
    lines = {
        "baseline": f"median baseline (openssl CLI, whole set)      {med['baseline']:.3f} s",
        "fresh": f"median certkit renew --force (fresh set)      {med['fresh']:.3f} s   "
        f"ratio {med['baseline'] / med['fresh']:.1f}x  (target >= 4x)",
        "routine": f"median certkit renew --within 800d (routine)  {med['routine']:.3f} s   "
        f"ratio {med['baseline'] / med['routine']:.1f}x  (target >= 15x)",
        "routine-encrypted": f"median routine, CA keys encrypted             {med['routine-encrypted']:.3f} s   "
        f"{med['routine-encrypted'] / med['routine']:.2f}x the plaintext routine run (target <= 1.2x; "
        "PBKDF2-HMAC-SHA256, certkit.pki.pkcs8.ITERATIONS)",
        "routine+compose": f"median routine + compose step                 {med['routine+compose']:.3f} s   "
        f"ratio {med['baseline'] / med['routine+compose']:.1f}x  (target >= 30x)",
        "no-op": f"median no-op renew (nothing due)              {med['no-op']:.3f} s   "
        f"{med['no-op'] / med['version']:.2f}x certkit --version ({med['version']:.3f} s; target <= 1.5x)",
        "keygen": f"median two RSA-4096 keys in parallel (floor)  {med['keygen']:.3f} s   "
        f"fresh set is {med['fresh'] / med['keygen']:.2f}x the key-generation floor",
    }
    for name, line in lines.items():
        if times[name]:  # --only leaves the others out
            print(line)
    if times["routine"] and len(times["routine"]) == len(times["routine-encrypted"]):
        # Each round ran the two back to back: the ratio within a round cancels most of the load's drift.
        paired = statistics.median(e / p for e, p in zip(times["routine-encrypted"], times["routine"], strict=True))
        print(f"median of the per-round ratios encrypted/plaintext routine: {paired:.2f}x (target <= 1.2x)")
        cpu = {k: statistics.median(v) for k, v in CPU.items()}
        print(
            f"median CPU time (user+system): routine {cpu['routine']:.3f} s, "
            f"encrypted {cpu['routine-encrypted']:.3f} s, {cpu['routine-encrypted'] / cpu['routine']:.2f}x "
            "(the KDF's thread runs beside the main one)"
        )


if __name__ == "__main__":
    main()
