"""Oracle: `cnfpost packets` against `tshark -T fields` on captures made by real tools.

Every frame, every field: time stamps, addresses, ports, seq/ack, flags, window, payload
length. Captures: the shared lab bundles (tcpdump on Ethernet), the project's recorded
captures, and captures recorded here with real tcpdump on loopback (`-i any`, Linux
cooked v2 with nanosecond stamps; `-i lo`, Ethernet with microseconds).
"""
from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from cnfpost.capture import read_capture
from cnfpost.export import write_packets
from tests.recorded import record_http
from tests.support import require, require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
from tests.support import LAB_BUNDLES as LAB

FIELDS = ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "ip.src", "ip.dst",
          "ipv6.src", "ipv6.dst", "ip.ttl", "ip.id", "tcp.srcport", "tcp.dstport", "tcp.seq_raw",
          "tcp.ack_raw", "tcp.flags", "tcp.window_size_value", "tcp.hdr_len", "tcp.len",
          "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmp.ident", "icmp.seq",
          "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number"]
# Inside an ICMP error tshark also dissects the quoted header and prints its fields; the
# packet table keeps those in the icmp side table instead, so they are compared there.
QUOTED = {"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
          "tcp.window_size_value", "tcp.hdr_len", "tcp.len", "udp.srcport", "udp.dstport",
          "ip.ttl", "ip.id", "icmp.ident", "icmp.seq", "icmpv6.echo.identifier",
          "icmpv6.echo.sequence_number"}


def tshark_fields(path: Path, fields: list[str]) -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def ours(path: Path, fields: list[str]) -> list[list[str]]:
    buf = io.StringIO()
    write_packets(read_capture(path), fields, "tsv", buf)
    return [line.split("\t") for line in buf.getvalue().splitlines()[1:]]


def normalise(field: str, value: str) -> str:
    if field in ("ip.id", "tcp.flags") and value:
        return str(int(value, 16))  # tshark 4.0 prints these in hex
    return value


def compare(path: Path) -> list[str]:
    theirs, mine = tshark_fields(path, FIELDS), ours(path, FIELDS)
    problems = []
    if len(theirs) != len(mine):
        problems.append(f"frame count: tshark {len(theirs)}, cnfpost {len(mine)}")
    for t_row, m_row in zip(theirs, mine):
        quoting = (t_row[FIELDS.index("icmp.type")] in {"3", "4", "5", "11", "12"}
                   or t_row[FIELDS.index("icmpv6.type")] in {"1", "2", "3", "4"})
        for field, t_val, m_val in zip(FIELDS, t_row, m_row):
            if quoting and field in QUOTED:
                continue
            if normalise(field, t_val) != normalise(field, m_val):
                problems.append(f"frame {t_row[0]} {field}: tshark {t_val!r}, cnfpost {m_val!r}")
    return problems


def repo_captures() -> list[Path]:
    found = sorted((ROOT / "tests" / "data" / "captures").glob("*.pcap*"))
    found += sorted((ROOT / "sample_data").glob("*/capture.pcap*"))
    found += sorted(LAB.glob("*/capture.pcap"))
    return found


@pytest.mark.tshark
@pytest.mark.parametrize("path", repo_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_frame_matches_tshark(path):
    require_tool("tshark")
    problems = compare(path)
    assert not problems, "\n".join(problems[:20])


# Captures built byte by byte (tests/capbuild.py) for rules the recorded ones rarely hit.
BUILT = ["syn_then_rst", "handshake_get_response", "snaplen_cut", "port_unreachable",
         "ipv6_ext_chain", "vlan_qinq", "multi_section_pcapng", "mpls_stacks", "mpls_cooked",
         "bogus_ip_lengths", "untimed_frames", "ip_fragments_udp", "ip_fragment_cases",
         "ipv6_fragment_cases", "lone_and_cut_fragments", "empty_records"]


@pytest.mark.tshark
@pytest.mark.parametrize("name", BUILT)
def test_built_capture_matches_tshark(tmp_path, name):
    """Every field of every frame, empty where tshark prints nothing."""
    from tests import capbuild

    require_tool("tshark")
    data = getattr(capbuild, name)()
    path = tmp_path / (name + (".pcapng" if data[:4] == b"\x0a\x0d\x0d\x0a" else ".pcap"))
    path.write_bytes(data)
    problems = compare(path)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.tshark
def test_times_past_int64_ns_are_a_status_where_tshark_prints_a_time(tmp_path):
    """The one place the export differs from tshark on purpose: a time after 2262 is not a
    time cnfpost can hold, so its frame.time_epoch is empty and the status says why."""
    from decimal import Decimal

    from tests import capbuild

    require_tool("tshark")
    path = tmp_path / "late.pcapng"
    path.write_bytes(capbuild.late_frames())
    theirs = tshark_fields(path, ["frame.time_epoch", "tcp.seq_raw"])
    mine = ours(path, ["frame.time_epoch", "tcp.seq_raw", "cnfpost.status"])
    assert [row[1] for row in theirs] == [row[1] for row in mine] == ["1", "2", "3"]
    assert all(Decimal(row[0]) * 10**9 > 2**63 for row in theirs)
    assert [row[0] for row in mine] == ["", "", ""]
    assert {row[2] for row in mine} == {"TIME_OUT_OF_RANGE"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    require_root()
    for tool in ("tshark", "tcpdump", "curl"):
        require_tool(tool)
    work = tmp_path_factory.mktemp("recorded")
    captures = {
        "any_sll2_nano": record_http(work / "any.pcap", interface="any", nano=True, workdir=work),
        "lo_ether_micro": record_http(work / "lo.pcap", interface="lo", nano=False, workdir=work),
    }
    return captures


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["any_sll2_nano", "lo_ether_micro"])
def test_fresh_tcpdump_capture_matches_tshark(recorded, name):
    path = recorded[name]
    table = read_capture(path)
    require(len(table) > 20, f"tcpdump recorded only {len(table)} packets")
    expected_link = 276 if name.startswith("any") else 1
    assert table.interfaces[0].link_type == expected_link
    assert table.interfaces[0].ts_resolution == (10**9 if "nano" in name else 10**6)
    assert (table["ip_version"] == 6).any() and (table["ip_version"] == 4).any()
    problems = compare(path)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.tshark
def test_real_ip_fragments_match_tshark(tmp_path):
    """ping -s 4000 and big UDP datagrams over a 1400-byte loopback, IPv4 and IPv6: the
    fragments show no transport, the completing frame the whole datagram's (tshark 4.0)."""
    from tests.recorded import record_fragments

    require_root()
    for tool in ("tshark", "tcpdump", "unshare", "ping"):
        require_tool(tool)
    path = record_fragments(tmp_path / "frag.pcap")
    table = read_capture(path)
    statuses = set(table.stats.status_counts)
    require("IP_FRAGMENT" in statuses, "the loopback carried no fragments")
    assert (table["ip_version"][table["status"] == 12] == 6).any()  # IPv6 fragments too
    problems = compare(path)
    assert not problems, "\n".join(problems[:20])


def test_stdin_pipe_from_real_tcpdump_file(recorded):
    """`cat capture | cnfpost info -` reads what `cnfpost info capture` reads."""
    path = recorded["lo_ether_micro"]
    env = dict(os.environ)
    by_path = subprocess.run(["cnfpost", "info", "--json", str(path)], capture_output=True,
                             text=True, env=env, check=True).stdout
    with open(path, "rb") as fh:
        by_pipe = subprocess.run(["cnfpost", "info", "--json", "-"], stdin=fh,
                                 capture_output=True, text=True, env=env, check=True).stdout
    assert by_pipe.replace('"<stdin>"', f'"{path}"') == by_path


ANALYSIS = ["frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.window_size",
            "tcp.analysis.bytes_in_flight", "tcp.analysis.duplicate_ack_num",
            "tcp.analysis.duplicate_ack_frame", "tcp.analysis.acks_frame",
            "tcp.analysis.ack_rtt", "tcp.analysis.retransmission",
            "tcp.analysis.fast_retransmission", "tcp.analysis.spurious_retransmission",
            "tcp.analysis.out_of_order", "tcp.analysis.lost_segment",
            "tcp.analysis.duplicate_ack", "tcp.analysis.zero_window",
            "tcp.analysis.window_full", "tcp.analysis.window_update",
            "tcp.analysis.keep_alive"]


@pytest.mark.tshark
@pytest.mark.parametrize("path", repo_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_exported_tcp_analysis_matches_tshark(path):
    """`cnfpost packets -e tcp.analysis.*` gives tshark's analysis, frame by frame. Flags are
    exported as 0/1 where tshark prints 1 or nothing; both mean the same."""
    require_tool("tshark")
    problems = analysis_problems(path)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.tshark
def test_tcp_analysis_of_reassembled_segments_matches_tshark(tmp_path):
    """TCP segments in IP fragments are analysed on the frame that completes them, with
    tshark's stream, relative numbers and flags (a duplicate is a retransmission)."""
    from tests import capbuild

    require_tool("tshark")
    path = tmp_path / "frags.pcap"
    path.write_bytes(capbuild.ip_fragment_cases())
    problems = analysis_problems(path)
    assert not problems, "\n".join(problems[:20])


def analysis_problems(path: Path) -> list[str]:
    theirs, mine = tshark_fields(path, ANALYSIS), ours(path, ANALYSIS)
    problems = [] if len(theirs) == len(mine) else [f"{len(theirs)} vs {len(mine)} frames"]
    for t_row, m_row in zip(theirs, mine):
        if t_row[1] == "" or len(t_row) != len(m_row):  # not TCP (or a quoted header in ICMP)
            continue
        for field, t_val, m_val in zip(ANALYSIS, t_row, m_row):
            if field.startswith("tcp.analysis.") and m_val in ("0", "1") and t_val in ("", "1"):
                m_val = "1" if m_val == "1" else ""
            if t_val != m_val:
                problems.append(f"frame {t_row[0]} {field}: tshark {t_val!r}, cnfpost {m_val!r}")
    return problems


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["clean", "tls_retrans", "path_loss"])
def test_info_conversations_match_tshark_conv_tcp(name):
    """`cnfpost info --json` lists the conversations `tshark -z conv,tcp` lists: the same
    endpoints, frames each way, relative start and duration."""
    import json
    import re
    import sys

    require_tool("tshark")
    path = LAB / name / "capture.pcap"
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "conv,tcp"],
                         capture_output=True, text=True, check=True).stdout
    theirs = {}
    for line in out.splitlines():
        m = re.match(r"(\S+)\s+<->\s+(\S+)\s+(\d+) .*?\s+(\d+) .*?\s+(\d+) .*?\s+([\d.]+)\s+([\d.]+)$", line)
        if m:
            a, b, to_a, from_a, total, start, dur = m.groups()
            theirs[(a, b)] = (int(from_a), int(to_a), round(float(start), 6), round(float(dur), 4))
    info = json.loads(subprocess.run([sys.executable, "-m", "cnfpost.cli", "info", "--json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)
    ours = {(c["client"], c["server"]): (c["frames_c2s"], c["frames_s2c"], round(c["rel_start_s"], 6),
                                         round(c["duration_ms"] / 1000, 4))
            for c in info["tcp_conversations"]}
    assert ours == theirs
