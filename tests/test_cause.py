"""The cause model's grade rule and ranking on built explanations (no capture needed)."""
from __future__ import annotations

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
