"""One vocabulary: phase ids and their labels, severities and their order, the TCP event
kinds that count as trouble, confidence. Every module that names a phase, sorts by
severity or words an event reads it from here (no analysis module, no renderer keeps its
own copy).
"""
from __future__ import annotations

__all__ = ["PHASE_IDS", "PHASE_NAMES", "PHASE_LABELS", "PHASE_SHORT", "SEVERITIES",
           "SEVERITIES_WORST_FIRST", "severity_rank", "CONFIDENCE", "TROUBLE_EVENTS",
           "ms_text"]

# curl's phases in order (inputs/curl.py computes them from curl's offsets)
PHASE_IDS = ("dns", "tcp", "tls", "request", "server", "download")
PHASE_NAMES = {"dns": "DNS", "tcp": "TCP connect", "tls": "TLS", "request": "request",
               "server": "server wait", "download": "download"}        # in sentences
PHASE_LABELS = {"dns": "DNS lookup", "tcp": "TCP connect", "tls": "TLS handshake",
                "request": "Request sent", "server": "Server wait (TTFB)",
                "download": "Content download"}                        # as table rows
PHASE_SHORT = {"dns": "DNS", "tcp": "TCP", "tls": "TLS", "request": "Request",
               "server": "Server", "download": "Download"}             # in narrow columns
SEVERITIES = ("info", "warning", "critical")
SEVERITIES_WORST_FIRST = tuple(reversed(SEVERITIES))
CONFIDENCE = ("high", "medium", "low")
# Events that are evidence of trouble in a phase (window full alone is not: it is a sender
# using the window it was given).
TROUBLE_EVENTS = ("retransmissions", "dup_acks", "out_of_order", "lost_segments",
                  "zero_windows")


def severity_rank(severity: str) -> int:
    """0 for the most severe: sorts critical, warning, info."""
    return SEVERITIES_WORST_FIRST.index(severity)


def ms_text(value: float) -> str:
    """Milliseconds for a sentence, with the digits that matter on a LAN and on a WAN."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"
