"""The compiled decoder's own plumbing: files, windows, standard input, the checked reader.

The decoding rules themselves are tested once for both decoders in test_decode.py.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from cnfpost import capture
from cnfpost.capture import decode_bytes, read_capture
from cnfpost.errors import InputError
from cnfpost.model import PACKET_COLUMNS, DecodeStatus
from tests import capbuild as cb

ROOT = Path(__file__).resolve().parents[1]
from tests.support import LAB_BUNDLES as LAB


def tables_equal(a, b) -> None:
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name], err_msg=name)
    for side in ("icmp", "tcpopt", "sack", "payload_index"):
        for name in getattr(a, side):
            np.testing.assert_array_equal(getattr(a, side)[name], getattr(b, side)[name],
                                          err_msg=f"{side}.{name}")
    np.testing.assert_array_equal(a.ip6_addresses, b.ip6_addresses)
    assert a.payload_bytes == b.payload_bytes
    assert a.interfaces == b.interfaces
    assert a.stats.warnings == b.stats.warnings
    assert a.stats.status_counts == b.stats.status_counts
    assert a.empty_run == b.empty_run


def sample_captures() -> list[bytes]:
    return [cb.handshake_get_response(), cb.multi_section_pcapng(), cb.port_unreachable(),
            cb.ipv6_ext_chain(), cb.vlan_qinq(), cb.cut_mid_record()[0]]


def test_core_columns_are_64_bytes_per_packet():
    assert sum(np.dtype(c.dtype).itemsize for c in PACKET_COLUMNS) <= 64


def test_status_values_agree_with_the_extension_source():
    source = (ROOT / "ext" / "_decode.pyx").read_text()
    compiled = {m[0]: int(m[1]) for m in re.findall(r"^cdef enum: ST_(\w+) = (\d+)$", source, re.M)}
    assert compiled == {s.name: int(s) for s in DecodeStatus}


def test_raw_bytes_are_read_only_through_the_checked_reader():
    """Outside the reader section, no code indexes a byte pointer directly (style rule 4)."""
    source = (ROOT / "ext" / "_decode.pyx").read_text()
    start = source.index("# The checked reader")
    end = source.index("# Constants")
    outside = source[:start] + source[end:]
    assert not re.search(r"\.p\s*\[", outside), "a direct byte read outside the checked reader"
    assert not re.search(r"memcpy\([^)]*\.p\b", outside), "copy raw bytes with copy_bytes"


@pytest.mark.parametrize("data", sample_captures(), ids=lambda d: f"{len(d)}B")
def test_stream_in_tiny_chunks_equals_one_buffer(monkeypatch, data):
    """Records split across stdin reads at every possible place decode the same."""
    whole = decode_bytes(data, "x")
    for chunk in (1, 3, 7, 64):
        monkeypatch.setattr(capture, "STDIN_CHUNK", chunk)
        streamed = capture._decode_stream(io.BytesIO(data), "x", None)
        tables_equal(whole, streamed)


@pytest.mark.parametrize("data", sample_captures(), ids=lambda d: f"{len(d)}B")
def test_mapped_file_in_small_windows_equals_one_buffer(monkeypatch, tmp_path, data):
    path = tmp_path / "c.pcap"
    path.write_bytes(data)
    whole = decode_bytes(data, str(path))
    for window in (5, 100, 1 << 20):
        monkeypatch.setattr(capture, "WINDOW", window)
        tables_equal(whole, read_capture(path))


def test_stdin_dash(monkeypatch):
    data = cb.handshake_get_response()

    class FakeStdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr("sys.stdin", FakeStdin)
    tables_equal(decode_bytes(data, "<stdin>"), read_capture("-"))


def test_missing_file_is_one_line_error(tmp_path):
    with pytest.raises(InputError) as err:
        read_capture(tmp_path / "nope.pcap")
    assert str(err.value) == f"{tmp_path / 'nope.pcap'}: expected a readable capture file, got No such file or directory"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.pcap: byte 0: expected a pcap or pcapng magic number, got an empty file"):
        read_capture(path)


def test_html_is_not_a_capture(tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(b"<html><body>404</body></html>")
    with pytest.raises(InputError) as err:
        read_capture(path)
    assert str(err.value) == f"{path}: byte 0: expected a pcap or pcapng magic number, got 0x3c68746d"


def test_growth_past_the_initial_capacity():
    """Many tiny packets in a small buffer: the arrays must grow, not overflow."""
    frame = cb.ether(cb.ipv4(cb.udp(1, 53, b"")), ethertype=cb.ETHERTYPE_IP)
    data = cb.pcap([cb.Rec(frame, ts_ns=i * 10**9) for i in range(5000)])
    table = decode_bytes(data)
    assert len(table) == 5000
    np.testing.assert_array_equal(table["ts_ns"], np.arange(5000, dtype=np.int64) * 10**9)


@pytest.mark.parametrize("bundle", ["clean", "tls_retrans", "path_loss"])
def test_real_lab_captures_compiled_equals_reference(bundle):
    path = LAB / bundle / "capture.pcap"
    tables_equal(read_capture(path), read_capture(path, engine="python"))


# ---------------------------------------------------------------------------------------
# No readable section header: bad input, exit 2, not an empty capture (#15 item 7)
# ---------------------------------------------------------------------------------------

_PCAPNG = cb.shb() + cb.idb() + cb.epb(cb.ether(cb.ipv4(cb.tcp())))


@pytest.mark.parametrize("engine", ["compiled", "python"])
@pytest.mark.parametrize("data,message", [
    (_PCAPNG[:4] + (0xFFFFFF00).to_bytes(4, "little") + _PCAPNG[8:],
     "expected 4294967040 bytes of block, got 136"),
    (_PCAPNG[:4] + (13).to_bytes(4, "little") + _PCAPNG[8:],
     "expected a block length that is a multiple of 4 and at least 12, got 13"),
    (_PCAPNG[:4] + (12).to_bytes(4, "little") + _PCAPNG[8:],
     "expected a trailing block length of 12, got 439041101"),
    (cb.shb(">")[:20], "expected 28 bytes of block, got 20"),
], ids=["huge", "odd", "trailer", "cut"])
def test_pcapng_without_a_readable_section_header_is_an_input_error(engine, data, message,
                                                                     tmp_path):
    path = tmp_path / "c.pcapng"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_capture(path, engine=engine)
    assert str(err.value) == f"{path}: byte 0: {message}"


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_a_corrupt_block_after_the_first_section_keeps_what_came_before(engine):
    bad = _PCAPNG + _PCAPNG[:4] + (13).to_bytes(4, "little") + _PCAPNG[8:]
    table = decode_bytes(bad, "c.pcapng", engine=engine)
    assert table.stats.packets == 1 and table.stats.stopped_at == len(_PCAPNG)


def test_cli_analyze_on_a_corrupt_first_block_is_exit_2(tmp_path, capsys):
    from cnfpost.cli import main

    path = tmp_path / "c.pcapng"
    path.write_bytes(_PCAPNG[:4] + (0xFFFFFF00).to_bytes(4, "little") + _PCAPNG[8:])
    with pytest.raises(SystemExit) as done:
        main(["analyze", str(path), "-q"])
    _, err = capsys.readouterr()
    assert done.value.code == 2
    assert err == f"{path}: byte 0: expected 4294967040 bytes of block, got 136\n"


def test_the_decoder_releases_the_gil_while_it_decodes():
    """Another thread runs while a capture decodes. The switch interval is made so long that
    a thread holding the GIL keeps it to the end; so the main thread, woken as the decode
    starts, can look at `done` before the decode ends only if the decoder let the GIL go."""
    import sys
    import threading

    frame = cb.seg(cb.ACK, 1, payload=b"x" * 10)
    data = cb.pcap_header() + cb.pcap_record(frame, 1, 0) * 200_000
    started, state = threading.Event(), {"done": False}

    def decode():
        started.set()
        decode_bytes(data)
        state["done"] = True

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        worker = threading.Thread(target=decode)
        worker.start()
        started.wait()
        seen_before_the_end = not state["done"]
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert seen_before_the_end and state["done"]


def test_the_decoder_stub_names_what_the_module_has():
    """ext/_decode.pyi lists the module's public names and the decoder's attributes."""
    import ast

    from cnfpost import _decode

    tree = ast.parse((ROOT / "ext" / "_decode.pyi").read_text())
    module = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    public = {name for name in vars(_decode) if name.isupper() and not name.startswith("_")}
    assert module == public
    decoder = _decode._Decoder(1024, 1 << 20)
    for name, node in classes.items():
        members = {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        members |= {n.name for n in node.body if isinstance(n, ast.FunctionDef)} - {"__init__"}
        obj = decoder if name == "_Decoder" else decoder.icmp
        assert all(hasattr(obj, m) for m in members), name
        assert {m for m in dir(type(obj)) if not m.startswith("__")} <= members, name
