"""Every kind of input a run has, declared once.

An :class:`InputKind` says where the input sits in a run bundle, which option of
``cnfpost analyze`` names it, how it is loaded, and which part of the report it feeds.
The bundle reader, the pipeline, the CLI and the report's ``inputs`` section all iterate
:data:`INPUT_KINDS`, so a new input is a parser module plus one entry here.

A loader takes the input's path and every path the run has (an input may need a sibling:
the curl timings read the wall-clock file beside them; mtr's ``--raw`` refines its
``--json``) and returns ``(value, problems)``; kinds without a loader are read by another
kind's loader.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import Problem

__all__ = ["InputKind", "INPUT_KINDS", "KIND", "load_all", "REPORTED_MISSING"]

Loader = Callable[[Path, Mapping[str, Path | None]], tuple[Any, list[Problem]]]


@dataclass(frozen=True)
class InputKind:
    name: str                     # key in Inputs, Bundle and report["inputs"]
    files: tuple[str, ...]        # its names in a run bundle (at most one may be present)
    option: str | None            # the option of `cnfpost analyze` that names it
    help: str
    feeds: str                    # the report section it feeds
    primary: bool = False         # one primary file makes a directory a run bundle
    missing_noted: bool = False   # listed in report["inputs"]["missing"] when absent
    loader: Loader | None = None


def _load_timings(path, paths):
    from .curl import load_curl

    samples, problems = load_curl(path, paths.get("timings_wallclock"))
    return list(samples), problems


def _load_mtr(path, paths):
    from .mtr import load_mtr, with_raw

    report, problems = load_mtr(path)
    raw_path = paths.get("mtr_raw")
    if raw_path is not None:
        raw, found = load_mtr(raw_path)
        problems = problems + found
        report = with_raw(report, raw)
    return report, problems


def _load_ping(path, paths):
    from .ping import load_ping

    return load_ping(path)


INPUT_KINDS: tuple[InputKind, ...] = (
    InputKind("capture", ("capture.pcap", "capture.pcapng"), None,
              "the packets: pcap or pcapng (- for standard input)", "layered_analysis.l4",
              primary=True, missing_noted=True),
    InputKind("timings", ("timings.jsonl",), "--timings",
              "curl -w '%{json}' output (one object per line).", "samples",
              primary=True, missing_noted=True, loader=_load_timings),
    InputKind("timings_wallclock", ("timings_wallclock.jsonl",), None,
              "wall-clock start and end of each curl run (read with the timings)", "samples"),
    InputKind("mtr", ("mtr.json",), "--mtr", "mtr --json output (or mtr --raw).", "path",
              primary=True, missing_noted=True, loader=_load_mtr),
    InputKind("mtr_raw", ("mtr.raw",), None, "mtr --raw output (refines mtr.json)", "path",
              primary=True),
    InputKind("ping", ("ping.txt",), "--ping", "ping output (iputils, BusyBox or BSD).",
              "ping", primary=True, missing_noted=True, loader=_load_ping),
    InputKind("ping_loaded", ("ping_loaded.txt",), "--ping-loaded",
              "ping output taken while a download ran (bufferbloat).", "correlations.l3_l7",
              loader=_load_ping),
    InputKind("server_capture", ("server.pcap", "server.pcapng"), "--server-capture",
              "the same run captured on the server or load balancer (any clock): both ends "
              "of each connection.", "server_side"),
)
KIND: dict[str, InputKind] = {k.name: k for k in INPUT_KINDS}
REPORTED_MISSING = tuple(k.name for k in INPUT_KINDS if k.missing_noted)


def load_all(paths: Mapping[str, Path | None]) -> tuple[dict[str, Any], list[Problem]]:
    """Load every input that has a path and a loader: name -> value (None when absent)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for kind in INPUT_KINDS:
        if kind.loader is None:
            continue
        path = paths.get(kind.name)
        if path is None:
            values[kind.name] = None
            continue
        value, found = kind.loader(path, paths)
        values[kind.name] = value
        problems += found
    return values, problems
