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
    assert f.evidence.detail == "tcp.flags.syn == 1 && tcp.flags.ack == 0"
    assert f.message == ("1 connection(s) needed SYN retransmissions (1 retries): each costs a "
                         "retransmission timeout")


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
    assert f.evidence.frames == (5, 7) and f.evidence.detail == "tcp.flags.reset == 1"
    assert f.message == "2 connection(s) ended by a TCP reset (1 refused at the handshake)"


def test_a_reset_after_data_alone_is_no_refusal():
    cap = Capture()
    k = cap.conn()
    t = k.handshake()
    k.seg(t + 1, "c", 1, 1, "PA", data=100)
    k.seg(t + 21, "s", 1, 101, "RA")                          # 5
    f = one(rules.rule_reset(Context(th=TH, **analysed(cap))), "l4.reset")
    assert f.numbers == {"streams": [0], "refused": 0}
    assert f.message == "1 connection(s) ended by a TCP reset"


def test_a_refused_connection_alone_is_a_reset():
    cap = Capture()
    refused = cap.conn(client=("10.0.0.1", 40001))
    refused.seg(100, "c", 0, None, "S", opts=tcp_options(mss=1460))
    refused.seg(120, "s", 0, 1, "RA")
    f = one(rules.rule_reset(Context(th=TH, **analysed(cap))), "l4.reset")
    assert f.numbers == {"streams": [0], "refused": 1} and f.evidence.frames == (2,)


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
    assert f.evidence.frames == (4, 6, 8) and f.evidence.detail == "tcp.analysis.window_full"
    assert f.message == ("the sender filled the receiver's window 3 time(s) in 1 connection(s): "
                         "the window, not the path, set the pace")


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


@pytest.mark.parametrize("longest, severity", [(999.999, "warning"), (1000.0, "critical"),
                                               (1234.5678, "critical")])
def test_stall_is_critical_from_find_stall_ms_critical(longest, severity):
    stalls = (stall(0, 0, 600.0), stall(2, 100, longest, "client_gave_up", (9, 12)),
              stall(0, 2000, 700.0, "zero_window_probe", (20, 21)))
    f = one(rules.rule_stall(Context(th=TH, facts=Facts(stalls=stalls))), "l4.stall")
    assert f.severity == severity
    assert f.numbers == {"stalls": 3, "longest_ms": round(longest, 3), "streams": [0, 2],
                         "ended_by": ["client_gave_up", "retransmission", "zero_window_probe"]}
    assert f.evidence.frames == (4, 5, 9, 12, 20, 21)
    assert f.evidence.detail == "the frames before and after each silence"
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
    assert f.evidence.detail == ("small segments past the hole, or the full-size segment sent "
                                 "again")
    assert f.message == ("full-size segments never got through in 2 connection(s) (downstream) "
                         "while smaller ones did: the path MTU is at least 640 bytes (the "
                         "largest packet that arrived) and below 1500 (a full segment), and no "
                         "ICMP 'fragmentation needed' reached the sender")


def test_black_holes_both_ways_name_both_directions():
    holes = (Blackhole(0, "up", 600, 1460, (4,)), Blackhole(1, "down", 600, 1460, (8,)))
    f = one(rules.rule_blackhole(Context(th=TH, facts=Facts(blackholes=holes))))
    assert f.numbers["directions"] == ["down", "up"] and "(down/upstream)" in f.message


# --- L3 evidence and wording: mtr, ping, the capture's own echoes --------------------------

import numpy as np                                     # noqa: E402

from cnfpost.correlate import Placement, PhaseBucket   # noqa: E402


def path_of(**kw) -> SimpleNamespace:
    """mtr's path assessment (cnfpost/path.py) with only what a test sets."""
    base = dict(hop_count=6, destination_reached=True, destination_loss_pct=None,
                destination_avg_ms=None, destination_best_ms=None, path_loss_from_ttl=None,
                rate_limited_ttls=(), latency_step_ttl=None, latency_step_ms=None)
    return SimpleNamespace(**{**base, **kw})


def echo_of(request=(), reply=(), unanswered=(), rtt=(), ts=()) -> SimpleNamespace:
    """The capture's ICMP echoes (cnfpost/icmp_echo.py CaptureEcho) as the rules read them."""
    rtt = np.asarray(rtt, dtype=float)
    return SimpleNamespace(request_frame=np.asarray(request, dtype=np.uint32),
                           reply_frame=np.asarray(reply, dtype=np.uint32),
                           unanswered_frame=np.asarray(unanswered, dtype=np.uint32),
                           rtt_ms=rtt, request_ts_ns=np.asarray(ts, dtype=np.int64),
                           answered=bool(rtt.size),
                           stats=SimpleNamespace(min_ms=float(rtt.min()) if rtt.size else None))


LOSS = L3Facts(loss_pct=2.5, grades={"loss": "fair"}, probes_sent=200, probes_lost=5)


def test_path_loss_wording_and_ping_evidence_by_default():
    f = one(rules.rule_path_loss(Context(th=TH, l3=LOSS)), "l3.path_loss")
    assert f.message == "2.5% packet loss to the target (5 of 200 probes)"
    assert (f.evidence.source, f.evidence.detail, f.evidence.frames) == ("ping", None, ())


def test_path_loss_names_the_lost_ping_sequence_numbers_up_to_twenty():
    ping = SimpleNamespace(lost_seqs=list(range(1, 26)))
    f = one(rules.rule_path_loss(Context(th=TH, l3=LOSS, ping=ping)))
    assert f.evidence.source == "ping"
    assert f.evidence.detail == "lost icmp_seq " + ", ".join(str(s) for s in range(1, 21))


@pytest.mark.parametrize("first, last, detail", [(4, 6, "hops 4..6"), (6, 6, "hop 6")])
def test_path_loss_from_mtr_names_the_hop_where_it_starts(first, last, detail):
    path = path_of(path_loss_from_ttl=first, hop_count=last)
    f = one(rules.rule_path_loss(Context(th=TH, l3=replace(LOSS, loss_sources=("mtr",)),
                                         path=path, ping=SimpleNamespace(lost_seqs=[3]))))
    assert (f.evidence.source, f.evidence.detail) == ("mtr", detail)
    assert f.numbers["from_hop"] == first
    assert f.message == (f"2.5% packet loss to the target (5 of 200 probes), starting at hop "
                         f"{first} and carrying on to the target")


def test_path_loss_from_the_captures_echoes_points_at_the_unanswered_requests():
    l3 = replace(LOSS, loss_sources=("capture_icmp",))
    f = one(rules.rule_path_loss(Context(th=TH, l3=l3, echo=echo_of(unanswered=[9, 3]))))
    assert (f.evidence.source, f.evidence.frames) == ("capture", (3, 9))
    assert f.evidence.detail == "ICMP echo requests without a reply"
    # without the echoes themselves, the source is named
    f = one(rules.rule_path_loss(Context(th=TH, l3=l3)))
    assert (f.evidence.source, f.evidence.frames) == ("capture_icmp", ())


def test_no_path_loss_finding_without_a_loss_figure():
    assert rules.rule_path_loss(Context(th=TH, l3=L3Facts(grades={"loss": "poor"}))) == []
    assert rules.rule_path_loss(Context(th=TH, l3=L3Facts(loss_pct=3.0))) == []


def test_hop_ratelimit_names_the_hops_that_drop_only_their_own_replies():
    mtr = SimpleNamespace(hops=[SimpleNamespace(ttl=2, host="r2", loss_pct=40.0),
                                SimpleNamespace(ttl=3, host="r3", loss_pct=12.5)])
    path = path_of(rate_limited_ttls=(2, 3, 9), destination_loss_pct=0.0)
    f = one(rules.rule_hop_ratelimit(Context(th=TH, path=path, mtr=mtr)),
            "l3.hop_icmp_ratelimit")
    assert f.severity == "info"
    assert f.numbers == {"hops": [2, 3, 9], "destination_loss_pct": 0.0}
    assert (f.evidence.source, f.evidence.detail) == ("mtr", "hops 2, 3, 9")
    assert f.message == ("hop 2 (r2, 40% loss); hop 3 (r3, 12.5% loss) but 0.0% at the "
                         "target: the router rate-limits its ICMP replies, traffic through it "
                         "is not lost")
    path = path_of(rate_limited_ttls=(2,))
    assert "but ?% at the target" in one(rules.rule_hop_ratelimit(
        Context(th=TH, path=path, mtr=mtr))).message
    assert rules.rule_hop_ratelimit(Context(th=TH, path=path_of(), mtr=mtr)) == []
    assert rules.rule_hop_ratelimit(Context(th=TH, path=path)) == []


def test_latency_step_names_its_hop_and_size():
    path = path_of(latency_step_ttl=5, latency_step_ms=31.23456)
    f = one(rules.rule_latency_step(Context(th=TH, path=path)), "l3.latency_step")
    assert f.severity == "info" and f.numbers == {"hop": 5, "step_ms": 31.235}
    assert (f.evidence.source, f.evidence.detail) == ("mtr", "hop 5")
    assert f.message == "latency steps up by 31.2 ms at hop 5 and stays up to the target"
    assert rules.rule_latency_step(Context(th=TH, path=path_of())) == []
    assert rules.rule_latency_step(Context(th=TH)) == []


def test_jitter_from_the_captures_echoes_points_at_requests_and_replies():
    l3 = L3Facts(jitter_ms=12.34, jitter_source="capture_icmp")
    f = one(rules.rule_jitter(Context(th=TH, l3=l3, echo=echo_of([1, 5], [2, 6], rtt=[1, 2]))))
    assert f.evidence.frames == (1, 2, 5, 6)
    assert f.evidence.detail == "ICMP echo requests and replies"
    assert f.message == "jitter 12.3 ms (mean change between consecutive RTTs, capture_icmp)"
    # the source without the echoes: mtr's evidence, not ping's
    f = one(rules.rule_jitter(Context(th=TH, l3=l3)))
    assert f.evidence.source == "mtr" and f.numbers["source"] == "capture_icmp"


def test_unreachable_wording():
    f = one(rules.rule_unreachable(Context(th=TH, ping=ping_run(None, None))))
    assert f.message == "ping got no reply to 2 probes" and f.evidence.source == "ping"
    f = one(rules.rule_unreachable(Context(th=TH, path=path_of(destination_reached=False))))
    assert f.message == ("mtr never reached the target (its probes may be filtered: the "
                         "end-to-end view comes from ping and TCP)")
    assert f.evidence.source == "mtr"
    # ping's verdict wins over mtr's; a ping without a summary says nothing
    both = Context(th=TH, ping=ping_run(None), path=path_of(destination_reached=False))
    assert [f.severity for f in rules.rule_unreachable(both)] == ["critical"]
    silent = replace(Context(th=TH), ping=SimpleNamespace(sent=3, summary=None))
    assert rules.rule_unreachable(silent) == []
    unknown = Context(th=TH, path=path_of(destination_reached=None))
    assert rules.rule_unreachable(unknown) == []


def test_unreachable_errors_in_the_capture_wording_and_filter():
    cap = Capture()
    cap.conn().handshake()
    cap.add_raw(30, icmp_unreachable("10.0.0.254", "10.0.0.1"))
    f = one(rules.rule_unreachable(Context(th=TH, **analysed(cap))))
    assert f.message == "1 ICMP destination-unreachable error(s) in the capture"
    assert f.evidence.detail == "icmp.type == 3 || icmpv6.type == 1"


def test_icmp_unreachable_without_a_tcp_analysis_counts_every_error():
    cap = Capture()
    cap.conn().handshake()
    cap.add_raw(31, icmp_unreachable("10.0.0.1", "10.0.0.53"))   # would be the probe's own
    table = analysed(cap)["table"]
    f = one(rules.rule_unreachable(Context(th=TH, table=table)))
    assert f.evidence.frames == (4,)


def test_icmp_unreachable_without_any_tcp_connection_counts():
    cap = Capture()
    cap.add_raw(30, icmp_unreachable("10.0.0.254", "10.0.0.1"))
    cap.add_raw(31, icmp_unreachable("10.0.0.253", "10.0.0.1"))
    f = one(rules.rule_unreachable(Context(th=TH, **analysed(cap))))
    assert f.numbers == {"icmp_unreachable": 2} and f.evidence.frames == (1, 2)


@pytest.mark.parametrize("ctx_kw, expected", [
    ({}, (None, None)),
    ({"path": path_of(destination_best_ms=7.5), "ping": ping_run(9.0)}, (7.5, "mtr")),
    ({"path": path_of(), "ping": ping_run(9.0, 11.0)}, (9.0, "ping")),
    ({"ping": SimpleNamespace(summary=None), "echo": echo_of(rtt=[4.0, 3.0])},
     (3.0, "capture_icmp")),
    ({"ping": ping_run(None), "echo": echo_of()}, (None, None)),
])
def test_path_rtt_is_mtr_then_ping_then_the_captures_echoes(ctx_kw, expected):
    assert rules.path_rtt(Context(th=TH, **ctx_kw)) == expected


# --- the handshake against the path (mtr_tcp_correlation) ----------------------------------

def handshakes(*rtts_ms: float, retry: bool = False) -> dict:
    """One connection per handshake RTT (client ports 40000, 40001...); with retry, the
    first connection's SYN is sent twice, 1 s apart (the iRTT restarts at the last SYN)."""
    cap = Capture()
    for i, rtt in enumerate(rtts_ms):
        k = cap.conn(client=("10.0.0.1", 40000 + i))
        t0 = 2000.0 * i
        if retry and i == 0:
            k.seg(t0, "c", 0, None, "S", opts=tcp_options(mss=1460))
            t0 += 1000.0
        k.handshake(t0, rtt)
    return analysed(cap)


def placed(*streams) -> list[Placement]:
    return [Placement(i + 1, s, "local_port", None, "syn") for i, s in enumerate(streams)]


def test_path_vs_handshake_per_sample_and_its_median():
    a = handshakes(30.0, 40.0, 50.0)
    ctx = Context(th=TH, **a, path=path_of(destination_best_ms=20.0, destination_avg_ms=22.25),
                  samples=[sample(1, tcp=31.0), sample(2, tcp=41.0), sample(3, tcp=51.0)],
                  placements=placed(0, 1, 2))
    cmp = rules.path_vs_handshake(ctx)
    # the iRTT runs from the SYN to the handshake's ACK: the RTT plus 0.1 ms
    assert cmp["samples"] == [
        {"sample": 1, "stream": 0, "irtt_ms": 30.1, "curl_connect_ms": 31.0, "syn_retries": 0,
         "difference_ms": 10.1},
        {"sample": 2, "stream": 1, "irtt_ms": 40.1, "curl_connect_ms": 41.0, "syn_retries": 0,
         "difference_ms": 20.1},
        {"sample": 3, "stream": 2, "irtt_ms": 50.1, "curl_connect_ms": 51.0, "syn_retries": 0,
         "difference_ms": 30.1}]
    assert {k: v for k, v in cmp.items() if k != "samples"} == {
        "path_rtt_ms": 20.0, "path_source": "mtr", "path_avg_ms": 22.25,
        "handshake_rtt_ms": 40.1, "curl_connect_median_ms": 41.0, "difference_ms": 20.1,
        "difference_pct": 100.5, "syn_retries": 0, "verdict": "endpoint_slower"}


# slower: more than find.handshake_vs_path_ms (5 ms) AND more than 50 % above the path;
# the handshake RTT here is the capture's iRTT exactly
@pytest.mark.parametrize("path, handshake, verdict", [
    (10.0, 15.0, "consistent"),        # +5 ms (50 %): not more than 5 ms
    (10.0, 16.0, "endpoint_slower"),   # +6 ms, 60 %
    (20.0, 30.0, "consistent"),        # +10 ms but exactly 50 %
    (20.0, 30.5, "endpoint_slower"),   # +10.5 ms, 52.5 %
    (100.0, 106.0, "consistent"),      # +6 ms but 6 %
])
def test_path_vs_handshake_verdict_edges(path, handshake, verdict):
    ctx = Context(th=TH, **handshakes(handshake - 0.1),
                  path=path_of(destination_best_ms=path), samples=[sample(1)],
                  placements=placed(0))
    assert rules.path_vs_handshake(ctx)["verdict"] == verdict


def test_syn_retries_explain_a_slow_connect():
    ctx = Context(th=TH, **handshakes(30.0, 30.0, retry=True), samples=[sample(1), sample(2)],
                  path=path_of(destination_best_ms=10.0), placements=placed(0, 1))
    cmp = rules.path_vs_handshake(ctx)
    assert cmp["verdict"] == "explained_by_syn_retry" and cmp["syn_retries"] == 1
    assert [h["syn_retries"] for h in cmp["samples"]] == [1, 0]


def test_path_vs_handshake_leaves_out_reused_and_unplaced_connections():
    a = handshakes(30.0, 40.0)
    samples = [sample(1, tcp=None), sample(2), sample(3)]
    placements = [Placement(1, 0, "local_port", None, "syn"),
                  Placement(2, 1, "reused_connection", None, "syn"),
                  Placement(3, None, "none", None, "none")]
    cmp = rules.path_vs_handshake(Context(th=TH, **a, path=path_of(destination_best_ms=10.0),
                                          samples=samples, placements=placements))
    assert [h["sample"] for h in cmp["samples"]] == [1]
    assert cmp["samples"][0]["curl_connect_ms"] is None
    assert cmp["curl_connect_median_ms"] is None and cmp["path_avg_ms"] is None
    only_reused = Context(th=TH, **a, path=path_of(destination_best_ms=10.0),
                          samples=samples[1:], placements=placements[1:])
    assert rules.path_vs_handshake(only_reused) is None


def test_path_vs_handshake_needs_a_path_rtt_a_capture_and_placements():
    a = handshakes(30.0)
    assert rules.path_vs_handshake(Context(th=TH, **a, samples=[sample(1)],
                                           placements=placed(0))) is None
    assert rules.path_vs_handshake(Context(th=TH, path=path_of(destination_best_ms=1.0),
                                           samples=[sample(1)], placements=placed(0))) is None
    assert rules.path_vs_handshake(Context(th=TH, **a,
                                           path=path_of(destination_best_ms=1.0))) is None


def test_a_handshake_without_its_ack_has_no_irtt_to_compare():
    cap = Capture()
    k = cap.conn()
    k.seg(0, "c", 0, None, "S", opts=tcp_options(mss=1460))
    ctx = Context(th=TH, **analysed(cap), path=path_of(destination_best_ms=10.0),
                  samples=[sample(1)], placements=placed(0))
    assert rules.path_vs_handshake(ctx) is None


@pytest.mark.parametrize("verdict, severity, text", [
    ("consistent", "info", "consistent: the network path explains the handshake time"),
    ("endpoint_slower", "warning", "the handshake is slower than the path: the server (SYN "
     "queue, accept) or a middlebox adds time"),
    ("explained_by_syn_retry", "info", "SYN retries explain it: curl's connect time includes "
     "the retransmission timeout, while the iRTT restarts at the last SYN"),
])
def test_handshake_vs_path_finding_per_verdict(verdict, severity, text):
    a = handshakes(30.0, 40.0)
    cmp = {"path_rtt_ms": 20.0, "path_source": "mtr", "handshake_rtt_ms": 30.1,
           "difference_ms": 10.1, "difference_pct": 50.5, "verdict": verdict,
           "samples": [{"stream": 1}]}
    f = one(rules.rule_handshake_vs_path(Context(th=TH, **a, handshake=cmp)),
            "l3l4.handshake_vs_path")
    assert f.severity == severity
    assert f.message == ("handshake RTT 30.10 ms vs path RTT 20.00 ms (mtr): +10.10 ms "
                         f"(+50.5%); {text}")
    assert f.numbers == {k: v for k, v in cmp.items() if k != "samples"}
    assert f.evidence.frames == (4, 5)              # the second connection's SYN and SYN/ACK
    assert f.evidence.detail == "SYN and SYN/ACK frames"


def test_handshake_vs_path_without_a_percentage_and_without_a_comparison():
    a = handshakes(30.0)
    cmp = {"path_rtt_ms": 0.0, "path_source": "ping", "handshake_rtt_ms": 30.1,
           "difference_ms": 30.1, "difference_pct": None, "verdict": "consistent",
           "samples": [{"stream": 0}]}
    f = one(rules.rule_handshake_vs_path(Context(th=TH, **a, handshake=cmp)))
    assert f.message.startswith("handshake RTT 30.10 ms vs path RTT 0.00 ms (ping): "
                                "+30.10 ms; consistent")
    assert rules.rule_handshake_vs_path(Context(th=TH, **a)) == []


def test_a_zero_path_rtt_has_no_percentage_and_is_never_called_slower():
    ping = SimpleNamespace(summary=SimpleNamespace(min_ms=0.0))
    ctx = Context(th=TH, **handshakes(30.0), ping=ping, samples=[sample(1)],
                  placements=placed(0))
    cmp = rules.path_vs_handshake(ctx)
    assert (cmp["path_rtt_ms"], cmp["path_source"]) == (0.0, "ping")
    assert (cmp["difference_ms"], cmp["difference_pct"], cmp["verdict"]) == (30.1, None,
                                                                            "consistent")


# --- TCP events inside curl's phases (l4l7.events_in_phase, l4l7.application) -------------

from cnfpost.inputs.curl import PHASE_IDS           # noqa: E402

TCP_SEEN = SimpleNamespace()        # rule_events_in_phases only asks that a capture was read


def buckets(frames=(1, 2), **events) -> dict:
    """One sample's phase buckets: events per phase, e.g. server={"retransmissions": 2}
    (their frames: 100 + the phase's position, once per event)."""
    out = {}
    for n, pid in enumerate(PHASE_IDS):
        ev = events.get(pid, {})
        out[pid] = PhaseBucket(pid, events=dict(ev), frames=frames,
                               event_frames={k: (100 + n,) * v for k, v in ev.items()})
    return out


def phases_ctx(samples, bucket_list, **kw) -> Context:
    return Context(th=TH, tcp=TCP_SEEN, samples=list(samples), buckets=list(bucket_list), **kw)


# expected 100 ms (the clean samples' median): inflated at +20 ms and +50 %, i.e. at 150 ms
@pytest.mark.parametrize("took, raised", [(149.9, False), (150.0, True)])
def test_events_in_phase_at_the_percentage_edge(took, raised):
    s = [sample(1, server=100.0), sample(2, server=100.0), sample(3, server=took)]
    b = [buckets(), buckets(), buckets(server={"retransmissions": 2, "dup_acks": 1})]
    found = rules.rule_events_in_phases(phases_ctx(s, b))
    if not raised:
        assert found == []
        return
    f = one(found, "l4l7.events_in_phase")
    assert f.severity == "warning"
    assert f.numbers == {"phase": "server", "samples": [3], "median_ms": 150.0,
                         "expected_ms": 100.0, "inflation_ms": 50.0, "retransmissions": 2,
                         "dup_acks": 1, "out_of_order": 0, "lost_segments": 0,
                         "zero_windows": 0}
    assert f.message == ("2 retransmissions, 1 duplicate ACK during server wait in 1 of 3 "
                         "sample(s) made it 150.0 ms instead of about 100.0 ms")
    assert f.evidence.frames == (104,)
    assert f.evidence.detail == "TCP events during server wait"


# expected 20 ms: +50 % is 30 ms, so the +20 ms edge decides: 40 ms
@pytest.mark.parametrize("took, raised", [(39.9, False), (40.0, True)])
def test_events_in_phase_at_the_milliseconds_edge(took, raised):
    s = [sample(1, tcp=20.0), sample(2, tcp=took)]
    b = [buckets(), buckets(tcp={"lost_segments": 1})]
    found = rules.rule_events_in_phases(phases_ctx(s, b))
    assert [f.numbers["phase"] for f in found] == (["tcp"] if raised else [])
    if raised:
        assert found[0].message.startswith("1 lost segment during TCP connect in 1 of 2")


def test_events_in_phase_without_clean_samples_expects_the_round_trips():
    s = [sample(1, tls=60.0), sample(2, tls=60.0)]
    b = [buckets(tls={"out_of_order": 2}), buckets(tls={"zero_windows": 1})]
    old = {0: 0x0303, 1: 0x0303}
    # TLS 1.2: two round trips (40 ms): +20 ms and +50 % exactly
    f = one(rules.rule_events_in_phases(phases_ctx(s, b, path=path_of(destination_best_ms=20.0),
                                                   placements=placed(0, 1), tls_versions=old)))
    assert f.numbers["expected_ms"] == 40.0 and f.numbers["samples"] == [1, 2]
    assert (f.numbers["out_of_order"], f.numbers["zero_windows"]) == (2, 1)
    assert f.message.startswith("2 out-of-order segments, 1 zero window during TLS in 2 of 2")
    # TLS 1.3, or a version not known: one round trip
    for versions in ({0: 0x0304, 1: 0x0303}, {0: None, 1: 0x0303}):
        f = one(rules.rule_events_in_phases(phases_ctx(
            [sample(1, tls=59.9), sample(2, tls=59.9)], b, path=path_of(destination_best_ms=20.0),
            placements=placed(0, 1), tls_versions=versions)))
        assert f.numbers["expected_ms"] == 20.0
    # no round trip to go by, no clean sample: nothing to compare with
    assert rules.rule_events_in_phases(phases_ctx(s, b)) == []


def test_events_in_a_phase_curl_did_not_measure_or_a_sample_not_placed_are_left_out():
    s = [sample(1, server=100.0), sample(2, server=300.0), sample(3, server=300.0)]
    b = [buckets(), None, buckets(server={"retransmissions": 1})]
    f = one(rules.rule_events_in_phases(phases_ctx(s, b)))
    assert f.numbers["samples"] == [3] and "in 1 of 2 sample(s)" in f.message
    assert rules.rule_events_in_phases(phases_ctx(s, [])) == []


@pytest.mark.parametrize("rtt", [None, 30.0])
def test_a_slow_server_wait_with_clean_tcp_is_the_application(rtt):
    base = rtt or 0.0
    s = [sample(1, server=200.0 + base), sample(2, server=400.0 + base),
         sample(3, server=199.9 + base)]
    b = [buckets((5, 9)), buckets((15, 19)), buckets((25, 29))]
    f = one(rules.rule_events_in_phases(phases_ctx(s, b, path=None if rtt is None
                                                   else path_of(destination_best_ms=rtt))),
            "l4l7.application")
    assert f.severity == "warning"
    assert f.numbers == {"phase": "server", "samples": [1, 2], "median_ms": 300.0 + base}
    assert f.evidence.frames == (5, 9, 15, 19)
    assert f.message == (f"server wait took {300.0 + base:.1f} ms (median of 2 sample(s)) "
                         "with no TCP retransmission, loss or window event: the server "
                         "application is slow, not the network")


def test_a_slow_server_wait_with_tcp_trouble_is_not_the_application():
    s = [sample(1, server=400.0), sample(2, server=400.0)]
    b = [buckets(), buckets(server={"retransmissions": 1})]
    # (no inflation either: the troubled sample took as long as the clean one)
    assert rules.rule_events_in_phases(phases_ctx(s, b)) == []
    assert [f.code for f in rules.rule_events_in_phases(phases_ctx(s, b[::-1]))] == []
    assert rules.rule_events_in_phases(phases_ctx([sample(1, server=150.0)], [buckets()])) == []


# --- bufferbloat: ping idle/loaded, the capture's echoes, the capture's handshakes ---------

T0 = 1_700_000_000_000_000_000      # tests/tcp_builders.py: time 0 of a built capture, in ns


def loaded_link(rtt_ms: float) -> Capture:
    """Connection 0 downloads 102 200 bytes from 0 to 430 ms (20 ms RTT, segment 3 lost and
    sent again); connection 1's handshake, at 100 ms, takes rtt_ms."""
    cap = Capture()
    download(cap, segments=70, gap_ms=5.0, late=[(3, 2 * RTT)])
    k = cap.conn(client=("10.0.0.1", 40001))
    k.handshake(100.0, rtt_ms - 0.1)                 # its iRTT: rtt_ms
    return cap


def bloat_ctx(rtt_ms: float, baseline=20.0) -> Context:
    ctx = facts_ctx(loaded_link(rtt_ms), samples=[sample(1), sample(2)])
    ctx.facts = replace(ctx.facts, baseline_rtt_ms=baseline, baseline_source="mtr")
    edges = tuple(T0 + int(ms * 1e6) for ms in (100, 101, 180, 181, 182, 190, 200))
    ctx.placements = [Placement(1, None, "none", None, "none"),
                      Placement(2, 1, "local_port", T0, "syn", edges)]
    return ctx


@pytest.mark.parametrize("rtt, severity", [
    (79.9, None), (80.0, "warning"), (219.9, "warning"), (220.0, "critical")])
def test_bufferbloat_from_the_captures_handshakes_under_load(rtt, severity):
    found = rules.rule_bufferbloat(bloat_ctx(rtt))
    if severity is None:
        assert found == []
        return
    f = one(found, "l3l7.bufferbloat")
    added = round(rtt - 20.0, 3)
    assert f.severity == severity
    assert f.numbers == {"idle_ms": 20.0, "loaded_ms": rtt, "added_ms": added,
                         "source": "capture_tcp", "loading_streams": [0],
                         "loading_retransmissions": 1, "samples": [2]}
    assert f.evidence.frames == (75, 76)            # connection 1's SYN and SYN/ACK
    assert f.evidence.detail == "the samples' handshakes"
    assert f.message == (f"the samples' handshakes took {rtt:.1f} ms against a 20.00 ms "
                         f"baseline (mtr): +{added:.1f} ms while connection(s) 0 moved bulk "
                         "data (1 of the capture's loss repairs are theirs)")


def test_no_bufferbloat_without_another_connection_loading_the_link():
    ctx = bloat_ctx(120.0)
    # connection 0 moved 102 300 bytes both ways: at the limit it loads the link, not below
    ctx.facts = replace(ctx.facts, load_bytes_min=102_300.0)
    assert one(rules.rule_bufferbloat(ctx)).numbers["loading_streams"] == [0]
    ctx.facts = replace(ctx.facts, load_bytes_min=102_301.0)
    assert rules.rule_bufferbloat(ctx) == []
    ctx = bloat_ctx(120.0)
    ctx.placements = [replace(ctx.placements[1], edges_ns=())]
    assert rules.rule_bufferbloat(ctx) == []
    ctx = bloat_ctx(120.0, baseline=None)
    assert rules.rule_bufferbloat(ctx) == []


def test_bufferbloat_from_the_captures_echoes_during_and_outside_downloads():
    ctx = facts_ctx(loaded_link(30.0))
    # connection 0 carries its bulk from 0 to 430 ms; echoes at -100, -50 (idle), 200 and
    # 300 ms (busy), 500 ms (idle)
    ts = [T0 + int(ms * 1e6) for ms in (-100, -50, 200, 300, 500)]
    ctx.echo = echo_of(request=[90, 91, 92, 93, 94], rtt=[10.0, 12.0, 80.0, 84.0, 11.0], ts=ts)
    f = one(rules.rule_bufferbloat(ctx), "l3l7.bufferbloat")
    assert f.severity == "warning"
    assert f.numbers == {"idle_ms": 11.0, "loaded_ms": 82.0, "added_ms": 71.0,
                         "source": "capture_icmp"}
    assert f.evidence.frames == (90, 91, 92, 93, 94)
    assert f.evidence.detail == "ICMP echoes during and outside downloads"
    assert f.message == "latency under load 82.0 ms vs 11.0 ms at rest: +71.0 ms while data flows"


def test_too_few_echoes_on_either_side_say_nothing_from_the_echoes():
    ctx = facts_ctx(loaded_link(30.0))
    ts = [T0 + int(ms * 1e6) for ms in (-100, 200, 300, 350)]        # one idle echo
    ctx.echo = echo_of(request=[90, 91, 92, 93], rtt=[10.0, 80.0, 84.0, 90.0], ts=ts)
    assert rules.rule_bufferbloat(ctx) == []
    ctx.echo = echo_of(request=[90, 91, 92], rtt=[10.0, 11.0, 84.0], ts=ts[:3])  # three
    assert rules.rule_bufferbloat(ctx) == []


def test_bufferbloat_from_ping_ignores_lost_replies_and_needs_both_runs():
    ctx = Context(th=TH, ping=ping_run(10.0, None, 10.0), ping_loaded=ping_run(None, 75.0))
    f = one(rules.rule_bufferbloat(ctx))
    assert f.numbers["added_ms"] == 65.0
    assert f.evidence.detail == "ping.txt vs ping_loaded.txt"
    assert f.message == "latency under load 75.0 ms vs 10.0 ms at rest: +65.0 ms while data flows"
    assert rules.rule_bufferbloat(Context(th=TH, ping=ping_run(10.0))) == []
    assert rules.rule_bufferbloat(Context(th=TH, ping=ping_run(10.0),
                                          ping_loaded=ping_run(None))) == []


# --- wording and numbers of the cross-layer verdicts, failures, and the order of findings --

def test_path_causes_tcp_wording_numbers_and_evidence():
    cap, _ = tcp_scenarios.dup_ack_x3_fast_retransmission()
    ctx = facts_ctx(cap, grades={"L3": "poor", "L4": "fair"},
                    l3=L3Facts(loss_pct=4.25, probes_sent=100))
    f = one(rules.rule_l3_l4(ctx), "l3l4.path_causes_tcp")
    assert f.message == ("the path is poor (loss 4.25%) and TCP is fair: the path's loss or "
                         "delay explains the TCP trouble")
    assert f.numbers == {"l3": "poor", "l4": "fair", "l3_loss_pct": 4.25,
                         "l4_retransmission_pct": 20.0}
    assert f.evidence.frames == (12,) and f.evidence.detail == "tcp.analysis.retransmission"


def test_endpoint_tcp_wording_and_numbers():
    f = one(rules.rule_l3_l4(l3l4_ctx("good", "poor", 1000)), "l3l4.endpoint_tcp")
    assert f.message == ("TCP is poor while the path measured good over 1000 probes: look at "
                         "the endpoints or a middlebox")
    assert f.numbers == {"l3": "good", "l4": "poor", "l3_loss_pct": 0.0,
                         "l4_retransmission_pct": 2.0}
    assert f.evidence.frames == ()


def test_no_l3l4_verdict_when_the_path_was_not_measured():
    assert rules.rule_l3_l4(l3l4_ctx("unknown", "poor", 1000)) == []
    ctx = Context(th=TH, grades={"L3": "poor", "L4": "poor"}, l3=L3Facts(loss_pct=None))
    f = one(rules.rule_l3_l4(ctx))
    assert f.numbers["l4_retransmission_pct"] is None and "(loss 0%)" in f.message


def test_a_failure_the_packets_explain_is_told_in_their_words():
    from cnfpost.failures import Failure

    s = sample(exitcode=7, errormsg="Failed to connect", tcp=None, tls=None, server=None,
               download=None)
    # the packets place it (a TLS alert) where curl's timings could not (connect)
    failure = Failure("tls", "tls_alert", "server", (5, 6), 0, "the server sent an alert")
    f = one(rules.rule_request_failed(ctx_of(s, failures=[failure])))
    assert f.message == "sample 1 failed in the tls phase: the server sent an alert"
    assert f.numbers == {"exit_code": 7, "failed_phase": "tls", "reason": "tls_alert"}
    assert (f.evidence.source, f.evidence.frames) == ("capture", (5, 6))
    assert f.evidence.detail == "the frames that show the failure"
    assert f.sample == 1
    # a failure without frames: the timings are the evidence
    f = one(rules.rule_request_failed(ctx_of(s, failures=[replace(failure, frames=())])))
    assert (f.evidence.source, f.evidence.detail) == ("timings", "samples 1")
    # no failure record: curl's words (DNS answered, then nothing: it failed in TCP)
    f = one(rules.rule_request_failed(ctx_of(s, failures=[None])))
    assert f.message == "sample 1 failed in the tcp phase: curl exit 7 (Failed to connect)"
    f = one(rules.rule_request_failed(ctx_of(replace(s, error=None, failed_phase=None))))
    assert f.message == "sample 1 failed in the ? phase: curl exit 7 (no message)"
    assert f.numbers["reason"] is None


def test_request_failed_wording_by_status():
    f = one(rules.rule_request_failed(ctx_of(sample(2, response_code=503))))
    assert f.message == "sample 2: HTTP 503 from the server" and f.sample == 2
    assert f.evidence.detail == "samples 2"
    f = one(rules.rule_request_failed(ctx_of(sample(3, response_code=404))))
    assert f.message == "sample 3: HTTP 404" and f.sample == 3
    assert (f.evidence.source, f.evidence.detail) == ("timings", "samples 3")


def test_slow_phase_wording():
    s = [sample(1, dns=150.0), sample(2, dns=20.0), sample(3, dns=120.0)]
    f = one(rules.rule_slow_phases(ctx_of(*s)))
    assert f.message == "DNS median 120.0 ms over 3 sample(s) (limit 100 ms); 2 sample(s) above it"


def test_slow_download_wording():
    f = one(rules.rule_slow_phases(ctx_of(sample(download=160.0, size_download=100_000))))
    assert f.numbers == {"median_mbps": 5.0, "samples_over": [1]}
    assert f.message == "download goodput median 5.00 Mbit/s over 1 sample(s) (limit 10 Mbit/s)"
    assert f.evidence.detail == "samples 1"


def test_findings_come_most_severe_first_then_in_rule_order():
    ctx = ctx_of(sample(1, dns=150.0, tcp=60.0, server=1200.0, response_code=404),
                 l3=L3Facts(jitter_ms=12.0))
    found = rules.run_rules(ctx)
    assert [(f.code, f.severity) for f in found] == [
        ("l7.slow_server", "critical"), ("l3.high_jitter", "warning"),
        ("l7.slow_dns", "warning"), ("l7.slow_connect", "warning"),
        ("l7.request_failed", "warning")]


# --- edges the mutation run found untested -------------------------------------------------

@pytest.mark.parametrize("pid", ["tcp", "server"])
def test_events_in_phase_without_clean_samples_expects_one_round_trip(pid):
    # one round trip of 20 ms: 40 ms is +20 ms and +100 %
    s = [sample(1, **{pid: 40.0})]
    b = [buckets(**{pid: {"retransmissions": 1}})]
    f = one(rules.rule_events_in_phases(phases_ctx(s, b, path=path_of(destination_best_ms=20.0))),
            "l4l7.events_in_phase")
    assert (f.numbers["phase"], f.numbers["expected_ms"]) == (pid, 20.0)
    # the DNS phase has no round trips to expect
    s = [sample(1, dns=400.0)]
    b = [buckets(dns={"retransmissions": 1})]
    assert rules.rule_events_in_phases(phases_ctx(s, b, path=path_of(destination_best_ms=20.0))) \
        == []


def microseconds(x: float, near: float) -> bool:
    """x is `near` (a 4-decimal value) rounded to three decimals (float noise aside)."""
    return round(x, 3) == x and abs(x - near) <= 0.0005 + 1e-9


def test_events_in_phase_numbers_are_rounded_to_the_microsecond():
    # TLS 1.2 over 20.0616 ms: 40.1232 ms expected; medians of two samples
    s = [sample(1, tls=80.501), sample(2, tls=80.504)]
    b = [buckets(tls={"retransmissions": 1})] * 2
    f = one(rules.rule_events_in_phases(phases_ctx(
        s, b, path=path_of(destination_best_ms=20.0616), placements=placed(0, 1),
        tls_versions={0: 0x0303, 1: 0x0303})))
    assert microseconds(f.numbers["median_ms"], 80.5025)
    assert f.numbers["expected_ms"] == 40.123
    assert microseconds(f.numbers["inflation_ms"], 80.5025 - 40.1232)      # 40.3793


def test_application_median_is_rounded_to_the_microsecond_and_names_its_frames():
    s = [sample(1, server=300.001), sample(2, server=300.006)]
    f = one(rules.rule_events_in_phases(phases_ctx(s, [buckets((3, 4)), buckets((8, 9))])))
    assert microseconds(f.numbers["median_ms"], 300.0035)
    assert f.evidence.detail == "first and last frame of the phase in each sample"


def test_a_phase_curl_did_not_measure_does_not_stop_the_later_ones():
    # plain HTTP: no TLS phase; the server wait after it is still judged
    s = [sample(1, tls=None, server=100.0), sample(2, tls=None, server=300.0)]
    b = [buckets(), buckets(server={"retransmissions": 1})]
    f = one(rules.rule_events_in_phases(phases_ctx(s, b)))
    assert f.numbers["phase"] == "server"


def test_no_events_in_phase_without_a_capture():
    s = [sample(1, server=100.0), sample(2, server=300.0)]
    b = [buckets(), buckets(server={"retransmissions": 1})]
    assert rules.rule_events_in_phases(Context(th=TH, samples=s, buckets=b)) == []


def test_a_path_grade_not_given_is_unknown_and_says_nothing():
    ctx = l3l4_ctx("excellent", "poor", 10_000)
    ctx.grades = {"L4": "poor"}
    assert rules.rule_l3_l4(ctx) == []


def test_l3l4_rate_counts_both_directions_rounded():
    facts = Facts(repairs=REPAIRS, data_segments={"down": 2, "up": 1},
                  repair_segments={"up": 1})
    ctx = Context(th=TH, grades={"L3": "good", "L4": "poor"}, facts=facts,
                  l3=L3Facts(loss_pct=0.0, probes_sent=10_000))
    f = one(rules.rule_l3_l4(ctx), "l3l4.endpoint_tcp")
    assert f.numbers["l4_retransmission_pct"] == 33.333
    assert f.evidence.detail == "tcp.analysis.retransmission"
    ctx.grades = {"L3": "fair", "L4": "poor"}
    ctx.facts = replace(facts, repair_segments={})
    assert one(rules.rule_l3_l4(ctx)).numbers["l4_retransmission_pct"] == 0.0


def test_path_vs_handshake_rounds_every_figure_to_the_microsecond():
    # nanosecond time stamps: iRTTs 30.123457 and 30.125657 ms (median 30.124557); the path
    # 20.1204 ms (mtr's best), its average 22.1204; curl's connects 31.001 and 31.004 ms
    a = handshakes(30.0234567, 30.0256567)
    ctx = Context(th=TH, **a, path=path_of(destination_best_ms=20.1204, destination_avg_ms=22.1204),
                  samples=[sample(1, tcp=31.001), sample(2, tcp=31.004)],
                  placements=placed(0, 1))
    cmp = rules.path_vs_handshake(ctx)
    assert [(h["irtt_ms"], h["curl_connect_ms"], h["difference_ms"]) for h in cmp["samples"]] \
        == [(30.123, 31.001, 10.003), (30.126, 31.004, 10.005)]
    assert (cmp["path_rtt_ms"], cmp["path_avg_ms"]) == (20.12, 22.12)
    assert (cmp["handshake_rtt_ms"], cmp["difference_ms"]) == (30.125, 10.004)
    assert cmp["difference_pct"] == 49.7                     # 49.72 %: consistent
    assert cmp["verdict"] == "consistent"
    assert microseconds(cmp["curl_connect_median_ms"], 31.0025)


def test_a_long_handshake_is_read_in_milliseconds():
    cmp = rules.path_vs_handshake(Context(th=TH, **handshakes(2999.9),
                                          path=path_of(destination_best_ms=10.0),
                                          samples=[sample(1)], placements=placed(0)))
    assert cmp["handshake_rtt_ms"] == 3000.0


# 5 ms more than an 8 ms path is 62.5 %: slower only when more than 5 ms
@pytest.mark.parametrize("handshake, verdict", [(13.0, "consistent"),
                                                (13.001, "endpoint_slower")])
def test_the_handshake_must_be_more_than_5_ms_slower(handshake, verdict):
    ctx = Context(th=TH, **handshakes(handshake - 0.1), path=path_of(destination_best_ms=8.0),
                  samples=[sample(1)], placements=placed(0))
    assert rules.path_vs_handshake(ctx)["verdict"] == verdict


def test_a_sub_millisecond_path_still_has_a_percentage():
    ctx = Context(th=TH, **handshakes(9.9), path=path_of(destination_best_ms=0.5),
                  samples=[sample(1)], placements=placed(0))
    cmp = rules.path_vs_handshake(ctx)
    assert (cmp["difference_pct"], cmp["verdict"]) == (1900.0, "endpoint_slower")


def test_a_skipped_sample_does_not_end_the_comparison():
    a = handshakes(30.0, 40.0)
    placements = [Placement(1, None, "none", None, "none"),
                  Placement(2, 0, "reused_connection", None, "syn"),
                  Placement(3, 1, "local_port", None, "syn")]
    cmp = rules.path_vs_handshake(Context(th=TH, **a, path=path_of(destination_best_ms=10.0),
                                          samples=[sample(1), sample(2), sample(3)],
                                          placements=placements))
    assert [h["sample"] for h in cmp["samples"]] == [3]


def icmp_packet(src: str, dst: str, type_: int, code: int = 0) -> bytes:
    """Any ICMP (IPv4) or ICMPv6 message from src to dst, with a zeroed body."""
    if ":" in src:
        m = dpkt.icmp6.ICMP6(type=type_, code=code, data=b"\0" * 52)
        ip6 = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src),
                           dst=socket.inet_pton(socket.AF_INET6, dst), nxt=58, hlim=64, data=m,
                           plen=len(bytes(m)))
        return bytes(ip6)
    m = dpkt.icmp.ICMP(type=type_, code=code, data=b"\0" * 32)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=1, ttl=64, data=m)
    ip.len = 20 + len(bytes(m))
    return bytes(ip)


def test_only_destination_unreachable_messages_count_in_either_ip_version():
    cap = Capture()
    for t, (src, type_) in enumerate([("2001:db8::fe", 1),      # 1: v6 unreachable
                                      ("2001:db8::fe", 2),      # 2: v6 packet too big
                                      ("2001:db8::fe", 128),    # 3: v6 echo request
                                      ("10.0.0.254", 11),       # 4: time exceeded
                                      ("10.0.0.254", 1),        # 5: v4 type 1 (unassigned)
                                      ("10.0.0.254", 8),        # 6: echo request
                                      ("10.0.0.254", 3)]):      # 7: v4 unreachable
        dst = "2001:db8::1" if ":" in src else "10.0.0.1"
        cap.add_raw(t, icmp_packet(src, dst, type_, 4 if type_ in (1, 3) else 0))
    f = one(rules.rule_unreachable(Context(th=TH, **analysed(cap))))
    assert f.evidence.frames == (1, 7) and f.numbers == {"icmp_unreachable": 2}


def test_repairs_evidence_is_the_repairs_not_every_retransmission():
    cap = Capture()
    download(cap, segments=20, late=[(1, 2 * RTT)], again=[(2, 3 * RTT)])
    f = one(rules.rule_retransmissions(facts_ctx(cap)))
    assert f.evidence.frames == (24,)               # the repair; 25 (a needless copy) is not
    assert f.numbers["spurious"] == 1


def test_a_control_retransmission_alone_wording_and_rate():
    cap, _ = tcp_scenarios.syn_retransmission_restarts_irtt()
    f = one(rules.rule_retransmissions(facts_ctx(cap)))
    assert f.message == ("0 data segment(s) sent again to repair loss out of 0 (0.00%; 0 "
                         "server->client, 0 client->server; 0 fast); 1 SYN/FIN/ACK-only "
                         "retransmission(s) counted apart in 0 connection(s)")
    assert f.numbers["rate_pct"] == 0.0 and f.numbers["data_segments"] == 0
    # a zero warning rate flags any repair, but a SYN sent again repairs no data
    th = Thresholds({"find.retrans_pct.warning": 0.0})
    ctx = facts_ctx(cap)
    ctx.th = th
    assert one(rules.rule_retransmissions(ctx)).severity == "info"


def test_two_copies_make_twice_the_rate_and_name_their_evidence():
    cap = Capture()
    download(cap, segments=17, again=[(2, 3 * RTT), (3, 3 * RTT)])
    f = one(rules.rule_spurious(facts_ctx(cap)))
    assert f.numbers == {"spurious": 2, "rate_pct": 10.0}            # 2 of 20
    assert f.evidence.detail == "data sent again after it had arrived"


def test_two_late_segments_make_twice_the_rate_and_name_their_evidence():
    cap = Capture()
    download(cap, segments=20, late=[(16, 0.5), (17, 0.5)])
    f = one(rules.rule_reordering(facts_ctx(cap)))
    assert f.numbers["out_of_order"] == 2 and f.numbers["rate_pct"] == round(200 / 21, 3)
    assert f.evidence.detail == "segments that arrived late"


# one late segment and copies: 1 copy in 101 data segments is 0.99 %, 2 in 200 exactly 1 %
@pytest.mark.parametrize("segments, copies, severity", [(99, 1, "info"), (197, 2, "warning")])
def test_reordering_warns_from_exactly_the_copies_warning_rate(segments, copies, severity):
    cap = Capture()
    download(cap, segments=segments, late=[(segments - 3, 0.5)],
             again=[(k, 3 * RTT) for k in (2, 3)][:copies])
    f = one(rules.rule_reordering(facts_ctx(cap)))
    assert f.severity == severity


def test_downstream_loss_the_probes_saw_a_little_of_too():
    f = one(rules.rule_directional_loss(facts_ctx(lost_once(20),
                                                  l3=L3Facts(loss_pct=0.5, probes_sent=7))))
    assert f.severity == "info"
    assert f.numbers["icmp_rule_out_pct"] == 42.857            # 3 / 7
    assert f.message.endswith("; ICMP probes saw loss too (l3.path_loss)")


def test_zero_window_counts_only_connections_that_shut_and_rounds_to_the_microsecond():
    cap = zero_window_for(123.4567)
    cap.conn(client=("10.0.0.1", 40001)).handshake(2000.0)       # a clean connection
    f = one(rules.rule_zero_window(facts_ctx(cap)))
    assert f.numbers == {"zero_windows": 1, "longest_ms": 123.457, "total_ms": 123.457,
                         "streams": [0]}
    assert f.evidence.detail == "tcp.analysis.zero_window"


def test_slow_download_needs_a_duration():
    # curl's download of 0 ms: no rate to compute; the others still count
    s = [sample(1, download=0.0, size_download=100_000),
         sample(2, download=160.0, size_download=100_000)]
    f = one(rules.rule_slow_phases(ctx_of(*s)))
    assert f.numbers == {"median_mbps": 5.0, "samples_over": [2]}


def test_a_fast_download_counts_in_the_median():
    # 1 ms for 100 000 bytes is 800 Mbit/s: the median of 800 and 1 is fast
    s = [sample(1, download=1.0, size_download=100_000),
         sample(2, download=800.0, size_download=100_000)]
    assert rules.rule_slow_phases(ctx_of(*s)) == []


def test_slow_download_names_only_the_samples_below_the_limit():
    # 80 ms is exactly 10 Mbit/s: not below the limit, though the median (5) is
    s = [sample(1, download=80.0, size_download=100_000),
         sample(2, download=160.0, size_download=100_000),
         sample(3, download=160.0, size_download=100_000)]
    f = one(rules.rule_slow_phases(ctx_of(*s)))
    assert f.numbers == {"median_mbps": 5.0, "samples_over": [2, 3]}
    f = one(rules.rule_slow_phases(ctx_of(sample(download=80.1, size_download=100_000))))
    assert f.numbers["median_mbps"] == 9.988                      # 9.98752 Mbit/s


def test_a_download_the_connections_own_round_trips_explain_is_not_slow():
    # 100 000 bytes need 3 rounds of slow start; the connection's own RTT is 100.1 ms (the
    # baseline 10 ms): 310 ms is within its round trips (300.3 ms), 2.6 Mbit/s or not; a
    # download is beyond them from +20 ms and +50 % (450.45 ms)
    s = sample(1, download=310.0, size_download=100_000)
    ctx = Context(th=TH, **handshakes(100.0), samples=[s], placements=placed(0),
                  facts=Facts(baseline_rtt_ms=10.0))
    assert rules.rule_slow_phases(ctx) == []
    ctx.samples = [replace(s, phases={**s.phases,
                                      "download": replace(s.phases["download"],
                                                          duration_ms=460.0)})]
    assert one(rules.rule_slow_phases(ctx)).code == "l7.slow_download"


def test_phase_limits_from_thresholds_without_a_path_rtt():
    th = Thresholds({"find.connect_ms.floor": 0.0, "find.tls_ms.floor": 0.0})
    found = rules.rule_slow_phases(Context(th=th, samples=[sample(1, tcp=2.0, tls=2.0)]))
    assert [(f.code, f.numbers["limit_ms"]) for f in found] == [("l7.slow_connect", 0.0),
                                                               ("l7.slow_tls", 0.0)]


def test_slow_server_critical_limit_adds_the_round_trip():
    f = one(rules.rule_slow_phases(ctx_of(sample(server=1000.0), rtt=40.0)))
    assert f.severity == "warning"                          # critical from 1040 ms


def test_a_sample_without_dns_still_has_its_other_phases_judged():
    f = one(rules.rule_slow_phases(ctx_of(sample(dns=None, tcp=80.0))))
    assert f.code == "l7.slow_connect"


def test_slow_phase_numbers_are_rounded_to_the_microsecond():
    s = [sample(1, tcp=200.001), sample(2, tcp=200.006)]
    f = one(rules.rule_slow_phases(ctx_of(*s, rtt=20.12345)))
    assert microseconds(f.numbers["median_ms"], 200.0035)
    assert f.numbers["limit_ms"] == 60.37                       # 3 x 20.12345


def echo_at(*ms_rtt) -> SimpleNamespace:
    """Echoes sent at these times (ms of the built capture) with these RTTs: (ms, rtt)..."""
    return echo_of(request=[90 + i for i in range(len(ms_rtt))], rtt=[r for _, r in ms_rtt],
                   ts=[T0 + int(ms * 1e6) for ms, _ in ms_rtt])


def test_bufferbloat_from_four_echoes_two_idle_and_two_busy():
    ctx = facts_ctx(loaded_link(30.0))
    ctx.echo = echo_at((-100, 10.12345), (-50, 10.12345), (200, 80.5), (300, 80.6004))
    f = one(rules.rule_bufferbloat(ctx))
    assert f.numbers == {"idle_ms": 10.123, "loaded_ms": 80.55,
                         "added_ms": round(80.5502 - 10.12345, 3), "source": "capture_icmp"}


def test_an_echo_at_the_first_or_last_data_instant_is_during_the_download():
    ctx = facts_ctx(loaded_link(30.0))
    start, end = (int(v) for v in (ctx.tcp.flows["start_ns"][0], ctx.tcp.flows["end_ns"][0]))
    ctx.echo = echo_of(request=[90, 91, 92, 93], rtt=[10.0, 10.0, 90.0, 90.0],
                       ts=[start - 10**6, end + 10**6, start, end])
    assert one(rules.rule_bufferbloat(ctx)).numbers["loaded_ms"] == 90.0


def test_downloads_from_find_download_bytes_min_make_the_link_busy():
    ctx = facts_ctx(loaded_link(30.0))
    ctx.echo = echo_at((-100, 10.0), (-50, 10.0), (200, 80.0), (300, 80.0))
    ctx.th = Thresholds({"find.download_bytes.min": 102_200.0})      # exactly its bytes
    assert one(rules.rule_bufferbloat(ctx)).numbers["loaded_ms"] == 80.0
    ctx.th = Thresholds({"find.download_bytes.min": 102_201.0})
    assert rules.rule_bufferbloat(ctx) == []


def test_every_download_makes_the_link_busy_not_only_the_last():
    # a second bulk connection later (2000-2430 ms): echoes during the first still count
    cap = loaded_link(30.0)
    download(cap, segments=70, gap_ms=5.0, t0=2000.0, client=("10.0.0.1", 40005))
    assert facts_ctx(cap).tcp.n_streams == 3
    ctx = facts_ctx(cap)
    ctx.echo = echo_at((-100, 10.0), (-50, 10.0), (200, 80.0), (300, 80.0))
    assert one(rules.rule_bufferbloat(ctx)).numbers["loaded_ms"] == 80.0


def two_loaders(rtt_ms: float) -> Capture:
    """Connections 0 and 2 move bulk data (from 0 and 50 ms), each with a repair; the
    sample's connection 1 (its handshake at 100 ms takes rtt_ms) repairs a segment too."""
    cap = Capture()
    download(cap, segments=70, gap_ms=5.0, late=[(3, 2 * RTT)])
    download(cap, segments=4, t0=100.0, rtt=rtt_ms - 0.1, late=[(1, 2 * rtt_ms)],
             client=("10.0.0.1", 40001))
    download(cap, segments=70, gap_ms=5.0, t0=50.0, late=[(5, 2 * RTT)],
             client=("10.0.0.1", 40002))
    return cap


def test_bufferbloat_names_every_loading_connection_and_only_their_repairs():
    ctx = facts_ctx(two_loaders(120.0004), samples=[sample(1)])
    ctx.facts = replace(ctx.facts, baseline_rtt_ms=20.12345, baseline_source="mtr")
    edges = tuple(T0 + int(ms * 1e6) for ms in (100, 101, 180, 181, 182, 190, 200))
    ctx.placements = [Placement(1, 1, "local_port", T0, "syn", edges)]
    f = one(rules.rule_bufferbloat(ctx))
    assert f.numbers["loading_streams"] == [0, 2]
    assert f.numbers["loading_retransmissions"] == 2
    assert (f.numbers["idle_ms"], f.numbers["added_ms"]) == (20.123, 99.877)   # 99.87695
    assert f.numbers["loaded_ms"] == 120.0                                       # 120.0004
    assert "while connection(s) 0, 2 moved bulk data (2 of the capture's" in f.message


def test_a_connections_own_bulk_is_no_load_on_it():
    cap = Capture()
    download(cap, segments=70, gap_ms=5.0)       # its handshake: 20.1 ms
    ctx = facts_ctx(cap, samples=[sample(1)])
    ctx.facts = replace(ctx.facts, baseline_rtt_ms=-100.0)   # any handshake would be "slow"
    edges = tuple(T0 + int(ms * 1e6) for ms in (0, 1, 20, 21, 22, 30, 400))
    ctx.placements = [Placement(1, 0, "local_port", T0, "syn", edges)]
    assert rules.rule_bufferbloat(ctx) == []


@pytest.mark.parametrize("edges_ms, loaded", [
    ((420, 431, 440, 441, 442, 450, 460), True),      # the load ends in the first phase
    ((-100, -90, -80, -70, -60, -1, 5), True),        # the load starts in the last phase
    ((431, 432, 440, 441, 442, 450, 460), False),     # after it
])
def test_the_load_counts_over_the_whole_sample(edges_ms, loaded):
    ctx = bloat_ctx(120.0)
    edges = tuple(T0 + int(ms * 1e6) for ms in edges_ms)
    ctx.placements = [replace(ctx.placements[1], edges_ns=edges)]
    assert bool(rules.rule_bufferbloat(ctx)) == loaded
