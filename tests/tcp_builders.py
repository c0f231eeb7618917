"""Tiny TCP captures built in code, one per analysis rule (tests/test_tcp_rules.py).

A :class:`Capture` collects segments of one or more connections with relative sequence
numbers and times in milliseconds, and writes a real pcap (dpkt's writer, LINKTYPE_RAW)
so that the same bytes go through cnfpost's decoder, cnfpost's analysis and, when it is
installed, tshark.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

import dpkt

FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}
M32 = 0xFFFFFFFF


def tcp_options(mss=None, wscale=None, sack_perm=False, ts=None, sack=()) -> bytes:
    """Encode TCP options, NOP-padded to a multiple of 4 bytes."""
    out = b""
    if mss is not None:
        out += struct.pack("!BBH", 2, 4, mss)
    if sack_perm:
        out += b"\x01\x01\x04\x02"
    if ts is not None:
        out += b"\x01\x01" + struct.pack("!BBII", 8, 10, ts[0], ts[1])
    if wscale is not None:
        out += b"\x01" + struct.pack("!BBB", 3, 3, wscale)
    if sack:
        out += b"\x01\x01" + struct.pack("!BB", 5, 2 + 8 * len(sack))
        for left, right in sack:
            out += struct.pack("!II", left & M32, right & M32)
    while len(out) % 4:
        out += b"\x01"
    return out


@dataclass
class Conn:
    """One TCP connection: client and server endpoints and their ISNs."""

    cap: "Capture"
    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 80)
    isn_c: int = 1000
    isn_s: int = 5000

    def seg(self, t_ms: float, side: str, seq: int, ack: int | None = None, flags: str = "A",
            win: int = 65535, data: int = 0, opts: bytes = b"", raw_seq: bool = False) -> int:
        """Add a segment; seq/ack are relative (ISN = 0) unless raw_seq. Returns its frame."""
        if side == "c":
            src, dst, isn_fwd, isn_rev = self.client, self.server, self.isn_c, self.isn_s
        else:
            src, dst, isn_fwd, isn_rev = self.server, self.client, self.isn_s, self.isn_c
        fl = 0
        for ch in flags:
            fl |= FLAG_BITS[ch]
        s = seq if raw_seq else isn_fwd + seq
        a = 0 if ack is None else (ack if raw_seq else isn_rev + ack)
        return self.cap.add(t_ms, src, dst, s & M32, a & M32, fl, win, data, opts)

    def handshake(self, t_ms: float = 0.0, rtt_ms: float = 20.0, wscale=7, mss=1460,
                  win=64240, sack_perm=True) -> float:
        """SYN, SYN/ACK, ACK; returns the time of the ACK."""
        o = tcp_options(mss=mss, wscale=wscale, sack_perm=sack_perm)
        self.seg(t_ms, "c", 0, None, "S", win=win, opts=o)
        self.seg(t_ms + rtt_ms, "s", 0, 1, "SA", win=win, opts=o)
        self.seg(t_ms + rtt_ms + 0.1, "c", 1, 1, "A", win=win >> (wscale or 0))
        return t_ms + rtt_ms + 0.1


@dataclass
class Capture:
    t0: float = 1_700_000_000.0
    snaplen: int = 262144
    frames: list[tuple] = field(default_factory=list)
    ip_ids: bool = False        # IPv4 ids counted up per sender (as Linux does), else 0
    lost: set = field(default_factory=set)   # frame indexes sent (ids taken) but not captured

    def conn(self, **kw) -> Conn:
        return Conn(self, **kw)

    def add_raw(self, t_ms: float, packet: bytes) -> int:
        """Any IP packet, as bytes (e.g. an ICMP error)."""
        self.frames.append((t_ms, None, packet))
        return len(self.frames)

    def add(self, t_ms, src, dst, seq, ack, flags, win, data, opts) -> int:
        self.frames.append((t_ms, src, dst, seq, ack, flags, win, data, opts))
        return len(self.frames)

    def packet(self, i: int) -> bytes:
        if self.frames[i][1] is None:
            return self.frames[i][2]
        t_ms, src, dst, seq, ack, flags, win, data, opts = self.frames[i]
        tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack, flags=flags,
                           win=win, opts=opts, data=b"x" * data)
        tcp.off = (20 + len(opts)) // 4
        if ":" in src[0]:
            ip = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src[0]),
                              dst=socket.inet_pton(socket.AF_INET6, dst[0]), nxt=6, hlim=64,
                              data=tcp, plen=len(bytes(tcp)))
            return bytes(ip)
        ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=6, ttl=64,
                        data=tcp, id=self._ip_id(i, src) if self.ip_ids else 0)
        ip.len = 20 + len(bytes(tcp))
        return bytes(ip)

    def _ip_id(self, i: int, src) -> int:
        """A sender's id for frame i: how many frames it sent before (frames in `lost` take
        an id but are not written)."""
        return sum(1 for fr in self.frames[:i] if fr[1] == src) & 0xFFFF

    def pcap_bytes(self) -> bytes:
        """A nanosecond pcap, LINKTYPE_RAW (101), exact integer timestamps."""
        t0_ns = int(round(self.t0 * 1e9))
        out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, self.snaplen, 101)]
        for i, fr in enumerate(self.frames):
            if i in self.lost:
                continue
            pkt = self.packet(i)
            cut = pkt[: self.snaplen]
            ts = t0_ns + int(round(fr[0] * 1_000_000))
            out.append(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(cut), len(pkt)) + cut)
        return b"".join(out)
