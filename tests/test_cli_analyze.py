"""Every exit path of `cnfpost analyze`: 0 with a report, 1 only for --fail-on, 2 on bad
input with exactly one line on stderr, a traceback only when asked; where the reports go."""
from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

import cnfpost
from cnfpost.cli import main
from cnfpost.report import render
from tests.support import LAB_BUNDLES, ROOT

CLEAN, TLS, PATH_LOSS = (LAB_BUNDLES / n for n in ("clean", "tls_retrans", "path_loss"))


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["analyze", *map(str, args)])
    out, err = capsys.readouterr()
    return done.value.code, out, err


def severities(bundle) -> set[str]:
    return {f["severity"] for f in cnfpost.analyze(bundle)["findings"]}


# ---------------------------------------------------------------------------------------
# Exit 0 and 1
# ---------------------------------------------------------------------------------------

def test_bundle_gives_a_terminal_summary_and_exit_0(capsys):
    code, out, err = run([TLS], capsys)
    assert code == 0
    assert out == render.terminal(cnfpost.analyze(TLS), color=False)  # stdout is not a tty
    assert "Overall: " in out and "\x1b" not in out
    assert err == ""


def test_findings_alone_never_fail_the_run(capsys):
    assert "critical" in severities(TLS)
    code, _, _ = run([TLS], capsys)
    assert code == 0


@pytest.mark.parametrize("bundle, fail_on, expected", [
    (TLS, "warning", 1),        # has critical and warning findings
    (TLS, "critical", 1),
    (CLEAN, "warning", 0),      # info findings only
    (CLEAN, "critical", 0),
])
def test_fail_on(bundle, fail_on, expected, capsys):
    code, out, err = run([bundle, "--fail-on", fail_on], capsys)
    assert code == expected
    assert "Overall: " in out   # the report is still shown
    cause = cnfpost.analyze(bundle)["overall"]["cause"]
    if expected:                # one line on stderr says why, naming the cause
        assert err.splitlines()[-1].startswith(f"cnfpost: --fail-on {fail_on}: ")
        assert err.splitlines()[-1].endswith(f"the cause: {cause['code']}")
    else:
        assert "--fail-on" not in err


def test_fail_on_matches_the_findings():
    """The expectations above rest on what the bundles hold."""
    assert severities(CLEAN) <= {"info"}
    assert {"warning", "critical"} <= severities(TLS)


def test_fail_on_critical_ignores_warnings(tmp_path, capsys):
    """A 404 is a warning finding, not a critical one (timings alone: one curl line of a
    real run with its status changed)."""
    line = orjson.loads((ROOT / "tests/data/inputs/curl/https_reuse.jsonl").read_text().splitlines()[0])
    line["response_code"] = line["http_code"] = 404
    timings = tmp_path / "timings.jsonl"
    timings.write_bytes(orjson.dumps(line) + b"\n")
    assert {f["severity"] for f in cnfpost.analyze(timings=timings)["findings"]} == {"warning"}
    code, _, _ = run(["--timings", timings, "--fail-on", "critical"], capsys)
    assert code == 0
    code, _, _ = run(["--timings", timings, "--fail-on", "warning"], capsys)
    assert code == 1


def test_bad_fail_on_value_is_a_usage_error(capsys):
    code, out, err = run([CLEAN, "--fail-on", "info"], capsys)
    assert code == 2 and out == ""
    assert "'info' is not one of 'warning', 'critical'" in err


# ---------------------------------------------------------------------------------------
# Exit 2: one line
# ---------------------------------------------------------------------------------------

def _bad_inputs(tmp_path) -> dict[str, tuple[list, str]]:
    garbage = tmp_path / "t.jsonl"
    garbage.write_text("garbage{\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[thresholds]\n"no.such.threshold" = 1\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("not toml [[[\n")
    return {
        "garbage timings": (["--timings", garbage],
                            f"{garbage}: line 1: expected a curl -w '%{{json}}' object, got 'garbage{{'"),
        "pcap as --mtr": (["--mtr", CLEAN / "capture.pcap"],
                          f"{CLEAN / 'capture.pcap'}: byte 0: expected mtr --json or --raw output, "
                          "got a pcap file"),
        "no inputs": ([], "expected at least one input"),
        "missing capture": ([tmp_path / "nope.pcap"],
                            f"{tmp_path / 'nope.pcap'}: expected a readable capture file"),
        "missing timings": (["--timings", tmp_path / "nope.jsonl"],
                            f"{tmp_path / 'nope.jsonl'}: expected a readable file"),
        "unknown threshold": ([CLEAN, "--config", unknown],
                              f"{unknown}: /thresholds/no.such.threshold: expected a known threshold name"),
        "broken config": ([CLEAN, "--config", broken], f"{broken}: expected valid TOML"),
        "missing config": ([CLEAN, "--config", tmp_path / "nope.toml"],
                           f"{tmp_path / 'nope.toml'}: expected a readable TOML file"),
        "mtr as capture": ([CLEAN / "mtr.json"],
                           f"{CLEAN / 'mtr.json'}: byte 0: expected a pcap or pcapng magic number"),
    }


BAD_CASES = ["garbage timings", "pcap as --mtr", "no inputs", "missing capture",
             "missing timings", "unknown threshold", "broken config", "missing config",
             "mtr as capture"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_exit_2_with_one_line(case, tmp_path, capsys):
    args, message = _bad_inputs(tmp_path)[case]
    json_out = tmp_path / "r.json"
    code, out, err = run([*args, "--json", json_out], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert message in err
    assert "Traceback" not in err
    assert not json_out.exists()   # no half report


def test_traceback_flag_shows_the_traceback(tmp_path):
    garbage = tmp_path / "t.jsonl"
    garbage.write_text("garbage{\n")
    done = subprocess.run([sys.executable, "-m", "cnfpost.cli", "--traceback", "analyze",
                           "--timings", str(garbage)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert "InputError" in done.stderr and f"{garbage}: line 1" in done.stderr
    quiet = subprocess.run([sys.executable, "-m", "cnfpost.cli", "analyze", "--timings",
                            str(garbage)], capture_output=True, text=True, cwd=ROOT)
    assert quiet.returncode == 2 and quiet.stderr.count("\n") == 1
    assert "Traceback" not in quiet.stderr


# ---------------------------------------------------------------------------------------
# Where the reports go
# ---------------------------------------------------------------------------------------

def test_json_to_stdout_is_the_report_alone(capsys):
    code, out, err = run([TLS, "--json", "-"], capsys)
    assert code == 0
    assert out.encode() == cnfpost.analyze(TLS).to_json()   # nothing else on stdout
    assert orjson.loads(out)["schema_version"] == "2.0"


def test_markdown_to_stdout_is_the_report_alone(capsys):
    code, out, _ = run([TLS, "--markdown", "-"], capsys)
    assert code == 0
    assert out == render.markdown(cnfpost.analyze(TLS))
    assert out.startswith("# cnfpost report: ")


def test_json_and_markdown_files_and_the_summary(tmp_path, capsys):
    j, m = tmp_path / "out" / "r.json", tmp_path / "r.md"
    j.parent.mkdir()
    code, out, _ = run([PATH_LOSS, "--json", j, "--markdown", m], capsys)
    assert code == 0
    report = cnfpost.analyze(PATH_LOSS)
    assert j.read_bytes() == report.to_json()
    assert m.read_text(encoding="utf-8") == render.markdown(report)
    assert f"Overall: {report['overall']['grade'].upper()}" in out
    assert out == render.terminal(report, color=False)


def test_quiet_prints_nothing_but_still_writes(tmp_path, capsys):
    j = tmp_path / "r.json"
    code, out, err = run([CLEAN, "--quiet", "--json", j], capsys)
    assert code == 0 and out == "" and err == ""
    assert orjson.loads(j.read_bytes())["overall"]["grade"] == "excellent"   # the clean lab run


def test_quiet_with_fail_on_still_fails(capsys):
    code, out, _ = run([TLS, "-q", "--fail-on", "warning"], capsys)
    assert code == 1 and out == ""


def test_separate_inputs_equal_the_bundle(capsys):
    args = [CLEAN / "capture.pcap", "--timings", CLEAN / "timings.jsonl", "--mtr",
            CLEAN / "mtr.json", "--ping", CLEAN / "ping.txt", "--json", "-"]
    code, out, _ = run(args, capsys)
    assert code == 0
    separate = orjson.loads(out)
    bundle = orjson.loads(cnfpost.analyze(CLEAN).to_json())
    for key in ("layered_analysis", "findings", "tcp_http_correlation", "overall"):
        assert separate[key] == bundle[key]


def test_partial_input_is_a_report_saying_what_was_missing(capsys):
    code, out, _ = run(["--mtr", PATH_LOSS / "mtr.json", "--json", "-"], capsys)
    assert code == 0
    r = orjson.loads(out)
    assert r["inputs"]["missing"] == ["capture", "timings", "ping"]
    assert r["layered_analysis"]["l4"]["quality"] == "unknown"
