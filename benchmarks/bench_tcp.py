"""TCP analysis benchmark: cnfpost decode + full TCP analysis vs tshark's TCP analysis vs
dpkt decoding alone, on the same capture, in the same run.

Each tool runs as its own process (start-up included, as a user would run it), rounds are
interleaved, and the median of the rounds is reported with its ratio to cnfpost. Peak
memory is the child's max RSS. Not a test: timings are never asserted.

    python benchmarks/make_capture.py benchmarks/data/bench_1m.pcap --packets 1000000
    python benchmarks/bench_tcp.py benchmarks/data/bench_1m.pcap --rounds 3

Targets (issue 3): cnfpost >= 40x faster than tshark with TCP analysis, >= 25x faster than
dpkt decoding alone.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from common import (TSHARK_TCP_FIELDS, capture_arguments, existing, interleaved, selected,
                    tshark_field_args)

HERE = Path(__file__).resolve().parent
CNFPOST = "cnfpost: decode + TCP analysis (flows, flags, flow table)"
DPKT = "dpkt 1.9: decode fields into NumPy (no analysis)"
TSHARK = "tshark: TCP analysis (-T fields, stream + analysis flags)"



def commands(capture: Path) -> dict[str, list[str]]:
    py = sys.executable
    out = {
        CNFPOST: [py, "-c", "import sys\n"
                            "from cnfpost.capture import read_capture\n"
                            "from cnfpost.tcp import analyze_tcp\n"
                            "analyze_tcp(read_capture(sys.argv[1]))", str(capture)],
        DPKT: [py, str(HERE / "dpkt_fields.py"), str(capture)],
    }
    if shutil.which("tshark"):
        fields = tshark_field_args(TSHARK_TCP_FIELDS)
        out[TSHARK] = ["tshark", "-n", "-r", str(capture), "-o",
                       "tcp.analyze_sequence_numbers:TRUE", "-T", "fields", *fields]
    return out


def in_process(capture: Path) -> dict:
    """Inside a started process: decode, TCP analysis, and its parts (best of 3)."""
    code = (
        "import json, sys, time\n"
        "import numpy as np\n"
        "from cnfpost.capture import read_capture\n"
        "from cnfpost import tcp as T\n"
        "def best(f):\n"
        "    b = float('inf')\n"
        "    for _ in range(3):\n"
        "        t = time.perf_counter(); r = f(); b = min(b, time.perf_counter() - t)\n"
        "    return b, r\n"
        "dec, table = best(lambda: read_capture(sys.argv[1]))\n"
        "ana, a = best(lambda: T.analyze_tcp(table))\n"
        "sm, _ = best(lambda: T._run_state_machine(table, 'compiled'))\n"
        "cols = sum(v.nbytes for v in a.columns.values())\n"
        "print(json.dumps({'packets': len(table),\n"
        "  'tcp_packets': int(T._tcp_rows(table).sum()), 'streams': a.n_streams,\n"
        "  'decode_s': dec, 'analysis_s': ana,\n"
        "  'state_machine_s': sm, 'flow_table_s': ana - sm,\n"
        "  'analysis_bytes_per_packet': cols / max(len(table), 1)}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(capture)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = capture_arguments(__doc__)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    existing(args.capture)

    cmds = selected(commands(args.capture), args.skip)
    medians, rss = interleaved(cmds, args.rounds)
    inner = in_process(args.capture)
    packets = inner["packets"]
    base = medians[CNFPOST]
    result = {"capture": str(args.capture), "packets": packets, "rounds": args.rounds,
              "tools": {}, "in_process": inner}
    print(f"\n{packets:,} packets, {args.capture.stat().st_size / 1e6:.0f} MB, "
          f"median of {args.rounds} interleaved rounds (whole process)\n")
    print(f"{'tool':64} {'wall s':>7} {'pkt/s':>10} {'B/pkt':>6} {'vs cnfpost':>10}")
    for name in cmds:
        med = medians[name]
        result["tools"][name] = {"median_s": med, "peak_rss_bytes": rss[name]}
        print(f"{name:64} {med:7.2f} {packets / med:10,.0f} {rss[name] / packets:6.0f} "
              f"{med / base:9.1f}x")
    print("\nInside a started process (best of 3):")
    for k, v in inner.items():
        print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
