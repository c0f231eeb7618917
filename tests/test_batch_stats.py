"""batch/stats.py (summarize, pure): the robust baseline (median and MAD), runs that stand
out, path changes per probe and target, trends and recurring findings, on built index rows.
The archive, the runner and the CLI are tests/test_batch.py."""
from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnfpost import batch
from cnfpost.batch import robust_z, same_path, summarize



def row(i: int, total: float | None, *, probe: str = "p", target: str = "t",
        hops: list[str] | None = None, status: str = "ok", findings=()) -> dict:
    r = {"run_id": f"{probe}-{target}-{i:03d}", "source": f"{probe}/{i}", "probe": probe,
         "target": target, "time": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z",
         "status": status, "error": None if status == "ok" else "broken", "grade": "good",
         **{m: None for m in batch.METRICS}, "findings": list(findings), "info_findings": [],
         "hops": hops if hops is not None else ["a", "b", "c"]}
    r["total_ms"] = total
    return r


def flagged(rows) -> list[str]:
    return [o["run_id"] for o in summarize(rows).outliers]


def test_the_same_value_stands_out_only_against_a_steady_history():
    rng = random.Random(7)
    steady = [row(i, 100 + rng.uniform(-5, 5)) for i in range(20)] + [row(20, 140.0)]
    noisy = [row(i, 100 + rng.uniform(-60, 60), target="u") for i in range(20)] \
        + [row(20, 140.0, target="u")]
    assert flagged(steady) == ["p-t-020"]
    assert flagged(noisy) == []


def test_two_slow_runs_do_not_hide_each_other():
    """Masking: with mean and standard deviation, two runs at 200 ms among 100 ms runs
    inflate the deviation enough that neither reaches z 3.5; median and MAD see both."""
    import statistics

    runs = [row(i, 100.0 + (i % 5) - 2) for i in range(20)] + [row(20, 200.0), row(21, 200.0)]
    values = [r["total_ms"] for r in runs]
    assert (200.0 - statistics.fmean(values)) / statistics.pstdev(values) < 3.5
    assert flagged(runs) == ["p-t-020", "p-t-021"]


def test_a_faster_run_or_a_tiny_excess_is_not_an_outlier():
    runs = [row(i, 100.0 + 0.01 * (i % 3)) for i in range(12)]
    assert flagged(runs + [row(12, 20.0)]) == []          # faster: nothing to explain
    assert flagged(runs + [row(12, 105.0)]) == []         # z is huge but 5 ms < 10 ms floor
    assert flagged(runs + [row(12, 111.0)]) == ["p-t-012"]


def test_mad_zero_falls_back_to_mean_absolute_deviation():
    runs = [row(i, 100.0) for i in range(11)] + [row(11, 150.0)]
    z, median, mad = robust_z(150.0, [r["total_ms"] for r in runs])
    assert (median, mad) == (100.0, 0.0)
    assert z == pytest.approx(50.0 / (1.253314 * 50.0 / 12))
    assert flagged(runs) == ["p-t-011"]
    assert robust_z(100.0, [100.0] * 5)[0] == 0.0


def test_robust_z_scales_the_deviation_by_0_6745_over_the_mad():
    # median 3, absolute deviations 2 1 0 1 97: MAD 1
    z, median, mad = robust_z(5.0, [1.0, 2.0, 3.0, 4.0, 100.0])
    assert (median, mad) == (3.0, 1.0)
    assert z == pytest.approx(0.6745 * 2.0)


def test_short_histories_have_no_outliers_and_failed_runs_do_not_count():
    runs = [row(i, 100.0 + i % 2) for i in range(7)] + [row(7, 900.0)]
    assert flagged(runs) == ["p-t-007"]                # 8 runs: enough
    assert flagged(runs[1:]) == []                    # 7 runs: not yet
    broken = [row(100 + i, None, status="error") for i in range(5)]
    assert flagged(runs[1:] + broken) == []
    assert len(summarize(runs + broken).failed) == 5


def test_path_changes_per_probe_and_target_with_silent_hops_as_wildcards():
    assert same_path(["a", "???", "c"], ["a", "b", "c"])
    assert not same_path(["a", "b"], ["a", "b", "c"])
    rows = [row(0, 1.0), row(1, 1.0, hops=["a", "???", "c"]), row(2, 1.0),
            row(3, 1.0, hops=[]),                               # no mtr: skipped
            row(4, 1.0, hops=["a", "x", "c"]), row(5, 1.0, hops=["a", "x", "c"]),
            row(0, 1.0, probe="q", hops=["z"])]                  # another probe: its own
    changes = summarize(rows).path_changes
    assert [(c["before_run"], c["after_run"]) for c in changes] == [("p-t-002", "p-t-004")]


def test_trends_windows_and_recurring_findings():
    rows = [row(i, float(i), findings=["l4.retransmissions"] if i in (3, 9) else [])
            for i in range(12)]
    (trend,) = summarize(rows).trends
    assert [w["runs"] for w in trend["windows"]] == [2] * 6
    assert [w["medians"]["total_ms"] for w in trend["windows"]] == [0.5, 2.5, 4.5, 6.5, 8.5,
                                                                     10.5]
    assert trend["recurring_findings"] == [{"code": "l4.retransmissions", "runs": 2,
                                            "first": rows[3]["time"], "last": rows[9]["time"]}]


@given(st.lists(st.floats(min_value=1, max_value=1000, allow_nan=False), min_size=1,
                max_size=40), st.randoms(use_true_random=False))
def test_summarize_does_not_depend_on_row_order(totals, rnd):
    rows = [row(i, t, hops=["a", "b"] if i % 7 else ["a", "c"]) for i, t in enumerate(totals)]
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert summarize(shuffled) == summarize(rows)


# --- the records summarize gives, whole ---------------------------------------------------

from cnfpost.batch.stats import _chunks          # noqa: E402
from cnfpost.thresholds import Thresholds        # noqa: E402

# 8 runs of 100, 102, 98, ...: median 100, MAD 2
STEADY = [100.0, 102.0, 98.0, 101.0, 99.0, 103.0, 97.0, 100.0]


def test_an_outlier_record_names_the_run_its_metric_and_the_baseline():
    runs = [row(i, v) for i, v in enumerate(STEADY)] + \
        [row(8, 150.0, findings=["l3.path_loss"])]
    runs[8].update(cause="l3.path_loss", cause_phases=["tls"], dns_ms=1.0)
    (o,) = summarize(runs).outliers
    values = STEADY + [150.0]
    z, med, mad = robust_z(150.0, values)
    assert (med, mad) == (100.0, 2.0)
    assert o == {"run_id": "p-t-008", "source": "p/8", "probe": "p", "target": "t",
                 "time": "2026-01-01T00:08:00Z", "findings": ["l3.path_loss"],
                 "cause": "l3.path_loss", "cause_phases": ["tls"],
                 "metrics": [{"metric": "total_ms", "value": 150.0, "median": 100.0,
                              "mad": 2.0, "z": round(0.6745 * 50.0 / 2.0, 2), "runs": 9}]}


def test_a_run_out_in_two_metrics_is_one_record_with_both():
    runs = [row(i, v) for i, v in enumerate(STEADY)] + [row(8, 150.0)]
    for r, v in zip(runs, STEADY + [200.0]):
        r["server_ms"] = v
    (o,) = summarize(runs).outliers
    assert [m["metric"] for m in o["metrics"]] == ["server_ms", "total_ms"]
    assert o["findings"] == [] and o["cause"] is None and o["cause_phases"] == []


# z = 0.6745 * excess / MAD with MAD 2: z 3.5 at an excess of 10.378; both z above 3.5
# and the 10 ms floor are needed
@pytest.mark.parametrize("value, out", [(110.37, False), (110.38, True)])
def test_outliers_need_z_above_batch_outlier_z(value, out):
    runs = [row(i, v) for i, v in enumerate(STEADY)] + [row(8, value)]
    assert flagged(runs) == (["p-t-008"] if out else [])


# runs of 100 and 100.25 ms: with a slower ninth, median 100.25 and MAD 0.25 (z >= 26)
@pytest.mark.parametrize("excess, out", [(9.75, False), (10.0, True)])
def test_outliers_need_batch_outlier_min_ms_more_than_the_median(excess, out):
    runs = [row(i, 100.0 + 0.25 * (i % 2)) for i in range(8)] + [row(8, 100.25 + excess)]
    assert flagged(runs) == (["p-t-008"] if out else [])


# rates of 0.5 % (3 runs) and 0.75 % (5): with a higher ninth, median 0.75 and MAD 0, so z
# uses the mean absolute deviation: 3.6 at 1.5 %, 4.1 at 1.75 %; the floor is 1 point
@pytest.mark.parametrize("rate, out", [(1.5, False), (1.75, True)])
def test_the_retransmission_rate_has_its_own_floor_in_percentage_points(rate, out):
    runs = [row(i, 100.0) for i in range(9)]
    for i, r in enumerate(runs):
        r["retrans_pct"] = (0.5 if i % 3 == 0 else 0.75) if i < 8 else rate
    assert robust_z(1.5, [r["retrans_pct"] for r in runs[:8]] + [1.5])[0] > 3.5
    got = summarize(runs).outliers
    assert [m["metric"] for o in got for m in o["metrics"]] == (["retrans_pct"] if out else [])


def test_a_metric_with_fewer_values_than_batch_min_history_is_not_judged():
    runs = [row(i, 100.0 + i % 3) for i in range(9)]
    for r in runs[:7]:
        r["dns_ms"] = 10.0 + (r is runs[0])
    runs[8]["dns_ms"] = 500.0           # 8 values: judged
    assert [m["metric"] for o in summarize(runs).outliers for m in o["metrics"]] == ["dns_ms"]
    runs[0]["dns_ms"] = None            # 7 values: not
    assert summarize(runs).outliers == []


def test_batch_thresholds_can_be_overridden():
    runs = [row(i, 100.0 + i % 2) for i in range(5)] + [row(5, 900.0)]
    assert flagged(runs) == []
    th = Thresholds({"batch.min_history": 6.0})
    assert [o["run_id"] for o in summarize(runs, th).outliers] == ["p-t-005"]


def test_robust_z_with_a_zero_mad_uses_the_mean_absolute_deviation():
    # median 10, deviations 0 0 0 0 0 40: MAD 0, MeanAD 40/6
    z, med, mad = robust_z(50.0, [10.0] * 5 + [50.0])
    assert (med, mad) == (10.0, 0.0)
    assert z == pytest.approx(40.0 / (1.253314 * 40.0 / 6))
    assert robust_z(5.0, [10.0] * 5 + [50.0])[0] == pytest.approx(-5.0 / (1.253314 * 40 / 6))


def test_a_path_change_record_names_both_runs_and_both_hop_lists():
    rows = [row(0, 1.0, hops=["a", "b"]), row(1, 1.0, hops=["a", "c"])]
    (c,) = summarize(rows).path_changes
    assert c == {"probe": "p", "target": "t", "before_run": "p-t-000",
                 "before_time": "2026-01-01T00:00:00Z", "after_run": "p-t-001",
                 "after_time": "2026-01-01T00:01:00Z", "before": ["a", "b"],
                 "after": ["a", "c"]}
    assert same_path(["a", "b"], ["a", "b"]) and not same_path(["a", "b"], ["b", "a"])
    assert same_path(["???", "b"], ["a", "???"])


def test_a_failed_run_record_keeps_its_identity_and_error():
    (f,) = summarize([row(3, None, status="error"), row(1, 10.0)]).failed
    assert f == {"run_id": "p-t-003", "source": "p/3", "probe": "p", "target": "t",
                 "time": "2026-01-01T00:03:00Z", "error": "broken"}


def test_a_trend_record_per_probe_and_target_in_order():
    rows = [row(i, 10.0 * i, target="u") for i in range(3)] + \
        [row(i, 1.0, findings=["l3.path_loss"] * (i < 2)) for i in range(2)]
    rows[0]["grade"] = "poor"
    rows[0]["dns_ms"] = 4.0
    rows[2]["dns_ms"] = 7.0
    t_trend, u_trend = summarize(rows[::-1]).trends
    assert t_trend == {
        "probe": "p", "target": "t", "runs": 2, "first": "2026-01-01T00:00:00Z",
        "last": "2026-01-01T00:01:00Z",
        "windows": [{"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "runs": 1,
                     "grades": {"good": 1}, "medians": {**{m: None for m in batch.METRICS},
                                                        "total_ms": 1.0}},
                    {"from": "2026-01-01T00:01:00Z", "to": "2026-01-01T00:01:00Z", "runs": 1,
                     "grades": {"good": 1}, "medians": {**{m: None for m in batch.METRICS},
                                                        "total_ms": 1.0}}],
        "recurring_findings": [{"code": "l3.path_loss", "runs": 2,
                                "first": "2026-01-01T00:00:00Z",
                                "last": "2026-01-01T00:01:00Z"}]}
    assert (u_trend["target"], u_trend["runs"], len(u_trend["windows"])) == ("u", 3, 3)
    assert u_trend["windows"][0]["grades"] == {"poor": 1}
    assert [w["medians"]["dns_ms"] for w in u_trend["windows"]] == [4.0, None, 7.0]
    assert u_trend["recurring_findings"] == []


def test_trend_windows_of_thirteen_runs():
    rows = [row(i, float(i), findings=["a.b"] if i == 5 else []) for i in range(13)]
    rows[1]["grade"] = "fair"
    (trend,) = summarize(rows).trends
    assert [w["runs"] for w in trend["windows"]] == [3, 2, 2, 2, 2, 2]
    assert trend["windows"][0] == {"from": rows[0]["time"], "to": rows[2]["time"], "runs": 3,
                                   "grades": {"fair": 1, "good": 2},
                                   "medians": {**{m: None for m in batch.METRICS},
                                               "total_ms": 1.0}}
    assert trend["recurring_findings"] == []           # a finding once does not recur


@pytest.mark.parametrize("n, sizes", [(0, [0]), (1, [1]), (5, [1] * 5), (6, [1] * 6),
                                      (7, [2, 1, 1, 1, 1, 1]), (12, [2] * 6),
                                      (17, [3, 3, 3, 3, 3, 2])])
def test_chunks_are_consecutive_and_near_equal(n, sizes):
    items = list(range(n))
    chunks = _chunks(items, 6)
    assert [len(c) for c in chunks] == sizes
    assert [x for c in chunks for x in c] == items


def test_a_run_exactly_at_batch_outlier_z_is_not_out():
    runs = [row(i, v) for i, v in enumerate(STEADY)] + [row(8, 150.0)]
    z = robust_z(150.0, [r["total_ms"] for r in runs])[0]
    assert summarize(runs, Thresholds({"batch.outlier_z": z})).outliers == []
    assert flagged(runs) == ["p-t-008"]


def test_outlier_baseline_figures_round_to_three_decimals():
    # median 100.50012; deviations 0, 0.1, 0.1, 0.15, 0.2504, 0.3, 0.3, 0.4 and the
    # outlier's: MAD 0.2504
    values = [100.5, 100.4, 100.6, 100.35, 100.7504, 100.2, 100.8, 100.1]
    runs = [row(i, v + 0.00012) for i, v in enumerate(values)] + [row(8, 300.0)]
    (o,) = summarize(runs).outliers
    (m,) = o["metrics"]
    assert (m["median"], m["mad"]) == (100.5, 0.25)


def test_outliers_of_every_probe_and_target_are_kept():
    runs = [row(i, v) for i, v in enumerate(STEADY)] + [row(8, 150.0)]
    other = [row(i, v, target="u") for i, v in enumerate(STEADY)] + [row(8, 160.0, target="u")]
    assert flagged(runs + other) == ["p-t-008", "p-u-008"]


def test_trend_medians_round_to_three_decimals_and_recurring_spans_first_to_last():
    rows = [row(i, 10.12345 + i, findings=["l3.path_loss"]) for i in range(3)]
    (trend,) = summarize(rows).trends
    assert [w["medians"]["total_ms"] for w in trend["windows"]] == [10.123, 11.123, 12.123]
    assert trend["recurring_findings"] == [{"code": "l3.path_loss", "runs": 3,
                                            "first": rows[0]["time"], "last": rows[2]["time"]}]
