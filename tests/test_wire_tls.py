"""TLS handshakes from kept payload bytes: one built conversation per rule."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnfpost.capture import decode_bytes
from cnfpost.wire.conn import connections
from cnfpost.wire.tls import (
    parse_client_hello,
    parse_records,
    parse_server_hello,
    tls_handshakes,
)
from tests import capbuild as cb
from tests import tlsbuild as tb

PA = cb.PSH | cb.ACK


def only(handshakes):
    assert len(handshakes) == 1
    return handshakes[0]


def kinds(h, side=None):
    return [e.kind for e in h.events if side is None or e.side == side]


def tls13_conversation(**kw) -> tb.Conversation:
    """Handshake, ClientHello, ServerHello+CCS+encrypted flight, client CCS+Finished,
    request, response, close: frames 1-3 TCP, 4 CH, 5 SH.., 6 CCS+Fin, 7 req, 8 resp."""
    c = tb.Conversation(**kw)
    c.handshake()
    c.send("c", tb.client_hello(sni="origin.test"))
    c.send("s", tb.server_hello(version=tb.TLS1_3, suite=0x1302) + tb.ccs() + tb.app_data(36)
           + tb.app_data(900))
    c.send("c", tb.ccs() + tb.app_data(69))
    c.send("c", tb.app_data(81))
    c.send("s", tb.app_data(282))
    c.close()
    return c


def test_tls13_full_handshake_events_and_done():
    c = tls13_conversation()
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.version == tb.TLS1_3
    assert kinds(h) == ["client_hello", "server_hello", "change_cipher_spec",
                        "encrypted_handshake", "change_cipher_spec", "finished",
                        "application_data", "application_data"]
    assert (h.client_hello.frame, h.server_hello.frame) == (4, 5)
    assert h.sni == "origin.test"
    assert h.client_hello.detail.offered_versions == (tb.TLS1_3, tb.TLS1_2)
    assert h.alpn_offered == ("h2", "http/1.1")
    assert h.cipher_suite == 0x1302
    assert h.alpn is None                     # TLS 1.3: encrypted extensions
    assert h.done.frame == 6 and h.done.side == "client" and h.done.encrypted
    assert not h.done_carries_data
    assert h.first("application_data", "client").frame == 7
    assert h.first("application_data", "server").frame == 8
    assert h.client_hello.detail.complete and h.server_hello.detail.complete
    assert h.done.ts_ns == cb.T0 + 6 * 1_000_000
    assert h.conn.client == tb.CLIENT and h.conn.server_port == 443


def test_finished_and_request_in_one_segment():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    c.send("s", tb.server_hello() + tb.ccs() + tb.app_data(50))
    c.send("c", tb.ccs() + tb.app_data(69) + tb.app_data(100))
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.done.frame == 6 and h.done_carries_data
    # A CCS-led segment keeps 16 bytes: the request record behind the Finished is not
    # read, only known to be there from the lengths.
    assert h.first("application_data", "client") is None


def test_ipv6_connection():
    c = tls13_conversation(v6=True, client="2001:db8::10", server="2001:db8::20")
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.conn.ip_version == 6 and h.conn.client == "2001:db8::10"
    assert h.done.frame == 6


def test_retransmitted_server_hello_is_one_event_with_all_frames():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    flight = tb.server_hello() + tb.ccs() + tb.app_data(40)
    seq = c.send("s", flight)                          # frame 5
    c.send("s", flight, seq=seq, dt=200_000_000)       # frame 6: retransmitted
    c.send("c", tb.ccs() + tb.app_data(69))            # frame 7
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.server_hello.frame == 5 and h.server_hello.frames == (5, 6)
    assert h.server_hello.retransmitted
    assert kinds(h, "server").count("server_hello") == 1
    assert h.first("change_cipher_spec", "server").frames == (5, 6)
    assert h.done.frame == 7


def test_server_hello_seen_only_in_its_retransmission_after_a_later_segment():
    """tls_retrans: the first ServerHello segment is lost before the capture point, the
    next one arrives, then the retransmission. Here the later segment starts with a record
    of its own, so it is read first, and the retransmission must still be read."""
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    first = tb.server_hello() + tb.ccs()
    seq = c.nxt["s"]
    c.nxt["s"] = seq + len(first)
    c.send("s", tb.app_data(60))                       # frame 5: the second segment
    c.send("s", first, seq=seq)                        # frame 6: the retransmission
    c.send("c", tb.ccs() + tb.app_data(69))            # frame 7
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.server_hello.frame == 6
    assert h.done.frame == 7


def test_ciphertext_that_looks_like_a_header_inside_a_record_is_ignored():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello(versions=()))
    # TLS 1.2: ServerHello, then a 3000-byte Certificate record cut across segments; the
    # second piece happens to start like a ServerHello record.
    cert = tb.record(tb.HANDSHAKE, tb.handshake(tb.CERTIFICATE, b"\x00" * 2996))
    fake = tb.server_hello(version=None, suite=0xBEEF)
    c.send("s", tb.server_hello(version=None, suite=0xC02F, alpn="h2") + cert[:1000])
    c.send("s", fake + cert[1000 + len(fake):])
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert kinds(h, "server") == ["server_hello", "certificate"]
    assert h.cipher_suite == 0xC02F and h.alpn == "h2"
    assert h.version == tb.TLS1_2
    cert_ev = h.first("certificate")
    assert cert_ev.length == 2996 and not cert_ev.complete


def tls12_full() -> tb.Conversation:
    c = tb.Conversation()
    c.handshake()                                                            # 1-3
    c.send("c", tb.client_hello(versions=(), alpn=("h2",)))                  # 4
    c.send("s", tb.server_hello(version=None, suite=0xC02F, alpn="h2")       # 5
           + tb.record(tb.HANDSHAKE, tb.handshake(tb.CERTIFICATE, b"\x00" * 100)
                       + tb.handshake(tb.SERVER_KEY_EXCHANGE, b"\x01" * 40)
                       + tb.handshake(tb.SERVER_HELLO_DONE, b"")))
    c.send("c", tb.record(tb.HANDSHAKE, tb.handshake(tb.CLIENT_KEY_EXCHANGE, b"\x02" * 33))  # 6
           + tb.ccs() + tb.record(tb.HANDSHAKE, b"\x99" * 40))
    c.send("s", tb.ccs() + tb.record(tb.HANDSHAKE, b"\x77" * 40))           # 7
    c.send("c", tb.app_data(100))                                            # 8
    c.send("s", tb.app_data(300))                                            # 9
    c.send("c", tb.record(tb.ALERT, b"\x55" * 26))                          # 10: encrypted alert
    return c


def test_tls12_full_handshake():
    h = only(tls_handshakes(decode_bytes(tls12_full().pcap())))
    assert h.version == tb.TLS1_2
    assert kinds(h) == ["client_hello", "server_hello", "certificate", "server_key_exchange",
                        "server_hello_done", "client_key_exchange", "change_cipher_spec",
                        "finished", "change_cipher_spec", "finished", "application_data",
                        "application_data", "alert"]
    assert h.client_hello.detail.offered_versions == (tb.TLS1_2,)
    assert h.alpn == "h2"
    fin = [e for e in h.events if e.kind == "finished"]
    assert [(e.side, e.frame, e.encrypted) for e in fin] == [("client", 6, True),
                                                             ("server", 7, True)]
    assert h.done is fin[1]                 # full handshake: the server's Finished
    alert = h.first("alert")
    assert alert.encrypted and alert.detail is None and alert.frame == 10


def test_tls12_resumed_handshake_done_at_client_finished():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello(versions=()))
    c.send("s", tb.server_hello(version=None) + tb.ccs() + tb.record(tb.HANDSHAKE, b"\x01" * 40))
    c.send("c", tb.ccs() + tb.record(tb.HANDSHAKE, b"\x02" * 40))
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.done.side == "client" and h.done.frame == 6


def test_tls12_without_client_finished_has_no_done():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello(versions=()))
    c.send("s", tb.server_hello(version=None) + tb.ccs() + tb.record(tb.HANDSHAKE, b"\x01" * 40))
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.done is None


def test_hello_retry_request():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())                                           # 4
    c.send("s", tb.server_hello(hrr=True) + tb.ccs())                        # 5
    c.send("c", tb.ccs() + tb.client_hello(sni="second.test"))               # 6
    c.send("s", tb.server_hello(suite=0x1303) + tb.app_data(90))             # 7
    c.send("c", tb.app_data(53))                                             # 8
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.hello_retry_request.frame == 5
    assert h.server_hello.frame == 7 and h.cipher_suite == 0x1303
    assert [e.frame for e in h.events if e.kind == "client_hello"] == [4, 6]
    assert h.client_hello.frame == 4
    assert h.done.frame == 8


def test_clear_alert_answering_client_hello():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello(sni="nope.test"))
    c.send("s", tb.alert(2, 40))
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    alert = h.first("alert", "server")
    assert (alert.detail.level, alert.detail.description) == (2, 40) and not alert.encrypted
    assert alert.detail.to_dict() == {"level": "fatal", "description": 40}
    assert h.server_hello is None and h.done is None and h.version is None


def test_early_data_before_server_hello():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello() + tb.app_data(50))   # 0-RTT right behind the hello
    c.send("s", tb.server_hello() + tb.app_data(80))
    c.send("c", tb.app_data(69))
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.first("early_data").frame == 4
    assert h.done.frame == 6


def test_unreadable_server_hello_leaves_the_version_unknown():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    hello = tb.server_hello()
    c.send("s", hello[:2])                  # too short to be kept: the hello is not seen
    c.send("s", hello[2:] + tb.ccs())       # starts mid-record: not read either
    c.send("s", tb.app_data(300))           # the server's encrypted flight
    c.send("c", tb.ccs() + tb.app_data(69))
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.server_hello is None and h.version is None and h.done is None
    assert h.first("early_data") is None
    assert kinds(h) == ["client_hello", "application_data", "change_cipher_spec",
                        "application_data"]


def test_records_past_the_kept_bytes_are_not_invented():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello(extra=tb.ext(21, b"\x00" * 600)))   # padding past 512 kept
    c.send("s", tb.server_hello() + tb.ccs())
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    ch = h.client_hello
    assert not ch.complete and not ch.detail.complete
    assert ch.detail.sni == "example.test"        # read before the cut
    assert ch.length > 512


@pytest.mark.parametrize("snaplen", [54, 60, 70, 100, 130, 200])
def test_snaplen_cut_hellos_never_raise(snaplen):
    c = tls13_conversation(snaplen=snaplen)
    table = decode_bytes(c.pcap())
    hs = tls_handshakes(table)
    for h in hs:
        for e in h.events:
            e.to_dict()
        if h.client_hello is not None and snaplen < 54 + 9 + 100:
            assert not h.client_hello.detail.complete


def test_garbage_record_header_is_a_problem_not_an_event():
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.record(tb.HANDSHAKE, b"", length=0x7FFF) + b"x" * 20)  # absurd length
    h = only(tls_handshakes(decode_bytes(c.pcap())))
    assert h.events == () and "not a TLS record header" in h.problems[0]


def test_port_reuse_makes_two_connections():
    a = tls13_conversation()
    b = tls13_conversation(isn={"c": 555555, "s": 7777})
    b.t = a.t + 10**9
    b.recs = []
    b.nxt = {}
    b.handshake()
    b.send("c", tb.client_hello(sni="again.test"))
    table = decode_bytes(tb.pcap_of(a, b))
    conns = connections(table)
    assert len(conns.conns) == 2
    assert [c.first_frame for c in conns.conns] == [1, len(a.recs) + 1]
    assert [h.sni for h in tls_handshakes(table, conns)] == ["origin.test", "again.test"]


def test_client_side_without_syn_is_the_higher_port():
    c = tb.Conversation()
    c.nxt = {"c": 1, "s": 1}
    c.send("s", tb.server_hello())          # first frame is the server's
    c.send("c", tb.ccs() + tb.app_data(30))
    conns = connections(decode_bytes(c.pcap()))
    assert conns.conns[0].client_port == tb.CPORT
    assert conns.from_client_at(np.arange(2)).tolist() == [False, True]


def test_to_dict_is_plain_data():
    import json
    h = only(tls_handshakes(decode_bytes(tls12_full().pcap())))
    d = json.loads(json.dumps(h.to_dict()))
    assert d["version"] == "TLS 1.2" and d["alpn"] == "h2" and d["done"] == 7
    assert d["events"][0]["detail"]["offered_versions"] == ["TLS 1.2"]


# ----------------------------------------------------------------------------------------
# Pure parsers
# ----------------------------------------------------------------------------------------

def test_parse_records_several_and_spanning():
    data = tb.ccs() + tb.app_data(10) + tb.app_data(5000)
    recs, end, problem = parse_records(data[:40], len(data) - 100)
    assert [(r.offset, r.type, r.length) for r in recs] == [(0, 20, 1), (6, 23, 10), (21, 23, 5000)]
    assert end == len(data) and problem is None
    recs, end, problem = parse_records(data[:23], len(data))
    assert len(recs) == 2 and end == 21 and problem == "record header cut"


def test_parse_hellos_partial():
    body = tb.client_hello_body(sni="a.test")
    for cut in range(len(body)):
        info = parse_client_hello(body[:cut], len(body))
        assert not info.complete
    full = parse_client_hello(body)
    assert full.complete and full.sni == "a.test" and full.cipher_suites == (0x1301, 0x1302, 0xC02F)
    no_ext = parse_client_hello(tb.client_hello_body(with_extensions=False))
    assert no_ext.complete and no_ext.offered_versions == (tb.TLS1_2,) and no_ext.sni is None
    sh = tb.server_hello_body(version=tb.TLS1_3, alpn="h2")
    for cut in range(len(sh)):
        assert not parse_server_hello(sh[:cut], len(sh)).complete
    info = parse_server_hello(sh)
    assert (info.version, info.legacy_version, info.alpn) == (tb.TLS1_3, tb.TLS1_2, "h2")


@given(st.binary(max_size=600))
def test_parsers_never_raise_on_random_bytes(data):
    parse_records(data, len(data))
    parse_records(data, 3 * len(data))
    parse_client_hello(data)
    parse_server_hello(data)


HEADS = [bytes([t, 3, m]) for t in (20, 21, 22, 23) for m in (1, 3, 4)]


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(HEADS), st.binary(max_size=700),
                          st.integers(0, 3)), max_size=12))
def test_random_tls_like_payloads_never_raise(segments):
    c = tb.Conversation()
    c.handshake()
    for from_client, head, body, mode in segments:
        side = "c" if from_client else "s"
        if mode == 3 and c.recs:   # re-send at an earlier sequence number
            c.send(side, head + body, seq=c.nxt[side] - len(body))
        else:
            c.send(side, head + body)
    table = decode_bytes(c.pcap())
    for h in tls_handshakes(table):
        h.to_dict()
        for e in h.events:
            assert 1 <= e.frame <= len(table) and e.frame == min(e.frames)
