"""Per-connection wire milestones: built conversations, and the lab bundles against curl."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnfpost.capture import decode_bytes, read_capture
from cnfpost.wire.milestones import MILESTONES, connection_milestones
from tests import capbuild as cb
from tests import tlsbuild as tb
from tests.support import LAB_BUNDLES, require
from tests.test_wire_tls import tls13_conversation


def frames(m) -> dict:
    return {k: (getattr(m, k).frame if getattr(m, k) else None) for k in MILESTONES}


def test_tls13_milestones():
    (m,) = connection_milestones(decode_bytes(tls13_conversation().pcap()))
    assert frames(m) == {"syn": 1, "syn_ack": 2, "handshake_ack": 3, "client_hello": 4,
                         "server_hello": 5, "tls_done": 6, "first_request_byte": 7,
                         "first_response_byte": 8, "last_response_byte": 8, "fin": 9,
                         "rst": None}
    assert m.tls_done.ts_ns == cb.T0 + 6_000_000
    assert m.fin_side == "client" and m.rst_side is None
    d = m.to_dict()
    assert d["tls_done"] == {"frame": 6, "ts_ns": cb.T0 + 6_000_000}


def test_request_in_the_finished_segment():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    c.send("s", tb.server_hello() + tb.ccs() + tb.app_data(50))
    c.send("c", tb.ccs() + tb.app_data(69) + tb.app_data(100))   # 6: Finished + request
    c.send("s", tb.app_data(500))                                # 7
    (m,) = connection_milestones(decode_bytes(c.pcap()))
    assert (m.tls_done.frame, m.first_request_byte.frame, m.first_response_byte.frame) == (6, 6, 7)


def test_handshake_without_done_places_no_request_and_rst_is_seen():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())                # 4
    c.send("s", tb.alert(2, 40))                  # 5
    c.frame("s", cb.RST | cb.ACK)                 # 6
    (m,) = connection_milestones(decode_bytes(c.pcap()))
    f = frames(m)
    assert (f["client_hello"], f["server_hello"], f["tls_done"]) == (4, None, None)
    assert f["first_request_byte"] is None and f["first_response_byte"] is None
    assert f["last_response_byte"] == 5
    assert f["rst"] == 6 and m.rst_side == "server" and f["fin"] is None


def test_no_syn_captured():
    c = tb.Conversation()
    c.nxt = {"c": 1, "s": 1}
    c.send("c", b"GET / HTTP/1.1\r\n\r\n")
    c.send("s", b"HTTP/1.1 204 No Content\r\n\r\n")
    (m,) = connection_milestones(decode_bytes(c.pcap()))
    f = frames(m)
    assert f["syn"] is None and f["syn_ack"] is None and f["handshake_ack"] is None
    assert (f["first_request_byte"], f["first_response_byte"]) == (1, 2)


def test_retransmitted_syn_and_several_connections():
    a = tb.Conversation()
    a.frame("c", cb.SYN)
    a.frame("c", cb.SYN, seq=a.isn["c"], dt=1_000_000_000)      # SYN again, same ISN
    a.frame("s", cb.SYN | cb.ACK)
    a.frame("c", cb.ACK)
    b = tb.Conversation(cport=41000)
    b.t += 500_000
    b.handshake()
    ms = connection_milestones(decode_bytes(tb.pcap_of(a, b)))
    assert len(ms) == 2
    # frames: a SYN (1), b handshake (2-4), a SYN again (5), SYN/ACK (6), ACK (7)
    assert (ms[0].syn.frame, ms[0].syn_ack.frame, ms[0].handshake_ack.frame) == (1, 6, 7)
    assert ms[1].conn.client_port == 41000 and ms[1].syn.frame == 2


def test_empty_and_tcp_less_captures():
    assert connection_milestones(decode_bytes(cb.pcap([]))) == ()
    assert connection_milestones(decode_bytes(cb.port_unreachable())) == ()


# ----------------------------------------------------------------------------------------
# The lab bundles: the wire milestones against curl's own timers
# ----------------------------------------------------------------------------------------
LAB = LAB_BUNDLES


@pytest.mark.parametrize("bundle", ["clean", "tls_retrans", "path_loss"])
def test_lab_wire_phases_agree_with_curl(bundle):
    """curl cannot finish connecting before the SYN/ACK is on the wire, and its TLS phase
    (time_connect -> time_appconnect) is the wire's SYN/ACK -> tls_done plus the client's
    own processing time (under 1 ms on the lab host)."""
    path = LAB / bundle / "capture.pcap"
    require(path.exists(), f"{path} is missing")
    ms = connection_milestones(read_capture(path))
    timings = [json.loads(line) for line in open(LAB / bundle / "timings.jsonl")]
    assert len(ms) == len(timings) == 5
    for m, t in zip(ms, timings):
        wire_tcp = (m.syn_ack.ts_ns - m.syn.ts_ns) / 1e6
        curl_tcp = (t["time_connect"] - t["time_namelookup"]) * 1e3
        assert wire_tcp <= curl_tcp
        wire_tls = (m.tls_done.ts_ns - m.syn_ack.ts_ns) / 1e6
        curl_tls = (t["time_appconnect"] - t["time_connect"]) * 1e3
        assert abs(curl_tls - wire_tls) < 1.0, (m.conn.client_port, curl_tls, wire_tls)
        assert m.first_request_byte.frame > m.tls_done.frame
        assert m.fin is not None and m.rst is None
