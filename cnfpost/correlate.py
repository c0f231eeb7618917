"""Cross-layer correlation: curl samples placed on the capture, packets put in phases.

1. Placement. Each curl sample is matched to its TCP connection by local port and remote
   address/port (curl and tcpdump ran on the same probe); failing that, by the wall-clock
   window the collector recorded around the curl process. A reused connection (curl's
   ``num_connects`` 0) is the stream of the previous sample on the same local port.
   The sample's t=0 is anchored on the capture clock at the connection's first SYN minus
   curl's name lookup time (DNS comes before the SYN); without a SYN, at the wall clock
   corrected by the median offset the anchored samples showed.
2. Bucketing (NumPy interval bucketing). The phase boundaries become 7 edges on the
   capture clock; ``np.searchsorted`` puts every frame of the sample's stream into the
   phase it happened in, or outside (before the first / after the last edge). Per phase:
   packets and bytes each way, each retransmission kind, duplicate ACKs, out-of-order,
   lost segments, zero windows, window and RTT statistics, and the frames of the events.
3. Aggregation over samples per phase: the report's ``tcp_http_correlation``.

Every function here is pure: plain data in, plain data out.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

from .errors import format_problem
from .inputs.curl import PHASE_IDS, CurlSample
from .model import PacketTable, TcpAnalysisFlag, TcpFlag
from .tcp import TcpAnalysis
from .vocab import TROUBLE_EVENTS

__all__ = ["Placement", "place_samples", "bucket_sample", "aggregate_phases",
           "address_key", "EVENT_BITS", "OUTSIDE"]

A = TcpAnalysisFlag
SYN, ACK = int(TcpFlag.SYN), int(TcpFlag.ACK)

# Event kinds counted per phase -> the analysis bits that make a frame one of them.
EVENT_BITS: dict[str, int] = {
    "retransmissions": int(A.RETRANSMISSION | A.FAST_RETRANSMISSION | A.SPURIOUS_RETRANSMISSION),
    "fast_retransmissions": int(A.FAST_RETRANSMISSION),
    "spurious_retransmissions": int(A.SPURIOUS_RETRANSMISSION),
    "dup_acks": int(A.DUPLICATE_ACK),
    "out_of_order": int(A.OUT_OF_ORDER),
    "lost_segments": int(A.LOST_PACKET),
    "zero_windows": int(A.ZERO_WINDOW),
    "window_full": int(A.WINDOW_FULL),
}
OUTSIDE = ("before", "after")
WALLCLOCK_SLACK_NS = 500_000_000  # a connection may start this long after/before curl's process window


@dataclass(frozen=True)
class Placement:
    """Where one curl sample sits in the capture."""

    sample: int                       # CurlSample.index
    stream: int | None                # tcp.stream of the sample's (last) connection
    method: str                       # local_port | reused_connection | wallclock | none
    anchor_ns: int | None             # capture time of curl's t=0
    anchor: str                       # syn | wallclock | none: what the anchor rests on
    edges_ns: tuple[int, ...] = ()    # 7 phase boundaries on the capture clock
    clock_offset_ms: float | None = None   # capture clock minus the collector's wall clock
    extra_streams: tuple[int, ...] = ()    # other connections in the sample's window (redirects)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"stream": self.stream, "method": self.method, "anchor": self.anchor,
                "anchor_epoch_s": None if self.anchor_ns is None else round(self.anchor_ns / 1e9, 6),
                "clock_offset_ms": None if self.clock_offset_ms is None else round(self.clock_offset_ms, 3),
                "extra_streams": list(self.extra_streams), "notes": list(self.notes)}


def outside_capture(placements: list[Placement], table: PacketTable) -> list[str]:
    """A warning when placed samples lie wholly before the capture's first packet or after
    its last: the capture does not cover them (tcpdump stopped early, or started late), so
    their phases have no packets, which is not the same as a clean network."""
    placed = [p for p in placements if p.edges_ns]
    if not placed:
        return []
    ts = table.columns["ts_ns"]
    first, last = (int(ts.min()), int(ts.max())) if ts.size else (None, None)
    before = [p.sample for p in placed if first is not None and p.edges_ns[-1] < first]
    after = [p.sample for p in placed if last is None or p.edges_ns[0] > last]
    if not (before or after):
        return []
    parts = [f"{len(xs)} of {len(placed)} {where} (sample {', '.join(map(str, xs[:5]))}"
             f"{', ...' if len(xs) > 5 else ''})"
             for xs, where in ((before, "before its first packet"),
                               (after, "after its last packet" if ts.size else "in no packet"))
             if xs]
    return [format_problem(table.stats.path, None,
                           "every curl sample inside the capture's time span",
                           f"{' and '.join(parts)}: did tcpdump stop early?")]


def address_key(table: PacketTable, text: str | None) -> tuple[int, int] | None:
    """(ip_version, column value) of a printed address, in the table's convention;
    None when the address is empty, malformed, or (IPv6) never seen in the capture."""
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if addr.version == 4:
        return 4, int(addr)
    if table.ip6_addresses.shape[0] == 0:
        return None
    hits = np.flatnonzero((table.ip6_addresses == np.frombuffer(addr.packed, np.uint8)).all(axis=1))
    return (6, int(hits[0])) if hits.size else None


def _phase_edges(sample: CurlSample, anchor_ns: int) -> tuple[int, ...]:
    """7 boundaries: t0, then the end of each phase (a phase that did not happen has no
    length; the phase a failed transfer died in lasts until curl gave up)."""
    edges = [anchor_ns]
    cursor = anchor_ns
    for pid in PHASE_IDS:
        phase = sample.phases[pid]
        if phase.status == "measured":
            cursor = anchor_ns + int(round((phase.start_ms + phase.duration_ms) * 1e6))
        elif pid == sample.failed_phase:
            cursor = anchor_ns + int(round(sample.total_ms * 1e6))
        edges.append(max(cursor, edges[-1]))
    return tuple(edges)


def _wall_ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1e9))


def place_samples(samples: tuple[CurlSample, ...] | list[CurlSample], tcp: TcpAnalysis,
                  table: PacketTable) -> list[Placement]:
    """Match every sample to its connection and anchor its phases on the capture clock."""
    flows = tcp.flows
    used: set[int] = set()
    by_local_port: dict[int, int] = {}      # local port -> stream of the latest sample on it
    matches: list[tuple[CurlSample, int | None, str, tuple[int, ...]]] = []
    for s in samples:
        stream, method, extra = _match(s, flows, table, used, by_local_port)
        if stream is not None:
            used.add(stream)
            if s.local_port:
                by_local_port[s.local_port] = stream
        matches.append((s, stream, method, extra))

    # Anchors on SYNs first; their offsets to the wall clock then anchor the others.
    anchors: dict[int, int] = {}
    offsets = []
    for s, stream, method, _ in matches:
        if stream is None or method == "reused_connection":
            continue
        if int(flows["syn_count"][stream]) > 0:
            # t=0 is the SYN less the name lookup (none: a capture without the lookup, an
            # address URL, or a sample cut from the wire that saw no DNS)
            dns = s.phases["dns"]
            lookup_ms = dns.duration_ms if dns.status == "measured" else 0.0
            anchors[s.index] = int(flows["start_ns"][stream]) - int(round(lookup_ms * 1e6))
            wall = _wall_ns(s.wall_start_s)
            if wall is not None:
                offsets.append(anchors[s.index] - wall)
    median_offset = int(np.median(offsets)) if offsets else 0

    placements = []
    for s, stream, method, extra in matches:
        notes: list[str] = []
        anchor_ns, anchor = anchors.get(s.index), "syn"
        wall = _wall_ns(s.wall_start_s)
        if anchor_ns is None and wall is not None:
            anchor_ns, anchor = wall + median_offset, "wallclock"
            if not offsets:
                notes.append("no SYN-anchored sample: the wall clock is taken as the capture clock")
        if anchor_ns is None:
            anchor = "none"
            if stream is not None:
                notes.append("no SYN and no wall-clock time: phases not placed on the capture")
        if stream is None:
            notes.append("the sample's connection is not in the capture")
        offset_ms = None if (anchor_ns is None or wall is None) else (anchor_ns - wall) / 1e6
        edges = _phase_edges(s, anchor_ns) if anchor_ns is not None else ()
        placements.append(Placement(s.index, stream, method, anchor_ns, anchor, edges, offset_ms,
                                    extra, tuple(notes)))
    return placements


def _url_port(url: str | None, scheme: str | None) -> int:
    """The server port a URL names (curl leaves remote_port 0 when it never connected)."""
    from urllib.parse import urlsplit

    try:
        port = urlsplit(url).port if url else None
    except ValueError:
        port = None
    return port or (443 if scheme == "https" else 80)


def _match(s: CurlSample, flows: dict, table: PacketTable, used: set[int],
           by_local_port: dict[int, int]) -> tuple[int | None, str, tuple[int, ...]]:
    n = flows["stream"].shape[0]
    if n == 0:
        return None, "none", ()
    wall_lo, wall_hi = _wall_ns(s.wall_start_s), _wall_ns(s.wall_end_s)
    in_window = np.ones(n, dtype=bool)
    # started while curl ran: the slack must not hand this sample the next one's connection
    in_run = np.zeros(n, dtype=bool)
    timed_ok = wall_lo is not None and wall_hi is not None
    if timed_ok:
        in_window = ((flows["start_ns"] >= wall_lo - WALLCLOCK_SLACK_NS)
                     & (flows["start_ns"] <= wall_hi + WALLCLOCK_SLACK_NS))
        in_run = (flows["start_ns"] >= wall_lo) & (flows["start_ns"] <= wall_hi)
    if s.num_connects == 0 and s.local_port in by_local_port:
        return by_local_port[s.local_port], "reused_connection", ()
    key = address_key(table, s.remote_ip)
    if s.local_port and key is not None:
        cand = np.flatnonzero((flows["client_port"] == s.local_port)
                              & (flows["ip_version"] == key[0])
                              & (flows["server_addr"] == key[1])
                              & ((flows["server_port"] == (s.remote_port or 0)) | (not s.remote_port)))
        fresh = [int(c) for c in cand if int(c) not in used]
        # without a wall clock every connection is "in the window": none is timed, and
        # the samples take a reused port's connections in capture order
        timed = ([c for c in fresh if in_run[c]] or [c for c in fresh if in_window[c]]
                 if timed_ok else [])
        pick = timed or fresh
        if pick:
            # The last connection is the one curl reports; earlier ones in the window are
            # redirect legs or retries of the same sample.
            stream = pick[-1] if len(timed) > 1 else pick[0]
            extra = tuple(int(c) for c in np.flatnonzero(in_run) if int(c) not in used
                          and int(c) != stream)
            return stream, "local_port", extra
    if wall_lo is not None:
        port = s.remote_port or _url_port(s.url, s.scheme)
        port_ok = flows["server_port"] == port
        during = [int(c) for c in np.flatnonzero(in_run & port_ok) if int(c) not in used]
        near = [int(c) for c in np.flatnonzero(in_window & port_ok) if int(c) not in used]
        # connections that started while curl ran (the last one is curl's, earlier ones
        # redirect legs or retries); else the first one in the slack: later ones belong to
        # the samples that came after
        pick = during or near[:1]
        if pick:
            return pick[-1], "wallclock", tuple(pick[:-1])
    return None, "none", ()


# ----------------------------------------------------------------------------------------
# Bucketing
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhaseBucket:
    """The TCP frames of one sample's connection that fell in one phase."""

    phase: str
    packets: int = 0
    packets_c2s: int = 0
    packets_s2c: int = 0
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    events: dict = field(default_factory=dict)         # EVENT_BITS name -> count
    event_frames: dict = field(default_factory=dict)   # name -> tuple of frame numbers
    window_client_min: int | None = None               # scaled window the client advertised
    window_client_median: float | None = None
    window_server_min: int | None = None
    window_server_median: float | None = None
    rtt_samples: int = 0
    rtt_median_ms: float | None = None
    rtt_max_ms: float | None = None
    frames: tuple[int, int] | None = None              # first and last frame in the phase

    @property
    def trouble(self) -> int:
        return sum(self.events.get(k, 0) for k in TROUBLE_EVENTS)

    def to_dict(self) -> dict:
        out = {"packets": self.packets, "packets_c2s": self.packets_c2s,
               "packets_s2c": self.packets_s2c, "bytes_c2s": self.bytes_c2s,
               "bytes_s2c": self.bytes_s2c}
        out.update({k: self.events.get(k, 0) for k in EVENT_BITS})
        out.update({
            "window_client_min_bytes": self.window_client_min,
            "window_client_median_bytes": _round(self.window_client_median),
            "window_server_min_bytes": self.window_server_min,
            "window_server_median_bytes": _round(self.window_server_median),
            "rtt_samples": self.rtt_samples, "rtt_median_ms": _round(self.rtt_median_ms),
            "rtt_max_ms": _round(self.rtt_max_ms),
            "first_frame": None if self.frames is None else self.frames[0],
            "last_frame": None if self.frames is None else self.frames[1],
            "event_frames": {k: list(v) for k, v in self.event_frames.items() if v},
        })
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def bucket_rows(rows: np.ndarray, edges: tuple[int, ...], tcp: TcpAnalysis) -> dict[str, PhaseBucket]:
    """Put each frame (row) into its phase by searchsorted on the phase edges.

    Returns a bucket per phase id plus 'before' and 'after'; every row lands in exactly one.
    """
    ts = tcp.ts_ns[rows]
    # index k in 0..5 = phase k; -1 = before the first edge; 6 = at/after the last edge
    slot = np.searchsorted(np.asarray(edges, dtype=np.int64), ts, side="right") - 1
    names = (*PHASE_IDS, "after")
    out: dict[str, PhaseBucket] = {}
    c2s = tcp.client_dir[rows] == 1
    payload = tcp.payload_len[rows].astype(np.int64)
    bits = tcp.columns["tcp_analysis"][rows]
    win = tcp.at("tcp_win_scaled", rows).astype(np.int64)
    flags = tcp.tcp_flags[rows]
    window_rows = ((flags & ACK) != 0) & ((flags & SYN) == 0)
    rtt = tcp.ack_rtt_ns(rows)
    for k in range(-1, len(PHASE_IDS) + 1):
        name = "before" if k < 0 else names[k]
        sel = slot == k
        count = int(sel.sum())
        if count == 0:
            out[name] = PhaseBucket(name)
            continue
        frames_here = rows[sel] + 1
        here = bits[sel]
        marked = {ev: (here & b) != 0 for ev, b in EVENT_BITS.items()} if here.any() else {}
        events = {ev: int(np.count_nonzero(marked[ev])) if marked else 0 for ev in EVENT_BITS}
        event_frames = {ev: tuple(frames_here[marked[ev]].tolist()) if marked else ()
                        for ev in EVENT_BITS}
        wc = win[sel & c2s & window_rows]
        ws = win[sel & ~c2s & window_rows]
        r = rtt[sel & (rtt >= 0)]
        out[name] = PhaseBucket(
            name, count, int((sel & c2s).sum()), int((sel & ~c2s).sum()),
            int(payload[sel & c2s].sum()), int(payload[sel & ~c2s].sum()), events, event_frames,
            int(wc.min()) if wc.size else None, float(np.median(wc)) if wc.size else None,
            int(ws.min()) if ws.size else None, float(np.median(ws)) if ws.size else None,
            int(r.size), float(np.median(r)) / 1e6 if r.size else None,
            float(r.max()) / 1e6 if r.size else None,
            (int(frames_here[0]), int(frames_here[-1])))
    return out


def bucket_sample(placement: Placement, tcp: TcpAnalysis) -> dict[str, PhaseBucket] | None:
    """The phase buckets of one placed sample (None when it has no stream or no anchor)."""
    if placement.stream is None or not placement.edges_ns:
        return None
    return bucket_rows(tcp.stream_rows(placement.stream), placement.edges_ns, tcp)


def aggregate_phases(samples: list[CurlSample], buckets: list[dict[str, PhaseBucket] | None]
                     ) -> dict[str, dict]:
    """Per phase id, over all samples: duration statistics and summed TCP events."""
    out = {}
    for pid in PHASE_IDS:
        durations = [s.phases[pid].duration_ms for s in samples
                     if s.phases[pid].status == "measured"]
        placed = [b[pid] for b in buckets if b is not None]
        entry: dict = {
            "samples_measured": len(durations),
            "samples_with_packets": len(placed),
            "duration": _stats(durations),
            "packets": sum(b.packets for b in placed),
            "bytes_c2s": sum(b.bytes_c2s for b in placed),
            "bytes_s2c": sum(b.bytes_s2c for b in placed),
        }
        for ev in EVENT_BITS:
            entry[ev] = sum(b.events.get(ev, 0) for b in placed)
        entry["retransmission_rate_pct"] = (
            round(100.0 * entry["retransmissions"] / entry["packets"], 3) if entry["packets"] else 0.0)
        mins = [b.window_client_min for b in placed if b.window_client_min is not None]
        meds = [b.window_client_median for b in placed if b.window_client_median is not None]
        entry["window_client_min_bytes"] = min(mins) if mins else None
        entry["window_client_median_bytes"] = _round(float(np.median(meds))) if meds else None
        out[pid] = entry
    return out


def _stats(values: list[float]) -> dict:
    if not values:
        return {"median_ms": None, "mean_ms": None, "min_ms": None, "max_ms": None}
    arr = np.asarray(values, dtype=np.float64)
    return {"median_ms": _round(np.median(arr)), "mean_ms": _round(arr.mean()),
            "min_ms": _round(arr.min()), "max_ms": _round(arr.max())}
