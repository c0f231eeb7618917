"""The command line. Thin: parse arguments, call the library, render, write, exit.

Exit status: 0 done, 1 for `analyze --fail-on` (a finding at that severity) and for
`regress` (a regression), 2 bad input (one line on stderr,
the error shape of cnfpost.errors), 3 an internal error (one line; `--traceback` shows
the traceback instead, for debugging).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .errors import CnfpostError, ExitCode

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="cnfpost")
@click.option("--traceback", is_flag=True, help="Show a traceback on errors (debugging).")
def cli(traceback: bool) -> None:
    """cnfpost: why was this request slow? L3 path, L4 TCP and L7 HTTP from a probe's
    capture, mtr, ping and curl timings, with the packets as proof."""


def _progress(enabled: bool):
    """A progress line on stderr for long captures, only when stderr is a terminal."""
    if not (enabled and sys.stderr.isatty()):
        return None

    def report(done: int, total: int) -> None:
        if total:
            sys.stderr.write(f"\rdecoding {100 * done // total:3d}% ")
        else:
            sys.stderr.write(f"\rdecoding {done / 1e6:,.0f} MB ")
        sys.stderr.flush()
    return report


def _read(capture: str, engine: str):
    from .capture import read_capture

    progress = _progress(True)
    table = read_capture(capture, engine=engine, progress=progress)
    if progress:
        sys.stderr.write("\r" + " " * 20 + "\r")
    return table


ENGINE_OPTION = click.option(
    "--engine", type=click.Choice(["compiled", "python"]), default="compiled", show_default=True,
    help="Decoder: the compiled one, or the pure-Python reference (slow; for cross-checks).")


@cli.command()
@click.argument("capture")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@ENGINE_OPTION
def info(capture: str, as_json: bool, engine: str) -> None:
    """What capinfos tells about CAPTURE (a pcap/pcapng path, or - for stdin)."""
    import orjson

    from .info import format_text, summarize

    from .tcp import analyze_tcp

    table = _read(capture, engine)
    summary = summarize(table, analyze_tcp(table, engine=engine))
    if as_json:
        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_text(summary), nl=False)
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@click.argument("capture", required=False)
@click.option("--fields", "-e", "fields", multiple=True,
              help="Wireshark field names, repeatable or comma-separated (default: a tshark-like set).")
@click.option("--format", "fmt", type=click.Choice(["csv", "tsv", "jsonl"]), default="csv",
              show_default=True)
@click.option("--output", "-o", default="-", show_default=True, help="Output file, - for stdout.")
@click.option("--list-fields", is_flag=True, help="List the available fields and exit.")
@ENGINE_OPTION
def packets(capture: str | None, fields: tuple[str, ...], fmt: str, output: str,
            list_fields: bool, engine: str) -> None:
    """Export CAPTURE's per-packet table with Wireshark field names as columns."""
    from .export import check_fields, write_packets
    from .fields import DEFAULT_FIELDS, FIELDS

    if list_fields:
        for field in FIELDS.values():
            click.echo(f"{field.name:32} {field.doc}")
        return
    if capture is None:
        raise click.UsageError("missing argument CAPTURE")
    names = [n.strip() for item in fields for n in item.split(",") if n.strip()]
    names = check_fields(names or DEFAULT_FIELDS)
    table = _read(capture, engine)
    with _open_output(output) as out:
        write_packets(table, names, fmt, out)
    for warning in table.stats.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@click.argument("source", required=False)
@click.option("--timings", "-t", help="curl -w '%{json}' output (one object per line).")
@click.option("--mtr", "-m", help="mtr --json output (or mtr --raw).")
@click.option("--ping", "-p", help="ping output (iputils, BusyBox or BSD).")
@click.option("--ping-loaded", help="ping output taken while a download ran (bufferbloat).")
@click.option("--json", "json_out", metavar="OUT", help="Write the JSON report here (- for stdout).")
@click.option("--markdown", "md_out", metavar="OUT", help="Write the Markdown report here (- for stdout).")
@click.option("--config", "-c", help="TOML file overriding thresholds ([thresholds] table).")
@click.option("--fail-on", type=click.Choice(["warning", "critical"]),
              help="Exit 1 when a finding of this severity or worse exists (for CI).")
@click.option("--quiet", "-q", is_flag=True, help="No terminal summary.")
@ENGINE_OPTION
def analyze(source: str | None, timings: str | None, mtr: str | None, ping: str | None,
            ping_loaded: str | None, json_out: str | None, md_out: str | None,
            config: str | None, fail_on: str | None, quiet: bool, engine: str) -> None:
    """Explain a run, layer by layer: SOURCE is a capture (pcap/pcapng, - for stdin) or a
    run directory written by the collector; every input is optional, at least one is needed.

    \b
    cnfpost analyze capture.pcap --timings t.jsonl --mtr m.json --ping p.txt
    cnfpost analyze RUN_DIR --json report.json --markdown report.md
    """
    from .pipeline import analyze as run_analysis
    from .report import render

    if json_out == "-" and md_out == "-":
        raise click.UsageError("--json - and --markdown - would both write to stdout: pick one")
    progress = _progress(True)
    report = run_analysis(source, timings=timings, mtr=mtr, ping=ping, ping_loaded=ping_loaded,
                          config=config, engine=engine, progress=progress)
    if progress:
        sys.stderr.write("\r" + " " * 20 + "\r")
    to_stdout = "-" in (json_out, md_out)
    if json_out:
        _write(json_out, report.to_json().decode())
    if md_out:
        _write(md_out, render.markdown(report))
    if not quiet and not to_stdout:
        click.echo(render.terminal(report, color=render.use_color(sys.stdout)), nl=False)
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if fail_on:
        worst = {"warning": ("warning", "critical"), "critical": ("critical",)}[fail_on]
        if any(f["severity"] in worst for f in report["findings"]):
            sys.exit(int(ExitCode.FINDINGS))


def _open_output(target: str):
    """An output file: '-' is stdout; a new or regular file is written atomically (a reader
    never sees half of it); anything else (/dev/null, a FIFO, a symlink) is written in
    place, since an atomic rename would replace the device or the link itself."""
    path = Path(target)
    atomic = target != "-" and not path.is_symlink() and (not path.exists() or path.is_file())
    return click.open_file(target, "w", encoding="utf-8", atomic=atomic)


def _write(target: str, text: str) -> None:
    with _open_output(target) as out:
        out.write(text)


@cli.command()
@click.argument("archive")
@click.option("--out", "-o", "out_dir", required=True, metavar="DIR",
              help="Where the reports, index.jsonl, index.csv and summary.md go.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs analysed in parallel (processes).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on this Dask distributed scheduler instead (pip install 'cnfpost[dask]'); "
                   "the workers must see the archive's paths.")
@click.option("--config", "-c", help="TOML file overriding thresholds ([thresholds] table).")
@click.option("--force", is_flag=True, help="Re-analyse runs whose reports are up to date.")
def batch(archive: str, out_dir: str, jobs: int, scheduler: str | None, config: str | None,
          force: bool) -> None:
    """Analyse every run bundle in ARCHIVE (a directory, at any depth, or a .tar.gz; .tar.gz
    files inside are opened too) and write each run's reports, an index and a summary of
    trends, outliers and path changes. Broken runs are listed with their error; a re-run
    skips runs whose reports are up to date."""
    from .batch import run_batch

    def progress(done: int, total: int) -> None:
        filled = 30 * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} run(s) ")
        sys.stderr.flush()

    tty = sys.stderr.isatty()
    result = run_batch(archive, out_dir, jobs=jobs, scheduler=scheduler, config=config,
                       force=force, progress=progress if tty else None)
    if tty and result.analysed:
        sys.stderr.write("\r" + " " * 60 + "\r")
    click.echo(f"{len(result.rows)} run(s): {len(result.analysed)} analysed, "
               f"{len(result.skipped)} up to date, {len(result.failed)} failed; "
               f"see {out_dir}/summary.md")
    for row in result.rows:
        if row["status"] == "error":
            error = row["error"]
            click.echo("failed: " + (error if error.startswith(row["source"])
                                     else f"{row['source']}: {error}"), err=True)


@cli.command()
@click.argument("golden_dir")
@click.option("--update", is_flag=True,
              help="Rewrite expected/report.json and report.md from a fresh analysis "
                   "(after a deliberate change; review the diff).")
def regress(golden_dir: str, update: bool) -> None:
    """Re-analyse every golden bundle under GOLDEN_DIR and compare with its expected/
    report: counts, codes, grades and verdicts exactly, timings within max(1 ms, 5 %).
    Exit 1 on a regression, 0 otherwise."""
    from pathlib import Path

    from .regress import Tolerance, format_result
    from .regress import regress as run_regress

    results = run_regress(golden_dir, update=update)
    base = Path(golden_dir).resolve()
    for res in results:
        shown = golden_dir if res.bundle == base else \
            f"{golden_dir.rstrip('/')}/{res.bundle.relative_to(base).as_posix()}"
        click.echo(format_result(res, shown), nl=False)
    bad = [r for r in results if r.failed]
    click.echo(f"{len(results)} golden bundle(s), {len(bad)} failing"
               + ("" if update else f"; {Tolerance().describe()}"))
    if bad:
        sys.exit(int(ExitCode.FINDINGS))


@cli.command("collect-script")
@click.option("--path", "show_path", is_flag=True, help="Print where the script is instead.")
def collect_script(show_path: bool) -> None:
    """Print the probe-side collector (POSIX sh: tcpdump, ping, mtr, curl; no Python), to
    copy to a probe:  cnfpost collect-script > cnfpost-collect && sh cnfpost-collect --help"""
    from .inputs.bundle import collect_script_path

    path = collect_script_path()
    if show_path:
        click.echo(str(path))
    else:
        click.echo(path.read_text(encoding="utf-8"), nl=False)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the one place that turns errors into exit codes."""
    args = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in args
    # cnfpost does no linear algebra: OpenBLAS worker threads would only spin beside the
    # decoder on the probe's few cores (numpy is imported later, lazily, so this applies).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cli.main(args=args, prog_name="cnfpost", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except CnfpostError as exc:
        if show_traceback:
            raise
        click.echo(str(exc), err=True)
        sys.exit(int(exc.exit_code))
    except BrokenPipeError:
        sys.stderr.close()  # a closed pipe (| head) is not an error
        sys.exit(0)
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if show_traceback:
            raise
        click.echo(f"cnfpost: internal error: {type(exc).__name__}: {exc} "
                   "(run with --traceback for details)", err=True)
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(int(ExitCode.OK))


if __name__ == "__main__":
    main()
