"""The reference decoder against tshark 4.0 (the behaviour docs/decoding.md defers to).

Generated valid captures (tests/strategies.py) are written to a file and read back with
``tshark -T fields``; for every frame the decoder calls OK, each field tshark shows must
equal the decoder's column (Wireshark field names: model.PACKET_COLUMNS). Reassembly is
on, as by default in tshark and in the decoders. Skips without tshark; fails in CI
(tests/support.py).
"""
from __future__ import annotations

import ipaddress
import subprocess
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, note, settings

from cnfpost.decode_py import read_capture
from cnfpost.model import NO_TIME, DecodeStatus as S
from tests import capbuild as cb
from tests import strategies as cst
from tests.support import require_tool

pytestmark = pytest.mark.tshark

FIELDS = [
    "frame.number", "frame.time_epoch", "frame.cap_len", "frame.len", "frame.interface_id",
    "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.proto", "ipv6.src", "ipv6.dst", "ipv6.hlim",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value",
    "tcp.hdr_len", "tcp.len", "tcp.options.mss_val", "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
    "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
]


def tshark_rows(path) -> list[dict[str, str]]:
    tshark = require_tool("tshark")
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=\t",
         "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
         *[a for f in FIELDS for a in ("-e", f)]],
        capture_output=True, text=True, check=True, timeout=120)
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.stdout.splitlines()]


def compare_frame(t, row: int, every: dict[str, str]) -> None:
    # The outer header comes first (an ICMP error's quoted packet repeats ip.src, tcp.*);
    # a repeated TCP option counts by its last occurrence, as docs/decoding.md says.
    first = {k: v.split(",")[0] for k, v in every.items()}
    last = {k: v.split(",")[-1] for k, v in every.items()}
    ts = {**first, **{k: last[k] for k in FIELDS if k.startswith("tcp.options.")}}
    c = {name: int(col[row]) for name, col in t.columns.items()}
    assert int(ts["frame.number"]) == row + 1
    # An SPB has no time: tshark shows none, the decoder says NO_TIME.
    if c["ts_ns"] == NO_TIME:
        assert ts["frame.time_epoch"] == ""
    else:
        assert int(Decimal(ts["frame.time_epoch"]) * 10**9) == c["ts_ns"]
    assert (int(ts["frame.cap_len"]), int(ts["frame.len"])) == (c["cap_len"], c["wire_len"])
    # Wireshark 4.0 shows the interface id within its section (docs/decoding.md).
    if c["iface"] == 65535:
        assert ts["frame.interface_id"] == ""
    elif t.stats.format == "pcapng":  # tshark shows no interface id for pcap
        assert int(ts["frame.interface_id"]) == t.interfaces[c["iface"]].index
    if c["status"] not in (S.OK, S.SNAPLEN_CUT):  # (a snaplen cut leaves the headers whole)
        return
    if c["ip_version"] == 4:
        assert ts["ip.src"] == str(ipaddress.IPv4Address(c["ip_src"]))
        assert ts["ip.dst"] == str(ipaddress.IPv4Address(c["ip_dst"]))
        assert (int(ts["ip.ttl"]), int(ts["ip.id"], 16), int(ts["ip.proto"])) == (c["ip_ttl"], c["ip_id"], c["ip_proto"])
    else:
        assert ts["ipv6.src"] == t.address(row, "src") and ts["ipv6.dst"] == t.address(row, "dst")
        assert int(ts["ipv6.hlim"]) == c["ip_ttl"]
    if c["ip_proto"] == 6:
        assert (int(ts["tcp.srcport"]), int(ts["tcp.dstport"])) == (c["sport"], c["dport"])
        assert (int(ts["tcp.seq_raw"]), int(ts["tcp.ack_raw"])) == (c["tcp_seq"], c["tcp_ack"])
        assert int(ts["tcp.flags"], 16) == c["tcp_flags"]
        assert int(ts["tcp.window_size_value"]) == c["tcp_win"]
        assert int(ts["tcp.hdr_len"]) == c["tcp_hdr_len"]
        if ts["tcp.len"]:  # Wireshark leaves tcp.len out in a first fragment
            assert int(ts["tcp.len"]) == c["payload_len"]
        opt = np.flatnonzero(t.tcpopt["row"] == row)
        mss = int(t.tcpopt["mss"][opt[0]]) if opt.size else 0
        wscale = int(t.tcpopt["wscale"][opt[0]]) if opt.size else 255
        assert (int(ts["tcp.options.mss_val"]) if ts["tcp.options.mss_val"] else 0) == mss
        assert (int(ts["tcp.options.wscale.shift"]) if ts["tcp.options.wscale.shift"] else 255) == wscale
        if ts["tcp.options.timestamp.tsval"]:
            assert (int(ts["tcp.options.timestamp.tsval"]), int(ts["tcp.options.timestamp.tsecr"])) == \
                (c["tcp_tsval"], c["tcp_tsecr"])
    elif c["ip_proto"] == 17:
        assert (int(ts["udp.srcport"]), int(ts["udp.dstport"])) == (c["sport"], c["dport"])
    elif c["ip_proto"] in (1, 58):
        i = int(np.flatnonzero(t.icmp["row"] == row)[0])
        prefix = "icmp" if c["ip_proto"] == 1 else "icmpv6"
        assert (int(ts[prefix + ".type"]), int(ts[prefix + ".code"])) == (int(t.icmp["type"][i]), int(t.icmp["code"][i]))


@settings(max_examples=25)
@given(cst.captures(max_frames=8))
def test_reference_decoder_matches_tshark(tmp_path_factory, cap):
    path = tmp_path_factory.mktemp("ts") / ("gen.pcapng" if cap.kind == "pcapng" else "gen.pcap")
    path.write_bytes(cap.data)
    note(f"data = bytes.fromhex({cap.data.hex()!r})")
    t = read_capture(cap.data, str(path))
    rows = tshark_rows(path)
    assert len(rows) == len(t)
    for row, fields in enumerate(rows):
        compare_frame(t, row, fields)


@pytest.mark.parametrize("name", ["syn_then_rst", "handshake_get_response", "snaplen_cut", "tso_total_len_zero",
                                  "ip_fragments_udp", "port_unreachable", "ipv6_ext_chain", "vlan_qinq",
                                  "multi_section_pcapng", "mpls_stacks", "mpls_cooked",
                                  "ip_fragment_cases", "ipv6_fragment_cases",
                                  "lone_and_cut_fragments"])
def test_scenarios_match_tshark(tmp_path, name):
    data = getattr(cb, name)()
    path = tmp_path / (name + (".pcapng" if data[:4] == b"\x0a\x0d\x0d\x0a" else ".pcap"))
    path.write_bytes(data)
    t = read_capture(data, str(path))
    rows = tshark_rows(path)
    assert len(rows) == len(t)
    for row, fields in enumerate(rows):
        compare_frame(t, row, fields)
