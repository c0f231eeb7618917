"""Properties of the wire timeline: random TLS 1.3 conversations keep their milestones in
order whatever the segmentation and retransmissions; broken captures never raise."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cnfpost.capture import decode_bytes
from cnfpost.errors import InputError
from cnfpost.wire import (
    MILESTONES,
    connection_milestones,
    connections,
    dns_transactions,
    http2_evidence,
    http_lines,
    tls_handshakes,
)
from tests import tlsbuild as tb
from tests.test_wire_dns import capture, dns_response, udp_frame
from tests.test_wire_http import plain_http
from tests.test_wire_tls import tls12_full, tls13_conversation
from tests import capbuild as cb


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


@given(cuts=st.lists(st.integers(1, 5000), max_size=4),
       resend=st.lists(st.integers(0, 10), max_size=3),
       flight=st.integers(10, 3000), response=st.lists(st.integers(1, 20000), min_size=1,
                                                        max_size=4))
def test_random_tls13_segmentation_keeps_milestones_in_order(cuts, resend, flight, response):
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    hello = tb.server_hello()
    server_flight = hello + tb.ccs() + tb.app_data(flight)
    # A ServerHello cut before its end is past what a segment-start reader can see (the
    # decoder keeps a payload only when it starts like a record): keep it whole.
    pieces = split(server_flight, [len(hello) + c for c in cuts])
    sent = []
    for piece in pieces:
        sent.append((c.send("s", piece), piece))
    for i in resend:                       # retransmit some pieces after the others
        seq, piece = sent[i % len(sent)]
        c.send("s", piece, seq=seq)
    c.send("c", tb.ccs() + tb.app_data(69))
    c.send("c", tb.app_data(120))
    for n in response:
        c.send("s", tb.app_data(n))
    c.close()
    table = decode_bytes(c.pcap())
    (h,) = tls_handshakes(table)
    assert h.version == tb.TLS1_3 and h.done is not None
    # The ServerHello record starts the first piece: every frame that carried it is listed.
    first_seq = sent[0][0]
    carried = [i + 1 for i in range(len(table))
               if table["tcp_seq"][i] == first_seq and table["payload_len"][i] > 0
               and not table.columns["tcp_flags"][i] & cb.SYN and i > 3]
    assert h.server_hello.frames == tuple(carried)
    (m,) = connection_milestones(table)
    order = [getattr(m, k).frame for k in MILESTONES[:9]]
    assert order == sorted(order) and len(set(order[:7])) == 7
    assert m.tls_done.frame == h.done.frame


def flip(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, val in edits:
        out[pos % len(out)] ^= val
    return bytes(out)


BASES = {
    "tls13": tls13_conversation().pcap(),
    "tls12": tls12_full().pcap(),
    "http": plain_http().pcap(),
    "dns": capture((udp_frame(cb.dns_query("a.test", 1), query=True), 0),
                   (udp_frame(dns_response("a.test", 1), query=False), 1000)),
}


@given(st.sampled_from(sorted(BASES)),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=12),
       st.integers(0, 10**6))
def test_broken_captures_never_raise(base, edits, cut):
    data = flip(BASES[base], edits)
    data = data[: max(24, cut % (len(data) + 1))]
    try:
        table = decode_bytes(data)
    except InputError:
        return
    conns = connections(table)
    hs = tls_handshakes(table, conns)
    lines = http_lines(table, conns)
    for x in hs + lines + http2_evidence(lines, hs) + dns_transactions(table) \
            + connection_milestones(table, conns, hs):
        x.to_dict()
