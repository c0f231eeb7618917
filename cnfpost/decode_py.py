"""The pure-Python reference decoder: docs/decoding.md, written for clarity.

``read_capture(data, label)`` turns the bytes of a pcap or pcapng file into the same
:class:`cnfpost.model.PacketTable` the compiled decoder (ext/_decode.pyx) produces. The
differential tests hold the two to identical output, so every rule here is a rule of
docs/decoding.md; when one changes, both decoders and the doc change together.

This module never imports the compiled extension nor ``cnfpost.capture``: it is the
independent half of that comparison. Everything is plain ``struct`` over the raw bytes.
"""
from __future__ import annotations

import re
import struct

import numpy as np

from .errors import InputError, describe_got, format_problem
from .reassembly import PREFIX, Reassembler
from .model import (
    ICMP_COLUMNS,
    PACKET_COLUMNS,
    PAYLOAD_BUFFER_LIMIT,
    PAYLOAD_COLUMNS,
    PAYLOAD_KEEP,
    SACK_COLUMNS,
    TCPOPT_COLUMNS,
    CaptureStats,
    DecodeStatus,
    EmptyRun,
    Interface,
    NO_TIME,
    LinkType,
    PacketTable,
    TcpOpt,
    count_frames,
)

__all__ = ["read_capture"]

S = DecodeStatus

# --- container constants (libpcap pcap/pcap.h, sf-pcap.c, sf-pcapng.c) -----------------
TCPDUMP_MAGIC = 0xA1B2C3D4
NSEC_TCPDUMP_MAGIC = 0xA1B23C4D
KUZNETZOV_TCPDUMP_MAGIC = 0xA1B2CD34
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

BT_IDB, BT_PB, BT_SPB, BT_EPB = 1, 2, 3, 6
SKIPPED_BLOCK_NAMES = {4: "NRB", 5: "ISB", 9: "journal", 10: "DSB", 0xBAD: "custom", 0x40000BAD: "custom"}
# Smallest body each packet-bearing block needs for its fixed fields.
MIN_BODY = {BT_IDB: 8, BT_PB: 20, BT_SPB: 4, BT_EPB: 20}
BLOCK_NAMES = {BT_IDB: "an IDB", BT_PB: "a PB", BT_SPB: "an SPB", BT_EPB: "an EPB",
               PCAPNG_SHB: "an SHB"}

OPT_ENDOFOPT, IF_NAME, IF_TSRESOL, IF_TSOFFSET = 0, 2, 9, 14

# The largest caplen a pcap record may claim when the snaplen is smaller (libpcap's
# MAXIMUM_SNAPLEN): anything larger is a corrupt length field, not a big packet.
MAX_SNAPLEN = 262144
NO_INTERFACE = 65535  # iface value for a pcapng packet whose interface id has no IDB
U64 = (1 << 64) - 1
NS = 1_000_000_000
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

KNOWN_LINKTYPES = frozenset(int(lt) for lt in LinkType)

# --- protocol constants --------------------------------------------------------------
ETHERTYPE_IP, ETHERTYPE_IPV6 = 0x0800, 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad (QinQ), pre-standard QinQ
ETHERTYPE_MPLS = (0x8847, 0x8848)  # unicast, multicast
MPLS_NOT_IP_LABELS = (13, 14)  # GAL (RFC 5586), OAM Alert (RFC 3429): no IP follows
AF_INET, AF_INET6_ALL = 2, (24, 28, 30)  # AF_INET6 differs per BSD (NetBSD/OpenBSD, FreeBSD, macOS)
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
IPV6_EXT_OPTS = (0, 43, 60)  # hop-by-hop, routing, destination options: (len+1)*8
IPPROTO_FRAGMENT, IPPROTO_AH, IPPROTO_NONE = 44, 51, 59
ICMP_ECHO_TYPES = {4: (0, 8), 6: (128, 129)}
ICMP_ERROR_TYPES = {4: (3, 4, 5, 11, 12), 6: (1, 2, 3, 4)}

TCPOPT_EOL, TCPOPT_NOP, TCPOPT_MSS, TCPOPT_WSCALE = 0, 1, 2, 3
TCPOPT_SACK_PERM, TCPOPT_SACK, TCPOPT_TIMESTAMP = 4, 5, 8
TCPOPT_GOOD_LEN = {TCPOPT_MSS: (4,), TCPOPT_WSCALE: (3,), TCPOPT_SACK_PERM: (2,),
                   TCPOPT_SACK: (10, 18, 26, 34), TCPOPT_TIMESTAMP: (10,)}

HTTP_PREFIXES = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ",
                 b"CONNECT ", b"TRACE ", b"HTTP/1.", b"PRI * HTTP/2")

ZERO_ROW = {col.name: 0 for col in PACKET_COLUMNS}


class _Stop(Exception):
    """The container walk cannot go on: keep what was decoded, record one warning."""

    def __init__(self, offset: int, expected: str, got: str):
        self.offset, self.expected, self.got = offset, expected, got


# =====================================================================================
# Public entry point
# =====================================================================================

def read_capture(data: bytes | memoryview, label: str) -> PacketTable:
    """Decode a whole capture held in memory. Raises InputError if it is not a capture."""
    buf = bytes(data)
    head = buf[:4]
    if len(head) < 4:
        raise InputError(label, "byte 0", "a pcap or pcapng magic number", describe_got(head))
    dec = _Decoder(buf, label)
    if head == b"\x0a\x0d\x0d\x0a":
        dec.read_pcapng()
    else:
        for order in "<>":
            magic = struct.unpack(order + "I", head)[0]
            if magic in (TCPDUMP_MAGIC, NSEC_TCPDUMP_MAGIC, KUZNETZOV_TCPDUMP_MAGIC):
                dec.read_pcap(order, magic)
                break
        else:
            raise InputError(label, "byte 0", "a pcap or pcapng magic number", describe_got(head))
    return dec.finish()


# =====================================================================================
# Containers
# =====================================================================================

class _Decoder:
    def __init__(self, buf: bytes, label: str):
        self.buf = buf
        self.label = label
        self.stats = CaptureStats(path=label, file_bytes=len(buf))
        self.interfaces: list[Interface] = []
        self.rows: list[dict] = []
        self.icmp: list[tuple] = []
        self.tcpopt: list[tuple] = []
        self.sack: list[tuple] = []
        self.payload_index: list[tuple] = []
        self.payload_chunks: list[bytes] = []
        self.payload_size = 0
        self.ip6_index: dict[bytes, int] = {}
        self.reassembler = Reassembler()
        self.run: list | None = None  # [count, ts_ns, wire_len, iface] of pending empty records

    # --- pcap -----------------------------------------------------------------------
    def read_pcap(self, order: str, magic: int) -> None:
        buf, stats = self.buf, self.stats
        if len(buf) < 24:
            raise InputError(self.label, "byte 0", "a 24-byte pcap file header", f"{len(buf)} bytes")
        snaplen, linktype_word = struct.unpack_from(order + "II", buf, 16)
        nano = magic == NSEC_TCPDUMP_MAGIC
        stats.format = "pcap"
        stats.byte_order = "little" if order == "<" else "big"
        stats.ts_precision = "nano" if nano else "micro"
        stats.sections = 1
        iface = self._add_interface(0, 0, linktype_word & 0xFFFF, snaplen, NS if nano else 10**6)
        frac_ns = 1 if nano else 1000
        hdr_len = 24 if magic == KUZNETZOV_TCPDUMP_MAGIC else 16
        max_caplen = max(snaplen, MAX_SNAPLEN)
        rec = struct.Struct(order + "IIII")
        off, end = 24, len(buf)
        try:
            while off < end:
                if end - off < hdr_len:
                    raise _Stop(off, f"a {hdr_len}-byte record header", f"{end - off} bytes")
                ts_sec, ts_frac, caplen, origlen = rec.unpack_from(buf, off)
                if caplen > max_caplen:
                    raise _Stop(off, f"a record length of at most {max_caplen}", str(caplen))
                start = off + hdr_len
                if caplen > end - start:
                    raise _Stop(off, f"{caplen} bytes of packet data",
                                f"{end - start} (file cut off mid-record)")
                ts_ns = ts_sec * NS + ts_frac * frac_ns  # at most 2106: always in range
                self._frame(iface, ts_ns, buf[start:start + caplen], origlen)
                off = start + caplen
        except _Stop as stop:
            self._stop(stop)

    # --- pcapng -----------------------------------------------------------------------
    def read_pcapng(self) -> None:
        buf, stats = self.buf, self.stats
        stats.format = "pcapng"
        first = self._read_shb_order(0, first=True)
        stats.byte_order = "little" if first == "<" else "big"
        order = first
        section_ifaces: list[int] = []  # section's interface id -> index in self.interfaces
        off, end = 0, len(buf)
        try:
            while off < end:
                if end - off < 8:
                    raise _Stop(off, "an 8-byte block header", f"{end - off} bytes")
                btype = struct.unpack_from(order + "I", buf, off)[0]
                if btype == PCAPNG_SHB and end - off >= 12:
                    order = self._read_shb_order(off, first=off == 0)
                btype, blen = struct.unpack_from(order + "II", buf, off)
                if blen < 12 or blen % 4:
                    raise _Stop(off, "a block length that is a multiple of 4 and at least 12",
                                str(blen))
                if blen > end - off:
                    raise _Stop(off, f"{blen} bytes of block", str(end - off))
                trailer = struct.unpack_from(order + "I", buf, off + blen - 4)[0]
                if trailer != blen:
                    raise _Stop(off, f"a trailing block length of {blen}", str(trailer))
                body = buf[off + 8: off + blen - 4]
                need = 16 if btype == PCAPNG_SHB else MIN_BODY.get(btype, 0)
                if len(body) < need:
                    raise _Stop(off, f"{BLOCK_NAMES[btype]} of at least {need + 12} bytes",
                                str(blen))
                if btype == PCAPNG_SHB:
                    stats.sections += 1
                    section_ifaces = []
                elif btype == BT_IDB:
                    section_ifaces.append(self._read_idb(body, order, stats.sections - 1,
                                                         len(section_ifaces)))
                elif btype in (BT_EPB, BT_PB):
                    self._read_epb(body, order, section_ifaces, off, btype)
                elif btype == BT_SPB:
                    self._read_spb(body, order, section_ifaces)
                else:
                    name = SKIPPED_BLOCK_NAMES.get(btype, "unknown")
                    stats.skipped_blocks[name] = stats.skipped_blocks.get(name, 0) + 1
                    if name in ("journal", "custom"):
                        self._record_frame(name, body)
                off += blen
        except _Stop as stop:
            self._stop(stop)

    def _read_shb_order(self, off: int, first: bool) -> str:
        """The byte order a Section Header Block at `off` announces (its byte-order magic)."""
        got = self.buf[off + 8: off + 12]
        for order in "<>":
            if len(got) == 4 and struct.unpack(order + "I", got)[0] == PCAPNG_BYTE_ORDER_MAGIC:
                return order
        expected = "a pcapng byte-order magic 0x1a2b3c4d"
        if first:
            raise InputError(self.label, f"byte {off + 8}", expected, describe_got(got))
        raise _Stop(off, expected, describe_got(got))

    def _read_idb(self, body: bytes, order: str, section: int, index: int) -> int:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        units, ts_offset, name = 10**6, 0, None
        for code, value in _options(body, 8, order):
            if code == IF_NAME and value:  # an empty if_name is no name
                name = value.split(b"\0", 1)[0].decode("utf-8", "replace")
            elif code == IF_TSRESOL and len(value) == 1:
                units = _tsresol_units(value[0])
            elif code == IF_TSOFFSET and len(value) == 8:
                ts_offset = struct.unpack(order + "q", value)[0]
        return self._add_interface(section, index, linktype, snaplen, units, ts_offset, name)

    def _read_epb(self, body: bytes, order: str, section_ifaces: list[int], off: int,
                  btype: int) -> None:
        if btype == BT_EPB:
            iface_id, ts_high, ts_low, caplen, origlen = struct.unpack_from(order + "IIIII", body, 0)
        else:  # obsolete Packet Block: 16-bit interface id, 16-bit drops count
            iface_id, _drops, ts_high, ts_low, caplen, origlen = struct.unpack_from(
                order + "HHIIII", body, 0)
        room = len(body) - 20
        if caplen > room:
            self.stats.warnings.append(format_problem(
                self.label, f"byte {off}", f"a captured length of at most {room}", str(caplen)))
            caplen = room
        ts = (ts_high << 32) | ts_low
        if iface_id < len(section_ifaces):
            g = section_ifaces[iface_id]
            iface = self.interfaces[g]
            ts_ns = _pcapng_ts_ns(ts, iface.ts_resolution, iface.ts_offset_s)
        else:
            g, ts_ns = None, _pcapng_ts_ns(ts, 10**6, 0)
        self._frame(g, ts_ns, body[20:20 + caplen], origlen)

    def _read_spb(self, body: bytes, order: str, section_ifaces: list[int]) -> None:
        origlen = struct.unpack_from(order + "I", body, 0)[0]
        caplen = min(origlen, len(body) - 4)
        g = section_ifaces[0] if section_ifaces else None
        if g is not None and self.interfaces[g].snaplen:
            caplen = min(caplen, self.interfaces[g].snaplen)
        self._frame(g, NO_TIME, body[4:4 + caplen], origlen)  # an SPB has no time stamp

    def _record_frame(self, name: str, body: bytes) -> None:
        """Wireshark 4.0 numbers journal and custom blocks as frames: give them a row so
        that every later frame number still matches Wireshark's."""
        if name == "custom":
            self._frame(None, NO_TIME, body[4:], max(0, len(body) - 4))
            return
        entry = body.rstrip(b"\0")
        ts_ns = NO_TIME
        key = entry.find(b"__REALTIME_TIMESTAMP=")
        if key >= 0:
            digits = re.match(rb"[0-9]*", entry[key + 21:]).group()
            # As Wireshark 4.0: no digits, or more than 64 bits of them, is no time.
            if digits and int(digits) <= U64:
                usec = int(digits)
                ts_ns = _epoch_ns(usec // 10**6, usec % 10**6 * 1000, 0)
        self._frame(None, ts_ns, entry, len(entry))

    # --- shared bookkeeping -----------------------------------------------------------
    def _add_interface(self, section, index, linktype, snaplen, units, ts_offset=0, name=None) -> int:
        self.interfaces.append(Interface(
            section=section, index=index, link_type=linktype, snaplen=snaplen,
            ts_resolution=units, ts_offset_s=ts_offset, name=name,
            unknown_link_type=linktype not in KNOWN_LINKTYPES))
        return len(self.interfaces) - 1

    def _stop(self, stop: _Stop) -> None:
        self.stats.stopped_at = stop.offset
        self.stats.warnings.append(
            format_problem(self.label, f"byte {stop.offset}", stop.expected, stop.got))

    def _frame(self, g: int | None, ts_ns: int | None, pkt: bytes, origlen: int) -> None:
        """Decode one captured frame into a new row. g: index into self.interfaces or None;
        ts_ns: NO_TIME when the frame has no time stamp, None when its time stamp is out of
        range."""
        out_of_range, ts_ns = ts_ns is None, NO_TIME if ts_ns is None else ts_ns
        if g is not None:
            self.interfaces[g].packets += 1
        if not pkt:
            return self._empty(ts_ns, origlen, NO_INTERFACE if g is None else g)
        self._flush_run()
        row = dict(ZERO_ROW)
        row["ts_ns"] = ts_ns
        row["cap_len"] = len(pkt)
        row["wire_len"] = origlen
        rowno = len(self.rows)
        self.rows.append(row)
        if g is None:
            row["iface"] = NO_INTERFACE
            linktype = None
        else:
            row["iface"] = g
            linktype = self.interfaces[g].link_type
        if linktype is None or linktype not in KNOWN_LINKTYPES:
            row["status"] = S.UNKNOWN_LINKTYPE
        else:
            _PacketDecoder(self, row, rowno, pkt, origlen).link(linktype)
        if out_of_range and row["status"] in (S.OK, S.SNAPLEN_CUT):
            row["status"] = S.TIME_OUT_OF_RANGE

    def _empty(self, ts_ns: int, origlen: int, iface: int) -> None:
        """An empty record joins the run of identical empty records before it; a run gets
        rows only when a record with bytes follows, so one ending the capture gets none."""
        if self.run and self.run[1:] != [ts_ns, origlen, iface]:
            self._flush_run()
        if not self.run:
            self.run = [0, ts_ns, origlen, iface]
        self.run[0] += 1

    def _flush_run(self) -> None:
        if self.run:
            count, ts_ns, origlen, iface = self.run
            for _ in range(count):
                self.rows.append(dict(ZERO_ROW, ts_ns=ts_ns, wire_len=origlen, iface=iface,
                                      status=S.ZERO_CAPLEN))
            self.run = None

    def intern6(self, addr: bytes) -> int:
        index = self.ip6_index.get(addr)
        if index is None:
            index = self.ip6_index[addr] = len(self.ip6_index)
        return index

    def mark_incomplete(self, rows: list[int]) -> None:
        """Fragments of datagrams that never completed (or were dropped to bound memory)."""
        for rowno in rows:
            self.rows[rowno]["status"] = S.IP_FRAGMENT_INCOMPLETE

    def keep_payload(self, rowno: int, chunk: bytes) -> None:
        if self.payload_size + len(chunk) > PAYLOAD_BUFFER_LIMIT:
            self.stats.payload_bytes_dropped += len(chunk)
            return
        self.payload_index.append((rowno, self.payload_size, len(chunk)))
        self.payload_chunks.append(chunk)
        self.payload_size += len(chunk)

    # --- result -------------------------------------------------------------------------
    def finish(self) -> PacketTable:
        rows, stats = self.rows, self.stats
        # Frames that could not be decoded are never silently lost: one line per interface.
        for number, iface in enumerate(self.interfaces):
            if iface.unknown_link_type and iface.packets:
                stats.warnings.append(format_problem(
                    self.label, None, f"a link type cnfpost decodes on interface {number}",
                    f"{iface.link_type_name} ({iface.packets} frames counted, not decoded)"))
        self.mark_incomplete(self.reassembler.take_incomplete())
        n = len(rows)
        columns = {col.name: np.fromiter((r[col.name] for r in rows), dtype=col.dtype, count=n)
                   for col in PACKET_COLUMNS}
        run = EmptyRun(*self.run) if self.run else None
        count_frames(stats, columns, run)
        ip6 = np.frombuffer(b"".join(self.ip6_index), dtype=np.uint8).reshape(-1, 16).copy()
        return PacketTable(
            columns=columns,
            ip6_addresses=ip6,
            icmp=_side_table(ICMP_COLUMNS, self.icmp),
            tcpopt=_side_table(TCPOPT_COLUMNS, self.tcpopt),
            sack=_side_table(SACK_COLUMNS, self.sack),
            payload_index=_side_table(PAYLOAD_COLUMNS, self.payload_index),
            payload_bytes=b"".join(self.payload_chunks),
            interfaces=self.interfaces,
            stats=stats,
            empty_run=run,
        )


def _side_table(spec, rows: list[tuple]) -> dict[str, np.ndarray]:
    return {name: np.array([r[i] for r in rows], dtype=dtype) for i, (name, dtype) in enumerate(spec)}


def _options(body: bytes, start: int, order: str):
    """pcapng options (code, value) from body[start:]; a bad length ends the walk."""
    off, end = start, len(body)
    while end - off >= 4:
        code, length = struct.unpack_from(order + "HH", body, off)
        if code == OPT_ENDOFOPT:
            return
        if length > end - off - 4:
            return
        yield code, body[off + 4: off + 4 + length]
        off += 4 + ((length + 3) & ~3)


def _tsresol_units(value: int) -> int:
    """if_tsresol -> units per second. Like Wireshark 4.0, an exponent too large for a
    64-bit count (10^20 and up, 2^64 and up) gives the largest 64-bit value."""
    exponent = value & 0x7F
    if value & 0x80:
        return 2**exponent if exponent < 64 else U64
    return 10**exponent if exponent < 20 else U64


def _pcapng_ts_ns(ts: int, units: int, ts_offset_s: int) -> int | None:
    """Wireshark 4.0's conversion: secs = (time_t)(ts / units), nsecs = ((ts % units) *
    10**9) / units in unsigned 64-bit arithmetic (the product wraps, like the C), then secs +=
    if_tsoffset. None when the time does not fit int64 ns."""
    secs = _as_int64(ts // units)
    nsecs = (((ts % units) * NS) & U64) // units
    return _epoch_ns(secs, nsecs, ts_offset_s)


def _epoch_ns(secs: int, nsecs: int, offset_s: int) -> int | None:
    """secs + offset_s seconds plus nsecs, in ns; None past int64 (NO_TIME excluded)."""
    ns = (secs + offset_s) * NS + nsecs
    return ns if INT64_MIN < ns <= INT64_MAX else None


def _as_int64(value: int) -> int:
    value &= U64
    return value - (1 << 64) if value >= 1 << 63 else value


# =====================================================================================
# One frame: link layer, IP, transport
# =====================================================================================

class _PacketDecoder:
    """Decodes one frame into its row. `status` keeps the first problem met."""

    def __init__(self, dec: _Decoder, row: dict, rowno: int, pkt: bytes, origlen: int):
        self.dec, self.row, self.rowno, self.pkt, self.origlen = dec, row, rowno, pkt, origlen

    def problem(self, status: DecodeStatus) -> None:
        if self.row["status"] == S.OK:
            self.row["status"] = status

    # --- link layer -------------------------------------------------------------------
    def link(self, linktype: int) -> None:
        pkt = self.pkt
        if linktype == LinkType.ETHERNET:
            if len(pkt) < 14:
                return self.problem(S.TRUNCATED_LINK)
            off, ethertype = 14, _u16(pkt, 12)
            while ethertype in VLAN_TPIDS:
                if len(pkt) < off + 4:
                    return self.problem(S.TRUNCATED_LINK)
                ethertype = _u16(pkt, off + 2)
                off += 4
            return self.ethertype(ethertype, off)
        if linktype in (LinkType.NULL, LinkType.LOOP):
            if len(pkt) < 4:
                return self.problem(S.TRUNCATED_LINK)
            if linktype == LinkType.LOOP:
                af = struct.unpack_from(">I", pkt, 0)[0]
            else:  # host byte order of the capturing machine: guess, as Wireshark does
                af = struct.unpack_from("<I", pkt, 0)[0]
                if af > 0xFFFF:
                    af = struct.unpack_from(">I", pkt, 0)[0]
            if af == AF_INET:
                return self.ip(4, 4)
            if af in AF_INET6_ALL:
                return self.ip(6, 4)
            return self.problem(S.NON_IP)
        if linktype in (LinkType.RAW, LinkType.RAW_12, LinkType.RAW_14):
            version = pkt[0] >> 4
            if version not in (4, 6):
                return self.problem(S.BAD_IP_VERSION)
            return self.ip(version, 0)
        if linktype == LinkType.IPV4:
            return self.ip(4, 0)
        if linktype == LinkType.IPV6:
            return self.ip(6, 0)
        if linktype == LinkType.LINUX_SLL:
            if len(pkt) < 16:
                return self.problem(S.TRUNCATED_LINK)
            return self.ethertype(_u16(pkt, 14), 16)
        if linktype == LinkType.LINUX_SLL2:
            if len(pkt) < 20:
                return self.problem(S.TRUNCATED_LINK)
            return self.ethertype(_u16(pkt, 0), 20)
        raise AssertionError(f"link type {linktype} is in LinkType but not decoded")

    def ethertype(self, ethertype: int, off: int) -> None:
        if ethertype == ETHERTYPE_IP:
            return self.ip(4, off)
        if ethertype == ETHERTYPE_IPV6:
            return self.ip(6, off)
        if ethertype in ETHERTYPE_MPLS:
            return self.mpls(off)
        return self.problem(S.NON_IP)

    def mpls(self, off: int) -> None:
        """Skip an MPLS label stack (RFC 3032) to its bottom label; as Wireshark 4.0 does,
        IPv4 or IPv6 follows by its first nibble, unless the bottom label says otherwise."""
        pkt = self.pkt
        while True:
            if len(pkt) < off + 4:
                return self.problem(S.TRUNCATED_LINK)
            entry = struct.unpack_from(">I", pkt, off)[0]
            off += 4
            if entry & 0x100:  # bottom of stack
                break
        if entry >> 12 in MPLS_NOT_IP_LABELS:
            return self.problem(S.NON_IP)
        if len(pkt) <= off:
            return self.problem(S.TRUNCATED_LINK)
        if pkt[off] >> 4 in (4, 6):
            return self.ip(pkt[off] >> 4, off)
        return self.problem(S.NON_IP)

    # --- IP -----------------------------------------------------------------------------
    def ip(self, version: int, off: int) -> None:
        wire_room = max(0, self.origlen - off)
        if version == 4:
            self.ipv4(off, wire_room)
        else:
            self.ipv6(off, wire_room)

    def ipv4(self, off: int, wire_room: int) -> None:
        pkt, row = self.pkt, self.row
        if len(pkt) - off < 20:
            return self.problem(S.TRUNCATED_IP)
        vihl, _tos, total, ident, frag, ttl, proto, _csum, src, dst = struct.unpack_from(
            ">BBHHHBBHII", pkt, off)
        if vihl >> 4 != 4:
            return self.problem(S.BAD_IP_VERSION)
        row["ip_version"] = 4
        hdr_len = (vihl & 0x0F) * 4
        if hdr_len < 20:
            return self.problem(S.BAD_IP_HEADER_LEN)
        if total == 0:  # TSO/GSO super-segment: the kernel left the length for the NIC
            total = wire_room
        if total < hdr_len:  # Wireshark 4.0 shows nothing after the length field
            return self.problem(S.BOGUS_IP_LENGTH)
        row.update(ip_id=ident, ip_frag=frag, ip_ttl=ttl, ip_proto=proto, ip_src=src, ip_dst=dst)
        if total > wire_room:
            self.problem(S.BAD_IP_TOTAL_LEN)
            total = wire_room
            if total < hdr_len:
                return
        if len(pkt) - off < hdr_len:
            return self.problem(S.TRUNCATED_IP)
        ip_end = off + total
        # Wireshark reassembles a fragment whose payload is all captured (and not empty).
        if frag & 0x3FFF and total > hdr_len and len(pkt) >= ip_end and row["status"] == S.OK:
            head = bytearray(pkt[off:off + hdr_len])
            return self.fragment((4, src, dst, proto ^ ident), head, (frag & 0x1FFF) * 8,
                                 bool(frag & 0x2000), off + hdr_len, ip_end)
        if frag & 0x1FFF:
            row["payload_len"] = total - hdr_len
            return self.problem(S.IP_FRAGMENT)
        self.transport(4, proto, off + hdr_len, ip_end)

    def ipv6(self, off: int, wire_room: int) -> None:
        pkt, row = self.pkt, self.row
        if len(pkt) - off < 40:
            return self.problem(S.TRUNCATED_IP)
        if pkt[off] >> 4 != 6:
            return self.problem(S.BAD_IP_VERSION)
        plen, nh, hlim = struct.unpack_from(">HBB", pkt, off + 4)
        row.update(ip_version=6, ip_ttl=hlim, ip_proto=nh,
                   ip_src=self.dec.intern6(pkt[off + 8: off + 24]),
                   ip_dst=self.dec.intern6(pkt[off + 24: off + 40]))
        if plen == 0 and nh != IPPROTO_NONE:  # jumbogram or TSO: the wire says how long
            plen = max(0, wire_room - 40)
        if 40 + plen > wire_room:
            self.problem(S.BAD_IP_TOTAL_LEN)
            plen = max(0, wire_room - 40)
        ip_end = off + 40 + plen
        walk = _walk_ipv6_ext(pkt, off + 40, nh, ip_end, len(pkt))
        row["ip_proto"] = walk.nh
        if walk.frag is not None:
            row["ip_id"], row["ip_frag"] = walk.frag
        at = walk.frag_at
        if at is not None and len(pkt) >= ip_end and row["status"] == S.OK:
            # What follows the fragment header is the fragment, whatever it holds.
            row["ip_proto"] = pkt[at - 8]
            head = bytearray(pkt[off:off + 40])
            head[6] = pkt[at - 8]
            word, ident = struct.unpack_from(">HI", pkt, at - 6)
            key = (6, bytes(pkt[off + 8:off + 24]), bytes(pkt[off + 24:off + 40]), ident)
            return self.fragment(key, head, (word >> 3) * 8, bool(word & 1), at, ip_end)
        if walk.status is not None:
            return self.problem(walk.status)
        if walk.fragment:
            row["payload_len"] = ip_end - walk.off
            return self.problem(S.IP_FRAGMENT)
        self.transport(6, walk.nh, walk.off, ip_end)

    def fragment(self, key: tuple, head: bytearray, offset: int, more: bool, start: int,
                 end: int) -> None:
        """A fragment to reassemble: its row stays a fragment; the frame that completes the
        datagram is dissected as the datagram (its IP header with the reassembled payload,
        as Wireshark dissects the reassembled packet on that frame)."""
        row, dec = self.row, self.dec
        row["payload_len"] = end - start
        self.problem(S.IP_FRAGMENT)
        done = dec.reassembler.add(key, self.rowno, offset, end - start,
                                   self.pkt[start:min(end, start + max(0, PREFIX - offset))],
                                   more)
        dec.mark_incomplete(dec.reassembler.take_dropped())
        if done is None:
            return
        data, length = done
        version = head[0] >> 4
        if version == 4:
            total = len(head) + length
            head[2:4] = (total if total <= 0xFFFF else 0).to_bytes(2, "big")  # 0: the wire says
            head[6:8] = b"\0\0"
        else:
            head[4:6] = (length if length <= 0xFFFF else 0).to_bytes(2, "big")
        ip_id, ip_frag = row["ip_id"], row["ip_frag"]
        row.update(status=S.OK, payload_len=0)
        _PacketDecoder(dec, row, self.rowno, bytes(head) + data, len(head) + length).ip(version, 0)
        row.update(ip_id=ip_id, ip_frag=ip_frag)
        if row["status"] == S.SNAPLEN_CUT:  # only the datagram's first PREFIX bytes are kept
            row["status"] = S.OK

    # --- transport ----------------------------------------------------------------------
    def transport(self, version: int, proto: int, off: int, ip_end: int) -> None:
        pkt, row = self.pkt, self.row
        length = ip_end - off           # L: the IP payload the headers announce
        captured = len(pkt) - off       # what of it (and maybe trailer) was captured
        payload_off = None
        if proto == IPPROTO_TCP:
            payload_off = self.tcp(off, length, captured)
        elif proto == IPPROTO_UDP:
            if captured < 8 or length < 8:
                return self.problem(S.TRUNCATED_L4)
            row["sport"], row["dport"] = struct.unpack_from(">HH", pkt, off)
            row["payload_len"] = length - 8
            payload_off = off + 8
        elif (version, proto) in ((4, IPPROTO_ICMP), (6, IPPROTO_ICMPV6)):
            if captured < 8 or length < 8:
                return self.problem(S.TRUNCATED_L4)
            self.icmp(version, off, ip_end)
            row["payload_len"] = length - 8
        else:
            row["payload_len"] = length
        if row["status"] == S.OK and len(pkt) < ip_end:
            row["status"] = S.SNAPLEN_CUT
        if payload_off is not None and row["status"] in (S.OK, S.SNAPLEN_CUT):
            self.keep_payload(proto, payload_off, min(len(pkt), ip_end))

    def tcp(self, off: int, length: int, captured: int) -> int | None:
        pkt, row = self.pkt, self.row
        if captured < 20:
            self.problem(S.TRUNCATED_L4)
            return None
        sport, dport, seq, ack, doff, flags, win = struct.unpack_from(">HHIIBBH", pkt, off)
        hdr_len = (doff >> 4) * 4
        row.update(sport=sport, dport=dport, tcp_seq=seq, tcp_ack=ack, tcp_win=win,
                   tcp_flags=((doff & 1) << 8) | flags, tcp_hdr_len=hdr_len)
        if hdr_len < 20 or hdr_len > length:
            self.problem(S.BAD_TCP_HEADER_LEN)
            return None
        row["payload_len"] = length - hdr_len
        if captured < hdr_len:
            self.problem(S.TRUNCATED_L4)
            return None
        self.tcp_options(off + 20, off + hdr_len)
        return off + hdr_len

    def tcp_options(self, i: int, end: int) -> None:
        pkt, row = self.pkt, self.row
        opts, mss, wscale = 0, 0, 255
        while i < end:
            kind = pkt[i]
            if kind == TCPOPT_EOL:
                break
            if kind == TCPOPT_NOP:
                i += 1
                continue
            if i + 1 >= end or pkt[i + 1] < 2 or i + pkt[i + 1] > end:
                self.problem(S.BAD_TCP_OPTIONS)
                break
            olen = pkt[i + 1]
            good = TCPOPT_GOOD_LEN.get(kind)
            if good is not None and olen not in good:
                self.problem(S.BAD_TCP_OPTIONS)
            elif kind == TCPOPT_MSS:
                opts |= TcpOpt.MSS
                mss = _u16(pkt, i + 2)
            elif kind == TCPOPT_WSCALE:
                opts |= TcpOpt.WSCALE
                wscale = pkt[i + 2]
            elif kind == TCPOPT_SACK_PERM:
                opts |= TcpOpt.SACK_PERM
            elif kind == TCPOPT_SACK:
                opts |= TcpOpt.SACK
                for b in range(i + 2, i + olen, 8):
                    left, right = struct.unpack_from(">II", pkt, b)
                    self.dec.sack.append((self.rowno, left, right))
            elif kind == TCPOPT_TIMESTAMP:
                opts |= TcpOpt.TIMESTAMP
                row["tcp_tsval"], row["tcp_tsecr"] = struct.unpack_from(">II", pkt, i + 2)
            i += olen
        row["tcp_opts"] = int(opts)
        if opts & (TcpOpt.MSS | TcpOpt.WSCALE):
            self.dec.tcpopt.append((self.rowno, mss, wscale))

    def icmp(self, version: int, off: int, ip_end: int) -> None:
        pkt = self.pkt
        itype, code = pkt[off], pkt[off + 1]
        ident = seq = 0
        quoted = (0, 0, 0, 0, 0, 0, 0)
        if itype in ICMP_ECHO_TYPES[version]:
            ident, seq = struct.unpack_from(">HH", pkt, off + 4)
        elif itype in ICMP_ERROR_TYPES[version]:
            quoted = self.quoted(version, off + 8, min(len(pkt), ip_end))
        self.dec.icmp.append((self.rowno, itype, code, ident, seq, version) + quoted)

    def quoted(self, version: int, off: int, end: int) -> tuple:
        """The original packet an ICMP error quotes: (version, proto, src, dst, sport,
        dport, tcp_seq); all 0 when too little of its IP header is there."""
        pkt = self.pkt
        nothing = (0, 0, 0, 0, 0, 0, 0)
        if version == 4:
            if end - off < 20 or pkt[off] >> 4 != 4:
                return nothing
            hdr_len = (pkt[off] & 0x0F) * 4
            if hdr_len < 20 or end - off < hdr_len:
                return nothing
            frag, proto = _u16(pkt, off + 6), pkt[off + 9]
            src, dst = struct.unpack_from(">II", pkt, off + 12)
            l4, is_fragment = off + hdr_len, bool(frag & 0x1FFF)
        else:
            if end - off < 40 or pkt[off] >> 4 != 6:
                return nothing
            src = self.dec.intern6(pkt[off + 8: off + 24])
            dst = self.dec.intern6(pkt[off + 24: off + 40])
            # The quoted packet's own lengths describe the original, not what was quoted.
            walk = _walk_ipv6_ext(pkt, off + 40, pkt[off + 6], end, end)
            proto, l4, is_fragment = walk.nh, walk.off, walk.fragment
            if walk.status is not None:
                return (6, proto, src, dst, 0, 0, 0)
        sport = dport = tcp_seq = 0
        if not is_fragment and end - l4 >= 8:
            if proto in (IPPROTO_TCP, IPPROTO_UDP):
                sport, dport = struct.unpack_from(">HH", pkt, l4)
                if proto == IPPROTO_TCP:
                    tcp_seq = struct.unpack_from(">I", pkt, l4 + 4)[0]
            elif (version, proto) in ((4, IPPROTO_ICMP), (6, IPPROTO_ICMPV6)) \
                    and pkt[l4] in ICMP_ECHO_TYPES[version]:
                sport, dport = struct.unpack_from(">HH", pkt, l4 + 4)
        return (version, proto, src, dst, sport, dport, tcp_seq)

    # --- kept payload bytes -------------------------------------------------------------
    def keep_payload(self, proto: int, start: int, end: int) -> None:
        pkt, row = self.pkt, self.row
        if end <= start:
            return
        head = pkt[start:min(end, start + 12)]
        keep = 0
        if proto == IPPROTO_TCP:
            if len(head) >= 3 and 20 <= head[0] <= 23 and head[1] == 3 and head[2] <= 4:
                handshake = head[0] == 22 or _ccs_then_handshake(head)
                keep = PAYLOAD_KEEP["tls_handshake" if handshake else "tls_other"]
            elif head.startswith(HTTP_PREFIXES):
                keep = PAYLOAD_KEEP["http"]
        elif proto == IPPROTO_UDP and 53 in (row["sport"], row["dport"]):
            keep = PAYLOAD_KEEP["dns"]
        if keep:
            self.dec.keep_payload(self.rowno, pkt[start:min(end, start + keep)])


def _ccs_then_handshake(head: bytes) -> bool:
    """A 6-byte ChangeCipherSpec record followed by a handshake record: how a client sends
    its second ClientHello after a HelloRetryRequest (RFC 8446 D.4 middlebox mode)."""
    return (len(head) >= 9 and head[0] == 20 and head[3:5] == b"\x00\x01"
            and head[6] == 22 and head[7] == 3 and head[8] <= 4)


class _Ext6:
    """Where an IPv6 extension-header walk ended."""

    __slots__ = ("nh", "off", "status", "frag", "fragment", "frag_at")

    def __init__(self):
        self.status = None      # a DecodeStatus when the walk failed
        self.frag = None        # (ip_id, ip_frag) from a fragment header
        self.fragment = False   # a non-first fragment: nothing after it is parsed
        self.frag_at = None     # where the fragment header's payload starts


def _walk_ipv6_ext(pkt: bytes, off: int, nh: int, ip_end: int, cap_end: int) -> _Ext6:
    """Walk hop-by-hop, routing, fragment, destination-options and AH headers."""
    walk = _Ext6()
    while nh in IPV6_EXT_OPTS or nh in (IPPROTO_FRAGMENT, IPPROTO_AH):
        # Its length must be readable (a fragment header: all of it); then, as Wireshark
        # raises a reported-length error before a captured-length one, running past the
        # IP payload is checked before running past the captured bytes.
        if cap_end - off < (8 if nh == IPPROTO_FRAGMENT else 2):
            walk.status = S.TRUNCATED_IPV6_EXT
            break
        if nh == IPPROTO_FRAGMENT:
            ext_len = 8
        elif nh == IPPROTO_AH:
            ext_len = (pkt[off + 1] + 2) * 4
        else:
            ext_len = (pkt[off + 1] + 1) * 8
        if ip_end - off < ext_len:
            walk.status = S.BAD_IP_TOTAL_LEN
            break
        if cap_end - off < ext_len:
            walk.status = S.TRUNCATED_IPV6_EXT
            break
        next_nh = pkt[off]
        if nh == IPPROTO_FRAGMENT:
            word, ident = struct.unpack_from(">HI", pkt, off + 2)
            offset = word >> 3
            walk.frag = (ident & 0xFFFF, offset | (0x2000 if word & 1 else 0))
            if walk.frag_at is None and word & 0xFFF9:  # offset or M: the first one counts
                walk.frag_at = off + ext_len
            if offset:
                walk.fragment = True
                off += ext_len
                nh = next_nh
                break
        off += ext_len
        nh = next_nh
    walk.nh, walk.off = nh, off
    return walk


def _u16(buf: bytes, off: int) -> int:
    return (buf[off] << 8) | buf[off + 1]
