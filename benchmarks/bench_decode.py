"""Decode benchmark: cnfpost vs dpkt vs tshark on the same capture, in the same run.

Each tool runs as its own process (start-up included, as a user would run it), rounds are
interleaved, and the median of the rounds is reported with its ratio to cnfpost. Peak
memory is the child's max RSS (os.wait4). Not a test: timings are never asserted.

    python benchmarks/make_capture.py benchmarks/data/bench_1m.pcap
    python benchmarks/bench_decode.py benchmarks/data/bench_1m.pcap --rounds 3
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import (capture_arguments, existing, interleaved, run_once, selected,
                    tshark_field_args)

HERE = Path(__file__).resolve().parent

# The same fields for every tool: what the decoder's table holds for TCP/IP.
TSHARK_FIELDS = ["frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
                 "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
                 "tcp.window_size_value", "tcp.len", "udp.srcport", "udp.dstport"]


def commands(capture: Path) -> dict[str, list[str]]:
    py = sys.executable
    out = {
        "cnfpost (decode into the packet table)": [
            py, "-c", "import sys; from cnfpost.capture import read_capture; "
                      "read_capture(sys.argv[1])", str(capture)],
        "cnfpost info (CLI, whole command)": [py, "-m", "cnfpost.cli", "info", str(capture)],
        "dpkt 1.9 fields into NumPy": [py, str(HERE / "dpkt_fields.py"), str(capture)],
    }
    if shutil.which("tshark"):
        fields = tshark_field_args(TSHARK_FIELDS)
        out["tshark -T fields, TCP analysis off"] = [
            "tshark", "-n", "-r", str(capture), "-o", "tcp.analyze_sequence_numbers:FALSE",
            "-T", "fields", *fields]
        out["tshark -T fields (default, TCP analysis on)"] = [
            "tshark", "-n", "-r", str(capture), "-T", "fields", *fields]
    return out


def in_process(capture: Path) -> dict:
    """cnfpost's decode inside a started process, and the bytes per packet of its arrays.

    Runs in a child: a child's max RSS starts at its parent's RSS at fork (Linux keeps the
    high-water mark across exec), so this parent stays small and loads nothing itself."""
    code = ("import json, sys, time\n"
            "from cnfpost.capture import read_capture\n"
            "best = float('inf')\n"
            "for _ in range(3):\n"
            "    t = time.perf_counter(); table = read_capture(sys.argv[1])\n"
            "    best = min(best, time.perf_counter() - t)\n"
            "arrays = sum(a.nbytes for a in table.columns.values())\n"
            "print(json.dumps({'packets': len(table), 'kernel_s': best,\n"
            "                  'table_bpp': arrays / max(len(table), 1)}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(capture)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = capture_arguments(__doc__)
    args = parser.parse_args()
    existing(args.capture)

    inner = in_process(args.capture)
    packets = inner["packets"]
    baseline = run_once([sys.executable, "-c", "import numpy"])[1]
    cmds = selected(commands(args.capture), args.skip)
    medians, peaks = interleaved(cmds, args.rounds)

    kernel_s, table_bpp = inner["kernel_s"], inner["table_bpp"]
    ref = medians[next(iter(cmds))]
    size = args.capture.stat().st_size
    print(f"capture: {args.capture} ({packets:,} packets, {size / 1e6:.1f} MB); "
          f"median of {args.rounds} interleaved rounds; CPUs: {os.cpu_count()}")
    print(f"{'tool':48} {'wall s':>8} {'packets/s':>12} {'x slower':>9} {'peak B/pkt':>11}")
    for name in cmds:
        med = medians[name]
        per_packet = max(peaks[name] - baseline, 0) / packets if "cnfpost" in name or "dpkt" in name \
            else peaks[name] / packets
        print(f"{name:48} {med:8.3f} {packets / med:12,.0f} {med / ref:9.1f} {per_packet:11.0f}")
    info = next((k for k in cmds if k.startswith("cnfpost info")), None)
    if info is not None:  # the yardstick: the whole info command against the others
        others = [k for k in cmds if not k.startswith("cnfpost")]
        print(f"{info}: " + "; ".join(f"{medians[k] / medians[info]:.1f}x faster than {k}"
                                       for k in others))
    print(f"cnfpost decode kernel inside a started process: {kernel_s:.3f} s "
          f"({packets / kernel_s:,.0f} packets/s); packet table columns: {table_bpp:.0f} bytes/packet")
    print("(peak B/pkt: child max RSS less a bare 'import numpy' interpreter for the Python tools; "
          "whole RSS for tshark)")


if __name__ == "__main__":
    main()
