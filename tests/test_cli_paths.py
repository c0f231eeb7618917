"""Every path a user gives fails cleanly: exit 2 with one line naming that path (issue #15).

Output paths (missing directories, directories, /proc, read-only mounts), a closed pipe,
and the manners of the command line (--traceback anywhere, bare cnfpost, help texts).
"""
from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import click
import pytest

from tests import capbuild as cb
from tests.support import ROOT, require, require_root, run_cli

CLEAN = ROOT / "sample_data" / "clean"




@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "hs.pcap"
    path.write_bytes(cb.handshake_get_response())
    return path


# Each case: (command line with {cap} for a capture and {out} for the output path,
# the output path under tmp_path or an absolute one, what the message says it got).
OUTPUT_CASES = {
    "json-missing-dir": (["analyze", "{cap}", "-q", "--json", "{out}"],
                         "missing/x.json", "no such directory"),
    "json-onto-dir": (["analyze", "{cap}", "-q", "--json", "{out}"], ".", "a directory"),
    "json-under-a-file": (["analyze", "{cap}", "-q", "--json", "{out}"],
                          "hs.pcap/x.json", "not a directory"),
    "markdown-missing-dir": (["analyze", "{cap}", "-q", "--markdown", "{out}"],
                             "missing/x.md", "no such directory"),
    "markdown-in-proc": (["analyze", "{cap}", "-q", "--markdown", "{out}"],
                         "/proc/cnfpost-x.md", "no such file or directory"),
    "packets-missing-dir": (["packets", "{cap}", "-o", "{out}"], "missing_dir/x.csv",
                            "no such directory"),
    "packets-onto-dir": (["packets", "{cap}", "-o", "{out}"], ".", "a directory"),
    "batch-out-in-proc": (["batch", str(CLEAN), "--out", "{out}"], "/proc/x", "no such file"),
    "batch-out-is-a-file": (["batch", str(CLEAN), "--out", "{out}"], "hs.pcap", "a file"),
    "batch-out-under-a-file": (["batch", str(CLEAN), "--out", "{out}"], "hs.pcap/out",
                               "not a directory"),
}


@pytest.mark.parametrize("case", OUTPUT_CASES)
def test_output_path_problems_are_exit_2_naming_the_path(case, capture, tmp_path, capsys):
    argv, out, got = OUTPUT_CASES[case]
    target = out if out.startswith("/") else str(tmp_path / out)
    code, stdout, err = run_cli([a.format(cap=capture, out=target) for a in argv], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"{target}: expected ")
    assert got in err
    assert "atomic" not in err and ".tmp" not in err


def test_a_read_only_filesystem_is_exit_2(capture, tmp_path, capsys):
    require_root()
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                             capture_output=True)
    require(mounted.returncode == 0, "cannot mount a read-only tmpfs here")
    try:
        for argv in (["analyze", str(capture), "-q", "--json", str(ro / "x.json")],
                     ["packets", str(capture), "-o", str(ro / "x.csv")],
                     ["batch", str(CLEAN), "--out", str(ro / "out")]):
            code, _, err = run_cli(argv, capsys)
            assert code == 2 and err.count("\n") == 1 and str(ro) in err
            assert "read-only file system" in err
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_a_write_failing_midway_names_the_users_path(capture, tmp_path, capsys, monkeypatch):
    """A disk that fills (or turns read-only) after the check: still exit 2, the user's path."""
    real_open = click.open_file

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.__exit__(*exc)

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".__atomic"))

    monkeypatch.setattr(click, "open_file", lambda *a, **k: Full(real_open(*a, **k)))
    target = tmp_path / "x.json"
    code, _, err = run_cli(["analyze", str(capture), "-q", "--json", str(target)], capsys)
    assert code == 2
    assert err == f"{target}: expected a file --json can write, got no space left on device\n"


def test_batch_write_failing_midway_names_the_users_path(tmp_path, capsys, monkeypatch):
    from cnfpost import outputs

    def full(fd, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fchmod", full)
    code, _, err = run_cli(["batch", str(CLEAN), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(str(tmp_path / "out")) and "no space left on device" in err
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_a_closed_pipe_is_exit_0(tmp_path):
    big = tmp_path / "big.pcap"
    big.write_bytes(cb.pcap([cb.Rec(cb.ether(cb.ipv4(cb.tcp(sport=40000 + i % 1000))), i)
                             for i in range(20000)]))
    proc = subprocess.Popen([sys.executable, "-m", "cnfpost.cli", "packets", str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read()
    proc.wait()
    assert first.startswith(b"frame.number")
    assert proc.returncode == 0, err
    assert err == b""


@pytest.mark.parametrize("where", ["before", "after"])
def test_traceback_is_accepted_anywhere(where, tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"<html>")
    args = ["--traceback", "info", str(path)] if where == "before" \
        else ["info", str(path), "--traceback"]
    proc = subprocess.run([sys.executable, "-m", "cnfpost.cli", *args], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1  # the raised InputError, as Python reports it
    assert "Traceback (most recent call last)" in proc.stderr


def test_bare_cnfpost_prints_help_and_exits_0(capsys):
    code, out, err = run_cli([], capsys)
    assert code == 0 and err == ""
    assert out.startswith("Usage: cnfpost") and "Exit status" in out


def test_top_level_help_names_exit_codes_and_an_example(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    assert "cnfpost analyze RUN_DIR" in out
    for status in ("0 done", "1 a finding", "2 bad input", "3 an internal error",
                   "130 interrupted"):
        assert status in " ".join(out.split())


@pytest.mark.parametrize("command", ["analyze", "info", "packets", "batch", "regress",
                                     "collect-script"])
def test_every_command_has_examples_and_no_text_paths(command, capsys):
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    assert f"cnfpost {command} " in out.split("Options:")[0]
    assert " TEXT" not in out


def test_packets_format_is_described(capsys):
    _, out, _ = run_cli(["packets", "--help"], capsys)
    options = out.split("Options:")[1]
    line = " ".join(options.split("--format")[1].split("--output")[0].split())
    assert "jsonl: one JSON object per packet" in line


def test_readme_exit_status_lists_every_code():
    from cnfpost.errors import ExitCode

    readme = (ROOT / "README.md").read_text()
    section = readme.split("Exit status, for every command:")[1].split("\n\n")[0]
    for code in ExitCode:
        assert f"{int(code)} " in section, code


@pytest.mark.parametrize("line", ['{"time_total": 1e308}', '{"time_total": 1e12}',
                                  '{"time_total": NaN}', '{"time_total": 1e400}'])
def test_absurd_timings_with_a_capture_are_exit_2_naming_the_key(line, tmp_path, capsys):
    timings = tmp_path / "t.jsonl"
    timings.write_text(line + "\n")
    code, _, err = run_cli(["analyze", str(CLEAN / "capture.pcap"), "-t", str(timings), "-q"],
                       capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"{timings}: line 1: expected a number at most ")
    assert "/time_total" in err


def test_an_absurd_sample_among_good_ones_is_a_warning(tmp_path, capsys):
    timings = tmp_path / "t.jsonl"
    lines = (CLEAN / "timings.jsonl").read_text().splitlines()
    timings.write_text("\n".join(lines[:1] + ['{"time_total": 0.1, "local_port": 99999999999}']
                                 + lines[1:]) + "\n")
    code, _, err = run_cli(["analyze", str(CLEAN / "capture.pcap"), "-t", str(timings), "-q"],
                       capsys)
    assert code == 0
    assert (f"warning: {timings}: line 2: expected a number at most 65,535 at /local_port, "
            "got 99999999999") in err


CONFIG_CASES = {
    "misspelt table": ('[threshold]\n"l3.loss_pct.fair" = 10\n',
                       "c.toml: /threshold: expected only a [thresholds] table, got 'threshold'"),
    "nan": ('[thresholds]\n"l3.loss_pct.fair" = nan\n',
            "c.toml: /thresholds/l3.loss_pct.fair: expected a finite number >= 0, got nan"),
    "inf": ('[thresholds]\n"find.dns_ms.critical" = inf\n',
            "c.toml: /thresholds/find.dns_ms.critical: expected a finite number >= 0, got inf"),
    "negative": ('[thresholds]\n"batch.outlier_z" = -1\n',
                 "c.toml: /thresholds/batch.outlier_z: expected a finite number >= 0, got -1"),
    "warning above critical": (
        '[thresholds]\n"find.retrans_pct.warning" = 10\n',
        "c.toml: /thresholds/find.retrans_pct.warning: expected find.retrans_pct.warning <= "
        "find.retrans_pct.critical, got 10 > 5"),
    "good above fair": (
        '[thresholds]\n"l3.rtt_ms.fair" = 50\n',
        "c.toml: /thresholds/l3.rtt_ms.fair: expected l3.rtt_ms.good <= l3.rtt_ms.fair, "
        "got 100 > 50"),
    "not utf-8": (b"\xff\xfe[thresholds]", "c.toml: expected valid TOML, got "),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
@pytest.mark.parametrize("command", ["analyze", "batch"])
def test_bad_config_is_exit_2_naming_the_key(case, command, tmp_path, capsys, monkeypatch):
    text, message = CONFIG_CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_bytes(text if isinstance(text, bytes) else text.encode())
    argv = ["analyze", str(CLEAN), "-q"] if command == "analyze" \
        else ["batch", str(CLEAN), "--out", "out"]
    code, _, err = run_cli(argv + ["--config", "c.toml"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(message)


def test_raising_limits_in_order_is_accepted(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[thresholds]\n"find.retrans_pct.warning" = 10\n'
                      '"find.retrans_pct.critical" = 20\n')
    code, _, err = run_cli(["analyze", str(CLEAN), "-q", "--config", str(config)], capsys)
    assert code == 0, err


# ---------------------------------------------------------------------------------------
# batch stays inside its archive: links that leave a directory tree are refused, named
# ---------------------------------------------------------------------------------------

SECRET = "TOPSECRET first line of a file outside the archive"


def _link_archive(tmp_path: Path, case: str) -> tuple[Path, str]:
    """An archive with one good bundle and one link of the given kind; the link's name."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    shutil.copytree(CLEAN, outside / "bundle")
    archive = tmp_path / "archive"
    shutil.copytree(CLEAN, archive / "good")
    if case == "file in a bundle":
        shutil.copytree(CLEAN, archive / "bad")
        (archive / "bad" / "ping.txt").unlink()
        (archive / "bad" / "ping.txt").symlink_to(outside / "secret.txt")
        return archive, "bad/ping.txt"
    if case == "relative file in a bundle":
        shutil.copytree(CLEAN, archive / "bad")
        (archive / "bad" / "ping.txt").unlink()
        (archive / "bad" / "ping.txt").symlink_to("../../outside/secret.txt")
        return archive, "bad/ping.txt"
    if case == "directory in a bundle":
        shutil.copytree(CLEAN, archive / "bad")
        (archive / "bad" / "extra").symlink_to(outside)
        return archive, "bad/extra"
    if case == "bundle directory":
        (archive / "site").mkdir()
        (archive / "site" / "run2").symlink_to(outside / "bundle")
        return archive, "site/run2"
    if case == "tar.gz":
        with tarfile.open(outside / "runs.tar.gz", "w:gz") as tar:
            tar.add(outside / "bundle", arcname="run3")
        (archive / "runs.tar.gz").symlink_to(outside / "runs.tar.gz")
        return archive, "runs.tar.gz"
    raise AssertionError(case)


LINK_CASES = ["file in a bundle", "relative file in a bundle", "directory in a bundle",
              "bundle directory", "tar.gz"]


@pytest.mark.parametrize("case", LINK_CASES)
def test_batch_refuses_links_that_leave_the_archive(case, tmp_path, capsys):
    archive, name = _link_archive(tmp_path, case)
    out = tmp_path / "out"
    code, stdout, err = run_cli(["batch", str(archive), "--out", str(out)], capsys)
    assert code == 0  # the good bundle was analysed
    assert "2 run(s): 1 analysed" in stdout
    assert err == (f"failed: {name}: expected a file or directory inside the archive, "
                   "got a symbolic link that leaves it\n")
    for written in [out / "index.csv", out / "index.jsonl", out / "summary.md",
                    *out.rglob("*.json")]:
        assert "TOPSECRET" not in written.read_text(), written
    assert "TOPSECRET" not in stdout + err


def test_batch_follows_links_that_stay_inside(tmp_path, capsys):
    archive = tmp_path / "archive"
    shutil.copytree(CLEAN, archive / "a")
    shutil.copytree(CLEAN, archive / "b")
    (archive / "b" / "ping.txt").unlink()
    (archive / "b" / "ping.txt").symlink_to("../a/ping.txt")
    code, stdout, err = run_cli(["batch", str(archive), "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and err == ""
    assert "2 run(s): 2 analysed" in stdout


def test_tar_member_names_in_messages_are_short_and_escaped(tmp_path, capsys):
    name = "x" * 300 + "\x1b[31m"
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    code, _, err = run_cli(["batch", str(path), "--out", str(tmp_path / "out")], capsys)
    failed = err.splitlines()[0]
    assert code == 2 and "\x1b" not in err and "x" * 100 not in err
    assert failed.endswith("got a symbolic link") and len(failed) < 200


# ---------------------------------------------------------------------------------------
# batch: one count, exit 2 when nothing could be analysed, Ctrl-C
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["empty", "all broken"])
def test_batch_with_no_analysable_run_is_exit_2(case, tmp_path, capsys):
    archive = tmp_path / "archive"
    archive.mkdir()
    if case == "all broken":
        shutil.copytree(CLEAN, archive / "run1")
        (archive / "run1" / "capture.pcap").write_bytes(b"<html>")
    code, out, err = run_cli(["batch", str(archive), "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    got = "no run bundle" if case == "empty" else "all 1 failed"
    assert err.endswith(f"{archive}: expected at least one run that can be analysed, "
                        f"got {got}\n")
    assert (tmp_path / "out" / "summary.md").is_file()  # the failures are still written down


def test_batch_interrupted_says_so_and_the_resume_removes_its_temporaries(
        tmp_path, capsys, monkeypatch):
    from cnfpost import batch

    archive = tmp_path / "archive"
    for name in ("a", "b", "c"):
        shutil.copytree(CLEAN, archive / name)
    out = tmp_path / "out"
    real = batch.analyse_run
    calls = []

    def interrupted_at_the_second(run_, config=None):
        calls.append(run_.run_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(run_, config)

    monkeypatch.setattr(batch, "analyse_run", interrupted_at_the_second)
    code, _, err = run_cli(["batch", str(archive), "--out", str(out)], capsys)
    assert code == 130
    assert err.endswith("cnfpost batch: interrupted; re-run to resume\n")
    # What a signal in the middle of a write leaves behind, and a half-unpacked archive.
    folder = next((out / "runs").iterdir())
    stale = [folder / ".report.json.x1y2.tmp", out / ".index.csv.abc.tmp"]
    for path in stale:
        path.write_text("half")
    (out / ".extracted" / ".0123456789ab-xyz").mkdir(parents=True)
    monkeypatch.setattr(batch, "analyse_run", real)
    code, stdout, _ = run_cli(["batch", str(archive), "--out", str(out)], capsys)
    assert code == 0 and stdout.startswith("3 run(s): 3 analysed, 0 failed; 1 up to date")
    assert not [p for p in stale if p.exists()]
    assert not (out / ".extracted").exists()
    assert not list(out.rglob("*.tmp"))


def test_a_plain_interrupt_is_exit_130_with_a_line(tmp_path, capsys, monkeypatch):
    from cnfpost import pipeline

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "analyze", interrupt)
    code, _, err = run_cli(["analyze", str(CLEAN), "-q"], capsys)
    assert code == 130 and err.endswith("cnfpost: interrupted\n")


# ---------------------------------------------------------------------------------------
# A capture that stopped early (tcpdump alone got the SIGINT): samples outside it are named
# ---------------------------------------------------------------------------------------

def test_samples_after_the_capture_ended_are_a_warning(tmp_path, capsys):
    import dpkt

    bundle = tmp_path / "early"
    shutil.copytree(CLEAN, bundle)
    with open(CLEAN / "capture.pcap", "rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        first = [next(iter(reader)) for _ in range(10)]  # ping's echoes: before any curl
        linktype = reader.datalink()
    with open(bundle / "capture.pcap", "wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=linktype, nano=True)
        for ts, frame in first:
            writer.writepkt(frame, ts)
    code, _, err = run_cli(["analyze", str(bundle), "-q"], capsys)
    assert code == 0
    assert ("warning: capture.pcap: expected every curl sample inside the capture's time span, "
            "got 5 of 5 after its last packet (sample 1, 2, 3, 4, 5): did tcpdump stop early?"
            ) in err


def test_a_complete_capture_has_no_such_warning(capsys):
    code, _, err = run_cli(["analyze", str(CLEAN), "-q"], capsys)
    assert code == 0 and "time span" not in err


# ---------------------------------------------------------------------------------------
# Property: whatever path a user gives, wherever, the answer is never exit 3
# ---------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PATH_KINDS = ["missing", "missing/deeper", "dir", "file", "file/under", "capture",
              "capture/under", "empty", "dangling", "loop", "long", "long/deep", "weird",
              "/proc/cnfpost-x", "/proc/self/status", "/dev/null", "-", "", "dir/", "~nobody/x"]
PATH_OPTIONS = {
    "analyze": [None, "--timings", "--mtr", "--ping", "--ping-loaded", "--config", "--json",
                "--markdown"],
    "info": [None],
    "packets": [None, "-o"],
    "batch": [None, "--out", "--config"],
    "regress": [None],
}


def _tree(root: Path) -> dict[str, str]:
    """The places PATH_KINDS name, made once under root."""
    (root / "dir").mkdir(exist_ok=True)
    (root / "file").write_text("not json, not a capture\n")
    (root / "capture").write_bytes(cb.handshake_get_response())
    (root / "empty").write_bytes(b"")
    for name, target in (("dangling", root / "nowhere"), ("loop", root / "loop")):
        if not (root / name).is_symlink():
            (root / name).symlink_to(target)
    named = {k: str(root / k) for k in PATH_KINDS if not k.startswith(("/", "-", "~", "."))}
    named.update({"long": str(root / ("x" * 300)), "long/deep": str(root / ("y" * 300) / "z"),
                  "weird": str(root / "new\nline \x1b[31m é"), "": ""})
    return named


@settings(deadline=None, max_examples=300,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_path_problem_ever_exits_3(data, tmp_path_factory, capsys):
    root = tmp_path_factory.getbasetemp() / "paths"
    root.mkdir(exist_ok=True)
    named = _tree(root)
    command = data.draw(st.sampled_from(sorted(PATH_OPTIONS)), label="command")
    option = data.draw(st.sampled_from(PATH_OPTIONS[command]), label="option")
    kind = data.draw(st.sampled_from(PATH_KINDS), label="path")
    path = named.get(kind, kind)
    good = {"analyze": [str(root / "capture"), "-q"], "info": [str(root / "capture")],
            "packets": [str(root / "capture"), "-o", str(root / "out.csv")],
            "batch": [str(CLEAN), "--out", str(root / "batch-out")],
            "regress": [str(root / "dir")]}[command]
    if option is None:
        argv = [command, path, *good[1:]]
    elif option in good:
        argv = [command, *good]
        argv[argv.index(option) + 1] = path
    else:
        argv = [command, *good, option, path]
    saved, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(b""))  # "-": an empty stdin
    cwd = os.getcwd()
    os.chdir(root)          # relative paths ("-" as a directory, "~nobody/x") land in root
    try:
        code, _, err = run_cli(argv, capsys)
    finally:
        sys.stdin = saved
        os.chdir(cwd)
    assert code in (0, 1, 2), (argv, err)
    assert "internal error" not in err and "Traceback" not in err
    if code == 2:  # the last line says why; a path with control characters comes escaped
        assert err.endswith("\n") and err.splitlines()[-1].strip()
        assert "\x1b" not in err
