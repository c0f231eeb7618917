"""ping output: iputils (real, with and without -D), BusyBox, BSD and macOS (hand-written from
formats.md), losses, duplicates, errors, summaries that disagree, and bad input."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, strategies as st

from cnfpost.errors import InputError
from cnfpost.inputs.ping import load_ping, parse_ping

DATA = Path(__file__).parent / "data" / "inputs"
LAB = DATA / "lab"
PING = DATA / "ping"


def test_lab_clean_iputils():
    run, problems = load_ping(LAB / "clean" / "ping.txt")
    assert problems == [] and run.flavor == "iputils"
    assert (run.target, run.address) == ("origin.lab.test", "198.18.3.2")
    assert [p.seq for p in run.probes] == list(range(1, 21))
    assert {p.ttl for p in run.probes} == {62} and run.probes[0].rtt_ms == 0.164
    assert run.probes[0].source == "origin.lab.test (198.18.3.2)"
    assert (run.sent, run.lost, run.loss_pct, run.lost_seqs) == (20, 0, 0.0, ())
    s = run.summary
    assert (s.transmitted, s.received, s.loss_pct, s.time_ms) == (20, 20, 0.0, 3875.0)
    # Our statistics agree with ping's own to its printed precision.
    assert run.stats.min_ms == s.min_ms and run.stats.max_ms == s.max_ms
    assert run.stats.avg_ms == pytest.approx(s.avg_ms, abs=0.0006)
    assert run.stats.mdev_ms == pytest.approx(s.mdev_ms, abs=0.0006)
    assert run.disagreements == ()


def test_lab_path_loss_finds_the_lost_sequence():
    run, _ = load_ping(LAB / "path_loss" / "ping.txt")
    assert run.lost_seqs == (11,) and run.loss_pct == 5.0
    assert run.summary.loss_pct == 5.0 and run.disagreements == ()


def test_jitter_is_mean_absolute_difference_of_consecutive_rtts():
    run, _ = load_ping(LAB / "tls_retrans" / "ping.txt")
    rtts = [p.rtt_ms for p in run.replies]
    expected = sum(abs(b - a) for a, b in zip(rtts, rtts[1:])) / (len(rtts) - 1)
    assert run.stats.jitter_ms == pytest.approx(expected)
    assert run.probes[0].rtt_ms == 20.5  # 10-100 ms printed with one decimal


def test_loopback_ipv6_with_timestamps():
    run, problems = load_ping(PING / "iputils_lo6_D.txt")
    assert problems == [] and (run.target, run.address) == ("::1", "::1")
    assert [p.ts_s for p in run.probes] == [1795631045.968262, 1795631046.169965,
                                          1795631046.373970, 1795631046.577939]
    assert [p.source for p in run.probes] == ["::1"] * 4


def test_iputils_duplicates_late_reply_and_integer_rtt():
    run, problems = load_ping(PING / "iputils_dup_D.txt")
    assert problems == []
    assert [(p.seq, p.rtt_ms, p.duplicate) for p in run.probes] == [
        (1, 12.3, False), (2, 150.0, False), (2, 151.0, True), (3, 1.25, False),
        (5, 0.987, False)]
    assert run.duplicates == 1 and run.lost_seqs == (4,)
    assert [p.seq for p in run.replies] == [1, 2, 3, 5]
    assert run.summary.duplicates == 1 and run.disagreements == ()


def test_iputils_unreachable_errors_are_losses_with_their_messages():
    run, problems = load_ping(PING / "iputils_unreachable.txt")
    assert problems == []  # "pipe 3" is part of the summary
    assert [(e.seq, e.source, e.message) for e in run.errors] == [
        (n, "192.0.2.1", "Destination Host Unreachable") for n in (1, 2, 3)]
    assert run.lost_seqs == (1, 2, 3, 4) and run.loss_pct == 100.0
    assert run.summary.errors == 3 and run.stats.count == 0


def test_busybox():
    run, problems = load_ping(PING / "busybox.txt")
    assert problems == [] and run.flavor == "busybox"
    assert [p.seq for p in run.probes] == [0, 1, 1, 3]
    assert run.lost_seqs == (2,) and run.duplicates == 1
    s = run.summary
    assert (s.transmitted, s.received, s.duplicates, s.loss_pct, s.mdev_ms) == \
        (4, 3, 1, 25.0, None)
    assert (s.min_ms, s.avg_ms, s.max_ms) == (11.1, 12.186, 13.4)


@pytest.mark.parametrize("name, target", [("busybox_1.35_lo.txt", "127.0.0.1"),
                                          ("busybox_1.35_lo6.txt", "::1")])
def test_real_busybox(name, target):
    run, problems = load_ping(PING / name)
    assert problems == [] and run.flavor == "busybox" and run.target == target
    assert [p.seq for p in run.probes] == list(range(run.summary.transmitted))  # from 0
    assert run.lost_seqs == () and run.disagreements == () and run.loss_pct == 0.0
    assert run.summary.mdev_ms is None and run.stats.mdev_ms is not None
    assert run.stats.avg_ms == pytest.approx(run.summary.avg_ms, abs=0.0006)


def test_bsd_request_timeouts():
    run, problems = load_ping(PING / "bsd_timeouts.txt")
    assert problems == [] and run.flavor == "bsd"
    assert run.lost_seqs == (2,) and run.sent == 5 and run.loss_pct == 20.0
    assert run.summary.loss_pct == 20.0 and run.summary.mdev_ms == 0.828


def test_bsd_unreachable_skips_the_header_dump():
    run, problems = load_ping(PING / "bsd_unreachable.txt")
    assert problems == []
    assert [e.message for e in run.errors] == ["Destination Host Unreachable"] * 2
    assert run.lost_seqs == (0, 1, 2) and run.loss_pct == 100.0


def test_old_freebsd_duplicates_before_loss():
    run, problems = load_ping(PING / "freebsd_old_dup.txt")
    assert problems == [] and run.summary.duplicates == 1 and run.duplicates == 1
    assert run.disagreements == ()  # the summary's max includes the duplicate


def test_macos_ping6():
    run, problems = load_ping(PING / "macos_ipv6.txt")
    assert problems == [] and run.flavor == "bsd" and run.target == "2001:db8::10"
    assert [(p.seq, p.ttl) for p in run.probes] == [(0, 57), (1, 57)]
    assert run.summary.mdev_ms == 0.25


def test_quiet_run_uses_the_summary():
    run, problems = load_ping(PING / "iputils_quiet.txt")
    assert problems == [] and run.probes == ()
    assert (run.sent, run.lost, run.loss_pct, run.lost_seqs) == (100, 3, 3.0, ())
    assert run.stats.avg_ms == 10.431 and run.stats.jitter_ms is None


def test_text_and_summary_disagree():
    run, _ = load_ping(PING / "iputils_disagree.txt")
    assert run.disagreements == ("summary says 4 received, the reply lines show 3",)
    assert run.lost_seqs == (3,) and run.loss_pct == 25.0  # the lines are what we count


def test_summary_transmitted_too_small_is_a_disagreement():
    text = (LAB / "clean" / "ping.txt").read_text().replace(
        "20 packets transmitted, 20 received", "18 packets transmitted, 20 received")
    run, _ = parse_ping(text, "p")
    assert "summary says 18 transmitted, yet a reply carries sequence 20" in run.disagreements


def test_unknown_host_is_a_run_with_an_error():
    run, problems = load_ping(PING / "unknown_host.txt")
    assert problems == [] and run.sent is None and run.loss_pct is None
    assert run.errors[0].message == "nosuchhost.invalid: Name or service not known"


def test_sequence_numbers_wrap_past_65535():
    lines = ["PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data."] + [
        f"64 bytes from 192.0.2.1: icmp_seq={s % 65536} ttl=64 time=1.00 ms"
        for s in (65534, 65535, 65536, 65538)]
    run, _ = parse_ping("\n".join(lines), "p")
    assert [p.seq for p in run.probes] == [65534, 65535, 65536, 65538]
    assert run.lost_seqs[-1] == 65537 and 65536 not in run.lost_seqs


def test_to_dict_is_json_and_rounded():
    run, _ = load_ping(PING / "iputils_dup_D.txt")
    d = orjson.loads(orjson.dumps(run.to_dict()))
    assert d["stats"]["avg_ms"] == round(run.stats.avg_ms, 3)
    assert d["lost_seqs"] == [4] and d["probes"][2]["duplicate"] is True


def test_unrecognised_lines_are_skipped_with_a_warning():
    text = (LAB / "clean" / "ping.txt").read_text().replace(
        "icmp_seq=5 ttl=62 time=0.186 ms", "icmp_seq=5 ttl=62 tim")
    run, problems = parse_ping("garbage first\n" + text, "p.txt")
    assert [str(p) for p in problems] == [
        "p.txt: line 1: expected ping line (iputils, BusyBox, BSD or macOS), got 'garbage first'"]
    # the damaged reply still carries its sequence: received, RTT unknown
    assert [p.rtt_ms for p in run.probes if p.seq == 5] == [None]


@pytest.mark.parametrize("data, message", [
    (b"", "p: expected ping output (iputils, BusyBox, BSD or macOS), got an empty file"),
    (b"\x00\x01\x02", "p: byte 0: expected ping output (iputils, BusyBox, BSD or macOS), "
                      "got binary data (3 bytes)"),
    (b"hello\nworld\n", "p: line 1: expected ping output (iputils, BusyBox, BSD or macOS), "
                        "got 'hello'"),
])
def test_unusable_input_is_one_error(data, message):
    with pytest.raises(InputError) as info:
        parse_ping(data, "p")
    assert str(info.value) == message


def test_windows_output_is_a_clean_error():
    with pytest.raises(InputError) as info:
        load_ping(PING / "windows.txt")
    assert str(info.value).endswith(
        "line 2: expected ping output (iputils, BusyBox, BSD or macOS), got 'Pinging 1.1.1.1 "
        "with 32 bytes of data:'")


def test_a_pcap_passed_as_ping():
    with pytest.raises(InputError, match=r"^capture.pcap: byte 0: .*got a pcap file"):
        parse_ping((LAB / "path_loss" / "icmp.pcap").read_bytes(), "capture.pcap")


def _check(data):
    try:
        run, problems = parse_ping(data, "fuzz")
    except InputError as err:
        assert str(err).startswith("fuzz")
        return
    orjson.dumps(run.to_dict())
    assert run.loss_pct is None or 0 <= run.loss_pct <= 100


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_input_gives_result_or_clean_error(data):
    _check(data)


SOURCES = [LAB / "path_loss" / "ping.txt", PING / "busybox.txt", PING / "bsd_unreachable.txt",
           PING / "iputils_dup_D.txt"]


@given(st.data())
def test_mutated_real_output_gives_result_or_clean_error(data):
    text = data.draw(st.sampled_from(SOURCES)).read_text()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 30)))
    filler = data.draw(st.text(max_size=15) | st.sampled_from(
        ["99999999", "icmp_seq=70000", "time=", " (DUP!)", "\n", "0/0/0/0", "%", "-1"]))
    _check(text[:start] + filler + text[end:])


def test_iputils_empty_name_with_dash_4_on_a_dual_stack_name():
    """iputils 20221126 `ping -4 NAME` where NAME also has an AAAA record prints no name in
    the header and the statistics line (seen in the project's lab)."""
    text = ("PING  (198.18.3.2) 56(84) bytes of data.\n"
            "64 bytes from 198.18.3.2: icmp_seq=1 ttl=62 time=0.164 ms\n"
            "64 bytes from 198.18.3.2: icmp_seq=2 ttl=62 time=0.238 ms\n\n"
            "---  ping statistics ---\n"
            "2 packets transmitted, 2 received, 0% packet loss, time 1001ms\n"
            "rtt min/avg/max/mdev = 0.164/0.201/0.238/0.037 ms\n")
    run, problems = parse_ping(text, "p.txt")
    assert problems == [] and run.disagreements == ()
    assert run.target is None and run.address == "198.18.3.2"
    assert run.sent == 2 and len(run.replies) == 2
    assert run.summary is not None and run.summary.avg_ms == 0.201
