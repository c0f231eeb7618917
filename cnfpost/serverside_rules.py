"""What the server's capture changes in the findings and the cause.

With a server capture (cnfpost/serverside.py) the probe's guesses become measurements:

- ``l3.upstream_loss`` / ``l3.downstream_loss`` are located by both captures: packets the
  sender's capture shows and the receiver's does not (bare ACKs included), instead of the
  retransmissions the probe saw. They replace the probe-only findings of the same codes.
- ``l7.server_time`` splits each sample's time to first byte into the server's own time
  and the network's. It replaces ``l4l7.application`` (a guess from clean TCP).
- :func:`located_facts` re-labels the probe's retransmitted and late frames with where the
  loss really was, so that the cause model (cnfpost/cause.py) claims slow phases for the
  located direction: a server retransmission after an ACK lost on the way up is upstream
  loss, a late segment the server never sent before is not loss at all.
"""
from __future__ import annotations

import statistics
from dataclasses import replace

from .evidence import display_filter
from .facts import Facts
from .findings import Finding, capture_evidence, make_finding

__all__ = ["located_facts", "with_server_findings", "server_phase_code", "SUPERSEDED"]

SUPERSEDED = ("l3.upstream_loss", "l3.downstream_loss", "l4l7.application")
LABELS = {"up": "client -> server", "down": "server -> client"}


def _usable(ss) -> bool:
    return ss is not None and bool(ss.connections)


def located_facts(facts: Facts, ss) -> Facts:
    """The probe's repair/copy labels corrected by the server capture (module docstring)."""
    if not _usable(ss) or facts.repairs is None or facts.tcp is None:
        return facts
    tcp = facts.tcp

    def seq(row: int) -> int:
        return int(tcp.at("tcp_seq_rel", [row])[0])
    repair = dict(facts.repair_frames)
    copies = set(facts.copy_frames)
    reordered = set(facts.reorder_frames)
    r = facts.repairs
    for row, stream, up in zip(r.rows.tolist(), r.stream.tolist(), r.up.tolist()):
        conn = ss.connection(int(stream))
        if conn is None:
            continue
        frame = row + 1
        lo = seq(row)
        hi = lo + int(tcp.payload_len[row])
        where = _where(conn, frame, up, lo, hi, int(tcp.ts_ns[row]), seq, tcp)
        if where is None:
            continue
        copies.discard(frame)
        reordered.discard(frame)
        repair.pop(frame, None)
        if where in ("up", "down"):
            repair[frame] = where
        else:
            copies.add(frame)      # the network lost nothing: a needless or late copy
    return replace(facts, repair_frames=repair, copy_frames=frozenset(copies),
                   reorder_frames=frozenset(reordered))


def _where(conn, frame: int, up: bool, lo: int, hi: int, ts: int, seq, tcp) -> str | None:
    """Where the loss behind one flagged probe frame was: up, down, or 'none'."""
    lost_up = [x for x in conn.lost if x.direction == "up"]
    if up:
        for x in lost_up:
            if x.kind != "data":
                continue
            row = x.probe_frames[0] - 1
            a = seq(row)
            if a < hi and lo < a + int(tcp.payload_len[row]):
                return "up"
        return "none"            # the original reached the server: not lost on the way up
    if any(frame in x.probe_frames for x in conn.lost if x.direction == "down"):
        return "down"
    if frame in conn.held_by_server:
        return "none"
    if any(x.sent_ns < ts for x in lost_up):
        return "up"              # sent again because an ACK or request was lost on the way up
    return None


def with_server_findings(findings: list[Finding], ctx) -> list[Finding]:
    """The findings with the probe-only guesses replaced by the server capture's
    measurements (module docstring); unchanged without a usable server capture."""
    ss = ctx.server_side
    if not _usable(ss):
        return findings
    kept = [f for f in findings if f.code not in SUPERSEDED]
    return kept + _loss_findings(ctx, ss) + _server_time(ctx, ss)


def _server_evidence(frames, detail: str, server_frames) -> object:
    ev = capture_evidence(frames, detail)
    ordered = sorted({int(f) for f in server_frames})
    return replace(ev, server={"frames": ordered[:50], "frame_count": len(ordered),
                               "display_filter": display_filter(ordered)})


def _loss_findings(ctx, ss) -> list[Finding]:
    th = ctx.th
    icmp_saw = ctx.l3.icmp_saw_loss
    out = []
    for direction, code in (("up", "l3.upstream_loss"), ("down", "l3.downstream_loss")):
        lost = ss.lost(direction)
        if not lost:
            continue
        sent = _packets_sent(ctx, ss, direction)
        rate = 100.0 * len(lost) / sent if sent else 0.0
        data = sum(1 for _, x in lost if x.kind == "data")
        streams = sorted({c.match.probe_stream for c, _ in lost})
        severity = "info" if icmp_saw else (
            "critical" if rate >= th["find.retrans_pct.critical"] else
            "warning" if rate >= th["find.retrans_pct.warning"] else "info")
        where = "on the way up: sent by the probe, never seen by the server" if direction == "up" \
            else "on the way down: sent by the server, never seen by the probe"
        out.append(make_finding(
            code, severity,
            f"{len(lost)} {LABELS[direction]} packet(s) lost {where} ({data} data segment(s), "
            f"{len(lost) - data} without payload; {rate:.2f}% of that direction's packets) in "
            f"{len(streams)} connection(s), located by both captures",
            {"lost_packets": len(lost), "data_segments": data,
             "control_segments": len(lost) - data, "rate_pct": round(rate, 3),
             "streams": streams, "located_by": "both_captures"},
            _server_evidence([f for _, x in lost for f in x.probe_frames],
                             f"{LABELS[direction]} packets lost and their repairs",
                             [f for _, x in lost for f in x.server_frames])))
    return out


def _packets_sent(ctx, ss, direction: str) -> int:
    """Packets the sender sent that way on the matched connections (the probe's capture
    counts the client's; the server's are counted as the probe saw them plus the lost)."""
    f = ctx.tcp.flows
    streams = [c.match.probe_stream for c in ss.connections]
    if direction == "up":
        return int(f["packets_c2s"][streams].sum())
    return int(f["packets_s2c"][streams].sum()) + len(ss.lost("down"))


def _server_time(ctx, ss) -> list[Finding]:
    thinks = [t for c in ss.connections for t in c.think]
    if not thinks:
        return []
    th = ctx.th
    server = statistics.median(t.server_ns for t in thinks) / 1e6
    network = statistics.median(t.network_ns for t in thinks) / 1e6
    ttfb = statistics.median(t.ttfb_ns for t in thinks) / 1e6
    severity = "critical" if server >= th["find.server_ms.critical"] else \
        "warning" if server >= th["find.server_ms.warning"] else "info"
    return [make_finding(
        "l7.server_time", severity,
        f"of a median {ttfb:.1f} ms to first byte, the server itself took {server:.1f} ms "
        f"(request in to response out, on its own clock) and the network {network:.1f} ms, "
        f"over {len(thinks)} sample(s)",
        {"phase": "server", "samples": sorted(t.sample for t in thinks),
         "median_ms": round(ttfb, 3), "server_ms": round(server, 3),
         "network_ms": round(network, 3),
         "per_sample": [t.to_dict() for t in sorted(thinks, key=lambda t: t.sample)]},
        _server_evidence([f for t in thinks for f in t.probe_frames],
                         "request's first and response's first segment",
                         [f for t in thinks for f in t.server_frames]))]


def server_phase_code(ctx, sample: int, extra_ms: float) -> str | None:
    """Who a slow server phase belongs to. Without a server capture the probe can only
    say ``l7.slow_server``; with one, ``l7.server_time`` when the server's own time
    accounts for at least half the extra, else None: the network took it, and the cause
    model looks further."""
    ss = ctx.server_side
    think = None if ss is None else ss.think_of(sample)
    if think is None:
        return "l7.slow_server"
    return "l7.server_time" if think.server_ns / 1e6 >= 0.5 * extra_ms else None
