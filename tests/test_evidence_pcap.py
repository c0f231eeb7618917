"""The evidence capture: read back with tshark, every finding's frames carry their
comments, and the bytes are the original frames'."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import cnfpost
from cnfpost.evidence_pcap import evidence_frames, read_records
from tests.support import LAB_BUNDLES, require_tool, run_cli

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def tshark(path: Path, *args: str) -> list[list[str]]:
    out = subprocess.run(["tshark", "-r", str(path), *args], capture_output=True, text=True,
                         check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@pytest.mark.tshark
@pytest.mark.parametrize("bundle", [SAMPLES / "tls_drop", SAMPLES / "path_loss",
                                    SAMPLES / "slow_server", LAB_BUNDLES / "tls_retrans"],
                         ids=lambda p: p.name)
def test_every_finding_frame_is_there_with_its_comment(bundle, tmp_path, capsys):
    require_tool("tshark")
    out = tmp_path / "evidence.pcapng"
    code, _, err = run_cli(["analyze", str(bundle), "-q", "--evidence-pcap", str(out)], capsys)
    assert code == 0, err
    report = cnfpost.analyze(bundle)
    for f in report["findings"]:
        ev = f["evidence"]
        if ev["source"] != "capture" or not ev["frames"]:
            continue
        rows = tshark(out, "-Y", f'frame.comment contains "{f["code"]}"', "-T", "fields",
                      "-e", "frame.comment")
        originals = sorted(int(r[0].rsplit("original frame ", 1)[1]) for r in rows)
        assert originals == ev["frames"], f["code"]
    # the bytes are the original frames': same TCP seq/ack/length as in the capture
    fields = ["-T", "fields", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "frame.len",
              "-e", "frame.time_epoch"]
    copied = tshark(out, *fields, "-e", "frame.comment")
    by_frame = {int(r[-1].rsplit("original frame ", 1)[1]): r[:-1] for r in copied}
    wanted = " || ".join(f"frame.number == {n}" for n in sorted(by_frame)[:40])
    original = tshark(bundle / "capture.pcap", "-Y", wanted, *fields, "-e", "frame.number")
    for r in original:
        assert by_frame[int(r[-1])][:3] == r[:3]
        assert abs(float(by_frame[int(r[-1])][3]) - float(r[3])) < 1e-6


def test_handshakes_of_the_evidence_connections_are_included():
    report = cnfpost.analyze(SAMPLES / "tls_drop")
    comments = evidence_frames(report, report.sources.tcp)
    shakes = [c for c in comments.values() if "handshake of tcp.stream" in c]
    streams = {c.split("handshake of tcp.stream ")[1].split(";")[0] for c in shakes}
    assert len(shakes) == 3 * len(streams) > 0   # SYN, SYN/ACK, ACK of each
    for f in report["findings"]:
        if f["evidence"]["source"] == "capture":
            for frame in f["evidence"]["frames"]:
                assert f["code"] in comments[frame]
                assert comments[frame].endswith(f"original frame {frame}")


def test_records_are_read_from_pcap_and_pcapng_alike(tmp_path):
    report = cnfpost.analyze(SAMPLES / "tls_drop")
    out = tmp_path / "e.pcapng"
    written = report.write_evidence_pcap(out)
    first = list(read_records(SAMPLES / "tls_drop" / "capture.pcap", {1, 2, 171}))
    assert [n for n, _, _ in first] == [1, 2, 171]
    again = list(read_records(out, set(range(1, written + 1))))
    assert len(again) == written
    assert any(data == first[2][1] for _, data, _ in again)


def test_standard_input_says_why_not_in_one_line(tmp_path, capsys, monkeypatch):
    import io
    import sys

    data = (SAMPLES / "tls_drop" / "capture.pcap").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, _, err = run_cli(["analyze", "-", "-q", "--evidence-pcap",
                            str(tmp_path / "e.pcapng")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "standard input" in err and "Traceback" not in err
    assert not (tmp_path / "e.pcapng").exists()


def test_no_finding_frames_gives_an_empty_but_valid_capture(tmp_path):
    report = cnfpost.analyze(SAMPLES / "clean")
    out = tmp_path / "e.pcapng"
    written = report.write_evidence_pcap(out)
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert written == len(evidence_frames(report, report.sources.tcp))


@pytest.mark.tshark
def test_a_pcapng_capture_gives_the_same_evidence(tmp_path):
    """Frames are counted alike in pcap and pcapng: converted with editcap, the evidence
    capture holds the same original frames with the same bytes."""
    editcap = require_tool("editcap")
    ng = tmp_path / "capture.pcapng"
    subprocess.run([editcap, "-F", "pcapng", str(SAMPLES / "path_loss" / "capture.pcap"),
                    str(ng)], check=True, capture_output=True)
    a = cnfpost.analyze(SAMPLES / "path_loss" / "capture.pcap")
    b = cnfpost.analyze(ng)
    frames = evidence_frames(a, a.sources.tcp)
    assert frames == evidence_frames(b, b.sources.tcp)
    out_a, out_b = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    assert a.write_evidence_pcap(out_a) == b.write_evidence_pcap(out_b) == len(frames)
    fields = ["-T", "fields", "-e", "frame.comment", "-e", "tcp.seq_raw", "-e", "frame.len"]
    assert tshark(out_a, *fields) == tshark(out_b, *fields)
