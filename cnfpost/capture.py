"""Open a capture (a path, or '-' for standard input) and decode it into a PacketTable.

The only module that calls the compiled decoder. Files are memory-mapped and decoded in
windows (nothing is held twice); standard input is read in chunks, so
``tcpdump -w - | cnfpost info -`` works. The decoder reports file-level problems as a stop
code; this module turns them into an InputError (nothing usable) or warnings on a partial
table (every complete packet before the problem is kept).
"""
from __future__ import annotations

import mmap
import os
import sys
from typing import BinaryIO, Callable


from .errors import InputError, at_byte, format_problem
from .model import (
    PAYLOAD_BUFFER_LIMIT,
    CaptureStats,
    EmptyRun,
    Interface,
    LinkType,
    PacketTable,
    count_frames,
)

__all__ = ["read_capture", "decode_bytes", "ENGINES"]

ENGINES = ("compiled", "python")
WINDOW = 8 * 1024 * 1024       # bytes of a mapped file handed to the decoder at a time
STDIN_CHUNK = 4 * 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes done, bytes total or 0 when unknown)


def read_capture(source: str | os.PathLike, *, engine: str = "compiled",
                 progress: Progress | None = None) -> PacketTable:
    """Decode a capture file, or standard input when source is '-'."""
    if str(source) == "-":
        label = "<stdin>"
        if engine == "python":
            return decode_bytes(sys.stdin.buffer.read(), label, engine="python")
        return _decode_stream(sys.stdin.buffer, label, progress)
    label = str(source)
    try:
        fh = open(source, "rb")
    except OSError as exc:
        raise InputError(label, None, "a readable capture file", exc.strerror or str(exc)) from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise InputError(label, at_byte(0), "a pcap or pcapng magic number", "an empty file")
        if engine == "python":
            return decode_bytes(fh.read(), label, engine="python")
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # not mappable (a pipe or a special file): stream it
            return _decode_stream(fh, label, progress)
        with mapped:
            return _decode_mapped(mapped, size, label, progress)


def decode_bytes(data: bytes | bytearray | memoryview, label: str = "<bytes>", *,
                 engine: str = "compiled") -> PacketTable:
    """Decode a whole capture held in memory (tests, and small inputs)."""
    if engine == "python":
        from . import decode_py  # the reference decoder never touches the compiled one

        return _require_section(decode_py.read_capture(data, label))
    if engine != "compiled":
        raise ValueError(f"unknown decoder engine {engine!r}; expected one of {ENGINES}")
    view = memoryview(data).cast("B")
    decoder = _new_decoder(len(view))
    decoder.feed(view, True)
    return _finish(decoder, label, len(view))


# Rows reserved up front: one per 60 bytes of file (a minimal Ethernet frame plus its
# record header is more), so a file's table never has to grow. The reservation is zeroed
# lazily by the OS (calloc): rows never written cost address space, not memory, and the
# arrays are trimmed in place at the end. Capped so that a huge file cannot ask for more
# address space than a machine allows; past the cap the arrays grow by half each time.
BYTES_PER_ROW_ESTIMATE = 60
MAX_RESERVED_ROWS = 1 << 24
STREAM_RESERVED_ROWS = 1 << 16


def _new_decoder(size_hint: int):
    from . import _decode

    rows = min(size_hint // BYTES_PER_ROW_ESTIMATE, MAX_RESERVED_ROWS) if size_hint else \
        STREAM_RESERVED_ROWS
    return _decode._Decoder(max(rows, 1024), PAYLOAD_BUFFER_LIMIT)


def _decode_mapped(mapped: mmap.mmap, size: int, label: str,
                   progress: Progress | None) -> PacketTable:
    decoder = _new_decoder(size)
    view = memoryview(mapped)
    try:
        pos, window = 0, WINDOW
        while pos < size and decoder.stop_code == 0:
            end = min(size, pos + window)
            final = end == size
            used = decoder.feed(view[pos:end], final)
            if used == 0 and not final and decoder.stop_code == 0:
                window *= 2  # a block longer than the window: give it room
                continue
            _release(mapped, pos, pos + used)
            pos += used
            if progress:
                progress(pos, size)
            if final:
                break
    finally:
        view.release()
    return _finish(decoder, label, size)


def _release(mapped: mmap.mmap, start: int, end: int) -> None:
    """Drop decoded pages of the mapping from our resident set: the file is read once, so
    a big capture costs a window of memory, not its size."""
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    last = end // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        mapped.madvise(mmap.MADV_DONTNEED, first, last - first)


def _decode_stream(stream: BinaryIO, label: str, progress: Progress | None) -> PacketTable:
    decoder = _new_decoder(0)
    pending = b""
    total = 0
    while decoder.stop_code == 0:
        chunk = stream.read(STDIN_CHUNK)
        final = not chunk
        total += len(chunk)
        data = pending + chunk if pending else chunk
        used = decoder.feed(data, final)
        pending = data[used:]
        if progress:
            progress(total, 0)
        if final:
            break
    if total == 0 and decoder.stop_code == 0:
        raise InputError(label, at_byte(0), "a pcap or pcapng magic number", "no bytes")
    return _finish(decoder, label, total)


def _finish(decoder, label: str, size: int) -> PacketTable:
    from . import _decode

    code = decoder.stop_code
    if code == _decode.STOP_BAD_MAGIC:
        got = f"{decoder.stop_a} bytes" if decoder.stop_a < 4 else f"0x{decoder.stop_b:08x}"
        raise InputError(label, at_byte(0), "a pcap or pcapng magic number", got)
    if code == _decode.STOP_SHORT_FILE_HEADER:
        raise InputError(label, at_byte(0), "a 24-byte pcap file header", f"{decoder.stop_a} bytes")
    if code == _decode.STOP_BAD_BYTE_ORDER and decoder.sections == 0:
        got = f"{decoder.stop_a} bytes" if decoder.stop_b < 0 else f"0x{decoder.stop_b:08x}"
        raise InputError(label, at_byte(decoder.stop_offset),
                         "a pcapng byte-order magic 0x1a2b3c4d", got)

    parts = decoder.finish()
    stats = CaptureStats(path=label, file_bytes=size)
    stats.format = {1: "pcap", 2: "pcapng"}.get(decoder.format, "")
    stats.byte_order = "big" if decoder.first_big == 1 else "little"
    stats.sections = decoder.sections
    stats.skipped_blocks = dict(decoder.skipped)
    stats.payload_bytes_dropped = int(decoder.payload_dropped)
    for offset, room, caplen in decoder.clamps:
        stats.warnings.append(format_problem(
            label, at_byte(offset), f"a captured length of at most {room}", str(caplen)))
    warning = _stop_warning(decoder, label)
    if warning:
        stats.warnings.append(warning)
        stats.stopped_at = int(decoder.stop_offset)

    interfaces = [Interface(**info) for info in decoder.interfaces]
    for number, (iface, count) in enumerate(zip(interfaces, decoder.interface_packets())):
        iface.packets = count
        iface.unknown_link_type = iface.link_type not in LinkType._value2member_map_
        if iface.unknown_link_type and count:
            stats.warnings.append(format_problem(
                label, None, f"a link type cnfpost decodes on interface {number}",
                f"{iface.link_type_name} ({count} frames counted, not decoded)"))
    if interfaces and decoder.format == 1:
        stats.ts_precision = "nano" if interfaces[0].ts_resolution == 10**9 else "micro"

    columns = parts["columns"]
    run = EmptyRun(*parts["empty_run"]) if parts["empty_run"] else None
    count_frames(stats, columns, run)
    return _require_section(PacketTable(
        columns=columns,
        ip6_addresses=parts["ip6_addresses"],
        icmp=parts["icmp"],
        tcpopt=parts["tcpopt"],
        sack=parts["sack"],
        payload_index=parts["payload_index"],
        payload_bytes=parts["payload_bytes"],
        interfaces=interfaces,
        stats=stats,
        empty_run=run,
    ))


def _require_section(table: PacketTable) -> PacketTable:
    """A pcapng file whose first Section Header Block cannot be read (its length corrupt)
    holds nothing the decoder could trust: bad input, not an empty capture to assess. The
    decoder's own stop warning says why, in the error shape."""
    stats = table.stats
    if stats.format != "pcapng" or stats.sections:
        return table
    place = at_byte(stats.stopped_at or 0)
    head = f"{format_problem(stats.path, place, '', '').split(': expected')[0]}: expected "
    for warning in stats.warnings:
        if warning.startswith(head):  # the stop warning: the same words, now an error
            expected, _, got = warning[len(head):].rpartition(", got ")
            raise InputError(stats.path, place, expected, got)
    raise InputError(stats.path, place, "a readable pcapng section header block", "none")


def _stop_warning(decoder, label: str) -> str | None:
    """The one warning for a walk that stopped before the end (wording: docs/decoding.md)."""
    from . import _decode

    code, a, b = decoder.stop_code, decoder.stop_a, decoder.stop_b
    expected_got = {
        _decode.STOP_RECORD_HEADER_CUT: (f"a {a}-byte record header", f"{b} bytes"),
        _decode.STOP_RECORD_TOO_LONG: (f"a record length of at most {a}", str(b)),
        _decode.STOP_RECORD_CUT: (f"{a} bytes of packet data", f"{b} (file cut off mid-record)"),
        _decode.STOP_BLOCK_LENGTH_BAD: ("a block length that is a multiple of 4 and at least 12",
                                        str(b)),
        _decode.STOP_BLOCK_CUT: (("an 8-byte block header", f"{b} bytes") if a == 8
                                 else (f"{a} bytes of block", str(b))),
        _decode.STOP_BLOCK_TRAILER: (f"a trailing block length of {a}", str(b)),
        _decode.STOP_BLOCK_TOO_SHORT: (
            f"{_decode.BLOCK_ARTICLE_NAMES.get(decoder.stop_block_type, 'a block')} "
            f"of at least {a} bytes", str(b)),
        _decode.STOP_BAD_BYTE_ORDER: ("a pcapng byte-order magic 0x1a2b3c4d", f"0x{b:08x}"),
    }.get(code)
    if expected_got is None:
        return None
    return format_problem(label, at_byte(decoder.stop_offset), *expected_got)
