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


def crafted(*conns):
    """A capture of complete connections, each (start ms, client port, server, ISN):
    SYN, SYN/ACK 10 ms later, ACK, a request, the response, in capture order."""
    cap = Capture()
    for start_ms, port, server, isn in conns:
        k = cap.conn(client=("10.0.0.1", port), server=(server, 443), isn_c=isn)
        t = k.handshake(start_ms, rtt_ms=10.0)
        k.seg(t + 1, "c", 1, 1, "PA", data=100)
        k.seg(t + 11, "s", 1, 101, "PA", data=200)
        k.seg(t + 12, "c", 101, 201, "A")
    table = decode_bytes(cap.pcap_bytes(), "crafted.pcap")
    return table, analyze_tcp(table)


def sample(index, port, start_ms=None, end_ms=None, server=SERVER, reused=False, **fields):
    """A curl sample (parsed from %{json}, as the collector writes it) whose process ran
    from start_ms to end_ms of the capture clock (None: no wall-clock side file)."""
    obj = {"url": "https://lab.test/", "scheme": "https", "exitcode": 0, "local_port": port,
           "remote_ip": server, "remote_port": 443, "num_connects": 0 if reused else 1,
           "time_namelookup": 0.001, "time_connect": 0 if reused else 0.011,
           "time_appconnect": 0 if reused else 0.012, "time_pretransfer": 0.013,
           "time_starttransfer": 0.023, "time_total": 0.024, **fields}
    (s,), problems = parse_curl(json.dumps(obj))
    assert not problems
    t0 = Capture().t0
    wall = {} if start_ms is None else {"wall_start_s": t0 + start_ms / 1e3,
                                        "wall_end_s": t0 + end_ms / 1e3}
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
