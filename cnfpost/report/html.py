"""The HTML report: one self-contained file (inline CSS and SVG, no fetch) with graphs.

    from cnfpost.report.html import html
    page = html(report)                 # or report.to_html()

Views: the headline (cause, grades and what set them), the findings (each with its filter
and a link to the graph that shows it), a waterfall per sample on a ms axis with its TCP
events at their times and its failure, RTT over time (ping, the capture's ICMP echoes,
TCP ACK RTTs, handshakes) above the capture's throughput, a time-sequence graph and
throughput/window graphs per connection worth a look, and the mtr path per hop.

Figures come from the report; the per-packet series from the capture it was made from
(report.sources, series.py). A report loaded back from JSON has no packets: the page then
draws what the JSON holds (waterfalls, path) and says what it cannot.
"""
from __future__ import annotations

import html as _html
from collections.abc import Mapping

from . import _format as f
from ..sources import Sources
from .series import CaptureSeries, capture_series, frame_times_ms
from .svg import Series, chart, thin

__all__ = ["html", "DRAWN_POINTS"]

# Points per series drawn at most (svg.thin keeps each run's extremes): a 1M-packet capture
# stays a few MB and opens in a second.
DRAWN_POINTS = 3000
# Samples drawn one by one; more get one overview chart (a 3,000-sample run would otherwise
# be 10 MB of waterfalls nobody reads).
WATERFALLS_DRAWN = 50
PHASE_COLOR = {"dns": "teal", "tcp": "orange", "tls": "purple", "request": "olive",
               "server": "brown", "download": "blue"}
GRADE_CLASS = {"excellent": "ok", "good": "ok", "fair": "warn", "poor": "bad", "unknown": "unk"}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:12px;color:#222}
h1{font-size:20px}h2{font-size:17px;border-bottom:1px solid #ccc;margin-top:28px}
h3{font-size:15px;margin:16px 0 4px}code{background:#f3f3f3;padding:1px 3px;word-break:break-all}
.ok{color:#1a7f37}.warn{color:#b35900}.bad{color:#c62828}.unk{color:#777}
.cause{border-left:4px solid #c62828;padding:6px 10px;background:#fff5f5}
.finding{border-left:3px solid #ccc;padding:2px 10px;margin:10px 0}
.finding.critical{border-color:#c62828}.finding.warning{border-color:#e69500}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
svg.graph{display:block;margin:6px 0;max-width:100%;height:auto}
svg .plot{fill:#fcfcfc;stroke:#bbb}svg .grid{stroke:#eee}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-weight:bold;font-size:12px}
svg .xt,svg .xl{text-anchor:middle}svg .yt{text-anchor:end}svg .yl{text-anchor:middle}
svg .lab{font-size:10px}.note{color:#555;font-size:13px}
"""

# Records script errors into the page, so a headless browser's DOM dump shows them.
_HEAD_SCRIPT = ("window.__errors=[];window.addEventListener('error',function(e){"
                "window.__errors.push(String(e.message))});")
# Counts, per graph, the data elements the browser laid out (getBBox fails on undrawn).
_TAIL_SCRIPT = """(function(){var out=[];
document.querySelectorAll('svg.graph').forEach(function(g){var n=0;
g.querySelectorAll('g.data .s, g.data .bar, g.data .m').forEach(function(e){
try{var b=e.getBBox();if(isFinite(b.x)&&isFinite(b.y))n++;}catch(x){}});
out.push(g.id+':'+n+':'+g.getAttribute('data-points'));});
var d=document.getElementById('page-check');d.setAttribute('data-graphs',out.join(' '));
d.setAttribute('data-errors',window.__errors.join(' | '));d.setAttribute('data-done','1');})();"""


def _e(value) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def html(report: Mapping, sources: Sources | None = None) -> str:
    """The whole report as one HTML page (str, deterministic)."""
    sources = sources if sources is not None else getattr(report, "sources", None)
    cs = capture_series(report, sources) if sources is not None else None
    graphs: set[str] = set()
    body = (_headline(report) + _waterfalls(report, sources, graphs)
            + _rtt(report, cs, graphs, sources is not None) + _connections(cs, graphs)
            + _path(report, graphs))
    findings = _findings(report, cs, graphs)
    title = f"cnfpost report: {f.title_line(report)}"
    tool = report.get("tool") or {}
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style>",
        f"<script>{_HEAD_SCRIPT}</script></head><body>",
        f"<h1>{_e(title)}</h1>", _headline_top(report), findings, body,
        f"<p class=\"note\">{_e(tool.get('name', 'cnfpost'))} {_e(tool.get('version', ''))}, "
        f"report schema {_e(report.get('schema_version', '?'))}.</p>",
        "<div id=\"page-check\" hidden></div>",
        f"<script>{_TAIL_SCRIPT}</script></body></html>\n"])


# ----------------------------------------------------------------------------------------
# Headline and findings
# ----------------------------------------------------------------------------------------

def _headline_top(report: Mapping) -> str:
    o = report.get("overall") or {}
    grade = o.get("grade", "unknown")
    reasons = o.get("grade_reasons") or {}
    rows = "".join(f"<tr><td>{_e(layer.upper())}</td><td class=\"{GRADE_CLASS.get(g, 'unk')}\">"
                   f"{_e(g.upper())}</td><td>{_e(reasons.get(layer, ''))}</td></tr>"
                   for layer, g in (o.get("grades") or {}).items())
    out = [f"<p><b>Overall: <span class=\"{GRADE_CLASS.get(grade, 'unk')}\">"
           f"{_e(grade.upper())}</span></b></p>",
           f"<table><tr><th>Layer</th><th>Grade</th><th>Why</th></tr>{rows}</table>"]
    cause = o.get("cause")
    if cause:
        out.append("<div class=\"cause\" id=\"cause\"><b>Cause: " + _e(cause["code"]) + "</b> ("
                   + _e(cause.get("mechanism")) + ", " + _e(cause.get("layer")) + ", "
                   + _e(cause.get("confidence")) + " confidence)<br>" + _cause_line(cause)
                   + "</div>")
    else:
        out.append("<div class=\"cause\" id=\"cause\">No cause: nothing slowed or failed the "
                   "requests.</div>")
    for c in o.get("contributing") or []:
        out.append(f"<p class=\"note\">Contributing: <b>{_e(c['code'])}</b> "
                   f"({_e(c.get('confidence'))}): {_cause_line(c)}</p>")
    out.append(f"<p>{_e(o.get('summary', ''))}</p>")
    return "".join(out)


def _cause_line(c: Mapping) -> str:
    parts = []
    if c.get("phases"):
        parts.append("phases " + ", ".join(f.PHASE_LABELS.get(p, p) for p in c["phases"]))
    if c.get("samples"):
        parts.append("samples " + ", ".join(str(s) for s in c["samples"]))
    if c.get("observed_ms") is not None:
        parts.append(f"observed {c['observed_ms']:.3f} ms"
                     + (f" against about {c['expected_ms']:.3f} ms expected"
                        if c.get("expected_ms") is not None else ""))
    if c.get("because"):
        parts.append("explains " + ", ".join(c["because"]))
    return _e("; ".join(parts))


def _headline(report: Mapping) -> str:
    rows = "".join(f"<tr><td>{_e(layer)}</td><td>{_e(comp)}</td>"
                   f"<td class=\"{GRADE_CLASS.get(q, 'unk')}\">{_e(q.upper())}</td>"
                   f"<td>{'<br>'.join(_e(x) for x in lines) or '—'}</td></tr>"
                   for layer, comp, q, lines in f.layer_rows(report))
    return ("<h2 id=\"layers\">Network stack</h2><table><tr><th>Layer</th><th>Component</th>"
            f"<th>Quality</th><th>Key metrics</th></tr>{rows}</table>")


def _anchor(finding: Mapping, report: Mapping, cs: CaptureSeries | None,
            graphs: set[str]) -> str:
    """The graph that shows a finding best, among those drawn."""
    ev = finding.get("evidence") or {}
    source = ev.get("source")
    wanted = []
    if source == "capture" and cs is not None:
        streams = [cs.frame_stream[x] for x in ev.get("frames") or [] if x in cs.frame_stream]
        wanted += [f"conn-{s}" for s in dict.fromkeys(streams)]
        for s in report.get("samples") or []:
            if (s.get("match") or {}).get("stream") in streams:
                wanted.append(f"sample-{s['index']}")
        wanted.append("rtt")
    elif source == "mtr":
        wanted.append("path")
    elif source == "ping":
        wanted.append("rtt")
    samples = ([finding["sample"]] if finding.get("sample") else []) + list(
        (finding.get("numbers") or {}).get("samples_over") or [])
    wanted += [f"sample-{n}" for n in samples] + ["rtt", "path"]
    wanted += sorted(graphs)
    return next((w for w in wanted if w in graphs), "layers")


def _frames_html(ev: Mapping) -> str:
    frames = ev.get("frames") or []
    if not frames:
        return _e(f.evidence_text(ev))
    text = _e(f.evidence_text(ev))
    if len(frames) <= f.FOLD_FRAMES:
        return text
    return (f"{text}<details><summary>all {len(frames):,} frames</summary><code>"
            + _e(", ".join(str(x) for x in frames)) + "</code></details>")


def _findings(report: Mapping, cs: CaptureSeries | None, graphs: set[str]) -> str:
    found = f.findings_sorted(report)
    out = [f"<h2 id=\"findings\">Findings ({len(found)})</h2>"]
    if not found:
        out.append("<p>No findings: nothing to report at any layer.</p>")
    for i, x in enumerate(found, 1):
        ev = x.get("evidence") or {}
        anchor = _anchor(x, report, cs, graphs)
        flt = ev.get("display_filter")
        out.append(
            f"<div class=\"finding {_e(x['severity'])}\" id=\"finding-{i}\">"
            f"<p><b>{_e(x['severity'].upper())} {_e(x['code'])}</b> [{_e('→'.join(x['layers']))}] "
            f"{_e(x['message'])} <a href=\"#{_e(anchor)}\" class=\"graph-link\">graph</a></p>"
            + (f"<p>Filter: <code class=\"filter\">{_e(flt)}</code></p>" if flt else
               f"<p>Filter: none (the evidence is in the {_e(ev.get('source', '?'))} input)</p>")
            + f"<p class=\"note\">Evidence: {_frames_html(ev)}</p>"
            + f"<p class=\"note\">Action: {_e(x['action'])}</p></div>")
    return "".join(out)


# ----------------------------------------------------------------------------------------
# Waterfalls
# ----------------------------------------------------------------------------------------

def _sample_zero_ns(s: Mapping) -> int | None:
    start = ((s.get("phases") or {}).get("dns") or {}).get("capture_start_epoch_s")
    return None if start is None else round(start * 1e9)


def _waterfalls(report: Mapping, sources: Sources | None, graphs: set[str]) -> str:
    samples = report.get("samples") or []
    if not samples:
        return ""
    out = ["<h2 id=\"waterfalls\">Waterfall per sample</h2><p class=\"note\">Milliseconds since "
           "curl started; TCP trouble events marked at their frame's time; a failure marked "
           "where the sample ended.</p>"]
    table = None if sources is None else sources.table
    shown = _samples_shown(report)
    if len(shown) < len(samples):
        out.append(_overview(samples, graphs))
        out.append(f"<p class=\"note\">{len(shown)} of {len(samples):,} samples drawn one by "
                   "one: the failed ones, those the cause or a contributing cause names, then "
                   "the slowest. Every sample is in the overview above, the JSON and the "
                   "HAR.</p>")
    for s in (x for x in samples if x.get("index") in shown):
        spans = f.waterfall(s)
        head = f"<h3>{_e(f.sample_title(s))}</h3>"
        if not spans and not s.get("failure"):
            out.append(head + "<p class=\"note\">No measured phase.</p>")
            continue
        cid = f"sample-{s['index']}"
        graphs.add(cid)
        out.append(head + _waterfall_chart(s, spans, table, cid))
    return "".join(out)


def _samples_shown(report: Mapping) -> set:
    """The samples drawn one by one: all of them up to WATERFALLS_DRAWN, else the failed,
    those a cause names, then the slowest."""
    samples = report.get("samples") or []
    if len(samples) <= WATERFALLS_DRAWN:
        return {s.get("index") for s in samples}
    o = report.get("overall") or {}
    named = [n for c in [o.get("cause") or {}] + list(o.get("contributing") or [])
             for n in c.get("samples") or []]
    ranked = ([s["index"] for s in samples if not s.get("ok", True)] + named
              + [s["index"] for s in sorted(samples, key=lambda s: -(s.get("total_ms") or 0))])
    return set(list(dict.fromkeys(ranked))[:WATERFALLS_DRAWN])


def _overview(samples: list, graphs: set[str]) -> str:
    """Each phase's duration against the sample number: every sample, one chart."""
    series = []
    for pid in f.PHASE_IDS:
        pts = [(s["index"], ((s.get("phases") or {}).get(pid) or {}).get("duration_ms"))
               for s in samples]
        pts = [(a, b) for a, b in pts if b is not None]
        got = _thinned(f.PHASE_SHORT[pid], ([a for a, _ in pts], [b for _, b in pts]),
                       "points", PHASE_COLOR[pid])
        if got is not None:
            series.append(got)
    if not series:
        return ""
    graphs.add("samples-overview")
    return chart(series, chart_id="samples-overview", title="Phase durations, every sample",
                 x_label="sample", y_label="ms", height=260)


def _waterfall_chart(s: Mapping, spans, table, cid: str) -> str:
    rows = [sp.id for sp in spans]
    failure = s.get("failure") or None
    failed_phase = (failure or {}).get("phase") or s.get("failed_phase")
    if failed_phase and failed_phase not in rows:
        rows.append(failed_phase)
    names = [f.PHASE_SHORT.get(r, r) for r in rows]
    series = []
    for sp in spans:
        i = rows.index(sp.id)
        series.append(Series(f.PHASE_SHORT[sp.id] + (" (failed)" if sp.failed else ""),
                             [sp.start_ms], [i], "spans",
                             "pink" if sp.failed else PHASE_COLOR[sp.id], x2=[sp.end_ms],
                             labels=[f"{sp.end_ms - sp.start_ms:.3f} ms"]))
    zero = _sample_zero_ns(s)
    marks_x, marks_y, marks_l = [], [], []
    if table is not None and zero is not None:
        for pid in rows:
            bucket = ((s.get("phases") or {}).get(pid) or {}).get("tcp") or {}
            for kind, frames in (bucket.get("event_frames") or {}).items():
                for frame, at in zip(frames, frame_times_ms(table, frames, zero)):
                    if at is not None:
                        marks_x.append(at)
                        marks_y.append(rows.index(pid))
                        marks_l.append(f"{kind.replace('_', ' ')}: frame {frame} at {at:.3f} ms")
    if marks_x:
        series.append(Series("TCP events", marks_x, marks_y, "marks", "red", labels=marks_l,
                             symbol="tri"))
    if failed_phase:
        end = max([sp.end_ms for sp in spans] or [s.get("total_ms") or 0.0])
        at = end
        frames = (failure or {}).get("frames") or []
        if table is not None and zero is not None and frames:
            times = [x for x in frame_times_ms(table, frames[-1:], zero) if x is not None]
            at = times[0] if times else end
        why = (failure or {}).get("reason") or s.get("error") or "failed"
        series.append(Series(f"failed in {failed_phase}", [at], [rows.index(failed_phase)],
                             "marks", "red", labels=[f"failed: {why} at {at:.3f} ms"],
                             symbol="x"))
    total = max([sp.end_ms for sp in spans] + [x for x in marks_x] + [1e-3])
    return chart(series, chart_id=cid, title=f"Sample {s['index']}: "
                 f"{total:.3f} ms", x_label="ms since curl started", y_label="",
                 height=60 + 26 * len(rows), x_range=(0.0, total * 1.12),
                 y_categories=names)


# ----------------------------------------------------------------------------------------
# RTT over time and throughput
# ----------------------------------------------------------------------------------------

def _thinned(name: str, xy: tuple, kind: str, color: str, **kw) -> Series | None:
    if not xy or not len(xy[0]):
        return None
    x, y = thin(xy[0], xy[1], DRAWN_POINTS)
    return Series(name, x, y, kind, color, total=len(xy[0]), **kw)


# A few RTTs far above the rest (a delayed ACK, a retransmission's ACK) would flatten
# every other point to the axis: above this many times the 99th percentile they are drawn
# at the top edge, marked, each with its value.
CLIP_FACTOR = 4.0


def _clip(series: list[Series]) -> tuple[tuple[float, float] | None, list[Series]]:
    values = sorted(v for s in series for v in s.y)
    if len(values) < 20:
        return None, []
    p99 = values[int(0.99 * (len(values) - 1))]
    if p99 <= 0 or values[-1] <= CLIP_FACTOR * p99:
        return None, []
    top = p99 * 1.5
    xs, labels = [], []
    for s in series:
        for x, y in zip(s.x, s.y):
            if y > top:
                xs.append(x)
                labels.append(f"{s.name}: {y:.3f} ms at {x:.3f} s (above the axis)")
    return (0.0, top), [Series(f"above {top:.3g} ms", xs, [top * 0.98] * len(xs), "marks",
                               "black", labels=labels, symbol="tri")]


def _rtt(report: Mapping, cs: CaptureSeries | None, graphs: set[str], attached: bool) -> str:
    if cs is None:
        why = ("no capture and no ping were given" if attached else
               "the report has no capture attached (a report read back from JSON)")
        return (f"<h2 id=\"rtt-section\">RTT over time</h2><p class=\"note\">Not drawn: "
                f"{why}.</p>")
    series = [s for s in (
        _thinned("TCP ACK RTT", cs.ack_rtt, "points", "grey"),
        _thinned("ICMP echo (capture)", cs.icmp_rtt, "points", "blue"),
        _thinned("ping", cs.ping_rtt, "points", "green"),
        _thinned("TCP handshake (iRTT)", cs.handshake_rtt, "marks", "red", symbol="diamond"),
    ) if s is not None]
    out = ["<h2 id=\"rtt-section\">RTT over time, throughput underneath</h2><p class=\"note\">"
           "Latency under load at a glance: RTT rising while the throughput below is high is "
           "queueing.</p>"]
    x_range = (0.0, max(cs.span_s, 1e-3))
    x_label = ("s since the capture's first frame" if cs.throughput
               else "s since the first ping reply")
    if series:
        graphs.add("rtt")
        y_range, above = _clip(series)
        out.append(chart(series + above, chart_id="rtt", title="Round-trip time", y_label="ms",
                         x_label=x_label, x_range=x_range, y_range=y_range))
    elif not cs.ping_by_seq:
        out.append("<p class=\"note\">No RTT sample in the capture.</p>")
    tput = _thinned("all frames", cs.throughput, "step", "blue")
    if tput is not None:
        graphs.add("throughput")
        out.append(chart([tput], chart_id="throughput", title="Capture throughput",
                         y_label="Mbit/s", x_label="s since the capture's first frame",
                         x_range=x_range, height=180))
    if cs.ping_by_seq and cs.ping_by_seq[0]:
        graphs.add("ping")
        out.append(chart([Series("ping RTT", cs.ping_by_seq[0], cs.ping_by_seq[1], "points",
                                 "green")], chart_id="ping",
                         title="ping (no timestamps: by icmp_seq)", x_label="icmp_seq",
                         y_label="ms", height=180))
    return "".join(out)


# ----------------------------------------------------------------------------------------
# Connections
# ----------------------------------------------------------------------------------------

def _connections(cs: CaptureSeries | None, graphs: set[str]) -> str:
    if cs is None or not cs.connections:
        return ""
    out = ["<h2 id=\"connections\">Connections worth a look</h2><p class=\"note\">"
           "Time-sequence (Stevens/tcptrace): the data's sequence numbers against time, the "
           "ACK line and the receive window's edge above it; retransmissions, duplicate ACKs, "
           "SACK blocks and zero windows marked.</p>"]
    for c in cs.connections:
        cid = f"conn-{c.stream}"
        graphs.add(cid)
        sack_t, sack_l, sack_r = c.sack if c.sack and len(c.sack) == 3 else ((), (), ())
        series = [s for s in (
            _thinned(f"data ({c.data_side} → peer), segment end", c.seq, "points", "blue"),
            _thinned("ACK", c.ack, "step", "green"),
            _thinned("receive window edge", c.window, "step", "olive"),
            _thinned("retransmission", c.retrans, "marks", "red", symbol="x"),
            _thinned("dup ACK", c.dup_acks, "marks", "orange", symbol="tri"),
            _thinned("zero window", c.zero_windows, "marks", "purple", symbol="diamond"),
        ) if s is not None]
        if sack_t:
            series.append(Series("SACK block", list(sack_t), list(sack_l), "marks", "teal",
                                 labels=[f"SACK {a}..{b}" for a, b in zip(sack_l, sack_r)],
                                 symbol="dot"))
        out.append(f"<h3>{_e(c.title)}</h3><p class=\"note\">{_e(c.why)}; filter "
                   f"<code>tcp.stream == {c.stream}</code></p>")
        out.append(chart(series, chart_id=cid, title=f"Time-sequence, tcp.stream {c.stream}",
                         x_label="s since the capture's first frame",
                         y_label="relative sequence number", height=300))
        tput = _thinned("throughput", c.throughput, "step", "blue")
        if tput is not None:
            graphs.add(f"{cid}-tput")
            out.append(chart([tput], chart_id=f"{cid}-tput", x_label="s since the capture's "
                             "first frame", y_label="Mbit/s", height=160,
                             title=f"Throughput of the data, tcp.stream {c.stream}"))
        win = _thinned("advertised window", c.advertised, "step", "olive")
        if win is not None:
            graphs.add(f"{cid}-win")
            out.append(chart([win], chart_id=f"{cid}-win", x_label="s since the capture's "
                             "first frame", y_label="bytes", height=160,
                             title=f"Receive window of the data's receiver, tcp.stream "
                                   f"{c.stream}"))
    return "".join(out)


# ----------------------------------------------------------------------------------------
# Path
# ----------------------------------------------------------------------------------------

def _path(report: Mapping, graphs: set[str]) -> str:
    rows = f.hop_rows(report)
    if not rows:
        return ""
    hops = ((report.get("path") or {}).get("mtr") or {}).get("hops") or []
    ttl = [h["ttl"] for h in hops]
    lat = [(h["ttl"], h.get("avg_ms")) for h in hops if h.get("avg_ms") is not None]
    best = [(h["ttl"], h.get("best_ms")) for h in hops if h.get("best_ms") is not None]
    worst = [(h["ttl"], h.get("worst_ms")) for h in hops if h.get("worst_ms") is not None]
    series = [Series(name, [a for a, _ in pts], [b for _, b in pts], kind, color)
              for name, pts, kind, color in (("avg", lat, "line", "blue"),
                                             ("best", best, "points", "green"),
                                             ("worst", worst, "points", "red")) if pts]
    out = ["<h2 id=\"path-section\">Path (mtr): latency and loss per hop</h2>"]
    if series:
        graphs.add("path")
        out.append(chart(series, chart_id="path", title="Latency per hop", x_label="hop (TTL)",
                         y_label="ms", height=200,
                         x_range=(min(ttl) - 0.5, max(ttl) + 0.5)))
    loss = [(h["ttl"], h.get("loss_pct") or 0.0) for h in hops if h.get("loss_pct") is not None]
    if loss:
        graphs.add("path-loss")
        out.append(chart([Series("loss %", [a for a, _ in loss], [b for _, b in loss], "bars",
                                 "red")], chart_id="path-loss", title="Loss per hop",
                         x_label="hop (TTL)", y_label="%", height=160,
                         x_range=(min(ttl) - 0.5, max(ttl) + 0.5),
                         y_range=(0.0, max(5.0, max(b for _, b in loss)))))
    cells = "".join(
        f"<tr><td>{r['ttl']}</td><td>{_e(r['host'])}</td><td>{_e(r['loss'])}</td>"
        f"<td>{_e(r['avg'])}</td><td>{_e(r['best'])}</td><td>{_e(r['worst'])}</td>"
        f"<td class=\"{'bad' if 'path_loss' in r['verdicts'] else 'ok'}\">{_e(r['verdict'])}"
        + (f" — {_e(r['detail'])}" if r["detail"] else "") + "</td></tr>" for r in rows)
    out.append("<table><tr><th>Hop</th><th>Host</th><th>Loss</th><th>Avg ms</th><th>Best ms"
               f"</th><th>Worst ms</th><th>Verdict</th></tr>{cells}</table>")
    return "".join(out)
