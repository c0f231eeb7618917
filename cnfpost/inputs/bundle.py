"""Run bundles: the directory collector/cnfpost-collect writes, read back.

A bundle holds (design.md, "Run bundle"; keys of manifest.json in docs/manifest.md):

    capture.pcap | capture.pcapng    the packets (one of the two)
    timings.jsonl                    one curl -w '%{json}' object per line
    timings_wallclock.jsonl          wall-clock start/end and exit code of each curl run
    mtr.json, mtr.raw                mtr --json (and optionally --raw)
    ping.txt, ping_loaded.txt        ping, and ping taken while a download ran
    manifest.json                    how the bundle was recorded
    expected/                        golden reports (report.json, report.md), if any

Every input is optional, but a bundle has at least one of the capture, the timings, mtr or
ping. :func:`read_bundle` finds the files and reads the manifest; it does not parse the
other files (their parsers do). A directory that is not a bundle, or one with both a pcap
and a pcapng, is an :class:`InputError`; a bad manifest is a :class:`Problem` and the
bundle is still usable without it (:func:`load_manifest` is the strict reader).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem, at_line, describe_got, json_pointer
from .registry import INPUT_KINDS, KIND

__all__ = [
    "Bundle",
    "read_bundle",
    "load_manifest",
    "check_manifest",
    "find_bundles",
    "is_bundle",
    "collect_script_path",
    "MANIFEST_NAME",
    "BUNDLE_FORMATS",
]

MANIFEST_NAME = "manifest.json"
CAPTURE_NAMES = KIND["capture"].files
WALLCLOCK_FILE = KIND["timings_wallclock"].files[0]
# Files of which at least one makes a directory a bundle (the manifest alone does not:
# a run whose every step failed has nothing to analyse).
PRIMARY = tuple(name for kind in INPUT_KINDS if kind.primary for name in kind.files)
# cnfpost-collect writes cnfpost-bundle/1; the shared reference lab wrote
# cnfpost-lab-bundle/1 with the same keys. A new major version may change meanings.
BUNDLE_FORMATS = ("cnfpost-bundle/1", "cnfpost-lab-bundle/1")

EXPECTED_BUNDLE = "a run bundle directory (capture.pcap, timings.jsonl, mtr.json or ping.txt)"


@dataclass(frozen=True)
class Bundle:
    """The files of one run bundle (None = not in the bundle) and its manifest."""

    root: Path
    capture: Path | None
    timings: Path | None
    timings_wallclock: Path | None
    mtr: Path | None
    mtr_raw: Path | None
    ping: Path | None
    ping_loaded: Path | None
    server_capture: Path | None
    manifest_path: Path | None
    manifest: dict | None          # checked manifest; None when absent or unusable
    expected: Path | None          # expected/ with golden reports
    problems: tuple[Problem, ...]  # manifest problems and files it lists that are missing

    @property
    def missing(self) -> tuple[str, ...]:
        """The inputs this bundle lacks, by bundle file name, for the report's 'inputs'."""
        names = [kind.files[0] for kind in INPUT_KINDS if getattr(self, kind.name) is None]
        if self.manifest_path is None:
            names.append(MANIFEST_NAME)
        return tuple(names)

    @property
    def capture_counters(self) -> dict[str, int | None]:
        """tcpdump's closing counters from the manifest (None when not recorded)."""
        cap = (self.manifest or {}).get("capture") or {}
        return {k: cap.get(k) for k in ("packets_captured", "packets_received_by_filter",
                                         "packets_dropped_by_kernel")}


def is_bundle(directory: str | PathLike) -> bool:
    d = Path(directory)
    return d.is_dir() and any((d / name).is_file() for name in PRIMARY)


def read_bundle(root: str | PathLike) -> Bundle:
    root = Path(root)
    if not root.is_dir():
        got = "a file" if root.exists() else "no such directory"
        raise InputError(root, None, EXPECTED_BUNDLE, got)
    found: dict[str, Path | None] = {}
    for kind in INPUT_KINDS:
        present = [root / n for n in kind.files if (root / n).is_file()]
        if len(present) > 1:
            raise InputError(root, None, f"one {kind.name} file",
                             "both " + " and ".join(p.name for p in present))
        found[kind.name] = present[0] if present else None
    if not is_bundle(root):
        present = sorted(p.name for p in root.iterdir())[:6]
        found_names = f" (found {', '.join(present)})" if present else " (empty)"
        raise InputError(root, None, EXPECTED_BUNDLE, "none of them" + found_names)
    problems: list[Problem] = []
    manifest_path = root / MANIFEST_NAME
    manifest = None
    if manifest_path.is_file():
        try:
            manifest = load_manifest(manifest_path)
        except InputError as err:
            problems.append(err.as_problem())
        else:
            for index, name in enumerate(manifest.get("files") or ()):
                if not (root / name).exists():
                    problems.append(Problem(str(manifest_path), json_pointer("files", index),
                                            f"{name} in the bundle", "no such file"))
    else:
        manifest_path = None
    expected = root / "expected"
    return Bundle(
        root=root,
        manifest_path=manifest_path,
        manifest=manifest,
        expected=expected if expected.is_dir() else None,
        problems=tuple(problems),
        **found,
    )


def load_manifest(path: str | PathLike) -> dict:
    """Read and check manifest.json; any problem is an InputError naming the place."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, None, "a readable file", exc.strerror or str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"byte {exc.start}", "UTF-8 JSON",
                         describe_got(raw[exc.start:])) from None
    if not text.strip():
        raise InputError(path, None, "a JSON object", "an empty file")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # The collector writes the manifest last and atomically; a broken one was edited or
        # cut short by a full disk.
        lines = text.splitlines()
        line = lines[exc.lineno - 1].strip() if exc.lineno <= len(lines) else ""
        raise InputError(path, at_line(exc.lineno),
                         f"valid JSON at column {exc.colno} ({exc.msg.lower()})",
                         describe_got(line) if line else "the end of the file") from None
    check_manifest(value, str(path))
    return value


# Expected type of each known key; other keys are allowed (later collectors add some).
# "str?" etc.: null allowed (the collector writes null for a step that did not run).
_TOP = {
    "bundle_format": "str", "scenario": "str?", "collector": "str?", "collector_version": "str?",
    "hostname": "str?", "start_wall": "num", "end_wall": "num", "start_utc": "str?",
    "end_utc": "str?", "wallclock_resolution": "str?", "interrupted": "str?",
    "interface": "str?", "interface_addrs": "list[str]", "interface_mac": "str?",
    "interface_mtu": "int?", "target": "str?", "family": "str?",
    "urls": "str|list[str]", "samples": "int?", "load_url": "str?", "capture": "obj",
    "commands": "obj", "exit_codes": "obj", "tools": "obj", "files": "list[str]",
    "notes": "list[str]",
}
_CAPTURE = {
    "file": "str?", "interface": "str?", "link_type": "str?", "link_type_desc": "str?",
    "snaplen": "int?", "timestamp_precision": "str?", "pcap_magic": "str?", "filter": "str?",
    "packets_captured": "int?", "packets_received_by_filter": "int?",
    "packets_dropped_by_kernel": "int?", "limits": "obj", "stopped_by": "str?",
    "tcpdump_exit": "int?",
}
_NAMES = {
    "str": "a string", "num": "a number", "int": "a whole number", "obj": "an object",
    "list[str]": "a list of strings", "str|list[str]": "a string or a list of strings",
    "list[int]|int": "an exit code or a list of them",
}


def _fits(value: Any, kind: str) -> bool:
    if kind.endswith("?"):
        if value is None:
            return True
        kind = kind[:-1]
    if kind == "str":
        return isinstance(value, str)
    if kind == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "obj":
        return isinstance(value, dict)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "str|list[str]":
        return _fits(value, "str") or _fits(value, "list[str]")
    if kind == "list[int]|int":
        return _fits(value, "int?") or (isinstance(value, list)
                                         and all(_fits(v, "int?") for v in value))
    raise ValueError(kind)


def _check_keys(obj: dict, spec: dict[str, str], path: str, *prefix: str) -> None:
    for key, kind in spec.items():
        if key in obj and not _fits(obj[key], kind):
            name = _NAMES[kind.rstrip("?")] + (" or null" if kind.endswith("?") else "")
            raise InputError(path, json_pointer(*prefix, key), name, describe_got(obj[key]))


def check_manifest(value: Any, path: str = MANIFEST_NAME) -> None:
    """Raise InputError at the first key whose value has the wrong type or meaning."""
    if not isinstance(value, dict):
        raise InputError(path, json_pointer(), "a JSON object", describe_got(value))
    if "bundle_format" not in value:
        raise InputError(path, json_pointer("bundle_format"), "a bundle format such as "
                         f"{BUNDLE_FORMATS[0]!r}", "no such key")
    _check_keys(value, _TOP, path)
    fmt = value["bundle_format"]
    if fmt not in BUNDLE_FORMATS:
        known = " or ".join(map(repr, BUNDLE_FORMATS))
        raise InputError(path, json_pointer("bundle_format"), known, describe_got(fmt))
    if "capture" in value:
        _check_keys(value["capture"], _CAPTURE, path, "capture")
    for section, kind in (("commands", "str?"), ("tools", "str?"), ("exit_codes", "list[int]|int")):
        for key, item in (value.get(section) or {}).items():
            if not _fits(item, kind):
                raise InputError(path, json_pointer(section, key),
                                 _NAMES[kind.rstrip("?")] + " or null", describe_got(item))
    start, end = value.get("start_wall"), value.get("end_wall")
    if start is not None and end is not None and end < start:
        raise InputError(path, json_pointer("end_wall"), f"a time at or after start_wall ({start})",
                         describe_got(end))


def find_bundles(root: str | PathLike) -> list[Path]:
    """Every bundle directory under ``root`` (``root`` itself if it is one), sorted.

    A bundle's own subdirectories (expected/, lab/) are not searched: bundles do not nest.
    """
    root = Path(root)
    if not root.is_dir():
        got = "a file" if root.exists() else "no such directory"
        raise InputError(root, None, "a directory of run bundles", got)
    found: list[Path] = []
    for dirpath, dirnames, _files in os.walk(root):
        if is_bundle(dirpath):
            found.append(Path(dirpath))
            dirnames.clear()
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return sorted(found)


def collect_script_path() -> Path:
    """Where the collector script is: the copy shipped in the package
    (cnfpost/collector/cnfpost-collect, package data), else the source checkout's
    collector/cnfpost-collect (editable installs and running from the repository)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "collector" / "cnfpost-collect",
                      package.parent / "collector" / "cnfpost-collect"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("cnfpost-collect is not installed with this copy of cnfpost")
