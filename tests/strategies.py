"""Hypothesis strategies: valid captures of every container, link type, byte order,
time resolution and packet kind, built with tests/capbuild.py, and mutators that break
them (truncate anywhere, flip bytes, corrupt length fields).

A drawn :class:`Capture` carries what was put in it (per frame: interface link type,
frame bytes, wire length, exact ts_ns), so tests can check a decoder against the
builder's intent and against dpkt without re-deriving anything.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from hypothesis import strategies as st

from cnfpost.model import NO_TIME
from tests import capbuild as cb
from tests import tcp_builders as tb

LINKTYPES = (cb.LINKTYPE_ETHERNET, cb.LINKTYPE_NULL, cb.LINKTYPE_LOOP, cb.LINKTYPE_RAW, 12, 14,
             cb.LINKTYPE_IPV4, cb.LINKTYPE_IPV6, cb.LINKTYPE_LINUX_SLL, cb.LINKTYPE_LINUX_SLL2)

# if_tsresol values whose units fit the exact-arithmetic range of both decoders
# (units <= 2^34: the product (ts % units) * 1e9 never leaves 64 bits).
TSRESOLS = (None, 0, 3, 6, 9, 10, 0x80 | 0, 0x80 | 10, 0x80 | 20, 0x80 | 30)


@dataclass
class Frame:
    linktype: int
    data: bytes
    ts_ns: int          # what a correct decoder must report
    wire_len: int
    iface: int          # index into the decoded interfaces list (65535: none)


@dataclass
class Capture:
    data: bytes
    kind: str                       # "pcap" or "pcapng"
    frames: list[Frame]
    # offsets of length fields (pcap caplen, pcapng block length) for targeted corruption
    length_fields: list[int] = field(default_factory=list)

    def __repr__(self) -> str:  # hypothesis prints this on failure: make it replayable
        return f"Capture(kind={self.kind!r}, frames={len(self.frames)}, data=bytes.fromhex({self.data.hex()!r}))"


# =====================================================================================
# IP packets
# =====================================================================================

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ports = st.integers(1, 0xFFFF)
addr4 = st.integers(1, 0xFFFFFFFE).map(lambda v: str(ipaddress.IPv4Address(v)))
addr6 = st.sampled_from(["2001:db8::1", "2001:db8::2", "fe80::1", "::1", "2001:db8:ffff::abcd", "ff02::fb"])


@st.composite
def tcp_options(draw) -> bytes:
    """A valid option list (at most 40 bytes): kinds in any order, NOP padding, maybe EOL."""
    pieces = draw(st.lists(st.one_of(
        st.builds(cb.opt_mss, u16),
        st.builds(cb.opt_wscale, st.integers(0, 14)),
        st.just(cb.opt_sack_perm()),
        st.builds(cb.opt_ts, u32, u32),
        st.lists(st.tuples(u32, u32), min_size=1, max_size=3).map(cb.opt_sack),
        st.just(cb.NOP),
    ), max_size=6))
    out = b""
    for p in pieces:
        if len(out) + len(p) <= 40:
            out += p
    return out


@st.composite
def tcp_segments(draw) -> bytes:
    payload = draw(st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
                         b"\x16\x03\x01\x00\x05hello", b"\x17\x03\x03\x00\x10" + b"x" * 16]),
    ))
    return cb.tcp(draw(ports), draw(ports), draw(u32), draw(u32), draw(st.integers(0, 0x1FF)),
                  draw(u16), opts=draw(tcp_options()), payload=payload)


@st.composite
def udp_datagrams(draw) -> bytes:
    if draw(st.booleans()):
        return cb.udp(draw(ports), 53, cb.dns_query(draw(st.sampled_from(["a.b", "example.com"])), draw(u16)))
    return cb.udp(draw(ports), draw(ports), draw(st.binary(max_size=48)))


@st.composite
def ipv4_packets(draw, depth: int = 0) -> bytes:
    src, dst = draw(addr4), draw(addr4)
    kind = draw(st.sampled_from(["tcp", "udp", "echo", "error", "other"] if depth == 0 else ["tcp", "udp", "echo"]))
    opts = draw(st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00\x01\x01\x01\x00"]))
    kw = dict(ttl=draw(u8), ident=draw(u16), flags=draw(st.sampled_from([0, cb.DF])), opts=opts)
    if kind == "tcp":
        return cb.ipv4(draw(tcp_segments()), cb.IPPROTO_TCP, src, dst, **kw)
    if kind == "udp":
        return cb.ipv4(draw(udp_datagrams()), cb.IPPROTO_UDP, src, dst, **kw)
    if kind == "echo":
        body = cb.icmp_echo(draw(u16), draw(u16), draw(st.binary(max_size=16)), draw(st.booleans()))
        return cb.ipv4(body, cb.IPPROTO_ICMP, src, dst, **kw)
    if kind == "error":
        quoted = draw(ipv4_packets(depth=1))
        quoted = quoted[:draw(st.integers(0, len(quoted)))]
        body = cb.icmp_error(draw(st.sampled_from([3, 4, 5, 11, 12])), draw(u8), quoted)
        return cb.ipv4(body, cb.IPPROTO_ICMP, src, dst, **kw)
    return cb.ipv4(draw(st.binary(max_size=24)), draw(st.sampled_from([47, 50, 132, 89])), src, dst, **kw)


ipv6_exts = st.lists(st.sampled_from(["hop", "routing", "dest", "ah", "frag0"]), max_size=3).map(
    lambda names: [{"hop": cb.hop_by_hop(), "routing": cb.routing(), "dest": cb.dest_opts(),
                    "ah": cb.ah(), "frag0": cb.fragment6(0, False, 0x77)}[n] for n in names])
# (an atomic fragment, RFC 6946: offset 0 and no M, so the packet is decoded through it)


@st.composite
def ipv6_packets(draw, depth: int = 0) -> bytes:
    src, dst = draw(addr6), draw(addr6)
    kind = draw(st.sampled_from(["tcp", "udp", "echo", "error", "none"] if depth == 0 else ["tcp", "udp", "echo"]))
    exts = draw(ipv6_exts)
    kw = dict(hlim=draw(u8), exts=exts)
    if kind == "tcp":
        return cb.ipv6(draw(tcp_segments()), cb.IPPROTO_TCP, src, dst, **kw)
    if kind == "udp":
        return cb.ipv6(draw(udp_datagrams()), cb.IPPROTO_UDP, src, dst, **kw)
    if kind == "echo":
        body = cb.icmp6_echo(draw(u16), draw(u16), draw(st.binary(max_size=16)), draw(st.booleans()))
        return cb.ipv6(body, cb.IPPROTO_ICMPV6, src, dst, **kw)
    if kind == "error":
        quoted = draw(ipv6_packets(depth=1))
        quoted = quoted[:draw(st.integers(0, len(quoted)))]
        body = cb.icmp6_error(draw(st.sampled_from([1, 2, 3, 4])), draw(u8), quoted)
        return cb.ipv6(body, cb.IPPROTO_ICMPV6, src, dst, **kw)
    return cb.ipv6(b"", cb.IPPROTO_NONE, src, dst, hlim=kw["hlim"])


@st.composite
def fragments(draw) -> bytes:
    """A fragment (IPv4 MF or offset; an IPv6 fragment header with M or an offset)."""
    data = draw(st.binary(min_size=8, max_size=40))
    offset = draw(st.integers(0, 0x1FFF))
    more = True if offset == 0 else draw(st.booleans())
    if draw(st.booleans()):
        return cb.ipv4(data, cb.IPPROTO_UDP, draw(addr4), draw(addr4), flags=cb.MF if more else 0,
                       frag_offset=offset, ident=draw(u16))
    return cb.ipv6(data, cb.IPPROTO_UDP, exts=[cb.fragment6(offset, more, draw(u32))])


# Fragments are one draw in five: enough to exercise them, not enough to crowd out L4.
ip_packets = st.one_of(ipv4_packets(), ipv4_packets(), ipv6_packets(), ipv6_packets(), fragments())


# =====================================================================================
# Frames per link type
# =====================================================================================

@st.composite
def frames_for(draw, linktype: int) -> bytes:
    """A frame of that link type: an IP packet, or (rarely) a non-IP frame."""
    if linktype == cb.LINKTYPE_IPV4:
        pkt = draw(st.one_of(ipv4_packets(), fragments().filter(lambda p: p[0] >> 4 == 4)))
    elif linktype == cb.LINKTYPE_IPV6:
        pkt = draw(st.one_of(ipv6_packets(), fragments().filter(lambda p: p[0] >> 4 == 6)))
    else:
        pkt = draw(ip_packets)
    v6 = pkt[0] >> 4 == 6
    ethertype = cb.ETHERTYPE_IPV6 if v6 else cb.ETHERTYPE_IP
    if linktype == cb.LINKTYPE_ETHERNET:
        vlans = draw(st.sampled_from([[], [(0x8100, 10)], [(0x88A8, 20), (0x8100, 30)]]))
        if draw(st.integers(0, 9)) == 0:
            return cb.ether(b"\0" * 28, cb.ETHERTYPE_ARP, vlans=vlans)
        return cb.ether(pkt, ethertype, vlans=vlans)
    if linktype == cb.LINKTYPE_NULL:
        return cb.null(pkt, draw(st.sampled_from([24, 28, 30])) if v6 else 2, draw(st.sampled_from("<>")))
    if linktype == cb.LINKTYPE_LOOP:
        return cb.loop(pkt, draw(st.sampled_from([24, 28, 30])) if v6 else 2)
    if linktype == cb.LINKTYPE_LINUX_SLL:
        return cb.sll(pkt, ethertype, pkttype=draw(st.integers(0, 4)))
    if linktype == cb.LINKTYPE_LINUX_SLL2:
        return cb.sll2(pkt, ethertype, ifindex=draw(u32), pkttype=draw(st.integers(0, 4)))
    return pkt  # RAW 101/12/14, IPV4, IPV6


# =====================================================================================
# Containers
# =====================================================================================

T_BASE = 1_600_000_000  # seconds; timestamps are drawn around here


@st.composite
def pcap_captures(draw, max_frames: int = 6, linktypes=LINKTYPES) -> Capture:
    endian = draw(st.sampled_from("<>"))
    nano = draw(st.booleans())
    kuznetzov = not nano and draw(st.integers(0, 4)) == 0
    linktype = draw(st.sampled_from(linktypes))
    # A small snaplen cuts frames the way tcpdump -s does: caplen < wire length.
    snaplen = draw(st.sampled_from([262144, 262144, 262144, 96, 60]))
    frames, recs = [], []
    for _ in range(draw(st.integers(0, max_frames))):
        full = draw(frames_for(linktype))
        data = full[:snaplen]
        sec = T_BASE + draw(st.integers(0, 10**6))
        frac = draw(st.integers(0, 10**9 - 1 if nano else 10**6 - 1))
        ts_ns = sec * 10**9 + (frac if nano else frac * 1000)
        recs.append(cb.Rec(data, ts_ns, wire_len=len(full)))
        frames.append(Frame(linktype, data, ts_ns, len(full), 0))
    blob = cb.pcap(recs, linktype, endian=endian, nano=nano, kuznetzov=kuznetzov, snaplen=snaplen)
    hdr = 24 if kuznetzov else 16
    fields, off = [], 24
    for f in frames:
        fields.append(off + 8)  # caplen
        off += hdr + len(f.data)
    return Capture(blob, "pcap", frames, fields)


def _ts_ns_for(ts_units: int, tsresol: int | None, offset_s: int) -> int:
    units = cb.ts_units(10**9, tsresol)  # units per second
    return ts_units * 10**9 // units + offset_s * 10**9


NOT_A_PACKET = -1  # Frame.linktype of a journal or custom block's row
JOURNAL_ENTRY = b"__CURSOR=s=1\n__REALTIME_TIMESTAMP=1600000000123456\nMESSAGE=cnfpost\n"
JOURNAL_TS_NS = 1600000000123456 * 1000


@st.composite
def pcapng_captures(draw, max_frames: int = 6, linktypes=LINKTYPES, frame_blocks: bool = True) -> Capture:
    """1-3 sections, each in its own byte order, 1-3 IDBs each (own link type, resolution,
    offset), EPB/PB/SPB packets, and blocks that must be skipped (journal and custom
    blocks, which Wireshark numbers as frames, only with frame_blocks)."""
    parts: list[bytes] = []
    frames: list[Frame] = []
    fields: list[int] = []
    global_ifaces = 0
    total = draw(st.integers(0, max_frames))

    def add(blob: bytes) -> None:
        fields.append(sum(len(p) for p in parts) + 4)  # block total length
        parts.append(blob)

    for section in range(draw(st.integers(1, 3))):
        endian = draw(st.sampled_from("<>"))
        add(cb.shb(endian, draw(st.sampled_from([[], [(4, b"cnfpost tests")]]))))
        ifaces = []
        for _ in range(draw(st.integers(1, 3))):
            lt = draw(st.sampled_from(linktypes))
            tsresol = draw(st.sampled_from(TSRESOLS))
            offset = draw(st.sampled_from([None, 0, 100, -50]))
            snaplen = draw(st.sampled_from([0, 65535, 262144]))
            add(cb.idb(lt, endian, snaplen=snaplen, tsresol=tsresol, tsoffset=offset,
                       name=draw(st.sampled_from([None, "eth0", "lo"]))))
            ifaces.append((lt, tsresol, offset or 0, snaplen, global_ifaces))
            global_ifaces += 1
        for _ in range(draw(st.integers(0, max(0, total - len(frames))))):
            if draw(st.integers(0, 4)) == 0:
                extra = draw(st.sampled_from(["NRB", "ISB", "DSB", "unknown"]
                                             + (["custom", "custom-nocopy", "journal"] if frame_blocks else [])))
                add({"NRB": cb.nrb(endian), "ISB": cb.isb(0, endian), "DSB": cb.dsb(endian),
                     "custom": cb.custom_block(endian), "custom-nocopy": cb.custom_block(endian, False),
                     "journal": cb.block(cb.BT_JOURNAL, JOURNAL_ENTRY, endian),
                     "unknown": cb.block(0x0BADCAFE, b"junk", endian)}[extra])
                # Wireshark 4.0 numbers journal and custom blocks as frames (docs/decoding.md).
                if extra.startswith("custom"):
                    frames.append(Frame(NOT_A_PACKET, b"cnfpost!", NO_TIME, 8, 65535))
                elif extra == "journal":
                    frames.append(Frame(NOT_A_PACKET, JOURNAL_ENTRY, JOURNAL_TS_NS, len(JOURNAL_ENTRY), 65535))
            i = draw(st.integers(0, len(ifaces) - 1))
            lt, tsresol, offset, snaplen, g = ifaces[i]
            data = draw(frames_for(lt))
            how = draw(st.sampled_from(["epb", "epb", "epb", "pb", "spb"]))
            if how == "spb":
                i, (lt, tsresol, offset, snaplen, g) = 0, ifaces[0]
                data = draw(frames_for(lt))
                if snaplen and len(data) > snaplen:
                    continue
                add(cb.spb(data, endian))
                frames.append(Frame(lt, data, NO_TIME, len(data), g))  # an SPB has no time
                continue
            units = cb.ts_units(10**9, tsresol)
            ts = draw(st.integers(T_BASE * units, (T_BASE + 10**6) * units))
            blob = cb.epb(data, ts, i, endian) if how == "epb" else cb.pb(data, ts, i, endian)
            add(blob)
            frames.append(Frame(lt, data, _ts_ns_for(ts, tsresol, offset), len(data), g))
    return Capture(b"".join(parts), "pcapng", frames, fields)


def captures(max_frames: int = 6, linktypes=LINKTYPES, frame_blocks: bool = True):
    return st.one_of(pcap_captures(max_frames, linktypes),
                     pcapng_captures(max_frames, linktypes, frame_blocks))


# =====================================================================================
# Mutators
# =====================================================================================

INTERESTING_U32 = (0, 1, 7, 11, 12, 13, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0, 262144, 262145)


@st.composite
def mutated(draw, base=None) -> bytes:
    """A valid capture broken in one to three ways."""
    cap = draw(base if base is not None else captures())
    data = bytearray(cap.data)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "length", "u32", "u16", "insert"]))
        if not data:
            break
        if how == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif how == "flip":
            for _ in range(draw(st.integers(1, 8))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] ^= draw(st.integers(1, 255))
        elif how == "length" and cap.length_fields:
            off = draw(st.sampled_from(cap.length_fields))
            if off + 4 <= len(data):
                value = draw(st.one_of(st.sampled_from(INTERESTING_U32), u32))
                endian = draw(st.sampled_from("<>"))
                data[off:off + 4] = struct.pack(endian + "I", value)
        elif how == "u32" and len(data) >= 4:
            off = draw(st.integers(0, len(data) - 4))
            data[off:off + 4] = struct.pack(">I", draw(st.sampled_from(INTERESTING_U32)))
        elif how == "u16" and len(data) >= 2:
            off = draw(st.integers(0, len(data) - 2))
            data[off:off + 2] = struct.pack(">H", draw(st.sampled_from([0, 1, 4, 5, 19, 20, 40, 0xFFFF])))
        elif how == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


# =====================================================================================
# TCP conversations (tests/tcp_builders.py): what decides the analysis but random
# segments rarely reach
# =====================================================================================

# Time steps, ms. Negative ones are a clock stepped back (NTP, a VM moved, captures
# merged); 20.1 ms is a default handshake's iRTT, so "exactly the threshold" comes up.
TCP_TIME_STEPS = (-300.0, -50.0, -20.1, -1.0, 0.0, 0.05, 1.0, 2.0, 5.0, 15.0, 20.1, 25.0,
                  300.0)
tcp_isns = st.one_of(st.sampled_from([1000, 0xFFFFFFFF - 250]), u32)   # near the wrap too


@st.composite
def tcp_conversations(draw, max_segments: int = 20) -> tb.Capture:
    """Frames of one 4-tuple steered to the analysis' edge cases: a SYN retried (same ISN)
    zero to three times, handshakes whose times go backwards, data around the ISN, and
    the 4-tuple reused with new ISNs for up to three conversations (port reuse)."""
    cap = tb.Capture()
    k = cap.conn(isn_c=draw(tcp_isns), isn_s=draw(tcp_isns))
    step = st.sampled_from(TCP_TIME_STEPS)
    t = 0.0
    for _ in range(draw(st.integers(1, 3))):
        syns = draw(st.integers(0, 3))
        opts = tb.tcp_options(mss=1460, wscale=draw(st.sampled_from([None, 0, 7])))
        for _ in range(syns):
            t += draw(step)
            k.seg(t, "c", 0, None, "S", opts=opts)
        if syns and draw(st.booleans()):
            t += draw(step)
            k.seg(t, "s", 0, 1, "SA", opts=opts)
            if draw(st.booleans()):
                t += draw(step)
                k.seg(t, "c", 1, 1, "A", win=501)
        for _ in range(draw(st.integers(0, max_segments))):
            t += draw(step)
            side = draw(st.sampled_from("ccs"))
            peer = k.isn_s if side == "c" else k.isn_c
            sack = tb.tcp_options(sack=[(peer + 101, peer + 201)]) if draw(st.booleans()) else b""
            k.seg(t, side, 1 + 100 * draw(st.integers(-2, 5)), 1 + 100 * draw(st.integers(-2, 5)),
                  draw(st.sampled_from(["A", "A", "PA", "PA", "S", "SA", "FA", "RA"])),
                  win=draw(st.sampled_from([0, 500, 500, 501])),
                  data=draw(st.sampled_from([0, 0, 1, 100, 100, 200])), opts=sack)
        # the next conversation on this 4-tuple: new ISNs (or, now and then, the same)
        k.isn_c, k.isn_s = draw(tcp_isns), draw(tcp_isns)
    return cap
