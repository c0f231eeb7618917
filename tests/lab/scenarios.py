"""The lab scenarios: what each one injects and how the collector is asked to run.

A scenario is data: the fault (userspace wire config, iptables rules, qdiscs, sysctls), the
URLs and the collector's extra arguments. tests/lab/record.py applies it to a fresh lab and
runs the real collector; tests/test_lab.py checks that the fault shows up in the bundle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .topology import SERVER_NAME

BASE = f"https://{SERVER_NAME}"

# Short runs keep the lab tests fast (the collector's defaults are for real probes).
# The sample_data bundles use a probe's usual counts (still small: under 2 MB each).
SAMPLE_ARGS = ("--ping-count", "20", "--ping-interval", "0.2", "--mtr-cycles", "10",
               "--mtr-interval", "0.2", "--mtr-grace", "1", "--samples", "5", "--sample-gap", "0.5")
FAST_ARGS = ("--ping-count", "10", "--ping-interval", "0.1", "--mtr-cycles", "5",
             "--mtr-interval", "0.1", "--mtr-grace", "1", "--samples", "3", "--sample-gap", "0.2")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    urls: tuple[str, ...] = (f"{BASE}/100k.bin",)
    family: int = 4  # 6: DNS answers AAAA too and the collector runs with -6
    collector_args: tuple[str, ...] = ()
    # Userspace wire (tests/lab/bridge.py config); None = kernel bridge, no delay.
    wire: dict | None = None
    # (namespace role, command) run after the lab is built, before the collector.
    setup: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (namespace role, command) whose output is kept as the injector's counters.
    counters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tags: frozenset = field(default_factory=frozenset)
    # Capture in the server namespace too (server.pcap, the collector's documented
    # tcpdump line), its time stamps then shifted by this many seconds (editcap -t): the
    # server's clock need not agree with the probe's.
    server_capture: bool = False
    server_clock_shift_s: float = 0.0


def _loss(prob: float) -> tuple:
    # Random loss on r1's forwarding path (both directions of the r1-r2 link), for all IP
    # traffic: r1 itself still answers mtr, the hops behind it show the loss.
    rules = []
    for ipt in ("iptables", "ip6tables"):
        rules.append(("r1", (ipt, "-A", "FORWARD", "-m", "statistic", "--mode", "random",
                             "--probability", str(prob), "-j", "DROP")))
    return tuple(rules)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("clean", "no impairment"),
    Scenario(
        "path_loss", "5 % random loss in r1's forwarding (iptables statistic), both directions",
        setup=_loss(0.05),
        counters=(("r1", ("iptables", "-L", "FORWARD", "-v", "-x", "-n")),),
    ),
    Scenario(
        "delay_jitter", "10 ms one-way delay plus 0-8 ms jitter each way on the wire, order kept",
        wire={"seed": 5, "delay_ms": 10, "jitter_ms": 8},
    ),
    Scenario(
        "reorder", "10 ms one-way delay; 3 % of TCP data segments held back 6 ms so later ones "
                   "overtake them",
        wire={"seed": 7, "delay_ms": 10, "reorder": 0.03, "reorder_ms": 6},
    ),
    Scenario(
        "tls_drop", "10 ms one-way delay; the first segment of every TLS ServerHello dropped once",
        wire={"seed": 1, "delay_ms": 10, "drop_server_hello": True},
    ),
    Scenario(
        "slow_server", "HTTP/1.1 over TLS; nginx proxies /slow/700 to a backend that waits 700 ms "
                       "before answering",
        urls=(f"{BASE}/slow/700",),
        collector_args=("--http1.1",),
    ),
    Scenario(
        "bufferbloat", "tbf 2 Mbit/s with a 300 ms queue on r2 towards the client; ping while "
                       "a 1 MB download runs (4 s: it outlasts the pings)",
        setup=(("r2", ("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "2mbit",
                       "burst", "16kb", "latency", "300ms")),),
        counters=(("r2", ("tc", "-s", "qdisc", "show", "dev", "eth0")),),
        collector_args=("--loaded-url", f"{BASE}/1m.bin"),
        urls=(f"{BASE}/1k.bin",),
    ),
    Scenario(
        "icmp_ratelimit", "r1 answers at most one TTL-exceeded per second after a burst of 6 "
                          "(kernel icmp_ratelimit): mtr shows loss at hop 1 only",
        setup=(("r1", ("sysctl", "-qw", "net.ipv4.icmp_ratelimit=1000",
                       "net.ipv6.icmp.ratelimit=1000")),),
        collector_args=("--mtr-cycles", "20", "--mtr-interval", "0.05"),
    ),
    Scenario("ipv6", "no impairment, IPv6 only (curl, ping and mtr with -6); mtr.raw recorded too",
             family=6, collector_args=("--mtr-raw",)),
    Scenario(
        "reset", "the first server segment past 30000 bytes of each connection is replaced by "
                 "a RST to the client, and the connection's later server segments are dropped "
                 "(the RST is sent again at the sequence number the client's next ACK asks "
                 "for, if segments before it were still missing)",
        wire={"seed": 1, "reset_after_bytes": 30000},
    ),
    Scenario(
        "any_nano", "no impairment; captured on the 'any' device (LINUX_SLL2) with nanosecond "
                    "time stamps",
        collector_args=("--interface", "any", "--nano"),
    ),
    Scenario(
        "mixed_http", "no impairment; per sample an https URL (HTTP/2 by ALPN) and a plain "
                      "http URL (HTTP/1.1)",
        urls=(f"{BASE}/100k.bin", f"http://{SERVER_NAME}/1k.bin"),
    ),
    Scenario("syn_drop", "10 ms one-way delay; the first SYN of every connection dropped once",
             wire={"seed": 1, "delay_ms": 10, "drop_first_syn": True}),
    Scenario("oneway_loss", "10 ms one-way delay; 4 % of server-to-client TCP data segments "
                            "dropped (nothing else): loss one way, that ICMP does not see",
             wire={"seed": 3, "delay_ms": 10, "loss_s2c": 0.04}),
    Scenario("distance", "40 ms one-way delay each way (an 80 ms RTT) with 2 ms of jitter, "
                         "nothing lost", wire={"seed": 2, "delay_ms": 40, "jitter_ms": 2}),
    Scenario("pmtud", "every frame with an IP packet over 1200 bytes silently dropped (no "
                      "ICMP): a path-MTU black hole; curl gives up after 3 s",
             wire={"seed": 1, "mtu": 1200}, collector_args=("--max-time", "3")),
    Scenario("refused", "the URL's port has no listener: every SYN is answered by a RST",
             urls=(f"https://{SERVER_NAME}:8443/",)),
    Scenario("slow_dns", "DNS answers held back 300 ms on the wire",
             wire={"seed": 1, "dns_delay_ms": 300}),
    # Both ends captured (server.pcap): the loss located, the clocks aligned.
    Scenario("server_loss_up", "server capture, its clock 2.25 s behind; 10 ms one-way delay; "
                               "6 % of client-to-server TCP segments (bare ACKs included) "
                               "dropped: loss on the way up only",
             wire={"seed": 4, "delay_ms": 10, "loss_c2s": 0.06}, server_capture=True,
             server_clock_shift_s=-2.25),
    Scenario("server_loss_down", "server capture, its clock 3.5 s ahead; 10 ms one-way delay; "
                                 "4 % of server-to-client data segments dropped",
             wire={"seed": 3, "delay_ms": 10, "loss_s2c": 0.04}, server_capture=True,
             server_clock_shift_s=3.5),
    Scenario("server_nat", "server capture; r2 masquerades the client (source NAT), so the "
                           "server sees r2's address; 5 ms one-way delay",
             wire={"seed": 2, "delay_ms": 5}, server_capture=True,
             setup=(("r2", ("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth1",
                            "-j", "MASQUERADE")),),
             server_clock_shift_s=7.0),
    Scenario("server_slow", "server capture, its clock 1.5 s behind; the slow backend (700 ms "
                            "before answering) behind nginx; 10 ms one-way delay",
             urls=(f"{BASE}/slow/700",), collector_args=("--http1.1",),
             wire={"seed": 1, "delay_ms": 10}, server_capture=True,
             server_clock_shift_s=-1.5),
)}
