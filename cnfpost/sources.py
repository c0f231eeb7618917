"""What a report was made from, kept beside the Report (never serialised)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Sources"]


@dataclass(frozen=True)
class Sources:
    """What a report was made from, kept beside it (never serialised) for the pictures and
    the evidence capture: the packet table, its TCP analysis, the capture's ICMP echoes,
    the ping run, and the capture's path (``-`` for standard input)."""

    table: object = None
    tcp: object = None
    echo: object = None
    ping: object = None
    capture: str | None = None
