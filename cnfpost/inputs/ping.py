"""ping output: iputils (Linux, with or without ``-D``), BusyBox, BSD and macOS.

What each prints is in formats.md (c). The parser reads line by line:

- replies ``64 bytes from ADDR: icmp_seq=N ttl=T time=R ms`` (BusyBox ``seq=``, BSD/macOS
  IPv6 ``hlim=``), optionally prefixed by ``[epoch.us]`` (iputils ``-D``) and suffixed by
  ``(DUP!)`` and friends;
- errors ``From ADDR icmp_seq=N Destination Host Unreachable`` (iputils), ``92 bytes from
  ADDR: Destination Host Unreachable`` plus an IP header dump (BSD), ``ping: ...``;
- explicit losses ``Request timeout for icmp_seq N`` (BSD), ``no answer yet for
  icmp_seq=N`` (iputils ``-O``);
- the summary: ``N packets transmitted, M [packets ]received[, +D duplicates][, +E
  errors], L% packet loss[, time Tms]`` and ``rtt|round-trip min/avg/max[/mdev|stddev]``.

Lost sequence numbers are the ones expected (first sequence number up to the number
transmitted) that no reply carries. When the per-probe lines and the summary disagree
(a reply line missing from a cut log, a summary from another run), the run says so in
``disagreements``: the per-probe lines are what the statistics are computed from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike

from ..errors import InputError, Problem
from . import RttStats, as_text, first_line_got, ms, read_input, rtt_stats, skipped_lines

__all__ = ["PingProbe", "PingError", "PingSummary", "PingRun", "parse_ping", "load_ping"]

EXPECTED = "ping output (iputils, BusyBox, BSD or macOS)"

_TS = r"(?:\[(?P<ts>\d+\.\d+)\]\s*)?"
# iputils 20221126 with -4 against a name that also has an AAAA record prints an empty
# name: "PING  (198.18.3.2) 56(84) bytes of data." and "---  ping statistics ---".
_HEADER = re.compile(_TS + r"PING (?P<target>\S*?) ?\((?P<addr>[^)]*)\)")
# macOS/BSD ping6: "PING6(56=40+8+8 bytes) 2001:db8::5 --> 2001:db8::10"
_HEADER6 = re.compile(r"PING6\(.*\) \S+ --> (?P<target>\S+)")
# iputils extras after the counts: "pipe N", "ipg/ewma A/B ms"
_EXTRA = re.compile(r"(?:pipe \d+|ipg/ewma [\d./]+ ms)$")
_REPLY = re.compile(
    _TS + r"(?P<bytes>\d+) bytes from (?P<src>.+?)[:,] (?P<seqkey>icmp_seq|seq)=(?P<seq>\d+)"
    r"(?: ttl=(?P<ttl>\d+)| hlim=(?P<hlim>\d+))?(?: time[=<](?P<rtt>\d+(?:\.\d+)?) ?ms)?"
    r"(?P<rest>.*)$")
_FROM_ERROR = re.compile(_TS + r"From (?P<src>\S+?)(?: \([^)]*\))?:? icmp_seq=(?P<seq>\d+) "
                         r"(?P<msg>.+)$")
_BSD_ERROR = re.compile(r"(?P<bytes>\d+) bytes from (?P<src>.+?): (?P<msg>[A-Z][^=]+)$")
_TIMEOUT = re.compile(_TS + r"(?:Request timeout for icmp_seq (?P<bsd>\d+)|"
                      r"no answer yet for icmp_seq=(?P<linux>\d+))")
_STATS_HEAD = re.compile(r"--- (?P<target>.*?) ?ping6? statistics ---")
_RTT_LINE = re.compile(r"(?:rtt|round-trip) min/avg/max(?:/(?:mdev|stddev|std-dev))? = "
                       r"(?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)(?:/(?P<mdev>[\d.]+))? ms")
# BSD prints the quoted IP header after an error; nothing in it is needed.
_BSD_DUMP = re.compile(r"^(?:Vr HL TOS|\s*[0-9a-f]{1,4}(?:\s+[0-9a-f]{1,4})+\s*$|"
                       r"\s*\d\s+\d\s+[0-9a-f]{2}\s)")
_SUFFIXES = ("DUP!", "BAD CHECKSUM!", "DIFFERENT ADDRESS!", "truncated")
SEQ_MOD = 1 << 16  # ICMP sequence numbers are 16 bits and wrap on long runs


@dataclass(frozen=True)
class PingProbe:
    seq: int                  # as printed, unwrapped past 65535 on long runs
    rtt_ms: float | None      # None: a reply without time (payload too short for a timestamp)
    ttl: int | None
    source: str
    bytes: int
    ts_s: float | None        # iputils -D: epoch seconds when the reply was printed
    duplicate: bool
    flags: tuple[str, ...]    # other suffixes: BAD CHECKSUM!, DIFFERENT ADDRESS!, truncated

    def to_dict(self) -> dict:
        return {"seq": self.seq, "rtt_ms": ms(self.rtt_ms), "ttl": self.ttl,
                "source": self.source, "ts_s": self.ts_s, "duplicate": self.duplicate,
                "flags": list(self.flags)}


@dataclass(frozen=True)
class PingError:
    seq: int | None
    source: str | None
    message: str

    def to_dict(self) -> dict:
        return {"seq": self.seq, "source": self.source, "message": self.message}


@dataclass(frozen=True)
class PingSummary:
    transmitted: int
    received: int
    duplicates: int
    errors: int
    loss_pct: float
    time_ms: float | None
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    mdev_ms: float | None

    def to_dict(self) -> dict:
        return {"transmitted": self.transmitted, "received": self.received,
                "duplicates": self.duplicates, "errors": self.errors,
                "loss_pct": self.loss_pct, "time_ms": ms(self.time_ms),
                "min_ms": ms(self.min_ms), "avg_ms": ms(self.avg_ms),
                "max_ms": ms(self.max_ms), "mdev_ms": ms(self.mdev_ms)}


@dataclass(frozen=True)
class PingRun:
    flavor: str                      # iputils | busybox | bsd
    target: str | None
    address: str | None
    probes: tuple[PingProbe, ...]    # every reply line, in print order (duplicates included)
    errors: tuple[PingError, ...]
    lost_seqs: tuple[int, ...]
    summary: PingSummary | None
    disagreements: tuple[str, ...]

    @property
    def replies(self) -> tuple[PingProbe, ...]:
        """First reply per sequence number, in sequence order: the probes that count."""
        seen: dict[int, PingProbe] = {}
        for probe in self.probes:
            if not probe.duplicate and probe.seq not in seen:
                seen[probe.seq] = probe
        return tuple(seen[s] for s in sorted(seen))

    @property
    def sent(self) -> int | None:
        """Probes sent: what the lines show, or the summary's count when that is more."""
        shown = len(self.replies) + len(self.lost_seqs)
        if self.summary is not None:
            return max(self.summary.transmitted, shown)
        return shown or None

    @property
    def lost(self) -> int | None:
        if self.summary is not None and not self.probes:
            return self.summary.transmitted - self.summary.received  # ping -q: summary only
        return None if self.sent is None else len(self.lost_seqs)

    @property
    def loss_pct(self) -> float | None:
        if not self.sent:
            return None
        return 100.0 * (self.lost or 0) / self.sent

    @property
    def duplicates(self) -> int:
        return sum(1 for p in self.probes if p.duplicate)

    @property
    def stats(self) -> RttStats:
        """RTT statistics of the first reply per sequence number (jitter in sequence order).

        With no reply lines (``ping -q``) the summary's figures are used, jitter unknown.
        """
        rtts = [p.rtt_ms for p in self.replies if p.rtt_ms is not None]
        if rtts or self.summary is None or self.summary.avg_ms is None:
            return rtt_stats(rtts)
        s = self.summary
        return RttStats(s.received, s.min_ms, s.avg_ms, s.max_ms, s.mdev_ms, None)

    def to_dict(self) -> dict:
        return {
            "flavor": self.flavor,
            "target": self.target,
            "address": self.address,
            "sent": self.sent,
            "lost": self.lost,
            "loss_pct": None if self.loss_pct is None else round(self.loss_pct, 3),
            "duplicates": self.duplicates,
            "stats": self.stats.to_dict(),
            "lost_seqs": list(self.lost_seqs),
            "errors": [e.to_dict() for e in self.errors],
            "summary": None if self.summary is None else self.summary.to_dict(),
            "disagreements": list(self.disagreements),
            "probes": [p.to_dict() for p in self.probes],
        }


# ----------------------------------------------------------------------------------------

class _Seq:
    """Unwraps 16-bit sequence numbers: a drop of more than half the space is a wrap."""

    def __init__(self) -> None:
        self.base = 0
        self.last: int | None = None

    def __call__(self, printed: int) -> int:
        value = self.base + printed
        if self.last is not None and value < self.last - SEQ_MOD // 2:
            self.base += SEQ_MOD
            value += SEQ_MOD
        self.last = max(self.last or value, value)
        return value


def _summary_counts(line: str) -> dict[str, float] | None:
    """The counts line, split on ', ' so every platform's order and wording fits."""
    if "packets transmitted" not in line:
        return None
    out: dict[str, float] = {}
    for part in line.replace("+", "").split(","):
        part = part.strip()
        patterns = {
            "transmitted": r"(\d+) packets transmitted",
            "received": r"(\d+) (?:packets )?received",
            "duplicates": r"(\d+) duplicates",
            "corrupted": r"(\d+) corrupted",
            "errors": r"(\d+) errors",
            "loss_pct": r"([\d.]+)% packet loss",
            "time_ms": r"time (\d+(?:\.\d+)?) ?ms",
        }
        for key, pattern in patterns.items():
            m = re.fullmatch(pattern, part)
            if m:
                out[key] = float(m.group(1))
        # Old FreeBSD: "+2 duplicates, 0% packet loss" can share one part; catch it too.
        m = re.search(r"(\d+) duplicates", part)
        if m and "duplicates" not in out:
            out["duplicates"] = float(m.group(1))
    if "transmitted" not in out or "received" not in out:
        return None
    return out


def parse_ping(data: str | bytes, path: str = "<ping>") -> tuple[PingRun, list[Problem]]:
    """A ping run from its printed output, and the problems met (lines not understood)."""
    text = as_text(data, path, EXPECTED)
    target = address = None
    probes: list[PingProbe] = []
    errors: list[PingError] = []
    timeouts: set[int] = set()
    counts: dict[str, float] | None = None
    rtt_line: re.Match | None = None
    flavor_hints: set[str] = set()
    bad: list[tuple[int, str]] = []
    unwrap = _Seq()
    after_bsd_error = False
    recognised = 0

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if after_bsd_error and _BSD_DUMP.match(raw):
            continue
        after_bsd_error = False
        if m := _REPLY.match(line):
            seq = unwrap(int(m["seq"]))
            rest = m["rest"]
            flags = tuple(s for s in _SUFFIXES if f"({s})" in rest)
            flavor_hints.add("busybox" if m["seqkey"] == "seq" else "icmp_seq")
            probes.append(PingProbe(
                seq=seq, rtt_ms=float(m["rtt"]) if m["rtt"] else None,
                ttl=int(m["ttl"] or m["hlim"]) if (m["ttl"] or m["hlim"]) else None,
                source=m["src"].strip(), bytes=int(m["bytes"]),
                ts_s=float(m["ts"]) if m["ts"] else None,
                duplicate="DUP!" in flags, flags=tuple(f for f in flags if f != "DUP!")))
        elif m := _FROM_ERROR.match(line):
            errors.append(PingError(unwrap(int(m["seq"])), m["src"], m["msg"].strip()))
        elif m := _TIMEOUT.match(line):
            seq = m["bsd"] or m["linux"]
            timeouts.add(unwrap(int(seq)))
            flavor_hints.add("bsd" if m["bsd"] else "icmp_seq")
        elif m := _HEADER.match(line):
            target, address = m["target"] or None, m["addr"] or None
            # iputils: "56(84) bytes of data"; BusyBox/BSD: "56 data bytes"
            flavor_hints.add("bytes_of_data" if "bytes of data" in line else "data_bytes")
        elif m := _HEADER6.match(line):
            target = address = m["target"]
            flavor_hints.add("bsd")
        elif _EXTRA.match(line):
            pass
        elif m := _STATS_HEAD.match(line):
            target = target or m["target"] or None
        elif (parsed := _summary_counts(line)) is not None:
            counts = parsed
            flavor_hints.add("packets_received" if "packets received" in line else "received")
        elif m := _RTT_LINE.match(line):
            rtt_line = m
            flavor_hints.add("round-trip" if line.startswith("round-trip") else "rtt")
        elif m := _BSD_ERROR.match(line):
            errors.append(PingError(None, m["src"], m["msg"].strip()))
            after_bsd_error = True
            flavor_hints.add("bsd")
        elif line.startswith("ping: ") or line.startswith("ping6: "):
            errors.append(PingError(None, None, line.split(": ", 1)[1]))
        else:
            bad.append((number, raw))
            continue
        recognised += 1

    problems = skipped_lines(path, bad, EXPECTED.replace("output", "line"))
    if not recognised or (not probes and counts is None and not errors and target is None):
        place, got = first_line_got(text)
        raise InputError(path, place, EXPECTED, got)

    summary = _summary(counts, rtt_line)
    flavor = _flavor(flavor_hints)
    first_seq = 1 if flavor == "iputils" else 0
    lost = _lost_seqs(probes, timeouts, errors, summary, first_seq)
    run = PingRun(flavor=flavor, target=target, address=address, probes=tuple(probes),
                  errors=tuple(errors), lost_seqs=lost, summary=summary, disagreements=())
    return _with_disagreements(run), problems


def _summary(counts: dict[str, float] | None, rtt_line: re.Match | None) -> PingSummary | None:
    if counts is None:
        return None
    transmitted, received = int(counts["transmitted"]), int(counts["received"])

    def rtt(key: str) -> float | None:
        return float(rtt_line[key]) if rtt_line is not None and rtt_line[key] else None

    loss = counts.get("loss_pct")
    if loss is None:
        loss = 100.0 * (transmitted - received) / transmitted if transmitted else 0.0
    return PingSummary(transmitted, received, int(counts.get("duplicates", 0)),
                       int(counts.get("errors", 0)), loss, counts.get("time_ms"),
                       rtt("min"), rtt("avg"), rtt("max"), rtt("mdev"))


def _flavor(hints: set[str]) -> str:
    """iputils, BusyBox or BSD, from wording only these print (formats.md (c))."""
    if "busybox" in hints:
        return "busybox"
    if "bsd" in hints or ("round-trip" in hints and "icmp_seq" in hints) or (
            "packets_received" in hints and "icmp_seq" in hints):
        return "bsd"
    if "round-trip" in hints or ("data_bytes" in hints and "packets_received" in hints
                                 and "icmp_seq" not in hints):
        return "busybox"
    return "iputils"


def _lost_seqs(probes: list[PingProbe], timeouts: set[int], errors: list[PingError],
               summary: PingSummary | None, first_seq: int) -> tuple[int, ...]:
    if not probes and not timeouts and not errors:
        return ()  # ping -q: only the summary; which probes were lost is not known
    received = {p.seq for p in probes if not p.duplicate}
    if probes:
        first_seq = min(first_seq, min(p.seq for p in probes))
    if summary is not None:
        last = first_seq + summary.transmitted - 1
    else:
        last = max([*received, *timeouts], default=first_seq - 1)
    expected = set(range(first_seq, last + 1)) | timeouts
    return tuple(sorted(expected - received))


def _with_disagreements(run: PingRun) -> PingRun:
    s = run.summary
    if s is None or not run.probes:
        return run  # nothing to compare (no summary, or ping -q printed only the summary)
    notes = []
    received = len(run.replies)
    if s.received != received:
        notes.append(f"summary says {s.received} received, the reply lines show {received}")
    if s.duplicates != run.duplicates:
        notes.append(f"summary says {s.duplicates} duplicates, the reply lines show "
                     f"{run.duplicates}")
    highest = max(p.seq for p in run.probes)
    first = 1 if run.flavor == "iputils" else 0
    if highest - first + 1 > s.transmitted:
        notes.append(f"summary says {s.transmitted} transmitted, yet a reply carries "
                     f"sequence {highest}")
    # The summary's min/max count duplicates too (iputils and BSD alike).
    rtts = [p.rtt_ms for p in run.probes if p.rtt_ms is not None]
    if s.min_ms is not None and s.max_ms is not None and rtts and (
            abs(s.min_ms - min(rtts)) > 0.0015 + 0.01 * s.min_ms
            or abs(s.max_ms - max(rtts)) > 0.0015 + 0.01 * s.max_ms):
        # printed RTTs are rounded (to 3 decimals below 1 ms, to 0.5 % above): allow for that
        notes.append(f"summary min/max {s.min_ms}/{s.max_ms} ms, reply lines "
                     f"{min(rtts):.3f}/{max(rtts):.3f} ms")
    if not notes:
        return run
    return PingRun(run.flavor, run.target, run.address, run.probes, run.errors, run.lost_seqs,
                   run.summary, tuple(notes))


def load_ping(path: str | PathLike) -> tuple[PingRun, list[Problem]]:
    return parse_ping(read_input(path), str(path))
