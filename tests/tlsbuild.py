"""Build TLS records and handshake messages, and whole TCP conversations carrying them.

Like tests/capbuild.py, every field is explicit and only lengths are computed (each can be
overridden to build a broken message). Names follow RFC 8446 / RFC 5246.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tests import capbuild as cb

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE = 1, 2, 11, 12
SERVER_HELLO_DONE, CLIENT_KEY_EXCHANGE, FINISHED = 14, 16, 20
TLS1_0, TLS1_2, TLS1_3 = 0x0301, 0x0303, 0x0304
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def record(ctype: int, body: bytes, version: int = TLS1_2, *, length: int | None = None) -> bytes:
    """TLSPlaintext: type, legacy_record_version, length, fragment (RFC 8446 5.1)."""
    return struct.pack(">BHH", ctype, version, len(body) if length is None else length) + body


def handshake(msg_type: int, body: bytes, *, length: int | None = None) -> bytes:
    """Handshake: msg_type, uint24 length, body (RFC 8446 4)."""
    n = len(body) if length is None else length
    return bytes([msg_type]) + n.to_bytes(3, "big") + body


def vec(data: bytes, len_size: int) -> bytes:
    return len(data).to_bytes(len_size, "big") + data


def ext(etype: int, data: bytes) -> bytes:
    return struct.pack(">H", etype) + vec(data, 2)


def ext_sni(name: str) -> bytes:
    return ext(0, vec(b"\x00" + vec(name.encode(), 2), 2))


def ext_alpn(*names: str) -> bytes:
    return ext(16, vec(b"".join(vec(n.encode(), 1) for n in names), 2))


def ext_versions_client(*versions: int) -> bytes:
    return ext(43, vec(b"".join(struct.pack(">H", v) for v in versions), 1))


def ext_version_server(version: int) -> bytes:
    return ext(43, struct.pack(">H", version))


def client_hello_body(*, sni: str | None = "example.test",
                      versions: tuple[int, ...] = (TLS1_3, TLS1_2),
                      alpn: tuple[str, ...] = ("h2", "http/1.1"),
                      suites: tuple[int, ...] = (0x1301, 0x1302, 0xC02F),
                      session_id: bytes = b"\x11" * 32, legacy_version: int = TLS1_2,
                      extra: bytes = b"", with_extensions: bool = True) -> bytes:
    exts = b""
    if sni is not None:
        exts += ext_sni(sni)
    if versions:
        exts += ext_versions_client(*versions)
    if alpn:
        exts += ext_alpn(*alpn)
    exts += extra
    body = struct.pack(">H", legacy_version) + b"\x22" * 32 + vec(session_id, 1) \
        + vec(b"".join(struct.pack(">H", s) for s in suites), 2) + vec(b"\x00", 1)
    return body + (vec(exts, 2) if with_extensions else b"")


def server_hello_body(*, version: int | None = TLS1_3, suite: int = 0x1301, alpn: str | None = None,
                      legacy_version: int = TLS1_2, hrr: bool = False,
                      session_id: bytes = b"\x11" * 32) -> bytes:
    exts = b""
    if version is not None:
        exts += ext_version_server(version)
    if alpn is not None:
        exts += ext_alpn(alpn)
    random = HRR_RANDOM if hrr else b"\x33" * 32
    return struct.pack(">H", legacy_version) + random + vec(session_id, 1) \
        + struct.pack(">HB", suite, 0) + vec(exts, 2)


def client_hello(**kw) -> bytes:
    """A whole ClientHello record."""
    return record(HANDSHAKE, handshake(CLIENT_HELLO, client_hello_body(**kw)), TLS1_0)


def server_hello(**kw) -> bytes:
    return record(HANDSHAKE, handshake(SERVER_HELLO, server_hello_body(**kw)))


def ccs() -> bytes:
    return record(CHANGE_CIPHER_SPEC, b"\x01")


def alert(level: int = 2, description: int = 40) -> bytes:
    return record(ALERT, bytes([level, description]))


def app_data(n: int = 32, fill: bytes = b"\xa5") -> bytes:
    return record(APPLICATION_DATA, (fill * n)[:n])


# ----------------------------------------------------------------------------------------
# TCP conversations
# ----------------------------------------------------------------------------------------

CLIENT, SERVER = "192.0.2.10", "198.51.100.20"
CPORT, SPORT = 40123, 443


@dataclass
class Conversation:
    """A TCP conversation built segment by segment; sequence numbers are tracked per
    side, and any segment can be sent again (a retransmission) or with an explicit seq."""

    cport: int = CPORT
    sport: int = SPORT
    client: str = CLIENT
    server: str = SERVER
    v6: bool = False
    isn: dict = field(default_factory=lambda: {"c": 1000, "s": 90000})
    nxt: dict = field(default_factory=dict)
    recs: list = field(default_factory=list)
    t: int = cb.T0
    step: int = 1_000_000      # 1 ms between frames unless told
    snaplen: int | None = None

    def frame(self, side: str, flags: int, payload: bytes = b"", *, seq: int | None = None,
              dt: int | None = None, advance: bool = True) -> bytes:
        c2s = side == "c"
        if not self.nxt:
            self.nxt = {"c": self.isn["c"], "s": self.isn["s"]}
        other = "s" if c2s else "c"
        s = self.nxt[side] if seq is None else seq
        ack = self.nxt[other] if flags & cb.ACK else 0
        sp, dp = (self.cport, self.sport) if c2s else (self.sport, self.cport)
        src, dst = (self.client, self.server) if c2s else (self.server, self.client)
        seg = cb.tcp(sp, dp, s & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, payload=payload)
        if self.v6:
            pkt = cb.ether(cb.ipv6(seg, cb.IPPROTO_TCP, src, dst), cb.ETHERTYPE_IPV6)
        else:
            pkt = cb.ether(cb.ipv4(seg, cb.IPPROTO_TCP, src, dst))
        if advance and seq is None:
            self.nxt[side] = s + len(payload) + (1 if flags & (cb.SYN | cb.FIN) else 0)
        self.t += self.step if dt is None else dt
        wire = len(pkt)
        data = pkt if self.snaplen is None else pkt[:self.snaplen]
        self.recs.append(cb.Rec(data, self.t, wire_len=wire))
        return pkt

    def handshake(self) -> None:
        self.frame("c", cb.SYN)
        self.frame("s", cb.SYN | cb.ACK)
        self.frame("c", cb.ACK)

    def send(self, side: str, payload: bytes, flags: int = cb.PSH | cb.ACK, **kw) -> int:
        """Send payload; returns the seq it was sent at (to retransmit it later)."""
        if not self.nxt:
            self.nxt = {"c": self.isn["c"], "s": self.isn["s"]}
        s = self.nxt[side] if kw.get("seq") is None else kw["seq"]
        self.frame(side, flags, payload, **kw)
        return s

    def close(self) -> None:
        self.frame("c", cb.FIN | cb.ACK)
        self.frame("s", cb.FIN | cb.ACK)
        self.frame("c", cb.ACK)

    def pcap(self) -> bytes:
        return cb.pcap(self.recs, nano=True, snaplen=self.snaplen or 262144)


def pcap_of(*convs: Conversation) -> bytes:
    """Several conversations in one capture, frames ordered by time."""
    recs = sorted((r for c in convs for r in c.recs), key=lambda r: r.ts_ns)
    return cb.pcap(recs, nano=True)
