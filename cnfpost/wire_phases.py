"""Curl's phase boundaries checked against the wire, and phases from the wire alone.

- ``boundary_checks``: for a placed curl sample, each phase end curl measured next to the
  packet that shows it (SYN/ACK for connect, the TLS handshake's end for appconnect, the
  first request and response bytes, the last response byte), and the difference. A few
  hundred microseconds is the probe's own processing; more means the clocks or the
  matching disagree, and the report says so.
- ``dns_for_sample``: the DNS transactions of the sample's DNS phase (queries, re-sends,
  answers, rcode), with their frames as evidence.
- ``wire_samples``: without curl timings, one sample per HTTP(S) connection in the
  capture, its phases cut at the wire milestones (cnfpost/wire/milestones.py), so a
  capture alone still gets the L7 phases and the TCP events in each.
"""
from __future__ import annotations

import bisect

import numpy as np

from .correlate import Placement
from .inputs.curl import CurlSample, compute_phases
from .model import PacketTable
from .tcp import TcpAnalysis
from .wire import (ConnMilestones, DnsTransaction, MilestoneTable, connections,
                   dns_transactions, http_lines, milestone_table, tls_handshakes)

__all__ = ["WireView", "wire_view", "boundary_checks", "dns_for_sample", "wire_samples",
           "MAX_WIRE_SAMPLES"]

# (phase whose end curl measured, wire milestone that shows it, what curl calls it)
BOUNDARIES = (
    ("tcp", "syn_ack", "time_connect"),
    ("tls", "tls_done", "time_appconnect"),
    ("request", "first_request_byte", "time_pretransfer"),
    ("server", "first_response_byte", "time_starttransfer"),
    ("download", "last_response_byte", "time_total"),
)
MAX_WIRE_SAMPLES = 200        # a capture alone: the first this many HTTP(S) connections
DNS_LEAD_NS = 2_000_000_000   # a DNS answer this long before a SYN can belong to it


class WireView:
    """The wire timeline of a capture, keyed by tcp.stream."""

    def __init__(self, table: PacketTable, tcp: TcpAnalysis):
        conns = connections(table, tcp)
        handshakes = tls_handshakes(table, conns)
        # connection i is tcp.stream i: its milestones, built when asked for
        self.milestones: MilestoneTable = milestone_table(table, conns, handshakes)
        self.tls_versions: dict[int, int | None] = {}   # stream -> negotiated version
        self.tls_alerts: dict[int, tuple] = {}           # stream -> its TLS alert events
        for h in handshakes:
            stream = int(tcp.columns["tcp_stream"][h.conn.first_frame - 1])
            self.tls_versions[stream] = h.version
            alerts = tuple(e for e in h.events if e.kind == "alert")
            if alerts:
                self.tls_alerts[stream] = alerts
        self.http = {}
        for line in http_lines(table, conns):
            stream = int(tcp.columns["tcp_stream"][conns.conns[line.conn].first_frame - 1])
            self.http.setdefault(stream, []).append(line)
        self.dns: tuple[DnsTransaction, ...] = tuple(
            sorted(dns_transactions(table), key=lambda t: t.query_ts_ns))
        self._dns_ts = [t.query_ts_ns for t in self.dns]

    def dns_between(self, start_ns: int, end_ns: int) -> tuple[DnsTransaction, ...]:
        """The DNS transactions whose first query went out in [start_ns, end_ns]."""
        lo = bisect.bisect_left(self._dns_ts, start_ns)
        hi = bisect.bisect_right(self._dns_ts, end_ns)
        return self.dns[lo:hi]


def wire_view(table: PacketTable | None, tcp: TcpAnalysis | None) -> WireView | None:
    return None if table is None or tcp is None else WireView(table, tcp)


def boundary_checks(placement: Placement, sample: CurlSample, wire: WireView) -> list[dict]:
    """Curl's phase ends against the packets that show them (ms from curl's t=0)."""
    m = wire.milestones.get(placement.stream) if placement.stream is not None else None
    if m is None or placement.anchor_ns is None or placement.method == "reused_connection":
        return []
    out = []
    for pid, name, timer in BOUNDARIES:
        phase = sample.phases[pid]
        mark = getattr(m, name)
        if phase.status != "measured" or mark is None:
            continue
        curl_ms = phase.start_ms + phase.duration_ms
        wire_ms = (mark.ts_ns - placement.anchor_ns) / 1e6
        out.append({"boundary": timer, "wire": name, "frame": mark.frame,
                    "curl_ms": round(curl_ms, 3), "wire_ms": round(wire_ms, 3),
                    "difference_ms": round(curl_ms - wire_ms, 3)})
    return out


def dns_for_sample(placement: Placement, wire: WireView) -> list[dict]:
    """The DNS transactions whose first query fell in the sample's DNS phase."""
    if not placement.edges_ns:
        return []
    start, end = placement.edges_ns[0], placement.edges_ns[1]
    slack = 1_000_000  # 1 ms: curl's clock and the capture's are aligned to about this
    return [{"qname": t.qname, "qtype": t.qtype, "rcode": t.rcode, "answered": t.answered,
             "resends": t.resends,
             "rtt_ms": None if t.rtt_ns is None else round(t.rtt_ns / 1e6, 3),
             "answers": list(t.answers),
             "frames": sorted({*t.query_frames, *t.response_frames})}
            for t in wire.dns_between(start - slack, end + slack)]


def wire_samples(table: PacketTable, tcp: TcpAnalysis, wire: WireView) -> list[CurlSample]:
    """One sample per connection that carried TLS or an HTTP/1 request, phases from the
    wire. The DNS phase is the last answered lookup of the server's address that ended
    before the SYN (within 2 s), else absent."""
    found = wire.milestones
    http = np.zeros(len(found), dtype=bool)
    http[[s for s in wire.http if 0 <= s < len(found)]] = True
    wanted = found.has("syn") & (found.has("client_hello") | http)
    return [_sample_from_wire(k + 1, stream, found[stream], wire)
            for k, stream in enumerate(np.flatnonzero(wanted)[:MAX_WIRE_SAMPLES].tolist())]


def _sample_from_wire(index: int, stream: int, m: ConnMilestones, wire: WireView) -> CurlSample:
    dns = _lookup_before(m, wire)
    t0 = dns.query_ts_ns if dns is not None else m.syn.ts_ns

    def at(mark) -> float | None:
        return None if mark is None else max(mark.ts_ns - t0, 1000) / 1e9

    end = m.last_response_byte or m.fin or m.rst or m.syn_ack or m.syn
    # no response, or the server reset the connection: the exchange did not complete
    reset = m.rst is not None and m.rst_side == "server"
    failed = m.first_response_byte is None or reset
    times = {
        "time_namelookup": at(m.syn) if dns is not None else 1e-6,
        "time_connect": at(m.syn_ack),
        "time_appconnect": at(m.tls_done),
        "time_pretransfer": at(m.first_request_byte),
        "time_starttransfer": at(m.first_response_byte),
        "time_total": max(at(end) or 0.0, at(m.first_response_byte) or 0.0, 1e-6),
    }
    tls = m.client_hello is not None
    phases, failed_phase, notes = compute_phases(times, failed=failed, reused=False, tls=tls,
                                                 quic=False)
    if dns is None:
        phases = {**phases, "dns": type(phases["dns"])("dns", None, None, "absent", None)}
        notes.append("no DNS lookup of the server seen before the SYN")
    notes.insert(0, f"phases from the wire (tcp.stream == {stream}); no curl timings")
    request = next((h for h in wire.http.get(stream, []) if h.kind == "request"), None)
    response = next((h for h in wire.http.get(stream, []) if h.kind == "response"), None)
    total_ms = times["time_total"] * 1000.0
    return CurlSample(
        index=index, place=f"tcp.stream == {stream}", url=None, url_effective=None,
        redirect_url=None, urlnum=None, scheme="https" if tls else "http",
        method=None if request is None else request.method, http_version=None,
        response_code=None if response is None else response.status,
        remote_ip=m.conn.server, remote_port=m.conn.server_port, local_ip=m.conn.client,
        local_port=m.conn.client_port, num_connects=1, num_redirects=0, size_download=None,
        size_upload=None, size_header=None, size_request=None, speed_download=None,
        speed_upload=None, exit_code=None,
        error=("the server reset the connection" if reset else "no response seen on the wire")
        if failed else None, total_ms=total_ms,
        redirect_ms=None, phases=phases, failed_phase=failed_phase, notes=tuple(notes))


def _lookup_before(m: ConnMilestones, wire: WireView) -> DnsTransaction | None:
    best = None
    # a lookup answered within DNS_LEAD_NS before the SYN was sent at most 30 s before it
    # (resolvers give up sooner)
    for t in wire.dns_between(m.syn.ts_ns - DNS_LEAD_NS - 30_000_000_000, m.syn.ts_ns):
        if (t.answered and t.response_ts_ns is not None
                and m.syn.ts_ns - DNS_LEAD_NS <= t.response_ts_ns <= m.syn.ts_ns
                and m.conn.server in t.answers):
            best = t
    return best

