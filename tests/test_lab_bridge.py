"""The lab bridge's reset injection, without a network: frames in, frames out.

A client takes a RST only at exactly the sequence number it expects next (RFC 5961); when
segments before the injected RST were still missing, the bridge sends it again at the
number the client's ACK asks for, and drops the rest of the connection's server data, so
the reset scenario's fault reaches curl however the segments were ordered."""
from __future__ import annotations

import io
import random
import socket
import struct

from tests.lab.bridge import TCP_ACK, TCP_RST, Bridge, Packet

CLIENT, SERVER = ("198.18.1.2", 47370), ("198.18.3.2", 443)


def frame(src, dst, seq: int, ack: int, flags: int = TCP_ACK, payload: bytes = b"") -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0x4000, 64, 6, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def bridge(reset_after: int) -> Bridge:
    b = Bridge.__new__(Bridge)          # no sockets: decide() is what is tested
    b.cfg, b.log, b.rng = {"reset_after_bytes": reset_after}, io.StringIO(), random.Random(1)
    b.last_release = {"c2s": 0.0, "s2c": 0.0}
    b.hello_dropped, b.syn_dropped, b.server_bytes = set(), set(), {}
    b.reset_done, b.reset_again = {}, set()
    b.stats = {"forwarded": 0, "dropped": 0, "delayed": 0, "reordered": 0, "reset": 0}
    return b


def test_a_reset_the_client_may_not_take_is_sent_again_where_its_ack_points():
    b = bridge(2000)
    data = b"x" * 1000
    out = [b.decide("s2c", Packet(frame(SERVER, CLIENT, 1000 + k * 1000, 1, payload=data)), 0.0)
           for k in range(3)]
    assert [len(o) for o in out[:2]] == [1, 1]                  # forwarded
    (_, rst), = out[2]                                           # the third became a RST
    rst = Packet(rst)
    assert (rst.seq, rst.flags & TCP_RST, rst.payload) == (3000, TCP_RST, b"")
    # later server data never reaches the client
    assert b.decide("s2c", Packet(frame(SERVER, CLIENT, 4000, 1, payload=data)), 0.0) == []
    # the client still waits for bytes 2000..: its ACK is forwarded, and the RST sent again
    # towards the client at 2000, once per number asked for
    sent = b.decide("c2s", Packet(frame(CLIENT, SERVER, 1, 2000)), 0.0)
    assert len(sent) == 2 and len(sent[0]) == 2 and sent[1][2] == "s2c"
    again = Packet(sent[1][1])
    assert (again.seq, again.flags & TCP_RST, again.src, again.sport) == (2000, TCP_RST, *SERVER)
    assert len(b.decide("c2s", Packet(frame(CLIENT, SERVER, 1, 2000)), 0.0)) == 1
    # an ACK at the RST's own number needs nothing more: that RST is taken
    assert len(b.decide("c2s", Packet(frame(CLIENT, SERVER, 1, 3000)), 0.0)) == 1
    assert '"action": "reset_again"' in b.log.getvalue()
