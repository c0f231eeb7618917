"""One tiny capture per TCP analysis rule and edge case of ../shared/tcp-analysis.md.

Each scenario returns (Capture, expected) where expected maps a frame number to the set
of tcp.analysis fields tshark prints for it; every other frame must have none. The same
captures are compared with tshark frame by frame (tests/test_tcp_tshark.py), so each
expectation here was also checked against tshark 4.0.17.
"""
from __future__ import annotations

from .tcp_builders import Capture, tcp_options

RT = "tcp.analysis.retransmission"
FAST = "tcp.analysis.fast_retransmission"
SPUR = "tcp.analysis.spurious_retransmission"
OOO = "tcp.analysis.out_of_order"
LOST = "tcp.analysis.lost_segment"
ACK_LOST = "tcp.analysis.ack_lost_segment"
DUP = "tcp.analysis.duplicate_ack"
ZW = "tcp.analysis.zero_window"
ZWP = "tcp.analysis.zero_window_probe"
ZWP_ACK = "tcp.analysis.zero_window_probe_ack"
WFULL = "tcp.analysis.window_full"
WUPD = "tcp.analysis.window_update"
KA = "tcp.analysis.keep_alive"
KA_ACK = "tcp.analysis.keep_alive_ack"
REUSED = "tcp.analysis.reused_ports"


def dup_ack_x3_fast_retransmission():
    """Three duplicate ACKs, then the hole refilled 2 ms after the third: fast retransmission."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake()                                     # frames 1-3, iRTT 20.1 ms
    for i in range(4):                                    # frames 4-7
        k.seg(t + 1 + i * 0.1, "c", 1 + 100 * i, 1, "PA", data=100)
    k.seg(41, "s", 1, 101, "A", win=500)                  # 8: acks frame 4
    for i in range(3):                                    # 9-11: dup ACK #1..#3 of frame 8
        k.seg(42 + i, "s", 1, 101, "A", win=500)
    k.seg(46, "c", 101, 1, "PA", data=100)                # 12: 2 ms after the 3rd dup ACK
    return cap, {9: {DUP}, 10: {DUP}, 11: {DUP}, 12: {RT, FAST}}


def fast_retransmission_too_late():
    """Same, but 22 ms after the last duplicate ACK: a plain retransmission."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    for i in range(4):
        k.seg(t + 1 + i * 0.1, "c", 1 + 100 * i, 1, "PA", data=100)
    k.seg(41, "s", 1, 101, "A", win=500)
    for i in range(3):
        k.seg(42 + i, "s", 1, 101, "A", win=500)
    k.seg(66, "c", 101, 1, "PA", data=100)
    return cap, {9: {DUP}, 10: {DUP}, 11: {DUP}, 12: {RT}}


def retransmission_after_rto():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(t + 301, "c", 1, 1, "PA", data=100)             # 5: 300 ms later, never ACKed
    return cap, {5: {RT}}


def spurious_retransmission():
    """Data already ACKed is sent again; the repeated ACK is a duplicate ACK."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(41, "s", 1, 101, "A", win=500)                  # 5
    k.seg(300, "c", 1, 1, "PA", data=100)                 # 6: all bytes already ACKed
    k.seg(320, "s", 1, 101, "A", win=500)                 # 7
    return cap, {6: {RT, SPUR}, 7: {DUP}}


def out_of_order_vs_retransmission():
    """An older segment 5 ms after a newer one (< iRTT 20.1 ms) is out-of-order; 50 ms
    after (> iRTT) it is a retransmission."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 101, 1, "PA", data=100)             # 4: hole before it
    k.seg(t + 6, "c", 1, 1, "PA", data=100)               # 5: fills it 5 ms later
    k.seg(t + 7, "c", 301, 1, "PA", data=100)             # 6: another hole
    k.seg(t + 57, "c", 201, 1, "PA", data=100)            # 7: fills it 50 ms later
    return cap, {4: {LOST}, 5: {OOO}, 6: {LOST}, 7: {RT}}


def no_handshake_3ms_threshold():
    """No handshake captured: the out-of-order threshold is 3 ms."""
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 1, 1, "PA", data=100)                   # 1
    k.seg(0.5, "c", 201, 1, "PA", data=100)               # 2: hole
    k.seg(1.5, "c", 101, 1, "PA", data=100)               # 3: 1 ms later: out-of-order
    k.seg(3, "c", 401, 1, "PA", data=100)                 # 4: hole
    k.seg(10, "c", 301, 1, "PA", data=100)                # 5: 7 ms later: retransmission
    return cap, {2: {LOST}, 3: {OOO}, 4: {LOST}, 5: {RT}}


def window_full_exact():
    """Data reaching exactly the peer's advertised right edge; one byte less is not full."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake(wscale=None, win=1000)                # no scaling: window 1000
    k.seg(t + 1, "c", 1, 1, "PA", data=500)               # 4: ends at 501
    k.seg(t + 2, "c", 501, 1, "PA", data=500)             # 5: ends at 1001 = 1 + 1000
    k.seg(41, "s", 1, 1001, "A", win=1000)                # 6
    k.seg(42, "c", 1001, 1, "PA", data=999)               # 7: ends one byte short
    return cap, {5: {WFULL}}


def zero_window_and_probe():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(41, "s", 1, 101, "A", win=0)                    # 5: zero window
    k.seg(241, "c", 101, 1, "A", data=1)                  # 6: 1 byte at nextseq: probe
    k.seg(261, "s", 1, 101, "A", win=0)                   # 7: still 0, answers the probe
    k.seg(300, "s", 1, 101, "A", win=500)                 # 8: window opens
    k.seg(301, "c", 101, 1, "PA", data=100)               # 9: data resumes at nextseq
    return cap, {5: {ZW}, 6: {ZWP}, 7: {ZW, ZWP_ACK}, 8: {WUPD}}


def keep_alive():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(41, "s", 1, 101, "A", win=500)                  # 5
    k.seg(10_041, "c", 100, 1, "A")                       # 6: seq = nextseq - 1, no data
    k.seg(10_061, "s", 1, 101, "A", win=500)              # 7
    k.seg(20_061, "c", 100, 1, "A", data=1)               # 8: with 1 garbage byte
    k.seg(20_081, "s", 1, 101, "A", win=500)              # 9
    return cap, {6: {KA}, 7: {KA_ACK}, 8: {KA}, 9: {KA_ACK}}


def lost_segment_and_acked_unseen():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(t + 2, "c", 201, 1, "PA", data=100)             # 5: 101..200 never captured
    k.seg(41, "s", 1, 301, "A", win=500)                  # 6: ACKs the unseen bytes
    return cap, {5: {LOST}, 6: {ACK_LOST}}


def acked_unseen_once_until_peer_moves():
    """'ACKed unseen segment' as tshark 4.0.17 reports it: once for a peer that has not
    sent past a hole; again when the peer's sequence jumped (frame 6), not for a repeat."""
    cap = Capture()
    k = cap.conn(isn_s=2**32 - 50)                       # the server's numbers wrap too
    ack = ("c", 1, 201)
    k.seg(0, *ack)                                        # 1
    k.seg(0.1, "s", -99, 1, "A", win=500)                 # 2: server at S - 99
    k.seg(0.2, *ack)                                      # 3: acks beyond it
    k.seg(0.3, *ack)                                      # 4: again: not reported twice
    k.seg(0.4, "s", 101, 1, "A", win=500)                 # 5: server jumps past a hole
    k.seg(0.5, *ack)                                      # 6: reported again
    k.seg(0.6, *ack)                                      # 7
    # the client's repeated ACKs are also duplicate ACKs #1..#4
    return cap, {3: {ACK_LOST, DUP}, 4: {DUP}, 5: {LOST}, 6: {ACK_LOST, DUP}, 7: {DUP}}


def acked_unseen_then_fast_retransmission():
    """tshark 4.0.17 keeps the dup-ACK counter unsigned: after 'ACKed unseen segment' sets
    it to -1, a segment at the peer's ACK within 20 ms is a fast retransmission (no dup
    ACK was seen). Found by the random comparison with tshark."""
    cap = Capture()
    k = cap.conn()
    for i in range(3):
        k.seg(0.05 * (i + 1), "c", 1, 1, "A", win=0)      # 1-3
    k.seg(0.2, "c", 1, 101, "A", win=0)                   # 4
    k.seg(0.25, "s", 101, 1, "A", win=0, data=100)        # 5
    k.seg(0.3, "s", 101, 101, "A", win=0, data=1)         # 6
    zw = {ZW}
    return cap, {1: zw, 2: zw, 3: zw, 4: zw, 5: zw, 6: {ZW, ACK_LOST, RT, FAST}}


def syn_retransmission_restarts_irtt():
    """SYN at 0 s, again at 1 s, SYN/ACK at 1.020 s, ACK at 1.0201 s: iRTT 20.1 ms. The
    same ISN is a retransmission, not 'port numbers reused'."""
    cap = Capture()
    k = cap.conn()
    o = tcp_options(mss=1460, wscale=7, sack_perm=True)
    k.seg(0, "c", 0, None, "S", win=64240, opts=o)        # 1
    k.seg(1000, "c", 0, None, "S", win=64240, opts=o)     # 2: same ISN
    k.seg(1020, "s", 0, 1, "SA", win=64240, opts=o)       # 3
    k.seg(1020.1, "c", 1, 1, "A", win=502)                # 4
    return cap, {2: {RT}}


def syn_retransmission_restores_nextseq():
    """A retransmitted SYN puts nextseq back to the last contiguous byte (Wireshark issue
    17616): data at the ISN + 1 afterwards is not a retransmission."""
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S")                           # 1
    k.seg(1, "c", 101, None, "PA", data=100)              # 2: beyond nextseq
    k.seg(1000, "c", 0, None, "S")                        # 3: same ISN
    k.seg(2000, "c", 1, None, "PA", data=100)             # 4
    return cap, {2: {LOST}, 3: {RT}}


def sequence_wrap():
    """ISNs just below 2**32: the data crosses the wrap without false flags."""
    cap = Capture()
    k = cap.conn(isn_c=2**32 - 150, isn_s=2**32 - 10)
    t = k.handshake()
    for i in range(3):                                    # 4-6: 2nd and 3rd cross the wrap
        k.seg(t + 1 + i * 0.1, "c", 1 + 100 * i, 1, "PA", data=100)
    k.seg(41, "s", 1, 301, "A", win=500)                  # 7
    k.seg(42, "s", 1, 301, "PA", data=100)                # 8: server data wraps too
    k.seg(43, "c", 301, 101, "A", win=500)                # 9
    k.seg(400, "c", 101, 101, "PA", data=100)             # 10: already ACKed
    k.seg(401, "c", 301, 101, "PA", data=100)             # 11: new data
    k.seg(800, "c", 301, 101, "PA", data=100)             # 12: never ACKed: RTO
    return cap, {10: {RT, SPUR}, 12: {RT}}


def missing_handshake_window_unknown():
    """No SYN: the window scale is unknown, so windows are unscaled and a segment that
    reaches the right edge exactly is not 'window full'."""
    cap = Capture()
    k = cap.conn()
    k.seg(0, "s", 1, 1, "A", win=1000)                    # 1: server speaks first
    k.seg(1, "c", 1, 1, "PA", data=500)                   # 2
    k.seg(2, "c", 501, 1, "PA", data=500)                 # 3: ends at 1001 = 1 + 1000
    k.seg(30, "s", 1, 1001, "A", win=1000)                # 4
    return cap, {}


def rst_with_zero_window():
    """A RST with window 0 is not a zero window."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(41, "s", 1, 101, "RA", win=0)                   # 5
    k.seg(42, "c", 101, None, "R", win=0)                 # 6
    return cap, {}


def port_reuse_new_stream():
    """A SYN with a new ISN on a closed 4-tuple starts a new stream; streams are
    numbered by first appearance, interleaved connections included."""
    cap = Capture()
    a = cap.conn(client=("10.0.0.1", 40000), isn_c=1000, isn_s=5000)
    b = cap.conn(client=("10.0.0.1", 40001), isn_c=7000, isn_s=9000)
    a.seg(0, "c", 0, None, "S", opts=tcp_options(mss=1460))            # 1  stream 0
    b.seg(1, "c", 0, None, "S", opts=tcp_options(mss=1460))            # 2  stream 1
    a.seg(20, "s", 0, 1, "SA", opts=tcp_options(mss=1460))             # 3
    a.seg(20.1, "c", 1, 1, "A")                                        # 4
    b.seg(21, "s", 0, 1, "SA", opts=tcp_options(mss=1460))             # 5
    b.seg(21.1, "c", 1, 1, "A")                                        # 6
    a.seg(30, "c", 1, 1, "FA")                                         # 7
    a.seg(50, "s", 1, 2, "FA")                                         # 8
    a.seg(50.1, "c", 2, 2, "A")                                        # 9
    a2 = cap.conn(client=("10.0.0.1", 40000), isn_c=123456, isn_s=654321)
    a2.seg(100, "c", 0, None, "S", opts=tcp_options(mss=1460))         # 10 stream 2
    a2.seg(120, "s", 0, 1, "SA", opts=tcp_options(mss=1460))           # 11
    a2.seg(120.1, "c", 1, 1, "A")                                      # 12
    b.seg(130, "c", 1, 1, "PA", data=10)                               # 13 stream 1
    return cap, {10: {REUSED}}


def options_cut_hide_the_analysis():
    """A frame cut inside its TCP options (snap length): Wireshark runs the analysis but
    throws in the option dissector before printing it, so tshark shows no flag on that
    frame; the state still moves on (the next frame is a window update)."""
    cap = Capture(snaplen=56)
    k = cap.conn()
    t = k.handshake()                                     # SYNs are 52 bytes: not cut
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4: payload cut (normal)
    o = tcp_options(ts=(5, 6), sack=[(k.isn_c + 201, k.isn_c + 301)])
    k.seg(41, "s", 1, 101, "A", win=0, opts=o)            # 5: 64 bytes, cut at 56
    k.seg(42, "s", 1, 101, "A", win=500)                  # 6
    return cap, {6: {WUPD}}


def icmp_errors_quoting_tcp():
    """ICMP errors quoting a TCP header: Wireshark gives the frame the quoted 4-tuple's
    tcp.stream, creating one if the 4-tuple is new (which shifts later stream numbers),
    and analyses nothing. Quotes shorter than 16 TCP bytes get no stream."""
    import socket

    import dpkt

    def ipv4(src, dst, proto, payload):
        p = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64,
                       data=payload)
        p.len = 20 + len(bytes(payload))
        return bytes(p)

    def syn(sport):
        t = dpkt.tcp.TCP(sport=sport, dport=80, seq=1000, flags=0x02, win=64240)
        t.off = 5
        return ipv4("10.0.0.1", "10.0.0.2", 6, t)

    def unreachable(quote):
        icmp = dpkt.icmp.ICMP(type=3, code=3, data=dpkt.icmp.ICMP.Unreach(data=quote))
        return ipv4("10.0.0.2", "10.0.0.1", 1, icmp)

    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S")                           # 1: stream 0
    cap.add_raw(1, unreachable(syn(40000)))               # 2: quotes stream 0's SYN
    cap.add_raw(2, unreachable(syn(40009)))               # 3: a new 4-tuple: stream 1
    cap.add_raw(3, unreachable(syn(40010)[:28]))          # 4: 8 TCP bytes: no stream
    k2 = cap.conn(client=("10.0.0.1", 40001))
    k2.seg(4, "c", 0, None, "S")                          # 5: stream 2
    return cap, {}


def window_update():
    cap = Capture()
    k = cap.conn()
    t = k.handshake(wscale=None, win=4000)
    k.seg(t + 1, "s", 1, 1, "A", win=8000)                # 4: same seq/ack, new window
    k.seg(t + 2, "s", 1, 1, "A", win=8000)                # 5: same window: duplicate ACK
    return cap, {4: {WUPD}, 5: {DUP}}


def ipv6_retransmission():
    cap = Capture()
    k = cap.conn(client=("2001:db8::1", 40000), server=("2001:db8::2", 443))
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)               # 4
    k.seg(t + 401, "c", 1, 1, "PA", data=100)             # 5
    return cap, {5: {RT}}


def time_backwards_negative_irtt():
    """The handshake ACK stamped 50 ms before the SYN (clock stepped back): iRTT -50 ms.
    Wireshark stores the out-of-order threshold as an unsigned 64-bit number, so -50 ms
    becomes 2**64 - 50e6 ns: an older segment any time later is out-of-order, and one
    stamped before the newest segment is out-of-order only when more than 50 ms before it
    (the time difference is unsigned too). Checked against tshark 4.0.17."""
    cap = Capture()
    k = cap.conn()
    k.seg(100, "c", 0, None, "S")                         # 1
    k.seg(120, "s", 0, 1, "SA")                           # 2
    k.seg(50, "c", 1, 1, "A")                             # 3: iRTT = 50 - 100 ms
    k.seg(300, "c", 1, 1, "PA", data=100)                 # 4
    k.seg(301, "c", 101, 1, "PA", data=100)               # 5: nextseq 201 at 301 ms
    k.seg(501, "c", 1, 1, "PA", data=100)                 # 6: 200 ms later: not RT
    k.seg(251, "c", 1, 1, "PA", data=100)                 # 7: exactly 50 ms before
    k.seg(250, "c", 1, 1, "PA", data=100)                 # 8: 51 ms before
    k.seg(252, "c", 1, 1, "PA", data=100)                 # 9: 49 ms before
    return cap, {6: {OOO}, 7: {RT}, 8: {OOO}, 9: {RT}}


SCENARIOS = {f.__name__: f for f in (
    dup_ack_x3_fast_retransmission,
    fast_retransmission_too_late,
    retransmission_after_rto,
    spurious_retransmission,
    out_of_order_vs_retransmission,
    no_handshake_3ms_threshold,
    window_full_exact,
    zero_window_and_probe,
    keep_alive,
    lost_segment_and_acked_unseen,
    acked_unseen_once_until_peer_moves,
    acked_unseen_then_fast_retransmission,
    syn_retransmission_restarts_irtt,
    syn_retransmission_restores_nextseq,
    sequence_wrap,
    missing_handshake_window_unknown,
    rst_with_zero_window,
    port_reuse_new_stream,
    options_cut_hide_the_analysis,
    icmp_errors_quoting_tcp,
    window_update,
    ipv6_retransmission,
    time_backwards_negative_irtt,
)}
