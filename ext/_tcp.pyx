# cython: language_level=3
"""Compiled TCP session analysis: Wireshark 4.0's per-segment state machine.

One entry point, `_analyze_sorted`, walks the TCP rows of a capture in flow-sorted order
(rows of one 4-tuple together, in capture order; cnfpost/tcp.py sorts them with NumPy)
and fills caller-allocated per-row arrays: the conversation each row belongs to (a new
one starts where Wireshark's port-reuse rule says), relative seq/ack, scaled window,
bytes in flight, the analysis flag bits (Wireshark's TCP_A_* values), duplicate-ACK
number and frame, and the frame an ACK acknowledges. Per conversation it fills the first
row, the initial RTT and the final window-scale state.

The rules are `tcp_analyze_sequence_number()` and the parts of `dissect_tcp()` around it
in epan/dissectors/packet-tcp.c (Wireshark 4.0), as written out in
../shared/tcp-analysis.md; each block below names the rule it follows. The pure-Python
reference (cnfpost/tcp_py.py) follows the same lines, and the tests run on both.

No Python object is touched per packet. Index values come from NumPy code in this
package, but are still checked (a bad index is a returned status, never a wild write);
the rest compiles without bounds checks (setup.py).

Only cnfpost/tcp.py uses this module.
"""
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

# Wireshark's TCP_A_* analysis flag values (packet-tcp.c); cnfpost.model.TcpAnalysisFlag.
cdef enum: A_RETRANSMISSION = 0x0001
cdef enum: A_LOST_PACKET = 0x0002
cdef enum: A_ACK_LOST_PACKET = 0x0004
cdef enum: A_KEEP_ALIVE = 0x0008
cdef enum: A_DUPLICATE_ACK = 0x0010
cdef enum: A_ZERO_WINDOW = 0x0020
cdef enum: A_ZERO_WINDOW_PROBE = 0x0040
cdef enum: A_ZERO_WINDOW_PROBE_ACK = 0x0080
cdef enum: A_KEEP_ALIVE_ACK = 0x0100
cdef enum: A_OUT_OF_ORDER = 0x0200
cdef enum: A_FAST_RETRANSMISSION = 0x0400
cdef enum: A_WINDOW_UPDATE = 0x0800
cdef enum: A_WINDOW_FULL = 0x1000
cdef enum: A_REUSED_PORTS = 0x2000
cdef enum: A_SPURIOUS_RETRANSMISSION = 0x4000

cdef enum: TH_FIN = 0x01
cdef enum: TH_SYN = 0x02
cdef enum: TH_RST = 0x04
cdef enum: TH_ACK = 0x10

# packet-tcp.h: "The most unacked segments we'll store".
cdef enum: MAX_UNACKED = 10000
# Fast retransmission: within 20 ms of the last duplicate ACK (packet-tcp.c).
cdef enum: FASTRT_NS = 20000000
# Out-of-order threshold when no iRTT is known (packet-tcp.c: 3 ms).
cdef enum: OOO_DEFAULT_NS = 3000000
# TSval/TSecr RTT (not a Wireshark field): the last distinct TSvals of each side kept.
cdef enum: TS_RING = 16

STATUS_OK = 0
STATUS_BAD_INDEX = -1
STATUS_NO_MEMORY = -2


# Sequence-space comparisons modulo 2^32, exactly as packet-tcp.h defines them.
cdef inline bint GT_SEQ(uint32_t x, uint32_t y) noexcept nogil:
    return <int32_t>(y - x) < 0

cdef inline bint LT_SEQ(uint32_t x, uint32_t y) noexcept nogil:
    return <int32_t>(x - y) < 0

cdef inline bint LE_SEQ(uint32_t x, uint32_t y) noexcept nogil:
    return <int32_t>(x - y) <= 0


cdef struct Seg:
    uint32_t seq
    uint32_t nextseq
    uint32_t frame
    int64_t ts


# One direction of a conversation (Wireshark's tcp_flow_t + tcp_analyze_seq_flow_info_t).
cdef struct Flow:
    bint base_set
    uint32_t base_seq
    uint32_t nextseq          # 0 = unknown, as in Wireshark
    int64_t nextseqtime
    uint32_t lastack
    int64_t lastacktime
    uint32_t window           # last raw window; G_MAXUINT32 until one is seen
    int win_scale             # -1 unknown, -2 no scaling, else the shift
    uint32_t maxseqtobeacked
    uint32_t dupacknum        # unsigned in 4.0: the -1 of 'ACKed unseen' is >= 2
    uint32_t lastnondupack    # frame number
    uint16_t lastsegmentflags
    bint valid_bif
    bint is_first_ack
    int num_sack_ranges       # of the last segment of this direction (0 or 1 here)
    uint32_t sack_delivered   # sum of right-left over those SACK blocks (mod 2^32)
    Seg* segs                 # unacked segments, oldest first
    int nsegs
    # cached span of the unacked list for bytes in flight: min(seq - base), max(nextseq -
    # base); recomputed only after an ACK removed or trimmed a segment (same result as
    # Wireshark's walk over the whole list at every data segment, without the walk)
    bint span_dirty
    uint32_t span_first
    uint32_t span_last
    # TSvals sent (ring of the last TS_RING distinct ones), when, and whether echoed yet
    uint32_t ts_val[TS_RING]
    int64_t ts_time[TS_RING]
    bint ts_echoed[TS_RING]
    int ts_count
    int ts_head


cdef inline void flow_reset(Flow* f) noexcept nogil:
    cdef Seg* segs = f.segs
    f.base_set = False
    f.base_seq = 0
    f.nextseq = 0
    f.nextseqtime = 0
    f.lastack = 0
    f.lastacktime = 0
    f.window = 0xFFFFFFFF
    f.win_scale = -1
    f.maxseqtobeacked = 0
    f.dupacknum = 0
    f.lastnondupack = 0
    f.lastsegmentflags = 0
    f.valid_bif = True
    f.is_first_ack = False
    f.num_sack_ranges = 0
    f.sack_delivered = 0
    f.segs = segs
    f.nsegs = 0
    f.span_dirty = False
    f.span_first = 0
    f.span_last = 0
    f.ts_count = 0
    f.ts_head = 0


def _analyze_sorted(
    const int64_t[::1] order,
    const int64_t[::1] group_start,
    const int64_t[::1] ts_ns,
    const uint32_t[::1] seq_raw,
    const uint32_t[::1] ack_raw,
    const uint16_t[::1] tcp_flags,
    const uint16_t[::1] tcp_win,
    const uint32_t[::1] seglen_in,
    const uint8_t[::1] analyze,
    const uint8_t[::1] direction,
    const int8_t[::1] wscale,
    const uint8_t[::1] has_sack,
    const uint32_t[::1] sack_sum,
    const uint8_t[::1] has_ts,
    const uint32_t[::1] tsval,
    const uint32_t[::1] tsecr,
    # per row outputs (length n, indexed by row)
    int64_t[::1] out_conv,
    uint32_t[::1] out_seq,
    uint32_t[::1] out_ack,
    uint32_t[::1] out_win,
    uint32_t[::1] out_bif,
    uint16_t[::1] out_flags,
    uint16_t[::1] out_dupnum,
    uint32_t[::1] out_dupframe,
    uint32_t[::1] out_acks_frame,
    int64_t[::1] out_ts_rtt,
    # per conversation outputs (length >= len(order))
    int64_t[::1] conv_first_row,
    int64_t[::1] conv_irtt_ns,
    int8_t[::1] conv_win_scale,   # 2 per conversation: direction 0, direction 1
):
    """Run the state machine; returns (status, number of conversations)."""
    cdef Py_ssize_t n = ts_ns.shape[0]
    cdef Py_ssize_t m = order.shape[0]
    cdef Py_ssize_t ngroups = group_start.shape[0] - 1
    cdef Py_ssize_t g, k, r, i, j, kept
    cdef Py_ssize_t nconv = 0
    cdef Flow flows[2]
    cdef Flow* fwd
    cdef Flow* rev
    cdef int d
    cdef uint32_t seq, ack, seglen, window, nextseq, frame, first_seq, last_seq, in_flight
    cdef uint32_t rel_seq, rel_ack, acked_frame
    cdef uint16_t flags, af, dupnum
    cdef uint32_t dupframe
    cdef int64_t now
    cdef int64_t ts_mru_syn = 0
    cdef int64_t first_rtt = 0
    cdef uint64_t t, ooo_thres
    cdef bint seq_not_advanced, sf
    cdef int shift, q
    cdef bint trimmed
    cdef int64_t ts_rtt
    cdef Seg* s

    # Every array the loop indexes by row must hold n rows, and every output by
    # conversation must hold one per sorted row (there are at most that many).
    if (seq_raw.shape[0] != n or ack_raw.shape[0] != n or tcp_flags.shape[0] != n
            or tcp_win.shape[0] != n or seglen_in.shape[0] != n or analyze.shape[0] != n
            or direction.shape[0] != n or wscale.shape[0] != n or has_sack.shape[0] != n
            or sack_sum.shape[0] != n or out_conv.shape[0] != n or out_seq.shape[0] != n
            or out_ack.shape[0] != n or out_win.shape[0] != n or out_bif.shape[0] != n
            or out_flags.shape[0] != n or out_dupnum.shape[0] != n
            or out_dupframe.shape[0] != n or out_acks_frame.shape[0] != n
            or has_ts.shape[0] != n or tsval.shape[0] != n or tsecr.shape[0] != n
            or out_ts_rtt.shape[0] != n
            or conv_first_row.shape[0] < m or conv_irtt_ns.shape[0] < m
            or conv_win_scale.shape[0] < 2 * m or ngroups < 0):
        return STATUS_BAD_INDEX, 0
    if ngroups > 0 and (group_start[0] != 0 or group_start[ngroups] != m):
        return STATUS_BAD_INDEX, 0
    for g in range(ngroups):
        if group_start[g] > group_start[g + 1]:
            return STATUS_BAD_INDEX, 0
    for k in range(m):
        if order[k] < 0 or order[k] >= n:
            return STATUS_BAD_INDEX, 0

    flows[0].segs = <Seg*>malloc(MAX_UNACKED * sizeof(Seg))
    flows[1].segs = <Seg*>malloc(MAX_UNACKED * sizeof(Seg))
    if flows[0].segs == NULL or flows[1].segs == NULL:
        free(flows[0].segs)
        free(flows[1].segs)
        return STATUS_NO_MEMORY, 0

    with nogil:
        for g in range(ngroups):
            for k in range(group_start[g], group_start[g + 1]):
                r = order[k]
                d = direction[r] & 1
                fwd = &flows[d]
                rev = &flows[1 - d]
                seq = seq_raw[r]
                ack = ack_raw[r]
                flags = tcp_flags[r]
                window = tcp_win[r]
                seglen = seglen_in[r]
                now = ts_ns[r]
                frame = <uint32_t>(r + 1)
                af = 0
                dupnum = 0
                dupframe = 0
                acked_frame = 0
                in_flight = 0
                ts_rtt = -1

                # A new 4-tuple is a new conversation (a new tcp.stream).
                if k == group_start[g]:
                    flow_reset(&flows[0])
                    flow_reset(&flows[1])
                    ts_mru_syn = 0
                    first_rtt = 0
                    conv_first_row[nconv] = r
                    nconv += 1
                # dissect_tcp(): a SYN (not SYN/ACK) whose sequence number differs from
                # the base_seq of its direction starts a new conversation ("Port numbers
                # reused"); the same ISN is a retransmitted SYN: nextseq is restored to
                # maxseqtobeacked (issue 17616). tshark 4.0.17 flags only the first case
                # (newer sources flag both; tests/tcp_scenarios.py checks this).
                elif (flags & (TH_SYN | TH_ACK)) == TH_SYN and fwd.base_set:
                    if seq != fwd.base_seq:
                        conv_irtt_ns[nconv - 1] = first_rtt
                        conv_win_scale[2 * (nconv - 1)] = flows[0].win_scale
                        conv_win_scale[2 * (nconv - 1) + 1] = flows[1].win_scale
                        flow_reset(&flows[0])
                        flow_reset(&flows[1])
                        ts_mru_syn = 0
                        first_rtt = 0
                        conv_first_row[nconv] = r
                        nconv += 1
                        af |= A_REUSED_PORTS
                    else:
                        fwd.nextseq = fwd.maxseqtobeacked
                # A SYN/ACK with another ISN than the one seen: Wireshark takes the new
                # one as base_seq (issue 16944) and flags the frame.
                if ((flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) and fwd.base_set
                        and seq != fwd.base_seq):
                    fwd.base_seq = seq
                    fwd.span_dirty = True
                    af |= A_REUSED_PORTS
                out_conv[r] = nconv - 1

                # The SACK blocks of a direction are forgotten at each of its segments and
                # set again (after the analysis) when the segment carries some.
                fwd.num_sack_ranges = 0

                rel_seq = seq
                rel_ack = ack
                out_win[r] = window
                if analyze[r]:
                    # ---- tcp_analyze_sequence_number() ----
                    # base_seq: the SYN's ISN, else seq - 1 (bug 1542); the other
                    # direction's from the first ACK (ack - 1).
                    if not fwd.base_set:
                        if flags & TH_SYN:
                            fwd.base_seq = seq
                        else:
                            fwd.base_seq = seq - 1
                        fwd.base_set = True
                    if not rev.base_set and (flags & TH_ACK):
                        rev.base_seq = ack - 1
                        rev.base_set = True
                    if flags & TH_ACK:
                        rev.valid_bif = True

                    # ZERO WINDOW PROBE: 1 byte at nextseq while the peer's window is 0;
                    # skips the other sequence checks.
                    if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
                        af |= A_ZERO_WINDOW_PROBE
                    else:
                        # ZERO WINDOW: window 0 and none of SYN/FIN/RST.
                        if window == 0 and (flags & (TH_RST | TH_FIN | TH_SYN)) == 0:
                            af |= A_ZERO_WINDOW
                        # LOST PACKET (previous segment not captured): beyond nextseq.
                        if fwd.nextseq != 0 and GT_SEQ(seq, fwd.nextseq) and (flags & TH_RST) == 0:
                            af |= A_LOST_PACKET
                            fwd.valid_bif = False
                        # KEEP ALIVE: 0 or 1 byte at nextseq - 1.
                        if (seglen <= 1 and seq == fwd.nextseq - 1
                                and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0):
                            af |= A_KEEP_ALIVE
                        # WINDOW UPDATE: no data, same seq/ack, another non-zero window.
                        if (seglen == 0 and window != 0 and window != fwd.window
                                and seq == fwd.nextseq and ack == fwd.lastack
                                and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0):
                            af |= A_WINDOW_UPDATE
                        # WINDOW FULL: data reaching exactly the right edge of the peer's
                        # window (the code tests equality); the scale is not applied until
                        # the peer's first ACK after its SYN (issue 14690).
                        if seglen > 0 and rev.win_scale != -1 and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0:
                            if rev.is_first_ack or rev.win_scale == -2:
                                shift = 0
                            else:
                                shift = rev.win_scale
                            if seq + seglen == rev.lastack + (rev.window << shift):
                                af |= A_WINDOW_FULL
                        # KEEP ALIVE ACK / ZERO WINDOW PROBE ACK / DUPLICATE ACK.
                        if (seglen == 0 and window != 0 and window == fwd.window
                                and seq == fwd.nextseq and ack == fwd.lastack
                                and (rev.lastsegmentflags & A_KEEP_ALIVE)
                                and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0):
                            af |= A_KEEP_ALIVE_ACK
                        elif (seglen == 0 and window == 0 and window == fwd.window
                                and seq == fwd.nextseq and ack == fwd.lastack
                                and (rev.lastsegmentflags & A_ZERO_WINDOW_PROBE)
                                and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0):
                            af |= A_ZERO_WINDOW_PROBE_ACK
                        elif (seglen == 0 and window != 0 and window == fwd.window
                                and seq == fwd.nextseq and ack == fwd.lastack
                                and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0):
                            if fwd.dupacknum == <uint32_t>0xFFFFFFFF:   # neutralises 'ACKed unseen'
                                fwd.dupacknum = 1
                            else:
                                fwd.dupacknum += 1
                            af |= A_DUPLICATE_ACK
                            dupnum = <uint16_t>(fwd.dupacknum if fwd.dupacknum < 0xFFFF else 0xFFFF)
                            dupframe = fwd.lastnondupack

                    # finished_fwd: a new ACK value resets the duplicate-ACK count.
                    if ack != fwd.lastack:
                        fwd.lastnondupack = frame
                        fwd.dupacknum = 0

                    # ACKED LOST PACKET (ACKed unseen segment): the ACK is beyond the peer's
                    # highest contiguous byte. If the peer has sent past a hole, the mark
                    # jumps to its nextseq; else it is reported once, until the peer's
                    # dup-ACK counter is reset (set to -1 here, unsigned). The source copy we read
                    # tests maxseqtobeacked > nextseq; tshark 4.0.17 behaves as below
                    # (probed with crafted captures, wrap included: tests/tcp_scenarios.py).
                    if (rev.maxseqtobeacked != 0 and GT_SEQ(ack, rev.maxseqtobeacked)
                            and (flags & TH_ACK)):
                        if LT_SEQ(rev.maxseqtobeacked, rev.nextseq):
                            rev.maxseqtobeacked = rev.nextseq
                            af |= A_ACK_LOST_PACKET
                        else:
                            if rev.dupacknum == 0:
                                af |= A_ACK_LOST_PACKET
                            # guint32 in tshark 4.0.17: this -1 is 0xFFFFFFFF, which
                            # passes the fast retransmission test (dupacknum >= 2) below
                            rev.dupacknum = <uint32_t>0xFFFFFFFF

                    # RETRANSMISSION / FAST RETRANSMISSION / SPURIOUS / OUT-OF-ORDER:
                    # only segments with data, SYN or FIN; a keep-alive is none of them.
                    sf = (flags & (TH_SYN | TH_FIN)) != 0
                    if (seglen > 0 or sf) and (af & A_KEEP_ALIVE) == 0:
                        seq_not_advanced = fwd.nextseq != 0 and LT_SEQ(seq, fwd.nextseq)
                        # data after a dropped zero-window-probe byte is new data
                        if seglen > 1 and fwd.nextseq - 1 == seq:
                            seq_not_advanced = False
                        if seglen > 0 and rev.lastack != 0 and LE_SEQ(seq + seglen, rev.lastack):
                            af |= A_SPURIOUS_RETRANSMISSION
                        else:
                            # tcp.fastrt_supersedes_ooo (default TRUE): fast first.
                            # Time differences are unsigned in the code: a negative one
                            # never passes.
                            t = <uint64_t>(now - rev.lastacktime)
                            if (seq_not_advanced and rev.dupacknum >= 2
                                    and rev.lastack == seq and t < FASTRT_NS):
                                af |= A_FAST_RETRANSMISSION
                            else:
                                t = <uint64_t>(now - fwd.nextseqtime)
                                if first_rtt == 0:
                                    ooo_thres = OOO_DEFAULT_NS
                                else:
                                    ooo_thres = <uint64_t>first_rtt
                                if (seq_not_advanced and t < ooo_thres
                                        and fwd.nextseq != <uint32_t>(seq + seglen + (1 if sf else 0))):
                                    af |= A_OUT_OF_ORDER
                                elif seq_not_advanced:
                                    af |= A_RETRANSMISSION

                    # finished_checking_retransmission_type: remember the segment.
                    nextseq = seq + seglen
                    if (seglen > 0 or sf) and fwd.nsegs < MAX_UNACKED:
                        if sf:
                            nextseq += 1
                        s = &fwd.segs[fwd.nsegs]
                        s.seq = seq
                        s.nextseq = nextseq
                        s.frame = frame
                        s.ts = now
                        if fwd.nsegs == 0:
                            fwd.span_dirty = False
                            fwd.span_first = seq - fwd.base_seq
                            fwd.span_last = nextseq - fwd.base_seq
                        elif not fwd.span_dirty:
                            if seq - fwd.base_seq < fwd.span_first:
                                fwd.span_first = seq - fwd.base_seq
                            if nextseq - fwd.base_seq > fwd.span_last:
                                fwd.span_last = nextseq - fwd.base_seq
                        fwd.nsegs += 1
                    # A zero-window probe never advances nextseq.
                    if GT_SEQ(nextseq, fwd.nextseq) or fwd.nextseq == 0:
                        if (af & A_ZERO_WINDOW_PROBE) == 0:
                            fwd.nextseq = nextseq
                            fwd.nextseqtime = now
                    if seq == fwd.maxseqtobeacked or fwd.maxseqtobeacked == 0:
                        if (af & A_ZERO_WINDOW_PROBE) == 0:
                            fwd.maxseqtobeacked = fwd.nextseq
                    fwd.window = window
                    fwd.lastack = ack
                    fwd.lastacktime = now
                    fwd.lastsegmentflags = af

                    # Drop the other direction's segments this ACK covers; an exact match
                    # gives the ACK RTT (Wireshark walks newest first and keeps the last
                    # match, the oldest: here the first one, oldest first).
                    kept = 0
                    trimmed = False
                    for i in range(rev.nsegs):
                        s = &rev.segs[i]
                        if ack == s.nextseq:
                            if acked_frame == 0:
                                acked_frame = s.frame
                            continue
                        elif GT_SEQ(ack, s.seq) and LE_SEQ(ack, s.nextseq):
                            s.seq = ack
                            trimmed = True
                        elif not GT_SEQ(s.nextseq, ack):
                            continue
                        if kept != i:
                            rev.segs[kept] = s[0]
                        kept += 1
                    if trimmed or kept != rev.nsegs:
                        rev.span_dirty = True
                    rev.nsegs = <int>kept

                    # Bytes in flight (payload-based, the default): span of this
                    # direction's unacked segments minus what the peer's SACK covers.
                    if seglen != 0 and fwd.nsegs > 0 and fwd.valid_bif:
                        if fwd.span_dirty:
                            s = &fwd.segs[0]
                            first_seq = s.seq - fwd.base_seq
                            last_seq = s.nextseq - fwd.base_seq
                            for j in range(1, fwd.nsegs):
                                s = &fwd.segs[j]
                                if s.nextseq - fwd.base_seq > last_seq:
                                    last_seq = s.nextseq - fwd.base_seq
                                if s.seq - fwd.base_seq < first_seq:
                                    first_seq = s.seq - fwd.base_seq
                            fwd.span_first = first_seq
                            fwd.span_last = last_seq
                            fwd.span_dirty = False
                        in_flight = fwd.span_last - fwd.span_first
                        if rev.num_sack_ranges > 0:
                            in_flight -= rev.sack_delivered
                        if in_flight > 0 and in_flight < 2000000000:
                            if sf:
                                in_flight -= 1
                        else:
                            in_flight = 0
                    # ---- end of tcp_analyze_sequence_number() ----

                    # Relative numbers and the scaled window (SYNs are never scaled).
                    rel_seq = seq - fwd.base_seq
                    if flags & TH_ACK:
                        rel_ack = ack - rev.base_seq
                    if (flags & TH_SYN) == 0 and fwd.win_scale >= 0:
                        out_win[r] = window << fwd.win_scale

                # After the analysis (dissect_tcp): the most recent SYN's time, and the
                # iRTT at the first pure ACK after it, in either direction.
                if flags & TH_SYN:
                    if (flags & TH_ACK) == 0:
                        ts_mru_syn = now
                    fwd.is_first_ack = True
                if (flags & (TH_SYN | TH_ACK)) == TH_ACK:
                    if ts_mru_syn != 0 and first_rtt == 0:
                        first_rtt = now - ts_mru_syn
                    fwd.is_first_ack = False
                # Options are dissected after the analysis: window scale (capped at 14 by
                # the option dissector) and SACK blocks for the next bytes-in-flight.
                if wscale[r] >= 0:
                    fwd.win_scale = wscale[r] if wscale[r] <= 14 else 14
                if has_sack[r]:
                    fwd.num_sack_ranges = 1
                    fwd.sack_delivered = sack_sum[r]
                # verify_tcp_window_scaling(): scaling only when both SYNs carried it.
                if flags & TH_SYN:
                    if fwd.win_scale == -1:
                        fwd.win_scale = -2
                        rev.win_scale = -2
                    elif (flags & TH_ACK) and rev.win_scale == -2:
                        fwd.win_scale = -2

                # TSval/TSecr RTT: the first echo of a TSval the other side sent, timed
                # from the first frame that carried it.
                if has_ts[r]:
                    if (flags & TH_ACK) and tsecr[r] != 0:
                        for q in range(rev.ts_count):
                            i = (rev.ts_head - q + TS_RING) % TS_RING
                            if rev.ts_val[i] == tsecr[r]:
                                if not rev.ts_echoed[i] and now >= rev.ts_time[i]:
                                    ts_rtt = now - rev.ts_time[i]
                                rev.ts_echoed[i] = True
                                break
                    if fwd.ts_count == 0 or fwd.ts_val[fwd.ts_head] != tsval[r]:
                        fwd.ts_head = (fwd.ts_head + 1) % TS_RING
                        fwd.ts_val[fwd.ts_head] = tsval[r]
                        fwd.ts_time[fwd.ts_head] = now
                        fwd.ts_echoed[fwd.ts_head] = False
                        if fwd.ts_count < TS_RING:
                            fwd.ts_count += 1
                out_ts_rtt[r] = ts_rtt

                out_seq[r] = rel_seq
                out_ack[r] = rel_ack
                out_bif[r] = in_flight
                out_flags[r] = af
                out_dupnum[r] = dupnum
                out_dupframe[r] = dupframe
                out_acks_frame[r] = acked_frame

            # end of a group: the last conversation's per-flow results
            if nconv > 0:
                conv_irtt_ns[nconv - 1] = first_rtt
                conv_win_scale[2 * (nconv - 1)] = flows[0].win_scale
                conv_win_scale[2 * (nconv - 1) + 1] = flows[1].win_scale

    free(flows[0].segs)
    free(flows[1].segs)
    return STATUS_OK, nconv
