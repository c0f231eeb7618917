"""summary.html of `cnfpost batch`: per probe and target, trends over time as graphs.

One self-contained page like the run report (inline SVG, svg.py): for each probe and
target, the phase medians, the path RTT and the retransmission rate of every analysed run
against its time, the runs that stand out marked on the metric they stand out in, and the
path changes marked where the new path starts. Figures are the index rows' and the batch
summary's (batch.summarize); nothing is recomputed here.
"""
from __future__ import annotations

import datetime as _dt
import html as _html
from collections import defaultdict
from collections.abc import Mapping, Sequence

from .html import _CSS, _HEAD_SCRIPT, _TAIL_SCRIPT
from .svg import Series, chart

__all__ = ["summary_html"]

PHASE_METRICS = (("dns_ms", "DNS", "teal"), ("tcp_ms", "TCP", "orange"),
                 ("tls_ms", "TLS", "purple"), ("request_ms", "request", "olive"),
                 ("server_ms", "server", "brown"), ("download_ms", "download", "blue"),
                 ("total_ms", "total", "grey"))


def _e(value) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def _hours(rows: Sequence[Mapping]) -> tuple[list[float], str]:
    """x of each run: hours since the first run's time, else the run's position."""
    def parse(t):
        try:
            return _dt.datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp()
        except (TypeError, ValueError):
            return None
    stamps = [parse(r.get("time")) for r in rows]
    if rows and all(s is not None for s in stamps):
        return [round((s - stamps[0]) / 3600, 4) for s in stamps], \
            f"hours since {rows[0]['time']}"
    return [float(i) for i in range(len(rows))], "run (in order)"


def _line(rows, x, key, name, color) -> Series | None:
    pts = [(a, r[key]) for a, r in zip(x, rows) if r.get(key) is not None]
    if not pts:
        return None
    # one run alone is a point: a line through one point draws nothing
    return Series(name, [a for a, _ in pts], [b for _, b in pts],
                  "line" if len(pts) > 1 else "points", color)


def _group_charts(gid: str, rows: list[Mapping], outliers: list[Mapping],
                  changes: list[Mapping], graphs: list[str]) -> str:
    x, x_label = _hours(rows)
    at = {r["run_id"]: a for a, r in zip(x, rows)}
    out = []

    def marks(keys: Sequence[str]) -> list[Series]:
        found = []
        px, py, labels = [], [], []
        for o in outliers:
            for m in o["metrics"]:
                if m["metric"] in keys and o["run_id"] in at:
                    px.append(at[o["run_id"]])
                    py.append(m["value"])
                    labels.append(f"{o['run_id']}: {m['metric']} {m['value']} stands out "
                                  f"(median {m['median']}, z {m['z']})")
        if px:
            found.append(Series("stands out", px, py, "marks", "red", labels=labels,
                                symbol="x"))
        cx = [at[c["after_run"]] for c in changes if c["after_run"] in at]
        if cx:
            found.append(Series("path change", cx, [0.0] * len(cx), "marks", "black",
                                labels=[f"path change at {c['after_run']}: "
                                        f"{' > '.join(c['before'])} → {' > '.join(c['after'])}"
                                        for c in changes if c["after_run"] in at],
                                symbol="diamond"))
        return found

    specs = [
        ("phases", "Phase medians per run", "ms",
         [_line(rows, x, k, n, c) for k, n, c in PHASE_METRICS], [k for k, _, _ in PHASE_METRICS]),
        ("rtt", "Path RTT per run", "ms", [_line(rows, x, "rtt_ms", "RTT", "green")], ["rtt_ms"]),
        ("retrans", "Retransmission rate per run", "% of data segments",
         [_line(rows, x, "retrans_pct", "retransmissions", "red")], ["retrans_pct"]),
    ]
    for key, title, unit, lines, keys in specs:
        series = [s for s in lines if s is not None]
        if not series:
            out.append(f"<p class=\"note\">{_e(title)}: no run measured it.</p>")
            continue
        cid = f"{gid}-{key}"
        graphs.append(cid)
        span = (min(x) - 0.5, max(x) + 0.5)   # every chart of the group on one time axis
        out.append(chart(series + marks(keys), chart_id=cid, title=title, x_label=x_label,
                         y_label=unit, height=240, x_range=span))
    return "".join(out)


def summary_html(rows: Sequence[Mapping], summary) -> str:
    """The batch summary page (str, deterministic)."""
    groups: dict[tuple, list[Mapping]] = defaultdict(list)
    for r in rows:
        if r.get("status") == "ok":
            groups[(r.get("probe"), r.get("target"))].append(r)
    graphs: list[str] = []
    body = [f"<h1>cnfpost batch summary</h1><p>{len(rows)} run(s): "
            f"{sum(len(v) for v in groups.values())} analysed, {len(summary.failed)} failed. "
            "Each point is one run's median over its samples; ✕ marks a run that stands out "
            "against its own history (robust z, see summary.md), ◆ the first run on a new "
            "path.</p>"]
    for i, t in enumerate(summary.trends):
        key = (t["probe"], t["target"])
        runs = sorted(groups.get(key, []), key=lambda r: (r.get("time") or "", r["run_id"]))
        outliers = [o for o in summary.outliers if (o["probe"], o["target"]) == key]
        changes = [c for c in summary.path_changes if (c["probe"], c["target"]) == key]
        body.append(f"<h2 id=\"group-{i}\">{_e(t['target'])} from "
                    f"{_e(t['probe'] or '(unknown probe)')}</h2><p class=\"note\">{t['runs']} "
                    f"analysed run(s), {_e(t['first'])} to {_e(t['last'])}; "
                    f"{len(outliers)} standing out, {len(changes)} path change(s).</p>")
        body.append(_group_charts(f"group-{i}", runs, outliers, changes, graphs))
        if outliers:
            body.append("<ul>" + "".join(
                f"<li>{_e(o['run_id'])} ({_e(o['time'])}): " + "; ".join(
                    f"{_e(m['metric'])} {_e(m['value'])} (median {_e(m['median'])}, "
                    f"z {m['z']:.1f})" for m in o["metrics"]) + "</li>" for o in outliers)
                + "</ul>")
        if changes:
            body.append("<ul>" + "".join(
                f"<li>path change at {_e(c['after_run'])} ({_e(c['after_time'])}): "
                f"{_e(' > '.join(c['before']))} → {_e(' > '.join(c['after']))}</li>"
                for c in changes) + "</ul>")
    if summary.failed:
        body.append("<h2 id=\"failed\">Failed runs</h2><ul>" + "".join(
            f"<li>{_e(f['run_id'])}: {_e(f['error'])}</li>" for f in summary.failed) + "</ul>")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>cnfpost batch summary</title><style>{_CSS}</style>",
        f"<script>{_HEAD_SCRIPT}</script></head><body>", *body,
        "<div id=\"page-check\" hidden></div>", f"<script>{_TAIL_SCRIPT}</script>",
        "</body></html>\n"])
