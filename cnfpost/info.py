"""`cnfpost info`: what capinfos says about a capture, as plain data and as text."""
from __future__ import annotations

import datetime as dt

import numpy as np

from .model import NO_TIME, PacketTable

__all__ = ["summarize", "format_text", "conversations"]


def _iso(ts_ns: int) -> str:
    seconds, nanos = divmod(int(ts_ns), 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def summarize(table: PacketTable, tcp=None) -> dict:
    """Counts, times, interfaces and decode problems of one decoded capture; with its TCP
    analysis, also the TCP conversations (what `tshark -z conv,tcp` lists, and the
    analysis counts per conversation)."""
    stats = table.stats
    span = _time_span(table)
    summary = {
        "file": stats.path,
        "format": stats.format,
        "byte_order": stats.byte_order,
        "sections": stats.sections,
        "packets": stats.packets,
        "bytes_captured": stats.bytes_captured,
        "bytes_on_wire": stats.bytes_on_wire,
        "file_bytes": stats.file_bytes,
        "first_time": _iso(span[0]) if span else None,
        "last_time": _iso(span[1]) if span else None,
        "duration_s": round((span[1] - span[0]) / 1e9, 9) if span else 0.0,
        "interfaces": [
            {
                "id": number,
                "section": iface.section,
                "name": iface.name,
                "link_type": iface.link_type,
                "link_type_name": iface.link_type_name,
                "snaplen": iface.snaplen,
                "ts_resolution": iface.ts_resolution,
                "ts_offset_s": iface.ts_offset_s,
                "packets": iface.packets,
                "decoded": not iface.unknown_link_type,
            }
            for number, iface in enumerate(table.interfaces)
        ],
        "ip_versions": {f"ipv{v}": int(np.count_nonzero(table["ip_version"] == v)) for v in (4, 6)},
        "protocols": _protocols(table),
        "decode_status": dict(stats.status_counts),
        "skipped_blocks": dict(stats.skipped_blocks),
        "warnings": list(stats.warnings),
        "stopped_at_byte": stats.stopped_at,
    }
    if summary["duration_s"] > 0:
        summary["data_rate_bps"] = round(8 * stats.bytes_on_wire / summary["duration_s"], 3)
    if tcp is not None:
        first = span[0] if span else 0
        summary["tcp_conversations"] = conversations(table, tcp, first)
    return summary


def _time_span(table: PacketTable) -> tuple[int, int] | None:
    """First and last time stamp of the frames that have one (an SPB, for one, has none),
    the trailing empty records included."""
    ts = table["ts_ns"]
    timed = ts[ts != NO_TIME]
    times = [int(timed.min()), int(timed.max())] if timed.size else []
    run = table.empty_run
    if run is not None and run.ts_ns != NO_TIME:
        times.append(run.ts_ns)
    return (min(times), max(times)) if times else None


def conversations(table: PacketTable, tcp, first_ns: int | None = None) -> list[dict]:
    """One row per TCP conversation (tcp.stream): endpoints, frames and payload bytes each
    way, start (relative to first_ns, else to the first frame) and duration, handshake,
    iRTT, the analysis counts, how it ended, and the display filter that shows it.

    Built column by column from the flow table (each distinct address formatted once),
    then zipped into rows."""
    from .tcp import END_NAMES, HANDSHAKE_NAMES

    f = tcp.flows
    if first_ns is None:
        first_ns = int(table["ts_ns"][0]) if len(table) else 0
    n = tcp.n_streams
    if n == 0:
        return []
    columns = {
        "stream": list(range(n)),
        "client": _endpoints(table, f["ip_version"], f["client_addr"], f["client_port"]),
        "server": _endpoints(table, f["ip_version"], f["server_addr"], f["server_port"]),
        "first_frame": f["first_frame"].tolist(), "last_frame": f["last_frame"].tolist(),
        "frames_c2s": f["packets_c2s"].tolist(), "frames_s2c": f["packets_s2c"].tolist(),
        "bytes_c2s": f["bytes_c2s"].tolist(), "bytes_s2c": f["bytes_s2c"].tolist(),
        "rel_start_s": [round(v / 1e9, 6) for v in (f["start_ns"] - first_ns).tolist()],
        "duration_ms": [round(v / 1e6, 3) for v in f["duration_ns"].tolist()],
        "handshake": [HANDSHAKE_NAMES[h] for h in f["handshake"].tolist()],
        "irtt_ms": [None if v < 0 else round(v / 1e6, 3) for v in f["irtt_ns"].tolist()],
        **{name: f[name].tolist() for name in (
            "syn_retries", "retransmissions", "dup_acks", "out_of_order", "lost_segments",
            "zero_windows")},
        "end": [END_NAMES[e] for e in f["end"].tolist()],
        "display_filter": [f"tcp.stream == {i}" for i in range(n)],
    }
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]


def _endpoints(table: PacketTable, version: np.ndarray, addr: np.ndarray,
               port: np.ndarray) -> list[str]:
    """'address:port' per row; each distinct (version, address) is formatted once."""
    keys = (version.astype(np.int64) << 32) | addr.astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    names = [table.format_address(int(k >> 32), int(k & 0xFFFFFFFF)) for k in uniq.tolist()]
    text = [names[i] for i in inverse.tolist()]
    return [f"{a}:{p}" for a, p in zip(text, port.tolist())]


def _protocols(table: PacketTable) -> dict:
    proto = table["ip_proto"][table["ip_version"] > 0]
    names = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
    counts = np.bincount(proto, minlength=256)  # a count per protocol number: no sort
    return {names.get(v, f"ip_proto_{v}"): int(counts[v]) for v in np.flatnonzero(counts).tolist()}


def format_text(summary: dict) -> str:
    """A capinfos-like listing of a summary."""
    rows = [
        ("File", summary["file"]),
        ("Format", f"{summary['format']} ({summary['byte_order']}-endian, "
                   f"{summary['sections']} section(s))"),
        ("Packets", f"{summary['packets']:,}"),
        ("Bytes captured", f"{summary['bytes_captured']:,}"),
        ("Bytes on wire", f"{summary['bytes_on_wire']:,}"),
        ("First packet", summary["first_time"] or "-"),
        ("Last packet", summary["last_time"] or "-"),
        ("Duration", f"{summary['duration_s']:.6f} s"),
    ]
    if "data_rate_bps" in summary:
        rows.append(("Data rate", f"{summary['data_rate_bps'] / 1e6:.3f} Mbit/s"))
    rows.append(("IP", ", ".join(f"{k} {v:,}" for k, v in summary["ip_versions"].items())))
    rows.append(("Protocols", ", ".join(f"{k} {v:,}" for k, v in summary["protocols"].items())
                 or "-"))
    rows.append(("Decode status", ", ".join(f"{k} {v:,}" for k, v in
                                            summary["decode_status"].items()) or "-"))
    if summary["skipped_blocks"]:
        rows.append(("Skipped blocks", ", ".join(f"{k} {v}" for k, v in
                                                 summary["skipped_blocks"].items())))
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{k + ':':<{width}} {v}" for k, v in rows]
    lines.append("Interfaces:")
    for iface in summary["interfaces"]:
        name = f" {iface['name']}" if iface["name"] else ""
        note = "" if iface["decoded"] else "  (link type not decoded)"
        lines.append(f"  {iface['id']}{name}: {iface['link_type_name']} ({iface['link_type']}), "
                     f"snaplen {iface['snaplen']}, {iface['packets']:,} packets{note}")
    conversations = summary.get("tcp_conversations")
    if conversations:
        lines.append(f"TCP conversations ({len(conversations)}):")
        head = (f"  {'stream':>6}  {'client':<28} {'server':<28} {'frames':>12} {'payload bytes':>19} "
                f"{'start s':>10} {'dur s':>9} {'iRTT ms':>8} {'retr':>5} {'dupack':>6} "
                f"{'ooo':>4} {'zwin':>4}  end")
        lines.append(head)
        for c in conversations:
            frames = f"{c['frames_c2s']}/{c['frames_s2c']}"
            volume = f"{c['bytes_c2s']}/{c['bytes_s2c']}"
            irtt = "-" if c["irtt_ms"] is None else f"{c['irtt_ms']:.3f}"
            lines.append(f"  {c['stream']:>6}  {c['client']:<28} {c['server']:<28} {frames:>12} "
                         f"{volume:>19} {c['rel_start_s']:>10.6f} {c['duration_ms'] / 1000:>9.6f} "
                         f"{irtt:>8} {c['retransmissions']:>5} {c['dup_acks']:>6} "
                         f"{c['out_of_order']:>4} {c['zero_windows']:>4}  {c['end']}")
    for warning in summary["warnings"]:
        lines.append(f"Warning: {warning}")
    return "\n".join(lines) + "\n"
