"""Both ends of a connection: the server's capture beside the probe's.

``compare_captures(probe, server)`` matches the connections (cnfpost/serverside_match.py),
aligns the two clocks, and compares each matched connection packet by packet:

- **Pairs.** The same packet in both captures. Segments without payload (SYN, bare ACK,
  FIN, RST) by their sequence and acknowledgement numbers (relative to each side's ISN,
  so a sequence-rewriting balancer does not matter), flags and TSval, copy for copy. Data
  by byte ranges, not frame for frame: a capture on the server host shows its outgoing
  data as TSO/GSO super-frames (tens of KB) and its incoming as GRO merges, the probe's
  as wire-sized segments.
- **Clock offset** (server clock minus probe clock): a packet from the probe reaches the
  server after it left, and one from the server reaches the probe after it left, so
  ``server_ts - probe_ts`` of a client->server pair is the offset plus a positive one-way
  delay (an upper bound) and of a server->client pair the offset minus one (a lower
  bound). The tightest bounds come from the fastest packets (handshakes, data/ACK pairs);
  the estimate is their midpoint and the uncertainty half the gap between them: the
  one-way delays are known within that. Only pairs of unambiguous packets (one copy on
  each side, data starting at the same byte on both) are used. Offsets of any size and
  sign; clocks are never assumed to agree. Drift over the capture is not modelled.
- **Loss, located.** A packet the sender's capture shows and the receiver's does not was
  lost between them: client->server on the way up, server->client on the way down (bare
  ACKs included: loss on the way up often hits them, and retransmission flags never show
  it). When several copies were sent and fewer arrived, each arrival is paired with the
  latest copy sent before it, so the others were the lost ones. A segment the probe saw
  arrive late whose earlier copy the server never sent was held back by the server.
  Nothing sent outside the other capture's time span counts as lost.
- **Server think time** per sample: from the last client data the server received before
  the response left (the request complete) to the departure of the response's first
  segment, both on the server's clock, against the time to first byte the probe measured
  (request's first segment out, response's first segment in): the rest is network time.
- **Delayed ACKs** at the server: how long it waited before acknowledging new data.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .model import PacketTable, TcpAnalysisFlag, TcpFlag, TcpOpt
from .serverside_match import Match, Unmatched, endpoints, match_connections, starts_outside
from .tcp import TcpAnalysis

__all__ = ["ServerSide", "ClockOffset", "Connection", "Lost", "compare_captures",
           "DELAYED_ACK_MS"]

SYN, ACK, FIN, RST = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.FIN), int(TcpFlag.RST)
KEY_FLAGS = SYN | ACK | FIN | RST
RETRANSMITTED = int(TcpAnalysisFlag.RETRANSMISSION | TcpAnalysisFlag.FAST_RETRANSMISSION
                    | TcpAnalysisFlag.SPURIOUS_RETRANSMISSION | TcpAnalysisFlag.OUT_OF_ORDER)
MOD = 1 << 32
# An ACK held back this long is a delayed ACK (RFC 1122 4.2.3.2 allows up to 500 ms; Linux
# waits 40 ms at least, so anything above a few ms is the timer, not processing).
DELAYED_ACK_MS = 10.0


def _ms(ns: float | None) -> float | None:
    return None if ns is None else round(float(ns) / 1e6, 3)


@dataclass(frozen=True)
class ClockOffset:
    offset_ns: int            # server clock minus probe clock
    uncertainty_ns: int       # half the gap between the bounds
    pairs: int                # packet pairs the bounds come from
    consistent: bool          # False: the bounds crossed (drift or a mismatched pair)

    def to_dict(self) -> dict:
        return {"offset_ms": _ms(self.offset_ns), "uncertainty_ms": _ms(self.uncertainty_ns),
                "pairs": self.pairs, "consistent": self.consistent}


@dataclass(frozen=True)
class Lost:
    """One packet (or part of a super-frame) sent and never seen by the other end."""

    direction: str            # up (client -> server) | down (server -> client)
    kind: str                 # data | ack | syn | fin | rst
    seq: int                  # relative to the sender's ISN
    length: int               # lost payload bytes (0 for control segments)
    sent_ns: int              # on the sender's capture clock
    probe_frames: tuple[int, ...]    # the probe's frames: the lost copy (up) or the repair (down)
    server_frames: tuple[int, ...]   # the server's frames: the lost copy (down) or the repair (up)

    def to_dict(self) -> dict:
        return {"direction": self.direction, "kind": self.kind, "seq": self.seq,
                "len": self.length, "probe_frames": list(self.probe_frames),
                "server_frames": list(self.server_frames)}


@dataclass(frozen=True)
class Think:
    """One sample's wait for its first response byte, split by the two captures."""

    sample: int
    ttfb_ns: int              # probe: request's first segment out -> response's first in
    server_ns: int            # server: request's last segment in -> response's first out
    probe_frames: tuple[int, int]
    server_frames: tuple[int, int]

    @property
    def network_ns(self) -> int:
        return self.ttfb_ns - self.server_ns

    def to_dict(self) -> dict:
        return {"sample": self.sample, "ttfb_ms": _ms(self.ttfb_ns),
                "server_ms": _ms(self.server_ns), "network_ms": _ms(self.network_ns),
                "probe_frames": list(self.probe_frames),
                "server_frames": list(self.server_frames)}


@dataclass(frozen=True)
class Connection:
    match: Match
    up_ns: tuple[int, ...]               # one-way delays of the paired packets (sorted)
    down_ns: tuple[int, ...]
    lost: tuple[Lost, ...]
    held_by_server: tuple[int, ...]      # probe frames the server sent late, not lost
    think: tuple[Think, ...]
    ack_delays_ns: tuple[int, ...]       # the server's delay before acknowledging new data
    phases: dict = field(default_factory=dict)   # phase id -> {up_ms, down_ms} medians

    def to_dict(self) -> dict:
        def stats(v):
            return None if not v else {"min_ms": _ms(v[0]), "median_ms": _ms(statistics.median(v)),
                                       "max_ms": _ms(v[-1]), "packets": len(v)}
        acks = sorted(self.ack_delays_ns)
        return {**self.match.to_dict(),
                "one_way_delay": {"up": stats(self.up_ns), "down": stats(self.down_ns)},
                "phases": self.phases,
                "lost": {"up": sum(1 for x in self.lost if x.direction == "up"),
                         "down": sum(1 for x in self.lost if x.direction == "down"),
                         "server": len(self.held_by_server),
                         "segments": [x.to_dict() for x in self.lost],
                         "held_by_server_frames": list(self.held_by_server)},
                "server_time": [t.to_dict() for t in self.think],
                "server_ack_delay": None if not acks else {
                    "median_ms": _ms(statistics.median(acks)), "max_ms": _ms(acks[-1]),
                    "delayed": sum(1 for a in acks if a >= DELAYED_ACK_MS * 1e6)}}


@dataclass(frozen=True)
class ServerSide:
    offset: ClockOffset | None
    connections: tuple[Connection, ...]
    unmatched: tuple[Unmatched, ...]
    server_packets: int

    def connection(self, probe_stream: int) -> Connection | None:
        return next((c for c in self.connections if c.match.probe_stream == probe_stream), None)

    def think_of(self, sample: int) -> Think | None:
        return next((t for c in self.connections for t in c.think if t.sample == sample), None)

    def lost(self, direction: str) -> list[tuple[Connection, Lost]]:
        return [(c, x) for c in self.connections for x in c.lost if x.direction == direction]

    def to_dict(self) -> dict:
        off = self.offset
        return {"clock_offset_ms": None if off is None else _ms(off.offset_ns),
                "clock_offset_uncertainty_ms": None if off is None else _ms(off.uncertainty_ns),
                "clock": None if off is None else off.to_dict(),
                "server_packets": self.server_packets,
                "matched_connections": [c.to_dict() for c in self.connections],
                "unmatched": [u.to_dict() for u in self.unmatched]}


# ----------------------------------------------------------------------------------------
# One direction of one connection in one capture
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Dir:
    ts: np.ndarray
    frames: np.ndarray
    start: np.ndarray        # relative sequence number (int64)
    end: np.ndarray
    data: np.ndarray         # bool: carries payload
    keys: list               # per frame: (seq, ack, flags, tsval) for control segments


def _direction(table: PacketTable, tcp: TcpAnalysis, stream: int, up: bool,
               seq_base: int, ack_base: int) -> _Dir:
    rows = tcp.stream_rows(stream)
    rows = rows[(tcp.client_dir[rows] == 1) == up]
    c = table.columns
    start = (c["tcp_seq"][rows].astype(np.int64) - seq_base) % MOD
    length = tcp.payload_len[rows].astype(np.int64)
    ack = (c["tcp_ack"][rows].astype(np.int64) - ack_base) % MOD
    flags = tcp.tcp_flags[rows].astype(np.int64) & KEY_FLAGS
    tsval = np.where((c["tcp_opts"][rows] & int(TcpOpt.TIMESTAMP)) != 0, c["tcp_tsval"][rows], -1)
    keys = list(zip(start.tolist(), np.where((flags & ACK) != 0, ack, 0).tolist(),
                    flags.tolist(), tsval.tolist()))
    return _Dir(tcp.ts_ns[rows].astype(np.int64), rows.astype(np.int64) + 1, start,
                start + length, length > 0, keys)


def _bases(p_isn: int | None, s_isn: int | None, fallback: int) -> tuple[int, int]:
    """Each capture's base for relative numbers: its own ISN when both hold the SYN, else
    the raw numbers agree (no rewriting) and one base serves both."""
    if p_isn is not None and s_isn is not None:
        return p_isn, s_isn
    one = p_isn if p_isn is not None else (s_isn if s_isn is not None else fallback)
    return one, one


@dataclass(frozen=True)
class _Pair:
    probe_ts: int
    server_ts: int
    up: bool


def _control_groups(sender: _Dir, receiver: _Dir) -> dict:
    groups: dict = defaultdict(lambda: ([], []))
    for i in np.flatnonzero(~sender.data).tolist():
        groups[sender.keys[i]][0].append(i)
    for i in np.flatnonzero(~receiver.data).tolist():
        groups[receiver.keys[i]][1].append(i)
    return groups


def _unambiguous(sender: _Dir, receiver: _Dir) -> list[tuple[int, int]]:
    """(sender index, receiver index) of packets seen exactly once on each side."""
    out = [(s[0], r[0]) for s, r in _control_groups(sender, receiver).values()
           if len(s) == 1 and len(r) == 1]
    ds, dr = np.flatnonzero(sender.data), np.flatnonzero(receiver.data)
    s_start, s_count = np.unique(sender.start[ds], return_counts=True)
    r_start, r_count = np.unique(receiver.start[dr], return_counts=True)
    once = np.intersect1d(s_start[s_count == 1], r_start[r_count == 1])
    if once.size == 0:
        return out
    # and no other copy covers that byte on either side (a retransmission starting
    # earlier, or a super-frame)
    keep = once[(_cover_counts(sender, ds, once) == 1) & (_cover_counts(receiver, dr, once) == 1)]
    for b in keep.tolist():
        i = int(ds[np.flatnonzero(sender.start[ds] == b)[0]])
        j = int(dr[np.flatnonzero(receiver.start[dr] == b)[0]])
        out.append((i, j))
    return out


def _cover_counts(d: _Dir, idx: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How many of the frames idx cover each byte position in points."""
    starts, ends = np.sort(d.start[idx]), np.sort(d.end[idx])
    return np.searchsorted(starts, points, side="right") - np.searchsorted(ends, points,
                                                                           side="right")


# ----------------------------------------------------------------------------------------
# The clock offset
# ----------------------------------------------------------------------------------------

def estimate_offset(pairs: list[_Pair]) -> ClockOffset | None:
    """Bounds from both directions (module docstring); None without pairs both ways."""
    up = [p.server_ts - p.probe_ts for p in pairs if p.up]
    down = [p.server_ts - p.probe_ts for p in pairs if not p.up]
    if not up or not down:
        return None
    hi, lo = min(up), max(down)
    mid = (hi + lo) // 2
    return ClockOffset(int(mid), int(abs(hi - lo) // 2 + abs(hi - lo) % 2), len(pairs),
                       lo <= hi)


# ----------------------------------------------------------------------------------------
# Loss: what the sender's capture shows and the receiver's does not
# ----------------------------------------------------------------------------------------

def _unpaired(sent: list[int], arrived: list[int], tol: int) -> list[int]:
    """Positions in ``sent`` (times on the receiver's clock, ascending) that no arrival
    accounts for: each arrival takes the latest unpaired copy sent before it."""
    taken = [False] * len(sent)
    for r in sorted(arrived):
        best = None
        for i, s in enumerate(sent):
            if s > r + tol:
                break
            if not taken[i]:
                best = i
        if best is not None:
            taken[best] = True
    return [i for i, t in enumerate(taken) if not t]


def _lost_in(sender: _Dir, receiver: _Dir, to_receiver: int, tol: int,
             span: tuple[int, int]) -> tuple[list[tuple[int, str, int, int]], dict]:
    """Lost copies: (sender index, kind, seq, bytes), and for data the receiver indexes
    that carried the same bytes later (the repair), keyed by sender index."""
    lost: list[tuple[int, str, int, int]] = []
    repairs: dict[int, list[int]] = {}

    def inside(i: int) -> bool:
        t = int(sender.ts[i]) + to_receiver
        return span[0] <= t <= span[1] - tol

    for key, (s_idx, r_idx) in _control_groups(sender, receiver).items():
        if len(s_idx) <= len(r_idx):
            continue
        sent = [int(sender.ts[i]) + to_receiver for i in s_idx]
        for k in _unpaired(sent, [int(receiver.ts[j]) for j in r_idx], tol):
            i = s_idx[k]
            if inside(i):
                flags = key[2]
                kind = "syn" if flags & SYN else "rst" if flags & RST else \
                    "fin" if flags & FIN else "ack"
                lost.append((i, kind, key[0], 0))
    ds, dr = np.flatnonzero(sender.data), np.flatnonzero(receiver.data)
    if ds.size == 0:
        return lost, repairs
    bounds = np.unique(np.concatenate([sender.start[ds], sender.end[ds],
                                       receiver.start[dr], receiver.end[dr]]))
    sent_n = _cover_counts(sender, ds, bounds[:-1])
    got_n = _cover_counts(receiver, dr, bounds[:-1]) if dr.size else np.zeros_like(sent_n)
    by_frame: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for k in np.flatnonzero(sent_n > got_n).tolist():
        b, e = int(bounds[k]), int(bounds[k + 1])
        senders = ds[(sender.start[ds] <= b) & (sender.end[ds] > b)]
        senders = senders[np.argsort(sender.ts[senders], kind="stable")]
        getters = dr[(receiver.start[dr] <= b) & (receiver.end[dr] > b)]
        sent = [int(sender.ts[i]) + to_receiver for i in senders]
        for k2 in _unpaired(sent, [int(receiver.ts[j]) for j in getters], tol):
            i = int(senders[k2])
            if inside(i):
                by_frame[i].append((b, e))
                later = [int(j) for j in getters if receiver.ts[j] > sender.ts[i] + to_receiver]
                repairs.setdefault(i, []).extend(later)
    for i, ranges in sorted(by_frame.items()):
        ranges.sort()
        merged = [list(ranges[0])]
        for b, e in ranges[1:]:
            if b == merged[-1][1]:
                merged[-1][1] = e
            else:
                merged.append([b, e])
        for b, e in merged:
            lost.append((i, "data", b, e - b))
    return lost, repairs


# ----------------------------------------------------------------------------------------
# Per connection
# ----------------------------------------------------------------------------------------

@dataclass
class _Both:
    match: Match
    probe_up: _Dir
    probe_down: _Dir
    server_up: _Dir
    server_down: _Dir
    pairs: list


def _both(m: Match, pe, se, probe, server) -> _Both:
    p_table, p_tcp = probe
    s_table, s_tcp = server
    c_p, c_s = _bases(pe.isn_client, se.isn_client,
                      _first_seq(p_table, p_tcp, m.probe_stream, True))
    v_p, v_s = _bases(pe.isn_server, se.isn_server, _first_seq(p_table, p_tcp, m.probe_stream,
                                                               False))
    b = _Both(m, _direction(p_table, p_tcp, m.probe_stream, True, c_p, v_p),
              _direction(p_table, p_tcp, m.probe_stream, False, v_p, c_p),
              _direction(s_table, s_tcp, m.server_stream, True, c_s, v_s),
              _direction(s_table, s_tcp, m.server_stream, False, v_s, c_s), [])
    for i, j in _unambiguous(b.probe_up, b.server_up):
        b.pairs.append(_Pair(int(b.probe_up.ts[i]), int(b.server_up.ts[j]), True))
    for i, j in _unambiguous(b.server_down, b.probe_down):
        b.pairs.append(_Pair(int(b.probe_down.ts[j]), int(b.server_down.ts[i]), False))
    return b


def _first_seq(table, tcp, stream: int, up: bool) -> int:
    rows = tcp.stream_rows(stream)
    rows = rows[(tcp.client_dir[rows] == 1) == up]
    return int(table.columns["tcp_seq"][rows[0]]) if rows.size else 0


def _connection(b: _Both, off: ClockOffset, spans, placement_of: dict, samples_of: dict
                ) -> Connection:
    tol = off.uncertainty_ns
    up_lost, up_rep = _lost_in(b.probe_up, b.server_up, off.offset_ns, tol, spans["server"])
    down_lost, down_rep = _lost_in(b.server_down, b.probe_down, -off.offset_ns, tol,
                                   spans["probe"])
    lost = [Lost("up", kind, seq, n, int(b.probe_up.ts[i]), (int(b.probe_up.frames[i]),),
                 tuple(int(b.server_up.frames[j]) for j in up_rep.get(i, ())))
            for i, kind, seq, n in up_lost]
    lost += [Lost("down", kind, seq, n, int(b.server_down.ts[i]),
                  tuple(int(b.probe_down.frames[j]) for j in down_rep.get(i, ())),
                  (int(b.server_down.frames[i]),))
             for i, kind, seq, n in down_lost]
    lost.sort(key=lambda x: (x.sent_ns if x.direction == "up" else x.sent_ns - off.offset_ns))
    ups = sorted(p.server_ts - p.probe_ts - off.offset_ns for p in b.pairs if p.up)
    downs = sorted(off.offset_ns - (p.server_ts - p.probe_ts) for p in b.pairs if not p.up)
    stream = b.match.probe_stream
    return Connection(b.match, tuple(ups), tuple(downs), tuple(lost),
                      _held_by_server(b, down_lost), _thinks(b, placement_of.get(stream, ()),
                                                             samples_of),
                      _ack_delays(b), _phase_delays(b, off, placement_of.get(stream, ())))


def _held_by_server(b: _Both, down_lost) -> tuple[int, ...]:
    """Probe frames of late server data (Wireshark's retransmission or out-of-order) whose
    bytes the server had not sent before: it held them back, the network lost nothing."""
    d = b.probe_down
    lost_ranges = [(seq, seq + n) for _, kind, seq, n in down_lost if kind == "data"]
    seen_before = np.maximum.accumulate(np.concatenate([[0], d.end[:-1]])) if d.end.size else d.end
    late = d.data & (d.start < seen_before)
    out = []
    for i in np.flatnonzero(late).tolist():
        s, e = int(d.start[i]), int(d.end[i])
        if any(a < e and s < z for a, z in lost_ranges):
            continue
        sent_before = (b.server_down.data & (b.server_down.start <= s) & (b.server_down.end > s))
        if int(sent_before.sum()) <= 1:
            out.append(int(d.frames[i]))
    return tuple(out)


def _first_arrival(d: _Dir, byte: int) -> int | None:
    hit = np.flatnonzero(d.data & (d.start <= byte) & (d.end > byte))
    return None if hit.size == 0 else int(hit[np.argmin(d.ts[hit])])


def _thinks(b: _Both, placements, samples_of: dict) -> tuple[Think, ...]:
    """Per sample on this connection: the request and the response's first segment,
    timed at both ends (module docstring)."""
    out = []
    pu, pd = b.probe_up, b.probe_down
    for sample, edges in placements:
        pretransfer, starttransfer = edges[4], edges[5]
        slack = 2_000_000   # curl reads a byte after the kernel took it; the capture before
        resp = np.flatnonzero(pd.data & (pd.ts <= starttransfer + slack))
        if resp.size == 0:
            continue
        r = int(resp[-1])
        req = np.flatnonzero(pu.data & (pu.ts >= pretransfer - slack) & (pu.ts <= pd.ts[r]))
        if req.size == 0:
            continue
        q = int(req[0])
        s_out = _first_arrival(b.server_down, int(pd.start[r]))
        if s_out is None:
            continue
        # the last client data the server had before the response left: the request is
        # whole only then (a lost request segment is network time, not server time)
        got = np.flatnonzero(b.server_up.data & (b.server_up.ts <= b.server_down.ts[s_out]))
        if got.size == 0:
            continue
        s_in = int(got[np.argmax(b.server_up.ts[got])])
        server_ns = int(b.server_down.ts[s_out] - b.server_up.ts[s_in])
        out.append(Think(sample, int(pd.ts[r] - pu.ts[q]), server_ns,
                         (int(pu.frames[q]), int(pd.frames[r])),
                         (int(b.server_up.frames[s_in]), int(b.server_down.frames[s_out]))))
    return tuple(out)


def _ack_delays(b: _Both) -> tuple[int, ...]:
    """For each ACK of the server that acknowledged new data: the time since the segment
    ending at that byte arrived (server clock only)."""
    up, down = b.server_up, b.server_down
    if not down.keys or not up.data.any():
        return ()
    acks = np.array([k[1] for k in down.keys], dtype=np.int64)
    has_ack = np.array([bool(k[2] & ACK) for k in down.keys])
    best = np.maximum.accumulate(np.where(has_ack, acks, 0))
    new = has_ack & (acks > np.concatenate([[0], best[:-1]]))
    data = np.flatnonzero(up.data)
    out = []
    for i in np.flatnonzero(new).tolist():
        hit = data[(up.end[data] == acks[i]) & (up.ts[data] <= down.ts[i])]
        if hit.size:
            out.append(int(down.ts[i] - up.ts[hit].max()))
    return tuple(out)


def _phase_delays(b: _Both, off: ClockOffset, placements) -> dict:
    """Median one-way delay each way per phase of the connection's (first) sample."""
    from .inputs.curl import PHASE_IDS

    if not placements:
        return {}
    edges = np.asarray(placements[0][1], dtype=np.int64)
    out = {}
    for up in (True, False):
        for p in b.pairs:
            if p.up != up:
                continue
            k = int(np.searchsorted(edges, p.probe_ts, side="right")) - 1
            if 0 <= k < len(PHASE_IDS):
                delay = p.server_ts - p.probe_ts - off.offset_ns if up else \
                    off.offset_ns - (p.server_ts - p.probe_ts)
                out.setdefault(PHASE_IDS[k], {"up": [], "down": []})["up" if up else "down"] \
                    .append(delay)
    return {pid: {f"{d}_ms": _ms(statistics.median(v)) if v else None for d, v in ways.items()}
            for pid, ways in out.items()}


# ----------------------------------------------------------------------------------------
# The whole comparison
# ----------------------------------------------------------------------------------------

def compare_captures(probe: tuple[PacketTable, TcpAnalysis],
                     server: tuple[PacketTable, TcpAnalysis],
                     placements=()) -> ServerSide:
    """Match, align and compare (module docstring). ``placements``: the samples'
    (cnfpost/correlate.py Placement), for the per-sample server time and the phases."""
    p_ends, s_ends = endpoints(*probe), endpoints(*server)
    matches, unmatched = match_connections(p_ends, s_ends)
    both = [_both(m, p_ends[m.probe_stream], s_ends[m.server_stream], probe, server)
            for m in matches]
    off = estimate_offset([p for b in both for p in b.pairs])
    server_ts = server[0].columns["ts_ns"]
    if off is not None:
        unmatched = [_outside(u, p_ends, off, server_ts) for u in unmatched]
    placement_of: dict = defaultdict(list)
    for p in placements:
        if p is not None and p.stream is not None and p.edges_ns:
            placement_of[p.stream].append((p.sample, p.edges_ns))
    spans = {"probe": _span(probe[0]), "server": _span(server[0])}
    conns = () if off is None else tuple(_connection(b, off, spans, placement_of, {})
                                         for b in both)
    return ServerSide(off, conns, tuple(unmatched), len(server[0]))


def _span(table: PacketTable) -> tuple[int, int]:
    ts = table.columns["ts_ns"]
    return (int(ts.min()), int(ts.max())) if ts.size else (0, -1)


def _outside(u: Unmatched, p_ends, off: ClockOffset, server_ts) -> Unmatched:
    if u.capture == "probe" and starts_outside(p_ends[u.stream].start_ns, off.offset_ns,
                                                server_ts):
        return Unmatched(u.capture, u.stream, u.endpoints,
                         "started outside the server capture's time span")
    return u
