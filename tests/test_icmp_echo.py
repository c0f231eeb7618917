"""Echo pairing from the capture's ICMP side table: tables built directly from NumPy arrays
(scenario by scenario), and the real echoes of the path_loss lab bundle."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, strategies as st

from cnfpost.icmp_echo import pair_echoes
from cnfpost.inputs.ping import load_ping
from cnfpost.model import (
    ICMP_COLUMNS, PACKET_COLUMNS, CaptureStats, PacketTable, empty_columns,
)

LAB = Path(__file__).parent / "data" / "inputs" / "lab"
ME, TARGET, ROUTER = "198.18.1.2", "198.18.3.2", "198.18.2.1"
MS = 1_000_000


def v4(addr: str) -> int:
    return int(ipaddress.IPv4Address(addr))


def req(ts_ms, seq, ident=7, src=ME, dst=TARGET, **kw):
    return dict(ts=ts_ms, type=8, ident=ident, seq=seq, src=src, dst=dst, **kw)


def rep(ts_ms, seq, ident=7, src=TARGET, dst=ME, **kw):
    return dict(ts=ts_ms, type=0, ident=ident, seq=seq, src=src, dst=dst, **kw)


def time_exceeded(ts_ms, seq, ident=7, src=ROUTER):
    return dict(ts=ts_ms, type=11, ident=0, seq=0, src=src, dst=ME,
                quote=(4, 1, v4(ME), v4(TARGET), ident, seq))


def unreachable(ts_ms, seq, ident=7, src=ROUTER):
    return dict(ts=ts_ms, type=3, code=1, ident=0, seq=0, src=src, dst=ME,
                quote=(4, 1, v4(ME), v4(TARGET), ident, seq))


def table(packets, version=4, extra_rows=0) -> PacketTable:
    """A packet table holding these ICMP packets (and extra_rows non-ICMP rows first)."""
    n = len(packets) + extra_rows
    cols = empty_columns(PACKET_COLUMNS, n)
    icmp = empty_columns(ICMP_COLUMNS, len(packets))
    six: list[bytes] = []

    def addr(text: str) -> int:
        if version == 4:
            return v4(text)
        raw = ipaddress.IPv6Address(text).packed
        if raw not in six:
            six.append(raw)
        return six.index(raw)

    for i, p in enumerate(packets):
        row = extra_rows + i
        cols["ts_ns"][row] = int(p["ts"] * MS)
        cols["ip_version"][row] = version
        cols["ip_proto"][row] = 1 if version == 4 else 58
        cols["ip_src"][row], cols["ip_dst"][row] = addr(p["src"]), addr(p["dst"])
        icmp["row"][i] = row
        icmp["type"][i] = p["type"]
        icmp["code"][i] = p.get("code", 0)
        icmp["ident"][i], icmp["seq"][i] = p["ident"], p["seq"]
        icmp["version"][i] = version
        if "quote" in p:
            (icmp["q_ip_version"][i], icmp["q_proto"][i], icmp["q_src"][i], icmp["q_dst"][i],
             icmp["q_sport"][i], icmp["q_dport"][i]) = p["quote"]
    ip6 = np.array([list(a) for a in six], dtype=np.uint8).reshape(-1, 16)
    return PacketTable(columns=cols, ip6_addresses=ip6, icmp=icmp,
                       tcpopt={}, sack={}, payload_index={}, payload_bytes=b"", interfaces=[],
                       stats=CaptureStats(path="<test>"))


# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------

def test_simple_pairs_give_rtts_on_the_capture_clock():
    echo = pair_echoes(table([req(0, 1), rep(20.5, 1), req(1000, 2), rep(1021.25, 2)],
                             extra_rows=3))
    assert echo.rtt_ms.tolist() == [20.5, 21.25]
    assert echo.request_frame.tolist() == [4, 6] and echo.reply_frame.tolist() == [5, 7]
    assert echo.request_ts_ns.tolist() == [0, 1000 * MS]
    assert echo.seq.tolist() == [1, 2]
    assert (echo.sent, echo.answered, echo.loss_pct) == (2, 2, 0.0)
    (run,) = echo.runs
    assert (run.source, run.target, run.ident, run.version) == (ME, TARGET, 7, 4)
    assert echo.stats.jitter_ms == pytest.approx(0.75)


def test_unanswered_request_is_loss_with_its_frame():
    echo = pair_echoes(table([req(0, 1), rep(10, 1), req(1000, 2), req(2000, 3),
                              rep(2010, 3)]))
    assert echo.unanswered_frame.tolist() == [3]
    assert echo.unanswered_ts_ns.tolist() == [1000 * MS]
    assert echo.loss_pct == pytest.approx(100 / 3)
    assert echo.to_dict()["unanswered_frames"] == [3]


def test_duplicate_reply_is_counted_not_paired():
    echo = pair_echoes(table([req(0, 1), rep(10, 1), rep(11, 1)]))
    assert echo.answered == 1 and echo.duplicate_replies == 1 and echo.rtt_ms.tolist() == [10]


def test_second_copy_of_a_request_is_not_a_lost_probe():
    # a capture on "any" sees the request on two interfaces, microseconds apart
    echo = pair_echoes(table([req(0, 1), req(0.004, 1), rep(10, 1)]))
    assert echo.duplicate_requests == 1 and echo.sent == 1 and echo.loss_pct == 0.0
    assert echo.rtt_ms.tolist() == [10]  # from the first copy


def test_reply_without_request_is_an_orphan():
    echo = pair_echoes(table([rep(5, 9), req(10, 10), rep(20, 10)]))
    assert echo.orphan_replies == 1 and echo.answered == 1


def test_traceroute_probes_answered_by_time_exceeded_are_left_out():
    packets = [req(0, 1), time_exceeded(1, 1), req(100, 2), time_exceeded(101, 2),
               req(200, 3), rep(220, 3)]
    echo = pair_echoes(table(packets))
    assert echo.ttl_expired == 2 and echo.sent == 1 and echo.loss_pct == 0.0


def test_unreachable_leaves_the_request_lost():
    echo = pair_echoes(table([req(0, 1), unreachable(3, 1), req(100, 2), rep(110, 2)]))
    assert echo.error_replies == 1 and echo.unanswered_frame.tolist() == [1]
    assert echo.loss_pct == 50.0


def test_replies_matched_by_identifier_and_direction():
    packets = [req(0, 1, ident=7), req(1, 1, ident=8), rep(10, 1, ident=8),
               rep(12, 1, ident=7),
               rep(20, 1, ident=7, src="192.0.2.99")]  # same id/seq, another host: orphan
    echo = pair_echoes(table(packets))
    assert sorted(zip(echo.request_frame.tolist(), echo.reply_frame.tolist())) == \
        [(1, 4), (2, 3)]
    assert echo.orphan_replies == 1
    assert [(r.ident, r.sent) for r in echo.runs] == [(7, 1), (8, 1)]


def test_time_order_not_file_order():
    # the reply is earlier in the file (two interfaces interleaved) but later in time
    echo = pair_echoes(table([rep(10, 1), req(0, 1)]))
    assert echo.request_frame.tolist() == [2] and echo.rtt_ms.tolist() == [10]


def test_wrapped_sequence_number_starts_a_new_pair():
    echo = pair_echoes(table([req(0, 5), rep(1, 5), req(100, 5), rep(103, 5)]))
    assert echo.rtt_ms.tolist() == [1, 3] and echo.duplicate_replies == 0


def test_ipv6_echoes():
    packets = [dict(ts=0, type=128, ident=3, seq=1, src="fd00:cafe:1::2", dst="fd00:cafe:3::2"),
               dict(ts=2, type=129, ident=3, seq=1, src="fd00:cafe:3::2", dst="fd00:cafe:1::2"),
               dict(ts=5, type=128, ident=3, seq=2, src="fd00:cafe:1::2", dst="fd00:cafe:3::2")]
    echo = pair_echoes(table(packets, version=6))
    assert echo.rtt_ms.tolist() == [2.0] and echo.unanswered_frame.tolist() == [3]
    assert echo.runs[0].target == "fd00:cafe:3::2" and echo.runs[0].version == 6


def test_rtts_between_slices_by_request_time():
    packets = []
    for i in range(10):
        packets += [req(i * 100, i + 1), rep(i * 100 + 1 + i, i + 1)]
    echo = pair_echoes(table(packets))
    assert echo.rtts_between(200 * MS, 500 * MS).tolist() == [3.0, 4.0, 5.0]
    assert echo.rtts_between(10_000 * MS, 20_000 * MS).tolist() == []


def test_empty_capture():
    echo = pair_echoes(table([], extra_rows=4))
    assert (echo.sent, echo.loss_pct, echo.runs) == (0, None, ())
    assert echo.stats.count == 0
    orjson.dumps(echo.to_dict())


@given(st.lists(st.tuples(st.integers(0, 10_000), st.booleans(), st.integers(1, 5),
                          st.integers(6, 7)), max_size=40))
def test_counts_always_add_up(events):
    packets = [(req if is_req else rep)(ts, seq, ident=ident)
               for ts, is_req, seq, ident in events]
    echo = pair_echoes(table(packets))
    requests = sum(1 for e in events if e[1])
    replies = len(events) - requests
    assert echo.sent + echo.duplicate_requests + echo.ttl_expired == requests
    assert echo.answered + echo.duplicate_replies + echo.orphan_replies == replies
    assert (echo.rtt_ms >= 0).all()
    assert (np.diff(echo.request_ts_ns) >= 0).all()


# ---------------------------------------------------------------------------------------
# Real capture: the path_loss bundle's ICMP frames
# ---------------------------------------------------------------------------------------

def test_lab_echoes_match_ping_and_mtr():
    from cnfpost.decode_py import read_capture

    packets = read_capture((LAB / "path_loss" / "icmp.pcap").read_bytes(), "icmp.pcap")
    echo = pair_echoes(packets)
    ping_run, _ = load_ping(LAB / "path_loss" / "ping.txt")
    by_ident = {r.ident: i for i, r in enumerate(echo.runs)}
    ping_index = by_ident[8333]
    run = echo.runs[ping_index]
    assert (run.sent, run.answered, run.target) == (20, 19, "198.18.3.2")
    # the one lost ping (icmp_seq=11) is the one unanswered request of that run
    mine = echo.run == ping_index
    assert 11 not in echo.seq[mine].tolist() and len(echo.seq[mine]) == 19
    # The wire RTT is never above what ping measured in user space, and close to it.
    ping_rtt = {p.seq: p.rtt_ms for p in ping_run.replies}
    for seq, rtt in zip(echo.seq[mine].tolist(), echo.rtt_ms[mine].tolist()):
        assert 0 < rtt <= ping_rtt[seq] + 0.0005
        assert ping_rtt[seq] - rtt < 0.1
    # mtr's probes: those with low TTLs got Time Exceeded and are left out
    assert echo.ttl_expired == 20
    assert echo.runs[by_ident[8335]].sent == 11
