"""Display filters select exactly the evidence frames (checked with tshark when present)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from cnfpost.evidence import display_filter, frame_ranges
from cnfpost.findings import CATALOGUE, capture_evidence, make_finding
from tests.support import require_tool

from tests.support import LAB_BUNDLES
LAB = LAB_BUNDLES / "clean" / "capture.pcap"


def expand(flt: str) -> set[int]:
    """Evaluate a filter of ours in Python (the shape display_filter writes)."""
    if not flt:
        return set()
    if flt.startswith("frame.number == "):
        return {int(flt.split("== ")[1])}
    inner = flt[len("frame.number in {"):-1]
    out: set[int] = set()
    for part in inner.split(", "):
        a, _, b = part.partition("..")
        out.update(range(int(a), int(b or a) + 1))
    return out


def test_ranges():
    assert frame_ranges([5, 1, 2, 3, 3, 9]) == [(1, 3), (5, 5), (9, 9)]
    assert frame_ranges([]) == []


def test_filter_shapes():
    assert display_filter([]) == ""
    assert display_filter([7]) == "frame.number == 7"
    assert display_filter([1, 2, 3, 10]) == "frame.number in {1..3, 10}"


@given(st.sets(st.integers(1, 5000), max_size=200))
def test_filter_names_exactly_the_frames(frames):
    assert expand(display_filter(frames)) == frames


def test_evidence_lists_fifty_frames_but_filters_all():
    ev = capture_evidence(range(1, 200, 2))
    assert len(ev.frames) == 50 and ev.frame_count == 100
    assert expand(ev.display_filter) == set(range(1, 200, 2))


def test_unknown_code_or_severity_is_a_bug():
    with pytest.raises(KeyError):
        make_finding("l9.nope", "info", "x")
    with pytest.raises(ValueError):
        make_finding("l4.reset", "fatal", "x")


def test_every_required_code_is_in_the_catalogue():
    required = """l3.path_loss l3.hop_icmp_ratelimit l3.latency_step l3.high_jitter l3.unreachable
    l4.retransmissions l4.reordering l4.zero_window l4.window_limited l4.syn_retry l4.reset
    l7.slow_dns l7.slow_connect l7.slow_tls l7.slow_server l7.slow_download l7.request_failed
    l3l4.path_causes_tcp l3l4.endpoint_tcp l3l4.handshake_vs_path l4l7.events_in_phase
    l4l7.application l3l7.bufferbloat""".split()
    assert set(required) <= set(CATALOGUE)


@pytest.mark.tshark
@pytest.mark.parametrize("frames", [[1], [2, 3, 4, 9], list(range(100, 300, 3)), [756]])
def test_tshark_selects_exactly_the_frames(frames):
    require_tool("tshark")
    flt = display_filter(frames)
    out = subprocess.run(["tshark", "-r", str(LAB), "-Y", flt, "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=True).stdout
    assert [int(x) for x in out.split()] == sorted(frames)


def test_docs_list_every_catalogue_code_with_its_title():
    doc = (LAB_BUNDLES.parents[2] / "docs" / "correlation.md").read_text()
    for code, spec in CATALOGUE.items():
        assert f"| `{code}` | {spec.layers} | {spec.title} |" in doc, code
