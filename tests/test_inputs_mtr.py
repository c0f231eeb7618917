"""mtr --json (0.95 typed, 0.87-0.93 strings) and --raw, and the path reading: carried loss
versus ICMP rate limiting, the latency step, a silent final hop, several responders."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, strategies as st

from cnfpost.errors import InputError
from cnfpost.inputs.mtr import (
    MtrHop, MtrReport, load_mtr, parse_mtr, with_raw,
)
from cnfpost.path import assess_path
from cnfpost.thresholds import Thresholds

DATA = Path(__file__).parent / "data" / "inputs"
LAB = DATA / "lab"
MTR = DATA / "mtr"


def hop(ttl, loss, best=1.0, host=None, sent=10):
    silent = loss >= 100
    return MtrHop(ttl=ttl, host="???" if silent else (host or f"192.0.2.{ttl}"),
                  address=None if silent else (host or f"192.0.2.{ttl}"), asn=None,
                  loss_pct=float(loss), sent=sent, last_ms=best, avg_ms=best + 0.5,
                  best_ms=None if silent else best, worst_ms=best + 1, stdev_ms=0.2)


def report(*hops, dst=None):
    return MtrReport("json", "probe", dst, 10, tuple(hops))


# ---------------------------------------------------------------------------------------
# Real outputs
# ---------------------------------------------------------------------------------------

def test_lab_clean_095():
    rep, problems = load_mtr(LAB / "clean" / "mtr.json")
    assert problems == [] and rep.format == "json"
    assert (rep.src, rep.dst, rep.tests) == ("lab-probe", "origin.lab.test", 10)
    assert [h.host for h in rep.hops] == ["r1.lab.test", "r2.lab.test", "origin.lab.test"]
    last = rep.hops[-1]
    assert (last.ttl, last.loss_pct, last.sent, last.last_ms, last.avg_ms, last.best_ms,
            last.worst_ms, last.stdev_ms) == (3, 0.0, 10, 0.233, 0.276, 0.233, 0.346, 0.031)
    assert rep.destination_reached is True
    path = assess_path(rep)
    assert path.verdicts == () and path.path_loss_from_ttl is None
    assert path.latency_step_ttl is None and path.stable is None  # JSON cannot tell


def test_lab_path_loss_is_real_loss_at_the_target():
    rep, _ = load_mtr(LAB / "path_loss" / "mtr.json")
    path = assess_path(rep)
    assert path.destination_loss_pct == 10.0 and path.destination_sent == 10
    assert path.path_loss_from_ttl == 3 and path.rate_limited_ttls == ()
    assert [(v.ttl, v.verdict) for v in path.verdicts] == [(3, "path_loss")]


def test_lab_tls_retrans_latency_steps_at_the_delayed_link():
    rep, _ = load_mtr(LAB / "tls_retrans" / "mtr.json")
    path = assess_path(rep)
    assert path.latency_step_ttl == 2
    assert path.latency_step_ms == pytest.approx(20.464 - 0.068)  # the rise kept by every later hop
    assert path.path_loss_from_ttl is None


def test_loopback_json_and_raw_agree():
    js, _ = load_mtr(MTR / "lo_0.95.json")
    raw, problems = load_mtr(MTR / "lo_0.95.raw")
    assert problems == [] and raw.format == "raw"
    # mtr probed TTL 2 too and the target answered it: that is not a second hop
    assert len(js.hops) == len(raw.hops) == 1
    h = raw.hops[0]
    assert (h.host, h.sent, h.loss_pct, h.best_ms, h.avg_ms, h.last_ms) == \
        ("127.0.0.1", 2, 0.0, 0.056, 0.056, 0.056)
    assert h.responders == ("127.0.0.1",)  # 0.95 prints each h line twice (#499)
    assert assess_path(raw).stable is True


# ---------------------------------------------------------------------------------------
# Other versions
# ---------------------------------------------------------------------------------------

def test_legacy_092_strings_asn_and_silent_hop():
    rep, problems = load_mtr(MTR / "legacy_0.92.json")
    assert problems == [] and rep.format == "json-legacy"
    assert rep.tests == 10 and [h.ttl for h in rep.hops] == [1, 2, 3, 4]
    assert [h.asn for h in rep.hops] == ["AS64500", "AS???", "AS64501", "AS64502"]
    assert rep.hops[1].silent and not rep.hops[2].silent
    assert rep.hops[2].stdev_ms == 30.02 and rep.destination_reached is True
    path = assess_path(rep)
    # 60 % at hop 3 but 0 % at the target: rate limiting, never path loss
    assert path.rate_limited_ttls == (3,) and path.path_loss_from_ttl is None
    assert path.destination_loss_pct == 0.0
    assert path.silent_ttls == (2,) and not path.silent_final_hop
    assert {(v.ttl, v.verdict) for v in path.verdicts} == {
        (2, "silent"), (3, "icmp_rate_limit"), (3, "latency_step")}


def test_loss_that_carries_on_and_excess_loss_on_top():
    rep, _ = load_mtr(MTR / "path_loss_from_hop3.json")
    assert rep.hops[0].address == "192.0.2.1"  # "name (ip)" from -b
    path = assess_path(rep)
    assert path.path_loss_from_ttl == 3 and path.destination_loss_pct == 15.0
    verdicts = {v.ttl: v.verdict for v in path.verdicts if v.verdict != "latency_step"}
    assert verdicts == {3: "path_loss", 4: "icmp_rate_limit", 5: "path_loss"}
    assert path.latency_step_ttl == 3


def test_silent_final_hop():
    rep, _ = load_mtr(MTR / "silent_final.json")
    assert rep.destination_reached is False
    path = assess_path(rep)
    assert path.silent_final_hop and path.destination_loss_pct is None
    assert path.path_loss_from_ttl is None and path.rate_limited_ttls == ()
    assert path.verdicts[-1].verdict == "silent" and "end-to-end loss is unknown" in \
        path.verdicts[-1].detail


def test_raw_with_two_responders_at_one_hop():
    rep, problems = load_mtr(MTR / "ecmp_0.95.raw")
    assert problems == [] and [h.ttl for h in rep.hops] == [1, 2, 3]
    assert rep.hops[1].responders == ("198.51.100.1", "198.51.100.2")
    assert rep.hops[1].sent == 3 and rep.hops[1].loss_pct == 33.3
    assert rep.hops[2].rtts_ms == (12.4, 12.6, 12.3)
    path = assess_path(rep)
    assert path.multi_responder_ttls == (2,) and path.stable is False
    assert path.rate_limited_ttls == (2,)
    assert rep.destination_reached is None  # raw has no target name


def test_json_with_raw_added_shows_the_second_responder():
    js, _ = load_mtr(MTR / "legacy_0.92.json")
    raw, _ = load_mtr(MTR / "ecmp_0.95.raw")
    both = with_raw(js, raw)
    assert both.format == "json-legacy+raw" and both.dst == "203.0.113.9"
    assert [h.host for h in both.hops] == [h.host for h in js.hops]
    assert both.hops[1].responders == ("198.51.100.1", "198.51.100.2")
    assert both.hops[3].responders == ()  # raw had no fourth hop
    path = assess_path(both)
    assert path.multi_responder_ttls == (2,) and path.stable is False
    assert assess_path(js).stable is None


def test_old_raw_without_probe_lines():
    rep, problems = load_mtr(MTR / "old_0.92.raw")
    assert problems == []
    assert [(h.host, h.sent, h.loss_pct, len(h.rtts_ms)) for h in rep.hops] == [
        ("192.0.2.1", None, None, 2), ("203.0.113.50", None, None, 2)]


def test_to_dict_rounds_milliseconds():
    rep, _ = load_mtr(MTR / "ecmp_0.95.raw")
    d = rep.to_dict()
    assert d["hops"][0]["avg_ms"] == 0.41 and d["hops"][0]["stdev_ms"] == 0.01
    orjson.dumps(assess_path(rep).to_dict())


# ---------------------------------------------------------------------------------------
# The path reading on hand-built hops
# ---------------------------------------------------------------------------------------

def test_intermediate_loss_alone_is_never_path_loss():
    path = assess_path(report(hop(1, 0), hop(2, 40), hop(3, 90), hop(4, 0)))
    assert path.path_loss_from_ttl is None and path.rate_limited_ttls == (2, 3)


def test_loss_starting_mid_path_and_carrying_on():
    path = assess_path(report(hop(1, 0), hop(2, 0), hop(3, 20), hop(4, 30), hop(5, 20)))
    assert path.path_loss_from_ttl == 3 and path.rate_limited_ttls == ()


def test_silent_hops_in_the_middle_do_not_break_carried_loss():
    path = assess_path(report(hop(1, 0), hop(2, 10), hop(3, 100), hop(4, 10)))
    assert path.path_loss_from_ttl == 2 and path.silent_ttls == (3,)


def test_loss_floor_threshold_is_honoured():
    rep = report(hop(1, 0), hop(2, 5), hop(3, 5))
    assert assess_path(rep).path_loss_from_ttl == 2
    assert assess_path(rep, Thresholds({"l3.mtr.loss_floor_pct": 5})).path_loss_from_ttl is None


def test_latency_spike_not_kept_is_a_slow_reply():
    path = assess_path(report(hop(1, 0, 1.0), hop(2, 0, 40.0), hop(3, 0, 2.0)))
    assert path.latency_step_ttl is None
    assert [(v.ttl, v.verdict) for v in path.verdicts] == [(2, "slow_icmp_reply")]


def test_empty_hubs_is_a_warning():
    doc = {"report": {"mtr": {"dst": "x"}, "hubs": []}}
    rep, problems = parse_mtr(json.dumps(doc), "m.json")
    assert rep.hops == () and rep.destination_reached is None
    assert [str(p) for p in problems] == ["m.json: /report/hubs: expected at least one hop, "
                                          "got an empty list"]


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

def test_a_pcap_passed_as_mtr():
    with pytest.raises(InputError) as info:
        parse_mtr((LAB / "path_loss" / "icmp.pcap").read_bytes(), "capture.pcap")
    assert str(info.value) == ("capture.pcap: byte 0: expected mtr --json or --raw output, "
                               "got a pcap file (0xd4c3b2a1)")


def test_truncated_json():
    text = (LAB / "clean" / "mtr.json").read_text()
    with pytest.raises(InputError) as info:
        parse_mtr(text[: len(text) // 2], "mtr.json")
    assert str(info.value).startswith("mtr.json: line 25: expected complete mtr --json "
                                      "output, got invalid JSON (")


@pytest.mark.parametrize("data, message", [
    (b"", "m: expected mtr --json or --raw output, got an empty file"),
    (b'{"report": []}', "m: /report: expected an mtr --json report object, got []"),
    (b'[1]', "m: /report: expected an mtr --json report object, got [1]"),
    (b'{"report": {"hubs": 3}}', "m: /report/hubs: expected a list of hops, got 3"),
    (b"HOST: vm  Loss%  Snt\n", "m: line 1: expected mtr --json or --raw output, "
                                "got 'HOST: vm  Loss%  Snt'"),
])
def test_unusable_input_is_one_error(data, message):
    with pytest.raises(InputError) as info:
        parse_mtr(data, "m")
    assert str(info.value) == message


def test_bad_hop_is_skipped_with_a_pointer():
    doc = json.loads((LAB / "path_loss" / "mtr.json").read_text())
    doc["report"]["hubs"][1]["Loss%"] = "abc"
    rep, problems = parse_mtr(json.dumps(doc), "mtr.json")
    assert [h.ttl for h in rep.hops] == [1, 3]
    assert [str(p) for p in problems] == [
        "mtr.json: /report/hubs/1/Loss%: expected a number, got 'abc'"]


def test_raw_with_garbage_lines_keeps_the_rest():
    text = (MTR / "ecmp_0.95.raw").read_text() + "zz 1 2\np 0 notanumber\n"
    rep, problems = parse_mtr(text, "m.raw")
    assert len(rep.hops) == 3
    assert [str(p) for p in problems] == [
        "m.raw: line 29: expected an mtr --raw line (x, h, d, p or m), got 'zz 1 2' "
        "(and the next 1 lines, to line 30)"]


def _check(data):
    try:
        rep, problems = parse_mtr(data, "fuzz")
    except InputError as err:
        assert str(err).startswith("fuzz")
        return
    orjson.dumps(rep.to_dict())
    orjson.dumps(assess_path(rep).to_dict())


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_input_gives_result_or_clean_error(data):
    _check(data)


@given(st.data())
def test_mutated_real_output_gives_result_or_clean_error(data):
    text = (MTR / "legacy_0.92.json").read_text() if data.draw(st.booleans()) else \
        (MTR / "ecmp_0.95.raw").read_text()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 30)))
    filler = data.draw(st.text(max_size=15) | st.sampled_from(
        ['"???"', "null", "-1", "1e400", "true", "{}", "[]", '"x"', "\n", "p 0 5"]))
    _check(text[:start] + filler + text[end:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)
hub_key = st.sampled_from(["count", "host", "Loss%", "Snt", "Last", "Avg", "Best", "Wrst",
                           "StDev", "ASN", "Jttr"])


@given(st.lists(st.dictionaries(hub_key, json_values, max_size=11), max_size=5),
       st.dictionaries(st.sampled_from(["src", "dst", "tests", "tos"]), json_values))
def test_random_hubs_give_result_or_clean_error(hubs, head):
    _check(orjson.dumps({"report": {"mtr": head, "hubs": hubs}}))
