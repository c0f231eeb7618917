"""DNS over UDP/53 from kept payload bytes: messages, names, transactions."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnfpost.capture import decode_bytes
from cnfpost.wire._bytes import Short
from cnfpost.wire.dns import dns_messages, dns_transactions, parse_dns, read_name
from tests import capbuild as cb

CLIENT, RESOLVER = "192.0.2.1", "192.0.2.53"


def qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_response(name: str = "example.com", qid: int = 0x1234, qtype: int = 1, rcode: int = 0,
                 answers: tuple[tuple[int, bytes], ...] = ((1, bytes([203, 0, 113, 7])),),
                 tc: bool = False) -> bytes:
    """A response whose answers all point back at the question name (pointer 0xC00C)."""
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    head = struct.pack(">HHHHHH", qid, flags, 1, len(answers), 0, 0)
    body = qname(name) + struct.pack(">HH", qtype, 1)
    for rtype, rdata in answers:
        body += struct.pack(">HHHIH", 0xC00C, rtype, 1, 60, len(rdata)) + rdata
    return head + body


def udp_frame(payload: bytes, *, query: bool, sport: int = 40001, client: str = CLIENT,
              v6: bool = False) -> bytes:
    src, dst = (client, RESOLVER) if query else (RESOLVER, client)
    ports = (sport, 53) if query else (53, sport)
    dgram = cb.udp(*ports, payload)
    if v6:
        src6, dst6 = ("2001:db8::1", "2001:db8::53") if query else ("2001:db8::53", "2001:db8::1")
        return cb.ether(cb.ipv6(dgram, cb.IPPROTO_UDP, src6, dst6), cb.ETHERTYPE_IPV6)
    return cb.ether(cb.ipv4(dgram, cb.IPPROTO_UDP, src, dst))


def capture(*frames: tuple[bytes, int]) -> bytes:
    return cb.pcap([cb.Rec(f, cb.T0 + t) for f, t in frames], nano=True)


MS = 1_000_000


def test_query_response_a_and_aaaa_with_rtt():
    aaaa = bytes.fromhex("20010db8000000000000000000000007")
    table = decode_bytes(capture(
        (udp_frame(cb.dns_query("Example.COM", 1, 1), query=True), 0),
        (udp_frame(cb.dns_query("example.com", 2, 28), query=True), 1 * MS),
        (udp_frame(dns_response("example.com", 2, 28, answers=((28, aaaa),)), query=False), 3 * MS),
        (udp_frame(dns_response("example.com", 1, 1, answers=((5, qname("cdn.test")),
                                                               (1, bytes([203, 0, 113, 7])),
                                                               (1, bytes([203, 0, 113, 8])))),
                   query=False), 5 * MS),
    ))
    msgs = dns_messages(table)
    assert [(m.frame, m.id, m.is_response, m.qname, m.qtype) for m in msgs] == [
        (1, 1, False, "example.com", 1), (2, 2, False, "example.com", 28),
        (3, 2, True, "example.com", 28), (4, 1, True, "example.com", 1)]
    assert all(m.complete for m in msgs)
    a, aaaa_tx = dns_transactions(table)
    assert a.answers == ("203.0.113.7", "203.0.113.8") and a.rcode == 0
    assert a.query_frames == (1,) and a.response_frames == (4,) and a.rtt_ns == 5 * MS
    assert aaaa_tx.answers == ("2001:db8::7",) and aaaa_tx.rtt_ns == 2 * MS
    assert a.client == CLIENT and a.server == RESOLVER and a.client_port == 40001
    assert a.retry_of is None and a.answered


def test_resent_query_same_id_and_retry_with_new_id_and_unanswered():
    q1 = cb.dns_query("slow.test", 7, 1)
    table = decode_bytes(capture(
        (udp_frame(q1, query=True), 0),
        (udp_frame(q1, query=True), 1000 * MS),                          # same id, port: re-send
        (udp_frame(dns_response("slow.test", 7, 1), query=False), 1000 * MS + 300_000),
        (udp_frame(cb.dns_query("lost.test", 8, 1), query=True), 2000 * MS),
        (udp_frame(cb.dns_query("lost.test", 9, 1), query=True, sport=40002), 3000 * MS),
        (udp_frame(dns_response("lost.test", 9, 1, rcode=3, answers=()), query=False, sport=40002),
         3000 * MS + 100_000),
        (udp_frame(cb.dns_query("never.test", 10, 28), query=True), 4000 * MS),
    ))
    slow, lost, retry, never = dns_transactions(table)
    assert slow.query_frames == (1, 2) and slow.resends == 1
    assert slow.rtt_ns == 1000 * MS + 300_000 and slow.rtt_last_ns == 300_000
    assert not lost.answered and lost.response_ts_ns is None and lost.rtt_ns is None
    assert retry.retry_of == 1 and retry.rcode == 3 and retry.answers == ()
    assert never.qtype == 28 and not never.answered and never.retry_of is None


def test_response_for_another_port_or_id_is_not_matched_and_duplicates_are_kept():
    table = decode_bytes(capture(
        (udp_frame(cb.dns_query("a.test", 1), query=True), 0),
        (udp_frame(dns_response("a.test", 2), query=False), MS),                  # wrong id
        (udp_frame(dns_response("a.test", 1), query=False, sport=999), 2 * MS),   # wrong port
        (udp_frame(dns_response("b.test", 1), query=False), 3 * MS),              # wrong name
        (udp_frame(dns_response("a.test", 1), query=False), 4 * MS),
        (udp_frame(dns_response("a.test", 1), query=False), 5 * MS),              # duplicate
    ))
    (tx,) = dns_transactions(table)
    assert tx.response_frames == (5, 6) and tx.rtt_ns == 4 * MS


def test_ipv6_transport():
    table = decode_bytes(capture(
        (udp_frame(cb.dns_query("v6.test", 3, 28), query=True, v6=True), 0),
        (udp_frame(dns_response("v6.test", 3, 28, answers=()), query=False, v6=True), MS),
    ))
    (tx,) = dns_transactions(table)
    assert tx.client == "2001:db8::1" and tx.server == "2001:db8::53" and tx.rtt_ns == MS


def test_compressed_names_and_loops():
    msg = dns_response("host.example.com")
    assert read_name(msg, 12) == ("host.example.com", 12 + len(qname("host.example.com")))
    assert read_name(msg, len(msg) - 16)[0] == "host.example.com"  # the answer's pointer
    # A pointer to itself, a forward pointer, a two-pointer loop: all refused, none hang.
    self_loop = b"\0" * 12 + b"\xc0\x0c"
    forward = b"\0" * 12 + b"\xc0\x10\0\0\x01a\0"
    loop2 = b"\0" * 12 + b"\xc0\x0e\xc0\x0c"
    for bad in (self_loop, forward, loop2):
        with pytest.raises(Short):
            read_name(bad, 12)
    # A pointer that goes back into a label chain is fine.
    ok = b"\0" * 12 + b"\x01a\x00" + b"\x01b\xc0\x0c"
    assert read_name(ok, 15) == ("b.a", 19)
    with pytest.raises(Short):
        read_name(b"\0" * 12 + b"\x40abc", 12)          # obsolete label type
    with pytest.raises(Short):
        read_name(b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63
                  + b"\x3f" + b"a" * 63 + b"\0", 0)      # 256 bytes: past the 255 limit


def test_truncated_and_garbage_messages_are_incomplete_never_raise():
    resp = dns_response("cut.test", 5, answers=((1, b"\x01\x02\x03\x04"),) * 3)
    for n in range(len(resp)):
        f = parse_dns(resp[:n])
        assert not f["complete"]
        if n >= 2:
            assert f["id"] == 5
    whole = parse_dns(resp)
    assert whole["complete"] and whole["answers"] == ("1.2.3.4",) * 3
    tc = parse_dns(dns_response("tc.test", tc=True))
    assert tc["truncated"]


def test_snaplen_cut_dns_is_reported_incomplete():
    answers = ((1, b"\x01\x02\x03\x04"),) * 4
    frame = udp_frame(dns_response("snap.test", 4, answers=answers), query=False)
    table = decode_bytes(cb.pcap([cb.Rec(frame[:80], cb.T0, wire_len=len(frame))], snaplen=80))
    (m,) = dns_messages(table)
    assert m.id == 4 and m.is_response and m.qname == "snap.test" and not m.complete


@given(st.binary(max_size=600))
def test_parse_dns_never_raises(data):
    f = parse_dns(data)
    assert isinstance(f["answers"], tuple)


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=10))
def test_random_udp53_payloads_never_raise(messages):
    frames = [(udp_frame(p, query=q), i * MS) for i, (q, p) in enumerate(messages)]
    table = decode_bytes(capture(*frames))
    for tx in dns_transactions(table):
        tx.to_dict()
        assert tx.query_frames and (tx.rtt_ns is None or tx.rtt_ns >= 0)


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.booleans(), st.sampled_from(
    ["example.com", "cdn.test", "a.b.c"])), min_size=1, max_size=12))
def test_messages_read_the_same_as_each_parsed_alone(messages):
    """Messages that differ only in their id are parsed once: each still gets its own id
    and everything else exactly as parse_dns reads it alone."""
    payloads = [dns_response(name, qid) if is_response else cb.dns_query(name, qid, 1)
                for qid, is_response, name in messages]
    table = decode_bytes(capture(*((udp_frame(p, query=not r), i * MS)
                                   for i, (p, (_, r, _)) in enumerate(zip(payloads, messages)))))
    got = dns_messages(table)
    assert [m.id for m in got] == [qid for qid, _, _ in messages]
    for m, payload in zip(got, payloads):
        alone = parse_dns(payload)
        assert {k: getattr(m, k) for k in alone} == alone
