"""Batch benchmark: runs per second of `cnfpost batch` with -j1 and -j2.

Each measurement is the whole command in its own process (start-up, discovery, stamps,
analysis, index and summary), into a fresh output directory so that every run is
analysed; rounds are interleaved and the median is reported, with the best round (the
least disturbed by other work on the machine). Not a test: timings are never asserted.

    python benchmarks/bench_batch.py                       # generated archive, 200 runs
    python benchmarks/bench_batch.py --runs 400 --rounds 5
    python benchmarks/bench_batch.py --archive sample_data # any archive

The generated archive is tests/batch_archive.py's (the clean lab bundle, timings varied),
with the lab capture in every run by default, so each run is a full analysis: decode,
TCP, correlation, findings, JSON and Markdown reports.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def count_runs(archive: Path, work: Path) -> int:
    from cnfpost.batch import discover

    return sum(1 for r in discover(archive, work) if r.bundle is not None)


def run_once(archive: Path, jobs: int, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "cnfpost.cli", "batch", str(archive), "--out", str(out),
           "-j", str(jobs)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, help="an existing archive (default: generate)")
    parser.add_argument("--runs", type=int, default=200, help="runs in the generated archive")
    parser.add_argument("--capture-every", type=int, default=1,
                        help="every Nth generated run carries the capture (1: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cnfpost-bench-") as tmp:
        tmp = Path(tmp)
        archive = args.archive
        if archive is None:
            from tests.batch_archive import make_archive

            captures = tuple(range(0, args.runs, args.capture_every))
            archive = make_archive(tmp / "archive", runs=args.runs, capture_runs=captures).root
        runs = count_runs(archive, tmp / "count")
        load_before = os.getloadavg()[0]
        times: dict[int, list[float]] = {j: [] for j in args.jobs}
        for _ in range(args.rounds):  # interleaved: drift hits every setting alike
            for jobs in args.jobs:
                times[jobs].append(run_once(archive, jobs, tmp / f"out-j{jobs}"))
        print(f"archive: {archive if args.archive else 'generated'} ({runs} runs); "
              f"median of {args.rounds} rounds; CPUs: {os.cpu_count()}; "
              f"Python {sys.version.split()[0]}; load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after (other work on the machine slows -j2 first)")
        print(f"{'jobs':>4} {'wall s':>8} {'runs/s':>8} {'best runs/s':>12}")
        for jobs in args.jobs:
            med = statistics.median(times[jobs])
            print(f"{jobs:>4} {med:8.2f} {runs / med:8.1f} {runs / min(times[jobs]):12.1f}")


if __name__ == "__main__":
    main()
