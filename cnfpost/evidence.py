"""Evidence: frame lists, and the Wireshark display filter that shows exactly them.

Filters use Wireshark 4.0's set syntax with ranges, comma-separated (4.0 no longer
accepts spaces between set elements): ``frame.number in {12, 40..43, 97}``. A frame
number filter is exact, unlike a semantic one (``tcp.analysis.retransmission``), whose
result depends on the preferences of the Wireshark that applies it; the semantic filter
is offered beside it as a hint where one exists.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["frame_ranges", "display_filter", "MAX_LISTED_FRAMES"]

# A finding lists at most this many frames (the filter still names every frame, in ranges).
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
