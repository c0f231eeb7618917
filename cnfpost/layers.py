"""Per-layer quality: L3 from ping, the capture's echoes and mtr; L7 from curl's phases.

Each assessment is ``{quality, metrics}`` (design.md, ``layered_analysis``). The quality is
the worst of the component grades that could be computed (thresholds.worst_grade), each
graded against the limits in cnfpost/thresholds.py, so ``--config`` changes them all.
``unknown`` only when no input gave anything to grade. L4 is assessed elsewhere.

L3, which input answers what:

- latency (average RTT): ping, else the capture's echoes, else mtr's last hop;
- jitter (mean absolute difference of consecutive RTTs): ping, else the capture's echoes,
  else mtr ``--raw``'s last hop; mtr ``--json`` has no per-probe RTTs, and its StDev is
  not jitter;
- loss: every independent probe pooled, ping's (or, without ping, the capture's echoes:
  the same packets, never both) plus mtr's probes to the target. Loss at an intermediate
  mtr hop that does not carry on is ICMP rate limiting and never counts
  (inputs/mtr.assess_path).

L7: the median time to first byte of the samples that got one (median: one cold DNS
cache or one slow sample must not decide the grade) and the share of failed samples (curl
exit code != 0, or an HTTP 5xx: the server failed the request).
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Mapping, Sequence

from .icmp_echo import CaptureEcho
from .inputs import jitter_ms, ms
from .inputs.curl import MEASURED, PHASE_IDS, CurlSample
from .inputs.mtr import MtrReport
from .path import PathAssessment, assess_path
from .inputs.ping import PingRun
from .thresholds import Thresholds, grade_lower_is_better, worst_grade

__all__ = ["LayerAssessment", "assess_l3", "assess_l7"]


@dataclass(frozen=True)
class LayerAssessment:
    quality: str          # excellent | good | fair | poor | unknown
    metrics: dict
    facts: "L3Facts | None" = None    # the typed record the rules read (L3)

    def to_dict(self) -> dict:
        return {"quality": self.quality, "metrics": self.metrics}


@dataclass(frozen=True)
class L3Facts:
    """What the path measured, as the rules and the cause model read it (the report's
    layered_analysis.l3.metrics is this record as a mapping)."""

    sources: tuple[str, ...] = ()
    rtt_avg_ms: float | None = None
    rtt_min_ms: float | None = None
    rtt_max_ms: float | None = None
    rtt_source: str | None = None
    jitter_ms: float | None = None
    jitter_source: str | None = None
    loss_pct: float | None = None
    probes_sent: int | None = None
    probes_lost: int | None = None
    loss_sources: tuple[str, ...] = ()
    hops: int | None = None
    path: dict | None = None
    grades: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def icmp_saw_loss(self) -> bool:
        return (self.loss_pct or 0) > 0

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _grade(th: Mapping[str, float], prefix: str, value: float | None) -> str:
    return grade_lower_is_better(
        value, [th[f"{prefix}.excellent"], th[f"{prefix}.good"], th[f"{prefix}.fair"]])


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# ----------------------------------------------------------------------------------------
# L3
# ----------------------------------------------------------------------------------------

def assess_l3(ping: PingRun | None, mtr: MtrReport | None, capture_echo: CaptureEcho | None,
              thresholds: Mapping[str, float] | None = None,
              path: PathAssessment | None = None) -> LayerAssessment:
    """``path``: mtr's assessment when the caller has it (the pipeline computes it once)."""
    th = thresholds if thresholds is not None else Thresholds()
    notes: list[str] = []
    if path is None and mtr is not None and mtr.hops:
        path = assess_path(mtr, th)
    echo = capture_echo if capture_echo is not None and capture_echo.sent else None
    ping_ok = ping is not None and ping.sent

    # Latency and jitter: the first source that has them.
    rtt_source = rtt = rtt_min = rtt_max = None
    if ping_ok and ping.stats.count:
        rtt_source, rtt, rtt_min, rtt_max = "ping", ping.stats.avg_ms, ping.stats.min_ms, \
            ping.stats.max_ms
    elif echo is not None and echo.answered:
        s = echo.stats
        rtt_source, rtt, rtt_min, rtt_max = "capture_icmp", s.avg_ms, s.min_ms, s.max_ms
    elif path is not None and path.destination_avg_ms is not None:
        rtt_source, rtt, rtt_min = "mtr", path.destination_avg_ms, path.destination_best_ms

    jitter_source = jitter = None
    if ping_ok and ping.stats.jitter_ms is not None:
        jitter_source, jitter = "ping", ping.stats.jitter_ms
    elif echo is not None and echo.stats.jitter_ms is not None:
        jitter_source, jitter = "capture_icmp", echo.stats.jitter_ms
    elif mtr is not None and mtr.hops and len(mtr.hops[-1].rtts_ms) >= 2:
        jitter_source, jitter = "mtr_raw", jitter_ms(mtr.hops[-1].rtts_ms)

    # Loss: independent probes pooled.
    sent = lost = 0
    loss_sources = []
    if ping_ok:
        sent, lost = ping.sent, ping.lost or 0
        loss_sources.append("ping")
    elif echo is not None:
        sent, lost = echo.sent, echo.sent - echo.answered
        loss_sources.append("capture_icmp")
    if path is not None and path.destination_sent and path.destination_loss_pct is not None:
        sent += path.destination_sent
        lost += round(path.destination_sent * path.destination_loss_pct / 100.0)
        loss_sources.append("mtr")
    loss = 100.0 * lost / sent if sent else None

    if ping is not None and not ping.sent and ping.errors:
        notes.append(f"ping sent nothing: {ping.errors[0].message}")
    if ping is not None and ping.disagreements:
        notes.append("ping's summary disagrees with its reply lines: "
                     + "; ".join(ping.disagreements))
    if path is not None:
        notes.extend(_path_notes(path))

    grades = {
        "latency": _grade(th, "l3.rtt_ms", rtt),
        "jitter": _grade(th, "l3.jitter_ms", jitter),
        "loss": _grade(th, "l3.loss_pct", loss),
    }
    sources = [name for name, present in (("ping", ping_ok), ("capture_icmp", echo is not None),
                                          ("mtr", path is not None)) if present]
    facts = L3Facts(
        sources=tuple(sources),
        rtt_avg_ms=ms(rtt),
        rtt_min_ms=ms(rtt_min),
        rtt_max_ms=ms(rtt_max),
        rtt_source=rtt_source,
        jitter_ms=ms(jitter),
        jitter_source=jitter_source,
        loss_pct=_pct(loss),
        probes_sent=sent or None,
        probes_lost=lost if sent else None,
        loss_sources=tuple(loss_sources),
        hops=None if path is None else path.hop_count,
        path=None if path is None else path.to_dict(),
        grades=grades,
        notes=tuple(notes),
    )
    return LayerAssessment(worst_grade(grades.values()), facts.to_dict(), facts)


def _path_notes(path) -> list[str]:
    notes = []
    if path.path_loss_from_ttl is not None:
        notes.append(f"path loss: {path.destination_loss_pct:g}% at the target, starting at "
                     f"hop {path.path_loss_from_ttl} and carrying on to the target")
    if path.rate_limited_ttls:
        hops = ", ".join(str(t) for t in path.rate_limited_ttls)
        notes.append(f"loss at hop {hops} does not carry on to the target: ICMP rate limiting "
                     "by that router, not a path problem")
    if path.silent_final_hop:
        notes.append("the target never answered mtr: end-to-end loss comes from ping only")
    if path.latency_step_ttl is not None:
        notes.append(f"latency steps up by {path.latency_step_ms:.1f} ms at hop "
                     f"{path.latency_step_ttl} and stays up")
    if path.multi_responder_ttls:
        hops = ", ".join(str(t) for t in path.multi_responder_ttls)
        notes.append(f"several routers answered at hop {hops}: ECMP or a route change during "
                     "the run")
    return notes


# ----------------------------------------------------------------------------------------
# L7
# ----------------------------------------------------------------------------------------

def _failed(sample: CurlSample) -> bool:
    return not sample.ok or (sample.response_code or 0) >= 500


def assess_l7(samples: Sequence[CurlSample],
              thresholds: Mapping[str, float] | None = None) -> LayerAssessment:
    th = thresholds if thresholds is not None else Thresholds()
    if not samples:
        return LayerAssessment("unknown", {"samples": 0, "grades": {"ttfb": "unknown",
                                                                     "failures": "unknown"}})
    failed = [s for s in samples if _failed(s)]
    failure_pct = 100.0 * len(failed) / len(samples)
    ttfbs = [s.ttfb_ms for s in samples if s.ok and s.ttfb_ms is not None]
    totals = [s.total_ms for s in samples if s.ok]
    ttfb = statistics.median(ttfbs) if ttfbs else None

    phases = {}
    for pid in PHASE_IDS:
        measured = [s.phases[pid] for s in samples if s.ok and s.phases[pid].status == MEASURED]
        status_counts = Counter(s.phases[pid].status for s in samples)
        phases[pid] = {
            "median_ms": ms(statistics.median(p.duration_ms for p in measured))
            if measured else None,
            "mean_share_pct": _pct(statistics.fmean(p.share_pct for p in measured
                                                    if p.share_pct is not None))
            if any(p.share_pct is not None for p in measured) else None,
            **{status: status_counts.get(status, 0) for status in ("measured", "reused",
                                                                    "absent")},
        }
    # "sample N" counts in the order given (the timings file's order in the pipeline).
    notes = [f"sample {n}: failed in {s.failed_phase}: {s.error or 'no message'}"
             for n, s in enumerate(samples, 1) if not s.ok]
    notes += [f"sample {n}: HTTP {s.response_code}" for n, s in enumerate(samples, 1)
              if s.ok and (s.response_code or 0) >= 500]
    if any(s.num_redirects for s in samples):
        notes.append("redirects followed: curl summed the phases over each chain")

    grades = {"ttfb": _grade(th, "l7.ttfb_ms", ttfb),
              "failures": _grade(th, "l7.failure_pct", failure_pct)}
    metrics = {
        "samples": len(samples),
        "failed": len(failed),
        "failure_pct": _pct(failure_pct),
        "ttfb_median_ms": ms(ttfb),
        "total_median_ms": ms(statistics.median(totals)) if totals else None,
        "phases": phases,
        "http_versions": sorted({s.http_version for s in samples if s.http_version}),
        "response_codes": {str(code): n for code, n in sorted(
            Counter(s.response_code for s in samples if s.response_code is not None).items())},
        "reused_connections": sum(1 for s in samples if s.phases["tcp"].status == "reused"),
        "grades": grades,
        "notes": notes,
    }
    return LayerAssessment(worst_grade(grades.values()), metrics)
