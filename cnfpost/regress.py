"""cnfpost regress: re-analyse golden bundles and compare with their stored reports.

A golden bundle is a run bundle with ``expected/report.json`` (and ``expected/report.md``
for people to read in review), both written only by ``cnfpost regress DIR --update``.

What must match, and how closely (:func:`compare`):

* the shape: every key and every list element, and each finding by its code;
* exactly: strings, booleans, nulls and whole numbers (counts, frame numbers, bytes,
  exit codes), hence every finding code, severity, grade and verdict;
* timings, numbers under a key ending ``_ms``: within max(1 ms, 5 % of the expected
  value). A change in how a phase edge is placed moves timings by microseconds; what
  changes a diagnosis moves counts, codes and grades, which are exact;
* points in time, under a key ending ``_s`` (epoch seconds): within 1 ms;
* other non-whole numbers (rates, percentages, ratios, computed from the timings and the
  counts): within 5 % of the expected value, or 0.001;
* text: the words and every whole number in it exactly; numbers written with decimals
  by the timing rule (a message quotes the timings its fields hold exactly).

Not compared: ``/tool/version`` (a release is not a regression). The bundle's own path,
which appears in warnings, is replaced by ``<bundle>`` in :func:`normalize`, the one place
that removes what differs between machines; the stored goldens are normalised too.
``report.md`` is not compared: it is rendered from the JSON and is there for review.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import orjson

from .errors import CnfpostError, InputError
from .inputs.bundle import find_bundles
from .outputs import write_atomic

__all__ = ["Tolerance", "Difference", "GoldenResult", "normalize", "compare", "check_bundle",
           "regress", "format_result", "BUNDLE_PLACEHOLDER", "NOT_COMPARED"]

BUNDLE_PLACEHOLDER = "<bundle>"
NOT_COMPARED = frozenset({"/tool/version"})
EXPECTED_DIR = "expected"
MAX_LISTED = 60  # differences shown per bundle; the rest are counted


@dataclass(frozen=True)
class Tolerance:
    ms_abs: float = 1.0        # timings: max(1 ms, ...
    rel: float = 0.05          # ... 5 % of the expected value); also rates and ratios
    s_abs: float = 0.001       # points in time in seconds: 1 ms
    other_abs: float = 0.001   # rates and ratios near zero

    def describe(self) -> str:
        return (f"timings (*_ms) within max({self.ms_abs:g} ms, {100 * self.rel:g} %), "
                f"times (*_s) within {self.s_abs * 1000:g} ms, other decimals within "
                f"{100 * self.rel:g} %; counts, codes, grades and verdicts exact")


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING = _Missing()


@dataclass(frozen=True)
class Difference:
    pointer: str              # JSON pointer; findings are named by code: /findings/l4.reset
    expected: Any             # MISSING when the fresh report added it
    actual: Any               # MISSING when the fresh report lost it
    rule: str                 # which rule compared it
    within: bool = False      # inside the tolerance: counted, not a regression


# ----------------------------------------------------------------------------------------
# Normalisation and comparison (pure)
# ----------------------------------------------------------------------------------------

def normalize(report: Mapping, bundle_root: str | PathLike | None) -> dict:
    """A copy of ``report`` with the bundle's path replaced by ``<bundle>`` everywhere.

    Warnings name the files they are about by the path the analysis was given; a golden
    must not depend on where the repository was checked out.
    """
    roots = []
    if bundle_root is not None:
        root = Path(bundle_root)
        roots = sorted({str(root), os.path.realpath(root)}, key=len, reverse=True)

    def walk(value):
        if isinstance(value, str):
            for r in roots:
                value = value.replace(r, BUNDLE_PLACEHOLDER)
            return value
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(report)


def compare(expected: Any, actual: Any, tol: Tolerance = Tolerance()) -> list[Difference]:
    """Every difference between two reports, each marked within tolerance or not."""
    out: list[Difference] = []
    _compare(expected, actual, (), tol, out)
    return out


def _pointer(parts: tuple) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _compare(exp: Any, act: Any, parts: tuple, tol: Tolerance, out: list[Difference]) -> None:
    pointer = _pointer(parts)
    if pointer in NOT_COMPARED:
        return
    if isinstance(exp, Mapping) and isinstance(act, Mapping):
        for key in list(exp) + [k for k in act if k not in exp]:
            _compare(exp.get(key, MISSING), act.get(key, MISSING), parts + (key,), tol, out)
        return
    if isinstance(exp, list) and isinstance(act, list):
        if parts == ("findings",):
            exp, act = _by_code(exp), _by_code(act)
            for key in list(exp) + [k for k in act if k not in exp]:
                _compare(exp.get(key, MISSING), act.get(key, MISSING), parts + (key,), tol, out)
            return
        for i in range(max(len(exp), len(act))):
            _compare(exp[i] if i < len(exp) else MISSING, act[i] if i < len(act) else MISSING,
                     parts + (i,), tol, out)
        return
    if exp is MISSING or act is MISSING:
        out.append(Difference(pointer, exp, act, "added" if exp is MISSING else "removed"))
        return
    if _is_number(exp) and _is_number(act):
        rule, ok = _numbers(exp, act, parts, tol)
    elif isinstance(exp, str) and isinstance(act, str):
        rule, ok = _texts(exp, act, tol)
    else:
        rule, ok = "exact", exp == act and type(exp) is type(act)
    if exp != act or not ok:
        out.append(Difference(pointer, exp, act, rule, within=ok))


def _by_code(findings: list) -> dict:
    """Findings keyed by code (and occurrence, should a code repeat): an added or removed
    finding is one difference, not a shift of every later list element."""
    seen: Counter = Counter()
    keyed = {}
    for f in findings:
        code = f.get("code", "?") if isinstance(f, Mapping) else "?"
        seen[code] += 1
        keyed[code if seen[code] == 1 else f"{code}#{seen[code]}"] = f
    return keyed


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(exp: float, act: float, parts: tuple, tol: Tolerance) -> tuple[str, bool]:
    if (isinstance(exp, int) and isinstance(act, int)) or exp == act:
        return "exact", exp == act
    keys = [p for p in parts if isinstance(p, str)]
    if any(k.endswith("_ms") for k in keys):
        allowed = max(tol.ms_abs, tol.rel * abs(exp))
        return f"timing: ±{allowed:.3f} ms", abs(act - exp) <= allowed
    if keys and keys[-1].endswith("_s"):
        return f"time: ±{tol.s_abs:g} s", abs(act - exp) <= tol.s_abs
    allowed = max(tol.other_abs, tol.rel * abs(exp))
    return f"decimal: ±{allowed:.3f}", abs(act - exp) <= allowed


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _texts(exp: str, act: str, tol: Tolerance) -> tuple[str, bool]:
    if exp == act:
        return "exact", True
    if _NUMBER.sub("#", exp) != _NUMBER.sub("#", act):
        return ("text" if _NUMBER.search(exp + act) else "exact"), False
    for e, a in zip(_NUMBER.findall(exp), _NUMBER.findall(act)):
        if "." not in e and "." not in a:
            if e != a:
                return "text: whole numbers exact", False
        elif abs(float(a) - float(e)) > max(tol.ms_abs, tol.rel * abs(float(e))):
            return "text: decimals as timings", False
    return "text: decimals as timings", True


# ----------------------------------------------------------------------------------------
# Golden bundles (files)
# ----------------------------------------------------------------------------------------

@dataclass
class GoldenResult:
    bundle: Path
    status: str          # ok | regressed | missing | error | created | updated | unchanged
    differences: list[Difference] = field(default_factory=list)
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("regressed", "missing", "error")


def check_bundle(bundle: str | PathLike, update: bool = False,
                 tol: Tolerance = Tolerance()) -> GoldenResult:
    """Analyse one golden bundle and compare with (or, with ``update``, rewrite) its
    expected/ reports."""
    from .pipeline import analyze

    bundle = Path(os.path.realpath(bundle))
    golden = bundle / EXPECTED_DIR / "report.json"
    try:
        fresh = normalize(analyze(bundle).to_dict(), bundle)
    except CnfpostError as exc:
        return GoldenResult(bundle, "error", message=f"the analysis failed: {exc}")
    if update:
        return _update(bundle, fresh)
    try:
        stored = orjson.loads(golden.read_bytes())
    except FileNotFoundError:
        return GoldenResult(bundle, "missing", message=f"no {EXPECTED_DIR}/report.json: "
                            f"run `cnfpost regress --update` after checking the report")
    except (OSError, orjson.JSONDecodeError) as exc:
        return GoldenResult(bundle, "error", message=f"{golden}: expected the golden JSON "
                            f"report, got {exc}")
    was, now = _major(stored), _major(fresh)
    if was != now:
        # a major schema change renames or removes keys: a diff would list every one
        return GoldenResult(bundle, "regressed", message=(
            f"the golden has report schema {stored.get('schema_version', '?')}, this cnfpost "
            f"writes {fresh.get('schema_version')}: check a fresh report, then --update"))
    diffs = compare(stored, fresh, tol)
    status = "regressed" if any(not d.within for d in diffs) else "ok"
    return GoldenResult(bundle, status, diffs)


def _major(report: Any) -> str | None:
    version = report.get("schema_version") if isinstance(report, Mapping) else None
    return str(version).split(".")[0] if version is not None else None


def _update(bundle: Path, fresh: dict) -> GoldenResult:
    folder = bundle / EXPECTED_DIR
    folder.mkdir(exist_ok=True)
    data = orjson.dumps(fresh, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    golden = folder / "report.json"
    old = golden.read_bytes() if golden.is_file() else None
    write_atomic(golden, data)
    note = ""
    try:
        from .report.render import markdown
    except ImportError:
        note = "report.md not written: the Markdown renderer is not installed"
    else:
        write_atomic(folder / "report.md", markdown(fresh).encode())
    status = "created" if old is None else ("unchanged" if old == data else "updated")
    return GoldenResult(bundle, status, message=note)


def regress(golden_dir: str | PathLike, update: bool = False,
            tol: Tolerance = Tolerance()) -> list[GoldenResult]:
    """Check (or update) every bundle under ``golden_dir``."""
    bundles = find_bundles(golden_dir)
    if not bundles:
        raise InputError(golden_dir, None, "run bundles with expected/ reports", "none")
    return [check_bundle(b, update, tol) for b in bundles]


# ----------------------------------------------------------------------------------------
# The listing
# ----------------------------------------------------------------------------------------

def format_result(result: GoldenResult, name: str | None = None) -> str:
    """One line per bundle; for a regression, a unified-diff-like listing of what changed:
    '-' the stored golden, '+' the fresh analysis, each under its JSON pointer."""
    name = name or str(result.bundle)
    tolerated = sum(1 for d in result.differences if d.within)
    shown = [d for d in result.differences if not d.within]
    head = f"{result.status:<9} {name}"
    extras = []
    if tolerated:
        extras.append(f"{tolerated} difference(s) within tolerance")
    if result.message:
        extras.append(result.message)
    if extras:
        head += f" ({'; '.join(extras)})"
    if not shown:
        return head + "\n"
    lines = [head, f"--- {name}/{EXPECTED_DIR}/report.json", "+++ fresh analysis"]
    for d in shown[:MAX_LISTED]:
        lines.append(f"@@ {d.pointer} ({d.rule}) @@")
        if d.expected is not MISSING:
            lines.append(f"-{_show(d.expected)}")
        if d.actual is not MISSING:
            lines.append(f"+{_show(d.actual)}")
    if len(shown) > MAX_LISTED:
        lines.append(f"... and {len(shown) - MAX_LISTED} more difference(s)")
    return "\n".join(lines) + "\n"


def _show(value: Any, limit: int = 300) -> str:
    if isinstance(value, Mapping) and "code" in value and "severity" in value:
        text = f"{value['code']} [{value['severity']}] {value.get('message', '')}"
    else:
        text = orjson.dumps(value).decode()
    return " " + (text if len(text) <= limit else text[: limit - 3] + "...")
