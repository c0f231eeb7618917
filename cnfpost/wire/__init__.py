"""The wire-level L7 timeline: TLS handshakes, DNS transactions and HTTP/1 lines read from
the kept payload bytes of a PacketTable, and per-connection milestones for the phases.

One job per module: ``conn`` (connections and their client side), ``tls``, ``dns``,
``http``, ``milestones``. Everything is a pure function of the PacketTable; only the rows
with kept payload bytes (few) are visited one by one.
"""
from .conn import Conn, ConnIndex, Milestone, connections
from .tls import TlsEvent, TlsHandshake, tls_handshakes

__all__ = ["Conn", "ConnIndex", "Milestone", "connections", "TlsEvent", "TlsHandshake",
           "tls_handshakes"]
