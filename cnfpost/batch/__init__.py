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

One job per module; this package only gathers their public names:

    archive.py   discovery of the runs, and safe unpacking of .tar.gz archives
    runner.py    each run analysed (here, a process pool or Dask), stamps, resume, run_batch
    index.py     the index rows, index.jsonl and index.csv
    stats.py     trends, runs that stand out (robust z), path changes: plain records
    ../report/batch_summary.py, ../report/batch_html.py   summary.md and summary.html
    ../outputs.py   atomic writes and hashing
"""
from __future__ import annotations

from .. import __version__
from ..outputs import write_atomic
from .archive import (EXTRACTED, RATIO_SLACK, TAR_SUFFIXES, ExtractLimits, Run, discover,
                      extract_tar)
from .index import (INDEX_COLUMNS, METRICS, PHASES, ROW_SCHEMA, SILENT_HOP, error_row,
                    index_csv, index_jsonl, index_row, row_order, tally)
from .runner import (BatchResult, RunResult, analyse_run, analyse_runs, code_digest,
                     make_stamp, run_batch)
from .stats import (MAD_TO_SIGMA, MEANAD_TO_SIGMA, TREND_WINDOWS, Summary, robust_z,
                    same_path, summarize)

__all__ = [
    "Run", "RunResult", "BatchResult", "ExtractLimits", "discover", "extract_tar",
    "analyse_run", "analyse_runs", "index_row", "summarize", "summary_markdown", "run_batch",
    "write_atomic", "make_stamp", "code_digest", "INDEX_COLUMNS", "METRICS",
    # also public before the split into modules, and imported by the CLI and the tests
    "ROW_SCHEMA", "PHASES", "SILENT_HOP", "TAR_SUFFIXES", "EXTRACTED", "RATIO_SLACK",
    "error_row", "index_jsonl", "index_csv", "tally", "row_order", "Summary", "robust_z",
    "same_path", "MAD_TO_SIGMA", "MEANAD_TO_SIGMA", "TREND_WINDOWS",
    "__version__",  # the version a run's stamp records
]


def __getattr__(name: str):
    # summary.md is rendered by report/: imported when asked for, so that importing the
    # batch (a worker does) does not import the renderers, and report/batch_summary.py
    # may import the batch's index without a cycle.
    if name == "summary_markdown":
        from ..report.batch_summary import summary_markdown

        return summary_markdown
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
