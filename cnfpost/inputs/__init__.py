"""Parsers for what a probe recorded besides the capture: curl timings, mtr, ping.

Every parser has the same shape, so the pipeline treats them alike:

- ``parse_X(data, path) -> (result, problems)`` where ``data`` is ``str`` or ``bytes`` and
  ``path`` only labels messages; ``load_X(path)`` reads the file and calls it.
- ``problems`` is a list of :class:`cnfpost.errors.Problem`: the parts that were skipped
  (a bad line, a hop with a non-numeric field). The result holds everything else.
- Nothing usable at all (empty file, binary data, no line in the expected format) raises
  :class:`cnfpost.errors.InputError`, which the CLI turns into exit status 2.

Results are frozen dataclasses with ``to_dict()`` for the JSON report: durations in
milliseconds under keys ending ``_ms``, rounded to 3 decimals.

The few helpers every parser needs (reading a file, turning bytes into text, RTT
statistics) live here, once.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from os import PathLike
from typing import Iterable, Sequence

import orjson

from ..errors import InputError, Problem, at_byte, at_line, describe_got

__all__ = [
    "read_input",
    "as_text",
    "first_line_got",
    "skipped_lines",
    "MAX_INT",
    "loads_json",
    "ms",
    "RttStats",
    "rtt_stats",
    "jitter_ms",
]

# The largest integer every JSON reader keeps exactly (IEEE double): larger counts, ports or
# sizes in an input are corrupt, and must not make the report unwritable.
MAX_INT = 2**53


def loads_json(text: str):
    """One JSON value. NaN, Infinity and integers beyond 64 bits, which orjson refuses, are
    read as Python's json reads them, so that the field checks can name the key holding
    them. Anything unreadable (nesting too deep included) raises ValueError."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None

# First bytes of the binary files most often passed to the wrong option.
_BINARY_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "a pcap file",
    b"\xa1\xb2\xc3\xd4": "a pcap file",
    b"\x4d\x3c\xb2\xa1": "a pcap file",
    b"\xa1\xb2\x3c\x4d": "a pcap file",
    b"\x0a\x0d\x0d\x0a": "a pcapng file",
    b"\x1f\x8b\x08\x00": "a gzip file",
    b"\x1f\x8b\x08\x08": "a gzip file",
}


def read_input(path: str | PathLike) -> bytes:
    """The bytes of an input file; an unreadable file is an input error."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(path, None, "a readable file", exc.strerror or str(exc)) from None


def as_text(data: str | bytes, path: str, expected: str) -> str:
    """Decode an input as text, refusing binary data and empty input with one clear error.

    ``expected`` names the format (for the message). UTF-8 with replacement: a stray
    byte in a hostname must not cost the whole file, but NUL bytes mean binary data
    (a capture passed as --mtr), which no text tool prints.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw.startswith(b"\xef\xbb\xbf"):  # a BOM from Windows editors
            raw = raw[3:]
        nul = raw.find(b"\x00")
        if nul >= 0 or raw[:4] in _BINARY_MAGICS:
            what = _BINARY_MAGICS.get(raw[:4], "binary data")
            raise InputError(path, at_byte(0 if raw[:4] in _BINARY_MAGICS else nul), expected,
                             f"{what} ({describe_got(raw)})")
        text = raw.decode("utf-8", errors="replace")
    else:
        text = str(data)
        if "\x00" in text:
            raise InputError(path, at_byte(text.index("\x00")), expected, "binary data (a NUL)")
    if not text.strip():
        raise InputError(path, None, expected, "an empty file" if not text else "only whitespace")
    return text


def first_line_got(text: str) -> tuple[str, str]:
    """(place, got) naming the first non-blank line, for 'nothing recognised' errors."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            return at_line(number), describe_got(line.strip())
    return at_line(1), "nothing"


def skipped_lines(path: str, bad: list[tuple[int, str]], expected: str) -> list[Problem]:
    """One problem per run of consecutive unrecognised lines, not one per line.

    A response body written into the timings file by mistake is a thousand bad lines;
    the reader needs to know where the run starts and how long it is, not each line.
    """
    problems: list[Problem] = []
    run: list[tuple[int, str]] = []
    for number, line in bad + [(-1, "")]:
        if run and number != run[-1][0] + 1:
            first_number, first_line = run[0]
            got = describe_got(first_line.strip())
            if len(run) > 1:
                got += f" (and the next {len(run) - 1} lines, to line {run[-1][0]})"
            problems.append(Problem(path, at_line(first_number), expected, got))
            run = []
        run.append((number, line))
    return problems


def ms(value: float | None) -> float | None:
    """Milliseconds as the JSON report shows them: 3 decimals, None stays None."""
    if value is None:
        return None
    return round(float(value), 3)


def jitter_ms(rtts: Sequence[float]) -> float | None:
    """Mean absolute difference of consecutive RTTs (RFC 3550's |D| without smoothing).

    Consecutive means in probe order: the caller passes the RTTs of received probes
    sorted by sequence, so a lost probe just joins its neighbours.
    """
    if len(rtts) < 2:
        return None
    diffs = [abs(b - a) for a, b in zip(rtts, rtts[1:])]
    return sum(diffs) / len(diffs)


@dataclass(frozen=True)
class RttStats:
    """Round-trip statistics over received probes, in milliseconds.

    ``mdev`` is the population standard deviation, as iputils ping computes it (BSD calls
    it stddev), so our figure can be compared with the summary line.
    """

    count: int
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    mdev_ms: float | None
    jitter_ms: float | None

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "min_ms": ms(self.min_ms),
            "avg_ms": ms(self.avg_ms),
            "max_ms": ms(self.max_ms),
            "mdev_ms": ms(self.mdev_ms),
            "jitter_ms": ms(self.jitter_ms),
        }


def rtt_stats(rtts: Iterable[float]) -> RttStats:
    values = [float(v) for v in rtts]
    if not values:
        return RttStats(0, None, None, None, None, None)
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return RttStats(len(values), min(values), mean, max(values), math.sqrt(var),
                    jitter_ms(values))
