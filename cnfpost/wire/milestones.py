"""Per-connection wire milestones: the moments the phases are cut at.

``connection_milestones(table)`` gives, per TCP connection, each milestone as a
:class:`~cnfpost.wire.conn.Milestone` (frame, ts_ns) or None:

- ``syn``: the client's first SYN; ``syn_ack``: the server's first SYN/ACK;
  ``handshake_ack``: the client's first ACK without SYN after the SYN/ACK (RFC 9293
  section 3.5, the third segment of the three-way handshake; it may carry data).
- ``client_hello``, ``server_hello``, ``tls_done``: from :mod:`cnfpost.wire.tls`
  (``tls_done`` as defined there: the last Finished of the handshake).
- ``first_request_byte``: the client's first payload segment after ``tls_done`` (the
  ``tls_done`` segment itself when it carries more records after the Finished); on a
  connection without TLS, the client's first payload segment. None when the connection
  shows a ClientHello but no ``tls_done``: the request is then not told from the
  handshake.
- ``first_response_byte``: the server's first payload segment after
  ``first_request_byte``. Under TLS 1.3 that may be a NewSessionTicket the server sends
  after the client's Finished, and under HTTP/2 the server's SETTINGS: both are encrypted
  and not told from the response, so on such connections it is an early bound of the
  response (curl's ``time_starttransfer`` is at or after it).
- ``last_response_byte``: the server's last payload segment.
- ``fin``: the first FIN (either side), ``fin_side`` who sent it; ``rst``: the first RST,
  ``rst_side``.

All of it is vectorised over the TCP rows, a block at a time (first occurrence per
connection through ``np.minimum.at``/``np.maximum.at``); only the TLS step visits the
kept payloads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np

from ..model import BLOCK_ROWS, PacketTable, TcpFlag
from .conn import Conn, ConnIndex, Milestone, connections
from .tls import TlsHandshake, tls_handshakes

__all__ = ["ConnMilestones", "MilestoneTable", "milestone_table", "connection_milestones",
           "MILESTONES"]

SYN, ACK, FIN, RST = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.FIN), int(TcpFlag.RST)
NONE = np.iinfo(np.int64).max

MILESTONES = ("syn", "syn_ack", "handshake_ack", "client_hello", "server_hello", "tls_done",
              "first_request_byte", "first_response_byte", "last_response_byte", "fin", "rst")


@dataclass(frozen=True)
class ConnMilestones:
    conn: Conn
    syn: Milestone | None
    syn_ack: Milestone | None
    handshake_ack: Milestone | None
    client_hello: Milestone | None
    server_hello: Milestone | None
    tls_done: Milestone | None
    first_request_byte: Milestone | None
    first_response_byte: Milestone | None
    last_response_byte: Milestone | None
    fin: Milestone | None
    fin_side: str | None
    rst: Milestone | None
    rst_side: str | None

    def to_dict(self) -> dict:
        d = {"conn": self.conn.to_dict()}
        for name in MILESTONES:
            m = getattr(self, name)
            d[name] = None if m is None else m.to_dict()
        d["fin_side"], d["rst_side"] = self.fin_side, self.rst_side
        return d


def _found(conns: ConnIndex, n: int, where) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A block of rows at a time (model.BLOCK_ROWS), the rows of a connection where
    `where(block)` holds, and their connections: the candidates of a bulk transfer are half
    the capture, so they are never gathered whole (the memory budget of a big capture)."""
    for lo in range(0, n, BLOCK_ROWS):
        rows = lo + np.flatnonzero(where(slice(lo, min(lo + BLOCK_ROWS, n))))
        conn = conns.conn_at(rows)
        keep = conn >= 0
        yield rows[keep], conn[keep]


def _first(found: Iterator[tuple[np.ndarray, np.ndarray]], nconn: int,
           after: np.ndarray | None = None) -> np.ndarray:
    """Per connection, the first of the rows found (after `after`, per connection, when
    given); NONE when none."""
    out = np.full(nconn, NONE, dtype=np.int64)
    for rows, conn in found:
        if after is not None:
            keep = rows > after[conn]
            rows, conn = rows[keep], conn[keep]
        np.minimum.at(out, conn, rows)
    return out


def _last(found: Iterator[tuple[np.ndarray, np.ndarray]], nconn: int) -> np.ndarray:
    out = np.full(nconn, -1, dtype=np.int64)
    for rows, conn in found:
        np.maximum.at(out, conn, rows)
    return out


def milestone_table(table: PacketTable, conns: ConnIndex | None = None,
                    handshakes: tuple[TlsHandshake, ...] | None = None) -> "MilestoneTable":
    """Every connection's milestones (see the module docstring), as arrays."""
    if conns is None:
        conns = connections(table)
    if handshakes is None:
        handshakes = tls_handshakes(table, conns)
    nconn = len(conns.conns)
    c = table.columns
    if nconn == 0:
        return MilestoneTable(conns, c["ts_ns"], {name: np.zeros(0, dtype=np.int64)
                                                  for name in MILESTONES})
    n = len(table)
    flags, payload, side = c["tcp_flags"], c["payload_len"], conns.client_dir

    def found(bits: int, value: int, client: bool | None = None, data: bool = False):
        """Rows whose flags masked by `bits` equal `value`, from the client (True), the
        server (False) or either side (None), with payload when `data`."""
        def where(b: slice) -> np.ndarray:
            hit = (flags[b] & bits) == value
            if client is not None:
                hit &= (side[b] == 1) == client
            if data:
                hit &= payload[b] > 0
            return hit
        return _found(conns, n, where)

    syn = _first(found(SYN | ACK, SYN, client=True), nconn)
    syn_ack = _first(found(SYN | ACK, SYN | ACK, client=False), nconn)
    hs_ack = _first(found(SYN | ACK | RST, ACK, client=True), nconn,
                    after=np.where(syn_ack == NONE, NONE - 1, syn_ack))

    ch = np.full(nconn, NONE, dtype=np.int64)
    sh = ch.copy()
    done = ch.copy()
    done_more = np.zeros(nconn, dtype=bool)
    for h in handshakes:
        k = h.conn.index
        if h.client_hello:
            ch[k] = h.client_hello.frame - 1
        if h.server_hello:
            sh[k] = h.server_hello.frame - 1
        if h.done:
            done[k] = h.done.frame - 1
            done_more[k] = h.done_carries_data

    # The request starts after tls_done (or in its segment); without TLS, at the client's
    # first payload; with a ClientHello but no tls_done it cannot be placed.
    after = np.where(done != NONE, done, -1)
    after = np.where(done_more, after - 1, after)
    after = np.where((ch != NONE) & (done == NONE), NONE, after)
    req = _first(found(0, 0, client=True, data=True), nconn, after=after)
    resp = _first(found(0, 0, client=False, data=True), nconn, after=req)
    last = _last(found(0, 0, client=False, data=True), nconn)
    fin = _first(found(FIN, FIN), nconn)
    rst = _first(found(RST, RST), nconn)

    rows = dict(zip(MILESTONES, (syn, syn_ack, hs_ack, ch, sh, done, req, resp, last, fin,
                                 rst)))
    return MilestoneTable(conns, c["ts_ns"], {k: np.where(v == NONE, -1, v)
                                              for k, v in rows.items()})


def connection_milestones(table: PacketTable, conns: ConnIndex | None = None,
                          handshakes: tuple[TlsHandshake, ...] | None = None
                          ) -> tuple[ConnMilestones, ...]:
    """The milestones of every connection, in connection order."""
    found = milestone_table(table, conns, handshakes)
    return tuple(found[k] for k in found)


class MilestoneTable(Mapping):
    """Connection index (= tcp.stream) -> its ConnMilestones, kept as one array per
    milestone (the frame's row, -1 where none); a connection's record is built when it is
    asked for, so a capture of many connections makes objects for those a report names."""

    def __init__(self, conns: ConnIndex, ts_ns: np.ndarray, rows: dict[str, np.ndarray]):
        self._conns, self._ts, self.rows = conns, ts_ns, rows
        self._built: dict[int, ConnMilestones] = {}

    def __len__(self) -> int:
        return len(self._conns.conns)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self)))

    def has(self, name: str) -> np.ndarray:
        """Per connection: was this milestone seen?"""
        return self.rows[name] >= 0

    def __getitem__(self, k: int) -> ConnMilestones:
        if not (isinstance(k, (int, np.integer)) and 0 <= k < len(self)):
            raise KeyError(k)
        k = int(k)
        if k not in self._built:
            marks = {}
            for name in MILESTONES:
                row = int(self.rows[name][k])
                marks[name] = None if row < 0 else Milestone(row + 1, int(self._ts[row]))

            def side(mark: Milestone | None) -> str | None:
                if mark is None:
                    return None
                return "client" if self._conns.client_dir[mark.frame - 1] == 1 else "server"

            self._built[k] = ConnMilestones(self._conns.conns[k], **marks,
                                            fin_side=side(marks["fin"]),
                                            rst_side=side(marks["rst"]))
        return self._built[k]
