"""The catalogue of finding codes, and the Finding a rule produces.

A code is stable: once released it keeps its meaning (scripts and regression checks key
on it). Each entry says which layers it links, what it means, and what to do about it.
The rules that raise findings live in cnfpost/rules.py; their thresholds in
cnfpost/thresholds.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from .evidence import display_filter
from .vocab import SEVERITIES

__all__ = ["Spec", "CATALOGUE", "SEVERITIES", "Evidence", "Finding", "make_finding",
           "capture_evidence", "timings_evidence"]

SOURCES = ("capture", "mtr", "ping", "timings")


ROLES = ("cause", "effect", "context")


@dataclass(frozen=True)
class Spec:
    """One finding code. ``role``: a *cause* (what made requests slow or fail, a candidate
    for overall.cause), an *effect* (what a user feels: a slow or inflated phase), or
    *context* (a fact that helps read the others). ``mechanism`` names a cause's kind
    (the closed list of overall.cause.mechanism); ``cause_layer`` the layer it sits in."""

    code: str
    layers: str
    title: str
    action: str
    doc: str
    role: str = "context"
    mechanism: str | None = None
    cause_layer: str | None = None

    @property
    def layer_list(self) -> list[str]:
        return self.layers.split("->")


_SPECS = [
    Spec("l3.path_loss", "L3", "Packet loss on the path",
         "Loss that starts at a hop and carries on to the destination is real: take the hop "
         "and the mtr output to the network or transit provider that owns it.",
         "Loss at the destination (ping, or mtr's last hop), with the hop where it starts."),
    Spec("l3.hop_icmp_ratelimit", "L3", "An intermediate hop limits its ICMP replies",
         "Nothing to fix: the router answers mtr's probes slowly or not at all, but forwards "
         "traffic fine, since later hops show no loss.",
         "Loss at an intermediate hop that does not carry on to later hops (control-plane "
         "rate limiting of TTL-exceeded replies), reported so nobody chases it."),
    Spec("l3.latency_step", "L3", "Latency steps up at a hop and stays up",
         "The link into that hop adds the delay (distance, congestion or a detour): compare "
         "with the expected geography; if unexpected, raise it with the hop's owner.",
         "The hop after which every later hop's latency is higher by a step."),
    Spec("l3.high_jitter", "L3", "High latency variation (jitter)",
         "Look for congestion or queueing on the path (see bufferbloat), or Wi-Fi/mobile "
         "access links near the probe.",
         "Mean absolute difference of consecutive RTTs above the threshold."),
    Spec("l3.unreachable", "L3", "The destination did not answer",
         "Check routing and filters towards the target: ICMP may be blocked (then TCP still "
         "works) or the host is down.",
         "Ping lost everything, mtr never reached the destination, or ICMP unreachable "
         "errors came back."),
    Spec("l4.retransmissions", "L4", "TCP retransmissions",
         "Loss between probe and server: see the path findings; if the path is clean, look "
         "at the server's NIC, its queues or a middlebox.",
         "Segments sent again (Wireshark's tcp.analysis.retransmission, fast and spurious "
         "included) above the threshold rate."),
    Spec("l4.reordering", "L4", "Segments arrived out of order",
         "Usually per-packet load balancing or parallel paths; harmless in small amounts, "
         "harmful when it triggers fast retransmissions.",
         "tcp.analysis.out_of_order above the threshold."),
    Spec("l4.zero_window", "L4", "A receiver's window stayed at zero",
         "The receiving application did not read fast enough: check its CPU and I/O.",
         "A zero window that lasted long enough to matter (not microsecond blips at local "
         "speed)."),
    Spec("l4.window_limited", "L4", "Throughput limited by the receive window",
         "Raise the receiver's buffer (tcp_rmem) or check that window scaling is on end to end.",
         "The advertised window stayed below the bandwidth-delay product, or window-full "
         "events stalled the sender."),
    Spec("l4.syn_retry", "L4", "The TCP handshake needed SYN retransmissions",
         "Each retry costs a full retransmission timeout (1 s, then 2 s): look for SYN loss "
         "or a server backlog / firewall dropping SYNs.",
         "A connection whose SYN was sent more than once."),
    Spec("l4.reset", "L4", "A connection was reset",
         "Find who sent the RST (the evidence frames): a server or middlebox refusing or "
         "aborting the connection.",
         "A TCP RST ended or refused a connection."),
    Spec("l7.slow_dns", "L7", "Slow DNS resolution",
         "Use a closer or warmer resolver, check for retries (lost queries) in the evidence.",
         "DNS phase above the threshold."),
    Spec("l7.slow_connect", "L7", "Slow TCP connect",
         "Compare with the path RTT (l3l4.handshake_vs_path): a SYN retry or a far server.",
         "TCP phase above the threshold."),
    Spec("l7.slow_tls", "L7", "Slow TLS handshake",
         "Check the TCP events during TLS (retransmissions), the certificate chain size, OCSP "
         "and the server's TLS termination load.",
         "TLS phase above the threshold and above what the path's RTT explains."),
    Spec("l7.slow_server", "L7", "Slow server response (time to first byte)",
         "The server or the application behind it took the time: look at its logs and "
         "upstream calls for this request.",
         "Server phase (request sent to first byte) above the threshold."),
    Spec("l7.slow_download", "L7", "Slow download",
         "See the TCP events during the download: loss, window limits or a slow sender.",
         "Download phase slower than the threshold for its size."),
    Spec("l7.request_failed", "L7", "The request failed",
         "Read the error (curl's exit code and message) and the phase it failed in.",
         "A curl sample with a non-zero exit code or an HTTP error status."),
    Spec("l3.downstream_loss", "L3", "Packet loss from the server to the probe",
         "The server's segments were lost on the way to the probe and had to be sent again: "
         "take the direction and the evidence frames to the network owner; ICMP probes may "
         "miss loss this small or this one-sided.",
         "Server-to-client data segments that filled a hole a round trip or more after it "
         "opened (cnfpost/repairs.py), while ping/mtr saw no loss."),
    Spec("l3.upstream_loss", "L3", "Packet loss from the probe to the server",
         "The probe's segments were lost on the way to the server and had to be sent again: "
         "take the direction and the evidence frames to the network owner.",
         "Client-to-server data segments sent again that the server had not acknowledged "
         "(no D-SACK), while ping/mtr saw no loss."),
    Spec("l3.pmtud_blackhole", "L3", "Path-MTU black hole: full-size packets never arrive",
         "A link on the path has a smaller MTU and its ICMP 'fragmentation needed' / "
         "'packet too big' does not reach the sender: allow that ICMP through, clamp the MSS "
         "on the tunnel or link, or enable PLPMTUD (net.ipv4.tcp_mtu_probing=1).",
         "Full-size segments are sent again and again and never arrive while smaller ones "
         "do (RFC 2923 section 2.1)."),
    Spec("l4.spurious_retransmissions", "L4", "Retransmissions the receiver did not need",
         "The receiver already had these bytes: reordering fooled the sender's loss "
         "detection, ACKs were lost on the way back, or a timeout fired early. Not loss.",
         "Data segments sent again whose bytes had already arrived or been acknowledged "
         "(or that a D-SACK reports as duplicates)."),
    Spec("l4.stall", "L4", "A connection stalled",
         "Nothing moved for several round trips: see what ended the silence (a backed-off "
         "retransmission timeout, a window that stayed shut, or the client giving up).",
         "A silence of find.stall_ms or more in a connection that still had data to "
         "deliver."),
    Spec("l3l7.rtt_bound", "L3->L7", "Requests are slow because the server is far",
         "Each request costs a few round trips: move the server (or a CDN edge) closer, "
         "reuse connections, use TLS 1.3 and session resumption to save round trips.",
         "A path RTT of find.rtt_bound_ms or more that, times the round trips a request "
         "needs, accounts for the requests' time."),
    Spec("l3l4.path_causes_tcp", "L3->L4", "Path problems are causing the TCP trouble",
         "Fix the path (the L3 findings): the endpoints are reacting correctly to loss or delay.",
         "The path is degraded and TCP is degraded with it."),
    Spec("l3l4.endpoint_tcp", "L3->L4", "TCP trouble despite a clean path",
         "Look at the endpoints or a middlebox (firewall, load balancer, server queues): the "
         "path measured clean.",
         "TCP is degraded while the path measured by ping/mtr is clean."),
    Spec("l3l4.handshake_vs_path", "L3->L4", "Handshake RTT against path RTT",
         "A handshake slower than the path points at the server (SYN queue, accept backlog) "
         "or a middlebox; a SYN retry explains itself.",
         "The TCP handshake RTT compared with mtr/ping's RTT to the destination."),
    Spec("l4l7.events_in_phase", "L4->L7", "TCP events inflated an HTTP phase",
         "The phase was slow because of the TCP events in it (evidence frames): fix their "
         "cause (loss on the path or at the endpoint).",
         "Retransmissions, zero windows or other events inside a phase that took longer than "
         "its expected time (e.g. TLS ~ 1-2 RTT)."),
    Spec("l4l7.application", "L4->L7", "The application, not the network, is slow",
         "TCP was clean during the slow phase: look at the server application.",
         "A slow L7 phase with no TCP events in it."),
    Spec("l7.server_time", "L7", "Server time against network time (server capture)",
         "The server's own capture splits the wait for the first byte: what the server spent "
         "between the request's arrival and the response's departure, and what the network "
         "spent carrying them. Take the server part to the application's owners, the network "
         "part to the path's.",
         "Per sample, the request's first segment in and the response's first segment out, "
         "timed on the server's clock, against the time to first byte the probe measured "
         "(cnfpost/serverside.py). Replaces l4l7.application when a server capture is given."),
    Spec("l3l7.bufferbloat", "L3->L7", "Latency grows under load (bufferbloat)",
         "A queue on the path fills while data flows: enable AQM (fq_codel, cake) or shape "
         "below the bottleneck rate.",
         "RTT while data flows (loaded ping, TCP RTT samples) well above RTT at rest."),
]

# code -> (role, mechanism, the layer the cause sits in)
_ROLES = {
    "l3.path_loss": ("cause", "path_loss", "L3"),
    "l3.downstream_loss": ("cause", "downstream_loss", "L3"),
    "l3.upstream_loss": ("cause", "upstream_loss", "L3"),
    "l3.pmtud_blackhole": ("cause", "pmtud_blackhole", "L3"),
    "l3.unreachable": ("cause", "unreachable", "L3"),
    "l3.high_jitter": ("context", None, None),   # a symptom; queueing is the cause
    "l4.reordering": ("cause", "reordering", "L4"),
    "l4.spurious_retransmissions": ("cause", "spurious_retransmissions", "L4"),
    "l4.zero_window": ("cause", "receive_window", "L4"),
    "l4.window_limited": ("cause", "receive_window", "L4"),
    "l4.stall": ("cause", "stall", "L4"),
    "l4.syn_retry": ("cause", "syn_loss", "L4"),
    "l4.reset": ("cause", "reset", "L4"),
    "l7.slow_dns": ("cause", "slow_dns", "L7"),
    "l7.slow_server": ("cause", "slow_server", "L7"),
    "l7.request_failed": ("cause", "request_failed", "L7"),
    "l7.server_time": ("cause", "slow_server", "L7"),
    "l3l4.endpoint_tcp": ("cause", "endpoint", "L4"),
    "l3l7.bufferbloat": ("cause", "queueing", "L3"),
    "l3l7.rtt_bound": ("cause", "distance", "L3"),
    "l7.slow_connect": ("effect", "unexplained", "L7"),
    "l7.slow_tls": ("effect", "unexplained", "L7"),
    "l7.slow_download": ("effect", "unexplained", "L7"),
    "l4.retransmissions": ("effect", None, None),
    "l4l7.events_in_phase": ("effect", None, None),
    "l4l7.application": ("effect", None, None),
}
CATALOGUE: dict[str, Spec] = {
    spec.code: replace(spec, **dict(zip(("role", "mechanism", "cause_layer"),
                                        _ROLES.get(spec.code, ("context", None, None)))))
    for spec in _SPECS}


@dataclass(frozen=True)
class Evidence:
    """What proves a finding: frames of the capture, or the input file that says it."""

    source: str                           # capture | mtr | ping | timings
    frames: tuple[int, ...] = ()
    display_filter: str = ""
    frame_count: int = 0
    detail: str | None = None             # e.g. "hop 3", "samples 2, 4", a semantic filter
    server: dict | None = None            # {frames, display_filter} in the server capture

    def to_dict(self) -> dict:
        out = {"source": self.source, "frames": list(self.frames),
               "frame_count": self.frame_count, "display_filter": self.display_filter}
        if self.detail:
            out["detail"] = self.detail
        if self.server is not None:
            out["server"] = self.server
        return out


def capture_evidence(frames: Iterable[int], detail: str | None = None) -> Evidence:
    """Evidence from capture frames: the list and the filter name them all (the report
    keeps the filter short: evidence.with_short_filters)."""
    ordered = sorted({int(f) for f in frames})
    return Evidence("capture", tuple(ordered), display_filter(ordered),
                    len(ordered), detail)


def timings_evidence(samples: Iterable[int]) -> Evidence:
    """Evidence from the curl timings: the samples (1-based numbers) that show it."""
    return Evidence("timings", detail="samples " + ", ".join(str(n) for n in samples))


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    numbers: dict = field(default_factory=dict)
    evidence: Evidence = Evidence("capture")
    sample: int | None = None             # curl sample number (1-based) when it is about one

    @property
    def layers(self) -> str:
        return CATALOGUE[self.code].layers

    @property
    def action(self) -> str:
        return CATALOGUE[self.code].action

    def to_dict(self) -> dict:
        out = {"code": self.code, "severity": self.severity,
               "layers": CATALOGUE[self.code].layer_list,
               "role": CATALOGUE[self.code].role,
               "message": self.message, "numbers": self.numbers,
               "evidence": self.evidence.to_dict(), "action": self.action}
        if self.sample is not None:
            out["sample"] = self.sample
        return out


def make_finding(code: str, severity: str, message: str, numbers: dict | None = None,
                 evidence: Evidence | None = None, sample: int | None = None) -> Finding:
    if code not in CATALOGUE:
        raise KeyError(f"unknown finding code {code}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity}")
    return Finding(code, severity, message, dict(numbers or {}),
                   evidence or Evidence("capture"), sample)
