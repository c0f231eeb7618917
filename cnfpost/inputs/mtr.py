"""mtr output: ``--json`` (0.87 to 0.96) and ``--raw``; per-hop statistics and a path reading.

JSON (formats.md (b)): 0.94+ prints typed values through jansson (``count``/``tests`` ints,
floats with 5 significant digits); 0.87-0.93 printed JSON by hand (``count``/``tests``
strings, ``tos`` a hex string, floats ``%.2f``). Both are read by name and value type is
forgiven where the meaning is clear. ``host`` is ``???`` for a hop that never answered,
an address with ``-n``, a name, or ``name (address)`` with ``-b``; ``ASN`` appears with
``-z``.

Raw: one event per line, ``x hop seq`` (probe sent), ``h hop ip`` (responder, printed
twice per hop by 0.95, traviscross/mtr #499), ``d hop name``, ``p hop rtt_us [seq]``
(reply, microseconds), ``m`` MPLS. Hops are 0-based there. Raw is the only format that
names every responder of a hop, so it is what shows ECMP or a route change.

:func:`assess_path` reads the hops the way an experienced operator does: loss is a path
problem only when it carries on to the destination; loss at an intermediate hop that
later hops do not show is that router rate-limiting its own ICMP replies
(traviscross/mtr #239, PR #605), never a path problem.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, replace
from os import PathLike
from typing import Any, Mapping

import orjson

from ..errors import InputError, Problem, at_line, describe_got, json_pointer
from ..thresholds import DEFAULTS
from . import MAX_INT, as_text, first_line_got, ms, read_input, rtt_stats, skipped_lines

__all__ = [
    "MtrHop",
    "MtrReport",
    "HopVerdict",
    "PathAssessment",
    "parse_mtr",
    "load_mtr",
    "assess_path",
    "with_raw",
]

EXPECTED = "mtr --json or --raw output"
SILENT = "???"
# Default max TTL of mtr (-m 30): a trace that long may have stopped short of the target.
MTR_DEFAULT_MAX_TTL = 30
_STAT_KEYS = {  # JSON key -> MtrHop field (the default -o "LS NABWV")
    "Loss%": "loss_pct", "Snt": "sent", "Last": "last_ms", "Avg": "avg_ms",
    "Best": "best_ms", "Wrst": "worst_ms", "StDev": "stdev_ms",
}
# Other -o fields; kept by name in MtrHop.extra.
_EXTRA_KEYS = ("Drop", "Rcv", "Gmean", "Jttr", "Javg", "Jmax", "Jint")


@dataclass(frozen=True)
class MtrHop:
    ttl: int                         # 1-based hop number
    host: str                        # as mtr printed it; '???' for a silent hop
    address: str | None              # the IP, when host is or contains one
    asn: str | None
    loss_pct: float | None
    sent: int | None
    last_ms: float | None
    avg_ms: float | None
    best_ms: float | None
    worst_ms: float | None
    stdev_ms: float | None
    responders: tuple[str, ...] = ()  # every address seen at this hop (raw input only)
    rtts_ms: tuple[float, ...] = ()   # every reply, in arrival order (raw input only)
    extra: tuple[tuple[str, float], ...] = ()

    @property
    def silent(self) -> bool:
        """The hop never answered (mtr prints ??? and 100 % loss)."""
        return self.host == SILENT or (self.loss_pct is not None and self.loss_pct >= 100.0)

    def to_dict(self) -> dict:
        return {
            "ttl": self.ttl,
            "host": self.host,
            "address": self.address,
            "asn": self.asn,
            "loss_pct": self.loss_pct,
            "sent": self.sent,
            "last_ms": ms(self.last_ms),
            "avg_ms": ms(self.avg_ms),
            "best_ms": ms(self.best_ms),
            "worst_ms": ms(self.worst_ms),
            "stdev_ms": ms(self.stdev_ms),
            "silent": self.silent,
            "responders": list(self.responders),
            **{name: value for name, value in self.extra},
        }


@dataclass(frozen=True)
class MtrReport:
    format: str                      # "json" (0.94+), "json-legacy" (0.87-0.93) or "raw"
    src: str | None
    dst: str | None
    tests: int | None
    hops: tuple[MtrHop, ...]

    @property
    def destination(self) -> MtrHop | None:
        return self.hops[-1] if self.hops else None

    @property
    def destination_reached(self) -> bool | None:
        """Did the target answer? mtr's JSON has no flag for it (mgumz/mtr-exporter #33).

        True when the last hop answered and is the target (by name or address), or answered
        before the max TTL (mtr stops adding hops once the target answers). False when the
        last hop is silent. None when it cannot be told (raw input without a target).
        """
        last = self.destination
        if last is None or last.silent:
            return False if last is not None else None
        if self.dst is not None and self.dst in (last.host, last.address):
            return True
        if self.format == "raw":
            return None
        return len(self.hops) < MTR_DEFAULT_MAX_TTL

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "src": self.src,
            "dst": self.dst,
            "tests": self.tests,
            "destination_reached": self.destination_reached,
            "hops": [hop.to_dict() for hop in self.hops],
        }


# ----------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------

class _BadValue(Exception):
    def __init__(self, expected: str, value: Any):
        super().__init__(expected)
        self.expected, self.value = expected, value


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # 0.87-0.93 quote some numbers
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            raise _BadValue("a number", value) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _BadValue("a number", value)
    if value < 0:
        raise _BadValue("a non-negative number", value)
    return float(value)


def _as_int(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)  # tos is "0x0" in 0.87-0.93
        except ValueError:
            pass
    number = _as_float(value)
    if number is None:
        return None
    if number != int(number) or number > MAX_INT:
        raise _BadValue("an integer", value)
    return int(number)


def _address_of(host: str) -> str | None:
    """The IP in 'a.b.c.d', 'name (a.b.c.d)' or '(error text)' forms, else None."""
    candidate = host
    if host.endswith(")") and "(" in host:
        candidate = host[host.rindex("(") + 1: -1]
    try:
        return str(ipaddress.ip_address(candidate.strip()))
    except ValueError:
        return None


def _hop_from_json(hub: dict, index: int, path: str, problems: list[Problem]) -> MtrHop | None:
    def where(key: str | None = None) -> str:
        return json_pointer("report", "hubs", index, *([key] if key else []))

    host = hub.get("host")
    if not isinstance(host, str) or not host:
        problems.append(Problem(path, where("host"), "a host string", describe_got(host)))
        return None
    try:
        ttl = _as_int(hub.get("count", index + 1))
    except _BadValue as bad:
        problems.append(Problem(path, where("count"), bad.expected, describe_got(bad.value)))
        return None
    values: dict[str, Any] = {}
    for key, name in _STAT_KEYS.items():
        try:
            values[name] = _as_int(hub.get(key)) if name == "sent" else _as_float(hub.get(key))
        except _BadValue as bad:
            problems.append(Problem(path, where(key), bad.expected, describe_got(bad.value)))
            return None
    extra = []
    for key in _EXTRA_KEYS:
        if key in hub:
            try:
                extra.append((key, _as_float(hub[key])))
            except _BadValue as bad:
                problems.append(Problem(path, where(key), bad.expected, describe_got(bad.value)))
    asn = hub.get("ASN")
    return MtrHop(ttl=ttl if ttl is not None else index + 1, host=host,
                  address=_address_of(host), asn=asn if isinstance(asn, str) else None,
                  extra=tuple(extra), **values)


def _parse_json(text: str, path: str, problems: list[Problem]) -> MtrReport:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(path, at_line(exc.lineno), "complete mtr --json output",
                         f"invalid JSON ({exc.msg})") from None
    report = doc.get("report") if isinstance(doc, dict) else None
    if not isinstance(report, dict):
        raise InputError(path, json_pointer("report"), "an mtr --json report object",
                         describe_got(report if isinstance(doc, dict) else doc))
    head = report.get("mtr") if isinstance(report.get("mtr"), dict) else {}
    hubs = report.get("hubs")
    if not isinstance(hubs, list):
        raise InputError(path, json_pointer("report", "hubs"), "a list of hops", describe_got(hubs))
    if not hubs:  # mtr found no hop at all (0.92 printed broken JSON for this case)
        problems.append(Problem(path, json_pointer("report", "hubs"), "at least one hop",
                                "an empty list"))
    hops = []
    for index, hub in enumerate(hubs):
        if not isinstance(hub, dict):
            problems.append(Problem(path, json_pointer("report", "hubs", index), "a hop object",
                                    describe_got(hub)))
            continue
        hop = _hop_from_json(hub, index, path, problems)
        if hop is not None:
            hops.append(hop)
    # 0.87-0.93 print count/tests as strings; typed ints mean jansson (0.94+).
    legacy = isinstance(head.get("tests"), str) or any(
        isinstance(h.get("count"), str) for h in hubs if isinstance(h, dict))
    try:
        tests = _as_int(head.get("tests"))
    except _BadValue as bad:
        problems.append(Problem(path, json_pointer("report", "mtr", "tests"), bad.expected,
                                describe_got(bad.value)))
        tests = None
    src, dst = head.get("src"), head.get("dst")
    return MtrReport(format="json-legacy" if legacy else "json",
                     src=src if isinstance(src, str) else None,
                     dst=dst if isinstance(dst, str) else None,
                     tests=tests, hops=tuple(hops))


# ----------------------------------------------------------------------------------------
# Raw
# ----------------------------------------------------------------------------------------

def _parse_raw(text: str, path: str, problems: list[Problem]) -> MtrReport:
    sent: dict[int, int] = {}
    responders: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    rtts: dict[int, list[float]] = {}
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        kind = fields[0]
        try:
            hop = int(fields[1]) if len(fields) > 1 else -1
        except ValueError:
            hop = -1
        if hop < 0 or hop > 255:
            bad.append((number, line))
            continue
        if kind == "x" and len(fields) == 3:
            sent[hop] = sent.get(hop, 0) + 1
        elif kind == "h" and len(fields) == 3:
            seen = responders.setdefault(hop, [])
            if fields[2] not in seen:
                seen.append(fields[2])
        elif kind == "d" and len(fields) == 3:
            names.setdefault(hop, fields[2])
        elif kind == "p" and len(fields) in (3, 4) and fields[2].isdigit():
            rtts.setdefault(hop, []).append(int(fields[2]) / 1000.0)
        elif kind == "m":
            continue  # MPLS labels (-e): not used
        else:
            bad.append((number, line))
    problems.extend(skipped_lines(path, bad, "an mtr --raw line (x, h, d, p or m)"))
    if not (sent or responders or rtts):
        place, got = first_line_got(text)
        raise InputError(path, place, EXPECTED, got)

    last = max([*sent, *responders, *rtts])
    hops = [_raw_hop(i, sent.get(i), responders.get(i, []), names.get(i), rtts.get(i, []))
            for i in range(last + 1)]
    # mtr probes a few TTLs past the target; the target answers those too. The path ends
    # at the first hop that answered with the same address set as the hops after it.
    while len(hops) > 1 and hops[-1].responders and hops[-1].responders == hops[-2].responders:
        hops.pop()
    return MtrReport(format="raw", src=None, dst=None, tests=max(sent.values(), default=None),
                     hops=tuple(hops))


def _raw_hop(index: int, sent: int | None, responders: list[str], name: str | None,
             rtts: list[float]) -> MtrHop:
    stats = rtt_stats(rtts)
    loss = None
    if sent:
        loss = round(100.0 * max(0, sent - len(rtts)) / sent, 1)
    host = name or (responders[0] if responders else SILENT)
    # mtr's StDev is the sample standard deviation (n-1); rtt_stats gives the population one.
    stdev = None
    if stats.count >= 2:
        stdev = stats.mdev_ms * math.sqrt(stats.count / (stats.count - 1))
    return MtrHop(ttl=index + 1, host=host, address=responders[0] if responders else None,
                  asn=None, loss_pct=loss, sent=sent, last_ms=rtts[-1] if rtts else None,
                  avg_ms=stats.avg_ms, best_ms=stats.min_ms, worst_ms=stats.max_ms,
                  stdev_ms=stdev if stats.count >= 2 else (0.0 if stats.count else None),
                  responders=tuple(responders), rtts_ms=tuple(rtts))


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------

def parse_mtr(data: str | bytes, path: str = "<mtr>") -> tuple[MtrReport, list[Problem]]:
    """An mtr report from ``--json`` or ``--raw`` output, and the problems met."""
    text = as_text(data, path, EXPECTED)
    problems: list[Problem] = []
    if text.lstrip().startswith(("{", "[")):
        return _parse_json(text, path, problems), problems
    return _parse_raw(text, path, problems), problems


def load_mtr(path: str | PathLike) -> tuple[MtrReport, list[Problem]]:
    return parse_mtr(read_input(path), str(path))


def with_raw(report: MtrReport, raw: MtrReport) -> MtrReport:
    """The JSON report's hops, with every responder and reply of a ``--raw`` run added.

    A bundle may hold both: JSON names the hops (and their ASNs), raw is the only one that
    shows several routers answering at one TTL. Hops are matched by TTL.
    """
    by_ttl = {hop.ttl: hop for hop in raw.hops}
    hops = tuple(replace(hop, responders=by_ttl[hop.ttl].responders,
                         rtts_ms=by_ttl[hop.ttl].rtts_ms) if hop.ttl in by_ttl else hop
                 for hop in report.hops)
    return replace(report, format=f"{report.format}+raw", hops=hops)


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
