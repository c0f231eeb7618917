"""The command line. Thin: parse arguments, call the library, render, write, exit.

Exit status: 0 done (a closed pipe included), 1 for `analyze --fail-on` (a finding at that
severity) and for `regress` (a regression), 2 bad input or an output path that cannot be
written, and a batch in which no run could be analysed (one line on stderr, the error shape
of cnfpost.errors), 3 an internal error (one line; `--traceback` shows the traceback
instead, for debugging), 130 interrupted.
"""
from __future__ import annotations

import contextlib
import os
import sys

import click

from .errors import CnfpostError, ExitCode, InputError, Interrupted, format_problem
from .outputs import check_file, os_reason, output_error, writes_in_place
from .inputs.registry import KIND
from .memory import fix_mmap_threshold

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(package_name="cnfpost")
@click.option("--traceback", is_flag=True,
              help="Show a traceback on errors (debugging; accepted anywhere on the line).")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """cnfpost: why was this request slow? L3 path, L4 TCP and L7 HTTP from a probe's
    capture, mtr, ping and curl timings, with the packets as proof.

    \b
    cnfpost analyze RUN_DIR --markdown report.md
    cnfpost analyze capture.pcap --timings t.jsonl --mtr m.json --ping p.txt
    cnfpost COMMAND --help

    \b
    Exit status: 0 done; 1 a finding at --fail-on's severity (analyze) or a
    regression (regress); 2 bad input or an unusable output path, or a batch
    in which no run could be analysed (one line on stderr); 3 an internal error
    (--traceback shows it); 130 interrupted.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # asked for nothing: the help is the answer


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


# File options show as PATH. Whether a path can be read or written is cnfpost's own check,
# so that every problem has the one error shape: click.Path checks nothing here.
PATH = click.Path(allow_dash=True)

CONFIG_OPTION = click.option("--config", "-c", type=PATH,
                             help="TOML file overriding thresholds ([thresholds] table).")
ENGINE_OPTION = click.option(
    "--engine", type=click.Choice(["compiled", "python"]), default="compiled", show_default=True,
    help="Decoder: the compiled one, or the pure-Python reference (slow; for cross-checks).")


@cli.command()
@click.argument("capture", type=PATH)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@ENGINE_OPTION
def info(capture: str, as_json: bool, engine: str) -> None:
    """What capinfos tells about CAPTURE (a pcap/pcapng path, or - for stdin), and the TCP
    conversations as tshark -z conv,tcp lists them.

    \b
    cnfpost info capture.pcap
    tcpdump -i eth0 -w - | cnfpost info --json -
    """
    import orjson

    from .info import format_text, summarize

    from .tcp import analyze_tcp

    table = _read(capture, engine)
    summary = summarize(table, analyze_tcp(table, engine=engine, per_frame=False))
    if as_json:
        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_text(summary), nl=False)
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@click.argument("capture", required=False, type=PATH)
@click.option("--fields", "-e", "fields", multiple=True, metavar="FIELD",
              help="Wireshark field names, repeatable or comma-separated "
                   "(default: a tshark-like set).")
@click.option("--format", "fmt", type=click.Choice(["csv", "tsv", "jsonl"]), default="csv",
              show_default=True,
              help="csv and tsv: a header of field names, then one line per packet; jsonl: one "
                   "JSON object per packet.")
@click.option("--output", "-o", default="-", show_default=True, type=PATH,
              help="Output file, - for stdout.")
@click.option("--list-fields", is_flag=True, help="List the available fields and exit.")
@ENGINE_OPTION
def packets(capture: str | None, fields: tuple[str, ...], fmt: str, output: str,
            list_fields: bool, engine: str) -> None:
    """Export CAPTURE's per-packet table with Wireshark field names as columns.

    \b
    cnfpost packets capture.pcap -e frame.number,ip.src,tcp.analysis.retransmission
    cnfpost packets capture.pcap --format jsonl -o packets.jsonl
    cnfpost packets --list-fields
    """
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
    check_file(output, "--output")
    table = _read(capture, engine)
    with _output(output, "--output") as out:
        write_packets(table, names, fmt, out)
    for warning in table.stats.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.command()
@click.argument("source", required=False, type=PATH)
@click.option("--timings", "-t", type=PATH, help=KIND["timings"].help)
@click.option("--mtr", "-m", type=PATH, help=KIND["mtr"].help)
@click.option("--ping", "-p", type=PATH, help=KIND["ping"].help)
@click.option("--ping-loaded", type=PATH, help=KIND["ping_loaded"].help)
@click.option("--server-capture", type=PATH, help=KIND["server_capture"].help)
@click.option("--json", "json_out", type=PATH, help="Write the JSON report here (- for stdout).")
@click.option("--markdown", "md_out", type=PATH,
              help="Write the Markdown report here (- for stdout).")
@click.option("--html", "html_out", type=PATH,
              help="Write the HTML report with graphs here (one self-contained file).")
@click.option("--evidence-pcap", "pcap_out", type=PATH,
              help="Write the frames behind every finding, commented with the codes, "
                   "as pcapng here.")
@click.option("--har", "har_out", type=PATH, help="Write the samples as HAR 1.2 here.")
@CONFIG_OPTION
@click.option("--fail-on", type=click.Choice(["warning", "critical"]),
              help="Exit 1 when a finding of this severity or worse exists (for CI).")
@click.option("--quiet", "-q", is_flag=True, help="No terminal summary.")
@ENGINE_OPTION
def analyze(source: str | None, timings: str | None, mtr: str | None, ping: str | None,
            ping_loaded: str | None, server_capture: str | None, json_out: str | None,
            md_out: str | None, html_out: str | None, pcap_out: str | None,
            har_out: str | None,
            config: str | None, fail_on: str | None, quiet: bool, engine: str) -> None:
    """Explain a run, layer by layer: SOURCE is a capture (pcap/pcapng, - for stdin) or a
    run directory written by the collector; every input is optional, at least one is needed.

    \b
    cnfpost analyze capture.pcap --timings t.jsonl --mtr m.json --ping p.txt
    cnfpost analyze RUN_DIR --json report.json --markdown report.md
    cnfpost analyze RUN_DIR --html report.html --evidence-pcap evidence.pcapng --har run.har
    """
    from .pipeline import analyze as run_analysis
    from .report import render

    outputs = ((json_out, "--json"), (md_out, "--markdown"), (html_out, "--html"),
               (pcap_out, "--evidence-pcap"), (har_out, "--har"))
    to_stdout = [option for target, option in outputs if target == "-"]
    if len(to_stdout) > 1:
        both = "both" if len(to_stdout) == 2 else "all"
        raise click.UsageError(f"{' - and '.join(to_stdout)} - would {both} write to stdout: "
                               "pick one")
    if pcap_out == "-":
        raise click.UsageError("--evidence-pcap needs a file (pcapng is binary)")
    for target, option in outputs:
        if target:
            check_file(target, option)
    if pcap_out and source == "-":
        from .evidence_pcap import STDIN_REASON

        raise InputError(pcap_out, None, "a capture --evidence-pcap can read again",
                         STDIN_REASON)
    progress = _progress(True)
    report = run_analysis(source, timings=timings, mtr=mtr, ping=ping, ping_loaded=ping_loaded,
                          server_capture=server_capture,
                          config=config, engine=engine, progress=progress)
    if progress:
        sys.stderr.write("\r" + " " * 20 + "\r")
    if json_out:
        _write(json_out, "--json", report.to_json().decode())
    if md_out:
        _write(md_out, "--markdown", render.markdown(report))
    if html_out:
        _write(html_out, "--html", report.to_html())
    if har_out:
        import orjson

        _write(har_out, "--har", orjson.dumps(report.to_har(), option=orjson.OPT_INDENT_2
                                              | orjson.OPT_APPEND_NEWLINE).decode())
    if pcap_out:
        from .evidence_pcap import evidence_pcapng

        data, _ = evidence_pcapng(report, report.sources)
        _write(pcap_out, "--evidence-pcap", data)
    if not quiet and not to_stdout:
        click.echo(render.terminal(report, color=render.use_color(sys.stdout)), nl=False)
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if fail_on:
        worst = {"warning": ("warning", "critical"), "critical": ("critical",)}[fail_on]
        hit = [f for f in report["findings"] if f["severity"] in worst]
        if hit:
            cause = report["overall"]["cause"]
            why = f"the cause: {cause['code']}" if cause else f"first: {hit[0]['code']}"
            click.echo(f"cnfpost: --fail-on {fail_on}: {len(hit)} finding(s) at that severity "
                       f"or worse; {why}", err=True)
            sys.exit(int(ExitCode.FINDINGS))


@contextlib.contextmanager
def _output(target: str, option: str, binary: bool = False):
    """An output file: '-' is stdout; a new or regular file is written atomically (a reader
    never sees half of it); anything else is written in place (see writes_in_place). An
    OS error names the user's path, never the temporary file beside it."""
    atomic = target != "-" and not writes_in_place(target)
    mode, encoding = ("wb", None) if binary else ("w", "utf-8")
    try:
        with click.open_file(target, mode, encoding=encoding, atomic=atomic) as out:
            yield out
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise output_error(target, option, exc) from None


def _write(target: str, option: str, text: str | bytes) -> None:
    with _output(target, option, binary=isinstance(text, bytes)) as out:
        out.write(text)


@cli.command()
@click.argument("archive", type=PATH)
@click.option("--out", "-o", "out_dir", required=True, type=PATH, metavar="DIR",
              help="Where the reports, index.jsonl, index.csv and summary.md go.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs analysed in parallel (processes).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on this Dask distributed scheduler instead (pip install 'cnfpost[dask]'); "
                   "the workers must see the archive's paths.")
@CONFIG_OPTION
@click.option("--force", is_flag=True, help="Re-analyse runs whose reports are up to date.")
def batch(archive: str, out_dir: str, jobs: int, scheduler: str | None, config: str | None,
          force: bool) -> None:
    """Analyse every run bundle in ARCHIVE (a directory, at any depth, or a .tar.gz; .tar.gz
    files inside are opened too) and write each run's reports, an index and a summary of
    trends, outliers and path changes. Broken runs are listed with their error; a re-run
    skips runs whose reports are up to date. Exit 2 when no run could be analysed.

    \b
    cnfpost batch archive/ --out results/ -j 4
    cnfpost batch probes.tar.gz --out results/ --scheduler tcp://scheduler:8786
    """
    from .batch import run_batch, tally

    def progress(done: int, total: int) -> None:
        filled = 30 * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} run(s) ")
        sys.stderr.flush()

    tty = sys.stderr.isatty()
    try:
        result = run_batch(archive, out_dir, jobs=jobs, scheduler=scheduler, config=config,
                           force=force, progress=progress if tty else None)
    except KeyboardInterrupt:
        raise Interrupted("\ncnfpost batch: interrupted; re-run to resume") from None
    if tty and result.analysed:
        sys.stderr.write("\r" + " " * 60 + "\r")
    click.echo(f"{tally(result.rows)}; {len(result.skipped)} up to date, reused; "
               f"see {out_dir}/summary.md")
    for row in result.rows:
        if row["status"] == "error":
            error = row["error"]
            click.echo("failed: " + (error if error.startswith(row["source"])
                                     else f"{row['source']}: {error}"), err=True)
    if len(result.failed) == len(result.rows):
        got = f"all {len(result.rows)} failed" if result.rows else "no run bundle"
        raise InputError(archive, None, "at least one run that can be analysed", got)


@cli.command()
@click.argument("golden_dir", type=PATH)
@click.option("--update", is_flag=True,
              help="Rewrite expected/report.json and report.md from a fresh analysis "
                   "(after a deliberate change; review the diff).")
def regress(golden_dir: str, update: bool) -> None:
    """Re-analyse every golden bundle under GOLDEN_DIR and compare with its expected/
    report: counts, codes, grades and verdicts exactly, timings within max(1 ms, 5 %).
    Exit 1 on a regression, 0 otherwise.

    \b
    cnfpost regress sample_data
    cnfpost regress sample_data --update && git diff sample_data
    """
    from pathlib import Path

    from .regress import Tolerance, format_result
    from .regress import regress as run_regress

    results = run_regress(golden_dir, update=update)
    base = Path(os.path.realpath(golden_dir))
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
    copy to a probe.

    \b
    cnfpost collect-script > cnfpost-collect && sh cnfpost-collect --help
    """
    from .inputs.bundle import collect_script_path

    path = collect_script_path()
    if show_path:
        click.echo(str(path))
    else:
        click.echo(path.read_text(encoding="utf-8"), nl=False)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the one place that turns errors into exit codes.

    The command runs outside click's own main(), whose handlers would come first: it
    turns a closed pipe into exit 1 and an interrupt into a bare exit."""
    args = sys.argv[1:] if argv is None else argv
    # --traceback is accepted anywhere on the line, not only before the command.
    show_traceback = "--traceback" in args
    args = [a for a in args if a != "--traceback"]
    # cnfpost does no linear algebra: OpenBLAS worker threads would only spin beside the
    # decoder on the probe's few cores (numpy is imported later, lazily, so this applies).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    fix_mmap_threshold()
    try:
        with cli.make_context("cnfpost", args) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("\ncnfpost: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except CnfpostError as exc:
        if show_traceback:
            raise
        click.echo(str(exc), err=True)
        sys.exit(int(exc.exit_code))
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(int(ExitCode.OK))  # a reader that stopped early (| head) is not an error
    except OSError as exc:
        if show_traceback:
            raise
        if exc.filename is None:
            _internal(exc)
        # A path the OS refused (too long, a loop, not a directory, ...) wherever it was
        # met: the user's input, not a bug.
        click.echo(format_problem(exc.filename, None, "a usable path", os_reason(exc)),
                   err=True)
        sys.exit(int(ExitCode.BAD_INPUT))
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if show_traceback:
            raise
        _internal(exc)
    sys.exit(int(ExitCode.OK))


def _internal(exc: Exception) -> None:
    click.echo(f"cnfpost: internal error: {type(exc).__name__}: {exc} "
               "(run with --traceback for details)", err=True)
    sys.exit(int(ExitCode.INTERNAL))


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's last flush must not fail again on the
    closed pipe (the recipe of Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to flush
        pass


if __name__ == "__main__":
    main()
