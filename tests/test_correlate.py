"""Placing curl samples on the capture and bucketing their packets into phases."""
from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cnfpost.capture import decode_bytes, read_capture
from cnfpost.correlate import (EVENT_BITS, address_key, aggregate_phases, bucket_rows,
                               bucket_sample, place_samples)
from cnfpost.inputs.curl import PHASE_IDS, load_curl, parse_curl
from cnfpost.tcp import analyze_tcp

from tests.support import LAB_BUNDLES as LAB
from tests.tcp_builders import Capture


@lru_cache(maxsize=None)
def lab(name: str):
    table = read_capture(LAB / name / "capture.pcap")
    tcp = analyze_tcp(table)
    samples, problems = load_curl(LAB / name / "timings.jsonl")
    assert not problems
    return table, tcp, list(samples)


@pytest.mark.parametrize("name", ["clean", "tls_retrans", "path_loss"])
def test_every_sample_matches_its_own_connection_by_local_port(name):
    table, tcp, samples = lab(name)
    placements = place_samples(samples, tcp, table)
    streams = [p.stream for p in placements]
    assert all(p.method == "local_port" and p.anchor == "syn" for p in placements)
    assert len(set(streams)) == len(samples)
    for p, s in zip(placements, samples):
        assert int(tcp.flows["client_port"][p.stream]) == s.local_port
        assert address_key(table, s.remote_ip) == (int(tcp.flows["ip_version"][p.stream]),
                                                  int(tcp.flows["server_addr"][p.stream]))


@pytest.mark.parametrize("name", ["clean", "tls_retrans"])
def test_anchor_puts_the_syn_ack_at_curls_connect_time(name):
    """Anchored at SYN - namelookup, the SYN/ACK lands less than a millisecond before curl's
    time_connect (curl sees it after the kernel does, never before): the clocks agree."""
    table, tcp, samples = lab(name)
    for p, s in zip(place_samples(samples, tcp, table), samples):
        rows = np.flatnonzero(tcp.columns["tcp_stream"] == p.stream)
        synack = rows[(table["tcp_flags"][rows] & 0x12) == 0x12][0]
        connect_ms = s.phases["tcp"].start_ms + s.phases["tcp"].duration_ms
        wire_ms = (table["ts_ns"][synack] - p.anchor_ns) / 1e6
        assert -1.0 < wire_ms - connect_ms <= 0
        # capture clock minus wall clock, in ms: the collector's `date` runs a few ms
        # before curl starts (5.7 to 9.8 ms on these runs; seconds or us would be far out)
        assert p.clock_offset_ms == (p.anchor_ns - round(s.wall_start_s * 1e9)) / 1e6
        assert 1.0 < p.clock_offset_ms < 20.0


def test_tls_drop_lands_in_the_tls_phase():
    """tls_retrans: the first ServerHello segment of every connection was dropped once; its
    retransmission must be counted in TLS, in every sample, and nowhere else."""
    table, tcp, samples = lab("tls_retrans")
    for p in place_samples(samples, tcp, table):
        buckets = bucket_sample(p, tcp)
        assert buckets["tls"].events["retransmissions"] >= 1
        for pid in PHASE_IDS:
            if pid != "tls":
                assert buckets[pid].events.get("retransmissions", 0) == 0
        frame = buckets["tls"].event_frames["retransmissions"][0]
        assert table["ip_src"][frame - 1] == tcp.flows["server_addr"][p.stream]
        assert table.payload(frame - 1)[:1] == b"\x16"  # a TLS handshake record: the ServerHello


def test_reused_connection_follows_the_previous_sample():
    table, tcp, samples = lab("clean")
    second = replace(samples[1], num_connects=0, local_port=samples[0].local_port,
                     phases={**samples[1].phases,
                             **{pid: replace(samples[1].phases[pid], status="reused", start_ms=None,
                                             duration_ms=None) for pid in ("dns", "tcp", "tls")}})
    placements = place_samples([samples[0], second], tcp, table)
    assert placements[1].method == "reused_connection"
    assert placements[1].stream == placements[0].stream
    assert placements[1].anchor == "wallclock"


def test_missing_port_falls_back_to_the_wall_clock_window():
    table, tcp, samples = lab("clean")
    blind = replace(samples[2], local_port=None, remote_ip=None)
    placement = place_samples([blind], tcp, table)[0]
    assert placement.method == "wallclock"
    assert placement.stream == place_samples([samples[2]], tcp, table)[0].stream


def test_sample_whose_connection_is_not_in_the_capture():
    table, tcp, samples = lab("clean")
    lost = replace(samples[0], local_port=1, wall_start_s=1.0, wall_end_s=2.0)
    placement = place_samples([lost], tcp, table)[0]
    assert placement.stream is None and placement.method == "none"
    assert "not in the capture" in " ".join(placement.notes)


@given(st.data())
def test_every_packet_lands_in_exactly_one_bucket(data):
    """Property: for any phase boundaries, the buckets (phases + before + after) partition
    the flow's frames, and their sums equal the flow's totals."""
    name = data.draw(st.sampled_from(["clean", "tls_retrans", "path_loss"]))
    table, tcp, _ = lab(name)
    stream = data.draw(st.integers(0, tcp.n_streams - 1))
    rows = np.flatnonzero(tcp.columns["tcp_stream"] == stream)
    lo, hi = int(table["ts_ns"][rows[0]]), int(table["ts_ns"][rows[-1]])
    cuts = sorted(data.draw(st.lists(st.integers(lo - 10**6, hi + 10**6), min_size=7, max_size=7)))
    buckets = bucket_rows(rows, tuple(cuts), tcp)
    assert set(buckets) == {*PHASE_IDS, "before", "after"}
    assert sum(b.packets for b in buckets.values()) == rows.size
    f = tcp.flow(stream)
    assert sum(b.bytes_c2s for b in buckets.values()) == f["bytes_c2s"]
    assert sum(b.bytes_s2c for b in buckets.values()) == f["bytes_s2c"]
    assert sum(b.events["retransmissions"] for b in buckets.values() if b.packets) == f["retransmissions"]
    assert sum(b.events["dup_acks"] for b in buckets.values() if b.packets) == f["dup_acks"]
    frames = [fr for b in buckets.values() if b.frames for fr in range(b.frames[0], b.frames[1] + 1)]
    assert len(frames) >= rows.size  # first..last spans cover every frame


def test_aggregate_sums_samples():
    table, tcp, samples = lab("path_loss")
    placements = place_samples(samples, tcp, table)
    buckets = [bucket_sample(p, tcp) for p in placements]
    agg = aggregate_phases(samples, buckets)
    for pid in PHASE_IDS:
        assert agg[pid]["packets"] == sum(b[pid].packets for b in buckets)
        for ev in EVENT_BITS:
            assert agg[pid][ev] == sum(b[pid].events.get(ev, 0) for b in buckets)
    assert agg["download"]["retransmissions"] > 0


# ----------------------------------------------------------------------------------------
# Matching on crafted captures: each case with the connection it must pick
# ----------------------------------------------------------------------------------------

SERVER, OTHER = "10.0.0.2", "10.0.0.3"


def crafted(*conns, t0=Capture.t0):
    """A capture of complete connections, each (start ms, client port, server, ISN[, server
    port]): SYN, SYN/ACK 10 ms later, ACK, a request, the response, in capture order. A
    small t0 keeps the wall clock (float seconds) exact to the nanosecond."""
    cap = Capture(t0=t0)
    for start_ms, port, server, isn, *server_port in conns:
        k = cap.conn(client=("10.0.0.1", port), server=(server, *(server_port or [443])),
                     isn_c=isn)
        t = k.handshake(start_ms, rtt_ms=10.0)
        k.seg(t + 1, "c", 1, 1, "PA", data=100)
        k.seg(t + 11, "s", 1, 101, "PA", data=200)
        k.seg(t + 12, "c", 101, 201, "A")
    table = decode_bytes(cap.pcap_bytes(), "crafted.pcap")
    return table, analyze_tcp(table)


def sample(index, port, start_ms=None, end_ms=None, server=SERVER, reused=False,
           t0=Capture.t0, **fields):
    """A curl sample (parsed from %{json}, as the collector writes it) whose process ran
    from start_ms to end_ms of the capture clock (None: no wall-clock side file; t0: the
    capture's, see crafted)."""
    obj = {"url": "https://lab.test/", "scheme": "https", "exitcode": 0, "local_port": port,
           "remote_ip": server, "remote_port": 443, "num_connects": 0 if reused else 1,
           "time_namelookup": 0.001, "time_connect": 0 if reused else 0.011,
           "time_appconnect": 0 if reused else 0.012, "time_pretransfer": 0.013,
           "time_starttransfer": 0.023, "time_total": 0.024, **fields}
    (s,), problems = parse_curl(json.dumps(obj))
    assert not problems
    wall = {} if start_ms is None else {"wall_start_s": t0 + start_ms / 1e3,
                                        "wall_end_s": None if end_ms is None
                                        else t0 + end_ms / 1e3}
    return replace(s, index=index, **wall)


def matched(samples, table, tcp):
    return [(p.stream, p.method) for p in place_samples(samples, tcp, table)]


def test_match_one_connection_per_sample_by_local_port():
    table, tcp = crafted((0, 40001, SERVER, 1000), (500, 40002, SERVER, 2000))
    samples = [sample(1, 40001, -1, 40), sample(2, 40002, 499, 540)]
    assert matched(samples, table, tcp) == [(0, "local_port"), (1, "local_port")]
    # the order of the samples is not what decides
    assert matched(samples[::-1], table, tcp) == [(1, "local_port"), (0, "local_port")]


def test_match_port_reused_across_samples_follows_the_wall_clock():
    """The OS gave the same local port to two samples: one 4-tuple, two streams (new ISN);
    each sample takes the connection that started while its curl ran."""
    table, tcp = crafted((0, 40001, SERVER, 1000), (1000, 40001, SERVER, 9000))
    assert tcp.n_streams == 2
    samples = [sample(1, 40001, -1, 40), sample(2, 40001, 999, 1040)]
    assert matched(samples, table, tcp) == [(0, "local_port"), (1, "local_port")]
    assert matched(samples[::-1], table, tcp) == [(1, "local_port"), (0, "local_port")]


def test_match_port_reused_back_to_back_takes_the_connection_curl_ran():
    """The next sample's connection starts 100 ms after this curl ended, within the
    500 ms slack: still the next sample's, neither this one's pick nor its 'other'."""
    table, tcp = crafted((0, 40001, SERVER, 1000), (140, 40001, SERVER, 9000))
    samples = [sample(1, 40001, -1, 40), sample(2, 40001, 139, 180)]
    placements = place_samples(samples, tcp, table)
    assert [(p.stream, p.extra_streams) for p in placements] == [(0, ()), (1, ())]


def test_match_port_reused_without_wall_clock_in_capture_order():
    """No wall-clock file: the samples take the 4-tuple's connections in order."""
    table, tcp = crafted((0, 40001, SERVER, 1000), (1000, 40001, SERVER, 9000))
    samples = [sample(1, 40001), sample(2, 40001)]
    assert matched(samples, table, tcp) == [(0, "local_port"), (1, "local_port")]


def test_match_retry_on_the_same_port_takes_the_last_connection():
    """curl connected twice within one run on the same port (the first attempt reset):
    curl reports the last connection; the first is listed as another one in its window."""
    cap = Capture()
    first = cap.conn(client=("10.0.0.1", 40001), server=(SERVER, 443), isn_c=1000)
    first.seg(0, "c", 0, None, "S")
    first.seg(10, "s", 0, 1, "RA")
    k = cap.conn(client=("10.0.0.1", 40001), server=(SERVER, 443), isn_c=7000)
    k.handshake(20, rtt_ms=10.0)
    table = decode_bytes(cap.pcap_bytes(), "retry.pcap")
    tcp = analyze_tcp(table)
    assert tcp.n_streams == 2
    p = place_samples([sample(1, 40001, -1, 60, num_connects=2)], tcp, table)[0]
    assert (p.stream, p.method, p.extra_streams) == (1, "local_port", (0,))
    # anchored on the reported connection's SYN, minus the name lookup
    assert p.anchor_ns == int(tcp.flows["start_ns"][1]) - 1_000_000


def test_match_syn_retry_is_one_connection_anchored_at_the_first_syn():
    """A SYN sent again (same ISN) is the same stream; curl's clock started before the
    first SYN, so the anchor is that SYN (the stream's start) minus the name lookup."""
    cap = Capture()
    k = cap.conn(client=("10.0.0.1", 40001), server=(SERVER, 443))
    k.seg(0, "c", 0, None, "S")
    k.handshake(1000, rtt_ms=10.0)
    table = decode_bytes(cap.pcap_bytes(), "syn_retry.pcap")
    tcp = analyze_tcp(table)
    assert tcp.n_streams == 1 and tcp.flow(0)["syn_retries"] == 1
    p = place_samples([sample(1, 40001, -1, 1040, time_connect=1.011)], tcp, table)[0]
    assert (p.stream, p.anchor) == (0, "syn")
    assert p.anchor_ns == int(table["ts_ns"][0]) - 1_000_000


def test_match_redirect_takes_the_last_leg_and_lists_the_first():
    """curl -L: the first leg to another host on another port, the reported connection
    last; the first leg is the sample's 'other connection', not another sample's."""
    table, tcp = crafted((0, 40001, OTHER, 1000), (30, 40002, SERVER, 2000),
                         (500, 40003, SERVER, 3000))
    samples = [sample(1, 40002, -1, 70, num_redirects=1, num_connects=2),
               sample(2, 40003, 499, 540)]
    placements = place_samples(samples, tcp, table)
    assert [(p.stream, p.extra_streams) for p in placements] == [(1, (0,)), (2, ())]


def test_match_two_samples_on_one_connection():
    """The second request reused the first one's connection (num_connects 0): the same
    stream, anchored on the wall clock; a third sample on a new connection gets its own."""
    table, tcp = crafted((0, 40001, SERVER, 1000), (500, 40002, SERVER, 2000))
    samples = [sample(1, 40001, -1, 40), sample(2, 40001, 41, 80, reused=True),
               sample(3, 40002, 499, 540)]
    placements = place_samples(samples, tcp, table)
    assert [(p.stream, p.method) for p in placements] == [
        (0, "local_port"), (0, "reused_connection"), (1, "local_port")]
    assert [p.anchor for p in placements] == ["syn", "wallclock", "syn"]


def test_match_never_gives_one_new_connection_to_two_samples():
    """Two samples that each opened a connection on the same port, but only one
    connection was captured: the second sample has none rather than the first's."""
    table, tcp = crafted((0, 40001, SERVER, 1000))
    samples = [sample(1, 40001, -1, 40), sample(2, 40001, 41, 80)]
    assert matched(samples, table, tcp)[1][0] is None


# ----------------------------------------------------------------------------------------
# Buckets, their records and the aggregate, whole (tcp_scenarios: frames 1-3 the handshake
# at 0, 20, 20.1 ms; 4-7 client data at 21.1-21.4; 8 the server's ACK at 41; 9-11 three
# duplicate ACKs at 42-44; 12 the fast retransmission at 46)
# ----------------------------------------------------------------------------------------

from cnfpost.correlate import PhaseBucket, Placement, outside_capture       # noqa: E402
from tests import tcp_scenarios                                              # noqa: E402

T0 = 1_700_000_000_000_000_000
NO_EVENTS = {k: 0 for k in EVENT_BITS}
EMPTY = {"packets": 0, "packets_c2s": 0, "packets_s2c": 0, "bytes_c2s": 0, "bytes_s2c": 0,
         **NO_EVENTS, "window_client_min_bytes": None, "window_client_median_bytes": None,
         "window_server_min_bytes": None, "window_server_median_bytes": None,
         "rtt_samples": 0, "rtt_median_ms": None, "rtt_max_ms": None, "first_frame": None,
         "last_frame": None, "event_frames": {}}


def fast_retransmission_buckets(*edges_ms):
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()
    table = decode_bytes(cap.pcap_bytes(), "x.pcap")
    tcp = analyze_tcp(table)
    edges = tuple(T0 + int(round(ms * 1e6)) for ms in edges_ms)
    return bucket_rows(np.flatnonzero(tcp.columns["tcp_stream"] == 0), edges, tcp)


def test_bucket_records_count_directions_bytes_events_windows_and_rtts():
    b = fast_retransmission_buckets(-1, 10, 15, 30, 30, 30, 45)
    # the client's window: 501 x 128 in the handshake's ACK, 65535 x 128 after; its ACK
    # of the SYN/ACK took 0.1 ms, the SYN/ACK 20 ms
    assert b["tls"].to_dict() == {
        **EMPTY, "packets": 6, "packets_c2s": 5, "packets_s2c": 1, "bytes_c2s": 400,
        "window_client_min_bytes": 64128, "window_client_median_bytes": 8388480.0,
        "rtt_samples": 2, "rtt_median_ms": 10.05, "rtt_max_ms": 20.0, "first_frame": 2,
        "last_frame": 7}
    # the server's window 500 x 128; its ACK of the first request 19.9 ms after it
    assert b["download"].to_dict() == {
        **EMPTY, "packets": 4, "packets_s2c": 4, "dup_acks": 3,
        "window_server_min_bytes": 64000, "window_server_median_bytes": 64000.0,
        "rtt_samples": 1, "rtt_median_ms": 19.9, "rtt_max_ms": 19.9, "first_frame": 8,
        "last_frame": 11, "event_frames": {"dup_acks": [9, 10, 11]}}
    assert b["after"].to_dict() == {
        **EMPTY, "packets": 1, "packets_c2s": 1, "bytes_c2s": 100, "retransmissions": 1,
        "fast_retransmissions": 1, "window_client_min_bytes": 8388480,
        "window_client_median_bytes": 8388480.0, "first_frame": 12, "last_frame": 12,
        "event_frames": {"retransmissions": [12], "fast_retransmissions": [12]}}
    assert b["dns"].to_dict() == {**EMPTY, "packets": 1, "packets_c2s": 1, "first_frame": 1,
                                  "last_frame": 1}
    for empty in ("before", "tcp", "request", "server"):
        assert b[empty].to_dict() == EMPTY and b[empty].phase == empty
    assert b["after"].events == {**NO_EVENTS, "retransmissions": 1,
                                 "fast_retransmissions": 1}
    assert b["after"].trouble == 1 and b["download"].trouble == 3


def test_a_frame_at_a_phase_edge_belongs_to_the_phase_it_opens():
    # the server's ACK at exactly 41 ms opens the server phase; the SYN at -1 ms is before
    b = fast_retransmission_buckets(0, 20, 20.1, 41, 42, 46, 46)
    assert b["before"].packets == 0 and b["dns"].frames == (1, 1)
    assert b["tcp"].frames == (2, 2) and b["tls"].frames == (3, 7)
    assert b["request"].frames == (8, 8) and b["server"].frames == (9, 11)
    assert b["download"].packets == 0 and b["after"].frames == (12, 12)
    b = fast_retransmission_buckets(0.01, 20, 20.1, 41, 42, 46, 47)
    assert b["before"].frames == (1, 1)


def test_a_sample_without_a_stream_or_an_anchor_has_no_buckets():
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()
    tcp = analyze_tcp(decode_bytes(cap.pcap_bytes(), "x.pcap"))
    assert bucket_sample(Placement(1, None, "none", None, "none"), tcp) is None
    assert bucket_sample(Placement(1, 0, "local_port", None, "none"), tcp) is None
    edges = tuple(T0 + ms * 10**6 for ms in (0, 10, 15, 30, 30, 30, 45))
    assert bucket_sample(Placement(1, 0, "local_port", T0, "syn", edges), tcp)["tls"].packets \
        == 6


def parsed(index, **timers):
    obj = {"url": "https://lab.test/", "scheme": "https", "exitcode": 0, **timers}
    (s,), problems = parse_curl(json.dumps(obj))
    assert not problems
    return replace(s, index=index)


def bucket(pid, **kw):
    return PhaseBucket(pid, **kw)


def test_aggregate_per_phase_whole():
    # two samples: dns 1 and 3 ms, tcp 10 and 20.0004 ms; the second has no TLS
    s1 = parsed(1, time_namelookup=0.001, time_connect=0.011, time_appconnect=0.012,
                time_pretransfer=0.013, time_starttransfer=0.023, time_total=0.024)
    s2 = parsed(2, time_namelookup=0.003, time_connect=0.0230004, time_appconnect=0,
                time_pretransfer=0.024, time_starttransfer=0.034, time_total=0.035)
    b1 = {pid: bucket(pid) for pid in PHASE_IDS}
    b1["tcp"] = bucket("tcp", packets=10, bytes_c2s=5, bytes_s2c=7,
                       events={"retransmissions": 1, "dup_acks": 2},
                       window_client_min=1000, window_client_median=3000.5)
    b2 = {pid: bucket(pid) for pid in PHASE_IDS}
    b2["tcp"] = bucket("tcp", packets=30, bytes_c2s=1, bytes_s2c=2,
                       events={"retransmissions": 2, "zero_windows": 1},
                       window_client_min=500, window_client_median=1000.25)
    agg = aggregate_phases([s1, s2], [b1, None, b2])
    assert agg["tcp"] == {
        "samples_measured": 2, "samples_with_packets": 2,
        "duration": {"median_ms": round((10.0 + 20.0004) / 2, 3), "mean_ms": 15.0,
                     "min_ms": 10.0, "max_ms": 20.0},
        "packets": 40, "bytes_c2s": 6, "bytes_s2c": 9, **NO_EVENTS, "retransmissions": 3,
        "dup_acks": 2, "zero_windows": 1, "retransmission_rate_pct": 7.5,
        "window_client_min_bytes": 500, "window_client_median_bytes": 2000.375}
    assert agg["tls"]["samples_measured"] == 1 and agg["tls"]["duration"]["max_ms"] == 1.0
    assert agg["dns"] == {
        "samples_measured": 2, "samples_with_packets": 2,
        "duration": {"median_ms": 2.0, "mean_ms": 2.0, "min_ms": 1.0, "max_ms": 3.0},
        "packets": 0, "bytes_c2s": 0, "bytes_s2c": 0, **NO_EVENTS,
        "retransmission_rate_pct": 0.0, "window_client_min_bytes": None,
        "window_client_median_bytes": None}
    nothing = aggregate_phases([], [])
    assert nothing["server"]["duration"] == {"median_ms": None, "mean_ms": None,
                                             "min_ms": None, "max_ms": None}


def test_aggregate_durations_round_to_the_microsecond():
    s = [parsed(i, time_namelookup=0.0010004 * i, time_connect=0.02, time_appconnect=0.03,
                time_pretransfer=0.031, time_starttransfer=0.04, time_total=0.05)
         for i in (1, 2)]
    d = aggregate_phases(s, [None, None])["dns"]["duration"]
    assert d == {"median_ms": 1.5, "mean_ms": 1.5, "min_ms": 1.0, "max_ms": 2.001}


def placement_at(sample_n, first_ms, last_ms):
    return Placement(sample_n, 0, "local_port", T0 + first_ms * 10**6, "syn",
                     tuple(T0 + ms * 10**6 for ms in (first_ms,) * 6 + (last_ms,)))


def test_samples_outside_the_capture_are_named():
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()        # 0 to 46 ms
    table = decode_bytes(cap.pcap_bytes(), "built.pcap")
    inside = placement_at(1, 0, 46)
    assert outside_capture([inside, placement_at(9, -5, 0)], table) == []
    before = [placement_at(n, -100, -1) for n in range(2, 9)]
    after = [placement_at(20, 47, 60)]
    (msg,) = outside_capture([inside, *before, *after,
                              Placement(30, None, "none", None, "none")], table)
    assert msg == ("built.pcap: expected every curl sample inside the capture's time span, "
                   "got 7 of 9 before its first packet (sample 2, 3, 4, 5, 6, ...) and 1 of 9 "
                   "after its last packet (sample 20): did tcpdump stop early?")
    (msg,) = outside_capture([placement_at(2, -100, -1)], table)
    assert msg.endswith("got 1 of 1 before its first packet (sample 2): did tcpdump stop "
                        "early?")
    assert outside_capture([Placement(30, None, "none", None, "none")], table) == []


def test_samples_over_a_capture_without_packets_are_in_no_packet():
    table = decode_bytes(Capture().pcap_bytes(), "empty.pcap")
    (msg,) = outside_capture([placement_at(1, 0, 10)], table)
    assert msg.endswith("got 1 of 1 in no packet (sample 1): did tcpdump stop early?")


def test_address_keys_in_the_tables_convention():
    cap = Capture()
    k = cap.conn(client=("2001:db8::1", 40000), server=("2001:db8::2", 443))
    k.handshake()
    table = decode_bytes(cap.pcap_bytes(), "v6.pcap")
    v6 = address_key(table, "[2001:db8::2]")
    assert v6 is not None and v6[0] == 6
    assert table.ip6_addresses[v6[1]].tobytes() == bytes.fromhex("20010db8" + "0" * 23 + "2")
    client = address_key(table, "2001:db8::1")
    assert client[0] == 6 and client[1] != v6[1]
    assert table.ip6_addresses[client[1]].tobytes() == bytes.fromhex("20010db8" + "0" * 23 + "1")
    assert address_key(table, "2001:db8::3") is None           # never seen
    assert address_key(table, "10.0.0.2") == (4, 0x0A000002)
    assert address_key(table, "") is None and address_key(table, None) is None
    assert address_key(table, "not an address") is None
    v4 = decode_bytes(Capture().pcap_bytes(), "v4.pcap")
    assert address_key(v4, "2001:db8::2") is None              # no IPv6 in the capture


def test_a_placement_as_json():
    p = Placement(3, 2, "wallclock", 1_700_000_000_123_456_789, "wallclock",
                  clock_offset_ms=-12.34567, extra_streams=(0, 1), notes=("a", "b"))
    assert p.to_dict() == {"stream": 2, "method": "wallclock", "anchor": "wallclock",
                           "anchor_epoch_s": 1700000000.123457, "clock_offset_ms": -12.346,
                           "extra_streams": [0, 1], "notes": ["a", "b"]}
    q = Placement(3, None, "none", None, "none")
    assert q.to_dict() == {"stream": None, "method": "none", "anchor": "none",
                           "anchor_epoch_s": None, "clock_offset_ms": None,
                           "extra_streams": [], "notes": []}


def test_phase_edges_follow_curls_offsets_and_a_failure_lasts_until_curl_gave_up():
    table, tcp = crafted((0, 40001, SERVER, 1000))
    ok = sample(1, 40001)
    (p,) = place_samples([ok], tcp, table)
    # t=0 is the SYN less the 1 ms lookup; the phases end at 1, 11, 12, 13, 23, 24 ms
    assert p.anchor_ns == T0 - 10**6 and p.anchor == "syn"
    assert p.edges_ns == tuple(p.anchor_ns + ms * 10**6 for ms in (0, 1, 11, 12, 13, 23, 24))
    failed = sample(1, 40001, exitcode=28, time_appconnect=0, time_pretransfer=0,
                    time_starttransfer=0, time_total=0.5)
    (p,) = place_samples([failed], tcp, table)
    # died in TLS: the TLS phase lasts until curl gave up (500 ms); nothing after it
    assert p.edges_ns == tuple(p.anchor_ns + ms * 10**6 for ms in (0, 1, 11, 500, 500, 500, 500))


def test_without_a_syn_the_wall_clock_anchors_a_sample_and_says_so():
    # the capture starts after the handshake: no SYN of its own to anchor on
    cap = Capture()
    k = cap.conn(client=("10.0.0.1", 40001), server=(SERVER, 443))
    k.seg(5, "c", 1, 1, "PA", data=100)
    k.seg(15, "s", 1, 101, "PA", data=200)
    table = decode_bytes(cap.pcap_bytes(), "x.pcap")
    tcp = analyze_tcp(table)
    (p,) = place_samples([sample(1, 40001, 2, 30)], tcp, table)
    assert (p.stream, p.method, p.anchor) == (0, "local_port", "wallclock")
    # (the wall clock in float seconds holds the epoch to a few hundred ns)
    assert abs(p.anchor_ns - (T0 + 2 * 10**6)) < 1000 and p.clock_offset_ms == 0.0
    assert p.notes == ("no SYN-anchored sample: the wall clock is taken as the capture clock",)
    (p,) = place_samples([sample(1, 40001)], tcp, table)          # no wall clock either
    assert (p.anchor, p.anchor_ns, p.edges_ns) == ("none", None, ())
    assert p.notes == ("no SYN and no wall-clock time: phases not placed on the capture",)


def test_a_syn_anchored_sample_sets_the_wall_clock_offset_of_the_others():
    # sample 1 anchors on its SYN, its curl started 3 ms before by the wall clock: the
    # offset; sample 2 (no SYN in the capture) is placed by its wall clock plus that offset
    cap = Capture()
    k = cap.conn(client=("10.0.0.1", 40001), server=(SERVER, 443))
    t = k.handshake(0.0, rtt_ms=10.0)
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    j = cap.conn(client=("10.0.0.1", 40002), server=(SERVER, 443))
    j.seg(100, "c", 1, 1, "PA", data=100)
    table = decode_bytes(cap.pcap_bytes(), "x.pcap")
    tcp = analyze_tcp(table)
    p1, p2 = place_samples([sample(1, 40001, -4, 40), sample(2, 40002, 90, 130)], tcp, table)
    assert p1.anchor == "syn" and p1.clock_offset_ms == 3.0
    assert p2.anchor == "wallclock" and abs(p2.anchor_ns - (T0 + 93 * 10**6)) < 1000
    assert p2.clock_offset_ms == 3.0 and p2.notes == ()


# --- the wall-clock fallback and its edges (a capture at t0 = 1000 s: exact to the ns) -----

T1 = 1000.0


def blind(index, start_ms, end_ms, **fields):
    """A sample without local port and remote address: matched by its wall clock only."""
    return sample(index, None, start_ms, end_ms, server=None, t0=T1, **fields)


def wall_matched(samples, *conns):
    table, tcp = crafted(*conns, t0=T1)
    return [(p.stream, p.method, p.extra_streams) for p in place_samples(samples, tcp, table)]


def test_wall_clock_prefers_a_connection_started_while_curl_ran():
    # curl ran 0-40 ms: one connection 200 ms before (in the 500 ms slack), one during
    got = wall_matched([blind(1, 0, 40)], (-200, 40001, SERVER, 1000), (10, 40002, SERVER, 2000))
    assert got == [(1, "wallclock", ())]


def test_wall_clock_in_the_slack_takes_the_first_connection():
    # none during the run: the first one after it, not the next sample's later one
    got = wall_matched([blind(1, 0, 40)], (140, 40001, SERVER, 1000),
                       (340, 40002, SERVER, 2000))
    assert got == [(0, "wallclock", ())]


@pytest.mark.parametrize("start_ms, found", [(-500, True), (-500.001, False), (540, True),
                                             (540.001, False)])
def test_wall_clock_slack_is_500_ms_either_side(start_ms, found):
    got = wall_matched([blind(1, 0, 40)], (start_ms, 40001, SERVER, 1000))
    assert got == ([(0, "wallclock", ())] if found else [(None, "none", ())])


@pytest.mark.parametrize("edge_ms", [0, 40])
def test_a_connection_started_at_either_end_of_the_run_is_during_it(edge_ms):
    # another connection in the slack before: the one at the edge of the run wins
    got = wall_matched([blind(1, 0, 40)], (-100, 40001, SERVER, 1000),
                       (edge_ms, 40002, SERVER, 2000))
    assert got == [(1, "wallclock", ())]


def test_wall_clock_takes_the_last_of_the_run_and_lists_the_others():
    got = wall_matched([blind(1, 0, 100)], (10, 40001, SERVER, 1000),
                       (20, 40002, SERVER, 2000), (30, 40003, SERVER, 3000))
    assert got == [(2, "wallclock", (0, 1))]


def test_wall_clock_never_gives_a_connection_to_two_samples():
    got = wall_matched([blind(1, 0, 100), blind(2, 0, 100)], (10, 40001, SERVER, 1000),
                       (20, 40002, SERVER, 2000))
    assert got == [(1, "wallclock", (0,)), (0, "wallclock", ())]


def test_a_wall_clock_start_without_an_end_takes_the_first_connection_near():
    got = wall_matched([blind(1, 0, None)], (10, 40001, SERVER, 1000),
                       (20, 40002, SERVER, 2000))
    assert got == [(0, "wallclock", ())]


@pytest.mark.parametrize("url, port", [("https://lab.test:8443/", 8443),
                                       ("http://lab.test/", 80), ("https://lab.test/", 443)])
def test_wall_clock_matches_the_port_the_url_names(url, port):
    conns = [(10, 40000 + p, SERVER, p, p) for p in (80, 443, 8443)]
    s = blind(1, 0, 40, url=url, scheme=url.split(":")[0], remote_port=0)
    table, tcp = crafted(*conns, t0=T1)
    (p,) = place_samples([s], tcp, table)
    assert int(tcp.flows["server_port"][p.stream]) == port and p.method == "wallclock"


def test_local_port_match_checks_the_server_port():
    # one client port to two servers' ports: the sample named 443
    table, tcp = crafted((0, 40001, SERVER, 1000, 80), (100, 40001, SERVER, 2000, 443))
    assert tcp.n_streams == 2
    assert matched([sample(1, 40001)], table, tcp) == [(1, "local_port")]


def test_local_port_retries_take_the_last_of_three():
    cap = Capture(t0=T1)
    for i, t in enumerate((0, 20, 40)):
        k = cap.conn(client=("10.0.0.1", 40001), server=(SERVER, 443), isn_c=1000 * (i + 1))
        k.seg(t, "c", 0, None, "S")
        if i < 2:
            k.seg(t + 5, "s", 0, 1, "RA")
        else:
            k.handshake(t, rtt_ms=10.0)
    table = decode_bytes(cap.pcap_bytes(), "retries.pcap")
    tcp = analyze_tcp(table)
    (p,) = place_samples([sample(1, 40001, -1, 100, t0=T1, num_connects=3)], tcp, table)
    assert (p.stream, p.extra_streams) == (tcp.n_streams - 1,
                                           tuple(range(tcp.n_streams - 1)))


def test_a_sample_over_ipv6_matches_by_its_local_port():
    cap = Capture()
    k = cap.conn(client=("2001:db8::1", 40001), server=("2001:db8::2", 443))
    k.handshake(0.0, rtt_ms=10.0)
    table = decode_bytes(cap.pcap_bytes(), "v6.pcap")
    tcp = analyze_tcp(table)
    assert matched([sample(1, 40001, server="2001:db8::2")], table, tcp) == [(0, "local_port")]


def test_a_capture_without_tcp_places_nothing():
    table = decode_bytes(Capture().pcap_bytes(), "empty.pcap")
    tcp = analyze_tcp(table)
    (p,) = place_samples([sample(1, 40001, 0, 40)], tcp, table)
    assert (p.stream, p.method) == (None, "none")


def test_without_a_lookup_t0_is_the_syn_itself():
    table, tcp = crafted((0, 40001, SERVER, 1000))
    (p,) = place_samples([sample(1, 40001, time_namelookup=0)], tcp, table)
    assert p.anchor_ns == int(tcp.flows["start_ns"][0])


def test_a_sample_not_in_the_capture_says_so_and_keeps_its_number():
    table, tcp = crafted((0, 40001, SERVER, 1000))
    (p,) = place_samples([sample(7, 40009)], tcp, table)
    assert (p.sample, p.stream, p.method) == (7, None, "none")
    assert p.notes == ("the sample's connection is not in the capture",)


def test_a_sample_that_starts_at_the_last_packet_is_inside():
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()        # last packet at 46 ms
    table = decode_bytes(cap.pcap_bytes(), "built.pcap")
    at_last = Placement(1, 0, "local_port", T0, "syn",
                        tuple(T0 + ms * 10**6 for ms in (46, 47, 48, 49, 50, 51, 52)))
    assert outside_capture([at_last], table) == []


@pytest.mark.parametrize("n, tail", [(5, ""), (6, ", ...")])
def test_up_to_five_samples_outside_are_named(n, tail):
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()
    table = decode_bytes(cap.pcap_bytes(), "built.pcap")
    (msg,) = outside_capture([placement_at(i, -100, -1) for i in range(1, n + 1)], table)
    assert f"(sample 1, 2, 3, 4, 5{tail})" in msg


def test_windows_are_read_from_acks_only_and_rtts_of_no_time_count():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(t + 1, "s", 1, 101, "A", win=300)          # acknowledged in the same instant
    k.seg(t + 2000, "c", 101, 1, "PA", data=100)
    k.seg(t + 4000, "s", 1, 201, "A", win=200)       # 2000 ms later
    k.seg(t + 4001, "c", 201, 1, "R", win=0)         # a RST without ACK: no window
    table = decode_bytes(cap.pcap_bytes(), "x.pcap")
    tcp = analyze_tcp(table)
    edges = (0, T0 + 20 * 10**6, T0 + 20 * 10**6 + 1, T0 + 20 * 10**6 + 2,
             T0 + 20 * 10**6 + 3, T0 + 20 * 10**6 + 4, T0 + 10**10)
    b = bucket_rows(np.flatnonzero(tcp.columns["tcp_stream"] == 0), edges, tcp)["download"]
    assert b.phase == "download" and b.packets == 6
    # the client's windows 501 and 65535 (x 128), its RST's 0 is none; the server's 300, 200
    assert (b.window_client_min, b.window_server_min) == (64128, 200 * 128)
    # ACK RTTs: the handshake's ACK 0.1 ms, the first request 0 ns, the second 2000 ms
    assert (b.rtt_samples, b.rtt_median_ms, b.rtt_max_ms) == (3, 0.1, 2000.0)


def test_aggregate_retransmission_rate_rounds_to_three_decimals():
    b = {pid: PhaseBucket(pid) for pid in PHASE_IDS}
    b["server"] = PhaseBucket("server", packets=3, events={"retransmissions": 1})
    assert aggregate_phases([], [b])["server"]["retransmission_rate_pct"] == 33.333


def test_a_loopback_capture_has_one_ipv6_address():
    cap = Capture()
    cap.conn(client=("::1", 40000), server=("::1", 443)).handshake()
    table = decode_bytes(cap.pcap_bytes(), "lo.pcap")
    assert table.ip6_addresses.shape[0] == 1
    assert address_key(table, "::1") == (6, 0)
