"""analyze(...) -> Report: the one place where the stages are wired together.

    from cnfpost import analyze
    report = analyze("capture.pcap", timings="t.jsonl", mtr="m.json", ping="p.txt")
    report["layered_analysis"]["l4"]["quality"]
    report.to_json()

Each stage is a pure function of plain data; this module only loads the inputs, calls
the stages in order and assembles the report (design.md, "JSON report"). Every input is
optional, but at least one must be given; what is missing is listed and the layers it
would have assessed are ``unknown``.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Callable

import orjson

from . import __version__
from .correlate import aggregate_phases, bucket_sample, outside_capture, place_samples
from .errors import InputError, Problem
from .evidence import FilterContext, with_short_filters
from .sources import Sources
from .findings import CATALOGUE, Finding
from .outputs import Digests
from .icmp_echo import pair_echoes
from .inputs import bundle as bundles
from .inputs.curl import PHASE_IDS, CurlSample
from .inputs.mtr import MtrReport
from .path import assess_path
from .inputs.ping import PingRun
from .inputs.registry import INPUT_KINDS, REPORTED_MISSING, load_all
from .model import NO_TIME
from .layers import LayerAssessment, assess_l3, assess_l7
from .cause import Explanation, explain
from .facts import build_facts
from .failures import sample_failure
from .limits import download_limits
from .memory import release_freed
from .rules import Context, path_rtt, path_vs_handshake, run_rules
from .serverside_rules import located_facts, with_server_findings
from .thresholds import Thresholds, load_config, worst_grade
from .vocab import PHASE_NAMES, SEVERITIES_WORST_FIRST, ms_text, severity_rank
from .wire_phases import boundary_checks, dns_for_sample, wire_samples, wire_view

__all__ = ["analyze", "Report", "SCHEMA_VERSION", "Inputs"]

SCHEMA_VERSION = "2.0"
Source = str | PathLike


class Report(Mapping):
    """The analysis of one run: a read-only mapping with the JSON report's structure."""

    def __init__(self, data: dict, sources: Sources | None = None):
        self._data = data
        # what it was made from (packets, analysis), for the pictures and the evidence
        # capture; never serialised
        self.sources = sources

    def __getitem__(self, key: str):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict:
        return orjson.loads(self.to_json())  # a deep, independent copy

    def to_json(self, indent: bool = True) -> bytes:
        """Deterministic bytes: same inputs, same output (no wall-clock 'generated at')."""
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self._data, option=option | orjson.OPT_APPEND_NEWLINE)

    @property
    def findings(self) -> list[dict]:
        return self._data["findings"]

    def to_html(self) -> str:
        """The self-contained HTML report with its graphs (what --html writes)."""
        from .report.html import html

        return html(self, self.sources)

    def to_har(self) -> dict:
        """The samples as a HAR 1.2 log (what --har writes)."""
        from .report.har import har

        return har(self)

    def write_evidence_pcap(self, target) -> int:
        """Write the frames behind every finding, with comments naming the codes, to a pcapng
        file (what --evidence-pcap writes); returns the number of frames written."""
        from .evidence_pcap import write_evidence_pcap

        return write_evidence_pcap(self, self.sources, target)


@dataclass
class Inputs:
    """The files of one run, by input kind (cnfpost/inputs/registry.py); any may be None."""

    paths: dict[str, Path | None] = field(default_factory=dict)
    bundle: bundles.Bundle | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def root(self) -> Path | None:
        return None if self.bundle is None else self.bundle.root

    @property
    def capture(self) -> Path | None:
        return self.paths.get("capture")

    @classmethod
    def gather(cls, source: Source | None, options: Mapping[str, Source | None]) -> "Inputs":
        """A capture or a bundle directory, then the explicit options, which win."""
        found = cls({kind.name: None for kind in INPUT_KINDS})
        if source is not None and str(source) != "-" and Path(source).is_dir():
            b = bundles.read_bundle(source)
            found = cls({kind.name: getattr(b, kind.name) for kind in INPUT_KINDS}, b,
                        list(b.problems))
        elif source is not None:
            found.paths["capture"] = Path(source) if str(source) != "-" else Path("-")
        for name, value in options.items():
            if value is not None:
                found.paths[name] = Path(value)
        if options.get("timings") is not None:
            # the wall-clock file is looked up beside the given timings file
            side = Path(options["timings"]).parent / bundles.WALLCLOCK_FILE
            found.paths["timings_wallclock"] = side if side.is_file() else None
        if not any(found.paths.get(k) for k in ("capture", "timings", "mtr", "ping")):
            raise InputError("cnfpost analyze", None, "at least one input: a capture, a run "
                             "directory, --timings, --mtr or --ping", "none")
        return found


def _relative(text: str, root: Path | None) -> str:
    """A message about a file inside the run directory names it relative to the directory,
    so that a report does not depend on where the archive was unpacked (goldens, batch)."""
    if root is None:
        return text
    prefix = str(root).rstrip("/") + "/"
    return text.replace(prefix, "")


def _describe(path: Path | None, digests: Digests) -> dict | None:
    if path is None:
        return None
    if str(path) == "-":
        return {"name": "<stdin>", "sha256": None, "bytes": None}
    return {"name": path.name, "sha256": digests.sha256(path), "bytes": path.stat().st_size}


def analyze(source: Source | None = None, *, timings: Source | None = None,
            mtr: Source | None = None, ping: Source | None = None,
            ping_loaded: Source | None = None, server_capture: Source | None = None,
            config: Source | None = None,
            thresholds: Mapping[str, float] | None = None, engine: str = "compiled",
            progress: Callable[[int, int], None] | None = None) -> Report:
    """Analyse one run: a capture or a run directory (bundle), and/or the text inputs.

    Raises InputError (exit 2 in the CLI) when an input cannot be used at all; inputs that
    are partly usable give their part and a warning in ``report["warnings"]``.
    """
    th = thresholds if thresholds is not None else (load_config(config) if config else Thresholds())
    inputs = Inputs.gather(source, {"timings": timings, "mtr": mtr, "ping": ping,
                                    "ping_loaded": ping_loaded,
                                    "server_capture": server_capture})
    digests = Digests(inputs.paths.values())   # hashed while the analysis runs
    loaded, found = load_all(inputs.paths)
    problems: list[Problem] = list(inputs.problems) + found
    warnings: list[str] = []
    samples: list[CurlSample] = loaded["timings"] or []
    mtr_report: MtrReport | None = loaded["mtr"]
    ping_run: PingRun | None = loaded["ping"]
    ping_loaded_run: PingRun | None = loaded["ping_loaded"]

    table = tcp = echo = wire = None
    if inputs.capture is not None:
        from .capture import read_capture
        from .tcp import analyze_tcp

        table = read_capture(inputs.capture, engine=engine, progress=progress)
        release_freed()
        warnings += table.stats.warnings
        untimed = int((table["ts_ns"] == NO_TIME).sum())
        if untimed:
            # simple packet blocks and some journal entries carry no time: every duration
            # that starts or ends on one of them is unknown, and the phases may be wrong
            warnings.append(f"{table.stats.path}: {untimed} frame(s) without a time stamp: "
                            "durations that touch them are not measured")
        tcp = analyze_tcp(table, engine=engine)
        release_freed()
        echo = pair_echoes(table)
        wire = wire_view(table, tcp)
        release_freed()
    warnings = [_relative(w, inputs.root) for w in [str(p) for p in problems] + warnings]
    samples_source = "timings" if samples else "none"
    if not samples and wire is not None:
        samples = wire_samples(table, tcp, wire)
        samples_source = "wire" if samples else "none"

    path = assess_path(mtr_report, th) if mtr_report is not None and mtr_report.hops else None
    l3 = assess_l3(ping_run, mtr_report, echo, th, path)
    facts = build_facts(table, tcp, th, _path_rtts(path, ping_run, echo),
                        dns_seen=wire is not None and bool(wire.dns))
    release_freed()
    l4 = _assess_l4(tcp, th, facts)
    l7 = assess_l7(samples, th)

    placements = place_samples(samples, tcp, table) if (tcp is not None and samples) else []
    warnings += [_relative(w, inputs.root) for w in outside_capture(placements, table)]
    buckets = [bucket_sample(p, tcp) for p in placements] if placements else [None] * len(samples)
    failures = [sample_failure(s, placements[i] if placements else None, tcp, wire)
                for i, s in enumerate(samples)]
    server_side = _server_side(inputs, table, tcp, placements, engine)
    facts = located_facts(facts, server_side)
    ctx = Context(th=th, table=table, tcp=tcp, echo=echo, ping=ping_run,
                  ping_loaded=ping_loaded_run, mtr=mtr_report, path=path, samples=samples,
                  placements=placements, buckets=buckets,
                  tls_versions={} if wire is None else wire.tls_versions,
                  grades={"L3": l3.quality, "L4": l4.quality, "L7": l7.quality},
                  l3=l3.facts, facts=facts,
                  failures=failures, server_side=server_side)
    ctx.handshake = path_vs_handshake(ctx)      # once: the report and a rule read it
    ctx.limits = [_download_limits(ctx, p) for p in placements] if placements \
        else [None] * len(samples)
    ctx.dns = [dns_for_sample(p, wire) if wire is not None else [] for p in placements]
    findings = with_server_findings(run_rules(ctx), ctx)
    explanation = explain(ctx, findings)
    findings = sorted(findings + list(explanation.findings),
                      key=lambda f: severity_rank(f.severity))

    graded = agreeing_grades(ctx.grades, explanation)    # once: layers, verdicts, overall
    data = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "cnfpost", "version": __version__},
        "inputs": _inputs_section(inputs, table, digests),
        "warnings": warnings,
        "layered_analysis": _layered(graded, {"L3": l3, "L4": l4, "L7": l7}),
        "samples_source": samples_source,
        "samples": [_sample_section(s, placements[i] if placements else None, buckets[i], wire,
                                    failures[i], ctx.limits[i], ctx.dns[i] if ctx.dns else [])
                    for i, s in enumerate(samples)],
        "tcp_http_correlation": aggregate_phases(samples, buckets) if samples else None,
        "mtr_tcp_correlation": ctx.handshake,
        "correlations": _correlations(ctx, findings, explanation, graded[0]),
        "flows": _flows_section(tcp, table),
        "path": None if mtr_report is None else {"mtr": mtr_report.to_dict(),
                                                  "assessment": None if path is None else path.to_dict()},
        "ping": None if ping_run is None else _ping_section(ping_run),
        "server_side": None if server_side is None else server_side.to_dict(),
        "findings": with_short_filters([f.to_dict() for f in findings],
                                       None if tcp is None else FilterContext.of(table, tcp)),
        "overall": _overall(ctx, findings, explanation, graded),
    }
    return Report(data, Sources(table, tcp, echo, ping_run,
                                None if inputs.capture is None else str(inputs.capture)))


def _server_side(inputs: Inputs, table, tcp, placements, engine: str):
    """The server's capture compared with the probe's (cnfpost/serverside.py)."""
    path = inputs.paths.get("server_capture")
    if path is None or table is None or tcp is None:
        return None
    from .capture import read_capture
    from .serverside import compare_captures
    from .tcp import analyze_tcp

    server = read_capture(path, engine=engine)
    return compare_captures((table, tcp), (server, analyze_tcp(server, engine=engine)),
                            placements)


def _layered(graded: tuple[dict, dict], layers: dict[str, LayerAssessment]) -> dict:
    """Each layer's assessment, its quality agreeing with the cause (agreeing_grades)."""
    grades, reasons = graded
    return {name.lower(): {**a.to_dict(), "quality": grades[name],
                           "quality_reason": reasons[name]}
            for name, a in layers.items()}


def _path_rtts(path, ping_run, echo) -> dict[str, float | None]:
    """The RTTs the path inputs measured (the baseline RTT is the smallest of these and the
    capture's own, cnfpost/facts.py)."""
    return {
        "mtr": None if path is None else path.destination_best_ms,
        "ping": None if ping_run is None or ping_run.summary is None else ping_run.summary.min_ms,
        "capture_icmp": echo.stats.min_ms if echo is not None and echo.answered else None,
    }


def _assess_l4(tcp, th, facts) -> LayerAssessment:
    from .layers_l4 import assess_l4

    if tcp is None:
        return LayerAssessment("unknown", {"reason": "no capture"})
    return assess_l4(tcp, th, facts)


def _inputs_section(inputs: Inputs, table, digests: Digests) -> dict:
    files = inputs.paths
    if files.get("timings") is not None and files.get("timings_wallclock") is None:
        side = files["timings"].parent / bundles.WALLCLOCK_FILE
        files = {**files, "timings_wallclock": side if side.is_file() else None}
    out = {kind.name: _describe(files.get(kind.name), digests) for kind in INPUT_KINDS}
    out["missing"] = [name for name in REPORTED_MISSING if files.get(name) is None]
    if inputs.bundle is not None and inputs.bundle.manifest is not None:
        m = inputs.bundle.manifest
        out["manifest"] = {k: m.get(k) for k in ("scenario", "hostname", "target", "interface",
                                                  "start_utc") if k in m}
    if table is not None:
        stats = table.stats
        out["capture_summary"] = {
            "format": stats.format, "packets": stats.packets, "bytes_on_wire": stats.bytes_on_wire,
            "link_types": sorted({i.link_type_name for i in table.interfaces}),
            "decode_status": dict(stats.status_counts), "stopped_at_byte": stats.stopped_at,
        }
    return out


def _download_limits(ctx: Context, placement):
    """What limited the sample's download (cnfpost/limits.py), on its connection's frames
    between the first and the last response byte."""
    if placement.stream is None or not placement.edges_ns or ctx.tcp is None:
        return None
    return download_limits(ctx.tcp, ctx.facts.repairs, placement.stream,
                           placement.edges_ns[5], placement.edges_ns[6], ctx.facts.baseline_rtt_ms,
                           ctx.facts.unseen)


def _sample_section(s: CurlSample, placement, buckets, wire, failure, limits,
                    dns: list[dict]) -> dict:
    out = s.to_dict()
    out["failure"] = None if failure is None else failure.to_dict()
    out["download_limits"] = None if limits is None else limits.to_dict()
    out["match"] = None if placement is None else placement.to_dict()
    if placement is not None and wire is not None:
        # a sample cut from the packets agrees with them by construction: nothing to check
        out["wire_check"] = [] if s.curl_version is None and s.url is None else \
            boundary_checks(placement, s, wire)
        out["dns_wire"] = dns
        version = wire.tls_versions.get(placement.stream) if placement.stream is not None else None
        out["tls_version"] = None if version is None else _tls_name(version)
    for pid in PHASE_IDS:
        bucket = None if buckets is None else buckets[pid]
        entry = out["phases"][pid]
        if placement is not None and placement.edges_ns:
            k = PHASE_IDS.index(pid)
            entry["capture_start_epoch_s"] = round(placement.edges_ns[k] / 1e9, 6)
            entry["capture_end_epoch_s"] = round(placement.edges_ns[k + 1] / 1e9, 6)
        entry["tcp"] = None if bucket is None else bucket.to_dict()
    if buckets is not None:
        out["outside_phases"] = {"before": buckets["before"].packets, "after": buckets["after"].packets}
    return out


def _tls_name(version: int) -> str:
    names = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2", 0x0302: "TLS 1.1", 0x0301: "TLS 1.0",
             0x0300: "SSL 3.0"}
    return names.get(version, f"0x{version:04x}")


def _flows_section(tcp, table) -> list[dict]:
    from .info import conversations

    return [] if tcp is None else conversations(table, tcp)


def _ping_section(run: PingRun) -> dict:
    rtts = [p.rtt_ms for p in run.replies if p.rtt_ms is not None]
    return {
        "flavor": run.flavor, "target": run.target, "address": run.address,
        "sent": run.sent, "received": len(run.replies), "lost_seqs": list(run.lost_seqs),
        "duplicates": sum(1 for p in run.probes if p.duplicate),
        "errors": [e.to_dict() for e in run.errors],
        "summary": None if run.summary is None else run.summary.to_dict(),
        "rtt_median_ms": round(statistics.median(rtts), 3) if rtts else None,
        "disagreements": list(run.disagreements),
    }


_PATH_MECHANISMS = ("path_loss", "downstream_loss", "upstream_loss", "pmtud_blackhole",
                    "queueing", "jitter")


def _causes(ex: Explanation):
    return ([ex.cause] if ex.cause is not None else []) + list(ex.contributing)


def _correlations(ctx: Context, findings: list[Finding], ex: Explanation,
                  grades: dict[str, str]) -> dict:
    """The cross-layer verdicts, read from the cause model (not rebuilt from codes)."""
    l3, l4, l7 = grades["L3"], grades["L4"], grades["L7"]
    causes = _causes(ex)
    head = ex.cause
    if head is not None and head.code == "l3l4.endpoint_tcp":
        l3l4 = "endpoint_tcp"
    elif head is not None and head.mechanism in _PATH_MECHANISMS and ctx.tcp is not None \
            and (head.confidence != "low" or ctx.facts.repair_frames):
        l3l4 = "path_causes_tcp"
    elif "unknown" in (l3, l4):
        l3l4 = "unknown"
    else:
        l3l4 = "tcp_healthy" if l4 in ("excellent", "good") else "tcp_degraded"
    inflated = [f.numbers.get("phase") for f in findings if f.code == "l4l7.events_in_phase"]
    app = sorted({p for c in causes if c.code == "l7.slow_server" for p in c.phases})
    if inflated:
        l4l7 = "tcp_events_inflated_phases"
    elif app:
        l4l7 = "application_slow"
    elif not ctx.samples or ctx.tcp is None:
        l4l7 = "unknown"
    else:
        l4l7 = "no_tcp_impact"
    bloat = [f for f in findings if f.code == "l3l7.bufferbloat"]
    loaded = ctx.ping_loaded is not None or bool(
        ctx.tcp is not None and ctx.tcp.n_streams and any(
            ctx.facts.loading_streams(p.stream, *p.edges_ns[::6])
            for p in ctx.placements if p.stream is not None and p.edges_ns))
    l3l7 = "bufferbloat" if bloat else ("no_bufferbloat_seen" if loaded else "not_measured")
    return {
        "l3_l4": {"verdict": l3l4, "l3": l3, "l4": l4},
        "l4_l7": {"verdict": l4l7, "l4": l4, "l7": l7, "inflated_phases": inflated,
                  "slow_phases_without_tcp_events": app},
        "l3_l7": {"verdict": l3l7, "l3": l3, "l7": l7,
                  "added_latency_ms": bloat[0].numbers.get("added_ms") if bloat else None},
    }


def agreeing_grades(grades: dict[str, str], ex: Explanation) -> tuple[dict, dict]:
    """Grades that agree with the cause: the layer a cause sits in is not excellent (poor
    when it failed samples, fair when it at least doubled their time, else good), and L7 is
    not excellent while a cause slowed or failed its requests. Returns (grades, reasons)."""
    out = dict(grades)
    reasons = {layer: f"{grade}: measured" if grade != "unknown" else "unknown: not measured"
               for layer, grade in grades.items()}
    order = ("excellent", "good", "fair", "poor")
    for cause in _causes(ex)[:1] + [c for c in ex.contributing if c.explained_ms > 0
                                     or c.failed_samples]:
        if cause.failed_samples:
            cap = "poor"
        elif cause.observed_ms and cause.expected_ms and cause.observed_ms >= 2 * cause.expected_ms:
            cap = "fair"
        else:
            cap = "good"
        affected = cause.failed_samples or cause.explained_ms > 0
        for layer in {cause.layer} | ({"L7"} if affected else set()):
            if layer not in out or out[layer] == "unknown":
                continue
            if order.index(out[layer]) < order.index(cap):
                out[layer] = cap
                reasons[layer] = f"{cap}: set by {cause.code}"
    return out, reasons


def _overall(ctx: Context, findings: list[Finding], ex: Explanation,
             graded: tuple[dict, dict]) -> dict:
    grades, reasons = graded
    known = [g for g in grades.values() if g != "unknown"]
    grade = worst_grade(known) if known else "unknown"
    return {"grade": grade, "grades": {k.lower(): v for k, v in grades.items()},
            "grade_reasons": {k.lower(): v for k, v in reasons.items()},
            "cause": None if ex.cause is None else ex.cause.to_dict(),
            "contributing": [c.to_dict() for c in ex.contributing],
            "summary": _summary(ctx, findings, ex, grades),
            "findings_by_severity": {s: sum(1 for f in findings if f.severity == s)
                                     for s in SEVERITIES_WORST_FIRST}}


def _summary(ctx: Context, findings: list[Finding], ex: Explanation, grades: dict) -> str:
    """The headline sentence, written from the cause and what contributed."""
    layers = ", ".join(f"{k} {v}" for k, v in grades.items())
    head = ex.cause
    if head is None:
        if not [g for g in grades.values() if g != "unknown"]:
            return "Nothing could be assessed from the inputs given."
        rtt, source = path_rtt(ctx)
        parts = [f"No problem found: nothing slowed or failed the requests. Layers: {layers}."]
        if rtt is not None:
            parts.append(f"Path RTT {rtt:.2f} ms ({source}).")
        ttfb = [s.ttfb_ms for s in ctx.samples if s.ttfb_ms is not None]
        if ttfb:
            parts.append(f"Median time to first byte {statistics.median(ttfb):.1f} ms.")
        return " ".join(parts)
    finding = next((f for f in findings if f.code == head.code), None)
    what = CATALOGUE[head.code].title
    phases = ", ".join(PHASE_NAMES[p] for p in head.phases)
    n = len(ctx.samples)
    if head.failed_samples:
        lead = f"{head.failed_samples} of {n} sample(s) failed"
        fails = [f for f in ctx.failures if f is not None]
        if fails:
            lead += f" ({fails[0].phase} phase: {fails[0].reason}"
            lead += f", by the {fails[0].by})" if fails[0].by else ")"
        lead += f": {what[0].lower() + what[1:] if what[:2].istitle() else what}"
    elif head.samples and head.observed_ms is not None and head.expected_ms is not None:
        lead = (f"{what}: {phases} took {ms_text(head.observed_ms)} ms instead of about "
                f"{ms_text(head.expected_ms)} ms in {len(head.samples)} of {n} sample(s)")
    else:
        lead = what
    parts = [f"{lead} ({head.code}, {head.confidence} confidence)."]
    if finding is not None:
        parts.append(f"Evidence: {finding.message}.")
    if head.because:
        parts.append(f"It explains: {', '.join(head.because)}.")
    if ex.contributing:
        parts.append("Also: " + ", ".join(c.code for c in ex.contributing) + ".")
    parts.append(f"Layers: {layers}.")
    return " ".join(parts)
