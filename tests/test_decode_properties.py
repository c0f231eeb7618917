"""Property tests for the decoders (hypothesis; no deadlines, blobs printed to replay).

1. The reference decoder against the builder's intent and against dpkt, on generated
   valid captures: timestamps exact, and every field dpkt decodes (addresses, ports,
   seq/ack, flags, window, lengths, TCP options, ICMP type/code/echo ids) equal.
2. The compiled and reference decoders agree column by column, side table by side
   table, on valid captures and on broken ones.
3. Broken captures (truncated anywhere, flipped bytes, corrupt length fields) never
   crash or hang either decoder: the only exception allowed is InputError.

A failing example prints the capture as ``bytes.fromhex(...)``; paste it into
``decoder(data, "x")`` to replay it, or rerun with the printed @reproduce_failure blob.
"""
from __future__ import annotations

import dataclasses
import faulthandler
import ipaddress

import dpkt
import numpy as np
import pytest
from hypothesis import event, example, given, note
from hypothesis import strategies as st

from cnfpost.decode_py import read_capture
from cnfpost.errors import InputError
from cnfpost.model import DecodeStatus as S
from cnfpost.model import TcpOpt
from tests import capbuild as cb
from tests import strategies as cst
from tests.support import require

HANG_SECONDS = 60  # one decode of a few hundred bytes taking this long is a hang


def compiled_decoder():
    try:
        from cnfpost.capture import decode_bytes
    except ImportError as exc:
        require(False, f"compiled decoder not importable: {exc}")
    return decode_bytes


def decode_guarded(decode, data: bytes):
    """Decode with a watchdog: a hang dumps every thread's stack and ends the run
    (faulthandler works even while compiled code holds the GIL)."""
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        return decode(data, "fuzz.pcap")
    finally:
        faulthandler.cancel_dump_traceback_later()


# =====================================================================================
# 1. Reference decoder vs the builder and dpkt
# =====================================================================================

def dpkt_ip(linktype: int, frame: bytes):
    """The IP packet dpkt finds in a frame, or None when it finds none."""
    if linktype == cb.LINKTYPE_ETHERNET:
        pkt = dpkt.ethernet.Ethernet(frame).data
    elif linktype in (cb.LINKTYPE_NULL, cb.LINKTYPE_LOOP):
        pkt = dpkt.loopback.Loopback(frame).data
    elif linktype == cb.LINKTYPE_LINUX_SLL:
        pkt = dpkt.sll.SLL(frame).data
    elif linktype == cb.LINKTYPE_LINUX_SLL2:
        pkt = dpkt.sll2.SLL2(frame).data
    elif frame[0] >> 4 == 6:
        pkt = dpkt.ip6.IP6(frame)
    else:
        pkt = dpkt.ip.IP(frame)
    return pkt if isinstance(pkt, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def check_against_dpkt(t, row: int, linktype: int, frame: bytes) -> None:
    """Every field dpkt decodes equals the reference decoder's, for one complete frame."""
    c = {name: int(col[row]) for name, col in t.columns.items()}
    try:
        ip = dpkt_ip(linktype, frame)
    except AttributeError:
        # dpkt 1.9.8 ip6.py reads frag_off from the *last* extension header whenever the
        # first is a fragment header (kbandla/dpkt#575 fix): it fails on fragment + more.
        event("dpkt cannot parse IPv6 fragment header followed by another header")
        return
    if ip is None:
        assert c["status"] == S.NON_IP and c["ip_version"] == 0
        return
    if isinstance(ip, dpkt.ip.IP):
        assert (c["ip_version"], c["ip_ttl"], c["ip_id"], c["ip_frag"], c["ip_proto"]) == (4, ip.ttl, ip.id, ip._flags_offset, ip.p)
        assert (c["ip_src"], c["ip_dst"]) == (int.from_bytes(ip.src, "big"), int.from_bytes(ip.dst, "big"))
        fragment = bool(ip._flags_offset & 0x3FFF)  # MF or an offset: reassembled
    else:
        assert (c["ip_version"], c["ip_ttl"]) == (6, ip.hlim)
        assert bytes(t.ip6_addresses[c["ip_src"]]) == ip.src and bytes(t.ip6_addresses[c["ip_dst"]]) == ip.dst
        frags = [h for h in ip.all_extension_headers if isinstance(h, dpkt.ip6.IP6FragmentHeader)]
        fragment = any(h.frag_off > 0 or h.m_flag for h in frags)
        if not fragment:
            assert c["ip_proto"] == ip.p
    if fragment:  # one frame alone never completes its datagram
        assert c["status"] == S.IP_FRAGMENT_INCOMPLETE and c["sport"] == 0 and c["tcp_seq"] == 0
        return
    assert c["status"] == S.OK
    l4 = ip.data
    if isinstance(l4, dpkt.tcp.TCP):
        assert (c["sport"], c["dport"], c["tcp_seq"], c["tcp_ack"]) == (l4.sport, l4.dport, l4.seq, l4.ack)
        assert (c["tcp_flags"], c["tcp_win"]) == (l4.flags, l4.win)
        assert (c["tcp_hdr_len"], c["payload_len"]) == (l4.off * 4, len(l4.data))
        check_tcp_options(t, row, c, dpkt.tcp.parse_opts(l4.opts))
    elif isinstance(l4, dpkt.udp.UDP):
        assert (c["sport"], c["dport"], c["payload_len"]) == (l4.sport, l4.dport, len(l4.data))
    elif isinstance(l4, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
        rows = np.flatnonzero(t.icmp["row"] == row)
        assert rows.shape == (1,)
        i = rows[0]
        assert (int(t.icmp["type"][i]), int(t.icmp["code"][i])) == (l4.type, l4.code)
        if isinstance(l4.data, (dpkt.icmp.ICMP.Echo, dpkt.icmp6.ICMP6.Echo)):
            assert (int(t.icmp["ident"][i]), int(t.icmp["seq"][i])) == (l4.data.id, l4.data.seq)
        # dpkt re-serialises a quoted packet, so take the length from the IP header
        if isinstance(ip, dpkt.ip.IP):
            assert c["payload_len"] == ip.len - ip.hl * 4 - 8
        else:
            assert c["payload_len"] == ip.plen - sum(h.length for h in ip.all_extension_headers) - 8


def check_tcp_options(t, row, c, opts) -> None:
    mss = wscale = ts = None
    sack = []
    for kind, value in opts:
        if kind == dpkt.tcp.TCP_OPT_MSS:
            mss = int.from_bytes(value, "big")
        elif kind == dpkt.tcp.TCP_OPT_WSCALE:
            wscale = value[0]
        elif kind == dpkt.tcp.TCP_OPT_TIMESTAMP:
            ts = (int.from_bytes(value[:4], "big"), int.from_bytes(value[4:], "big"))
        elif kind == dpkt.tcp.TCP_OPT_SACK:
            sack += [(int.from_bytes(value[j:j + 4], "big"), int.from_bytes(value[j + 4:j + 8], "big"))
                     for j in range(0, len(value), 8)]
    if ts is not None:
        assert c["tcp_opts"] & TcpOpt.TIMESTAMP and (c["tcp_tsval"], c["tcp_tsecr"]) == ts
    else:
        assert not c["tcp_opts"] & TcpOpt.TIMESTAMP and c["tcp_tsval"] == c["tcp_tsecr"] == 0
    got_sack = [(int(l), int(r)) for rr, l, r in zip(t.sack["row"], t.sack["left"], t.sack["right"]) if rr == row]
    assert got_sack == sack
    opt_rows = np.flatnonzero(t.tcpopt["row"] == row)
    if mss is None and wscale is None:
        assert opt_rows.shape == (0,)
    else:
        (i,) = opt_rows
        assert (int(t.tcpopt["mss"][i]), int(t.tcpopt["wscale"][i])) == (mss or 0, 255 if wscale is None else wscale)


@given(cst.captures())
def test_reference_decoder_matches_the_builder_and_dpkt(cap):
    t = read_capture(cap.data, "gen")
    assert len(t) == len(cap.frames)
    assert t.stats.warnings == [] and t.stats.stopped_at is None
    assert t["ts_ns"].tolist() == [f.ts_ns for f in cap.frames]
    assert t["iface"].tolist() == [f.iface for f in cap.frames]
    assert t["cap_len"].tolist() == [len(f.data) for f in cap.frames]
    assert t["wire_len"].tolist() == [f.wire_len for f in cap.frames]
    for row, f in enumerate(cap.frames):
        note(f"frame {row + 1}: linktype {f.linktype} {f.data.hex()}")
        if f.linktype == cst.NOT_A_PACKET:
            assert t["status"][row] == S.UNKNOWN_LINKTYPE and t["ip_version"][row] == 0
        elif len(f.data) == f.wire_len:
            check_against_dpkt(t, row, f.linktype, f.data)
        else:  # snaplen-cut: the headers are still whole in these captures, or the cut is named
            assert t["status"][row] in (S.SNAPLEN_CUT, S.TRUNCATED_L4, S.TRUNCATED_IP, S.TRUNCATED_IPV6_EXT,
                                        S.NON_IP, S.IP_FRAGMENT, S.IP_FRAGMENT_INCOMPLETE,
                                        S.BAD_TCP_OPTIONS)


@given(cst.pcap_captures())
def test_pcap_timestamps_and_lengths_match_dpkt_reader(cap):
    import io
    t = read_capture(cap.data, "gen.pcap")
    records = list(dpkt.pcap.Reader(io.BytesIO(cap.data)))
    assert len(records) == len(t)
    for row, (ts, buf) in enumerate(records):
        # dpkt gives a float: equal to within its precision (well under 1 µs here)
        assert abs(float(ts) - int(t["ts_ns"][row]) / 1e9) < 1e-6
        assert len(buf) == int(t["cap_len"][row])


# =====================================================================================
# 2. The two decoders agree
# =====================================================================================

def table_differences(a, b) -> list[str]:
    """Where two PacketTables differ, as readable lines (empty when identical)."""
    out = []
    for name in a.columns:
        x, y = a.columns[name], b.columns[name]
        if x.dtype != y.dtype or x.shape != y.shape:
            out.append(f"column {name}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
        elif not np.array_equal(x, y):
            i = int(np.flatnonzero(x != y)[0])
            out.append(f"column {name}: frame {i + 1}: {x[i]} vs {y[i]}")
    if set(a.columns) != set(b.columns):
        out.append(f"columns {sorted(a.columns)} vs {sorted(b.columns)}")
    for side in ("icmp", "tcpopt", "sack", "payload_index"):
        ta, tb = getattr(a, side), getattr(b, side)
        if list(ta) != list(tb):
            out.append(f"{side}: columns {list(ta)} vs {list(tb)}")
            continue
        for name in ta:
            if ta[name].dtype != tb[name].dtype or not np.array_equal(ta[name], tb[name]):
                out.append(f"{side}.{name}: {ta[name].dtype}{ta[name].tolist()[:20]} vs "
                           f"{tb[name].dtype}{tb[name].tolist()[:20]}")
    if a.ip6_addresses.shape != b.ip6_addresses.shape or not np.array_equal(a.ip6_addresses, b.ip6_addresses):
        out.append(f"ip6_addresses: {[str(ipaddress.IPv6Address(bytes(r))) for r in a.ip6_addresses]} vs "
                   f"{[str(ipaddress.IPv6Address(bytes(r))) for r in b.ip6_addresses]}")
    if a.payload_bytes != b.payload_bytes:
        out.append(f"payload_bytes: {a.payload_bytes[:64]!r} vs {b.payload_bytes[:64]!r}")
    if a.interfaces != b.interfaces:
        out.append(f"interfaces: {a.interfaces} vs {b.interfaces}")
    if a.empty_run != b.empty_run:
        out.append(f"empty_run: {a.empty_run} vs {b.empty_run}")
    for f in dataclasses.fields(a.stats):
        va, vb = getattr(a.stats, f.name), getattr(b.stats, f.name)
        if va != vb or type(va) is not type(vb):
            out.append(f"stats.{f.name}: {va!r} vs {vb!r}")
    return out


def assert_same_outcome(data: bytes) -> None:
    """Both decoders give the same table, or both raise the same InputError."""
    outcomes = []
    compiled = compiled_decoder()
    # both through cnfpost.capture, which applies the same checks to either engine's table
    reference = (lambda data, label: compiled(data, label, engine="python"))
    for decode in (reference, compiled):
        try:
            outcomes.append(decode_guarded(decode, data))
        except InputError as exc:
            outcomes.append(exc)
    ref, comp = outcomes
    if isinstance(ref, InputError) or isinstance(comp, InputError):
        assert str(ref) == str(comp), f"reference: {ref!s} / compiled: {comp!s}"
        return
    diff = table_differences(ref, comp)
    assert not diff, "reference vs compiled:\n" + "\n".join(diff)


def test_compiled_numbers_journal_and_custom_blocks():
    assert_same_outcome(cb.multi_section_pcapng())


@given(cst.captures())
@example(cst.Capture(cb.handshake_get_response(), "pcap", []))
@example(cst.Capture(cb.ip_fragments_udp(), "pcap", []))
def test_decoders_agree_on_valid_captures(cap):
    assert_same_outcome(cap.data)


@given(cst.mutated(cst.captures()))
def test_decoders_agree_on_broken_captures(data):
    note(f"data = bytes.fromhex({data.hex()!r})")
    assert_same_outcome(data)


# =====================================================================================
# 3. Broken input never crashes or hangs
# =====================================================================================

@pytest.mark.parametrize("engine", ["python", "compiled"])
@given(data=st.one_of(cst.mutated(), st.binary(max_size=64),
                      st.binary(max_size=200).map(lambda b: cb.pcap_header() + b),
                      st.binary(max_size=200).map(lambda b: cb.shb() + b)))
def test_broken_captures_only_raise_input_error(engine, data):
    note(f"data = bytes.fromhex({data.hex()!r})")
    decode = read_capture if engine == "python" else compiled_decoder()
    try:
        t = decode_guarded(decode, data)
    except InputError as exc:
        assert str(exc).startswith("fuzz.pcap: byte ")
        return
    # What came back is a consistent table.
    n = len(t)
    assert all(col.shape == (n,) for col in t.columns.values())
    assert t.frame.tolist() == list(range(1, n + 1))
    # identical empty records ending the capture are counted, not stored
    extra = t.empty_run.count if t.empty_run else 0
    assert sum(t.stats.status_counts.values()) == n + extra == t.stats.packets
    assert int(t["cap_len"].sum()) == t.stats.bytes_captured <= len(data)
    for side in (t.icmp, t.tcpopt, t.sack, t.payload_index):
        rows = side["row"]
        assert np.all(rows[:-1] <= rows[1:]) and (rows.shape[0] == 0 or int(rows[-1]) < n)
    ends = t.payload_index["offset"].astype(np.int64) + t.payload_index["length"]
    assert ends.shape[0] == 0 or int(ends.max()) <= len(t.payload_bytes)
    ip6_refs = np.concatenate([t["ip_src"][t["ip_version"] == 6], t["ip_dst"][t["ip_version"] == 6]])
    assert ip6_refs.shape[0] == 0 or int(ip6_refs.max()) < t.ip6_addresses.shape[0]
    if t.stats.stopped_at is not None:
        assert 0 <= t.stats.stopped_at < len(data) and t.stats.warnings
    for w in t.stats.warnings:
        assert w.startswith(("fuzz.pcap: byte ", "fuzz.pcap: expected a link type cnfpost decodes"))
        assert ": expected " in w and ", got " in w


# =====================================================================================
# Reassembly
# =====================================================================================

@st.composite
def fragmented_datagrams(draw):
    """A TCP or UDP datagram (IPv4 or IPv6) cut into random 8-byte-aligned pieces, sent in
    random order with random duplicates; returns (whole packet, fragment packets)."""
    v6 = draw(st.booleans())
    if draw(st.booleans()):
        l4 = draw(cst.tcp_segments())
        proto = cb.IPPROTO_TCP
    else:
        l4 = cb.udp(draw(st.integers(1, 65535)), draw(st.integers(1, 65535)),
                    draw(st.binary(min_size=8, max_size=120)))
        proto = cb.IPPROTO_UDP
    n8 = (len(l4) + 7) // 8  # at least 2: a datagram is 16 bytes or more here
    cuts = sorted(draw(st.sets(st.integers(1, n8 - 1), min_size=1, max_size=4)))
    bounds = [0] + [8 * c for c in cuts] + [len(l4)]
    pieces = [(a, b, b < len(l4)) for a, b in zip(bounds, bounds[1:])]
    pieces = draw(st.permutations(pieces))
    pieces += draw(st.lists(st.sampled_from(pieces), max_size=2))  # duplicates
    ident = draw(st.integers(0, 0xFFFF))
    if v6:
        whole = cb.ipv6(l4, proto)
        frags = [cb.ipv6(l4[a:b], proto, exts=[cb.fragment6(a // 8, more, ident)])
                 for a, b, more in pieces]
    else:
        whole = cb.ipv4(l4, proto, ident=ident, flags=0)
        frags = [cb.ipv4(l4[a:b], proto, ident=ident, flags=cb.MF if more else 0,
                         frag_offset=a // 8) for a, b, more in pieces]
    return whole, frags


@given(fragmented_datagrams())
def test_reassembled_datagram_decodes_as_the_whole_one(case):
    """Whatever the order and the duplicates, the frame that completes the datagram gets
    the transport fields, options and kept bytes of the unfragmented packet; both decoders
    agree on every column."""
    whole, frags = case
    data = cb.pcap([cb.Rec(f, cb.T0 + i) for i, f in enumerate(frags)], cb.LINKTYPE_RAW)
    note(f"data = bytes.fromhex({data.hex()!r})")
    assert_same_outcome(data)
    t = read_capture(data, "frag.pcap")
    one = read_capture(cb.pcap([cb.Rec(whole, cb.T0)], cb.LINKTYPE_RAW), "whole.pcap")
    # Duplicates sent after completion start a new datagram, which may complete again.
    fragments = (S.IP_FRAGMENT, S.IP_FRAGMENT_INCOMPLETE)
    done = np.flatnonzero(~np.isin(t["status"], fragments))
    assert done.shape[0] >= 1
    for row in done.tolist():
        assert t["status"][row] == one["status"][0]
        for name in ("sport", "dport", "tcp_seq", "tcp_ack", "tcp_flags", "tcp_win",
                     "tcp_hdr_len", "tcp_opts", "tcp_tsval", "tcp_tsecr", "payload_len",
                     "ip_proto"):
            assert t[name][row] == one[name][0], name
        assert t.payload(row) == one.payload(0)
