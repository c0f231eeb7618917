"""overall.cause on whole runs built in code: a capture and the curl timings that go with
it, for the mechanisms the lab cannot inject here (curl 7.88's --limit-rate does not hold
its reads back, so no slow reader; a link that goes dark mid-transfer), and the edges of
the others. Each run is plain HTTP on one connection: DNS 1 ms, connect, request, server
wait, download, the timings taken from the packets as curl would have measured them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnfpost import analyze
from tests.tcp_builders import Capture

MSS = 1460
RTT = 20.0
T0 = 1_700_000_000.0


class Run:
    """One curl sample over one connection; times in ms from curl's start."""

    def __init__(self, dns: float = 1.0, syn_retry: bool = False, rtt: float = RTT,
                 port: int = 40000, cap: Capture | None = None):
        self.cap = cap or Capture(t0=T0, ip_ids=True)
        self.c = self.cap.conn(client=("198.18.1.2", port), server=("198.18.3.2", 80))
        self.port, self.dns, self.code, self.exit = port, dns, 200, 0
        start = dns
        if syn_retry:                  # the first SYN lost; curl's kernel retries after 1 s
            self.c.seg(dns, "c", 0, None, "S", win=64240)
            start = dns + 1000.0
        self.connect = self.c.handshake(start, rtt, mss=MSS)             # ACK sent
        self.c.seg(self.connect + 0.1, "c", 1, 1, "PA", data=100)        # the request
        self.request_sent = self.connect + 0.1
        self.seq = 1
        self.first_byte = None
        self.last = None

    def data(self, t: float, size: int = MSS, seq: int | None = None, **kw) -> int:
        frame = self.c.seg(t, "s", self.seq if seq is None else seq, 101, "A", data=size, **kw)
        if seq is None:
            self.seq += size
        self.first_byte = t if self.first_byte is None else self.first_byte
        self.last = max(self.last or t, t)
        return frame

    def ack(self, t: float, win: int = 501) -> None:
        self.c.seg(t, "c", 101, self.seq, "A", win=win)

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        (root / "capture.pcap").write_bytes(self.cap.pcap_bytes())
        s = 1e-3
        timing = {
            "url": "http://origin.lab.test/f.bin", "url_effective": "http://origin.lab.test/f.bin",
            "scheme": "HTTP", "http_version": "1.1", "response_code": self.code,
            "http_code": self.code, "exitcode": self.exit, "errormsg": None,
            "num_connects": 1, "num_redirects": 0,
            "local_ip": "198.18.1.2", "local_port": self.port, "remote_ip": "198.18.3.2",
            "remote_port": 80, "size_download": self.seq - 1, "size_upload": 0,
            "time_namelookup": self.dns * s, "time_connect": (self.connect - 0.1) * s,
            "time_appconnect": 0.0, "time_pretransfer": self.request_sent * s,
            "time_starttransfer": self.first_byte * s, "time_total": (self.last + 0.1) * s,
        }
        (root / "timings.jsonl").write_text(json.dumps(timing) + "\n")
        return root


def cause_of(run: Run, tmp_path: Path) -> dict | None:
    return analyze(run.write(tmp_path / "run"))["overall"]["cause"]


def steady(run: Run, start: float, segments: int) -> float:
    """Segments in flights that double each round trip (slow start), ACKed as they come."""
    t, flight = start, 10
    while segments > 0:
        n = min(flight, segments)
        for k in range(n):
            run.data(t + 0.01 * k)
        run.ack(t + 0.01 * n + 0.05)
        segments -= n
        flight *= 2
        t += RTT
    return t


def test_a_healthy_run_has_no_cause(tmp_path):
    run = Run()
    steady(run, run.request_sent + RTT, 20)
    assert cause_of(run, tmp_path) is None


def test_a_receiver_that_stops_reading_is_the_cause(tmp_path):
    run = Run()
    t = steady(run, run.request_sent + RTT, 10)
    run.ack(t, win=0)                                   # the client's window shuts ...
    for k in range(3):
        run.c.seg(t + 200 + 400 * k, "s", run.seq, 101, "A", data=0)    # window probes
        run.ack(t + 200.2 + 400 * k, win=0)
    run.ack(t + 1500, win=501)                          # ... for 1.5 s
    steady(run, t + 1500.2, 10)
    cause = cause_of(run, tmp_path)
    assert cause["code"] == "l4.zero_window" and cause["phases"] == ["download"]
    assert cause["confidence"] == "high"


@pytest.mark.parametrize("ids", [True, False])
def test_a_link_that_goes_dark_is_a_stall(tmp_path, ids):
    """Everything the server sent into the dark is lost, so the receiver sees no hole, only
    a silence; the server's IPv4 ids jump over the lost packets. Without counting ids
    (IPv6, random ids) the silence is the server's: claim only what the evidence shows."""
    run = Run()
    run.cap.ip_ids = ids
    t = steady(run, run.request_sent + RTT, 10)
    lost = run.seq
    for k in range(3):                                  # sent into the dark, never seen
        run.cap.lost.add(run.data(t + k * 0.01) - 1)
    run.seq = lost
    run.data(t + 1200)                                  # the backed-off retransmission
    run.ack(t + 1200.1)
    steady(run, t + 1201, 10)
    cause = cause_of(run, tmp_path)
    assert cause["code"] == ("l4.stall" if ids else "l7.slow_server")
    assert "download" in cause["phases"]


def test_a_lost_tail_segment_is_loss_not_the_server(tmp_path):
    run = Run()
    t = steady(run, run.request_sent + RTT, 10)
    lost = run.seq
    run.cap.lost.add(run.data(t) - 1)                   # the flight's last segment: no hole
    run.seq = lost
    run.data(t + 220)                                   # its tail-loss probe, 220 ms later
    run.ack(t + 220.1)
    cause = cause_of(run, tmp_path)
    assert cause["code"] == "l3.downstream_loss" and cause["phases"] == ["download"]


def test_a_server_that_pauses_mid_download_is_the_slow_server(tmp_path):
    run = Run()
    t = steady(run, run.request_sent + RTT, 10)
    steady(run, t + 600, 10)                            # 600 ms with nothing in flight
    cause = cause_of(run, tmp_path)
    assert cause["code"] == "l7.slow_server" and cause["phases"] == ["download"]


def test_a_slow_server_wait_is_the_slow_server(tmp_path):
    run = Run()
    steady(run, run.request_sent + RTT + 500, 10)
    cause = cause_of(run, tmp_path)
    assert cause["code"] == "l7.slow_server" and cause["phases"] == ["server"]
    assert cause["observed_ms"] == pytest.approx(RTT + 500, abs=1)


@pytest.mark.parametrize("wait, slow", [(2 * RTT + 10, False), (2 * RTT + 31, True)])
def test_the_server_wait_edge(tmp_path, wait, slow):
    """Two round trips are allowed (HTTP/2 SETTINGS, TLS 1.3 tickets); beyond them by
    find.phase_inflation_ms (20 ms) and 50 % the server is slow."""
    run = Run()
    steady(run, run.request_sent + wait, 10)
    cause = cause_of(run, tmp_path)
    assert (cause is not None and cause["code"] == "l7.slow_server") == slow


def test_a_lost_syn_on_a_clean_path_is_the_syn_retry(tmp_path):
    run = Run(syn_retry=True)
    steady(run, run.request_sent + RTT, 10)
    cause = cause_of(run, tmp_path)
    assert cause["code"] == "l4.syn_retry" and cause["phases"] == ["tcp"]
    assert cause["observed_ms"] == pytest.approx(1000 + RTT, abs=1)


def test_a_lost_syn_on_a_path_that_loses_data_too_is_that_loss(tmp_path):
    run = Run(syn_retry=True)
    t = steady(run, run.request_sent + RTT, 4)
    hole = run.seq
    run.seq += MSS                                      # lost on the way: never captured
    run.data(t)                                         # the next one opens the gap
    run.data(t + 2 * RTT, seq=hole)                     # the repair, a round trip later
    run.ack(t + 2 * RTT + 0.1)
    cause = cause_of(run, tmp_path)
    assert cause["code"] == "l3.downstream_loss" and "tcp" in cause["phases"]


def test_a_slow_lookup_is_slow_dns(tmp_path):
    run = Run(dns=300.0)
    steady(run, run.request_sent + RTT, 10)
    cause = cause_of(run, tmp_path)
    assert (cause["code"], cause["phases"], cause["confidence"]) == \
        ("l7.slow_dns", ["dns"], "low")            # no DNS packet in the capture


def test_a_refused_connection_is_the_servers_reset(tmp_path):
    run = Run()
    run.c.seg(run.connect + 0.2, "s", 1, 101, "RA")
    run.first_byte = run.last = run.connect + 0.2
    run.exit = 56
    report = analyze(run.write(tmp_path / "run"))
    (sample,) = report["samples"]
    assert sample["failure"]["reason"] == "reset" and sample["failure"]["by"] == "server"
    assert report["overall"]["cause"]["code"] == "l4.reset"


def test_an_http_500_is_a_failed_request_by_the_server(tmp_path):
    run = Run()
    steady(run, run.request_sent + RTT, 1)
    run.code = 500
    report = analyze(run.write(tmp_path / "run"))
    (sample,) = report["samples"]
    assert sample["failure"] == {"phase": "server", "reason": "http_error", "by": "server",
                                 "frames": [sample["failure"]["frames"][0]],
                                 "detail": "HTTP 500"}
    cause = report["overall"]["cause"]
    assert cause["code"] == "l7.request_failed" and cause["failed_samples"] == 1


def test_a_queue_filled_by_another_download_is_bufferbloat(tmp_path):
    cap = Capture(t0=T0, ip_ids=True)
    loader = Run(port=41000, cap=cap)                   # a bulk download, 20 ms handshake
    for k in range(500):                                # 730 kB over 500 ms
        loader.data(loader.request_sent + RTT + k)
        if k % 10 == 9:
            loader.ack(loader.request_sent + RTT + k + 0.05)
    t = loader.last
    sample = Run(port=40000, cap=cap, rtt=180.0, dns=20.0)   # its handshake waits in the queue
    steady(sample, sample.request_sent + 180.0, 2)
    assert t > sample.last                              # the load outlasts the sample
    cause = cause_of(sample, tmp_path)
    assert cause["code"] == "l3l7.bufferbloat" and "tcp" in cause["phases"]


def test_frames_without_a_time_are_warned_about_and_blame_nothing(tmp_path):
    """pcapng simple packet blocks carry no time: the report says so, and no duration that
    touches them becomes a cause."""
    from tests import capbuild as cb

    syn, ack, psh = 0x02, 0x10, 0x08

    def pkt(sport, dport, seq, acked, flags, payload=b"", up=True):
        src, dst = ("192.0.2.1", "198.51.100.2") if up else ("198.51.100.2", "192.0.2.1")
        return cb.ether(cb.ipv4(cb.tcp(sport, dport, seq, acked, flags, payload=payload),
                                src=src, dst=dst))

    t0 = 1_700_000_000_000_000
    frames = [cb.epb(pkt(40000, 80, 1000, 0, syn), ts=t0),
              cb.spb(pkt(80, 40000, 5000, 1001, syn | ack, up=False)),
              cb.epb(pkt(40000, 80, 1001, 5001, ack), ts=t0 + 20_000),
              cb.epb(pkt(40000, 80, 1001, 5001, ack | psh, b"GET / HTTP/1.1\r\n\r\n"),
                     ts=t0 + 20_100),
              cb.spb(pkt(80, 40000, 5001, 1019, ack | psh, b"HTTP/1.1 200 OK\r\n\r\n",
                         up=False))]
    path = tmp_path / "c.pcapng"
    path.write_bytes(cb.shb() + cb.idb() + b"".join(frames))
    report = analyze(path)
    assert f"{path}: 2 frame(s) without a time stamp: durations that touch them are not " \
           "measured" in report["warnings"]
    assert report["overall"]["cause"] is None
