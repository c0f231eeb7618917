"""The evidence capture: the frames behind every finding, for Wireshark, as pcapng.

Each frame a finding names, plus the handshake (SYN, SYN/ACK, the ACK completing it) of
every connection those frames belong to, copied byte for byte from the original capture,
with a packet comment (opt_comment in the Enhanced Packet Block) naming its finding
code(s) and its original frame number:

    cnfpost: l4.retransmissions, l3.downstream_loss; original frame 171
    cnfpost: handshake of tcp.stream 0; original frame 164

so that ``tshark -r OUT.pcapng -Y 'frame.comment contains "l4.retransmissions"'`` shows a
finding's frames. The packet table keeps only the first bytes of a few payloads, so the
frames are read again from the capture file: a capture read from standard input cannot
be, and says so.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .errors import InputError
from .model import NO_STREAM, NO_TIME, TcpFlag

__all__ = ["evidence_frames", "evidence_pcapng", "write_evidence_pcap", "read_records",
           "STDIN_REASON"]

STDIN_REASON = "standard input, which cannot be read twice (save the capture to a file)"
_EXPECTED = "a capture file --evidence-pcap can read again"


def evidence_frames(report: Mapping, tcp) -> dict[int, str]:
    """Frame number -> its comment: every finding's frames, and the handshakes of their
    connections."""
    codes: dict[int, list[str]] = {}
    for f in report.get("findings") or []:
        ev = f.get("evidence") or {}
        if ev.get("source") != "capture":
            continue
        for frame in ev.get("frames") or []:
            listed = codes.setdefault(int(frame), [])
            if f["code"] not in listed:
                listed.append(f["code"])
    shakes: dict[int, int] = {}
    if tcp is not None and codes:
        stream = tcp.columns["tcp_stream"]
        rows = np.fromiter(codes, dtype=np.int64) - 1
        rows = rows[(rows >= 0) & (rows < stream.shape[0])]
        for s in np.unique(stream[rows]):
            if s == NO_STREAM:
                continue
            for frame in _handshake(tcp, int(s)):
                shakes.setdefault(frame, int(s))
    out = {}
    for frame in sorted(set(codes) | set(shakes)):
        parts = []
        if frame in codes:
            parts.append(", ".join(codes[frame]))
        if frame in shakes:
            parts.append(f"handshake of tcp.stream {shakes[frame]}")
        out[frame] = f"cnfpost: {'; '.join(parts)}; original frame {frame}"
    return out


def _handshake(tcp, stream: int) -> list[int]:
    """Frames of a connection's handshake: its SYNs and SYN/ACKs, and the client's first
    segment after the last of them (the ACK completing it)."""
    rows = tcp.stream_rows(stream)
    flags = tcp.tcp_flags[rows]
    syn = (flags & TcpFlag.SYN) != 0
    if not syn.any():
        return []
    last = int(np.flatnonzero(syn)[-1])
    picked = list(rows[syn])
    after = np.flatnonzero((np.arange(rows.shape[0]) > last) & (tcp.client_dir[rows] == 1)
                           & ((flags & TcpFlag.ACK) != 0))
    if after.size:
        picked.append(rows[after[0]])
    return [int(r) + 1 for r in picked]


# ----------------------------------------------------------------------------------------
# Reading the original records again
# ----------------------------------------------------------------------------------------

def read_records(path: str | Path, wanted: set[int]) -> Iterator[tuple[int, bytes, int]]:
    """(frame number, captured bytes, original length) of the wanted frames, in file order.
    Frames are counted as the decoder counts them: every packet record of a pcap file, or
    every Enhanced, Simple or obsolete Packet Block of a pcapng file."""
    if not wanted:
        return
    last = max(wanted)
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if head == b"\x0a\x0d\x0d\x0a":
            records = _pcapng_records(fh)
        else:
            records = _pcap_records(fh)
        for frame, data, orig in records:
            if frame in wanted:
                yield frame, data, orig
            if frame >= last:
                return


def _pcap_records(fh):
    header = fh.read(24)
    if len(header) < 24:
        return
    order = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    frame = 0
    while True:
        rec = fh.read(16)
        if len(rec) < 16:
            return
        _, _, incl, orig = struct.unpack(order + "IIII", rec)
        data = fh.read(incl)
        if len(data) < incl:
            return
        frame += 1
        yield frame, data, orig


def _pcapng_records(fh):
    order = "<"
    snaplens: list[int] = []
    frame = 0
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return
        btype = struct.unpack(order + "I", head[:4])[0]
        if head[:4] == b"\x0a\x0d\x0d\x0a":
            magic = fh.read(4)
            order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
            total = struct.unpack(order + "I", head[4:8])[0]
            fh.seek(total - 12, 1)
            snaplens = []
            continue
        total = struct.unpack(order + "I", head[4:8])[0]
        if total < 12:
            return
        body = fh.read(total - 8)
        if len(body) < total - 8:
            return
        if btype == 1:                                   # IDB
            snaplens.append(struct.unpack(order + "I", body[4:8])[0])
        elif btype == 6:                                 # EPB
            incl, orig = struct.unpack(order + "II", body[12:20])
            frame += 1
            yield frame, body[20:20 + incl], orig
        elif btype == 3:                                 # SPB
            orig = struct.unpack(order + "I", body[:4])[0]
            snap = snaplens[0] if snaplens and snaplens[0] else orig
            frame += 1
            yield frame, body[4:4 + min(orig, snap, total - 16)], orig
        elif btype == 2:                                 # obsolete Packet Block
            incl, orig = struct.unpack(order + "II", body[12:20])
            frame += 1
            yield frame, body[20:20 + incl], orig


# ----------------------------------------------------------------------------------------
# Writing pcapng (little-endian, nanosecond timestamps)
# ----------------------------------------------------------------------------------------

def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def _shb() -> bytes:
    options = _option(4, b"cnfpost evidence capture") + _option(0, b"")
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options)


def _idb(link_type: int, snaplen: int) -> bytes:
    options = _option(9, bytes([9])) + _option(0, b"")        # if_tsresol: nanoseconds
    return _block(1, struct.pack("<HHI", link_type, 0, snaplen) + options)


def _epb(iface: int, ts_ns: int, data: bytes, orig: int, comment: str) -> bytes:
    ts = max(ts_ns, 0)
    options = _option(1, comment.encode()) + _option(0, b"")
    return _block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), orig)
                  + _pad(data) + options)


def evidence_pcapng(report: Mapping, sources) -> tuple[bytes, int]:
    """(the pcapng bytes, frames written): an evidence capture of the report's findings."""
    capture = None if sources is None else sources.capture
    if capture is None or sources.table is None:
        raise InputError("--evidence-pcap", None, "a report analysed from a capture",
                         "no capture")
    if capture == "-":
        raise InputError("-", None, _EXPECTED, STDIN_REASON)
    table = sources.table
    comments = evidence_frames(report, sources.tcp)
    interfaces = table.interfaces or []
    out = [_shb()]
    out += [_idb(i.link_type, i.snaplen) for i in interfaces] or [_idb(1, 0)]
    iface = table["iface"]
    ts = table["ts_ns"]
    written = 0
    try:
        for frame, data, orig in read_records(capture, set(comments)):
            row = frame - 1
            index = int(iface[row]) if interfaces and int(iface[row]) < len(interfaces) else 0
            t = int(ts[row])
            out.append(_epb(index, 0 if t == NO_TIME else t, data, orig, comments[frame]))
            written += 1
    except OSError as exc:
        raise InputError(capture, None, _EXPECTED, (exc.strerror or str(exc)).lower()) from None
    return b"".join(out), written


def write_evidence_pcap(report: Mapping, sources, target) -> int:
    """Write the evidence capture to the file ``target``; returns the frames written. (The
    command line writes the bytes of evidence_pcapng through its own atomic output.)"""
    data, written = evidence_pcapng(report, sources)
    Path(target).write_bytes(data)
    return written
