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
