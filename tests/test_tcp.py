"""TCP analysis: one tiny capture per rule of ../shared/tcp-analysis.md, on both engines.

The compiled kernel (ext/_tcp.pyx) and the pure-Python reference (cnfpost/tcp_py.py) run
the same tests through the `engine` fixture; hypothesis checks that they agree on random
segment sequences and never fail.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnfpost.capture import decode_bytes
from cnfpost.model import (ANALYSIS_COLUMNS, DENSE_ANALYSIS, DERIVED_ANALYSIS, NO_STREAM, TCP_ANALYSIS_FIELDS,
                           TcpAnalysisFlag)
from cnfpost.tcp import FLOW_FIELDS, analyze_tcp, flow_keys, flow_order

from . import tcp_scenarios as sc
from .strategies import tcp_conversations
from .support import examples
from .tcp_builders import Capture, tcp_options


@pytest.fixture(params=["compiled", "python"])
def engine(request):
    return request.param


def run(cap: Capture, engine: str):
    table = decode_bytes(cap.pcap_bytes(), "scenario.pcap")
    return table, analyze_tcp(table, engine=engine)


def flagged(analysis) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for name in TCP_ANALYSIS_FIELDS:
        for frame in np.flatnonzero(analysis.has(name)) + 1:
            out.setdefault(int(frame), set()).add(name)
    return out


@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_scenario_flags(name, engine):
    cap, expected = sc.SCENARIOS[name]()
    _, a = run(cap, engine)
    assert flagged(a) == expected


def test_analysis_columns_fit_in_32_bytes():
    assert sum(np.dtype(c.dtype).itemsize for c in ANALYSIS_COLUMNS) <= 32
    assert len({c.name for c in ANALYSIS_COLUMNS}) == len(ANALYSIS_COLUMNS)


def test_retransmission_field_includes_fast_and_spurious():
    bits = TCP_ANALYSIS_FIELDS["tcp.analysis.retransmission"]
    assert bits & TcpAnalysisFlag.FAST_RETRANSMISSION
    assert bits & TcpAnalysisFlag.SPURIOUS_RETRANSMISSION


def test_dup_ack_numbers_and_frames(engine):
    cap, _ = sc.dup_ack_x3_fast_retransmission()
    _, a = run(cap, engine)
    assert a["tcp_dupack_num"][8:11].tolist() == [1, 2, 3]
    assert a["tcp_dupack_frame"][8:11].tolist() == [8, 8, 8]
    assert a["tcp_dupack_num"][7] == 0
    f = a.flow(0)
    assert (f["dup_acks"], f["fast_retransmissions"], f["retransmissions"]) == (3, 1, 1)


def test_irtt_and_handshake(engine):
    cap, _ = sc.dup_ack_x3_fast_retransmission()
    _, a = run(cap, engine)
    f = a.flow(0)
    assert f["irtt_ns"] == 20_100_000
    assert f["handshake"] == 1 and f["syn_retries"] == 0
    assert (f["mss_client"], f["mss_server"]) == (1460, 1460)
    assert (f["wscale_client"], f["wscale_server"]) == (7, 7)
    assert f["sack_permitted"] and not f["timestamps"]
    assert (f["client_port"], f["server_port"]) == (40000, 80)


def test_syn_retransmission_restarts_irtt(engine):
    cap, _ = sc.syn_retransmission_restarts_irtt()
    _, a = run(cap, engine)
    f = a.flow(0)
    assert f["irtt_ns"] == 20_100_000          # from the 2nd SYN, not the first
    assert f["syn_count"] == 2 and f["syn_retries"] == 1
    assert a.n_streams == 1


def test_ack_rtt_and_acks_frame(engine):
    cap, _ = sc.dup_ack_x3_fast_retransmission()
    _, a = run(cap, engine)
    # frame 8 (server ACK 101) acknowledges frame 4, sent at t=21.1 ms; frame 8 at 41 ms
    assert a["tcp_acks_frame"][7] == 4
    assert a.ack_rtt_ns()[7] == 41_000_000 - 21_100_000
    # the handshake ACK acknowledges the SYN/ACK, the SYN/ACK the SYN
    assert a["tcp_acks_frame"][1] == 1 and a["tcp_acks_frame"][2] == 2
    assert a.flow(0)["ack_rtt_server_count"] >= 2


def test_relative_numbers_and_scaled_window(engine):
    cap, _ = sc.dup_ack_x3_fast_retransmission()
    table, a = run(cap, engine)
    assert a["tcp_seq_rel"][:7].tolist() == [0, 0, 1, 1, 101, 201, 301]
    assert a["tcp_ack_rel"][:4].tolist() == [0, 1, 1, 1]
    assert a.nxtseq()[:5].tolist() == [1, 1, 1, 101, 201]
    # SYNs are never scaled; later windows are raw << 7
    assert a["tcp_win_scaled"][0] == 64240
    assert a["tcp_win_scaled"][7] == 500 << 7
    assert table["tcp_win"][7] == 500


def test_sequence_wrap_relative_numbers(engine):
    cap, _ = sc.sequence_wrap()
    table, a = run(cap, engine)
    assert table["tcp_seq"][5] < table["tcp_seq"][4]          # the raw numbers wrapped
    assert a["tcp_seq_rel"][3:6].tolist() == [1, 101, 201]
    assert a["tcp_ack_rel"][6] == 301
    assert a.flow(0)["unique_bytes_c2s"] == 400


def test_missing_handshake(engine):
    cap, _ = sc.missing_handshake_window_unknown()
    table, a = run(cap, engine)
    f = a.flow(0)
    assert f["handshake"] == 0 and f["irtt_ns"] == -1
    assert (f["wscale_client"], f["wscale_server"]) == (-1, -1)
    # no SYN or SYN/ACK captured: the higher (ephemeral) port is the client, though the
    # server sent the first frame
    assert f["client_port"] == 40000 and f["server_port"] == 80
    assert np.array_equal(a["tcp_win_scaled"], table["tcp_win"].astype(np.uint32))
    # relative numbers start at 1 without a SYN (Wireshark bug 1542)
    assert a["tcp_seq_rel"][0] == 1 and a["tcp_seq_rel"][1] == 1


def test_port_reuse_streams(engine):
    cap, _ = sc.port_reuse_new_stream()
    _, a = run(cap, engine)
    assert a["tcp_stream"].tolist() == [0, 1, 0, 0, 1, 1, 0, 0, 0, 2, 2, 2, 1]
    assert a.n_streams == 3
    assert a.flows["first_frame"].tolist() == [1, 2, 10]
    assert a.flows["end"].tolist() == [1, 0, 0]          # FIN both ways, open, open
    assert a["tcp_seq_rel"][9] == 0                      # relative to the new ISN


def test_icmp_errors_get_the_quoted_stream(engine):
    cap, _ = sc.icmp_errors_quoting_tcp()
    _, a = run(cap, engine)
    assert a["tcp_stream"].tolist() == [0, 0, 1, NO_STREAM, 2]
    assert a.flows["packets_c2s"].tolist() == [1, 0, 1]      # ICMP frames are not counted
    assert a["tcp_analysis"].tolist() == [0] * 5


def test_rst_ends_flow(engine):
    cap, _ = sc.rst_with_zero_window()
    _, a = run(cap, engine)
    assert a.flow(0)["end"] == 2
    assert a.flow(0)["zero_windows"] == 0


def test_zero_window_time(engine):
    cap, _ = sc.zero_window_and_probe()
    _, a = run(cap, engine)
    f = a.flow(0)
    assert f["zero_windows"] == 2 and f["zero_window_probes"] == 1
    # closed from frame 5 (41 ms) until frame 8 reopens it (300 ms)
    assert f["zero_window_ns"] == 259_000_000 and f["zero_window_max_ns"] == 259_000_000


def test_zero_window_open_at_end_counts_to_the_end(engine):
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(41, "s", 1, 101, "A", win=0)
    k.seg(141, "c", 101, 1, "A")                          # the stream ends 100 ms later
    _, a = run(cap, engine)
    assert a.flow(0)["zero_window_ns"] == 100_000_000


def test_non_tcp_rows_have_no_stream(engine):
    cap, _ = sc.keep_alive()
    table, a = run(cap, engine)
    assert (a["tcp_stream"] != NO_STREAM).all()
    table.columns["ip_proto"][0] = 17                     # pretend the SYN was UDP
    a = analyze_tcp(table, engine=engine)
    assert a["tcp_stream"][0] == NO_STREAM and a["tcp_analysis"][0] == 0


def _ts_capture():
    cap = Capture()
    k = cap.conn()
    ts = lambda v, e: tcp_options(ts=(v, e))  # noqa: E731
    o = tcp_options(mss=1460, ts=(100, 0), wscale=7, sack_perm=True)
    k.seg(0, "c", 0, None, "S", opts=o)
    k.seg(20, "s", 0, 1, "SA", opts=tcp_options(mss=1460, ts=(900, 100), wscale=7, sack_perm=True))
    k.seg(20.1, "c", 1, 1, "A", opts=ts(101, 900))
    k.seg(21, "c", 1, 1, "PA", data=100, opts=ts(102, 900))
    k.seg(51, "s", 1, 101, "A", opts=ts(930, 102))
    return cap


def test_ts_rtt_samples(engine):
    cap = _ts_capture()
    _, a = run(cap, engine)
    f = a.flow(0)
    assert f["timestamps"]
    # TSval 100 echoed 20 ms later, 900 echoed 0.1 ms later, 102 echoed 30 ms later
    assert f["ts_rtt_count"] == 3
    assert (f["ts_rtt_min_ns"], f["ts_rtt_max_ns"]) == (100_000, 30_000_000)
    assert f["ts_rtt_median_ns"] == 20_000_000
    samples = a.rtt_samples(0)
    if engine == "compiled":     # the flows-only kernel times nothing, counts the same
        rows, echoed = _flows_only_counts_the_same(decode_bytes(cap.pcap_bytes(), "x"))
        assert rows.tolist() == [1, 2, 4] and echoed.tolist() == [0, 1, 3]
    assert set(samples) == {"ack_rtt_server", "ack_rtt_client"}
    assert samples["ack_rtt_server"][0].tolist() == [2, 5]        # tcp.analysis.ack_rtt


def test_window_series_downsampled(engine):
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    for i in range(200):
        k.seg(t + 1 + i, "c", 1 + i * 10, 1, "PA", data=10)
        k.seg(t + 1.5 + i, "s", 1, 11 + i * 10, "A", win=100 + i)
    _, a = run(cap, engine)
    ts, win = a.window_series(0, "server", points=20)
    assert len(ts) == 20 and np.all(np.diff(ts) > 0)
    assert win[0] == (100 << 7) and win[-1] == (299 << 7)


def test_flow_table_has_every_documented_field(engine):
    cap, _ = sc.port_reuse_new_stream()
    _, a = run(cap, engine)
    assert set(a.flows) == set(FLOW_FIELDS)
    assert all(v.shape == (3,) for v in a.flows.values())


def test_empty_capture(engine):
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S")
    table = decode_bytes(cap.pcap_bytes(), "x")
    table.columns["ip_proto"][:] = 17
    a = analyze_tcp(table, engine=engine)
    assert a.n_streams == 0 and set(a.flows) == set(FLOW_FIELDS)


def test_flow_keys_are_bidirectional():
    cap, _ = sc.port_reuse_new_stream()
    table = decode_bytes(cap.pcap_bytes(), "x")
    lo, hi, direction = flow_keys(table)
    # frames 1 (client SYN) and 3 (server SYN/ACK) of the same 4-tuple: same key,
    # opposite directions; frame 2 is another 4-tuple
    assert (lo[0], hi[0]) == (lo[2], hi[2])
    assert direction[0] != direction[2]
    assert (lo[0], hi[0]) != (lo[1], hi[1])
    assert np.all(lo <= hi)


def test_flow_order_groups_in_capture_order():
    cap, _ = sc.port_reuse_new_stream()
    table = decode_bytes(cap.pcap_bytes(), "x")
    order, group_start, direction = flow_order(table)
    assert sorted(order.tolist()) == list(range(len(table)))
    for g in range(len(group_start) - 1):
        part = order[group_start[g]:group_start[g + 1]]
        assert np.all(np.diff(part) > 0)
    assert len(group_start) - 1 == 2                     # two 4-tuples
    assert direction[0] != direction[2]


def _kernel_args(table):
    """The compiled kernel's arguments for a table, as cnfpost/tcp.py builds them."""
    from cnfpost.model import DENSE_ANALYSIS, DecodeStatus, TcpOpt, empty_columns
    c, n = table.columns, len(table)
    out = empty_columns(DENSE_ANALYSIS, n)
    e64 = np.zeros(0, dtype=np.int64)
    return [c["ip_version"], c["ip_proto"], c["tcp_hdr_len"], c["status"], c["ip_src"],
            c["ip_dst"], c["sport"], c["dport"], c["ts_ns"], c["tcp_seq"], c["tcp_ack"],
            c["tcp_flags"], c["tcp_win"], c["payload_len"], c["tcp_opts"], c["tcp_tsval"],
            c["tcp_tsecr"], int(TcpOpt.SACK), int(TcpOpt.TIMESTAMP),
            int(DecodeStatus.BAD_TCP_HEADER_LEN), int(DecodeStatus.TRUNCATED_L4), True,
            e64, np.zeros(0, np.uint64), np.zeros(0, np.uint64),
            e64, np.zeros(0, np.int8), e64, np.zeros(0, np.uint32),
            *(out[name] for name in ("tcp_stream", "tcp_bytes_in_flight", "tcp_analysis",
                                     "tcp_acks_frame")),
            np.zeros(n, np.uint8)]


def test_kernel_rejects_mismatched_and_unordered_inputs():
    from cnfpost import _tcp
    cap, _ = sc.keep_alive()
    table = decode_bytes(cap.pcap_bytes(), "x")
    n = len(table)
    args = _kernel_args(table)
    status, stats, (ts_rows, ts_vals), (dup_rows, dup_num, dup_frame), (steps, odd) = \
        _tcp._analyze(*args)
    assert status == _tcp.STATUS_OK and stats.shape == (1, 43)
    assert ts_rows.shape == ts_vals.shape and dup_rows.shape == dup_num.shape == dup_frame.shape
    assert steps.shape[1] == 3 and odd.shape[1] == 4 and steps.shape[0] > 0

    def rejected(**change):
        bad = list(args)
        for index, value in change.items():
            bad[int(index[1:])] = value
        status, stats, (rows, _), (dups, _, _), _ = _tcp._analyze(*bad)
        return (status == _tcp.STATUS_BAD_INDEX and stats.shape[0] == 0
                and rows.shape == dups.shape == (0,))

    assert rejected(a30=np.zeros(n - 1, np.uint32))                 # an output too short
    assert rejected(a0=np.zeros(n + 1, np.uint8))                   # an input too long
    assert rejected(a25=np.array([n], np.int64), a26=np.zeros(1, np.int8))      # row outside
    assert rejected(a25=np.array([2, 1], np.int64), a26=np.zeros(2, np.int8))   # unordered
    assert rejected(a25=np.array([1, 1], np.int64), a26=np.zeros(2, np.int8))   # repeated
    assert rejected(a25=np.array([1], np.int64), a26=np.zeros(2, np.int8))      # one short
    assert rejected(a22=np.array([-1], np.int64), a23=np.zeros(1, np.uint64),
                    a24=np.zeros(1, np.uint64))                     # a negative quoted row
    assert rejected(a30=np.zeros(n, np.uint32)[:0])                  # per frame: all rows


def test_flows_only_kernel_counts_the_same_with_one_entry_outputs():
    """cnfpost info's mode: the counts and the streams, nothing else written per frame."""
    cap, _ = sc.dup_ack_x3_fast_retransmission()
    table = decode_bytes(cap.pcap_bytes(), "x")
    _flows_only_counts_the_same(table)
    info = analyze_tcp(table, per_frame=False)
    assert set(info.columns) == {"tcp_stream"}
    full = analyze_tcp(table).flow(0)
    assert info.flow(0) == {k: v for k, v in full.items() if not k.startswith(
        ("win_", "ack_rtt_", "ts_rtt_"))}
    assert full["retransmissions"] > 0


def _flows_only_counts_the_same(table):
    from cnfpost import _tcp
    full = _kernel_args(table)
    status, stats, (ts_rows, ts_echoed), _, _ = _tcp._analyze(*full)
    assert status == _tcp.STATUS_OK
    lean = list(full)
    lean[21] = False
    lean[30:33] = [np.zeros(1, a.dtype) for a in full[30:33]]
    lean[29], lean[33] = np.zeros_like(full[29]), np.zeros_like(full[33])
    status, lean_stats, (lean_ts, _), (lean_dups, _, _), (steps, odd) = _tcp._analyze(*lean)
    assert status == _tcp.STATUS_OK and lean_ts.shape == lean_dups.shape == (0,)
    assert steps.shape == (0, 3) and odd.shape == (0, 4)
    assert np.array_equal(stats, lean_stats)
    assert np.array_equal(full[29], lean[29]) and np.array_equal(full[33], lean[33])
    return ts_rows, ts_echoed


def test_reference_engine_rejects_mismatched_arrays():
    from cnfpost import tcp_py
    cap, _ = sc.keep_alive()
    table = decode_bytes(cap.pcap_bytes(), "x")
    n = len(table)
    c = table.columns
    z = lambda dt, k=n: np.zeros(k, dtype=dt)  # noqa: E731
    args = [z("u8"), z("u8"), z("u1"), z("u1"), z("u1"), z("u1"), c["ts_ns"], c["tcp_seq"], c["tcp_ack"],
            c["tcp_flags"], c["tcp_win"], c["payload_len"], z("u1"), np.full(n, -1, np.int8),
            z("u1"), z("u4"), z("u1"), z("u4"), z("u4"), z("u4"), z("u4"), z("u4"), z("u4"),
            z("u4"), z("u2"), z("u2"), z("u4"), z("u4"), z("i8")]
    status, stats = tcp_py.analyze(*args)
    assert status == tcp_py.STATUS_OK and stats.shape == (0, 43)     # nothing marked TCP
    bad = list(args)
    bad[21] = z("u4", n - 1)                                          # an output too short
    status, stats = tcp_py.analyze(*bad)
    assert status == tcp_py.STATUS_BAD_INDEX and stats.shape[0] == 0


# ---------------------------------------------------------------------------------------
# Random segment sequences: both engines agree, and nothing fails.
# ---------------------------------------------------------------------------------------
segment = st.tuples(
    st.floats(0, 50),                          # time step, ms
    st.sampled_from("cs"),                     # side
    st.integers(-3, 6),                        # seq, in 100-byte units around the window
    st.integers(-3, 6),                        # ack, same
    st.sampled_from(["A", "PA", "S", "SA", "FA", "R", "RA", "A"]),
    st.sampled_from([0, 1, 500, 501, 65535]),  # window
    st.sampled_from([0, 0, 1, 100, 200]),      # payload
    st.booleans(),                             # SACK block
)


def assert_engines_agree(table):
    """Both engines give the same columns and flow table; returns the compiled one's."""
    ac = analyze_tcp(table, engine="compiled")
    ap = analyze_tcp(table, engine="python")
    # the compiled engine derives the relative numbers; the reference stores them
    assert set(ac.columns) == {c.name for c in DENSE_ANALYSIS}
    assert set(ap.columns) == set(ac.columns) | set(DERIVED_ANALYSIS)
    backwards = np.arange(len(ac))[::-1]
    for c in ANALYSIS_COLUMNS:
        assert np.array_equal(ac[c.name], ap[c.name]), c.name
        assert np.array_equal(ac.at(c.name, backwards), ap[c.name][backwards]), c.name
    for name in ac.flows:
        assert np.array_equal(ac.flows[name], ap.flows[name]), name
    return ac


@settings(max_examples=examples(150))
@given(st.lists(segment, min_size=1, max_size=40), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.booleans())
def test_engines_agree_on_random_segments(segs, isn_c, isn_s, handshake):
    cap = Capture()
    k = cap.conn(isn_c=isn_c, isn_s=isn_s)
    t = k.handshake() if handshake else 0.0
    for dt, side, s, a, flags, win, data, sack in segs:
        t += dt
        opts = tcp_options(sack=[(isn_s + 1, isn_s + 101)]) if sack else b""
        k.seg(t, side, 1 + s * 100, 1 + a * 100, flags, win=win, data=data, opts=opts)
    assert_engines_agree(decode_bytes(cap.pcap_bytes(), "random.pcap"))


@settings(max_examples=examples(200))
@given(tcp_conversations())
def test_engines_agree_on_handshake_edge_cases(cap):
    """SYN retries, port reuse and time going backwards, which uniform random segments
    reach only by chance (the negative-iRTT disagreement was found that way)."""
    assert_engines_agree(decode_bytes(cap.pcap_bytes(), "conversation.pcap"))


def _table_from_columns(cols: dict, n: int):
    """A PacketTable built directly from NumPy columns (no decoder involved)."""
    from cnfpost.model import (ICMP_COLUMNS, PACKET_COLUMNS, PAYLOAD_COLUMNS, SACK_COLUMNS,
                               TCPOPT_COLUMNS, CaptureStats, PacketTable, empty_columns)
    columns = empty_columns(PACKET_COLUMNS, n)
    for k, v in cols.items():
        columns[k][:] = v
    return PacketTable(columns=columns, ip6_addresses=np.zeros((0, 16), np.uint8),
                       icmp=empty_columns(ICMP_COLUMNS, 0), tcpopt=cols.get("_tcpopt", empty_columns(TCPOPT_COLUMNS, 0)),
                       sack=empty_columns(SACK_COLUMNS, 0), payload_index=empty_columns(PAYLOAD_COLUMNS, 0),
                       payload_bytes=b"", interfaces=[], stats=CaptureStats(path="x"))


@settings(max_examples=examples(100))
@given(st.data())
def test_engines_agree_on_arbitrary_columns(data):
    """Any column values (time going backwards, odd flags, big lengths, a few 4-tuples):
    both engines give the same results and nothing fails."""
    n = data.draw(st.integers(1, 60))
    u32 = st.integers(0, 2**32 - 1)
    pick = lambda s: np.array(data.draw(st.lists(s, min_size=n, max_size=n)))  # noqa: E731
    cols = {
        "ts_ns": pick(st.integers(0, 10**10)),
        "ip_version": pick(st.sampled_from([4, 4, 6, 0])),
        "ip_proto": pick(st.sampled_from([6, 6, 6, 17])),
        "tcp_hdr_len": pick(st.sampled_from([20, 32, 0])),
        "ip_src": pick(st.sampled_from([1, 2])), "ip_dst": pick(st.sampled_from([1, 2])),
        "sport": pick(st.sampled_from([80, 4000])), "dport": pick(st.sampled_from([80, 4000])),
        "tcp_seq": pick(st.one_of(u32, st.sampled_from([0, 1, 100, 2**32 - 1]))),
        "tcp_ack": pick(st.one_of(u32, st.sampled_from([0, 1, 100, 2**32 - 1]))),
        "tcp_flags": pick(st.integers(0, 0x1FF)),
        "tcp_win": pick(st.sampled_from([0, 1, 65535])),
        "payload_len": pick(st.sampled_from([0, 1, 100, 2**31])),
        "status": pick(st.sampled_from([0, 0, 9, 10, 13])),
        "tcp_opts": pick(st.integers(0, 0x1F)),
        "tcp_tsval": pick(st.integers(0, 5)), "tcp_tsecr": pick(st.integers(0, 5)),
    }
    table = _table_from_columns(cols, n)
    ws_rows = data.draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True))
    table.tcpopt = {"row": np.array(sorted(ws_rows), np.uint32),
                    "mss": np.full(len(ws_rows), 1460, np.uint16),
                    "wscale": np.array(data.draw(st.lists(st.sampled_from([0, 7, 14, 200, 255]),
                                                          min_size=len(ws_rows), max_size=len(ws_rows))), np.uint8)}
    ac = assert_engines_agree(table)
    streams = ac["tcp_stream"][ac["tcp_stream"] != NO_STREAM]
    # numbered by first appearance: 0, 1, 2, ... in order
    if streams.size:
        firsts = np.unique(streams, return_index=True)[1]
        assert np.all(np.diff(streams[np.sort(firsts)]) == 1) and streams[0] == 0


def test_engines_agree_when_the_handshake_ack_goes_back_in_time():
    """test_engines_agree_on_arbitrary_columns' failing case (hypothesis 6.170.27 blob
    AXicc1RzZCAVOkssriBd1ygchYMFOvOKHR9oN1AXOjEqY5UodGQcaKeNQupABgBPJ7py), rebuilt: 38 frames
    of one 4-tuple at t=0 but a SYN at 1.6 ms; the pure ACK after it (at 0) makes the iRTT
    negative. Wireshark's OOO threshold is a guint64, so it is huge, not negative: frame 38
    (FIN, old seq, 0 ns after nextseq moved) is out-of-order in both engines, as in tshark
    (tcp_scenarios.time_backwards_negative_irtt), where the reference said retransmission."""
    n = 38
    cols = {name: np.zeros(n, np.int64) for name in ("ts_ns", "tcp_seq", "tcp_flags")}
    cols["ts_ns"][25] = 1_614_712
    cols["tcp_flags"][[25, 36, 37]] = [0x123, 0x071, 0x001]   # NS|URG|SYN|FIN, ..|ACK|FIN, FIN
    cols["tcp_seq"][36] = 857_799
    cols.update(ip_version=4, ip_proto=6, tcp_hdr_len=20, ip_src=1, ip_dst=1, sport=80, dport=80)
    ac = assert_engines_agree(_table_from_columns(cols, n))
    assert ac["tcp_analysis"][37] == TcpAnalysisFlag.OUT_OF_ORDER
    assert ac.flows["irtt_ns"].tolist() == [-1, -1]          # not positive: unknown


def test_kernel_compiles_without_bounds_checks():
    """Index values reaching the kernel are its own or checked at entry; the loop itself
    runs without bounds checks (setup.py DIRECTIVES) unless CNFPOST_DEBUG_CYTHON=1."""
    import os
    from pathlib import Path

    from .support import require

    generated = Path(__file__).resolve().parents[1] / "ext" / "_tcp.c"
    require(generated.exists(), "ext/_tcp.c not generated (build with build_ext --inplace)")
    text = generated.read_text()
    if os.environ.get("CNFPOST_DEBUG_CYTHON") == "1":
        pytest.skip("debug build: bounds checks are on by design")
    assert "__Pyx_RaiseBufferIndexError" not in text
    pyx = generated.with_suffix(".pyx").read_text()
    assert "boundscheck(True)" not in pyx and "boundscheck=True" not in pyx


@settings(max_examples=examples(100))
@given(st.lists(st.integers(0, 2**32 - 2), max_size=200), st.integers(0, 2**32 - 2))
def test_by_stream_is_the_stable_argsort(streams, offset):
    """Narrow spans are sorted as uint16 offsets, wide ones as they are: the same order."""
    from cnfpost.tcp import by_stream
    for keys in (np.array(streams, dtype=np.uint32),
                 (np.array(streams, dtype=np.uint64) % 70_000 + offset % 1000).astype(np.uint32),
                 (np.array(streams, dtype=np.uint64) % 50 + offset).astype(np.uint32)):
        assert np.array_equal(by_stream(keys), np.argsort(keys, kind="stable"))


def test_ts_rtt_needs_both_frames_timed(engine):
    """A frame without a time stamp (a pcapng simple packet block) times no TSval RTT: the
    SYN's TSval echoed by the SYN/ACK gives no sample, the others still do."""
    from cnfpost.model import NO_TIME
    table = decode_bytes(_ts_capture().pcap_bytes(), "x")
    table.columns["ts_ns"][0] = NO_TIME
    f = analyze_tcp(table, engine=engine).flow(0)
    assert f["ts_rtt_count"] == 2
    assert (f["ts_rtt_min_ns"], f["ts_rtt_max_ns"]) == (100_000, 30_000_000)


def test_a_dropped_analysis_is_freed_without_the_cycle_collector():
    """The flow table's lazy families hold arrays, not the analysis: no reference cycle
    keeps a dropped analysis's columns resident until a collection."""
    import gc
    import weakref
    table = decode_bytes(_ts_capture().pcap_bytes(), "x")
    gc.disable()
    try:
        a = analyze_tcp(table)
        ref = weakref.ref(a)
        del a
        assert ref() is None
    finally:
        gc.enable()
