"""Evidence: frame lists, and the Wireshark display filter that shows exactly them.

A finding's filter is kept short (short_filter): stream sets, analysis fields and frame
ranges, as in ``tcp.stream in {0..2} && tcp.analysis.out_of_order``, chosen only when it
selects exactly the frames the finding claims in this capture (tshark checks it in the
tests); otherwise the frame list stays, whatever its length: never truncated.

Filters use Wireshark 4.0's set syntax with ranges, comma-separated (4.0 no longer
accepts spaces between set elements): ``frame.number in {12, 40..43, 97}``. A frame
number filter is exact, unlike a semantic one (``tcp.analysis.retransmission``), whose
result depends on the preferences of the Wireshark that applies it; the semantic filter
is offered beside it as a hint where one exists.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np

from .model import BLOCK_ROWS, NO_STREAM

__all__ = ["frame_ranges", "display_filter", "MAX_LISTED_FRAMES", "FilterContext", "short_filter",
           "with_short_filters", "SHORT_FILTER_CHARS"]

# A claim whose streams hold more rows than this is given field filters only (and the
# frame list): the stream-and-field search holds a mask per field over all those rows.
MAX_FILTER_ROWS = 1 << 18
# The text reports list at most this many frames of a finding and fold the rest; the JSON
# keeps every frame.
MAX_LISTED_FRAMES = 50


def frame_ranges(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, de-duplicated frame numbers as inclusive (first, last) runs."""
    values = np.unique(np.asarray(list(frames), dtype=np.int64))
    if values.size == 0:
        return []
    breaks = np.nonzero(np.diff(values) != 1)[0]
    starts = np.concatenate(([values[0]], values[breaks + 1]))
    ends = np.concatenate((values[breaks], [values[-1]]))
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def display_filter(frames: Iterable[int]) -> str:
    """A Wireshark display filter selecting exactly these frames ('' for none)."""
    runs = frame_ranges(frames)
    if not runs:
        return ""
    if len(runs) == 1 and runs[0][0] == runs[0][1]:
        return f"frame.number == {runs[0][0]}"
    parts = [str(a) if a == b else f"{a}..{b}" for a, b in runs]
    return "frame.number in {" + ", ".join(parts) + "}"


# ----------------------------------------------------------------------------------------
# Short filters: the same frames, said with stream sets and analysis fields
# ----------------------------------------------------------------------------------------

# A filter longer than this is hard to paste and read; short_filter aims below it, but never
# truncates: when nothing shorter selects exactly the frames, the frame list stays.
SHORT_FILTER_CHARS = 500


def _set(values: Iterable[int]) -> str:
    parts = [str(a) if a == b else f"{a}..{b}" for a, b in frame_ranges(values)]
    return "{" + ", ".join(parts) + "}"


Predicate = Callable[[np.ndarray | slice], np.ndarray]   # rows -> bool per row


class FilterContext:
    """What short filters are tested against: per frame its tcp.stream and the fields that
    Wireshark would show (the same definitions `cnfpost packets` exports).

    ``stream``: tcp.stream per frame (-1, or NO_STREAM, where none); ``predicates``: filter
    text -> a function giving, for some rows (an index array or a slice), whether the
    filter selects each. Nothing is computed per frame of the whole capture but the
    counts, a block at a time: a big capture's memory stays its table and analysis."""

    def __init__(self, stream: np.ndarray, predicates: Mapping[str, Predicate],
                 flags_unsure: bool = False,
                 rows_of: Callable[[np.ndarray], np.ndarray] | None = None,
                 rows_in: Callable[[np.ndarray], int] | None = None):
        self.stream = stream
        self.predicates = predicates
        # tcp.flags predicates may differ from Wireshark's where ICMP errors quote a TCP
        # header (tshark dissects the quoted flags; the table does not keep them)
        self.flags_unsure = flags_unsure
        self._rows_of = rows_of
        self._rows_in = rows_in
        self._counts: dict[str, int] = {}

    def stream_at(self, rows: np.ndarray) -> np.ndarray:
        """tcp.stream of the rows as int64, -1 where none."""
        s = self.stream[rows].astype(np.int64)
        s[(s < 0) | (s == NO_STREAM)] = -1
        return s

    def rows_of(self, streams: np.ndarray) -> np.ndarray:
        """The rows of these streams, in capture order."""
        if self._rows_of is not None:
            return self._rows_of(streams)
        return np.flatnonzero(np.isin(self.stream, streams))

    def rows_in(self, streams: np.ndarray) -> int:
        """How many rows these streams have."""
        if self._rows_in is not None:
            return self._rows_in(streams)
        return int(np.count_nonzero(np.isin(self.stream, streams)))

    def count(self, name: str) -> int:
        """Frames the predicate selects in the whole capture (computed once)."""
        if name not in self._counts:
            n = self.stream.shape[0]
            self._counts[name] = sum(
                int(np.count_nonzero(self.predicates[name](slice(start, start + BLOCK_ROWS))))
                for start in range(0, n, BLOCK_ROWS))
        return self._counts[name]

    @classmethod
    def of(cls, table, tcp) -> "FilterContext":
        from .model import TCP_ANALYSIS_FIELDS, TcpFlag

        stream = tcp.columns["tcp_stream"]
        analysis, flags = tcp.columns["tcp_analysis"], table["tcp_flags"]

        def field(bit: int) -> Predicate:
            return lambda rows: ((analysis[rows] & bit) != 0) & (stream[rows] != NO_STREAM)

        def flag(bit: int) -> Predicate:
            return lambda rows: ((flags[rows] & bit) != 0) & (stream[rows] != NO_STREAM)

        preds = {name: field(bit) for name, bit in TCP_ANALYSIS_FIELDS.items()}
        preds["tcp.flags.reset == 1"] = flag(int(TcpFlag.RST))
        preds["tcp.flags.syn == 1"] = flag(int(TcpFlag.SYN))

        def rows_in(streams: np.ndarray) -> int:
            return sum(tcp.stream_size(int(s)) for s in streams)

        # the rows of a claim's streams: up to MAX_FILTER_ROWS of them, uint32
        return cls(stream, preds, bool(tcp.quoted_rows.shape[0]), tcp.rows_of_streams, rows_in)


def _runs(sorted_frames: np.ndarray) -> int:
    """Runs of consecutive numbers: each costs a filter at least 3 characters ('7, ')."""
    if sorted_frames.size == 0:
        return 0
    # a block at a time (each overlapping the next by one): the frames may be most of a
    # claim's streams
    return sum(int(np.count_nonzero(np.diff(sorted_frames[start:start + BLOCK_ROWS + 1]) != 1))
               for start in range(0, sorted_frames.shape[0] - 1, BLOCK_ROWS)) + 1


def _field_filters(claimed: np.ndarray, ctx: FilterContext) -> Iterable[str]:
    """Analysis fields, alone or together, that select exactly ``claimed`` in the whole
    capture: found from the claimed rows and the capture's counts, with no mask over the
    claimed frames' streams (millions of rows when a claim spans most of a big capture)."""
    n = claimed.shape[0]
    # the fields wholly inside the claim: every frame they select is claimed
    exact = [name for name, predicate in ctx.predicates.items()
             if not (ctx.flags_unsure and name.startswith("tcp.flags"))
             and 0 < ctx.count(name) == int(np.count_nonzero(predicate(claimed)))]
    for name in exact:
        if ctx.count(name) == n:
            yield name
    if len(exact) > 1:
        covered = np.zeros(n, dtype=bool)
        for name in exact:
            covered |= ctx.predicates[name](claimed)
        if covered.all():
            yield f"({' || '.join(sorted(exact))})"


def _candidates(claimed: np.ndarray, ctx: FilterContext, limit: int) -> Iterable[str]:
    """Filters that select exactly ``claimed`` (0-based rows, sorted, unique). Only the rows
    of the claimed frames' streams are looked at (a long capture has millions of others)."""
    streams = np.unique(ctx.stream_at(claimed))
    if streams.size == 0 or streams[0] < 0:
        return  # a frame outside TCP: only frame numbers say it
    if ctx.rows_in(streams) > MAX_FILTER_ROWS:
        yield from _field_filters(claimed, ctx)
        return
    rows = ctx.rows_of(streams)
    if rows.shape[0] == 0:
        return
    # The claimed rows are rows of these streams: found by a search per claimed row (of the
    # same dtype, else the search converts the streams' rows)
    wanted = np.searchsorted(rows, claimed.astype(rows.dtype))
    want = np.zeros(rows.shape[0], dtype=bool)
    want[wanted] = True
    clause = (f"tcp.stream == {streams[0]}" if streams.size == 1
              else f"tcp.stream in {_set(streams)}")
    # Per field, the positions in `rows` it selects (few: analysis flags and SYN/RST),
    # found a block of rows at a time: no mask per field over the streams' rows.
    inside = {}
    for name, predicate in ctx.predicates.items():
        if (ctx.flags_unsure and name.startswith("tcp.flags")) or ctx.count(name) == 0:
            continue                     # (a field that selects no frame selects none here)
        hit = np.concatenate([start + np.flatnonzero(predicate(rows[start:start + BLOCK_ROWS]))
                              for start in range(0, rows.shape[0], BLOCK_ROWS)])
        if want[hit].any():
            inside[name] = hit
    # The fields wholly inside the claim, together: e.g. lost segment | dup ACK | retrans.
    exact = [name for name, hit in inside.items() if want[hit].all()]
    options = [(name,) for name in inside]
    if len(exact) > 1:
        options.append(tuple(sorted(exact)))
    options.append(())  # the streams alone
    for names in options:
        # drop the stream clause when the fields select nothing outside these streams
        alone = names and all(ctx.count(x) == inside[x].shape[0] for x in names)
        field = " || ".join(names)
        if names and len(names) > 1:
            field = f"({field})"
        core = field if alone else (f"{clause} && {field}" if names else clause)
        if names:
            got = np.unique(np.concatenate([inside[name] for name in names]))
            extra = rows[got[~want[got]]]
            missing = rows[np.setdiff1d(wanted, got, assume_unique=True)]
        else:
            extra = rows[~want]
            missing = rows[:0]
        extra += 1                       # frame numbers, in place: `extra` may be big
        missing += 1
        if 3 * (_runs(extra) + _runs(missing)) >= limit:
            continue  # longer than the frame list whatever else: not worth writing out
        if extra.size:
            grouped = f"({core})" if "||" in core else core
            core = f"{grouped} && !(frame.number in {_set(extra)})"
        if missing.size:
            grouped = f"({core})" if " " in core else core
            core = f"{grouped} || frame.number in {_set(missing)}"
        yield core


def short_filter(frames: Iterable[int], ctx: FilterContext | None) -> str:
    """The shortest filter found that selects exactly these frames: the frame list, or
    stream sets and analysis fields with frame-number corrections."""
    listed = display_filter(frames)
    if ctx is None or not listed:
        return listed
    rows = np.unique(np.asarray(list(frames), dtype=np.int64)) - 1
    if rows.size == 0 or rows[0] < 0 or rows[-1] >= ctx.stream.shape[0]:
        return listed
    return min([listed, *_candidates(rows, ctx, len(listed))], key=lambda s: (len(s), s))


def with_short_filters(findings: list[dict], ctx: FilterContext | None) -> list[dict]:
    """Findings (as dicts) whose capture evidence has its shortest exact filter."""
    out = []
    for f in findings:
        ev = f.get("evidence") or {}
        if ev.get("source") == "capture" and ev.get("frames") and ctx is not None:
            f = {**f, "evidence": {**ev, "display_filter": short_filter(ev["frames"], ctx)}}
        out.append(f)
    return out
