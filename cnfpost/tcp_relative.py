"""tcp.seq, tcp.ack and tcp.window_size derived for the rows asked, not kept per frame.

Wireshark's relative sequence number is the raw one less a base per direction of a
conversation (its ISN, or the first sequence number seen less one); the relative
acknowledgement number is the raw one less the other direction's base; the window is
shifted by the direction's scale once both SYNs carried one (SYNs are never scaled). A
base or a scale is set once and changes only on rare frames (a SYN/ACK with another ISN,
the SYN/ACK that settles the scale), so the compiled kernel (ext/_tcp.pyx, RELATIVE)
records, per side of a stream, the three values at the frames where they change
("steps"), and keeps whole the rare frames they do not give ("exceptions": a frame whose
TCP header is not analysed, an ICMP error quoting a segment, a frame whose own window-scale
option changes the shift after its window was shown). A big capture keeps 12 bytes
a frame less (docs/performance.md); a column is spelled out a block of rows at a time.

The pure-Python engine keeps the three columns stored; `TcpAnalysis.at` reads either.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import BLOCK_ROWS, DERIVED_ANALYSIS, NO_STREAM, TcpFlag

__all__ = ["COLUMNS", "RelativeNumbers"]

COLUMNS = DERIVED_ANALYSIS          # in the order of the kernel's STEP_* kinds
NO_SHIFT = np.uint32(0xFFFFFFFF)      # a shift step's value while no scale applies (-1)
ACK, SYN = int(TcpFlag.ACK), int(TcpFlag.SYN)
U64 = np.uint64


@dataclass(frozen=True)
class RelativeNumbers:
    """The steps and exceptions of one capture, and the columns they are read with."""

    keys: tuple[np.ndarray, np.ndarray, np.ndarray]
    # ^ per column (COLUMNS order): (stream * 2 + client side) << 32 | row of each step,
    #   sorted (uint64)
    values: tuple[np.ndarray, np.ndarray, np.ndarray]
    # ^ the base (seq, ack) or shift (NO_SHIFT: none) in force from that row on (uint32)
    exception_rows: np.ndarray      # sorted (uint32)
    exception_values: np.ndarray    # (k, 3) uint32: tcp.seq, tcp.ack, tcp.window_size
    seq: np.ndarray                 # the packet table's raw columns (shared)
    ack: np.ndarray
    window: np.ndarray
    flags: np.ndarray
    stream: np.ndarray              # the analysis's tcp.stream and client side (shared)
    client_dir: np.ndarray

    @classmethod
    def of(cls, steps: np.ndarray, exceptions: np.ndarray, table_columns: dict,
           stream: np.ndarray, client_dir: np.ndarray) -> "RelativeNumbers":
        """From the kernel's (row, kind, value) steps and (row, seq, ack, window)
        exceptions (each in row order)."""
        rows = steps[:, 0]
        group = stream[rows].astype(U64) * U64(2) + client_dir[rows].astype(U64)
        key = (group << U64(32)) | rows.astype(U64)
        keys, values = [], []
        for kind in range(len(COLUMNS)):
            mine = steps[:, 1] == kind
            order = np.argsort(key[mine], kind="stable")
            keys.append(key[mine][order])
            values.append(steps[mine, 2][order])
        return cls(tuple(keys), tuple(values), np.ascontiguousarray(exceptions[:, 0]),
                   np.ascontiguousarray(exceptions[:, 1:]), table_columns["tcp_seq"],
                   table_columns["tcp_ack"], table_columns["tcp_win"],
                   table_columns["tcp_flags"], stream, client_dir)

    def column(self, name: str) -> np.ndarray:
        """One of COLUMNS for every frame, spelled out a block at a time."""
        n = self.stream.shape[0]
        out = np.empty(n, dtype=np.uint32)
        for start in range(0, n, BLOCK_ROWS):
            rows = np.arange(start, min(start + BLOCK_ROWS, n))
            out[start:start + rows.shape[0]] = self.at(name, rows)
        return out

    def at(self, name: str, rows: np.ndarray) -> np.ndarray:
        """One of COLUMNS at `rows` (uint32; 0 on frames that are not TCP)."""
        kind = COLUMNS.index(name)
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(rows.shape[0], dtype=np.uint32)
        stream = self.stream[rows]
        tcp = np.flatnonzero(stream != NO_STREAM)
        r = rows[tcp]
        group = stream[tcp].astype(U64) * U64(2) + self.client_dir[r].astype(U64)
        step = self._in_force(kind, group, r)
        if kind == 0:
            out[tcp] = self.seq[r] - step
        elif kind == 1:
            out[tcp] = np.where((self.flags[r] & ACK) != 0, self.ack[r] - step, self.ack[r])
        else:
            scaled = (step != NO_SHIFT) & ((self.flags[r] & SYN) == 0)
            win = self.window[r].astype(np.uint32)
            out[tcp] = np.where(scaled, win << np.where(scaled, step, 0), win)
        if self.exception_rows.shape[0]:
            at = np.searchsorted(self.exception_rows, rows)
            hit = at < self.exception_rows.shape[0]
            hit[hit] = self.exception_rows[at[hit]] == rows[hit]
            out[hit] = self.exception_values[at[hit], kind]
        return out

    def _in_force(self, kind: int, group: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The step value in force at each row of its group: the last step at or before
        it; 0 (a base) or NO_SHIFT before the first."""
        keys, values = self.keys[kind], self.values[kind]
        default = NO_SHIFT if kind == 2 else np.uint32(0)
        if keys.shape[0] == 0:
            return np.full(rows.shape[0], default, dtype=np.uint32)
        at = np.searchsorted(keys, (group << U64(32)) | rows.astype(U64), side="right") - 1
        found = at >= 0
        found[found] = (keys[at[found]] >> U64(32)) == group[found]
        return np.where(found, values[np.maximum(at, 0)], default)
