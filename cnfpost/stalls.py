"""Connections that stopped making progress: stalls and path-MTU black holes.

- **Stall**: a silence of at least ``find.stall_ms`` (and of several round trips) in a
  connection that still had work to do: the silence ends with a retransmission (a
  retransmission timeout, often backed off; when everything after the lost bytes was lost
  too, the receiver sees it only as a jump in the server's IPv4 ids), a zero-window probe,
  or the client closing or
  resetting a connection whose response had not finished (curl gave up). A slow server's
  silence ends with new data and is not a stall.
- **Path-MTU black hole** (RFC 2923 section 2.1): a connection whose full-size segments
  never get through while smaller ones do. At the probe (the client) it shows as a hole in
  the server's data that is never filled while smaller segments after it arrive, or as the
  client sending one full-size segment again and again without an acknowledgement while
  its smaller segments are acknowledged. The MTU it looks like is the largest IP packet
  that did get through in that direction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .model import BLOCK_ROWS, PacketTable, TcpAnalysisFlag, TcpFlag, gather_blocks
from .repairs import Repairs
from .tcp import TcpAnalysis, by_stream

__all__ = ["Stall", "Blackhole", "find_stalls", "find_blackholes", "STALL_RTTS"]

A = TcpAnalysisFlag
FIN, RST, SYN = int(TcpFlag.FIN), int(TcpFlag.RST), int(TcpFlag.SYN)
RETRANSMITTED = int(A.RETRANSMISSION | A.FAST_RETRANSMISSION | A.SPURIOUS_RETRANSMISSION)
STALL_RTTS = 4      # a silence shorter than 4 round trips is ordinary waiting for ACKs


@dataclass(frozen=True)
class Stall:
    stream: int
    start_ns: int
    end_ns: int
    ended_by: str               # retransmission | zero_window_probe | client_gave_up
    frames: tuple[int, int]     # the last frame before and the first frame after the silence

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class Blackhole:
    stream: int
    direction: str              # down: server -> client; up: client -> server
    largest_ip_bytes: int       # largest IP packet that got through in that direction
    mss: int                    # the segment size the sender was allowed
    frames: tuple[int, ...]     # the evidence: unfilled hole edges or repeated segments


def find_stalls(tcp: TcpAnalysis, rtt_ns: np.ndarray, th: Mapping[str, float],
                unseen: Mapping[int, int] | None = None) -> list[Stall]:
    """Every stall of every connection (see the module docstring), by stream and in
    capture order within one.
    ``unseen``: frame -> server packets lost just before it (facts.unseen_before): a silence
    that ends in new bytes after lost ones is a retransmission the receiver cannot flag."""
    unseen = unseen or {}
    c = tcp.columns
    stream_of = c["tcp_stream"]
    limit = np.maximum(th["find.stall_ms"] * 1e6, STALL_RTTS * rtt_ns.astype(np.float64))
    befores, afters = _silences(tcp, limit)
    by = np.lexsort((afters, stream_of[afters]))     # by stream, then capture order
    found = []                   # (before, after, how); how None: the client's FIN or RST
    for before, after in zip(befores[by].tolist(), afters[by].tolist()):
        bits = int(c["tcp_analysis"][after])
        flags = int(tcp.tcp_flags[after])
        if flags & SYN:        # a SYN sent again is connection set-up (l4.syn_retry)
            continue
        if bits & RETRANSMITTED or unseen.get(after + 1):
            found.append((before, after, "retransmission"))
        elif bits & int(A.ZERO_WINDOW_PROBE):
            found.append((before, after, "zero_window_probe"))
        elif tcp.client_dir[after] == 1 and flags & (FIN | RST):
            found.append((before, after, None))
    # whether the client gave up reads its stream's rows: gathered once for all such streams
    rows_of = _rows_of_streams(tcp, {int(stream_of[a]) for _, a, how in found if how is None})
    out = []
    for before, after, how in found:
        stream = int(stream_of[after])
        if how is None:
            rows = rows_of[stream]
            if not _response_unfinished(tcp, rows[rows <= before]):
                continue
            how = "client_gave_up"
        out.append(Stall(stream, int(tcp.ts_ns[before]), int(tcp.ts_ns[after]), how,
                         (before + 1, after + 1)))
    return out


def _silences(tcp: TcpAnalysis, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(before, after): the rows of every pair of consecutive frames of a stream between
    which it was silent at least its limit, a block of the capture at a time."""
    befores, afters = [], []
    for prev, rows, stream in tcp.stream_steps():
        # in place, and no copies of the steps: a block's temporaries stay few
        gap = tcp.ts_ns[rows]
        gap -= tcp.ts_ns[prev]
        silent = gap >= limit[stream]
        silent &= prev >= 0                 # a stream's first frame ends no silence
        befores.append(prev[silent])
        afters.append(rows[silent])
    if not afters:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(befores), np.concatenate(afters)


def _rows_of_streams(tcp: TcpAnalysis, streams: set[int]) -> dict[int, np.ndarray]:
    """The rows of a few streams, each in capture order, from one pass over the capture
    (tcp.stream_rows would build the index of every stream)."""
    if not streams:
        return {}
    stream_of = tcp.columns["tcp_stream"]
    rows = tcp.rows_of_streams(streams).astype(np.int64)
    rows = rows[by_stream(stream_of[rows])]
    cuts = np.flatnonzero(np.diff(stream_of[rows])) + 1
    return {int(stream_of[part[0]]): part for part in np.split(rows, cuts)}


def _response_unfinished(tcp: TcpAnalysis, rows: np.ndarray) -> bool:
    """Before the client closed: was data outstanding either way (sent, not acknowledged),
    with the server still open?"""
    server = rows[tcp.client_dir[rows] == 0]
    client = rows[tcp.client_dir[rows] == 1]
    if (tcp.tcp_flags[server] & (FIN | RST)).any():
        return False

    def data_end(side):
        sent = side[tcp.payload_len[side] > 0]
        return int((tcp.at("tcp_seq_rel", sent).astype(np.int64) + tcp.payload_len[sent]).max()) \
            if sent.size else 0

    def acked(side):
        return int(tcp.at("tcp_ack_rel", side).max()) if side.size else 0

    return data_end(server) > acked(client) or data_end(client) > acked(server)


def find_blackholes(table: PacketTable, tcp: TcpAnalysis, repairs: Repairs) -> list[Blackhole]:
    """Connections whose full-size segments never got through (see the module docstring)."""
    c = tcp.columns
    f = tcp.flows

    def lost_downstream(block: slice) -> np.ndarray:
        # the streams of the block's frames after a hole in the server's data
        lost = ((c["tcp_analysis"][block] & int(A.LOST_PACKET)) != 0) \
            & (tcp.client_dir[block] == 0)
        return c["tcp_stream"][block][lost]

    out = []
    for stream in np.unique(gather_blocks(len(tcp), BLOCK_ROWS, lost_downstream,
                                          c["tcp_stream"].dtype)).tolist():
        found = _unfilled_downstream(table, tcp, int(stream), f)
        if found is not None:
            out.append(found)
    for stream in np.unique(repairs.stream[repairs.up]).tolist():
        found = _repeated_upstream(table, tcp, int(stream), f)
        if found is not None:
            out.append(found)
    return out


def _ip_bytes(table: PacketTable, rows: np.ndarray) -> np.ndarray:
    """IP packet sizes (wire length less the link header: payload + TCP + IP headers)."""
    c = table.columns
    ip_hdr = np.where(c["ip_version"][rows] == 6, 40, 20)
    return c["payload_len"][rows].astype(np.int64) + c["tcp_hdr_len"][rows] + ip_hdr


def _unfilled_downstream(table, tcp, stream, f) -> Blackhole | None:
    rows = tcp.stream_rows(stream)
    server = rows[(tcp.client_dir[rows] == 0) & (tcp.payload_len[rows] > 0)]
    if server.shape[0] == 0:
        return None
    seq = tcp.at("tcp_seq_rel", server).astype(np.int64)
    end = seq + tcp.payload_len[server]
    # A hole never filled: the bytes delivered in order stop below the highest byte seen.
    delivered = 1 if f["synack_count"][stream] > 0 else int(seq.min())  # relative seq
    for s, e in sorted(zip(seq.tolist(), end.tolist())):
        if s > delivered:
            break
        delivered = max(delivered, e)
    highest = int(end.max())
    if delivered >= highest:
        return None
    mss = int(min(x for x in (f["mss_client"][stream], f["mss_server"][stream], 65535) if x > 0))
    after = server[seq > delivered]
    # Full-size segments would have filled the hole; what arrived after it is smaller.
    if after.shape[0] == 0 or int(tcp.payload_len[after].max()) >= mss - 40:
        return None
    largest = int(_ip_bytes(table, server).max())
    return Blackhole(stream, "down", largest, mss, tuple(int(r) + 1 for r in after[:20]))


def _repeated_upstream(table, tcp, stream, f) -> Blackhole | None:
    rows = tcp.stream_rows(stream)
    client = rows[(tcp.client_dir[rows] == 1) & (tcp.payload_len[rows] > 0)]
    seq = tcp.at("tcp_seq_rel", client).astype(np.int64)
    starts, counts = np.unique(seq, return_counts=True)
    sizes = tcp.payload_len[client]
    mss = int(min(x for x in (f["mss_client"][stream], f["mss_server"][stream], 65535) if x > 0))
    big = sizes >= mss - 40
    repeated = np.isin(seq, starts[counts >= 3]) & big
    if not repeated.any() or (~big).sum() == 0:
        return None
    # the server acknowledged small segments but never the repeated full-size one
    acked = tcp.at("tcp_ack_rel", rows[tcp.client_dir[rows] == 0]).astype(np.int64)
    stuck = int(seq[repeated].min())
    if acked.size and int(acked.max()) > stuck:
        return None
    largest = int(_ip_bytes(table, client[~big]).max())
    return Blackhole(stream, "up", largest, mss, tuple(int(r) + 1 for r in client[repeated][:20]))
