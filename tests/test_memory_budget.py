"""The memory a big capture costs, held to its budget (docs/performance.md).

Not timings: NumPy reports every array it allocates to tracemalloc, so the peak of traced
memory while a stage runs is exact and the same on every machine. A stage that makes a
whole-capture temporary (an int64 index over every frame costs 8 bytes a packet) breaks
these bounds."""
from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cnfpost.capture import read_capture
from cnfpost.model import DENSE_ANALYSIS
from cnfpost.tcp import FLOW_FIELDS, analyze_tcp

ROOT = Path(__file__).resolve().parents[1]
PACKETS = 100_000
BLOCK = 2048          # the blocks' rows here (small_blocks)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from make_capture import generate
    finally:
        sys.path.pop(0)
    path = tmp_path_factory.mktemp("budget") / "bench.pcap"
    generate(path, PACKETS)
    return read_capture(path)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks far smaller than the capture (as 32,768 frames are beside a big one), so that
    what a block costs for a moment does not count as what the capture costs."""
    from tests.test_blocks import small_blocks
    small_blocks(monkeypatch, BLOCK)


def traced_peak_per_packet(run) -> float:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return (peak - base) / PACKETS


def per_stream(tcp) -> float:
    """Bytes per packet of the per-stream arrays: the kernel's counts and the flow table."""
    return (len(FLOW_FIELDS) + 43) * 8 * tcp.n_streams / PACKETS


def test_info_analysis_keeps_the_stream_and_side_of_each_frame_only(table):
    # tcp_stream (4 bytes) and the client side (1) kept; a mask of the SYNs (3) for a moment
    lean = analyze_tcp(table, per_frame=False)
    assert traced_peak_per_packet(lambda: analyze_tcp(table, per_frame=False)) \
        < 5 + 3 + per_stream(lean) + 1


def test_full_analysis_adds_its_columns_and_the_rare_samples_only(table):
    # the 14 bytes of dense analysis columns, the client side, the TSval RTT samples (8
    # bytes each, and a key of 8 while they are summed up), the duplicate ACKs (10 bytes
    # each), the relative numbers' steps (12 bytes each, twice while sorted) and
    # exceptions (16) and the per-stream arrays
    tcp = analyze_tcp(table)
    dense = sum(np.dtype(c.dtype).itemsize for c in DENSE_ANALYSIS)
    assert dense == 14
    rel = tcp.relative
    samples = int(tcp.flows["ts_rtt_count"].sum())
    assert samples > PACKETS // 4
    rare = (samples * 16 + tcp.dupacks["row"].shape[0] * 10
            + sum(k.shape[0] for k in rel.keys) * 12 * 2
            + rel.exception_rows.shape[0] * 16) / PACKETS
    assert traced_peak_per_packet(lambda: analyze_tcp(table)) \
        < dense + 1 + rare + 3 + per_stream(tcp) + 1


def test_distributions_and_the_stream_index_are_built_in_blocks(table):
    tcp = analyze_tcp(table)
    # the ACK RTT keys (8 bytes per ACK that timed something) are the only big array
    acks = int((tcp.columns["tcp_acks_frame"] > 0).sum()) * 8 / PACKETS
    assert traced_peak_per_packet(lambda: tcp.flows["ack_rtt_server_min_ns"]) < acks + 2
    # the index keeps 4 bytes a TCP frame
    assert traced_peak_per_packet(tcp.stream_index) < 4 + 2


def traced_temporaries_per_packet(run) -> float:
    """What a stage allocates beyond what it returns (its result is kept by the caller)."""
    tracemalloc.start()
    try:
        result = run()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return (peak - held) / PACKETS


def test_facts_stages_work_a_block_at_a_time(table):
    from cnfpost.facts import build_facts, data_segments, unseen_before
    from cnfpost.repairs import capture_at_server, classify_repairs
    from cnfpost.stalls import find_blackholes, find_stalls
    from cnfpost.thresholds import Thresholds

    tcp = analyze_tcp(table)
    facts = build_facts(table, tcp, Thresholds(), {})    # the lazy flow table families, once
    assert tcp._by_stream is None      # nothing in the facts builds the stream index
    rtt = np.where(tcp.flows["irtt_ns"] > 0, tcp.flows["irtt_ns"], 0)
    # A block's worth: stream_steps's arrays (a sort of the block's rows, their streams and
    # the rows before them: about 50 bytes a row) and the stage's own few, worked in place
    # (copies of the steps without a stream's first, int64 MSS and segment sums were 87 and
    # 67 bytes a block row, all told)
    assert traced_temporaries_per_packet(lambda: find_stalls(tcp, rtt, Thresholds())) \
        < 76 * BLOCK / PACKETS
    assert traced_temporaries_per_packet(lambda: unseen_before(table, tcp)) \
        < 56 * BLOCK / PACKETS
    assert traced_temporaries_per_packet(
        lambda: find_blackholes(table, tcp, facts.repairs)) < 1
    assert traced_temporaries_per_packet(lambda: data_segments(tcp, 0)) < 1
    assert traced_temporaries_per_packet(lambda: capture_at_server(tcp)) < 1
    # the repairs: a block's worth, and a few arrays of the flagged segments (no array as
    # long as the data segments of their streams: that was 8 bytes a segment, 3 a packet here)
    flagged = facts.repairs.rows.shape[0]
    assert flagged
    assert traced_temporaries_per_packet(lambda: classify_repairs(table, tcp)) \
        < 1 + flagged * 64 / PACKETS


def test_short_filters_hold_a_few_bytes_a_row_of_the_claimed_streams(table):
    # a claim across many streams (the retransmissions): the streams' rows (uint32) and a few
    # masks over them; a field's temporaries a block's worth; the frames a filter leaves out
    # counted as runs on a mask (the rows beside the claim were 22 bytes a row)
    from cnfpost.evidence import FilterContext, _candidates, display_filter
    from cnfpost.model import TcpAnalysisFlag

    tcp = analyze_tcp(table)
    ctx = FilterContext.of(table, tcp)
    claimed = np.flatnonzero(
        (tcp.columns["tcp_analysis"] & int(TcpAnalysisFlag.RETRANSMISSION)) != 0)
    rows = ctx.rows_in(np.unique(ctx.stream_at(claimed)))
    assert claimed.shape[0] and rows > 20 * BLOCK
    listed = len(display_filter((claimed + 1).tolist()))
    assert list(_candidates(claimed, ctx, listed)) == ["tcp.analysis.retransmission"]
    assert traced_temporaries_per_packet(lambda: list(_candidates(claimed, ctx, listed))) \
        < 12 * rows / PACKETS
