"""The L4 grade (cnfpost/layers_l4.py) and its thresholds."""
from __future__ import annotations

from pathlib import Path

import pytest

from cnfpost.capture import decode_bytes, read_capture
from cnfpost.layers_l4 import assess_l4
from cnfpost.tcp import analyze_tcp
from cnfpost.thresholds import DEFAULTS, Thresholds

from .support import LAB_BUNDLES, require
from .tcp_builders import Capture

LAB = LAB_BUNDLES


def l4(cap: Capture, thresholds=None):
    return assess_l4(analyze_tcp(decode_bytes(cap.pcap_bytes(), "x.pcap")), thresholds)


def bulk(cap: Capture, segments: int = 40, **kw):
    """A connection with `segments` data segments, each ACKed."""
    k = cap.conn(**kw)
    t = k.handshake()
    for i in range(segments):
        t += 1
        k.seg(t, "s", 1 + i * 1000, 1, "PA", data=1000)
        k.seg(t + 0.5, "c", 1, 1 + (i + 1) * 1000, "A", win=500)
    return k, t


def test_l4_thresholds_have_reasons_and_ascend():
    names = [n for n in DEFAULTS if n.startswith("l4.")]
    assert names
    for n in names:
        assert len(DEFAULTS[n].why) > 40, n
    for metric in ("retrans_pct", "dupack_pct", "ooo_pct", "zero_window_ms", "handshake_fail_pct"):
        v = [DEFAULTS[f"l4.{metric}.{g}"].value for g in ("excellent", "good", "fair")]
        assert v == sorted(v), metric


def test_no_tcp_is_unknown():
    assert assess_l4(None).quality == "unknown"


def test_clean_transfer_is_excellent():
    cap = Capture()
    bulk(cap)
    a = l4(cap)
    assert a.quality == "excellent"
    assert a.metrics["data_segments"] == 40 and a.metrics["retransmissions"] == 0


def test_retransmissions_grade_by_rate():
    cap = Capture()
    k, t = bulk(cap)
    for _ in range(3):                                    # 3 RTO retransmissions
        t += 400
        k.seg(t, "s", 1 + 39 * 1000, 1, "PA", data=1000)
    a = l4(cap)
    assert a.metrics["retransmissions"] == 3
    assert a.metrics["retransmission_rate_pct"] == pytest.approx(300 / 43, abs=1e-3)
    assert a.metrics["grades"]["retransmissions"] == "poor"   # 6.98 % > l4.retrans_pct.fair
    assert a.quality == "poor"


def test_retransmission_grade_follows_thresholds():
    cap = Capture()
    k, t = bulk(cap)
    t += 400
    k.seg(t, "s", 1 + 39 * 1000, 1, "PA", data=1000)     # 1 of 41 data segments: 2.4 %
    a = l4(cap)
    assert a.metrics["retransmission_rate_pct"] == pytest.approx(100 / 41, abs=1e-3)
    assert a.metrics["grades"]["retransmissions"] == "fair"
    strict = Thresholds({"l4.retrans_pct.fair": 2.0})
    assert l4(cap, strict).metrics["grades"]["retransmissions"] == "poor"
    lax = Thresholds({"l4.retrans_pct.good": 3.0})
    assert l4(cap, lax).metrics["grades"]["retransmissions"] == "good"


def test_microsecond_zero_window_is_not_a_problem():
    cap = Capture()
    k, t = bulk(cap)
    k.seg(t + 1, "c", 1, 40_001, "A", win=0)
    k.seg(t + 1.0002, "c", 1, 40_001, "A", win=500)       # reopened 200 us later
    a = l4(cap)
    assert a.metrics["zero_windows"] == 1
    assert a.metrics["grades"]["zero_window"] == "excellent"
    assert a.quality == "excellent"


def test_long_zero_window_is_poor():
    cap = Capture()
    k, t = bulk(cap)
    k.seg(t + 1, "c", 1, 40_001, "A", win=0)
    k.seg(t + 2501, "c", 1, 40_001, "A", win=500)         # closed for 2.5 s
    a = l4(cap)
    assert a.metrics["zero_window_max_ms"] == pytest.approx(2500.0)
    assert a.metrics["grades"]["zero_window"] == "poor" and a.quality == "poor"


def test_handshake_failure():
    cap = Capture()
    bulk(cap)
    dead = cap.conn(client=("10.0.0.1", 40001))
    dead.seg(5000, "c", 0, None, "S")
    dead.seg(6000, "c", 0, None, "S")
    a = l4(cap)
    assert a.metrics["handshakes_attempted"] == 2 and a.metrics["handshakes_failed"] == 1
    assert a.metrics["syn_retries"] == 1
    assert a.metrics["grades"]["handshake"] == "poor"


def test_small_captures_do_not_grade_rates():
    cap = Capture()
    k, t = bulk(cap, segments=5)
    k.seg(t + 400, "s", 1 + 4 * 1000, 1, "PA", data=1000)
    a = l4(cap)
    assert a.metrics["retransmissions"] == 1
    assert a.metrics["grades"]["retransmissions"] == "unknown"
    assert a.metrics["notes"]


@pytest.mark.parametrize("name,quality", [("clean", "excellent"), ("path_loss", "fair"),
                                          ("tls_retrans", "poor")])
def test_lab_bundles(name, quality):
    path = LAB / name / "capture.pcap"
    require(path.exists(), f"{path} is not there")
    a = assess_l4(analyze_tcp(read_capture(path)))
    assert a.quality == quality, a.metrics["grades"]


@pytest.mark.parametrize("segments, graded", [(18, "unknown"), (19, "fair")])
def test_rates_are_graded_from_l4_min_data_segments(segments, graded):
    cap = Capture()
    k, t = bulk(cap, segments=segments)
    k.seg(t + 400, "s", 1 + (segments - 1) * 1000, 1, "PA", data=1000)   # one RTO
    a = l4(cap)
    assert a.metrics["data_segments"] == segments + 1
    # 1 in 20 is 5 %: fair at the limit (l4.retrans_pct.fair)
    assert a.metrics["grades"]["retransmissions"] == graded
    assert bool(a.metrics["notes"]) == (graded == "unknown")


@pytest.mark.parametrize("shut_ms, grade", [(1.0, "excellent"), (1.5, "good"),
                                            (100.0, "good"), (100.5, "fair"),
                                            (1000.0, "fair"), (1000.5, "poor")])
def test_zero_window_grade_edges(shut_ms, grade):
    cap = Capture()
    k, t = bulk(cap)
    k.seg(t + 1, "c", 1, 40_001, "A", win=0)
    k.seg(t + 1 + shut_ms, "c", 1, 40_001, "A", win=500)
    a = l4(cap)
    assert a.metrics["zero_window_max_ms"] == pytest.approx(shut_ms, abs=1e-3)
    assert a.metrics["grades"]["zero_window"] == grade


def every_event() -> Capture:
    """Five connections, each showing one kind of trouble:
    0: 20 data segments of 1000 bytes, each ACKed (clean);
    1: 4 client segments, 3 duplicate ACKs, a fast retransmission (upstream repair);
    2: a zero window of 250.5 ms;
    3: a hole filled 5 ms later (lost segment, then out of order; iRTT 30.1 ms), a reset;
    4: a SYN sent twice, never answered."""
    cap = Capture()
    bulk(cap, segments=20)
    k = cap.conn(client=("10.0.0.1", 40004))
    t = k.handshake(100.0)
    for i in range(4):
        k.seg(t + 1 + i * 0.1, "c", 1 + 100 * i, 1, "PA", data=100)
    k.seg(t + 21, "s", 1, 101, "A", win=500)
    for i in range(3):
        k.seg(t + 22 + i, "s", 1, 101, "A", win=500)
    k.seg(t + 26, "c", 101, 1, "PA", data=100)
    z = cap.conn(client=("10.0.0.1", 40001))
    t = z.handshake(500.0)
    z.seg(t + 1, "c", 1, 1, "PA", data=100)
    z.seg(t + 21, "s", 1, 101, "A", win=0)
    z.seg(t + 271.5, "s", 1, 101, "A", win=500)
    o = cap.conn(client=("10.0.0.1", 40002))
    t = o.handshake(1000.0, rtt_ms=30.0)
    o.seg(t + 1, "c", 101, 1, "PA", data=100)
    o.seg(t + 6, "c", 1, 1, "PA", data=100)
    o.seg(t + 40, "s", 1, 201, "RA")
    d = cap.conn(client=("10.0.0.1", 40003))
    d.seg(2000, "c", 0, None, "S")
    d.seg(3000, "c", 0, None, "S")
    return cap


# packets 43 + 12 + 6 + 6 + 2; data segments 20 + 5 + 1 + 2; bytes 20000 + 500 + 100 + 200
EVERY_EVENT = {
    "streams": 5, "packets": 69, "data_segments": 28, "bytes": 20800,
    "retransmissions": 2, "fast_retransmissions": 1, "spurious_retransmissions": 0,
    "data_retransmissions": 1, "retransmission_rate_pct": 3.571, "repaired_segments": 1,
    "spurious_copies": None, "late_arrivals": None, "stalls": 0, "stall_max_ms": 0.0,
    "dup_acks": 3, "dup_ack_rate_pct": 10.714, "out_of_order": 1,
    "out_of_order_rate_pct": 3.571, "lost_segments": 1, "acked_unseen": 0,
    "zero_windows": 1, "zero_window_max_ms": 250.5, "zero_window_total_ms": 250.5,
    "window_full": 0, "handshakes_attempted": 5, "handshakes_failed": 1,
    "handshake_failure_pct": 20.0, "syn_retries": 1, "irtt_median_ms": 20.1,
    "irtt_max_ms": 30.1, "resets": 1,
    "grades": {"retransmissions": "fair", "dup_acks": "fair", "out_of_order": "poor",
               "zero_window": "fair", "handshake": "poor", "stalls": "excellent",
               "syn_retries": "fair"},
    "notes": []}


def test_every_metric_of_a_capture_with_every_event():
    a = l4(every_event())
    assert a.metrics == EVERY_EVENT
    assert a.quality == "poor"


def test_with_the_repairs_classified_only_repairs_are_graded():
    from cnfpost.facts import build_facts

    table = decode_bytes(every_event().pcap_bytes(), "x.pcap")
    tcp = analyze_tcp(table)
    facts = build_facts(table, tcp, Thresholds(), {})
    a = assess_l4(tcp, None, facts)
    # both client segments sent out of order or again count as repairs (the capture is at
    # the sender): 2 of 28 wire segments
    assert a.metrics == {**EVERY_EVENT, "retransmission_rate_pct": 7.143,
                         "repaired_segments": 2, "spurious_copies": 0, "late_arrivals": 0,
                         "grades": {**EVERY_EVENT["grades"], "retransmissions": "poor"}}


@pytest.mark.parametrize("longest, grade", [(999.999, "fair"), (1000.0, "poor")])
def test_a_stall_is_fair_and_poor_from_find_stall_ms_critical(longest, grade):
    from cnfpost.facts import Facts
    from cnfpost.stalls import Stall

    cap = Capture()
    bulk(cap)
    stalls = (Stall(0, 0, 600_000_000, "retransmission", (1, 2)),
              Stall(0, 0, int(longest * 1e6), "retransmission", (3, 4)))
    a = assess_l4(analyze_tcp(decode_bytes(cap.pcap_bytes(), "x.pcap")), None,
                  Facts(stalls=stalls))
    assert a.metrics["stalls"] == 2 and a.metrics["stall_max_ms"] == longest
    assert a.metrics["grades"]["stalls"] == grade and a.quality == grade


def test_the_note_on_too_few_segments_names_the_limit():
    cap = Capture()
    bulk(cap, segments=5)
    a = l4(cap)
    assert a.metrics["notes"] == ["only 5 data segments: rates are not graded "
                                  "(l4.min_data_segments = 20)"]
    assert [a.metrics["grades"][g] for g in ("retransmissions", "dup_acks", "out_of_order")] \
        == ["unknown"] * 3
    assert a.metrics["retransmission_rate_pct"] == 0.0


def test_no_stream_says_why():
    from types import SimpleNamespace

    a = assess_l4(SimpleNamespace(n_streams=0))
    assert (a.quality, a.metrics) == ("unknown", {"reason": "no TCP stream in the capture",
                                                  "streams": 0})


def test_a_connection_caught_mid_stream_attempted_no_handshake():
    # no SYN, no data: no handshake attempted, no rate, no iRTT
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 1, 1, "A")
    k.seg(1, "s", 1, 1, "A")
    a = l4(cap)
    m = a.metrics
    assert (m["handshakes_attempted"], m["handshakes_failed"], m["handshake_failure_pct"]) \
        == (0, 0, None)
    assert (m["data_segments"], m["retransmission_rate_pct"], m["dup_ack_rate_pct"]) == \
        (0, None, None)
    assert (m["irtt_median_ms"], m["irtt_max_ms"]) == (None, None)
    assert m["grades"]["handshake"] == "unknown"


def test_a_refused_connection_is_a_failed_handshake():
    cap = Capture()
    bulk(cap)
    refused = cap.conn(client=("10.0.0.1", 40001))
    refused.seg(5000, "c", 0, None, "S")
    refused.seg(5001, "s", 0, 1, "RA")
    m = l4(cap).metrics
    assert (m["handshakes_attempted"], m["handshakes_failed"]) == (2, 1)
    assert m["resets"] == 1


def test_long_times_are_read_in_milliseconds():
    # a 2.5 s handshake and a 2.5 s zero window: exact, to the microsecond
    cap = Capture()
    k = cap.conn()
    t = k.handshake(0.0, rtt_ms=2499.9)
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(t + 21, "s", 1, 101, "A", win=0)
    k.seg(t + 2521, "s", 1, 101, "A", win=500)
    m = l4(cap).metrics
    assert (m["irtt_median_ms"], m["irtt_max_ms"]) == (2500.0, 2500.0)
    assert (m["zero_window_max_ms"], m["zero_window_total_ms"]) == (2500.0, 2500.0)


def test_a_one_byte_segment_sent_again_is_a_data_retransmission():
    cap = Capture()
    k, t = bulk(cap)
    k.seg(t + 1, "s", 40_001, 1, "PA", data=1)
    k.seg(t + 2, "s", 40_002, 1, "PA", data=1)
    k.seg(t + 401, "s", 40_001, 1, "PA", data=1)          # not acknowledged: sent again
    m = l4(cap).metrics
    assert (m["retransmissions"], m["data_retransmissions"]) == (1, 1)


def test_with_the_repairs_classified_rates_are_per_wire_segment():
    from cnfpost.facts import build_facts

    # a GRO super-frame of ten segments: 10 wire segments, one frame
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 20, "s", 1, 1, "A", data=10 * 1460)
    for i in range(20):
        k.seg(t + 21 + i, "s", 1 + 10 * 1460 + i * 1000, 1, "PA", data=1000)
    table = decode_bytes(cap.pcap_bytes(), "x.pcap")
    tcp = analyze_tcp(table)
    plain = assess_l4(tcp).metrics
    wire = assess_l4(tcp, None, build_facts(table, tcp, Thresholds(), {})).metrics
    assert (plain["data_segments"], wire["data_segments"]) == (21, 30)


def test_a_handshake_of_one_nanosecond_has_an_irtt():
    from tests.tcp_builders import tcp_options

    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S", opts=tcp_options(mss=1460))
    k.seg(0, "s", 0, 1, "SA", opts=tcp_options(mss=1460))
    k.seg(1e-6, "c", 1, 1, "A")
    m = l4(cap).metrics
    assert (m["irtt_median_ms"], m["irtt_max_ms"]) == (0.0, 0.0)
