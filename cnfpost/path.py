"""The path as mtr saw it, judged hop by hop (L3): where loss starts and carries on to the
target (real loss) and where it does not (a router limiting its own ICMP replies), silent
hops, a latency step that later hops keep. The parser (cnfpost/inputs/mtr.py) only reads
mtr's output; the judgement and its thresholds live here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .inputs import ms
from .inputs.mtr import MtrHop, MtrReport
from .thresholds import DEFAULTS

__all__ = ["HopVerdict", "PathAssessment", "assess_path"]


# ----------------------------------------------------------------------------------------
# Reading the path
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HopVerdict:
    ttl: int
    verdict: str       # ok | path_loss | icmp_rate_limit | silent | latency_step | slow_icmp_reply
    detail: str

    def to_dict(self) -> dict:
        return {"ttl": self.ttl, "verdict": self.verdict, "detail": self.detail}


@dataclass(frozen=True)
class PathAssessment:
    hop_count: int
    destination_reached: bool | None
    destination_loss_pct: float | None   # end-to-end loss as mtr saw it (None: silent target)
    destination_sent: int | None
    destination_avg_ms: float | None
    destination_best_ms: float | None
    path_loss_from_ttl: int | None       # first hop of loss that carries on to the target
    rate_limited_ttls: tuple[int, ...]   # loss that does not carry on: the router's own limit
    silent_ttls: tuple[int, ...]
    silent_final_hop: bool
    latency_step_ttl: int | None         # where latency steps up and stays up
    latency_step_ms: float | None
    multi_responder_ttls: tuple[int, ...]  # raw only: ECMP or a route change during the run
    stable: bool | None                  # None: the input cannot tell (JSON shows one host)
    verdicts: tuple[HopVerdict, ...]

    def to_dict(self) -> dict:
        return {
            "hop_count": self.hop_count,
            "destination_reached": self.destination_reached,
            "destination_loss_pct": self.destination_loss_pct,
            "destination_sent": self.destination_sent,
            "destination_avg_ms": ms(self.destination_avg_ms),
            "destination_best_ms": ms(self.destination_best_ms),
            "path_loss_from_ttl": self.path_loss_from_ttl,
            "rate_limited_ttls": list(self.rate_limited_ttls),
            "silent_ttls": list(self.silent_ttls),
            "silent_final_hop": self.silent_final_hop,
            "latency_step_ttl": self.latency_step_ttl,
            "latency_step_ms": ms(self.latency_step_ms),
            "multi_responder_ttls": list(self.multi_responder_ttls),
            "stable": self.stable,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def _limit(thresholds: Mapping[str, float] | None, name: str) -> float:
    return float((thresholds or {}).get(name, DEFAULTS[name].value))


def assess_path(report: MtrReport, thresholds: Mapping[str, float] | None = None
                ) -> PathAssessment:
    """Per-hop verdicts and the path's story: real loss, rate limiting, latency step."""
    floor = _limit(thresholds, "l3.mtr.loss_floor_pct")
    step_ms = _limit(thresholds, "l3.mtr.latency_step_ms")
    hops = report.hops
    answering = [h for h in hops if not h.silent]
    last = hops[-1] if hops else None
    silent_final = bool(last is not None and last.silent)
    dest_loss = None if (last is None or silent_final) else last.loss_pct

    # Loss carries on from hop i when i and every answering hop after it lost more than
    # the floor, the target included. The earliest such hop is where path loss starts.
    path_from = None
    if dest_loss is not None and dest_loss > floor:
        for i in range(len(answering) - 1, -1, -1):
            if (answering[i].loss_pct or 0.0) > floor:
                path_from = answering[i].ttl
            else:
                break
    verdicts: list[HopVerdict] = []
    rate_limited: list[int] = []
    for hop in hops:
        loss = hop.loss_pct or 0.0
        if hop.silent:
            if hop is not last:
                verdicts.append(HopVerdict(hop.ttl, "silent",
                                           "no reply to any probe, yet later hops answer: the "
                                           "router does not send ICMP time-exceeded; not loss"))
            continue
        if loss <= floor:
            continue
        if path_from is not None and hop.ttl >= path_from:
            excess = loss - (dest_loss or 0.0)
            if hop is not last and excess > floor and loss > 2 * (dest_loss or 0.0):
                rate_limited.append(hop.ttl)
                verdicts.append(HopVerdict(hop.ttl, "icmp_rate_limit",
                                           f"{loss:g}% here but {dest_loss:g}% at the target: "
                                           "the extra loss is this router limiting its replies"))
            else:
                verdicts.append(HopVerdict(hop.ttl, "path_loss",
                                           f"{loss:g}% loss that carries on to the target"))
        else:
            rate_limited.append(hop.ttl)
            verdicts.append(HopVerdict(hop.ttl, "icmp_rate_limit",
                                       f"{loss:g}% loss here that later hops do not show: the "
                                       "router limits the ICMP replies it generates, "
                                       "forwarded traffic is not lost"))
    if silent_final and last is not None:
        verdicts.append(HopVerdict(last.ttl, "silent",
                                   "the last hop never answered: the target (or a firewall "
                                   "before it) drops mtr's probes, so end-to-end loss is unknown"))

    step_ttl, step = _latency_step(answering, step_ms, verdicts)
    multi = tuple(h.ttl for h in hops if len(h.responders) > 1)
    # Only raw input names every responder; without it, stability cannot be told.
    stable = not multi if any(h.responders for h in hops) else None
    verdicts.sort(key=lambda v: v.ttl)
    return PathAssessment(
        hop_count=len(hops),
        destination_reached=report.destination_reached,
        destination_loss_pct=dest_loss,
        destination_sent=None if silent_final or last is None else last.sent,
        destination_avg_ms=None if silent_final or last is None else last.avg_ms,
        destination_best_ms=None if silent_final or last is None else last.best_ms,
        path_loss_from_ttl=path_from,
        rate_limited_ttls=tuple(rate_limited),
        silent_ttls=tuple(h.ttl for h in hops if h.silent),
        silent_final_hop=silent_final,
        latency_step_ttl=step_ttl,
        latency_step_ms=step,
        multi_responder_ttls=multi,
        stable=stable,
        verdicts=tuple(verdicts),
    )


def _latency_step(answering: list[MtrHop], step_ms: float, verdicts: list[HopVerdict]
                  ) -> tuple[int | None, float | None]:
    """The hop where the best RTT rises by step_ms or more and no later hop comes back down.

    Best (minimum) RTT, not the average: a router answering from its slow control plane
    inflates its own average, never the minimum of the hops behind it. A rise that later
    hops do not keep is that router's slow ICMP reply, reported as such.
    """
    best = [(h.ttl, h.best_ms) for h in answering if h.best_ms is not None]
    chosen: tuple[int | None, float | None] = (None, None)
    for i in range(1, len(best)):
        before = best[i - 1][1]
        rise = best[i][1] - before
        if rise < step_ms:
            continue
        kept = min(b for _, b in best[i:]) - before
        ttl = best[i][0]
        if kept >= step_ms:
            verdicts.append(HopVerdict(ttl, "latency_step",
                                       f"best RTT rises {kept:.1f} ms here and stays up to the "
                                       "target"))
            if chosen[1] is None or kept > chosen[1]:
                chosen = (ttl, kept)
        else:
            verdicts.append(HopVerdict(ttl, "slow_icmp_reply",
                                       f"best RTT {rise:.1f} ms higher here only: this router "
                                       "answers slowly, the path behind it is not slower"))
    return chosen
