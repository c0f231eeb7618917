"""The rules that turn the layers' figures into findings.

Each rule is a pure function of the analysis context returning findings (codes from
cnfpost/findings.py, limits from cnfpost/thresholds.py). Rules never raise on missing
inputs: a rule whose inputs are absent returns nothing, and the report says which inputs
were missing. A healthy run raises no warning or critical finding.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from .cause import beyond_round_trips
from .correlate import PhaseBucket, Placement
from .facts import Facts, no_facts
from .failures import Failure
from .findings import Evidence, Finding, capture_evidence, make_finding, timings_evidence
from .layers import L3Facts
from .icmp_echo import CaptureEcho
from .inputs.curl import PHASE_IDS, CurlSample
from .inputs.mtr import MtrReport
from .path import PathAssessment
from .inputs.ping import PingRun
from .model import PacketTable, TcpFlag
from .tcp import TcpAnalysis
from .vocab import PHASE_NAMES, TROUBLE_EVENTS, severity_rank

__all__ = ["Context", "RULES", "run_rules", "path_rtt", "path_vs_handshake"]

SYN, ACK, RST = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.RST)


@dataclass
class Context:
    """Everything the rules may look at. Absent inputs are None / empty."""

    th: Mapping[str, float]
    table: PacketTable | None = None
    tcp: TcpAnalysis | None = None
    echo: CaptureEcho | None = None
    ping: PingRun | None = None
    ping_loaded: PingRun | None = None
    mtr: MtrReport | None = None
    path: PathAssessment | None = None
    samples: list[CurlSample] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    buckets: list[dict[str, PhaseBucket] | None] = field(default_factory=list)
    grades: dict[str, str] = field(default_factory=dict)   # layer -> quality
    tls_versions: dict[int, int | None] = field(default_factory=dict)  # stream -> TLS version
    l3: L3Facts = field(default_factory=L3Facts)     # what the path measured (typed)
    facts: Facts = field(default_factory=no_facts)
    handshake: dict | None = None        # path RTT vs handshake RTT (path_vs_handshake)
    limits: list = field(default_factory=list)   # per sample: DownloadLimits or None
    dns: list = field(default_factory=list)      # per sample: its DNS transactions (wire)
    failures: list[Failure | None] = field(default_factory=list)
    server_side: object | None = None   # cnfpost/serverside.py ServerSide, with server.pcap
    _sample_index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def placement_of(self, sample: CurlSample) -> Placement | None:
        """The placement of one of the samples (None when it has none)."""
        if len(self._sample_index) != len(self.samples):
            self._sample_index = {id(s): i for i, s in enumerate(self.samples)}
        i = self._sample_index.get(id(sample))
        return self.placements[i] if i is not None and self.placements else None


def path_rtt(ctx: Context) -> tuple[float | None, str | None]:
    """The path's round-trip time: mtr's best to the target (mtr's Avg is already a round
    trip: never doubled), else ping's minimum, else the capture's echo minimum."""
    if ctx.path is not None and ctx.path.destination_best_ms is not None:
        return ctx.path.destination_best_ms, "mtr"
    if ctx.ping is not None and ctx.ping.summary is not None and ctx.ping.summary.min_ms is not None:
        return ctx.ping.summary.min_ms, "ping"
    if ctx.echo is not None and ctx.echo.answered:
        return ctx.echo.stats.min_ms, "capture_icmp"
    return None, None


def _severity(value: float, warning: float, critical: float | None = None) -> str | None:
    if critical is not None and value >= critical:
        return "critical"
    if value >= warning:
        return "warning"
    return None


def _frames(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) + 1


# ----------------------------------------------------------------------------------------
# L3
# ----------------------------------------------------------------------------------------

def rule_path_loss(ctx: Context) -> list[Finding]:
    loss = ctx.l3.loss_pct
    grade = ctx.l3.grades.get("loss")
    if loss is None or grade in (None, "excellent", "unknown"):
        return []
    severity = {"good": "info", "fair": "warning", "poor": "critical"}[grade]
    where = ""
    sources = ctx.l3.loss_sources or ("ping",)
    if sources[0] == "capture_icmp" and ctx.echo is not None:
        # the capture's own echoes: the requests that got no reply are the evidence
        evidence = capture_evidence(ctx.echo.unanswered_frame, "ICMP echo requests without a reply")
    else:
        evidence = Evidence(sources[0])
    if ctx.path is not None and ctx.path.path_loss_from_ttl is not None:
        where = f", starting at hop {ctx.path.path_loss_from_ttl} and carrying on to the target"
        first, last = ctx.path.path_loss_from_ttl, ctx.path.hop_count
        evidence = Evidence("mtr", detail=f"hop {first}" if first == last else f"hops {first}..{last}")
    elif ctx.ping is not None and ctx.ping.lost_seqs:
        evidence = Evidence("ping", detail="lost icmp_seq " + ", ".join(
            str(s) for s in ctx.ping.lost_seqs[:20]))
    return [make_finding(
        "l3.path_loss", severity,
        f"{loss:.3g}% packet loss to the target ({ctx.l3.probes_lost} of "
        f"{ctx.l3.probes_sent} probes){where}",
        {"loss_pct": loss, "probes_sent": ctx.l3.probes_sent,
         "probes_lost": ctx.l3.probes_lost,
         "from_hop": None if ctx.path is None else ctx.path.path_loss_from_ttl},
        evidence)]


def rule_hop_ratelimit(ctx: Context) -> list[Finding]:
    if ctx.path is None or not ctx.path.rate_limited_ttls or ctx.mtr is None:
        return []
    hops = {h.ttl: h for h in ctx.mtr.hops}
    parts = [f"hop {t} ({hops[t].host}, {hops[t].loss_pct:g}% loss)" for t in ctx.path.rate_limited_ttls
             if t in hops]
    dest = ctx.path.destination_loss_pct
    return [make_finding(
        "l3.hop_icmp_ratelimit", "info",
        f"{'; '.join(parts)} but {dest if dest is not None else '?'}% at the target: the router "
        "rate-limits its ICMP replies, traffic through it is not lost",
        {"hops": list(ctx.path.rate_limited_ttls), "destination_loss_pct": dest},
        Evidence("mtr", detail="hops " + ", ".join(str(t) for t in ctx.path.rate_limited_ttls)))]


def rule_latency_step(ctx: Context) -> list[Finding]:
    if ctx.path is None or ctx.path.latency_step_ttl is None:
        return []
    return [make_finding(
        "l3.latency_step", "info",
        f"latency steps up by {ctx.path.latency_step_ms:.1f} ms at hop "
        f"{ctx.path.latency_step_ttl} and stays up to the target",
        {"hop": ctx.path.latency_step_ttl, "step_ms": round(ctx.path.latency_step_ms, 3)},
        Evidence("mtr", detail=f"hop {ctx.path.latency_step_ttl}"))]


def rule_jitter(ctx: Context) -> list[Finding]:
    jitter = ctx.l3.jitter_ms
    if jitter is None:
        return []
    severity = _severity(jitter, ctx.th["find.jitter_ms.warning"], ctx.th["find.jitter_ms.critical"])
    if severity is None:
        return []
    source = ctx.l3.jitter_source or "ping"
    evidence = Evidence("ping") if source == "ping" else Evidence("mtr")
    if source == "capture_icmp" and ctx.echo is not None:
        evidence = capture_evidence(np.concatenate([ctx.echo.request_frame, ctx.echo.reply_frame]),
                                    "ICMP echo requests and replies")
    return [make_finding("l3.high_jitter", severity,
                         f"jitter {jitter:.1f} ms (mean change between consecutive RTTs, {source})",
                         {"jitter_ms": jitter, "source": source}, evidence)]


def _sent_by_probe(ctx: Context, rows: np.ndarray) -> np.ndarray:
    """Per row: sent from one of the probe's own addresses (the clients of the capture's TCP
    connections)? The probe's own ICMP errors (a port unreachable for a DNS answer that came
    after the resolver gave up) say nothing about the path."""
    if ctx.tcp is None or ctx.tcp.n_streams == 0:
        return np.zeros(rows.shape[0], dtype=bool)
    f = ctx.tcp.flows
    mine = {(int(v), int(a)) for v, a in zip(f["ip_version"], f["client_addr"])}
    c = ctx.table.columns
    return np.array([(int(c["ip_version"][r]), int(c["ip_src"][r])) in mine for r in rows],
                    dtype=bool)


def rule_unreachable(ctx: Context) -> list[Finding]:
    out = []
    if ctx.table is not None and ctx.table.icmp["row"].size:
        icmp = ctx.table.icmp
        unreach = ((icmp["version"] == 4) & (icmp["type"] == 3)) | ((icmp["version"] == 6) & (icmp["type"] == 1))
        unreach &= ~_sent_by_probe(ctx, icmp["row"].astype(np.int64))
        if unreach.any():
            frames = icmp["row"][unreach].astype(np.int64) + 1
            out.append(make_finding(
                "l3.unreachable", "warning",
                f"{frames.size} ICMP destination-unreachable error(s) in the capture",
                {"icmp_unreachable": int(frames.size)}, capture_evidence(frames, "icmp.type == 3 || icmpv6.type == 1")))
    if ctx.ping is not None and ctx.ping.sent and ctx.ping.summary is not None and ctx.ping.summary.received == 0:
        out.append(make_finding("l3.unreachable", "critical",
                                f"ping got no reply to {ctx.ping.sent} probes",
                                {"ping_sent": ctx.ping.sent}, Evidence("ping")))
    elif ctx.path is not None and ctx.path.destination_reached is False:
        out.append(make_finding("l3.unreachable", "info",
                                "mtr never reached the target (its probes may be filtered: "
                                "the end-to-end view comes from ping and TCP)",
                                {"hops": ctx.path.hop_count}, Evidence("mtr")))
    return out


# ----------------------------------------------------------------------------------------
# L4
# ----------------------------------------------------------------------------------------

def rule_retransmissions(ctx: Context) -> list[Finding]:
    """Judged by the data segments sent again that the receiver needed (repairs after loss,
    cnfpost/repairs.py): needless copies are l4.spurious_retransmissions, late arrivals
    l4.reordering, and a retransmitted SYN, FIN or bare ACK costs the user nothing here
    (SYN retries are l4.syn_retry)."""
    if ctx.tcp is None or ctx.tcp.n_streams == 0 or ctx.facts.repairs is None:
        return []
    data = ctx.facts.total_segments
    mask = ctx.tcp.has("tcp.analysis.retransmission")
    control = int((mask & (ctx.tcp.payload_len == 0)).sum())
    rows = ctx.facts.repairs.select("repair")
    count = sum(ctx.facts.repair_segments.values())
    if not count and not control:
        return []
    pct = 100.0 * count / data if data else 0.0
    severity = _severity(pct, ctx.th["find.retrans_pct.warning"],
                         ctx.th["find.retrans_pct.critical"]) if count else None
    fast = int(ctx.tcp.has("tcp.analysis.fast_retransmission")[rows].sum())
    up = ctx.facts.repair_segments.get("up", 0)
    streams = sorted({int(s) for s in ctx.tcp.columns["tcp_stream"][rows]})
    text = (f"{count} data segment(s) sent again to repair loss out of {data} ({pct:.2f}%; "
            f"{count - up} server->client, {up} client->server; {fast} fast)")
    if control:
        text += f"; {control} SYN/FIN/ACK-only retransmission(s) counted apart"
    return [make_finding(
        "l4.retransmissions", severity or "info", f"{text} in {len(streams)} connection(s)",
        {"retransmissions": count, "control_retransmissions": control, "data_segments": data,
         "rate_pct": round(pct, 3), "fast": fast, "downstream": count - up, "upstream": up,
         "spurious": ctx.facts.repairs.count("copy"), "streams": streams},
        capture_evidence(rows + 1 if count else _frames(mask), "tcp.analysis.retransmission"))]


def rule_spurious(ctx: Context) -> list[Finding]:
    if ctx.tcp is None or ctx.facts.repairs is None:
        return []
    rows = ctx.facts.repairs.select("copy")
    if rows.shape[0] == 0:
        return []
    data = ctx.facts.total_segments
    pct = 100.0 * rows.shape[0] / data if data else 0.0
    severity = "warning" if pct >= ctx.th["find.retrans_pct.warning"] else "info"
    why = "reordering fooled the sender" if ctx.facts.reordered else \
        "ACKs lost on the way back or an early timeout"
    return [make_finding("l4.spurious_retransmissions", severity,
                         f"{rows.shape[0]} retransmission(s) the receiver did not need "
                         f"({pct:.2f}% of data segments): the bytes had already arrived; {why}",
                         {"spurious": int(rows.shape[0]), "rate_pct": round(pct, 3)},
                         capture_evidence(rows + 1, "data sent again after it had arrived"))]


def rule_reordering(ctx: Context) -> list[Finding]:
    """Segments the network held back (arrived late, not re-sent), not hole-filling
    retransmissions that tshark may also label out-of-order."""
    if ctx.tcp is None or ctx.facts.repairs is None:
        return []
    rows = ctx.facts.repairs.select("reordered")
    count = int(rows.shape[0])
    data = ctx.facts.total_segments
    if not count or not data:
        return []
    pct = 100.0 * count / data
    copies = ctx.facts.repairs.count("copy")
    copies_pct = 100.0 * copies / data
    severity = "warning" if pct >= ctx.th["find.ooo_pct.warning"] \
        or copies_pct >= ctx.th["find.retrans_pct.warning"] else "info"
    return [make_finding("l4.reordering", severity,
                         f"{count} segment(s) arrived late, overtaken by later ones "
                         f"({pct:.2f}% of data segments)"
                         + (f"; {copies} needless retransmission(s) followed" if copies else ""),
                         {"out_of_order": count, "rate_pct": round(pct, 3),
                          "spurious_retransmissions": copies},
                         capture_evidence(rows + 1, "segments that arrived late"))]


def rule_directional_loss(ctx: Context) -> list[Finding]:
    """Loss located by the capture: the direction whose data needed repairs."""
    if ctx.tcp is None or ctx.facts.repairs is None:
        return []
    icmp_saw = (ctx.l3.loss_pct or 0) > 0
    sent = ctx.l3.probes_sent or 0
    out = []
    for direction, code, label in (("down", "l3.downstream_loss", "server -> client"),
                                   ("up", "l3.upstream_loss", "client -> server")):
        rows = ctx.facts.repairs.select("repair", direction)
        if rows.shape[0] == 0:
            continue
        rate = ctx.facts.repair_rate_pct({direction}) or 0.0
        bound = 100.0 * ctx.th["find.probe_rule_out_factor"] / sent if sent else None
        if icmp_saw:
            seen = "ICMP probes saw loss too (l3.path_loss)"
        elif bound is None:
            seen = "no ICMP probes to compare with"
        else:
            seen = (f"{sent} ICMP probes saw none, which rules out only loss above "
                    f"{bound:.3g}%")
        severity = "info" if icmp_saw else (_severity(
            rate, ctx.th["find.retrans_pct.warning"], ctx.th["find.retrans_pct.critical"])
            or "info")
        streams = sorted({int(s) for s in ctx.tcp.columns["tcp_stream"][rows]})
        out.append(make_finding(
            code, severity,
            f"{ctx.facts.repair_segments.get(direction, 0)} {label} data segment(s) lost and "
            f"sent again ({rate:.2f}% of that "
            f"direction's data segments) in {len(streams)} connection(s); {seen}",
            {"repairs": ctx.facts.repair_segments.get(direction, 0), "rate_pct": round(rate, 3),
             "streams": streams,
             "icmp_probes": sent or None, "icmp_rule_out_pct": None if bound is None
             else round(bound, 3)},
            capture_evidence(rows + 1, f"{label} segments that repaired loss")))
    return out


def rule_stall(ctx: Context) -> list[Finding]:
    stalls = ctx.facts.stalls
    if not stalls:
        return []
    longest = max(s.duration_ms for s in stalls)
    ended = sorted({s.ended_by for s in stalls})
    frames = [f for s in stalls for f in s.frames]
    critical = longest >= ctx.th["find.stall_ms.critical"]
    return [make_finding("l4.stall", "critical" if critical else "warning",
                         f"{len(stalls)} stall(s) in {len({s.stream for s in stalls})} "
                         f"connection(s): nothing moved for up to {longest:.0f} ms (ended by "
                         f"{', '.join(e.replace('_', ' ') for e in ended)})",
                         {"stalls": len(stalls), "longest_ms": round(longest, 3),
                          "streams": sorted({s.stream for s in stalls}), "ended_by": ended},
                         capture_evidence(frames, "the frames before and after each silence"))]


def rule_blackhole(ctx: Context) -> list[Finding]:
    holes = ctx.facts.blackholes
    if not holes:
        return []
    largest = max(h.largest_ip_bytes for h in holes)
    full = max(h.mss for h in holes) + 40            # a full-size segment as an IPv4 packet
    way = sorted({h.direction for h in holes})
    frames = [f for h in holes for f in h.frames]
    return [make_finding("l3.pmtud_blackhole", "critical",
                         f"full-size segments never got through in {len(holes)} connection(s) "
                         f"({'/'.join(way)}stream) while smaller ones did: the path MTU is "
                         f"at least {largest} bytes (the largest packet that arrived) and "
                         f"below {full} (a full segment), and no ICMP 'fragmentation needed' "
                         "reached the sender",
                         {"connections": len(holes), "largest_ip_bytes": largest,
                          "mss": max(h.mss for h in holes), "directions": way,
                          "streams": [h.stream for h in holes]},
                         capture_evidence(frames, "small segments past the hole, or the "
                                          "full-size segment sent again"))]


def rule_zero_window(ctx: Context) -> list[Finding]:
    if ctx.tcp is None or ctx.tcp.n_streams == 0:
        return []
    f = ctx.tcp.flows
    worst = f["zero_window_max_ns"].astype(np.float64) / 1e6
    if not (f["zero_windows"] > 0).any():
        return []
    longest = float(worst.max())
    severity = _severity(longest, ctx.th["find.zero_window_ms.warning"],
                         ctx.th["find.zero_window_ms.critical"]) or "info"
    mask = ctx.tcp.has("tcp.analysis.zero_window")
    streams = [int(s) for s in np.flatnonzero(f["zero_windows"] > 0)]
    total = float(f["zero_window_ns"].sum()) / 1e6
    return [make_finding("l4.zero_window", severity,
                         f"zero window advertised {int(mask.sum())} time(s) in {len(streams)} "
                         f"connection(s); longest stall {longest:.1f} ms, {total:.1f} ms in all",
                         {"zero_windows": int(mask.sum()), "longest_ms": round(longest, 3),
                          "total_ms": round(total, 3), "streams": streams},
                         capture_evidence(_frames(mask), "tcp.analysis.zero_window"))]


def rule_window_limited(ctx: Context) -> list[Finding]:
    if ctx.tcp is None or ctx.tcp.n_streams == 0:
        return []
    f = ctx.tcp.flows
    limited = np.flatnonzero(f["window_full"] >= ctx.th["find.window_full.warning"])
    if limited.size == 0:
        return []
    mask = ctx.tcp.has("tcp.analysis.window_full") & np.isin(ctx.tcp.columns["tcp_stream"], limited)
    return [make_finding("l4.window_limited", "warning",
                         f"the sender filled the receiver's window {int(mask.sum())} time(s) in "
                         f"{limited.size} connection(s): the window, not the path, set the pace",
                         {"window_full": int(mask.sum()), "streams": [int(s) for s in limited]},
                         capture_evidence(_frames(mask), "tcp.analysis.window_full"))]


def rule_syn_retry(ctx: Context) -> list[Finding]:
    if ctx.tcp is None or ctx.tcp.n_streams == 0:
        return []
    f = ctx.tcp.flows
    retried = np.flatnonzero(f["syn_retries"] > 0)
    if retried.size == 0:
        return []
    c = ctx.tcp.columns
    syn_only = (ctx.tcp.tcp_flags & (SYN | ACK)) == SYN
    mask = syn_only & np.isin(c["tcp_stream"], retried)
    return [make_finding("l4.syn_retry", "warning",
                         f"{retried.size} connection(s) needed SYN retransmissions "
                         f"({int(f['syn_retries'][retried].sum())} retries): each costs a "
                         "retransmission timeout",
                         {"streams": [int(s) for s in retried],
                          "syn_retries": int(f["syn_retries"][retried].sum())},
                         capture_evidence(_frames(mask), "tcp.flags.syn == 1 && tcp.flags.ack == 0"))]


def rule_reset(ctx: Context) -> list[Finding]:
    if ctx.tcp is None or ctx.tcp.n_streams == 0:
        return []
    f = ctx.tcp.flows
    reset = np.flatnonzero((f["end"] == 2) | (f["handshake"] == 3))
    if reset.size == 0:
        return []
    mask = ((ctx.tcp.tcp_flags & RST) != 0) & np.isin(ctx.tcp.columns["tcp_stream"], reset)
    refused = int((f["handshake"][reset] == 3).sum())
    return [make_finding("l4.reset", "warning",
                         f"{reset.size} connection(s) ended by a TCP reset"
                         + (f" ({refused} refused at the handshake)" if refused else ""),
                         {"streams": [int(s) for s in reset], "refused": refused},
                         capture_evidence(_frames(mask), "tcp.flags.reset == 1"))]


# ----------------------------------------------------------------------------------------
# L7
# ----------------------------------------------------------------------------------------

def _measured(ctx: Context, pid: str) -> list[tuple[CurlSample, float]]:
    return [(s, s.phases[pid].duration_ms) for s in ctx.samples
            if s.phases[pid].status == "measured" and s.phases[pid].duration_ms is not None]


def rule_slow_phases(ctx: Context) -> list[Finding]:
    th = ctx.th
    rtt, _ = path_rtt(ctx)
    out = []
    # The server phase includes one round trip (request out, first byte back): what is
    # judged is the think time left after it.
    limits = {
        "dns": (th["find.dns_ms.warning"], th["find.dns_ms.critical"]),
        "tcp": (max(th["find.connect_ms.floor"], th["find.connect_rtt_factor"] * (rtt or 0.0)), None),
        "tls": (max(th["find.tls_ms.floor"], th["find.tls_rtt_factor"] * (rtt or 0.0)), None),
        "server": (th["find.server_ms.warning"] + (rtt or 0.0),
                   th["find.server_ms.critical"] + (rtt or 0.0)),
    }
    codes = {"dns": "l7.slow_dns", "tcp": "l7.slow_connect", "tls": "l7.slow_tls",
             "server": "l7.slow_server"}
    for pid, (warning, critical) in limits.items():
        measured = _measured(ctx, pid)
        if not measured:
            continue
        median = statistics.median(d for _, d in measured)
        severity = _severity(median, warning, critical)
        if severity is None:
            continue
        slow = [s for s, d in measured if d >= warning]
        out.append(make_finding(
            codes[pid], severity,
            f"{PHASE_NAMES[pid]} median {median:.1f} ms over {len(measured)} sample(s) "
            f"(limit {warning:.0f} ms); {len(slow)} sample(s) above it",
            {"median_ms": round(median, 3), "limit_ms": round(warning, 3),
             "samples_over": [s.index for s in slow]}, timings_evidence(s.index for s in slow)))
    out.extend(_slow_download(ctx))
    return out


def _slow_download(ctx: Context) -> list[Finding]:
    th = ctx.th
    rates = []
    for s, d in _measured(ctx, "download"):
        # a rate below the limit that slow start's round trips explain is the path's
        # length, not a slow download (l3l7.rtt_bound says that)
        if s.size_download and s.size_download >= th["find.download_bytes.min"] and d > 0 \
                and beyond_round_trips(ctx, s, "download", d):
            rates.append((s, s.size_download * 8 / (d / 1000.0) / 1e6))
    if not rates:
        return []
    median = statistics.median(r for _, r in rates)
    if median >= th["find.download_mbps.warning"]:
        return []
    slow = [s for s, r in rates if r < th["find.download_mbps.warning"]]
    return [make_finding("l7.slow_download", "warning",
                         f"download goodput median {median:.2f} Mbit/s over {len(rates)} sample(s) "
                         f"(limit {th['find.download_mbps.warning']:.0f} Mbit/s)",
                         {"median_mbps": round(median, 3), "samples_over": [s.index for s in slow]},
                         timings_evidence(s.index for s in slow))]


def rule_request_failed(ctx: Context) -> list[Finding]:
    out = []
    for i, s in enumerate(ctx.samples):
        code = s.response_code or 0
        failure = ctx.failures[i] if ctx.failures else None
        if not s.ok:
            # the phase and the reason the packets show (failures.py), curl's word otherwise
            phase = failure.phase if failure is not None else s.failed_phase or "?"
            why = failure.detail if failure is not None else \
                f"curl exit {s.exit_code} ({s.error or 'no message'})"
            evidence = capture_evidence(failure.frames, "the frames that show the failure") \
                if failure is not None and failure.frames else timings_evidence([s.index])
            out.append(make_finding("l7.request_failed", "critical",
                                    f"sample {s.index} failed in the {phase} phase: {why}",
                                    {"exit_code": s.exit_code, "failed_phase": phase,
                                     "reason": None if failure is None else failure.reason},
                                    evidence, sample=s.index))
        elif code >= 500:
            out.append(make_finding("l7.request_failed", "critical",
                                    f"sample {s.index}: HTTP {code} from the server",
                                    {"response_code": code}, timings_evidence([s.index]),
                                    sample=s.index))
        elif code >= 400:
            out.append(make_finding("l7.request_failed", "warning",
                                    f"sample {s.index}: HTTP {code}",
                                    {"response_code": code}, timings_evidence([s.index]),
                                    sample=s.index))
    return out


# ----------------------------------------------------------------------------------------
# Across layers
# ----------------------------------------------------------------------------------------

DEGRADED = ("fair", "poor")
CLEAN = ("excellent", "good")


def rule_l3_l4(ctx: Context) -> list[Finding]:
    l3, l4 = ctx.grades.get("L3", "unknown"), ctx.grades.get("L4", "unknown")
    if l4 not in DEGRADED or l3 == "unknown":
        return []
    frames = _frames(ctx.tcp.has("tcp.analysis.retransmission")) if ctx.tcp is not None else []
    evidence = capture_evidence(frames, "tcp.analysis.retransmission")
    numbers = {"l3": l3, "l4": l4, "l3_loss_pct": ctx.l3.loss_pct,
               "l4_retransmission_pct": None if ctx.facts.repairs is None else
               round(ctx.facts.repair_rate_pct({"up", "down"}) or 0.0, 3)}
    if l3 in DEGRADED:
        return [make_finding("l3l4.path_causes_tcp", "warning",
                             f"the path is {l3} (loss {ctx.l3.loss_pct or 0:.3g}%) and TCP is "
                             f"{l4}: the path's loss or delay explains the TCP trouble",
                             numbers, evidence)]
    sent = ctx.l3.probes_sent or 0
    rate = ctx.facts.repair_rate_pct({"up", "down"}) if ctx.facts.repairs is not None else None
    if not rate:
        return []   # no loss to place: reordering, stalls or windows have their own codes
    if not sent or 100.0 * ctx.th["find.probe_rule_out_factor"] / sent >= rate / 2:
        return []   # too few probes to call the path clean: l3.downstream/upstream_loss say it
    return [make_finding("l3l4.endpoint_tcp", "warning",
                         f"TCP is {l4} while the path measured {l3} over {sent} probes: look "
                         "at the endpoints or a middlebox", numbers, evidence)]


def path_vs_handshake(ctx: Context) -> dict | None:
    """The report's mtr_tcp_correlation: the path's RTT against each sample's handshake.

    Handshake RTT per sample: the capture's iRTT (most recent SYN to the ACK completing the
    handshake) and curl's connect time. Verdict: consistent; endpoint_slower (the handshake
    takes notably longer than the path's round trip); explained_by_syn_retry (curl's connect
    includes a retransmission timeout the iRTT does not)."""
    rtt, source = path_rtt(ctx)
    if rtt is None or ctx.tcp is None or not ctx.placements:
        return None
    f = ctx.tcp.flows
    per_sample = []
    for p, s in zip(ctx.placements, ctx.samples):
        if p.stream is None or p.method == "reused_connection" or f["irtt_ns"][p.stream] < 0:
            continue
        irtt = float(f["irtt_ns"][p.stream]) / 1e6
        connect = s.phases["tcp"].duration_ms if s.phases["tcp"].status == "measured" else None
        per_sample.append({"sample": s.index, "stream": p.stream, "irtt_ms": round(irtt, 3),
                           "curl_connect_ms": None if connect is None else round(connect, 3),
                           "syn_retries": int(f["syn_retries"][p.stream]),
                           "difference_ms": round(irtt - rtt, 3)})
    if not per_sample:
        return None
    irtt = statistics.median(h["irtt_ms"] for h in per_sample)
    diff = irtt - rtt
    pct = 100.0 * diff / rtt if rtt > 0 else None
    retries = sum(h["syn_retries"] for h in per_sample)
    slower = diff > ctx.th["find.handshake_vs_path_ms"] and (pct or 0) > ctx.th["find.handshake_vs_path_pct"]
    verdict = "explained_by_syn_retry" if retries else ("endpoint_slower" if slower else "consistent")
    connects = [h["curl_connect_ms"] for h in per_sample if h["curl_connect_ms"] is not None]
    return {"path_rtt_ms": round(rtt, 3), "path_source": source,
            "path_avg_ms": None if ctx.path is None or ctx.path.destination_avg_ms is None
            else round(ctx.path.destination_avg_ms, 3),
            "handshake_rtt_ms": round(irtt, 3),
            "curl_connect_median_ms": round(statistics.median(connects), 3) if connects else None,
            "difference_ms": round(diff, 3),
            "difference_pct": None if pct is None else round(pct, 1),
            "syn_retries": retries, "verdict": verdict, "samples": per_sample}


def rule_handshake_vs_path(ctx: Context) -> list[Finding]:
    cmp = ctx.handshake
    if cmp is None:
        return []
    text = {
        "explained_by_syn_retry": "SYN retries explain it: curl's connect time includes the "
                                  "retransmission timeout, while the iRTT restarts at the last SYN",
        "endpoint_slower": "the handshake is slower than the path: the server (SYN queue, "
                           "accept) or a middlebox adds time",
        "consistent": "consistent: the network path explains the handshake time",
    }[cmp["verdict"]]
    severity = "warning" if cmp["verdict"] == "endpoint_slower" else "info"
    pct = cmp["difference_pct"]
    streams = [h["stream"] for h in cmp["samples"]]
    mask = np.isin(ctx.tcp.columns["tcp_stream"], streams) & ((ctx.tcp.tcp_flags & SYN) != 0)
    numbers = {k: v for k, v in cmp.items() if k != "samples"}
    return [make_finding("l3l4.handshake_vs_path", severity,
                         f"handshake RTT {cmp['handshake_rtt_ms']:.2f} ms vs path RTT "
                         f"{cmp['path_rtt_ms']:.2f} ms ({cmp['path_source']}): "
                         f"{cmp['difference_ms']:+.2f} ms"
                         + (f" ({pct:+.1f}%)" if pct is not None else "") + f"; {text}",
                         numbers, capture_evidence(_frames(mask), "SYN and SYN/ACK frames"))]


def _expected_ms(pid: str, rtt: float | None, clean: list[float], tls_rtts: int) -> float | None:
    """What a phase should have taken: the median of the same phase in samples without
    TCP trouble, else its round trips on the path: TCP 1, server 1 (request out, first
    byte back), TLS 1 for TLS 1.3 and 2 for TLS 1.2 and older (RFC 8446 section 2 vs
    RFC 5246 section 7.3); an unknown version counts as 1, so a phase is called inflated
    only when it clearly took more than the network needs."""
    if clean:
        return statistics.median(clean)
    rtts = {"tcp": 1, "tls": tls_rtts, "server": 1}.get(pid)
    return None if rtts is None or rtt is None else rtts * rtt


def rule_events_in_phases(ctx: Context) -> list[Finding]:
    if ctx.tcp is None or not ctx.buckets:
        return []
    th = ctx.th
    rtt, _ = path_rtt(ctx)
    out = []
    slow_clean_phases = []
    for pid in PHASE_IDS:
        rows = [(s, b[pid]) for s, b in zip(ctx.samples, ctx.buckets)
                if b is not None and s.phases[pid].status == "measured"]
        if not rows:
            continue
        clean = [s.phases[pid].duration_ms for s, b in rows if b.trouble == 0]
        versions = [ctx.tls_versions.get(p.stream) for p in ctx.placements if p.stream is not None]
        old_tls = bool(versions) and all(v is not None and v < 0x0304 for v in versions)
        expected = _expected_ms(pid, rtt, clean, 2 if old_tls else 1)
        inflated, frames, events = [], [], {k: 0 for k in TROUBLE_EVENTS}
        for s, b in rows:
            if b.trouble == 0 or expected is None:
                continue
            took = s.phases[pid].duration_ms
            if took - expected >= th["find.phase_inflation_ms"] and \
                    took >= expected * (1 + th["find.phase_inflation_pct"] / 100.0):
                inflated.append((s, took))
                for k in TROUBLE_EVENTS:
                    events[k] += b.events.get(k, 0)
                    frames.extend(b.event_frames.get(k, ()))
        if inflated:
            took = statistics.median(t for _, t in inflated)
            what = ", ".join(_count(v, k) for k, v in events.items() if v)
            out.append(make_finding(
                "l4l7.events_in_phase", "warning",
                f"{what} during {PHASE_NAMES[pid]} in {len(inflated)} of {len(rows)} sample(s) made "
                f"it {took:.1f} ms instead of about {expected:.1f} ms",
                {"phase": pid, "samples": [s.index for s, _ in inflated],
                 "median_ms": round(took, 3), "expected_ms": round(expected, 3),
                 "inflation_ms": round(took - expected, 3), **events},
                capture_evidence(frames, f"TCP events during {PHASE_NAMES[pid]}")))
        if pid == "server":
            limit = th["find.server_ms.warning"] + (rtt or 0.0)
            slow = [(s, b) for s, b in rows if s.phases[pid].duration_ms >= limit]
            if slow and all(b.trouble == 0 for _, b in slow):
                slow_clean_phases.append((pid, slow))
    for pid, slow in slow_clean_phases:
        med = statistics.median(s.phases[pid].duration_ms for s, _ in slow)
        frames = [f for _, b in slow if b.frames for f in b.frames]
        out.append(make_finding(
            "l4l7.application", "warning",
            f"{PHASE_NAMES[pid]} took {med:.1f} ms (median of {len(slow)} sample(s)) with no TCP "
            "retransmission, loss or window event: the server application is slow, not the network",
            {"phase": pid, "samples": [s.index for s, _ in slow], "median_ms": round(med, 3)},
            capture_evidence(frames, "first and last frame of the phase in each sample")))
    return out


_SINGULAR = {"retransmissions": "retransmission", "dup_acks": "duplicate ACK",
             "out_of_order": "out-of-order segment", "lost_segments": "lost segment",
             "zero_windows": "zero window"}
_PLURAL = {"retransmissions": "retransmissions", "dup_acks": "duplicate ACKs",
           "out_of_order": "out-of-order segments", "lost_segments": "lost segments (not captured)",
           "zero_windows": "zero windows"}


def _count(n: int, event: str) -> str:
    return f"{n} {_SINGULAR[event] if n == 1 else _PLURAL[event]}"


def rule_bufferbloat(ctx: Context) -> list[Finding]:
    idle = loaded = None
    source = None
    if ctx.ping is not None and ctx.ping_loaded is not None:
        idle_r = [p.rtt_ms for p in ctx.ping.replies if p.rtt_ms is not None]
        load_r = [p.rtt_ms for p in ctx.ping_loaded.replies if p.rtt_ms is not None]
        if idle_r and load_r:
            idle, loaded, source = statistics.median(idle_r), statistics.median(load_r), "ping"
    if idle is None and ctx.echo is not None and ctx.tcp is not None and ctx.echo.rtt_ms.size >= 4:
        busy = _busy_mask(ctx, ctx.echo.request_ts_ns)
        if busy.sum() >= 2 and (~busy).sum() >= 2:
            idle = float(np.median(ctx.echo.rtt_ms[~busy]))
            loaded = float(np.median(ctx.echo.rtt_ms[busy]))
            source = "capture_icmp"
    if idle is None:
        return _bufferbloat_in_capture(ctx)
    added = loaded - idle
    severity = _severity(added, ctx.th["find.bufferbloat_ms.warning"], ctx.th["find.bufferbloat_ms.critical"])
    if severity is None:
        return []
    evidence = Evidence("ping", detail="ping.txt vs ping_loaded.txt") if source == "ping" else \
        capture_evidence(ctx.echo.request_frame, "ICMP echoes during and outside downloads")
    return [make_finding("l3l7.bufferbloat", severity,
                         f"latency under load {loaded:.1f} ms vs {idle:.1f} ms at rest: +{added:.1f} ms "
                         "while data flows",
                         {"idle_ms": round(idle, 3), "loaded_ms": round(loaded, 3),
                          "added_ms": round(added, 3), "source": source}, evidence)]


def _bufferbloat_in_capture(ctx: Context) -> list[Finding]:
    """Queueing seen in the capture alone: the samples' connections took far longer to
    complete their handshakes than the baseline RTT while other connections moved bulk data
    (whose retransmissions those are is said too)."""
    facts = ctx.facts
    if ctx.tcp is None or facts.baseline_rtt_ms is None or not ctx.placements:
        return []
    hit, loaders = [], set()
    for p in ctx.placements:
        if p.stream is None or not p.edges_ns:
            continue
        added = facts.rtt_inflation_ms(p.stream)
        load = facts.loading_streams(p.stream, p.edges_ns[0], p.edges_ns[-1])
        if added is not None and load:
            hit.append((p, added))
            loaders.update(load)
    if not hit:
        return []
    added = statistics.median(a for _, a in hit)
    severity = _severity(added, ctx.th["find.bufferbloat_ms.warning"],
                         ctx.th["find.bufferbloat_ms.critical"])
    if severity is None:
        return []
    loaders_ = sorted(loaders)
    retrans = facts.repairs.select("repair", streams=np.asarray(loaders_)) \
        if facts.repairs is not None else np.zeros(0, dtype=np.int64)
    frames = [f for p, _ in hit for f in facts.syn_frames(p.stream)]
    return [make_finding(
        "l3l7.bufferbloat", severity,
        f"the samples' handshakes took {added + facts.baseline_rtt_ms:.1f} ms against a "
        f"{facts.baseline_rtt_ms:.2f} ms baseline ({facts.baseline_source}): +{added:.1f} ms "
        f"while connection(s) {', '.join(str(s) for s in loaders_)} moved bulk data "
        f"({retrans.shape[0]} of the capture's loss repairs are theirs)",
        {"idle_ms": round(facts.baseline_rtt_ms, 3),
         "loaded_ms": round(added + facts.baseline_rtt_ms, 3), "added_ms": round(added, 3),
         "source": "capture_tcp", "loading_streams": loaders_,
         "loading_retransmissions": int(retrans.shape[0]),
         "samples": [ctx.samples[i].index for i, p in enumerate(ctx.placements)
                     if any(p is q for q, _ in hit)]},
        capture_evidence(frames, "the samples' handshakes"))]


def _busy_mask(ctx: Context, ts: np.ndarray) -> np.ndarray:
    """Per time stamp: was a TCP download carrying data then (between the first and last
    data segment of a flow that moved at least find.download_bytes.min)?"""
    f = ctx.tcp.flows
    big = np.flatnonzero(f["bytes_s2c"] >= ctx.th["find.download_bytes.min"])
    busy = np.zeros(ts.shape[0], dtype=bool)
    for s in big:
        busy |= (ts >= f["start_ns"][s]) & (ts <= f["end_ns"][s])
    return busy


RULES: tuple[Callable[[Context], list[Finding]], ...] = (
    rule_path_loss, rule_hop_ratelimit, rule_latency_step, rule_jitter, rule_unreachable,
    rule_retransmissions, rule_spurious, rule_reordering, rule_directional_loss, rule_stall,
    rule_blackhole, rule_zero_window, rule_window_limited, rule_syn_retry, rule_reset,
    rule_slow_phases, rule_request_failed,
    rule_l3_l4, rule_handshake_vs_path, rule_events_in_phases, rule_bufferbloat,
)

def run_rules(ctx: Context) -> list[Finding]:
    """All findings, most severe first, then in rule order (stable, deterministic)."""
    found = [f for rule in RULES for f in rule(ctx)]
    return sorted(found, key=lambda f: severity_rank(f.severity))
