"""Display filters select exactly the evidence frames (checked with tshark when present)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from cnfpost.evidence import FilterContext, display_filter, frame_ranges, short_filter
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


def test_evidence_keeps_every_frame():
    ev = capture_evidence(range(1, 200, 2))
    assert len(ev.frames) == 100 and ev.frame_count == 100
    assert expand(ev.display_filter) == set(range(1, 200, 2))


def _context(streams, **predicates):
    import numpy as np

    return FilterContext(np.array(streams), {k.replace("__", "."): np.array(v, dtype=bool).__getitem__
                                             for k, v in predicates.items()})


def test_short_filter_uses_fields_and_streams_only_when_exact():
    # frames 1..8; streams 0,0,1,1,2,2,-1,0; the flag on 2, 4, 6 and 8
    ctx = _context([0, 0, 1, 1, 2, 2, -1, 0],
                   tcp__analysis__out_of_order=[0, 1, 0, 1, 0, 1, 0, 1])
    assert short_filter([2, 4, 6, 8], ctx) == "tcp.analysis.out_of_order"
    # frame 6 is not claimed: the streams of the claim, with the field
    got = short_filter([2, 4, 8], ctx)
    assert got in ("frame.number in {2, 4, 8}", "tcp.stream in {0..1} && tcp.analysis.out_of_order")
    # a frame outside TCP: only frame numbers can say it
    assert short_filter([7], ctx) == "frame.number == 7"
    assert short_filter([], ctx) == ""
    assert short_filter([2, 4], None) == "frame.number in {2, 4}"


def test_claims_over_too_many_rows_get_field_filters_only(monkeypatch):
    import cnfpost.evidence as evidence
    monkeypatch.setattr(evidence, "MAX_FILTER_ROWS", 0)
    frames = range(1, 41)       # three streams; a field on every fourth frame each
    ctx = _context([f % 3 for f in frames],
                   tcp__analysis__out_of_order=[f % 4 == 0 for f in frames],
                   tcp__analysis__lost_segment=[f % 4 == 1 for f in frames],
                   tcp__analysis__duplicate_ack=[f % 4 == 2 for f in frames])
    ooo = [f for f in frames if f % 4 == 0]
    lost = [f for f in frames if f % 4 == 1]
    assert short_filter(ooo, ctx) == "tcp.analysis.out_of_order"
    # two fields wholly inside the claim cover it together
    assert short_filter(sorted(ooo + lost), ctx) == \
        "(tcp.analysis.lost_segment || tcp.analysis.out_of_order)"
    # a field that also selects unclaimed frames is no filter: the frame list stays
    assert short_filter(ooo + [2], ctx) == display_filter(ooo + [2])
    for claim in (ooo, sorted(ooo + lost), sorted(ooo + [2])):
        assert _evaluate(short_filter(claim, ctx), ctx) == set(claim)
    # with the rows allowed, the same claims find the same fields
    monkeypatch.setattr(evidence, "MAX_FILTER_ROWS", 1 << 18)
    assert short_filter(ooo, ctx) == "tcp.analysis.out_of_order"


def _evaluate(flt: str, ctx) -> set[int]:
    """Our own reading of a short filter, for the property test (tshark checks it for real)."""
    import re

    import numpy as np

    if not flt:
        return set()
    n = ctx.stream.shape[0]
    py = flt.replace("&&", " and ").replace("||", " or ").replace("!(", " not (")
    py = re.sub(r"tcp\.stream == (\d+)", r"(S == \1)", py)
    py = re.sub(r"tcp\.stream in \{([^}]*)\}", lambda m: f"ISIN(S, [{_items(m.group(1))}])", py)
    py = re.sub(r"frame\.number == (\d+)", r"(F == \1)", py)
    py = re.sub(r"frame\.number in \{([^}]*)\}", lambda m: f"ISIN(F, [{_items(m.group(1))}])",
                py)
    for name in sorted(ctx.predicates, key=len, reverse=True):
        py = py.replace(name, f"P[{name!r}]")
    every = {name: p(np.arange(n)) for name, p in ctx.predicates.items()}
    env = {"S": ctx.stream, "F": np.arange(1, n + 1), "P": every, "ISIN": np.isin}
    mask = eval(py.replace(" and ", " & ").replace(" or ", " | ").replace(" not ", " ~"), env)
    return set(int(x) + 1 for x in np.flatnonzero(mask))


def _items(text: str) -> str:
    out = []
    for part in text.split(", "):
        a, _, b = part.partition("..")
        out += [str(v) for v in range(int(a), int(b or a) + 1)]
    return ", ".join(out)


@given(st.data())
def test_short_filter_selects_exactly_the_claim(data):
    n = data.draw(st.integers(1, 60))
    streams = data.draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n))
    flags = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    other = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    ctx = _context(streams, tcp__analysis__retransmission=[f and s >= 0 for f, s in
                                                           zip(flags, streams)],
                   tcp__analysis__duplicate_ack=[f and s >= 0 for f, s in zip(other, streams)])
    claim = data.draw(st.sets(st.integers(1, n)))
    flt = short_filter(claim, ctx)
    assert len(flt) <= len(display_filter(claim))
    assert _evaluate(flt, ctx) == claim, flt


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


BUNDLES = [p.parent for root in (LAB_BUNDLES.parents[2] / "sample_data", LAB_BUNDLES)
           for p in sorted(root.glob("*/capture.pcap"))]


@pytest.mark.tshark
@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bundle_filter_is_short_and_exact(bundle):
    """At most SHORT_FILTER_CHARS on every bundle, and tshark selects exactly the frames the
    finding claims (the JSON lists them all)."""
    import cnfpost
    from cnfpost.evidence import SHORT_FILTER_CHARS

    require_tool("tshark")
    report = cnfpost.analyze(bundle)
    for f in report["findings"]:
        ev = f["evidence"]
        if ev["source"] != "capture" or not ev["frames"]:
            continue
        assert len(ev["frames"]) == ev["frame_count"], f["code"]
        assert len(ev["display_filter"]) <= SHORT_FILTER_CHARS, f["code"]
        out = subprocess.run(["tshark", "-r", str(bundle / "capture.pcap"), "-Y",
                              ev["display_filter"], "-T", "fields", "-e", "frame.number"],
                             capture_output=True, text=True, check=True).stdout.split()
        assert [int(x) for x in out] == ev["frames"], (f["code"], ev["display_filter"])
