"""DNS over UDP/53 from the kept payload bytes (up to 512 per datagram, RFC 1035 4.2.1).

``dns_messages(table)`` parses every kept UDP/53 payload: id, QR, rcode, the first
question (qname, qtype) and the A/AAAA addresses of the answer section.
``dns_transactions(table)`` pairs queries with responses by (client address, client port,
id, qname, qtype), with the RTT, every frame that re-sent the query, retries of the same
qname+qtype under another id or port, and the queries nobody answered.

Names may be compressed (RFC 1035 section 4.1.4): a pointer must point strictly backwards
and at most 128 pointers are followed, so a pointer loop ends instead of spinning.
Truncated or garbage messages never raise: the message says ``complete=False`` and keeps
what could be read.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..model import PacketTable
from ._bytes import Short, take, u8, u16

__all__ = ["DnsMessage", "DnsTransaction", "parse_dns", "read_name", "dns_messages",
           "dns_transactions", "DNS_PORT"]

DNS_PORT = 53
IPPROTO_UDP = 17
TYPE_A, TYPE_AAAA, TYPE_CNAME = 1, 28, 5
MAX_NAME = 255          # RFC 1035 section 2.3.4
MAX_POINTERS = 128


@dataclass(frozen=True)
class DnsMessage:
    frame: int
    ts_ns: int
    src: str
    sport: int
    dst: str
    dport: int
    id: int | None
    is_response: bool
    opcode: int | None
    rcode: int | None
    truncated: bool             # the TC bit: the answer did not fit (RFC 1035 4.1.1)
    qname: str | None           # first question, lower case, no trailing dot
    qtype: int | None
    answers: tuple[str, ...]    # A/AAAA addresses of the answer section, in order
    complete: bool              # every section announced in the header was read

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class DnsTransaction:
    """One query (maybe sent several times) and its response, if any."""

    client: str
    client_port: int
    server: str
    id: int
    qname: str
    qtype: int | None
    query_frames: tuple[int, ...]     # every frame that sent it (first = the query)
    query_ts_ns: int
    response_frames: tuple[int, ...]  # first = the answer; more = duplicates
    response_ts_ns: int | None
    rtt_ns: int | None                # response - first query
    rtt_last_ns: int | None           # response - last query sent before it
    rcode: int | None
    answers: tuple[str, ...]
    retry_of: int | None              # index of an earlier unanswered transaction (same
                                      # client address, qname, qtype) this one repeats

    @property
    def answered(self) -> bool:
        return bool(self.response_frames)

    @property
    def resends(self) -> int:
        return len(self.query_frames) - 1

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        d["answered"] = self.answered
        return d


def read_name(buf: bytes, off: int) -> tuple[str, int]:
    """A domain name at off (RFC 1035 3.1, 4.1.4): (name, offset after it in the message).

    Raises Short when the bytes end or the name is malformed (bad label type, a pointer
    that does not point backwards, too many pointers, longer than 255 bytes)."""
    labels: list[str] = []
    end = None
    pos = off
    hops = 0
    total = 0
    while True:
        n = u8(buf, pos)
        if n == 0:
            if end is None:
                end = pos + 1
            break
        kind = n & 0xC0
        if kind == 0xC0:
            target = u16(buf, pos) & 0x3FFF
            if end is None:
                end = pos + 2
            hops += 1
            if target >= pos or hops > MAX_POINTERS:
                raise Short      # forward or self pointer: a loop or garbage
            pos = target
            continue
        if kind != 0:
            raise Short          # 0x40/0x80 label types are obsolete (RFC 6891 5)
        label = take(buf, pos + 1, n)
        total += n + 1
        if total > MAX_NAME:
            raise Short
        labels.append(label.decode("ascii", "backslashreplace"))
        pos += 1 + n
    return ".".join(labels).lower(), end


def parse_dns(buf: bytes) -> dict:
    """The fields of one DNS message, as far as they can be read (RFC 1035 4.1)."""
    out = dict(id=None, is_response=False, opcode=None, rcode=None, truncated=False,
               qname=None, qtype=None, answers=(), complete=False)
    answers: list[str] = []
    try:
        out["id"] = u16(buf, 0)
        flags = u16(buf, 2)
        out["is_response"] = bool(flags & 0x8000)
        out["opcode"] = (flags >> 11) & 0xF
        out["truncated"] = bool(flags & 0x0200)
        out["rcode"] = flags & 0xF
        qdcount, ancount = u16(buf, 4), u16(buf, 6)
        u16(buf, 8), u16(buf, 10)
        off = 12
        for i in range(qdcount):
            name, off = read_name(buf, off)
            qtype = u16(buf, off)
            u16(buf, off + 2)
            off += 4
            if i == 0:
                out["qname"], out["qtype"] = name, qtype
        for _ in range(ancount):
            _name, off = read_name(buf, off)
            rtype, rdlen = u16(buf, off), u16(buf, off + 8)
            rdata = take(buf, off + 10, rdlen)
            off += 10 + rdlen
            if rtype == TYPE_A and rdlen == 4:
                answers.append(str(ipaddress.IPv4Address(rdata)))
            elif rtype == TYPE_AAAA and rdlen == 16:
                answers.append(str(ipaddress.IPv6Address(rdata)))
        out["complete"] = True
    except Short:
        pass
    out["answers"] = tuple(answers)
    return out


def dns_messages(table: PacketTable) -> tuple[DnsMessage, ...]:
    """Every kept UDP/53 payload, parsed, in frame order."""
    return tuple(_each_dns_message(table))


def _each_dns_message(table: PacketTable) -> Iterator[DnsMessage]:
    """dns_messages one at a time: the transactions keep what they need of each, and a
    capture's thousands of messages are never all held at once."""
    c = table.columns
    pi = table.payload_index
    rows = pi["row"].astype(np.int64)
    if rows.shape[0] == 0:
        return
    udp53 = (c["ip_proto"][rows] == IPPROTO_UDP) & (c["ip_version"][rows] != 0) & (
        (c["sport"][rows] == DNS_PORT) | (c["dport"][rows] == DNS_PORT))
    sel = np.flatnonzero(udp53)
    drows = rows[sel]
    # Python ints once per column, not one NumPy scalar per field and message.
    frame = (drows + 1).tolist()
    ts, ver = c["ts_ns"][drows].tolist(), c["ip_version"][drows].tolist()
    src, dst = c["ip_src"][drows].tolist(), c["ip_dst"][drows].tolist()
    sport, dport = c["sport"][drows].tolist(), c["dport"][drows].tolist()
    offs, lens = pi["offset"][sel].tolist(), pi["length"][sel].tolist()
    data = table.payload_bytes
    name = table.format_address
    # A message read past its id does not depend on it: messages that differ only in their
    # id (a resolver asked the same question again, or answered it the same) are parsed once.
    parsed: dict[bytes, dict] = {}
    for k in range(len(frame)):
        buf = data[offs[k]: offs[k] + lens[k]]
        if len(buf) < 2:
            f = parse_dns(buf)
        else:
            rest = buf[2:]
            if rest not in parsed:
                parsed[rest] = parse_dns(buf)
            f = dict(parsed[rest], id=(buf[0] << 8) | buf[1])
        yield DnsMessage(frame[k], ts[k], name(ver[k], src[k]), sport[k],
                         name(ver[k], dst[k]), dport[k], **f)


def dns_transactions(table: PacketTable, messages: Iterable[DnsMessage] | None = None
                     ) -> tuple[DnsTransaction, ...]:
    """Queries paired with responses, in order of the first query.

    A query is a message with QR=0 sent to port 53; a response has QR=1 and comes from
    port 53. A response answers the open transaction with the same (client address,
    client port, id, qname, qtype); the same query sent again before an answer is a
    re-send of that transaction. A new transaction (another id or port) for the same
    client address, qname and qtype while an earlier one is still unanswered is a retry
    of it (``retry_of``). Responses that match nothing are ignored.
    """
    if messages is None:
        messages = _each_dns_message(table)
    txs: list[dict] = []
    open_by_key: dict[tuple, int] = {}
    last_by_name: dict[tuple, int] = {}
    for m in messages:
        if m.id is None or m.qname is None:
            continue
        if not m.is_response and m.dport == DNS_PORT:
            key = (m.src, m.sport, m.id, m.qname, m.qtype)
            i = open_by_key.get(key)
            if i is not None and not txs[i]["response_frames"]:
                txs[i]["query_frames"].append(m.frame)
                txs[i]["last_query_ts"] = m.ts_ns
                continue
            name_key = (m.src, m.qname, m.qtype)
            j = last_by_name.get(name_key)
            retry_of = j if j is not None and not txs[j]["response_frames"] else None
            open_by_key[key] = last_by_name[name_key] = len(txs)
            txs.append(dict(client=m.src, client_port=m.sport, server=m.dst, id=m.id,
                            qname=m.qname, qtype=m.qtype, query_frames=[m.frame],
                            query_ts_ns=m.ts_ns, last_query_ts=m.ts_ns, response_frames=[],
                            response_ts_ns=None, rcode=None, answers=(), retry_of=retry_of))
        elif m.is_response and m.sport == DNS_PORT:
            i = open_by_key.get((m.dst, m.dport, m.id, m.qname, m.qtype))
            if i is None:
                continue
            t = txs[i]
            if not t["response_frames"]:
                t.update(response_ts_ns=m.ts_ns, rcode=m.rcode, answers=m.answers)
            t["response_frames"].append(m.frame)
    out = []
    for t in txs:
        resp = t["response_ts_ns"]
        out.append(DnsTransaction(
            t["client"], t["client_port"], t["server"], t["id"], t["qname"], t["qtype"],
            tuple(t["query_frames"]), t["query_ts_ns"], tuple(t["response_frames"]), resp,
            None if resp is None else resp - t["query_ts_ns"],
            None if resp is None else resp - t["last_query_ts"],
            t["rcode"], t["answers"], t["retry_of"]))
    return tuple(out)
