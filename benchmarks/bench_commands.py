"""The two commands users run on a big capture, against dpkt and tshark, in the same run.

`cnfpost info` (decode, TCP analysis counts, the capinfos summary and the conversation
table) and `cnfpost analyze` with the capture alone (decode, full TCP analysis, wire
timeline, facts, findings, the cause, the terminal report) each run as a whole process,
start-up included, interleaved with dpkt decoding the same fields into NumPy and tshark
printing its TCP analysis; the median of the rounds is reported with the ratios.

Memory per packet is the issue's measure: the command's peak RSS less the peak RSS of the
same command on an empty capture, over the packets (so interpreter, NumPy and module
start-up do not count, and what grows with the capture does). tshark's is its whole peak.
Not a test: timings are never asserted.

    python benchmarks/make_capture.py benchmarks/data/bench_1m.pcap --packets 1000000
    python benchmarks/bench_commands.py benchmarks/data/bench_1m.pcap --rounds 3
    python benchmarks/bench_commands.py benchmarks/data/bench_10m.pcap --rounds 1 --skip dpkt
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (TSHARK_TCP_FIELDS, capture_arguments, existing, interleaved, run_once,
                    selected, tshark_field_args)

HERE = Path(__file__).resolve().parent
INFO, ANALYZE = "cnfpost info", "cnfpost analyze (capture alone)"
DPKT = "dpkt 1.9: the same fields into NumPy"
TSHARK = "tshark: TCP analysis fields"


def cnfpost(command: str, capture: Path) -> list[str]:
    # the report goes to a pipe, as in a script; no colour, no pager
    return [sys.executable, "-m", "cnfpost.cli", command, str(capture)]


def commands(capture: Path) -> dict[str, list[str]]:
    out = {INFO: cnfpost("info", capture), ANALYZE: cnfpost("analyze", capture),
           DPKT: [sys.executable, str(HERE / "dpkt_fields.py"), str(capture)]}
    if shutil.which("tshark"):
        out[TSHARK] = ["tshark", "-n", "-r", str(capture), "-o",
                       "tcp.analyze_sequence_numbers:TRUE", "-T", "fields",
                       *tshark_field_args(TSHARK_TCP_FIELDS)]
    return out


def compile_package() -> None:
    """Byte-compile cnfpost as pip does when it installs it, so that no run pays for
    compiling the sources (PYTHONDONTWRITEBYTECODE, set on some machines, would otherwise
    make every run compile every module it imports)."""
    where = subprocess.run([sys.executable, "-c", "import cnfpost, os; "
                            "print(os.path.dirname(cnfpost.__file__))"], check=True,
                           capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", where], check=True)


def packets_in(capture: Path) -> int:
    code = ("import sys; from cnfpost.capture import read_capture; "
            "print(len(read_capture(sys.argv[1])))")
    return int(subprocess.run([sys.executable, "-c", code, str(capture)], check=True,
                              capture_output=True, text=True).stdout)


def empty_peaks(rounds: int) -> dict[str, int]:
    """Peak RSS of each cnfpost command on a capture with no packets (the baseline)."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pcap"
        empty.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        return {name: min(run_once(cnfpost(cmd, empty))[1] for _ in range(max(rounds, 1)))
                for name, cmd in ((INFO, "info"), (ANALYZE, "analyze"))}


def main() -> None:
    parser = capture_arguments(__doc__)
    args = parser.parse_args()
    existing(args.capture)

    compile_package()
    packets = packets_in(args.capture)
    cmds = selected(commands(args.capture), args.skip)
    medians, peaks = interleaved(cmds, args.rounds)
    base = empty_peaks(args.rounds)
    size = args.capture.stat().st_size
    print(f"\n{args.capture}: {packets:,} packets, {size / 1e6:.0f} MB; median of "
          f"{args.rounds} interleaved rounds, whole processes; CPUs: {os.cpu_count()}\n")
    print(f"{'tool':40} {'wall s':>8} {'packets/s':>11} {'peak MB':>8} {'B/packet':>9}")
    for name, med in medians.items():
        per_packet = (peaks[name] - base.get(name, 0)) / packets
        print(f"{name:40} {med:8.2f} {packets / med:11,.0f} {peaks[name] / 1e6:8.0f} "
              f"{per_packet:9.0f}")
    print("\n(B/packet: peak RSS less the same command's on an empty capture for cnfpost; "
          "the whole peak for dpkt and tshark)")
    for name in (INFO, ANALYZE):
        others = [k for k in (DPKT, TSHARK) if k in medians]
        if name in medians and others:
            print(f"{name}: " + "; ".join(f"{medians[k] / medians[name]:.1f}x faster than "
                                           f"{k.split(':')[0]}" for k in others))


if __name__ == "__main__":
    main()
