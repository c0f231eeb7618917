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


# ---------------------------------------------------------------------------------------
# Every L3 and L7 figure, whole, on inputs built by hand
# ---------------------------------------------------------------------------------------

from types import SimpleNamespace                       # noqa: E402


def ping_of(sent=20, lost=1, disagreements=(), **stats):
    s = {"count": sent - lost, "avg_ms": 10.12345, "min_ms": 9.5, "max_ms": 12.25,
         "jitter_ms": 1.5, **stats}
    return SimpleNamespace(sent=sent, lost=lost, errors=[], disagreements=list(disagreements),
                           stats=SimpleNamespace(**s))


def path_of(**kw):
    base = dict(destination_sent=10, destination_loss_pct=10.0, destination_avg_ms=55.5,
                destination_best_ms=50.25, hop_count=5, path_loss_from_ttl=None,
                rate_limited_ttls=(), silent_final_hop=False, latency_step_ttl=None,
                latency_step_ms=None, multi_responder_ttls=())
    p = SimpleNamespace(**{**base, **kw})
    p.to_dict = lambda: {"hop_count": p.hop_count}
    return p


def echoes(sent=10, answered=8, jitter_ms=3.25):
    return SimpleNamespace(sent=sent, answered=answered,
                           stats=SimpleNamespace(avg_ms=20.5, min_ms=18.0, max_ms=25.0,
                                                 jitter_ms=jitter_ms))


def test_l3_every_figure_from_ping_and_mtr():
    path = path_of(path_loss_from_ttl=3, rate_limited_ttls=(2, 4), silent_final_hop=True,
                   latency_step_ttl=4, latency_step_ms=12.345, multi_responder_ttls=(1, 2))
    l3 = assess_l3(ping_of(disagreements=["sent 20 vs 21", "min 9.4"]), None, None, path=path)
    # 1 of 20 pings and 1 of 10 mtr probes (10 %) lost: 2 of 30
    assert l3.metrics == {
        "sources": ["ping", "mtr"], "rtt_avg_ms": 10.123, "rtt_min_ms": 9.5,
        "rtt_max_ms": 12.25, "rtt_source": "ping", "jitter_ms": 1.5, "jitter_source": "ping",
        "loss_pct": 6.667, "probes_sent": 30, "probes_lost": 2,
        "loss_sources": ["ping", "mtr"], "hops": 5, "path": {"hop_count": 5},
        "grades": {"latency": "excellent", "jitter": "excellent", "loss": "poor"},
        "notes": ["ping's summary disagrees with its reply lines: sent 20 vs 21; min 9.4",
                  "path loss: 10% at the target, starting at hop 3 and carrying on to the "
                  "target",
                  "loss at hop 2, 4 does not carry on to the target: ICMP rate limiting by "
                  "that router, not a path problem",
                  "the target never answered mtr: end-to-end loss comes from ping only",
                  "latency steps up by 12.3 ms at hop 4 and stays up",
                  "several routers answered at hop 1, 2: ECMP or a route change during the "
                  "run"]}
    assert l3.quality == "poor"
    assert l3.facts.jitter_ms == 1.5 and l3.facts.probes_lost == 2


def test_l3_every_figure_from_the_captures_echoes():
    l3 = assess_l3(None, None, echoes())
    assert l3.metrics == {
        "sources": ["capture_icmp"], "rtt_avg_ms": 20.5, "rtt_min_ms": 18.0,
        "rtt_max_ms": 25.0, "rtt_source": "capture_icmp", "jitter_ms": 3.25,
        "jitter_source": "capture_icmp", "loss_pct": 20.0, "probes_sent": 10, "probes_lost": 2,
        "loss_sources": ["capture_icmp"], "hops": None, "path": None,
        "grades": {"latency": "excellent", "jitter": "good", "loss": "poor"}, "notes": []}


def test_l3_echoes_that_sent_nothing_are_no_source():
    l3 = assess_l3(None, None, echoes(sent=0, answered=0))
    assert l3.metrics["sources"] == [] and l3.metrics["probes_sent"] is None
    assert l3.metrics["probes_lost"] is None and l3.quality == "unknown"


def test_l3_latency_from_mtr_alone_and_mtr_raw_jitter_from_two_rtts():
    hop = SimpleNamespace(rtts_ms=[50.0, 54.0])
    mtr = SimpleNamespace(hops=[hop])
    l3 = assess_l3(None, mtr, echoes(sent=4, answered=4, jitter_ms=None), path=path_of())
    m = l3.metrics
    assert (m["rtt_source"], m["rtt_avg_ms"]) == ("capture_icmp", 20.5)
    assert (m["jitter_source"], m["jitter_ms"]) == ("mtr_raw", 4.0)
    hop.rtts_ms = [50.0]
    m = assess_l3(None, mtr, None, path=path_of()).metrics
    assert (m["rtt_source"], m["rtt_avg_ms"], m["rtt_min_ms"], m["rtt_max_ms"]) == \
        ("mtr", 55.5, 50.25, None)
    assert (m["jitter_source"], m["jitter_ms"]) == (None, None)
    assert m["grades"]["jitter"] == "unknown"


def test_l3_mtr_loss_rounds_to_whole_probes():
    # 7 probes at 14.3 %: one probe lost, not 1.001
    m = assess_l3(None, None, None, path=path_of(destination_sent=7,
                                                 destination_loss_pct=14.3)).metrics
    assert (m["probes_sent"], m["probes_lost"], m["loss_pct"]) == (7, 1, 14.286)
    # 20 probes at 17.5 %: 3.5 rounds to 4
    m = assess_l3(None, None, None, path=path_of(destination_sent=20,
                                                 destination_loss_pct=17.5)).metrics
    assert (m["probes_lost"], m["loss_pct"]) == (4, 20.0)


def test_l3_path_assessed_with_the_thresholds_given():
    # mtr's latency step is found from l3.mtr.latency_step_ms: the thresholds reach it
    hops = tuple(MtrHop(t, f"r{t}", f"10.0.0.{t}", None, 0.0, 10, a, a, a, a, 0.1)
                 for t, a in ((1, 1.0), (2, 6.0), (3, 6.5)))
    mtr = MtrReport("json", None, "t", 10, hops)
    default = assess_l3(None, mtr, None).metrics["notes"]
    low = assess_l3(None, mtr, None, Thresholds({"l3.mtr.latency_step_ms": 4.0})).metrics["notes"]
    assert not any("latency steps up" in n for n in default)
    assert any("latency steps up by 5.0 ms at hop 2" in n for n in low)


def curl_line(**kw):
    obj = {"url": "https://lab.test/", "exitcode": 0, "response_code": 200,
           "http_version": "2", "time_namelookup": 0.001, "time_connect": 0.011,
           "time_appconnect": 0.031, "time_pretransfer": 0.032, "time_starttransfer": 0.0820004,
           "time_total": 0.1, **kw}
    return orjson.dumps(obj).decode()


def test_l7_every_figure():
    lines = [curl_line(), curl_line(http_version="1.1", time_starttransfer=0.0920004,
                                    response_code=503),
             curl_line(exitcode=28, errormsg=None, time_starttransfer=0, time_total=5.0),
             curl_line(num_connects=0, time_connect=0, time_appconnect=0,
                       time_namelookup=0, num_redirects=1)]
    samples, problems = parse_curl("\n".join(lines), "t")
    assert not problems
    l7 = assess_l7(samples)
    m = l7.metrics
    assert (m["samples"], m["failed"], m["failure_pct"]) == (4, 2, 50.0)
    # TTFB and total over the three that completed (curl's times in microseconds)
    assert m["ttfb_median_ms"] == 82.0 and m["total_median_ms"] == 100.0
    assert m["http_versions"] == ["1.1", "2"]
    assert m["response_codes"] == {"200": 3, "503": 1}
    assert m["reused_connections"] == 1
    assert m["grades"] == {"ttfb": "excellent", "failures": "poor"}
    assert m["notes"] == ["sample 3: failed in server: no message", "sample 2: HTTP 503",
                          "redirects followed: curl summed the phases over each chain"]
    # phase times over the completed samples; their statuses over all four
    assert m["phases"] == {
        "dns": {"median_ms": 1.0, "mean_share_pct": 1.0, "measured": 3, "reused": 1,
                "absent": 0},
        "tcp": {"median_ms": 10.0, "mean_share_pct": 10.0, "measured": 3, "reused": 1,
                "absent": 0},
        "tls": {"median_ms": 20.0, "mean_share_pct": 20.0, "measured": 3, "reused": 1,
                "absent": 0},
        "request": {"median_ms": 1.0, "mean_share_pct": 11.333, "measured": 4, "reused": 0,
                    "absent": 0},
        "server": {"median_ms": 50.0, "mean_share_pct": 53.333, "measured": 3, "reused": 0,
                   "absent": 1},
        "download": {"median_ms": 18.0, "mean_share_pct": 14.667, "measured": 3,
                     "reused": 0, "absent": 1}}
    assert l7.quality == "poor"


def test_l7_no_samples_says_so_whole():
    l7 = assess_l7([])
    assert (l7.quality, l7.metrics) == ("unknown", {"samples": 0, "grades": {
        "ttfb": "unknown", "failures": "unknown"}})


def test_l7_a_failure_with_curls_message_and_the_first_sample_numbered_one():
    lines = [curl_line(exitcode=7, errormsg="Failed to connect", time_connect=0,
                       time_appconnect=0, time_pretransfer=0, time_starttransfer=0,
                       time_total=0.5), curl_line(response_code=500)]
    samples, _ = parse_curl("\n".join(lines), "t")
    m = assess_l7(samples).metrics
    assert m["notes"] == ["sample 1: failed in tcp: Failed to connect", "sample 2: HTTP 500"]
    assert m["failed"] == 2


def test_l7_ttfb_leaves_out_a_sample_that_failed_after_its_first_byte():
    lines = [curl_line(), curl_line(exitcode=18, errormsg="partial file",
                                    time_starttransfer=0.9, time_total=1.5)]
    samples, _ = parse_curl("\n".join(lines), "t")
    assert samples[1].ttfb_ms == 900.0 and not samples[1].ok
    assert assess_l7(samples).metrics["ttfb_median_ms"] == 82.0
