"""What the Markdown and terminal reports say, worded once.

Both renderers lay out the same facts; this module turns the report mapping (as
pipeline.analyze builds it, or as read back from its JSON) into short texts and rows.
Nothing here computes analysis: every figure is read from the report. Layout (tables,
colours, widths) stays in markdown.py and terminal.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..vocab import PHASE_IDS, PHASE_LABELS, PHASE_SHORT, TROUBLE_EVENTS
from ..vocab import SEVERITIES_WORST_FIRST as SEVERITIES

__all__ = [
    "PHASE_IDS", "PHASE_LABELS", "PHASE_SHORT", "SEVERITIES", "LAYERS",
    "ms", "num", "pct", "count", "findings_sorted", "layer_rows", "event_parts",
    "trouble", "correlation_tree", "hop_rows", "missing_inputs", "sample_title",
    "sample_connection", "evidence_text", "waterfall", "PhaseSpan", "title_line",
    "phase_rows", "HOP_VERDICTS", "SAMPLES_SOURCE", "FOLD_FRAMES", "folded_frames",
    "failure_text", "axis_ticks", "ms_axis", "bar",
]

LAYERS = (("l3", "L3", "Network (ICMP, path)"), ("l4", "L4", "Transport (TCP)"),
          ("l7", "L7", "Application (HTTP)"))

# Event kinds of a phase bucket, in the order they are told. Fast and spurious
# retransmissions are kinds of retransmission (already counted in it), so they only
# qualify it; window_full is a sender using its window, told but never marked as trouble.
EVENT_LABELS = (("retransmissions", "retrans"), ("dup_acks", "dup ACK"),
                ("out_of_order", "out-of-order"), ("lost_segments", "lost segment"),
                ("zero_windows", "zero window"), ("window_full", "window full"))


# ----------------------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------------------

def ms(value, digits: int = 2, unit: bool = True) -> str:
    """A duration in milliseconds; an em dash when the report has none (null)."""
    if value is None:
        return "—"
    return f"{value:.{digits}f} ms" if unit else f"{value:.{digits}f}"


def num(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or digits == 0:
        return f"{int(round(value)):,}"
    return f"{value:,.{digits}f}"


def pct(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}%"


def count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


# ----------------------------------------------------------------------------------------
# Overall, layers
# ----------------------------------------------------------------------------------------

def title_line(report: Mapping) -> str:
    """What the run was: scenario and target from the manifest, else the input names."""
    inputs = report.get("inputs") or {}
    manifest = inputs.get("manifest") or {}
    parts = [manifest[k] for k in ("scenario", "target", "hostname") if manifest.get(k)]
    if not parts:
        parts = [f["name"] for k, f in inputs.items()
                 if isinstance(f, Mapping) and f.get("name") and k != "capture_summary"]
    return ", ".join(str(p) for p in parts) or "run"


def findings_sorted(report: Mapping) -> list[Mapping]:
    """Most severe first; the report's order is kept within a severity (stable sort)."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(report.get("findings") or [], key=lambda f: order.get(f["severity"], 9))


def _l3_lines(m: Mapping) -> list[str]:
    lines = []
    if m.get("rtt_avg_ms") is not None:
        line = f"Latency {ms(m['rtt_avg_ms'])} avg ({m.get('rtt_source') or '?'})"
        if m.get("jitter_ms") is not None:
            line += f", jitter {ms(m['jitter_ms'])}"
        lines.append(line)
    if m.get("loss_pct") is not None:
        sources = ", ".join(m.get("loss_sources") or [])
        lines.append(f"Loss {m['loss_pct']:g}% of {m.get('probes_sent')} probes ({sources})")
    path = m.get("path")
    if path:
        text = f"Path: {count(path['hop_count'], 'hop')}"
        if path.get("path_loss_from_ttl") is not None:
            text += f", loss from hop {path['path_loss_from_ttl']} on"
        if path.get("latency_step_ttl") is not None:
            text += f", latency step at hop {path['latency_step_ttl']}"
        if path.get("destination_reached") is False:
            text += ", target not reached"
        lines.append(text)
    return lines


def _l4_lines(m: Mapping) -> list[str]:
    """The L4 assessment's headline figures; any it lacks are left out (all are in the JSON)."""
    def has(*keys):
        return all(isinstance(m.get(k), (int, float)) and not isinstance(m.get(k), bool)
                   for k in keys)

    lines = []
    if has("retransmission_rate_pct"):
        line = f"Retrans {m['retransmission_rate_pct']:.2f}%"
        if has("repaired_segments", "data_segments"):
            # the rate's own numerator: data segments that repaired loss; SYN retries and
            # needless copies are counted apart, never in the rate
            line += f" ({m['repaired_segments']} of {m['data_segments']} data segments)"
            extra = [f"{m[k]} {label}" for k, label in (("syn_retries", "SYN retries"),
                                                         ("spurious_copies", "needless"))
                     if has(k) and m[k]]
            line += f"; {', '.join(extra)} apart" if extra else ""
        lines.append(line)
    if has("packets"):
        lines.append(f"Packets {m['packets']:,}"
                     + (f" in {count(m['streams'], 'connection')}" if has("streams") else ""))
    events = [f"{label} {m[k]}" for k, label in (("dup_acks", "DupACK"), ("out_of_order", "OOO"),
                                                 ("lost_segments", "lost"),
                                                 ("zero_windows", "zero window"),
                                                 ("syn_retries", "SYN retries"),
                                                 ("resets", "resets")) if has(k)]
    if events:
        lines.append(", ".join(events))
    if has("irtt_median_ms"):
        lines.append(f"Handshake iRTT {ms(m['irtt_median_ms'])} median")
    return lines


def _l7_lines(m: Mapping) -> list[str]:
    if not m.get("samples"):
        return []
    lines = [f"{count(m['samples'], 'sample')}, {m.get('failed', 0)} failed; "
             f"TTFB {ms(m.get('ttfb_median_ms'), 1)} median, total {ms(m.get('total_median_ms'), 1)}"]
    shares = [f"{PHASE_SHORT[pid]} {p['mean_share_pct']:.0f}%"
              for pid, p in (m.get("phases") or {}).items()
              if p.get("mean_share_pct") is not None and p["mean_share_pct"] >= 0.5]
    if shares:
        lines.append(", ".join(shares))
    codes = m.get("response_codes") or {}
    versions = m.get("http_versions") or []
    if codes or versions:
        lines.append(" ".join([f"HTTP/{v}" for v in versions]
                              + [f"{c}×{n}" for c, n in codes.items()]))
    return lines


def layer_rows(report: Mapping) -> list[tuple[str, str, str, list[str]]]:
    """(layer, component, quality, key-metric lines) per layer, as in the seed's table."""
    rows = []
    layered = report.get("layered_analysis") or {}
    for key, layer, component in LAYERS:
        entry = layered.get(key) or {"quality": "unknown", "metrics": {}}
        m = entry.get("metrics") or {}
        lines = {"l3": _l3_lines, "l4": _l4_lines, "l7": _l7_lines}[key](m)
        if entry["quality"] == "unknown" and not lines:
            lines = [f"not assessed: {m.get('reason') or _UNKNOWN_WHY[key]}"]
        rows.append((layer, component, entry["quality"], lines))
    return rows


_UNKNOWN_WHY = {"l3": "no ping, mtr or ICMP echoes in the capture", "l4": "no capture",
                "l7": "no curl timings"}


# ----------------------------------------------------------------------------------------
# TCP events in phases
# ----------------------------------------------------------------------------------------

def event_parts(bucket: Mapping | None) -> list[str]:
    """'1 retrans (1 fast)', '2 dup ACK', ... for the event counts of a bucket or an
    aggregate; empty when nothing happened."""
    if not bucket:
        return []
    parts = []
    for key, label in EVENT_LABELS:
        n = bucket.get(key) or 0
        if not n:
            continue
        text = f"{n} {label}"
        if key == "retransmissions":
            kinds = [f"{bucket[k]} {w}" for k, w in (("fast_retransmissions", "fast"),
                                                    ("spurious_retransmissions", "spurious"))
                     if bucket.get(k)]
            if kinds:
                text += f" ({', '.join(kinds)})"
        parts.append(text)
    return parts


def trouble(bucket: Mapping | None) -> int:
    """Events that are evidence of trouble in a phase (what marks it in a waterfall)."""
    return 0 if not bucket else sum(bucket.get(k) or 0 for k in TROUBLE_EVENTS)


def phase_rows(report: Mapping) -> list[dict]:
    """The 'TCP events during HTTP phases' table: one row per phase id."""
    thc = report.get("tcp_http_correlation") or {}
    rows = []
    for pid in PHASE_IDS:
        e = thc.get(pid)
        if e is None:
            continue
        d = {k.removesuffix("_ms"): v for k, v in (e.get("duration") or {}).items()}
        placed = e.get("samples_with_packets", 0) > 0
        rows.append({
            "phase": PHASE_LABELS[pid], "id": pid,
            "measured": e.get("samples_measured", 0),
            "median": ms(d.get("median"), 2, unit=False),
            "range": "—" if d.get("min") is None else f"{d['min']:.2f}–{d['max']:.2f}",
            "packets": num(e["packets"]) if placed else "—",
            "bytes": f"{num(e['bytes_s2c'])} / {num(e['bytes_c2s'])}" if placed else "—",
            "retrans": str(e["retransmissions"]) if placed else "—",
            "events": (", ".join(p for p in event_parts(e) if "retrans" not in p) or "none")
            if placed else "—",
            "rate": pct(e.get("retransmission_rate_pct"), 2) if placed else "—",
            "trouble": trouble(e) if placed else 0,
        })
    return rows


# ----------------------------------------------------------------------------------------
# Cross-layer correlations
# ----------------------------------------------------------------------------------------

_L3_L4 = {
    "path_causes_tcp": "the path is degraded and its loss or delay explains the TCP trouble",
    "endpoint_tcp": "TCP is degraded despite a clean path: look at the endpoints or a middlebox",
    "tcp_healthy": "no path issue reaches TCP: the TCP sessions are healthy",
    "tcp_degraded": "TCP is degraded; no cross-layer finding ties it to the path",
    "unknown": "not assessed: needs the path (ping, mtr or ICMP in the capture) and a capture",
}
_L4_L7 = {
    "tcp_events_inflated_phases": "TCP events made HTTP phases longer",
    "application_slow": "slow HTTP phases had no TCP trouble: the application is slow",
    "no_tcp_impact": "no HTTP phase was slowed by TCP events",
    "unknown": "not assessed: needs curl timings placed on a capture",
}
_L3_L7 = {
    "bufferbloat": "latency grows under load (bufferbloat)",
    "no_bufferbloat_seen": "no latency growth under load seen",
    "unknown": "not assessed: needs ping under load or ICMP echoes in the capture",
}
_HANDSHAKE = {
    "consistent": "consistent: the network path explains the handshake time",
    "endpoint_slower": "the handshake is slower than the path: the server (SYN queue, "
                       "accept) or a middlebox adds time",
    "explained_by_syn_retry": "SYN retries explain it (curl's connect includes the "
                              "retransmission timeout)",
}


def _said(table: dict, verdict: str | None) -> str:
    return table.get(verdict or "unknown", (verdict or "unknown").replace("_", " "))


def _branch(lines: list[str], children: list[str], last: bool) -> None:
    """Append children under the current branch with the right tree guides."""
    lead = "    " if last else "│   "
    for i, child in enumerate(children):
        lines.append(lead + ("└── " if i == len(children) - 1 else "├── ") + child)


def correlation_tree(report: Mapping) -> list[str]:
    """The seed's cross-layer tree, as plain text lines (box-drawing guides)."""
    corr = report.get("correlations") or {}
    mtc = report.get("mtr_tcp_correlation")
    thc = report.get("tcp_http_correlation") or {}
    overall = report.get("overall") or {}
    branches: list[tuple[str, list[str]]] = []

    l34 = corr.get("l3_l4") or {}
    branches.append((f"L3 → L4 (path affects TCP?): {l34.get('verdict', 'unknown')}",
                     [f"{_said(_L3_L4, l34.get('verdict'))} (L3 {l34.get('l3', 'unknown')}, "
                      f"L4 {l34.get('l4', 'unknown')})"]))

    if mtc:
        # mtr's RTT is already a round trip: it is compared as is, never doubled.
        kids = [f"path RTT {ms(mtc['path_rtt_ms'])} ({mtc['path_source']}, best round trip"
                + (f"; avg {ms(mtc['path_avg_ms'])}" if mtc.get("path_avg_ms") is not None else "")
                + ")",
                f"handshake RTT {ms(mtc['handshake_rtt_ms'])} (median iRTT of "
                f"{count(len(mtc.get('samples') or []), 'connection')})"
                + (f"; {'curl' if report.get('samples_source') == 'timings' else 'wire'} "
                   f"connect {ms(mtc['curl_connect_median_ms'])}"
                   if mtc.get("curl_connect_median_ms") is not None else ""),
                f"difference {mtc['difference_ms']:+.2f} ms"
                + (f" ({mtc['difference_pct']:+.1f}%)" if mtc.get("difference_pct") is not None else "")
                + f": {_said(_HANDSHAKE, mtc.get('verdict'))}"]
        if mtc.get("syn_retries"):
            kids.append(count(mtc["syn_retries"], "SYN retry", "SYN retries"))
        branches.append((f"Path RTT vs TCP handshake: {mtc.get('verdict')}", kids))
    else:
        branches.append(("Path RTT vs TCP handshake: unknown",
                         ["not assessed: needs a path RTT (mtr, ping or ICMP echoes) and "
                          "handshakes of the samples in a capture"]))

    l47 = corr.get("l4_l7") or {}
    kids = [_said(_L4_L7, l47.get("verdict"))
            + (": " + ", ".join(PHASE_LABELS.get(p, str(p)) for p in l47["inflated_phases"])
               if l47.get("inflated_phases") else "")]
    if l47.get("slow_phases_without_tcp_events"):
        kids.append("slow without TCP events: " + ", ".join(
            PHASE_LABELS.get(p, str(p)) for p in l47["slow_phases_without_tcp_events"]))
    placed = any(e.get("samples_with_packets") for e in thc.values())
    if placed:
        retrans = [f"{PHASE_SHORT[pid]} {thc[pid]['retransmissions']}" for pid in PHASE_IDS
                   if pid in thc and thc[pid]["retransmissions"]]
        kids.append("retransmissions per HTTP phase: " + (", ".join(retrans) or "none"))
        packets = sum(e["packets"] for e in thc.values())
        moved = sum(e["bytes_c2s"] + e["bytes_s2c"] for e in thc.values())
        kids.append(f"{num(packets)} packets and {num(moved)} payload bytes inside the phases")
    branches.append((f"L4 → L7 (TCP affects HTTP?): {l47.get('verdict', 'unknown')}", kids))

    l37 = corr.get("l3_l7") or {}
    kids = [_said(_L3_L7, l37.get("verdict"))]
    if l37.get("added_latency_ms") is not None:
        kids[0] += f": +{ms(l37['added_latency_ms'], 1)} under load"
    branches.append((f"L3 → L7 (load affects latency?): {l37.get('verdict', 'unknown')}", kids))

    branches.append((f"End to end: {overall.get('grade', 'unknown')}",
                     [overall.get("summary") or ""]))

    lines = ["Cross-layer correlations"]
    for i, (head, kids) in enumerate(branches):
        last = i == len(branches) - 1
        lines.append(("└── " if last else "├── ") + head)
        _branch(lines, kids, last)
    return lines


# ----------------------------------------------------------------------------------------
# Findings
# ----------------------------------------------------------------------------------------

# A frame list longer than this is folded in the text reports (the JSON and the filter keep
# every frame): the first ones, an ellipsis, the last two.
FOLD_FRAMES = 20


def folded_frames(frames: list[int]) -> str:
    """'1, 2, 3, …, 98, 99 (95 more folded)' for a long list; all of a short one."""
    if len(frames) <= FOLD_FRAMES:
        return ", ".join(str(x) for x in frames)
    head, tail = frames[:FOLD_FRAMES - 4], frames[-2:]
    hidden = len(frames) - len(head) - len(tail)
    return (", ".join(str(x) for x in head) + ", …, " + ", ".join(str(x) for x in tail)
            + f" ({hidden} more folded)")


def evidence_text(evidence: Mapping) -> str:
    """Where the proof is: the frames (the first ones if there are many) or the input."""
    source = evidence.get("source", "?")
    if source == "capture":
        frames = evidence.get("frames") or []
        total = evidence.get("frame_count", len(frames))
        if not total:
            return "capture (no frames)"
        listed = folded_frames(frames)
        more = f" (first {len(frames)} of {total})" if total > len(frames) else ""
        text = f"{count(total, 'frame')} in the capture: {listed}{more}"
    else:
        text = {"mtr": "the mtr output", "ping": "the ping output",
                "timings": "the curl timings"}.get(source, source)
    if evidence.get("detail"):
        text += f"; {evidence['detail']}"
    return text


# ----------------------------------------------------------------------------------------
# MTR
# ----------------------------------------------------------------------------------------

HOP_VERDICTS = {
    "ok": "ok",
    "path_loss": "REAL PATH LOSS (carries on to the target)",
    "icmp_rate_limit": "ICMP rate limiting (not loss: later hops answer)",
    "silent": "silent hop (no ICMP replies; not loss)",
    "latency_step": "latency step (stays up to the target)",
    "slow_icmp_reply": "slow ICMP reply (router's own; traffic not delayed)",
}


def hop_rows(report: Mapping) -> list[dict]:
    """mtr's hops with the path assessment's verdict for each (ok when it has none)."""
    path = report.get("path") or {}
    hops = (path.get("mtr") or {}).get("hops") or []
    verdicts: dict[int, list[Mapping]] = {}
    for v in ((path.get("assessment") or {}).get("verdicts") or []):
        verdicts.setdefault(v["ttl"], []).append(v)
    rows = []
    for h in hops:
        found = verdicts.get(h["ttl"], [])
        if not found and h.get("silent"):
            found = [{"verdict": "silent", "detail": ""}]
        names = [v["verdict"] for v in found] or ["ok"]
        rows.append({
            "ttl": h["ttl"], "host": h.get("host") or "???",
            "loss": "—" if h.get("loss_pct") is None else f"{h['loss_pct']:g}%",
            "sent": num(h.get("sent")),
            "avg": ms(h.get("avg_ms"), 2, unit=False), "best": ms(h.get("best_ms"), 2, unit=False),
            "worst": ms(h.get("worst_ms"), 2, unit=False),
            "stdev": ms(h.get("stdev_ms"), 2, unit=False),
            "verdicts": names,
            "verdict": "; ".join(HOP_VERDICTS.get(n, n.replace("_", " ")) for n in names),
            "detail": "; ".join(v["detail"] for v in found if v.get("detail")),
        })
    return rows


# ----------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------

_MISSING = {
    "capture": "L4 not assessed, no TCP events per phase, no packet evidence",
    "timings": "L7 not assessed, no HTTP phases",
    "mtr": "no hop-by-hop path (real loss vs ICMP rate limiting)",
    "ping": "L3 latency and loss from mtr or the capture's ICMP only",
}


def missing_inputs(report: Mapping) -> list[tuple[str, str]]:
    """(input, what its absence costs) for each input the run did not have."""
    missing = (report.get("inputs") or {}).get("missing") or []
    out = []
    for name in missing:
        why = _MISSING.get(name, "")
        if name == "timings" and report.get("samples_source") == "wire":
            why = "HTTP phases cut at the capture's packets instead of curl's timers"
        out.append((name, why))
    return out


# ----------------------------------------------------------------------------------------
# Samples
# ----------------------------------------------------------------------------------------

def sample_title(s: Mapping) -> str:
    what = " ".join(x for x in (s.get("method"), s.get("url")) if x) or \
        f"{s.get('scheme') or 'connection'} to {s.get('remote_ip') or '?'}:{s.get('remote_port') or '?'}"
    head = f"Sample {s['index']}: {what}"
    if s.get("response_code"):
        head += f" → {s['response_code']}"
    if s.get("http_version") and s["http_version"] != "0":
        head += f" (HTTP/{s['http_version']})"
    if s.get("tls_version"):
        head += f", {s['tls_version']}"
    if not s.get("ok", True):
        fail = s.get("failure") or {}
        why = f"curl exit {s['exit_code']}" if s.get("exit_code") is not None else \
            fail.get("reason") or "no response"
        head += f", FAILED in {fail.get('phase') or s.get('failed_phase') or '?'} ({why})"
    return head


SAMPLES_SOURCE = {"timings": "curl timings (-w '%{json}')",
                  "wire": "the capture alone (no curl timings): one sample per TLS or HTTP "
                          "connection, phases cut at the packets",
                  "none": "none"}

_MATCH = {"local_port": "matched by local port and server address",
          "reused_connection": "reused the previous sample's connection",
          "wallclock": "matched by the wall-clock window around curl",
          "none": "not found in the capture"}


def sample_connection(s: Mapping) -> str | None:
    """How the sample was placed on the capture (None: there was no capture to match)."""
    m = s.get("match")
    if m is None:
        return None
    text = _MATCH.get(m["method"], m["method"])
    if m.get("stream") is not None:
        text = f"tcp.stream {m['stream']}, {text}"
    text += f"; phases anchored on {m['anchor']}" if m.get("anchor") != "none" else "; phases not placed"
    if m.get("clock_offset_ms") is not None:
        text += f" (capture clock {m['clock_offset_ms']:+.1f} ms from the collector's)"
    if m.get("extra_streams"):
        text += "; other connections in its window: " + ", ".join(str(x) for x in m["extra_streams"])
    return text


@dataclass(frozen=True)
class PhaseSpan:
    """One phase of a sample, on the sample's own clock (0 = curl started)."""

    id: str
    start_ms: float
    end_ms: float
    trouble: int           # trouble events in it (0 when none, or no capture)
    events: str            # '1 retrans, 1 dup ACK' or ''
    failed: bool = False   # the phase the transfer died in: from its start until curl gave up


def waterfall(s: Mapping) -> list[PhaseSpan]:
    """The measured phases of a sample, in order, with their TCP trouble (for the charts),
    and the phase a failed sample died in, up to when curl gave up."""
    spans = []
    for pid in PHASE_IDS:
        p = (s.get("phases") or {}).get(pid) or {}
        if p.get("status") != "measured" or p.get("start_ms") is None or p.get("duration_ms") is None:
            continue
        bucket = p.get("tcp")
        spans.append(PhaseSpan(pid, p["start_ms"], p["start_ms"] + p["duration_ms"],
                               trouble(bucket), ", ".join(event_parts(bucket))))
    failed = ((s.get("failure") or {}).get("phase") or s.get("failed_phase")
              if not s.get("ok", True) else None)
    if failed in PHASE_IDS and failed not in {sp.id for sp in spans}:
        start = spans[-1].end_ms if spans else 0.0
        end = max(start, s.get("total_ms") or start)
        bucket = ((s.get("phases") or {}).get(failed) or {}).get("tcp")
        spans.append(PhaseSpan(failed, start, end, trouble(bucket),
                               ", ".join(event_parts(bucket)), True))
    return spans


def failure_text(s: Mapping) -> str:
    """'failed in tcp: connection refused (by the server)', or '' for a sample that did not."""
    if s.get("ok", True):
        return ""
    fail = s.get("failure") or {}
    phase = fail.get("phase") or s.get("failed_phase") or "?"
    why = fail.get("reason") or (f"curl exit {s['exit_code']}" if s.get("exit_code") else "")
    by = f" (by the {fail['by']})" if fail.get("by") else ""
    return f"failed in {phase}" + (f": {why}{by}" if why else "")


# ----------------------------------------------------------------------------------------
# Text charts on a milliseconds axis (terminal and Markdown)
# ----------------------------------------------------------------------------------------

def axis_ticks(total_ms: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to total_ms (1, 2 or 5 times a power of ten)."""
    from .svg import nice_ticks

    return [t for t in nice_ticks(0.0, max(total_ms, 1e-3), count) if t <= total_ms + 1e-9]


def ms_axis(total_ms: float, width: int) -> str:
    """A ruler of ``width`` cells for 0..total_ms: tick labels at their cells, then 'ms'."""
    cells = [" "] * (width + 12)
    scale = width / total_ms if total_ms > 0 else 0.0
    free = 0
    for t in axis_ticks(total_ms, max(2, width // 10)):
        label = f"{t:g}"
        at = int(round(t * scale))
        if at < free or at + len(label) > width + 1:
            continue
        cells[at:at + len(label)] = list(label)
        free = at + len(label) + 1
    return ("".join(cells).rstrip() + " ms")


def bar(span: PhaseSpan, scale: float, width: int, fill: str = "█") -> str:
    """The cells of one phase on a row of ``width``: blank before, its fill, blank after;
    a phase too short for a cell still shows as one thin mark."""
    a = min(width, int(round(span.start_ms * scale)))
    b = min(width, int(round(span.end_ms * scale)))
    n = b - a
    body = fill * n if n > 0 else "▏"
    return (" " * a + body).ljust(width)[:width]