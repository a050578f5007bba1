"""Benchmark: `certkit check-expiry` against a shell loop of `openssl x509 -checkend`.

Both judge the same 10,000 certificate files in a folder tree (100 folders x 100 files),
in alternating runs (openssl, certkit, openssl, certkit, ...), so machine noise hits both
alike; the medians and their ratio are printed (target >= 300x).  Peak RSS of certkit is
measured per run (os.wait4's rusage of that child) on 1,000, 10,000 and 100,000 files in
every streaming format: the check streams, so the largest set may take at most 1.2x the
memory of the smallest.

Usage: python bench/bench_expiry.py [--files 10000] [--huge 100000] [--rounds 3] [--results bench/RESULTS.md]
The certificate sets are cached in $TMPDIR/certkit-bench-expiry (one EC P-256 key signs
them all: generating 10,000 keys would only measure key generation).  A set is laid out in
parts of at most 10,000 files, each named as its own argument: one folder argument's walk
stops at 100,000 entries (certkit.bounded.MAX_WALK_ENTRIES), and 100,000 files in 1,000
folders are more entries than that.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CACHE = Path(tempfile.gettempdir()) / "certkit-bench-expiry"
PER_FOLDER = 100
PER_PART = 10_000  # files per folder argument: well inside one walk's bound of 100,000 entries
SPEED_TARGET = 300.0  # the openssl loop's time over certkit's, at --files
MEMORY_TARGET = 1.2  # peak RSS at --huge over peak RSS at --small, in every streaming format
# Every format check-expiry streams (or, nagios, sums up as it goes); html draws one page from
# every finding (certkit.render.expiry_html), so it is measured but has no flat-memory target.
STREAMED = ("table", "json", "prometheus", "nagios")
CHECKEND = 30 * 86400  # the same window as `check-expiry --warn 30d`

# The baseline a person writes today: one openssl process per file.
OPENSSL_LOOP = r"""
find "$1" -type f -name '*.crt' -print0 | while IFS= read -r -d '' f; do
  if ! openssl x509 -checkend "$2" -noout -in "$f" >/dev/null 2>&1; then
    echo "expiring or expired: $f"
  fi
done
"""
# The same loop over a list of files (a sample of the tree), for --baseline-files.
OPENSSL_LIST_LOOP = r"""
while IFS= read -r f; do
  if ! openssl x509 -checkend "$2" -noout -in "$f" >/dev/null 2>&1; then
    echo "expiring or expired: $f"
  fi
done < "$1"
"""


def make_set(count: int) -> list[Path]:
    """``count`` leaf certificates in a tree, expiring from 60 days ago to 2 years ahead: the
    folders of its parts (PER_PART files each, in folders of PER_FOLDER)."""
    root = CACHE / f"parts-n{count}"
    parts = [root / f"p{n:02d}" for n in range(-(-count // PER_PART))]
    if (root / ".complete").exists():
        return parts
    if root.exists():
        shutil.rmtree(root)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    for i in range(count):
        folder = parts[i // PER_PART] / f"d{i % PER_PART // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        name = f"svc-{i:05d}.example"
        not_after = now + timedelta(days=(i * 7919) % 790 - 60)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_after - timedelta(days=825))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / ".complete").write_text("ok\n")
    return parts


def timed(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, exit code and peak RSS (KiB) of one child process, output discarded."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as null:
        process = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE)
        assert process.stderr is not None
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        errors = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1, 2):
        raise SystemExit(f"{argv[:3]} failed with {process.returncode}: {errors[-2000:]}")
    return elapsed, process.returncode, usage.ru_maxrss


def certkit_argv(folders: list[Path], fmt: str = "table") -> list[str]:
    return [
        sys.executable,
        "-m",
        "certkit",
        "check-expiry",
        "--warn",
        "30d",
        "--crit",
        "7d",
        "--format",
        fmt,
        *map(str, folders),
    ]


def openssl_argv(folders: list[Path], sample: Path | None = None) -> list[str]:
    if sample is not None:
        return ["bash", "-c", OPENSSL_LIST_LOOP, "openssl-loop", str(sample), str(CHECKEND)]
    return ["bash", "-c", OPENSSL_LOOP, "openssl-loop", str(folders[0].parent), str(CHECKEND)]


def sample_list(folders: list[Path], total: int, wanted: int) -> tuple[Path, int]:
    """Every (total // wanted)-th file of the tree, in a list file the loop reads."""
    step = max(1, total // wanted)
    files = sorted(f for folder in folders for f in folder.rglob("*.crt"))[::step]
    listing = CACHE / f"sample-{total}-{len(files)}.txt"
    listing.write_text("".join(f"{f}\n" for f in files))
    return listing, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000, help="the smallest set of the memory comparison")
    parser.add_argument(
        "--huge", type=int, default=100_000, help="the largest set of the memory comparison (0: leave it out)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline-files",
        type=int,
        default=1_000,
        help="run the openssl loop over this many files of the tree (an even sample) and scale "
        "its time to all files: one openssl process costs ~35 ms here, so the full loop "
        "takes minutes per round. 0: the whole tree (use for recorded figures)",
    )
    parser.add_argument("--results", type=Path, default=None, help="update the check-expiry section of this file")
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        raise SystemExit("openssl not found: install it (make deps) for the baseline")

    started = time.perf_counter()
    sizes = sorted({args.small, args.files, *([args.huge] if args.huge else [])})
    sets = {count: make_set(count) for count in sizes}
    big = sets[args.files]
    print(f"certificate sets ready in {time.perf_counter() - started:.1f} s ({CACHE})")

    sample, sampled = (None, args.files)
    if 0 < args.baseline_files < args.files:
        sample, sampled = sample_list(big, args.files, args.baseline_files)
        print(
            f"openssl loop over an even sample of {sampled} of the {args.files} files, time scaled by "
            f"{args.files / sampled:g} (per-process cost is constant; --baseline-files 0 runs them all)"
        )
    scale = args.files / sampled
    certkit_times: list[float] = []
    openssl_times: list[float] = []
    for round_no in range(1, args.rounds + 1):
        measured, o_code, _ = timed(openssl_argv(big, sample))
        o_time = measured * scale
        c_time, c_code, c_rss = timed(certkit_argv(big))
        openssl_times.append(o_time)
        certkit_times.append(c_time)
        print(
            f"round {round_no}: openssl loop {o_time:7.2f} s (measured {measured:.2f} s on {sampled} files) | "
            f"certkit {c_time:6.2f} s on {args.files} (exit {c_code}, peak RSS {c_rss / 1024:.1f} MiB) | "
            f"ratio {o_time / c_time:5.1f}x",
            flush=True,
        )

    rss: dict[tuple[str, int], float] = {}
    for fmt in (*STREAMED, "html"):
        for count in sizes:
            if fmt == "html" and count > args.files:
                continue  # a page of 100,000 rows is nobody's report
            rss[(fmt, count)] = max(timed(certkit_argv(sets[count], fmt))[2] for _ in range(2)) / 1024
        print(f"peak RSS --format {fmt:<10}: " + ", ".join(_rss_cells(rss, fmt, sizes)), flush=True)

    o_med, c_med = statistics.median(openssl_times), statistics.median(certkit_times)
    ratio = o_med / c_med
    growth = {fmt: rss[(fmt, sizes[-1])] / rss[(fmt, sizes[0])] for fmt in STREAMED}
    print()
    print(f"files: {args.files}, rounds: {args.rounds} (alternating)")
    print(f"median openssl x509 -checkend loop: {o_med:.2f} s")
    print(f"median certkit check-expiry:        {c_med:.2f} s")
    print(f"median ratio: {ratio:.1f}x faster (target >= {SPEED_TARGET:g}x) -> {_verdict(ratio >= SPEED_TARGET)}")
    for fmt in STREAMED:
        print(
            f"peak RSS --format {fmt:<10}: {sizes[-1]} files / {sizes[0]} files = {growth[fmt]:.2f}x "
            f"(target <= {MEMORY_TARGET:g}x) -> {_verdict(growth[fmt] <= MEMORY_TARGET)}"
        )

    if args.results is not None:
        section = _section(args, sampled, sizes, o_med, c_med, ratio, openssl_times, certkit_times, rss, growth)
        _write_section(args.results, section)
        print(f"\nwrote the check-expiry section of {args.results}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _rss_cells(rss: dict[tuple[str, int], float], fmt: str, sizes: list[int]) -> list[str]:
    return [f"{rss[(fmt, n)]:.1f} MiB at {n}" if (fmt, n) in rss else f"- at {n}" for n in sizes]


def _section(
    args: argparse.Namespace,
    sampled: int,
    sizes: list[int],
    o_med: float,
    c_med: float,
    ratio: float,
    o_all: list[float],
    c_all: list[float],
    rss: dict[tuple[str, int], float],
    growth: dict[str, float],
) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "## check-expiry",
        "",
        f"`make bench-expiry` ({datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores {cpu}, "
        f"Python {platform.python_version()}, {_openssl_version()}; machine shared with other jobs).",
        f"{args.files} PEM certificates in {args.files // PER_FOLDER} folders; {args.rounds} alternating rounds; "
        + (
            "the openssl loop ran over all of them."
            if sampled == args.files
            else f"the openssl loop ran over an even sample of {sampled} files per round, "
            f"its time scaled to {args.files}."
        ),
        "",
        "| | median | runs |",
        "| --- | --- | --- |",
        f"| shell loop of `openssl x509 -checkend` | {o_med:.2f} s | {', '.join(f'{t:.2f}' for t in o_all)} |",
        f"| `certkit check-expiry` (table to /dev/null) | {c_med:.2f} s | {', '.join(f'{t:.2f}' for t in c_all)} |",
        f"| **ratio** | **{ratio:.1f}x faster** (target >= {SPEED_TARGET:g}x) | |",
        "",
        "| peak RSS of certkit | " + " | ".join(f"{n:,} files" for n in sizes) + f" | {sizes[-1]:,} / {sizes[0]:,} |",
        "| --- | " + " | ".join("---" for _ in sizes) + " | --- |",
    ]
    for fmt in (*STREAMED, "html"):
        cells = [f"{rss[(fmt, n)]:.1f} MiB" if (fmt, n) in rss else "-" for n in sizes]
        ratio_cell = f"**{growth[fmt]:.2f}x** (target <= {MEMORY_TARGET:g}x)" if fmt in growth else "not a target"
        lines.append(f"| `--format {fmt}` | " + " | ".join(cells) + f" | {ratio_cell} |")
    lines += [
        "",
        "Files are judged one at a time and each finding goes to the report as it is made (a generator from the "
        "walk to the output), so memory stays flat as the tree grows. `--format html` draws one page from every "
        "finding, so it grows with the tree by design and is not run on the largest set.",
        "One `openssl` process costs ~35-40 ms on this machine, so the full loop takes ~6-7 min per round at "
        "10,000 files; `make bench-expiry` therefore runs the loop over an even 1,000-file sample of the tree per "
        "round and scales its time to all files; `--baseline-files 0` runs them all.",
        "",
    ]
    return "\n".join(lines) + "\n"  # a blank line before the next section


def _write_section(path: Path, section: str) -> None:
    """Replace (or append) only the "## check-expiry" section; other sections are left as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    pattern = re.compile(r"^## check-expiry\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def _openssl_version() -> str:
    try:
        return (
            subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True)
            .stdout.split(" (")[0]
            .strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return "openssl ?"


if __name__ == "__main__":
    main()
