"""Every exit path of the commands that exist: output on success, one line on bad input."""
from __future__ import annotations

import csv
import io
import subprocess
import sys

import orjson
import pytest

from tests import capbuild as cb
from tests.support import run_cli




@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "hs.pcap"
    path.write_bytes(cb.handshake_get_response())
    return path


def test_info_text(capture, capsys):
    code, out, err = run_cli(["info", str(capture)], capsys)
    assert code == 0 and err == ""
    assert "Packets:" in out and "ETHERNET (1)" in out


def test_info_json(capture, capsys):
    code, out, _ = run_cli(["info", "--json", str(capture)], capsys)
    summary = orjson.loads(out)
    assert code == 0
    assert summary["packets"] == summary["interfaces"][0]["packets"] > 0
    assert summary["format"] == "pcap"
    assert summary["decode_status"]["OK"] == summary["packets"]


def test_info_on_truncated_capture_warns_and_succeeds(tmp_path, capsys):
    data, cut_at = cb.cut_mid_record()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data)
    code, out, err = run_cli(["info", str(path)], capsys)
    assert code == 0
    assert f"{path}: byte {cut_at}: expected" in err
    assert "file cut off mid-record" in err


def test_not_a_capture_is_exit_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"<html>")
    code, out, err = run_cli(["info", str(path)], capsys)
    assert code == 2 and out == ""
    assert err == f"{path}: byte 0: expected a pcap or pcapng magic number, got 0x3c68746d\n"


def test_traceback_flag_shows_the_exception(tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"<html>")
    proc = subprocess.run([sys.executable, "-m", "cnfpost.cli", "--traceback", "info", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr
    assert "InputError" in proc.stderr


def test_usage_error_is_exit_2(capsys):
    code, _, err = run_cli(["info"], capsys)
    assert code == 2 and "Missing argument" in err


def test_packets_csv_default_fields(capture, capsys):
    code, out, _ = run_cli(["packets", str(capture)], capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0
    assert rows[0][:3] == ["frame.number", "frame.time_epoch", "frame.len"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, len(rows))]


def test_packets_jsonl_selected_fields(capture, capsys):
    code, out, _ = run_cli(["packets", str(capture), "--format", "jsonl",
                        "-e", "frame.number,tcp.srcport", "-e", "tcp.flags"], capsys)
    records = [orjson.loads(line) for line in out.splitlines()]
    assert code == 0
    assert records[0] == {"frame.number": 1, "tcp.srcport": 40000, "tcp.flags": "0x0002"}


def test_packets_unknown_field(capture, capsys):
    code, out, err = run_cli(["packets", str(capture), "-e", "tcp.bogus"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'tcp.bogus'" in err


def test_packets_list_fields(capsys):
    code, out, _ = run_cli(["packets", "--list-fields"], capsys)
    assert code == 0 and "tcp.seq_raw" in out and "icmpv6.type" in out


def test_packets_to_file(capture, tmp_path, capsys):
    target = tmp_path / "out.tsv"
    code, out, _ = run_cli(["packets", str(capture), "--format", "tsv", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    assert target.read_text().splitlines()[0].split("\t")[0] == "frame.number"


def test_stdin_through_a_real_pipe(capture):
    with open(capture, "rb") as fh:
        proc = subprocess.run([sys.executable, "-m", "cnfpost.cli", "info", "--json", "-"],
                              stdin=fh, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["file"] == "<stdin>"


def test_python_engine_gives_the_same_export(capture, capsys):
    _, compiled, _ = run_cli(["packets", str(capture)], capsys)
    _, reference, _ = run_cli(["packets", "--engine", "python", str(capture)], capsys)
    assert compiled == reference


def test_collect_script_prints_the_collector(capsys):
    code, out, _ = run_cli(["collect-script"], capsys)
    assert code == 0 and out.startswith("#!/bin/sh") and "tcpdump" in out
    code, path, _ = run_cli(["collect-script", "--path"], capsys)
    assert code == 0 and open(path.strip()).read() == out


def test_outputs_that_are_not_regular_files_are_written_in_place(capture, tmp_path, capsys):
    """An atomic write renames a temporary file over the target: over /dev/null (as root)
    or a symlink that would replace the device or the link. Those are written in place."""
    import os
    import stat

    real = tmp_path / "real.csv"
    real.write_text("")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, _, _ = run_cli(["packets", str(capture), "-o", str(link)], capsys)
    assert code == 0 and link.is_symlink()
    assert real.read_text().startswith("frame.number")
    code, _, _ = run_cli(["packets", str(capture), "-o", os.devnull], capsys)
    assert code == 0 and stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_empty_records_ending_a_capture_are_exported_as_frames(tmp_path, capsys, fmt):
    """The counted (not stored) trailing empty records come out like every other frame:
    numbered on from the last row, as tshark numbers them, with the same fields."""
    path = tmp_path / "empty.pcap"
    path.write_bytes(cb.empty_records())
    code, out, _ = run_cli(["packets", str(path), "--format", fmt, "-e",
                        "frame.number,frame.time_epoch,frame.len,tcp.srcport,cnfpost.status"],
                       capsys)
    assert code == 0
    if fmt == "jsonl":
        records = [orjson.loads(line) for line in out.splitlines()]
        assert len(records) == 505
        assert records[4] == {"frame.number": 5, "frame.time_epoch": "6.000000000",
                              "frame.len": 54, "tcp.srcport": 40000, "cnfpost.status": "OK"}
        assert records[5:] == [{"frame.number": i, "frame.time_epoch": "0.000000000",
                                "frame.len": 0, "cnfpost.status": "ZERO_CAPLEN"}
                               for i in range(6, 506)]
        return
    rows = list(csv.reader(io.StringIO(out), delimiter="," if fmt == "csv" else "\t"))
    assert len(rows) == 506
    assert rows[5] == ["5", "6.000000000", "54", "40000", "OK"]
    assert rows[6:] == [[str(i), "0.000000000", "0", "", "ZERO_CAPLEN"] for i in range(6, 506)]
    code, out, _ = run_cli(["info", "--json", str(path)], capsys)
    summary = orjson.loads(out)
    assert summary["packets"] == 505 and summary["decode_status"]["ZERO_CAPLEN"] == 503
