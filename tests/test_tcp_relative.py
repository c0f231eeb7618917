"""tcp.seq, tcp.ack and tcp.window_size derived from each direction's steps (the compiled
engine) give the columns the pure-Python engine stores, on every scenario, for any rows
asked and any block size; the frames the steps cannot give are kept as exceptions."""
from __future__ import annotations

import numpy as np
import pytest

import cnfpost.tcp_relative
from cnfpost.capture import decode_bytes
from cnfpost.model import DERIVED_ANALYSIS, NO_STREAM
from cnfpost.tcp import analyze_tcp

from . import tcp_scenarios as sc


def test_the_kernels_step_kinds_are_the_derived_columns_in_order():
    from cnfpost import _tcp
    assert _tcp.STEP_COLUMNS == DERIVED_ANALYSIS == cnfpost.tcp_relative.COLUMNS


@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_derived_columns_are_the_reference_engines(name, monkeypatch):
    cap, _ = sc.SCENARIOS[name]()
    table = decode_bytes(cap.pcap_bytes(), name)
    compiled, reference = analyze_tcp(table), analyze_tcp(table, engine="python")
    assert compiled.relative is not None and reference.relative is None
    rows = np.random.default_rng(7).permutation(len(table))
    monkeypatch.setattr(cnfpost.tcp_relative, "BLOCK_ROWS", 2)
    for column in DERIVED_ANALYSIS:
        assert column not in compiled.columns
        expected = reference.columns[column]
        assert np.array_equal(compiled[column], expected), column
        assert np.array_equal(compiled.at(column, rows), expected[rows]), column
        assert np.array_equal(compiled.at(column, slice(1, 4)), expected[1:4]), column


def test_a_syn_ack_with_a_new_isn_is_a_step_not_an_exception():
    """Wireshark takes the new ISN as the base from that SYN/ACK on (issue 16944): the
    server's side gets a second step, and every frame is still given by the steps."""
    cap, _ = sc.port_reuse_new_stream()
    table = decode_bytes(cap.pcap_bytes(), "x")
    tcp = analyze_tcp(table)
    seq_steps = tcp.relative.keys[0]
    assert seq_steps.shape[0] >= 2 * tcp.n_streams
    assert tcp.relative.exception_rows.shape[0] == 0


def test_icmp_errors_quoting_tcp_are_exceptions_with_the_quoted_sequence_number():
    cap, _ = sc.icmp_errors_quoting_tcp()
    table = decode_bytes(cap.pcap_bytes(), "x")
    tcp = analyze_tcp(table)
    quoted = tcp.quoted_rows
    assert quoted.shape[0] == 2
    assert np.array_equal(tcp.relative.exception_rows, quoted)
    assert tcp.at("tcp_seq_rel", quoted).tolist() == [1000, 1000]      # the raw quoted seq
    assert tcp.at("tcp_ack_rel", quoted).tolist() == [0, 0]
    assert tcp.at("tcp_win_scaled", quoted).tolist() == [0, 0]
    other = np.flatnonzero(tcp["tcp_stream"] == NO_STREAM)
    assert other.shape[0] == 1 and tcp.at("tcp_seq_rel", other).tolist() == [0]


def test_a_frame_whose_header_is_not_analysed_keeps_its_raw_numbers():
    """A bad TCP data offset: a stream but no analysis, so tshark shows the raw numbers;
    the steps would subtract the base, so the frame is an exception."""
    cap, _ = sc.dup_ack_x3_fast_retransmission()
    table = decode_bytes(cap.pcap_bytes(), "x")
    from cnfpost.model import DecodeStatus
    row = len(table) - 1
    table.columns["status"][row] = int(DecodeStatus.BAD_TCP_HEADER_LEN)
    tcp = analyze_tcp(table)
    assert tcp.relative.exception_rows.tolist() == [row]
    assert tcp.at("tcp_seq_rel", [row])[0] == table["tcp_seq"][row]
    reference = analyze_tcp(table, engine="python")
    for column in DERIVED_ANALYSIS:
        assert np.array_equal(tcp[column], reference.columns[column]), column
