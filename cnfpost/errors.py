"""One error vocabulary for the whole package.

Every message about bad input has one shape, made by :func:`format_problem`:

    capture.pcap: byte 1048: expected a 16-byte record header, got 7 bytes
    timings.jsonl: line 3: expected a JSON object, got '{"time_total": 0.1'
    mtr.json: /report/hubs/2/Loss%: expected a number, got "abc"

``place`` is ``byte N``, ``line N`` or a JSON pointer. Input errors stop the work on that
input and become exit status 2 with that one line (the CLI turns them into it, nowhere
else). Problems that leave a partial result are :class:`Problem` values, collected as the
report's warnings, in the same shape.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from os import PathLike

__all__ = [
    "ExitCode",
    "CnfpostError",
    "InputError",
    "Interrupted",
    "Problem",
    "format_problem",
    "at_byte",
    "at_line",
    "json_pointer",
    "describe_got",
]


class ExitCode(enum.IntEnum):
    OK = 0
    FINDINGS = 1  # analyze --fail-on: a finding at or above the asked severity; regress: a regression
    BAD_INPUT = 2
    INTERNAL = 3  # a bug in cnfpost: reported in one line (--traceback shows it)
    INTERRUPTED = 130  # stopped by SIGINT (Ctrl-C): 128 + 2, as the shell reports it


def at_byte(offset: int) -> str:
    return f"byte {offset}"


def at_line(number: int) -> str:
    return f"line {number}"


def json_pointer(*parts: object) -> str:
    """RFC 6901 pointer: '/report/hubs/2/Loss%'; '' (the whole document) shows as '/'."""
    if not parts:
        return "/"
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/" + "/".join(escaped)


def describe_got(value: object, limit: int = 40) -> str:
    """A short, printable rendering of what was found instead, for the 'got' part."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) >= 4:
            return "0x" + raw[:4].hex()
        return f"{len(raw)} bytes"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_problem(path: str | PathLike | None, place: str | None, expected: str, got: str) -> str:
    head = [_shown_path(path)]
    if place:
        head.append(place)
    return f"{': '.join(head)}: expected {expected}, got {got}"


def _shown_path(path: str | PathLike | None) -> str:
    """A path as the message shows it: escaped when it holds a newline, an escape sequence
    or another unprintable character, so that the message stays one plain line."""
    if path is None:
        return "<input>"
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


@dataclass(frozen=True)
class Problem:
    """A problem found in an input that did not stop the work (part of it was skipped)."""

    path: str
    place: str | None
    expected: str
    got: str

    def __str__(self) -> str:
        return format_problem(self.path, self.place, self.expected, self.got)


class CnfpostError(Exception):
    """Base of every error cnfpost raises on purpose."""

    exit_code = ExitCode.BAD_INPUT


class InputError(CnfpostError):
    """An input cannot be used at all. Carries where and what, for the one-line message."""

    def __init__(self, path: str | PathLike | None, place: str | None, expected: str, got: str):
        self.path = None if path is None else str(path)
        self.place = place
        self.expected = expected
        self.got = got
        super().__init__(format_problem(self.path, place, expected, got))

    def as_problem(self) -> Problem:
        return Problem(self.path or "<input>", self.place, self.expected, self.got)


class Interrupted(CnfpostError):
    """Stopped by SIGINT, with what to do next (a batch resumes when re-run)."""

    exit_code = ExitCode.INTERRUPTED
