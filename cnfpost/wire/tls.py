"""TLS handshakes on the wire, per TCP connection, from the kept payload bytes.

The decoder keeps the first bytes of every TCP payload that starts like a TLS record
(512 bytes for handshake records, 16 for the others; docs/decoding.md). From those,
``tls_handshakes(table)`` rebuilds each connection's handshake as a list of events with
their frames and times: ClientHello (SNI, offered versions, ALPN), ServerHello (chosen
version, cipher, ALPN when visible), the TLS <= 1.2 messages that travel in clear
(Certificate, ServerKeyExchange, ServerHelloDone, ClientKeyExchange, ...),
ChangeCipherSpec, Finished, the first application data each way, and alerts.

What the bytes allow, and what they do not:

- A record is read where a kept payload starts; several records in one segment are read
  as far as the kept bytes go. A record that starts mid-segment past the kept bytes, or in
  a segment that starts mid-record, is not seen.
- Per direction the stream positions of the records read are kept (raw TCP sequence
  numbers), so a segment that starts inside a record already seen is never taken for a
  record header, even if its ciphertext looks like one, in whatever order segments come.
- A retransmitted segment re-carries records already seen (same sequence number): the
  event is reported once, at its first frame, and ``frames`` lists every frame that
  carried it.
- Cut records (snaplen, or the kept prefix) never raise: the event says ``complete=False``
  and holds the fields that could be read.

"Handshake done" (``TlsHandshake.done``), and how it maps to curl's ``time_appconnect``:

- TLS 1.3 (RFC 8446 section 2): after the ServerHello everything is encrypted, and all
  records carry the outer type application_data (section 5.2). The client's last
  handshake message is its Finished, the client's first application_data record after
  the ServerHello (after its middlebox-compatibility ChangeCipherSpec, when sent,
  appendix D.4). OpenSSL's ``SSL_connect`` returns after writing it and curl takes
  ``time_appconnect`` then, so on a capture taken at the client ``done`` comes before
  ``time_appconnect`` by the client's own processing time (0.3 to 0.8 ms in the lab
  bundles, with both clocks aligned on the SYN).
- TLS <= 1.2 (RFC 5246 section 7.3): each side sends ChangeCipherSpec then its encrypted
  Finished (a handshake record after the CCS). The handshake is done at the later of the
  two Finished: the server's in a full handshake, which curl's ``time_appconnect`` follows
  as it arrives; the client's in a resumed one, which curl writes just before.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

import numpy as np

from ..model import PacketTable
from ._bytes import Short, take, u8, u16
from .conn import Conn, ConnIndex, connections

__all__ = [
    "ClientHelloInfo",
    "ServerHelloInfo",
    "AlertInfo",
    "TlsEvent",
    "TlsHandshake",
    "TlsRecord",
    "parse_records",
    "parse_client_hello",
    "parse_server_hello",
    "tls_handshakes",
    "version_name",
]

# RFC 8446 section 5.1 / RFC 5246 section 6.2.1: ContentType.
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
# RFC 8446 section 5.2 / RFC 5246 section 6.2.3: a record is at most 2^14 + 2048 bytes
# (TLS 1.2 ciphertext; TLS 1.3 allows only 2^14 + 256).
MAX_RECORD = 2 ** 14 + 2048

# RFC 8446 section 4 / RFC 5246 section 7.4: HandshakeType.
HANDSHAKE_NAMES = {
    0: "hello_request",
    1: "client_hello",
    2: "server_hello",
    4: "new_session_ticket",
    5: "end_of_early_data",
    8: "encrypted_extensions",
    11: "certificate",
    12: "server_key_exchange",
    13: "certificate_request",
    14: "server_hello_done",
    15: "certificate_verify",
    16: "client_key_exchange",
    20: "finished",
    24: "key_update",
}
CLIENT_HELLO, SERVER_HELLO = 1, 2

# Extensions: RFC 6066 section 3 (server_name), RFC 7301 section 3.1 (ALPN),
# RFC 8446 section 4.2.1 (supported_versions).
EXT_SERVER_NAME, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0, 16, 43

# RFC 8446 section 4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

TLS1_3 = 0x0304

# RFC 8446 section 6 / RFC 5246 section 7.2: AlertLevel.
ALERT_LEVELS = {1: "warning", 2: "fatal"}


def version_name(version: int | None) -> str | None:
    if version is None:
        return None
    names = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
             0x0304: "TLS 1.3"}
    return names.get(version, f"0x{version:04x}")


# ----------------------------------------------------------------------------------------
# Plain data
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClientHelloInfo:
    """What a ClientHello offered (RFC 8446 section 4.1.2), as far as it could be read."""

    legacy_version: int | None = None
    cipher_suites: tuple[int, ...] = ()
    sni: str | None = None
    supported_versions: tuple[int, ...] = ()   # the extension's list, GREASE included
    alpn: tuple[str, ...] = ()
    complete: bool = False                     # every byte of the message was read

    @property
    def offered_versions(self) -> tuple[int, ...]:
        """supported_versions when present (it overrides legacy_version, RFC 8446 4.2.1)."""
        if self.supported_versions:
            return self.supported_versions
        return () if self.legacy_version is None else (self.legacy_version,)

    def to_dict(self) -> dict:
        return {"legacy_version": self.legacy_version, "sni": self.sni,
                "offered_versions": [version_name(v) for v in self.offered_versions],
                "cipher_suites": list(self.cipher_suites), "alpn": list(self.alpn),
                "complete": self.complete}


@dataclass(frozen=True)
class ServerHelloInfo:
    """What a ServerHello chose (RFC 8446 section 4.1.3)."""

    legacy_version: int | None = None
    version: int | None = None      # supported_versions when present, else legacy_version
    cipher_suite: int | None = None
    alpn: str | None = None         # TLS <= 1.2 only: TLS 1.3 sends it encrypted
    hello_retry_request: bool = False
    complete: bool = False

    def to_dict(self) -> dict:
        return {"legacy_version": self.legacy_version, "version": version_name(self.version),
                "cipher_suite": self.cipher_suite, "alpn": self.alpn,
                "hello_retry_request": self.hello_retry_request, "complete": self.complete}


@dataclass(frozen=True)
class AlertInfo:
    level: int
    description: int

    def to_dict(self) -> dict:
        return {"level": ALERT_LEVELS.get(self.level, self.level), "description": self.description}


@dataclass(frozen=True)
class TlsEvent:
    """One handshake event of one connection.

    ``kind``: a handshake message name (``client_hello``, ``server_hello``,
    ``hello_retry_request``, ``certificate``, ``server_hello_done``, ``client_key_exchange``,
    ``finished``, ...), or ``change_cipher_spec``, ``alert``, ``early_data``,
    ``encrypted_handshake`` (the server's first encrypted TLS 1.3 record),
    ``application_data`` (the first after the handshake, per side), ``heartbeat``.
    ``frames``: every frame that carried it (more than one when retransmitted).
    """

    kind: str
    side: str                  # "client" or "server": who sent it
    frame: int                 # first frame that carried it
    ts_ns: int
    frames: tuple[int, ...]
    record_type: int
    seq: int                   # raw TCP sequence number of the record's first byte
    length: int                # handshake message length, or record length
    encrypted: bool = False
    complete: bool = True      # all its bytes were kept
    detail: ClientHelloInfo | ServerHelloInfo | AlertInfo | None = None

    @property
    def retransmitted(self) -> bool:
        return len(self.frames) > 1

    def to_dict(self) -> dict:
        return {"kind": self.kind, "side": self.side, "frame": self.frame, "ts_ns": self.ts_ns,
                "frames": list(self.frames), "record_type": self.record_type, "seq": self.seq,
                "length": self.length, "encrypted": self.encrypted, "complete": self.complete,
                "detail": None if self.detail is None else self.detail.to_dict()}


@dataclass(frozen=True)
class TlsHandshake:
    """The TLS handshake seen on one connection (see the module docstring for ``done``)."""

    conn: Conn
    events: tuple[TlsEvent, ...]
    client_hello: TlsEvent | None
    server_hello: TlsEvent | None          # the real ServerHello, not a HelloRetryRequest
    hello_retry_request: TlsEvent | None
    done: TlsEvent | None
    done_carries_data: bool                # the segment of ``done`` has bytes after it
    version: int | None                    # negotiated (ServerHello, or HRR)
    problems: tuple[str, ...] = ()

    @property
    def sni(self) -> str | None:
        return self.client_hello.detail.sni if self.client_hello else None

    @property
    def alpn_offered(self) -> tuple[str, ...]:
        return self.client_hello.detail.alpn if self.client_hello else ()

    @property
    def alpn(self) -> str | None:
        return self.server_hello.detail.alpn if self.server_hello else None

    @property
    def cipher_suite(self) -> int | None:
        return self.server_hello.detail.cipher_suite if self.server_hello else None

    def first(self, kind: str, side: str | None = None) -> TlsEvent | None:
        for e in self.events:
            if e.kind == kind and (side is None or e.side == side):
                return e
        return None

    def to_dict(self) -> dict:
        ref = (lambda e: None if e is None else e.frame)
        return {"conn": self.conn.to_dict(), "version": version_name(self.version),
                "sni": self.sni, "alpn_offered": list(self.alpn_offered), "alpn": self.alpn,
                "cipher_suite": self.cipher_suite, "client_hello": ref(self.client_hello),
                "server_hello": ref(self.server_hello),
                "hello_retry_request": ref(self.hello_retry_request), "done": ref(self.done),
                "events": [e.to_dict() for e in self.events], "problems": list(self.problems)}


# ----------------------------------------------------------------------------------------
# Records and hellos: pure functions over bytes
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TlsRecord:
    offset: int         # where the header starts in the segment's payload
    type: int
    version: int
    length: int         # the record's length field
    body: bytes         # the kept bytes of its fragment (may be fewer than length)


def _plausible_header(ctype: int, major: int, minor: int, length: int) -> bool:
    return CHANGE_CIPHER_SPEC <= ctype <= HEARTBEAT and major == 3 and minor <= 4 \
        and 0 < length <= MAX_RECORD


def parse_records(buf: bytes, payload_len: int) -> tuple[list[TlsRecord], int, str | None]:
    """The records that start in one segment, read from its kept bytes.

    ``payload_len`` is the segment's true payload length (the kept bytes are a prefix).
    Returns (records, end, problem): ``end`` is the payload offset where the next unread
    record starts (past ``payload_len`` when the last record runs on into later
    segments); ``problem`` says why reading stopped early, or None.
    """
    records: list[TlsRecord] = []
    off = 0
    limit = max(payload_len, 0)
    while off < limit:
        if off + 5 > len(buf):
            # The next header lies past the kept (or captured) bytes: normal.
            return records, off, None if off >= len(buf) else "record header cut"
        ctype, major, minor = buf[off], buf[off + 1], buf[off + 2]
        length = (buf[off + 3] << 8) | buf[off + 4]
        if not _plausible_header(ctype, major, minor, length):
            return records, off, f"not a TLS record header at payload byte {off}"
        body = bytes(buf[off + 5: min(off + 5 + length, len(buf))])
        records.append(TlsRecord(off, ctype, (major << 8) | minor, length, body))
        off += 5 + length
    return records, off, None


def _vector(buf: bytes, off: int, len_size: int) -> tuple[bytes, int]:
    """A TLS vector <..2^(8*len_size)-1> at off: (its bytes, offset after it)."""
    n = u8(buf, off) if len_size == 1 else u16(buf, off)
    return take(buf, off + len_size, n), off + len_size + n


def _u16_list(data: bytes) -> tuple[int, ...]:
    return tuple((data[i] << 8) | data[i + 1] for i in range(0, len(data) - 1, 2))


def _alpn_list(data: bytes) -> tuple[str, ...]:
    # RFC 7301 section 3.1: ProtocolName protocol_name_list<2..2^16-1>, each <1..2^8-1>.
    out, off = [], 0
    try:
        lst, _ = _vector(data, 0, 2)
        while off < len(lst):
            name, off = _vector(lst, off, 1)
            out.append(name.decode("ascii", "replace"))
    except Short:
        pass
    return tuple(out)


def _server_name(data: bytes) -> str | None:
    # RFC 6066 section 3: ServerNameList<1..2^16-1> of (NameType, HostName<1..2^16-1>).
    try:
        lst, _ = _vector(data, 0, 2)
        off = 0
        while off < len(lst):
            name_type = u8(lst, off)
            name, off = _vector(lst, off + 1, 2)
            if name_type == 0:  # host_name
                return name.decode("ascii", "replace")
    except Short:
        pass
    return None


def _extensions(buf: bytes, off: int):
    """Yield (type, data) of each whole extension; stops quietly at the first cut one.
    The last value yielded is (None, complete) to say whether the block was whole."""
    try:
        total = u16(buf, off)
    except Short:
        yield None, False
        return
    end = off + 2 + total
    pos = off + 2
    while pos < end:
        try:
            etype = u16(buf, pos)
            data, pos = _vector(buf, pos + 2, 2)
        except Short:
            yield None, False
            return
        yield etype, data
    yield None, end <= len(buf)


def parse_client_hello(body: bytes, declared: int | None = None) -> ClientHelloInfo:
    """A ClientHello body (after the 4-byte handshake header), RFC 8446 section 4.1.2 /
    RFC 5246 section 7.4.1.2. Reads as far as the bytes go; ``declared`` is the length
    the handshake header announced (a body cut right after its compression methods would
    otherwise look whole)."""
    info = _parse_client_hello(body)
    if info.complete and declared is not None and len(body) < declared:
        info = replace(info, complete=False)
    return info


def _parse_client_hello(body: bytes) -> ClientHelloInfo:
    legacy = None
    suites: tuple[int, ...] = ()
    sni, versions, alpn = None, (), ()
    try:
        legacy = u16(body, 0)
        _sid, off = _vector(body, 2 + 32, 1)            # legacy_session_id<0..32>
        raw_suites, off = _vector(body, off, 2)          # cipher_suites<2..2^16-2>
        suites = _u16_list(raw_suites)
        _comp, off = _vector(body, off, 1)               # legacy_compression_methods
        if off == len(body):                             # TLS <= 1.2 may omit extensions
            return ClientHelloInfo(legacy, suites, complete=True)
        complete = False
        for etype, data in _extensions(body, off):
            if etype is None:
                complete = data
            elif etype == EXT_SERVER_NAME:
                sni = _server_name(data)
            elif etype == EXT_SUPPORTED_VERSIONS:
                # ProtocolVersion versions<2..254> (section 4.2.1)
                lst = data[1: 1 + data[0]] if data else b""
                versions = _u16_list(lst)
            elif etype == EXT_ALPN:
                alpn = _alpn_list(data)
        return ClientHelloInfo(legacy, suites, sni, versions, alpn, complete)
    except Short:
        return ClientHelloInfo(legacy, suites, sni, versions, alpn, False)


def parse_server_hello(body: bytes, declared: int | None = None) -> ServerHelloInfo:
    """A ServerHello body, RFC 8446 section 4.1.3 / RFC 5246 section 7.4.1.3."""
    info = _parse_server_hello(body)
    if info.complete and declared is not None and len(body) < declared:
        info = replace(info, complete=False)
    return info


def _parse_server_hello(body: bytes) -> ServerHelloInfo:
    legacy = cipher = alpn = None
    version = None
    hrr = False
    try:
        legacy = u16(body, 0)
        version = legacy
        hrr = take(body, 2, 32) == HRR_RANDOM
        _sid, off = _vector(body, 2 + 32, 1)
        cipher = u16(body, off)
        u8(body, off + 2)                                # legacy_compression_method
        off += 3
        if off == len(body):
            return ServerHelloInfo(legacy, version, cipher, None, hrr, True)
        complete = False
        for etype, data in _extensions(body, off):
            if etype is None:
                complete = data
            elif etype == EXT_SUPPORTED_VERSIONS and len(data) >= 2:
                version = (data[0] << 8) | data[1]       # selected_version
            elif etype == EXT_ALPN:
                names = _alpn_list(data)
                alpn = names[0] if names else None
        return ServerHelloInfo(legacy, version, cipher, alpn, hrr, complete)
    except Short:
        return ServerHelloInfo(legacy, version, cipher, alpn, hrr, False)


# ----------------------------------------------------------------------------------------
# Per-connection assembly
# ----------------------------------------------------------------------------------------

_U32 = 1 << 32


@dataclass
class _Side:
    """Parse state of one direction (mutable, one per direction of a TLS connection).

    The records read are kept as spans of stream positions, so that a segment starting
    strictly inside one is recognised as ciphertext whatever order segments arrive in.
    Positions are raw sequence numbers made relative to the first one seen plus 2^31, so
    they sort (a connection moves far less than 2^31 bytes around its first record)."""

    origin: int | None = None
    starts: list = field(default_factory=list)   # sorted relative record starts
    ends: dict = field(default_factory=dict)     # relative start -> relative end
    ccs: bool = False
    finished: bool = False
    first_encrypted: bool = False
    app_data: bool = False

    def rel(self, seq: int) -> int:
        if self.origin is None:
            self.origin = seq
        return (seq - self.origin + (_U32 >> 1)) % _U32

    def inside_known_record(self, seq: int) -> bool:
        r = self.rel(seq)
        i = bisect.bisect_right(self.starts, r) - 1
        return i >= 0 and self.starts[i] < r < self.ends[self.starts[i]]

    def add(self, seq: int, length: int) -> None:
        r = self.rel(seq)
        if r not in self.ends:
            bisect.insort(self.starts, r)
        self.ends[r] = r + 5 + length


@dataclass
class _Build:
    """Mutable collector of one connection's events; frozen into a TlsHandshake."""

    conn: Conn
    events: list = field(default_factory=list)      # one dict per event, see _add
    by_key: dict = field(default_factory=dict)
    sides: dict = field(default_factory=lambda: {"client": _Side(), "server": _Side()})
    version: int | None = None
    server_hello: bool = False
    offered_tls13: bool = False
    done_key: tuple | None = None
    done_more: bool = False
    problems: list = field(default_factory=list)


def _add(b: _Build, key: tuple, frame: int, row: int, **ev) -> bool:
    """Record an event, or add a frame to it when a retransmission carried it again.
    Returns True when the event is new."""
    i = b.by_key.get(key)
    if i is not None:
        frames = b.events[i]["frames"]
        if frame not in frames:
            frames.append(frame)
        return False
    b.by_key[key] = len(b.events)
    b.events.append(dict(ev, row=row, frames=[frame]))
    return True


def _segment(b: _Build, table: PacketTable, row: int, side: str, buf: bytes) -> None:
    c = table.columns
    st = b.sides[side]
    seq = int(c["tcp_seq"][row])
    payload_len = int(c["payload_len"][row])
    frame = row + 1
    if st.inside_known_record(seq):
        return  # starts inside a record already read: its bytes are ciphertext, not a header
    records, _end, problem = parse_records(buf, payload_len)
    if problem:
        b.problems.append(f"frame {frame}: {problem}")
    for rec in records:
        rseq = (seq + rec.offset) % _U32
        st.add(rseq, rec.length)
        more_after = rec.offset + 5 + rec.length < payload_len
        _record(b, rec, rseq, side, st, frame, row, more_after)


def _record(b: _Build, rec: TlsRecord, rseq: int, side: str, st: _Side, frame: int, row: int,
            more_after: bool) -> None:
    tls13 = b.version == TLS1_3
    base = dict(side=side, rtype=rec.type, seq=rseq)
    whole = len(rec.body) == rec.length
    if rec.type == CHANGE_CIPHER_SPEC:
        _add(b, (side, rseq, 0), frame, row, kind="change_cipher_spec", length=rec.length,
             enc=False, complete=whole, detail=None, **base)
        # RFC 5246 section 7.1: what follows in this direction is encrypted. In TLS 1.3
        # the CCS is only a middlebox-compatibility dummy (RFC 8446 appendix D.4).
        if not tls13:
            st.ccs = True
        return
    if rec.type == ALERT:
        # RFC 5246 section 7.2: a clear alert is 2 bytes (level, description); after the
        # CCS (TLS <= 1.2) it is encrypted and longer.
        clear = rec.length == 2 and not st.ccs
        detail = AlertInfo(rec.body[0], rec.body[1]) if clear and len(rec.body) == 2 else None
        _add(b, (side, rseq, 0), frame, row, kind="alert", length=rec.length, enc=not clear,
             complete=whole, detail=detail, **base)
        return
    if rec.type == HEARTBEAT:
        _add(b, (side, rseq, 0), frame, row, kind="heartbeat", length=rec.length,
             enc=st.ccs, complete=whole, detail=None, **base)
        return
    if rec.type == APPLICATION_DATA:
        _app_data(b, rec, rseq, side, st, frame, row, more_after, whole)
        return
    # Handshake records.
    if st.ccs:
        # TLS <= 1.2: the first handshake record after the CCS is the encrypted Finished
        # (RFC 5246 section 7.4.9); later ones (renegotiation) stay opaque.
        kind = "finished" if not st.finished else "encrypted_handshake"
        if _add(b, (side, rseq, 0), frame, row, kind=kind, length=rec.length, enc=True,
                complete=whole, detail=None, **base) and kind == "finished":
            st.finished = True
            _maybe_done_tls12(b, side, rseq, more_after)
        return
    moff, index = 0, 0
    body = rec.body
    while moff + 4 <= len(body) and moff < rec.length:
        mtype = body[moff]
        mlen = (body[moff + 1] << 16) | (body[moff + 2] << 8) | body[moff + 3]
        msg = body[moff + 4: moff + 4 + mlen]
        complete = len(msg) == mlen
        kind = HANDSHAKE_NAMES.get(mtype, f"handshake_type_{mtype}")
        detail = None
        if mtype == CLIENT_HELLO:
            detail = parse_client_hello(msg, mlen)
        elif mtype == SERVER_HELLO:
            detail = parse_server_hello(msg, mlen)
            if detail.hello_retry_request:
                kind = "hello_retry_request"
        new = _add(b, (side, rseq, index), frame, row, kind=kind, length=mlen, enc=False,
                   complete=complete, detail=detail, **base)
        if new and mtype == CLIENT_HELLO and side == "client":
            b.offered_tls13 = b.offered_tls13 or TLS1_3 in detail.supported_versions
        if new and mtype == SERVER_HELLO and side == "server":
            if detail.version is not None:
                b.version = detail.version
            if not detail.hello_retry_request:
                b.server_hello = True
        moff += 4 + mlen
        index += 1


def _app_data(b: _Build, rec: TlsRecord, rseq: int, side: str, st: _Side, frame: int,
              row: int, more_after: bool, whole: bool) -> None:
    base = dict(side=side, rtype=rec.type, seq=rseq, length=rec.length, enc=True,
                complete=whole, detail=None)
    key = (side, rseq, 0)
    if key in b.by_key:                 # a retransmission of a record already placed
        _add(b, key, frame, row, kind="", **base)
        return
    if b.version is None and b.offered_tls13 and side == "client" \
            and not b.sides["server"].starts:
        # Before the server has said anything a TLS 1.3 client's encrypted records are
        # 0-RTT early data (RFC 8446 section 4.2.10). Once the server has sent records
        # whose ServerHello could not be read, the version is unknown and nothing is said.
        if not st.first_encrypted:
            st.first_encrypted = True
            _add(b, key, frame, row, kind="early_data", **base)
        return
    if b.version == TLS1_3 and not st.finished:
        if not b.server_hello:
            if side == "client" and not st.first_encrypted:
                st.first_encrypted = True
                _add(b, key, frame, row, kind="early_data", **base)   # RFC 8446 4.2.10
            return
        if side == "client":
            # The client's first encrypted record after the ServerHello is its Finished.
            st.finished = True
            _add(b, key, frame, row, kind="finished", **base)
            b.done_key, b.done_more = key, more_after
            return
        if not st.first_encrypted:
            st.first_encrypted = True
            _add(b, key, frame, row, kind="encrypted_handshake", **base)
            return
        if b.done_key is None:
            return      # still the server's encrypted flight
    if not st.app_data:
        st.app_data = True
        _add(b, key, frame, row, kind="application_data", **base)


def _maybe_done_tls12(b: _Build, side: str, rseq: int, more_after: bool) -> None:
    if b.sides["client"].finished and b.sides["server"].finished:
        b.done_key, b.done_more = (side, rseq, 0), more_after


def _freeze(b: _Build, table: PacketTable) -> TlsHandshake:
    ts = table.columns["ts_ns"]
    events = []
    key_of = {i: k for k, i in b.by_key.items()}
    frozen_by_key = {}
    for i, e in enumerate(b.events):
        ev = TlsEvent(e["kind"], e["side"], e["row"] + 1, int(ts[e["row"]]), tuple(e["frames"]),
                      e["rtype"], e["seq"], e["length"], e["enc"], e["complete"], e["detail"])
        frozen_by_key[key_of[i]] = ev
        events.append(ev)
    events.sort(key=lambda e: (e.frame, e.seq))
    first = {}
    for e in events:
        first.setdefault(e.kind, e)
    done = frozen_by_key.get(b.done_key) if b.done_key else None
    return TlsHandshake(b.conn, tuple(events), first.get("client_hello"),
                        first.get("server_hello"), first.get("hello_retry_request"), done,
                        b.done_more if done else False, b.version, tuple(b.problems))


def tls_handshakes(table: PacketTable, conns: ConnIndex | None = None) -> tuple[TlsHandshake, ...]:
    """The TLS handshake of every connection that carries at least one TLS record, in
    connection order. Iterates only over the rows with kept payload bytes."""
    if conns is None:
        conns = connections(table)
    pi = table.payload_index
    rows = pi["row"].astype(np.int64)
    if rows.shape[0] == 0:
        return ()
    conn = conns.conn_at(rows)
    # TLS candidates: TCP rows whose kept bytes start like a record (the decoder's test).
    keep = conn >= 0
    builds: dict[int, _Build] = {}
    data = table.payload_bytes
    for i in np.flatnonzero(keep):
        row = int(rows[i])
        off, length = int(pi["offset"][i]), int(pi["length"][i])
        buf = data[off: off + length]
        if len(buf) < 3 or not (CHANGE_CIPHER_SPEC <= buf[0] <= HEARTBEAT and buf[1] == 3):
            continue        # HTTP and other kept payloads
        k = int(conn[i])
        b = builds.get(k)
        if b is None:
            b = builds[k] = _Build(conns.conns[k])
        side = "client" if conns.client_dir[row] == 1 else "server"
        _segment(b, table, row, side, buf)
    return tuple(_freeze(builds[k], table) for k in sorted(builds)
                 if builds[k].events or builds[k].problems)
