"""cnfpost batch: analyse an archive of run bundles, index them, and tell what changed.

    result = run_batch("archive/", "out/", jobs=4)
    result.analysed, result.skipped, result.failed

An archive is a directory (bundles at any depth) or a ``.tar.gz`` of one; ``.tar.gz``
files found inside are opened too. What is written under ``OUT``::

    runs/<run id>/report.json    the JSON report, as `cnfpost analyze --json` writes it
    runs/<run id>/report.md      the Markdown report (when the renderers are installed)
    runs/<run id>/row.json       the run's index row
    runs/<run id>/stamp.json     what the outputs were made from: inputs' sha256, config,
                                 cnfpost version and a digest of its code
    index.jsonl, index.csv       one row per run (probe, target, time, grades, phase medians, ...)
    summary.md                   trends per probe and target, runs that stand out, path changes
    summary.html                 the same trends as graphs, outliers and path changes marked
    .extracted/<sha256>/         .tar.gz archives, unpacked (safely) for this batch only: each
                                 run's files are deleted once it is analysed, the rest at
                                 the end; a re-run unpacks again

Robustness: a bundle that cannot be analysed becomes a row with its error and the rest
goes on; every file is written to a temporary name and renamed into place (a reader, or a
batch that was killed, never sees half a file); a run whose stamp matches its inputs and
this cnfpost (version and code) is not analysed again, so a re-run resumes an interrupted
batch.

Parallelism: the client (this process) discovers the runs, checks stamps and writes every
file; only :func:`analyse_run` runs elsewhere, in a local process pool or on a Dask
cluster, and it only reads the bundle. The outputs are therefore the same bytes whichever
way the work was spread. On a Dask cluster the workers must see the bundle paths (a shared
filesystem) and have cnfpost installed.

:func:`summarize` is pure: rows in, trends / outliers / path changes out.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import shutil
import signal
import statistics
import tarfile
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Callable

import orjson

from . import __version__
from .errors import CnfpostError, InputError, describe_got, format_problem
from .inputs.bundle import MANIFEST_NAME, is_bundle, load_manifest
from .outputs import TMP_SUFFIX, check_dir, sha256_file, write_atomic
from .thresholds import Thresholds, load_config

__all__ = [
    "Run", "RunResult", "BatchResult", "ExtractLimits", "discover", "extract_tar",
    "analyse_run", "analyse_runs", "index_row", "summarize", "summary_markdown", "run_batch",
    "write_atomic", "make_stamp", "code_digest", "INDEX_COLUMNS", "METRICS",
]

ROW_SCHEMA = 1
PHASES = ("dns", "tcp", "tls", "request", "server", "download")
# The metrics of a row that trends and outliers look at; for all of them higher is worse.
METRICS = tuple(f"{p}_ms" for p in PHASES) + ("ttfb_ms", "total_ms", "retrans_pct")
INDEX_COLUMNS = ("run_id", "source", "probe", "target", "time", "status", "error", "grade",
                 "grade_l3", "grade_l4", "grade_l7", "cause", "cause_phases",
                 "cause_confidence", *METRICS, "rtt_ms", "findings", "info_findings", "hops")
SILENT_HOP = "???"  # mtr's name for a hop that never answered
TAR_SUFFIXES = (".tar.gz", ".tgz")
EXTRACTED = ".extracted"


# ----------------------------------------------------------------------------------------
# Discovery
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExtractLimits:
    """What one .tar.gz may unpack to. An archive over a limit is rejected whole (it is
    recorded as a broken run): a bomb must not fill the disk before anyone notices."""

    max_members: int = 100_000
    max_member_bytes: int = 4 << 30    # one capture: tcpdump files are rotated well below
    max_total_bytes: int = 16 << 30
    max_depth: int = 3                 # .tar.gz inside .tar.gz inside ...
    # A member may unpack to at most 100 times its compressed bytes (plus RATIO_SLACK):
    # captures compress 2 to 10 times, a gigabyte of zeros a thousand times.
    max_ratio: int = 100


# The gzip reader takes compressed bytes in 128 KiB gulps: a member's own compressed size is
# known only to that much, so the ratio is held from 256 KiB of compressed input on.
RATIO_SLACK = 256 << 10


@dataclass(frozen=True)
class Run:
    """One run of the archive: a bundle to analyse, or a place that could not be read."""

    run_id: str
    source: str                 # relative to the archive, as users see it ("a/b.tar.gz/run1")
    bundle: str | None          # absolute path of the bundle directory (None: broken archive)
    probe: str = ""
    target: str = ""
    time: str = ""              # UTC, ISO 8601 ("2026-11-25T17:27:45Z"), "" when unknown
    error: str | None = None    # why it could not even be opened (archives)


@dataclass(frozen=True)
class _Found:
    source: str
    bundle: Path | None
    error: str | None = None


def discover(archive: str | PathLike, workdir: str | PathLike,
             limits: ExtractLimits = ExtractLimits()) -> list[Run]:
    """Every run under ``archive`` (a directory or a .tar.gz), with a unique run id.

    Tar archives are unpacked under ``workdir`` (see :func:`extract_tar`); one that cannot
    be unpacked is a run with an error. Sorted by source path: the same archive gives the
    same list.
    """
    # Absolute paths: Dask workers do not share this process's working directory.
    # realpath, not Path.resolve(): a symlink loop is a path to refuse, not a RuntimeError.
    archive = Path(os.path.realpath(archive))
    workdir = Path(os.path.realpath(workdir))
    if archive.is_dir():
        found = list(_walk(archive, "", workdir, limits, depth=0))
    elif archive.is_file() and archive.name.endswith(TAR_SUFFIXES):
        found = list(_walk_tar(archive, archive.name, workdir, limits, depth=1))
    else:
        got = "no such file or directory" if not archive.exists() else "some other file"
        raise InputError(archive, None, "a directory of run bundles or a .tar.gz of them", got)
    runs = [_identify(f) for f in sorted(found, key=lambda f: f.source)]
    return _unique_ids(runs)


def _walk(root: Path, shown: str, workdir: Path, limits: ExtractLimits,
          depth: int) -> Iterator[_Found]:
    skip = Path(os.path.realpath(workdir))
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        label = _join(shown, "" if rel == "." else rel)
        if is_bundle(here):
            link = _escaping_link(here, root)
            if link is None:
                yield _Found(label or root.name, here)
            else:
                yield _Found(label or root.name, None,
                             _link_error(_join(label, link.relative_to(here).as_posix())))
            dirnames.clear()  # bundles do not nest (expected/, lab/ are theirs)
            continue
        # The same rule as tar members: a link that leaves the archive is refused, named.
        for name in sorted(dirnames + filenames):
            if not _stays_inside(here / name, root):
                yield _Found(_join(label, name), None, _link_error(_join(label, name)))
        filenames[:] = [f for f in filenames if _stays_inside(here / f, root)]
        # Hidden directories are not runs; the output directory may sit inside the archive.
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and Path(os.path.realpath(here / d)) != skip
                             and _stays_inside(here / d, root))
        for name in sorted(filenames):
            if name.endswith(TAR_SUFFIXES) and not name.startswith("."):
                yield from _walk_tar(here / name, _join(label, name), workdir, limits, depth + 1)


def _walk_tar(path: Path, shown: str, workdir: Path, limits: ExtractLimits,
              depth: int) -> Iterator[_Found]:
    if depth > limits.max_depth:
        yield _Found(shown, None, f"{shown}: expected archives nested at most "
                                  f"{limits.max_depth} deep, got deeper")
        return
    try:
        unpacked = extract_tar(path, workdir, limits)
    except InputError as err:
        yield _Found(shown, None, _relabel(str(err), str(path), shown))
        return
    yield from _walk(unpacked, shown, workdir, limits, depth)


def _stays_inside(path: Path, root: Path) -> bool:
    """Not a symbolic link, or one whose target (followed all the way) is under ``root``.
    A link out of the archive would let a bundle read, and the index and summary quote,
    any file of this machine."""
    if not path.is_symlink():
        return True
    top = os.path.realpath(root)
    return os.path.realpath(path).startswith(top.rstrip(os.sep) + os.sep)


def _escaping_link(directory: Path, root: Path) -> Path | None:
    """The first link under ``directory`` that leaves ``root`` (links are not followed)."""
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in sorted(dirnames + filenames):
            if not _stays_inside(Path(dirpath) / name, root):
                return Path(dirpath) / name
    return None


def _link_error(shown: str) -> str:
    return format_problem(shown, None, "a file or directory inside the archive",
                          "a symbolic link that leaves it")


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a and b else (a or b)


def _relabel(message: str, actual: str, shown: str) -> str:
    """Messages name files by the archive's relative path, not where they were unpacked."""
    return message.replace(actual, shown)


def _identify(found: _Found) -> Run:
    """Probe, target and time from the manifest (when it can be read) and a run id."""
    probe = target = when = ""
    if found.bundle is not None and (found.bundle / MANIFEST_NAME).is_file():
        try:
            manifest = load_manifest(found.bundle / MANIFEST_NAME)
        except InputError:
            manifest = {}  # the analysis reports the manifest's problem as a warning
        probe = manifest.get("hostname") or ""
        target = manifest.get("target") or ""
        when = _utc(manifest)
    if probe and target and when:
        run_id = f"{probe}_{target}_{when.replace('-', '').replace(':', '')}"
    else:
        run_id = found.source.replace("/", "__") or "run"
    return Run(_safe_id(run_id), found.source, None if found.bundle is None else str(found.bundle),
               probe, target, when, found.error)


def _utc(manifest: Mapping) -> str:
    start = manifest.get("start_utc")
    if isinstance(start, str) and start:
        return start
    wall = manifest.get("start_wall")
    if isinstance(wall, (int, float)):
        return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ""


def _safe_id(text: str) -> str:
    # A run id is a directory name under runs/: no separators, nothing hidden.
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return cleaned[:150] or "run"


def _unique_ids(runs: list[Run]) -> list[Run]:
    """Runs that would share an id (copies of one bundle) get a suffix from their source."""
    count = Counter(r.run_id for r in runs)
    out = []
    for r in runs:
        if count[r.run_id] > 1:
            suffix = hashlib.sha256(r.source.encode()).hexdigest()[:8]
            r = Run(f"{r.run_id}-{suffix}", r.source, r.bundle, r.probe, r.target, r.time, r.error)
        out.append(r)
    return out


# ----------------------------------------------------------------------------------------
# Safe extraction
# ----------------------------------------------------------------------------------------

def extract_tar(path: str | PathLike, workdir: str | PathLike,
                limits: ExtractLimits = ExtractLimits()) -> Path:
    """Unpack a .tar.gz into ``workdir/<its sha256>/`` and return that directory.

    Only regular files and directories with plain relative names are accepted; an absolute
    name, a '..' component, a link, a device or FIFO, or a size over ``limits`` rejects the
    whole archive (InputError) and nothing of it is kept. The archive is unpacked into a
    temporary directory renamed into place at the end, so an interrupted batch never
    reuses half an archive; an archive already unpacked (same sha256) is reused.
    """
    path = Path(path)
    digest = sha256_file(path)
    dest = Path(workdir) / digest[:32]
    if dest.is_dir():
        return dest
    Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=workdir))
    try:
        _unpack(path, tmp, limits)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _unpack(path: Path, dest: Path, limits: ExtractLimits) -> None:
    """One streaming pass: each header is checked before its member is written. A bad
    member later on still rejects the archive: extract_tar removes the whole directory."""
    total = members = 0
    try:
        with open(path, "rb") as packed, gzip.GzipFile(fileobj=packed) as raw, \
                tarfile.open(fileobj=_Bounded(raw, path, limits.max_total_bytes + _TAR_SLACK),
                             mode="r|") as tar:
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise InputError(path, None, f"at most {limits.max_members} members",
                                     "more")
                parts = _member_parts(path, member)
                target = dest.joinpath(*parts) if parts else dest
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if member.size > limits.max_member_bytes:
                    raise InputError(path, _member(member.name),
                                     f"at most {limits.max_member_bytes} bytes",
                                     f"{member.size} bytes")
                total += member.size
                if total > limits.max_total_bytes:
                    raise InputError(path, None, f"at most {limits.max_total_bytes} bytes "
                                     "unpacked", "more")
                target.parent.mkdir(parents=True, exist_ok=True)
                # O_EXCL: a name seen twice is not silently overwritten (nor followed).
                with tar.extractfile(member) as source, open(target, "xb") as out:
                    _copy_exact(source, out, member.size,
                                _ratio_check(path, member.name, packed, limits.max_ratio))
    except InputError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(path, None, "a readable .tar.gz archive",
                         f"{type(exc).__name__}: {exc}") from None


# Headers, long-name and pax records, and block padding on top of the members' own bytes.
_TAR_SLACK = 64 << 20


class _Bounded:
    """The decompressed stream, cut off at a limit. Member sizes are checked from their
    headers, but tarfile reads pax and long-name records whole into memory: without this a
    small .tar.gz could expand into gigabytes before any header is seen."""

    def __init__(self, raw, path: Path, limit: int):
        self._raw, self._path, self._left = raw, path, limit

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size if size >= 0 else self._left + 1)
        self._left -= len(data)
        if self._left < 0:
            raise InputError(self._path, None, "an archive that unpacks within the size limit",
                             "more")
        return data


def _member_parts(path: Path, member: tarfile.TarInfo) -> tuple[str, ...]:
    name = member.name
    if not (member.isfile() or member.isdir()):
        kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                else "a device" if (member.ischr() or member.isblk())
                else "a FIFO" if member.isfifo() else "a special member")
        raise InputError(path, _member(name), "regular files and directories only", kind)
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise InputError(path, _member(name), "a relative path", "an absolute or odd name")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InputError(path, _member(name), "a path inside the archive", "'..' in it")
    return parts


def _member(name: str) -> str:
    """A member's name as messages show it: escaped, and short (names are the input's)."""
    return f"member {describe_got(name, 80)}"


def _copy_exact(source, out, size: int, check: Callable[[int], None]) -> None:
    """Copy exactly the header's size: a member cannot write more than it declared.
    ``check(bytes written)`` runs after every chunk, to stop a bomb early."""
    left = size
    while left:
        chunk = source.read(min(left, 1 << 20))
        if not chunk:
            raise EOFError("member cut short")
        out.write(chunk)
        left -= len(chunk)
        check(size - left)


def _ratio_check(path: Path, name: str, packed, ratio: int) -> Callable[[int], None]:
    """Refuse a member once it has unpacked to more than ``ratio`` times the compressed
    bytes read since it began (``packed`` is the compressed file)."""
    start = packed.tell()

    def check(written: int) -> None:
        compressed = packed.tell() - start
        if written > ratio * (compressed + RATIO_SLACK):
            raise InputError(path, _member(name), f"at most {ratio}:1 expansion",
                             f"{written} bytes from {compressed} compressed")
    return check


# ----------------------------------------------------------------------------------------
# One run (this part runs in worker processes or on Dask workers)
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunResult:
    run_id: str
    row: dict
    report_json: bytes | None = None
    report_md: str | None = None
    final: bool = True   # False: the analysis process failed, not the bundle; retry next time


def analyse_run(run: Run, config: str | None = None) -> RunResult:
    """Analyse one bundle. Never raises: a bundle that cannot be analysed is a row with
    its error, so one bad run never stops a batch."""
    if run.bundle is None:
        return RunResult(run.run_id, error_row(run, run.error or "not a run bundle"))
    from .pipeline import analyze

    try:
        report = analyze(run.bundle, config=config)
    except CnfpostError as exc:
        # Errors name files where this process saw them (perhaps unpacked from a .tar.gz);
        # users know them by their path in the archive.
        return RunResult(run.run_id, error_row(run, _relabel(str(exc), run.bundle, run.source)))
    except Exception as exc:  # a bug in cnfpost: recorded, the batch goes on
        message = f"internal error: {type(exc).__name__}: {exc}"
        return RunResult(run.run_id, error_row(run, _relabel(message, run.bundle, run.source)))
    data = report.to_dict()
    # The same bytes as `cnfpost analyze RUN --json` (warnings name files relative to the run).
    return RunResult(run.run_id, index_row(run, data), report.to_json(), _markdown(data))


def analyse_runs(runs: list[Run], config: str | None = None) -> list[RunResult]:
    return [analyse_run(run, config) for run in runs]


def _markdown(report: dict) -> str | None:
    try:
        from .report.render import markdown
    except ImportError:  # the renderers are optional: the JSON report is the contract
        return None
    return markdown(report)


def index_row(run: Run, report: Mapping) -> dict:
    """The index row of an analysed run: identity, grades, medians, findings, hops."""
    layers = report["layered_analysis"]
    l7 = layers["l7"]["metrics"]
    phases = l7.get("phases") or {}
    row = _identity(run)
    row.update({
        "status": "ok", "error": None,
        "grade": report["overall"]["grade"],
        "grade_l3": layers["l3"]["quality"], "grade_l4": layers["l4"]["quality"],
        "grade_l7": layers["l7"]["quality"],
    })
    cause = report["overall"].get("cause")
    row["cause"] = None if cause is None else cause["code"]
    row["cause_phases"] = [] if cause is None else list(cause["phases"])
    row["cause_confidence"] = None if cause is None else cause["confidence"]
    for pid in PHASES:
        row[f"{pid}_ms"] = (phases.get(pid) or {}).get("median_ms")
    row["ttfb_ms"] = l7.get("ttfb_median_ms")
    row["total_ms"] = l7.get("total_median_ms")
    row["retrans_pct"] = layers["l4"]["metrics"].get("retransmission_rate_pct")
    # the path's latency, as L3 measured it (ping, mtr or the capture's echoes): a trend
    # beside the phases in summary.html, not an outlier metric
    row["rtt_ms"] = layers["l3"]["metrics"].get("rtt_avg_ms")
    serious = {f["code"] for f in report["findings"] if f["severity"] != "info"}
    info = {f["code"] for f in report["findings"] if f["severity"] == "info"}
    row["findings"] = sorted(serious)
    row["info_findings"] = sorted(info - serious)
    mtr = (report.get("path") or {}).get("mtr") or {}
    row["hops"] = [SILENT_HOP if h.get("silent") else (h.get("host") or h.get("address")
                                                       or SILENT_HOP)
                   for h in mtr.get("hops") or ()]
    return row


def error_row(run: Run, error: str) -> dict:
    row = _identity(run)
    # One line, whatever an exception's text held: stderr, index.csv and summary.md show it.
    error = error.replace("\r", "\\r").replace("\n", "\\n")
    row.update({"status": "error", "error": error, "grade": None, "grade_l3": None,
                "grade_l4": None, "grade_l7": None, "cause": None, "cause_phases": [],
                "cause_confidence": None, **{m: None for m in METRICS}, "rtt_ms": None,
                "findings": [], "info_findings": [], "hops": []})
    return row


def _identity(run: Run) -> dict:
    return {"run_id": run.run_id, "source": run.source, "probe": run.probe,
            "target": run.target, "time": run.time}


# ----------------------------------------------------------------------------------------
# The batch: stamps, parallel execution, atomic writes, index
# ----------------------------------------------------------------------------------------

@dataclass
class BatchResult:
    rows: list[dict]
    analysed: list[str] = field(default_factory=list)   # run ids analysed this time
    skipped: list[str] = field(default_factory=list)    # up to date: outputs reused
    failed: list[str] = field(default_factory=list)     # rows with an error (any reason)


def run_batch(archive: str | PathLike, out: str | PathLike, *, jobs: int = 1,
              scheduler: str | None = None, config: str | PathLike | None = None,
              force: bool = False, limits: ExtractLimits = ExtractLimits(),
              progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Analyse every run of ``archive`` into ``out`` (see the module docstring).

    ``jobs`` processes locally, or the Dask cluster at ``scheduler``; ``force`` re-analyses
    runs whose outputs are up to date. ``progress(done, total)`` is called as runs finish.
    """
    out = Path(out)
    check_dir(out, "--out")
    _remove_temporaries(out)
    th = load_config(config) if config else Thresholds()
    config_str = None if config is None else os.path.realpath(config)
    scratch = Path(os.path.realpath(out / EXTRACTED))
    runs = discover(archive, scratch, limits)
    by_id = {run.run_id: run for run in runs}
    code = code_digest()
    result = BatchResult(rows=[])
    rows: dict[str, dict] = {}
    todo: list[Run] = []
    stamps: dict[str, dict] = {}
    for run in runs:
        if run.bundle is None:
            rows[run.run_id] = error_row(run, run.error or "not a run bundle")
            continue
        stamps[run.run_id] = make_stamp(run, config, code)
        cached = None if force else _cached_row(out, run, stamps[run.run_id])
        if cached is not None:
            rows[run.run_id] = cached
            result.skipped.append(run.run_id)
            _discard_unpacked(run, scratch)
        else:
            todo.append(run)
    done = 0
    for res in _execute(todo, jobs, scheduler, config_str):
        _write_run(out, res, stamps[res.run_id])
        _discard_unpacked(by_id[res.run_id], scratch)
        rows[res.run_id] = res.row
        result.analysed.append(res.run_id)
        done += 1
        if progress is not None:
            progress(done, len(todo))
    result.rows = sorted(rows.values(), key=row_order)
    result.failed = [r["run_id"] for r in result.rows if r["status"] == "error"]
    result.analysed.sort()
    shutil.rmtree(scratch, ignore_errors=True)  # what no run claimed (broken bundles' rest)
    write_atomic(out / "index.jsonl", index_jsonl(result.rows))
    write_atomic(out / "index.csv", index_csv(result.rows).encode())
    summary = summarize(result.rows, th)
    write_atomic(out / "summary.md", summary_markdown(result.rows, summary).encode())
    from .report.batch_html import summary_html

    write_atomic(out / "summary.html", summary_html(result.rows, summary).encode())
    return result


def _remove_temporaries(out: Path) -> None:
    """What an interrupted batch may have left: write_atomic's temporary files and
    unpacked archives (nothing else under OUT has their names)."""
    for tmp in [*out.glob(f".*{TMP_SUFFIX}"), *out.glob(f"runs/*/.*{TMP_SUFFIX}")]:
        tmp.unlink(missing_ok=True)
    # Archives unpacked by an interrupted batch, some runs already deleted: unpack afresh.
    shutil.rmtree(out / EXTRACTED, ignore_errors=True)


def _discard_unpacked(run: Run, scratch: Path) -> None:
    """Delete a run's files once it is analysed when they were unpacked from a .tar.gz:
    an archive of captures must not be kept twice on disk."""
    if run.bundle is not None and Path(run.bundle).is_relative_to(scratch):
        shutil.rmtree(run.bundle, ignore_errors=True)


def tally(rows: list[Mapping]) -> str:
    """'35 run(s): 34 analysed, 1 failed': the one count that stdout and summary.md show."""
    ok = sum(1 for r in rows if r["status"] == "ok")
    return f"{len(rows)} run(s): {ok} analysed, {len(rows) - ok} failed"


def row_order(row: Mapping) -> tuple:
    return (row["probe"], row["target"], row["time"], row["run_id"])


def _execute(todo: list[Run], jobs: int, scheduler: str | None,
             config: str | None) -> Iterator[RunResult]:
    if not todo:
        return
    if scheduler:
        yield from _execute_dask(todo, scheduler, config)
    elif jobs <= 1:
        for run in todo:
            yield analyse_run(run, config)
    else:
        yield from _execute_pool(todo, jobs, config)


def _execute_pool(todo: list[Run], jobs: int, config: str | None) -> Iterator[RunResult]:
    import multiprocessing

    # Not fork: a fork of a process with threads (a Dask client, BLAS) can deadlock. The
    # forkserver is a fresh single-threaded process that imports the pipeline once; each
    # worker forks from it ready to work (spawn would import NumPy and cnfpost per worker).
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["cnfpost.pipeline", "cnfpost.batch"])
    else:
        context = multiprocessing.get_context("spawn")
    # A few runs per task: a pool's round trip per task costs about as much as analysing a
    # small run. At least 4 tasks per worker keep the workers evenly busy; at most 8 runs
    # per task keep the progress bar moving and lose little if a worker dies.
    size = max(1, min(8, len(todo) // (4 * jobs)))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             initializer=_ignore_sigint) as pool:
        futures = {pool.submit(analyse_runs, chunk, config): chunk for chunk in chunks}
        try:
            for future in as_completed(futures):
                try:
                    yield from future.result()
                except Exception as exc:
                    yield from (_process_failed(run, exc) for run in futures[future])
        except BaseException:  # Ctrl-C: do not analyse the runs still queued
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to this process, which stops the pool (one message, no
    traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _execute_dask(todo: list[Run], scheduler: str, config: str | None) -> Iterator[RunResult]:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise InputError(None, "--scheduler", "dask.distributed installed "
                         "(pip install 'cnfpost[dask]')", "no module dask.distributed") from None
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise InputError(None, "--scheduler", "a reachable Dask scheduler address",
                         f"{scheduler} ({exc})") from None
    with client:
        futures = client.map(analyse_run, todo, config=config, pure=False)
        by_key = {f.key: run for f, run in zip(futures, todo)}
        for future in dask_completed(futures):
            yield _collect(by_key[future.key], future)


def _collect(run: Run, future) -> RunResult:
    try:
        return future.result()
    except Exception as exc:
        return _process_failed(run, exc)


def _process_failed(run: Run, exc: Exception) -> RunResult:
    """A worker that died (not the bundle's fault) gives an error row that is retried on
    the next run: no stamp is written for it."""
    return RunResult(run.run_id, error_row(run, f"analysis process failed: "
                                                f"{type(exc).__name__}: {exc}"), final=False)


def make_stamp(run: Run, config: str | PathLike | None = None, code: str | None = None) -> dict:
    """What a run's outputs are made from: every file of the bundle (by sha256), the
    config, the cnfpost version and code. Equal stamps, equal outputs."""
    root = Path(run.bundle)
    files = {p.name: sha256_file(p) for p in sorted(root.iterdir()) if p.is_file()}
    return {"cnfpost": __version__, "code": code, "row_schema": ROW_SCHEMA,
            "source": run.source, "run_id": run.run_id, "inputs": files,
            "config": None if config is None else sha256_file(Path(config))}


def code_digest() -> str:
    """sha256 over cnfpost's own modules and extensions. The version alone is not enough:
    a development checkout changes what the reports say without changing the version,
    and a resumed batch must not mix reports of two different analyses."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".so", ".pyd", ".json") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def _cached_row(out: Path, run: Run, stamp: dict) -> dict | None:
    folder = out / "runs" / run.run_id
    try:
        old = orjson.loads((folder / "stamp.json").read_bytes())
        row = orjson.loads((folder / "row.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if old != stamp:
        return None
    if row.get("status") == "ok" and not (folder / "report.json").is_file():
        return None
    return row


def _write_run(out: Path, res: RunResult, stamp: dict) -> None:
    folder = out / "runs" / res.run_id
    folder.mkdir(parents=True, exist_ok=True)
    # The stamp goes first out and last in: a batch killed in between finds no stamp, or
    # an old one that no longer matches, and does the run again.
    try:
        (folder / "stamp.json").unlink()
    except FileNotFoundError:
        pass
    for name, data in (("report.json", res.report_json),
                       ("report.md", None if res.report_md is None else res.report_md.encode())):
        if data is not None:
            write_atomic(folder / name, data)
        else:
            try:
                (folder / name).unlink()  # an old report must not outlive a failed run
            except FileNotFoundError:
                pass
    write_atomic(folder / "row.json", _json(res.row))
    if res.final:
        write_atomic(folder / "stamp.json", _json(stamp))


def _json(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                        | orjson.OPT_APPEND_NEWLINE)


def index_jsonl(rows: Iterable[Mapping]) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
                    for r in rows)


def index_csv(rows: Iterable[Mapping]) -> str:
    """One row per run; lists joined with spaces (codes) or ' > ' (hops)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for r in rows:
        cells = []
        for col in INDEX_COLUMNS:
            value = r.get(col)
            if col == "hops":
                value = " > ".join(value or ())
            elif isinstance(value, list):
                value = " ".join(value)
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------
# Summary: trends, outliers, path changes (pure)
# ----------------------------------------------------------------------------------------

MAD_TO_SIGMA = 0.6745          # Iglewicz & Hoaglin's modified z-score constant
MEANAD_TO_SIGMA = 1.253314     # sqrt(pi/2): the same role for the mean absolute deviation
TREND_WINDOWS = 6              # rows of a trend table: consecutive runs, equal counts


@dataclass(frozen=True)
class Summary:
    trends: list[dict]
    outliers: list[dict]
    path_changes: list[dict]
    failed: list[dict]


def summarize(rows: Iterable[Mapping], th: Mapping[str, float] | None = None) -> Summary:
    """Trends per probe and target, runs that stand out against their own history, and
    changes of the hop list between consecutive runs of a probe and target.

    Pure and order-independent: rows are grouped by (probe, target) and ordered by time.
    """
    th = th if th is not None else Thresholds()
    series: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    failed = []
    for row in sorted(rows, key=row_order):
        if row["status"] == "ok":
            series[(row["probe"], row["target"])].append(row)
        else:
            failed.append({k: row[k] for k in ("run_id", "source", "probe", "target", "time",
                                               "error")})
    trends, outliers, changes = [], [], []
    for (probe, target), runs in sorted(series.items()):
        trends.append(_trend(probe, target, runs))
        outliers += _outliers(runs, th)
        changes += _path_changes(runs)
    return Summary(trends, outliers, changes, failed)


def robust_z(value: float, values: list[float]) -> tuple[float, float, float]:
    """(z, median, MAD) of ``value`` against ``values``: 0.6745 (x - median) / MAD, or
    (x - median) / (1.253314 MeanAD) when MAD is 0; z is 0 when every value is equal."""
    med = statistics.median(values)
    deviations = [abs(v - med) for v in values]
    mad = statistics.median(deviations)
    if mad > 0:
        return MAD_TO_SIGMA * (value - med) / mad, med, mad
    mean_ad = statistics.fmean(deviations)
    if mean_ad > 0:
        return (value - med) / (MEANAD_TO_SIGMA * mean_ad), med, mad
    return 0.0, med, mad


def _outliers(runs: list[Mapping], th: Mapping[str, float]) -> list[dict]:
    if len(runs) < th["batch.min_history"]:
        return []
    found: dict[str, dict] = {}
    for metric in METRICS:
        values = [r[metric] for r in runs if r.get(metric) is not None]
        if len(values) < th["batch.min_history"]:
            continue
        floor = th["batch.outlier_min_retrans_pct"] if metric == "retrans_pct" \
            else th["batch.outlier_min_ms"]
        for r in runs:
            x = r.get(metric)
            if x is None:
                continue
            z, med, mad = robust_z(x, values)
            if z > th["batch.outlier_z"] and x - med >= floor:
                entry = found.setdefault(r["run_id"], {
                    "run_id": r["run_id"], "source": r["source"], "probe": r["probe"],
                    "target": r["target"], "time": r["time"], "metrics": [],
                    "findings": list(r.get("findings") or ())})
                entry["metrics"].append({"metric": metric, "value": x, "median": round(med, 3),
                                         "mad": round(mad, 3), "z": round(z, 2),
                                         "runs": len(values)})
    return sorted(found.values(), key=row_order)


def same_path(a: list[str], b: list[str]) -> bool:
    """Equal hop lists; a silent hop (???) matches any host, since one run's lost replies
    are not a new route."""
    return len(a) == len(b) and all(x == y or SILENT_HOP in (x, y) for x, y in zip(a, b))


def _path_changes(runs: list[Mapping]) -> list[dict]:
    out = []
    previous = None
    for r in runs:
        hops = list(r.get("hops") or ())
        if not hops:
            continue  # no mtr in this run: nothing to compare
        if previous is not None and not same_path(previous["hops"], hops):
            out.append({"probe": r["probe"], "target": r["target"],
                        "before_run": previous["run_id"], "before_time": previous["time"],
                        "after_run": r["run_id"], "after_time": r["time"],
                        "before": list(previous["hops"]), "after": hops})
        previous = r
    return out


def _trend(probe: str, target: str, runs: list[Mapping]) -> dict:
    windows = []
    for chunk in _chunks(runs, TREND_WINDOWS):
        medians = {}
        for metric in METRICS:
            values = [r[metric] for r in chunk if r.get(metric) is not None]
            medians[metric] = round(statistics.median(values), 3) if values else None
        windows.append({"from": chunk[0]["time"], "to": chunk[-1]["time"], "runs": len(chunk),
                        "grades": dict(sorted(Counter(r["grade"] for r in chunk).items())),
                        "medians": medians})
    seen: dict[str, list[Mapping]] = defaultdict(list)
    for r in runs:
        for code in r.get("findings") or ():
            seen[code].append(r)
    recurring = [{"code": code, "runs": len(rs), "first": rs[0]["time"], "last": rs[-1]["time"]}
                 for code, rs in sorted(seen.items()) if len(rs) >= 2]
    return {"probe": probe, "target": target, "runs": len(runs), "first": runs[0]["time"],
            "last": runs[-1]["time"], "windows": windows, "recurring_findings": recurring}


def _chunks(items: list, n: int) -> list[list]:
    """Up to n consecutive slices of near-equal length (the first ones one longer)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


# ----------------------------------------------------------------------------------------
# summary.md
# ----------------------------------------------------------------------------------------

_SHORT = {"dns_ms": "DNS", "tcp_ms": "TCP", "tls_ms": "TLS", "request_ms": "request",
          "server_ms": "server", "download_ms": "download", "ttfb_ms": "TTFB",
          "total_ms": "total", "retrans_pct": "retrans %"}


def summary_markdown(rows: list[Mapping], summary: Summary) -> str:
    lines = ["# cnfpost batch summary", "",
             f"{tally(rows)}. "
             "Durations are medians over each run's samples, in ms; the retransmission rate "
             "is retransmitted per 100 data segments.", ""]
    lines += ["## Runs that stand out", "",
              "Against the run's own history (every analysed run of the same probe and target): "
              "robust z = 0.6745 (value - median) / MAD above the `batch.outlier_z` threshold, "
              "and above the median by at least `batch.outlier_min_ms` "
              "(`batch.outlier_min_retrans_pct` for the retransmission rate).", ""]
    if summary.outliers:
        lines += ["| run | probe | target | time | stands out in (value; median, MAD, robust z) "
                  "| its findings |", "|---|---|---|---|---|---|"]
        for o in summary.outliers:
            what = "; ".join(f"{_SHORT[m['metric']]} {_num(m['value'])} ({_num(m['median'])}, "
                             f"{_num(m['mad'])}, z {m['z']:.1f})" for m in o["metrics"])
            codes = ", ".join(f"`{c}`" for c in o["findings"]) or "none"
            lines.append(f"| {_cell(o['run_id'])} | {_cell(o['probe'])} | {_cell(o['target'])} "
                         f"| {o['time']} | {what} | {codes} |")
    else:
        lines.append("None.")
    lines += ["", "## Path changes", "",
              "Consecutive runs of the same probe and target whose mtr hop lists differ "
              "(a silent hop, ???, matches any host).", ""]
    if summary.path_changes:
        lines += ["| probe | target | from run | to run | before | after |",
                  "|---|---|---|---|---|---|"]
        for c in summary.path_changes:
            lines.append(f"| {_cell(c['probe'])} | {_cell(c['target'])} | "
                         f"{_cell(c['before_run'])} ({c['before_time']}) | "
                         f"{_cell(c['after_run'])} ({c['after_time']}) | "
                         f"{_cell(' > '.join(c['before']))} | {_cell(' > '.join(c['after']))} |")
    else:
        lines.append("None.")
    lines += ["", "## Trends", ""]
    if not summary.trends:
        lines.append("No analysed run.")
    for t in summary.trends:
        lines += [f"### {_cell(t['target'])} from {_cell(t['probe'] or '(unknown probe)')}", "",
                  f"{t['runs']} analysed run(s), {t['first'] or '?'} to {t['last'] or '?'}; "
                  "each line is a stretch of consecutive runs.", "",
                  "| from | to | runs | grades | " + " | ".join(_SHORT[m] for m in METRICS) + " |",
                  "|---|---|---:|---|" + "---:|" * len(METRICS)]
        for w in t["windows"]:
            grades = ", ".join(f"{g} {n}" for g, n in w["grades"].items())
            lines.append(f"| {w['from']} | {w['to']} | {w['runs']} | {grades} | "
                         + " | ".join(_num(w["medians"][m]) for m in METRICS) + " |")
        lines.append("")
        if t["recurring_findings"]:
            lines.append("Recurring findings (warning or critical, in 2 runs or more):")
            lines.append("")
            for f in t["recurring_findings"]:
                lines.append(f"- `{f['code']}` in {f['runs']} of {t['runs']} runs "
                             f"({f['first']} to {f['last']})")
        else:
            lines.append("No recurring warning or critical finding.")
        lines.append("")
    lines += ["## Failed runs", ""]
    if summary.failed:
        lines += ["| run | source | error |", "|---|---|---|"]
        for f in summary.failed:
            lines.append(f"| {_cell(f['run_id'])} | {_cell(f['source'])} | {_cell(f['error'])} |")
    else:
        lines.append("None.")
    return "\n".join(lines).rstrip("\n") + "\n"


def _num(value) -> str:
    """3 decimals at most, trailing zeros dropped; '–' for no value."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _cell(text: str | None) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")
