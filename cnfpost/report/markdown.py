"""The Markdown report: every view of the seed's "Example Output", and the evidence.

Deterministic: the text depends only on the report mapping (no clock, no locale, no
environment), so the same report gives the same bytes and golden files can diff it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from . import _format as f

__all__ = ["markdown"]

SEVERITY_MARK = {"critical": "🔴 CRITICAL", "warning": "🟠 WARNING", "info": "🔵 INFO"}
GRADE_MARK = {"excellent": "🟢", "good": "🟢", "fair": "🟡", "poor": "🔴", "unknown": "⚪"}
HOP_MARK = {"ok": "", "path_loss": "🔴 ", "icmp_rate_limit": "🔵 ", "silent": "⚪ ",
            "latency_step": "🟡 ", "slow_icmp_reply": "🔵 "}

_ESCAPE = re.compile(r"([\\`*_\[\]<>|#])")


def text(value) -> str:
    """Plain text safe in Markdown: a redacted URL's '<redacted>' would otherwise vanish
    as an HTML tag, and a '|' would split a table cell."""
    return _ESCAPE.sub(r"\\\1", str(value)).replace("\n", " ")


def code(value) -> str:
    """An inline code span that survives backticks inside it (CommonMark: a longer fence)."""
    s = str(value).replace("\n", " ")
    runs = [len(r) for r in re.findall(r"`+", s)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    """A GitHub table; cells must already be escaped. align: one of l/r per column."""
    align = align or "l" * len(header)
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    # GitHub splits cells at a '|' even inside a code span; text() escaped the others.
    out += ["| " + " | ".join(c.replace("|", "\\|") if "`" in c else c for c in row) + " |"
            for row in rows]
    return out


def _overall(report: Mapping) -> list[str]:
    o = report.get("overall") or {}
    grade = o.get("grade", "unknown")
    grades = o.get("grades") or {}
    by = o.get("findings_by_severity") or {}
    lines = [f"**Overall: {GRADE_MARK.get(grade, '')} {grade.upper()}** — "
             + " · ".join(f"{k.upper()} {v}" for k, v in grades.items()),
             "",
             f"> {text(o.get('summary', ''))}",
             "",
             "Findings: " + ", ".join(f"{by.get(s, 0)} {s}" for s in f.SEVERITIES)]
    return lines


def _layers(report: Mapping) -> list[str]:
    rows = [[layer, component, f"{GRADE_MARK.get(q, '')} {q.upper()}",
             "<br>".join(text(line) for line in lines) or "—"]
            for layer, component, q, lines in f.layer_rows(report)]
    return ["## Network stack analysis", ""] + table(
        ["Layer", "Component", "Quality", "Key metrics"], rows)


def _phases(report: Mapping) -> list[str]:
    out = ["## TCP events during HTTP phases", ""]
    rows = f.phase_rows(report)
    if not rows:
        return out + ["No curl timings: there are no HTTP phases to put TCP events in."]
    if all(r["packets"] == "—" for r in rows):
        out += ["The samples could not be placed on a capture (none given, or no "
                "connection matched): durations only.", ""]
    out += table(["HTTP phase", "Samples", "Duration median (ms)", "Min–max (ms)", "Packets",
                  "Bytes ↓ / ↑", "Retransmissions", "Other TCP events", "Retrans rate"],
                 [[("**" + r["phase"] + "** ⚠️") if r["trouble"] else r["phase"],
                   str(r["measured"]), r["median"], r["range"], r["packets"], r["bytes"],
                   r["retrans"], text(r["events"]), r["rate"]] for r in rows],
                 "llrrrrrlr")
    return out


def _correlations(report: Mapping) -> list[str]:
    return ["## Cross-layer correlations", "", "```text", *f.correlation_tree(report), "```"]


def _findings(report: Mapping) -> list[str]:
    out = ["## Insights", ""]
    found = f.findings_sorted(report)
    if not found:
        return out + ["✅ No findings: nothing to report at any layer."]
    for i, x in enumerate(found, 1):
        ev = x.get("evidence") or {}
        out.append(f"### {i}. {SEVERITY_MARK.get(x['severity'], x['severity'])} "
                   f"[{'→'.join(x['layers'])}] {code(x['code'])}")
        out += ["", text(x["message"]) + (f" (sample {x['sample']})" if x.get("sample") else ""),
                "", f"- **Evidence:** {text(f.evidence_text(ev))}"]
        if ev.get("display_filter"):
            out.append(f"- **Wireshark display filter:** {code(ev['display_filter'])}")
        else:
            out.append(f"- **Wireshark display filter:** none (the evidence is in "
                       f"{text(ev.get('source', '?'))}, not the capture)")
        numbers = x.get("numbers") or {}
        if numbers:
            out.append("- **Numbers:** " + ", ".join(
                f"{text(k)} {code(_value(v))}" for k, v in numbers.items()))
        out += [f"- **Action:** {text(x['action'])}", ""]
    return out[:-1]


def _value(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(str(i) for i in v) + "]"
    if v is None:
        return "null"
    return str(v)


def _samples(report: Mapping) -> list[str]:
    samples = report.get("samples") or []
    if not samples:
        return []
    source = report.get("samples_source")
    out = ["## Samples", ""]
    if source:
        out += [f"Samples from {text(f.SAMPLES_SOURCE.get(source, source))}.", ""]
    for s in samples:
        out += [f"### {text(f.sample_title(s))}", ""]
        if s.get("url"):
            out.append(f"- URL (redacted): {code(s['url'])}"
                       + (f", effective {code(s['url_effective'])}"
                          if s.get("url_effective") and s["url_effective"] != s["url"] else ""))
        if s.get("remote_ip"):
            out.append(f"- Connection: {text(s.get('local_ip') or '?')}:{s.get('local_port') or '?'}"
                       f" → {text(s['remote_ip'])}:{s.get('remote_port') or '?'}")
        how = f.sample_connection(s)
        if how is not None:
            filt = f" — filter {code('tcp.stream == ' + str(s['match']['stream']))}" \
                if s["match"].get("stream") is not None else ""
            out.append(f"- Match: {text(how)}{filt}")
        else:
            out.append("- Match: no capture to match against")
        out.append(f"- Total {f.ms(s.get('total_ms'))}, time to first byte {f.ms(s.get('ttfb_ms'))}"
                   + ("" if s.get("size_download") is None
                      else f", {f.num(s['size_download'])} bytes downloaded"))
        for note in list(s.get("notes") or []) + list((s.get("match") or {}).get("notes") or []):
            out.append(f"- Note: {text(note)}")
        if s.get("error"):
            out.append(f"- Error: {text(s['error'])}")
        out.append("")
        rows = []
        for pid in f.PHASE_IDS:
            p = s["phases"][pid]
            b = p.get("tcp")
            frames = "; ".join(f"{text(k.replace('_', ' '))} {f.folded_frames(v)}"
                               for k, v in (b or {}).get("event_frames", {}).items())
            rows.append([f.PHASE_LABELS[pid], p["status"] + (" (failed here)"
                         if s.get("failed_phase") == pid else ""),
                         f.ms(p.get("start_ms"), 3, unit=False),
                         f.ms(p.get("duration_ms"), 3, unit=False), f.pct(p.get("share_pct")),
                         "—" if b is None else str(b["packets"]),
                         "—" if b is None else (text(", ".join(f.event_parts(b))) or "none"),
                         frames or "—"])
        out += table(["Phase", "Status", "Start (ms)", "Duration (ms)", "Share", "Packets",
                      "TCP events", "Event frames"], rows, "llrrrrll")
        if s.get("outside_phases"):
            o = s["outside_phases"]
            out += ["", f"Packets of the connection outside the phases: {o['before']} before, "
                    f"{o['after']} after."]
        # Phases cut at the packets agree with the packets by construction: no check then.
        out += (_wire_check(s) if source != "wire" else []) + _dns_wire(s)
        out += [""] + _waterfall(s) + [""]
    return out[:-1]


def _wire_check(s: Mapping) -> list[str]:
    checks = s.get("wire_check") or []
    if not checks:
        return []
    return ["", "curl's phase ends against the packets that show them (ms since curl "
            "started; a large difference means curl's clock and the capture disagree):", ""] + table(
        ["curl timer", "Packet", "Frame", "curl (ms)", "Wire (ms)", "Difference (ms)"],
        [[code(c["boundary"]), text(c["wire"].replace("_", " ")), f.num(c.get("frame")),
          f.ms(c.get("curl_ms"), 3, False), f.ms(c.get("wire_ms"), 3, False),
          "—" if c.get("difference_ms") is None else f"{c['difference_ms']:+.3f}"]
         for c in checks], "llrrrr")


# DNS record types by number (RFC 1035, RFC 3596); others are shown as TYPEnnn (RFC 3597).
_QTYPE = {1: "A", 28: "AAAA", 5: "CNAME", 65: "HTTPS", 64: "SVCB"}


def _dns_wire(s: Mapping) -> list[str]:
    found = s.get("dns_wire") or []
    if not found:
        return []
    lines = ["", "DNS on the wire during the DNS phase:", ""]
    for t in found:
        qtype = _QTYPE.get(t.get("qtype"), f"TYPE{t.get('qtype')}")
        answer = ", ".join(t.get("answers") or []) or ("no answer records" if t.get("answered")
                                                       else "unanswered")
        lines.append(f"- {text(t.get('qname'))} {qtype} → {text(answer)}, "
                     f"{f.ms(t.get('rtt_ms'))}"
                     + (f", {f.count(t['resends'], 're-send')}" if t.get("resends") else "")
                     + (f", rcode {t['rcode']}" if t.get("rcode") else "")
                     + (f" — frames {code(_frames(t['frames']))}" if t.get("frames") else ""))
    return lines


def _frames(frames: list[int]) -> str:
    return ", ".join(str(x) for x in frames)


# Cells of the Markdown waterfall's bars: with the three number columns, a line stays
# within 100 columns, which ticket systems show without wrapping.
WATERFALL_CELLS = 50


def _waterfall(s: Mapping) -> list[str]:
    """A text waterfall of one sample on a milliseconds axis, exact to the microsecond in
    its columns: every phase's start, end and duration, its bar (▓ with TCP trouble, ░ the
    phase a failed sample died in, ✗ where it ended) and its TCP events. Plain text in a
    code block renders the same on GitHub, GitLab, Jira and a terminal."""
    spans = f.waterfall(s)
    if not spans:
        return []
    total = max(sp.end_ms for sp in spans)
    scale = WATERFALL_CELLS / total if total > 0 else 0.0
    out = ["```text",
           f"Sample {int(s['index'])} waterfall, ms since curl started",
           f"{'Phase':<9}{'start':>10}{'end':>10}{'duration':>10}  |"]
    for sp in spans:
        fill = "░" if sp.failed else "▓" if sp.trouble else "█"
        cells = f.bar(sp, scale, WATERFALL_CELLS, fill)
        mark = "✗" if sp.failed else ""
        name = f.PHASE_SHORT[sp.id] + ("*" if sp.trouble else "")
        note = sp.events if sp.trouble else ""
        if sp.failed:
            note = "; ".join(x for x in (f.failure_text(s), note) if x)
        line = (f"{name:<9}{sp.start_ms:>10.3f}{sp.end_ms:>10.3f}{sp.end_ms - sp.start_ms:>10.3f}"
                f"  |{cells}|{mark}")
        out.append(line + (f" {note}" if note else ""))
    out.append(" " * 41 + " " + f.ms_axis(total, WATERFALL_CELLS))
    out += ["```", "", "█ phase, ▓ with TCP trouble (*), ░ the phase a failed sample ended "
            "in (✗). Frames of the events: the table above."]
    return out


def _path(report: Mapping) -> list[str]:
    path = report.get("path")
    if not path:
        return []
    mtr = path.get("mtr") or {}
    out = ["## Path (mtr)", ""]
    a = path.get("assessment")
    out.append(f"mtr {text(mtr.get('src') or '?')} → {text(mtr.get('dst') or '?')}, "
               f"{f.num(mtr.get('tests'))} probes per hop ({text(mtr.get('format', '?'))}). "
               + ("" if a is None else _path_story(a)))
    rows = [[str(r["ttl"]), text(r["host"]), r["loss"], r["sent"], r["avg"], r["best"],
             r["worst"], r["stdev"],
             HOP_MARK.get(r["verdicts"][0], "") + text(r["verdict"])
             + (f" — {text(r['detail'])}" if r["detail"] else "")]
            for r in f.hop_rows(report)]
    if rows:
        out += [""] + table(["Hop", "Host", "Loss", "Sent", "Avg (ms)", "Best (ms)",
                             "Worst (ms)", "StDev (ms)", "Verdict"], rows, "rlrrrrrrl")
    out += ["", "Loss at a hop counts only when it carries on to the target; loss that stops "
            "at a hop is that router rate-limiting its ICMP replies, and a silent hop simply "
            "does not answer."]
    return out


def _path_story(a: Mapping) -> str:
    parts = [("Target reached" if a.get("destination_reached") else
              "Target not reached" if a.get("destination_reached") is False else
              "Target reach unknown")
             + (f", {a['destination_loss_pct']:g}% loss there" if a.get("destination_loss_pct")
                is not None else "")]
    if a.get("path_loss_from_ttl") is not None:
        parts.append(f"real path loss from hop {a['path_loss_from_ttl']}")
    if a.get("rate_limited_ttls"):
        parts.append("ICMP rate limiting at hop(s) " + ", ".join(map(str, a["rate_limited_ttls"])))
    if a.get("silent_ttls"):
        parts.append("silent hop(s) " + ", ".join(map(str, a["silent_ttls"])))
    return "; ".join(parts) + "."


def _ping(report: Mapping) -> list[str]:
    p = report.get("ping")
    if not p:
        return []
    s = p.get("summary") or {}
    out = ["## Ping", ""]
    out += table(["Target", "Sent", "Received", "Loss", "Min (ms)", "Avg (ms)", "Max (ms)",
                  "Mdev (ms)", "Median (ms)"],
                 [[text(f"{p.get('target') or '?'} ({p.get('address') or '?'})"),
                   f.num(p.get("sent")), f.num(p.get("received")), f.pct(s.get("loss_pct")),
                   f.ms(s.get("min_ms"), 3, False), f.ms(s.get("avg_ms"), 3, False),
                   f.ms(s.get("max_ms"), 3, False), f.ms(s.get("mdev_ms"), 3, False),
                   f.ms(p.get("rtt_median_ms"), 3, False)]], "lrrrrrrrr")
    extra = []
    if p.get("lost_seqs"):
        extra.append("Lost icmp_seq: " + ", ".join(map(str, p["lost_seqs"])))
    if p.get("duplicates"):
        extra.append(f"Duplicates: {p['duplicates']}")
    for e in p.get("errors") or []:
        extra.append("Error: " + text(", ".join(f"{k} {v}" for k, v in e.items())))
    for d in p.get("disagreements") or []:
        extra.append("Disagreement: " + text(d))
    if extra:
        out += [""] + [f"- {e}" for e in extra]
    return out


def _connections(report: Mapping) -> list[str]:
    flows = report.get("flows") or []
    if not flows:
        return []
    rows = [[str(x["stream"]), text(f"{x['client']} → {x['server']}"),
             f"{x['frames_c2s']} / {x['frames_s2c']}",
             x["handshake"], f.ms(x.get("irtt_ms"), 3, False), str(x["retransmissions"]),
             str(x["dup_acks"]), str(x["out_of_order"]), str(x["zero_windows"]), x["end"],
             code(x["display_filter"])] for x in flows]
    return ["## TCP connections", ""] + table(
        ["Stream", "Client → server", "Frames c→s / s→c", "Handshake", "iRTT (ms)", "Retrans",
         "Dup ACK", "OOO", "Zero win", "End", "Filter"], rows, "rlrlrrrrrll")


def _warnings(report: Mapping) -> list[str]:
    w = report.get("warnings") or []
    if not w:
        return []
    return ["## Warnings", ""] + [f"- {text(x)}" for x in w]


def _inputs(report: Mapping) -> list[str]:
    inputs = report.get("inputs") or {}
    rows = []
    for name, d in inputs.items():
        if name in ("missing", "manifest", "capture_summary"):
            continue
        if d is None:
            continue
        rows.append([name, text(d.get("name")), code(d["sha256"]) if d.get("sha256") else "—",
                     f.num(d.get("bytes"))])
    out = ["## Inputs", ""] + table(["Input", "File", "SHA-256", "Bytes"], rows, "lllr")
    missing = f.missing_inputs(report)
    if missing:
        out += ["", "Not available:"] + [f"- **{name}**: {text(why)}" for name, why in missing]
    man = inputs.get("manifest")
    if man:
        out += ["", "Run: " + ", ".join(f"{k} {code(v)}" for k, v in man.items())]
    cap = inputs.get("capture_summary")
    if cap:
        status = ", ".join(f"{k} {v}" for k, v in (cap.get("decode_status") or {}).items())
        out += ["", f"Capture: {text(cap.get('format'))}, {f.num(cap.get('packets'))} packets, "
                f"{f.num(cap.get('bytes_on_wire'))} bytes on the wire, "
                f"{text(', '.join(cap.get('link_types') or []))}; decode status: {text(status)}"
                + (f"; stopped at byte {cap['stopped_at_byte']}" if cap.get("stopped_at_byte")
                   is not None else "")]
    return out


def markdown(report: Mapping) -> str:
    """The whole report as GitHub-flavoured Markdown (text waterfalls in code blocks)."""
    tool = report.get("tool") or {}
    sections = [
        [f"# cnfpost report: {text(f.title_line(report))}", ""] + _overall(report),
        _layers(report), _phases(report), _correlations(report), _findings(report),
        _samples(report), _path(report), _ping(report), _connections(report),
        _warnings(report), _inputs(report),
        [f"<sub>{text(tool.get('name', 'cnfpost'))} {text(tool.get('version', ''))}, "
         f"report schema {text(report.get('schema_version', '?'))}</sub>"],
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
