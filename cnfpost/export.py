"""Write the per-packet table under Wireshark's field names (csv, tsv, jsonl)."""
from __future__ import annotations

import csv
import io
from typing import IO, Sequence

import numpy as np
import orjson

from .errors import InputError
from .fields import FIELDS, ExportContext, field_values
from .model import (
    ICMP_COLUMNS,
    PACKET_COLUMNS,
    PAYLOAD_COLUMNS,
    SACK_COLUMNS,
    TCPOPT_COLUMNS,
    DecodeStatus,
    PacketTable,
    empty_columns,
)

__all__ = ["FORMATS", "check_fields", "write_packets"]

FORMATS = ("csv", "tsv", "jsonl")
ROWS_PER_BATCH = 65536  # format this many rows at a time: bounded memory on big captures


def check_fields(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise InputError("--fields", None, "field names from `cnfpost packets --list-fields`",
                         ", ".join(repr(n) for n in unknown))
    return list(names)


def write_packets(table: PacketTable, names: Sequence[str], fmt: str, out: IO[str]) -> int:
    """Write one row per frame; a field a frame lacks is empty (csv/tsv) or left out
    (jsonl), as `tshark -T fields` leaves it empty. Returns the rows written."""
    ctx = ExportContext(table)
    columns = [field_values(ctx, name) for name in names]
    formats = [FIELDS[name].fmt for name in names]
    if fmt in ("csv", "tsv"):
        writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(names)
    n = len(table)
    for start in range(0, n, ROWS_PER_BATCH):
        stop = min(n, start + ROWS_PER_BATCH)
        if fmt == "jsonl":
            cells = [_json_cells(values[start:stop], present[start:stop], f)
                     for (values, present), f in zip(columns, formats)]
            for i in range(stop - start):
                record = {name: col[i] for name, col in zip(names, cells) if col[i] is not None}
                out.write(orjson.dumps(record).decode() + "\n")
            continue
        cells = [_format_cells(values[start:stop], present[start:stop], f)
                 for (values, present), f in zip(columns, formats)]
        writer.writerows(zip(*cells))
    if table.empty_run is not None:
        _write_empty_run(table, names, fmt, out)
        n += table.empty_run.count
    return n


FRAME_MARK = "@@cnfpost-frame@@"


def _write_empty_run(table: PacketTable, names: Sequence[str], fmt: str, out: IO[str]) -> None:
    """The identical empty records that end the capture: one line each, as tshark prints
    them. Only frame.number differs, so one line is formatted, with a mark where the
    number goes, and repeated."""
    ctx = ExportContext(_empty_run_row(table))
    columns = [field_values(ctx, name) for name in names]
    if fmt == "jsonl":
        cells = [_json_cells(values, present, FIELDS[name].fmt)[0]
                 for name, (values, present) in zip(names, columns)]
        record = {name: FRAME_MARK if name == "frame.number" else cell
                  for name, cell in zip(names, cells) if cell is not None}
        line = orjson.dumps(record).decode() + "\n"
        pieces = line.split(f'"{FRAME_MARK}"')
    else:
        cells = [FRAME_MARK if name == "frame.number" else
                 _format_cells(values, present, FIELDS[name].fmt)[0]
                 for name, (values, present) in zip(names, columns)]
        buf = io.StringIO()
        delimiter = "," if fmt == "csv" else "\t"
        csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(cells)
        pieces = buf.getvalue().split(FRAME_MARK)
    first, end = len(table) + 1, len(table) + 1 + table.empty_run.count
    for start in range(first, end, ROWS_PER_BATCH):
        frames = range(start, min(end, start + ROWS_PER_BATCH))
        out.write("".join(str(f).join(pieces) for f in frames))


def _empty_run_row(table: PacketTable) -> PacketTable:
    """A one-row table holding the record of the trailing empty run."""
    run = table.empty_run
    columns = empty_columns(PACKET_COLUMNS, 1)
    columns["ts_ns"][0], columns["wire_len"][0] = run.ts_ns, run.wire_len
    columns["iface"][0], columns["status"][0] = run.iface, DecodeStatus.ZERO_CAPLEN
    return PacketTable(columns=columns, ip6_addresses=np.zeros((0, 16), dtype=np.uint8),
                       icmp=empty_columns(ICMP_COLUMNS, 0), tcpopt=empty_columns(TCPOPT_COLUMNS, 0),
                       sack=empty_columns(SACK_COLUMNS, 0),
                       payload_index=empty_columns(PAYLOAD_COLUMNS, 0), payload_bytes=b"",
                       interfaces=table.interfaces, stats=table.stats)


def _json_cells(values: np.ndarray, present: np.ndarray, fmt) -> list:
    """Numbers stay numbers in JSON; formatted fields (hex, times, names) are strings."""
    if fmt is str:
        return [v if p else None for v, p in zip(values.tolist(), present.tolist())]
    return [fmt(v) if p else None for v, p in zip(values.tolist(), present.tolist())]


def _format_cells(values: np.ndarray, present: np.ndarray, fmt) -> list[str]:
    if fmt is str and values.dtype != object:
        text = values.astype(str)  # vectorised for the plain integer columns
        return np.where(present, text, "").tolist()
    return [fmt(v) if p else "" for v, p in zip(values.tolist(), present.tolist())]
