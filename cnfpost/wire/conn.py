"""TCP connections as the wire-level L7 stages see them.

A connection is a ``tcp.stream`` of the TCP analysis (cnfpost/tcp.py): the same split on
port reuse as Wireshark, and the same client (the SYN sender; else the SYN/ACK receiver;
else the higher port; else the first sender). There is no second identity to map back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..model import NO_STREAM, PacketTable

__all__ = ["Conn", "Conns", "ConnIndex", "connections", "Milestone"]



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


@dataclass(frozen=True, eq=False)
class ConnIndex:
    """The connections of a capture and which one each row belongs to.

    The per-row arrays are the TCP analysis's own, not copies (a big capture's memory):
    ``stream``, tcp.stream per row (NO_STREAM where not TCP); ``client_dir``, 1 where the
    stream's client sent the row; ``quoted_rows``, the ICMP errors quoting a segment, in
    the segment's stream for Wireshark but not rows of the connection.
    """

    conns: Sequence[Conn]
    stream: np.ndarray
    client_dir: np.ndarray
    quoted_rows: np.ndarray

    def conn_at(self, rows: np.ndarray) -> np.ndarray:
        """The connection (int64) of each of the rows, -1 for rows of none."""
        conn = self.stream[rows].astype(np.int64)
        conn[conn == NO_STREAM] = -1
        if self.quoted_rows.shape[0]:
            conn[np.isin(rows, self.quoted_rows)] = -1
        return conn

    def from_client_at(self, rows: np.ndarray) -> np.ndarray:
        """Whether the client of its connection sent each of the rows (False for rows of
        no connection)."""
        return (self.client_dir[rows] == 1) & (self.conn_at(rows) >= 0)

    def rows(self, conn: int) -> np.ndarray:
        rows = np.flatnonzero(self.stream == conn)
        return rows[self.conn_at(rows) >= 0]


def connections(table: PacketTable, tcp=None) -> ConnIndex:
    """The capture's connections: the TCP analysis's streams (one identity for every
    stage), connection i being ``tcp.stream == i``, its client chosen by the one rule of
    cnfpost/tcp.py. ``tcp``: the capture's TcpAnalysis when the caller has it."""
    if tcp is None:
        from ..tcp import analyze_tcp

        tcp = analyze_tcp(table)
    return ConnIndex(Conns(table, tcp), tcp.columns["tcp_stream"], tcp.client_dir,
                     np.sort(tcp.quoted_rows))


class Conns(Sequence):
    """The connections, Conn i for tcp.stream i, each built from the flow table when it is
    asked for: a capture of many connections makes objects for those a report names."""

    def __init__(self, table: PacketTable, tcp) -> None:
        self._table, self._flows, self._n = table, tcp.flows, tcp.n_streams
        self._built: dict[int, Conn] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Conn:
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i = int(i) % self._n
        if i not in self._built:
            f, name = self._flows, self._table.format_address
            version = int(f["ip_version"][i])
            client, server = int(f["client_addr"][i]), int(f["server_addr"][i])
            self._built[i] = Conn(i, version, client, int(f["client_port"][i]), server,
                                  int(f["server_port"][i]), int(f["first_frame"][i]),
                                  name(version, client), name(version, server))
        return self._built[i]
