"""The wire-level L7 timeline: TLS handshakes, DNS transactions and HTTP/1 lines read from
the kept payload bytes of a PacketTable, and per-connection milestones for the phases.

One job per module: ``conn`` (connections and their client side), ``tls``, ``dns``,
``http``, ``milestones``. Everything is a pure function of the PacketTable; only the rows
with kept payload bytes (few) are visited one by one.
"""
from .conn import Conn, ConnIndex, Milestone, connections
from .dns import DnsMessage, DnsTransaction, dns_messages, dns_transactions
from .http import Http2Evidence, HttpLine, http2_evidence, http_lines
from .milestones import MILESTONES, ConnMilestones, MilestoneTable, connection_milestones, milestone_table
from .tls import TlsEvent, TlsHandshake, tls_handshakes

__all__ = ["Conn", "ConnIndex", "Milestone", "connections", "TlsEvent", "TlsHandshake",
           "tls_handshakes", "DnsMessage", "DnsTransaction", "dns_messages",
           "dns_transactions", "HttpLine", "Http2Evidence", "http_lines", "http2_evidence",
           "ConnMilestones", "MilestoneTable", "milestone_table", "connection_milestones",
           "MILESTONES"]
