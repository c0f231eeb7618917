"""One vocabulary: phase ids and their labels, severities and their order, confidence.

Every module that names a phase or sorts by severity reads it from here.
"""
from __future__ import annotations

from .inputs.curl import PHASE_IDS

__all__ = ["PHASE_IDS", "PHASE_NAMES", "SEVERITIES", "severity_rank", "CONFIDENCE", "ms_text"]

PHASE_NAMES = {"dns": "DNS", "tcp": "TCP connect", "tls": "TLS", "request": "request",
               "server": "server wait", "download": "download"}
SEVERITIES = ("info", "warning", "critical")
CONFIDENCE = ("high", "medium", "low")


def severity_rank(severity: str) -> int:
    """0 for the most severe: sorts critical, warning, info."""
    return len(SEVERITIES) - 1 - SEVERITIES.index(severity)


def ms_text(value: float) -> str:
    """Milliseconds for a sentence, with the digits that matter on a LAN and on a WAN."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"
