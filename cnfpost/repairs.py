"""What each retransmitted or late data segment was: a repair after loss, a needless copy,
or a segment that was only overtaken; and where the loss was (which direction).

Wireshark's flags say what a segment looks like on the wire (tcp.analysis.retransmission,
out_of_order, spurious_retransmission), not why. The probe's capture is taken at the
client, so it sees every segment the client sent and only the server's segments that
arrived. That decides each flagged data segment (payload > 0) of a connection:

Server -> client (the capture is at the receiver):

- **copy**: the same bytes (same relative sequence number) had arrived before: the
  retransmission was not needed by the receiver (`spurious`: sent after reordering fooled
  the sender, after an ACK was lost on the way up, or by an early timeout);
- **reordered**: new bytes that arrive after later bytes, less than
  ``REORDER_RTT_FRACTION`` of the connection's RTT after the later bytes first arrived:
  the network held them back; no sender can retransmit that fast (it needs the duplicate
  ACKs to reach it and its retransmission to come back: a round trip at least);
- **repair**: new bytes that fill a hole a round trip or more after it opened: the
  original was lost between server and probe (downstream loss).

Client -> server (the capture is at the sender): every retransmission is seen twice.

- **copy** when the server had acknowledged the bytes before the copy was sent
  (Wireshark's spurious flag) or reports them as duplicates later (a D-SACK block,
  RFC 2883: a SACK block below the cumulative ACK);
- **repair** otherwise: the original was lost on the way up (upstream loss).

A capture taken near the server (its SYN/ACK leaves at once, the handshake's ACK comes a
round trip later: :func:`capture_at_server`) swaps the two views: the server's data is
judged as the sender's, the client's as the receiver's.

Computed once per capture (:func:`classify_repairs`) and read by the rules and the cause
model. SYN and FIN retransmissions carry no payload and are not here (SYN retries are
connection set-up: cnfpost/rules.py rule_syn_retry).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import BLOCK_ROWS, NO_STREAM, PacketTable, TcpAnalysisFlag, gather_blocks
from .tcp import TcpAnalysis

__all__ = ["Repairs", "classify_repairs", "REORDER_RTT_FRACTION", "KINDS"]

A = TcpAnalysisFlag
FLAGGED = int(A.RETRANSMISSION | A.FAST_RETRANSMISSION | A.SPURIOUS_RETRANSMISSION
              | A.OUT_OF_ORDER)
# A late segment that arrives within half a round trip of the bytes that overtook it was
# held back by the network: a retransmission needs a full round trip to be triggered and
# to come back (RFC 5681 section 3.2: three duplicate ACKs must first reach the sender).
REORDER_RTT_FRACTION = 0.5
KINDS = ("repair", "copy", "reordered")
DIRECTIONS = ("up", "down")       # up: client -> server; down: server -> client


@dataclass(frozen=True)
class Repairs:
    """Per flagged data segment (parallel arrays, capture order)."""

    rows: np.ndarray          # packet table rows
    stream: np.ndarray        # tcp.stream
    up: np.ndarray            # bool: sent by the client (upstream)
    kind: np.ndarray          # index into KINDS
    delay_ns: np.ndarray      # server->client: time since later bytes first arrived; else -1

    def select(self, kind: str, direction: str | None = None,
               streams: np.ndarray | None = None) -> np.ndarray:
        """Rows of the segments of one kind (and direction, and streams)."""
        mask = self.kind == KINDS.index(kind)
        if direction is not None:
            mask &= self.up if direction == "up" else ~self.up
        if streams is not None:
            mask &= np.isin(self.stream, streams)
        return self.rows[mask]

    def count(self, kind: str, direction: str | None = None) -> int:
        return int(self.select(kind, direction).shape[0])

    def frames(self, kind: str, direction: str | None = None) -> np.ndarray:
        return self.select(kind, direction) + 1


def _stream_rtt_ns(tcp: TcpAnalysis) -> np.ndarray:
    """Per stream: the handshake RTT, else the smallest ACK RTT seen, else 0 (unknown)."""
    f = tcp.flows
    rtt = f["irtt_ns"].astype(np.int64).copy()
    for name in ("ack_rtt_client_min_ns", "ack_rtt_server_min_ns"):
        alt = f[name].astype(np.int64)
        rtt = np.where(rtt > 0, rtt, np.where(alt > 0, alt, rtt))
    return np.maximum(rtt, 0)


def capture_at_server(tcp: TcpAnalysis, streams: np.ndarray | None = None) -> np.ndarray:
    """Per stream: was the capture taken near the server? At the client the SYN/ACK comes a
    round trip after the SYN and the handshake's ACK leaves at once; near the server it is
    the other way round. Without a handshake, the probe's view (the client) is assumed."""
    f = tcp.flows
    n = tcp.n_streams
    asked = f["handshake"] == 1
    if streams is not None:
        only = np.zeros(n, dtype=bool)
        only[streams] = True
        asked &= only
    if not asked.any():
        return np.zeros(n, dtype=bool)
    stream, flags = tcp.columns["tcp_stream"], tcp.tcp_flags
    none = np.iinfo(np.int64).max
    last_syn = np.full(n, -1, dtype=np.int64)
    first_synack = np.full(n, none, dtype=np.int64)
    first_ack = np.full(n, none, dtype=np.int64)
    # A block of the capture at a time, in capture order (the client's pure ACKs are half a
    # bulk capture): an ACK counts only after its stream's first SYN/ACK, which by then is
    # known (it came in this block or an earlier one).
    for start in range(0, len(tcp), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        s = stream[block]
        kind = flags[block] & 0x12                     # the SYN and ACK bits
        ours = (s != NO_STREAM) & asked[np.minimum(s, n - 1)]

        def where(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = np.flatnonzero(mask & ours)
            return rows + start, s[rows].astype(np.int64)

        rows, at = where(kind == 0x02)
        np.maximum.at(last_syn, at, rows)
        rows, at = where(kind == 0x12)
        np.minimum.at(first_synack, at, rows)
        rows, at = where((kind == 0x10) & (tcp.client_dir[block] == 1))
        later = rows > first_synack[at]
        np.minimum.at(first_ack, at[later], rows[later])
    out = asked & (last_syn >= 0) & (first_synack != none) & (first_ack != none)
    k = np.flatnonzero(out)
    ts = tcp.ts_ns
    t_syn, t_synack, t_ack = ts[last_syn[k]], ts[first_synack[k]], ts[first_ack[k]]
    out[k] = (t_synack - t_syn) < (t_ack - t_synack)
    return out


def _dsack_covers(table: PacketTable, tcp: TcpAnalysis, row: int) -> bool:
    """Does a later D-SACK block from the segment's receiver cover its bytes?"""
    sack = table.sack
    if sack["row"].shape[0] == 0:
        return False
    c = table.columns
    stream = tcp.columns["tcp_stream"][row]
    seq = int(c["tcp_seq"][row])
    end = (seq + int(tcp.payload_len[row])) & 0xFFFFFFFF
    srows = sack["row"].astype(np.int64)
    later = (srows > row) & (tcp.columns["tcp_stream"][srows] == stream) \
        & (tcp.client_dir[srows] != tcp.client_dir[row])
    for i in np.flatnonzero(later):
        r, left, right = srows[i], int(sack["left"][i]), int(sack["right"][i])
        ack = int(c["tcp_ack"][r])
        below_ack = ((ack - right) & 0xFFFFFFFF) < 0x80000000   # right <= ack (RFC 2883)
        if below_ack and ((seq - left) & 0xFFFFFFFF) < 0x80000000 \
                and ((right - end) & 0xFFFFFFFF) < 0x80000000:
            return True
    return False


STREAM_SPAN = 1 << 33    # above any relative sequence number: keys of streams kept apart
NOT_YET = np.iinfo(np.int64).max


def _arrived_before(tcp: TcpAnalysis, rows: np.ndarray, streams: np.ndarray, up: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For flagged data segments seen at their receiver (rows, their streams and sides):
    had a segment with the same start arrived at an earlier row (a copy), and the first row
    of the same stream and side whose data had gone above that start, if that row came
    before the segment (else NOT_YET: overtaken only later is not overtaken).

    One pass over the capture in capture order, a block at a time (stream_steps), over the
    data segments of the segments' streams and sides only (ICMP errors quoting a segment are
    not segments); carried from block to block: the first row of each flagged start. A
    segment still waiting had nothing of its stream above its start in the blocks before,
    so each block's own highest starts find where it was overtaken. Nothing as long as the
    data segments is built."""
    n = tcp.n_streams
    # Per stream, the side whose data is judged (client_dir), -1 for none: a stream's
    # flagged segments at their receiver are all of one side (the capture is near the client
    # or the server). Row n stands for frames that are not TCP.
    side = np.full(n + 1, -1, dtype=np.int16)
    side[streams] = up
    column = tcp.columns["tcp_stream"]

    def pick(block: slice) -> np.ndarray:
        return tcp.data_in(block) & (tcp.client_dir[block] == side[np.minimum(column[block], n)])

    # keys: stream * STREAM_SPAN + relative seq
    s = streams * STREAM_SPAN + tcp.at("tcp_seq_rel", rows).astype(np.int64)
    starts = np.unique(s)
    first_row = np.full(starts.shape[0], NOT_YET, dtype=np.int64)   # of each start
    overtaken = np.full(s.shape[0], NOT_YET, dtype=np.int64)
    last = int(rows.max())
    for _, got, stream in tcp.stream_steps(pick):
        if got.min() > last:
            break                  # nothing later can have arrived before a flagged segment
        key = stream * STREAM_SPAN + tcp.at("tcp_seq_rel", got).astype(np.int64)
        at = np.minimum(np.searchsorted(starts, key), starts.shape[0] - 1)
        same = np.flatnonzero(starts[at] == key)
        np.minimum.at(first_row, at[same], got[same])
        # The highest key so far in the block at each row: the block is grouped by stream
        # (ascending) and streams' keys lie STREAM_SPAN apart, so one running maximum over
        # the block is each stream's own, and it never goes down over the block.
        np.maximum.accumulate(key, out=key)
        # a flagged segment before this block can only be overtaken after itself now,
        # which the caller reads as not at all (NOT_YET): only later ones still wait
        since = int(np.searchsorted(rows, got.min()))
        wait = since + np.flatnonzero(overtaken[since:] == NOT_YET)
        above = np.searchsorted(key, s[wait], side="right")
        hit = above < key.shape[0]
        hit[hit] = stream[above[hit]] == streams[wait[hit]]    # above it in its own stream
        overtaken[wait[hit]] = got[above[hit]]
    copy = first_row[np.searchsorted(starts, s)] < rows
    overtaken[overtaken >= rows] = NOT_YET      # (found in its own block, after it)
    return copy, overtaken


def classify_repairs(table: PacketTable, tcp: TcpAnalysis) -> Repairs:
    """Classify every flagged data segment of the capture (see the module docstring). Each
    direction is judged from where the capture was taken: at its receiver (the server's
    data at a probe) by what arrived, at its sender (the probe's own data, or the server's
    data in a capture taken at the server) by what the receiver acknowledged."""
    c = tcp.columns

    def flagged_in(block: slice) -> np.ndarray:
        return block.start + np.flatnonzero(
            (c["tcp_stream"][block] != NO_STREAM) & ((c["tcp_analysis"][block] & FLAGGED) != 0)
            & (tcp.payload_len[block] > 0))

    flagged = gather_blocks(len(tcp), BLOCK_ROWS, flagged_in, np.int64)
    n = flagged.shape[0]
    kind = np.zeros(n, dtype=np.int8)
    delay = np.full(n, -1, dtype=np.int64)
    up = tcp.client_dir[flagged] == 1
    streams = c["tcp_stream"][flagged].astype(np.int64)
    if n == 0:
        return Repairs(flagged, streams, up, kind, delay)
    rtt = _stream_rtt_ns(tcp)
    spurious = (c["tcp_analysis"][flagged] & int(A.SPURIOUS_RETRANSMISSION)) != 0
    at_server = capture_at_server(tcp, streams)[streams]
    at_receiver = up == at_server         # client data at the server, server data at the client
    recv = np.flatnonzero(at_receiver)
    if recv.size:
        r = flagged[recv]
        copy, overtaken_by = _arrived_before(tcp, r, streams[recv], up[recv])
        late = ~copy & (overtaken_by < r)          # later bytes had arrived before it
        early = ~copy & ~late                      # nothing later had arrived: not late at all
        d = tcp.ts_ns[r[late]] - tcp.ts_ns[overtaken_by[late]]
        own = rtt[streams[recv][late]]
        late_only = (own > 0) & (d < REORDER_RTT_FRACTION * own)
        kind[recv[copy]] = KINDS.index("copy")
        kind[recv[early]] = KINDS.index("reordered")
        delay[recv[early]] = 0
        delay[recv[late]] = d
        kind[recv[late]] = np.where(late_only, KINDS.index("reordered"), KINDS.index("repair"))
    for i in np.flatnonzero(~at_receiver):
        r = int(flagged[i])
        needless = spurious[i] or _dsack_covers(table, tcp, r)
        kind[i] = KINDS.index("copy" if needless else "repair")
    return Repairs(flagged, streams, up, kind, delay)
