"""Pure-Python reference of the TCP analysis state machine (ext/_tcp.pyx).

Same arguments, same outputs, same rules (Wireshark 4.0's ``tcp_analyze_sequence_number()``
and the parts of ``dissect_tcp()`` around it, ../shared/tcp-analysis.md), written for
reading rather than speed. The tests run on both engines (``analyze_tcp(table,
engine="python")``) and hypothesis checks that they agree.
"""
from __future__ import annotations

import numpy as np

# Wireshark's TCP_A_* bits (packet-tcp.c); cnfpost.model.TcpAnalysisFlag has the names.
A_RETRANSMISSION = 0x0001
A_LOST_PACKET = 0x0002
A_ACK_LOST_PACKET = 0x0004
A_KEEP_ALIVE = 0x0008
A_DUPLICATE_ACK = 0x0010
A_ZERO_WINDOW = 0x0020
A_ZERO_WINDOW_PROBE = 0x0040
A_ZERO_WINDOW_PROBE_ACK = 0x0080
A_KEEP_ALIVE_ACK = 0x0100
A_OUT_OF_ORDER = 0x0200
A_FAST_RETRANSMISSION = 0x0400
A_WINDOW_UPDATE = 0x0800
A_WINDOW_FULL = 0x1000
A_REUSED_PORTS = 0x2000
A_SPURIOUS_RETRANSMISSION = 0x4000

TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10
SFR = TH_SYN | TH_FIN | TH_RST
MAX_UNACKED = 10000          # packet-tcp.h TCP_MAX_UNACKED_SEGMENTS
FASTRT_NS = 20_000_000       # fast retransmission: within 20 ms of the last dup ACK
OOO_DEFAULT_NS = 3_000_000   # out-of-order threshold without an iRTT
TS_RING = 16                 # TSval/TSecr RTT: the last distinct TSvals of a side kept
M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF

STATUS_OK = 0
STATUS_BAD_INDEX = -1


def _s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x & 0x80000000 else x


def GT_SEQ(x: int, y: int) -> bool:
    return _s32(y - x) < 0


def LT_SEQ(x: int, y: int) -> bool:
    return _s32(x - y) < 0


def LE_SEQ(x: int, y: int) -> bool:
    return _s32(x - y) <= 0


class Flow:
    """One direction of a conversation (Wireshark's tcp_flow_t)."""

    def __init__(self):
        self.base_set = False
        self.base_seq = 0
        self.nextseq = 0            # 0 = unknown
        self.nextseqtime = 0
        self.lastack = 0
        self.lastacktime = 0
        self.window = M32           # G_MAXUINT32 until a window is seen
        self.win_scale = -1         # -1 unknown, -2 no scaling
        self.maxseqtobeacked = 0
        self.dupacknum = 0
        self.lastnondupack = 0
        self.lastsegmentflags = 0
        self.valid_bif = True
        self.is_first_ack = False
        self.num_sack_ranges = 0
        self.sack_delivered = 0
        self.segs: list[list[int]] = []   # [seq, nextseq, frame, ts], oldest first
        self.ts: list[list] = []          # [tsval, time, echoed], oldest first, <= TS_RING


NSTAT = 43
(S_FIRST_ROW, S_LAST_ROW, S_FIRST_TS, S_LAST_TS, S_IRTT, S_WSCALE, S_SYN_DIR, S_PKTS,
 S_BYTES, S_DATA, S_SYN, S_SYNACK, S_RST, S_FIN, S_ZW_TOTAL, S_ZW_MAX, S_FLAG, S_RETRANS,
 S_MAXEND, S_MINSEQ) = (0, 1, 2, 3, 4, 5, 7, 8, 10, 12, 13, 15, 17, 19, 21, 22, 23, 38, 39, 41)
NO_STREAM = M32


class Conv:
    """One 4-tuple's current conversation (Wireshark's tcp_analysis)."""

    def __init__(self):
        self.id = -1
        self.f = [Flow(), Flow()]
        self.ts_mru_syn = 0
        self.first_rtt = 0
        self.zw_closed = [False, False]
        self.zw_since = [0, 0]


def _zw_close(cv, st, d, now):
    dur = max(now - cv.zw_since[d], 0)
    st[S_ZW_TOTAL] += dur
    st[S_ZW_MAX] = max(st[S_ZW_MAX], dur)
    cv.zw_closed[d] = False


def _finish(cv, stats):
    st = stats[cv.id]
    st[S_IRTT] = cv.first_rtt
    st[S_WSCALE] = cv.f[0].win_scale
    st[S_WSCALE + 1] = cv.f[1].win_scale
    for d in (0, 1):
        if cv.zw_closed[d]:
            _zw_close(cv, st, d, st[S_LAST_TS])


def analyze(key_lo, key_hi, is_tcp, analyze, show, stream_only, ts_ns, seq_raw, ack_raw, tcp_flags, tcp_win,
            seglen_in, direction, wscale, has_sack, sack_sum, has_ts, tsval, tsecr,
            out_stream, out_seq, out_ack, out_win, out_bif, out_flags, out_dupnum,
            out_dupframe, out_acks_frame, out_ts_from):
    """Same contract as ext/_tcp.pyx's ``_analyze``: (status, per-conversation array)."""
    n = ts_ns.shape[0]
    arrays = (key_lo, key_hi, is_tcp, analyze, show, stream_only, seq_raw, ack_raw, tcp_flags, tcp_win,
              seglen_in, direction, wscale, has_sack, sack_sum, has_ts, tsval, tsecr,
              out_stream, out_seq, out_ack, out_win, out_bif, out_flags, out_dupnum,
              out_dupframe, out_acks_frame, out_ts_from)
    if any(a.shape[0] != n for a in arrays):
        return STATUS_BAD_INDEX, np.zeros((0, NSTAT), dtype=np.int64)

    lo_l, hi_l, tcp_l, an_l, show_l, only_l = (
        a.tolist() for a in (key_lo, key_hi, is_tcp, analyze, show, stream_only))
    ts_l, seq_l, ack_l = ts_ns.tolist(), seq_raw.tolist(), ack_raw.tolist()
    flags_l, win_l, len_l = tcp_flags.tolist(), tcp_win.tolist(), seglen_in.tolist()
    dir_l, ws_l = direction.tolist(), wscale.tolist()
    hs_l, ss_l = has_sack.tolist(), sack_sum.tolist()
    ht_l, tv_l, te_l = has_ts.tolist(), tsval.tolist(), tsecr.tolist()

    convs: dict[tuple[int, int], Conv] = {}
    stats: list[list[int]] = []
    for r in range(n):
        if not tcp_l[r]:
            out_stream[r] = NO_STREAM
            continue
        d = dir_l[r] & 1
        seq, ack, flags = seq_l[r], ack_l[r], flags_l[r]
        window, seglen, now = win_l[r], len_l[r], ts_l[r]
        frame = r + 1
        af = 0
        dupnum = dupframe = acked_frame = in_flight = 0

        cv = convs.setdefault((lo_l[r], hi_l[r]), Conv())
        fwd = cv.f[d]
        if only_l[r] and cv.id >= 0:       # TCP quoted in an ICMP error: the stream only
            out_stream[r] = cv.id
            continue
        # A SYN with a new ISN on a used 4-tuple starts a new conversation ("port numbers
        # reused"); the same ISN restores nextseq (a retransmitted SYN, not flagged).
        if cv.id >= 0 and (flags & (TH_SYN | TH_ACK)) == TH_SYN and fwd.base_set:
            if seq != fwd.base_seq:
                _finish(cv, stats)
                cv.id = -1
                af |= A_REUSED_PORTS
            else:
                fwd.nextseq = fwd.maxseqtobeacked
        if cv.id < 0:
            cv.f = [Flow(), Flow()]
            cv.ts_mru_syn = cv.first_rtt = 0
            cv.zw_closed = [False, False]
            cv.id = len(stats)
            st = [0] * NSTAT
            st[S_FIRST_ROW] = r
            st[S_FIRST_TS] = st[S_LAST_TS] = now
            st[S_SYN_DIR] = -1
            st[S_MAXEND] = st[S_MAXEND + 1] = st[S_MINSEQ] = st[S_MINSEQ + 1] = -1
            stats.append(st)
            if only_l[r]:
                out_stream[r] = cv.id
                continue
        fwd, rev = cv.f[d], cv.f[1 - d]
        # A SYN/ACK with another ISN: it becomes the base (Wireshark issue 16944).
        if (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) and fwd.base_set \
                and seq != fwd.base_seq:
            fwd.base_seq = seq
            af |= A_REUSED_PORTS
        out_stream[r] = cv.id
        fwd.num_sack_ranges = 0

        rel_seq, rel_ack = seq, ack
        out_win[r] = window
        if an_l[r]:
            if not fwd.base_set:
                fwd.base_seq = seq if flags & TH_SYN else (seq - 1) & M32
                fwd.base_set = True
            if not rev.base_set and flags & TH_ACK:
                rev.base_seq = (ack - 1) & M32
                rev.base_set = True
            if flags & TH_ACK:
                rev.valid_bif = True

            if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
                af |= A_ZERO_WINDOW_PROBE            # skips to finished_fwd
            else:
                if window == 0 and not flags & SFR:
                    af |= A_ZERO_WINDOW
                if fwd.nextseq and GT_SEQ(seq, fwd.nextseq) and not flags & TH_RST:
                    af |= A_LOST_PACKET
                    fwd.valid_bif = False
                if seglen <= 1 and seq == (fwd.nextseq - 1) & M32 and not flags & SFR:
                    af |= A_KEEP_ALIVE
                if (seglen == 0 and window and window != fwd.window and seq == fwd.nextseq
                        and ack == fwd.lastack and not flags & SFR):
                    af |= A_WINDOW_UPDATE
                if seglen > 0 and rev.win_scale != -1 and not flags & SFR:
                    shift = 0 if (rev.is_first_ack or rev.win_scale == -2) else rev.win_scale
                    if (seq + seglen) & M32 == (rev.lastack + ((rev.window << shift) & M32)) & M32:
                        af |= A_WINDOW_FULL
                same = (seglen == 0 and window == fwd.window and seq == fwd.nextseq
                        and ack == fwd.lastack and not flags & SFR)
                if same and window and rev.lastsegmentflags & A_KEEP_ALIVE:
                    af |= A_KEEP_ALIVE_ACK
                elif same and window == 0 and rev.lastsegmentflags & A_ZERO_WINDOW_PROBE:
                    af |= A_ZERO_WINDOW_PROBE_ACK
                elif same and window:
                    # dupacknum is a guint32 in 4.0.17 ('ACKed unseen' stores -1)
                    fwd.dupacknum = 1 if fwd.dupacknum == M32 else (fwd.dupacknum + 1) & M32
                    af |= A_DUPLICATE_ACK
                    dupnum = min(fwd.dupacknum, 0xFFFF)
                    dupframe = fwd.lastnondupack

            # finished_fwd
            if ack != fwd.lastack:
                fwd.lastnondupack = frame
                fwd.dupacknum = 0
            # ACKed unseen segment (as tshark 4.0.17 behaves; see ext/_tcp.pyx)
            if rev.maxseqtobeacked and GT_SEQ(ack, rev.maxseqtobeacked) and flags & TH_ACK:
                if LT_SEQ(rev.maxseqtobeacked, rev.nextseq):
                    rev.maxseqtobeacked = rev.nextseq
                    af |= A_ACK_LOST_PACKET
                else:
                    if rev.dupacknum == 0:
                        af |= A_ACK_LOST_PACKET
                    rev.dupacknum = M32    # -1 as a guint32: >= 2 for fast retransmission

            sf = bool(flags & (TH_SYN | TH_FIN))
            if (seglen > 0 or sf) and not af & A_KEEP_ALIVE:
                seq_not_advanced = bool(fwd.nextseq) and LT_SEQ(seq, fwd.nextseq)
                if seglen > 1 and (fwd.nextseq - 1) & M32 == seq:
                    seq_not_advanced = False
                if seglen > 0 and rev.lastack and LE_SEQ((seq + seglen) & M32, rev.lastack):
                    af |= A_SPURIOUS_RETRANSMISSION
                else:
                    t = (now - rev.lastacktime) & M64      # unsigned, as in the C code
                    if (seq_not_advanced and rev.dupacknum >= 2 and rev.lastack == seq
                            and t < FASTRT_NS):
                        af |= A_FAST_RETRANSMISSION
                    else:
                        t = (now - fwd.nextseqtime) & M64
                        # guint64 in the C code: a negative iRTT (time went backwards
                        # in the handshake) is a huge threshold, as tshark 4.0.17 shows
                        thres = OOO_DEFAULT_NS if cv.first_rtt == 0 else cv.first_rtt & M64
                        if (seq_not_advanced and t < thres
                                and fwd.nextseq != (seq + seglen + (1 if sf else 0)) & M32):
                            af |= A_OUT_OF_ORDER
                        elif seq_not_advanced:
                            af |= A_RETRANSMISSION

            nextseq = (seq + seglen) & M32
            if (seglen > 0 or sf) and len(fwd.segs) < MAX_UNACKED:
                if sf:
                    nextseq = (nextseq + 1) & M32
                fwd.segs.append([seq, nextseq, frame, now])
            if GT_SEQ(nextseq, fwd.nextseq) or fwd.nextseq == 0:
                if not af & A_ZERO_WINDOW_PROBE:
                    fwd.nextseq = nextseq
                    fwd.nextseqtime = now
            if seq == fwd.maxseqtobeacked or fwd.maxseqtobeacked == 0:
                if not af & A_ZERO_WINDOW_PROBE:
                    fwd.maxseqtobeacked = fwd.nextseq
            fwd.window = window
            fwd.lastack = ack
            fwd.lastacktime = now
            fwd.lastsegmentflags = af

            kept = []
            for s in rev.segs:
                if ack == s[1]:
                    if acked_frame == 0:
                        acked_frame = s[2]
                    continue
                elif GT_SEQ(ack, s[0]) and LE_SEQ(ack, s[1]):
                    s[0] = ack
                elif not GT_SEQ(s[1], ack):
                    continue
                kept.append(s)
            rev.segs = kept

            if seglen != 0 and fwd.segs and fwd.valid_bif:
                base = fwd.base_seq
                first_seq = min((s[0] - base) & M32 for s in fwd.segs)
                last_seq = max((s[1] - base) & M32 for s in fwd.segs)
                in_flight = (last_seq - first_seq) & M32
                if rev.num_sack_ranges > 0:
                    in_flight = (in_flight - rev.sack_delivered) & M32
                if 0 < in_flight < 2_000_000_000:
                    if sf:
                        in_flight -= 1
                else:
                    in_flight = 0

            rel_seq = (seq - fwd.base_seq) & M32
            if flags & TH_ACK:
                rel_ack = (ack - rev.base_seq) & M32
            if not flags & TH_SYN and fwd.win_scale >= 0:
                out_win[r] = (window << fwd.win_scale) & M32

        if flags & TH_SYN:
            if not flags & TH_ACK:
                cv.ts_mru_syn = now
            fwd.is_first_ack = True
        if (flags & (TH_SYN | TH_ACK)) == TH_ACK:
            if cv.ts_mru_syn != 0 and cv.first_rtt == 0:
                cv.first_rtt = now - cv.ts_mru_syn
            fwd.is_first_ack = False
        if ws_l[r] >= 0:
            fwd.win_scale = min(ws_l[r], 14)
        if hs_l[r]:
            fwd.num_sack_ranges = 1
            fwd.sack_delivered = ss_l[r]
        if flags & TH_SYN:
            if fwd.win_scale == -1:
                fwd.win_scale = -2
                rev.win_scale = -2
            elif flags & TH_ACK and rev.win_scale == -2:
                fwd.win_scale = -2

        # TSval/TSecr RTT: first echo of a TSval, from the first frame carrying it
        ts_from = -1
        if ht_l[r]:
            if flags & TH_ACK and te_l[r] != 0:
                for entry in reversed(rev.ts):
                    if entry[0] == te_l[r]:
                        if not entry[2] and now >= entry[1]:
                            ts_from = entry[3]      # the row whose TSval this echoes
                        entry[2] = True
                        break
            if not fwd.ts or fwd.ts[-1][0] != tv_l[r]:
                fwd.ts.append([tv_l[r], now, False, r])
                if len(fwd.ts) > TS_RING:
                    del fwd.ts[0]
        out_ts_from[r] = ts_from

        out_seq[r] = rel_seq
        out_ack[r] = rel_ack
        if not show_l[r]:      # cut inside its options: tshark prints no analysis
            af = dupnum = dupframe = acked_frame = in_flight = 0
        out_bif[r] = in_flight
        out_flags[r] = af
        out_dupnum[r] = dupnum
        out_dupframe[r] = dupframe
        out_acks_frame[r] = acked_frame

        st = stats[cv.id]
        st[S_LAST_ROW] = r
        st[S_LAST_TS] = max(st[S_LAST_TS], now)
        st[S_PKTS + d] += 1
        st[S_BYTES + d] += seglen
        if seglen > 0:
            st[S_DATA] += 1
            if an_l[r]:
                if st[S_MINSEQ + d] < 0 or rel_seq < st[S_MINSEQ + d]:
                    st[S_MINSEQ + d] = rel_seq
                st[S_MAXEND + d] = max(st[S_MAXEND + d], rel_seq + seglen)
        if (flags & (TH_SYN | TH_ACK)) == TH_SYN:
            st[S_SYN + d] += 1
            if st[S_SYN_DIR] < 0:
                st[S_SYN_DIR] = d
        elif (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK):
            st[S_SYNACK + d] += 1
        if flags & TH_RST:
            st[S_RST + d] += 1
        if flags & TH_FIN:
            st[S_FIN + d] += 1
        for q in range(15):
            if af & (1 << q):
                st[S_FLAG + q] += 1
        if af & (A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION):
            st[S_RETRANS] += 1
        if window == 0 and not flags & SFR:
            if not cv.zw_closed[d]:
                cv.zw_closed[d] = True
                cv.zw_since[d] = now
        elif cv.zw_closed[d]:
            _zw_close(cv, st, d, now)

    for cv in convs.values():
        if cv.id >= 0:
            _finish(cv, stats)
    # the kernel's counts are int64 and wrap (a time difference with an untimed frame,
    # NO_TIME, does); Python's ints do not
    out = np.array([[(v + 2**63) % 2**64 - 2**63 for v in row] for row in stats],
                   dtype=np.int64).reshape(len(stats), NSTAT)
    return STATUS_OK, out
