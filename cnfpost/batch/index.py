"""The batch index: one row per run (cnfpost batch), and index.jsonl and index.csv.

A row is the run's identity (run id, source, probe, target, time), its status and error,
its grades and cause, its phase medians and retransmission rate, the path's RTT, its
finding codes and its mtr hop list: ``INDEX_COLUMNS``, in that order. ``METRICS`` are the
row's figures that the statistics (stats.py) follow over time.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

import orjson

from .archive import Run

__all__ = ["ROW_SCHEMA", "PHASES", "METRICS", "INDEX_COLUMNS", "SILENT_HOP", "index_row",
           "error_row", "index_jsonl", "index_csv", "tally", "row_order"]

ROW_SCHEMA = 1
PHASES = ("dns", "tcp", "tls", "request", "server", "download")
# The metrics of a row that trends and outliers look at; for all of them higher is worse.
METRICS = tuple(f"{p}_ms" for p in PHASES) + ("ttfb_ms", "total_ms", "retrans_pct")
INDEX_COLUMNS = ("run_id", "source", "probe", "target", "time", "status", "error", "grade",
                 "grade_l3", "grade_l4", "grade_l7", "cause", "cause_phases",
                 "cause_confidence", *METRICS, "rtt_ms", "findings", "info_findings", "hops")
SILENT_HOP = "???"  # mtr's name for a hop that never answered


def index_row(run: Run, report: Mapping) -> dict:
    """The index row of an analysed run: identity, grades, medians, findings, hops."""
    layers = report["layered_analysis"]
    l7 = layers["l7"]["metrics"]
    phases = l7.get("phases") or {}
    row = _identity(run)
    row.update({
        "status": "ok", "error": None,
        "grade": report["overall"]["grade"],
        "grade_l3": layers["l3"]["quality"], "grade_l4": layers["l4"]["quality"],
        "grade_l7": layers["l7"]["quality"],
    })
    cause = report["overall"].get("cause")
    row["cause"] = None if cause is None else cause["code"]
    row["cause_phases"] = [] if cause is None else list(cause["phases"])
    row["cause_confidence"] = None if cause is None else cause["confidence"]
    for pid in PHASES:
        row[f"{pid}_ms"] = (phases.get(pid) or {}).get("median_ms")
    row["ttfb_ms"] = l7.get("ttfb_median_ms")
    row["total_ms"] = l7.get("total_median_ms")
    row["retrans_pct"] = layers["l4"]["metrics"].get("retransmission_rate_pct")
    # the path's latency, as L3 measured it (ping, mtr or the capture's echoes): a trend
    # beside the phases in summary.html, not an outlier metric
    row["rtt_ms"] = layers["l3"]["metrics"].get("rtt_avg_ms")
    serious = {f["code"] for f in report["findings"] if f["severity"] != "info"}
    info = {f["code"] for f in report["findings"] if f["severity"] == "info"}
    row["findings"] = sorted(serious)
    row["info_findings"] = sorted(info - serious)
    mtr = (report.get("path") or {}).get("mtr") or {}
    row["hops"] = [SILENT_HOP if h.get("silent") else (h.get("host") or h.get("address")
                                                       or SILENT_HOP)
                   for h in mtr.get("hops") or ()]
    return row


def error_row(run: Run, error: str) -> dict:
    row = _identity(run)
    # One line, whatever an exception's text held: stderr, index.csv and summary.md show it.
    error = error.replace("\r", "\\r").replace("\n", "\\n")
    row.update({"status": "error", "error": error, "grade": None, "grade_l3": None,
                "grade_l4": None, "grade_l7": None, "cause": None, "cause_phases": [],
                "cause_confidence": None, **{m: None for m in METRICS}, "rtt_ms": None,
                "findings": [], "info_findings": [], "hops": []})
    return row


def _identity(run: Run) -> dict:
    return {"run_id": run.run_id, "source": run.source, "probe": run.probe,
            "target": run.target, "time": run.time}


def tally(rows: list[Mapping]) -> str:
    """'35 run(s): 34 analysed, 1 failed': the one count that stdout and summary.md show."""
    ok = sum(1 for r in rows if r["status"] == "ok")
    return f"{len(rows)} run(s): {ok} analysed, {len(rows) - ok} failed"


def row_order(row: Mapping) -> tuple:
    return (row["probe"], row["target"], row["time"], row["run_id"])


def index_jsonl(rows: Iterable[Mapping]) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
                    for r in rows)


def index_csv(rows: Iterable[Mapping]) -> str:
    """One row per run; lists joined with spaces (codes) or ' > ' (hops)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for r in rows:
        cells = []
        for col in INDEX_COLUMNS:
            value = r.get(col)
            if col == "hops":
                value = " > ".join(value or ())
            elif isinstance(value, list):
                value = " ".join(value)
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return buf.getvalue()

