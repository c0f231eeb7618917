"""summary.md of `cnfpost batch`: runs that stand out, path changes, trends, failed runs.

Markdown tables of the batch's statistics (batch/stats.py, ``summarize``) and the index
rows; like summary.html (batch_html.py), it renders the records and recomputes nothing.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..batch.index import METRICS, tally
from ..batch.stats import Summary

__all__ = ["summary_markdown"]

# Each metric's name in the tables' headings and cells.
_SHORT = {"dns_ms": "DNS", "tcp_ms": "TCP", "tls_ms": "TLS", "request_ms": "request",
          "server_ms": "server", "download_ms": "download", "ttfb_ms": "TTFB",
          "total_ms": "total", "retrans_pct": "retrans %"}


def summary_markdown(rows: list[Mapping], summary: Summary) -> str:
    lines = ["# cnfpost batch summary", "",
             f"{tally(rows)}. "
             "Durations are medians over each run's samples, in ms; the retransmission rate "
             "is retransmitted per 100 data segments.", ""]
    lines += ["## Runs that stand out", "",
              "Against the run's own history (every analysed run of the same probe and target): "
              "robust z = 0.6745 (value - median) / MAD above the `batch.outlier_z` threshold, "
              "and above the median by at least `batch.outlier_min_ms` "
              "(`batch.outlier_min_retrans_pct` for the retransmission rate).", ""]
    if summary.outliers:
        lines += ["| run | probe | target | time | stands out in (value; median, MAD, robust z) "
                  "| its cause | its findings |", "|---|---|---|---|---|---|---|"]
        for o in summary.outliers:
            what = "; ".join(f"{_SHORT[m['metric']]} {_num(m['value'])} ({_num(m['median'])}, "
                             f"{_num(m['mad'])}, z {m['z']:.1f})" for m in o["metrics"])
            codes = ", ".join(f"`{c}`" for c in o["findings"]) or "none"
            cause = "none" if not o.get("cause") else f"`{o['cause']}`" + (
                f" ({', '.join(o['cause_phases'])})" if o.get("cause_phases") else "")
            lines.append(f"| {_cell(o['run_id'])} | {_cell(o['probe'])} | {_cell(o['target'])} "
                         f"| {o['time']} | {what} | {cause} | {codes} |")
    else:
        lines.append("None.")
    lines += ["", "## Path changes", "",
              "Consecutive runs of the same probe and target whose mtr hop lists differ "
              "(a silent hop, ???, matches any host).", ""]
    if summary.path_changes:
        lines += ["| probe | target | from run | to run | before | after |",
                  "|---|---|---|---|---|---|"]
        for c in summary.path_changes:
            lines.append(f"| {_cell(c['probe'])} | {_cell(c['target'])} | "
                         f"{_cell(c['before_run'])} ({c['before_time']}) | "
                         f"{_cell(c['after_run'])} ({c['after_time']}) | "
                         f"{_cell(' > '.join(c['before']))} | {_cell(' > '.join(c['after']))} |")
    else:
        lines.append("None.")
    lines += ["", "## Trends", ""]
    if not summary.trends:
        lines.append("No analysed run.")
    for t in summary.trends:
        lines += [f"### {_cell(t['target'])} from {_cell(t['probe'] or '(unknown probe)')}", "",
                  f"{t['runs']} analysed run(s), {t['first'] or '?'} to {t['last'] or '?'}; "
                  "each line is a stretch of consecutive runs.", "",
                  "| from | to | runs | grades | " + " | ".join(_SHORT[m] for m in METRICS) + " |",
                  "|---|---|---:|---|" + "---:|" * len(METRICS)]
        for w in t["windows"]:
            grades = ", ".join(f"{g} {n}" for g, n in w["grades"].items())
            lines.append(f"| {w['from']} | {w['to']} | {w['runs']} | {grades} | "
                         + " | ".join(_num(w["medians"][m]) for m in METRICS) + " |")
        lines.append("")
        if t["recurring_findings"]:
            lines.append("Recurring findings (warning or critical, in 2 runs or more):")
            lines.append("")
            for f in t["recurring_findings"]:
                lines.append(f"- `{f['code']}` in {f['runs']} of {t['runs']} runs "
                             f"({f['first']} to {f['last']})")
        else:
            lines.append("No recurring warning or critical finding.")
        lines.append("")
    lines += ["## Failed runs", ""]
    if summary.failed:
        lines += ["| run | source | error |", "|---|---|---|"]
        for f in summary.failed:
            lines.append(f"| {_cell(f['run_id'])} | {_cell(f['source'])} | {_cell(f['error'])} |")
    else:
        lines.append("None.")
    return "\n".join(lines).rstrip("\n") + "\n"


def _num(value) -> str:
    """3 decimals at most, trailing zeros dropped; '–' for no value."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _cell(text: str | None) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")
