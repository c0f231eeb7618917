"""The decoder test suite, written once and run on both decoders (uvloop's habit).

Every test takes the ``decoder`` fixture: the pure-Python reference
(``cnfpost.decode_py.read_capture``) and the compiled one (``cnfpost.capture.decode_bytes``).
One test per rule of docs/decoding.md and per capbuild scenario; rows are checked field
by field with :func:`assert_row`, which also insists every column not named is 0, so a
stray value in any column fails the test.
"""
from __future__ import annotations

import ipaddress
import struct

import numpy as np
import pytest

from cnfpost.errors import InputError
from cnfpost.model import (
    NO_TIME,
    EmptyRun,
    ICMP_COLUMNS,
    PACKET_COLUMNS,
    PAYLOAD_COLUMNS,
    SACK_COLUMNS,
    TCPOPT_COLUMNS,
    DecodeStatus as S,
    TcpOpt,
)
from tests import capbuild as cb
from tests.capbuild import ACK, FIN, NS, PSH, RST, SYN, T0, Rec
from tests.support import require

CLIENT = cb.ip4_int(cb.CLIENT)
SERVER = cb.ip4_int(cb.SERVER)
# Columns every row has, whatever it holds; assert_row does not require them to be 0.
FRAME_COLUMNS = {"ts_ns", "cap_len", "wire_len", "iface", "status"}


def _compiled_decoder():
    try:
        from cnfpost.capture import decode_bytes
    except ImportError as exc:  # the compiled half is built by `pip install -e .`
        require(False, f"compiled decoder not importable: {exc}")
    return decode_bytes


@pytest.fixture(params=["python", "compiled"])
def decoder(request):
    """decode(data, label) -> PacketTable, by the reference or the compiled decoder."""
    if request.param == "python":
        from cnfpost.decode_py import read_capture
        return read_capture
    return _compiled_decoder()


# --- helpers --------------------------------------------------------------------------

def assert_row(t, i, **expected):
    """Row i has exactly the expected values; every other non-frame column is 0."""
    got = {c.name: int(t.columns[c.name][i]) for c in PACKET_COLUMNS}
    want = {name: 0 for name in got if name not in FRAME_COLUMNS}
    want["status"] = S.OK
    want.update(expected)
    diff = {k: (got[k], v) for k, v in want.items() if got[k] != int(v)}
    assert not diff, f"row {i} (frame {i + 1}): column: (got, expected) {diff}"


def side(table: dict) -> list[dict]:
    """A side table as a list of row dicts, for exact comparison."""
    names = list(table)
    n = len(table[names[0]])
    return [{k: int(table[k][j]) for k in names} for j in range(n)]


def addr6(t, index: int) -> str:
    return str(ipaddress.IPv6Address(bytes(t.ip6_addresses[index])))


def one(decoder, frame: bytes, linktype: int = cb.LINKTYPE_ETHERNET, *, wire_len=None, label="t.pcap"):
    """Decode a one-frame pcap (ts = T0)."""
    return decoder(cb.pcap([Rec(frame, T0, wire_len=wire_len)], linktype), label)


def tcp4(tcp_bytes: bytes, **ip_kw) -> bytes:
    return cb.ether(cb.ipv4(tcp_bytes, cb.IPPROTO_TCP, cb.CLIENT, cb.SERVER, **ip_kw))


def check_empty_side_tables(t):
    for tab, spec in ((t.icmp, ICMP_COLUMNS), (t.tcpopt, TCPOPT_COLUMNS), (t.sack, SACK_COLUMNS),
                      (t.payload_index, PAYLOAD_COLUMNS)):
        assert list(tab) == [name for name, _ in spec]
        for name, dtype in spec:
            assert tab[name].dtype == np.dtype(dtype) and tab[name].shape == (0,)


# =====================================================================================
# File-level errors
# =====================================================================================

def test_not_a_capture_is_an_input_error_with_the_magic(decoder):
    with pytest.raises(InputError) as err:
        decoder(b"<html><body>nope</body></html>", "x.pcap")
    assert str(err.value) == "x.pcap: byte 0: expected a pcap or pcapng magic number, got 0x3c68746d"


def test_empty_file_is_an_input_error(decoder):
    with pytest.raises(InputError) as err:
        decoder(b"", "empty.pcap")
    assert str(err.value) == "empty.pcap: byte 0: expected a pcap or pcapng magic number, got 0 bytes"


def test_legacy_navtel_magic_is_not_a_capture(decoder):
    data = cb.pcap_header(magic=0xA12B3C4D)
    with pytest.raises(InputError) as err:
        decoder(data, "n.pcap")
    assert str(err.value) == "n.pcap: byte 0: expected a pcap or pcapng magic number, got 0x4d3c2ba1"


def test_short_pcap_file_header_is_an_input_error(decoder):
    with pytest.raises(InputError) as err:
        decoder(cb.pcap_header()[:10], "h.pcap")
    assert str(err.value) == "h.pcap: byte 0: expected a 24-byte pcap file header, got 10 bytes"


@pytest.mark.parametrize("size", [4, 8, 11])
def test_pcapng_cut_before_its_byte_order_magic_is_an_input_error(decoder, size):
    data = cb.shb()[:size]
    with pytest.raises(InputError) as err:
        decoder(data, "c.pcapng")
    assert str(err.value) == (f"c.pcapng: byte 8: expected a pcapng byte-order magic 0x1a2b3c4d, "
                              f"got {max(0, size - 8)} bytes")


def test_pcapng_cut_inside_its_first_shb(decoder):
    """The walk stops with this warning. cnfpost.capture, which the compiled fixture goes
    through, turns a file with no readable section into an input error in the same words."""
    data = cb.shb(">")[:20]
    message = "c.pcapng: byte 0: expected 28 bytes of block, got 20"
    try:
        t = decoder(data, "c.pcapng")
    except InputError as err:
        assert str(err) == message
    else:
        assert len(t) == 0 and t.stats.sections == 0 and t.stats.byte_order == "big"
        assert t.stats.warnings == [message]


def test_pcapng_with_bad_first_byte_order_magic_is_an_input_error(decoder):
    data = cb.shb("<", bom=0x11223344) + cb.idb()
    with pytest.raises(InputError) as err:
        decoder(data, "b.pcapng")
    assert str(err.value) == ("b.pcapng: byte 8: expected a pcapng byte-order magic 0x1a2b3c4d, "
                              "got 0x44332211")


# =====================================================================================
# pcap container
# =====================================================================================

@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_syn_then_rst_in_every_pcap_flavour(decoder, endian, nano):
    data = cb.syn_then_rst(endian, nano)
    t = decoder(data, "syn_then_rst.pcap")
    assert len(t) == 2 and t.frame.tolist() == [1, 2]
    assert t["ts_ns"].tolist() == [T0 + 1_000, T0 + 1_501_000]
    syn_len = 14 + 20 + 40
    assert_row(t, 0, ts_ns=T0 + 1_000, cap_len=syn_len, wire_len=syn_len, ip_version=4,
               ip_proto=6, ip_ttl=64, ip_id=0x1234, ip_frag=0x4000, ip_src=CLIENT, ip_dst=SERVER,
               sport=40000, dport=80, tcp_seq=1000, tcp_flags=SYN, tcp_win=64240, tcp_hdr_len=40,
               tcp_opts=TcpOpt.MSS | TcpOpt.SACK_PERM | TcpOpt.TIMESTAMP | TcpOpt.WSCALE,
               tcp_tsval=111, tcp_tsecr=0)
    assert_row(t, 1, ts_ns=T0 + 1_501_000, cap_len=54, wire_len=54, ip_version=4, ip_proto=6,
               ip_ttl=64, ip_id=0x1234, ip_frag=0x4000, ip_src=SERVER, ip_dst=CLIENT, sport=80,
               dport=40000, tcp_ack=1001, tcp_flags=RST | ACK, tcp_hdr_len=20)
    assert side(t.tcpopt) == [{"row": 0, "mss": 1460, "wscale": 7}]
    assert side(t.sack) == [] and side(t.icmp) == [] and side(t.payload_index) == []
    st = t.stats
    assert (st.path, st.format, st.sections, st.packets) == ("syn_then_rst.pcap", "pcap", 1, 2)
    assert st.byte_order == ("little" if endian == "<" else "big")
    assert st.ts_precision == ("nano" if nano else "micro")
    assert (st.bytes_captured, st.bytes_on_wire, st.file_bytes) == (128, 128, len(data))
    assert st.status_counts == {"OK": 2} and st.warnings == [] and st.stopped_at is None
    assert st.skipped_blocks == {}
    (iface,) = t.interfaces
    assert (iface.section, iface.index, iface.link_type, iface.snaplen, iface.packets) == (0, 0, 1, 262144, 2)
    assert iface.ts_resolution == (10**9 if nano else 10**6) and not iface.unknown_link_type


def test_column_dtypes_follow_the_model(decoder):
    t = decoder(cb.syn_then_rst(), "x.pcap")
    for col in PACKET_COLUMNS:
        assert t.columns[col.name].dtype == np.dtype(col.dtype), col.name
    assert t.ip6_addresses.dtype == np.uint8 and t.ip6_addresses.shape == (0, 16)


def test_header_only_pcap_is_an_empty_table(decoder):
    t = decoder(cb.pcap_header(), "empty.pcap")
    assert len(t) == 0 and t.stats.packets == 0 and t.stats.warnings == []
    assert t.stats.status_counts == {}
    check_empty_side_tables(t)
    assert t.payload_bytes == b""


def test_nanosecond_fraction_is_taken_exactly(decoder):
    data = cb.pcap_header(nano=True) + cb.pcap_record(cb.seg(SYN, 1), 1_700_000_000, 999_999_999)
    assert decoder(data, "n.pcap")["ts_ns"].tolist() == [1_700_000_000_999_999_999]


def test_ts_sec_is_unsigned(decoder):
    # 0xFFFFFFFF seconds is 2106-02-07, not -1.
    data = cb.pcap_header() + cb.pcap_record(cb.seg(SYN, 1), 0xFFFFFFFF, 5)
    assert decoder(data, "u.pcap")["ts_ns"].tolist() == [0xFFFFFFFF * 10**9 + 5000]


@pytest.mark.parametrize("endian", ["<", ">"])
def test_kuznetzov_records_have_24_byte_headers(decoder, endian):
    data = cb.pcap([Rec(cb.seg(SYN, 1), T0), Rec(cb.seg(ACK, 2, 3), T0 + 7000)], endian=endian,
                   kuznetzov=True)
    t = decoder(data, "k.pcap")
    assert t["tcp_seq"].tolist() == [1, 2] and t["tcp_ack"].tolist() == [0, 3]
    assert t["ts_ns"].tolist() == [T0, T0 + 7000]
    assert t.stats.ts_precision == "micro" and t.stats.warnings == []


def test_kuznetzov_short_record_header_warning_says_24(decoder):
    data = cb.pcap([Rec(cb.seg(SYN, 1), T0)], kuznetzov=True)
    t = decoder(data + b"\0" * 20, "k.pcap")
    assert len(t) == 1
    assert t.stats.warnings == [f"k.pcap: byte {len(data)}: expected a 24-byte record header, got 20 bytes"]


def test_linktype_fcs_bits_are_ignored(decoder):
    # LinkType word: FCS present (bit 26) with 2 words of FCS (bits 28-31) on Ethernet.
    data = cb.pcap([Rec(cb.seg(SYN, 9), T0)], 1 | (1 << 26) | (2 << 28))
    t = decoder(data, "fcs.pcap")
    assert t.interfaces[0].link_type == 1 and t["tcp_seq"].tolist() == [9]


def test_cut_mid_record_keeps_every_complete_packet(decoder):
    data, cut_at = cb.cut_mid_record()
    t = decoder(data, "cut.pcap")
    assert len(t) == 2 and t["tcp_seq"].tolist() == [1000, 0]
    assert t.stats.warnings == [
        f"cut.pcap: byte {cut_at}: expected 54 bytes of packet data, got 10 (file cut off mid-record)"]
    assert t.stats.stopped_at == cut_at


def test_short_record_header_at_the_end(decoder):
    whole = cb.syn_then_rst()
    t = decoder(whole + b"\x01" * 7, "s.pcap")
    assert len(t) == 2
    assert t.stats.warnings == [f"s.pcap: byte {len(whole)}: expected a 16-byte record header, got 7 bytes"]
    assert t.stats.stopped_at == len(whole)


def test_corrupt_record_length_stops_the_walk(decoder):
    whole = cb.syn_then_rst()
    bad = cb.pcap_record(b"\0" * 64, caplen=262145)
    t = decoder(whole + bad + cb.pcap_record(cb.seg(SYN, 5)), "c.pcap")
    assert len(t) == 2
    assert t.stats.warnings == [
        f"c.pcap: byte {len(whole)}: expected a record length of at most 262144, got 262145"]
    assert t.stats.stopped_at == len(whole)


def test_gigantic_caplen(decoder):
    data = cb.pcap_header(snaplen=10**6) + cb.pcap_record(b"", caplen=0xFFFFFFF0)
    t = decoder(data, "g.pcap")
    assert len(t) == 0
    assert t.stats.warnings == ["g.pcap: byte 24: expected a record length of at most 1000000, got 4294967280"]


def test_caplen_up_to_a_large_snaplen_is_accepted(decoder):
    # A GRO super-segment bigger than 64 KiB: IPv4 total length 0, the wire says how long.
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK, payload=b"j" * 300_000), total_len=0)
    t = decoder(cb.pcap([Rec(frame, T0)], snaplen=400_000), "jumbo.pcap")
    assert t.stats.warnings == []
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), **v4_fixed(), sport=1,
               dport=2, tcp_seq=3, tcp_ack=4, tcp_flags=ACK, tcp_win=64240, tcp_hdr_len=20,
               payload_len=300_000)


def test_zero_caplen_is_a_frame(decoder):
    data = cb.pcap_header() + cb.pcap_record(b"", 5, 0, wire_len=60) + cb.pcap_record(cb.seg(SYN, 3), 6, 0)
    t = decoder(data, "z.pcap")
    assert len(t) == 2
    assert_row(t, 0, ts_ns=5 * 10**9, cap_len=0, wire_len=60, status=S.ZERO_CAPLEN)
    assert t["tcp_seq"][1] == 3 and t["status"][1] == S.OK
    assert t.stats.status_counts == {"OK": 1, "ZERO_CAPLEN": 1}
    assert t.interfaces[0].packets == 2 and t.empty_run is None


def test_empty_records_ending_a_capture_cost_no_row(decoder):
    """A pcap header then zeros: every 16 zero bytes is an empty record (tshark shows each
    as a frame of length 0). Runs of identical ones that end the capture are counted; runs
    followed by a record with bytes get their rows (row numbers are frame numbers - 1)."""
    zeros = cb.pcap_header() + b"\0" * 16 * 1000
    t = decoder(zeros, "zeros.pcap")
    assert len(t) == 0 and t.empty_run == EmptyRun(1000, 0, 0, 0)
    assert t.stats.packets == 1000 and t.stats.status_counts == {"ZERO_CAPLEN": 1000}
    assert t.interfaces[0].packets == 1000 and t.stats.warnings == []
    empty = [cb.pcap_record(b"", 5, 0, wire_len=60)] * 3 + [cb.pcap_record(b"", 6, 0)] * 2
    packet = cb.pcap_record(cb.seg(SYN, 3), 7, 0)
    data = cb.pcap_header() + b"".join(empty) + packet + b"".join(empty)
    t = decoder(data, "z.pcap")
    assert t["status"].tolist() == [S.ZERO_CAPLEN] * 5 + [S.OK] + [S.ZERO_CAPLEN] * 3
    assert t["ts_ns"].tolist()[:5] == [5 * 10**9] * 3 + [6 * 10**9] * 2
    assert t["wire_len"].tolist()[:5] == [60, 60, 60, 0, 0]
    # only the last run of identical records is counted; the run before it gets rows
    assert t.empty_run == EmptyRun(2, 6 * 10**9, 0, 0)
    assert len(t) == 6 + 3 and t.stats.packets == 11 and t.stats.bytes_on_wire == 6 * 60 + 54


def test_unknown_link_type_in_pcap(decoder):
    t = decoder(cb.pcap([Rec(b"\x01\x02\x03", T0), Rec(b"", T0)], 147), "u.pcap")
    assert_row(t, 0, ts_ns=T0, cap_len=3, wire_len=3, status=S.UNKNOWN_LINKTYPE)
    # zero caplen comes first; it ends the capture, so it is counted, not stored
    assert len(t) == 1 and t.empty_run == EmptyRun(1, T0, 0, 0)
    assert t.stats.packets == 2
    assert t.stats.status_counts == {"UNKNOWN_LINKTYPE": 1, "ZERO_CAPLEN": 1}
    assert t.interfaces[0].unknown_link_type and t.interfaces[0].packets == 2
    assert t.interfaces[0].link_type_name == "LINKTYPE_147"
    assert t.stats.warnings == ["u.pcap: expected a link type cnfpost decodes on interface 0, "
                                "got LINKTYPE_147 (2 frames counted, not decoded)"]


# =====================================================================================
# pcapng container
# =====================================================================================

def test_multi_section_pcapng(decoder):
    data = cb.multi_section_pcapng()
    t = decoder(data, "m.pcapng")
    # Frames 3 and 6 are the custom blocks, numbered as Wireshark 4.0 numbers them.
    assert len(t) == 6
    assert t["iface"].tolist() == [0, 1, 65535, 2, 3, 65535]
    # if_tsresol 9 (ns); 2^-20 s with if_tsoffset 100; SPB has no time; PB on µs.
    assert t["ts_ns"].tolist() == [T0, T0 + 100 * 10**9, NO_TIME, NO_TIME, T0, NO_TIME]
    assert t["status"].tolist() == [S.OK, S.OK, S.UNKNOWN_LINKTYPE, S.OK, S.OK, S.UNKNOWN_LINKTYPE]
    assert t["cap_len"].tolist()[2::3] == [8, 8] and t["wire_len"].tolist()[2::3] == [8, 8]
    assert t["ip_version"].tolist() == [4, 4, 0, 6, 4, 0]
    assert t["ip_proto"].tolist() == [6, 17, 0, 6, 1, 0]
    assert t["sport"].tolist() == [1111, 2222, 0, 3333, 0, 0]
    assert [(i.section, i.index, i.link_type, i.ts_resolution, i.ts_offset_s, i.name, i.packets)
            for i in t.interfaces] == [
        (0, 0, 1, 10**9, 0, "eth0", 1), (0, 1, 228, 2**20, 100, None, 1),
        (1, 0, 276, 10**6, 0, None, 1), (1, 1, 0, 10**6, 0, "lo0", 1)]
    st = t.stats
    assert (st.format, st.byte_order, st.sections, st.ts_precision) == ("pcapng", "little", 2, "")
    assert st.skipped_blocks == {"NRB": 1, "DSB": 1, "ISB": 1, "custom": 2, "unknown": 1}
    assert st.warnings == [] and st.stopped_at is None and st.file_bytes == len(data)
    assert side(t.icmp) == [dict(row=4, type=8, code=0, ident=5, seq=6, version=4, q_ip_version=0,
                                 q_proto=0, q_src=0, q_dst=0, q_sport=0, q_dport=0, q_tcp_seq=0)]
    assert addr6(t, t["ip_src"][3]) == "2001:db8::1"
    assert t.payload(1)[:2] == b"\x12\x34"  # the DNS query is kept (UDP port 53)


@pytest.mark.parametrize("tsresol, ts, want_ns", [
    (None, 1_500_000, 1_500_000_000),           # default: µs
    (3, 1_500, 1_500_000_000),                  # ms
    (9, 1_500_000_123, 1_500_000_123),          # ns
    (0, 2, 2_000_000_000),                      # s
    (0x80 | 10, 1024 * 3 + 512, 3_500_000_000),  # 2^-10 s
    (0x80 | 30, 3, 2),                          # 3 * 2^-30 s = 2.79 ns, floored
    (12, 1_000_000_000_999, 1_000_000_000),     # ps, floored
])
def test_if_tsresol(decoder, tsresol, ts, want_ns):
    data = cb.shb() + cb.idb(tsresol=tsresol) + cb.epb(cb.seg(SYN, 1), ts)
    t = decoder(data, "r.pcapng")
    assert t["ts_ns"].tolist() == [want_ns]
    assert t.interfaces[0].ts_resolution == (10**6 if tsresol is None else
                                             2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol)


def test_if_tsoffset_negative(decoder):
    data = cb.shb(">") + cb.idb(endian=">", tsoffset=-3) + cb.epb(cb.seg(SYN, 1), 5_000_001, endian=">")
    t = decoder(data, "o.pcapng")
    assert t["ts_ns"].tolist() == [2_000_001_000] and t.interfaces[0].ts_offset_s == -3


def test_if_tsresol_with_wrong_length_is_ignored(decoder):
    data = cb.shb() + cb.idb(extra_opts=[(9, b"\x09\x09")]) + cb.epb(cb.seg(SYN, 1), 7)
    t = decoder(data, "r.pcapng")
    assert t.interfaces[0].ts_resolution == 10**6 and t["ts_ns"].tolist() == [7000]


def test_bad_idb_option_length_ends_the_walk_but_keeps_the_idb(decoder):
    # if_name first, then an option claiming 200 bytes, then if_tsresol that is never read.
    body = (struct.pack("<HHI", 1, 0, 0) + cb.option(2, b"eth9") + struct.pack("<HH", 3, 200)
            + cb.option(9, b"\x09") + b"\0\0\0\0")
    data = cb.shb() + cb.block(cb.BT_IDB, body) + cb.epb(cb.seg(SYN, 1), 7)
    t = decoder(data, "i.pcapng")
    assert t.interfaces[0].name == "eth9" and t.interfaces[0].ts_resolution == 10**6
    assert t["ts_ns"].tolist() == [7000] and t["status"].tolist() == [S.OK]


def test_empty_if_name_is_no_name(decoder):
    data = cb.shb() + cb.idb(extra_opts=[(2, b"")])
    assert decoder(data, "n.pcapng").interfaces[0].name is None


def test_if_name_stops_at_nul(decoder):
    data = cb.shb() + cb.idb(extra_opts=[(2, b"wlan0\0junk")])
    assert decoder(data, "n.pcapng").interfaces[0].name == "wlan0"


def test_journal_and_custom_blocks_take_a_frame_number(decoder):
    # tshark 4.0.17 on this file: frames 1..5 = TCP, journal (49 bytes, its realtime
    # timestamp), TCP, custom (8 bytes), TCP; ISB/NRB/DSB take no number.
    entry = b"__REALTIME_TIMESTAMP=1700000000000001\nMESSAGE=hi\n"
    data = (cb.shb() + cb.idb() + cb.epb(cb.seg(SYN, 1), 1) + cb.block(cb.BT_JOURNAL, entry)
            + cb.epb(cb.seg(SYN, 2), 2) + cb.custom_block() + cb.epb(cb.seg(SYN, 3), 3)
            + cb.isb() + cb.nrb() + cb.dsb() + cb.block(cb.BT_CUSTOM, b"\0\0\x7e\xd9"))
    t = decoder(data, "j.pcapng")
    assert t["tcp_seq"].tolist() == [1, 0, 2, 0, 3]
    assert_row(t, 1, ts_ns=1_700_000_000_000_001_000, cap_len=49, wire_len=49, iface=65535,
               status=S.UNKNOWN_LINKTYPE)
    assert_row(t, 3, ts_ns=NO_TIME, cap_len=8, wire_len=8, iface=65535, status=S.UNKNOWN_LINKTYPE)
    assert t.empty_run == EmptyRun(1, NO_TIME, 0, 65535)  # the empty custom block, frame 6
    assert t.stats.skipped_blocks == {"journal": 1, "custom": 2, "ISB": 1, "NRB": 1, "DSB": 1}
    assert t.interfaces[0].packets == 3 and t.stats.warnings == []


def test_journal_block_without_a_timestamp(decoder):
    data = cb.shb() + cb.block(cb.BT_JOURNAL, b"MESSAGE=no time\n")
    t = decoder(data, "j.pcapng")
    assert_row(t, 0, ts_ns=NO_TIME, cap_len=16, wire_len=16, iface=65535, status=S.UNKNOWN_LINKTYPE)


def test_unknown_interface_id(decoder):
    data = cb.shb() + cb.idb() + cb.epb(cb.seg(SYN, 1), 5_000_000, iface=3)
    t = decoder(data, "u.pcapng")
    assert_row(t, 0, ts_ns=5_000_000_000, cap_len=54, wire_len=54, iface=65535, status=S.UNKNOWN_LINKTYPE)
    assert t.interfaces[0].packets == 0


def test_unknown_link_type_counted_per_interface(decoder):
    data = (cb.shb() + cb.idb(1) + cb.idb(147, name="usb0")
            + cb.epb(cb.seg(SYN, 1), 1, 0) + cb.epb(b"\x00" * 30, 2, 1) + cb.epb(b"\x00" * 31, 3, 1))
    t = decoder(data, "u.pcapng")
    assert t["status"].tolist() == [S.OK, S.UNKNOWN_LINKTYPE, S.UNKNOWN_LINKTYPE]
    assert [(i.packets, i.unknown_link_type) for i in t.interfaces] == [(1, False), (2, True)]
    assert t.stats.status_counts == {"OK": 1, "UNKNOWN_LINKTYPE": 2}
    assert t.stats.warnings == ["u.pcapng: expected a link type cnfpost decodes on interface 1, "
                                "got LINKTYPE_147 (2 frames counted, not decoded)"]


def test_interfaces_declared_without_packets_are_listed(decoder):
    data = cb.shb() + cb.idb(147) + cb.idb(1)
    t = decoder(data, "d.pcapng")
    assert len(t) == 0 and [(i.unknown_link_type, i.packets) for i in t.interfaces] == [(True, 0), (False, 0)]
    assert t.stats.warnings == []  # nothing was left undecoded


def test_epb_caplen_larger_than_the_block_is_clamped(decoder):
    frame = cb.seg(SYN, 1)
    blk = cb.epb(frame, 1, caplen=len(frame) + 100)
    data = cb.shb() + cb.idb() + blk
    t = decoder(data, "e.pcapng")
    room = len(blk) - 12 - 20
    assert t["cap_len"].tolist() == [room]
    assert t.stats.warnings == [
        f"e.pcapng: byte {len(cb.shb() + cb.idb())}: expected a captured length of at most {room}, "
        f"got {len(frame) + 100}"]
    assert t.stats.stopped_at is None


@pytest.mark.parametrize("snaplen, wire_len, want_cap", [(60, None, 60), (0, None, 74), (100, 50, 50)])
def test_spb_caplen(decoder, snaplen, wire_len, want_cap):
    frame = cb.seg(SYN, 1, opts=cb.opt_ts(1, 2) + cb.NOP + cb.NOP + cb.opt_mss(1) + cb.opt_mss(2))
    assert len(frame) == 74
    data = cb.shb() + cb.idb(snaplen=snaplen) + cb.spb(frame, wire_len=wire_len)
    t = decoder(data, "s.pcapng")
    assert t["cap_len"].tolist() == [want_cap] and t["ts_ns"].tolist() == [NO_TIME]
    assert t["wire_len"].tolist() == [74 if wire_len is None else wire_len]


def test_spb_without_an_idb(decoder):
    t = decoder(cb.shb() + cb.spb(cb.seg(SYN, 1)), "s.pcapng")
    assert_row(t, 0, ts_ns=NO_TIME, cap_len=54, wire_len=54, iface=65535, status=S.UNKNOWN_LINKTYPE)


def test_obsolete_packet_block(decoder):
    data = cb.shb(">") + cb.idb(endian=">", tsresol=9) + cb.pb(cb.seg(FIN | ACK, 77, 78), 123, 0, ">")
    t = decoder(data, "p.pcapng")
    assert t["ts_ns"].tolist() == [123] and t["tcp_seq"].tolist() == [77] and t["tcp_flags"][0] == FIN | ACK


def test_interface_ids_restart_per_section(decoder):
    data = (cb.shb() + cb.idb(1) + cb.shb(">") + cb.idb(101, ">")
            + cb.epb(cb.ipv4(cb.udp(7, 8), cb.IPPROTO_UDP), 0, 0, ">"))
    t = decoder(data, "r.pcapng")
    assert t["iface"].tolist() == [1] and t["dport"].tolist() == [8]
    assert t.interfaces[1].section == 1 and t.interfaces[1].index == 0
    assert t.stats.byte_order == "little" and t.stats.sections == 2


def test_pcapng_block_cut_off(decoder):
    head = cb.shb() + cb.idb()
    blk = cb.epb(cb.seg(SYN, 1), 1)
    t = decoder(head + cb.epb(cb.seg(SYN, 2), 1) + blk[:50], "c.pcapng")
    at = len(head) + len(blk)
    assert t["tcp_seq"].tolist() == [2]
    assert t.stats.warnings == [f"c.pcapng: byte {at}: expected {len(blk)} bytes of block, got 50"]
    assert t.stats.stopped_at == at


def test_pcapng_short_block_header(decoder):
    head = cb.shb() + cb.idb()
    t = decoder(head + b"\x06\0\0\0\x20", "c.pcapng")
    assert t.stats.warnings == [f"c.pcapng: byte {len(head)}: expected an 8-byte block header, got 5 bytes"]


@pytest.mark.parametrize("length", [8, 30, 0])
def test_pcapng_bad_block_length(decoder, length):
    head = cb.shb() + cb.idb()
    t = decoder(head + cb.block(cb.BT_EPB, b"\0" * 40, total_length=length), "l.pcapng")
    assert len(t) == 0
    assert t.stats.warnings == [f"l.pcapng: byte {len(head)}: expected a block length that is a multiple "
                                f"of 4 and at least 12, got {length}"]
    assert t.stats.stopped_at == len(head)


def test_pcapng_trailing_length_mismatch(decoder):
    head = cb.shb() + cb.idb()
    blk = cb.block(cb.BT_EPB, b"\0" * 40, trailer=999)
    t = decoder(head + blk, "t.pcapng")
    assert t.stats.warnings == [f"t.pcapng: byte {len(head)}: expected a trailing block length of 52, got 999"]


def test_pcapng_epb_too_short(decoder):
    head = cb.shb() + cb.idb()
    t = decoder(head + cb.block(cb.BT_EPB, b"\0" * 8), "t.pcapng")
    assert t.stats.warnings == [f"t.pcapng: byte {len(head)}: expected an EPB of at least 32 bytes, got 20"]


@pytest.mark.parametrize("btype, body, what", [
    (cb.BT_IDB, b"\1\0\0\0", "an IDB of at least 20 bytes, got 16"),
    (cb.BT_PB, b"\0" * 16, "a PB of at least 32 bytes, got 28"),
    (cb.BT_SPB, b"", "an SPB of at least 16 bytes, got 12"),
    (cb.BT_SHB, struct.pack("<I", 0x1A2B3C4D) + b"\1\0\0\0", "an SHB of at least 28 bytes, got 20"),
])
def test_pcapng_blocks_too_short_for_their_fields(decoder, btype, body, what):
    head = cb.shb() + cb.idb() + cb.epb(cb.seg(SYN, 1), 1)
    t = decoder(head + cb.block(btype, body) + cb.epb(cb.seg(SYN, 2), 1), "s.pcapng")
    assert t["tcp_seq"].tolist() == [1]
    assert t.stats.warnings == [f"s.pcapng: byte {len(head)}: expected {what}"]
    assert t.stats.stopped_at == len(head)


def test_pcapng_bad_byte_order_magic_in_a_later_section(decoder):
    first = cb.shb() + cb.idb() + cb.epb(cb.seg(SYN, 1), 1)
    t = decoder(first + cb.shb(bom=0xDEADBEEF) + cb.idb(), "s.pcapng")
    assert len(t) == 1
    assert t.stats.warnings == [
        f"s.pcapng: byte {len(first)}: expected a pcapng byte-order magic 0x1a2b3c4d, got 0xefbeadde"]
    assert t.stats.stopped_at == len(first) and t.stats.sections == 1


def test_epb_options_and_padding_are_skipped(decoder):
    frame = cb.seg(SYN, 1)[:53]  # odd length: 3 pad bytes
    data = cb.shb() + cb.idb() + cb.epb(frame, 1, wire_len=54, opts=[(2, b"\x01\0\0\0"), (1, b"hello")])
    t = decoder(data, "o.pcapng")
    assert t["cap_len"].tolist() == [53] and t["status"].tolist() == [S.TRUNCATED_L4]


# =====================================================================================
# Link layers
# =====================================================================================

V4_TCP = cb.ipv4(cb.tcp(1234, 80, 5, 0, SYN), cb.IPPROTO_TCP, cb.CLIENT, cb.SERVER)
V6_TCP = cb.ipv6(cb.tcp(1234, 80, 5, 0, SYN), cb.IPPROTO_TCP)


@pytest.mark.parametrize("name, linktype, frame, version", [
    ("ethernet4", 1, cb.ether(V4_TCP), 4),
    ("ethernet6", 1, cb.ether(V6_TCP, cb.ETHERTYPE_IPV6), 6),
    ("dot1q", 1, cb.ether(V4_TCP, vlans=[(0x8100, 5)]), 4),
    ("qinq", 1, cb.ether(V6_TCP, cb.ETHERTYPE_IPV6, vlans=[(0x88A8, 5), (0x8100, 6)]), 6),
    ("old_qinq", 1, cb.ether(V4_TCP, vlans=[(0x9100, 5), (0x8100, 6)]), 4),
    ("null_le", 0, cb.null(V4_TCP, 2, "<"), 4),
    ("null_be", 0, cb.null(V4_TCP, 2, ">"), 4),
    ("null_v6_24", 0, cb.null(V6_TCP, 24), 6),
    ("null_v6_28", 0, cb.null(V6_TCP, 28, ">"), 6),
    ("null_v6_30", 0, cb.null(V6_TCP, 30), 6),
    ("loop", 108, cb.loop(V4_TCP), 4),
    ("loop6", 108, cb.loop(V6_TCP, 24), 6),
    ("raw101", 101, V4_TCP, 4),
    ("raw101_6", 101, V6_TCP, 6),
    ("raw12", 12, V6_TCP, 6),
    ("raw14", 14, V4_TCP, 4),
    ("ipv4", 228, V4_TCP, 4),
    ("ipv6", 229, V6_TCP, 6),
    ("sll", 113, cb.sll(V4_TCP), 4),
    ("sll6", 113, cb.sll(V6_TCP, cb.ETHERTYPE_IPV6, pkttype=4), 6),
    ("sll2", 276, cb.sll2(V4_TCP), 4),
    ("sll2_6", 276, cb.sll2(V6_TCP, cb.ETHERTYPE_IPV6, hatype=772), 6),
])
def test_link_layers(decoder, name, linktype, frame, version):
    t = one(decoder, frame, linktype)
    common = dict(ts_ns=T0, cap_len=len(frame), wire_len=len(frame), ip_version=version, ip_proto=6,
                  ip_ttl=64, sport=1234, dport=80, tcp_seq=5, tcp_flags=SYN, tcp_win=64240,
                  tcp_hdr_len=20)
    if version == 4:
        assert_row(t, 0, ip_src=CLIENT, ip_dst=SERVER, ip_id=0x1234, ip_frag=0x4000, **common)
    else:
        assert_row(t, 0, ip_src=0, ip_dst=1, **common)
        assert [addr6(t, 0), addr6(t, 1)] == ["2001:db8::1", "2001:db8::2"]
    assert t.interfaces[0].link_type == linktype and not t.interfaces[0].unknown_link_type


@pytest.mark.parametrize("linktype, frame, status", [
    (1, cb.ether(b"")[:13], S.TRUNCATED_LINK),
    (1, cb.ether(b"", vlans=[(0x8100, 1)])[:16], S.TRUNCATED_LINK),
    (1, cb.ether(b"\0" * 28, cb.ETHERTYPE_ARP), S.NON_IP),
    (1, cb.ether(b"\0" * 28, 0x0026), S.NON_IP),  # 802.3 length field
    (1, cb.ether(V6_TCP), S.BAD_IP_VERSION),       # IPv4 ethertype, IPv6 packet
    (0, b"\x02\0\0", S.TRUNCATED_LINK),
    (0, cb.null(V4_TCP, 7), S.NON_IP),
    (108, cb.loop(V4_TCP, 0x02000000), S.NON_IP),  # LOOP is always network order
    (101, b"\x50" + V4_TCP[1:], S.BAD_IP_VERSION),
    (228, V6_TCP, S.BAD_IP_VERSION),
    (229, V4_TCP, S.BAD_IP_VERSION),
    (113, cb.sll(b"")[:15], S.TRUNCATED_LINK),
    (113, cb.sll(b"\0" * 30, cb.ETHERTYPE_ARP), S.NON_IP),
    (276, cb.sll2(b"")[:19], S.TRUNCATED_LINK),
    (276, cb.sll2(b"\0" * 30, 0x0003), S.NON_IP),
])
def test_link_layer_problems(decoder, linktype, frame, status):
    t = one(decoder, frame, linktype)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), status=status)
    assert t.stats.status_counts == {status.name: 1}


def test_mpls_label_stacks(decoder):
    """Wireshark 4.0 reads IPv4 or IPv6 by the first nibble after the bottom label, except
    under GAL or OAM Alert (checked against tshark in test_decode_tshark)."""
    t = decoder(cb.mpls_stacks(), "mpls.pcap")
    assert t["status"].tolist() == [S.OK, S.OK, S.OK, S.OK, S.NON_IP, S.OK, S.NON_IP, S.NON_IP,
                                    S.TRUNCATED_LINK, S.TRUNCATED_LINK, S.TRUNCATED_LINK, S.OK]
    assert t["ip_version"].tolist() == [4, 4, 6, 4, 0, 4, 0, 0, 0, 0, 0, 4]
    assert t["sport"].tolist() == [1234, 1234, 1000, 1234, 0, 1234, 0, 0, 0, 0, 0, 1234]
    frame = cb.ether(cb.mpls(V4_TCP, [16, 17, 18]), cb.ETHERTYPE_MPLS)
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), ip_version=4, ip_proto=6,
               ip_ttl=64, ip_id=0x1234, ip_frag=0x4000, ip_src=CLIENT, ip_dst=SERVER, sport=1234,
               dport=80, tcp_seq=5, tcp_flags=SYN, tcp_win=64240, tcp_hdr_len=20)


def test_mpls_behind_cooked_headers(decoder):
    t = decoder(cb.mpls_cooked(), "mpls.pcapng")
    assert t["status"].tolist() == [S.OK, S.OK]
    assert t["ip_version"].tolist() == [4, 6] and t["sport"].tolist() == [1234, 1234]


# =====================================================================================
# IPv4
# =====================================================================================

def v4_fixed(**kw):
    base = dict(ip_version=4, ip_proto=6, ip_ttl=64, ip_id=0x1234, ip_frag=0x4000, ip_src=CLIENT,
                ip_dst=SERVER)
    base.update(kw)
    return base


def test_ipv4_options_move_the_tcp_header(decoder):
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK, payload=b"abc"), opts=b"\x94\x04\0\0" + b"\x01\x01\x01\x00")
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), **v4_fixed(),
               sport=1, dport=2, tcp_seq=3, tcp_ack=4, tcp_flags=ACK, tcp_win=64240, tcp_hdr_len=20,
               payload_len=3)


def test_bogus_ihl(decoder):
    # tshark 4.0 shows ip.version and ip.hdr_len, nothing after them
    frame = tcp4(cb.tcp(), ihl=3)
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), status=S.BAD_IP_HEADER_LEN,
               ip_version=4)


@pytest.mark.parametrize("total, opts", [(19, b""), (12, b""), (22, b"\1\1\1\1")])
def test_total_length_below_header(decoder, total, opts):
    # tshark 4.0: "Bogus IP length", no ip.id, ip.ttl, ip.proto nor addresses
    frame = tcp4(cb.tcp(), total_len=total, opts=opts)
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), status=S.BOGUS_IP_LENGTH,
               ip_version=4)


def test_total_length_beyond_the_wire_is_clamped_and_decoding_goes_on(decoder):
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK, payload=b"p" * 10), total_len=1000)
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), status=S.BAD_IP_TOTAL_LEN,
               **v4_fixed(), sport=1, dport=2, tcp_seq=3, tcp_ack=4, tcp_flags=ACK, tcp_win=64240,
               tcp_hdr_len=20, payload_len=10)


def test_truncated_ipv4_header(decoder):
    frame = tcp4(cb.tcp())[:14 + 19]
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=33, wire_len=33, status=S.TRUNCATED_IP)


def test_ipv4_cut_inside_options(decoder):
    full = tcp4(cb.tcp(), opts=b"\x01" * 8)
    t = one(decoder, full[:14 + 24], wire_len=len(full))
    assert_row(t, 0, ts_ns=T0, cap_len=38, wire_len=len(full), status=S.TRUNCATED_IP, **v4_fixed())


def test_tso_total_length_zero(decoder):
    t = decoder(cb.tso_total_len_zero(), "tso.pcap")
    n = 14 + 20 + 20 + 2736
    assert_row(t, 0, ts_ns=T0, cap_len=n, wire_len=n, **v4_fixed(), sport=40000, dport=80, tcp_seq=1,
               tcp_ack=1, tcp_flags=ACK, tcp_win=64240, tcp_hdr_len=20, payload_len=2736)


def test_snaplen_cut(decoder):
    t = decoder(cb.snaplen_cut(64), "snap.pcap")
    assert_row(t, 0, ts_ns=T0, cap_len=64, wire_len=1054, status=S.SNAPLEN_CUT, **v4_fixed(),
               sport=40000, dport=80, tcp_seq=1, tcp_ack=1, tcp_flags=PSH | ACK, tcp_win=64240,
               tcp_hdr_len=20, payload_len=1000)
    assert t.stats.status_counts == {"SNAPLEN_CUT": 1}


def test_ethernet_trailer_is_not_snaplen_cut_nor_payload(decoder):
    # A bare ACK padded to the 60-byte Ethernet minimum.
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK)) + b"\0" * 6
    t = one(decoder, frame)
    assert t["status"].tolist() == [S.OK] and t["payload_len"].tolist() == [0]


def test_ip_fragments(decoder):
    # As Wireshark 4.0: the first fragment shows no UDP; the frame completing the datagram
    # carries the datagram's UDP header and its whole length.
    t = decoder(cb.ip_fragments_udp(), "frag.pcap")
    assert_row(t, 0, ts_ns=T0, cap_len=58, wire_len=58, status=S.IP_FRAGMENT, ip_version=4,
               ip_proto=17, ip_ttl=64, ip_id=77, ip_frag=0x2000, ip_src=CLIENT, ip_dst=SERVER,
               payload_len=24)
    assert_row(t, 1, ts_ns=T0 + 1, cap_len=58, wire_len=58, ip_version=4, ip_proto=17, ip_ttl=64,
               ip_id=77, ip_frag=3, ip_src=CLIENT, ip_dst=SERVER, sport=5000, dport=6000,
               payload_len=40)


def test_reassembly_rules(decoder):
    """tests/capbuild.py ip_fragment_cases, frame by frame (checked against tshark in
    test_tshark_decode): out of order, duplicates, overlaps, a split TCP header, padding."""
    t = decoder(cb.ip_fragment_cases(), "frags.pcap")
    F, I, OK = S.IP_FRAGMENT, S.IP_FRAGMENT_INCOMPLETE, S.OK
    assert t["status"].tolist() == [F, OK, F, OK, F, F, OK, F, F, OK, I, F, OK, F, OK, I, I, F, F,
                                    OK, F, OK, F, F, OK, F, OK, F, OK]
    done = t["status"] == OK
    assert t["sport"][done].tolist() == [5000] * 4 + [1111, 5000, 5000, 1111, 7000, 6000, 5000]
    # the lengths come from the reassembled datagram (the last one's UDP header says more)
    assert t["payload_len"][done].tolist() == [48] * 4 + [60, 48, 48, 60, 48, 48, 8]
    # conflicting overlaps: the lower offset wins (frame 22's ACK, not frame 21's bytes),
    # and at one offset the first to arrive (frame 23's UDP port 7000, not frame 24's)
    assert int(t["tcp_ack"][21]) == 200 and int(t["sport"][24]) == 7000


def test_reassembled_datagram_keeps_its_payload_bytes(decoder):
    """A DNS answer in two fragments: the completing frame keeps the DNS bytes."""
    dgram = cb.udp(53, 40000, cb.dns_query() + b"\0" * 40)
    frames = [cb.ether(cb.ipv4(dgram[:32], cb.IPPROTO_UDP, flags=cb.MF, ident=9)),
              cb.ether(cb.ipv4(dgram[32:], cb.IPPROTO_UDP, frag_offset=4, ident=9))]
    t = decoder(cb.pcap([Rec(f, T0) for f in frames]), "dns.pcap")
    assert t["status"].tolist() == [S.IP_FRAGMENT, S.OK]
    assert t.payload(1) == dgram[8:] and t.payload(0) == b""


def test_lone_and_cut_fragments(decoder):
    """A fragment cut by the snaplen is not reassembled (as in Wireshark): a first one is
    decoded as it is, a later one stays a fragment; the rest never completes."""
    t = decoder(cb.lone_and_cut_fragments(), "cut.pcap")
    assert t["status"].tolist() == [S.SNAPLEN_CUT, S.IP_FRAGMENT_INCOMPLETE, S.IP_FRAGMENT]
    assert t["sport"].tolist() == [5000, 0, 0]


def test_waiting_datagrams_are_bounded(decoder):
    """Past MAX_PENDING waiting datagrams the oldest is dropped: its fragments are
    IP_FRAGMENT_INCOMPLETE even when the rest arrives later (Wireshark would wait)."""
    from cnfpost.reassembly import MAX_PENDING

    dgram = cb.udp(5000, 6000, b"z" * 40)
    firsts = [cb.ether(cb.ipv4(dgram[:24], cb.IPPROTO_UDP, flags=cb.MF, ident=i))
              for i in range(MAX_PENDING + 1)]
    lasts = [cb.ether(cb.ipv4(dgram[24:], cb.IPPROTO_UDP, frag_offset=3, ident=i))
             for i in (0, MAX_PENDING)]
    t = decoder(cb.pcap([Rec(f, T0) for f in firsts + lasts]), "many.pcap")
    status = t["status"].tolist()
    # ident 0 was dropped when ident MAX_PENDING came; its last piece starts a new datagram
    # (dropping ident 1); ident MAX_PENDING completes.
    assert status[:MAX_PENDING] == [S.IP_FRAGMENT_INCOMPLETE] * MAX_PENDING
    assert status[MAX_PENDING:] == [S.IP_FRAGMENT, S.IP_FRAGMENT_INCOMPLETE, S.OK]


# =====================================================================================
# IPv6
# =====================================================================================

def test_ipv6_extension_chain(decoder):
    t = decoder(cb.ipv6_ext_chain(), "v6.pcap")
    n = 40 + 8 + 24 + 8 + 24 + 24
    assert_row(t, 0, ts_ns=T0, cap_len=n, wire_len=n, ip_version=6, ip_proto=6, ip_ttl=64,
               ip_src=0, ip_dst=1, sport=443, dport=50000, tcp_seq=7, tcp_flags=SYN, tcp_win=64240,
               tcp_hdr_len=24, tcp_opts=TcpOpt.MSS)
    assert side(t.tcpopt) == [{"row": 0, "mss": 1220, "wscale": 255}]


def test_ipv6_first_fragment_waits_for_the_rest(decoder):
    pkt = cb.ipv6(cb.udp(1, 2, b"x" * 16), cb.IPPROTO_UDP, exts=[cb.fragment6(0, True, 0x12345678)])
    t = one(decoder, pkt, 101)
    assert_row(t, 0, ts_ns=T0, cap_len=len(pkt), wire_len=len(pkt), ip_version=6, ip_proto=17,
               ip_ttl=64, ip_src=0, ip_dst=1, ip_id=0x5678, ip_frag=0x2000, payload_len=24,
               status=S.IP_FRAGMENT_INCOMPLETE)


def test_ipv6_atomic_fragment_is_decoded_through(decoder):
    atomic = cb.fragment6(0, False, 0x12345678)
    pkt = cb.ipv6(cb.udp(1, 2, b"x" * 16), cb.IPPROTO_UDP, exts=[atomic])
    t = one(decoder, pkt, 101)
    assert_row(t, 0, ts_ns=T0, cap_len=len(pkt), wire_len=len(pkt), ip_version=6, ip_proto=17,
               ip_ttl=64, ip_src=0, ip_dst=1, ip_id=0x5678, sport=1, dport=2, payload_len=16)


def test_ipv6_later_fragment(decoder):
    pkt = cb.ipv6(b"y" * 24, cb.IPPROTO_UDP, exts=[cb.hop_by_hop(), cb.fragment6(5, False, 9)])
    t = one(decoder, pkt, 229)
    assert_row(t, 0, ts_ns=T0, cap_len=len(pkt), wire_len=len(pkt), status=S.IP_FRAGMENT_INCOMPLETE,
               ip_version=6, ip_proto=17, ip_ttl=64, ip_src=0, ip_dst=1, ip_id=9, ip_frag=5,
               payload_len=24)


def test_ipv6_reassembly(decoder):
    """IPv6 fragments after a hop-by-hop header, and out of order: the completing frame is
    dissected from the fragment header's next header on."""
    t = decoder(cb.ipv6_fragment_cases(), "v6frag.pcap")
    assert t["status"].tolist() == [S.IP_FRAGMENT, S.OK, S.IP_FRAGMENT, S.OK,
                                    S.IP_FRAGMENT_INCOMPLETE]  # (a duplicate after completion)
    assert t["sport"].tolist() == [0, 7000, 0, 443, 0]
    assert t["ip_proto"].tolist() == [17, 17, 6, 6, 6]
    assert t["payload_len"].tolist() == [16, 56 - 8, 40, 80 - 20, 32]
    assert t["ip_frag"].tolist() == [0x2000, 2, 5, 0x2000, 0x2002]


def test_ipv6_truncated_extension_header(decoder):
    pkt = cb.ipv6(cb.tcp(), exts=[cb.hop_by_hop(14)])  # 16-byte hop-by-hop
    t = one(decoder, pkt[:40 + 10], 101, wire_len=len(pkt))
    assert_row(t, 0, ts_ns=T0, cap_len=50, wire_len=len(pkt), status=S.TRUNCATED_IPV6_EXT,
               ip_version=6, ip_proto=0, ip_ttl=64, ip_src=0, ip_dst=1)


def test_ipv6_extension_past_the_payload(decoder):
    pkt = cb.ipv6(cb.tcp(), exts=[cb.dest_opts(14)], plen=8) + b"\0" * 8
    t = one(decoder, pkt, 101)
    assert_row(t, 0, ts_ns=T0, cap_len=len(pkt), wire_len=len(pkt), status=S.BAD_IP_TOTAL_LEN,
               ip_version=6, ip_proto=60, ip_ttl=64, ip_src=0, ip_dst=1)


def test_ipv6_payload_length_zero_uses_the_wire(decoder):
    pkt = cb.ipv6(cb.tcp(1, 2, 3, 4, ACK, payload=b"g" * 100), plen=0)
    t = one(decoder, pkt, 101)
    assert t["payload_len"].tolist() == [100] and t["status"].tolist() == [S.OK]


def test_ipv6_payload_length_beyond_the_wire(decoder):
    pkt = cb.ipv6(cb.udp(1, 2, b"u" * 10), cb.IPPROTO_UDP, plen=500)
    t = one(decoder, pkt, 101)
    assert_row(t, 0, ts_ns=T0, cap_len=len(pkt), wire_len=len(pkt), status=S.BAD_IP_TOTAL_LEN,
               ip_version=6, ip_proto=17, ip_ttl=64, ip_src=0, ip_dst=1, sport=1, dport=2, payload_len=10)


def test_ipv6_no_next_header(decoder):
    pkt = cb.ipv6(b"", cb.IPPROTO_NONE, plen=0)
    t = one(decoder, pkt, 101)
    assert_row(t, 0, ts_ns=T0, cap_len=40, wire_len=40, ip_version=6, ip_proto=59, ip_ttl=64,
               ip_src=0, ip_dst=1)


def test_truncated_ipv6_header(decoder):
    t = one(decoder, V6_TCP[:39], 229)
    assert_row(t, 0, ts_ns=T0, cap_len=39, wire_len=39, status=S.TRUNCATED_IP)
    assert t.ip6_addresses.shape == (0, 16)


def test_ipv6_addresses_interned_in_order_of_first_appearance(decoder):
    a = cb.ipv6(cb.udp(1, 2), cb.IPPROTO_UDP, "2001:db8::a", "2001:db8::b")
    b = cb.ipv6(cb.udp(2, 1), cb.IPPROTO_UDP, "2001:db8::b", "2001:db8::a")
    c = cb.ipv6(cb.udp(3, 4), cb.IPPROTO_UDP, "2001:db8::c", "2001:db8::a")
    t = decoder(cb.pcap([Rec(a), Rec(b), Rec(c)], 229), "i.pcap")
    assert t["ip_src"].tolist() == [0, 1, 2] and t["ip_dst"].tolist() == [1, 0, 0]
    assert [addr6(t, i) for i in range(3)] == ["2001:db8::a", "2001:db8::b", "2001:db8::c"]
    assert t.address(2, "src") == "2001:db8::c"


# =====================================================================================
# TCP
# =====================================================================================

def test_tcp_options_all_kinds(decoder):
    opts = (cb.opt_mss(536) + cb.NOP + cb.opt_wscale(14) + cb.opt_sack_perm() + cb.opt_ts(0xFFFFFFFF, 5)
            + cb.NOP + cb.NOP + cb.opt_sack([(100, 200), (0xFFFFFFF0, 16)]))
    assert len(opts) == 40  # the most a TCP header holds
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK, opts=opts))
    t = one(decoder, frame)
    hdr = 20 + len(opts) + (-len(opts) % 4)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), **v4_fixed(), sport=1, dport=2,
               tcp_seq=3, tcp_ack=4, tcp_flags=ACK, tcp_win=64240, tcp_hdr_len=hdr,
               tcp_opts=TcpOpt.MSS | TcpOpt.WSCALE | TcpOpt.SACK_PERM | TcpOpt.TIMESTAMP | TcpOpt.SACK,
               tcp_tsval=0xFFFFFFFF, tcp_tsecr=5)
    assert side(t.tcpopt) == [{"row": 0, "mss": 536, "wscale": 14}]
    assert side(t.sack) == [{"row": 0, "left": 100, "right": 200}, {"row": 0, "left": 0xFFFFFFF0, "right": 16}]


def test_eol_ends_the_option_walk(decoder):
    frame = tcp4(cb.tcp(opts=cb.EOL + b"\0\0\0" + cb.opt_mss(1000) + b"\0" * 4))
    t = one(decoder, frame)
    assert t["tcp_opts"].tolist() == [0] and side(t.tcpopt) == [] and t["status"][0] == S.OK


def test_wscale_only_gives_mss_zero(decoder):
    t = one(decoder, tcp4(cb.tcp(opts=cb.opt_wscale(2))))
    assert side(t.tcpopt) == [{"row": 0, "mss": 0, "wscale": 2}]


def test_option_length_past_the_header(decoder):
    # MSS fine, then a timestamp option whose length byte runs past the header.
    opts = cb.opt_mss(1400) + b"\x08\x20" + b"\0" * 2
    t = one(decoder, tcp4(cb.tcp(opts=opts)))
    assert t["status"].tolist() == [S.BAD_TCP_OPTIONS] and t["tcp_opts"].tolist() == [TcpOpt.MSS]
    assert side(t.tcpopt) == [{"row": 0, "mss": 1400, "wscale": 255}]


def test_option_length_below_two(decoder):
    t = one(decoder, tcp4(cb.tcp(opts=b"\x1e\x01\0\0" + cb.opt_mss(1))))
    assert t["status"].tolist() == [S.BAD_TCP_OPTIONS] and t["tcp_opts"].tolist() == [0]


def test_option_kind_without_room_for_its_length(decoder):
    t = one(decoder, tcp4(cb.tcp(opts=b"\x01\x01\x01\x02")))
    assert t["status"].tolist() == [S.BAD_TCP_OPTIONS]


def test_known_option_with_a_wrong_length_is_skipped(decoder):
    opts = b"\x02\x05\x05\xb4\x00" + cb.opt_wscale(3) + b"\x05\x06\0\0\0\x01" + cb.opt_sack_perm()
    t = one(decoder, tcp4(cb.tcp(opts=opts)))
    assert t["status"].tolist() == [S.BAD_TCP_OPTIONS]
    assert t["tcp_opts"].tolist() == [TcpOpt.WSCALE | TcpOpt.SACK_PERM]
    assert side(t.tcpopt) == [{"row": 0, "mss": 0, "wscale": 3}] and side(t.sack) == []


def test_unknown_option_kinds_are_skipped(decoder):
    opts = b"\x1e\x06abcd" + cb.opt_mss(1200) + b"\xfd\x02"  # MPTCP-like 30, experimental 253
    t = one(decoder, tcp4(cb.tcp(opts=opts)))
    assert t["status"].tolist() == [S.OK] and t["tcp_opts"].tolist() == [TcpOpt.MSS]


def test_ns_flag(decoder):
    t = one(decoder, tcp4(cb.tcp(flags=NS | 0xFF)))
    assert t["tcp_flags"].tolist() == [0x1FF]


def test_truncated_tcp_header(decoder):
    full = tcp4(cb.tcp(1, 2, 3, 4, ACK, payload=b"d" * 50))
    t = one(decoder, full[:14 + 20 + 19], wire_len=len(full))
    assert_row(t, 0, ts_ns=T0, cap_len=53, wire_len=len(full), status=S.TRUNCATED_L4, **v4_fixed())


def test_tcp_cut_inside_options(decoder):
    full = tcp4(cb.tcp(1, 2, 3, 4, ACK, opts=cb.opt_ts(1, 2) + cb.NOP + cb.NOP, payload=b"d" * 50))
    t = one(decoder, full[:14 + 20 + 25], wire_len=len(full))
    assert_row(t, 0, ts_ns=T0, cap_len=59, wire_len=len(full), status=S.TRUNCATED_L4, **v4_fixed(),
               sport=1, dport=2, tcp_seq=3, tcp_ack=4, tcp_flags=ACK, tcp_win=64240, tcp_hdr_len=32,
               payload_len=50)


@pytest.mark.parametrize("doff", [4, 0, 15])
def test_bad_tcp_data_offset(decoder, doff):
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK, payload=b"e" * 8, data_offset=doff))
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), status=S.BAD_TCP_HEADER_LEN,
               **v4_fixed(), sport=1, dport=2, tcp_seq=3, tcp_ack=4, tcp_flags=ACK, tcp_win=64240,
               tcp_hdr_len=doff * 4)


def test_handshake_get_response(decoder):
    t = decoder(cb.handshake_get_response(), "hs.pcap")
    assert t["tcp_flags"].tolist() == [SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK]
    assert t["payload_len"].tolist() == [0, 0, 0, 27, 38]
    assert t["tcp_seq"].tolist() == [100, 5000, 101, 101, 5001]
    assert t["tcp_ack"].tolist() == [0, 101, 5001, 5001, 128]
    assert t["tcp_tsval"].tolist() == [0, 0, 0, 7, 0] and t["tcp_tsecr"].tolist() == [0, 0, 0, 9, 0]
    assert side(t.tcpopt) == [{"row": 0, "mss": 1460, "wscale": 8}, {"row": 1, "mss": 1400, "wscale": 255}]
    assert side(t.sack) == [{"row": 4, "left": 10, "right": 20}]
    assert side(t.payload_index) == [{"row": 3, "offset": 0, "length": 27},
                                     {"row": 4, "offset": 27, "length": 38}]
    assert t.payload(3) == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" and t.payload(4).startswith(b"HTTP/1.1 200")
    assert t.payload(0) == b""


# =====================================================================================
# UDP and ICMP
# =====================================================================================

def test_dns_over_udp_keeps_the_query(decoder):
    q = cb.dns_query("example.com", 0xBEEF)
    frame = cb.ether(cb.ipv4(cb.udp(40001, 53, q), cb.IPPROTO_UDP))
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame),
               **v4_fixed(ip_proto=17), sport=40001, dport=53, payload_len=len(q))
    assert t.payload(0) == q and t.payload_bytes == q


def test_udp_too_short(decoder):
    frame = cb.ether(cb.ipv4(cb.udp(1, 2)[:7], cb.IPPROTO_UDP))
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), status=S.TRUNCATED_L4,
               **v4_fixed(ip_proto=17))


def test_udp_length_field_is_not_used(decoder):
    frame = cb.ether(cb.ipv4(cb.udp(1, 2, b"abcd", length=300), cb.IPPROTO_UDP))
    t = one(decoder, frame)
    assert t["payload_len"].tolist() == [4] and t["status"].tolist() == [S.OK]


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("reply", [False, True])
def test_icmp_echo(decoder, v6, reply):
    if v6:
        frame = cb.ipv6(cb.icmp6_echo(0x4242, 7, b"abcdef", reply), cb.IPPROTO_ICMPV6)
    else:
        frame = cb.ipv4(cb.icmp_echo(0x4242, 7, b"abcdef", reply), cb.IPPROTO_ICMP)
    t = one(decoder, frame, 101)
    itype = (129 if reply else 128) if v6 else (0 if reply else 8)
    assert t["payload_len"].tolist() == [6] and t["ip_proto"].tolist() == [58 if v6 else 1]
    assert t["sport"].tolist() == [0] and t["status"].tolist() == [S.OK]
    assert side(t.icmp) == [dict(row=0, type=itype, code=0, ident=0x4242, seq=7, version=6 if v6 else 4,
                                 q_ip_version=0, q_proto=0, q_src=0, q_dst=0, q_sport=0, q_dport=0,
                                 q_tcp_seq=0)]
    assert t.payload_bytes == b""


def test_icmp_port_unreachable_quotes_udp(decoder):
    t = decoder(cb.port_unreachable(), "pu.pcap")
    assert t["ip_proto"].tolist() == [17, 1] and t["payload_len"].tolist() == [29, 28]
    assert side(t.icmp) == [dict(row=1, type=3, code=3, ident=0, seq=0, version=4, q_ip_version=4,
                                 q_proto=17, q_src=CLIENT, q_dst=SERVER, q_sport=40001, q_dport=53,
                                 q_tcp_seq=0)]


def test_icmp_time_exceeded_quotes_tcp_with_options(decoder):
    quoted = cb.ipv4(cb.tcp(40000, 443, 0xCAFEBABE, 0, SYN), cb.IPPROTO_TCP, opts=b"\x01" * 4)[:24 + 8]
    frame = cb.ether(cb.ipv4(cb.icmp_error(11, 0, quoted), cb.IPPROTO_ICMP, "203.0.113.9", cb.CLIENT))
    t = one(decoder, frame)
    assert side(t.icmp)[0] == dict(row=0, type=11, code=0, ident=0, seq=0, version=4, q_ip_version=4,
                                   q_proto=6, q_src=CLIENT, q_dst=SERVER, q_sport=40000, q_dport=443,
                                   q_tcp_seq=0xCAFEBABE)


def test_icmp_error_quoting_an_echo_request(decoder):
    quoted = cb.ipv4(cb.icmp_echo(0x99, 12), cb.IPPROTO_ICMP)
    t = one(decoder, cb.ether(cb.ipv4(cb.icmp_error(3, 1, quoted), cb.IPPROTO_ICMP)))
    row = side(t.icmp)[0]
    assert (row["q_proto"], row["q_sport"], row["q_dport"], row["q_tcp_seq"]) == (1, 0x99, 12, 0)


def test_icmp_error_with_too_little_quoted(decoder):
    quoted = cb.ipv4(cb.udp(1, 2), cb.IPPROTO_UDP)[:19]
    t = one(decoder, cb.ether(cb.ipv4(cb.icmp_error(3, 3, quoted), cb.IPPROTO_ICMP)))
    row = side(t.icmp)[0]
    assert row["q_ip_version"] == 0 and row["q_src"] == 0 and row["q_proto"] == 0


def test_icmp_error_quoting_only_the_ip_header(decoder):
    quoted = cb.ipv4(cb.udp(1, 2), cb.IPPROTO_UDP)[:20 + 7]
    t = one(decoder, cb.ether(cb.ipv4(cb.icmp_error(3, 3, quoted), cb.IPPROTO_ICMP)))
    row = side(t.icmp)[0]
    assert (row["q_ip_version"], row["q_proto"], row["q_src"], row["q_sport"]) == (4, 17, CLIENT, 0)


def test_icmp_error_quoting_a_non_first_fragment_has_no_ports(decoder):
    quoted = cb.ipv4(cb.udp(1, 2), cb.IPPROTO_UDP, flags=0, frag_offset=10)
    t = one(decoder, cb.ether(cb.ipv4(cb.icmp_error(11, 1, quoted), cb.IPPROTO_ICMP)))
    row = side(t.icmp)[0]
    assert (row["q_ip_version"], row["q_proto"], row["q_sport"], row["q_dport"]) == (4, 17, 0, 0)


def test_icmp_too_short(decoder):
    frame = cb.ether(cb.ipv4(cb.icmp_echo()[:7], cb.IPPROTO_ICMP))
    t = one(decoder, frame)
    assert t["status"].tolist() == [S.TRUNCATED_L4] and side(t.icmp) == []
    assert t["payload_len"].tolist() == [0]


def test_icmpv6_packet_too_big_quotes_ipv6_udp(decoder):
    quoted = cb.ipv6(cb.udp(5353, 53, b"q" * 20), cb.IPPROTO_UDP, "2001:db8::77", "2001:db8::88",
                     exts=[cb.dest_opts()])
    frame = cb.ipv6(cb.icmp6_error(2, 0, quoted, rest=1280), cb.IPPROTO_ICMPV6, "2001:db8::fe", "2001:db8::77")
    t = one(decoder, frame, 229)
    assert [addr6(t, i) for i in range(3)] == ["2001:db8::fe", "2001:db8::77", "2001:db8::88"]
    assert side(t.icmp) == [dict(row=0, type=2, code=0, ident=0, seq=0, version=6, q_ip_version=6,
                                 q_proto=17, q_src=1, q_dst=2, q_sport=5353, q_dport=53, q_tcp_seq=0)]
    assert t["payload_len"].tolist() == [len(quoted)]


def test_icmpv6_error_quoting_ipv4_is_ignored(decoder):
    frame = cb.ipv6(cb.icmp6_error(1, 4, V4_TCP), cb.IPPROTO_ICMPV6)
    t = one(decoder, frame, 229)
    assert side(t.icmp)[0]["q_ip_version"] == 0


def test_icmp_in_ipv6_is_just_a_protocol(decoder):
    # Protocol 1 inside IPv6 is not ICMPv6: no icmp row, payload_len = L.
    frame = cb.ipv6(cb.icmp_echo(), cb.IPPROTO_ICMP)
    t = one(decoder, frame, 229)
    assert side(t.icmp) == [] and t["payload_len"].tolist() == [12]


def test_other_protocol_payload_is_the_ip_payload(decoder):
    frame = cb.ether(cb.ipv4(b"\0" * 24, cb.IPPROTO_GRE))
    t = one(decoder, frame)
    assert_row(t, 0, ts_ns=T0, cap_len=len(frame), wire_len=len(frame), **v4_fixed(ip_proto=47),
               payload_len=24)


# =====================================================================================
# Kept payload bytes
# =====================================================================================

def tls_record(rtype: int, size: int, minor: int = 3) -> bytes:
    return bytes([rtype, 3, minor]) + struct.pack(">H", size) + bytes(range(256)) * (size // 256 + 1)


@pytest.mark.parametrize("payload, kept", [
    (tls_record(22, 1000, 1), 512),
    (tls_record(22, 100), 512),
    (tls_record(23, 1000), 16),
    (tls_record(20, 1), 16),
    (b"\x17\x03\x05" + b"\0" * 100, 0),         # minor 5: not TLS
    (b"\x18\x03\x03" + b"\0" * 100, 0),         # type 24: not a record we keep
    (b"POST /x HTTP/1.1\r\n" + b"h" * 400, 256),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 256),
    (b"HTTP/1.0 404 Not Found\r\n", 256),
    (b"HTTP/2 200\r\n", 0),
    (b"get / HTTP/1.1\r\n", 0),
    (b"GET", 0),
])
def test_kept_tcp_payload(decoder, payload, kept):
    frame = tcp4(cb.tcp(1, 443, 3, 4, PSH | ACK, payload=payload))
    t = one(decoder, frame)
    want = payload[:kept]
    assert t.payload(0) == want
    assert t.payload_bytes == want
    assert len(t.payload_index["row"]) == (1 if want else 0)


def test_kept_payload_is_what_was_captured(decoder):
    payload = tls_record(22, 1000)
    full = tcp4(cb.tcp(1, 443, 3, 4, PSH | ACK, payload=payload))
    t = one(decoder, full[:14 + 40 + 100], wire_len=len(full))
    assert t["status"].tolist() == [S.SNAPLEN_CUT] and t.payload(0) == payload[:100]


def test_no_payload_kept_for_a_bad_frame(decoder):
    frame = tcp4(cb.tcp(1, 2, 3, 4, ACK, payload=b"GET / HTTP/1.1\r\n"), total_len=2000)
    t = one(decoder, frame)
    assert t["status"].tolist() == [S.BAD_IP_TOTAL_LEN] and t.payload_bytes == b""


def test_http_prefix_must_be_captured(decoder):
    full = tcp4(cb.tcp(1, 80, 3, 4, ACK, payload=b"OPTIONS * HTTP/1.1\r\n"))
    t = one(decoder, full[:14 + 40 + 5], wire_len=len(full))  # "OPTIO"
    assert t["status"].tolist() == [S.SNAPLEN_CUT] and t.payload_bytes == b""


def test_dns_from_port_53_over_ipv6(decoder):
    reply = cb.dns_query("a.b", 7) + b"\xc0\x0c" * 300
    frame = cb.ipv6(cb.udp(53, 5353, reply), cb.IPPROTO_UDP)
    t = one(decoder, frame, 229)
    assert t.payload(0) == reply[:512] and t["payload_len"].tolist() == [len(reply)]


def test_payload_offsets_accumulate(decoder):
    recs = [Rec(cb.ether(cb.ipv4(cb.udp(1, 53, b"a" * n), cb.IPPROTO_UDP)), T0 + n) for n in (3, 0, 700, 5)]
    t = decoder(cb.pcap(recs), "p.pcap")
    assert side(t.payload_index) == [{"row": 0, "offset": 0, "length": 3},
                                     {"row": 2, "offset": 3, "length": 512},
                                     {"row": 3, "offset": 515, "length": 5}]
    assert len(t.payload_bytes) == 520 and t.stats.payload_bytes_dropped == 0


# =====================================================================================
# Statistics
# =====================================================================================

def test_status_counts_and_sums(decoder):
    recs = [Rec(cb.seg(SYN, 1)), Rec(b""), Rec(cb.ether(b"", cb.ETHERTYPE_ARP)), Rec(cb.seg(ACK, 2)),
            Rec(cb.seg(ACK, 3)[:40], wire_len=54)]
    t = decoder(cb.pcap(recs), "s.pcap")
    assert t.stats.status_counts == {"OK": 2, "NON_IP": 1, "TRUNCATED_L4": 1, "ZERO_CAPLEN": 1}
    assert list(t.stats.status_counts) == ["OK", "NON_IP", "TRUNCATED_L4", "ZERO_CAPLEN"]
    assert t.stats.bytes_captured == 54 + 0 + 14 + 54 + 40 and t.stats.bytes_on_wire == 54 + 0 + 14 + 54 + 54
    assert t.frame.tolist() == [1, 2, 3, 4, 5]


def test_memoryview_input(decoder):
    data = cb.syn_then_rst()
    t = decoder(memoryview(data), "mv.pcap")
    assert t["tcp_seq"].tolist() == [1000, 0]


# =====================================================================================
# Edge rules
# =====================================================================================

@pytest.mark.parametrize("tsresol, ts, want_ns", [
    (20, 2**64 - 1, 10**9),            # 10^20/s does not fit 64 bits: units = 2^64 - 1
    (0x80 | 63, 2**62, 0),             # (ts % units) * 1e9 wraps modulo 2^64 (Wireshark 4.0)
    (0, 2**64 - 1, -10**9),            # secs = (time_t)(2^64 - 1): -1 s, as tshark 4.0 prints
    (6, 9_223_372_036_854_775, 9_223_372_036_854_775_000),  # the last µs int64 ns hold
])
def test_pcapng_timestamp_arithmetic_is_unsigned_64_bit(decoder, tsresol, ts, want_ns):
    data = cb.shb() + cb.idb(tsresol=tsresol) + cb.epb(cb.seg(SYN, 1), ts)
    t = decoder(data, "w.pcapng")
    assert t["ts_ns"].tolist() == [want_ns] and t["status"].tolist() == [S.OK]
    assert t.interfaces[0].ts_resolution == (2**64 - 1 if tsresol == 20 else cb.ts_units(10**9, tsresol))


@pytest.mark.parametrize("tsresol, ts, offset", [
    (6, 2**64 - 1, None),              # tshark 4.0: 18446744073709.551615 (year 586524)
    (6, 9_223_372_036_854_776, None),  # one µs past 2262-04-11T23:47:16.854775807Z
    (0, 10**10, None),                 # 2286-11-20
    (0, 2**63 + 5, None),              # (time_t) of it is about -2^63 s
    (9, 5, -(2**62)),                  # if_tsoffset far before 1677
    (0, 2**63 - 1, 2**63 - 1),         # secs + if_tsoffset past int64 itself
])
def test_pcapng_time_past_int64_ns_is_a_status_not_a_wrong_time(decoder, tsresol, ts, offset):
    data = cb.shb() + cb.idb(tsresol=tsresol, tsoffset=offset) + cb.epb(cb.seg(SYN, 1), ts)
    t = decoder(data, "late.pcapng")
    assert t["ts_ns"].tolist() == [NO_TIME]
    assert t["status"].tolist() == [S.TIME_OUT_OF_RANGE] and t["tcp_seq"].tolist() == [1]
    assert t.stats.status_counts == {"TIME_OUT_OF_RANGE": 1}


def test_time_out_of_range_keeps_a_packet_problem(decoder):
    data = cb.shb() + cb.idb(tsresol=0) + cb.epb(cb.seg(SYN, 1)[:20], 10**10)
    t = decoder(data, "late.pcapng")
    assert t["ts_ns"].tolist() == [NO_TIME] and t["status"].tolist() == [S.TRUNCATED_IP]


@pytest.mark.parametrize("entry, want", [
    (b"__REALTIME_TIMESTAMP=18446744073709551615\nM=1\n", NO_TIME),  # past 2262
    (b"__REALTIME_TIMESTAMP=18446744073709551616\nM=1\n", NO_TIME),  # past 64 bits
    (b"__REALTIME_TIMESTAMP=\nMESSAGE=no digits here\n", NO_TIME),
    (b"__REALTIME_TIMESTAMP=9223372036854775\nMESSAGE=x\n", 9_223_372_036_854_775_000),
    (b"__REALTIME_TIMESTAMP=0\nMESSAGE=the epoch itself\n", 0),
])
def test_journal_time_stamps(decoder, entry, want):
    t = decoder(cb.shb() + cb.block(cb.BT_JOURNAL, entry), "j.pcapng")
    assert t["ts_ns"].tolist() == [want] and t["status"].tolist() == [S.UNKNOWN_LINKTYPE]


def test_zero_caplen_on_an_unknown_interface(decoder):
    data = cb.shb() + cb.epb(b"", 1, iface=0, wire_len=60)
    t = decoder(data, "z.pcapng")
    assert len(t) == 0 and t.empty_run == EmptyRun(1, 1000, 60, 65535)


def test_pb_with_an_unknown_interface(decoder):
    data = cb.shb() + cb.idb(tsresol=9) + cb.pb(cb.seg(SYN, 1), 5, 2)
    t = decoder(data, "p.pcapng")
    assert_row(t, 0, ts_ns=5000, cap_len=54, wire_len=54, iface=65535, status=S.UNKNOWN_LINKTYPE)


def test_ipv4_total_length_clamped_below_the_header(decoder):
    full = tcp4(cb.tcp(), opts=b"\x01" * 4)  # IHL 6
    t = one(decoder, full, wire_len=14 + 22)
    assert_row(t, 0, ts_ns=T0, cap_len=len(full), wire_len=36, status=S.BAD_IP_TOTAL_LEN, **v4_fixed())


def test_first_problem_decides_the_status(decoder):
    # Total length beyond the wire (clamped, carry on), then a TCP header cut by the clamp.
    full = tcp4(cb.tcp(1, 2, 3, 4, ACK), total_len=100)
    t = one(decoder, full[:14 + 30], wire_len=14 + 30)
    assert t["status"].tolist() == [S.BAD_IP_TOTAL_LEN] and t["sport"].tolist() == [0]


def test_snaplen_cut_other_protocol(decoder):
    full = cb.ether(cb.ipv4(b"\0" * 100, cb.IPPROTO_GRE))
    t = one(decoder, full[:40], wire_len=len(full))
    assert_row(t, 0, ts_ns=T0, cap_len=40, wire_len=len(full), status=S.SNAPLEN_CUT,
               **v4_fixed(ip_proto=47), payload_len=100)


@pytest.mark.parametrize("cut", [1, 5])
def test_ipv6_extension_header_cut_before_its_length(decoder, cut):
    for ext in (cb.hop_by_hop(), cb.fragment6(0, True)):
        pkt = cb.ipv6(cb.tcp(), exts=[ext])
        t = one(decoder, pkt[:40 + cut], 101, wire_len=len(pkt))
        assert t["status"].tolist() == [S.TRUNCATED_IPV6_EXT]
        assert t["ip_proto"].tolist() == [ext.kind] and t["ip_frag"].tolist() == [0]


def test_fragment_header_kept_when_a_later_header_fails(decoder):
    pkt = cb.ipv6(cb.tcp(), exts=[cb.fragment6(0, True, 0x10002), cb.dest_opts(14)])
    t = one(decoder, pkt[:40 + 8 + 4], 101, wire_len=len(pkt))
    assert t["status"].tolist() == [S.TRUNCATED_IPV6_EXT] and t["ip_proto"].tolist() == [60]
    assert (t["ip_id"][0], t["ip_frag"][0]) == (2, 0x2000)


def test_repeated_tcp_options_overwrite(decoder):
    opts = cb.opt_mss(1000) + cb.opt_mss(1200) + cb.opt_ts(1, 2) + cb.opt_ts(3, 4) + cb.opt_wscale(1) + cb.opt_wscale(5)
    t = one(decoder, tcp4(cb.tcp(opts=opts)))
    assert side(t.tcpopt) == [{"row": 0, "mss": 1200, "wscale": 5}]
    assert (t["tcp_tsval"][0], t["tcp_tsecr"][0]) == (3, 4)


def test_sack_with_no_blocks_is_a_bad_option(decoder):
    t = one(decoder, tcp4(cb.tcp(opts=b"\x05\x02" + cb.opt_sack_perm())))
    assert t["status"].tolist() == [S.BAD_TCP_OPTIONS] and t["tcp_opts"].tolist() == [TcpOpt.SACK_PERM]
    assert side(t.sack) == []


def test_icmp_error_quoting_ipv4_with_bad_ihl(decoder):
    quoted = cb.ipv4(cb.udp(1, 2), cb.IPPROTO_UDP, ihl=4)
    t = one(decoder, cb.ether(cb.ipv4(cb.icmp_error(3, 3, quoted), cb.IPPROTO_ICMP)))
    assert side(t.icmp)[0]["q_ip_version"] == 0 and t["status"].tolist() == [S.OK]


def test_icmpv6_error_quoting_a_cut_extension_header(decoder):
    quoted = cb.ipv6(cb.udp(1, 2), cb.IPPROTO_UDP, "2001:db8::5", "2001:db8::6", exts=[cb.routing()])[:40 + 10]
    frame = cb.ipv6(cb.icmp6_error(3, 0, quoted), cb.IPPROTO_ICMPV6)
    t = one(decoder, frame, 229)
    assert side(t.icmp)[0] == dict(row=0, type=3, code=0, ident=0, seq=0, version=6, q_ip_version=6,
                                   q_proto=43, q_src=2, q_dst=3, q_sport=0, q_dport=0, q_tcp_seq=0)
    assert t.ip6_addresses.shape == (4, 16)


@pytest.mark.slow
def test_payload_buffer_limit(decoder):
    # 2^17 TLS handshakes keep 512 bytes each: exactly 64 MiB. The next two are counted.
    hello = tls_record(22, 600)[:600]
    frame = tcp4(cb.tcp(1, 443, 3, 4, PSH | ACK, payload=hello))
    rec = cb.pcap_record(frame)
    n = 2**17 + 2
    t = decoder(cb.pcap_header() + rec * n, "big.pcap")
    assert len(t) == n and len(t.payload_bytes) == 64 * 1024 * 1024
    assert t.stats.payload_bytes_dropped == 1024
    assert len(t.payload_index["row"]) == 2**17 and int(t.payload_index["row"][-1]) == 2**17 - 1
    assert t.payload(2**17 - 1) == hello[:512] and t.payload(2**17) == b""


def test_reference_decoder_is_independent_of_the_compiled_one():
    # The differential tests mean something only if decode_py shares no code with the
    # extension: importing and running it must not load cnfpost._decode or cnfpost.capture.
    import subprocess
    import sys

    code = ("import sys, cnfpost.decode_py as d; from tests import capbuild as cb; "
            "d.read_capture(cb.syn_then_rst(), 'x'); "
            "bad = [m for m in ('cnfpost._decode', 'cnfpost.capture') if m in sys.modules]; "
            "assert not bad, bad")
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)
