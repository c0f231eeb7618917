"""Running a batch: each run analysed (here, in a local process pool or on a Dask
cluster), its outputs stamped and written, the index and summaries written at the end.

    result = run_batch("archive/", "out/", jobs=4)
    result.analysed, result.skipped, result.failed

This process discovers the runs, checks stamps and writes every file; only
:func:`analyse_run` runs elsewhere, and it only reads the bundle. The outputs are therefore
the same bytes whichever way the work was spread. A run whose stamp (the sha256 of its
files, the config, cnfpost's version and code) matches is not analysed again, so a re-run
resumes an interrupted batch. Every file is written through ``outputs.write_atomic``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Callable

import orjson

from .. import __version__
from ..errors import CnfpostError, InputError
from ..outputs import TMP_SUFFIX, check_dir, sha256_file, write_atomic
from ..thresholds import Thresholds, load_config
from .archive import EXTRACTED, ExtractLimits, Run, discover, relabel
from .index import ROW_SCHEMA, error_row, index_csv, index_jsonl, index_row, row_order
from .stats import summarize

__all__ = ["RunResult", "BatchResult", "analyse_run", "analyse_runs", "run_batch",
           "make_stamp", "code_digest"]


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
    from ..pipeline import analyze

    try:
        report = analyze(run.bundle, config=config)
    except CnfpostError as exc:
        # Errors name files where this process saw them (perhaps unpacked from a .tar.gz);
        # users know them by their path in the archive.
        return RunResult(run.run_id, error_row(run, relabel(str(exc), run.bundle, run.source)))
    except Exception as exc:  # a bug in cnfpost: recorded, the batch goes on
        message = f"internal error: {type(exc).__name__}: {exc}"
        return RunResult(run.run_id, error_row(run, relabel(message, run.bundle, run.source)))
    data = report.to_dict()
    # The same bytes as `cnfpost analyze RUN --json` (warnings name files relative to the run).
    return RunResult(run.run_id, index_row(run, data), report.to_json(), _markdown(data))


def analyse_runs(runs: list[Run], config: str | None = None) -> list[RunResult]:
    return [analyse_run(run, config) for run in runs]


def _markdown(report: dict) -> str | None:
    try:
        from ..report.render import markdown
    except ImportError:  # the renderers are optional: the JSON report is the contract
        return None
    return markdown(report)


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
    """Analyse every run of ``archive`` into ``out`` (see the package docstring).

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
    # Looked up on the package when called, as in the single module this was: replacing
    # cnfpost.batch.analyse_run or .code_digest (the tests do, to interrupt a batch and to
    # stand for an upgrade) replaces them for the batch too.
    from . import analyse_run as analyse, code_digest as digest

    code = digest()
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
    for res in _execute(todo, jobs, scheduler, config_str, analyse):
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
    from ..report.batch_html import summary_html
    from ..report.batch_summary import summary_markdown

    write_atomic(out / "summary.md", summary_markdown(result.rows, summary).encode())
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


def _execute(todo: list[Run], jobs: int, scheduler: str | None, config: str | None,
             analyse: Callable[..., RunResult]) -> Iterator[RunResult]:
    if not todo:
        return
    if scheduler:
        yield from _execute_dask(todo, scheduler, config, analyse)
    elif jobs <= 1:
        for run in todo:
            yield analyse(run, config)
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


def _execute_dask(todo: list[Run], scheduler: str, config: str | None,
                  analyse: Callable[..., RunResult]) -> Iterator[RunResult]:
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
        futures = client.map(analyse, todo, config=config, pure=False)
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
    package = Path(__file__).resolve().parents[1]  # cnfpost/, not cnfpost/batch/
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

