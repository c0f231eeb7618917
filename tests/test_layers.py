"""L3 and L7 grades: the lab bundles, each source on its own, rate limiting that must not
count, failures, and thresholds overridden as --config would."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cnfpost.inputs.curl import load_curl, parse_curl
from cnfpost.inputs.mtr import MtrHop, MtrReport, load_mtr
from cnfpost.inputs.ping import load_ping, parse_ping
from cnfpost.layers import assess_l3, assess_l7
from cnfpost.thresholds import DEFAULTS, GRADES, Thresholds

DATA = Path(__file__).parent / "data" / "inputs"
LAB = DATA / "lab"


def lab(scenario):
    ping, _ = load_ping(LAB / scenario / "ping.txt")
    mtr, _ = load_mtr(LAB / scenario / "mtr.json")
    samples, _ = load_curl(LAB / scenario / "timings.jsonl")
    return ping, mtr, samples


def echo_of(path):
    from cnfpost.decode_py import read_capture
    from cnfpost.icmp_echo import pair_echoes

    return pair_echoes(read_capture(path.read_bytes(), path.name))


# ---------------------------------------------------------------------------------------
# L3
# ---------------------------------------------------------------------------------------

def test_l3_clean_is_excellent():
    ping, mtr, _ = lab("clean")
    l3 = assess_l3(ping, mtr, None)
    assert l3.quality == "excellent"
    m = l3.metrics
    assert (m["rtt_avg_ms"], m["rtt_source"], m["jitter_source"]) == (0.237, "ping", "ping")
    assert (m["probes_sent"], m["probes_lost"], m["loss_pct"]) == (30, 0, 0.0)
    assert m["loss_sources"] == ["ping", "mtr"] and m["hops"] == 3
    assert m["notes"] == []
    orjson.dumps(l3.to_dict())
    assert set(l3.to_dict()) == {"quality", "metrics"}


def test_l3_path_loss_pools_ping_and_mtr():
    ping, mtr, _ = lab("path_loss")
    l3 = assess_l3(ping, mtr, None)
    # ping lost 1 of 20, mtr 1 of 10 at the target: 2 of 30
    assert (l3.metrics["probes_sent"], l3.metrics["probes_lost"]) == (30, 2)
    assert l3.metrics["loss_pct"] == pytest.approx(6.667)
    assert l3.metrics["grades"]["loss"] == "poor" and l3.quality == "poor"
    assert any("starting at hop 3" in n for n in l3.metrics["notes"])


def test_l3_capture_echoes_stand_in_for_ping_never_both():
    _, mtr, _ = lab("path_loss")
    echo = echo_of(LAB / "path_loss" / "icmp.pcap")
    alone = assess_l3(None, None, echo)
    assert alone.metrics["rtt_source"] == "capture_icmp"
    assert alone.metrics["loss_sources"] == ["capture_icmp"]
    assert alone.metrics["probes_sent"] == echo.sent
    ping, _, _ = lab("path_loss")
    both = assess_l3(ping, mtr, echo)
    assert both.metrics["sources"] == ["ping", "capture_icmp", "mtr"]
    assert both.metrics["loss_sources"] == ["ping", "mtr"]  # the same packets counted once


def test_l3_latency_step_noted_and_graded_on_rtt():
    ping, mtr, _ = lab("tls_retrans")
    l3 = assess_l3(ping, mtr, None)
    assert l3.metrics["grades"]["latency"] == "excellent"  # 20.7 ms <= 30 ms
    assert "latency steps up by 20.4 ms at hop 2 and stays up" in l3.metrics["notes"]


def _hop(ttl, loss, best, host):
    return MtrHop(ttl, host, host, None, loss, 10, best, best, best, best, 0.1)


def test_l3_rate_limited_hop_never_costs_the_grade():
    mtr = MtrReport("json", "p", "192.0.2.3", 10, (
        _hop(1, 0.0, 1.0, "192.0.2.1"), _hop(2, 80.0, 5.0, "192.0.2.2"),
        _hop(3, 0.0, 5.0, "192.0.2.3")))
    l3 = assess_l3(None, mtr, None)
    assert l3.metrics["loss_pct"] == 0.0 and l3.quality == "excellent"
    assert any("ICMP rate limiting by that router, not a path problem" in n
               for n in l3.metrics["notes"])
    assert l3.metrics["rtt_source"] == "mtr" and l3.metrics["jitter_ms"] is None


def test_l3_silent_target_leaves_loss_to_ping():
    mtr, _ = load_mtr(DATA / "mtr" / "silent_final.json")
    ping, _ = load_ping(LAB / "clean" / "ping.txt")
    l3 = assess_l3(ping, mtr, None)
    assert l3.metrics["loss_sources"] == ["ping"] and l3.metrics["probes_sent"] == 20
    assert any("never answered mtr" in n for n in l3.metrics["notes"])


def test_l3_mtr_raw_gives_jitter():
    mtr, _ = load_mtr(DATA / "mtr" / "ecmp_0.95.raw")
    l3 = assess_l3(None, mtr, None)
    assert l3.metrics["jitter_source"] == "mtr_raw"
    assert l3.metrics["jitter_ms"] == pytest.approx(0.25)  # |12.6-12.4|, |12.3-12.6|
    assert any("ECMP or a route change" in n for n in l3.metrics["notes"])


def test_l3_unreachable_target_is_poor_and_unknown_host_is_unknown():
    ping, _ = load_ping(DATA / "ping" / "iputils_unreachable.txt")
    l3 = assess_l3(ping, None, None)
    assert l3.metrics["loss_pct"] == 100.0 and l3.quality == "poor"
    assert l3.metrics["grades"]["latency"] == "unknown"
    ping, _ = load_ping(DATA / "ping" / "unknown_host.txt")
    l3 = assess_l3(ping, None, None)
    assert l3.quality == "unknown"
    assert l3.metrics["notes"] == ["ping sent nothing: nosuchhost.invalid: Name or service not "
                                   "known"]


def test_l3_nothing_is_unknown():
    l3 = assess_l3(None, None, None)
    assert l3.quality == "unknown" and l3.metrics["sources"] == []


def test_l3_disagreement_is_passed_on():
    ping, _ = load_ping(DATA / "ping" / "iputils_disagree.txt")
    l3 = assess_l3(ping, None, None)
    assert any("summary disagrees" in n for n in l3.metrics["notes"])


@pytest.mark.parametrize("rtt, grade", [(1, "excellent"), (30, "excellent"), (31, "good"),
                                        (100, "good"), (101, "fair"), (300, "fair"),
                                        (301, "poor")])
def test_l3_latency_boundaries(rtt, grade):
    text = ("PING h (192.0.2.1) 56(84) bytes of data.\n"
            f"64 bytes from 192.0.2.1: icmp_seq=1 ttl=60 time={rtt} ms\n"
            f"64 bytes from 192.0.2.1: icmp_seq=2 ttl=60 time={rtt} ms\n")
    ping, _ = parse_ping(text, "p")
    assert assess_l3(ping, None, None).metrics["grades"]["latency"] == grade


def test_l3_thresholds_override():
    ping, mtr, _ = lab("tls_retrans")
    strict = Thresholds({"l3.rtt_ms.excellent": 5, "l3.rtt_ms.good": 10, "l3.rtt_ms.fair": 20})
    l3 = assess_l3(ping, mtr, None, strict)
    assert l3.metrics["grades"]["latency"] == "poor" and l3.quality == "poor"


# ---------------------------------------------------------------------------------------
# L7
# ---------------------------------------------------------------------------------------

def test_l7_lab_bundles():
    _, _, samples = lab("tls_retrans")
    l7 = assess_l7(samples)
    m = l7.metrics
    assert l7.quality == "excellent" and m["samples"] == 5 and m["failed"] == 0
    assert m["ttfb_median_ms"] == 120.935 and m["total_median_ms"] == 121.022
    assert m["phases"]["tls"]["measured"] == 5 and m["phases"]["tls"]["median_ms"] == 57.142
    shares = sum(m["phases"][p]["mean_share_pct"] for p in m["phases"])
    assert shares == pytest.approx(100.0, abs=0.01)
    assert m["http_versions"] == ["2"] and m["response_codes"] == {"200": 5}
    orjson.dumps(l7.to_dict())


def test_l7_failures_and_5xx_count():
    samples, _ = load_curl(DATA / "curl" / "timeout.jsonl")
    more, _ = load_curl(DATA / "curl" / "http503.jsonl")
    ok, _ = load_curl(DATA / "curl" / "reuse.jsonl")
    l7 = assess_l7(samples + more + ok)
    m = l7.metrics
    assert (m["samples"], m["failed"], m["failure_pct"]) == (4, 2, 50.0)
    assert m["grades"]["failures"] == "poor" and l7.quality == "poor"
    assert m["reused_connections"] == 1 and m["phases"]["dns"]["reused"] == 1
    assert any("failed in server" in n for n in m["notes"])
    assert "sample 2: HTTP 503" in m["notes"]


def test_l7_all_failed_has_unknown_ttfb_and_poor_quality():
    samples, _ = load_curl(DATA / "curl" / "refused.jsonl")
    l7 = assess_l7(samples)
    assert l7.metrics["grades"] == {"ttfb": "unknown", "failures": "poor"}
    assert l7.quality == "poor" and l7.metrics["ttfb_median_ms"] is None


def test_l7_no_samples_is_unknown():
    assert assess_l7([]).quality == "unknown"


@pytest.mark.parametrize("ttfb_s, grade", [(0.1, "excellent"), (0.2, "excellent"),
                                           (0.2001, "good"), (0.8, "good"), (0.8001, "fair"),
                                           (1.8, "fair"), (1.8001, "poor")])
def test_l7_ttfb_boundaries(ttfb_s, grade):
    line = ('{"exitcode":0,"time_namelookup":0.001,"time_connect":0.002,'
            f'"time_pretransfer":0.003,"time_starttransfer":{ttfb_s},"time_total":{ttfb_s + 1}}}')
    samples, _ = parse_curl(line, "t")
    assert assess_l7(samples).metrics["grades"]["ttfb"] == grade


def test_l7_thresholds_override():
    _, _, samples = lab("clean")
    strict = Thresholds({"l7.ttfb_ms.excellent": 1, "l7.ttfb_ms.good": 2,
                         "l7.ttfb_ms.fair": 3})
    assert assess_l7(samples, strict).quality == "poor"


def test_every_threshold_used_here_is_declared_with_a_reason():
    for layer in ("l3.", "l7."):
        names = [n for n in DEFAULTS if n.startswith(layer)]
        assert names
        for name in names:
            t = DEFAULTS[name]
            assert t.unit in ("ms", "%") and len(t.why) > 30
    for prefix in ("l3.rtt_ms", "l3.jitter_ms", "l3.loss_pct", "l7.ttfb_ms", "l7.failure_pct"):
        limits = [DEFAULTS[f"{prefix}.{g}"].value for g in GRADES[:3]]
        assert limits == sorted(limits), prefix


def test_config_file_overrides_reach_the_grades(tmp_path):
    from cnfpost.thresholds import load_config

    config = tmp_path / "c.toml"
    config.write_text('[thresholds]\n"l3.loss_pct.fair" = 10\n')
    ping, mtr, _ = lab("path_loss")
    assert assess_l3(ping, mtr, None, load_config(config)).metrics["grades"]["loss"] == "fair"


def _walk(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def test_every_ms_key_in_every_result_has_three_decimals():
    from cnfpost.path import assess_path

    ping, mtr, samples = lab("tls_retrans")
    raw, _ = load_mtr(DATA / "mtr" / "ecmp_0.95.raw")
    echo = echo_of(LAB / "path_loss" / "icmp.pcap")
    docs = [ping.to_dict(), mtr.to_dict(), raw.to_dict(), assess_path(raw).to_dict(),
            echo.to_dict(), assess_l3(ping, mtr, echo).to_dict(), assess_l7(samples).to_dict(),
            *[s.to_dict() for s in samples]]
    seen = 0
    for doc in docs:
        orjson.dumps(doc)  # plain JSON types only
        for key, value in _walk(doc):
            if key.endswith("_ms") and value is not None:
                assert isinstance(value, float) and round(value, 3) == value, (key, value)
                seen += 1
    assert seen > 100


@pytest.mark.parametrize("code, failed", [(499, 0), (500, 1)])
def test_l7_a_5xx_is_a_failure_and_a_4xx_is_not(code, failed):
    ok = ('{"exitcode":0,"response_code":200,"time_namelookup":0.001,"time_connect":0.002,'
          '"time_pretransfer":0.003,"time_starttransfer":0.01,"time_total":0.011}')
    samples, _ = parse_curl("\n".join([ok.replace("200", str(code))] + [ok] * 9), "t")
    m = assess_l7(samples).metrics
    assert (m["failed"], m["failure_pct"]) == (failed, 10.0 * failed)
    # one in ten: past l7.failure_pct.good (1 %), within fair (10 %)
    assert m["grades"]["failures"] == ("fair" if failed else "excellent")
