"""IP fragment reassembly as Wireshark 4.0 does it (epan/reassemble.c), with bounded memory.

Both decoders (ext/_decode.pyx and decode_py.py) hand every fragment they may reassemble to
one :class:`Reassembler`; fragments are rare, so this bookkeeping is plain Python, and the
decoders keep their own parsing of the datagram it returns. The rules (docs/decoding.md):

- A datagram is keyed as Wireshark keys it: IPv4 by (source, destination, protocol XOR
  identification), IPv6 by (source, destination, fragment identification).
- The first fragment without More Fragments sets the datagram's length; a later one that
  says otherwise is ignored (Wireshark: "multiple tails").
- The datagram completes on the fragment after which the fragments received cover every
  byte from 0 to that length. It is then forgotten: a fragment arriving later with the
  same key starts a new datagram (Wireshark unhashes completed datagrams).
- Overlaps: each byte comes from the fragment with the lowest offset that covers it, and
  among fragments at the same offset from the one that arrived first (Wireshark copies the
  fragments in offset order, each only past what was already copied).
- Only the first ``PREFIX`` bytes of a datagram are kept: what the decoders parse (transport
  header, the kept payload bytes) lies there. At most ``MAX_PENDING`` datagrams wait at once;
  past that the oldest is dropped, and so is one broken into more than ``MAX_GAPS`` pieces;
  the rows of dropped and never completed datagrams are handed back, for their status.
"""
from __future__ import annotations

from array import array
from typing import Hashable

__all__ = ["Reassembler", "PREFIX", "MAX_PENDING", "MAX_GAPS"]

PREFIX = 2048       # bytes of each datagram kept: TCP header (60) + TLS handshake (512) fit
MAX_PENDING = 1024  # datagrams waiting for fragments at once
MAX_GAPS = 64       # separate covered ranges a waiting datagram may have
NO_OWNER = 0xFFFF   # above every fragment offset (at most 8191 * 8)


class _Datagram:
    __slots__ = ("rows", "ranges", "length", "head", "owner")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.ranges: list[list[int]] = []   # covered [start, end), sorted and merged
        self.length: int | None = None      # set by the first fragment without MF
        self.head = bytearray(PREFIX)
        self.owner = array("H", [NO_OWNER]) * PREFIX  # offset of the fragment each byte is from

    def write(self, offset: int, data: bytes) -> None:
        owner, head = self.owner, self.head
        for i, value in enumerate(data[:max(0, PREFIX - offset)], offset):
            if offset < owner[i]:
                owner[i] = offset
                head[i] = value

    def cover(self, start: int, end: int) -> None:
        ranges = sorted(self.ranges + [[start, end]])
        merged = [ranges[0]]
        for lo, hi in ranges[1:]:
            if lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self.ranges = merged

    def complete(self) -> bool:
        return (self.length is not None and bool(self.ranges) and self.ranges[0][0] == 0
                and self.ranges[0][1] >= self.length)


class Reassembler:
    """Fragments in, whole datagrams (their first PREFIX bytes) out."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self.pending: dict[Hashable, _Datagram] = {}
        self.dropped_rows: list[int] = []   # rows of datagrams dropped to bound memory

    def add(self, key: Hashable, row: int, offset: int, length: int, data: bytes,
            more: bool) -> tuple[bytes, int] | None:
        """Add the fragment of `row`: `length` bytes at byte `offset` of its datagram, of
        which `data` holds the first ones (at least those below PREFIX). Returns the
        datagram's kept bytes and its length when this fragment completes it."""
        dgram = self.pending.get(key)
        if dgram is None:
            if len(self.pending) >= self.max_pending:
                oldest = next(iter(self.pending))
                self.dropped_rows += self.pending.pop(oldest).rows
            dgram = self.pending[key] = _Datagram()
        dgram.rows.append(row)
        if not more and dgram.length is None:
            dgram.length = offset + length
        dgram.write(offset, data)
        dgram.cover(offset, offset + length)
        if dgram.complete():
            del self.pending[key]
            return bytes(dgram.head[:min(dgram.length, PREFIX)]), dgram.length
        if len(dgram.ranges) > MAX_GAPS:
            self.dropped_rows += self.pending.pop(key).rows
        return None

    def take_dropped(self) -> list[int]:
        """Rows of the datagrams dropped since the last call (to bound memory)."""
        rows, self.dropped_rows = self.dropped_rows, []
        return rows

    def take_incomplete(self) -> list[int]:
        """Rows of every datagram dropped or still waiting: call once, at the end."""
        rows = self.take_dropped()
        for dgram in self.pending.values():
            rows += dgram.rows
        self.pending.clear()
        return sorted(rows)
