"""Per-packet fields under Wireshark's names, for `cnfpost packets` and display filters.

Each field turns the packet table into one value per frame plus a mask of the frames
that have it (a TCP field is absent on a UDP frame, as in `tshark -T fields`, which
prints nothing there). Values are formatted the way tshark 4.0 prints them, so an export
can be diffed against `tshark -T fields -e <the same names>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from .model import NO_STREAM, NO_TIME, TCP_ANALYSIS_FIELDS, DecodeStatus, PacketTable

__all__ = ["Field", "FIELDS", "DEFAULT_FIELDS", "ExportContext", "field_values"]


class ExportContext:
    """The table, plus derived tables computed once on first use."""

    def __init__(self, table: PacketTable):
        self.table = table

    @cached_property
    def tcp_rows(self) -> np.ndarray:
        t = self.table
        return (t["ip_proto"] == 6) & (t["tcp_hdr_len"] > 0)

    @cached_property
    def udp_rows(self) -> np.ndarray:
        # the statuses after which the decoder has read the UDP header
        t = self.table
        parsed = np.isin(t["status"], (DecodeStatus.OK, DecodeStatus.SNAPLEN_CUT,
                                       DecodeStatus.BAD_IP_TOTAL_LEN,
                                       DecodeStatus.TIME_OUT_OF_RANGE))
        return parsed & (t["ip_proto"] == 17) & (t["ip_version"] > 0)

    @cached_property
    def tcp(self):
        """The TCP analysis (computed only when an analysis field is asked for)."""
        from .tcp import analyze_tcp

        return analyze_tcp(self.table)

    @cached_property
    def icmp_index(self) -> np.ndarray:
        """Row -> index into the icmp side table, -1 where the row has none."""
        index = np.full(len(self.table), -1, dtype=np.int64)
        index[self.table.icmp["row"]] = np.arange(self.table.icmp["row"].shape[0])
        return index


@dataclass(frozen=True)
class Field:
    name: str
    doc: str
    compute: Callable[[ExportContext], tuple[np.ndarray, np.ndarray]]  # values, present
    fmt: Callable[[object], str] = str


def _col(name: str, present: Callable[[ExportContext], np.ndarray]):
    return lambda ctx: (ctx.table[name], present(ctx))


def _all(ctx: ExportContext) -> np.ndarray:
    return np.ones(len(ctx.table), dtype=bool)


# IPv4 headers whose lengths are bogus: tshark 4.0 shows ip.version and nothing after.
_HEADER_ONLY = (DecodeStatus.BAD_IP_HEADER_LEN, DecodeStatus.BOGUS_IP_LENGTH)


def _v4(ctx: ExportContext) -> np.ndarray:
    t = ctx.table
    return (t["ip_version"] == 4) & ~np.isin(t["status"], _HEADER_ONLY)


def _timed(ctx: ExportContext) -> np.ndarray:
    return ctx.table["ts_ns"] != NO_TIME  # tshark prints no time where the frame has none


def _v6(ctx: ExportContext) -> np.ndarray:
    return ctx.table["ip_version"] == 6


_VERSION_ROWS = {4: _v4, 6: _v6}


def _ip(ctx: ExportContext) -> np.ndarray:
    return ctx.table["ip_version"] > 0


def _tcp(ctx: ExportContext) -> np.ndarray:
    return ctx.tcp_rows


def _udp(ctx: ExportContext) -> np.ndarray:
    return ctx.udp_rows


def _icmp_field(side_name: str, version: int):
    """A field of the icmp side table, for ICMP (version 4) or ICMPv6 (6) rows."""
    def compute(ctx: ExportContext):
        index = ctx.icmp_index
        present = index >= 0
        values = np.zeros(len(ctx.table), dtype=np.int64)
        values[present] = ctx.table.icmp[side_name][index[present]]
        present &= ctx.table["ip_version"] == version
        return values, present
    return compute


def _icmp_echo_field(side_name: str, version: int):
    def compute(ctx: ExportContext):
        values, present = _icmp_field(side_name, version)(ctx)
        types = _icmp_field("type", version)(ctx)[0]
        echo = present & np.isin(types, (0, 8) if version == 4 else (128, 129))
        return values, echo
    return compute


def _address(version: int, which: str):
    def compute(ctx: ExportContext):
        t = ctx.table
        present = _VERSION_ROWS[version](ctx)
        values = np.empty(len(t), dtype=object)
        raw = t["ip_" + which]
        # Format each distinct address once: captures have few, frames many.
        uniq, inverse = np.unique(raw[present], return_inverse=True)
        names = np.array([t.format_address(version, int(v)) for v in uniq], dtype=object)
        values[present] = names[inverse]
        return values, present
    return compute


def _time_epoch(value) -> str:
    # tshark 4.0 prints frame.time_epoch with nanosecond digits
    seconds, nanos = divmod(int(value), 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def _hex4(value) -> str:
    return f"0x{int(value):04x}"


def _frame_number(ctx: ExportContext):
    return ctx.table.frame, _all(ctx)


def _interface_id(ctx: ExportContext):
    """As tshark 4.0 shows it: the IDB's id within its section (interface ids restart in
    each section), nothing for a pcap file or a row with no interface."""
    t = ctx.table
    iface = t["iface"].astype(np.int64)
    if t.stats.format != "pcapng" or not t.interfaces:
        return iface, np.zeros(len(t), dtype=bool)
    index = np.array([i.index for i in t.interfaces], dtype=np.int64)
    present = iface < len(t.interfaces)
    values = np.zeros(len(t), dtype=np.int64)
    values[present] = index[iface[present]]
    return values, present


def _status_name(value) -> str:
    return DecodeStatus(int(value)).name


_FIELD_LIST = [
    Field("frame.number", "frame number, 1-based, file order", _frame_number),
    Field("frame.time_epoch", "capture time, seconds since the epoch", _col("ts_ns", _timed),
          _time_epoch),
    Field("frame.len", "bytes on the wire", _col("wire_len", _all)),
    Field("frame.cap_len", "bytes captured", _col("cap_len", _all)),
    Field("frame.interface_id", "capture interface: its id within its pcapng section",
          _interface_id),
    Field("ip.version", "IP version", _col("ip_version", _ip)),
    Field("ip.src", "IPv4 source", _address(4, "src")),
    Field("ip.dst", "IPv4 destination", _address(4, "dst")),
    Field("ipv6.src", "IPv6 source", _address(6, "src")),
    Field("ipv6.dst", "IPv6 destination", _address(6, "dst")),
    Field("ip.proto", "IPv4 protocol", _col("ip_proto", _v4)),
    Field("ipv6.nxt", "IPv6 transport protocol (after extension headers)",
          _col("ip_proto", _v6)),
    Field("ip.ttl", "IPv4 TTL", _col("ip_ttl", _v4)),
    Field("ipv6.hlim", "IPv6 hop limit", _col("ip_ttl", _v6)),
    Field("ip.id", "IPv4 identification", _col("ip_id", _v4), _hex4),
    Field("tcp.srcport", "TCP source port", _col("sport", _tcp)),
    Field("tcp.dstport", "TCP destination port", _col("dport", _tcp)),
    Field("tcp.seq_raw", "raw sequence number", _col("tcp_seq", _tcp)),
    Field("tcp.ack_raw", "raw acknowledgement number", _col("tcp_ack", _tcp)),
    Field("tcp.flags", "TCP flags", _col("tcp_flags", _tcp), _hex4),
    Field("tcp.window_size_value", "raw window", _col("tcp_win", _tcp)),
    Field("tcp.hdr_len", "TCP header length", _col("tcp_hdr_len", _tcp)),
    Field("tcp.len", "TCP payload length", _col("payload_len", _tcp)),
    Field("udp.srcport", "UDP source port", _col("sport", _udp)),
    Field("udp.dstport", "UDP destination port", _col("dport", _udp)),
    Field("icmp.type", "ICMP type", _icmp_field("type", 4)),
    Field("icmp.code", "ICMP code", _icmp_field("code", 4)),
    Field("icmp.ident", "ICMP echo identifier", _icmp_echo_field("ident", 4)),
    Field("icmp.seq", "ICMP echo sequence number", _icmp_echo_field("seq", 4)),
    Field("icmpv6.type", "ICMPv6 type", _icmp_field("type", 6)),
    Field("icmpv6.code", "ICMPv6 code", _icmp_field("code", 6)),
    Field("icmpv6.echo.identifier", "ICMPv6 echo identifier (tshark 4.0 prints it in hex)",
          _icmp_echo_field("ident", 6), _hex4),
    Field("icmpv6.echo.sequence_number", "ICMPv6 echo sequence number",
          _icmp_echo_field("seq", 6)),
    Field("cnfpost.status", "decode status (cnfpost's own; not a Wireshark field)",
          _col("status", _all), _status_name),
]

def _in_stream(ctx: ExportContext) -> np.ndarray:
    return ctx.tcp.columns["tcp_stream"] != NO_STREAM


def _analysis_col(name: str, present=_in_stream, zero_is_absent: bool = False):
    """An analysis column; tshark leaves e.g. acks_frame empty where it is 0."""
    def compute(ctx: ExportContext):
        values = ctx.tcp[name]
        here = present(ctx)
        return values, (here & (values != 0)) if zero_is_absent else here
    return compute


def _analysis_flag(field: str):
    """tcp.analysis.* as 0/1 on every TCP frame (the design's export convention)."""
    def compute(ctx: ExportContext):
        return ctx.tcp.has(field).astype(np.uint8), _in_stream(ctx)
    return compute


def _ack_rtt(ctx: ExportContext):
    rtt = ctx.tcp.ack_rtt_ns()
    return rtt, rtt >= 0


def _seconds(value) -> str:
    seconds, nanos = divmod(int(value), 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


_FIELD_LIST += [
    Field("tcp.stream", "TCP conversation index (Wireshark's)", _analysis_col("tcp_stream")),
    Field("tcp.seq", "relative sequence number", _analysis_col("tcp_seq_rel")),
    Field("tcp.ack", "relative acknowledgement number", _analysis_col("tcp_ack_rel")),
    Field("tcp.window_size", "window after scaling (once the scale is known)",
          _analysis_col("tcp_win_scaled")),
    Field("tcp.analysis.bytes_in_flight", "unacknowledged bytes after this segment",
          _analysis_col("tcp_bytes_in_flight", zero_is_absent=True)),
    Field("tcp.analysis.duplicate_ack_num", "duplicate ACK number",
          _analysis_col("tcp_dupack_num", zero_is_absent=True)),
    Field("tcp.analysis.duplicate_ack_frame", "frame this duplicate ACK repeats",
          _analysis_col("tcp_dupack_frame", zero_is_absent=True)),
    Field("tcp.analysis.acks_frame", "frame this ACK acknowledges",
          _analysis_col("tcp_acks_frame", zero_is_absent=True)),
    Field("tcp.analysis.ack_rtt", "time from the acknowledged segment to this ACK (s)",
          _ack_rtt, _seconds),
] + [Field(name, f"Wireshark's {name} expert flag, 0/1", _analysis_flag(name))
     for name in TCP_ANALYSIS_FIELDS]

FIELDS: dict[str, Field] = {f.name: f for f in _FIELD_LIST}

DEFAULT_FIELDS: tuple[str, ...] = (
    "frame.number", "frame.time_epoch", "frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "ip.proto", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
    "tcp.window_size_value", "tcp.len", "udp.srcport", "udp.dstport", "icmp.type", "icmp.code",
    "icmpv6.type", "icmpv6.code", "cnfpost.status",
)


def register(field: Field) -> None:
    """Add a field (later stages add tcp.stream, tcp.analysis.*). Names are unique."""
    if field.name in FIELDS:
        raise ValueError(f"field {field.name} registered twice")
    FIELDS[field.name] = field


def field_values(ctx: ExportContext, name: str) -> tuple[np.ndarray, np.ndarray]:
    return FIELDS[name].compute(ctx)
