"""Build test captures in code, byte by byte, with no files.

Three layers, each a handful of small functions returning ``bytes``:

- containers: classic pcap (``pcap``/``pcap_header``/``pcap_record``) and pcapng
  (``shb``, ``idb``, ``epb``, ``spb``, ``pb``, ``nrb``, ``isb``, ``dsb``, ``custom_block``,
  ``block``), in either byte order;
- link layers: ``ether`` (with 802.1Q/QinQ tags), ``null``, ``loop``, ``sll``, ``sll2``
  (raw links need no header);
- IP and transport: ``ipv4``, ``ipv6`` (+ extension headers), ``tcp`` (+ options),
  ``udp``, ``dns_query``, ``icmp``/``icmp6`` echo and errors.

Every field is explicit and nothing is computed behind the caller's back except lengths
and the IPv4 header checksum, and each of those can be overridden to build a broken
packet. At the end, scenarios named the zeek way (``syn_then_rst``, ``snaplen_cut``, ...)
combine them into whole captures that the decoder tests read.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

# --- constants (libpcap / IANA names) ------------------------------------------------
TCPDUMP_MAGIC = 0xA1B2C3D4
NSEC_TCPDUMP_MAGIC = 0xA1B23C4D
KUZNETZOV_TCPDUMP_MAGIC = 0xA1B2CD34

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276

BT_SHB, BT_IDB, BT_PB, BT_SPB, BT_NRB, BT_ISB, BT_EPB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6
BT_JOURNAL, BT_DSB, BT_CUSTOM, BT_CUSTOM_NOCOPY = 9, 10, 0xBAD, 0x40000BAD

ETHERTYPE_IP, ETHERTYPE_IPV6, ETHERTYPE_ARP = 0x0800, 0x86DD, 0x0806
ETHERTYPE_8021Q, ETHERTYPE_8021AD = 0x8100, 0x88A8
ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTI = 0x8847, 0x8848

IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 0, 1, 6, 17
IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_AH, IPPROTO_ICMPV6 = 43, 44, 51, 58
IPPROTO_NONE, IPPROTO_DSTOPTS, IPPROTO_GRE = 59, 60, 47

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, NS = 1, 2, 4, 8, 16, 32, 64, 128, 256
DF, MF = 0x4000, 0x2000

E = {"little": "<", "big": ">", "<": "<", ">": ">"}


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def ip4_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


# =====================================================================================
# Classic pcap
# =====================================================================================

@dataclass
class Rec:
    """One captured frame to write: its bytes, time, and what the wire carried."""

    data: bytes
    ts_ns: int = 0
    wire_len: int | None = None   # default: len(data)
    iface: int = 0                # pcapng interface id


def pcap_header(linktype: int = LINKTYPE_ETHERNET, *, endian: str = "<", nano: bool = False,
                kuznetzov: bool = False, snaplen: int = 262144, magic: int | None = None) -> bytes:
    if magic is None:
        magic = KUZNETZOV_TCPDUMP_MAGIC if kuznetzov else NSEC_TCPDUMP_MAGIC if nano else TCPDUMP_MAGIC
    return struct.pack(E[endian] + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(data: bytes, ts_sec: int = 0, ts_frac: int = 0, *, endian: str = "<",
                wire_len: int | None = None, caplen: int | None = None,
                kuznetzov: bool = False) -> bytes:
    """A record header + data. caplen may lie (to build corrupt files)."""
    caplen = len(data) if caplen is None else caplen
    wire_len = len(data) if wire_len is None else wire_len
    head = struct.pack(E[endian] + "IIII", ts_sec, ts_frac, caplen, wire_len)
    if kuznetzov:  # struct pcap_sf_patched_pkthdr: ifindex u32, protocol u16, pkt_type u8, pad
        head += struct.pack(E[endian] + "IHBB", 1, 0x0800, 0, 0)
    return head + data


def pcap(records: list[Rec], linktype: int = LINKTYPE_ETHERNET, *, endian: str = "<",
         nano: bool = False, kuznetzov: bool = False, snaplen: int = 262144) -> bytes:
    """A whole pcap file. Timestamps are cut to the file's resolution (µs unless nano)."""
    out = [pcap_header(linktype, endian=endian, nano=nano, kuznetzov=kuznetzov, snaplen=snaplen)]
    for r in records:
        sec, ns = divmod(r.ts_ns, 10**9)
        frac = ns if nano else ns // 1000
        out.append(pcap_record(r.data, sec, frac, endian=endian, wire_len=r.wire_len,
                               kuznetzov=kuznetzov))
    return b"".join(out)


# =====================================================================================
# pcapng
# =====================================================================================

def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(E[endian] + "HH", code, len(value)) + pad4(value)


def options(opts: list[tuple[int, bytes]], endian: str = "<") -> bytes:
    """Encoded options ending with opt_endofopt; b'' when there are none."""
    if not opts:
        return b""
    return b"".join(option(c, v, endian) for c, v in opts) + struct.pack(E[endian] + "HH", 0, 0)


def block(btype: int, body: bytes, endian: str = "<", *, total_length: int | None = None,
          trailer: int | None = None) -> bytes:
    """type | total length | body (padded to 4) | total length. Lengths may lie."""
    body = pad4(body)
    length = 12 + len(body)
    head = struct.pack(E[endian] + "II", btype, length if total_length is None else total_length)
    return head + body + struct.pack(E[endian] + "I", length if trailer is None else trailer)


def shb(endian: str = "<", opts: list[tuple[int, bytes]] = (), *, bom: int = 0x1A2B3C4D) -> bytes:
    body = struct.pack(E[endian] + "IHHq", bom, 1, 0, -1) + options(list(opts), endian)
    return block(BT_SHB, body, endian)


def idb(linktype: int = LINKTYPE_ETHERNET, endian: str = "<", *, snaplen: int = 262144,
        tsresol: int | None = None, tsoffset: int | None = None, name: str | None = None,
        extra_opts: list[tuple[int, bytes]] = ()) -> bytes:
    """An Interface Description Block; tsresol is the raw if_tsresol byte (e.g. 9, 0x80|20)."""
    opts = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(E[endian] + "q", tsoffset)))
    opts.extend(extra_opts)
    body = struct.pack(E[endian] + "HHI", linktype, 0, snaplen) + options(opts, endian)
    return block(BT_IDB, body, endian)


def epb(data: bytes, ts: int = 0, iface: int = 0, endian: str = "<", *,
        wire_len: int | None = None, caplen: int | None = None,
        opts: list[tuple[int, bytes]] = ()) -> bytes:
    """An Enhanced Packet Block; ts is in the interface's units."""
    caplen = len(data) if caplen is None else caplen
    wire_len = len(data) if wire_len is None else wire_len
    body = struct.pack(E[endian] + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, caplen, wire_len)
    return block(BT_EPB, body + pad4(data) + options(list(opts), endian), endian)


def pb(data: bytes, ts: int = 0, iface: int = 0, endian: str = "<", *,
       wire_len: int | None = None, drops: int = 0) -> bytes:
    """The obsolete Packet Block: 16-bit interface id and drops count."""
    wire_len = len(data) if wire_len is None else wire_len
    body = struct.pack(E[endian] + "HHIIII", iface, drops, ts >> 32, ts & 0xFFFFFFFF,
                       len(data), wire_len)
    return block(BT_PB, body + pad4(data), endian)


def spb(data: bytes, endian: str = "<", *, wire_len: int | None = None) -> bytes:
    """A Simple Packet Block: original length + data (captured length is implied)."""
    wire_len = len(data) if wire_len is None else wire_len
    return block(BT_SPB, struct.pack(E[endian] + "I", wire_len) + pad4(data), endian)


def nrb(endian: str = "<") -> bytes:
    rec = struct.pack(E[endian] + "HH", 1, 4 + 10) + pad4(ip4("10.0.0.1") + b"host.test\0")
    return block(BT_NRB, rec + struct.pack(E[endian] + "HH", 0, 0), endian)


def isb(iface: int = 0, endian: str = "<", ifrecv: int = 250) -> bytes:
    body = struct.pack(E[endian] + "III", iface, 0, 0)
    return block(BT_ISB, body + options([(4, struct.pack(E[endian] + "Q", ifrecv))], endian), endian)


def dsb(endian: str = "<") -> bytes:
    secret = b"CLIENT_RANDOM 00 11\n"
    return block(BT_DSB, struct.pack(E[endian] + "II", 0x544C534B, len(secret)) + pad4(secret), endian)


def custom_block(endian: str = "<", copyable: bool = True) -> bytes:
    body = struct.pack(E[endian] + "I", 32473) + b"cnfpost!"  # PEN 32473: documentation
    return block(BT_CUSTOM if copyable else BT_CUSTOM_NOCOPY, body, endian)


def ts_units(ts_ns: int, tsresol: int | None) -> int:
    """ts_ns expressed in an interface's units (exact only when representable)."""
    if tsresol is None:
        tsresol = 6
    if tsresol & 0x80:
        return ts_ns * 2 ** (tsresol & 0x7F) // 10**9
    exp = tsresol
    return ts_ns * 10**exp // 10**9


# =====================================================================================
# Link layers
# =====================================================================================

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ether(payload: bytes, ethertype: int = ETHERTYPE_IP, *, src: bytes = MAC_A, dst: bytes = MAC_B,
          vlans: list[tuple[int, int]] = ()) -> bytes:
    """Ethernet II; vlans = [(tpid, vid), ...] outermost first (0x88A8 then 0x8100 for QinQ)."""
    tags = b"".join(struct.pack(">HH", tpid, vid) for tpid, vid in vlans)
    # Each tag is TPID + TCI inserted before the ethertype: dst src TPID1 TCI1 ... type.
    return dst + src + tags + struct.pack(">H", ethertype) + payload


def mpls(payload: bytes, labels: list[int], *, bottom: bool = True, ttl: int = 64) -> bytes:
    """An MPLS label stack (RFC 3032), outermost label first, before payload; bottom=False
    leaves the bottom-of-stack bit off the last entry."""
    last = len(labels) - 1
    return b"".join(struct.pack(">I", (label << 12) | (int(bottom and i == last) << 8) | ttl)
                    for i, label in enumerate(labels)) + payload


def null(payload: bytes, af: int = 2, endian: str = "<") -> bytes:
    """LINKTYPE_NULL: the address family in the capturing host's byte order."""
    return struct.pack(E[endian] + "I", af) + payload


def loop(payload: bytes, af: int = 2) -> bytes:
    """LINKTYPE_LOOP: the address family in network byte order (OpenBSD)."""
    return struct.pack(">I", af) + payload


def sll(payload: bytes, protocol: int = ETHERTYPE_IP, *, pkttype: int = 0, hatype: int = 1,
        addr: bytes = MAC_A) -> bytes:
    """Linux cooked v1: pkttype, ARPHRD, addr len, addr[8], protocol (all big-endian)."""
    return struct.pack(">HHH8sH", pkttype, hatype, len(addr), addr, protocol) + payload


def sll2(payload: bytes, protocol: int = ETHERTYPE_IP, *, ifindex: int = 1, hatype: int = 1,
         pkttype: int = 0, addr: bytes = MAC_A) -> bytes:
    """Linux cooked v2: protocol, reserved, ifindex, ARPHRD, pkttype, addr len, addr[8]."""
    return struct.pack(">HHIHBB8s", protocol, 0, ifindex, hatype, pkttype, len(addr), addr) + payload


# =====================================================================================
# IP
# =====================================================================================

def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(payload: bytes, proto: int = IPPROTO_TCP, src: str = "192.0.2.1", dst: str = "198.51.100.2",
         *, ttl: int = 64, ident: int = 0x1234, flags: int = DF, frag_offset: int = 0,
         opts: bytes = b"", total_len: int | None = None, ihl: int | None = None,
         version: int = 4, tos: int = 0) -> bytes:
    """An IPv4 packet. frag_offset is in 8-byte units; opts must be a multiple of 4 bytes."""
    hdr_len = 20 + len(opts)
    ihl = hdr_len // 4 if ihl is None else ihl
    total = hdr_len + len(payload) if total_len is None else total_len
    head = struct.pack(">BBHHHBBH4s4s", (version << 4) | ihl, tos, total, ident,
                       flags | frag_offset, ttl, proto, 0, ip4(src), ip4(dst)) + opts
    head = head[:10] + struct.pack(">H", checksum(head)) + head[12:]
    return head + payload


@dataclass
class Ext:
    """One IPv6 extension header: its type and the bytes after next-header (+ length)."""

    kind: int
    body: bytes


def hop_by_hop(padn: int = 6) -> Ext:
    return Ext(IPPROTO_HOPOPTS, b"\x01" + bytes([padn - 2]) + b"\0" * (padn - 2))  # PadN


def dest_opts(padn: int = 6) -> Ext:
    return Ext(IPPROTO_DSTOPTS, b"\x01" + bytes([padn - 2]) + b"\0" * (padn - 2))


def routing(addresses: list[str] = ("2001:db8::99",), segments_left: int = 0) -> Ext:
    """Type 0-style routing header body: type, segments left, reserved, addresses."""
    body = bytes([0, segments_left]) + b"\0" * 4 + b"".join(ip6(a) for a in addresses)
    return Ext(IPPROTO_ROUTING, body)


def fragment6(offset: int = 0, more: bool = False, ident: int = 0xABCD1234) -> Ext:
    """Fragment header: offset in 8-byte units; body = reserved, offset|M, identification."""
    return Ext(IPPROTO_FRAGMENT, struct.pack(">BHI", 0, (offset << 3) | int(more), ident))


def ah(spi: int = 0x100, seq: int = 1, icv: bytes = b"\0" * 12) -> Ext:
    return Ext(IPPROTO_AH, struct.pack(">HII", 0, spi, seq) + icv)


def ext_bytes(ext: Ext, next_header: int) -> bytes:
    if ext.kind == IPPROTO_FRAGMENT:
        return bytes([next_header]) + ext.body
    full = 2 + len(ext.body)
    if ext.kind == IPPROTO_AH:
        assert full % 4 == 0
        return bytes([next_header, full // 4 - 2]) + ext.body
    assert full % 8 == 0, "options headers are multiples of 8 bytes"
    return bytes([next_header, full // 8 - 1]) + ext.body


def ipv6(payload: bytes, nh: int = IPPROTO_TCP, src: str = "2001:db8::1", dst: str = "2001:db8::2",
         *, hlim: int = 64, exts: list[Ext] = (), plen: int | None = None, version: int = 6,
         flow: int = 0) -> bytes:
    """An IPv6 packet; exts are chained in order, the last one pointing at nh."""
    kinds = [e.kind for e in exts] + [nh]
    chain = b"".join(ext_bytes(e, kinds[i + 1]) for i, e in enumerate(exts))
    body = chain + payload
    plen = len(body) if plen is None else plen
    head = struct.pack(">IHBB16s16s", (version << 28) | flow, plen, kinds[0], hlim, ip6(src), ip6(dst))
    return head + body


# =====================================================================================
# Transport
# =====================================================================================

EOL, NOP = b"\x00", b"\x01"


def opt_mss(mss: int) -> bytes:
    return struct.pack(">BBH", 2, 4, mss)


def opt_wscale(shift: int) -> bytes:
    return struct.pack(">BBB", 3, 3, shift)


def opt_sack_perm() -> bytes:
    return b"\x04\x02"


def opt_sack(blocks: list[tuple[int, int]]) -> bytes:
    return struct.pack(">BB", 5, 2 + 8 * len(blocks)) + b"".join(struct.pack(">II", l, r) for l, r in blocks)


def opt_ts(tsval: int, tsecr: int) -> bytes:
    return struct.pack(">BBII", 8, 10, tsval, tsecr)


def tcp(sport: int = 40000, dport: int = 80, seq: int = 1000, ack: int = 0, flags: int = SYN,
        win: int = 64240, *, opts: bytes = b"", payload: bytes = b"", data_offset: int | None = None,
        urp: int = 0) -> bytes:
    """A TCP segment; options are padded with EOL to a multiple of 4. flags may include NS."""
    opts = opts + EOL * (-len(opts) % 4)
    doff = (20 + len(opts)) // 4 if data_offset is None else data_offset
    head = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, (doff << 4) | (flags >> 8),
                       flags & 0xFF, win, 0, urp)
    return head + opts + payload


def udp(sport: int = 40000, dport: int = 53, payload: bytes = b"", *, length: int | None = None) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload) if length is None else length, 0) + payload


def dns_query(name: str = "example.com", qid: int = 0x1234, qtype: int = 1) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)


def icmp_echo(ident: int = 0x77, seq: int = 1, payload: bytes = b"ping", reply: bool = False) -> bytes:
    return struct.pack(">BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload


def icmp_error(itype: int, code: int, quoted: bytes, rest: int = 0) -> bytes:
    """Destination unreachable (3), time exceeded (11), ...: 8-byte header + quoted packet."""
    return struct.pack(">BBHI", itype, code, 0, rest) + quoted


def icmp6_echo(ident: int = 0x77, seq: int = 1, payload: bytes = b"ping", reply: bool = False) -> bytes:
    return struct.pack(">BBHHH", 129 if reply else 128, 0, 0, ident, seq) + payload


def icmp6_error(itype: int, code: int, quoted: bytes, rest: int = 0) -> bytes:
    return struct.pack(">BBHI", itype, code, 0, rest) + quoted


# =====================================================================================
# Scenarios (named the zeek way). Each returns the capture bytes; the tests assert on them.
# =====================================================================================

CLIENT, SERVER = "192.0.2.1", "198.51.100.2"
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z, in ns


def seg(flags: int, seq: int, ack: int = 0, *, c2s: bool = True, payload: bytes = b"",
        opts: bytes = b"", win: int = 64240) -> bytes:
    """One Ethernet/IPv4/TCP frame of the client (port 40000) <-> server (port 80) flow."""
    sport, dport, src, dst = (40000, 80, CLIENT, SERVER) if c2s else (80, 40000, SERVER, CLIENT)
    return ether(ipv4(tcp(sport, dport, seq, ack, flags, win, opts=opts, payload=payload),
                      IPPROTO_TCP, src, dst))


def syn_then_rst(endian: str = "<", nano: bool = False) -> bytes:
    """SYN with MSS/SACK-perm/TS/NOP/wscale, answered by RST|ACK 1.5 ms later."""
    syn_opts = opt_mss(1460) + opt_sack_perm() + opt_ts(111, 0) + NOP + opt_wscale(7)
    return pcap([
        Rec(seg(SYN, 1000, opts=syn_opts), T0 + 1_000),
        Rec(seg(RST | ACK, 0, 1001, c2s=False, win=0), T0 + 1_501_000),
    ], endian=endian, nano=nano)


def handshake_get_response() -> bytes:
    """3-way handshake, an HTTP GET with timestamps, a response with a SACK block."""
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    return pcap([
        Rec(seg(SYN, 100, opts=opt_mss(1460) + opt_wscale(8)), T0),
        Rec(seg(SYN | ACK, 5000, 101, c2s=False, opts=opt_mss(1400) + opt_sack_perm()), T0 + 10_000),
        Rec(seg(ACK, 101, 5001), T0 + 20_000),
        Rec(seg(PSH | ACK, 101, 5001, payload=get, opts=NOP + NOP + opt_ts(7, 9)), T0 + 30_000),
        Rec(seg(PSH | ACK, 5001, 101 + len(get), c2s=False, payload=resp,
                opts=NOP + NOP + opt_sack([(10, 20)])), T0 + 40_000),
    ], nano=True)


def snaplen_cut(snaplen: int = 64) -> bytes:
    """A 1000-byte TCP payload captured with a 64-byte snaplen."""
    frame = seg(PSH | ACK, 1, 1, payload=b"x" * 1000)
    return pcap([Rec(frame[:snaplen], T0, wire_len=len(frame))], snaplen=snaplen)


def tso_total_len_zero() -> bytes:
    """A TSO super-segment: IPv4 total length 0, wire length says 2 MSS of payload."""
    frame = ether(ipv4(tcp(40000, 80, 1, 1, ACK, payload=b"y" * 2736), total_len=0))
    return pcap([Rec(frame, T0)])


def ip_fragments_udp() -> bytes:
    """A UDP datagram in two IPv4 fragments: first (MF, offset 0) then the rest (offset 3)."""
    dgram = udp(5000, 6000, b"z" * 40)
    first, rest = dgram[:24], dgram[24:]
    return pcap([
        Rec(ether(ipv4(first, IPPROTO_UDP, flags=MF, ident=77)), T0),
        Rec(ether(ipv4(rest, IPPROTO_UDP, flags=0, frag_offset=3, ident=77)), T0 + 1),
    ], nano=True)


def ipv4_fragments(dgram: bytes, proto: int, pieces: list[tuple[int, int, bool]],
                   ident: int, *, data: dict[int, bytes] | None = None) -> list[bytes]:
    """Ethernet frames carrying pieces (start, end, more) of an IPv4 datagram; start is a
    multiple of 8. data replaces a piece's bytes (by index), to build conflicting overlaps."""
    data = data or {}
    return [ether(ipv4(data.get(i, dgram[a:b]), proto, flags=MF if more else 0,
                       frag_offset=a // 8, ident=ident))
            for i, (a, b, more) in enumerate(pieces)]


def ip_fragment_cases() -> bytes:
    """IPv4 reassembly cases, each its own datagram (identification): in order, reversed,
    a duplicate first piece, overlapping pieces, one that never completes, a TCP header split
    over two fragments, a duplicate after completion (a new datagram that never completes),
    a lone last piece, three pieces out of order, conflicting overlaps (same offset: the first
    to arrive wins; lower offset: it wins), and fragments padded to the Ethernet minimum."""
    d = udp(5000, 6000, bytes(range(48)))  # 56 bytes
    t = tcp(1111, 80, 100, 200, ACK | PSH, payload=b"q" * 60)  # 80 bytes
    other = udp(7000, 6000, bytes(range(48)))
    frames = []
    frames += ipv4_fragments(d, IPPROTO_UDP, [(0, 24, True), (24, 56, False)], 1)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(24, 56, False), (0, 24, True)], 2)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(0, 24, True), (0, 24, True), (24, 56, False)], 3)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(0, 32, True), (16, 40, True), (32, 56, False)], 4)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(0, 24, True)], 5)
    frames += ipv4_fragments(t, IPPROTO_TCP, [(0, 16, True), (16, 80, False)], 6)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(0, 24, True), (24, 56, False), (24, 56, False)], 7)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(24, 56, False)], 8)
    frames += ipv4_fragments(d, IPPROTO_UDP, [(8, 24, True), (0, 8, True), (24, 56, False)], 9)
    frames += ipv4_fragments(t, IPPROTO_TCP, [(8, 80, False), (0, 16, True)], 10,
                             data={0: b"\xee" * 8 + t[16:80]})
    frames += ipv4_fragments(other, IPPROTO_UDP, [(0, 24, True), (0, 24, True), (24, 56, False)],
                             11, data={1: d[:24]})
    frames += ipv4_fragments(other[:24] + d[24:], IPPROTO_UDP, [(0, 8, True), (8, 56, False)], 12,
                             data={0: udp(6000, 6000)[:8]})
    frames += ipv4_fragments(d, IPPROTO_UDP, [(0, 8, True), (8, 16, False)], 13)
    frames = [f + b"\0" * max(0, 60 - len(f)) for f in frames]
    return pcap([Rec(f, T0 + i * 1000) for i, f in enumerate(frames)])


def lone_and_cut_fragments() -> bytes:
    """Fragments cut by the snaplen are not reassembled: a first one cut after its UDP
    header, the last one whole (its datagram never completes), the last one cut."""
    dgram = udp(5000, 6000, b"z" * 40)
    first = ether(ipv4(dgram[:24], IPPROTO_UDP, flags=MF, ident=5))
    last = ether(ipv4(dgram[24:], IPPROTO_UDP, frag_offset=3, ident=5))
    return pcap([Rec(first[:46], T0, wire_len=len(first)), Rec(last, T0 + 1),
                 Rec(last[:40], T0 + 2, wire_len=len(last))], snaplen=46)


def ipv6_fragment_cases() -> bytes:
    """IPv6 reassembly: UDP in two fragments behind a hop-by-hop header, TCP in two out of
    order, then a duplicate after completion (a new datagram that never completes)."""
    d = udp(7000, 53, bytes(range(48)))  # 56 bytes
    t = tcp(443, 50000, 1, 2, ACK, payload=b"r" * 60)  # 80 bytes

    def frag6(proto, piece, offset, more, ident, exts=()):
        return ipv6(piece, proto, exts=[*exts, fragment6(offset // 8, more, ident)])
    frames = [frag6(IPPROTO_UDP, d[:16], 0, True, 1, [hop_by_hop()]),
              frag6(IPPROTO_UDP, d[16:], 16, False, 1, [hop_by_hop()]),
              frag6(IPPROTO_TCP, t[40:], 40, False, 2),
              frag6(IPPROTO_TCP, t[:40], 0, True, 2),
              frag6(IPPROTO_TCP, t[16:48], 16, True, 2)]
    return pcap([Rec(f, T0 + i * 1000) for i, f in enumerate(frames)], LINKTYPE_RAW)


def port_unreachable() -> bytes:
    """An ICMP port unreachable quoting the UDP DNS query that caused it."""
    query = ipv4(udp(40001, 53, dns_query()), IPPROTO_UDP, CLIENT, SERVER)
    return pcap([
        Rec(ether(query), T0),
        Rec(ether(ipv4(icmp_error(3, 3, query[:28]), IPPROTO_ICMP, SERVER, CLIENT)), T0 + 1_000),
    ])


def ipv6_ext_chain() -> bytes:
    """IPv6 TCP SYN behind hop-by-hop, routing, destination options and AH headers."""
    pkt = ipv6(tcp(443, 50000, 7, 0, SYN, opts=opt_mss(1220)), IPPROTO_TCP,
               exts=[hop_by_hop(), routing(), dest_opts(), ah()])
    return pcap([Rec(pkt, T0)], LINKTYPE_RAW)


def vlan_qinq() -> bytes:
    """Ethernet with an 802.1ad outer tag and an 802.1Q inner tag, then IPv4/UDP."""
    frame = ether(ipv4(udp(1, 2, b"q"), IPPROTO_UDP), vlans=[(ETHERTYPE_8021AD, 100), (ETHERTYPE_8021Q, 200)])
    return pcap([Rec(frame, T0)])


def mpls_stacks() -> bytes:
    """IPv4 and IPv6 under MPLS label stacks (behind a VLAN tag too), the labels that
    announce no IP (GAL 13, OAM Alert 14 at the bottom), a pseudowire control word, and
    stacks cut short or never ending."""
    v4 = ipv4(tcp(1234, 80, 5, 0, SYN), IPPROTO_TCP)
    v6 = ipv6(udp(1000, 53, dns_query()), IPPROTO_UDP)
    frames = [
        ether(mpls(v4, [16]), ETHERTYPE_MPLS),
        ether(mpls(v4, [16, 17, 18]), ETHERTYPE_MPLS),
        ether(mpls(v6, [100, 2]), ETHERTYPE_MPLS_MULTI),
        ether(mpls(v4, [0]), ETHERTYPE_MPLS),          # explicit null: the nibble decides
        ether(mpls(v4, [16, 13]), ETHERTYPE_MPLS),     # GAL at the bottom: a channel, not IP
        ether(mpls(v4, [13, 16]), ETHERTYPE_MPLS),     # GAL above the bottom: IP still
        ether(mpls(v4, [16, 14]), ETHERTYPE_MPLS),
        ether(mpls(b"\0\0\0\0" + ether(v4), [5]), ETHERTYPE_MPLS),  # Ethernet pseudowire
        ether(mpls(v4, [16, 17]), ETHERTYPE_MPLS)[:20],                  # cut inside the stack
        ether(mpls(b"", [16]), ETHERTYPE_MPLS),                         # nothing after it
        ether(mpls(v4, [16], bottom=False), ETHERTYPE_MPLS),             # no bottom of stack
        ether(mpls(v4, [16]), ETHERTYPE_MPLS, vlans=[(ETHERTYPE_8021Q, 7)]),
    ]
    return pcap([Rec(f, T0 + i * 1000) for i, f in enumerate(frames)])


def mpls_cooked() -> bytes:
    """MPLS behind Linux cooked headers (v1 and v2)."""
    v4 = ipv4(tcp(1234, 80, 5, 0, SYN), IPPROTO_TCP)
    v6 = ipv6(tcp(1234, 80, 5, 0, SYN), IPPROTO_TCP)
    return b"".join([shb(), idb(LINKTYPE_LINUX_SLL), idb(LINKTYPE_LINUX_SLL2),
                     epb(sll(mpls(v4, [16]), ETHERTYPE_MPLS), ts_units(T0, None), 0),
                     epb(sll2(mpls(v6, [16, 17]), ETHERTYPE_MPLS), ts_units(T0, None), 1)])


def bogus_ip_lengths() -> bytes:
    """IPv4 headers whose lengths lie: total length below the header length (with and
    without options), IHL below 5, and total length 0 (TSO: the wire decides)."""
    frames = [
        ether(ipv4(tcp(1, 2, 3, 4, SYN), total_len=12)),
        ether(ipv4(udp(1, 2, b"x"), IPPROTO_UDP, total_len=19)),
        ether(ipv4(udp(1, 2, b"x"), IPPROTO_UDP, opts=b"\1\1\1\1", total_len=22)),
        ether(ipv4(udp(1, 2, b"x"), IPPROTO_UDP, ihl=4)),
        ether(ipv4(udp(1, 2, b"x"), IPPROTO_UDP, total_len=0)),
    ]
    return pcap([Rec(f, T0 + i * 1000) for i, f in enumerate(frames)])


def untimed_frames() -> bytes:
    """Frames without a time stamp, as Wireshark 4.0 reads them: a simple packet block, a
    custom block, journal entries without __REALTIME_TIMESTAMP, with no digits after it and
    with more than 64 bits of them; between timed EPBs (the first and last int64 ns hold)."""
    def journal(text: bytes) -> bytes:
        return block(BT_JOURNAL, text)
    return b"".join([
        shb(), idb(),
        epb(seg(SYN, 1), 1_700_000_000_000_000),
        spb(seg(SYN, 2)),
        custom_block(),
        journal(b"MESSAGE=no time at all, long enough to be a block\n"),
        journal(b"__REALTIME_TIMESTAMP=\nMESSAGE=no digits after the key\n"),
        journal(b"__REALTIME_TIMESTAMP=18446744073709551616\nM=1\n"),
        journal(b"__REALTIME_TIMESTAMP=1700000000000001\nMESSAGE=a time\n"),
        epb(seg(SYN, 3), 9_223_372_036_854_775),
        idb(tsresol=9, tsoffset=-10),
        epb(seg(SYN, 4), 5, 1),
    ])


def late_frames() -> bytes:
    """Time stamps past what int64 ns hold (after 2262-04-11): tshark 4.0 prints them,
    cnfpost marks them TIME_OUT_OF_RANGE and prints no time."""
    return b"".join([shb(), idb(), idb(tsresol=0),
                     epb(seg(SYN, 1), 2**64 - 1), epb(seg(SYN, 2), 9_223_372_036_854_776),
                     epb(seg(SYN, 3), 10**10, 1)])


def empty_records() -> bytes:
    """Empty records (caplen 0) between packets, then a tail of zeros: 16 zero bytes read
    as one empty record with time 0 (tshark 4.0 shows each as a frame of length 0)."""
    empty = pcap_record(b"", 5, 0, wire_len=60)
    return (pcap_header() + pcap_record(seg(SYN, 1), 1, 0) + empty * 3
            + pcap_record(seg(SYN, 2), 6, 0) + b"\0" * 16 * 500)


def cut_mid_record() -> tuple[bytes, int]:
    """Two whole records then a third cut off 10 bytes into its data (tcpdump killed).
    Returns the bytes and the offset of the cut record's header."""
    whole = syn_then_rst()
    third = pcap_record(seg(ACK, 1001, 1), 1, 0)
    return whole + third[:16 + 10], len(whole)


def multi_section_pcapng() -> bytes:
    """Two sections (little then big endian), interfaces with their own link types and
    resolutions, every packet block kind, and blocks to skip."""
    f1 = ether(ipv4(tcp(1111, 80, 1, 0, SYN), IPPROTO_TCP))
    f2 = ipv4(udp(2222, 53, dns_query()), IPPROTO_UDP)
    f3 = sll2(ipv6(tcp(3333, 443, 3, 0, SYN), IPPROTO_TCP), ETHERTYPE_IPV6)
    f4 = null(ipv4(icmp_echo(5, 6), IPPROTO_ICMP))
    return b"".join([
        shb("<"),
        idb(LINKTYPE_ETHERNET, "<", tsresol=9, name="eth0"),
        idb(LINKTYPE_IPV4, "<", tsresol=0x80 | 20, tsoffset=100),
        nrb("<"),
        epb(f1, ts_units(T0, 9), 0, "<"),
        epb(f2, ts_units(T0, 0x80 | 20), 1, "<"),
        dsb("<"),
        isb(0, "<"),
        shb(">"),
        idb(LINKTYPE_LINUX_SLL2, ">", snaplen=0),
        idb(LINKTYPE_NULL, ">", name="lo0"),
        custom_block(">"),
        block(0x12345678, b"????", ">"),
        spb(f3, ">"),
        pb(f4, ts_units(T0, None), 1, ">"),
        custom_block(">", copyable=False),
    ])
