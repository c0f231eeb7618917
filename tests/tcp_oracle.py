"""Frame-by-frame comparison of cnfpost's TCP analysis with tshark's (tests and notes).

tshark's per-frame fields are stored as TSV by tests/data/tshark/regenerate.sh (or
produced live by :func:`tshark_tsv`). :func:`compare` gives, per analysis flag, the
frames only tshark flags, the frames only cnfpost flags, precision and recall, and the
frames whose tcp.stream differs.
"""
from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnfpost.model import NO_STREAM, TCP_ANALYSIS_FIELDS

TSV_DIR = Path(__file__).parent / "data" / "tshark"
REGENERATE = TSV_DIR / "regenerate.sh"
FLAG_FIELDS = tuple(TCP_ANALYSIS_FIELDS)


def parse_tsv(text: str) -> dict[str, list[str]]:
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    header, body = rows[0], rows[1:]
    return {name: [r[i] if i < len(r) else "" for r in body] for i, name in enumerate(header)}


def load_tsv(name: str) -> dict[str, list[str]]:
    return parse_tsv((TSV_DIR / f"{name}.tsv").read_text())


def tshark_tsv(capture: str | Path) -> dict[str, list[str]]:
    """Run the same tshark command as regenerate.sh on one capture, now."""
    script = REGENERATE.read_text()
    fields = script.split('fields="', 1)[1].split('"', 1)[0].split()
    cmd = ["tshark", "-r", str(capture), "-n", "-T", "fields", "-E", "header=y",
           "-E", "separator=/t", "-E", "occurrence=f",
           "-o", "tcp.analyze_sequence_numbers:TRUE", "-o", "tcp.relative_sequence_numbers:TRUE",
           "-o", "tcp.track_bytes_in_flight:TRUE", "-o", "tcp.fastrt_supersedes_ooo:TRUE",
           "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.reassemble_out_of_order:FALSE"]
    for f in fields:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_tsv(res.stdout)


def _int_column(values: list[str], missing: int) -> np.ndarray:
    return np.array([int(v) if v else missing for v in values], dtype=np.int64)


@dataclass
class FlagAgreement:
    field: str
    tshark: int
    ours: int
    both: int
    only_tshark: list[int] = field(default_factory=list)   # frame numbers
    only_ours: list[int] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return 1.0 if self.ours == 0 else self.both / self.ours

    @property
    def recall(self) -> float:
        return 1.0 if self.tshark == 0 else self.both / self.tshark


@dataclass
class Agreement:
    frames: int
    flags: dict[str, FlagAgreement]
    stream_mismatch: list[int]          # frame numbers
    column_mismatch: dict[str, list[int]]

    def summary(self) -> str:
        lines = [f"frames {self.frames}, tcp.stream mismatches {len(self.stream_mismatch)}"]
        for name, fa in self.flags.items():
            if fa.tshark or fa.ours:
                lines.append(f"  {name}: tshark {fa.tshark} ours {fa.ours} both {fa.both} "
                             f"P {fa.precision:.3f} R {fa.recall:.3f} "
                             f"only_tshark {fa.only_tshark[:10]} only_ours {fa.only_ours[:10]}")
        for name, frames in self.column_mismatch.items():
            if frames:
                lines.append(f"  {name}: {len(frames)} differ, first {frames[:10]}")
        return "\n".join(lines)


def compare(analysis, tsv: dict[str, list[str]]) -> Agreement:
    n = len(tsv["frame.number"])
    assert n == len(analysis), (n, len(analysis))
    frames = np.arange(1, n + 1)
    flags = {}
    for name in FLAG_FIELDS:
        theirs = np.array([v != "" for v in tsv[name]], dtype=bool)
        ours = analysis.has(name)
        flags[name] = FlagAgreement(
            name, int(theirs.sum()), int(ours.sum()), int((theirs & ours).sum()),
            frames[theirs & ~ours].tolist(), frames[ours & ~theirs].tolist())
    stream = _int_column(tsv["tcp.stream"], NO_STREAM)
    mismatch = frames[stream != analysis["tcp_stream"].astype(np.int64)].tolist()
    cols = {}
    is_tcp = stream != NO_STREAM
    # ICMP errors quoting TCP: the decoder keeps the quoted ports and seq, not the quoted
    # ack or window, so only their stream and seq are compared
    quoted = np.zeros(n, dtype=bool)
    quoted[analysis.quoted_rows] = True
    checks = {
        "tcp.seq": analysis["tcp_seq_rel"], "tcp.ack": analysis["tcp_ack_rel"],
        "tcp.window_size": analysis["tcp_win_scaled"],
        "tcp.analysis.duplicate_ack_num": analysis["tcp_dupack_num"],
        "tcp.analysis.duplicate_ack_frame": analysis["tcp_dupack_frame"],
        "tcp.analysis.bytes_in_flight": analysis["tcp_bytes_in_flight"],
        "tcp.analysis.acks_frame": analysis["tcp_acks_frame"],
    }
    for name, ours in checks.items():
        theirs = _int_column(tsv[name], 0)
        skip = quoted if name != "tcp.seq" else np.zeros(n, dtype=bool)
        cols[name] = frames[is_tcp & ~skip & (theirs != ours.astype(np.int64))].tolist()
    # ACK RTT to the microsecond (tshark prints seconds with 9 decimals)
    rtt_t = np.array([round(float(v) * 1e9) if v else -1 for v in tsv["tcp.analysis.ack_rtt"]])
    rtt_o = analysis.ack_rtt_ns()
    cols["tcp.analysis.ack_rtt"] = frames[np.abs(rtt_t - rtt_o) > 1000].tolist()
    # iRTT: tshark prints tcp.analysis.initial_rtt on the frames of a stream once known;
    # compare the first value of each stream with the flow table (frames listed: the first
    # frame of each stream that differs)
    irtt_bad = []
    seen = set()
    for i, v in enumerate(tsv["tcp.analysis.initial_rtt"]):
        if v and stream[i] != NO_STREAM and stream[i] not in seen:
            seen.add(stream[i])
            s = int(stream[i])
            ours = analysis.flows["irtt_ns"][s] if s < analysis.n_streams else -1
            # a clock stepped back gives tshark a negative iRTT; the flow table says
            # unknown (-1) for anything not positive (the flags still use the raw value)
            theirs = round(float(v) * 1e9)
            theirs = theirs if theirs > 0 else -1
            if abs(theirs - ours) > 1000:
                irtt_bad.append(i + 1)
    cols["tcp.analysis.initial_rtt"] = irtt_bad
    return Agreement(n, flags, mismatch, cols)
