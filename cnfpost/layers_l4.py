"""L4 (TCP) quality assessment from the capture's TCP analysis.

``assess_l4(analysis, thresholds) -> LayerAssessment(quality, metrics)``. The grade is
the worst of five component grades, each against the "l4.*" thresholds of
cnfpost/thresholds.py (where every value says why):

- retransmission rate: data segments with tcp.analysis.retransmission per 100 data
  segments (retransmitted SYN/FIN/ACK-only segments are counted, not graded);
- duplicate-ACK rate and out-of-order rate, per 100 data segments;
- zero window: the longest time one side kept its window at zero (a duration, so that a
  zero window lasting microseconds at local speed is not a problem, and a receiver stuck
  for seconds is);
- handshake failures: SYNs that never got a SYN/ACK, per 100 streams whose SYN was seen.

Rates over fewer than ``l4.min_data_segments`` data segments are reported but not graded.
"lost segments" (previous segment not captured) are reported, never graded: they say
what the capture missed, not what the network did.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .layers import LayerAssessment
from .tcp import TcpAnalysis
from .thresholds import Thresholds, grade_lower_is_better, worst_grade

__all__ = ["assess_l4"]


def _grade(th: Mapping[str, float], prefix: str, value: float | None) -> str:
    return grade_lower_is_better(
        value, [th[f"{prefix}.excellent"], th[f"{prefix}.good"], th[f"{prefix}.fair"]])


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def assess_l4(analysis: TcpAnalysis | None,
              thresholds: Mapping[str, float] | None = None, facts=None) -> LayerAssessment:
    th = thresholds if thresholds is not None else Thresholds()
    if analysis is None or analysis.n_streams == 0:
        return LayerAssessment("unknown", {"reason": "no TCP stream in the capture", "streams": 0})
    f = analysis.flows

    def total(name: str) -> int:
        return int(np.sum(f[name]))

    # per wire segment (a GRO/TSO super-frame counts as its payload over the MSS, facts.py)
    data = facts.total_segments if facts is not None and facts.repairs is not None \
        else total("data_packets")
    retrans = total("retransmissions")
    # Graded: data segments sent again. A retransmitted FIN or bare ACK after the transfer
    # (Wireshark flags those too) costs the user nothing; it is reported, not graded.
    data_retrans = int((analysis.has("tcp.analysis.retransmission")
                        & (analysis.payload_len > 0)).sum())
    # With the repairs classified (cnfpost/repairs.py), only those the receiver needed are
    # graded: needless copies and late arrivals are not loss.
    repairs = facts.repairs if facts is not None else None
    graded_retrans = data_retrans if repairs is None else sum(facts.repair_segments.values())
    stalls = () if facts is None else facts.stalls
    dupacks = total("dup_acks")
    ooo = total("out_of_order")
    enough = data >= th["l4.min_data_segments"]

    def rate(count: int) -> float | None:
        return 100.0 * count / data if data else None

    attempted = int(np.count_nonzero(f["syn_count"] > 0))
    failed = int(np.count_nonzero((f["handshake"] == 2) | (f["handshake"] == 3)))
    fail_pct = 100.0 * failed / attempted if attempted else None
    zw_max_ms = float(f["zero_window_max_ns"].max()) / 1e6
    irtt = f["irtt_ns"][f["irtt_ns"] > 0]

    grades = {
        "retransmissions": _grade(th, "l4.retrans_pct", rate(graded_retrans)) if enough
        else "unknown",
        "dup_acks": _grade(th, "l4.dupack_pct", rate(dupacks)) if enough else "unknown",
        "out_of_order": _grade(th, "l4.ooo_pct", rate(ooo)) if enough else "unknown",
        "zero_window": _grade(th, "l4.zero_window_ms", zw_max_ms),
        "handshake": _grade(th, "l4.handshake_fail_pct", fail_pct),
        # a stall is never excellent: poor from find.stall_ms.critical
        "stalls": "excellent" if not stalls else
        ("poor" if max(s.duration_ms for s in stalls) >= th["find.stall_ms.critical"]
         else "fair"),
        # each SYN retry costs a retransmission timeout (1 s): the connect was slow
        "syn_retries": "excellent" if not int(np.sum(f["syn_retries"])) else "fair",
    }
    notes = []
    if not enough:
        notes.append(f"only {data} data segments: rates are not graded "
                     f"(l4.min_data_segments = {th['l4.min_data_segments']:g})")
    metrics = {
        "streams": analysis.n_streams,
        "packets": total("packets_c2s") + total("packets_s2c"),
        "data_segments": data,
        "bytes": total("bytes_c2s") + total("bytes_s2c"),
        "retransmissions": retrans,
        "fast_retransmissions": total("fast_retransmissions"),
        "spurious_retransmissions": total("spurious_retransmissions"),
        "data_retransmissions": data_retrans,
        "retransmission_rate_pct": _r(rate(graded_retrans)),
        "repaired_segments": graded_retrans,
        "spurious_copies": None if repairs is None else repairs.count("copy"),
        "late_arrivals": None if repairs is None else repairs.count("reordered"),
        "stalls": len(stalls),
        "stall_max_ms": _r(max((s.duration_ms for s in stalls), default=0.0)),
        "dup_acks": dupacks,
        "dup_ack_rate_pct": _r(rate(dupacks)),
        "out_of_order": ooo,
        "out_of_order_rate_pct": _r(rate(ooo)),
        "lost_segments": total("lost_segments"),
        "acked_unseen": total("acked_unseen"),
        "zero_windows": total("zero_windows"),
        "zero_window_max_ms": _r(zw_max_ms),
        "zero_window_total_ms": _r(total("zero_window_ns") / 1e6),
        "window_full": total("window_full"),
        "handshakes_attempted": attempted,
        "handshakes_failed": failed,
        "handshake_failure_pct": _r(fail_pct),
        "syn_retries": total("syn_retries"),
        "irtt_median_ms": _r(np.median(irtt) / 1e6) if irtt.size else None,
        "irtt_max_ms": _r(irtt.max() / 1e6) if irtt.size else None,
        "resets": int(np.count_nonzero(f["end"] == 2)),
        "grades": grades,
        "notes": notes,
    }
    return LayerAssessment(worst_grade(grades.values()), metrics)
