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
from typing import Any

import orjson

from ..errors import InputError, Problem, at_line, describe_got, json_pointer
from . import MAX_INT, as_text, first_line_got, ms, read_input, rtt_stats, skipped_lines

__all__ = [
    "MtrHop",
    "MtrReport",
    "parse_mtr",
    "load_mtr",
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
