"""The batch's statistics (pure): trends, runs that stand out, path changes, failed runs.

    summary = summarize(rows)          # index rows in, a Summary of plain records out

Rows are grouped by probe and target and ordered by time. A run stands out in a metric
when its robust z-score against every analysed run of its probe and target (median and
MAD, Iglewicz and Hoaglin) passes the ``batch.*`` thresholds; a path changes between
consecutive runs whose mtr hop lists differ (a silent hop matches any host). The records
are what summary.md and summary.html (report/batch_summary.py, report/batch_html.py)
render; nothing there is recomputed.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..thresholds import Thresholds
from .index import METRICS, SILENT_HOP, row_order

__all__ = ["MAD_TO_SIGMA", "MEANAD_TO_SIGMA", "TREND_WINDOWS", "Summary", "summarize",
           "robust_z", "same_path"]

MAD_TO_SIGMA = 0.6745          # Iglewicz & Hoaglin's modified z-score constant
MEANAD_TO_SIGMA = 1.253314     # sqrt(pi/2): the same role for the mean absolute deviation
TREND_WINDOWS = 6              # rows of a trend table: consecutive runs, equal counts


@dataclass(frozen=True)
class Summary:
    trends: list[dict]
    outliers: list[dict]
    path_changes: list[dict]
    failed: list[dict]


def summarize(rows: Iterable[Mapping], th: Mapping[str, float] | None = None) -> Summary:
    """Trends per probe and target, runs that stand out against their own history, and
    changes of the hop list between consecutive runs of a probe and target.

    Pure and order-independent: rows are grouped by (probe, target) and ordered by time.
    """
    th = th if th is not None else Thresholds()
    series: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    failed = []
    for row in sorted(rows, key=row_order):
        if row["status"] == "ok":
            series[(row["probe"], row["target"])].append(row)
        else:
            failed.append({k: row[k] for k in ("run_id", "source", "probe", "target", "time",
                                               "error")})
    trends, outliers, changes = [], [], []
    for (probe, target), runs in sorted(series.items()):
        trends.append(_trend(probe, target, runs))
        outliers += _outliers(runs, th)
        changes += _path_changes(runs)
    return Summary(trends, outliers, changes, failed)


def robust_z(value: float, values: list[float]) -> tuple[float, float, float]:
    """(z, median, MAD) of ``value`` against ``values``: 0.6745 (x - median) / MAD, or
    (x - median) / (1.253314 MeanAD) when MAD is 0; z is 0 when every value is equal."""
    med = statistics.median(values)
    deviations = [abs(v - med) for v in values]
    mad = statistics.median(deviations)
    if mad > 0:
        return MAD_TO_SIGMA * (value - med) / mad, med, mad
    mean_ad = statistics.fmean(deviations)
    if mean_ad > 0:
        return (value - med) / (MEANAD_TO_SIGMA * mean_ad), med, mad
    return 0.0, med, mad


def _outliers(runs: list[Mapping], th: Mapping[str, float]) -> list[dict]:
    if len(runs) < th["batch.min_history"]:
        return []
    found: dict[str, dict] = {}
    for metric in METRICS:
        values = [r[metric] for r in runs if r.get(metric) is not None]
        if len(values) < th["batch.min_history"]:
            continue
        floor = th["batch.outlier_min_retrans_pct"] if metric == "retrans_pct" \
            else th["batch.outlier_min_ms"]
        for r in runs:
            x = r.get(metric)
            if x is None:
                continue
            z, med, mad = robust_z(x, values)
            if z > th["batch.outlier_z"] and x - med >= floor:
                entry = found.setdefault(r["run_id"], {
                    "run_id": r["run_id"], "source": r["source"], "probe": r["probe"],
                    "target": r["target"], "time": r["time"], "metrics": [],
                    "findings": list(r.get("findings") or ()),
                    "cause": r.get("cause"), "cause_phases": list(r.get("cause_phases") or ())})
                entry["metrics"].append({"metric": metric, "value": x, "median": round(med, 3),
                                         "mad": round(mad, 3), "z": round(z, 2),
                                         "runs": len(values)})
    return sorted(found.values(), key=row_order)


def same_path(a: list[str], b: list[str]) -> bool:
    """Equal hop lists; a silent hop (???) matches any host, since one run's lost replies
    are not a new route."""
    return len(a) == len(b) and all(x == y or SILENT_HOP in (x, y) for x, y in zip(a, b))


def _path_changes(runs: list[Mapping]) -> list[dict]:
    out = []
    previous = None
    for r in runs:
        hops = list(r.get("hops") or ())
        if not hops:
            continue  # no mtr in this run: nothing to compare
        if previous is not None and not same_path(previous["hops"], hops):
            out.append({"probe": r["probe"], "target": r["target"],
                        "before_run": previous["run_id"], "before_time": previous["time"],
                        "after_run": r["run_id"], "after_time": r["time"],
                        "before": list(previous["hops"]), "after": hops})
        previous = r
    return out


def _trend(probe: str, target: str, runs: list[Mapping]) -> dict:
    windows = []
    for chunk in _chunks(runs, TREND_WINDOWS):
        medians = {}
        for metric in METRICS:
            values = [r[metric] for r in chunk if r.get(metric) is not None]
            medians[metric] = round(statistics.median(values), 3) if values else None
        windows.append({"from": chunk[0]["time"], "to": chunk[-1]["time"], "runs": len(chunk),
                        "grades": dict(sorted(Counter(r["grade"] for r in chunk).items())),
                        "medians": medians})
    seen: dict[str, list[Mapping]] = defaultdict(list)
    for r in runs:
        for code in r.get("findings") or ():
            seen[code].append(r)
    recurring = [{"code": code, "runs": len(rs), "first": rs[0]["time"], "last": rs[-1]["time"]}
                 for code, rs in sorted(seen.items()) if len(rs) >= 2]
    return {"probe": probe, "target": target, "runs": len(runs), "first": runs[0]["time"],
            "last": runs[-1]["time"], "windows": windows, "recurring_findings": recurring}


def _chunks(items: list, n: int) -> list[list]:
    """Up to n consecutive slices of near-equal length (the first ones one longer)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out

