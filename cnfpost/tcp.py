"""TCP session analysis: flows, Wireshark's per-packet flags, and a per-flow table.

``analyze_tcp(table)`` returns a :class:`TcpAnalysis`:

- ``columns``: the DENSE_ANALYSIS columns of cnfpost/model.py, one row per frame:
  ``tcp.stream``, relative seq/ack, scaled window, bytes in flight, the Wireshark analysis
  flag bits, and the frame an ACK acknowledges; ``analysis[name]`` also gives the
  duplicate-ACK number and frame per frame (kept for the duplicate ACKs only).
- ``flows``: one row per stream (a dict of NumPy arrays, described in FLOW_FIELDS).

How it works, and why it gives Wireshark's numbers:

1. Keys: each TCP frame gets a canonical 4-tuple key (the lower (version, address, port)
   endpoint, then the higher) and a direction bit, so both directions of a connection
   share one key, as Wireshark's conversations do (the kernel derives them from the
   table's columns; ``flow_keys`` spells them out with NumPy for the reference engine).
2. The state machine (compiled, ext/_tcp.pyx; pure-Python reference in tcp_py.py) walks
   the frames once in capture order, like Wireshark's first pass. Each key keeps its
   conversation state; a new key, or a SYN with a new ISN on a known one (Wireshark's
   port-reuse rule), starts a conversation, numbered in order of first appearance: that
   number is ``tcp.stream``. Each segment goes through ``tcp_analyze_sequence_number()``
   rule by rule (../shared/tcp-analysis.md, as tshark 4.0.17 applies it: see
   docs/tcp-analysis.md), and the same pass counts the flow table's sums.
3. The flow table (NumPy): client/server orientation, handshake, options of the SYNs,
   goodput; the medians of windows and RTT samples (one sort each) on first use.

Frames that count as TCP: IP protocol 6 with the fixed TCP header decoded
(``tcp_hdr_len > 0``). Frames with a bad data offset get a stream but no analysis:
Wireshark cannot compute their segment length either. ICMP errors quoting a TCP header get
the quoted connection's stream and nothing else, as in Wireshark.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from .model import (
    ANALYSIS_COLUMNS,
    BLOCK_ROWS,
    DENSE_ANALYSIS,
    DERIVED_ANALYSIS,
    NO_STREAM,
    NO_TIME,
    SPARSE_ANALYSIS,
    TCP_ANALYSIS_FIELDS,
    DecodeStatus,
    PacketTable,
    TcpAnalysisFlag,
    TcpFlag,
    TcpOpt,
    empty_columns,
    gather_blocks,
)
from .tcp_relative import RelativeNumbers

__all__ = ["TcpAnalysis", "FlowTable", "analyze_tcp", "flow_keys", "flow_order", "FLOW_FIELDS",
           "ENGINES"]

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
    "irtt_ns": "tcp.analysis.initial_rtt: most recent SYN to the ACK completing the handshake "
               "(-1 unknown, or not positive: a clock stepped back)",
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


def by_stream(stream: np.ndarray) -> np.ndarray:
    """The stable order of a block's frames by stream (np.argsort(kind="stable")). The
    streams of a block nearly always span fewer than 65,536 numbers: then they are sorted
    as uint16 offsets from the smallest, which NumPy sorts by radix, six times faster than
    the merge sort it uses for wider keys (same order: both are stable)."""
    if stream.shape[0] and int(stream.max()) - int(stream.min()) < 1 << 16:
        stream = (stream - stream.min()).astype(np.uint16)
    return np.argsort(stream, kind="stable")


@dataclass
class TcpAnalysis:
    """Per-frame analysis columns and the per-flow table of one capture."""

    columns: dict[str, np.ndarray]
    flows: Mapping[str, np.ndarray]    # a FlowTable (FLOW_FIELDS order)
    ts_ns: np.ndarray                  # the table's timestamps (shared, not copied)
    tcp_flags: np.ndarray
    payload_len: np.ndarray
    client_dir: np.ndarray             # per frame: 1 if sent by the flow's client
    _by_stream: tuple | None = field(default=None, repr=False, compare=False)
    _bounds: np.ndarray | None = field(default=None, repr=False, compare=False)
    quoted_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # ^ ICMP errors quoting TCP: they have a tcp.stream, no analysis, no window or ack
    dupacks: dict[str, np.ndarray] = field(default_factory=dict)
    # ^ the SPARSE_ANALYSIS columns on the duplicate ACKs only: "row" and one array each
    relative: RelativeNumbers | None = None
    # ^ the DERIVED_ANALYSIS columns, when not stored (the compiled engine)

    def __len__(self) -> int:
        return int(self.columns["tcp_stream"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        """An analysis column by name, the sparse and derived ones spelled out per frame
        (a new array: read a few rows with `at`)."""
        if name in self.columns:
            return self.columns[name]
        if name in DERIVED_ANALYSIS and self.relative is not None:
            return self.relative.column(name)
        if name in SPARSE_ANALYSIS:
            dtype = next(c.dtype for c in ANALYSIS_COLUMNS if c.name == name)
            out = np.zeros(len(self), dtype=dtype)
            if self.dupacks:
                out[self.dupacks["row"]] = self.dupacks[name]
            return out
        raise KeyError(name)

    def at(self, name: str, rows) -> np.ndarray:
        """An analysis column's values at `rows` (indices or a slice, not a mask), however
        it is kept."""
        if isinstance(rows, np.ndarray) and rows.dtype == bool:
            raise TypeError("TcpAnalysis.at takes row indices or a slice, not a mask")
        if name in self.columns:
            return self.columns[name][rows]
        if name in DERIVED_ANALYSIS and self.relative is not None:
            if isinstance(rows, slice):
                rows = np.arange(*rows.indices(len(self)))
            return self.relative.at(name, rows)
        return self[name][rows]

    @property
    def n_streams(self) -> int:
        return int(self.flows["stream"].shape[0])

    def has(self, field: str) -> np.ndarray:
        """Per frame: would tshark print this tcp.analysis field (bool array)?"""
        return (self.columns["tcp_analysis"] & TCP_ANALYSIS_FIELDS[field]) != 0

    def nxtseq(self) -> np.ndarray:
        """tcp.nxtseq: relative seq + payload (+1 for SYN/FIN); 0 outside TCP."""
        sf = (self.tcp_flags & (SYN | FIN)) != 0
        out = self["tcp_seq_rel"] + self.payload_len.astype(np.uint32) + sf.astype(np.uint32)
        out[self.columns["tcp_stream"] == NO_STREAM] = 0
        return out

    def ack_rtt_ns(self, rows: np.ndarray | None = None) -> np.ndarray:
        """tcp.analysis.ack_rtt in ns per frame (of `rows`, or of every frame); -1 where the
        frame acknowledges nothing."""
        rows = np.arange(len(self)) if rows is None else rows
        acks = self.columns["tcp_acks_frame"][rows].astype(np.int64)
        out = np.full(acks.shape[0], -1, dtype=np.int64)
        has = acks > 0
        has[has] = (self.ts_ns[rows[has]] != NO_TIME) & (self.ts_ns[acks[has] - 1] != NO_TIME)
        out[has] = self.ts_ns[rows[has]] - self.ts_ns[acks[has] - 1]
        return out

    def stream_size(self, stream: int) -> int:
        """How many rows stream_rows(stream) has."""
        bounds = self._stream_bounds()     # not the index: a stream's size needs no rows
        return int(bounds[stream + 1] - bounds[stream]) if 0 <= stream < self.n_streams else 0

    def data_in(self, block: slice) -> np.ndarray:
        """Per frame of a block of the capture: a TCP data segment? (Payload in a stream;
        an ICMP error quoting a segment is not one.)"""
        mask = (self.payload_len[block] > 0) & (self.columns["tcp_stream"][block] != NO_STREAM)
        quoted = self.quoted_rows                            # sorted
        lo, hi = np.searchsorted(quoted, (block.start, block.start + mask.shape[0]))
        mask[quoted[lo:hi] - block.start] = False
        return mask

    def rows_of_streams(self, streams) -> np.ndarray:
        """The rows of some streams, in capture order (uint32), from one pass over the
        capture a block at a time: for a few streams, without the index of every one."""
        column, n = self.columns["tcp_stream"], self.n_streams
        wanted = np.zeros(n + 1, dtype=bool)     # the last entry: frames of no stream
        wanted[np.fromiter(streams, dtype=np.int64)] = True
        return gather_blocks(column.shape[0], BLOCK_ROWS, lambda block: block.start
                             + np.flatnonzero(wanted[np.minimum(column[block], n)]), np.uint32)

    def stream_rows(self, stream: int) -> np.ndarray:
        """The rows (capture order) of one stream; the index is built on first use, so a
        report over thousands of samples does not scan every frame per sample."""
        order, bounds = self.stream_index()
        if not 0 <= stream < self.n_streams:
            return np.zeros(0, dtype=np.int64)
        return order[bounds[stream]:bounds[stream + 1]].astype(np.int64)

    def stream_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(order, bounds): every row of a stream, grouped by stream and in capture order
        within it (uint32), and where each stream's rows start in it (plus the end)."""
        if self._by_stream is None:
            # uint32 rows, built a block at a time: 4 bytes a frame kept, little more
            # while building (the memory budget of a big capture)
            column = self.columns["tcp_stream"]
            bounds = self._stream_bounds()
            order = np.empty(int(bounds[-1]), dtype=np.uint32)
            fill = bounds[:-1].copy()
            for start in range(0, column.shape[0], BLOCK_ROWS):
                block = column[start:start + BLOCK_ROWS]
                rows = np.flatnonzero(block != NO_STREAM)
                key = block[rows]
                # stable: rows of one stream keep capture order within the block
                by = by_stream(key)
                key, rows = key[by], rows[by] + start
                # rank within its stream: position less the start of its run of equal keys
                new_run = np.empty(key.shape[0], dtype=bool)
                new_run[:1] = True
                np.not_equal(key[1:], key[:-1], out=new_run[1:])
                run_start = np.flatnonzero(new_run)
                rank = np.arange(key.shape[0]) - run_start[np.cumsum(new_run) - 1]
                order[fill[key] + rank] = rows
                fill += np.bincount(key, minlength=self.n_streams)
            self._by_stream = (order, bounds)
        return self._by_stream

    def stream_steps(self, pick: Callable[[slice], np.ndarray] | None = None
                     ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each frame of a stream with the frame of its stream before it, a block of the
        capture at a time in capture order: per block (prev, rows, stream), grouped by stream
        and in capture order within one, prev -1 before a stream's first frame. ``pick(block)``
        (a mask over the block's frames) keeps only some frames. Each stream's last row is
        carried from block to block: no array over the whole capture (the stream index
        would keep 4 bytes a frame)."""
        column = self.columns["tcp_stream"]
        last = np.full(self.n_streams, -1, dtype=np.int64)     # per stream: its last row
        for start in range(0, column.shape[0], BLOCK_ROWS):
            block = slice(start, start + BLOCK_ROWS)
            picked = column[block] != NO_STREAM
            if pick is not None:
                picked &= pick(block)
            rows = np.flatnonzero(picked)
            if rows.shape[0] == 0:
                continue
            # stable: rows of one stream keep capture order within the block
            rows = rows[by_stream(column[block][rows])] + start
            stream = column[rows].astype(np.int64)
            first = np.ones(rows.shape[0], dtype=bool)        # of its stream in the block
            np.not_equal(stream[1:], stream[:-1], out=first[1:])
            prev = np.empty_like(rows)
            prev[1:] = rows[:-1]
            prev[first] = last[stream[first]]
            final = np.append(first[1:], True)                 # its stream's last in the block
            last[stream[final]] = rows[final]
            yield prev, rows, stream

    def _stream_bounds(self) -> np.ndarray:
        """Where each stream's rows start in stream_index()'s order (plus the end),
        counted a block at a time."""
        if self._bounds is None:
            column = self.columns["tcp_stream"]
            count = np.zeros(self.n_streams + 1, dtype=np.int64)
            for start in range(0, column.shape[0], BLOCK_ROWS):
                count += np.bincount(np.minimum(column[start:start + BLOCK_ROWS], self.n_streams),
                                     minlength=self.n_streams + 1)
            self._bounds = np.concatenate(([0], np.cumsum(count[:-1])))
        return self._bounds

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
        return self.ts_ns[rows], self.at("tcp_win_scaled", rows)

    def rtt_samples(self, stream: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Wireshark's tcp.analysis.ack_rtt samples of one stream, as (frame numbers, ns),
        split by the side that sent the acknowledging frame: keys "ack_rtt_server" and
        "ack_rtt_client". (The TSval/TSecr RTTs are summed up in the flow table only.)"""
        out = {}
        rows = np.flatnonzero((self.columns["tcp_stream"] == stream)
                              & (self.columns["tcp_acks_frame"] > 0))
        rtt = self.ack_rtt_ns(rows)
        for side, mask in (("server", self.client_dir[rows] == 0),
                           ("client", self.client_dir[rows] == 1)):
            out[f"ack_rtt_{side}"] = (rows[mask] + 1, rtt[mask])
        return out

    def flow(self, stream: int) -> dict:
        """One flow as a dict of Python scalars."""
        return {k: v[stream].item() for k, v in self.flows.items()}


# ----------------------------------------------------------------------------------------
# 1. Conversation keys (NumPy)
# ----------------------------------------------------------------------------------------
def _tcp_rows(table: PacketTable) -> np.ndarray:
    c = table.columns
    return (c["ip_proto"] == 6) & (c["ip_version"] != 0) & (c["tcp_hdr_len"] > 0)


def _quoted_tcp(table: PacketTable):
    """ICMP/ICMPv6 errors quoting a TCP header that Wireshark dissects far enough to find
    its conversation (16 bytes: ports, seq, ack, flags, window): their rows, and the
    quoted version, addresses, ports and sequence number. Wireshark gives such a frame the
    quoted 4-tuple's tcp.stream (creating a conversation if it is new) and no analysis."""
    c = table.columns
    ic = table.icmp
    n = len(table)
    rows = ic["row"].astype(np.int64)
    ok = (ic["q_proto"] == 6) & (ic["q_ip_version"] != 0) & (rows < n)
    rows_c = np.minimum(rows, max(n - 1, 0))
    quoted = c["payload_len"][rows_c].astype(np.int64)            # after the 8-byte header
    cut = (c["wire_len"][rows_c].astype(np.int64) - c["cap_len"][rows_c])
    ip_hdr = np.where(ic["q_ip_version"] == 4, 20, 40)
    ok &= np.minimum(quoted, quoted - cut) - ip_hdr >= 16
    sel = np.flatnonzero(ok)
    return (rows[sel], ic["q_ip_version"][sel], ic["q_src"][sel], ic["q_dst"][sel],
            ic["q_sport"][sel], ic["q_dport"][sel], ic["q_tcp_seq"][sel])


def flow_keys(table: PacketTable, is_tcp: np.ndarray | None = None, quoted=None):
    """Canonical 4-tuple keys and directions of the TCP frames.

    Returns (lo, hi, direction): per frame, the lower and higher endpoint of its 4-tuple
    as uint64 ``version << 48 | address << 16 | port`` (0 for frames without TCP), and 0
    when the frame was sent by the lower endpoint, 1 otherwise. Both directions of a
    connection get the same (lo, hi): Wireshark's conversations are bidirectional. ICMP
    errors quoting TCP (``quoted``, from _quoted_tcp) get the quoted packet's key.
    """
    c = table.columns
    if is_tcp is None:
        is_tcp = _tcp_rows(table)
    u = np.uint64
    # In place, three uint64 arrays at most: this runs over every frame of big captures.
    ver = c["ip_version"].astype(u)
    ver <<= u(48)
    ver *= is_tcp
    src, dst = c["ip_src"].astype(u), c["ip_dst"].astype(u)
    for key, port in ((src, c["sport"]), (dst, c["dport"])):
        key <<= u(16)
        key |= port
        key |= ver
    del ver
    keep = is_tcp.copy()
    if quoted is not None and quoted[0].shape[0]:
        rows, qv, qs, qd, qsp, qdp, _ = quoted
        qver = qv.astype(u) << u(48)
        src[rows] = qver | (qs.astype(u) << u(16)) | qsp
        dst[rows] = qver | (qd.astype(u) << u(16)) | qdp
        keep[rows] = True
    swap = src > dst
    swap &= keep
    lo = np.minimum(src, dst)
    hi = np.maximum(src, dst, out=src)
    del dst
    lo *= keep
    hi *= keep
    return lo, hi, swap.view(np.uint8)


def flow_order(table: PacketTable, rows: np.ndarray | None = None):
    """The TCP rows grouped by 4-tuple, capture order inside a group (for callers that
    work per connection with NumPy; the analysis itself does not need it).

    Returns (order, group_start, direction): ``order`` the row indices, ``group_start`` the
    offsets of each group in it (plus the end), ``direction`` a per-row uint8 (0 when the
    source is the lower endpoint of the key, else 1; 0 for non-TCP rows).
    """
    is_tcp = _tcp_rows(table)
    if rows is not None:
        only = np.zeros(len(table), dtype=bool)
        only[rows] = True
        is_tcp &= only
    lo, hi, direction = flow_keys(table, is_tcp)
    rows = np.flatnonzero(is_tcp)
    lo, hi = lo[rows], hi[rows]
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
    group_start = np.concatenate(([0], starts, [order.shape[0]])).astype(np.int64)
    if order.shape[0] == 0:
        group_start = np.zeros(1, dtype=np.int64)
    return order, group_start, direction


def _last_per_row(rows: np.ndarray, values: np.ndarray, n: int):
    """Rows inside the table, sorted and unique (the last value of a row wins, as a
    NumPy assignment by index would have it), and their values."""
    ok = rows < n
    rows, values = rows[ok], values[ok]
    order = np.argsort(rows, kind="stable")
    rows, values = rows[order], values[order]
    last = np.ones(rows.shape[0], dtype=bool)
    last[:-1] = rows[1:] != rows[:-1]
    return rows[last], values[last]


def _sparse_options(table: PacketTable):
    """The window-scale shifts (capped at 14) and the SACK byte sums (mod 2^32) of the
    frames that carry them, as sorted unique rows and values: the kernel's sparse inputs."""
    n = len(table)
    rows = table.tcpopt["row"].astype(np.int64)
    ws = table.tcpopt["wscale"]
    has = ws != 255
    ws_rows, ws_vals = _last_per_row(rows[has], np.minimum(ws[has], 14).astype(np.int8), n)
    srows = table.sack["row"].astype(np.int64)
    ok = srows < n
    with np.errstate(over="ignore"):
        sizes = (table.sack["right"][ok] - table.sack["left"][ok]).astype(np.uint32)
    order = np.argsort(srows[ok], kind="stable")
    srows, sizes = srows[ok][order], sizes[order]
    starts = np.flatnonzero(np.concatenate(([True], srows[1:] != srows[:-1]))) \
        if srows.shape[0] else np.zeros(0, dtype=np.int64)
    sack_rows = srows[starts]
    sums = np.add.reduceat(sizes, starts) if starts.shape[0] else np.zeros(0, dtype=np.uint32)
    return ws_rows, ws_vals, sack_rows, sums.astype(np.uint32)


def _dense_options(table: PacketTable):
    """The same inputs one per frame, for the pure-Python engine: window-scale shift (-1
    none), whether SACK blocks came, and their byte sums."""
    n = len(table)
    ws_rows, ws_vals, sack_rows, sums = _sparse_options(table)
    wscale = np.full(n, -1, dtype=np.int8)
    wscale[ws_rows] = ws_vals
    sack_sum = np.zeros(n, dtype=np.uint32)
    sack_sum[sack_rows] = sums
    has_sack = (table.columns["tcp_opts"] & int(TcpOpt.SACK)) != 0
    return wscale, has_sack.view(np.uint8), sack_sum


# ----------------------------------------------------------------------------------------
# 2. The state machine
# ----------------------------------------------------------------------------------------
STAT = {name: i for i, name in enumerate((
    "first_row", "last_row", "first_ts", "last_ts", "irtt_ns", "wscale_0", "wscale_1",
    "syn_dir", "packets_0", "packets_1", "bytes_0", "bytes_1", "data_packets", "syn_0",
    "syn_1", "synack_0", "synack_1", "rst_0", "rst_1", "fin_0", "fin_1", "zero_window_ns",
    "zero_window_max_ns", *(f"flag_{1 << i:#06x}" for i in range(15)),
    "retransmissions", "maxend_0", "maxend_1", "minseq_0", "minseq_1"))}


def _run_state_machine(table: PacketTable, engine: str, per_frame: bool = True):
    """Run one engine; (per-frame columns, per-conversation counts, direction per frame,
    TSval/TSecr RTT samples as (rows, rows whose TSval each echoes), the duplicate-ACK
    columns on the duplicate ACKs, the rows of ICMP errors quoting TCP, the relative
    numbers' (steps, exceptions) or None where the columns are stored). Without
    per_frame, the columns are tcp_stream alone and there are no samples."""
    quoted = _quoted_tcp(table)
    relative = None
    if engine == "compiled":
        out, stats, direction, ts, dupacks, relative = _compiled(table, quoted, per_frame)
    elif engine == "python":
        out, stats, direction, ts, dupacks = _reference(table, quoted)
    else:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not per_frame:
        return ({"tcp_stream": out["tcp_stream"]}, stats, direction,
                (ts[0][:0], ts[1][:0]), {}, quoted[0], None)
    # tshark shows the quoted header's raw sequence number as tcp.seq of such a frame (and
    # neither an ack nor a window): an exception to the relative numbers
    if relative is None:
        out["tcp_seq_rel"][quoted[0]] = quoted[6]
    else:
        steps, exceptions = relative
        extra = np.zeros((quoted[0].shape[0], 4), dtype=np.uint32)
        extra[:, 0], extra[:, 1] = quoted[0], quoted[6]
        exceptions = np.concatenate([exceptions, extra])
        relative = steps, exceptions[np.argsort(exceptions[:, 0], kind="stable")]
    return out, stats, direction, ts, dupacks, quoted[0], relative


def _quoted_keys(quoted, n: int):
    """The sorted rows of the ICMP errors quoting TCP and their quoted endpoint keys."""
    rows, qv, qs, qd, qsp, qdp, _ = quoted
    u = np.uint64
    qver = qv.astype(u) << u(48)
    src = qver | (qs.astype(u) << u(16)) | qsp.astype(u)
    dst = qver | (qd.astype(u) << u(16)) | qdp.astype(u)
    return _last_per_row(rows, np.stack([src, dst], axis=1), n)


def _compiled(table: PacketTable, quoted, per_frame: bool = True):
    """The compiled kernel reads the table's columns in place and derives the keys and
    per-frame switches itself: no per-frame temporaries (the memory budget of a big
    capture). Without per_frame, the outputs other than the stream are one-entry scratch."""
    from . import _tcp

    c = table.columns
    n = len(table)
    q_rows, q_keys = _quoted_keys(quoted, n)
    ws_rows, ws_vals, sack_rows, sack_sums = _sparse_options(table)
    out = {"tcp_stream": np.zeros(n, dtype=np.uint32),
           **empty_columns([c for c in DENSE_ANALYSIS if c.name != "tcp_stream"],
                           n if per_frame else 1)}
    direction = np.zeros(n, dtype=np.uint8)
    status, stats, (ts_rows, ts_from), (dup_rows, dup_num, dup_frame), relative = _tcp._analyze(
        c["ip_version"], c["ip_proto"], c["tcp_hdr_len"], c["status"], c["ip_src"],
        c["ip_dst"], c["sport"], c["dport"], c["ts_ns"], c["tcp_seq"], c["tcp_ack"],
        c["tcp_flags"], c["tcp_win"], c["payload_len"], c["tcp_opts"], c["tcp_tsval"],
        c["tcp_tsecr"], int(TcpOpt.SACK), int(TcpOpt.TIMESTAMP),
        int(DecodeStatus.BAD_TCP_HEADER_LEN), int(DecodeStatus.TRUNCATED_L4), per_frame,
        q_rows, np.ascontiguousarray(q_keys[:, 0]), np.ascontiguousarray(q_keys[:, 1]),
        ws_rows, ws_vals, sack_rows, sack_sums,
        out["tcp_stream"], out["tcp_bytes_in_flight"], out["tcp_analysis"],
        out["tcp_acks_frame"], direction)
    if status != 0:
        raise RuntimeError(f"TCP analysis kernel failed with status {status}")
    dupacks = {"row": dup_rows, "tcp_dupack_num": dup_num, "tcp_dupack_frame": dup_frame}
    return out, stats, direction, (ts_rows, ts_from), dupacks, relative


def _reference(table: PacketTable, quoted):
    """The pure-Python engine (cnfpost/tcp_py.py) on the same inputs spelled out per
    frame with NumPy (flow_keys, the options): an independent check of the kernel's own
    derivation of them."""
    from . import tcp_py

    c = table.columns
    n = len(table)
    is_tcp = _tcp_rows(table)
    lo, hi, direction = flow_keys(table, is_tcp, quoted)
    analyze = is_tcp & (c["status"] != int(DecodeStatus.BAD_TCP_HEADER_LEN))
    stream_only = np.zeros(n, dtype=np.uint8)
    stream_only[quoted[0]] = 1
    is_tcp = is_tcp | (stream_only != 0)
    show = ~(c["status"] == int(DecodeStatus.TRUNCATED_L4))
    wscale, has_sack, sack_sum = _dense_options(table)
    has_ts = ((c["tcp_opts"] & int(TcpOpt.TIMESTAMP)) != 0).view(np.uint8)
    out = empty_columns(ANALYSIS_COLUMNS, n)
    ts_from = np.full(n, -1, dtype=np.int64)
    status, stats = tcp_py.analyze(
        lo, hi, is_tcp.view(np.uint8), analyze.view(np.uint8), show.view(np.uint8), stream_only,
        c["ts_ns"], c["tcp_seq"], c["tcp_ack"], c["tcp_flags"], c["tcp_win"], c["payload_len"],
        direction, wscale, has_sack, sack_sum, has_ts, c["tcp_tsval"], c["tcp_tsecr"],
        out["tcp_stream"], out["tcp_seq_rel"], out["tcp_ack_rel"], out["tcp_win_scaled"],
        out["tcp_bytes_in_flight"], out["tcp_analysis"], out["tcp_dupack_num"],
        out["tcp_dupack_frame"], out["tcp_acks_frame"], ts_from)
    if status != 0:
        raise RuntimeError(f"TCP analysis reference engine failed with status {status}")
    ts_rows = np.flatnonzero(ts_from >= 0)
    # the duplicate-ACK columns kept as the kernel keeps them: on the duplicate ACKs only
    dup = np.flatnonzero((out["tcp_dupack_num"] != 0) | (out["tcp_dupack_frame"] != 0))
    dupacks = {"row": dup.astype(np.uint32), **{name: out.pop(name)[dup]
                                                for name in SPARSE_ANALYSIS}}
    return (out, stats, direction, (ts_rows.astype(np.uint32), ts_from[ts_rows].astype(np.uint32)),
            dupacks)


# ----------------------------------------------------------------------------------------
# 3. The flow table
# ----------------------------------------------------------------------------------------
def analyze_tcp(table: PacketTable, engine: str = "compiled",
                per_frame: bool = True) -> TcpAnalysis:
    """Flows and Wireshark's per-packet TCP analysis of a decoded capture.

    per_frame=False keeps the flow table's counts and tcp_stream only: no other per-frame
    column and no distributions (win_*, ack_rtt_*, ts_rtt_*), for `cnfpost info`, at a
    fraction of the memory."""
    c = table.columns
    out, stats, direction, (ts_rows, ts_from), dupacks, quoted_rows, relative_parts = \
        _run_state_machine(table, engine, per_frame)
    eager, client_dir = _flow_table(table, out, stats, direction)
    del direction
    nconv = stats.shape[0]
    if per_frame and nconv:
        eager.update(_ts_rtts(out["tcp_stream"], c["ts_ns"], ts_rows, ts_from, nconv))
    del ts_rows, ts_from
    relative = None if relative_parts is None else RelativeNumbers.of(
        *relative_parts, c, out["tcp_stream"], client_dir)
    tcp = TcpAnalysis(columns=out, flows=eager, ts_ns=c["ts_ns"], tcp_flags=c["tcp_flags"],
                      payload_len=c["payload_len"], client_dir=client_dir,
                      quoted_rows=quoted_rows, dupacks=dupacks, relative=relative)
    if per_frame and nconv:
        tcp.flows = FlowTable(eager, _distributions(tcp, nconv))
    return tcp


STAT_BITS = 40        # value bits of a distribution key: values are clipped to 2**40 - 1


def _keys(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``group << STAT_BITS | value`` keys of non-negative integer values (clipped)."""
    v = np.minimum(np.maximum(values.astype(np.int64), 0), (1 << STAT_BITS) - 1)
    return (group.astype(np.uint64) << np.uint64(STAT_BITS)) | v.astype(np.uint64)


def _block_stats(n: int, part: Callable[[slice], tuple[np.ndarray, np.ndarray]],
                 ngroups: int):
    """(count, min, median, max) per group of the non-negative integer values that ``part``
    gives as (group, values) for each block of the n rows; -1 where empty. No per-frame
    temporaries: a first pass counts, a second fills one key array, sorted in place (8
    bytes per value kept, nothing more)."""
    keys = gather_blocks(n, BLOCK_ROWS, lambda block: _keys(*part(block)), np.uint64)
    keys.sort()
    return _sorted_stats(keys, ngroups)


def _sorted_stats(keys: np.ndarray, ngroups: int):
    """(count, min, median, max) per group of sorted distribution keys; -1 where empty."""
    cap = np.uint64((1 << STAT_BITS) - 1)
    bounds = np.searchsorted(keys, np.arange(ngroups + 1, dtype=np.uint64)
                             << np.uint64(STAT_BITS))
    count = np.diff(bounds).astype(np.int64)
    mn = np.full(ngroups, -1, dtype=np.int64)
    md = np.full(ngroups, -1, dtype=np.int64)
    mx = np.full(ngroups, -1, dtype=np.int64)
    has = count > 0
    s, k = bounds[:-1][has], count[has]

    def value(at):
        return (keys[at] & cap).astype(np.int64)

    mn[has] = value(s)
    mx[has] = value(s + k - 1)
    md[has] = (value(s + (k - 1) // 2) + value(s + k // 2)) // 2
    return count, mn, md, mx


def _flow_table(table, out, stats, direction):
    """The per-stream flow table, and per frame whether its stream's client sent it (in
    `direction`'s memory, which the caller gives up)."""
    c = table.columns
    n = len(table)
    nconv = stats.shape[0]
    if nconv == 0:
        return ({name: np.zeros(0, dtype=np.int64) for name in FLOW_FIELDS},
                np.zeros(n, dtype=np.uint8))

    def col(name):
        return stats[:, STAT[name]]

    stream = out["tcp_stream"]
    # Client (the one rule for every stage: wire/, phases, findings, reports): the sender
    # of the first SYN (without ACK); else the receiver of the SYN/ACKs (when only one side
    # sent any); else the endpoint with the higher port (the ephemeral one); else the sender
    # of the first frame.
    first = col("first_row")
    first_dir = direction[first].astype(np.int64)
    from0, from1 = col("synack_0") > 0, col("synack_1") > 0
    synack_client = np.where(from0 & ~from1, 1, np.where(from1 & ~from0, 0, -1))
    sport, dport = c["sport"][first].astype(np.int64), c["dport"][first].astype(np.int64)
    port_client = np.where(sport > dport, first_dir,
                           np.where(sport < dport, 1 - first_dir, first_dir))
    client = np.where(col("syn_dir") >= 0, col("syn_dir"),
                      np.where(synack_client >= 0, synack_client, port_client)).astype(np.int64)
    # Per frame: sent by its stream's client? One byte a frame and no index arrays (the
    # memory budget of a big capture): a table of each stream's client direction, with a
    # last entry no direction equals for the frames without a stream.
    side = np.full(nconv + 1, 2, dtype=np.uint8)
    side[:nconv] = client
    client_dir_row = direction          # rewritten in place, a block at a time
    for start in range(0, n, BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        np.equal(direction[block], side[np.minimum(stream[block], nconv)],
                 out=client_dir_row[block].view(bool))
    cs = client          # direction index of the client, per stream
    ss = 1 - client

    def by_side(name, side):
        return np.where(side == 0, col(f"{name}_0"), col(f"{name}_1"))

    f = {"stream": np.arange(nconv, dtype=np.int64)}
    f["ip_version"] = c["ip_version"][first].astype(np.int64)
    first_from_client = client_dir_row[first] == 1
    f["client_addr"] = np.where(first_from_client, c["ip_src"][first], c["ip_dst"][first]).astype(np.int64)
    f["client_port"] = np.where(first_from_client, c["sport"][first], c["dport"][first]).astype(np.int64)
    f["server_addr"] = np.where(first_from_client, c["ip_dst"][first], c["ip_src"][first]).astype(np.int64)
    f["server_port"] = np.where(first_from_client, c["dport"][first], c["sport"][first]).astype(np.int64)
    f["first_frame"] = first + 1
    f["last_frame"] = col("last_row") + 1
    f["start_ns"] = col("first_ts")
    f["end_ns"] = col("last_ts")
    f["duration_ns"] = f["end_ns"] - f["start_ns"]
    f["packets_c2s"] = by_side("packets", cs)
    f["packets_s2c"] = by_side("packets", ss)
    f["bytes_c2s"] = by_side("bytes", cs)
    f["bytes_s2c"] = by_side("bytes", ss)
    f["syn_count"] = by_side("syn", cs)
    f["synack_count"] = by_side("synack", ss)
    f["syn_retries"] = np.maximum(f["syn_count"] - 1, 0)
    irtt = col("irtt_ns")
    f["irtt_ns"] = np.where(irtt > 0, irtt, -1)
    hs = np.full(nconv, 4, dtype=np.int64)
    syn, synack, rst_s = f["syn_count"] > 0, f["synack_count"] > 0, by_side("rst", ss) > 0
    hs[~syn] = 0
    hs[syn & ~synack] = 2
    hs[syn & ~synack & rst_s] = 3
    hs[syn & synack & (irtt > 0)] = 1
    f["handshake"] = hs

    # Options of the SYN and SYN/ACK (sparse: only those frames are looked at).
    flags = c["tcp_flags"]
    syn_rows = np.flatnonzero((flags & SYN) != 0)
    syn_rows = syn_rows[stream[syn_rows] != NO_STREAM]
    syn_conv = stream[syn_rows].astype(np.int64)
    syn_client = client_dir_row[syn_rows] == 1
    pure = (flags[syn_rows] & ACK) == 0
    mine = pure & syn_client            # the client's SYNs
    theirs = ~pure & ~syn_client        # the server's SYN/ACKs
    mss_rows, mss = _last_per_row(table.tcpopt["row"].astype(np.int64),
                                  table.tcpopt["mss"].astype(np.int64), n)
    at = np.minimum(np.searchsorted(mss_rows, syn_rows), max(mss_rows.shape[0] - 1, 0))
    syn_mss = np.where(mss_rows[at] == syn_rows, mss[at], 0) if mss_rows.shape[0] \
        else np.zeros(syn_rows.shape[0], dtype=np.int64)
    for name, sel in (("mss_client", mine), ("mss_server", theirs)):
        f[name] = np.zeros(nconv, dtype=np.int64)
        np.maximum.at(f[name], syn_conv[sel], syn_mss[sel])
    f["wscale_client"] = by_side("wscale", cs)
    f["wscale_server"] = by_side("wscale", ss)
    opts = c["tcp_opts"][syn_rows]
    for name, bit in (("sack_permitted", TcpOpt.SACK_PERM), ("timestamps", TcpOpt.TIMESTAMP)):
        has = (opts & int(bit)) != 0
        a = np.bincount(syn_conv[mine & has], minlength=nconv) > 0
        b = np.bincount(syn_conv[theirs & has], minlength=nconv) > 0
        f[name] = a & b

    def flag(bit):
        return col(f"flag_{int(bit):#06x}")

    f["retransmissions"] = col("retransmissions")
    f["fast_retransmissions"] = flag(A.FAST_RETRANSMISSION)
    f["spurious_retransmissions"] = flag(A.SPURIOUS_RETRANSMISSION)
    f["out_of_order"] = flag(A.OUT_OF_ORDER)
    f["lost_segments"] = flag(A.LOST_PACKET)
    f["acked_unseen"] = flag(A.ACK_LOST_PACKET)
    f["dup_acks"] = flag(A.DUPLICATE_ACK)
    f["zero_windows"] = flag(A.ZERO_WINDOW)
    f["zero_window_probes"] = flag(A.ZERO_WINDOW_PROBE)
    f["window_full"] = flag(A.WINDOW_FULL)
    f["window_updates"] = flag(A.WINDOW_UPDATE)
    f["keep_alives"] = flag(A.KEEP_ALIVE)
    f["data_packets"] = col("data_packets")
    f["zero_window_ns"] = col("zero_window_ns")
    f["zero_window_max_ns"] = col("zero_window_max_ns")

    rst = (col("rst_0") + col("rst_1")) > 0
    fin_c, fin_s = by_side("fin", cs) > 0, by_side("fin", ss) > 0
    end = np.zeros(nconv, dtype=np.int64)
    end[fin_c | fin_s] = 3
    end[fin_c & fin_s] = 1
    end[rst] = 2
    f["end"] = end

    # Unique bytes: the span of relative sequence numbers each side's data covered.
    dur = f["duration_ns"]
    for side, sd in (("c2s", cs), ("s2c", ss)):
        hi_ = by_side("maxend", sd)
        lo_ = by_side("minseq", sd)
        uniq = np.where((hi_ >= 0) & (lo_ >= 0), hi_ - lo_, 0)
        f[f"unique_bytes_{side}"] = uniq
        f[f"goodput_{side}_bps"] = np.where(dur > 0, uniq * 8 * 1e9 / np.maximum(dur, 1), 0.0)
    return {name: np.asarray(f[name]) for name in FLOW_FIELDS if name in f}, client_dir_row


def _distributions(tcp: TcpAnalysis, nconv: int) -> dict[str, Callable[[], dict]]:
    """The flow table's per-stream distributions (count, min, median, max), as two
    families each computed on first use (FlowTable), from arrays the analysis keeps:
    windows advertised each way, ACK RTTs by the side that acked. Each costs sorts over the
    frames; the diagnosis reads only the ACK RTTs. (The TSval/TSecr RTTs: _ts_rtts.)"""
    # arrays only, not `tcp`: the flow table is the analysis's own (no reference cycle, so
    # a dropped analysis is freed at once)
    stream, client_dir_row, flags = tcp.columns["tcp_stream"], tcp.client_dir, tcp.tcp_flags
    acks, ts = tcp.columns["tcp_acks_frame"], tcp.ts_ns
    relative, stored = tcp.relative, tcp.columns.get("tcp_win_scaled")

    def window_at(rows: np.ndarray) -> np.ndarray:
        return stored[rows] if relative is None else relative.at("tcp_win_scaled", rows)

    n = stream.shape[0]

    def by_side(part, prefix: str, names: tuple[str, ...], sides: tuple[str, str]) -> dict:
        # groups 0..nconv-1: the first side's values per stream; nconv..: the second's
        stats = _block_stats(n, part, 2 * nconv)
        f = {}
        for k, side in enumerate(sides):
            for name, values in zip(names, stats):
                if name is not None:
                    f[f"{prefix}{name.format(side=side)}"] = values[k * nconv:(k + 1) * nconv]
        return f

    def windows() -> dict:
        # Advertised windows (scaled), of frames carrying an ACK, SYNs excluded.
        def part(block: slice):
            fl = flags[block]
            rows = block.start + np.flatnonzero((stream[block] != NO_STREAM)
                                                & ((fl & (ACK | SYN)) == ACK))
            group = stream[rows].astype(np.int64) + nconv * (client_dir_row[rows] != 1)
            return group, window_at(rows)
        return by_side(part, "win_", (None, "min_{side}", "median_{side}", "max_{side}"),
                       ("c2s", "s2c"))

    def ack_rtts() -> dict:
        # Wireshark's tcp.analysis.ack_rtt, split by the side that sent the ACK.

        def part(block: slice):
            rows = block.start + np.flatnonzero(acks[block])
            acked = acks[rows].astype(np.int64) - 1
            timed = (ts[rows] != NO_TIME) & (ts[acked] != NO_TIME)
            rows, acked = rows[timed], acked[timed]
            group = stream[rows].astype(np.int64) + nconv * (client_dir_row[rows] == 1)
            return group, ts[rows] - ts[acked]
        return by_side(part, "ack_rtt_", ("{side}_count", "{side}_min_ns", "{side}_median_ns",
                                          "{side}_max_ns"), ("server", "client"))

    return {"win_": windows, "ack_rtt_": ack_rtts}


def _ts_rtts(stream: np.ndarray, ts_ns: np.ndarray, rows: np.ndarray, echoed: np.ndarray,
             nconv: int) -> dict[str, np.ndarray]:
    """The flow table's TSval/TSecr RTT distribution, from the kernel's samples (a frame
    echoing a TSval and the frame that first carried it). Summed up at once and the samples
    let go: nothing else reads them, and they are 8 bytes each on about every second frame
    of a bulk transfer."""
    def part(block: slice):
        now, then = ts_ns[rows[block]], ts_ns[echoed[block]]
        timed = (now != NO_TIME) & (then != NO_TIME)   # no time, no RTT
        return stream[rows[block][timed]].astype(np.int64), now[timed] - then[timed]
    cnt, mn, md, mx = _block_stats(rows.shape[0], part, nconv)
    return {"ts_rtt_count": cnt, "ts_rtt_min_ns": mn, "ts_rtt_median_ns": md,
            "ts_rtt_max_ns": mx}


class FlowTable(Mapping):
    """The flow table: FLOW_FIELDS name -> one value per stream. Each family of
    distributions (_distributions, keyed by its fields' name prefix) is computed the first
    time one of its fields is read; `cnfpost info` and most rules never read them."""

    def __init__(self, eager: dict[str, np.ndarray], lazy: dict[str, Callable[[], dict]]):
        self._data, self._lazy = eager, dict(lazy)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._data and name in FLOW_FIELDS:
            prefix = next((p for p in self._lazy if name.startswith(p)), None)
            if prefix is not None:
                self._data.update(self._lazy.pop(prefix)())
        return self._data[name]

    def _names(self) -> list[str]:
        return [name for name in FLOW_FIELDS if name in self._data
                or any(name.startswith(p) for p in self._lazy)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())
