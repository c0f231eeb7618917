"""TCP analysis against tshark 4.0, frame by frame.

- Stored oracle: tshark's per-frame fields for real captures (the lab bundles in
  tests/data/lab_bundles, recorded with tcpdump through an impaired link, and the loopback
  captures in tests/data/captures, recorded by tests/data/captures/record.sh) are kept as
  TSV in tests/data/tshark (tests/data/tshark/regenerate.sh). These tests need no tshark.
- Live: when tshark is installed (CI installs it), the same captures, every crafted
  scenario of tests/tcp_scenarios.py and random segment sequences are compared with a
  fresh tshark run.

Target: for every flag on every capture, precision and recall >= 99 % and the same
tcp.stream on every frame. Today every flag and column agrees exactly; known sources of
difference are kept in KNOWN_DIFFERENCES (empty) with the reason.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnfpost.capture import decode_bytes, read_capture
from cnfpost.tcp import analyze_tcp

from . import tcp_scenarios as sc
from .strategies import tcp_conversations
from .support import LAB_BUNDLES, examples, require, require_tool
from .tcp_builders import Capture, tcp_options
from .tcp_oracle import FLAG_FIELDS, compare, load_tsv, tshark_tsv

ROOT = Path(__file__).resolve().parents[1]
LAB = LAB_BUNDLES
CAPTURES = {
    "lab_clean": LAB / "clean" / "capture.pcap",
    "lab_path_loss": LAB / "path_loss" / "capture.pcap",
    "lab_tls_retrans": LAB / "tls_retrans" / "capture.pcap",
    "lo_drop_output": ROOT / "tests" / "data" / "captures" / "lo_drop_output.pcap",
    "lo_drop_input": ROOT / "tests" / "data" / "captures" / "lo_drop_input.pcap",
    "lo_slow_reader": ROOT / "tests" / "data" / "captures" / "lo_slow_reader.pcap",
}
# (capture, field) -> (frames, why). A difference with tshark is allowed only here.
KNOWN_DIFFERENCES: dict[tuple[str, str], tuple[list[int], str]] = {}
MIN_PRECISION = MIN_RECALL = 0.99


def check_agreement(name: str, agreement) -> None:
    assert agreement.stream_mismatch == [], f"{name}: tcp.stream differs"
    for field, fa in agreement.flags.items():
        allowed = KNOWN_DIFFERENCES.get((name, field), ([], ""))[0]
        extra = sorted(set(fa.only_tshark + fa.only_ours) - set(allowed))
        assert fa.precision >= MIN_PRECISION and fa.recall >= MIN_RECALL, (name, field, fa)
        assert extra == [], f"{name}: {field} differs on frames {extra}"
    for column, frames in agreement.column_mismatch.items():
        allowed = KNOWN_DIFFERENCES.get((name, column), ([], ""))[0]
        extra = sorted(set(frames) - set(allowed))
        assert extra == [], f"{name}: {column} differs on frames {extra[:20]}"


def capture_path(name: str) -> Path:
    path = CAPTURES[name]
    require(path.exists(), f"{path} is not there")
    return path


@pytest.mark.parametrize("engine", ["compiled", "python"])
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_stored_oracle(name, engine):
    table = read_capture(capture_path(name))
    analysis = analyze_tcp(table, engine=engine)
    check_agreement(name, compare(analysis, load_tsv(name)))


def test_stored_oracle_flags_something():
    """The oracle must exercise the flags: these counts are what tshark printed."""
    seen = {f: 0 for f in FLAG_FIELDS}
    for name in CAPTURES:
        tsv = load_tsv(name)
        for f in FLAG_FIELDS:
            seen[f] += sum(1 for v in tsv[f] if v)
    for f in ("tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
              "tcp.analysis.out_of_order", "tcp.analysis.lost_segment",
              "tcp.analysis.duplicate_ack", "tcp.analysis.zero_window",
              "tcp.analysis.window_full", "tcp.analysis.window_update",
              "tcp.analysis.keep_alive", "tcp.analysis.keep_alive_ack",
              "tcp.analysis.reused_ports"):
        assert seen[f] > 0, f


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_live_tshark_capture(name):
    require_tool("tshark")
    path = capture_path(name)
    check_agreement(name, compare(analyze_tcp(read_capture(path)), tshark_tsv(path)))


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_live_tshark_scenario(name, tmp_path):
    require_tool("tshark")
    cap, _ = sc.SCENARIOS[name]()
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(cap.pcap_bytes())
    check_agreement(name, compare(analyze_tcp(read_capture(path)), tshark_tsv(path)))


segment = st.tuples(
    st.sampled_from([0.05, 0.5, 2.0, 5.0, 15.0, 25.0, 300.0]),   # time step, ms
    st.sampled_from("ccs"),
    st.integers(-2, 5),                        # seq in 100-byte units
    st.integers(-2, 5),                        # ack in 100-byte units
    st.sampled_from(["A", "A", "PA", "PA", "S", "SA", "FA", "RA"]),
    st.sampled_from([0, 500, 500, 501]),
    st.sampled_from([0, 0, 1, 100, 100, 200]),
    st.booleans(),
)


@pytest.mark.tshark
@settings(max_examples=examples(40))
@given(st.lists(segment, min_size=1, max_size=25), st.booleans(),
       st.sampled_from([1000, 2**32 - 250]))
def test_live_tshark_random_segments(tmp_path_factory, segs, handshake, isn):
    require_tool("tshark")
    cap = Capture()
    k = cap.conn(isn_c=isn, isn_s=isn + 77777)
    t = k.handshake() if handshake else 0.0
    for dt, side, s, a, flags, win, data, sack in segs:
        t += dt
        peer = k.isn_s if side == "c" else k.isn_c
        opts = tcp_options(sack=[(peer + 101, peer + 201)]) if sack else b""
        k.seg(t, side, 1 + s * 100, 1 + a * 100, flags, win=win, data=data, opts=opts)
    path = tmp_path_factory.mktemp("random") / "random.pcap"
    path.write_bytes(cap.pcap_bytes())
    analysis = analyze_tcp(decode_bytes(path.read_bytes(), str(path)))
    agreement = compare(analysis, tshark_tsv(path))
    check_agreement("random", agreement)
    assert np.array_equal(analysis["tcp_stream"] != 0xFFFFFFFF, np.ones(len(analysis), bool))


@pytest.mark.tshark
@settings(max_examples=examples(30))
@given(tcp_conversations())
def test_live_tshark_conversations(tmp_path_factory, cap):
    """SYN retries, port reuse and time going backwards, frame by frame against tshark."""
    require_tool("tshark")
    path = tmp_path_factory.mktemp("conversation") / "conversation.pcap"
    path.write_bytes(cap.pcap_bytes())
    check_agreement("conversation", compare(analyze_tcp(read_capture(path)), tshark_tsv(path)))
