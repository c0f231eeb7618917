"""The server capture beside the probe's (cnfpost/serverside.py), on the recorded lab bundle
sample_data/server_loss_up: server.pcap's clock 2.25 s behind, 6 % of client-to-server
segments dropped on the wire. The server capture is rewritten in code to test what the
comparison must not depend on: the clock offset (any size, either sign) and TSO
super-frames on the server's outgoing side."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnfpost import analyze
from cnfpost.capture import read_capture
from cnfpost.serverside import compare_captures
from cnfpost.tcp import analyze_tcp

BUNDLE = Path(__file__).resolve().parents[1] / "sample_data" / "server_loss_up"
SHIFT_MS = json.loads((BUNDLE / "lab" / "scenario.json").read_text())[
    "server_capture"]["clock_shift_s"] * 1000


def _records(data: bytes):
    """(ts_sec, ts_usec, orig_len, frame) of a little-endian microsecond pcap."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    off = 24
    while off < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        yield sec, usec, orig, data[off + 16: off + 16 + incl]
        off += 16 + incl


def _write(path: Path, header: bytes, recs) -> Path:
    out = bytearray(header)
    for sec, usec, orig, frame in recs:
        out += struct.pack("<IIII", sec, usec, len(frame), orig) + frame
    path.write_bytes(bytes(out))
    return path


def shifted(tmp: Path, shift_us: int) -> Path:
    data = (BUNDLE / "server.pcap").read_bytes()
    recs = []
    for sec, usec, orig, frame in _records(data):
        t = sec * 1_000_000 + usec + shift_us
        recs.append((t // 1_000_000, t % 1_000_000, orig, frame))
    return _write(tmp / "server.pcap", data[:24], recs)


def _tcp(frame: bytes):
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from(">H", frame, 16)[0]
    tcp = 14 + ihl
    sport, dport, seq = struct.unpack_from(">HHI", frame, tcp)
    hdr = (frame[tcp + 12] >> 4) * 4
    return sport, dport, seq, total - ihl - hdr


def super_frames(tmp: Path, most: int = 6) -> Path:
    """The server's outgoing data as TSO would show it: runs of up to ``most`` contiguous
    segments of one connection in one frame (IP total length = their sum; the capture keeps
    the first segment's bytes, as the 200-byte snaplen would)."""
    data = (BUNDLE / "server.pcap").read_bytes()
    out, run = [], []

    def flush():
        if run:
            sec, usec, orig, frame = run[0]
            extra = sum(_tcp(f)[3] for *_, f in run[1:])
            total = struct.unpack_from(">H", frame, 16)[0] + extra
            frame = frame[:16] + struct.pack(">H", total) + frame[18:]
            out.append((sec, usec, orig + extra, frame))
            run.clear()

    for rec in _records(data):
        frame = rec[3]
        if struct.unpack_from(">H", frame, 12)[0] != 0x0800 or frame[23] != 6:
            flush()
            out.append(rec)
            continue
        sport, dport, seq, length = _tcp(frame)
        if sport not in (443, 80) or length == 0:
            flush()
            out.append(rec)
            continue
        if run:
            p_sport, p_dport, p_seq, p_len = _tcp(run[-1][3])
            if (p_sport, p_dport) != (sport, dport) or seq != p_seq + p_len or len(run) >= most:
                flush()
        run.append(rec)
    flush()
    assert len(out) < sum(1 for _ in _records(data))
    return _write(tmp / "server.pcap", data[:24], out)


@pytest.fixture(scope="module")
def probe():
    table = read_capture(BUNDLE / "capture.pcap")
    return table, analyze_tcp(table)


def compare(probe, server_pcap: Path):
    table = read_capture(server_pcap)
    return compare_captures(probe, (table, analyze_tcp(table)))


def lost(ss, direction):
    return sorted((c.match.probe_stream, x.kind, x.seq, x.length) for c, x in ss.lost(direction))


def test_the_bundle_offset_lies_within_its_uncertainty():
    report = analyze(BUNDLE).to_dict()
    ss = report["server_side"]
    assert abs(ss["clock_offset_ms"] - SHIFT_MS) <= ss["clock_offset_uncertainty_ms"] < 20
    assert ss["unmatched"] == [] and ss["matched_connections"]
    drops = [json.loads(line) for line in (BUNDLE / "lab" / "injector.jsonl").open()]
    drops = [d for d in drops if d.get("action") == "drop"]
    segments = [s for c in ss["matched_connections"] for s in c["lost"]["segments"]]
    assert len(segments) == len(drops) and {s["direction"] for s in segments} == {"up"}
    finding = next(f for f in report["findings"] if f["code"] == "l3.upstream_loss")
    assert finding["evidence"]["server"]["frames"]
    assert report["overall"]["cause"]["code"] == "l3.upstream_loss"


@settings(deadline=None, max_examples=4,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shift_s=st.floats(-30, 30).filter(lambda v: abs(v) > 0.001))
def test_the_offset_follows_any_clock_shift(probe, tmp_path_factory, shift_s):
    base = compare(probe, BUNDLE / "server.pcap")
    shift_us = int(shift_s * 1e6)
    moved = compare(probe, shifted(tmp_path_factory.mktemp("shift"), shift_us))
    assert moved.offset.offset_ns - base.offset.offset_ns == shift_us * 1000
    assert moved.offset.uncertainty_ns == base.offset.uncertainty_ns
    assert lost(moved, "up") == lost(base, "up") and lost(moved, "down") == []


def test_super_frames_are_matched_by_byte_ranges(probe, tmp_path):
    base = compare(probe, BUNDLE / "server.pcap")
    tso = compare(probe, super_frames(tmp_path))
    assert [c.match for c in tso.connections] == [c.match for c in base.connections]
    assert lost(tso, "down") == [] and lost(tso, "up") == lost(base, "up")
    assert abs(tso.offset.offset_ns / 1e6 - SHIFT_MS) <= tso.offset.uncertainty_ns / 1e6


def test_no_server_capture_no_section():
    report = analyze(BUNDLE / "capture.pcap").to_dict()
    assert report["server_side"] is None
    assert report["inputs"]["server_capture"] is None


def test_an_unrelated_server_capture_matches_nothing(tmp_path):
    other = Path(__file__).resolve().parents[1] / "sample_data" / "clean" / "capture.pcap"
    report = analyze(BUNDLE / "capture.pcap", server_capture=other).to_dict()
    ss = report["server_side"]
    assert ss["matched_connections"] == [] and ss["clock_offset_ms"] is None
    assert {u["capture"] for u in ss["unmatched"]} == {"probe", "server"}
    assert all(u["reason"] for u in ss["unmatched"])
