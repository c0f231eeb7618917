"""The cause model's grade rule and ranking on built explanations (no capture needed)."""
from __future__ import annotations

import pytest

from cnfpost.cause import Cause, Explanation, slow_start_rounds
from cnfpost.findings import CATALOGUE
from cnfpost.pipeline import agreeing_grades

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
