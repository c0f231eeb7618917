"""Why a sample failed, read from its packets: the phase, the reason, who ended it.

curl zeroes its timers when a transfer fails, so its ``failed_phase`` says little; the
capture says more. For a placed sample's connection:

- a SYN answered by a RST: ``tcp``, ``refused``, by the server; a SYN never answered:
  ``tcp``, ``timeout``, by the network;
- otherwise the last milestone that got through sets the phase (ClientHello sent but the
  handshake never finished: ``tls``; no request sent: ``request``; no response byte:
  ``server``; else ``download``), and the first RST (or TLS alert) says who ended it;
- the client's own RST after curl gave up (a timeout, a certificate it rejected) is
  ``by: client`` and never the cause: the reason comes from curl's exit code.

curl's exit code is used alone only when the capture has nothing for the sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import TcpFlag

__all__ = ["Failure", "sample_failure", "CURL_REASONS"]

RST, SYN, ACK = int(TcpFlag.RST), int(TcpFlag.SYN), int(TcpFlag.ACK)

# curl exit codes (libcurl-errors(3)) -> reason
CURL_REASONS = {
    6: "dns_failure", 7: "connect_failed", 28: "timeout", 35: "tls_alert", 51: "certificate",
    52: "empty_reply", 55: "send_failed", 56: "reset", 58: "certificate", 60: "certificate",
    22: "http_error", 47: "too_many_redirects", 18: "partial_file", 92: "http2_error",
    16: "http2_error",
}


@dataclass(frozen=True)
class Failure:
    phase: str                 # dns | tcp | tls | request | server | download
    reason: str                # refused | reset | timeout | dns_failure | tls_alert | ...
    by: str | None             # client | server | network | None (not known)
    frames: tuple[int, ...]
    stream: int | None
    detail: str

    def to_dict(self) -> dict:
        return {"phase": self.phase, "reason": self.reason, "by": self.by,
                "frames": list(self.frames), "detail": self.detail}


def _reached(m, before_ns: int | None) -> str:
    """The phase a connection was in at a time (None: at its end), from its milestones."""
    def seen(ms):
        return ms is not None and (before_ns is None or ms.ts_ns <= before_ns)

    if not seen(m.syn_ack):
        return "tcp"
    if m.client_hello is not None and not seen(m.tls_done):
        return "tls"
    if not seen(m.first_request_byte):
        return "request" if m.client_hello is None else "tls"
    if not seen(m.first_response_byte):
        return "server"
    return "download"


def sample_failure(sample, placement, tcp, wire) -> Failure | None:
    code = sample.response_code or 0
    if sample.ok and code < 400:
        return None
    curl_reason = CURL_REASONS.get(sample.exit_code or 0, "error")
    # a sample cut from the wire has no curl exit code: its own words say what happened
    detail = (f"curl exit {sample.exit_code}" + (f" ({sample.error})" if sample.error else "")
              if sample.exit_code is not None else sample.error or "the exchange did not complete")
    stream = placement.stream if placement is not None else None
    if sample.ok:                              # an HTTP error status: the server answered
        m = wire.milestones.get(stream) if wire is not None and stream is not None else None
        frames = () if m is None or m.first_response_byte is None \
            else (m.first_response_byte.frame,)
        return Failure("server", "http_error", "server", frames, stream, f"HTTP {code}")
    if stream is None or tcp is None:
        phase = "dns" if curl_reason == "dns_failure" else (sample.failed_phase or "tcp")
        return Failure(phase, curl_reason, None, (), None, detail + "; not in the capture")
    rows = tcp.stream_rows(stream)
    flags = tcp.tcp_flags[rows]
    handshake = int(tcp.flows["handshake"][stream])
    rst_rows = rows[(flags & RST) != 0]
    if handshake == 3:
        return Failure("tcp", "refused", "server", _frames(rst_rows), stream,
                       "the server answered the SYN with a RST")
    if handshake == 2:
        syns = rows[(flags & (SYN | ACK)) == SYN]
        return Failure("tcp", "timeout", "network", _frames(syns), stream,
                       f"{syns.shape[0]} SYN(s) never answered")
    m = wire.milestones.get(stream) if wire is not None else None
    if m is None:
        return Failure(sample.failed_phase or "tcp", curl_reason, None, _frames(rows[-1:]),
                       stream, detail)
    alerts = wire.tls_alerts.get(stream, ())
    if m.rst is not None:
        phase = _reached(m, m.rst.ts_ns)
        if m.rst_side == "server":
            return Failure(phase, "reset", "server", (m.rst.frame,), stream,
                           f"the server reset the connection in the {phase} phase")
        reason = curl_reason if curl_reason != "error" else "aborted"
        return Failure(phase, reason, "client", (m.rst.frame,), stream,
                       detail + "; the client reset the connection after giving up")
    if alerts:
        a = alerts[0]
        by = "client" if a.side == "client" else "server"
        reason = "certificate" if curl_reason == "certificate" else "tls_alert"
        return Failure("tls", reason, by, (a.frame,), stream, detail + f"; TLS alert from the {by}")
    phase = _reached(m, None)
    by = "client" if curl_reason in ("certificate", "timeout") else None
    return Failure(phase, curl_reason, by, _frames(rows[-1:]), stream, detail)


def _frames(rows: np.ndarray) -> tuple[int, ...]:
    return tuple(int(r) + 1 for r in rows[:20])
