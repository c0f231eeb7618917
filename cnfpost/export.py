"""Write the per-packet table under Wireshark's field names (csv, tsv, jsonl)."""
from __future__ import annotations

import csv
from typing import IO, Sequence

import numpy as np
import orjson

from .errors import InputError
from .fields import FIELDS, ExportContext, field_values
from .model import PacketTable

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
    return n


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
