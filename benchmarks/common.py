"""What every benchmark script shares: running a tool as its own process and timing it.

Each tool runs start-up included (as a user runs it); rounds are interleaved so that a
drift of the machine hits every tool alike; peak memory is the child's max RSS from
os.wait4. A child's max RSS starts at its parent's RSS (Linux keeps the high-water mark
across exec), so the scripts keep their own process small and load nothing big.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path


def run_once(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of one run of cmd (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss * 1024


def interleaved(cmds: dict[str, list[str]], rounds: int) -> tuple[dict[str, float], dict[str, int]]:
    """Median wall seconds and peak RSS per tool over interleaved rounds."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    peaks: dict[str, int] = {k: 0 for k in cmds}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            elapsed, peak = run_once(cmd)
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)
    return {k: statistics.median(v) for k, v in times.items()}, peaks


def tshark_field_args(fields: list[str]) -> list[str]:
    return [arg for f in fields for arg in ("-e", f)]


# What tshark prints for its TCP analysis: the stream and every analysis flag (what cnfpost
# computes), for the benchmarks that time one against the other.
TSHARK_TCP_FIELDS = ["frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.window_size",
                     "tcp.analysis.flags", "tcp.analysis.retransmission",
                     "tcp.analysis.fast_retransmission", "tcp.analysis.spurious_retransmission",
                     "tcp.analysis.out_of_order", "tcp.analysis.lost_segment",
                     "tcp.analysis.duplicate_ack_num", "tcp.analysis.zero_window",
                     "tcp.analysis.window_full", "tcp.analysis.bytes_in_flight",
                     "tcp.analysis.ack_rtt"]


def capture_arguments(doc: str) -> argparse.ArgumentParser:
    """The options every capture benchmark takes: the capture, rounds, tools to skip."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[],
                        help="skip tools whose name contains this text (e.g. dpkt)")
    return parser


def existing(capture: Path) -> Path:
    if not capture.exists():
        raise SystemExit(f"{capture}: not found; make it with benchmarks/make_capture.py")
    return capture


def selected(cmds: dict[str, list[str]], skip: list[str]) -> dict[str, list[str]]:
    """The tools whose names contain none of the --skip texts."""
    return {k: v for k, v in cmds.items() if not any(s in k for s in skip)}
