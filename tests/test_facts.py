"""The diagnostic facts on built captures: what each retransmitted or late segment was
(repairs.py), stalls and path-MTU black holes (stalls.py), wire segments (facts.py), and
the causes they lead to."""
from __future__ import annotations

import numpy as np
import pytest

from cnfpost.capture import decode_bytes
from cnfpost.facts import build_facts, wire_segments
from cnfpost.repairs import classify_repairs
from cnfpost.tcp import analyze_tcp
from cnfpost.thresholds import Thresholds
from tests.tcp_builders import Capture, tcp_options

MSS = 1460
RTT = 20.0          # ms


def analyse(cap: Capture):
    table = decode_bytes(cap.pcap_bytes(), "built.pcap")
    tcp = analyze_tcp(table)
    return table, tcp


def download(cap: Capture, *, skip=(), late=(), again=(), t0=0.0, segments=6, gap_ms=1.0,
             rtt=RTT, **conn):
    """A connection whose server sends `segments` full segments after the handshake.
    skip: segment numbers not captured (lost before the probe); late: (k, delay_ms) sent
    after the others by delay_ms; again: (k, at_ms) sent once more at that time; rtt: the
    handshake's; conn: Capture.conn's endpoints (client=..., server=...)."""
    c = cap.conn(**conn)
    t = c.handshake(t0, rtt, mss=MSS)
    c.seg(t + 0.1, "c", 1, 1, "PA", data=100)                        # the request
    t += rtt
    frames = {}
    late = dict(late)
    for k in range(segments):
        if k in skip or k in late:
            continue
        frames[k] = c.seg(t + k * gap_ms, "s", 1 + k * MSS, 101, "A", data=MSS)
    for k, delay in late.items():
        frames[k] = c.seg(t + segments * gap_ms + delay, "s", 1 + k * MSS, 101, "A", data=MSS)
    for k, at in again:
        c.seg(t + at, "s", 1 + k * MSS, 101, "A", data=MSS)
    return c, frames


def kinds(cap: Capture) -> dict[str, list[int]]:
    table, tcp = analyse(cap)
    r = classify_repairs(table, tcp)
    return {(k, d): r.frames(k, d).tolist() for k in ("repair", "copy", "reordered")
            for d in ("up", "down") if r.frames(k, d).size}


def test_a_hole_filled_a_round_trip_later_is_a_repair_of_downstream_loss():
    cap = Capture()
    download(cap, late=[(1, 2 * RTT)])          # segment 1 lost, re-sent 40 ms later
    assert list(kinds(cap)) == [("repair", "down")]


def test_a_segment_held_back_less_than_half_a_round_trip_is_reordering():
    cap = Capture()
    download(cap, late=[(1, 0.3 * RTT)])        # overtaken, arrives 6 ms late
    assert list(kinds(cap)) == [("reordered", "down")]


@pytest.mark.parametrize("delay, kind", [(0.49 * RTT, "reordered"), (0.51 * RTT, "repair")])
def test_the_reordering_edge_is_half_the_connections_rtt(delay, kind):
    cap = Capture()
    # the late segment arrives `delay` after segment 2, the first that overtook it
    download(cap, late=[(1, delay - 4.0)], segments=6, gap_ms=1.0)
    assert list(kinds(cap)) == [(kind, "down")]


def test_bytes_that_arrive_twice_are_a_needless_copy_not_loss():
    cap = Capture()
    download(cap, again=[(2, 3 * RTT)])
    assert list(kinds(cap)) == [("copy", "down")]


def test_client_data_sent_again_without_an_ack_is_upstream_loss():
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=500)
    c.seg(t + 1 + 10 * RTT, "c", 1, 1, "PA", data=500)          # RTO: never acknowledged
    c.seg(t + 2 + 11 * RTT, "s", 1, 501, "A")
    assert list(kinds(cap)) == [("repair", "up")]


def test_client_data_sent_again_after_its_ack_is_a_copy():
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=500)
    c.seg(t + 1 + RTT, "s", 1, 501, "A")
    c.seg(t + 2 + RTT, "c", 1, 1, "PA", data=500)
    assert list(kinds(cap)) == [("copy", "up")]


def test_a_super_frame_counts_as_its_wire_segments():
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + RTT, "s", 1, 1, "A", data=10 * MSS)      # GRO: ten segments in one frame
    c.seg(t + RTT + 1, "s", 1 + 10 * MSS, 1, "A", data=MSS + 1)
    table, tcp = analyse(cap)
    rows = (tcp.payload_len > 0).nonzero()[0]
    assert wire_segments(tcp, rows) == 12
    facts = build_facts(table, tcp, Thresholds(), {})
    assert facts.data_segments == {"up": 0, "down": 12}


def stall_capture(end_with: str) -> Capture:
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=100)
    c.seg(t + RTT, "s", 1, 101, "A", data=MSS)
    c.seg(t + RTT + 1, "s", 1 + MSS, 101, "A", data=MSS)
    c.seg(t + RTT + 2, "c", 101, 1 + 2 * MSS, "A")
    if end_with == "retransmission":
        c.seg(t + RTT + 1000, "s", 1 + MSS, 101, "A", data=MSS)     # the same bytes again
    else:
        c.seg(t + RTT + 1000, "s", 1 + 2 * MSS, 101, "A", data=MSS)  # new data: a slow sender
    return cap


@pytest.mark.parametrize("end_with, stalls", [("retransmission", 1), ("new data", 0)])
def test_a_silence_is_a_stall_only_when_it_ends_in_a_retransmission(end_with, stalls):
    table, tcp = analyse(stall_capture(end_with))
    facts = build_facts(table, tcp, Thresholds(), {})
    assert len(facts.stalls) == stalls
    if stalls:
        assert facts.stalls[0].ended_by == "retransmission"
        assert 990 < facts.stalls[0].duration_ms < 1000


def test_a_silence_below_find_stall_ms_is_no_stall():
    table, tcp = analyse(stall_capture("retransmission"))
    facts = build_facts(table, tcp, Thresholds({"find.stall_ms": 1000.0}), {})
    assert facts.stalls == ()


def test_full_size_segments_that_never_arrive_while_small_ones_do_are_a_black_hole():
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=300)
    # segments 0 and 1 (full size) never arrive; the 600-byte tail of the flight does
    c.seg(t + RTT, "s", 1 + 2 * MSS, 301, "PA", data=600)
    c.seg(t + RTT + 0.2, "c", 301, 1, "A")                            # dup ACK
    c.seg(t + 3000, "c", 301, 1, "RA")                                # curl gives up
    table, tcp = analyse(cap)
    facts = build_facts(table, tcp, Thresholds(), {})
    (hole,) = facts.blackholes
    assert hole.direction == "down" and hole.largest_ip_bytes == 600 + 20 + 20
    assert hole.mss == MSS


def test_a_hole_later_filled_is_no_black_hole():
    cap = Capture()
    download(cap, late=[(1, 2 * RTT)])
    table, tcp = analyse(cap)
    assert build_facts(table, tcp, Thresholds(), {}).blackholes == ()


def test_baseline_rtt_is_the_smallest_any_source_saw():
    cap = Capture()
    download(cap)
    table, tcp = analyse(cap)
    facts = build_facts(table, tcp, Thresholds(), {"mtr": 25.0, "ping": None})
    # the server's first data acknowledges the request 19.9 ms after it left (the
    # handshake took 20.1 ms): the smallest wins
    assert facts.baseline_source == "tcp_ack_rtt"
    assert facts.baseline_rtt_ms == pytest.approx(RTT - 0.1, abs=0.01)
    facts = build_facts(table, tcp, Thresholds(), {"mtr": 5.0})
    assert (facts.baseline_rtt_ms, facts.baseline_source) == (5.0, "mtr")


# --- what limited a download (limits.py) ----------------------------------------------------

def limits_of(cap: Capture):
    from cnfpost.limits import download_limits

    table, tcp = analyse(cap)
    facts = build_facts(table, tcp, Thresholds(), {})
    return download_limits(tcp, facts.repairs, 0, 0, 2**62, RTT)


def test_a_download_paced_by_acks_is_rtt_limited():
    cap = Capture()
    download(cap, segments=8)
    assert limits_of(cap).limited_by == "rtt"


def test_a_server_that_pauses_with_the_window_open_is_sender_limited():
    cap = Capture()
    c, _ = download(cap, segments=4)
    c.seg(200.0, "s", 1 + 4 * MSS, 101, "A", data=MSS)        # 140 ms pause: 7 RTTs
    lim = limits_of(cap)
    assert lim.limited_by == "sender" and lim.shares_pct["sender"] > 90


def test_a_shut_client_window_is_receiver_limited():
    cap = Capture()
    c, _ = download(cap, segments=2)
    t = 2 * RTT + 0.2 + 2
    c.seg(t, "c", 101, 1 + 2 * MSS, "A", win=0)                  # the client stops reading
    c.seg(t + 150, "c", 101, 1 + 2 * MSS, "A", win=512)         # and reads again
    c.seg(t + 151, "s", 1 + 2 * MSS, 101, "A", data=MSS)
    lim = limits_of(cap)
    assert lim.limited_by == "receiver" and lim.shares_pct["receiver"] > 90


def test_a_hole_open_for_a_round_trip_is_loss_limited():
    cap = Capture()
    download(cap, late=[(1, 3 * RTT)], segments=4)
    lim = limits_of(cap)
    assert lim.limited_by == "loss"


# --- packets the server sent that never arrived (IPv4 id gaps) ------------------------------

def test_ip_id_gaps_count_the_server_packets_lost_before_a_frame():
    from cnfpost.facts import unseen_before

    cap = Capture(ip_ids=True)
    c, frames = download(cap, segments=6)
    lost = [c.seg(200.0 + k, "s", 1 + (6 + k) * MSS, 101, "A", data=MSS) for k in range(2)]
    cap.lost.update(f - 1 for f in lost)
    after = c.seg(300.0, "s", 1 + 8 * MSS, 101, "A", data=MSS) - len(lost)   # frame number
    table, tcp = analyse(cap)
    assert unseen_before(table, tcp) == {after: 2}


def test_ip_ids_that_do_not_count_up_tell_nothing():
    from cnfpost.facts import unseen_before

    cap = Capture(ip_ids=False)                      # every id 0: no sequence to read
    download(cap, skip=(2,))
    table, tcp = analyse(cap)
    assert unseen_before(table, tcp) == {}


def test_a_capture_at_the_server_judges_the_servers_data_by_what_the_client_acknowledged():
    """Near the server the SYN/ACK leaves at once and the ACK comes a round trip later: the
    server's retransmissions are seen twice there, and are loss unless the client had
    acknowledged the bytes (then they are needless copies)."""
    from cnfpost.repairs import capture_at_server

    cap = Capture()
    c = cap.conn()
    c.seg(0.0, "c", 0, None, "S", opts=b"")
    c.seg(0.1, "s", 0, 1, "SA")
    c.seg(RTT, "c", 1, 1, "A")
    c.seg(RTT + 0.1, "c", 1, 1, "PA", data=100)
    c.seg(RTT + 0.2, "s", 1, 101, "A", data=MSS)                    # lost on the way down
    c.seg(RTT + 0.3, "s", 1 + MSS, 101, "A", data=MSS)
    c.seg(2 * RTT + 0.3, "c", 101, 1, "A")                           # dup ACK: hole at 1
    c.seg(2 * RTT + 0.5, "s", 1, 101, "A", data=MSS)                 # the repair
    c.seg(3 * RTT + 0.5, "c", 101, 1 + 2 * MSS, "A")
    c.seg(3 * RTT + 0.6, "s", 1 + MSS, 101, "A", data=MSS)           # acked already: a copy
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True]
    assert kinds(cap) == {("repair", "down"): [8], ("copy", "down"): [10]}


def test_ip_id_gaps_are_read_when_the_handshake_was_not_captured():
    """Regression: without the handshake the client's MSS is unknown (0); each segment
    counted as its payload in bytes (np.maximum(mss, 1) made the 1460 fallback dead code),
    so a server counting its ids up by one never looked sequential and lost packets went
    unseen."""
    from cnfpost.facts import unseen_before

    cap = Capture(ip_ids=True)
    k = cap.conn()
    k.seg(0, "c", 1, 1, "PA", data=100)                       # capture starts mid-stream
    frames = [k.seg(20 + i, "s", 1 + i * MSS, 101, "A", data=MSS) for i in range(8)]
    cap.lost.update({frames[5] - 1, frames[6] - 1})
    table, tcp = analyse(cap)
    assert int(tcp.flows["mss_client"][0]) == 0
    assert unseen_before(table, tcp) == {frames[7] - 2: 2}


# --- unseen_before at its edges: ids set by hand ---------------------------------------------

from dataclasses import dataclass as _dataclass, field as _field     # noqa: E402

from cnfpost.facts import Facts, baseline_rtt, unseen_before        # noqa: E402
from cnfpost.stalls import Stall                                    # noqa: E402


@_dataclass
class IdCapture(Capture):
    """A capture whose IPv4 ids are given per frame (index from 0); others are 0."""

    ids: dict = _field(default_factory=dict)

    def __post_init__(self):
        self.ip_ids = True

    def _ip_id(self, i: int, src) -> int:
        return self.ids.get(i, 0) & 0xFFFF


def server_ids(steps, payload=MSS, mss=MSS, first=100, port=40000, cap=None):
    """A connection (client MSS `mss`) whose server sends one segment per id step after a
    first id: steps are the id increments between consecutive server packets. Returns the
    capture and the frame numbers of the server's data."""
    cap = cap or IdCapture()
    k = cap.conn(client=("10.0.0.1", port))
    t = k.handshake(0.0, RTT, mss=mss)
    # the SYN/ACK's id: one step before the first data segment (which takes its segments)
    cap.ids[len(cap.frames) - 2] = first - max(1, -(-payload // mss))
    k.seg(t + 0.1, "c", 1, 1, "PA", data=100)
    idn, frames = first, []
    for i, step in enumerate([0, *steps]):
        idn += step
        frame = k.seg(t + RTT + i, "s", 1 + i * payload, 101, "A", data=payload)
        cap.ids[frame - 1] = idn
        frames.append(frame)
    return cap, frames


def unseen_of(cap):
    table, tcp = analyse(cap)
    return unseen_before(table, tcp)


def test_a_gap_of_up_to_512_ids_is_packets_lost():
    # 10 steps of one id; one of 513 (512 lost), or 514 (a jump: another sender)
    cap, frames = server_ids([1] * 5 + [513] + [1] * 4)
    assert unseen_of(cap) == {frames[6]: 512}
    cap, frames = server_ids([1] * 5 + [514] + [1] * 4)
    assert unseen_of(cap) == {}


def test_ids_are_sequential_from_four_steps():
    # the SYN/ACK and 4 data segments: 4 steps, one with a gap of 2 (exact 3 of 4)
    cap, frames = server_ids([1, 3, 1])
    assert unseen_of(cap) == {frames[2]: 2}
    cap, frames = server_ids([3, 1])                          # 3 steps: too few to tell
    assert unseen_of(cap) == {}


def test_ids_are_sequential_when_95_percent_of_steps_go_forward():
    # 20 steps (the SYN/ACK's and 19): 19 forward, one backwards, is 95 %; 18 is not
    cap, frames = server_ids([1] * 8 + [3] + [1] * 8 + [65535, 1])
    assert unseen_of(cap) == {frames[9]: 2}
    cap, frames = server_ids([1] * 8 + [3] + [1] * 7 + [65535, 65535, 1])
    assert unseen_of(cap) == {}


def test_ids_are_sequential_when_half_the_steps_are_exact():
    cap, frames = server_ids([3, 1, 3])                       # 2 of 4 steps exact
    assert unseen_of(cap) == {frames[1]: 2, frames[3]: 2}
    cap, frames = server_ids([3, 3, 3])                       # 1 of 4
    assert unseen_of(cap) == {}


def test_ids_wrap_at_65536():
    cap, frames = server_ids([1] * 6, first=65533)            # 65533 ... 65535, 0, 1, 2, 3
    assert unseen_of(cap) == {}
    cap, frames = server_ids([1, 1, 1, 3, 1, 1], first=65533)
    assert unseen_of(cap) == {frames[4]: 2}


def test_a_super_frame_takes_as_many_ids_as_segments():
    # 3000 bytes at MSS 1460 are 3 segments (3 ids); at MSS 536, 6
    cap, frames = server_ids([3, 3, 3, 3, 3], payload=3000)
    assert unseen_of(cap) == {}
    cap, frames = server_ids([6, 6, 6, 8, 6], payload=3000, mss=536)
    assert unseen_of(cap) == {frames[4]: 2}


def test_each_connection_is_judged_on_its_own_ids():
    # two connections' server packets interleave in the capture; only the second lost some
    cap = IdCapture()
    a = cap.conn(client=("10.0.0.1", 40001))
    b = cap.conn(client=("10.0.0.1", 40002), isn_s=9000)
    for k, base in ((a, 100), (b, 5000)):
        k.handshake(0.0, RTT, mss=MSS)
        cap.ids[len(cap.frames) - 2] = base - 1              # its SYN/ACK
    frames = {}
    for i in range(24):
        for name, k, base, gap in (("a", a, 100, 0), ("b", b, 5000, 2 if i == 20 else 0)):
            frames[name, i] = k.seg(30 + i, "s", 1 + i * MSS, 1, "A", data=MSS)
            cap.ids[frames[name, i] - 1] = base + i + (gap if i >= 20 else 0)
    assert unseen_of(cap) == {frames["b", 20]: 2}


# --- the Facts' own questions ------------------------------------------------------------------

def test_baseline_rtt_ignores_zero_and_missing_figures():
    assert baseline_rtt(None, {"ping": 0.0, "mtr": None, "echo": 0.5}) == (0.5, "echo")
    assert baseline_rtt(None, {"ping": 0.0}) == (None, None)


def test_baseline_rtt_from_a_handshake_in_milliseconds():
    cap = Capture()
    cap.conn().handshake(0.0, 1999.9)                            # iRTT 2000 ms
    table, tcp = analyse(cap)
    # the server's ACK RTT (SYN to SYN/ACK) is the smaller: 1999.9 ms
    assert baseline_rtt(tcp, {"mtr": 2500.0}) == (1999.9, "tcp_ack_rtt")
    # an ACK sent the instant the SYN/ACK came: a tie, the handshake named first
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    k.seg(20, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    k.seg(20, "c", 1, 1, "A")
    table, tcp = analyse(cap)
    assert baseline_rtt(tcp, {}) == (20.0, "tcp_handshake")


def test_build_facts_without_a_capture_keeps_the_paths_rtt():
    f = build_facts(None, None, Thresholds(), {"ping": 12.5}, dns_seen=True)
    assert (f.baseline_rtt_ms, f.baseline_source, f.repairs, f.tcp) == (12.5, "ping", None,
                                                                         None)
    assert f.dns_seen is False                       # nothing read: no DNS seen either


def test_build_facts_records_every_classified_segment():
    cap = Capture()
    download(cap, segments=20, late=[(1, 2 * RTT), (17, 0.5)], again=[(2, 3 * RTT)])
    c = cap.conn(client=("10.0.0.1", 40001))
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=1)                      # one byte of data
    table, tcp = analyse(cap)
    th = Thresholds({"find.download_bytes.min": 5000.0})
    f = build_facts(table, tcp, th, {}, dns_seen=True)
    # after the others (5-22): segment 1 repaired (23), segment 17 late (24), the copy (25)
    assert f.repair_frames == {23: "down"}
    assert f.reorder_frames == frozenset({24}) and f.copy_frames == frozenset({25})
    assert f.data_segments == {"up": 2, "down": 21} and f.repair_segments == {"up": 0,
                                                                              "down": 1}
    assert (f.dns_seen, f.load_bytes_min, f.tcp) == (True, 5000.0, tcp)
    assert f.stream_repairs(0) == {"down"} and f.stream_repairs(1) == set()


def test_icmp_errors_quoting_tcp_are_no_data_segments():
    from tests import tcp_scenarios

    cap, _ = tcp_scenarios.icmp_errors_quoting_tcp()
    table, tcp = analyse(cap)
    assert tcp.quoted_rows.size
    f = build_facts(table, tcp, Thresholds(), {})
    assert f.data_segments == {"up": 0, "down": 0}


def two_stream_facts():
    cap = Capture()
    download(cap, segments=10, late=[(1, 2 * RTT)])                       # stream 0: down
    c = cap.conn(client=("10.0.0.1", 40001))
    t = c.handshake(100.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=500)
    c.seg(t + 1 + 10 * RTT, "c", 1, 1, "PA", data=500)                      # stream 1: up
    c.seg(t + 2 + 11 * RTT, "s", 1, 501, "A")
    table, tcp = analyse(cap)
    return build_facts(table, tcp, Thresholds(), {}), tcp


def test_stream_repairs_are_each_streams_own():
    f, _ = two_stream_facts()
    assert (f.stream_repairs(0), f.stream_repairs(1)) == ({"down"}, {"up"})
    assert Facts().stream_repairs(0) == set()


def test_stall_in_is_the_longest_overlapping_one():
    long_ = Stall(0, 0, 1000, "retransmission", (1, 2))
    later = Stall(0, 900, 950, "retransmission", (3, 4))
    other = Stall(1, 0, 5000, "retransmission", (5, 6))
    f = Facts(stalls=(long_, later, other))
    assert f.stall_in(0, 0, 2000) is long_
    assert f.stall_in(0, 1000, 2000) is None              # ends where the window starts
    assert f.stall_in(0, 950, 960) is long_
    assert f.stall_in(2, 0, 10) is None


def test_loading_streams_overlap_strictly_and_leave_out_the_asker():
    # stream 0 runs 0-90.1 ms (14 700 bytes), stream 1 100-342.1 ms (1000 bytes)
    f, tcp = two_stream_facts()
    ms = lambda v: 1_700_000_000_000_000_000 + int(v * 1e6)       # noqa: E731
    f = Facts(tcp=tcp, load_bytes_min=1000.0)
    assert f.loading_streams(None, ms(0), ms(400)) == [0, 1]
    assert f.loading_streams(1, ms(0), ms(400)) == [0]
    assert f.loading_streams(None, ms(90.1), ms(100)) == []     # one ends, the other starts
    assert f.loading_streams(None, ms(90.1) - 1, ms(100) + 1) == [0, 1]
    assert Facts(tcp=tcp, load_bytes_min=1001.0).loading_streams(None, ms(0), ms(400)) == [0]
    assert Facts().loading_streams(None, 0, 1) == []


def test_rtt_inflation_from_the_handshake_else_the_servers_acks():
    f, tcp = two_stream_facts()
    f = Facts(baseline_rtt_ms=5.0, tcp=tcp)
    assert f.rtt_inflation_ms(0) == pytest.approx(RTT + 0.1 - 5.0)
    assert Facts(tcp=tcp).rtt_inflation_ms(0) is None
    assert Facts(baseline_rtt_ms=5.0).rtt_inflation_ms(0) is None
    # caught mid-stream: no handshake, no ACK RTT of the server's either
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 1, 1, "PA", data=100)
    table, tcp = analyse(cap)
    assert Facts(baseline_rtt_ms=5.0, tcp=tcp).rtt_inflation_ms(0) is None


def test_unseen_in_a_window_of_the_stream():
    cap = Capture(ip_ids=True)
    _, frames = download(cap, segments=8)
    table, tcp = analyse(cap)
    ts = {fr: int(tcp.ts_ns[fr - 1]) for fr in frames.values()}
    f = Facts(tcp=tcp, unseen={frames[3]: 1, frames[5]: 2})
    lo, hi = ts[frames[3]], ts[frames[5]]
    assert f.unseen_in(0, lo, hi) == [frames[3]]            # from lo, before hi
    assert f.unseen_in(0, lo, hi + 1) == [frames[3], frames[5]]
    assert f.unseen_in(1, lo, hi + 1) == []
    assert Facts(unseen={frames[3]: 1}).unseen_in(0, lo, hi) == []


# --- repairs.py: the records, the RTT each stream is judged by, where the capture was ------

from cnfpost.repairs import KINDS, Repairs, _stream_rtt_ns, capture_at_server   # noqa: E402


def test_repairs_record_rows_streams_directions_kinds_and_delays():
    cap = Capture()
    # segments 0, 2, 3, 5 at 40.1-45.1 ms; 1 at 86.1 (lost: a repair, 44 ms after segment
    # 2 overtook it), 4 at 46.6 (1.5 ms after 5: reordered), 2 again at 100.1 (a copy)
    download(cap, segments=6, late=[(1, 2 * RTT), (4, 0.5)], again=[(2, 3 * RTT)])
    table, tcp = analyse(cap)
    r = classify_repairs(table, tcp)
    assert (r.rows + 1).tolist() == [9, 10, 11]
    assert r.stream.tolist() == [0, 0, 0] and r.up.tolist() == [False] * 3
    assert [KINDS[k] for k in r.kind] == ["repair", "reordered", "copy"]
    assert r.delay_ns.tolist() == [44_000_000, 1_500_000, -1]


def test_a_late_segment_nothing_overtook_is_reordered_with_no_delay():
    # segment 1 flagged (out of order) though no later byte had arrived before it
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 0.1, "c", 1, 1, "PA", data=100)
    c.seg(t + RTT, "s", 1 + 2 * MSS, 101, "A", data=MSS)              # 5: ahead, a hole
    c.seg(t + RTT + 1, "s", 1 + MSS, 101, "A", data=MSS)              # 6: fills part of it
    table, tcp = analyse(cap)
    r = classify_repairs(table, tcp)
    assert [(int(x) + 1, KINDS[k], int(d)) for x, k, d in zip(r.rows, r.kind, r.delay_ns)] \
        == [(6, "reordered", 1_000_000)]


def test_without_any_rtt_a_late_segment_is_a_repair():
    # no handshake and no ACK: the stream's RTT is unknown (0), nothing is 'only late'
    cap = Capture()
    c = cap.conn()
    c.seg(0, "s", 1, 1, "A", data=MSS)
    c.seg(1, "s", 1 + 2 * MSS, 1, "A", data=MSS)
    c.seg(1.5, "s", 1 + MSS, 1, "A", data=MSS)               # 0.5 ms late
    table, tcp = analyse(cap)
    assert _stream_rtt_ns(tcp).tolist() == [0]
    r = classify_repairs(table, tcp)
    assert [KINDS[k] for k in r.kind] == ["repair"] and r.delay_ns.tolist() == [500_000]


def test_a_streams_rtt_is_its_handshake_else_its_smallest_ack_rtt():
    cap = Capture()
    c = cap.conn()                                            # stream 0: handshake 20.1 ms
    c.handshake(0.0, RTT, mss=MSS)
    d = cap.conn(client=("10.0.0.1", 40001))                  # stream 1: mid-stream
    d.seg(100, "c", 1, 1, "PA", data=100)
    d.seg(107, "s", 1, 101, "A", data=100)                    # ACKs after 7 ms
    d.seg(110, "c", 101, 101, "A")                            # ACKs after 3 ms
    table, tcp = analyse(cap)
    assert _stream_rtt_ns(tcp).tolist() == [20_100_000, 3_000_000]


@pytest.mark.parametrize("synack_ms, ack_ms, at_server", [
    (10.0, 30.0, True),        # the ACK comes a round trip after the SYN/ACK: near the server
    (10.0, 20.0, False),       # as long either way: the probe's view
    (10.0, 10.1, False)])      # the ACK leaves at once: at the client
def test_where_the_capture_was_taken(synack_ms, ack_ms, at_server):
    cap = Capture()
    c = cap.conn()
    c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(synack_ms, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(ack_ms, "c", 1, 1, "A")
    c.seg(ack_ms + 50, "c", 1, 1, "A")                        # a later ACK does not count
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [at_server]
    assert capture_at_server(tcp, np.array([0, 0])).tolist() == [at_server]


def test_a_syn_sent_again_times_the_handshake_from_the_last_syn():
    cap = Capture()
    c = cap.conn()
    c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(1000, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(1000.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(1020.1, "c", 1, 1, "A")
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True]


def test_only_streams_asked_about_and_complete_handshakes_are_judged():
    cap = Capture()
    for port in (40000, 40001):
        c = cap.conn(client=("10.0.0.1", port))
        c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
        c.seg(0.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
        c.seg(20, "c", 1, 1, "A")
    d = cap.conn(client=("10.0.0.1", 40002))
    d.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))    # never answered
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True, True, False]
    assert capture_at_server(tcp, np.array([1])).tolist() == [False, True, False]


def test_a_1_byte_segment_sent_again_is_classified():
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=1)
    c.seg(t + 2, "c", 2, 1, "PA", data=1)
    c.seg(t + 1 + 10 * RTT, "c", 1, 1, "PA", data=1)         # never acknowledged
    assert list(kinds(cap)) == [("repair", "up")]


def test_select_and_count_by_kind_direction_and_stream():
    r = Repairs(rows=np.array([4, 7, 9, 12]), stream=np.array([0, 0, 1, 1]),
                up=np.array([False, True, False, True]),
                kind=np.array([0, 0, 1, 0], dtype=np.int8), delay_ns=np.full(4, -1))
    assert r.select("repair").tolist() == [4, 7, 12]
    assert r.select("repair", "up").tolist() == [7, 12]
    assert r.select("repair", "down").tolist() == [4]
    assert r.select("repair", streams=np.array([1])).tolist() == [12]
    assert r.select("repair", "up", np.array([0])).tolist() == [7]
    assert (r.count("repair"), r.count("repair", "up"), r.count("copy", "down")) == (3, 2, 1)
    assert r.frames("copy").tolist() == [10]


# D-SACK (RFC 2883): the server reports bytes it got twice with a SACK block below its ACK

def dsack_capture(block, ack=601, later=True, side="s"):
    """The client sends 500 bytes (1-501) and, 20 RTTs later, the same bytes again (frame
    6); the server then ACKs `ack` with a SACK block `block` (relative, None: no block)."""
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    if not later and block is not None:
        c.seg(t + 0.5, "s", 1, 1, "A", opts=tcp_options(sack=[(c.isn_c + block[0],
                                                               c.isn_c + block[1])]))
    c.seg(t + 1, "c", 1, 1, "PA", data=500)                         # 4 or 5
    c.seg(t + 2, "c", 501, 1, "PA", data=100)
    c.seg(t + 1 + 20 * RTT, "c", 1, 1, "PA", data=500)               # sent again
    if later and block is not None:
        isn = c.isn_c if side == "s" else c.isn_s
        c.seg(t + 2 + 21 * RTT, side, 1, ack if side == "s" else 1, "A",
              opts=tcp_options(sack=[(isn + block[0], isn + block[1])]))
    else:
        c.seg(t + 2 + 21 * RTT, "s", 1, ack, "A")
    return cap


@pytest.mark.parametrize("block, ack, kind", [
    ((1, 501), 601, "copy"),          # exactly the bytes sent again, below the ACK
    ((1, 601), 601, "copy"),          # a wider block, its right edge at the ACK
    ((2, 501), 601, "repair"),        # starts after the segment: does not cover it
    ((1, 500), 601, "repair"),        # ends before the segment does
    ((1, 501), 401, "repair"),        # above the ACK: an ordinary SACK, not a duplicate
    (None, 601, "repair"),            # no block at all
])
def test_a_dsack_block_makes_the_clients_retransmission_a_copy(block, ack, kind):
    table, tcp = analyse(dsack_capture(block, ack))
    r = classify_repairs(table, tcp)
    assert [KINDS[k] for k in r.kind] == [kind]


def test_only_a_later_dsack_from_the_receiver_counts():
    for cap in (dsack_capture((1, 501), later=False),          # before the copy was sent
                dsack_capture((1, 501), side="c")):            # the sender's own SACK
        table, tcp = analyse(cap)
        assert [KINDS[k] for k in classify_repairs(table, tcp).kind] == ["repair"]


def test_a_silence_shorter_than_four_of_its_round_trips_is_no_stall():
    # a 300 ms RTT: a 1000 ms silence is under 4 round trips (1200 ms), not a stall
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, 300.0, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=100)
    c.seg(t + 301, "s", 1, 101, "A", data=MSS)
    c.seg(t + 302, "s", 1 + MSS, 101, "A", data=MSS)
    c.seg(t + 303, "c", 101, 1 + 2 * MSS, "A")
    c.seg(t + 1303, "s", 1 + MSS, 101, "A", data=MSS)           # the same bytes again
    table, tcp = analyse(cap)
    assert build_facts(table, tcp, Thresholds(), {}).stalls == ()


def test_build_facts_defaults_and_a_table_without_its_analysis():
    cap = Capture()
    download(cap)
    table, tcp = analyse(cap)
    assert build_facts(table, tcp, Thresholds(), {}).dns_seen is False
    f = build_facts(table, None, Thresholds(), {"ping": 3.0})
    assert (f.baseline_rtt_ms, f.repairs, f.tcp) == (3.0, None, None)


def test_upstream_repairs_are_labelled_up():
    f, _ = two_stream_facts()
    assert sorted(f.repair_frames.values()) == ["down", "up"]


def test_wire_segments_use_the_mss_each_side_announced_or_1460():
    # the client announces 536, the server 1460: 1072 bytes are 2 segments to the client,
    # 1 to the server; without a handshake, 2921 bytes are 3 segments of 1460
    cap = Capture()
    c = cap.conn()
    c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=536))
    c.seg(20, "s", 0, 1, "SA", opts=tcp_options(mss=1460))
    c.seg(20.1, "c", 1, 1, "A")
    down = c.seg(30, "s", 1, 1, "A", data=1072)
    up = c.seg(31, "c", 1, 1073, "PA", data=1072)
    d = cap.conn(client=("10.0.0.1", 40001))
    blind = d.seg(100, "s", 1, 1, "A", data=2921)
    table, tcp = analyse(cap)
    assert wire_segments(tcp, np.array([down - 1])) == 2
    assert wire_segments(tcp, np.array([up - 1])) == 1
    assert wire_segments(tcp, np.array([blind - 1])) == 3
    assert wire_segments(tcp, np.array([], dtype=np.int64)) == 0


def test_ip_id_gaps_of_super_frames_without_a_handshake_count_1460_byte_segments():
    # 2921 bytes are 3 segments of 1460: ids go up by 3, then 5 (2 lost)
    cap = IdCapture()
    k = cap.conn()
    k.seg(0, "c", 1, 1, "PA", data=100)
    frames = []
    for i, idn in enumerate((100, 103, 106, 109, 114, 117)):
        frames.append(k.seg(20 + i, "s", 1 + i * 2921, 101, "A", data=2921))
        cap.ids[frames[-1] - 1] = idn
    assert unseen_of(cap) == {frames[4]: 2}


def test_an_ack_in_no_time_is_no_baseline():
    # the server acknowledges the request in the same nanosecond: its smallest ACK RTT is
    # 0, no figure; the handshake's 20.1 ms is the baseline
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=100)
    c.seg(t + 1, "s", 1, 101, "A")
    table, tcp = analyse(cap)
    assert int(tcp.flows["ack_rtt_server_min_ns"][0]) == 0
    assert baseline_rtt(tcp, {}) == (RTT + 0.1, "tcp_handshake")


def test_rtt_inflation_without_a_handshake_from_the_servers_ack_rtt():
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 1, 1, "PA", data=100)
    k.seg(30, "s", 1, 101, "A")                       # 30 ms later
    table, tcp = analyse(cap)
    assert Facts(baseline_rtt_ms=5.0, tcp=tcp).rtt_inflation_ms(0) == pytest.approx(25.0)


M32 = 2**32


@pytest.mark.parametrize("isn, block, ack", [
    (M32 - 450, (1, 501), 401),      # an ordinary SACK across the wrap: its right edge after it
    (M32 - 2, (2, 501), 601),        # the block starts after the segment, across the wrap
    (M32 - 501, (1, 500), 601),      # the block ends before the segment does, across the wrap
])
def test_dsack_arithmetic_wraps_at_2_to_the_32(isn, block, ack):
    cap = Capture()
    c = cap.conn(isn_c=isn)
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 1, "c", 1, 1, "PA", data=500)
    c.seg(t + 2, "c", 501, 1, "PA", data=100)
    c.seg(t + 1 + 20 * RTT, "c", 1, 1, "PA", data=500)
    c.seg(t + 2 + 21 * RTT, "s", 1, ack, "A",
          opts=tcp_options(sack=[(isn + block[0], isn + block[1])]))
    table, tcp = analyse(cap)
    assert [KINDS[k] for k in classify_repairs(table, tcp).kind] == ["repair"]


def test_a_dsack_of_another_connection_says_nothing():
    # two connections with the same ISNs: the second's D-SACK does not cover the first's
    cap = Capture()
    a = cap.conn()
    t = a.handshake(0.0, RTT, mss=MSS)
    a.seg(t + 1, "c", 1, 1, "PA", data=500)
    a.seg(t + 2, "c", 501, 1, "PA", data=100)
    a.seg(t + 1 + 20 * RTT, "c", 1, 1, "PA", data=500)              # stream 0: sent again
    b = cap.conn(client=("10.0.0.1", 40001))
    b.handshake(1000.0, RTT, mss=MSS)
    b.seg(1100, "s", 1, 601, "A", opts=tcp_options(sack=[(b.isn_c + 1, b.isn_c + 501)]))
    table, tcp = analyse(cap)
    assert [KINDS[k] for k in classify_repairs(table, tcp).kind] == ["repair"]


def test_a_capture_without_flagged_segments_has_empty_records():
    cap = Capture()
    download(cap, segments=3)
    table, tcp = analyse(cap)
    r = classify_repairs(table, tcp)
    assert r.kind.shape == (0,) and r.delay_ns.shape == (0,) and r.count("repair") == 0


def test_the_first_segment_late_is_judged_against_the_servers_own_bytes():
    # the server's segment 0 (relative seq 1, like the client's request) arrives late; its
    # pure ACK before the data starts at seq 1 too: neither is the same bytes
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 0.1, "c", 1, 1, "PA", data=100)
    c.seg(t + 5, "s", 1, 101, "A")                                     # a pure ACK
    for k in range(1, 4):
        c.seg(t + RTT + k, "s", 1 + k * MSS, 101, "A", data=MSS)
    c.seg(t + 3 * RTT, "s", 1, 101, "A", data=MSS)                     # segment 0
    assert list(kinds(cap)) == [("repair", "down")]


def repacketized(rtt=True, twice=False):
    """The server's first frame carries two segments (seq 1-2920); it then sends seq 1461
    again on its own: bytes no later start had overtaken (nothing ahead of that start)."""
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS) if rtt else 0.0
    c.seg(t + 1, "s", 1, 1, "A", data=2 * MSS)
    c.seg(t + 2, "s", 1 + MSS, 1, "A", data=MSS)
    if twice:
        c.seg(t + 3, "s", 1 + 2 * MSS, 1, "A", data=2 * MSS)
        c.seg(t + 4, "s", 1 + 3 * MSS, 1, "A", data=MSS)
    table, tcp = analyse(cap)
    return classify_repairs(table, tcp)


def test_a_segment_whose_start_nothing_had_passed_is_reordered_without_delay():
    for r in (repacketized(), repacketized(rtt=False), repacketized(twice=True)):
        assert [KINDS[k] for k in r.kind] == ["reordered"] * r.kind.shape[0]
        assert r.delay_ns.tolist() == [0] * r.kind.shape[0] and r.kind.shape[0] >= 1
    assert repacketized(twice=True).kind.shape == (2,)


@pytest.mark.parametrize("late_ms, kind", [(10.05, "repair"), (10.049, "reordered")])
def test_late_by_exactly_half_the_rtt_is_a_repair(late_ms, kind):
    # iRTT 20.1 ms: reordered only when less than 10.05 ms after the bytes that overtook it
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 0.1, "c", 1, 1, "PA", data=100)
    c.seg(t + RTT, "s", 1, 101, "A", data=MSS)
    c.seg(t + RTT + 1, "s", 1 + 2 * MSS, 101, "A", data=MSS)
    c.seg(t + RTT + 1 + late_ms, "s", 1 + MSS, 101, "A", data=MSS)
    assert list(kinds(cap)) == [(kind, "down")]


def test_a_handshake_alone_tells_where_the_capture_was():
    cap = Capture()
    c = cap.conn()
    c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(0.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(20, "c", 1, 1, "A")                                 # the only ACK after it
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True]


@pytest.mark.parametrize("ack_ns, inflation", [(0, None), (1, 1e-6 - 5.0)])
def test_rtt_inflation_from_an_ack_rtt_of_no_time_or_one_nanosecond(ack_ns, inflation):
    # no handshake; the server acknowledges the request 0 or 1 ns later
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 1, 1, "PA", data=100)
    k.seg(ack_ns / 1e6, "s", 1, 101, "A")
    table, tcp = analyse(cap)
    assert int(tcp.flows["ack_rtt_server_median_ns"][0]) == ack_ns
    assert Facts(baseline_rtt_ms=5.0, tcp=tcp).rtt_inflation_ms(0) == inflation
    assert baseline_rtt(tcp, {}) == ((1e-6, "tcp_ack_rtt") if ack_ns else (None, None))


def test_a_handshake_of_one_nanosecond_is_an_rtt():
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    k.seg(0, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    k.seg(1e-6, "c", 1, 1, "A")
    table, tcp = analyse(cap)
    assert int(tcp.flows["irtt_ns"][0]) == 1
    assert Facts(baseline_rtt_ms=0.5, tcp=tcp).rtt_inflation_ms(0) == 1e-6 - 0.5


def test_a_one_byte_segment_overtaken_is_reordered():
    cap = Capture()
    c = cap.conn()
    t = c.handshake(0.0, RTT, mss=MSS)
    c.seg(t + 0.1, "c", 1, 1, "PA", data=100)
    c.seg(t + RTT, "s", 2, 101, "A", data=100)               # byte 1 is still missing
    c.seg(t + RTT + 0.5, "s", 1, 101, "A", data=1)           # and arrives 0.5 ms later
    assert list(kinds(cap)) == [("reordered", "down")]


def test_client_data_late_at_a_capture_near_the_server_is_reordered():
    # near the server: the SYN/ACK leaves at once, the ACK comes a round trip later; the
    # client's second segment arrives 0.5 ms before its first
    cap = Capture()
    c = cap.conn()
    c.seg(0.0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(0.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(RTT, "c", 1, 1, "A")
    c.seg(RTT + 1, "c", 101, 1, "PA", data=100)
    c.seg(RTT + 1.5, "c", 1, 1, "PA", data=100)
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True]
    assert list(kinds(cap)) == [("reordered", "up")]


def test_a_handshake_closed_at_once_still_tells_where_the_capture_was():
    # the client's first packet after the SYN/ACK is a FIN/ACK, a round trip later
    cap = Capture()
    c = cap.conn()
    c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(0.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(20, "c", 1, 1, "FA")
    table, tcp = analyse(cap)
    assert int(tcp.flows["handshake"][0]) == 1
    assert capture_at_server(tcp).tolist() == [True]


def test_only_the_clients_ack_times_the_handshake():
    # near the server, which sends an ACK of its own right after its SYN/ACK
    cap = Capture()
    c = cap.conn()
    c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(0.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(0.2, "s", 1, 1, "A")
    c.seg(20, "c", 1, 1, "A")
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True]


@pytest.mark.parametrize("handshake_ns, kind", [(None, "repair"), (1, "reordered")])
def test_a_segment_stamped_before_the_one_that_overtook_it(handshake_ns, kind):
    # time goes backwards: the late segment's stamp is 0.5 ms before the overtaking one's.
    # With no RTT known nothing is 'only late'; with one (1 ns here) the negative delay is
    # under half of it
    cap = Capture()
    c = cap.conn()
    if handshake_ns is not None:                    # at the client: the ACK leaves at once
        c.seg(0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
        c.seg(handshake_ns / 1e6, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
        c.seg(handshake_ns / 1e6, "c", 1, 1, "A")
    c.seg(10, "s", 1, 1, "A", data=MSS)
    c.seg(12, "s", 1 + 2 * MSS, 1, "A", data=MSS)
    c.seg(11.5, "s", 1 + MSS, 1, "A", data=MSS)
    table, tcp = analyse(cap)
    r = classify_repairs(table, tcp)
    assert [KINDS[k] for k in r.kind] == [kind] and r.delay_ns.tolist() == [-500_000]


# ---------------------------------------------------------------------------------------
# The block-wise and vectorised passes against plain per-row and per-stream readings, with
# blocks of a few frames so that every stream is cut across block edges.
# ---------------------------------------------------------------------------------------
import cnfpost.facts as facts_module                                 # noqa: E402
import cnfpost.repairs as repairs_module                             # noqa: E402
import cnfpost.stalls as stalls_module                               # noqa: E402
import cnfpost.tcp as tcp_module                                     # noqa: E402
from cnfpost.facts import data_segments                             # noqa: E402
from cnfpost.model import NO_STREAM                                 # noqa: E402
from cnfpost.repairs import NOT_YET, _arrived_before                # noqa: E402


def _quote_of(src, sport, dst, dport, seq):
    """An ICMP port unreachable from dst quoting a TCP header src:sport -> dst:dport."""
    import socket

    import dpkt

    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, flags=0x10, win=500)
    tcp.off = 5
    inner = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=6, data=tcp)
    inner.len = 40
    icmp = dpkt.icmp.ICMP(type=3, code=3, data=dpkt.icmp.ICMP.Unreach(data=bytes(inner)))
    outer = dpkt.ip.IP(src=socket.inet_aton(dst), dst=socket.inet_aton(src), p=1, ttl=64,
                       data=icmp)
    outer.len = 20 + len(bytes(icmp))
    return bytes(outer)


def mixed_capture() -> Capture:
    """Three downloads (a lost and re-sent segment, a late one, a copy; one connection
    without its handshake), client data sent twice, and ICMP errors quoting segments."""
    cap = Capture(ip_ids=True)
    download(cap, late=[(1, 2 * RTT)], segments=8)
    download(cap, late=[(2, 0.3 * RTT)], again=[(4, 3 * RTT)], t0=2.0, segments=8,
             client=("10.0.0.1", 40001))
    c = cap.conn(client=("10.0.0.1", 40002))
    for k in range(6):                                   # no handshake captured
        c.seg(5.0 + k, "s", 1 + k * MSS, 1, "A", data=MSS)
    c.seg(40.0, "s", 1 + 2 * MSS, 1, "A", data=MSS)     # sent again
    c.seg(41.0, "c", 1, 1 + 6 * MSS, "PA", data=50)
    c.seg(80.0, "c", 1, 1 + 6 * MSS, "PA", data=50)     # the client's data again
    cap.add_raw(90.0, _quote_of("10.0.0.2", 80, "10.0.0.1", 40000, 1))
    cap.add_raw(91.0, _quote_of("10.0.0.1", 40001, "10.0.0.2", 80, 101))
    return cap


@pytest.fixture
def blocks(monkeypatch):
    def cut(rows: int) -> None:
        for module in (facts_module, repairs_module, stalls_module, tcp_module):
            monkeypatch.setattr(module, "BLOCK_ROWS", rows)
    return cut


def headless_capture() -> Capture:
    """A capture that starts inside a download: its first frame is the server's data."""
    cap = Capture(ip_ids=True)
    c = cap.conn()
    for k in range(5):
        c.seg(1.0 + k, "s", 1 + k * MSS, 1, "A", data=MSS)
    c.seg(10.0, "c", 1, 1 + 5 * MSS, "PA", data=20)
    return cap


@pytest.mark.parametrize("rows", [1, 2, 3, 1 << 16])
@pytest.mark.parametrize("build", [mixed_capture, headless_capture])
def test_what_arrived_before_a_segment_is_read_in_capture_order(rows, build, blocks):
    # every data segment of a side of a stream asked about, against a plain reading of the
    # segments before it: the same start at an earlier row, and the first row whose
    # highest start so far of its stream and side was above it
    table, tcp = analyse(build())
    stream = tcp.columns["tcp_stream"]
    seq = tcp["tcp_seq_rel"].astype(np.int64)
    data = [r for r in range(len(table)) if stream[r] != NO_STREAM and tcp.payload_len[r] > 0
            and r not in tcp.quoted_rows]
    for side in (0, 1):
        for only in (None, 0, 1):
            asked = np.array([r for r in data if tcp.client_dir[r] == side
                              and only in (None, stream[r])], dtype=np.int64)
            if asked.shape[0] == 0:
                continue
            blocks(rows)
            copy, overtaken = _arrived_before(tcp, asked, stream[asked].astype(np.int64),
                                              tcp.client_dir[asked])
            for r, got_copy, got_over in zip(asked.tolist(), copy.tolist(), overtaken.tolist()):
                same = [q for q in data if stream[q] == stream[r]
                        and tcp.client_dir[q] == side]
                assert got_copy == any(q < r and seq[q] == seq[r] for q in same)
                reach, first = -1, NOT_YET
                for q in same:
                    reach = max(reach, int(seq[q]))
                    if reach > seq[r]:
                        first = q
                        break
                assert got_over == (first if first < r else NOT_YET)


@pytest.mark.parametrize("rows", [1, 2, 5, 1 << 16])
@pytest.mark.parametrize("build", [mixed_capture, headless_capture])
def test_stream_steps_and_data_segments_read_block_by_block(rows, build, blocks):
    table, tcp = analyse(build())
    stream = tcp.columns["tcp_stream"]
    blocks(rows)
    for side in (0, 1):
        steps = [(p, r, s) for prev, rows_, streams in
                 tcp.stream_steps(lambda b: tcp.client_dir[b] == side)
                 for p, r, s in zip(prev.tolist(), rows_.tolist(), streams.tolist())]
        last, expected = {}, []
        for r in range(len(table)):
            if stream[r] != NO_STREAM and tcp.client_dir[r] == side:
                expected.append((last.get(int(stream[r]), -1), r, int(stream[r])))
                last[int(stream[r])] = r
        # each frame once, with the frame of its stream before it
        assert sorted(steps, key=lambda x: x[1]) == expected
    assert tcp._by_stream is None
    for side in (0, 1):
        rows_of_side = np.array([r for r in range(len(table)) if stream[r] != NO_STREAM
                                 and tcp.client_dir[r] == side and tcp.payload_len[r] > 0
                                 and r not in tcp.quoted_rows], dtype=np.int64)
        assert data_segments(tcp, side) == wire_segments(tcp, rows_of_side) > 0


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_facts_do_not_depend_on_where_blocks_end(rows, blocks):
    cap = Capture(ip_ids=True)
    download(cap, segments=8, client=("10.0.0.1", 40007))      # stream 0: nothing lost
    c, _ = download(cap, segments=8, t0=1.0)                   # stream 1: two lost, last
    lost = [c.seg(200.0 + k, "s", 1 + (8 + k) * MSS, 101, "A", data=MSS) for k in range(2)]
    cap.lost.update(f - 1 for f in lost)
    c.seg(300.0, "s", 1 + 10 * MSS, 101, "A", data=MSS)        # the server's last packet
    late = Capture()
    download(late, late=[(1, 0.3 * RTT)])                      # overtaken: reordering
    seen = []
    for built in (cap, mixed_capture(), late, stall_capture("retransmission")):
        table, tcp = analyse(built)
        whole = build_facts(table, tcp, Thresholds(), {})
        blocks(rows)
        cut = build_facts(table, tcp, Thresholds(), {})
        blocks(1 << 16)
        for name in ("unseen", "stalls", "repair_frames", "copy_frames", "reorder_frames",
                     "data_segments", "repair_segments"):
            assert getattr(cut, name) == getattr(whole, name), name
        seen.append(whole)
    # what is compared is there: id gaps and a stall, then repairs, copies and late bytes
    assert list(seen[0].unseen.values()) == [2] and seen[3].stalls
    assert seen[1].repair_frames and seen[1].copy_frames and seen[2].reorder_frames


def _at_server_one_by_one(tcp, streams=None) -> list[bool]:
    """capture_at_server, stream by stream: the SYN/ACK a round trip after the SYN at the
    client, the handshake's ACK a round trip after the SYN/ACK near the server."""
    f, flags = tcp.flows, tcp.tcp_flags
    asked = range(tcp.n_streams) if streams is None else set(np.asarray(streams).tolist())
    out = [False] * tcp.n_streams
    for s in asked:
        if f["handshake"][s] != 1:
            continue
        rows = tcp.stream_rows(s)
        fl = flags[rows]
        syn, synack = rows[(fl & 0x12) == 0x02], rows[(fl & 0x12) == 0x12]
        acks = rows[((fl & 0x12) == 0x10) & (tcp.client_dir[rows] == 1)]
        if not (syn.size and synack.size):
            continue
        after = acks[acks > synack[0]]
        if after.size:
            t_syn, t_sa = tcp.ts_ns[syn[-1]], tcp.ts_ns[synack[0]]
            out[s] = bool((t_sa - t_syn) < (tcp.ts_ns[after[0]] - t_sa))
    return out


@pytest.mark.parametrize("rows", [1, 2, 1 << 16])
def test_vantage_point_per_stream_as_read_one_stream_at_a_time(rows, blocks):
    cap = Capture()
    download(cap, rtt=20.0)                                          # at the client
    c = cap.conn(client=("10.0.0.1", 40001))                         # near the server
    c.seg(100.0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c.seg(100.2, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c.seg(120.2, "c", 1, 1, "A")
    c.seg(121.0, "c", 1, 1, "PA", data=10)
    c2 = cap.conn(client=("10.0.0.1", 40002))                        # an ACK at the SYN/ACK
    c2.seg(200.0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c2.seg(210.0, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c2.seg(210.0, "c", 1, 1, "A")
    c2.seg(230.0, "c", 1, 1, "A")
    c3 = cap.conn(client=("10.0.0.1", 40003))                        # a SYN sent again late
    c3.seg(300.0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c3.seg(300.1, "s", 0, 1, "SA", opts=tcp_options(mss=MSS))
    c3.seg(330.0, "c", 0, None, "S", opts=tcp_options(mss=MSS))
    c3.seg(330.5, "c", 1, 1, "A")
    _, tcp = analyse(cap)
    expected = _at_server_one_by_one(tcp)
    assert expected[:2] == [False, True]
    blocks(rows)          # a handshake cut across block edges
    assert capture_at_server(tcp).tolist() == expected
    for streams in ([1], [0, 1], [2, 3], [1, 1, 3], []):
        assert capture_at_server(tcp, np.array(streams, dtype=np.int64)).tolist() == \
            _at_server_one_by_one(tcp, streams)
    assert capture_at_server(analyse(mixed_capture())[1]).tolist() == \
        _at_server_one_by_one(analyse(mixed_capture())[1])


def test_ip_id_gaps_are_read_within_each_connection_of_one_server():
    """One server counts its ids across both connections; the second's first packets (its
    SYN/ACK and first segment) were not captured. Nothing was lost inside either
    connection, and the jump from the first connection's last id to the second's first is
    no loss of the second's."""
    cap = Capture(ip_ids=True)
    download(cap, segments=8)
    first_of_b = len(cap.frames)
    _, frames = download(cap, segments=8, t0=100.0, client=("10.0.0.1", 40001))
    cap.lost.update({first_of_b + 1, frames[0] - 1})          # its SYN/ACK, first segment
    table, tcp = analyse(cap)
    assert tcp.n_streams == 2
    assert unseen_before(table, tcp) == {}


def test_a_stall_on_a_connection_whose_handshake_was_not_captured():
    cap = Capture()
    c = cap.conn()
    for k in range(4):
        c.seg(1.0 + k, "s", 1 + k * MSS, 1, "A", data=MSS)
    c.seg(5.0, "c", 1, 1 + 2 * MSS, "A")
    c.seg(1500.0, "s", 1 + 2 * MSS, 1, "A", data=MSS)          # silence, then sent again
    table, tcp = analyse(cap)
    assert tcp.flows["irtt_ns"][0] == -1
    (stall,) = build_facts(table, tcp, Thresholds(), {}).stalls
    assert stall.ended_by == "retransmission" and stall.frames[1] == 6


@pytest.mark.parametrize("late_ms, kind", [(RTT, "repair"), (0.3 * RTT, "reordered")])
def test_a_capture_at_the_server_judges_the_clients_data_by_what_arrived(late_ms, kind):
    """Near the server, the client's data is judged as the server received it: bytes that
    come after later ones a round trip late were lost upstream, a little late reordered."""
    cap = Capture()
    c = cap.conn()
    c.seg(0.0, "c", 0, None, "S", opts=b"")
    c.seg(0.1, "s", 0, 1, "SA")
    c.seg(RTT, "c", 1, 1, "A")
    c.seg(RTT + 1.0, "c", 101, 1, "PA", data=100)                   # the bytes after a hole
    c.seg(RTT + 1.1, "s", 1, 1, "A")                                # dup ACK: hole at 1
    late = c.seg(RTT + 1.0 + late_ms, "c", 1, 1, "PA", data=100)   # the hole's bytes
    c.seg(RTT + 2.0 + late_ms, "s", 1, 201, "A")
    download(cap, t0=100.0, client=("10.0.0.1", 40009))            # another connection
    table, tcp = analyse(cap)
    assert capture_at_server(tcp).tolist() == [True, False]
    assert kinds(cap) == {(kind, "up"): [late]}


def interleaved_stalls():
    """Two connections whose frames interleave. The second stalls twice (its server sends
    bytes again after a silence), the first once in between (the client gives up on a
    response it has not all acknowledged). Returns the capture and the stalls' frames,
    (stream, last frame before, first frame after), by stream."""
    cap = Capture()
    a, b = cap.conn(), cap.conn(client=("10.0.0.1", 40001))
    a.handshake(0.0, RTT, mss=MSS)
    b.handshake(30.0, RTT, mss=MSS)
    a.seg(60.0, "c", 1, 1, "PA", data=100)
    b.seg(61.0, "c", 1, 1, "PA", data=100)
    a.seg(80.0, "s", 1, 101, "A", data=MSS)
    b.seg(81.0, "s", 1, 101, "A", data=MSS)
    a.seg(82.0, "s", 1 + MSS, 101, "A", data=MSS)
    b.seg(83.0, "s", 1 + MSS, 101, "A", data=MSS)
    a_acked = a.seg(84.0, "c", 101, 1 + MSS, "A")                   # the second not acked
    b_acked = b.seg(85.0, "c", 101, 1 + 2 * MSS, "A")
    b_again = b.seg(1000.0, "s", 1 + MSS, 101, "A", data=MSS)      # sent again
    a_fin = a.seg(1500.0, "c", 101, 1 + MSS, "FA")                  # curl gave up
    b_new = b.seg(2000.0, "s", 1 + 2 * MSS, 101, "A", data=MSS)    # a slow server: no stall
    b_again2 = b.seg(2600.0, "s", 1 + 2 * MSS, 101, "A", data=MSS)
    return cap, [(0, a_acked, a_fin), (1, b_acked, b_again), (1, b_new, b_again2)]


@pytest.mark.parametrize("rows", [1, 2, 3, 1 << 16])
def test_stalls_are_by_stream_and_found_across_block_edges(rows, blocks):
    cap, expected = interleaved_stalls()
    table, tcp = analyse(cap)
    blocks(rows)
    stalls = build_facts(table, tcp, Thresholds(), {}).stalls
    assert [(s.stream, *s.frames) for s in stalls] == expected
    assert [s.ended_by for s in stalls] == ["client_gave_up", "retransmission", "retransmission"]
    assert tcp._by_stream is None      # found without the stream index

