"""Work done a block of frames at a time gives what one pass over all frames gives.

The stages that must look at every frame of a big capture do it BLOCK_ROWS (32,768) frames
at a time to keep their temporaries small (docs/performance.md); every test capture is
smaller than one block, so here the blocks are made a few frames long, to cut every
stream, group and silence across block edges, and the results compared with one block.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cnfpost.evidence
import cnfpost.facts
import cnfpost.repairs
import cnfpost.stalls
import cnfpost.tcp
import cnfpost.tcp_relative
import cnfpost.wire.milestones
from cnfpost.capture import read_capture
from cnfpost.pipeline import analyze
from cnfpost.tcp import FLOW_FIELDS, analyze_tcp

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = sorted(p for p in (ROOT / "sample_data").iterdir() if p.is_dir())
MODULES = (cnfpost.tcp, cnfpost.facts, cnfpost.stalls, cnfpost.evidence, cnfpost.repairs,
           cnfpost.wire.milestones, cnfpost.tcp_relative)


def small_blocks(monkeypatch, rows: int) -> None:
    for module in MODULES:
        monkeypatch.setattr(module, "BLOCK_ROWS", rows)


def test_every_blocked_stage_is_covered():
    """A module that works in blocks and is not listed here would go untested."""
    users = {p.stem for p in (ROOT / "cnfpost").rglob("*.py")
             if "BLOCK_ROWS" in p.read_text() and p.stem != "model"}
    assert users == {m.__name__.rsplit(".", 1)[1] for m in MODULES}


@pytest.mark.parametrize("rows", [1, 2, 7])
@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_reports_do_not_depend_on_the_block_size(bundle, rows, monkeypatch):
    whole = analyze(bundle).to_json()
    small_blocks(monkeypatch, rows)
    assert analyze(bundle).to_json() == whole


@pytest.mark.parametrize("rows", [1, 3, 64])
def test_flow_table_and_stream_index_do_not_depend_on_the_block_size(rows, monkeypatch):
    captures = sorted((ROOT / "sample_data").rglob("*.pcap*"))
    assert captures
    for path in captures:
        table = read_capture(path)
        whole = analyze_tcp(table)
        expected = {name: np.asarray(whole.flows[name]) for name in FLOW_FIELDS}
        stream = whole.columns["tcp_stream"]
        with monkeypatch.context() as patch:
            small_blocks(patch, rows)
            blocked = analyze_tcp(table)
            got = {name: np.asarray(blocked.flows[name]) for name in FLOW_FIELDS}
            for s in range(blocked.n_streams):
                assert blocked.stream_rows(s).tolist() == np.flatnonzero(stream == s).tolist()
        for name in FLOW_FIELDS:
            assert np.array_equal(got[name], expected[name]), (path.name, name)


def _built_runs():
    from tests.tcp_builders import Capture
    from tests.test_facts import MSS, download, stall_capture

    yield "stall", stall_capture("retransmission")
    gaps = Capture(ip_ids=True)
    c, _ = download(gaps, segments=6)
    lost = [c.seg(200.0 + k, "s", 1 + (6 + k) * MSS, 101, "A", data=MSS) for k in range(2)]
    gaps.lost.update(f - 1 for f in lost)
    c.seg(300.0, "s", 1 + 8 * MSS, 101, "A", data=MSS)
    yield "ip id gap", gaps
    late = Capture()
    download(late, late=[(1, 0.3 * 20.0), (2, 2 * 20.0)], again=[(4, 3 * 20.0)], segments=8)
    yield "repairs", late


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_facts_do_not_depend_on_the_block_size(rows, monkeypatch):
    from cnfpost.capture import decode_bytes
    from cnfpost.facts import build_facts
    from cnfpost.thresholds import Thresholds

    def facts_of(cap):
        table = decode_bytes(cap.pcap_bytes(), "built.pcap")
        f = build_facts(table, analyze_tcp(table), Thresholds(), {})
        return (f.stalls, f.blackholes, f.repair_frames, f.copy_frames, f.reorder_frames,
                f.unseen, f.data_segments, f.repair_segments)

    runs = list(_built_runs())
    whole = [facts_of(cap) for _, cap in runs]
    assert whole[0][0] and whole[1][5] and whole[2][2]     # a stall, id gaps, repairs
    small_blocks(monkeypatch, rows)
    for (name, cap), expected in zip(runs, whole):
        assert facts_of(cap) == expected, name
