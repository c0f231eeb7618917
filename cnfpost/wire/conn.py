"""TCP connections as the wire-level L7 stages see them.

A connection is identified by its canonical 4-tuple (the columns ip_version, ip_src,
ip_dst, sport, dport), split where the client opens a new connection on the same
4-tuple (a SYN whose sequence number differs from the previous SYN's, as Wireshark's
port-reuse rule does). A later stage maps a connection to ``tcp.stream`` through its
first frame.

The client is the sender of the SYN; without a captured SYN, the receiver of the
SYN/ACK; without either, the endpoint with the higher port (the ephemeral one), and on a
tie the sender of the first frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import PacketTable, TcpFlag
from ..tcp import flow_order

__all__ = ["Conn", "ConnIndex", "connections", "Milestone", "milestone"]

SYN, ACK = int(TcpFlag.SYN), int(TcpFlag.ACK)


@dataclass(frozen=True)
class Conn:
    """One TCP connection. Addresses follow the PacketTable convention (``client_addr`` is
    an IPv4 integer or an index into ip6_addresses); ``client``/``server`` are printable."""

    index: int            # connections numbered in order of their first frame
    ip_version: int
    client_addr: int
    client_port: int
    server_addr: int
    server_port: int
    first_frame: int
    client: str
    server: str

    def to_dict(self) -> dict:
        return {"index": self.index, "ip_version": self.ip_version, "client": self.client,
                "client_port": self.client_port, "server": self.server,
                "server_port": self.server_port, "first_frame": self.first_frame}


@dataclass(frozen=True)
class Milestone:
    """One moment on the wire: the frame (1-based) that shows it and its capture time."""

    frame: int
    ts_ns: int

    def to_dict(self) -> dict:
        return {"frame": self.frame, "ts_ns": self.ts_ns}


def milestone(table: PacketTable, row: int | None) -> Milestone | None:
    if row is None or row < 0:
        return None
    return Milestone(int(row) + 1, int(table.columns["ts_ns"][row]))


@dataclass(frozen=True, eq=False)
class ConnIndex:
    """The connections of a capture and, per row, which one it belongs to.

    ``conn_of_row``: int64 per row, -1 for rows that are not TCP. ``from_client``: bool
    per row, True where the client sent the row (False for non-TCP rows).
    """

    conns: tuple[Conn, ...]
    conn_of_row: np.ndarray
    from_client: np.ndarray

    def rows(self, conn: int) -> np.ndarray:
        return np.flatnonzero(self.conn_of_row == conn)


def connections(table: PacketTable) -> ConnIndex:
    c = table.columns
    n = len(table)
    conn_of_row = np.full(n, -1, dtype=np.int64)
    from_client = np.zeros(n, dtype=bool)
    order, group_start, direction = flow_order(table)
    if order.shape[0] == 0:
        return ConnIndex((), conn_of_row, from_client)
    group = np.repeat(np.arange(group_start.shape[0] - 1), np.diff(group_start))
    flags = c["tcp_flags"][order].astype(np.int64)
    dirs = direction[order]
    syn = (flags & (SYN | ACK)) == SYN
    # Port reuse: a SYN with a new ISN after an earlier SYN of the same 4-tuple starts a
    # new connection (a retransmitted SYN keeps its ISN and does not).
    syn_pos = np.flatnonzero(syn)
    seq = c["tcp_seq"][order].astype(np.int64)
    reuse = syn_pos[1:][(group[syn_pos[1:]] == group[syn_pos[:-1]])
                        & (seq[syn_pos[1:]] != seq[syn_pos[:-1]])]
    starts = np.zeros(order.shape[0], dtype=bool)
    starts[group_start[:-1]] = True
    starts[reuse] = True
    piece = np.cumsum(starts) - 1                       # connection piece per ordered row
    npiece = int(piece[-1]) + 1
    first_pos = np.flatnonzero(starts)                   # first ordered position per piece

    # Which direction bit is the client's, per piece (see the module docstring).
    client_dir = np.full(npiece, -1, dtype=np.int64)
    synack = (flags & (SYN | ACK)) == (SYN | ACK)
    for mask, flip in ((synack, 1), (syn, 0)):         # the SYN, when seen, decides last
        p = np.flatnonzero(mask)
        pieces, first = np.unique(piece[p], return_index=True)
        client_dir[pieces] = dirs[p[first]].astype(np.int64) ^ flip
    undecided = client_dir < 0
    if undecided.any():
        fp = first_pos[undecided]
        sport = c["sport"][order[fp]].astype(np.int64)
        dport = c["dport"][order[fp]].astype(np.int64)
        src_is_client = np.where(sport == dport, True, sport > dport)
        client_dir[undecided] = np.where(src_is_client, dirs[fp], 1 - dirs[fp])

    # Number connections by their first frame, like tcp.stream.
    first_rows = order[first_pos]
    rank = np.empty(npiece, dtype=np.int64)
    rank[np.argsort(first_rows, kind="stable")] = np.arange(npiece)
    conn_of_row[order] = rank[piece]
    from_client[order] = dirs.astype(np.int64) == client_dir[piece]

    conns = []
    for p in np.argsort(first_rows, kind="stable"):
        row = int(first_rows[p])
        src_client = bool(from_client[row])
        ver = int(c["ip_version"][row])
        a_src, a_dst = int(c["ip_src"][row]), int(c["ip_dst"][row])
        p_src, p_dst = int(c["sport"][row]), int(c["dport"][row])
        if src_client:
            ca, cp, sa, sp = a_src, p_src, a_dst, p_dst
        else:
            ca, cp, sa, sp = a_dst, p_dst, a_src, p_src
        conns.append(Conn(int(rank[p]), ver, ca, cp, sa, sp, row + 1,
                          table.format_address(ver, ca), table.format_address(ver, sa)))
    return ConnIndex(tuple(conns), conn_of_row, from_client)
