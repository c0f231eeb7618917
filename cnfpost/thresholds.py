"""Every threshold cnfpost judges by, in one place, each with the reason for its value.

A threshold is declared once with :func:`declare` at import time of this module (so the
whole list is readable here, top to bottom) and read with ``THRESHOLDS["name"]`` or,
when a config file overrides some, through the :class:`Thresholds` object the pipeline
passes down. ``cnfpost analyze --config FILE.toml`` overrides any of them::

    [thresholds]
    "l3.loss_pct.good" = 0.5

Unknown names and values of the wrong type are input errors (exit 2), never ignored.

Grades are always one of ``excellent | good | fair | poor | unknown``. For a metric where
lower is better, the grade is the best one whose limit the value does not exceed
(:func:`grade_lower_is_better`).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .errors import InputError, json_pointer

__all__ = [
    "Threshold",
    "Thresholds",
    "DEFAULTS",
    "declare",
    "load_config",
    "GRADES",
    "grade_lower_is_better",
    "worst_grade",
]

GRADES = ("excellent", "good", "fair", "poor", "unknown")


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    unit: str
    why: str


DEFAULTS: dict[str, Threshold] = {}


def declare(name: str, value: float, unit: str, why: str) -> None:
    if name in DEFAULTS:
        raise ValueError(f"threshold {name} declared twice")
    DEFAULTS[name] = Threshold(name, float(value), unit, why)


class Thresholds(Mapping[str, float]):
    """The defaults with a config file's overrides applied; read-only."""

    def __init__(self, overrides: Mapping[str, float] | None = None):
        self._values = {name: t.value for name, t in DEFAULTS.items()}
        for name, value in (overrides or {}).items():
            self._values[name] = float(value)

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def load_config(path: str | Path) -> Thresholds:
    """Read a TOML config; its [thresholds] table overrides the defaults."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InputError(path, None, "a readable TOML file", exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, "valid TOML", str(exc)) from None
    table = doc.get("thresholds", {})
    if not isinstance(table, dict):
        raise InputError(path, json_pointer("thresholds"), "a table", type(table).__name__)
    for name, value in table.items():
        if name not in DEFAULTS:
            raise InputError(path, json_pointer("thresholds", name), "a known threshold name",
                             repr(name))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, json_pointer("thresholds", name), "a number", repr(value))
    return Thresholds(table)


def grade_lower_is_better(value: float | None, limits: Iterable[float]) -> str:
    """Grade a value against ascending (excellent, good, fair) limits; above all is poor."""
    if value is None:
        return "unknown"
    for grade, limit in zip(GRADES, limits):
        if value <= limit:
            return grade
    return "poor"


def worst_grade(grades: Iterable[str]) -> str:
    """The worst known grade of several ('unknown' only when all are unknown)."""
    known = [g for g in grades if g != "unknown"]
    if not known:
        return "unknown"
    return max(known, key=GRADES.index)


# ---------------------------------------------------------------------------------------
# The thresholds. Each layer's section is kept together; the name says layer and metric.
# ---------------------------------------------------------------------------------------
