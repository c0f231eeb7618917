"""Placing curl samples on the capture and bucketing their packets into phases."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cnfpost.capture import read_capture
from cnfpost.correlate import (EVENT_BITS, address_key, aggregate_phases, bucket_rows,
                               bucket_sample, place_samples)
from cnfpost.inputs.curl import PHASE_IDS, load_curl
from cnfpost.tcp import analyze_tcp

from tests.support import LAB_BUNDLES as LAB


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
    """Anchored at SYN - namelookup, the SYN/ACK lands within a millisecond of curl's
    time_connect: the two clocks agree."""
    table, tcp, samples = lab(name)
    for p, s in zip(place_samples(samples, tcp, table), samples):
        rows = np.flatnonzero(tcp.columns["tcp_stream"] == p.stream)
        synack = rows[(table["tcp_flags"][rows] & 0x12) == 0x12][0]
        connect_ms = s.phases["tcp"].start_ms + s.phases["tcp"].duration_ms
        wire_ms = (table["ts_ns"][synack] - p.anchor_ns) / 1e6
        assert abs(wire_ms - connect_ms) < 1.0
        assert p.clock_offset_ms is not None and abs(p.clock_offset_ms) < 100


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
