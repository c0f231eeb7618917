"""Every threshold cnfpost judges by, in one place, each with the reason for its value.

A threshold is declared once with :func:`declare` at import time of this module (so the
whole list is readable here, top to bottom) and read with ``THRESHOLDS["name"]`` or,
when a config file overrides some, through the :class:`Thresholds` object the pipeline
passes down. ``cnfpost analyze --config FILE.toml`` overrides any of them::

    [thresholds]
    "l3.loss_pct.good" = 0.5

Unknown names and values of the wrong type are input errors (exit 2), never ignored.

Grades are always one of ``excellent | good | fair | poor | unknown``. For a metric where
lower is better, the grade is the best one whose limit the value does not exceed
(:func:`grade_lower_is_better`).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .errors import InputError, json_pointer

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
    """Read a TOML config; its [thresholds] table overrides the defaults."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InputError(path, None, "a readable TOML file", exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, "valid TOML", str(exc)) from None
    table = doc.get("thresholds", {})
    if not isinstance(table, dict):
        raise InputError(path, json_pointer("thresholds"), "a table", type(table).__name__)
    for name, value in table.items():
        if name not in DEFAULTS:
            raise InputError(path, json_pointer("thresholds", name), "a known threshold name",
                             repr(name))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, json_pointer("thresholds", name), "a number", repr(value))
    return Thresholds(table)


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
declare("find.server_ms.warning", 500.0, "ms",
        "Server wait (request sent to first response byte) median. Half a second of server "
        "time is most of web.dev's 0.8 s TTFB budget.")
declare("find.server_ms.critical", 2000.0, "ms",
        "Two seconds of server time: the application is failing its users.")
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
declare("find.jitter_ms.warning", 10.0, "ms",
        "Jitter (mean absolute difference of consecutive RTTs) of 10 ms: the L3 limit for "
        "'good'.")
declare("find.jitter_ms.critical", 30.0, "ms",
        "30 ms of jitter: the L3 limit for 'fair'; real-time media degrade.")
