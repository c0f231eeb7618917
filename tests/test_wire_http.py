"""HTTP/1 lines and HTTP/2 evidence from kept payload bytes, and plain-HTTP milestones."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cnfpost.capture import decode_bytes
from cnfpost.wire.http import http2_evidence, http_lines, parse_http_line
from cnfpost.wire.milestones import connection_milestones
from cnfpost.wire.tls import tls_handshakes
from tests import capbuild as cb
from tests import tlsbuild as tb

GET = b"GET /file.bin?token=s3cr3t&debug HTTP/1.1\r\nHost: origin.test\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n"


def plain_http() -> tb.Conversation:
    c = tb.Conversation(sport=80)
    c.handshake()                                   # 1-3
    seq = c.send("c", GET)                          # 4
    c.send("c", GET, seq=seq, dt=200_000_000)       # 5: retransmitted request
    c.send("s", OK + b"x" * 1000)                   # 6
    c.send("s", b"y" * 1400, flags=cb.ACK)          # 7
    c.send("s", b"z" * 600)                         # 8
    c.frame("c", cb.ACK)                            # 9
    c.close()                                       # 10-12
    return c


def test_request_and_status_lines_with_redaction_and_retransmission():
    table = decode_bytes(plain_http().pcap())
    req, resp = http_lines(table)
    assert (req.kind, req.side, req.method, req.version) == ("request", "client", "GET", "HTTP/1.1")
    assert req.target == "/file.bin?token=<redacted>&<redacted>"
    assert "s3cr3t" not in str(req.to_dict())
    assert req.frame == 4 and req.frames == (4, 5) and req.complete
    assert (resp.kind, resp.side, resp.status, resp.reason, resp.frame) == \
        ("response", "server", 200, "OK", 6)
    assert resp.ts_ns == cb.T0 + 6 * 1_000_000 + 200_000_000 - 1_000_000


def test_plain_http_milestones():
    (m,) = connection_milestones(decode_bytes(plain_http().pcap()))
    frames = {k: (v["frame"] if v else None) for k, v in m.to_dict().items()
              if k not in ("conn", "fin_side", "rst_side")}
    assert frames == {"syn": 1, "syn_ack": 2, "handshake_ack": 3, "client_hello": None,
                      "server_hello": None, "tls_done": None, "first_request_byte": 4,
                      "first_response_byte": 6, "last_response_byte": 8, "fin": 10, "rst": None}
    assert m.fin_side == "client"


def test_h2_preface_and_alpn_evidence():
    c = tb.Conversation(sport=80)
    c.handshake()
    c.send("c", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    table = decode_bytes(c.pcap())
    lines = http_lines(table)
    assert [(x.kind, x.frame, x.complete) for x in lines] == [("h2_preface", 4, True)]
    assert [(e.conn, e.how, e.frame) for e in http2_evidence(lines, ())] == [(0, "preface", 4)]

    tls12 = tb.Conversation()
    tls12.handshake()
    tls12.send("c", tb.client_hello(versions=()))
    tls12.send("s", tb.server_hello(version=None, alpn="h2"))
    tls13 = tb.Conversation(cport=40999)
    tls13.t += 500_000
    tls13.handshake()
    tls13.send("c", tb.client_hello())
    table = decode_bytes(tb.pcap_of(tls12, tls13))
    ev = http2_evidence(http_lines(table), tls_handshakes(table))
    assert [(e.how, e.frame) for e in ev] == [("alpn_chosen", 9), ("alpn_offered", 8)]


def test_parse_http_line_cases():
    assert parse_http_line(b"HTTP/1.0 404 Not Found\r\n")["status"] == 404
    assert parse_http_line(b"HTTP/1.1 20x OK\r\n") is None
    cut = parse_http_line(b"HTTP/1.1 2")
    assert cut["kind"] == "response" and not cut["complete"] and "status" not in cut
    cut = parse_http_line(b"POST /api?key=abc")
    assert cut == {"kind": "request", "method": "POST", "target": "/api?key=<redacted>",
                   "version": None, "complete": False}
    assert parse_http_line(b"GETS / HTTP/1.1\r\n") is None
    assert parse_http_line(b"GET") is None
    assert parse_http_line(b"PRI * HTTP/2") == {"kind": "h2_preface", "complete": False}
    assert parse_http_line(b"PRI * HTTP/3.0\r\n") is None
    assert parse_http_line(b"GET http://u:p@h.test/x;jsessionid=1?a=1#f HTTP/1.1\r\n")["target"] \
        == "http://h.test/x;<redacted>?a=<redacted>#<redacted>"


@given(st.sampled_from([b"GET ", b"POST ", b"HTTP/1.", b"PRI * HTTP/2", b"HEAD "]),
       st.binary(max_size=400))
def test_random_http_payloads_never_raise(head, rest):
    parse_http_line(head + rest)
    c = tb.Conversation(sport=80)
    c.handshake()
    c.send("c", head + rest)
    c.send("s", head + rest)
    table = decode_bytes(c.pcap())
    for line in http_lines(table):
        line.to_dict()
    connection_milestones(table)
