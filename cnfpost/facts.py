"""The capture's diagnostic facts, computed once and read by the rules and the cause model.

- the **baseline RTT**: the smallest round trip any source measured (TCP handshakes, the
  server's ACK RTTs, the capture's ICMP echoes, ping's minimum, mtr's best to the target):
  what the path costs without queues;
- **repairs** (cnfpost/repairs.py): each retransmitted or late data segment classified as a
  repair after loss (and its direction), a needless copy, or a reordered arrival;
- **stalls** and **path-MTU black holes** (cnfpost/stalls.py);
- **unseen packets**: packets the server sent that never reached the probe, from gaps in
  its IPv4 identification field (:func:`unseen_before`);
- the **load** on the link over time: which other connections moved data when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .memory import release_freed
from .model import BLOCK_ROWS, PacketTable, TcpFlag
from .repairs import KINDS, Repairs, classify_repairs
from .stalls import Blackhole, Stall, find_blackholes, find_stalls
from .tcp import TcpAnalysis

__all__ = ["Facts", "build_facts", "no_facts"]

SYN, ACK = int(TcpFlag.SYN), int(TcpFlag.ACK)


@dataclass(frozen=True)
class Facts:
    baseline_rtt_ms: float | None = None
    baseline_source: str | None = None
    repairs: Repairs | None = None
    stalls: tuple[Stall, ...] = ()
    blackholes: tuple[Blackhole, ...] = ()
    dns_seen: bool = False
    tcp: TcpAnalysis | None = None
    load_bytes_min: float = 100_000.0
    repair_frames: dict = field(default_factory=dict)     # frame -> "up" | "down"
    copy_frames: frozenset = frozenset()
    reorder_frames: frozenset = frozenset()
    unseen: dict = field(default_factory=dict)            # frame -> server packets lost before it
    data_segments: dict = field(default_factory=dict)     # "up"/"down" -> wire segments
    repair_segments: dict = field(default_factory=dict)   # "up"/"down" -> wire segments

    @property
    def reordered(self) -> bool:
        return bool(self.reorder_frames)

    @property
    def total_segments(self) -> int:
        return sum(self.data_segments.values())

    def repair_rate_pct(self, directions: set[str]) -> float | None:
        data = sum(self.data_segments.get(d, 0) for d in directions)
        repaired = sum(self.repair_segments.get(d, 0) for d in directions)
        return 100.0 * repaired / data if data else None

    def stream_repairs(self, stream: int) -> set[str]:
        if self.repairs is None:
            return set()
        sel = (self.repairs.stream == stream) & (self.repairs.kind == KINDS.index("repair"))
        return {"up" if u else "down" for u in self.repairs.up[sel].tolist()}

    def blackhole(self, stream: int) -> Blackhole | None:
        return next((b for b in self.blackholes if b.stream == stream), None)

    def stall_in(self, stream: int, lo_ns: int, hi_ns: int) -> Stall | None:
        """The longest stall of the stream that overlaps [lo_ns, hi_ns)."""
        found = [s for s in self.stalls if s.stream == stream and s.start_ns < hi_ns
                 and s.end_ns > lo_ns]
        return max(found, key=lambda s: s.end_ns - s.start_ns) if found else None

    def unseen_in(self, stream: int, lo_ns: int, hi_ns: int) -> list[int]:
        """Frames of the stream in [lo_ns, hi_ns) that server packets lost before them
        precede (unseen_before)."""
        if not self.unseen or self.tcp is None:
            return []
        rows = self.tcp.stream_rows(stream)
        ts = self.tcp.ts_ns[rows]
        frames = (rows[(ts >= lo_ns) & (ts < hi_ns)] + 1).tolist()
        return [f for f in frames if f in self.unseen]

    def syn_frames(self, stream: int) -> tuple[int, ...]:
        rows = self.tcp.stream_rows(stream)
        return tuple(int(r) + 1 for r in rows[(self.tcp.tcp_flags[rows] & SYN) != 0])

    def rtt_inflation_ms(self, stream: int) -> float | None:
        """How far the stream's own RTT (handshake, else server ACK RTT median) sits above
        the baseline."""
        if self.baseline_rtt_ms is None or self.tcp is None:
            return None
        f = self.tcp.flows
        own = f["irtt_ns"][stream] if f["irtt_ns"][stream] > 0 else \
            f["ack_rtt_server_median_ns"][stream]
        if own <= 0:
            return None
        return float(own) / 1e6 - self.baseline_rtt_ms

    def loading_streams(self, stream: int | None, lo_ns: int, hi_ns: int) -> list[int]:
        """The other connections that moved a bulk of data while [lo_ns, hi_ns) ran."""
        if self.tcp is None:
            return []
        f = self.tcp.flows
        other = np.arange(self.tcp.n_streams) != (-1 if stream is None else stream)
        bulk = (f["bytes_s2c"] + f["bytes_c2s"]) >= self.load_bytes_min
        overlap = (f["start_ns"] < hi_ns) & (f["end_ns"] > lo_ns)
        return [int(s) for s in np.flatnonzero(other & bulk & overlap)]


def wire_segments(tcp: TcpAnalysis, rows: np.ndarray) -> int:
    """How many segments these data frames were on the wire. A capture taken on a host with
    receive offload (GRO/LRO, common on cloud VMs) or of its own sends (TSO/GSO) holds
    super-frames of tens of KB: a frame counts as its payload over the connection's MSS
    in that direction, rounded up (at least 1), so rates per segment mean the same on every
    capture. The MSS a sender may use is the one its peer announced."""
    return sum(int(_segments_each(tcp, rows[start:start + BLOCK_ROWS]).sum())
               for start in range(0, rows.shape[0], BLOCK_ROWS))


def _segments_each(tcp: TcpAnalysis, rows: np.ndarray) -> np.ndarray:
    """Per frame of rows (a block's worth): its wire segments (see wire_segments); 1460
    bytes where the peer's MSS was not captured. Worked in place: one int64 array kept."""
    f = tcp.flows
    stream = tcp.columns["tcp_stream"][rows]
    mss = np.where(tcp.client_dir[rows] == 0, f["mss_client"][stream], f["mss_server"][stream])
    mss[mss <= 0] = 1460
    segs = tcp.payload_len[rows].astype(np.int64)      # rounded up: (payload + mss - 1) // mss
    segs += mss
    segs -= 1
    segs //= mss
    return np.maximum(segs, 1, out=segs)


def data_segments(tcp: TcpAnalysis, client_dir: int) -> int:
    """wire_segments of every data frame one side sent (client_dir 1: the client), found a
    block of the capture at a time."""
    total = 0
    for start in range(0, len(tcp), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        rows = start + np.flatnonzero(tcp.data_in(block) & (tcp.client_dir[block] == client_dir))
        total += wire_segments(tcp, rows)
    return total


# A sender counts its IPv4 ids per connection (Linux: one per segment, a GSO burst by its
# segments) when nearly every step between its consecutive packets is that or a little more
# (a loss), and most are exactly that; random ids (OpenBSD, some load balancers) jump
# anywhere and go back.
SEQUENTIAL_IDS = 0.95    # share of steps forward by at most MAX_ID_GAP more than expected
EXACT_IDS = 0.5          # share of steps exactly as expected
MAX_ID_GAP = 512         # a larger jump is a wrap, a restart or another sender, not loss


def unseen_before(table: PacketTable, tcp: TcpAnalysis) -> dict[int, int]:
    """Frame -> how many packets the server sent just before it that the probe never saw
    (read by frame: the order of the frames is not kept).

    A tail loss or a link gone dark leaves the receiver no hole to see (nothing after the
    lost bytes arrived), but a server whose IPv4 ids go up by one per packet shows the
    missing ones as a jump. Used only where the ids are sequential (SEQUENTIAL_IDS of the
    steps exact); IPv6 and random-id senders (OpenBSD, some load balancers) give nothing."""
    c = table.columns
    nstreams = tcp.n_streams

    def server_ipv4(block: slice) -> np.ndarray:
        return (tcp.client_dir[block] == 0) & (c["ip_version"][block] == 4)

    def steps_by_block():
        # A block of the capture at a time: the temporaries stay a block's worth. Yields,
        # per server IPv4 packet of a stream, its stream, how many ids more than segments
        # it moved on from the stream's packet before, the row, and whether there was a
        # packet before (a step).
        for prev, rows, stream in tcp.stream_steps(server_ipv4):
            extra = _segments_each(tcp, rows)     # by the MSS the client announced
            np.negative(extra, out=extra)
            extra += c["ip_id"][rows] - c["ip_id"][prev]    # uint16: wraps, mod 65536
            yield stream, extra, rows, prev >= 0

    # per stream: how many of its steps go forward a little, and how many exactly
    steps = np.zeros(nstreams, dtype=np.int64)
    forward, exact = steps.copy(), steps.copy()
    for key, extra, _, step in steps_by_block():
        steps += np.bincount(key[step], minlength=nstreams)
        forward += np.bincount(key[step & (extra >= 0) & (extra <= MAX_ID_GAP)],
                               minlength=nstreams)
        exact += np.bincount(key[step & (extra == 0)], minlength=nstreams)
    sequential = (steps >= 4) & (forward >= SEQUENTIAL_IDS * steps) \
        & (exact >= EXACT_IDS * steps)
    if not sequential.any():
        return {}
    out = {}
    for key, extra, rows, step in steps_by_block():
        jump = np.flatnonzero(step & (extra > 0) & (extra <= MAX_ID_GAP) & sequential[key])
        out.update(zip((rows[jump] + 1).tolist(), extra[jump].tolist()))
    return out


def no_facts() -> Facts:
    return Facts()


def baseline_rtt(tcp: TcpAnalysis | None, others: Mapping[str, float | None]
                 ) -> tuple[float | None, str | None]:
    """The smallest RTT any source saw, and which source (see the module docstring)."""
    found = {k: v for k, v in others.items() if v is not None and v > 0}
    if tcp is not None and tcp.n_streams:
        f = tcp.flows
        for name, col in (("tcp_handshake", "irtt_ns"), ("tcp_ack_rtt", "ack_rtt_server_min_ns")):
            vals = f[col][f[col] > 0]
            if vals.size:
                found[name] = float(vals.min()) / 1e6
    if not found:
        return None, None
    source = min(found, key=found.get)
    return found[source], source


def build_facts(table: PacketTable | None, tcp: TcpAnalysis | None, th: Mapping[str, float],
                path_rtts: Mapping[str, float | None], dns_seen: bool = False) -> Facts:
    rtt, source = baseline_rtt(tcp, path_rtts)
    if table is None or tcp is None:
        return Facts(rtt, source)
    # Each stage below reads the whole capture a block at a time; the heap pages its
    # blocks freed are returned before the next (memory.release_freed), else they add up.
    release_freed()
    repairs = classify_repairs(table, tcp)
    release_freed()
    unseen = unseen_before(table, tcp)
    release_freed()
    per_stream_rtt = np.where(tcp.flows["irtt_ns"] > 0, tcp.flows["irtt_ns"], 0)
    stalls = tuple(find_stalls(tcp, per_stream_rtt, th, unseen))
    release_freed()
    holes = tuple(find_blackholes(table, tcp, repairs))
    repair_rows = repairs.select("repair")
    up = tcp.client_dir[repair_rows] == 1
    return Facts(
        baseline_rtt_ms=rtt, baseline_source=source, repairs=repairs, stalls=stalls,
        blackholes=holes, dns_seen=dns_seen, tcp=tcp, load_bytes_min=th["find.download_bytes.min"],
        repair_frames={int(r) + 1: ("up" if u else "down") for r, u in zip(repair_rows, up)},
        copy_frames=frozenset(int(f) for f in repairs.frames("copy")),
        reorder_frames=frozenset(int(f) for f in repairs.frames("reordered")),
        unseen=unseen,
        data_segments={"up": data_segments(tcp, 1), "down": data_segments(tcp, 0)},
        repair_segments={"up": wire_segments(tcp, repair_rows[up]),
                         "down": wire_segments(tcp, repair_rows[~up])})
