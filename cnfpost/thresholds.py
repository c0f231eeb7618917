"""Every threshold cnfpost judges by, in one place, each with the reason for its value.

A threshold is declared once with :func:`declare` at import time of this module (so the
whole list is readable here, top to bottom) and read with ``THRESHOLDS["name"]`` or,
when a config file overrides some, through the :class:`Thresholds` object the pipeline
passes down. ``cnfpost analyze --config FILE.toml`` overrides any of them::

    [thresholds]
    "l3.loss_pct.good" = 0.5

Other tables, unknown names, values that are not finite numbers >= 0 and limits out of
order (a warning above its critical, good above fair) are input errors (exit 2) naming the
key, never ignored.

Grades are always one of ``excellent | good | fair | poor | unknown``. For a metric where
lower is better, the grade is the best one whose limit the value does not exceed
(:func:`grade_lower_is_better`).
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from .errors import InputError, describe_got, json_pointer

__all__ = [
    "Threshold",
    "Thresholds",
    "DEFAULTS",
    "declare",
    "load_config",
    "GRADES",
    "grade_lower_is_better",
    "worst_grade",
]

GRADES = ("excellent", "good", "fair", "poor", "unknown")


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    unit: str
    why: str


DEFAULTS: dict[str, Threshold] = {}


def declare(name: str, value: float, unit: str, why: str) -> None:
    if name in DEFAULTS:
        raise ValueError(f"threshold {name} declared twice")
    DEFAULTS[name] = Threshold(name, float(value), unit, why)


class Thresholds(Mapping[str, float]):
    """The defaults with a config file's overrides applied; read-only."""

    def __init__(self, overrides: Mapping[str, float] | None = None):
        self._values = {name: t.value for name, t in DEFAULTS.items()}
        for name, value in (overrides or {}).items():
            self._values[name] = float(value)

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def load_config(path: str | Path) -> Thresholds:
    """Read a TOML config; its [thresholds] table overrides the defaults.

    Anything else is refused, naming the key: another table (a misspelt ``[threshold]``
    would otherwise be ignored without a word), an unknown name, a value that is not a
    finite number >= 0, or limits out of order (warning above critical, good above fair).
    """
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InputError(path, None, "a readable TOML file", exc.strerror or str(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, None, "valid TOML", describe_got(str(exc), 80)) from None
    for key in doc:
        if key != "thresholds":
            raise InputError(path, json_pointer(key), "only a [thresholds] table",
                             describe_got(key))
    table = doc.get("thresholds", {})
    if not isinstance(table, dict):
        raise InputError(path, json_pointer("thresholds"), "a table", type(table).__name__)
    for name, value in table.items():
        where = json_pointer("thresholds", name)
        if name not in DEFAULTS:
            raise InputError(path, where, "a known threshold name", describe_got(name))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, where, "a number", describe_got(value))
        if not (math.isfinite(value) and value >= 0):
            raise InputError(path, where, "a finite number >= 0", describe_got(value))
    th = Thresholds(table)
    for name in table:
        for lower, upper in _neighbours(name):
            if th[lower] > th[upper]:
                raise InputError(path, json_pointer("thresholds", name),
                                 f"{lower} <= {upper}", f"{th[lower]:g} > {th[upper]:g}")
    return th


# Limits of one metric that must not decrease, in this order (names end with them).
ORDERED_LEVELS = (("excellent", "good", "fair"), ("warning", "critical"))


def _neighbours(name: str) -> Iterator[tuple[str, str]]:
    """The (lower, upper) pairs of declared limits that ``name`` belongs to."""
    metric, _, level = name.rpartition(".")
    for levels in ORDERED_LEVELS:
        names = [f"{metric}.{lv}" for lv in levels if f"{metric}.{lv}" in DEFAULTS]
        yield from (pair for pair in zip(names, names[1:]) if name in pair)


def grade_lower_is_better(value: float | None, limits: Iterable[float]) -> str:
    """Grade a value against ascending (excellent, good, fair) limits; above all is poor."""
    if value is None:
        return "unknown"
    for grade, limit in zip(GRADES, limits):
        if value <= limit:
            return grade
    return "poor"


def worst_grade(grades: Iterable[str]) -> str:
    """The worst known grade of several ('unknown' only when all are unknown)."""
    known = [g for g in grades if g != "unknown"]
    if not known:
        return "unknown"
    return max(known, key=GRADES.index)


# ---------------------------------------------------------------------------------------
# The thresholds. Each layer's section is kept together; the name says layer and metric.
# ---------------------------------------------------------------------------------------

# --- L3 ---------------------------------------------------------------------------------
# Path quality from ping, the capture's ICMP echoes and mtr (cnfpost/layers.py, inputs/mtr.py).
# The L3 grade is the worst of the latency, jitter and loss grades.

declare("l3.rtt_ms.excellent", 30.0, "ms",
        "Average RTT to the target. 30 ms is a path inside one metro or region: nothing "
        "interactive notices it (Waveform's bufferbloat scale calls < 30 ms added latency 'A').")
declare("l3.rtt_ms.good", 100.0, "ms",
        "100 ms RTT is a continental path; web and API traffic still feel immediate.")
declare("l3.rtt_ms.fair", 300.0, "ms",
        "ITU-T G.114 keeps one-way delay under 150 ms (300 ms round trip) for interactive use; "
        "beyond it the path itself is the bottleneck of every handshake: poor.")
declare("l3.jitter_ms.excellent", 2.0, "ms",
        "Jitter = mean absolute difference of consecutive RTTs. Under 2 ms is a wired path "
        "with no queue building up.")
declare("l3.jitter_ms.good", 10.0, "ms",
        "Under 10 ms: some queueing, harmless to TCP and absorbed by any media jitter buffer.")
declare("l3.jitter_ms.fair", 30.0, "ms",
        "Cisco's QoS design guidance keeps voice jitter under 30 ms; above it queues swing "
        "enough to inflate TCP's RTO and to signal bufferbloat: poor.")
declare("l3.loss_pct.excellent", 0.0, "%",
        "Packet loss over all probes (ping, or the capture's echoes, plus mtr's probes to the "
        "target). A probe run of tens of packets cannot resolve ITU-T Y.1541's 0.1 %, so "
        "excellent means no probe lost.")
declare("l3.loss_pct.good", 1.0, "%",
        "1 %: the usual limit for real-time media (ITU-T G.1010 voice < 1 %); TCP recovers "
        "with little cost.")
declare("l3.loss_pct.fair", 5.0, "%",
        "Mathis et al. (1997): TCP throughput falls as 1/sqrt(loss); at 5 % a flow gets a small "
        "fraction of its loss-free rate and handshakes start to hit retransmission timeouts.")
declare("l3.mtr.loss_floor_pct", 0.0, "%",
        "mtr loss at or below this is read as no loss. 0: mtr's unit is one probe "
        "(100/Snt %), and one lost reply from the target is real end-to-end loss.")
declare("l3.mtr.latency_step_ms", 10.0, "ms",
        "A rise of the best RTT by 10 ms or more that later hops keep is a long link or a queue "
        "(10 ms is about 1000 km of fibre each way); smaller rises are within router noise.")

# --- L7 ---------------------------------------------------------------------------------
# HTTP quality from curl's phases (cnfpost/layers.py). The L7 grade is the worst of the
# TTFB and failure grades.

declare("l7.ttfb_ms.excellent", 200.0, "ms",
        "Median time to first byte (time_starttransfer: DNS + TCP + TLS + server wait). 200 ms "
        "is Google PageSpeed's long-standing server-response target.")
declare("l7.ttfb_ms.good", 800.0, "ms",
        "web.dev's Core Web Vitals guidance: a TTFB of 0.8 s or less is 'good'.")
declare("l7.ttfb_ms.fair", 1800.0, "ms",
        "web.dev: a TTFB above 1.8 s is 'poor'.")
declare("l7.failure_pct.excellent", 0.0, "%",
        "Share of samples that failed (curl exit code != 0, or HTTP 5xx). Any failure costs "
        "excellent.")
declare("l7.failure_pct.good", 1.0, "%",
        "1 % failed requests is the error budget of a 99 % availability objective.")
declare("l7.failure_pct.fair", 10.0, "%",
        "Beyond 1 request in 10 failing, the service is effectively unreliable: poor.")

# --- Findings ---------------------------------------------------------------------------
# When a rule in cnfpost/rules.py raises a finding, and how severe it is. A healthy run
# raises no warning or critical finding.

declare("find.retrans_pct.warning", 1.0, "%",
        "Retransmitted segments per 100 TCP data segments. Above 1 % TCP spends visible time "
        "recovering (the same 1 % as the L3 loss limit for 'good').")
declare("find.retrans_pct.critical", 5.0, "%",
        "Above 5 % retransmissions, throughput collapses (Mathis: ~1/sqrt(p)) and timeouts "
        "appear.")
declare("find.ooo_pct.warning", 1.0, "%",
        "Out-of-order segments per 100 data segments. A little reordering is harmless; above "
        "1 % it starts to trigger duplicate ACKs and spurious fast retransmissions.")
declare("find.zero_window_ms.warning", 100.0, "ms",
        "Longest zero-window stall. At local speed a receiver can close its window for "
        "microseconds without effect; a stall of 100 ms or more is a user-visible pause.")
declare("find.zero_window_ms.critical", 1000.0, "ms",
        "A receiver that stays closed for a second is stuck (application not reading).")
declare("find.window_full.warning", 3.0, "events",
        "Window-full events in one connection: the sender had to stop because the receiver's "
        "window was full. Three or more means the window, not the path, set the pace.")
declare("find.dns_ms.warning", 100.0, "ms",
        "DNS phase median. A cached answer takes a few ms; 100 ms is a far or cold resolver.")
declare("find.dns_ms.critical", 1000.0, "ms",
        "A second of DNS is a lost query and a retry (resolvers retry after ~1 s).")
declare("find.connect_rtt_factor", 3.0, "x RTT",
        "A TCP connect takes one round trip. More than 3 path RTTs means a SYN retry or a "
        "slow accept, not distance.")
declare("find.connect_ms.floor", 50.0, "ms",
        "Connect times under 50 ms are never reported slow, whatever the RTT ratio (the ratio "
        "is noise on a sub-millisecond LAN path).")
declare("find.tls_rtt_factor", 4.0, "x RTT",
        "A TLS handshake takes 1 (TLS 1.3) or 2 (TLS 1.2) round trips plus server crypto; "
        "more than 4 RTTs is a slow handshake.")
declare("find.tls_ms.floor", 100.0, "ms",
        "TLS phases under 100 ms are never reported slow (RSA/ECDHE signing alone is a few ms).")
declare("find.server_ms.warning", 200.0, "ms",
        "Server think time: the server phase (request sent to first response byte) less one "
        "path RTT, median over samples. 200 ms is PageSpeed's server-response target; above "
        "it the application, not the network, is the largest part of the wait.")
declare("find.server_ms.critical", 1000.0, "ms",
        "A second of server think time: the application is failing its users (web.dev's poor "
        "TTFB starts at 1.8 s, and the network and TLS need their share of that).")
declare("find.download_mbps.warning", 10.0, "Mbit/s",
        "Download goodput below 10 Mbit/s for a body large enough to measure it "
        "(find.download_bytes.min) is slow for a data-centre or cloud probe.")
declare("find.download_bytes.min", 100000.0, "bytes",
        "Bodies smaller than 100 kB finish within TCP's slow start: their speed says little.")
declare("find.phase_inflation_ms", 20.0, "ms",
        "A phase with TCP trouble events counts as inflated by them when it took at least "
        "20 ms longer than its expected time (the same phase without events, or its RTTs).")
declare("find.phase_inflation_pct", 50.0, "%",
        "... and at least 50 % longer than expected.")
declare("find.handshake_vs_path_pct", 50.0, "%",
        "Handshake RTT (iRTT) more than 50 % above the path RTT (mtr/ping)...")
declare("find.handshake_vs_path_ms", 5.0, "ms",
        "... and more than 5 ms above it: the endpoint, not the path, adds the time. Both "
        "conditions, since a 0.2 ms LAN path makes any percentage meaningless.")
declare("find.bufferbloat_ms.warning", 60.0, "ms",
        "Latency added under load (loaded minus idle median RTT). Waveform's bufferbloat "
        "grades: up to 30 ms A, up to 60 ms B, more C and worse.")
declare("find.bufferbloat_ms.critical", 200.0, "ms",
        "More than 200 ms added is Waveform's D and F: calls and games break.")
declare("find.stall_ms", 500.0, "ms",
        "A connection silent this long (and at least 4 round trips) while it still had data "
        "to deliver is stalled: Linux's minimum retransmission timeout is 200 ms, so 500 ms "
        "is a timeout that was backed off at least once (RFC 6298 section 5.5), or a window "
        "that stayed shut.")
declare("find.stall_ms.critical", 1000.0, "ms",
        "A stall of a second: a retransmission timeout backed off twice or more (1 s is "
        "RFC 6298's initial RTO), or a receiver that stopped reading; users notice it.")
declare("find.rtt_bound_ms", 30.0, "ms",
        "A path RTT of 30 ms or more (the end of l3.rtt_ms.excellent) makes the round trips "
        "of a request (connect, TLS, request, slow start) its main cost: the requests are "
        "then slow because the server is far, and cnfpost says so (l3l7.rtt_bound).")
declare("find.probe_rule_out_factor", 3.0, "probes",
        "Loss that n ICMP probes saw none of is ruled out only above 3/n (the 'rule of "
        "three', the 95 % upper bound for zero events in n trials): 30 probes rule out 10 %, "
        "not 2 %. TCP loss below that bound may be on the path although ICMP saw none.")
declare("find.jitter_ms.warning", 10.0, "ms",
        "Jitter (mean absolute difference of consecutive RTTs) of 10 ms: the L3 limit for "
        "'good'.")
declare("find.jitter_ms.critical", 30.0, "ms",
        "30 ms of jitter: the L3 limit for 'fair'; real-time media degrade.")

# --- L4 ---------------------------------------------------------------------------------
# TCP quality from the capture's analysis (cnfpost/tcp.py, cnfpost/layers_l4.py). The L4
# grade is the worst of the retransmission, duplicate-ACK, out-of-order, zero-window and
# handshake grades. Rates are per 100 TCP data segments (frames with payload) of the
# capture; counts follow Wireshark's flags (tcp.analysis.retransmission includes fast and
# spurious retransmissions).

declare("l4.retrans_pct.excellent", 0.1, "%",
        "Retransmitted data segments per 100. At most 1 in 1000 is the residual loss of a "
        "healthy path (ITU-T Y.1541's 0.1 % loss objective): nothing to recover from.")
declare("l4.retrans_pct.good", 1.0, "%",
        "1 %: the level where TCP starts to spend visible time recovering (the same 1 % as "
        "find.retrans_pct.warning and the L3 loss limit for 'good').")
declare("l4.retrans_pct.fair", 5.0, "%",
        "Above 5 % throughput collapses (Mathis et al. 1997: rate ~ MSS / (RTT sqrt(p))) and "
        "retransmission timeouts appear: poor (find.retrans_pct.critical).")
declare("l4.dupack_pct.excellent", 1.0, "%",
        "Duplicate ACKs per 100 data segments. Each lost or reordered segment makes the "
        "receiver repeat its ACK once per later segment in flight, so a few per 100 follow "
        "from the smallest loss; 1 % means practically none.")
declare("l4.dupack_pct.good", 5.0, "%",
        "Up to 5 %: isolated recoveries (three dup ACKs trigger one fast retransmission, RFC "
        "5681), which SACK repairs within a round trip.")
declare("l4.dupack_pct.fair", 20.0, "%",
        "More than one dup ACK per 5 data segments: the connection is recovering most of the "
        "time: poor.")
declare("l4.ooo_pct.excellent", 0.1, "%",
        "Out-of-order segments (Wireshark: an older segment within one iRTT of a newer one) "
        "per 100 data segments. A handful in 1000 is normal multipath/NIC reordering.")
declare("l4.ooo_pct.good", 1.0, "%",
        "Up to 1 % reordering is absorbed by SACK and RACK without spurious retransmissions "
        "(find.ooo_pct.warning starts above it).")
declare("l4.ooo_pct.fair", 3.0, "%",
        "Above 3 % reordering triggers duplicate ACKs and spurious fast retransmissions, and "
        "shrinks the congestion window for nothing: poor.")
declare("l4.zero_window_ms.excellent", 1.0, "ms",
        "Longest time a receiver kept its window at zero. Judged by duration, not by the "
        "flag: at local speed a receiver closes for microseconds and reopens before the "
        "sender could have sent anything, which costs nothing.")
declare("l4.zero_window_ms.good", 100.0, "ms",
        "A stall under 100 ms is below what a user notices in a transfer "
        "(find.zero_window_ms.warning starts at 100 ms).")
declare("l4.zero_window_ms.fair", 1000.0, "ms",
        "A receiver closed for a second or more is not reading (find.zero_window_ms.critical): "
        "poor.")
declare("l4.handshake_fail_pct.excellent", 0.0, "%",
        "TCP handshakes that got no SYN/ACK (no answer, or a RST) per 100 captured SYNs. "
        "Any failure costs excellent: each one is a connection a client could not open.")
declare("l4.handshake_fail_pct.good", 1.0, "%",
        "1 in 100 failed connects matches a 99 % availability objective.")
declare("l4.handshake_fail_pct.fair", 5.0, "%",
        "More than 1 in 20 connects failing: the service or a firewall is refusing clients: "
        "poor.")
declare("l4.min_data_segments", 20.0, "segments",
        "Rates (retransmission, dup ACK, out-of-order) are graded only over at least 20 data "
        "segments; below that one event moves the rate by 5 points or more and the grade "
        "would measure chance. Zero-window and handshake grades apply at any size.")

# --- Batch ------------------------------------------------------------------------------
# Which runs of an archive stand out against their own history (cnfpost/batch/stats.py,
# summarize). A run is compared with every analysed run of the same probe and target,
# itself included, metric by metric (phase medians, total time, retransmission rate). The
# baseline is robust: median and MAD (median absolute deviation), which one slow run cannot
# drag along, whereas a mean and a standard deviation would move towards it and hide it.

declare("batch.outlier_z", 3.5, "robust z",
        "Iglewicz & Hoaglin (1993), 'How to Detect and Handle Outliers': a modified z-score "
        "0.6745 * (x - median) / MAD above 3.5 marks a potential outlier. 0.6745 makes MAD "
        "comparable to a standard deviation for normal data. When MAD is 0 (most runs equal), "
        "1.253314 * mean absolute deviation takes its place (IBM SPSS Modeler's rule: "
        "that factor makes it comparable to a standard deviation too). Only slower (higher) values count: faster than usual is not "
        "what a report has to explain.")
declare("batch.outlier_min_ms", 10.0, "ms",
        "... and the run's value must exceed the median by at least 10 ms: on a steady LAN "
        "path MAD is a few microseconds and a 0.3 ms wobble would otherwise stand out. 10 ms "
        "is where the L3 latency-step rule starts to care too.")
declare("batch.outlier_min_retrans_pct", 1.0, "percentage points",
        "... for the retransmission rate, at least 1 point above the median: the rate at "
        "which the findings start to warn (find.retrans_pct.warning).")
declare("batch.min_history", 8.0, "runs",
        "A probe/target pair needs 8 analysed runs before any is called an outlier: with "
        "fewer, one slow run is a large share of the sample and MAD is too coarse to trust.")
