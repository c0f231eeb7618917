# cython: language_level=3
"""Compiled TCP session analysis: Wireshark 4.0's per-segment state machine.

One entry point, `_analyze`, walks the frames once in capture order, as Wireshark does.
It reads the packet table's columns in place and derives each TCP frame's canonical
4-tuple key and direction itself (the same numbers as cnfpost/tcp.py's flow_keys, which
the pure-Python engine is given: the engine-agreement tests check one against the other),
so a big capture costs no per-frame temporaries. A hash table interns the keys, each
4-tuple keeps its conversation state (both directions), and a new conversation starts
where Wireshark's port-reuse rule says, so conversations are numbered in order of first
appearance: Wireshark's tcp.stream. The kernel fills caller-allocated per-frame arrays
(stream, direction, bytes in flight, the analysis flag bits with Wireshark's TCP_A_*
values, the frame an ACK acknowledges) and returns the per-conversation counts as one
(conversations x NSTAT) array, since their number is known only at the end; what comes on
few frames comes back as rows and values: the TSval/TSecr RTT samples, the duplicate-ACK
number and frame, and the relative seq/ack and scaled window as the steps of each
direction's bases and shift (RELATIVE below). Without per_frame (cnfpost info) only the
stream and direction are written per frame.

The rules are `tcp_analyze_sequence_number()` and the parts of `dissect_tcp()` around it
in epan/dissectors/packet-tcp.c (Wireshark 4.0), as written out in
../shared/tcp-analysis.md; each block below names the rule it follows. The pure-Python
reference (cnfpost/tcp_py.py) follows the same lines, and the tests run on both.

No Python object is touched per packet. Every array is checked at entry to hold one
entry per frame and every sparse row list to be inside the table and strictly increasing
(a mismatch is a returned status, never a wild read or write); every
other index is the kernel's own (hash slots masked to the table, directions masked to
0/1, conversation numbers it assigned, segment lists bounded by their capacity), so the
loop compiles without bounds checks (setup.py; tests/test_tcp.py keeps it that way and
CNFPOST_DEBUG_CYTHON=1 turns them back on).

Only cnfpost/tcp.py uses this module.
"""
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import numpy as np

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

# RELATIVE: what a step record changes, in the order of the columns it gives
cdef enum:
    STEP_SEQ = 0
    STEP_ACK = 1
    STEP_SHIFT = 2
STEP_COLUMNS = ("tcp_seq_rel", "tcp_ack_rel", "tcp_win_scaled")

cdef enum:
    C_STATUS_OK = 0
    C_STATUS_BAD_INDEX = -1
    C_STATUS_NO_MEMORY = -2
cdef uint32_t C_NO_STREAM = 0xFFFFFFFF
STATUS_OK = C_STATUS_OK
STATUS_BAD_INDEX = C_STATUS_BAD_INDEX
STATUS_NO_MEMORY = C_STATUS_NO_MEMORY
NO_STREAM = C_NO_STREAM

# Columns of the per-conversation array (cnfpost/tcp.py names them; `d` = direction 0/1
# of the canonical key: 0 when the sender is the key's lower endpoint).
cdef enum:
    S_FIRST_ROW = 0
    S_LAST_ROW = 1
    S_FIRST_TS = 2
    S_LAST_TS = 3
    S_IRTT = 4          # tcp.analysis.initial_rtt, ns (0 unknown)
    S_WSCALE = 5        # +d: final window scale (-1 unknown, -2 none)
    S_SYN_DIR = 7       # direction of the first SYN (without ACK), -1 none
    S_PKTS = 8          # +d
    S_BYTES = 10        # +d
    S_DATA = 12         # frames with payload
    S_SYN = 13          # +d: SYNs without ACK
    S_SYNACK = 15       # +d
    S_RST = 17          # +d
    S_FIN = 19          # +d
    S_ZW_TOTAL = 21     # zero-window stall time, ns, both sides
    S_ZW_MAX = 22
    S_FLAG = 23         # +bit index 0..14: frames showing TCP_A_(1 << i)
    S_RETRANS = 38      # frames showing tcp.analysis.retransmission (any of the three)
    S_MAXEND = 39       # +d: highest relative seq + len of data (-1 none)
    S_MINSEQ = 41       # +d: lowest relative seq of data (-1 none)
    NSTAT = 43
STAT_NAMES = (
    "first_row", "last_row", "first_ts", "last_ts", "irtt_ns", "wscale_0", "wscale_1",
    "syn_dir", "packets_0", "packets_1", "bytes_0", "bytes_1", "data_packets", "syn_0",
    "syn_1", "synack_0", "synack_1", "rst_0", "rst_1", "fin_0", "fin_1", "zero_window_ns",
    "zero_window_max_ns") + tuple(f"flag_{1 << i:#06x}" for i in range(15)) + (
    "retransmissions", "maxend_0", "maxend_1", "minseq_0", "minseq_1")


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
    Seg* segs                 # unacked segments, oldest first (grown up to MAX_UNACKED)
    int nsegs
    int segcap
    # cached span of the unacked list for bytes in flight: min(seq - base), max(nextseq -
    # base); recomputed only after an ACK removed or trimmed a segment (same result as
    # Wireshark's walk over the whole list at every data segment, without the walk)
    bint span_dirty
    uint32_t span_first
    uint32_t span_last
    # TSvals sent (ring of the last TS_RING distinct ones), when, and whether echoed yet
    uint32_t ts_val[TS_RING]
    uint32_t ts_row[TS_RING]     # the frame that first carried it
    bint ts_echoed[TS_RING]
    int ts_count
    int ts_head
    # RELATIVE: the base of seq, of ack and the window shift last recorded
    uint32_t said_seq
    uint32_t said_ack
    int said_shift


# One 4-tuple: its current conversation (Wireshark's tcp_analysis).
cdef struct Conv:
    Flow f[2]
    int64_t id                # conversation number = tcp.stream
    int64_t ts_mru_syn        # time of the most recent SYN (0 none)
    int64_t first_rtt         # iRTT (0 unknown)
    bint zw_closed[2]
    int64_t zw_since[2]


cdef inline void flow_reset(Flow* f) noexcept nogil:
    cdef Seg* segs = f.segs
    cdef int segcap = f.segcap
    memset(f, 0, sizeof(Flow))
    f.window = 0xFFFFFFFF
    f.win_scale = -1
    f.said_shift = -1
    f.valid_bif = True
    f.segs = segs
    f.segcap = segcap


cdef inline bint flow_room(Flow* f) noexcept nogil:
    """Room for one more unacked segment (the list grows by doubling)."""
    cdef int cap
    cdef Seg* p
    if f.nsegs < f.segcap:
        return True
    cap = 16 if f.segcap == 0 else 2 * f.segcap
    if cap > MAX_UNACKED:
        cap = MAX_UNACKED
    p = <Seg*>realloc(f.segs, cap * sizeof(Seg))
    if p == NULL:
        return False
    f.segs = p
    f.segcap = cap
    return True


cdef inline void zw_close(Conv* cv, int64_t* st, int d, int64_t now) noexcept nogil:
    cdef int64_t dur = now - cv.zw_since[d]
    if dur < 0:
        dur = 0
    st[S_ZW_TOTAL] += dur
    if dur > st[S_ZW_MAX]:
        st[S_ZW_MAX] = dur
    cv.zw_closed[d] = False


cdef inline void conv_finish(Conv* cv, int64_t* stats) noexcept nogil:
    """The results only known at a conversation's end."""
    cdef int64_t* st = stats + cv.id * NSTAT
    cdef int d
    st[S_IRTT] = cv.first_rtt
    st[S_WSCALE] = cv.f[0].win_scale
    st[S_WSCALE + 1] = cv.f[1].win_scale
    for d in range(2):
        if cv.zw_closed[d]:     # still closed at the end: stalled until the last frame
            zw_close(cv, st, d, st[S_LAST_TS])


cdef inline uint64_t mix(uint64_t lo, uint64_t hi) noexcept nogil:
    cdef uint64_t h = lo * <uint64_t>0x9E3779B97F4A7C15 + (hi ^ (hi >> 29)) * <uint64_t>0xBF58476D1CE4E5B9
    return h ^ (h >> 31)


def _analyze(
    # the packet table's columns (cnfpost/model.py PACKET_COLUMNS), read in place
    const uint8_t[::1] ip_version,
    const uint8_t[::1] ip_proto,
    const uint8_t[::1] tcp_hdr_len,
    const uint8_t[::1] status_in,
    const uint32_t[::1] ip_src,
    const uint32_t[::1] ip_dst,
    const uint16_t[::1] sport,
    const uint16_t[::1] dport,
    const int64_t[::1] ts_ns,
    const uint32_t[::1] seq_raw,
    const uint32_t[::1] ack_raw,
    const uint16_t[::1] tcp_flags,
    const uint16_t[::1] tcp_win,
    const uint32_t[::1] seglen_in,
    const uint8_t[::1] tcp_opts,
    const uint32_t[::1] tsval,
    const uint32_t[::1] tsecr,
    # the table's codes of what is derived per frame: TcpOpt bits, DecodeStatus values
    uint8_t opt_sack,
    uint8_t opt_timestamp,
    uint8_t status_bad_tcp_header,
    uint8_t status_cut_in_l4,
    # False: the per-conversation counts only (cnfpost info); the per-frame outputs other
    # than the stream and the direction may then be one entry long, and are scratch
    bint per_frame,
    # sparse inputs, rows strictly increasing: ICMP errors quoting TCP (their keys), the
    # window-scale shifts (-1 none) and the SACK byte sums of the frames that carry them
    const int64_t[::1] quoted_row,
    const uint64_t[::1] quoted_src,
    const uint64_t[::1] quoted_dst,
    const int64_t[::1] wscale_row,
    const int8_t[::1] wscale_val,
    const int64_t[::1] sack_row,
    const uint32_t[::1] sack_val,
    # per frame outputs (length n, see per_frame), zeroed by the caller
    uint32_t[::1] out_stream,
    uint32_t[::1] out_bif,
    uint16_t[::1] out_flags,
    uint32_t[::1] out_acks_frame,
    uint8_t[::1] out_direction,
):
    """Run the state machine over all frames.

    Returns (status, per-conversation array, (TSval/TSecr RTT rows, rows echoed), (duplicate-ACK
    rows, numbers, frames), (steps, exceptions)): those come on a few frames only, so they
    come back as rows and values, not as columns. Steps are (row, STEP_* kind, value)
    records, exceptions (row, tcp.seq, tcp.ack, tcp.window_size) records (RELATIVE)."""
    cdef Py_ssize_t n = ts_ns.shape[0]
    cdef Py_ssize_t r, i, j, kept
    cdef Py_ssize_t ro          # where this frame's outputs go: r, or 0 without per_frame
    cdef Py_ssize_t nout = n if per_frame else 1
    cdef Py_ssize_t nconv = 0
    cdef Flow* fwd
    cdef Flow* rev
    cdef Conv* cv
    cdef int d
    cdef uint32_t seq, ack, seglen, window, nextseq, frame, first_seq, last_seq, in_flight
    cdef uint32_t rel_seq, rel_ack, win_out, acked_frame
    cdef uint32_t said_seq, said_ack
    cdef int said_shift
    cdef uint16_t flags, af, dupnum
    cdef uint32_t dupframe
    cdef int64_t now
    cdef uint64_t t, ooo_thres, h
    cdef bint seq_not_advanced, sf
    cdef int shift, q
    cdef bint trimmed
    cdef int64_t ts_from
    cdef Seg* s
    cdef int64_t* st
    # what the caller used to pass per frame, derived here from the table's columns
    cdef uint64_t key_src, key_dst, key_lo, key_hi, ver
    cdef bint is_tcp, stream_only, analyze, show
    cdef Py_ssize_t qi = 0, wi = 0, si = 0
    cdef Py_ssize_t nq = quoted_row.shape[0]
    cdef Py_ssize_t nw = wscale_row.shape[0]
    cdef Py_ssize_t ns = sack_row.shape[0]
    # TSval/TSecr RTT samples: (row, row of the TSval it echoes) pairs, grown by doubling
    cdef uint32_t* rtt_rows = NULL      # rows < 2^32: the table's frame numbers are u32
    cdef uint32_t* rtt_from = NULL
    cdef Py_ssize_t rtt_n = 0, rtt_cap = 0
    # duplicate ACKs: (row, number, frame it repeats), on a few frames only
    cdef uint32_t* dup_rows = NULL
    cdef uint16_t* dup_nums = NULL
    cdef uint32_t* dup_frames = NULL
    cdef Py_ssize_t dup_n = 0, dup_cap = 0
    # relative numbers (see RELATIVE below): (row, kind, value) where a direction's base
    # or shift changes, (row, seq, ack, window) where they do not give the frame's numbers
    cdef uint32_t* steps = NULL
    cdef Py_ssize_t steps_n = 0, steps_cap = 0
    cdef uint32_t* odd = NULL
    cdef Py_ssize_t odd_n = 0, odd_cap = 0
    # the 4-tuple table: open addressing over (lo, hi) keys -> index into `convs`
    cdef uint64_t* ht_lo = NULL
    cdef uint64_t* ht_hi = NULL
    cdef int64_t* ht_idx = NULL
    cdef uint64_t ht_mask = 0
    cdef Py_ssize_t ht_cap = 1024
    cdef Conv* convs = NULL
    cdef Py_ssize_t nconvs_alloc = 0, nconvs_used = 0
    cdef int64_t* stats = NULL
    cdef Py_ssize_t stats_cap = 0
    cdef int64_t g
    cdef int status = C_STATUS_OK
    cdef void* p
    cdef int64_t[:, ::1] outv

    if (ip_version.shape[0] != n or ip_proto.shape[0] != n or tcp_hdr_len.shape[0] != n
            or status_in.shape[0] != n or ip_src.shape[0] != n or ip_dst.shape[0] != n
            or sport.shape[0] != n or dport.shape[0] != n
            or seq_raw.shape[0] != n or ack_raw.shape[0] != n or tcp_flags.shape[0] != n
            or tcp_win.shape[0] != n or seglen_in.shape[0] != n or tcp_opts.shape[0] != n
            or tsval.shape[0] != n or tsecr.shape[0] != n
            or quoted_src.shape[0] != nq or quoted_dst.shape[0] != nq
            or wscale_val.shape[0] != nw or sack_val.shape[0] != ns
            or not _rows_ok(quoted_row, n) or not _rows_ok(wscale_row, n)
            or not _rows_ok(sack_row, n)
            or out_stream.shape[0] != n or out_direction.shape[0] != n
            or out_bif.shape[0] < nout
            or out_flags.shape[0] < nout or out_acks_frame.shape[0] < nout):
        return C_STATUS_BAD_INDEX, np.zeros((0, NSTAT), dtype=np.int64), _no_ts(), _no_dup(), _no_relative()

    ht_lo = <uint64_t*>malloc(ht_cap * sizeof(uint64_t))
    ht_hi = <uint64_t*>malloc(ht_cap * sizeof(uint64_t))
    ht_idx = <int64_t*>malloc(ht_cap * sizeof(int64_t))
    if ht_lo == NULL or ht_hi == NULL or ht_idx == NULL:
        free(ht_lo); free(ht_hi); free(ht_idx)
        return C_STATUS_NO_MEMORY, np.zeros((0, NSTAT), dtype=np.int64), _no_ts(), _no_dup(), _no_relative()
    for i in range(ht_cap):
        ht_idx[i] = -1
    ht_mask = ht_cap - 1

    with nogil:
        for r in range(n):
            ro = r if per_frame else 0
            # The frame's 4-tuple key and direction (tcp.py flow_keys, the same numbers):
            # an ICMP error quoting TCP takes the quoted 4-tuple, for its stream only.
            stream_only = qi < nq and quoted_row[qi] == r
            is_tcp = ip_proto[r] == 6 and ip_version[r] != 0 and tcp_hdr_len[r] > 0
            if stream_only:
                key_src = quoted_src[qi]
                key_dst = quoted_dst[qi]
                qi += 1
            elif is_tcp:
                ver = <uint64_t>ip_version[r] << 48
                key_src = ver | (<uint64_t>ip_src[r] << 16) | sport[r]
                key_dst = ver | (<uint64_t>ip_dst[r] << 16) | dport[r]
            else:
                out_stream[r] = C_NO_STREAM
                continue
            d = 1 if key_src > key_dst else 0
            key_lo = key_dst if d else key_src
            key_hi = key_src if d else key_dst
            out_direction[r] = <uint8_t>d
            analyze = is_tcp and status_in[r] != status_bad_tcp_header
            # A frame cut inside its TCP options: Wireshark runs the analysis (its state
            # moves on) but the option dissector throws before the analysis is printed.
            show = status_in[r] != status_cut_in_l4
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
            ts_from = -1

            # Find the 4-tuple's state; a new 4-tuple is a new conversation.
            h = mix(key_lo, key_hi) & ht_mask
            while ht_idx[h] >= 0 and (ht_lo[h] != key_lo or ht_hi[h] != key_hi):
                h = (h + 1) & ht_mask
            g = ht_idx[h]
            cv = NULL
            if g < 0:
                if nconvs_used == nconvs_alloc:
                    nconvs_alloc = 64 if nconvs_alloc == 0 else 2 * nconvs_alloc
                    p = realloc(convs, nconvs_alloc * sizeof(Conv))
                    if p == NULL:
                        status = C_STATUS_NO_MEMORY
                        break
                    convs = <Conv*>p
                g = nconvs_used
                nconvs_used += 1
                ht_idx[h] = g
                ht_lo[h] = key_lo
                ht_hi[h] = key_hi
                cv = &convs[g]
                memset(cv, 0, sizeof(Conv))
                cv.id = -1
                # keep the table at most half full
                if 2 * nconvs_used > ht_cap:
                    if not ht_grow(&ht_lo, &ht_hi, &ht_idx, &ht_cap):
                        status = C_STATUS_NO_MEMORY
                        break
                    ht_mask = ht_cap - 1
            cv = &convs[g]
            fwd = &cv.f[d]
            rev = &cv.f[1 - d]
            if stream_only and cv.id >= 0:
                out_stream[r] = <uint32_t>cv.id
                continue

            # dissect_tcp(): a SYN (not SYN/ACK) whose sequence number differs from
            # the base_seq of its direction starts a new conversation ("Port numbers
            # reused"); the same ISN is a retransmitted SYN: nextseq is restored to
            # maxseqtobeacked (issue 17616). tshark 4.0.17 flags only the first case
            # (newer sources flag both; tests/tcp_scenarios.py checks this).
            if cv.id >= 0 and (flags & (TH_SYN | TH_ACK)) == TH_SYN and fwd.base_set:
                if seq != fwd.base_seq:
                    conv_finish(cv, stats)
                    cv.id = -1
                    af |= A_REUSED_PORTS
                else:
                    fwd.nextseq = fwd.maxseqtobeacked
            if cv.id < 0:
                if nconv == stats_cap:
                    stats_cap = 1024 if stats_cap == 0 else 2 * stats_cap
                    p = realloc(stats, stats_cap * NSTAT * sizeof(int64_t))
                    if p == NULL:
                        status = C_STATUS_NO_MEMORY
                        break
                    stats = <int64_t*>p
                flow_reset(&cv.f[0])
                flow_reset(&cv.f[1])
                cv.ts_mru_syn = 0
                cv.first_rtt = 0
                cv.zw_closed[0] = False
                cv.zw_closed[1] = False
                cv.id = nconv
                nconv += 1
                st = stats + cv.id * NSTAT
                memset(st, 0, NSTAT * sizeof(int64_t))
                st[S_FIRST_ROW] = r
                st[S_FIRST_TS] = now
                st[S_LAST_TS] = now
                st[S_SYN_DIR] = -1
                st[S_MAXEND] = -1
                st[S_MAXEND + 1] = -1
                st[S_MINSEQ] = -1
                st[S_MINSEQ + 1] = -1
                if stream_only:
                    out_stream[r] = <uint32_t>cv.id
                    continue
            # A SYN/ACK with another ISN than the one seen: Wireshark takes the new
            # one as base_seq (issue 16944) and flags the frame.
            if ((flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) and fwd.base_set
                    and seq != fwd.base_seq):
                fwd.base_seq = seq
                fwd.span_dirty = True
                af |= A_REUSED_PORTS
            out_stream[r] = <uint32_t>cv.id

            # The SACK blocks of a direction are forgotten at each of its segments and
            # set again (after the analysis) when the segment carries some.
            fwd.num_sack_ranges = 0

            rel_seq = seq
            rel_ack = ack
            win_out = window
            if analyze:
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
                        # never passes. So is the OOO threshold: a negative iRTT (time
                        # went backwards in the handshake) is a huge one, as in tshark.
                        t = <uint64_t>(now - rev.lastacktime)
                        if (seq_not_advanced and rev.dupacknum >= 2
                                and rev.lastack == seq and t < FASTRT_NS):
                            af |= A_FAST_RETRANSMISSION
                        else:
                            t = <uint64_t>(now - fwd.nextseqtime)
                            if cv.first_rtt == 0:
                                ooo_thres = OOO_DEFAULT_NS
                            else:
                                ooo_thres = <uint64_t>cv.first_rtt
                            if (seq_not_advanced and t < ooo_thres
                                    and fwd.nextseq != <uint32_t>(seq + seglen + (1 if sf else 0))):
                                af |= A_OUT_OF_ORDER
                            elif seq_not_advanced:
                                af |= A_RETRANSMISSION

                # finished_checking_retransmission_type: remember the segment.
                nextseq = seq + seglen
                if (seglen > 0 or sf) and fwd.nsegs < MAX_UNACKED and flow_room(fwd):
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
                    win_out = window << fwd.win_scale

            # After the analysis (dissect_tcp): the most recent SYN's time, and the
            # iRTT at the first pure ACK after it, in either direction.
            if flags & TH_SYN:
                if (flags & TH_ACK) == 0:
                    cv.ts_mru_syn = now
                fwd.is_first_ack = True
            if (flags & (TH_SYN | TH_ACK)) == TH_ACK:
                if cv.ts_mru_syn != 0 and cv.first_rtt == 0:
                    cv.first_rtt = now - cv.ts_mru_syn
                fwd.is_first_ack = False
            # Options are dissected after the analysis: window scale (capped at 14 by
            # the option dissector) and SACK blocks for the next bytes-in-flight.
            while wi < nw and wscale_row[wi] < r:
                wi += 1
            if wi < nw and wscale_row[wi] == r and wscale_val[wi] >= 0:
                fwd.win_scale = wscale_val[wi] if wscale_val[wi] <= 14 else 14
            if tcp_opts[r] & opt_sack:
                while si < ns and sack_row[si] < r:
                    si += 1
                fwd.num_sack_ranges = 1
                fwd.sack_delivered = sack_val[si] if si < ns and sack_row[si] == r else 0
            # verify_tcp_window_scaling(): scaling only when both SYNs carried it.
            if flags & TH_SYN:
                if fwd.win_scale == -1:
                    fwd.win_scale = -2
                    rev.win_scale = -2
                elif (flags & TH_ACK) and rev.win_scale == -2:
                    fwd.win_scale = -2

            # TSval/TSecr RTT: the first echo of a TSval the other side sent, timed
            # from the first frame that carried it.
            if tcp_opts[r] & opt_timestamp:
                if (flags & TH_ACK) and tsecr[r] != 0:
                    for q in range(rev.ts_count):
                        i = (rev.ts_head - q + TS_RING) % TS_RING
                        if rev.ts_val[i] == tsecr[r]:
                            if not rev.ts_echoed[i] and now >= ts_ns[rev.ts_row[i]]:
                                ts_from = rev.ts_row[i]
                            rev.ts_echoed[i] = True
                            break
                if fwd.ts_count == 0 or fwd.ts_val[fwd.ts_head] != tsval[r]:
                    fwd.ts_head = (fwd.ts_head + 1) % TS_RING
                    fwd.ts_val[fwd.ts_head] = tsval[r]
                    fwd.ts_row[fwd.ts_head] = <uint32_t>r
                    fwd.ts_echoed[fwd.ts_head] = False
                    if fwd.ts_count < TS_RING:
                        fwd.ts_count += 1
            if ts_from >= 0 and per_frame:
                if rtt_n == rtt_cap:
                    rtt_cap = 1024 if rtt_cap == 0 else 2 * rtt_cap
                    if not (grown(<void**>&rtt_rows, rtt_cap, sizeof(uint32_t))
                            and grown(<void**>&rtt_from, rtt_cap, sizeof(uint32_t))):
                        status = C_STATUS_NO_MEMORY
                        break
                rtt_rows[rtt_n] = <uint32_t>r
                rtt_from[rtt_n] = <uint32_t>ts_from
                rtt_n += 1

            if per_frame:
                # RELATIVE: tcp.seq, tcp.ack and tcp.window_size are not kept per frame
                # (12 bytes a frame). The base of this direction's sequence numbers, the
                # base its acknowledgements are taken from (the other direction's) and
                # its window shift are recorded at the frames where they change, and a
                # frame whose numbers they do not give (its header not analysed) is kept
                # whole; cnfpost/tcp_relative.py derives the columns from both.
                said_seq = fwd.base_seq if fwd.base_set else 0
                said_ack = rev.base_seq if rev.base_set else 0
                said_shift = fwd.win_scale if fwd.win_scale >= 0 else -1
                if said_seq != fwd.said_seq:
                    fwd.said_seq = said_seq
                    if not pushed(&steps, &steps_n, &steps_cap, 3, r, STEP_SEQ, said_seq, 0):
                        status = C_STATUS_NO_MEMORY
                        break
                if said_ack != fwd.said_ack:
                    fwd.said_ack = said_ack
                    if not pushed(&steps, &steps_n, &steps_cap, 3, r, STEP_ACK, said_ack, 0):
                        status = C_STATUS_NO_MEMORY
                        break
                if said_shift != fwd.said_shift:
                    fwd.said_shift = said_shift
                    if not pushed(&steps, &steps_n, &steps_cap, 3, r, STEP_SHIFT,
                                  <uint32_t>said_shift, 0):
                        status = C_STATUS_NO_MEMORY
                        break
                if (rel_seq != <uint32_t>(seq - said_seq)
                        or rel_ack != (<uint32_t>(ack - said_ack) if flags & TH_ACK else ack)
                        or win_out != (window << said_shift
                                       if said_shift >= 0 and (flags & TH_SYN) == 0
                                       else window)):
                    if not pushed(&odd, &odd_n, &odd_cap, 4, r, rel_seq, rel_ack, win_out):
                        status = C_STATUS_NO_MEMORY
                        break
            # A frame cut inside its TCP options: Wireshark ran the analysis (the state
            # above moved on) but its option dissector throws before the analysis is
            # printed, so tshark shows none of it; neither do the columns nor the counts.
            if not show:
                af = 0
                dupnum = 0
                dupframe = 0
                acked_frame = 0
                in_flight = 0
            out_bif[ro] = in_flight
            out_flags[ro] = af
            out_acks_frame[ro] = acked_frame
            if (dupnum != 0 or dupframe != 0) and per_frame:
                if dup_n == dup_cap:
                    dup_cap = 1024 if dup_cap == 0 else 2 * dup_cap
                    if not (grown(<void**>&dup_rows, dup_cap, sizeof(uint32_t))
                            and grown(<void**>&dup_nums, dup_cap, sizeof(uint16_t))
                            and grown(<void**>&dup_frames, dup_cap, sizeof(uint32_t))):
                        status = C_STATUS_NO_MEMORY
                        break
                dup_rows[dup_n] = <uint32_t>r
                dup_nums[dup_n] = dupnum
                dup_frames[dup_n] = dupframe
                dup_n += 1

            # ---- per-conversation counts (the flow table) ----
            st = stats + cv.id * NSTAT
            st[S_LAST_ROW] = r
            if now > st[S_LAST_TS]:
                st[S_LAST_TS] = now
            st[S_PKTS + d] += 1
            st[S_BYTES + d] += seglen
            if seglen > 0:
                st[S_DATA] += 1
                if analyze:
                    if st[S_MINSEQ + d] < 0 or rel_seq < st[S_MINSEQ + d]:
                        st[S_MINSEQ + d] = rel_seq
                    if <int64_t>rel_seq + seglen > st[S_MAXEND + d]:
                        st[S_MAXEND + d] = <int64_t>rel_seq + seglen
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
            if af != 0:
                for q in range(15):
                    if af & (1 << q):
                        st[S_FLAG + q] += 1
                if af & (A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION):
                    st[S_RETRANS] += 1
            # zero-window stall: from a side's first zero-window frame to its next frame
            # that opens the window (a duration, not a flag count)
            if window == 0 and (flags & (TH_SYN | TH_FIN | TH_RST)) == 0:
                if not cv.zw_closed[d]:
                    cv.zw_closed[d] = True
                    cv.zw_since[d] = now
            elif cv.zw_closed[d]:
                zw_close(cv, st, d, now)

        # the conversations still open at the end
        if status == C_STATUS_OK:
            for g in range(nconvs_used):
                if convs[g].id >= 0:
                    conv_finish(&convs[g], stats)

    out = np.zeros((nconv if status == C_STATUS_OK else 0, NSTAT), dtype=np.int64)
    outv = out
    if status == C_STATUS_OK and nconv > 0:
        memcpy(&outv[0, 0], stats, nconv * NSTAT * sizeof(int64_t))
    if status != C_STATUS_OK:
        rtt_n = dup_n = steps_n = odd_n = 0
    ts = (_copied(rtt_rows, rtt_n, np.uint32), _copied(rtt_from, rtt_n, np.uint32))
    dup = (_copied(dup_rows, dup_n, np.uint32), _copied(dup_nums, dup_n, np.uint16),
           _copied(dup_frames, dup_n, np.uint32))
    relative = (_copied(steps, 3 * steps_n, np.uint32).reshape(steps_n, 3),
                _copied(odd, 4 * odd_n, np.uint32).reshape(odd_n, 4))
    free(steps)
    free(odd)
    free(rtt_rows)
    free(rtt_from)
    free(dup_rows)
    free(dup_nums)
    free(dup_frames)
    for g in range(nconvs_used):
        free(convs[g].f[0].segs)
        free(convs[g].f[1].segs)
    free(convs)
    free(stats)
    free(ht_lo)
    free(ht_hi)
    free(ht_idx)
    return status, out, ts, dup, relative


cdef bint pushed(uint32_t** buf, Py_ssize_t* n, Py_ssize_t* cap, int width, uint32_t a,
                 uint32_t b, uint32_t c, uint32_t d) noexcept nogil:
    """Append one record of `width` (3 or 4) u32 to a buffer grown by doubling; False
    (and the buffer kept) when out of memory."""
    cdef Py_ssize_t at
    if n[0] == cap[0]:
        if not grown(<void**>buf, 256 if cap[0] == 0 else 2 * cap[0], width * sizeof(uint32_t)):
            return False
        cap[0] = 256 if cap[0] == 0 else 2 * cap[0]
    at = n[0] * width
    buf[0][at] = a
    buf[0][at + 1] = b
    buf[0][at + 2] = c
    if width == 4:
        buf[0][at + 3] = d
    n[0] += 1
    return True


cdef bint grown(void** buf, Py_ssize_t cap, size_t item) noexcept nogil:
    """Reallocate *buf to cap items of `item` bytes; False (and *buf kept) when out of memory."""
    cdef void* p = realloc(buf[0], cap * item)
    if p == NULL:
        return False
    buf[0] = p
    return True


cdef object _copied(const void* data, Py_ssize_t n, object dtype):
    """A new NumPy array of n items of dtype, copied from a C buffer."""
    cdef unsigned char[::1] raw
    out = np.empty(n, dtype=dtype)
    raw = out.view(np.uint8)
    if n > 0:
        memcpy(&raw[0], data, raw.shape[0])
    return out


def _no_ts():
    return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint32)


def _no_relative():
    return np.zeros((0, 3), dtype=np.uint32), np.zeros((0, 4), dtype=np.uint32)


def _no_dup():
    return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.uint32)


cdef bint _rows_ok(const int64_t[::1] rows, Py_ssize_t n):
    """Sparse rows are inside the table and strictly increasing (walked with one cursor)."""
    cdef Py_ssize_t i
    for i in range(rows.shape[0]):
        if rows[i] < 0 or rows[i] >= n or (i > 0 and rows[i] <= rows[i - 1]):
            return False
    return True


cdef bint ht_grow(uint64_t** lo, uint64_t** hi, int64_t** idx, Py_ssize_t* cap) noexcept nogil:
    """Double the 4-tuple table and re-insert every key."""
    cdef Py_ssize_t newcap = 2 * cap[0], i
    cdef uint64_t mask = newcap - 1, h
    cdef uint64_t* nlo = <uint64_t*>malloc(newcap * sizeof(uint64_t))
    cdef uint64_t* nhi = <uint64_t*>malloc(newcap * sizeof(uint64_t))
    cdef int64_t* nidx = <int64_t*>malloc(newcap * sizeof(int64_t))
    if nlo == NULL or nhi == NULL or nidx == NULL:
        free(nlo); free(nhi); free(nidx)
        return False
    for i in range(newcap):
        nidx[i] = -1
    for i in range(cap[0]):
        if idx[0][i] >= 0:
            h = mix(lo[0][i], hi[0][i]) & mask
            while nidx[h] >= 0:
                h = (h + 1) & mask
            nidx[h] = idx[0][i]
            nlo[h] = lo[0][i]
            nhi[h] = hi[0][i]
    free(lo[0]); free(hi[0]); free(idx[0])
    lo[0] = nlo
    hi[0] = nhi
    idx[0] = nidx
    cap[0] = newcap
    return True
