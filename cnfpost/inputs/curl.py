"""curl ``-w '%{json}'`` timings: per-sample phases and identity.

Input: one ``%{json}`` object per line (curl >= 7.70), or a JSON array of them, or one
(possibly pretty-printed) object. Keys are read by name: unknown keys are ignored
(``certs`` can be kilobytes of PEM) and missing optional keys are tolerated (7.88 has no
``time_posttransfer``; 7.70-7.74 have no ``exitcode``). Only ``time_total`` is required.

curl's ``time_*`` values are offsets from the start of the request, not durations
(formats.md (a)). The phases are the differences of consecutive offsets::

    dns      = namelookup
    tcp      = connect - namelookup
    tls      = appconnect - connect
    request  = pretransfer - max(connect, appconnect)
    server   = starttransfer - pretransfer        (the TTFB wait)
    download = total - starttransfer

computed as a walk over the offsets, so that no phase is ever negative:

- a reused connection (``num_connects`` 0, ``time_connect`` 0) has dns/tcp/tls ``reused``,
  not 0 ms;
- plain http (``time_appconnect`` 0) has tls ``absent``: no TLS happened;
- HTTP/3 has tcp ``absent``: QUIC has no TCP handshake, its handshake is the tls phase
  (curl #11507: ``time_connect`` 0 for HTTP/3);
- a failure (``exitcode`` != 0, or a timer that was never reached: curl floors every
  reached timer to 1 us, so 0 means "not reached") makes the phase that did not finish
  and every later one ``absent``; ``failed_phase`` and the error message say where;
- a redirect chain (``num_redirects`` > 0): curl adds each leg's timers together (since
  7.56.0), so the phases are sums over the legs, and the local/remote address is the last
  connection's. The sample says so in ``notes``.

URLs are redacted before they are stored (see :func:`redact_url`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any


from ..errors import InputError, Problem, at_line, describe_got, json_pointer
from ..urls import redact_url
from ..vocab import PHASE_IDS
from . import MAX_INT, as_text, loads_json, ms, read_input, skipped_lines

__all__ = [
    "PHASE_IDS",
    "Phase",
    "CurlSample",
    "WallClock",
    "parse_curl",
    "load_curl",
    "parse_wallclock",
    "attach_wallclock",
    "compute_phases",
    "redact_url",
    "WALLCLOCK_NAME",
]

MEASURED, REUSED, ABSENT = "measured", "reused", "absent"
WALLCLOCK_NAME = "timings_wallclock.jsonl"
EXPECTED = "curl -w '%{json}' output"
EXPECTED_OBJECT = "a curl -w '%{json}' object"

# The offsets the phases end at, in phase order.
_TIMERS = ("time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
           "time_starttransfer", "time_total")
# Larger numbers are corrupt, and would overflow the capture's int64 nanosecond clock.
MAX_TIMER_S = 10**6          # curl's timers: 11.6 days is no request a probe makes
MAX_EPOCH_S = 2**33          # wall-clock starts and ends: the year 2242
MAX_PORT = 65535


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One phase of one request, on the request's own clock (0 = curl started it)."""

    id: str
    start_ms: float | None     # None when the phase did not happen in this request
    duration_ms: float | None
    status: str                # measured | reused | absent
    share_pct: float | None    # duration as a share of time_total, for measured phases

    def to_dict(self) -> dict:
        return {
            "start_ms": ms(self.start_ms),
            "duration_ms": ms(self.duration_ms),
            "status": self.status,
            "share_pct": None if self.share_pct is None else round(self.share_pct, 3),
        }


@dataclass(frozen=True)
class WallClock:
    """One line of the collector's timings_wallclock.jsonl: one curl process."""

    sample: int
    url: str | None            # redacted
    start_s: float             # epoch seconds, taken just before curl started
    end_s: float               # ... and just after it ended
    exit_code: int | None


@dataclass(frozen=True)
class CurlSample:
    """One curl transfer: who it talked to, how it ended, and its phases."""

    index: int                 # 1-based, in file order
    place: str                 # where in the file: "line 3" or "/2"
    url: str | None            # redacted
    url_effective: str | None  # redacted
    redirect_url: str | None   # redacted; set only when curl did not follow a redirect
    urlnum: int | None
    scheme: str | None         # lower case
    method: str | None
    http_version: str | None   # "0" none, "1" (1.0), "1.1", "2", "3"
    response_code: int | None
    remote_ip: str | None
    remote_port: int | None
    local_ip: str | None
    local_port: int | None     # with remote_ip:port, the key to the TCP stream in the capture
    num_connects: int | None
    num_redirects: int | None
    size_download: int | None
    size_upload: int | None
    size_header: int | None
    size_request: int | None
    speed_download: float | None   # bytes per second
    speed_upload: float | None
    exit_code: int | None
    error: str | None
    total_ms: float
    redirect_ms: float | None
    phases: dict[str, Phase]
    failed_phase: str | None
    notes: tuple[str, ...] = ()
    curl_version: str | None = None
    wall_start_s: float | None = None
    wall_end_s: float | None = None

    @property
    def ok(self) -> bool:
        """The transfer completed (curl's view: any HTTP status counts as complete)."""
        return self.failed_phase is None and self.exit_code in (0, None)

    @property
    def ttfb_ms(self) -> float | None:
        """time_starttransfer: from start to the first response byte (None if none came)."""
        server = self.phases["server"]
        if server.status != MEASURED:
            return None
        return server.start_ms + server.duration_ms

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "url": self.url,
            "url_effective": self.url_effective,
            "redirect_url": self.redirect_url,
            "urlnum": self.urlnum,
            "scheme": self.scheme,
            "method": self.method,
            "http_version": self.http_version,
            "response_code": self.response_code,
            "remote_ip": self.remote_ip,
            "remote_port": self.remote_port,
            "local_ip": self.local_ip,
            "local_port": self.local_port,
            "num_connects": self.num_connects,
            "num_redirects": self.num_redirects,
            "size_download": self.size_download,
            "size_upload": self.size_upload,
            "size_header": self.size_header,
            "size_request": self.size_request,
            "speed_download_bytes_per_s": self.speed_download,
            "speed_upload_bytes_per_s": self.speed_upload,
            "exit_code": self.exit_code,
            "error": self.error,
            "ok": self.ok,
            "failed_phase": self.failed_phase,
            "total_ms": ms(self.total_ms),
            "ttfb_ms": ms(self.ttfb_ms),
            "redirect_ms": ms(self.redirect_ms),
            "wall_start_s": None if self.wall_start_s is None else round(self.wall_start_s, 6),
            "wall_end_s": None if self.wall_end_s is None else round(self.wall_end_s, 6),
            "phases": {pid: self.phases[pid].to_dict() for pid in PHASE_IDS},
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------
# Phases
# ----------------------------------------------------------------------------------------

def _us(seconds: float | None) -> int | None:
    """curl prints whole microseconds (%u.%06u); integers keep the differences exact."""
    return None if seconds is None else int(round(seconds * 1_000_000))


def compute_phases(times: dict[str, float | None], *, failed: bool, reused: bool,
                   tls: bool | None, quic: bool
                   ) -> tuple[dict[str, Phase], str | None, list[str]]:
    """Phases from curl's offsets (seconds). Returns (phases, failed_phase, notes).

    ``tls`` says whether the scheme uses TLS (None: unknown, decided by appconnect).
    """
    t = {name: _us(times.get(name)) for name in _TIMERS}
    total = t["time_total"] or 0
    nl, conn, app = t["time_namelookup"], t["time_connect"], t["time_appconnect"]
    notes: list[str] = []
    if tls is None:
        tls = bool(app)

    # (phase id, end offset in us or None if not reached, status if not measured)
    plan: list[tuple[str, int | None, str | None]] = []
    if reused:
        plan += [("dns", None, REUSED), ("tcp", None, REUSED), ("tls", None, REUSED)]
        notes.append("connection reused: no DNS, TCP or TLS in this request")
    else:
        plan.append(("dns", nl, None))
        if quic:
            plan.append(("tcp", None, ABSENT))
            plan.append(("tls", max(conn or 0, app or 0), None))
            notes.append("HTTP/3 over QUIC: no TCP handshake; the QUIC handshake is the tls phase")
        else:
            plan.append(("tcp", conn, None))
            if tls:
                plan.append(("tls", app, None))
            else:
                plan.append(("tls", None, ABSENT))
    plan += [("request", t["time_pretransfer"], None), ("server", t["time_starttransfer"], None),
             ("download", t["time_total"] if not failed else None, None)]

    phases: dict[str, Phase] = {}
    cursor = 0
    failed_phase: str | None = None
    for pid, end, fixed in plan:
        if fixed is not None or failed_phase is not None:
            status = fixed if failed_phase is None else ABSENT
            # A reused connection's request starts at 0 (request = pretransfer - max(connect,
            # appconnect) with both 0): curl's cache lookup of the name is part of it.
            phases[pid] = Phase(pid, None, None, status, None)
            continue
        if not end:  # 0 or missing: this offset was never reached
            if failed:
                failed_phase = pid
            else:
                why = "is 0" if _timer_of(pid) in times else "missing"
                notes.append(f"{_timer_of(pid)} {why}: {pid} not measured")
            phases[pid] = Phase(pid, None, None, ABSENT, None)
            continue
        if end < cursor:
            # Only summed redirect legs can do this (a later leg connected, an earlier one
            # negotiated TLS): keep the walk monotonic rather than report a negative phase.
            notes.append(f"{_timer_of(pid)} is before the previous offset: {pid} taken as 0 ms")
            end = cursor
        duration = end - cursor
        share = 100.0 * duration / total if total > 0 else None
        phases[pid] = Phase(pid, cursor / 1000.0, duration / 1000.0, MEASURED, share)
        cursor = end
    return phases, failed_phase, notes


def _timer_of(pid: str) -> str:
    return {"dns": "time_namelookup", "tcp": "time_connect", "tls": "time_appconnect",
            "request": "time_pretransfer", "server": "time_starttransfer",
            "download": "time_total"}[pid]


# ----------------------------------------------------------------------------------------
# Field access with precise problems
# ----------------------------------------------------------------------------------------

class _FieldError(Exception):
    """A field that cannot be used. Out of range (NaN, infinite, absurdly large) means the
    whole object is corrupt: its sample is skipped, not kept without that field."""

    def __init__(self, key: str, expected: str, value: Any, out_of_range: bool = False):
        super().__init__(key)
        self.key, self.expected, self.value = key, expected, value
        self.out_of_range = out_of_range


def _number(obj: dict, key: str, limit: float = MAX_INT) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _FieldError(key, "a number", value)
    if isinstance(value, (int, float)):
        if not (math.isfinite(value) and value <= limit):  # no curl prints NaN or inf
            raise _FieldError(key, f"a number at most {limit:,}", value, out_of_range=True)
        if value < 0:
            raise _FieldError(key, "a non-negative number", value)
        return float(value)
    if isinstance(value, str):  # hand-made -w templates quote numbers
        try:
            return _number({key: float(value)}, key, limit)
        except ValueError:
            pass
    raise _FieldError(key, "a number", value)


def _integer(obj: dict, key: str, limit: int = MAX_INT) -> int | None:
    value = _number(obj, key, limit)
    if value is None:
        return None
    if value != int(value):
        raise _FieldError(key, "an integer", obj.get(key))
    return int(value)


def _port(obj: dict, key: str) -> int | None:
    return _integer(obj, key, MAX_PORT)


def _string(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # http_version written as a bare number by a custom template
    raise _FieldError(key, "a string", value)


# ----------------------------------------------------------------------------------------
# One object -> one sample
# ----------------------------------------------------------------------------------------

def _sample_from_object(obj: dict, index: int, place: str, path: str,
                        problems: list[Problem]) -> CurlSample | None:
    """A sample, or None (with a problem) when its timers are unusable."""

    def problem(err: _FieldError) -> Problem:
        if place.startswith("line"):
            return Problem(path, place, f"{err.expected} at {json_pointer(err.key)}",
                           describe_got(err.value))
        return Problem(path, place.rstrip("/") + json_pointer(err.key), err.expected,
                       describe_got(err.value))

    try:
        times = {name: _number(obj, name, MAX_TIMER_S) for name in _TIMERS if name in obj}
        redirect_s = _number(obj, "time_redirect", MAX_TIMER_S)
    except _FieldError as err:
        problems.append(problem(err))
        return None
    if times.get("time_total") is None:
        problems.append(problem(_FieldError("time_total", "a number (the total time)",
                                            obj.get("time_total", "no such key"))))
        return None

    out_of_range: list[str] = []

    def get(reader, key):
        try:
            return reader(obj, key)
        except _FieldError as err:
            problems.append(problem(err))
            if err.out_of_range:
                out_of_range.append(key)
            return None

    exit_code = get(_integer, "exitcode")
    num_connects = get(_integer, "num_connects")
    num_redirects = get(_integer, "num_redirects")
    http_version = get(_string, "http_version")
    scheme = get(_string, "scheme")
    url = get(_string, "url")
    url_effective = get(_string, "url_effective")
    response_code = get(_integer, "response_code")
    if response_code is None:
        response_code = get(_integer, "http_code")

    starttransfer = times.get("time_starttransfer")
    if exit_code is not None:
        failed = exit_code != 0
    else:
        # Before 7.75 there is no exitcode: no response byte means the transfer failed.
        failed = not starttransfer
    connect = times.get("time_connect") or 0.0
    appconnect = times.get("time_appconnect") or 0.0
    pretransfer = times.get("time_pretransfer") or 0.0
    # Reaching pretransfer without connecting: the request went out on an existing connection.
    reused = connect == 0 and appconnect == 0 and pretransfer > 0 and num_connects in (0, None)
    scheme_name = (scheme or _scheme_of(url_effective or url) or "").lower() or None
    uses_tls = None if scheme_name is None else scheme_name in ("https", "wss", "ftps")
    quic = http_version == "3"

    phases, failed_phase, notes = compute_phases(times, failed=failed, reused=reused,
                                                 tls=uses_tls, quic=quic)
    if exit_code is None and failed:
        notes.append("no exitcode (curl < 7.75): failure inferred from time_starttransfer 0")
    if num_redirects:
        notes.insert(0, f"{num_redirects} redirect(s) followed: curl summed the timers of "
                        f"{num_redirects + 1} requests, so each phase is a sum over the chain, "
                        "and the addresses are the last connection's")
    if num_connects is not None and num_connects > 1:
        notes.append(f"{num_connects} connections opened; only the last one is identified")

    sample = CurlSample(
        index=index,
        place=place,
        url=None if url is None else redact_url(url),
        url_effective=None if url_effective is None else redact_url(url_effective),
        redirect_url=_redacted_or_none(get(_string, "redirect_url")),
        urlnum=get(_integer, "urlnum"),
        scheme=scheme_name,
        method=get(_string, "method"),
        http_version=http_version,
        response_code=response_code,
        remote_ip=get(_string, "remote_ip") or None,
        remote_port=get(_port, "remote_port") or None,
        local_ip=get(_string, "local_ip") or None,
        local_port=get(_port, "local_port") or None,
        num_connects=num_connects,
        num_redirects=num_redirects,
        size_download=get(_integer, "size_download"),
        size_upload=get(_integer, "size_upload"),
        size_header=get(_integer, "size_header"),
        size_request=get(_integer, "size_request"),
        speed_download=get(_number, "speed_download"),
        speed_upload=get(_number, "speed_upload"),
        exit_code=exit_code,
        error=get(_string, "errormsg") or None,
        total_ms=times["time_total"] * 1000.0,
        redirect_ms=None if redirect_s is None else redirect_s * 1000.0,
        phases=phases,
        failed_phase=failed_phase,
        notes=tuple(notes),
        curl_version=get(_string, "curl_version"),
    )
    return None if out_of_range else sample


def _redacted_or_none(url: str | None) -> str | None:
    return redact_url(url) if url else None


def _scheme_of(url: str | None) -> str | None:
    if url and "://" in url:
        return url.split("://", 1)[0]
    return None


# ----------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------

def _objects(text: str, path: str, problems: list[Problem]) -> list[tuple[str, Any]]:
    """(place, value) for every top-level JSON value the input holds."""
    stripped = text.strip()
    if stripped.startswith("["):
        return _array_items(stripped, text, path, problems)
    if stripped.startswith("{") and "\n" in stripped:
        try:  # one pretty-printed object
            value = loads_json(stripped)
        except ValueError:
            pass  # JSON lines, or a broken object: the line walk says which line
        else:
            return [(json_pointer(), value)]
    out = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            out.append((at_line(number), loads_json(line)))
        except ValueError:
            bad.append((number, line))
    problems.extend(skipped_lines(path, bad, EXPECTED_OBJECT))
    return out


def _array_items(stripped: str, text: str, path: str,
                 problems: list[Problem]) -> list[tuple[str, Any]]:
    try:
        value = loads_json(stripped)
    except ValueError:
        pass
    else:
        if isinstance(value, list):
            return [(json_pointer(i), item) for i, item in enumerate(value)]
    # A cut-off array (the collector killed mid-write): keep every complete element.
    decoder = json.JSONDecoder()
    items: list[tuple[str, Any]] = []
    pos = 1
    while True:
        while pos < len(stripped) and stripped[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(stripped) or stripped[pos] == "]":
            rest = stripped[pos + 1:]
            if rest.strip():
                tail = pos + 1 + len(rest) - len(rest.lstrip())
                line = text[: text.find(stripped)].count("\n") + stripped.count("\n", 0, tail) + 1
                problems.append(Problem(path, at_line(line), "nothing after the JSON array",
                                        describe_got(rest.strip())))
            break
        try:
            item, pos = decoder.raw_decode(stripped, pos)
        except json.JSONDecodeError as exc:
            line = text[: text.find(stripped)].count("\n") + exc.lineno
            problems.append(Problem(path, at_line(line),
                                    f"element {len(items)} of a complete JSON array",
                                    f"invalid JSON ({exc.msg})"))
            break
        items.append((json_pointer(len(items)), item))
    return items


def parse_curl(data: str | bytes, path: str = "<timings>"
               ) -> tuple[tuple[CurlSample, ...], list[Problem]]:
    """Samples from curl ``%{json}`` output, and the problems met on the way."""
    text = as_text(data, path, EXPECTED)
    problems: list[Problem] = []
    samples: list[CurlSample] = []
    for place, value in _objects(text, path, problems):
        if not isinstance(value, dict):
            problems.append(Problem(path, place, EXPECTED_OBJECT, describe_got(value)))
            continue
        sample = _sample_from_object(value, len(samples) + 1, place, path, problems)
        if sample is not None:
            samples.append(sample)
    if not samples:
        first = problems[0] if problems else Problem(path, None, EXPECTED, "no JSON object")
        raise InputError(first.path, first.place, first.expected, first.got)
    return tuple(samples), problems


# ----------------------------------------------------------------------------------------
# The wall-clock side file
# ----------------------------------------------------------------------------------------

def parse_wallclock(data: str | bytes, path: str = WALLCLOCK_NAME
                    ) -> tuple[tuple[WallClock, ...], list[Problem]]:
    """timings_wallclock.jsonl: ``{"sample", "url", "wall_start", "wall_end", "curl_exit"}``."""
    text = as_text(data, path, "timings_wallclock.jsonl lines")
    problems: list[Problem] = []
    clocks: list[WallClock] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        place = at_line(number)
        try:
            obj = loads_json(line)
        except ValueError:
            problems.append(Problem(path, place, "a JSON object", describe_got(line)))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(path, place, "a JSON object", describe_got(obj)))
            continue
        try:
            sample = _integer(obj, "sample")
            start = _number(obj, "wall_start", MAX_EPOCH_S)
            end = _number(obj, "wall_end", MAX_EPOCH_S)
            exit_code = _integer(obj, "curl_exit")
            url = _string(obj, "url")
        except _FieldError as err:
            problems.append(Problem(path, place, f"{err.expected} at {json_pointer(err.key)}",
                                    describe_got(err.value)))
            continue
        if sample is None or start is None or end is None or end < start:
            problems.append(Problem(path, place, "sample, wall_start <= wall_end",
                                    describe_got(line)))
            continue
        clocks.append(WallClock(sample, _redacted_or_none(url), start, end, exit_code))
    if not clocks:
        first = problems[0]
        raise InputError(first.path, first.place, first.expected, first.got)
    return tuple(sorted(clocks, key=lambda c: c.sample)), problems


def attach_wallclock(samples: tuple[CurlSample, ...], clocks: tuple[WallClock, ...],
                     path: str = WALLCLOCK_NAME
                     ) -> tuple[tuple[CurlSample, ...], list[Problem]]:
    """Give each sample the wall-clock start/end of the curl run that produced it.

    One curl run can print several samples (several URLs: ``urlnum`` 0, 1, ...), so a run
    starts at each sample whose urlnum is 0 or missing. Runs and wall-clock lines are
    matched in order; when their counts differ nothing is attached (a guess could put a
    sample on the wrong stretch of the capture).
    """
    runs: list[list[int]] = []
    for i, sample in enumerate(samples):
        if not runs or not sample.urlnum:
            runs.append([])
        runs[-1].append(i)
    if len(runs) != len(clocks):
        return samples, [Problem(path, None, f"one line per curl run ({len(runs)} runs)",
                                 f"{len(clocks)} lines; wall-clock times not used")]
    out = list(samples)
    for run, clock in zip(runs, clocks):
        for i in run:
            out[i] = replace(out[i], wall_start_s=clock.start_s, wall_end_s=clock.end_s)
    return tuple(out), []


def load_curl(path: str | PathLike, wallclock: str | PathLike | None = None
              ) -> tuple[tuple[CurlSample, ...], list[Problem]]:
    """Read a timings file, and the wall-clock side file when there is one.

    ``wallclock`` defaults to ``timings_wallclock.jsonl`` next to the timings file. The side
    file is optional: its problems are warnings, never errors.
    """
    samples, problems = parse_curl(read_input(path), str(path))
    side = Path(wallclock) if wallclock is not None else Path(path).parent / WALLCLOCK_NAME
    if not side.exists():
        return samples, problems
    try:
        clocks, side_problems = parse_wallclock(read_input(side), str(side))
    except InputError as err:
        return samples, problems + [err.as_problem()]
    samples, attach_problems = attach_wallclock(samples, clocks, str(side))
    return samples, problems + side_problems + attach_problems
