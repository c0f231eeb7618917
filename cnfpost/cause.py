"""The cause model: what slowed or failed the requests, ranked by how much each explains.

1. **Cells.** Every measured phase of every placed sample is a cell with its observed
   time and what the path allows: round trips of the baseline RTT (the smallest RTT any
   source saw: handshakes, the server's ACK RTTs, ICMP echoes in the capture, ping, mtr's
   best): TCP connect 1, TLS 1 (1.3) or 2 (older), server wait 2 (request out, first byte
   back, and a round trip HTTP/2 or TLS 1.3 may add), download the slow-start rounds its
   bytes need (initial window of 10 segments, RFC 6928, doubling each round) plus one; the
   phases after the connect in the connection's own handshake RTT when that is longer (a
   jittery path). DNS is judged by ``find.dns_ms.warning``. A cell is
   slow when it took ``find.phase_inflation_ms`` and ``find.phase_inflation_pct`` more.
2. **Claims.** Each slow cell is claimed by the most specific mechanism its own packets
   show, in this order: SYN retries (connect), a path-MTU black hole, a zero window, a
   stall, retransmissions that repaired loss (by direction), reordering or needless
   copies, RTT inflated under the load of other flows (queueing), then a slow server
   (server wait with clean TCP), a full receive window. A failed sample is claimed by the
   reason its packets show (cnfpost/failures.py).
3. **Ranking.** Causes are ranked by the failed samples they explain, then by the extra
   milliseconds they claimed. Without any slow cell or failure, a warning from a cause
   finding (a lossy path, bufferbloat measured by ping) is the cause at lower confidence;
   a far server whose round trips explain the requests is ``l3l7.rtt_bound``; otherwise
   the cause is None: nothing slowed or failed the requests.

Confidence: ``high`` when the affected samples' own packets show the mechanism, ``medium``
when only aggregates do (load, RTT comparisons, findings over the whole capture), ``low``
from timings alone.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field


from .findings import (CATALOGUE, Finding, capture_evidence, make_finding,
                       timings_evidence)
from .inputs.curl import MEASURED, PHASE_IDS
from .serverside_rules import server_phase_code
from .vocab import PHASE_NAMES, ms_text, severity_rank

__all__ = ["Cause", "Explanation", "explain", "MECHANISMS"]

MECHANISMS = tuple(sorted({s.mechanism for s in CATALOGUE.values() if s.mechanism}))
INITIAL_WINDOW = 10          # segments (RFC 6928)
LOSS_CODES = {"down": "l3.downstream_loss", "up": "l3.upstream_loss"}


@dataclass(frozen=True)
class Claim:
    code: str
    sample: int
    phase: str
    observed_ms: float | None
    expected_ms: float | None
    confidence: str
    frames: tuple[int, ...] = ()
    failed: bool = False


@dataclass(frozen=True)
class Cause:
    code: str
    mechanism: str
    layer: str
    phases: tuple[str, ...]
    samples: tuple[int, ...]
    observed_ms: float | None
    expected_ms: float | None
    confidence: str
    because: tuple[str, ...]
    explained_ms: float = 0.0
    failed_samples: int = 0

    def to_dict(self) -> dict:
        r = (lambda v: None if v is None else round(v, 3))
        return {"code": self.code, "mechanism": self.mechanism, "layer": self.layer,
                "phases": list(self.phases), "samples": list(self.samples),
                "observed_ms": r(self.observed_ms), "expected_ms": r(self.expected_ms),
                "confidence": self.confidence, "because": list(self.because),
                "explained_ms": round(self.explained_ms, 3),
                "failed_samples": self.failed_samples}


@dataclass(frozen=True)
class Explanation:
    cause: Cause | None
    contributing: tuple[Cause, ...]
    findings: tuple[Finding, ...]          # findings the model raised itself (rtt_bound, ...)
    cells: tuple[Claim, ...] = field(default=())


# ----------------------------------------------------------------------------------------
# Expected time per phase
# ----------------------------------------------------------------------------------------

def slow_start_rounds(size_bytes: int, mss: int) -> int:
    """Round trips after the first flight to deliver size_bytes in slow start."""
    if size_bytes <= 0 or mss <= 0:
        return 0
    flights = size_bytes / (INITIAL_WINDOW * mss)
    return max(0, math.ceil(math.log2(flights + 1)) - 1)


def expected_ms(ctx, pid: str, sample, stream: int | None, rtt: float) -> float:
    if pid == "tcp":
        return rtt
    if pid == "server":
        # request out, first byte back, and a round trip HTTP/2 or TLS 1.3 may add before
        # the response (the server's SETTINGS, session tickets): within it is not the server
        return 2 * rtt
    if pid == "tls":
        version = ctx.tls_versions.get(stream) if stream is not None else None
        return rtt * (2 if version is not None and version < 0x0304 else 1)
    if pid == "download":
        mss, size = 1460, sample.size_download or 0
        if ctx.tcp is not None and stream is not None:
            mss = int(ctx.tcp.flows["mss_server"][stream] or mss)
            # a sample cut from the wire has no size: the bytes the server delivered
            size = size or int(ctx.tcp.flows["unique_bytes_s2c"][stream])
        # one more round than slow start needs: delayed ACKs and the last flight's drain
        return (slow_start_rounds(size, mss) + 1) * rtt
    return 0.0


def _cell_rtt(ctx, pid: str, stream: int | None, baseline: float) -> float:
    """The round trip a phase is measured in: the baseline for the connect (the handshake
    is the RTT being judged: queueing shows there), the connection's own handshake RTT for
    the later phases (on a jittery path its round trips are what they are)."""
    if pid == "tcp" or stream is None or ctx.tcp is None:
        return baseline
    own = float(ctx.tcp.flows["irtt_ns"][stream]) / 1e6
    return max(own, baseline)


def beyond_round_trips(ctx, sample, pid: str, observed: float) -> bool:
    """Did this phase of this sample take clearly longer than the path's round trips
    explain (the cell test below)? True when nothing is known to compare with."""
    rtt = ctx.facts.baseline_rtt_ms
    if rtt is None:
        return True
    placement = ctx.placement_of(sample)
    stream = placement.stream if placement is not None else None
    expected = expected_ms(ctx, pid, sample, stream, _cell_rtt(ctx, pid, stream, rtt))
    return _slow(ctx, pid, observed, expected)


def _slow(ctx, pid: str, observed: float, expected: float) -> bool:
    th = ctx.th
    if pid == "dns":
        return observed >= th["find.dns_ms.warning"]
    return observed - expected >= th["find.phase_inflation_ms"] and \
        observed >= expected * (1 + th["find.phase_inflation_pct"] / 100.0)


# ----------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------

def loss_code(ctx, directions: set[str]) -> str:
    """The cause code for retransmissions that repaired loss (see the module docstring of
    cnfpost/repairs.py): the path when ICMP saw loss too, the direction when only the
    capture shows it, the endpoint when enough probes rule the path out."""
    if ctx.l3.icmp_saw_loss or not directions:
        return "l3.path_loss"
    sent = ctx.l3.probes_sent or 0
    rate = ctx.facts.repair_rate_pct(directions)
    if sent and rate and 100.0 * ctx.th["find.probe_rule_out_factor"] / sent < rate / 2:
        return "l3l4.endpoint_tcp"
    return LOSS_CODES[next(iter(directions))] if len(directions) == 1 else "l3.path_loss"


def _loss_seen(ctx) -> set[str]:
    """Directions loss was seen in beyond a sample's own retries: repaired segments, or
    ICMP probes that went unanswered (both ways: ICMP cannot tell)."""
    seen = {d for d, n in ctx.facts.repair_segments.items() if n}
    if ctx.facts.unseen:
        seen.add("down")
    if ctx.l3.icmp_saw_loss:
        seen |= {"up", "down"}
    return seen


def _claim_cell(ctx, s, placement, bucket, k: int, observed: float, expected: float,
                limits=None, lookups=()):
    pid = PHASE_IDS[k]
    stream = placement.stream if placement is not None else None
    frames_of = (lambda name: bucket.event_frames.get(name, ()) if bucket is not None else ())

    def claim(code, confidence, frames=()):
        return Claim(code, s.index, pid, observed, expected, confidence, tuple(frames))

    if pid == "dns":
        frames = sorted({f for t in lookups for f in t["frames"]})
        retried = any(t["resends"] or not t["answered"] for t in lookups)
        if retried and _loss_seen(ctx):
            # a query lost and sent again on a path that loses packets: the path's loss
            return claim(loss_code(ctx, _loss_seen(ctx)), "medium", frames)
        return claim("l7.slow_dns", "high" if lookups else
                     "medium" if ctx.facts.dns_seen else "low", frames)
    if pid == "request" and (stream is None or bucket is None):
        return None                # sending the request: nothing to say without packets
    if stream is None or ctx.tcp is None or bucket is None:
        return claim(_unexplained_code(pid), "low")
    facts = ctx.facts
    lo, hi = placement.edges_ns[k], placement.edges_ns[k + 1]     # the cell on the capture
    if pid == "tcp" and ctx.tcp.flows["syn_retries"][stream] > 0:
        if _loss_seen(ctx):     # a SYN lost on a path that loses other packets too
            return claim(loss_code(ctx, _loss_seen(ctx)), "high", facts.syn_frames(stream))
        return claim("l4.syn_retry", "high", facts.syn_frames(stream))
    hole = facts.blackhole(stream)
    if hole is not None:
        return claim("l3.pmtud_blackhole", "high", hole.frames)
    shut_ms = float(ctx.tcp.flows["zero_window_ns"][stream]) / 1e6
    if bucket.events.get("zero_windows", 0) and shut_ms >= 0.5 * (observed - expected):
        # a window shut long enough to account for at least half the extra time
        return claim("l4.zero_window", "high", frames_of("zero_windows"))
    stall = facts.stall_in(stream, lo, hi)
    if stall is not None:
        return claim("l4.stall", "high", stall.frames)
    flagged = set(frames_of("retransmissions")) | set(frames_of("out_of_order"))
    repairs = [f for f in flagged if f in facts.repair_frames]
    unseen = facts.unseen_in(stream, lo, hi)
    if repairs or unseen:
        dirs = {facts.repair_frames[f] for f in repairs} | ({"down"} if unseen else set())
        return claim(loss_code(ctx, dirs), "high", sorted(set(repairs) | set(unseen)))
    late = [f for f in flagged if f in facts.reorder_frames or f in facts.copy_frames]
    if late:
        code = "l4.reordering" if facts.reordered else "l4.spurious_retransmissions"
        return claim(code, "high", sorted(late))
    inflated = facts.rtt_inflation_ms(stream)
    if inflated is not None and inflated >= ctx.th["find.bufferbloat_ms.warning"] \
            and facts.loading_streams(stream, lo, hi):
        return claim("l3l7.bufferbloat", "medium", facts.syn_frames(stream))
    if pid == "server":
        # with a server capture, only the server's own measured time makes it the server's
        code = server_phase_code(ctx, s.index, observed - expected)
        if code is not None:
            return claim(code, "high", bucket.frames or ())
    if pid == "download" and limits is not None and limits.limited_by == "receiver":
        return claim("l4.window_limited", "high", bucket.frames or ())
    if pid == "download" and limits is not None and limits.limited_by == "sender":
        # the server paused with the window open and nothing lost: its application
        return claim("l7.slow_server", "high", bucket.frames or ())
    if bucket.events.get("window_full", 0) and \
            ctx.tcp.flows["window_full"][stream] >= ctx.th["find.window_full.warning"]:
        return claim("l4.window_limited", "high", frames_of("window_full"))
    lossy = {d for d, n in facts.repair_segments.items() if n}
    if lossy and pid in ("tls", "request", "download"):
        # a segment lost at the tail of a flight leaves the receiver no hole to see, only
        # the time its repair took: loss the capture shows on other segments explains it
        return claim(loss_code(ctx, lossy), "medium", ())
    if pid == "request":
        return None                # a slow upload with clean TCP: no L7 rule to weigh it
    return claim(_unexplained_code(pid), "low", bucket.frames or ())


def _unexplained_code(pid: str) -> str:
    return {"dns": "l7.slow_dns", "tcp": "l7.slow_connect", "tls": "l7.slow_tls",
            "server": "l7.slow_server", "download": "l7.slow_download"}[pid]


# Failures the endpoints decided on: no network mechanism to look for behind them.
DECIDED = ("certificate", "tls_alert", "http_error", "too_many_redirects", "http2_error")


def _failure_claim(ctx, s, failure) -> Claim:
    """The cause of one failed sample, from its failure record (cnfpost/failures.py): a
    server's refusal or reset, a DNS failure, an endpoint's decision (certificate, alert,
    HTTP error), else what the connection's packets show (a black hole, an unanswered
    SYN, a stall, loss), and only then curl's own word."""
    facts = ctx.facts
    stream = failure.stream
    reason = failure.reason
    code = "l7.request_failed"
    if reason in ("refused", "reset") and failure.by == "server":
        code = "l4.reset"
    elif reason == "dns_failure" or failure.phase == "dns":
        code = "l7.slow_dns" if reason == "timeout" else "l7.request_failed"
    elif reason in DECIDED:
        code = "l7.request_failed"
    elif stream is not None and facts.blackhole(stream) is not None:
        code = "l3.pmtud_blackhole"
    elif failure.phase == "tcp" and stream is not None:
        code = loss_code(ctx, _loss_seen(ctx)) if _loss_seen(ctx) else "l4.syn_retry"
    elif stream is not None and facts.stall_in(stream, 0, 2 ** 62) is not None:
        code = "l4.stall"
    elif stream is not None and facts.stream_repairs(stream):
        code = loss_code(ctx, facts.stream_repairs(stream))
    elif reason == "timeout" and failure.phase == "server":
        code = "l7.slow_server"
    confidence = "high" if failure.frames else "low"
    return Claim(code, s.index, failure.phase, None, None, confidence, tuple(failure.frames),
                 failed=True)


def _flagged(findings: list[Finding]) -> set[tuple[str, int]]:
    """(code, sample) of every slow phase an L7 rule flagged over its own limit."""
    return {(f.code, n) for f in findings if CATALOGUE[f.code].mechanism == "unexplained"
            for n in f.numbers.get("samples_over") or ()}


def _claims(ctx, flagged: set[tuple[str, int]]) -> list[Claim]:
    """Each slow cell's claim. A cell no mechanism explains is kept only when its L7 rule
    flagged it over that rule's own limit (l7.slow_tls from 100 ms, ...): a first handshake
    that spent 50 ms in the probe's own TLS library is no network fault."""
    rtt = ctx.facts.baseline_rtt_ms
    out = []
    for i, s in enumerate(ctx.samples):
        placement = ctx.placements[i] if ctx.placements else None
        buckets = ctx.buckets[i] if ctx.buckets else None
        failure = ctx.failures[i] if ctx.failures else None
        if failure is not None:
            out.append(_failure_claim(ctx, s, failure))
        for k, pid in enumerate(PHASE_IDS):
            phase = s.phases[pid]
            if phase.status != MEASURED or phase.duration_ms is None:
                continue
            stream = placement.stream if placement is not None else None
            if rtt is not None:
                exp = expected_ms(ctx, pid, s, stream, _cell_rtt(ctx, pid, stream, rtt))
            else:
                best = [x.phases[pid].duration_ms for x in ctx.samples
                        if x.phases[pid].status == MEASURED and x.phases[pid].duration_ms]
                exp = min(best) if best else 0.0
            if not _slow(ctx, pid, phase.duration_ms, exp):
                continue
            usable = placement is not None and placement.edges_ns and buckets is not None
            claim = _claim_cell(ctx, s, placement if usable else None,
                                buckets[pid] if usable else None, k, phase.duration_ms, exp,
                                ctx.limits[i] if ctx.limits else None,
                                ctx.dns[i] if ctx.dns else ())
            if claim is None:
                continue
            unexplained = CATALOGUE[claim.code].mechanism == "unexplained"
            if not unexplained or (claim.code, s.index) in flagged:
                out.append(claim)
    return out


# ----------------------------------------------------------------------------------------
# Ranking
# ----------------------------------------------------------------------------------------

_CONFIDENCE = ("high", "medium", "low")


def _cause_from_claims(code: str, claims: list[Claim], findings: list[Finding]) -> Cause:
    spec = CATALOGUE[code]
    phases = tuple(p for p in PHASE_IDS if any(c.phase == p for c in claims))
    samples = tuple(sorted({c.sample for c in claims}))
    timed = [c for c in claims if c.observed_ms is not None]
    observed = statistics.median(c.observed_ms for c in timed) if timed else None
    expected = statistics.median(c.expected_ms for c in timed) if timed else None
    extra = sum(c.observed_ms - c.expected_ms for c in timed)
    confidence = min((c.confidence for c in claims), key=_CONFIDENCE.index)
    frames = {f for c in claims for f in c.frames}
    because = _because(code, phases, frames, findings)
    return Cause(code, spec.mechanism, spec.cause_layer, phases, samples, observed, expected,
                 confidence, because, extra, sum(1 for c in claims if c.failed))


def _because(code: str, phases, frames: set[int], findings: list[Finding]) -> tuple[str, ...]:
    out = []
    for f in findings:
        if f.code == code or f.code in out or f.severity == "info":
            continue
        role = CATALOGUE[f.code].role
        phase = f.numbers.get("phase") if isinstance(f.numbers, dict) else None
        if role == "effect" and (phase in phases or phase is None and phases):
            out.append(f.code)
        elif frames and frames & set(f.evidence.frames):
            out.append(f.code)
    return tuple(out)


def _cause_from_finding(f: Finding, findings: list[Finding]) -> Cause:
    spec = CATALOGUE[f.code]
    n = f.numbers
    observed = n.get("loaded_ms", n.get("median_ms"))
    expected = n.get("idle_ms", n.get("limit_ms"))
    confidence = "medium" if f.evidence.source == "capture" else "low"
    samples = tuple(n.get("samples_over") or n.get("samples") or ())
    phase = n.get("phase")
    return Cause(f.code, spec.mechanism, spec.cause_layer, (phase,) if phase else (),
                 samples, observed, expected, confidence,
                 _because(f.code, (phase,) if phase else (), set(f.evidence.frames), findings))


def explain(ctx, findings: list[Finding]) -> Explanation:
    """Rank the causes (see the module docstring). ``ctx`` is the rules' Context."""
    claims = _claims(ctx, _flagged(findings))
    by_code: dict[str, list[Claim]] = defaultdict(list)
    for c in claims:
        by_code[c.code].append(c)
    causes = [_cause_from_claims(code, group, findings) for code, group in by_code.items()]
    causes.sort(key=lambda c: (-c.failed_samples, -c.explained_ms, _order(c.code)))
    raised = {f.code for f in findings}
    extra = []
    for cause in causes:
        if cause.code not in raised:
            extra.append(_finding_for(cause, by_code[cause.code]))
            raised.add(cause.code)
    if not causes:
        # Nothing slowed or failed a sample: a warning from a cause finding still says what
        # is wrong with the run (a lossy path, a queue measured by ping).
        warned = [f for f in findings if CATALOGUE[f.code].role == "cause"
                  and f.severity != "info"]
        sample_streams = {p.stream for p in ctx.placements if p.stream is not None}
        warned.sort(key=lambda f: (_elsewhere(f, sample_streams), severity_rank(f.severity),
                                   _order(f.code)))
        seen = set()
        for f in warned:
            if f.code not in seen:
                seen.add(f.code)
                causes.append(_cause_from_finding(f, findings))
    if not causes:
        bound = _rtt_bound(ctx)
        if bound is not None:
            finding, cause = bound
            extra.append(finding)
            causes.append(cause)
    head = causes[0] if causes else None
    return Explanation(head, tuple(causes[1:]), tuple(extra), tuple(claims))


def _elsewhere(f: Finding, sample_streams: set[int]) -> bool:
    """A finding about other connections only (the load's own loss, say) ranks after one
    about the samples' connections or the path as a whole."""
    streams = f.numbers.get("streams") if isinstance(f.numbers, dict) else None
    return bool(streams) and bool(sample_streams) and not set(streams) & sample_streams


def _order(code: str) -> int:
    return list(CATALOGUE).index(code)


def _finding_for(cause: Cause, claims: list[Claim]) -> Finding:
    """A finding for a cause no rule raised (the cells showed it below a rule's limit)."""
    frames = sorted({f for c in claims for f in c.frames})
    where = ", ".join(PHASE_NAMES[p] for p in cause.phases) or "the requests"
    took = "" if cause.observed_ms is None else \
        f": {ms_text(cause.observed_ms)} ms instead of about {ms_text(cause.expected_ms)} ms"
    evidence = capture_evidence(frames, f"{cause.code} in the affected phases") if frames \
        else None
    return make_finding(cause.code, "warning",
                        f"{CATALOGUE[cause.code].title} in {where} of sample(s) "
                        f"{', '.join(str(s) for s in cause.samples)}{took}",
                        {"phase": cause.phases[0] if cause.phases else None,
                         "samples": list(cause.samples),
                         "median_ms": None if cause.observed_ms is None
                         else round(cause.observed_ms, 3),
                         "expected_ms": None if cause.expected_ms is None
                         else round(cause.expected_ms, 3)},
                        evidence if evidence is not None else timings_evidence(cause.samples))


def _rtt_bound(ctx):
    """A far server: every request costs a few round trips of a long RTT, nothing else."""
    rtt = ctx.facts.baseline_rtt_ms
    if rtt is None or rtt < ctx.th["find.rtt_bound_ms"]:
        return None
    totals = [s.total_ms for s in ctx.samples if s.ok and s.total_ms]
    if not totals:
        return None
    total = statistics.median(totals)
    trips = total / rtt
    finding = make_finding(
        "l3l7.rtt_bound", "info",
        f"each request costs about {trips:.1f} round trips of {rtt:.1f} ms "
        f"({total:.1f} ms median): the distance to the server, not loss or the server, "
        "sets the time", {"rtt_ms": round(rtt, 3), "round_trips": round(trips, 2),
                          "total_median_ms": round(total, 3),
                          "rtt_source": ctx.facts.baseline_source},
        timings_evidence(s.index for s in ctx.samples))
    spec = CATALOGUE["l3l7.rtt_bound"]
    expected = None
    cause = Cause("l3l7.rtt_bound", spec.mechanism, spec.cause_layer,
                  tuple(p for p in PHASE_IDS if p != "dns"),
                  tuple(s.index for s in ctx.samples if s.ok), total, expected,
                  "medium", (), 0.0, 0)
    return finding, cause
