"""HTTP/1 request and status lines, and HTTP/2 detection, from the kept payload bytes.

The decoder keeps 256 bytes of TCP payloads that start with a request method, ``HTTP/1.``
or the HTTP/2 connection preface (docs/decoding.md). A request line is
``method SP request-target SP HTTP-version CRLF`` and a status line
``HTTP-version SP status-code SP [reason-phrase] CRLF`` (RFC 9112 sections 3 and 4). The
request target is redacted as curl URLs are (``cnfpost.inputs.curl.redact_url``: query
values, path parameters and fragments never reach a report).

HTTP/2 travels encrypted under TLS, so only its choice is visible: the plaintext
connection preface ``PRI * HTTP/2.0`` (RFC 9113 section 3.4, prior knowledge), ``h2``
chosen by ALPN in a TLS <= 1.2 ServerHello, or ``h2`` offered in the ClientHello (TLS 1.3
sends the server's choice encrypted, RFC 8446 section 4.3.1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import PacketTable
from ..urls import redact_url
from .conn import ConnIndex, connections
from .tls import TlsHandshake

__all__ = ["HttpLine", "Http2Evidence", "parse_http_line", "http_lines", "http2_evidence",
           "H2_PREFACE"]

METHODS = (b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT",
           b"TRACE")
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass(frozen=True)
class HttpLine:
    """One request line, status line or HTTP/2 preface at the start of a TCP segment."""

    conn: int                 # index into ConnIndex.conns
    side: str                 # "client" or "server"
    kind: str                 # "request", "response" or "h2_preface"
    frame: int
    ts_ns: int
    frames: tuple[int, ...]   # every frame that carried it (retransmissions)
    seq: int                  # raw TCP sequence number of its first byte
    method: str | None = None
    target: str | None = None     # redacted
    version: str | None = None
    status: int | None = None
    reason: str | None = None
    complete: bool = True         # the whole line (to CRLF) was kept

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["frames"] = list(self.frames)
        return d


@dataclass(frozen=True)
class Http2Evidence:
    conn: int
    how: str          # "preface", "alpn_chosen" or "alpn_offered"
    frame: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def parse_http_line(buf: bytes) -> dict | None:
    """The first line of a kept HTTP payload, or None when it is not one."""
    if buf[:3] == b"PRI":
        head = bytes(buf[:len(H2_PREFACE)])
        if not H2_PREFACE.startswith(head):
            return None
        return {"kind": "h2_preface", "complete": head == H2_PREFACE}
    eol = buf.find(b"\r\n")
    complete = eol >= 0
    line = bytes(buf[:eol] if complete else buf).decode("latin-1")
    parts = line.split(" ", 2)
    if line.startswith("HTTP/1."):
        code = parts[1] if len(parts) > 1 else ""
        if len(code) != 3 or not code.isdigit():
            return None if complete else {"kind": "response", "version": parts[0],
                                           "complete": False}
        return {"kind": "response", "version": parts[0], "status": int(code),
                "reason": parts[2] if len(parts) > 2 else "", "complete": complete}
    method = parts[0].encode("latin-1")
    if method not in METHODS or len(parts) < 2:
        return None
    version = parts[2] if len(parts) > 2 else None
    # A cut line may end inside the target; what was read is still redacted whole.
    return {"kind": "request", "method": parts[0], "target": redact_url(parts[1]),
            "version": version if complete else None, "complete": complete}


def http_lines(table: PacketTable, conns: ConnIndex | None = None) -> tuple[HttpLine, ...]:
    """Every request line, status line and h2 preface that starts a kept TCP payload, in
    frame order; a retransmitted one is reported once with all its frames."""
    if conns is None:
        conns = connections(table)
    c = table.columns
    pi = table.payload_index
    rows = pi["row"].astype(np.int64)
    out: list[dict] = []
    seen: dict[tuple, int] = {}
    data = table.payload_bytes
    conn_of = conns.conn_at(rows)
    for i in np.flatnonzero(conn_of >= 0):
        row = int(rows[i])
        off, length = int(pi["offset"][i]), int(pi["length"][i])
        buf = data[off: off + length]
        if not buf or buf[0] < 0x41 or buf[0] > 0x5A:   # TLS starts with 20..24, HTTP with A-Z
            continue
        f = parse_http_line(buf)
        if f is None:
            continue
        conn = int(conn_of[i])
        side = "client" if conns.client_dir[row] == 1 else "server"
        seq = int(c["tcp_seq"][row])
        key = (conn, side, seq)
        if key in seen:
            out[seen[key]]["frames"].append(row + 1)
            continue
        seen[key] = len(out)
        out.append(dict(f, conn=conn, side=side, frame=row + 1, ts_ns=int(c["ts_ns"][row]),
                        frames=[row + 1], seq=seq))
    return tuple(HttpLine(**dict(d, frames=tuple(d["frames"]))) for d in out)


def http2_evidence(lines: tuple[HttpLine, ...], handshakes: tuple[TlsHandshake, ...]
                   ) -> tuple[Http2Evidence, ...]:
    """Per connection, the strongest sign that it speaks HTTP/2, in connection order."""
    best: dict[int, Http2Evidence] = {}
    for line in lines:
        if line.kind == "h2_preface" and line.conn not in best:
            best[line.conn] = Http2Evidence(line.conn, "preface", line.frame)
    for h in handshakes:
        if h.conn.index in best:
            continue
        if h.alpn == "h2":
            best[h.conn.index] = Http2Evidence(h.conn.index, "alpn_chosen", h.server_hello.frame)
        elif "h2" in h.alpn_offered:
            best[h.conn.index] = Http2Evidence(h.conn.index, "alpn_offered", h.client_hello.frame)
    return tuple(best[k] for k in sorted(best))
