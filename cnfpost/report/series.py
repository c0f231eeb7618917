"""The time series the HTML report draws, read from the packet table and its TCP analysis.

The report (JSON) holds figures, not per-packet series; the pictures need the packets. This
module only selects and reshapes what the decoder and the TCP analysis already computed
(times, relative sequence numbers, windows, analysis flags, ACK RTTs, the ICMP echo pairs):
it judges nothing. Times are seconds since the capture's first frame; series are thinned
only when drawn (svg.thin), never here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..model import NO_STREAM, NO_TIME, TcpFlag
from ..sources import Sources

__all__ = ["Sources", "CaptureSeries", "Connection", "capture_series", "frame_times_ms",
           "CONNECTIONS_SHOWN"]

# Connections drawn one by one (time-sequence and throughput): the ones with the most
# trouble first. More would make a page nobody scrolls through.
CONNECTIONS_SHOWN = 8
# Throughput bins across the capture: fine enough to see a transfer's shape.
THROUGHPUT_BINS = 400
_TROUBLE = ("tcp.analysis.retransmission", "tcp.analysis.duplicate_ack",
            "tcp.analysis.out_of_order", "tcp.analysis.lost_segment",
            "tcp.analysis.zero_window")


@dataclass
class Connection:
    stream: int
    title: str
    why: str
    data_side: str                       # server | client: who sent the bulk of the data
    seq: tuple = ()                      # (t, segment end) of data segments
    retrans: tuple = ()
    ack: tuple = ()                      # (t, ack) of the receiver's ACKs
    window: tuple = ()                   # (t, ack + window): the receive window's edge
    dup_acks: tuple = ()
    zero_windows: tuple = ()
    sack: tuple = ()                     # (t, left, right) of SACK blocks
    throughput: tuple = ()               # (t, Mbit/s) of the data direction
    advertised: tuple = ()               # (t, window bytes) the receiver advertised


@dataclass
class CaptureSeries:
    t0_ns: int
    span_s: float
    icmp_rtt: tuple = ()                 # (t, ms) of the capture's echo pairs
    ping_rtt: tuple = ()                 # (t, ms) of ping replies that carry a time (-D)
    ping_by_seq: tuple = ()              # (icmp_seq, ms) when they do not
    ack_rtt: tuple = ()                  # (t, ms): tcp.analysis.ack_rtt over every connection
    handshake_rtt: tuple = ()            # (t of the SYN, iRTT ms)
    throughput: tuple = ()               # (t, Mbit/s) of every frame on the wire
    connections: list[Connection] = field(default_factory=list)
    frame_stream: dict = field(default_factory=dict)   # frame -> tcp.stream (findings' frames)


def _pairs(x: np.ndarray, y: np.ndarray) -> tuple:
    return (np.round(x, 6).tolist(), np.round(y, 3).tolist())


def _start_ns(table) -> int:
    ts = table["ts_ns"]
    timed = ts[ts != NO_TIME]
    return int(timed.min()) if timed.size else 0


def frame_times_ms(table, frames, zero_ns: int) -> list[float | None]:
    """Times of frames (1-based) in ms since ``zero_ns`` (None for a frame without one)."""
    ts = table["ts_ns"]
    out = []
    for f in frames:
        v = int(ts[int(f) - 1]) if 0 < int(f) <= len(ts) else NO_TIME
        out.append(None if v == NO_TIME else round((v - zero_ns) / 1e6, 3))
    return out


def _rate(t_s: np.ndarray, nbytes: np.ndarray, lo: float, hi: float, bins: int) -> tuple:
    """Mbit/s in equal bins over [lo, hi]."""
    if t_s.size == 0 or hi <= lo:
        return ((), ())
    edges = np.linspace(lo, hi, bins + 1)
    sums, _ = np.histogram(t_s, bins=edges, weights=nbytes)
    width = (hi - lo) / bins
    return _pairs((edges[:-1] + edges[1:]) / 2, sums * 8 / width / 1e6)


def capture_series(report: Mapping, src: Sources) -> CaptureSeries | None:
    """Every series the report's pictures need; None with neither a capture nor ping."""
    table, tcp = src.table, src.tcp
    if table is None or len(table) == 0:
        return _ping_only(src.ping)
    t0 = _start_ns(table)
    ts = table["ts_ns"]
    timed = ts != NO_TIME
    t = np.where(timed, (ts - t0) / 1e9, np.nan)
    span = float(np.nanmax(t)) if timed.any() else 0.0
    out = CaptureSeries(t0, span)
    out.throughput = _rate(t[timed], table["wire_len"][timed].astype(np.float64), 0.0,
                           max(span, 1e-3), THROUGHPUT_BINS)
    _ping(out, src.ping, t0)
    echo = src.echo
    if echo is not None and echo.rtt_ms.size:
        out.icmp_rtt = _pairs((echo.request_ts_ns - t0) / 1e9, echo.rtt_ms)
    if tcp is None:
        return out
    rtt = tcp.ack_rtt_ns()
    rows = np.flatnonzero(rtt >= 0)
    out.ack_rtt = _pairs(t[rows], rtt[rows] / 1e6)
    irtt = tcp.flows.get("irtt_ns")
    first = tcp.flows.get("first_frame")
    if irtt is not None and first is not None:
        ok = irtt > 0
        out.handshake_rtt = _pairs(t[first[ok].astype(np.int64) - 1], irtt[ok] / 1e6)
    out.connections = _connections(report, table, tcp, t)
    out.frame_stream = _finding_streams(report, tcp)
    return out


def _ping(out: CaptureSeries, ping, t0_ns: int) -> None:
    """ping's replies: on the capture's time axis when they carry a time (iputils -D),
    else by icmp_seq."""
    if ping is None:
        return
    timed = [p for p in ping.replies if p.rtt_ms is not None and p.ts_s is not None]
    if timed:
        out.ping_rtt = ([round(p.ts_s - t0_ns / 1e9, 6) for p in timed],
                        [p.rtt_ms for p in timed])
    else:
        got = [p for p in ping.replies if p.rtt_ms is not None]
        out.ping_by_seq = ([p.seq for p in got], [p.rtt_ms for p in got])


def _ping_only(ping) -> CaptureSeries | None:
    """Without a capture: ping alone, its own first reply as time 0."""
    if ping is None or not ping.replies:
        return None
    stamps = [p.ts_s for p in ping.replies if p.ts_s is not None]
    t0 = round(min(stamps) * 1e9) if stamps else 0
    out = CaptureSeries(t0, (max(stamps) - min(stamps)) if stamps else 0.0)
    _ping(out, ping, t0)
    return out


def _finding_streams(report: Mapping, tcp) -> dict:
    streams = tcp.columns["tcp_stream"]
    found = {}
    for f in report.get("findings") or []:
        for frame in (f.get("evidence") or {}).get("frames") or []:
            if 0 < frame <= streams.shape[0] and streams[frame - 1] != NO_STREAM:
                found[frame] = int(streams[frame - 1])
    return found


def _connections(report: Mapping, table, tcp, t: np.ndarray) -> list[Connection]:
    """The connections worth a look: those with TCP trouble, most first; else the busiest."""
    n = tcp.n_streams
    if n == 0:
        return []
    stream = tcp.columns["tcp_stream"]
    in_stream = stream != NO_STREAM
    trouble = np.zeros(len(stream), dtype=bool)
    for name in _TROUBLE:
        trouble |= tcp.has(name)
    counts = np.bincount(stream[trouble & in_stream].astype(np.int64), minlength=n)
    chosen = [int(s) for s in np.argsort(-counts, kind="stable") if counts[s] > 0]
    why = {s: f"{int(counts[s])} TCP trouble event(s)" for s in chosen}
    if not chosen:
        moved = np.bincount(stream[in_stream].astype(np.int64),
                            weights=tcp.payload_len[in_stream], minlength=n)
        chosen = [int(np.argmax(moved))]
        why = {chosen[0]: "no TCP trouble anywhere: the busiest connection"}
    flows = {f["stream"]: f for f in report.get("flows") or []}
    return [_connection(table, tcp, t, s, why[s], flows.get(s))
            for s in chosen[:CONNECTIONS_SHOWN]]


def _connection(table, tcp, t, s: int, why: str, flow: Mapping | None) -> Connection:
    rows = tcp.stream_rows(s)
    from_client = tcp.client_dir[rows] == 1
    plen = tcp.payload_len[rows]
    c2s, s2c = int(plen[from_client].sum()), int(plen[~from_client].sum())
    data_is_client = c2s > s2c
    side = "client" if data_is_client else "server"
    data = rows[(from_client == data_is_client) & (plen > 0)]
    back = rows[(from_client != data_is_client)
                & ((tcp.tcp_flags[rows] & TcpFlag.ACK) != 0)
                & ((tcp.tcp_flags[rows] & TcpFlag.SYN) == 0)]
    seq = tcp.at("tcp_seq_rel", data).astype(np.int64) + tcp.payload_len[data]
    ack = tcp.at("tcp_ack_rel", back).astype(np.int64)
    win = tcp.at("tcp_win_scaled", back).astype(np.int64)
    title = f"tcp.stream {s}"
    if flow is not None:
        title += f": {flow['client']} → {flow['server']}"
    c = Connection(s, title, why, side)
    c.seq = _pairs(t[data], seq)
    retr = tcp.has("tcp.analysis.retransmission")[data]
    c.retrans = _pairs(t[data][retr], seq[retr])
    c.ack = _pairs(t[back], ack)
    c.window = _pairs(t[back], ack + win)
    dup = tcp.has("tcp.analysis.duplicate_ack")[back]
    c.dup_acks = _pairs(t[back][dup], ack[dup])
    zero = tcp.has("tcp.analysis.zero_window")[back]
    c.zero_windows = _pairs(t[back][zero], ack[zero])
    c.sack = _sack(table, tcp, t, data, back)
    c.advertised = _pairs(t[back], win)
    if data.size:
        lo, hi = float(np.nanmin(t[rows])), float(np.nanmax(t[rows]))
        c.throughput = _rate(t[data], tcp.payload_len[data].astype(np.float64), lo,
                             max(hi, lo + 1e-3), min(200, max(20, data.size // 4)))
    return c


def _sack(table, tcp, t, data: np.ndarray, back: np.ndarray) -> tuple:
    """SACK blocks the receiver sent, relative to the data direction's sequence base."""
    sack = table.sack
    if data.size == 0 or sack["row"].shape[0] == 0:
        return ((), (), ())
    keep = np.isin(sack["row"], back)
    if not keep.any():
        return ((), (), ())
    first = int(data[0])
    base = (int(table["tcp_seq"][first]) - int(tcp.at("tcp_seq_rel", [first])[0])) % (1 << 32)
    rows = sack["row"][keep].astype(np.int64)
    left = (sack["left"][keep].astype(np.int64) - base) % (1 << 32)
    right = (sack["right"][keep].astype(np.int64) - base) % (1 << 32)
    return (np.round(t[rows], 6).tolist(), left.tolist(), right.tolist())
