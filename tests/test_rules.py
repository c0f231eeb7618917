"""Every finding rule of cnfpost/rules.py at its edges, on built inputs: raised at its limit,
not raised just below it, with the right code, severity, numbers and evidence. Rules that
read curl timings, ping or the L3 metrics get a Context built by hand; rules that read
packets get a capture built in code (tests/tcp_builders.py, tests/tcp_scenarios.py)."""
from __future__ import annotations

import json
import socket
from dataclasses import replace
from types import SimpleNamespace

import dpkt
import pytest

from cnfpost import rules
from cnfpost.capture import decode_bytes
from cnfpost.facts import Facts
from cnfpost.inputs.curl import parse_curl
from cnfpost.layers import L3Facts
from cnfpost.rules import Context
from cnfpost.tcp import analyze_tcp
from cnfpost.thresholds import Thresholds
from tests import tcp_scenarios
from tests.tcp_builders import Capture, tcp_options

TH = Thresholds()
PHASE_TIMERS = ("time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
                "time_starttransfer", "time_total")


def sample(index=1, *, dns=1.0, tcp=10.0, tls=10.0, request=0.5, server=20.0, download=1.0,
           **fields):
    """A parsed curl sample whose phases took these many milliseconds (tls=None: http)."""
    marks, t = {}, 0.0
    for timer, took in zip(PHASE_TIMERS, (dns, tcp, tls, request, server, download)):
        if took is None:
            marks[timer] = 0
            continue
        t += took
        marks[timer] = round(t / 1000.0, 6)
    scheme = "http" if tls is None else "https"
    obj = {"url": f"{scheme}://lab.test/", "scheme": scheme, "exitcode": 0,
           "response_code": 200, "num_connects": 1, **marks, **fields}
    (s,), problems = parse_curl(json.dumps(obj))
    assert not problems
    return replace(s, index=index)


def ctx_of(*samples, rtt=None, **kw) -> Context:
    """A Context with these samples; rtt: the path's RTT (mtr's best to the target)."""
    path = None if rtt is None else SimpleNamespace(destination_best_ms=rtt)
    return Context(th=TH, samples=list(samples), path=path, **kw)


def one(found, code=None):
    (f,) = found
    assert code is None or f.code == code
    return f


# --- L7: slow phases ---------------------------------------------------------------------

@pytest.mark.parametrize("took, severity", [
    (99.9, None), (100.0, "warning"), (999.9, "warning"), (1000.0, "critical")])
def test_slow_dns_at_its_warning_and_critical_limits(took, severity):
    found = rules.rule_slow_phases(ctx_of(sample(dns=took)))
    if severity is None:
        assert found == []
        return
    f = one(found, "l7.slow_dns")
    assert f.severity == severity
    assert f.numbers == {"median_ms": took, "limit_ms": 100.0, "samples_over": [1]}
    assert (f.evidence.source, f.evidence.detail) == ("timings", "samples 1")


@pytest.mark.parametrize("rtt, limit", [(None, 50.0), (10.0, 50.0), (20.0, 60.0)])
def test_slow_connect_limit_is_the_floor_or_three_round_trips(rtt, limit):
    assert rules.rule_slow_phases(ctx_of(sample(tcp=limit - 0.1), rtt=rtt)) == []
    f = one(rules.rule_slow_phases(ctx_of(sample(tcp=limit), rtt=rtt)), "l7.slow_connect")
    assert f.severity == "warning" and f.numbers["limit_ms"] == limit
    assert f.numbers["median_ms"] == limit


@pytest.mark.parametrize("rtt, limit", [(None, 100.0), (20.0, 100.0), (30.0, 120.0)])
def test_slow_tls_limit_is_the_floor_or_four_round_trips(rtt, limit):
    assert rules.rule_slow_phases(ctx_of(sample(tls=limit - 0.1), rtt=rtt)) == []
    f = one(rules.rule_slow_phases(ctx_of(sample(tls=limit), rtt=rtt)), "l7.slow_tls")
    assert f.severity == "warning" and f.numbers["limit_ms"] == limit


def test_slow_connect_and_slow_tls_are_told_apart():
    found = rules.rule_slow_phases(ctx_of(sample(tcp=500.0, tls=5.0)))
    assert [f.code for f in found] == ["l7.slow_connect"]
    found = rules.rule_slow_phases(ctx_of(sample(tcp=5.0, tls=500.0)))
    assert [f.code for f in found] == ["l7.slow_tls"]


@pytest.mark.parametrize("rtt", [None, 40.0])
def test_slow_server_is_judged_after_its_round_trip(rtt):
    base = rtt or 0.0
    assert rules.rule_slow_phases(ctx_of(sample(server=199.9 + base), rtt=rtt)) == []
    f = one(rules.rule_slow_phases(ctx_of(sample(server=200.0 + base), rtt=rtt)))
    assert (f.code, f.severity, f.numbers["limit_ms"]) == ("l7.slow_server", "warning",
                                                            200.0 + base)
    f = one(rules.rule_slow_phases(ctx_of(sample(server=1000.0 + base), rtt=rtt)))
    assert f.severity == "critical"


def test_the_median_of_the_samples_is_judged_and_the_slow_ones_named():
    s = [sample(1, dns=150.0), sample(2, dns=20.0), sample(3, dns=120.0)]
    f = one(rules.rule_slow_phases(ctx_of(*s)), "l7.slow_dns")
    assert f.numbers == {"median_ms": 120.0, "limit_ms": 100.0, "samples_over": [1, 3]}
    assert f.evidence.detail == "samples 1, 3"
    # median below the limit: one slow sample is not a slow phase
    s = [sample(1, dns=150.0), sample(2, dns=20.0), sample(3, dns=30.0)]
    assert rules.rule_slow_phases(ctx_of(*s)) == []


# 100 000 bytes at exactly 10 Mbit/s take 80 ms
@pytest.mark.parametrize("size, download, raised", [
    (100_000, 80.0, False),          # at the limit: not slow
    (100_000, 80.1, True),           # just slower
    (99_999, 800.0, False),          # too small to judge a rate
])
def test_slow_download_edges(size, download, raised):
    found = rules.rule_slow_phases(ctx_of(sample(download=download, size_download=size)))
    if not raised:
        assert found == []
        return
    f = one(found, "l7.slow_download")
    assert f.severity == "warning" and f.numbers["samples_over"] == [1]
    assert f.numbers["median_mbps"] == pytest.approx(100_000 * 8 / 0.0801 / 1e6, abs=1e-3)


@pytest.mark.parametrize("code, severity", [
    (200, None), (399, None), (400, "warning"), (499, "warning"), (500, "critical"),
    (503, "critical")])
def test_request_failed_by_http_status(code, severity):
    found = rules.rule_request_failed(ctx_of(sample(response_code=code)))
    if severity is None:
        assert found == []
        return
    f = one(found, "l7.request_failed")
    assert (f.severity, f.sample, f.numbers) == (severity, 1, {"response_code": code})


def test_a_failed_transfer_is_critical_whatever_its_status():
    s = sample(exitcode=28, errormsg="Operation timed out", server=None, download=None)
    f = one(rules.rule_request_failed(ctx_of(s)), "l7.request_failed")
    assert f.severity == "critical" and f.numbers == {"exit_code": 28, "failed_phase": "server",
                                                       "reason": None}


# --- L3 from the inputs -----------------------------------------------------------------

@pytest.mark.parametrize("jitter, severity", [
    (9.99, None), (10.0, "warning"), (29.99, "warning"), (30.0, "critical")])
def test_high_jitter_edges(jitter, severity):
    found = rules.rule_jitter(Context(th=TH, l3=L3Facts(jitter_ms=jitter)))
    if severity is None:
        assert found == []
        return
    f = one(found, "l3.high_jitter")
    assert f.severity == severity
    assert f.numbers == {"jitter_ms": jitter, "source": "ping"}
    assert f.evidence.source == "ping"


def test_jitter_from_mtr_names_mtr():
    f = one(rules.rule_jitter(Context(th=TH, l3=L3Facts(jitter_ms=12.0,
                                                           jitter_source="mtr"))))
    assert f.evidence.source == "mtr" and f.numbers["source"] == "mtr"


@pytest.mark.parametrize("grade, severity", [
    ("excellent", None), ("unknown", None), ("good", "info"), ("fair", "warning"),
    ("poor", "critical")])
def test_path_loss_severity_follows_the_loss_grade(grade, severity):
    m = L3Facts(loss_pct=2.0, grades={"loss": grade}, probes_sent=100, probes_lost=2)
    found = rules.rule_path_loss(Context(th=TH, l3=m))
    if severity is None:
        assert found == []
        return
    f = one(found, "l3.path_loss")
    assert f.severity == severity
    assert f.numbers == {"loss_pct": 2.0, "probes_sent": 100, "probes_lost": 2,
                         "from_hop": None}


def ping_run(*rtts, sent=None):
    replies = [SimpleNamespace(rtt_ms=r) for r in rtts]
    got = sum(r is not None for r in rtts)
    return SimpleNamespace(replies=replies, sent=len(rtts) if sent is None else sent,
                           summary=SimpleNamespace(received=got,
                                                   min_ms=min((r for r in rtts if r),
                                                              default=None)),
                           lost_seqs=[])


def test_unreachable_when_ping_got_no_reply_at_all():
    f = one(rules.rule_unreachable(Context(th=TH, ping=ping_run(None, None, None))))
    assert (f.code, f.severity, f.numbers) == ("l3.unreachable", "critical", {"ping_sent": 3})
    assert rules.rule_unreachable(Context(th=TH, ping=ping_run(None, None, 10.0))) == []


def test_unreachable_when_mtr_never_reached_the_target_is_info():
    path = SimpleNamespace(destination_reached=False, hop_count=7)
    f = one(rules.rule_unreachable(Context(th=TH, path=path)), "l3.unreachable")
    assert f.severity == "info" and f.numbers == {"hops": 7}
    path = SimpleNamespace(destination_reached=True, hop_count=7)
    assert rules.rule_unreachable(Context(th=TH, path=path)) == []


def analysed(cap: Capture) -> dict:
    table = decode_bytes(cap.pcap_bytes(), "built.pcap")
    return {"table": table, "tcp": analyze_tcp(table)}


def icmp_unreachable(src: str, dst: str) -> bytes:
    """An ICMP port unreachable from src to dst quoting 28 bytes of a datagram."""
    icmp = dpkt.icmp.ICMP(type=3, code=3, data=dpkt.icmp.ICMP.Unreach(data=b"\0" * 28))
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=1, ttl=64,
                    data=icmp)
    ip.len = 20 + len(bytes(icmp))
    return bytes(ip)


def test_unreachable_errors_in_the_capture_are_evidence():
    cap = Capture()
    cap.conn().handshake()                                              # frames 1-3
    cap.add_raw(30, icmp_unreachable("10.0.0.254", "10.0.0.1"))         # 4: a router's
    cap.add_raw(31, icmp_unreachable("10.0.0.1", "10.0.0.53"))          # 5: the probe's own
    cap.add_raw(32, icmp_unreachable("10.0.0.2", "10.0.0.1"))           # 6: the server's
    f = one(rules.rule_unreachable(Context(th=TH, **analysed(cap))), "l3.unreachable")
    assert f.severity == "warning" and f.numbers == {"icmp_unreachable": 2}
    assert f.evidence.frames == (4, 6)


def test_an_unreachable_the_probe_itself_sent_says_nothing_about_the_path():
    cap = Capture()
    cap.conn().handshake()
    # the client's own port unreachable (a DNS answer after the resolver gave up)
    cap.add_raw(50, icmp_unreachable("10.0.0.1", "10.0.0.53"))
    assert rules.rule_unreachable(Context(th=TH, **analysed(cap))) == []


@pytest.mark.parametrize("loaded, severity", [
    (69.9, None), (70.0, "warning"), (209.9, "warning"), (210.0, "critical")])
def test_bufferbloat_from_ping_idle_against_loaded(loaded, severity):
    ctx = Context(th=TH, ping=ping_run(9.0, 10.0, 11.0),
                  ping_loaded=ping_run(loaded - 1, loaded, loaded + 1))
    found = rules.rule_bufferbloat(ctx)
    if severity is None:
        assert found == []
        return
    f = one(found, "l3l7.bufferbloat")
    assert f.severity == severity
    assert f.numbers == {"idle_ms": 10.0, "loaded_ms": loaded,
                         "added_ms": round(loaded - 10.0, 3), "source": "ping"}
    assert f.evidence.source == "ping"


# --- L4 from built captures ---------------------------------------------------------------

def test_syn_retry_names_the_syns():
    cap, _ = tcp_scenarios.syn_retransmission_restarts_irtt()
    f = one(rules.rule_syn_retry(Context(th=TH, **analysed(cap))), "l4.syn_retry")
    assert f.severity == "warning" and f.numbers == {"streams": [0], "syn_retries": 1}
    assert f.evidence.frames == (1, 2)


def test_no_syn_retry_after_one_syn():
    cap = Capture()
    cap.conn().handshake()
    assert rules.rule_syn_retry(Context(th=TH, **analysed(cap))) == []


def test_reset_after_data_and_a_refused_connection():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(t + 21, "s", 1, 101, "RA")                          # 5
    refused = cap.conn(client=("10.0.0.1", 40001))
    refused.seg(100, "c", 0, None, "S", opts=tcp_options(mss=1460))  # 6
    refused.seg(120, "s", 0, 1, "RA")                                # 7
    f = one(rules.rule_reset(Context(th=TH, **analysed(cap))), "l4.reset")
    assert f.severity == "warning" and f.numbers == {"streams": [0, 1], "refused": 1}
    assert f.evidence.frames == (5, 7)


def test_no_reset_after_a_fin_close():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "FA")
    k.seg(t + 21, "s", 1, 2, "FA")
    k.seg(t + 22, "c", 2, 2, "A")
    assert rules.rule_reset(Context(th=TH, **analysed(cap))) == []


def window_fills(times: int) -> Capture:
    """The client fills the server's unscaled 1000-byte window `times` times."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake(wscale=None, win=1000)
    seq = 1
    for i in range(times):
        k.seg(t + 1 + 30 * i, "c", seq, 1, "PA", data=1000)
        seq += 1000
        k.seg(t + 21 + 30 * i, "s", 1, seq, "A", win=1000)
    return cap


def test_window_limited_from_find_window_full_warning():
    assert rules.rule_window_limited(Context(th=TH, **analysed(window_fills(2)))) == []
    a = analysed(window_fills(3))
    assert int(a["tcp"].flows["window_full"][0]) == 3
    f = one(rules.rule_window_limited(Context(th=TH, **a)), "l4.window_limited")
    assert f.severity == "warning" and f.numbers == {"window_full": 3, "streams": [0]}
    assert f.evidence.frames == (4, 6, 8)


# --- across layers: l3l4 verdicts and the probes' rule-of-three bound ----------------------

REPAIRS = object()      # rule_l3_l4 only asks whether repairs were classified


def l3l4_ctx(l3, l4, sent, loss_pct=0.0, repaired=2, data=100):
    facts = Facts(repairs=REPAIRS, data_segments={"down": data},
                  repair_segments={"down": repaired})
    return Context(th=TH, grades={"L3": l3, "L4": l4}, facts=facts,
                   l3=L3Facts(loss_pct=loss_pct, probes_sent=sent))


@pytest.mark.parametrize("l4", ["excellent", "good", "unknown"])
def test_no_l3l4_verdict_while_tcp_is_clean(l4):
    assert rules.rule_l3_l4(l3l4_ctx("fair", l4, 1000, loss_pct=3.0)) == []


@pytest.mark.parametrize("l3", ["fair", "poor"])
def test_a_degraded_path_causes_degraded_tcp(l3):
    f = one(rules.rule_l3_l4(l3l4_ctx(l3, "fair", 100, loss_pct=3.0)), "l3l4.path_causes_tcp")
    assert f.severity == "warning" and f.numbers["l3"] == l3 and f.numbers["l4"] == "fair"


# 2 % of data repaired: the probes rule the path out when 3 / sent < 1 %, over 300 probes
@pytest.mark.parametrize("sent, code", [(300, None), (301, "l3l4.endpoint_tcp"),
                                        (0, None)])
def test_endpoint_tcp_only_when_enough_probes_rule_the_path_out(sent, code):
    found = rules.rule_l3_l4(l3l4_ctx("excellent", "poor", sent))
    assert [f.code for f in found] == ([code] if code else [])


def test_no_endpoint_verdict_without_loss_to_place():
    assert rules.rule_l3_l4(l3l4_ctx("excellent", "poor", 10_000, repaired=0)) == []


# --- L4 from built captures: repairs, copies, late segments (cnfpost/repairs.py) ----------

from cnfpost.facts import build_facts                  # noqa: E402
from cnfpost.stalls import Blackhole, Stall            # noqa: E402
from tests.test_facts import RTT, download             # noqa: E402


def facts_ctx(cap: Capture, **kw) -> Context:
    """A Context with the capture's table, TCP analysis and facts (as the pipeline builds)."""
    a = analysed(cap)
    return Context(th=TH, facts=build_facts(a["table"], a["tcp"], TH, {}), **a, **kw)


def lost_once(segments: int) -> Capture:
    """A download of `segments` full segments (plus the client's one-segment request) whose
    segment 1 was lost and sent again two round trips later (the last frame)."""
    cap = Capture()
    download(cap, segments=segments, late=[(1, 2 * RTT)])
    return cap


# 1 repair over 1 + segments data segments: 1 % at 99 segments, 5 % at 19
@pytest.mark.parametrize("segments, severity, pct", [
    (100, "info", 0.99), (99, "warning", 1.0), (20, "warning", 4.762), (19, "critical", 5.0)])
def test_retransmissions_at_their_warning_and_critical_rates(segments, severity, pct):
    f = one(rules.rule_retransmissions(facts_ctx(lost_once(segments))), "l4.retransmissions")
    assert f.severity == severity
    assert f.numbers == {"retransmissions": 1, "control_retransmissions": 0,
                         "data_segments": segments + 1, "rate_pct": pct, "fast": 0,
                         "downstream": 1, "upstream": 0, "spurious": 0, "streams": [0]}
    assert f.evidence.frames == (segments + 4,)           # after handshake, request, the rest
    assert f.evidence.detail == "tcp.analysis.retransmission"


def test_retransmissions_message_counts_both_directions_and_fast_ones():
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()
    f = one(rules.rule_retransmissions(facts_ctx(cap)), "l4.retransmissions")
    assert f.severity == "critical"                          # 1 of 5 client segments
    assert f.message == ("1 data segment(s) sent again to repair loss out of 5 (20.00%; "
                         "0 server->client, 1 client->server; 1 fast) in 1 connection(s)")
    assert (f.numbers["fast"], f.numbers["upstream"], f.numbers["downstream"]) == (1, 1, 0)
    assert f.evidence.frames == (12,)


def test_a_syn_retransmission_alone_is_counted_apart_as_info():
    cap, _ = tcp_scenarios.syn_retransmission_restarts_irtt()
    f = one(rules.rule_retransmissions(facts_ctx(cap)), "l4.retransmissions")
    assert f.severity == "info"
    assert f.numbers["retransmissions"] == 0 and f.numbers["control_retransmissions"] == 1
    assert f.message.endswith("; 1 SYN/FIN/ACK-only retransmission(s) counted apart "
                              "in 0 connection(s)")
    assert f.evidence.frames == (2,)                         # the SYN sent again


def test_no_retransmission_finding_on_a_clean_download():
    cap = Capture()
    download(cap, segments=10)
    ctx = facts_ctx(cap)
    for rule in (rules.rule_retransmissions, rules.rule_spurious, rules.rule_reordering,
                 rules.rule_directional_loss, rules.rule_zero_window, rules.rule_stall,
                 rules.rule_blackhole, rules.rule_window_limited, rules.rule_syn_retry,
                 rules.rule_reset):
        assert rule(ctx) == [], rule.__name__


def test_l4_rules_say_nothing_without_a_capture():
    ctx = Context(th=TH)
    for rule in (rules.rule_retransmissions, rules.rule_spurious, rules.rule_reordering,
                 rules.rule_directional_loss, rules.rule_zero_window, rules.rule_stall,
                 rules.rule_blackhole, rules.rule_window_limited, rules.rule_syn_retry,
                 rules.rule_reset, rules.rule_events_in_phases, rules.rule_bufferbloat):
        assert rule(ctx) == [], rule.__name__


# one copy over segments + 2 data segments (the copy and the request): 1 % at 98
@pytest.mark.parametrize("segments, severity", [(99, "info"), (98, "warning")])
def test_spurious_retransmissions_at_the_retransmission_warning_rate(segments, severity):
    cap = Capture()
    download(cap, segments=segments, again=[(2, 3 * RTT)])
    f = one(rules.rule_spurious(facts_ctx(cap)), "l4.spurious_retransmissions")
    pct = round(100.0 / (segments + 2), 3)
    assert f.severity == severity
    assert f.numbers == {"spurious": 1, "rate_pct": pct}
    assert f.evidence.frames == (segments + 5,)
    assert f.message == (f"1 retransmission(s) the receiver did not need ({pct:.2f}% of data "
                         "segments): the bytes had already arrived; ACKs lost on the way back "
                         "or an early timeout")
    assert rules.rule_retransmissions(facts_ctx(cap)) == []     # a copy repairs nothing


def test_spurious_retransmissions_after_reordering_blame_the_reordering():
    cap = Capture()
    download(cap, segments=98, late=[(95, 0.5)], again=[(2, 3 * RTT)])
    f = one(rules.rule_spurious(facts_ctx(cap)), "l4.spurious_retransmissions")
    assert f.message.endswith("; reordering fooled the sender")


# the last-but-three segment arrives 2.5 ms after the one that overtook it (RTT 20 ms)
@pytest.mark.parametrize("segments, severity", [(100, "info"), (99, "warning")])
def test_reordering_at_its_warning_rate(segments, severity):
    cap = Capture()
    download(cap, segments=segments, late=[(segments - 3, 0.5)])
    f = one(rules.rule_reordering(facts_ctx(cap)), "l4.reordering")
    pct = round(100.0 / (segments + 1), 3)
    assert f.severity == severity
    assert f.numbers == {"out_of_order": 1, "rate_pct": pct, "spurious_retransmissions": 0}
    assert f.evidence.frames == (segments + 4,)
    assert f.message == (f"1 segment(s) arrived late, overtaken by later ones ({pct:.2f}% of "
                         "data segments)")
    assert rules.rule_retransmissions(facts_ctx(cap)) == []     # late is not lost


@pytest.mark.parametrize("copies, severity", [(1, "info"), (2, "warning")])
def test_reordering_that_made_the_sender_copy_warns_from_the_copies_rate(copies, severity):
    cap = Capture()
    # 1 late segment of 150 + copies + 1: 0.65 % reordered; 2 copies are 1.3 %
    download(cap, segments=150, late=[(147, 0.5)], again=[(k, 3 * RTT) for k in (2, 3)][:copies])
    f = one(rules.rule_reordering(facts_ctx(cap)), "l4.reordering")
    assert f.severity == severity
    assert f.numbers["spurious_retransmissions"] == copies
    assert f.message.endswith(f"; {copies} needless retransmission(s) followed")


# 1 repair over `segments` server data segments: 1 % at 100, 5 % at 20
@pytest.mark.parametrize("segments, severity", [
    (101, "info"), (100, "warning"), (21, "warning"), (20, "critical")])
def test_downstream_loss_at_the_retransmission_rates_of_its_direction(segments, severity):
    f = one(rules.rule_directional_loss(facts_ctx(lost_once(segments))), "l3.downstream_loss")
    rate = round(100.0 / segments, 3)
    assert f.severity == severity
    assert f.numbers == {"repairs": 1, "rate_pct": rate, "streams": [0], "icmp_probes": None,
                         "icmp_rule_out_pct": None}
    assert f.evidence.frames == (segments + 4,)
    assert f.evidence.detail == "server -> client segments that repaired loss"
    assert f.message == (f"1 server -> client data segment(s) lost and sent again "
                         f"({100.0 / segments:.2f}% of that direction's data segments) in 1 "
                         "connection(s); no ICMP probes to compare with")


def test_downstream_loss_says_how_much_loss_the_probes_rule_out():
    # 300 clean probes rule out (rule of three) only loss above 1 %
    f = one(rules.rule_directional_loss(facts_ctx(lost_once(20),
                                                  l3=L3Facts(loss_pct=0.0, probes_sent=300))))
    assert f.severity == "critical"
    assert (f.numbers["icmp_probes"], f.numbers["icmp_rule_out_pct"]) == (300, 1.0)
    assert f.message.endswith("; 300 ICMP probes saw none, which rules out only loss above 1%")


def test_downstream_loss_the_probes_saw_too_is_info_beside_l3_path_loss():
    f = one(rules.rule_directional_loss(facts_ctx(lost_once(20),
                                                  l3=L3Facts(loss_pct=2.0, probes_sent=100))))
    assert f.severity == "info"
    assert f.numbers["icmp_rule_out_pct"] == 3.0
    assert f.message.endswith("; ICMP probes saw loss too (l3.path_loss)")


def test_upstream_loss_is_the_clients_data_sent_again():
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()
    f = one(rules.rule_directional_loss(facts_ctx(cap)), "l3.upstream_loss")
    assert f.severity == "critical" and f.numbers["rate_pct"] == 20.0
    assert f.evidence.frames == (12,)
    assert f.message.startswith("1 client -> server data segment(s) lost and sent again "
                                "(20.00% of that direction's")


def zero_window_for(ms: float) -> Capture:
    """The server advertises a zero window for `ms` milliseconds (frame 5)."""
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(41, "s", 1, 101, "A", win=0)
    k.seg(41 + ms, "s", 1, 101, "A", win=500)
    return cap


@pytest.mark.parametrize("ms, severity", [
    (99.999, "info"), (100.0, "warning"), (999.999, "warning"), (1000.0, "critical")])
def test_zero_window_at_its_warning_and_critical_lengths(ms, severity):
    f = one(rules.rule_zero_window(facts_ctx(zero_window_for(ms))), "l4.zero_window")
    assert f.severity == severity
    assert f.numbers == {"zero_windows": 1, "longest_ms": ms, "total_ms": ms, "streams": [0]}
    assert f.evidence.frames == (5,)
    assert f.message == (f"zero window advertised 1 time(s) in 1 connection(s); longest stall "
                         f"{ms:.1f} ms, {ms:.1f} ms in all")


def test_zero_window_sums_the_stalls_and_keeps_the_longest():
    cap, _ = tcp_scenarios.zero_window_and_probe()     # zero from 41 ms to 300 ms
    k = cap.conn(client=("10.0.0.1", 40001))
    t = k.handshake(400.0)
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(t + 21, "s", 1, 101, "A", win=0)
    k.seg(t + 71, "s", 1, 101, "A", win=500)          # 50 ms
    f = one(rules.rule_zero_window(facts_ctx(cap)))
    assert f.numbers == {"zero_windows": 3, "longest_ms": 259.0, "total_ms": 309.0,
                         "streams": [0, 1]}


def stall(stream, start_ms, ms, ended_by="retransmission", frames=(4, 5)):
    return Stall(stream, int(start_ms * 1e6), int((start_ms + ms) * 1e6), ended_by, frames)


@pytest.mark.parametrize("longest, severity", [(999.999, "warning"), (1000.0, "critical")])
def test_stall_is_critical_from_find_stall_ms_critical(longest, severity):
    stalls = (stall(0, 0, 600.0), stall(2, 100, longest, "client_gave_up", (9, 12)),
              stall(0, 2000, 700.0, "zero_window_probe", (20, 21)))
    f = one(rules.rule_stall(Context(th=TH, facts=Facts(stalls=stalls))), "l4.stall")
    assert f.severity == severity
    assert f.numbers == {"stalls": 3, "longest_ms": longest, "streams": [0, 2],
                         "ended_by": ["client_gave_up", "retransmission", "zero_window_probe"]}
    assert f.evidence.frames == (4, 5, 9, 12, 20, 21)
    assert f.message == (f"3 stall(s) in 2 connection(s): nothing moved for up to {longest:.0f} "
                         "ms (ended by client gave up, retransmission, zero window probe)")


def test_a_black_hole_names_the_path_mtu_bounds():
    holes = (Blackhole(1, "down", 640, 1460, (7, 9)), Blackhole(3, "down", 600, 1400, (15,)))
    f = one(rules.rule_blackhole(Context(th=TH, facts=Facts(blackholes=holes))),
            "l3.pmtud_blackhole")
    assert f.severity == "critical"
    assert f.numbers == {"connections": 2, "largest_ip_bytes": 640, "mss": 1460,
                         "directions": ["down"], "streams": [1, 3]}
    assert f.evidence.frames == (7, 9, 15)
    assert f.message == ("full-size segments never got through in 2 connection(s) (downstream) "
                         "while smaller ones did: the path MTU is at least 640 bytes (the "
                         "largest packet that arrived) and below 1500 (a full segment), and no "
                         "ICMP 'fragmentation needed' reached the sender")


def test_black_holes_both_ways_name_both_directions():
    holes = (Blackhole(0, "up", 600, 1460, (4,)), Blackhole(1, "down", 600, 1460, (8,)))
    f = one(rules.rule_blackhole(Context(th=TH, facts=Facts(blackholes=holes))))
    assert f.numbers["directions"] == ["down", "up"] and "(down/upstream)" in f.message
