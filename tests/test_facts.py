"""The diagnostic facts on built captures: what each retransmitted or late segment was
(repairs.py), stalls and path-MTU black holes (stalls.py), wire segments (facts.py), and
the causes they lead to."""
from __future__ import annotations

import pytest

from cnfpost.capture import decode_bytes
from cnfpost.facts import build_facts, wire_segments
from cnfpost.repairs import classify_repairs
from cnfpost.tcp import analyze_tcp
from cnfpost.thresholds import Thresholds
from tests.tcp_builders import Capture

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
