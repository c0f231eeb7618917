"""TCP session analysis: flows, Wireshark's per-packet flags, and a per-flow table.

``analyze_tcp(table)`` returns a :class:`TcpAnalysis`:

- ``columns``: the ANALYSIS_COLUMNS of cnfpost/model.py, one row per frame: ``tcp.stream``,
  relative seq/ack, scaled window, bytes in flight, the Wireshark analysis flag bits,
  duplicate-ACK number and frame, and the frame an ACK acknowledges.
- ``flows``: one row per stream (a dict of NumPy arrays, described in FLOW_FIELDS).

How it works, and why it gives Wireshark's numbers:

1. Conversations (NumPy): each TCP frame gets a canonical 4-tuple key (the lower
   (address, port) endpoint first) and a direction bit. A stable sort by a 64-bit hash of
   the key puts the frames of one 4-tuple together in capture order (hash collisions are
   detected and fall back to an exact sort).
2. The state machine (compiled, ext/_tcp.pyx; pure-Python reference in tcp_py.py) walks
   that order once. Inside a 4-tuple it starts a new conversation where Wireshark's
   port-reuse rule does (a SYN with a new ISN), and applies ``tcp_analyze_sequence_number()``
   rule by rule (../shared/tcp-analysis.md).
3. Stream numbers (NumPy): conversations numbered by their first frame, which is how
   Wireshark's ``tcp.stream`` counts (it creates a conversation at its first frame).
4. The flow table (NumPy): per-conversation reductions over the sorted order.

Frames that count as TCP: IP protocol 6 with the fixed TCP header decoded
(``tcp_hdr_len > 0``). Frames with a bad data offset get a stream but no analysis:
Wireshark cannot compute their segment length either.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import (
    ANALYSIS_COLUMNS,
    NO_STREAM,
    TCP_ANALYSIS_FIELDS,
    DecodeStatus,
    PacketTable,
    TcpAnalysisFlag,
    TcpFlag,
    TcpOpt,
    empty_columns,
)

__all__ = ["TcpAnalysis", "analyze_tcp", "flow_order", "FLOW_FIELDS", "ENGINES"]

ENGINES = ("compiled", "python")

A = TcpAnalysisFlag
SYN, ACK, FIN, RST = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.FIN), int(TcpFlag.RST)

# The per-flow table: name -> what it holds. Times are int64 ns; -1 = unknown / none.
FLOW_FIELDS: dict[str, str] = {
    "stream": "tcp.stream",
    "ip_version": "4 or 6",
    "client_addr": "client address (PacketTable address convention); client = SYN sender, "
                   "or the first sender when no SYN was captured",
    "client_port": "client port",
    "server_addr": "server address",
    "server_port": "server port",
    "first_frame": "first frame of the stream",
    "last_frame": "last frame of the stream",
    "start_ns": "time of the first frame",
    "end_ns": "time of the last frame",
    "duration_ns": "end_ns - start_ns",
    "packets_c2s": "frames client -> server",
    "packets_s2c": "frames server -> client",
    "bytes_c2s": "TCP payload bytes client -> server (retransmissions included)",
    "bytes_s2c": "TCP payload bytes server -> client",
    "syn_count": "SYNs (without ACK) the client sent",
    "synack_count": "SYN/ACKs the server sent",
    "syn_retries": "SYN retransmissions (syn_count - 1, at least 0)",
    "handshake": "0 not captured (no SYN), 1 complete (SYN, SYN/ACK, ACK), "
                 "2 no answer (SYN only), 3 refused (RST answer), 4 incomplete otherwise",
    "irtt_ns": "tcp.analysis.initial_rtt: most recent SYN to the ACK completing the handshake",
    "mss_client": "MSS option of the client's SYN (0 = none seen)",
    "mss_server": "MSS option of the server's SYN/ACK (0 = none seen)",
    "wscale_client": "client window scale: shift, -1 unknown, -2 no scaling (Wireshark's)",
    "wscale_server": "server window scale, same convention",
    "sack_permitted": "both SYNs carried SACK-permitted",
    "timestamps": "both SYNs carried the timestamp option",
    "retransmissions": "frames with tcp.analysis.retransmission (fast and spurious included)",
    "fast_retransmissions": "tcp.analysis.fast_retransmission",
    "spurious_retransmissions": "tcp.analysis.spurious_retransmission",
    "out_of_order": "tcp.analysis.out_of_order",
    "lost_segments": "tcp.analysis.lost_segment (previous segment not captured)",
    "acked_unseen": "tcp.analysis.ack_lost_segment",
    "dup_acks": "tcp.analysis.duplicate_ack",
    "zero_windows": "tcp.analysis.zero_window",
    "zero_window_probes": "tcp.analysis.zero_window_probe",
    "window_full": "tcp.analysis.window_full",
    "window_updates": "tcp.analysis.window_update",
    "keep_alives": "tcp.analysis.keep_alive",
    "data_packets": "frames with payload (both directions)",
    "zero_window_ns": "time spent with a zero window advertised (both directions summed): "
                      "from the first zero-window frame to the next frame of that side "
                      "opening the window, or the end of the stream",
    "zero_window_max_ns": "longest such stall",
    "win_min_c2s": "minimum scaled window the client advertised (-1 none)",
    "win_median_c2s": "median", "win_max_c2s": "maximum",
    "win_min_s2c": "minimum scaled window the server advertised (-1 none)",
    "win_median_s2c": "median", "win_max_s2c": "maximum",
    "ack_rtt_server_count": "ACK RTT samples from server ACKs (client data acknowledged)",
    "ack_rtt_server_min_ns": "", "ack_rtt_server_median_ns": "", "ack_rtt_server_max_ns": "",
    "ack_rtt_client_count": "ACK RTT samples from client ACKs (server data acknowledged)",
    "ack_rtt_client_min_ns": "", "ack_rtt_client_median_ns": "", "ack_rtt_client_max_ns": "",
    "ts_rtt_count": "TSval/TSecr RTT samples: the first frame of one side echoing a TSval "
                    "the other sent (among its last 16 distinct ones), timed from the first "
                    "frame that carried that TSval",
    "ts_rtt_min_ns": "", "ts_rtt_median_ns": "", "ts_rtt_max_ns": "",
    "end": "0 open, 1 FIN (both sides), 2 RST, 3 FIN from one side only",
    "unique_bytes_c2s": "sequence span client -> server (bytes delivered, retransmissions once)",
    "unique_bytes_s2c": "sequence span server -> client",
    "goodput_c2s_bps": "unique_bytes_c2s * 8 / duration (0 for a zero duration)",
    "goodput_s2c_bps": "unique_bytes_s2c * 8 / duration",
}
HANDSHAKE_NAMES = ("not_captured", "complete", "no_answer", "refused", "incomplete")
END_NAMES = ("open", "fin", "rst", "half_closed")


@dataclass
class TcpAnalysis:
    """Per-frame analysis columns and the per-flow table of one capture."""

    columns: dict[str, np.ndarray]
    flows: dict[str, np.ndarray]
    ts_ns: np.ndarray                  # the table's timestamps (shared, not copied)
    tcp_flags: np.ndarray
    payload_len: np.ndarray
    client_dir: np.ndarray             # per frame: 1 if sent by the flow's client

    def __len__(self) -> int:
        return int(self.columns["tcp_stream"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def n_streams(self) -> int:
        return int(self.flows["stream"].shape[0])

    def has(self, field: str) -> np.ndarray:
        """Per frame: would tshark print this tcp.analysis field (bool array)?"""
        return (self.columns["tcp_analysis"] & TCP_ANALYSIS_FIELDS[field]) != 0

    def nxtseq(self) -> np.ndarray:
        """tcp.nxtseq: relative seq + payload (+1 for SYN/FIN); 0 outside TCP."""
        sf = (self.tcp_flags & (SYN | FIN)) != 0
        out = self.columns["tcp_seq_rel"] + self.payload_len.astype(np.uint32) + sf.astype(np.uint32)
        out[self.columns["tcp_stream"] == NO_STREAM] = 0
        return out

    def ack_rtt_ns(self) -> np.ndarray:
        """tcp.analysis.ack_rtt in ns per frame; -1 where the frame acknowledges nothing."""
        acks = self.columns["tcp_acks_frame"].astype(np.int64)
        out = np.full(acks.shape[0], -1, dtype=np.int64)
        has = acks > 0
        out[has] = self.ts_ns[has] - self.ts_ns[acks[has] - 1]
        return out

    def window_series(self, stream: int, side: str = "server", points: int = 64):
        """Downsampled (ts_ns, scaled window) the given side advertised over the stream."""
        if side not in ("client", "server"):
            raise ValueError("side must be 'client' or 'server'")
        rows = np.flatnonzero(self.columns["tcp_stream"] == stream)
        from_client = self.client_dir[rows] == 1
        rows = rows[from_client if side == "client" else ~from_client]
        flags = self.tcp_flags[rows]
        rows = rows[((flags & ACK) != 0) & ((flags & SYN) == 0)]
        if rows.shape[0] > points > 0:
            rows = rows[np.unique(np.linspace(0, rows.shape[0] - 1, points).round().astype(np.int64))]
        return self.ts_ns[rows], self.columns["tcp_win_scaled"][rows]

    def flow(self, stream: int) -> dict:
        """One flow as a dict of Python scalars."""
        return {k: v[stream].item() for k, v in self.flows.items()}


# ----------------------------------------------------------------------------------------
# 1. Conversations: canonical keys and the flow-sorted order
# ----------------------------------------------------------------------------------------
def _tcp_rows(table: PacketTable) -> np.ndarray:
    c = table.columns
    return np.flatnonzero((c["ip_proto"] == 6) & (c["ip_version"] != 0) & (c["tcp_hdr_len"] > 0))


def flow_order(table: PacketTable, rows: np.ndarray | None = None):
    """The TCP rows grouped by 4-tuple, capture order inside a group.

    Returns (order, group_start, direction): ``order`` the row indices, ``group_start`` the
    offsets of each group in it (plus the end), ``direction`` a per-row uint8 (0 when the
    source is the lower endpoint of the key, else 1; 0 for non-TCP rows).
    """
    c = table.columns
    n = len(table)
    if rows is None:
        rows = _tcp_rows(table)
    ver = c["ip_version"][rows].astype(np.uint64)
    ep_src = (ver << np.uint64(48)) | (c["ip_src"][rows].astype(np.uint64) << np.uint64(16)) \
        | c["sport"][rows].astype(np.uint64)
    ep_dst = (ver << np.uint64(48)) | (c["ip_dst"][rows].astype(np.uint64) << np.uint64(16)) \
        | c["dport"][rows].astype(np.uint64)
    swap = ep_src > ep_dst
    lo = np.where(swap, ep_dst, ep_src)
    hi = np.where(swap, ep_src, ep_dst)
    direction = np.zeros(n, dtype=np.uint8)
    direction[rows] = swap
    # One stable sort by a 64-bit mix of the key keeps capture order inside a group.
    with np.errstate(over="ignore"):
        h = lo * np.uint64(0x9E3779B97F4A7C15) + (hi ^ (hi >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    perm = np.argsort(h, kind="stable")
    lo_s, hi_s, h_s = lo[perm], hi[perm], h[perm]
    key_change = (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1])
    if np.count_nonzero(key_change) != np.count_nonzero(h_s[1:] != h_s[:-1]):
        # two keys share a hash: sort exactly instead
        perm = np.lexsort((np.arange(rows.shape[0]), hi, lo))
        lo_s, hi_s = lo[perm], hi[perm]
        key_change = (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1])
    order = rows[perm].astype(np.int64)
    starts = np.flatnonzero(key_change) + 1
    group_start = np.concatenate(([0], starts, [order.shape[0]])).astype(np.int64) \
        if order.shape[0] else np.zeros(1, dtype=np.int64)
    return order, group_start, direction


def _option_inputs(table: PacketTable):
    """Per-row window-scale shift (-1 none) and SACK byte sums for the kernel."""
    n = len(table)
    wscale = np.full(n, -1, dtype=np.int8)
    rows = table.tcpopt["row"].astype(np.int64)
    ws = table.tcpopt["wscale"]
    ok = (rows < n) & (ws != 255)
    wscale[rows[ok]] = np.minimum(ws[ok], 14).astype(np.int8)
    sack_sum = np.zeros(n, dtype=np.uint32)
    srows = table.sack["row"].astype(np.int64)
    ok = srows < n
    with np.errstate(over="ignore"):
        np.add.at(sack_sum, srows[ok], (table.sack["right"][ok] - table.sack["left"][ok]).astype(np.uint32))
    has_sack = (table.columns["tcp_opts"] & int(TcpOpt.SACK)) != 0
    has_sack[srows[~ok]] = False
    return wscale, has_sack.astype(np.uint8), sack_sum


# ----------------------------------------------------------------------------------------
# 2. The state machine
# ----------------------------------------------------------------------------------------
def _run_state_machine(table, order, group_start, direction, analyze, engine):
    c = table.columns
    n = len(table)
    m = order.shape[0]
    wscale, has_sack, sack_sum = _option_inputs(table)
    out = empty_columns(ANALYSIS_COLUMNS, n)
    out_conv = np.full(n, -1, dtype=np.int64)
    out_ts_rtt = np.full(n, -1, dtype=np.int64)
    has_ts = ((c["tcp_opts"] & int(TcpOpt.TIMESTAMP)) != 0).astype(np.uint8)
    conv_first_row = np.zeros(max(m, 1), dtype=np.int64)
    conv_irtt = np.zeros(max(m, 1), dtype=np.int64)
    conv_ws = np.zeros(2 * max(m, 1), dtype=np.int8)
    args = (
        order, group_start, c["ts_ns"], c["tcp_seq"], c["tcp_ack"], c["tcp_flags"], c["tcp_win"],
        c["payload_len"], analyze, direction, wscale, has_sack, sack_sum,
        has_ts, c["tcp_tsval"], c["tcp_tsecr"], out_conv, out["tcp_seq_rel"], out["tcp_ack_rel"], out["tcp_win_scaled"],
        out["tcp_bytes_in_flight"], out["tcp_analysis"], out["tcp_dupack_num"],
        out["tcp_dupack_frame"], out["tcp_acks_frame"], out_ts_rtt, conv_first_row, conv_irtt,
        conv_ws,
    )
    if engine == "compiled":
        from . import _tcp
        status, nconv = _tcp._analyze_sorted(*args)
    elif engine == "python":
        from . import tcp_py
        status, nconv = tcp_py.analyze_sorted(*args)
    else:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if status != 0:
        raise RuntimeError(f"TCP analysis kernel failed with status {status}")
    return out, out_conv, out_ts_rtt, nconv, conv_first_row[:nconv], conv_irtt[:nconv], \
        conv_ws[: 2 * nconv].reshape(nconv, 2)


# ----------------------------------------------------------------------------------------
# 3-4. Streams and the flow table
# ----------------------------------------------------------------------------------------
def analyze_tcp(table: PacketTable, engine: str = "compiled") -> TcpAnalysis:
    """Flows and Wireshark's per-packet TCP analysis of a decoded capture."""
    c = table.columns
    n = len(table)
    rows = _tcp_rows(table)
    order, group_start, direction = flow_order(table, rows)
    analyze = np.zeros(n, dtype=np.uint8)
    analyze[rows] = c["status"][rows] != int(DecodeStatus.BAD_TCP_HEADER_LEN)
    out, out_conv, ts_rtt, nconv, first_row, irtt, conv_ws = _run_state_machine(
        table, order, group_start, direction, analyze, engine)
    # A frame cut inside its TCP options: Wireshark has run the analysis (its state moves
    # on) but the option dissector throws before the analysis is printed, so tshark shows
    # none of it for that frame. Same here: the state counted, the frame shows nothing.
    cut = (c["status"] == int(DecodeStatus.TRUNCATED_L4)) & (analyze != 0)
    if cut.any():
        for name in ("tcp_analysis", "tcp_dupack_num", "tcp_dupack_frame", "tcp_acks_frame",
                     "tcp_bytes_in_flight"):
            out[name][cut] = 0

    # Streams in order of first appearance (Wireshark numbers a conversation when its
    # first frame creates it).
    stream_of_conv = np.empty(nconv, dtype=np.int64)
    stream_of_conv[np.argsort(first_row, kind="stable")] = np.arange(nconv)
    tcp_stream = out["tcp_stream"]
    tcp_stream[:] = NO_STREAM
    tcp_stream[order] = stream_of_conv[out_conv[order]]

    flows, client_dir = _flow_table(table, out, order, out_conv, nconv, stream_of_conv,
                                    irtt, conv_ws, direction, ts_rtt)
    return TcpAnalysis(columns=out, flows=flows, ts_ns=c["ts_ns"], tcp_flags=c["tcp_flags"],
                       payload_len=c["payload_len"], client_dir=client_dir)


def _group_stats(group: np.ndarray, values: np.ndarray, ngroups: int, bits: int = 40):
    """(count, min, median, max) of non-negative integer values per group; -1 where empty.

    One sort of (group << bits | value) keys: values are clipped to 2**bits - 1.
    """
    count = np.bincount(group, minlength=ngroups).astype(np.int64)
    mn = np.full(ngroups, -1, dtype=np.int64)
    md = np.full(ngroups, -1, dtype=np.int64)
    mx = np.full(ngroups, -1, dtype=np.int64)
    if group.shape[0] == 0:
        return count, mn, md, mx
    cap = (1 << bits) - 1
    v = np.minimum(np.maximum(values, 0), cap).astype(np.uint64)
    keys = np.sort((group.astype(np.uint64) << np.uint64(bits)) | v)
    sv = (keys & np.uint64(cap)).astype(np.int64)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    has = count > 0
    s, k = start[has], count[has]
    mn[has] = sv[s]
    mx[has] = sv[s + k - 1]
    md[has] = (sv[s + (k - 1) // 2] + sv[s + k // 2]) // 2
    return count, mn, md, mx


def _flow_table(table, out, order, out_conv, nconv, stream_of_conv, irtt, conv_ws, direction,
                ts_rtt):
    c = table.columns
    n = len(table)
    m = order.shape[0]
    flows: dict[str, np.ndarray] = {}
    client_dir_row = np.zeros(n, dtype=np.uint8)
    if nconv == 0:
        for name in FLOW_FIELDS:
            flows[name] = np.zeros(0, dtype=np.int64)
        return flows, client_dir_row

    conv = out_conv[order]                       # nondecreasing along the order
    cstart = np.flatnonzero(np.concatenate(([True], conv[1:] != conv[:-1])))
    flags = c["tcp_flags"][order].astype(np.int64)
    dirs = direction[order].astype(np.int64)
    ts = c["ts_ns"][order]
    plen = c["payload_len"][order].astype(np.int64)
    af = out["tcp_analysis"][order].astype(np.int64)
    pos = np.arange(m)

    # Client: the sender of the first SYN (without ACK), else of the first frame.
    pure_syn = (flags & (SYN | ACK)) == SYN
    first_syn = np.minimum.reduceat(np.where(pure_syn, pos, m), cstart)
    client = np.where(first_syn < m, dirs[np.minimum(first_syn, m - 1)], dirs[cstart])
    from_client = dirs == client[conv]
    client_dir_row[order] = from_client

    def per_conv_sum(x):
        return np.add.reduceat(x.astype(np.int64), cstart)

    def flag_count(bits):
        return per_conv_sum((af & int(bits)) != 0)

    first = order[cstart]
    last = order[np.concatenate((cstart[1:], [m])) - 1]
    f = {}
    f["ip_version"] = c["ip_version"][first].astype(np.int64)
    first_from_client = from_client[cstart]
    f["client_addr"] = np.where(first_from_client, c["ip_src"][first], c["ip_dst"][first]).astype(np.int64)
    f["client_port"] = np.where(first_from_client, c["sport"][first], c["dport"][first]).astype(np.int64)
    f["server_addr"] = np.where(first_from_client, c["ip_dst"][first], c["ip_src"][first]).astype(np.int64)
    f["server_port"] = np.where(first_from_client, c["dport"][first], c["sport"][first]).astype(np.int64)
    f["first_frame"] = first + 1
    f["last_frame"] = last + 1
    f["start_ns"] = c["ts_ns"][first]
    f["end_ns"] = np.maximum.reduceat(ts, cstart)
    f["duration_ns"] = f["end_ns"] - f["start_ns"]
    f["packets_c2s"] = per_conv_sum(from_client)
    f["packets_s2c"] = per_conv_sum(~from_client)
    f["bytes_c2s"] = per_conv_sum(np.where(from_client, plen, 0))
    f["bytes_s2c"] = per_conv_sum(np.where(from_client, 0, plen))
    synack = (flags & (SYN | ACK)) == (SYN | ACK)
    f["syn_count"] = per_conv_sum(pure_syn & from_client)
    f["synack_count"] = per_conv_sum(synack & ~from_client)
    f["syn_retries"] = np.maximum(f["syn_count"] - 1, 0)
    rst_from_server = per_conv_sum(((flags & RST) != 0) & ~from_client)
    f["irtt_ns"] = np.where(irtt > 0, irtt, -1)
    hs = np.full(nconv, 4, dtype=np.int64)
    hs[f["syn_count"] == 0] = 0
    hs[(f["syn_count"] > 0) & (f["synack_count"] == 0)] = 2
    hs[(f["syn_count"] > 0) & (f["synack_count"] == 0) & (rst_from_server > 0)] = 3
    hs[(f["syn_count"] > 0) & (f["synack_count"] > 0) & (irtt > 0)] = 1
    f["handshake"] = hs

    # Options of the SYN and SYN/ACK.
    opts = c["tcp_opts"][order].astype(np.int64)
    syn_c = pure_syn & from_client
    syn_s = synack & ~from_client
    mss_row = np.zeros(n, dtype=np.int64)
    trows = table.tcpopt["row"].astype(np.int64)
    ok = trows < n
    mss_row[trows[ok]] = table.tcpopt["mss"][ok]
    mss = mss_row[order]
    f["mss_client"] = np.maximum.reduceat(np.where(syn_c, mss, 0), cstart)
    f["mss_server"] = np.maximum.reduceat(np.where(syn_s, mss, 0), cstart)
    f["wscale_client"] = np.where(client == 0, conv_ws[:, 0], conv_ws[:, 1]).astype(np.int64)
    f["wscale_server"] = np.where(client == 0, conv_ws[:, 1], conv_ws[:, 0]).astype(np.int64)

    def both_syns(bit):
        return (per_conv_sum(syn_c & ((opts & int(bit)) != 0)) > 0) & \
            (per_conv_sum(syn_s & ((opts & int(bit)) != 0)) > 0)

    f["sack_permitted"] = both_syns(TcpOpt.SACK_PERM)
    f["timestamps"] = both_syns(TcpOpt.TIMESTAMP)

    f["retransmissions"] = flag_count(TCP_ANALYSIS_FIELDS["tcp.analysis.retransmission"])
    f["fast_retransmissions"] = flag_count(A.FAST_RETRANSMISSION)
    f["spurious_retransmissions"] = flag_count(A.SPURIOUS_RETRANSMISSION)
    f["out_of_order"] = flag_count(A.OUT_OF_ORDER)
    f["lost_segments"] = flag_count(A.LOST_PACKET)
    f["acked_unseen"] = flag_count(A.ACK_LOST_PACKET)
    f["dup_acks"] = flag_count(A.DUPLICATE_ACK)
    f["zero_windows"] = flag_count(A.ZERO_WINDOW)
    f["zero_window_probes"] = flag_count(A.ZERO_WINDOW_PROBE)
    f["window_full"] = flag_count(A.WINDOW_FULL)
    f["window_updates"] = flag_count(A.WINDOW_UPDATE)
    f["keep_alives"] = flag_count(A.KEEP_ALIVE)
    f["data_packets"] = per_conv_sum(plen > 0)

    zw_total, zw_max = _zero_window_time(c, order, conv, dirs, flags, f["end_ns"], nconv)
    f["zero_window_ns"] = zw_total
    f["zero_window_max_ns"] = zw_max

    # Advertised windows (scaled), of frames carrying an ACK, SYNs excluded.
    win = out["tcp_win_scaled"][order].astype(np.int64)
    adv = ((flags & ACK) != 0) & ((flags & SYN) == 0)
    for side, mask in (("c2s", adv & from_client), ("s2c", adv & ~from_client)):
        _, mn, md, mx = _group_stats(conv[mask], win[mask], nconv)
        f[f"win_min_{side}"], f[f"win_median_{side}"], f[f"win_max_{side}"] = mn, md, mx

    # ACK RTT (Wireshark's tcp.analysis.ack_rtt), split by the side that sent the ACK.
    acks = out["tcp_acks_frame"][order].astype(np.int64)
    has_rtt = acks > 0
    rtt = np.zeros(m, dtype=np.int64)
    rtt[has_rtt] = ts[has_rtt] - c["ts_ns"][acks[has_rtt] - 1]
    for side, mask in (("server", has_rtt & ~from_client), ("client", has_rtt & from_client)):
        cnt, mn, md, mx = _group_stats(conv[mask], rtt[mask], nconv)
        f[f"ack_rtt_{side}_count"] = cnt
        f[f"ack_rtt_{side}_min_ns"], f[f"ack_rtt_{side}_median_ns"], f[f"ack_rtt_{side}_max_ns"] = mn, md, mx

    t_rtt = ts_rtt[order]
    has_ts_rtt = t_rtt >= 0
    cnt, mn, md, mx = _group_stats(conv[has_ts_rtt], t_rtt[has_ts_rtt], nconv)
    f["ts_rtt_count"], f["ts_rtt_min_ns"], f["ts_rtt_median_ns"], f["ts_rtt_max_ns"] = cnt, mn, md, mx

    rst = per_conv_sum((flags & RST) != 0) > 0
    fin_c = per_conv_sum(((flags & FIN) != 0) & from_client) > 0
    fin_s = per_conv_sum(((flags & FIN) != 0) & ~from_client) > 0
    end = np.zeros(nconv, dtype=np.int64)
    end[fin_c | fin_s] = 3
    end[fin_c & fin_s] = 1
    end[rst] = 2
    f["end"] = end

    # Unique bytes: the span of relative sequence numbers each side covered.
    nxt = (out["tcp_seq_rel"][order].astype(np.int64) + plen + ((flags & (SYN | FIN)) != 0)) \
        * (plen > 0)
    for side, mask in (("c2s", from_client), ("s2c", ~from_client)):
        span = np.maximum.reduceat(np.where(mask, nxt, 0), cstart)
        lo = np.minimum.reduceat(np.where(mask & (plen > 0), out["tcp_seq_rel"][order].astype(np.int64),
                                          np.iinfo(np.int64).max), cstart)
        uniq = np.where(span > 0, span - np.minimum(lo, span), 0)
        f[f"unique_bytes_{side}"] = uniq
        dur = f["duration_ns"]
        f[f"goodput_{side}_bps"] = np.where(dur > 0, uniq * 8 * 1e9 / np.maximum(dur, 1), 0.0)

    # Reorder from conversation order to stream order.
    inv = np.empty(nconv, dtype=np.int64)
    inv[stream_of_conv] = np.arange(nconv)
    flows["stream"] = np.arange(nconv, dtype=np.int64)
    for name in FLOW_FIELDS:
        if name != "stream":
            flows[name] = np.asarray(f[name])[inv]
    return flows, client_dir_row


def _zero_window_time(c, order, conv, dirs, flags, conv_end, nconv):
    """Per conversation: total and longest time a side advertised a zero window."""
    total = np.zeros(nconv, dtype=np.int64)
    longest = np.zeros(nconv, dtype=np.int64)
    win = c["tcp_win"][order]
    closed = (win == 0) & ((flags & (SYN | FIN | RST)) == 0)
    if not closed.any():
        return total, longest
    # Only the conversations that had one: their frames, per (conversation, side), in time.
    touched = np.zeros(nconv, dtype=bool)
    touched[conv[closed]] = True
    sel = np.flatnonzero(touched[conv])
    key = conv[sel] * 2 + dirs[sel]
    sel = sel[np.argsort(key, kind="stable")]
    key = conv[sel] * 2 + dirs[sel]
    cl = closed[sel]
    ts = c["ts_ns"][order[sel]]
    k = sel.shape[0]
    idx = np.arange(k)
    prev_same = np.concatenate(([False], key[1:] == key[:-1]))
    prev_closed = np.concatenate(([False], cl[:-1])) & prev_same
    starts = np.flatnonzero(cl & ~prev_closed)
    nc = np.where(~cl, idx, k)
    next_open = np.minimum.accumulate(nc[::-1])[::-1]
    j = next_open[starts]
    cv = key[starts] // 2
    same = (j < k)
    same[same] = key[j[same]] == key[starts[same]]
    end = np.where(same, ts[np.minimum(j, k - 1)], conv_end[cv])
    dur = np.maximum(end - ts[starts], 0)
    np.add.at(total, cv, dur)
    np.maximum.at(longest, cv, dur)
    return total, longest
