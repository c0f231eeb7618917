"""The terminal summary: the report's views, compact, in the width of the terminal.

Plain text unless asked for colour (ANSI SGR codes only then). Every line fits the
width, except a Wireshark display filter, which is never broken: a terminal's own soft
wrap keeps it one line when copied, a hard break would not.
"""
from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Mapping

from . import _format as f

__all__ = ["terminal", "use_color", "MIN_WIDTH"]

MIN_WIDTH = 60

_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
        "magenta": "35", "cyan": "36"}
GRADE_COLOR = {"excellent": "green", "good": "green", "fair": "yellow", "poor": "red",
               "unknown": "dim"}
SEVERITY_COLOR = {"critical": "red", "warning": "yellow", "info": "cyan"}
SEVERITY_TAG = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}
# One letter per phase in the waterfall bars; upper case marks TCP trouble in the phase.
PHASE_CHAR = {"dns": "d", "tcp": "c", "tls": "t", "request": "r", "server": "s", "download": "w"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def use_color(stream) -> bool:
    """Colour only for a terminal, and never when the user said no (no-color.org: NO_COLOR
    set to anything non-empty) or the terminal cannot show it (TERM=dumb)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Out:
    """Collects lines; paints them only when colour is on."""

    def __init__(self, color: bool, width: int):
        self.color, self.width, self.lines = color, width, []

    def paint(self, s: str, *styles: str) -> str:
        if not self.color or not styles:
            return s
        return "\x1b[" + ";".join(_SGR[x] for x in styles) + "m" + s + "\x1b[0m"

    def add(self, s: str = "") -> None:
        self.lines.append(s)

    def wrap(self, s: str, indent: str = "", first: str | None = None, *styles: str) -> None:
        """Wrapped plain text; styles paint each piece (after wrapping: codes have no width)."""
        first = indent if first is None else first
        wrapped = textwrap.wrap(s, self.width, initial_indent=first, subsequent_indent=indent,
                                break_on_hyphens=False) or [first]
        for i, line in enumerate(wrapped):
            lead = first if i == 0 else indent   # textwrap put exactly this in front
            self.add(lead + self.paint(line[len(lead):], *styles))

    def heading(self, s: str) -> None:
        self.add()
        self.add(self.paint(s, "bold"))


def visible_len(s: str) -> int:
    return len(_ANSI.sub("", s))


def terminal(report: Mapping, color: bool, width: int | None = None) -> str:
    """A compact text summary of the report for a person at a terminal."""
    if width is None:
        width = shutil.get_terminal_size().columns
    out = _Out(color, max(MIN_WIDTH, int(width)))
    _overall(out, report)
    _layers(out, report)
    _phases(out, report)
    _correlations(out, report)
    _findings(out, report)
    _waterfalls(out, report)
    _path(out, report)
    _inputs(out, report)
    return "\n".join(out.lines) + "\n"


def _overall(out: _Out, report: Mapping) -> None:
    o = report.get("overall") or {}
    grade = o.get("grade", "unknown")
    out.wrap(f"cnfpost: {f.title_line(report)}", "", "", "bold")
    by = o.get("findings_by_severity") or {}
    grades = "  ".join(f"{k.upper()} {out.paint(v, GRADE_COLOR.get(v, 'dim'))}"
                       for k, v in (o.get("grades") or {}).items())
    out.add(f"Overall: {out.paint(grade.upper(), 'bold', GRADE_COLOR.get(grade, 'dim'))}  {grades}")
    out.add("Findings: " + ", ".join(
        out.paint(f"{by.get(s, 0)} {s}", SEVERITY_COLOR[s]) if by.get(s) else f"0 {s}"
        for s in f.SEVERITIES))
    out.wrap(o.get("summary") or "", "  ", "  ")


def _layers(out: _Out, report: Mapping) -> None:
    out.heading("Network stack")
    lead = 4 + 22 + 10  # layer, component, quality columns
    for layer, component, quality, lines in f.layer_rows(report):
        room = out.width - lead
        wrapped = [w for line in lines for w in textwrap.wrap(line, room, break_on_hyphens=False)]
        wrapped = wrapped or ["—"]
        q = out.paint(f"{quality.upper():<10}", GRADE_COLOR.get(quality, "dim"))
        out.add(f"{layer:<4}{component:<22}{q}{wrapped[0]}")
        for w in wrapped[1:]:
            out.add(" " * lead + w)


def _phases(out: _Out, report: Mapping) -> None:
    rows = f.phase_rows(report)
    if not rows:
        return
    out.heading("TCP events during HTTP phases")
    head = f"{'Phase':<19}{'Median ms':>10}{'Packets':>8}{'Retrans':>8}{'Rate':>8}"
    out.add(out.paint(head + "  Other events", "dim") if out.width >= len(head) + 14
            else out.paint(head, "dim"))
    for r in rows:
        line = f"{r['phase']:<19}{r['median']:>10}{r['packets']:>8}{r['retrans']:>8}{r['rate']:>8}"
        style = ("red",) if r["trouble"] else ()
        other = r["events"] if r["events"] not in ("none", "—") else ""
        if other and len(line) + 2 + len(other) <= out.width:
            out.add(out.paint(f"{line}  {other}", *style))
        else:
            out.add(out.paint(line, *style))
            if other:  # too long for the row: on its own line(s) beneath
                out.wrap(other, " " * 6, "    + ", *style)


def _correlations(out: _Out, report: Mapping) -> None:
    out.heading("Cross-layer correlations")
    tree = f.correlation_tree(report)[1:]
    for line in tree:
        # The guides ('│   ├── ') stay; the text after them wraps under itself.
        m = re.match(r"^((?:│   |    )*(?:├── |└── ))", line)
        guide = m.group(1) if m else ""
        cont = guide.replace("├── ", "│   ").replace("└── ", "    ")
        out.wrap(line[len(guide):], cont, guide)


def _findings(out: _Out, report: Mapping) -> None:
    found = f.findings_sorted(report)
    out.heading(f"Findings ({len(found)})")
    if not found:
        out.add("  none: nothing to report at any layer")
        return
    for x in found:
        tag = out.paint(SEVERITY_TAG.get(x["severity"], x["severity"]), "bold",
                        SEVERITY_COLOR.get(x["severity"], "dim"))
        layers = "→".join(x["layers"])
        head = f"{x['code']} [{layers}] {x['message']}"
        wrapped = textwrap.wrap(head, out.width - 7, break_on_hyphens=False) or [""]
        out.add(f"  {tag} " + out.paint(wrapped[0], "bold"))
        for w in wrapped[1:]:
            out.add("       " + w)
        ev = x.get("evidence") or {}
        if ev.get("display_filter"):
            # Never wrapped: see the module docstring.
            out.add("       filter: " + out.paint(ev["display_filter"], "cyan"))
        out.wrap(f.evidence_text(ev), "         ", "       evidence: ")
        out.wrap(x["action"], "         ", "       action: ", "dim")


# The waterfall fits 80 columns whatever the terminal's width (httpstat's habit): a line
# per sample is read across samples, and wider bars would add no precision worth the wrap.
WATERFALL_WIDTH = 80


def _segment(sp, n: int) -> str:
    """A phase's cells: its letter (upper case with TCP trouble), its ms written inside
    when they fit (httpstat's habit)."""
    ch = PHASE_CHAR[sp.id].upper() if sp.trouble else PHASE_CHAR[sp.id]
    cells = ch * n
    d = sp.end_ms - sp.start_ms
    label = f"{d:.0f}" if d >= 100 else f"{d:.1f}" if d >= 10 else f"{d:.2f}"
    if n >= len(label) + 2:
        at = (n - len(label)) // 2
        cells = cells[:at] + label + cells[at + len(label):]
    return cells


def _waterfalls(out: _Out, report: Mapping) -> None:
    samples = [s for s in report.get("samples") or [] if f.waterfall(s)]
    if not samples:
        return
    out.heading("Waterfall per sample")
    legend = ("d DNS, c connect, t TLS, r request, s server, w download, with their ms; "
              "UPPER CASE = TCP trouble in the phase; ✗ = where a failed sample ended")
    out.wrap(legend, "  ", "  ", "dim")
    width = min(out.width, WATERFALL_WIDTH)
    longest = max(sp.end_ms for s in samples for sp in f.waterfall(s))
    label_w = len(f"#{max(s['index'] for s in samples)} ") + 11   # '#12 1234.56 ms '
    # Slack of one cell per phase (a phase with trouble is drawn at least one cell wide)
    # and one for the failure mark.
    bar_w = max(10, width - label_w - 3 - len(f.PHASE_IDS))
    scale = bar_w / longest if longest > 0 else 0.0
    for s in samples:
        spans = f.waterfall(s)
        cells, notes, used = [], [], 0
        for sp in spans:
            a, b = int(round(sp.start_ms * scale)), int(round(sp.end_ms * scale))
            a = max(a, used)                                # never overlap the previous phase
            if a > used:
                cells.append(" " * (a - used))
            n = max(b - a, 1 if sp.trouble or sp.failed else 0)
            text = _segment(sp, n)
            style = ("red", "bold") if sp.trouble or sp.failed else ()
            cells.append(out.paint(text, *style))
            used = a + n
            if sp.trouble:
                notes.append(f"{f.PHASE_SHORT[sp.id]}: {sp.events}")
        failure = f.failure_text(s)
        if failure:
            cells.append(out.paint("✗", "red", "bold"))
            used += 1
            notes.append(failure)
        pad = " " * max(0, bar_w + 1 - used)
        total = spans[-1].end_ms
        label = f"#{s['index']} {total:.2f} ms"
        out.add(f"{label:<{label_w}}|{''.join(cells)}{pad}|")
        for note in notes:
            out.wrap(note, " " * (label_w + 3), " " * (label_w + 1) + "^ ", "red")
    out.add(" " * (label_w + 1) + f.ms_axis(longest, bar_w)[:width - label_w - 1])


def _path(out: _Out, report: Mapping) -> None:
    rows = f.hop_rows(report)
    p = report.get("ping")
    if not rows and not p:
        return
    out.heading("Path")
    for r in rows:
        first = f"  {r['ttl']:>2} {r['host'][:24]:<24} loss {r['loss']:>6}  avg {r['avg']:>8} "
        style = {"path_loss": "red", "icmp_rate_limit": "cyan", "silent": "dim",
                 "latency_step": "yellow"}.get(r["verdicts"][0])
        out.wrap(r["verdict"], " " * len(first), first, *((style,) if style else ()))
    if p:
        s = p.get("summary") or {}
        out.wrap(f"ping {p.get('target') or '?'}: {p.get('received')}/{p.get('sent')} replies "
                 f"({f.pct(s.get('loss_pct'))} loss), rtt min/avg/max/mdev "
                 f"{f.ms(s.get('min_ms'), 3, False)}/{f.ms(s.get('avg_ms'), 3, False)}/"
                 f"{f.ms(s.get('max_ms'), 3, False)}/{f.ms(s.get('mdev_ms'), 3, False)} ms",
                 "    ", "  ")


def _inputs(out: _Out, report: Mapping) -> None:
    missing = f.missing_inputs(report)
    warnings = report.get("warnings") or []
    if not missing and not warnings:
        return
    out.heading("Inputs")
    for name, why in missing:
        out.wrap(f"no {name}: {why}", "    ", "  ", "yellow")
    for w in warnings:
        out.wrap(f"warning: {w}", "    ", "  ", "yellow")
