"""The cause model's grade rule and ranking on built explanations (no capture needed)."""
from __future__ import annotations

import statistics

import pytest

from cnfpost.cause import Cause, Explanation, explain, loss_code, slow_start_rounds
from cnfpost.facts import Facts
from cnfpost.failures import Failure
from cnfpost.findings import CATALOGUE, Evidence, make_finding
from cnfpost.layers import L3Facts
from cnfpost.pipeline import agreeing_grades
from cnfpost.rules import Context
from cnfpost.thresholds import Thresholds
from tests.test_rules import sample

EXCELLENT = {"L3": "excellent", "L4": "excellent", "L7": "excellent"}


def cause(code: str, observed=None, expected=None, explained=0.0, failed=0) -> Cause:
    spec = CATALOGUE[code]
    return Cause(code, spec.mechanism, spec.cause_layer, ("tls",), (1,), observed, expected,
                 "high", (), explained, failed)


@pytest.mark.parametrize("code", [c for c, s in CATALOGUE.items() if s.role == "cause"])
def test_the_layer_a_cause_sits_in_is_never_excellent(code):
    grades, reasons = agreeing_grades(EXCELLENT, Explanation(cause(code), (), ()))
    layer = CATALOGUE[code].cause_layer
    assert grades[layer] == "good" and reasons[layer] == f"good: set by {code}"


@pytest.mark.parametrize("observed, expected, failed, grade", [
    (30.0, 20.0, 0, "good"),      # slower, not doubled
    (40.0, 20.0, 0, "fair"),      # doubled: at the edge
    (39.9, 20.0, 0, "good"),      # just below it
    (None, None, 2, "poor"),      # failed samples
])
def test_the_grade_follows_how_much_the_cause_cost(observed, expected, failed, grade):
    ex = Explanation(cause("l3.path_loss", observed, expected, 10.0, failed), (), ())
    grades, _ = agreeing_grades(EXCELLENT, ex)
    assert grades["L3"] == grade and grades["L7"] == grade


def test_a_worse_grade_is_kept_and_unknown_stays_unknown():
    ex = Explanation(cause("l4.stall", 50.0, 45.0, 5.0), (), ())
    grades, _ = agreeing_grades({"L3": "unknown", "L4": "poor", "L7": "excellent"}, ex)
    assert grades == {"L3": "unknown", "L4": "poor", "L7": "good"}


def test_no_cause_changes_no_grade():
    assert agreeing_grades(EXCELLENT, Explanation(None, (), ()))[0] == EXCELLENT


@pytest.mark.parametrize("size, rounds", [(0, 0), (14_600, 0), (14_601, 1), (43_800, 1),
                                          (43_801, 2), (100_000, 2)])
def test_slow_start_rounds_after_the_first_flight(size, rounds):
    assert slow_start_rounds(size, 1460) == rounds


# --- loss_code: the path, a direction, or the endpoints -------------------------------------

def loss_ctx(loss_pct=0.0, sent=0, down=(100, 2), up=(100, 0)):
    facts = Facts(data_segments={"down": down[0], "up": up[0]},
                  repair_segments={"down": down[1], "up": up[1]})
    return Context(th=Thresholds(), facts=facts,
                   l3=L3Facts(loss_pct=loss_pct, probes_sent=sent))


# 2 % of the downstream repaired: 3 / sent rules the path out below 1 %, over 300 probes
@pytest.mark.parametrize("loss_pct, sent, directions, code", [
    (0.5, 10_000, {"down"}, "l3.path_loss"),         # ICMP saw loss too
    (0.0, 0, {"down"}, "l3.downstream_loss"),        # no probes
    (0.0, 300, {"down"}, "l3.downstream_loss"),      # 1 % bound: not below half the rate
    (0.0, 301, {"down"}, "l3l4.endpoint_tcp"),       # just enough probes
    (0.0, 301, {"up"}, "l3.upstream_loss"),          # nothing repaired upstream: no rate
    (0.0, 0, {"up", "down"}, "l3.path_loss"),        # both ways, path not ruled out
])
def test_loss_code_follows_the_probes_rule_of_three_bound(loss_pct, sent, directions, code):
    assert loss_code(loss_ctx(loss_pct, sent), directions) == code


# --- ranking: failures first, then explained milliseconds; the fallbacks ------------------

def ranking_ctx(samples, failures=(), rtt=20.0):
    return Context(th=Thresholds(), samples=list(samples),
                   failures=list(failures) or [None] * len(samples),
                   facts=Facts(baseline_rtt_ms=rtt, baseline_source="mtr"))


def test_a_failed_sample_outranks_any_number_of_slow_milliseconds():
    slow = sample(1, tls=900.0)
    failed = sample(2, exitcode=6, errormsg="Could not resolve host", dns=None,
                          tcp=None, tls=None, request=None, server=None, download=None)
    why = Failure("dns", "dns_failure", None, (), None, "no answer")
    # a cell no mechanism explains counts when its L7 rule flagged it over its own limit
    flagged = [finding("l7.slow_tls", "warning", samples_over=[1])]
    ex = explain(ranking_ctx([slow, failed], [None, why]), flagged)
    assert (ex.cause.code, ex.cause.failed_samples, ex.cause.samples) == \
        ("l7.request_failed", 1, (2,))
    (second,) = ex.contributing
    assert (second.code, second.samples, second.confidence) == ("l7.slow_tls", (1,), "low")
    assert second.explained_ms == pytest.approx(900.0 - 20.0)
    assert (second.observed_ms, second.expected_ms) == (900.0, 20.0)


def test_causes_rank_by_the_milliseconds_they_explain():
    s = [sample(1, tcp=300.0), sample(2, tls=400.0), sample(3, tcp=150.0)]
    flagged = [finding("l7.slow_connect", "warning", samples_over=[1, 3]),
               finding("l7.slow_tls", "warning", samples_over=[2])]
    ex = explain(ranking_ctx(s), flagged)
    # connect: 280 + 130 = 410 ms over 1 RTT of 20 ms; TLS: 380 ms
    assert ex.cause.code == "l7.slow_connect"
    assert ex.cause.explained_ms == pytest.approx(410.0)
    assert ex.cause.samples == (1, 3) and ex.cause.phases == ("tcp",)
    assert [c.code for c in ex.contributing] == ["l7.slow_tls"]
    # the rules raised both: the model adds no second finding for either
    assert ex.findings == ()


def test_a_slow_cell_its_rule_did_not_flag_is_no_cause():
    """A first TLS handshake 50 ms slow in the probe's own library is no network fault."""
    ex = explain(ranking_ctx([sample(1, tls=70.0)]), [])
    assert ex.cause is None and ex.cells == ()


@pytest.mark.parametrize("took, slow", [(39.9, False), (40.0, True)])
def test_a_cell_is_slow_at_the_inflation_limits(took, slow):
    # expected 20 ms: slow when 20 ms more (find.phase_inflation_ms) and 50 % more
    flagged = [finding("l7.slow_connect", "warning", samples_over=[1])]
    ex = explain(ranking_ctx([sample(1, tcp=took)], rtt=20.0), flagged)
    assert [c.code for c in ex.cells] == (["l7.slow_connect"] if slow else [])


def finding(code, severity, **numbers):
    return make_finding(code, severity, "built", numbers, Evidence("ping"))


def test_without_a_slow_cell_a_warning_cause_finding_is_the_cause():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    found = [finding("l3.high_jitter", "info", jitter_ms=5.0),
             finding("l3.path_loss", "warning", loss_pct=2.0)]
    ex = explain(ranking_ctx([quick], rtt=20.0), found)
    assert ex.cells == ()
    assert (ex.cause.code, ex.cause.confidence) == ("l3.path_loss", "low")
    assert ex.contributing == ()


@pytest.mark.parametrize("rtt, bound", [(29.9, False), (30.0, True)])
def test_a_far_server_is_rtt_bound_from_find_rtt_bound_ms(rtt, bound):
    quick = sample(1, tcp=rtt, tls=rtt, server=2 * rtt, download=rtt)
    ex = explain(ranking_ctx([quick], rtt=rtt), [])
    if not bound:
        assert ex.cause is None and ex.findings == ()
        return
    assert (ex.cause.code, ex.cause.confidence, ex.cause.samples) == \
        ("l3l7.rtt_bound", "medium", (1,))
    (f,) = ex.findings
    total = 1.0 + 5 * rtt + 0.5
    assert f.code == "l3l7.rtt_bound" and f.severity == "info"
    assert f.numbers == {"rtt_ms": rtt, "round_trips": round(total / rtt, 2),
                         "total_median_ms": round(total, 3), "rtt_source": "mtr"}


def test_an_info_finding_is_no_cause():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    ex = explain(ranking_ctx([quick], rtt=20.0),
                 [finding("l3.path_loss", "info", loss_pct=0.5)])
    assert ex.cause is None


# --- the L3 -> L4 verdict read from the grades when no cause claims the path --------------

@pytest.mark.parametrize("l4, verdict", [("excellent", "tcp_healthy"), ("good", "tcp_healthy"),
                                         ("fair", "tcp_degraded"), ("poor", "tcp_degraded"),
                                         ("unknown", "unknown")])
def test_tcp_is_healthy_when_l4_is_excellent_or_good(l4, verdict):
    from cnfpost.pipeline import _correlations

    ctx = Context(th=Thresholds(), grades={"L3": "excellent", "L4": l4, "L7": "excellent"})
    got = _correlations(ctx, [], Explanation(None, (), ()), ctx.grades)["l3_l4"]
    assert got == {"verdict": verdict, "l3": "excellent", "l4": l4}


def test_a_cause_as_json_rounds_to_the_microsecond_and_keeps_every_key():
    c = Cause("l3.path_loss", "path_loss", "L3", ("tls", "download"), (1, 3), 57.18649,
              20.34012, "high", ("l4.retransmissions",), 110.0004, 2)
    assert c.to_dict() == {
        "code": "l3.path_loss", "mechanism": "path_loss", "layer": "L3",
        "phases": ["tls", "download"], "samples": [1, 3], "observed_ms": 57.186,
        "expected_ms": 20.34, "confidence": "high", "because": ["l4.retransmissions"],
        "explained_ms": 110.0, "failed_samples": 2}
    assert Cause("l4.stall", "stall", "L4", (), (), None, None, "low", ()).to_dict()[
        "observed_ms"] is None


def test_a_cause_from_a_finding_alone_takes_its_numbers_and_phase():
    f = finding("l3l7.bufferbloat", "critical", loaded_ms=357.0, idle_ms=43.0,
                samples=[2, 3], phase="server")
    ex = explain(ranking_ctx([sample(1)]), [f])
    c = ex.cause
    assert (c.code, c.mechanism, c.layer) == ("l3l7.bufferbloat", "queueing", "L3")
    assert (c.observed_ms, c.expected_ms, c.samples, c.phases) == (357.0, 43.0, (2, 3),
                                                                    ("server",))
    assert c.confidence == "low"               # its evidence is ping, not the capture
    assert (c.explained_ms, c.failed_samples) == (0.0, 0)


def test_a_cause_no_rule_raised_gets_its_own_finding_with_the_cells_numbers():
    ex = explain(ranking_ctx([sample(1, tls=900.0)]),
                 [finding("l7.slow_tls", "warning", samples_over=[1])])
    assert ex.findings == ()                   # the rule's finding is the cause's
    s = sample(1, dns=400.0)
    ex = explain(ranking_ctx([s]), [])
    (made,) = ex.findings
    assert (made.code, made.severity) == ("l7.slow_dns", "warning")
    assert made.numbers == {"phase": "dns", "samples": [1], "median_ms": 400.0,
                            "expected_ms": 0.0}
    assert made.evidence.source == "timings" and made.evidence.detail == "samples 1"


# --- each slow cell claimed by the most specific mechanism its packets show ----------------

import numpy as np                                          # noqa: E402
from types import SimpleNamespace                           # noqa: E402

from cnfpost.correlate import Placement                     # noqa: E402
from cnfpost.repairs import KINDS, Repairs                  # noqa: E402
from cnfpost.stalls import Blackhole, Stall                 # noqa: E402
from tests.test_rules import buckets                        # noqa: E402

SYN, SYNACK, ACK = 0x02, 0x12, 0x10
MS = 1_000_000
# the sample's phases on the capture clock (ns): dns 0-1, tcp 1-101, tls 101-201,
# request 201-202, server 202-402, download 402-602 ms
EDGES = tuple(ms * MS for ms in (0, 1, 101, 201, 202, 402, 602))


def two_streams(**flows):
    """A TCP analysis as the cause model reads it: stream 0 the sample's connection (frames
    1-3: SYN, SYN/ACK, ACK at 1, 21, 21.1 ms), stream 1 another (frames 4-6, at 300 ms);
    per-stream flow columns default to a clean 20 ms connection moving nothing."""
    base = {"syn_retries": [0, 0], "zero_window_ns": [0, 0], "irtt_ns": [20 * MS, 20 * MS],
            "ack_rtt_server_median_ns": [0, 0], "window_full": [0, 0],
            "mss_server": [1460, 1460], "unique_bytes_s2c": [0, 0], "bytes_s2c": [0, 0],
            "bytes_c2s": [0, 0], "start_ns": [1 * MS, 300 * MS], "end_ns": [600 * MS, 700 * MS]}
    base.update(flows)
    rows = {0: np.array([0, 1, 2]), 1: np.array([3, 4, 5])}
    return SimpleNamespace(flows={k: np.asarray(v) for k, v in base.items()}, n_streams=2,
                           stream_rows=rows.__getitem__,
                           tcp_flags=np.array([SYN, SYNACK, ACK] * 2),
                           ts_ns=np.array([1 * MS, 21 * MS, 21 * MS + MS // 10,
                                           300 * MS, 320 * MS, 320 * MS + MS // 10]))


def cell_ctx(s, tcp=None, facts=None, bucket=None, **kw):
    """One sample on stream 0 of `tcp`, its phases on EDGES, baseline RTT 20 ms."""
    tcp = tcp if tcp is not None else two_streams()
    facts = replace(facts or Facts(), baseline_rtt_ms=20.0, baseline_source="mtr", tcp=tcp)
    return Context(th=Thresholds(), samples=[s], tcp=tcp, facts=facts,
                   placements=[Placement(1, 0, "local_port", 0, "syn", EDGES)],
                   buckets=[bucket if bucket is not None else buckets((7, 9))], **kw)


def cell(ctx, findings=()):
    """The one claim of the run's slow cells (None: no cell claimed)."""
    cells = explain(ctx, list(findings)).cells
    assert len(cells) <= 1
    return cells[0] if cells else None


from dataclasses import replace                            # noqa: E402

LOSSY = Facts(data_segments={"down": 100, "up": 10}, repair_segments={"down": 2, "up": 0})


def test_a_slow_connect_with_a_syn_retry_is_the_syn_retry():
    c = cell(cell_ctx(sample(1, tcp=1020.0), two_streams(syn_retries=[1, 0])))
    assert (c.code, c.phase, c.confidence, c.frames) == ("l4.syn_retry", "tcp", "high", (1, 2))
    assert (c.observed_ms, c.expected_ms) == (1020.0, 20.0)


def test_a_syn_lost_on_a_path_that_loses_data_is_that_loss():
    c = cell(cell_ctx(sample(1, tcp=1020.0), two_streams(syn_retries=[1, 0]), LOSSY))
    assert (c.code, c.confidence, c.frames) == ("l3.downstream_loss", "high", (1, 2))


def test_a_black_hole_claims_the_cell_before_anything_else():
    hole = Blackhole(0, "down", 600, 1460, (30, 31))
    ctx = cell_ctx(sample(1, server=400.0), facts=Facts(blackholes=(hole,)),
                   bucket=buckets(server={"retransmissions": 1}))
    c = cell(ctx)
    assert (c.code, c.confidence, c.frames) == ("l3.pmtud_blackhole", "high", (30, 31))
    other = Blackhole(1, "down", 600, 1460, (30, 31))       # another connection's
    c = cell(cell_ctx(sample(1, server=400.0), facts=Facts(blackholes=(other,))))
    assert c.code == "l7.slow_server"                        # clean packets: the server


# server wait 140 ms against 2 round trips (40 ms): 100 ms extra; a window shut for half of
# it (50 ms) explains it; less leaves the server its wait
@pytest.mark.parametrize("shut_ms, code", [(50.0, "l4.zero_window"),
                                           (49.9, "l7.slow_server")])
def test_a_zero_window_claims_the_cell_when_shut_half_the_extra_time(shut_ms, code):
    ctx = cell_ctx(sample(1, server=140.0), two_streams(zero_window_ns=[int(shut_ms * MS), 0]),
                   bucket=buckets(server={"zero_windows": 1}))
    c = cell(ctx)
    assert c.code == code and c.confidence == "high"
    assert c.frames == ((104,) if code == "l4.zero_window" else (1, 2))   # the phase's


def test_a_zero_window_not_seen_in_the_cell_claims_nothing():
    ctx = cell_ctx(sample(1, server=140.0), two_streams(zero_window_ns=[90 * MS, 0]))
    assert cell(ctx).code == "l7.slow_server"


def test_a_stall_inside_the_cell_claims_it():
    inside = Stall(0, 250 * MS, 380 * MS, "retransmission", (12, 13))
    c = cell(cell_ctx(sample(1, server=200.0), facts=Facts(stalls=(inside,))))
    assert (c.code, c.confidence, c.frames) == ("l4.stall", "high", (12, 13))
    for other in (Stall(0, 402 * MS, 500 * MS, "retransmission", (12, 13)),   # after the cell
                  Stall(1, 250 * MS, 380 * MS, "retransmission", (12, 13))):  # elsewhere
        c = cell(cell_ctx(sample(1, server=200.0), facts=Facts(stalls=(other,))))
        assert c.code == "l7.slow_server"


@pytest.mark.parametrize("way, code", [("down", "l3.downstream_loss"),
                                       ("up", "l3.upstream_loss")])
def test_retransmissions_that_repaired_loss_in_the_cell_are_that_loss(way, code):
    facts = Facts(repair_frames={104: way}, data_segments={"down": 100, "up": 100},
                  repair_segments={way: 1})
    ctx = cell_ctx(sample(1, server=200.0), facts=facts,
                   bucket=buckets(server={"retransmissions": 1}))
    c = cell(ctx)
    assert (c.code, c.confidence, c.frames) == (code, "high", (104,))


def test_server_packets_unseen_before_a_frame_of_the_cell_are_downstream_loss():
    # frame 6 is stream 1's; stream 0's frames in the TLS cell: none; in the TCP cell: 2, 3
    facts = Facts(unseen={3: 2, 6: 1}, data_segments={"down": 10}, repair_segments={})
    c = cell(cell_ctx(sample(1, tcp=100.0), facts=facts))
    assert (c.code, c.phase, c.frames) == ("l3.downstream_loss", "tcp", (3,))


@pytest.mark.parametrize("reordered, code", [(True, "l4.reordering"),
                                             (False, "l4.spurious_retransmissions")])
def test_late_or_needless_segments_are_reordering_or_spurious(reordered, code):
    facts = Facts(copy_frames=frozenset({104}),
                  reorder_frames=frozenset({105} if reordered else ()))
    ctx = cell_ctx(sample(1, server=200.0), facts=facts,
                   bucket=buckets(server={"out_of_order": 1}))
    c = cell(ctx)
    assert (c.code, c.confidence, c.frames) == (code, "high", (104,))


# the connect took 100 ms against 20: the handshake's own RTT 60 ms above the baseline,
# while another connection moved 100 000 bytes, is the queue
@pytest.mark.parametrize("irtt_ms, loaded_bytes, code", [
    (80.0, 100_000, "l3l7.bufferbloat"), (79.9, 100_000, None), (80.0, 99_999, None)])
def test_a_handshake_inflated_under_load_is_bufferbloat(irtt_ms, loaded_bytes, code):
    tcp = two_streams(irtt_ns=[int(irtt_ms * MS), 20 * MS], bytes_s2c=[0, loaded_bytes],
                      start_ns=[1 * MS, 50 * MS])
    c = cell(cell_ctx(sample(1, tcp=100.0), tcp))
    assert (c and c.code) == code
    if c:
        assert (c.confidence, c.frames) == ("medium", (1, 2))


def test_a_slow_server_wait_with_clean_packets_is_the_slow_server():
    c = cell(cell_ctx(sample(1, server=200.0)))
    assert (c.code, c.confidence, c.frames) == ("l7.slow_server", "high", (7, 9))
    assert (c.observed_ms, c.expected_ms) == (200.0, 40.0)


@pytest.mark.parametrize("limited_by, code", [("receiver", "l4.window_limited"),
                                              ("sender", "l7.slow_server"), ("rtt", None)])
def test_a_slow_download_is_claimed_by_what_limited_it(limited_by, code):
    ctx = cell_ctx(sample(1, download=200.0), limits=[SimpleNamespace(limited_by=limited_by)])
    c = cell(ctx)
    assert (c and c.code) == code
    if c:
        assert (c.phase, c.confidence, c.frames) == ("download", "high", (7, 9))


@pytest.mark.parametrize("fills, code", [(3, "l4.window_limited"), (2, None)])
def test_a_full_window_in_the_cell_from_find_window_full_warning(fills, code):
    ctx = cell_ctx(sample(1, tls=200.0), two_streams(window_full=[fills, 0]),
                   bucket=buckets(tls={"window_full": 1}))
    c = cell(ctx)
    assert (c and c.code) == code
    if c:
        assert c.frames == (102,)


@pytest.mark.parametrize("pid", ["tls", "download"])
def test_a_slow_phase_on_a_connection_that_lost_other_segments_is_that_loss(pid):
    c = cell(cell_ctx(sample(1, **{pid: 200.0}), facts=LOSSY))
    assert (c.code, c.phase, c.confidence, c.frames) == ("l3.downstream_loss", pid,
                                                         "medium", ())


def test_a_slow_request_upload_with_clean_tcp_is_no_cause():
    assert cell(cell_ctx(sample(1, request=200.0))) is None
    assert cell(cell_ctx(sample(1, request=200.0), facts=LOSSY)).code == "l3.downstream_loss"
    # not placed: nothing to say about sending the request
    ctx = cell_ctx(sample(1, request=200.0), facts=LOSSY)
    ctx.placements = [Placement(1, None, "none", None, "none")]
    assert cell(ctx) is None


def test_an_unexplained_cell_counts_only_when_its_rule_flagged_it():
    flagged = [finding("l7.slow_tls", "warning", samples_over=[1])]
    assert cell(cell_ctx(sample(1, tls=200.0))) is None
    c = cell(cell_ctx(sample(1, tls=200.0)), flagged)
    assert (c.code, c.confidence, c.frames) == ("l7.slow_tls", "low", (7, 9))
    # without its packets: low confidence and no frames
    ctx = cell_ctx(sample(1, tls=200.0))
    ctx.buckets = [None]
    c = cell(ctx, flagged)
    assert (c.code, c.confidence, c.frames) == ("l7.slow_tls", "low", ())


def test_a_slow_lookup_by_what_the_dns_packets_show():
    s = sample(1, dns=150.0)
    lost = [{"frames": (3, 1), "resends": 1, "answered": True}]
    slow = [{"frames": (1, 2), "resends": 0, "answered": True}]
    c = cell(cell_ctx(s, dns=[lost], facts=LOSSY))
    assert (c.code, c.confidence, c.frames) == ("l3.downstream_loss", "medium", (1, 3))
    c = cell(cell_ctx(s, dns=[[{"frames": (4,), "resends": 0, "answered": False}]],
                      facts=LOSSY))
    assert c.code == "l3.downstream_loss"
    c = cell(cell_ctx(s, dns=[lost]))
    assert (c.code, c.confidence, c.frames) == ("l7.slow_dns", "high", (1, 3))
    c = cell(cell_ctx(s, dns=[slow], facts=LOSSY))
    assert (c.code, c.confidence) == ("l7.slow_dns", "high")
    c = cell(cell_ctx(s, facts=Facts(dns_seen=True)))
    assert (c.code, c.confidence, c.frames) == ("l7.slow_dns", "medium", ())
    assert cell(cell_ctx(s)).confidence == "low"


@pytest.mark.parametrize("took, slow", [(99.9, False), (100.0, True)])
def test_a_lookup_is_slow_from_find_dns_ms_warning(took, slow):
    assert (cell(cell_ctx(sample(1, dns=took))) is not None) == slow


def test_icmp_loss_makes_a_retried_lookup_the_paths_loss():
    ctx = cell_ctx(sample(1, dns=150.0), dns=[[{"frames": (1,), "resends": 2,
                                                "answered": True}]],
                   l3=L3Facts(loss_pct=1.0, probes_sent=100))
    assert cell(ctx).code == "l3.path_loss"


# --- a failed sample is claimed by the reason its failure record gives --------------------

FAILED = dict(exitcode=28, errormsg="timed out", tcp=None, tls=None, request=None, server=None,
              download=None)


def failure_cause(failure: Failure, facts=None, tcp=None, **kw) -> Claim:
    ctx = cell_ctx(sample(1, **FAILED), tcp, facts, failures=[failure], **kw)
    (c,) = [c for c in explain(ctx, []).cells if c.failed]
    return c


def fail(phase, reason, by=None, stream=0, frames=(5,)):
    return Failure(phase, reason, by, frames, stream, "built")


from cnfpost.cause import Claim                          # noqa: E402

REPAIRED_DOWN = Repairs(rows=np.array([10]), stream=np.array([0]), up=np.array([False]),
                        kind=np.array([KINDS.index("repair")]), delay_ns=np.array([-1]))


@pytest.mark.parametrize("failure, facts, code", [
    (fail("tcp", "refused", "server"), None, "l4.reset"),
    (fail("server", "reset", "server"), None, "l4.reset"),
    (fail("dns", "dns_failure"), None, "l7.request_failed"),
    (fail("dns", "timeout", stream=None), None, "l7.slow_dns"),
    (fail("tls", "certificate"), None, "l7.request_failed"),
    (fail("tls", "tls_alert", "server"), None, "l7.request_failed"),
    (fail("server", "timeout"), Facts(blackholes=(Blackhole(0, "down", 600, 1460, (8,)),)),
     "l3.pmtud_blackhole"),
    (fail("tcp", "timeout"), None, "l4.syn_retry"),
    (fail("tcp", "refused", "network"), LOSSY, "l3.downstream_loss"),
    (fail("server", "timeout"), Facts(stalls=(Stall(0, 10, 20, "client_gave_up", (9,)),)),
     "l4.stall"),
    (fail("download", "timeout"), Facts(repairs=REPAIRED_DOWN,
                                        data_segments={"down": 10, "up": 1},
                                        repair_segments={"down": 1}), "l3.downstream_loss"),
    (fail("server", "timeout"), None, "l7.slow_server"),
    (fail("download", "timeout"), None, "l7.request_failed"),
    (fail("server", "timeout", stream=None), Facts(stalls=(Stall(0, 10, 20, "x", (9,)),)),
     "l7.slow_server"),
    (fail("download", "reset", "client"), None, "l7.request_failed"),
])
def test_a_failed_sample_is_claimed_by_its_failure_record(failure, facts, code):
    c = failure_cause(failure, facts)
    assert (c.code, c.phase, c.failed) == (code, failure.phase, True)
    assert (c.observed_ms, c.expected_ms, c.frames, c.confidence) == (None, None, (5,), "high")


def test_a_failure_without_frames_is_claimed_with_low_confidence():
    c = failure_cause(fail("server", "timeout", frames=()))
    assert (c.code, c.confidence, c.frames) == ("l7.slow_server", "low", ())


def test_failed_samples_rank_first_and_count():
    ctx = cell_ctx(sample(1, **FAILED), failures=[fail("tcp", "refused", "server")])
    ctx.samples.append(sample(2, server=900.0))
    ctx.placements.append(Placement(2, None, "none", None, "none"))
    ctx.failures.append(None)
    ctx.buckets.append(None)
    ex = explain(ctx, [])
    assert (ex.cause.code, ex.cause.failed_samples, ex.cause.samples) == ("l4.reset", 1, (1,))
    assert (ex.cause.observed_ms, ex.cause.expected_ms, ex.cause.explained_ms) == \
        (None, None, 0.0)
    assert [(c.code, c.failed_samples, c.samples) for c in ex.contributing] == [
        ("l7.slow_server", 0, (2,))]


# --- what a cause says: its effects (because), its own finding, the fallbacks ------------

def capture_finding(code, severity, frames, **numbers):
    return make_finding(code, severity, "built", numbers, Evidence("capture", tuple(frames)))


def test_because_names_the_effects_in_the_causes_phases_and_the_findings_on_its_frames():
    facts = Facts(repair_frames={104: "down"}, data_segments={"down": 100},
                  repair_segments={"down": 1})
    ctx = cell_ctx(sample(1, server=200.0), facts=facts,
                   bucket=buckets(server={"retransmissions": 1}))
    found = [capture_finding("l4l7.events_in_phase", "warning", (), phase="server"),
             capture_finding("l4l7.events_in_phase", "warning", (), phase="server"),  # once
             capture_finding("l4l7.application", "warning", (), phase="download"),  # not its
             capture_finding("l4.retransmissions", "warning", (104,)),     # no phase: effect
             capture_finding("l3l4.path_causes_tcp", "warning", (104, 200)),  # shares 104
             capture_finding("l3l4.handshake_vs_path", "warning", (1, 2)),  # other frames
             capture_finding("l4.zero_window", "info", (104,)),             # info: never
             capture_finding("l3.downstream_loss", "warning", (104,))]      # itself: never
    ex = explain(ctx, found)
    assert ex.cause.code == "l3.downstream_loss"
    assert ex.cause.because == ("l4l7.events_in_phase", "l4.retransmissions",
                                "l3l4.path_causes_tcp")
    assert ex.findings == ()                # the rules raised it already


def test_a_cause_the_rules_did_not_raise_gets_a_finding_with_its_frames():
    facts = Facts(repair_frames={104: "down"}, data_segments={"down": 100},
                  repair_segments={"down": 1})
    ctx = cell_ctx(sample(1, server=200.0), facts=facts,
                   bucket=buckets(server={"retransmissions": 1}))
    (f,) = explain(ctx, []).findings
    assert (f.code, f.severity) == ("l3.downstream_loss", "warning")
    assert f.message == ("Packet loss from the server to the probe in server wait of sample(s) "
                         "1: 200.0 ms instead of about 40.0 ms")
    assert f.numbers == {"phase": "server", "samples": [1], "median_ms": 200.0,
                         "expected_ms": 40.0}
    assert f.evidence.frames == (104,)
    assert f.evidence.detail == "l3.downstream_loss in the affected phases"


def test_a_failure_cause_the_rules_did_not_raise_has_no_times_and_names_the_requests():
    ex = explain(cell_ctx(sample(1, **FAILED), failures=[fail("tcp", "refused", "server",
                                                                frames=())]), [])
    (f,) = ex.findings
    assert f.message == "A connection was reset in TCP connect of sample(s) 1"
    assert f.numbers == {"phase": "tcp", "samples": [1], "median_ms": None,
                         "expected_ms": None}
    assert (f.evidence.source, f.evidence.detail) == ("timings", "samples 1")


def test_the_cause_of_several_cells_is_their_median_and_their_sum():
    facts = Facts(repair_frames={104: "down"}, data_segments={"down": 100},
                  repair_segments={"down": 2})
    s = [sample(1, server=200.0), sample(2, server=100.0, download=300.0),
         sample(3, server=500.0)]
    ctx = Context(th=Thresholds(), samples=s, tcp=two_streams(),
                  facts=replace(facts, baseline_rtt_ms=20.0, baseline_source="mtr",
                                tcp=two_streams()),
                  placements=[Placement(i + 1, 0, "local_port", 0, "syn", EDGES)
                              for i in range(3)],
                  buckets=[buckets(server={"retransmissions": 1}),
                           buckets(server={"retransmissions": 1},
                                   download={"retransmissions": 1}),
                           buckets(server={"dup_acks": 1})])
    ex = explain(ctx, [])
    c = ex.cause
    assert c.code == "l3.downstream_loss"
    assert c.phases == ("server", "download") and c.samples == (1, 2)
    # server 200 and 100 against 40 ms (their repairs show), download 300 against one
    # round of 20 ms (no repair of its own: the loss elsewhere, medium)
    assert (c.observed_ms, c.expected_ms) == (200.0, 40.0)     # medians
    assert c.explained_ms == pytest.approx(160.0 + 60.0 + 280.0)
    # high: some affected samples' own packets show it (docs/correlation.md), though the
    # download cell only leans on loss seen elsewhere
    assert c.confidence == "high"
    assert sorted(k.confidence for k in ex.cells if k.code == c.code) == ["high", "high",
                                                                          "medium"]
    assert [k.code for k in ex.contributing] == ["l7.slow_server"]   # sample 3: clean


def test_without_a_baseline_each_phase_is_judged_against_its_quickest_sample():
    s = [sample(1, tls=30.0), sample(2, tls=100.0), sample(3, tls=44.9)]
    ctx = ranking_ctx(s, rtt=None)
    ex = explain(ctx, [finding("l7.slow_tls", "warning", samples_over=[1, 2, 3])])
    assert [(c.sample, c.expected_ms) for c in ex.cells] == [(2, 30.0)]


def test_a_warning_about_other_connections_ranks_after_one_about_the_samples():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    ctx = ranking_ctx([quick])
    ctx.placements = [Placement(1, 0, "local_port", 0, "syn")]
    found = [capture_finding("l3.upstream_loss", "critical", (5,), streams=[3]),
             capture_finding("l4.zero_window", "warning", (7,), streams=[0, 3]),
             capture_finding("l3.downstream_loss", "warning", (6,), streams=[3])]
    ex = explain(ctx, found)
    assert [ex.cause.code] + [c.code for c in ex.contributing] == \
        ["l4.zero_window", "l3.upstream_loss", "l3.downstream_loss"]
    assert ex.cause.confidence == "medium"                 # the capture shows it
    # no placed sample: nothing is elsewhere, the most severe first
    ctx.placements = []
    ex = explain(ctx, found)
    assert [ex.cause.code] + [c.code for c in ex.contributing] == \
        ["l3.upstream_loss", "l4.zero_window", "l3.downstream_loss"]


def test_a_cause_finding_repeated_is_one_cause_and_effects_are_none():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    found = [finding("l3.path_loss", "warning", loss_pct=2.0),
             finding("l3.path_loss", "critical", loss_pct=2.0),
             finding("l4.retransmissions", "critical"),
             finding("l3.hop_icmp_ratelimit", "warning")]
    ex = explain(ranking_ctx([quick]), found)
    assert ex.cause.code == "l3.path_loss" and ex.contributing == ()


# --- edges the mutation run found untested -------------------------------------------------

def test_a_far_server_finding_and_cause_whole():
    rtt = 40.12345
    s = [sample(1, tcp=rtt, tls=rtt, server=2 * rtt, download=rtt),
         sample(2, tcp=rtt, tls=rtt, server=2 * rtt, download=rtt),
         sample(3, **FAILED)]
    ctx = ranking_ctx(s, rtt=rtt)
    ex = explain(ctx, [])
    (f,) = ex.findings
    total = statistics.median(x.total_ms for x in s[:2])
    trips = total / rtt
    assert f.message == (f"each request costs about {trips:.1f} round trips of 40.1 ms "
                         f"({total:.1f} ms median): the distance to the server, not loss or "
                         "the server, sets the time")
    assert f.numbers == {"rtt_ms": 40.123, "round_trips": round(trips, 2),
                         "total_median_ms": round(total, 3), "rtt_source": "mtr"}
    assert round(trips, 2) != round(trips, 3)
    assert (f.evidence.source, f.evidence.detail) == ("timings", "samples 1, 2, 3")
    c = ex.cause
    assert c == Cause("l3l7.rtt_bound", "distance", "L3",
                      ("tcp", "tls", "request", "server", "download"), (1, 2), total, None,
                      "medium", (), 0.0, 0)


def test_a_cause_from_a_timing_finding_reads_its_median_limit_and_samples_over():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    found = [capture_finding("l7.slow_dns", "warning", (3,), median_ms=150.0, limit_ms=100.0,
                             samples_over=[1], samples=[7]),
             capture_finding("l4l7.events_in_phase", "warning", (3,))]
    ex = explain(ranking_ctx([quick]), found)
    c = ex.cause
    assert (c.code, c.observed_ms, c.expected_ms, c.samples, c.phases) == \
        ("l7.slow_dns", 150.0, 100.0, (1,), ())
    assert c.confidence == "medium"                      # the capture shows it
    assert c.because == ("l4l7.events_in_phase",)        # shares frame 3


def test_a_cause_from_a_finding_without_a_phase_names_effects_on_its_frames_only():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    found = [capture_finding("l3.path_loss", "warning", (3, 4)),
             capture_finding("l4l7.events_in_phase", "warning", (9,), phase="server"),
             capture_finding("l4.retransmissions", "warning", (4,))]
    c = explain(ranking_ctx([quick]), found).cause
    assert (c.code, c.phases, c.because) == ("l3.path_loss", (), ("l4.retransmissions",))


def test_a_cause_of_medium_and_low_claims_is_medium():
    # sample 1 failed with a repair on its connection (no frames: low); sample 2's TLS is
    # slow on a connection that lost other segments (medium)
    facts = Facts(repairs=REPAIRED_DOWN, data_segments={"down": 10, "up": 1},
                  repair_segments={"down": 1})
    ctx = cell_ctx(sample(1, **FAILED), facts=facts,
                   failures=[fail("download", "timeout", frames=())])
    ctx.samples.append(sample(2, tls=200.0))
    ctx.placements.append(Placement(2, 0, "local_port", 0, "syn", EDGES))
    ctx.buckets.append(buckets())
    ctx.failures.append(None)
    c = explain(ctx, []).cause
    assert (c.code, c.mechanism, c.layer) == ("l3.downstream_loss", "downstream_loss", "L3")
    assert sorted(k.confidence for k in explain(ctx, []).cells) == ["low", "medium"]
    assert c.confidence == "medium"


def test_a_cause_as_json_rounds_its_explained_milliseconds():
    c = Cause("l4.stall", "stall", "L4", (), (), None, None, "low", (), 110.5004)
    assert c.to_dict()["explained_ms"] == 110.5


def test_later_phases_are_measured_in_the_connections_own_round_trip():
    # its handshake took 2000 ms on a 20 ms path: the server wait may take 2 of those, and
    # is slow from half again (6000 ms)
    ctx = cell_ctx(sample(1, server=6000.0), two_streams(irtt_ns=[2000 * MS, 20 * MS]))
    c = cell(ctx)
    assert (c.code, c.expected_ms) == ("l7.slow_server", 4000.0)
    assert cell(cell_ctx(sample(1, server=5999.9),
                         two_streams(irtt_ns=[2000 * MS, 20 * MS]))) is None


@pytest.mark.parametrize("version, expected", [(0x0303, 40.0), (0x0304, 20.0), (None, 20.0)])
def test_tls_is_one_round_trip_from_tls_1_3_and_two_before(version, expected):
    flagged = [finding("l7.slow_tls", "warning", samples_over=[1])]
    ctx = cell_ctx(sample(1, tls=200.0), tls_versions={0: version})
    assert cell(ctx, flagged).expected_ms == expected
    # not placed: no version to go by
    ctx.placements = [Placement(1, None, "none", None, "none")]
    ctx.tls_versions = {None: 0x0303}
    assert cell(ctx, flagged).expected_ms == 20.0


@pytest.mark.parametrize("size, mss, rounds", [(1000, 0, 0), (100, 1, 3), (14_600, 1460, 0)])
def test_slow_start_rounds_edges_of_the_segment_size(size, mss, rounds):
    # 100 bytes in 1-byte segments: 10 flights of the initial window, 3 more rounds
    assert slow_start_rounds(size, mss) == rounds


# the server wait is 2 round trips (100 ms at 50 ms): slow from +50 % (150 ms) when that is
# also 20 ms more
@pytest.mark.parametrize("took, slow", [(149.6, False), (150.0, True)])
def test_a_cell_is_slow_from_exactly_half_again_its_expected_time(took, slow):
    ctx = ranking_ctx([sample(1, server=took)], rtt=50.0)
    assert [c.code for c in explain(ctx, []).cells] == (["l7.slow_server"] if slow else [])


def test_a_cell_exactly_at_both_limits_is_slow():
    # 2 round trips of 20 ms: 60 ms is +20 ms and +50 % at once
    ctx = ranking_ctx([sample(1, server=60.0)], rtt=20.0)
    assert [c.code for c in explain(ctx, []).cells] == ["l7.slow_server"]


def test_without_a_baseline_a_phase_of_no_time_is_no_reference():
    # a TLS phase of 0 ms (measured) is not the quickest sample to compare with
    s = [sample(1, tls=0.0), sample(2, tls=100.0)]
    ctx = ranking_ctx(s, rtt=None)
    assert explain(ctx, [finding("l7.slow_tls", "warning", samples_over=[1, 2])]).cells == ()
    assert explain(ranking_ctx([sample(1, tls=0.0)], rtt=None), []).cells == ()


def test_a_placement_without_phase_edges_has_no_packets_to_read():
    ctx = cell_ctx(sample(1, server=200.0))
    ctx.placements = [Placement(1, 0, "local_port", None, "none")]      # no anchor, no edges
    c = cell(ctx)
    assert (c.code, c.confidence, c.frames) == ("l7.slow_server", "low", ())


def test_a_cell_no_mechanism_claims_does_not_stop_the_later_cells():
    # a slow upload with clean TCP is no cause; the slow server wait after it still is
    c = cell(cell_ctx(sample(1, request=200.0, server=200.0)))
    assert (c.code, c.phase) == ("l7.slow_server", "server")


def test_a_connections_own_bulk_is_not_the_queue_it_waits_in():
    tcp = two_streams(irtt_ns=[100 * MS, 20 * MS], bytes_s2c=[500_000, 0])
    assert cell(cell_ctx(sample(1, tcp=200.0), tcp), [finding(
        "l7.slow_connect", "warning", samples_over=[1])]).code == "l7.slow_connect"


class ServerSide:
    """A server capture's think time per sample (cnfpost/serverside.py), in ms."""

    def __init__(self, **think_ms):
        self.think = {int(k[1:]): v for k, v in think_ms.items()}

    def think_of(self, n):
        ms = self.think.get(n)
        return None if ms is None else SimpleNamespace(server_ns=int(ms * MS))


# server wait 200 ms against 40: 160 ms extra; the server's own time must be half of it
@pytest.mark.parametrize("think_ms, code", [(80.0, "l7.server_time"), (79.9, "l7.slow_server")])
def test_with_a_server_capture_the_server_claims_what_it_spent(think_ms, code):
    ctx = cell_ctx(sample(1, server=200.0), server_side=ServerSide(s1=think_ms))
    c = cell(ctx, [finding("l7.slow_server", "warning", samples_over=[1])])
    assert c.code == code
    ctx.server_side = ServerSide(s2=think_ms)            # another sample's time
    assert cell(ctx).code == "l7.slow_server"


def test_server_packets_unseen_make_a_lost_syn_downstream_loss():
    facts = Facts(unseen={99: 1})
    c = cell(cell_ctx(sample(1, tcp=1020.0), two_streams(syn_retries=[1, 0]), facts))
    assert c.code == "l3.downstream_loss"


def test_a_dns_failure_the_capture_places_elsewhere_is_still_a_failed_request():
    c = failure_cause(fail("tcp", "dns_failure"))
    assert c.code == "l7.request_failed"


def test_a_stall_at_any_time_of_the_connection_claims_its_failure():
    T = 1_700_000_000 * 10**9
    c = failure_cause(fail("server", "timeout"),
                      Facts(stalls=(Stall(0, T, T + 2 * 10**9, "client_gave_up", (9,)),)))
    assert c.code == "l4.stall"


def test_the_models_own_finding_names_every_phase_and_sample_rounded():
    from tests.test_rules import microseconds

    facts = Facts(repair_frames={104: "down", 105: "down"}, data_segments={"down": 100},
                  repair_segments={"down": 2})
    s = [sample(1, server=200.501, download=300.0), sample(2, server=100.0, download=400.0)]
    ctx = Context(th=Thresholds(), samples=s, tcp=two_streams(),
                  facts=replace(facts, baseline_rtt_ms=20.1234, baseline_source="mtr",
                                tcp=two_streams()),
                  placements=[Placement(i + 1, 0, "local_port", 0, "syn", EDGES)
                              for i in range(2)],
                  buckets=[buckets(server={"retransmissions": 1},
                                   download={"retransmissions": 1})] * 2)
    (f,) = explain(ctx, []).findings
    assert f.message.startswith("Packet loss from the server to the probe in server wait, "
                                "download of sample(s) 1, 2: ")
    assert f.numbers["phase"] == "server"
    # medians of the four cells: observed 100, 200.501, 300, 400 -> 250.2505; expected
    # 2 x 20.1234 (server) and 1 x 20.1234 (download) -> 30.1851
    assert microseconds(f.numbers["median_ms"], 250.2505)
    assert f.numbers["expected_ms"] == 30.185


def test_a_download_beyond_round_trips_without_placements_uses_the_baseline():
    from cnfpost import rules

    # 100 000 bytes: 3 rounds of the 20 ms baseline (60 ms); 120 ms is beyond them
    s = sample(1, download=120.0, size_download=100_000)
    ctx = Context(th=Thresholds(), samples=[s], facts=Facts(baseline_rtt_ms=20.0))
    (f,) = rules.rule_slow_phases(ctx)
    assert f.code == "l7.slow_download"


def test_a_download_is_measured_in_the_segments_its_connection_announced():
    from cnfpost import rules
    from tests.test_rules import analysed, placed
    from tests.tcp_builders import Capture as Cap

    # MSS 536: 100 000 bytes need 4 more rounds (5 x 20.1 ms = 100.5 ms), not 2 (60.3 ms)
    cap = Cap()
    cap.conn().handshake(0.0, 20.0, mss=536)
    s = sample(1, download=120.0, size_download=100_000)
    ctx = Context(th=Thresholds(), samples=[s], placements=placed(0),
                  facts=Facts(baseline_rtt_ms=20.0), **analysed(cap))
    assert int(ctx.tcp.flows["mss_server"][0]) == 536
    assert rules.rule_slow_phases(ctx) == []            # 120 ms: within 100.5 + 20


def test_without_a_capture_a_download_counts_rounds_of_1460_byte_segments():
    # 43 801 bytes: three initial windows of 10 x 1460 and a byte: 2 more rounds
    flagged = [finding("l7.slow_download", "warning", samples_over=[1])]
    ex = explain(ranking_ctx([sample(1, download=200.0, size_download=43_801)]), flagged)
    assert [(c.code, c.expected_ms) for c in ex.cells] == [("l7.slow_download", 60.0)]


def test_a_far_server_median_leaves_out_failed_samples_and_rounds():
    rtt = 40.0
    s = [sample(1, tcp=rtt, tls=rtt, server=2 * rtt, download=rtt),
         sample(2, tcp=rtt, tls=rtt, server=2 * rtt, download=rtt + 0.003),
         sample(3, **{**FAILED, "time_total": 5.0})]
    assert s[2].total_ms == 5000.0 and not s[2].ok
    (f,) = explain(ranking_ctx(s, rtt=rtt), []).findings
    # 201.5 and 201.503 ms: the median 201.5015, not 5000
    assert f.numbers["total_median_ms"] == round(201.5015, 3) != 201.5015


def test_a_cause_from_a_finding_names_the_effects_in_its_phase():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    found = [capture_finding("l3l7.bufferbloat", "warning", (3,), phase="server"),
             capture_finding("l4l7.events_in_phase", "warning", (9,), phase="server"),
             capture_finding("l4l7.application", "warning", (9,), phase="download")]
    c = explain(ranking_ctx([quick]), found).cause
    assert (c.code, c.phases, c.because) == ("l3l7.bufferbloat", ("server",),
                                             ("l4l7.events_in_phase",))


def test_a_cause_from_a_finding_without_a_phase_names_no_effect_by_phase():
    quick = sample(1, tcp=20.0, tls=20.0, server=40.0, download=20.0)
    found = [capture_finding("l3.path_loss", "warning", (3,)),
             capture_finding("l4.retransmissions", "warning", (99,))]
    c = explain(ranking_ctx([quick]), found).cause
    assert (c.code, c.because) == ("l3.path_loss", ())
