"""Which connection of the server's capture is which connection of the probe's.

The two captures see the same TCP connection from its two ends, possibly through NAT or a
load balancer (another client address and port at the server), and on two clocks that may
be seconds apart. A connection is matched, in this order, by:

1. ``4-tuple``: the same client and server addresses and ports; when both captures hold
   the SYN, its initial sequence number (ISN) must agree too (port reuse);
2. ``isn``: the client's and the server's ISNs (NAT rewrites addresses and ports, not
   sequence numbers; 2 x 32 random bits, RFC 6528);
3. ``timestamps``: the TSval of the client's SYN (Linux randomises its offset per
   connection, RFC 7323 section 7.1);
4. ``payload``: the client's first payload bytes (a TLS ClientHello carries 32 random
   bytes; an HTTP request line and headers rarely repeat exactly).

Never by time: the clocks are not assumed to agree. What stays unmatched is reported with
the reason (:class:`Unmatched`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .model import PacketTable, TcpFlag, TcpOpt
from .tcp import TcpAnalysis

__all__ = ["Endpoint", "Match", "Unmatched", "endpoints", "match_connections", "METHODS"]

SYN, ACK = int(TcpFlag.SYN), int(TcpFlag.ACK)
METHODS = ("4-tuple", "isn", "timestamps", "payload")
MIN_PAYLOAD_MATCH = 16       # bytes: fewer could repeat by chance (a short request line)


@dataclass(frozen=True)
class Endpoint:
    """One connection as one capture saw it: what it can be matched by."""

    stream: int
    tuple4: tuple[str, int, str, int]      # client address, port, server address, port
    start_ns: int
    isn_client: int | None                 # raw seq of the client's SYN
    isn_server: int | None                 # raw seq of the server's SYN/ACK
    syn_tsval: int | None                  # TSval of the client's SYN
    first_bytes: bytes                     # kept leading bytes of the client's first payload


@dataclass(frozen=True)
class Match:
    probe_stream: int
    server_stream: int
    method: str

    def to_dict(self) -> dict:
        return {"probe_stream": self.probe_stream, "server_stream": self.server_stream,
                "method": self.method}


@dataclass(frozen=True)
class Unmatched:
    capture: str            # probe | server
    stream: int
    endpoints: str          # "client:port -> server:port" as that capture saw it
    reason: str

    def to_dict(self) -> dict:
        return {"capture": self.capture, "stream": self.stream, "endpoints": self.endpoints,
                "reason": self.reason}


def endpoints(table: PacketTable, tcp: TcpAnalysis) -> list[Endpoint]:
    """Every stream of one capture as an :class:`Endpoint`, in stream order."""
    f = tcp.flows
    seq, tsval = table.columns["tcp_seq"], table.columns["tcp_tsval"]
    has_ts = (table.columns["tcp_opts"] & int(TcpOpt.TIMESTAMP)) != 0
    out = []
    for s in range(tcp.n_streams):
        rows = tcp.stream_rows(s)
        flags, up = tcp.tcp_flags[rows], tcp.client_dir[rows] == 1
        syn = rows[((flags & (SYN | ACK)) == SYN) & up]
        synack = rows[((flags & (SYN | ACK)) == (SYN | ACK)) & ~up]
        data = rows[(tcp.payload_len[rows] > 0) & up]
        version = int(f["ip_version"][s])
        tuple4 = (table.format_address(version, int(f["client_addr"][s])),
                  int(f["client_port"][s]),
                  table.format_address(version, int(f["server_addr"][s])),
                  int(f["server_port"][s]))
        out.append(Endpoint(
            s, tuple4, int(f["start_ns"][s]),
            int(seq[syn[0]]) if syn.size else None,
            int(seq[synack[0]]) if synack.size else None,
            int(tsval[syn[0]]) if syn.size and has_ts[syn[0]] else None,
            table.payload(int(data[0])) if data.size else b""))
    return out


def _describe(e: Endpoint) -> str:
    c, cp, s, sp = e.tuple4
    return f"{c}:{cp} -> {s}:{sp}"


def _same_isn(a: Endpoint, b: Endpoint) -> bool | None:
    """True/False when both captures hold the client's SYN, else None (unknown)."""
    if a.isn_client is None or b.isn_client is None:
        return None
    return a.isn_client == b.isn_client


def match_connections(probe: list[Endpoint], server: list[Endpoint]
                      ) -> tuple[list[Match], list[Unmatched]]:
    """Pair the probe's connections with the server's (see the module docstring)."""
    free = {e.stream for e in server}
    index: dict[str, dict] = {m: defaultdict(list) for m in METHODS}
    for e in server:
        index["4-tuple"][e.tuple4].append(e)
        if e.isn_client is not None:
            index["isn"][(e.isn_client, e.isn_server)].append(e)
            index["isn"][(e.isn_client, None)].append(e)
        if e.syn_tsval is not None:
            index["timestamps"][e.syn_tsval].append(e)
        if len(e.first_bytes) >= MIN_PAYLOAD_MATCH:
            index["payload"][e.first_bytes].append(e)
    matches, unmatched = [], []
    for p in sorted(probe, key=lambda e: (e.start_ns, e.stream)):
        found = None
        for method, key in (("4-tuple", p.tuple4),
                            ("isn", (p.isn_client, p.isn_server)),
                            ("isn", (p.isn_client, None)),
                            ("timestamps", p.syn_tsval),
                            ("payload", p.first_bytes)):
            if key is None or (method == "isn" and p.isn_client is None) or \
                    (method == "payload" and len(key) < MIN_PAYLOAD_MATCH):
                continue
            cands = [e for e in index[method].get(key, ()) if e.stream in free
                     and _same_isn(p, e) is not False]
            if cands:
                found = (method, cands[0])
                break
        if found is None:
            unmatched.append(Unmatched("probe", p.stream, _describe(p), _why(p, server)))
            continue
        method, e = found
        free.discard(e.stream)
        matches.append(Match(p.stream, e.stream, method))
    for e in server:
        if e.stream in free:
            unmatched.append(Unmatched(
                "server", e.stream, _describe(e),
                "no connection of the probe has its addresses, sequence numbers, timestamps "
                "or first bytes: another client's, or outside the probe's capture"))
    matches.sort(key=lambda m: m.probe_stream)
    unmatched.sort(key=lambda u: (u.capture != "probe", u.stream))
    return matches, unmatched


def _why(p: Endpoint, server: list[Endpoint]) -> str:
    if not server:
        return "the server capture holds no TCP connection"
    if p.tuple4[3] not in {e.tuple4[3] for e in server}:
        return (f"the server capture has no connection to port {p.tuple4[3]} (another server, "
                "or filtered out)")
    if p.isn_client is None and p.syn_tsval is None and \
            len(p.first_bytes) < MIN_PAYLOAD_MATCH:
        return ("no connection with its addresses and ports, and nothing else to match by "
                "(no SYN and no kept payload in the probe's capture)")
    return ("no connection with its addresses and ports, sequence numbers, SYN timestamp or "
            "first payload bytes (another server behind the balancer, or outside the server "
            "capture)")


def starts_outside(p_start_ns: int, offset_ns: int, server_ts: np.ndarray) -> bool:
    """Did a probe connection start (on the server's clock) outside the server capture?"""
    if server_ts.size == 0:
        return True
    at = p_start_ns + offset_ns
    return bool(at < server_ts.min() or at > server_ts.max())
