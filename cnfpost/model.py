"""The data model: the packet column spec, the packet table and its side tables.

The packet column spec is written once, here. The compiled decoder
(ext/_decode.pyx), the pure-Python reference decoder (decode_py.py) and the exports
(``cnfpost packets``) all follow it: a column's name, its NumPy dtype, the Wireshark
field it corresponds to, and what it holds.

Conventions (the same in both decoders):

- One row per captured frame, in file order. The Wireshark frame number is the row
  index + 1 (``PacketTable.frame``), so it is not stored. The one exception: identical
  empty records ending the capture are counted in ``PacketTable.empty_run``, not stored.
- ``ts_ns``: int64 nanoseconds since the Unix epoch (pcapng if_tsoffset applied);
  ``NO_TIME`` (NumPy's NaT, int64 min) for a frame without a time stamp.
- Addresses: for IPv4 rows (``ip_version == 4``) ``ip_src``/``ip_dst`` hold the address
  as an integer in host order (``ipaddress.IPv4Address(value)`` gives it back); for IPv6
  rows they are indexes into ``PacketTable.ip6_addresses`` (an ``(n, 16)`` uint8 array of
  the distinct IPv6 addresses in order of first appearance). 0 in a row that has no IP.
- Lengths come from the IP header, never from the captured length, so snaplen-cut
  packets and TSO/GRO super-segments get their true payload length. An IPv4 total
  length of 0 (TSO) falls back to the length on the wire.
- TCP/UDP/ICMP fields are 0 in rows that do not carry them; ``tcp_opts`` says which
  TCP options were present. Rarely present values live in side tables keyed by row:
  MSS and window scale (SYNs), SACK blocks, ICMP/ICMPv6, and the first bytes of the
  payloads later stages dissect (DNS, TLS records, HTTP request and status lines).
"""
from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Column",
    "PACKET_COLUMNS",
    "DecodeStatus",
    "TcpOpt",
    "TcpFlag",
    "LinkType",
    "IpFrag",
    "ICMP_COLUMNS",
    "TCPOPT_COLUMNS",
    "SACK_COLUMNS",
    "PAYLOAD_COLUMNS",
    "PacketTable",
    "Interface",
    "CaptureStats",
    "empty_columns",
    "PAYLOAD_KEEP",
    "NO_TIME",
    "EmptyRun",
    "count_frames",
]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    wireshark: str | None  # the tshark field this column can be checked against
    doc: str


# The core decode columns: 64 bytes per packet (checked by a test).
PACKET_COLUMNS: tuple[Column, ...] = (
    Column("ts_ns", "i8", "frame.time_epoch", "capture time, ns since the epoch"),
    Column("cap_len", "u4", "frame.cap_len", "bytes captured"),
    Column("wire_len", "u4", "frame.len", "bytes on the wire"),
    Column("ip_src", "u4", "ip.src", "IPv4 address, or index into ip6_addresses (see module doc)"),
    Column("ip_dst", "u4", "ip.dst", "IPv4 address, or index into ip6_addresses"),
    Column("payload_len", "u4", "tcp.len", "L4 payload bytes (TCP, UDP, ICMP), from the IP lengths"),
    Column("tcp_seq", "u4", "tcp.seq_raw", "raw sequence number"),
    Column("tcp_ack", "u4", "tcp.ack_raw", "raw acknowledgement number"),
    Column("tcp_tsval", "u4", "tcp.options.timestamp.tsval", "TCP timestamp value (tcp_opts & TS)"),
    Column("tcp_tsecr", "u4", "tcp.options.timestamp.tsecr", "TCP timestamp echo reply"),
    Column("iface", "u2", "frame.interface_id", "interface id (pcapng; 0 for pcap)"),
    Column("ip_frag", "u2", None, "IPv4 flags+fragment offset word (RF 0x8000, DF 0x4000, MF 0x2000, "
           "offset & 0x1fff in 8-byte units); IPv6 fragment header mapped to the same layout"),
    Column("ip_id", "u2", "ip.id", "IPv4 identification (low 16 bits of the IPv6 fragment id)"),
    Column("sport", "u2", "tcp.srcport", "TCP/UDP source port"),
    Column("dport", "u2", "tcp.dstport", "TCP/UDP destination port"),
    Column("tcp_win", "u2", "tcp.window_size_value", "raw (unscaled) window"),
    Column("tcp_flags", "u2", "tcp.flags", "the 9 TCP flag bits (NS CWR ECE URG ACK PSH RST SYN FIN)"),
    Column("status", "u1", None, "DecodeStatus of the frame"),
    Column("ip_version", "u1", "ip.version", "4, 6, or 0 when the frame holds no IP packet"),
    Column("ip_proto", "u1", "ip.proto", "transport protocol (after IPv6 extension headers)"),
    Column("ip_ttl", "u1", "ip.ttl", "IPv4 TTL or IPv6 hop limit"),
    Column("tcp_hdr_len", "u1", "tcp.hdr_len", "TCP header length in bytes"),
    Column("tcp_opts", "u1", None, "TcpOpt bits: which TCP options the segment carries"),
)

# Side tables: (name, dtype) columns, one row per packet that has the thing, keyed by `row`.
ICMP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row", "u4"),
    ("type", "u1"),        # icmp.type / icmpv6.type
    ("code", "u1"),
    ("ident", "u2"),       # echo identifier (icmp.ident)
    ("seq", "u2"),         # echo sequence number (icmp.seq)
    ("version", "u1"),     # 4 for ICMP, 6 for ICMPv6
    # For error messages (unreachable, time exceeded, ...): the quoted original packet.
    ("q_ip_version", "u1"),  # 0 when nothing (or too little) was quoted
    ("q_proto", "u1"),
    ("q_src", "u4"),       # same address convention as the packet table
    ("q_dst", "u4"),
    ("q_sport", "u2"),     # TCP/UDP ports, or echo ident/seq of a quoted ICMP echo
    ("q_dport", "u2"),
    ("q_tcp_seq", "u4"),
)
TCPOPT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row", "u4"),
    ("mss", "u2"),         # tcp.options.mss_val, 0 when absent
    ("wscale", "u1"),      # tcp.options.wscale.shift, 255 when absent
)
SACK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row", "u4"),
    ("left", "u4"),        # raw sequence numbers of one SACK block
    ("right", "u4"),
)
PAYLOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row", "u4"),
    ("offset", "u8"),      # into PacketTable.payload_bytes
    ("length", "u2"),      # bytes kept (the captured payload may have been shorter)
)

# How many leading payload bytes are kept for the packets later stages dissect.
PAYLOAD_KEEP = {
    "tls_handshake": 512,   # TLS record type 22: ClientHello/ServerHello, SNI, versions
    "tls_other": 16,        # TLS records 20, 21, 23: the record header is enough
    "http": 256,            # request line / status line and the first headers
    "dns": 512,             # UDP port 53
}
PAYLOAD_BUFFER_LIMIT = 64 * 1024 * 1024  # past this, kept payloads are counted, not stored


# ts_ns of a frame without a time stamp (pcapng simple packet and custom blocks, a journal
# entry without a readable __REALTIME_TIMESTAMP, a time past int64 ns): NumPy's NaT value.
# tshark prints frame.time_epoch empty for these, and so do the exports.
NO_TIME = np.iinfo(np.int64).min
# Rows a stage handles at a time where a temporary per frame would cost more memory than
# the columns kept: a big capture's peak stays the table and its analysis (docs/performance.md).
# Measured on the 1M-packet benchmark: 2^16 rows held 1.4 MiB more at the peak than 2^15,
# and 2^14 saved 0.5 MiB more for 4 % more time.
BLOCK_ROWS = 1 << 15


def gather_blocks(n: int, rows: int, part, dtype) -> np.ndarray:
    """What ``part(block)`` gives for each slice of `rows` of the n rows, in one array
    allocated once: a first pass counts, a second fills (a concatenation of the pieces
    would hold them twice). Callers pass their module's BLOCK_ROWS as `rows`."""
    blocks = [slice(start, start + rows) for start in range(0, n, rows)]
    out = np.empty(sum(part(b).shape[0] for b in blocks), dtype=dtype)
    at = 0
    for b in blocks:
        piece = part(b)
        out[at:at + piece.shape[0]] = piece
        at += piece.shape[0]
    return out


class DecodeStatus(enum.IntEnum):
    """Per-frame decode status. The first problem met decides it; decoding carries on
    at the layer above wherever the bytes allow (zeek's 'named anomaly' habit)."""

    OK = 0
    NON_IP = 1               # decoded link layer carrying something else (ARP, LLDP, ...)
    UNKNOWN_LINKTYPE = 2     # the interface's link type is not one cnfpost decodes
    TRUNCATED_LINK = 3       # captured bytes end inside the link-layer header
    TRUNCATED_IP = 4         # captured bytes end inside the IP header
    BAD_IP_VERSION = 5       # version nibble is not what the link layer announced
    BAD_IP_HEADER_LEN = 6    # IPv4 IHL < 5 (only ip_version is filled)
    BAD_IP_TOTAL_LEN = 7     # total length > bytes on the wire (clamped), or an IPv6
                             # extension header past the payload
    TRUNCATED_IPV6_EXT = 8   # captured bytes end inside an IPv6 extension header
    TRUNCATED_L4 = 9         # captured bytes end inside the TCP/UDP/ICMP header
    BAD_TCP_HEADER_LEN = 10  # data offset < 5, or beyond the IP payload
    BAD_TCP_OPTIONS = 11     # an option length runs past the header (header still used)
    IP_FRAGMENT = 12         # a fragment: as in Wireshark its datagram is dissected on the
                             # frame that completes it (a non-first fragment never parsed)
    SNAPLEN_CUT = 13         # headers decoded, payload only partly captured (normal)
    ZERO_CAPLEN = 14         # a record with no captured bytes
    BOGUS_IP_LENGTH = 15     # IPv4 total length < header length (tshark: "Bogus IP length");
                             # only ip_version is filled, as tshark shows nothing after it
    TIME_OUT_OF_RANGE = 16   # decoded (else OK or SNAPLEN_CUT), but its time stamp is past
                             # what int64 ns hold (before 1677 or after 2262): ts_ns NO_TIME
    IP_FRAGMENT_INCOMPLETE = 17  # a fragment of a datagram that never completed in the
                                 # capture (or was dropped from the bounded reassembly)


class TcpFlag(enum.IntFlag):
    FIN = 0x001
    SYN = 0x002
    RST = 0x004
    PSH = 0x008
    ACK = 0x010
    URG = 0x020
    ECE = 0x040
    CWR = 0x080
    NS = 0x100


class TcpOpt(enum.IntFlag):
    MSS = 0x01
    WSCALE = 0x02
    SACK_PERM = 0x04
    TIMESTAMP = 0x08
    SACK = 0x10


class IpFrag(enum.IntFlag):
    RF = 0x8000
    DF = 0x4000
    MF = 0x2000
    OFFSET_MASK = 0x1FFF


class LinkType(enum.IntEnum):
    """LINKTYPE_ values (IETF linktypes registry) that cnfpost decodes."""

    NULL = 0
    ETHERNET = 1
    RAW_12 = 12   # DLT_RAW on some BSDs, raw IP when found in a file
    RAW_14 = 14   # DLT_RAW on OpenBSD, raw IP when found in a file
    RAW = 101
    LOOP = 108
    LINUX_SLL = 113
    IPV4 = 228
    IPV6 = 229
    LINUX_SLL2 = 276


def empty_columns(spec, n: int) -> dict[str, np.ndarray]:
    """Zeroed arrays for a column spec (Column objects or (name, dtype) pairs)."""
    out = {}
    for col in spec:
        name, dtype = (col.name, col.dtype) if isinstance(col, Column) else col
        out[name] = np.zeros(n, dtype=dtype)
    return out


@dataclass
class Interface:
    """One capture interface (pcapng IDB; a pcap file has exactly one)."""

    section: int
    index: int               # interface id within its section
    link_type: int
    snaplen: int
    ts_resolution: int       # units per second (10**6 for microseconds)
    ts_offset_s: int = 0     # if_tsoffset
    name: str | None = None
    packets: int = 0
    unknown_link_type: bool = False

    @property
    def link_type_name(self) -> str:
        try:
            return LinkType(self.link_type).name
        except ValueError:
            return f"LINKTYPE_{self.link_type}"


@dataclass
class CaptureStats:
    """What the container walk learned about the file as a whole."""

    path: str
    format: str = ""            # "pcap" or "pcapng"
    byte_order: str = ""        # of the (first) section: "little" or "big"
    ts_precision: str = ""      # pcap: "micro" or "nano"; pcapng: per interface
    sections: int = 0
    packets: int = 0
    bytes_captured: int = 0
    bytes_on_wire: int = 0
    file_bytes: int = 0
    skipped_blocks: dict[str, int] = field(default_factory=dict)   # pcapng block name -> count
    status_counts: dict[str, int] = field(default_factory=dict)    # DecodeStatus name -> count
    payload_bytes_dropped: int = 0  # kept-payload bytes not stored past PAYLOAD_BUFFER_LIMIT
    warnings: list[str] = field(default_factory=list)               # one line each, error shape
    stopped_at: int | None = None   # byte offset where decoding stopped early, if it did


@dataclass(frozen=True)
class EmptyRun:
    """Identical empty records (caplen 0, status ZERO_CAPLEN) that end the capture, counted
    instead of stored: they are frames len(table) + 1 .. len(table) + count, each with this
    time, wire length and iface. tshark shows each as a frame; a tail of zeros after a
    pcap header reads as millions of them, so they cost no row."""

    count: int
    ts_ns: int
    wire_len: int
    iface: int


def count_frames(stats: CaptureStats, columns: dict[str, np.ndarray],
                 run: EmptyRun | None) -> None:
    """packets, bytes and status counts of the rows and of the trailing empty run."""
    extra = run.count if run else 0
    stats.packets = int(columns["ts_ns"].shape[0]) + extra
    stats.bytes_captured = int(columns["cap_len"].sum(dtype=np.uint64))
    stats.bytes_on_wire = int(columns["wire_len"].sum(dtype=np.uint64)) + (
        extra * run.wire_len if run else 0)
    counts = np.bincount(columns["status"], minlength=len(DecodeStatus))
    counts[DecodeStatus.ZERO_CAPLEN] += extra
    stats.status_counts = {s.name: int(counts[s]) for s in DecodeStatus if counts[s]}



@dataclass
class PacketTable:
    """The decoded capture: a struct of NumPy arrays, one row per frame, plus side tables."""

    columns: dict[str, np.ndarray]
    ip6_addresses: np.ndarray                 # (k, 16) uint8
    icmp: dict[str, np.ndarray]
    tcpopt: dict[str, np.ndarray]
    sack: dict[str, np.ndarray]
    payload_index: dict[str, np.ndarray]
    payload_bytes: bytes
    interfaces: list[Interface]
    stats: CaptureStats
    empty_run: EmptyRun | None = None         # frames after the last row (see EmptyRun)
    # format_address's memo: a capture has few distinct addresses and many rows naming them
    _names: dict[tuple[int, int], str] = field(default_factory=dict, init=False, repr=False,
                                               compare=False)

    def __len__(self) -> int:
        return int(self.columns["ts_ns"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def frame(self) -> np.ndarray:
        """Wireshark frame numbers (1-based, file order)."""
        return np.arange(1, len(self) + 1, dtype=np.uint32)

    def address(self, row: int, which: str = "src") -> str:
        """The printable address of one row ('' when the row has no IP)."""
        version = int(self.columns["ip_version"][row])
        value = int(self.columns["ip_" + which][row])
        return self.format_address(version, value)

    def format_address(self, version: int, value: int) -> str:
        name = self._names.get((version, value))
        if name is None:
            if version == 4:
                name = str(ipaddress.IPv4Address(value))
            elif version == 6:
                name = str(ipaddress.IPv6Address(bytes(self.ip6_addresses[value])))
            else:
                name = ""
            self._names[(version, value)] = name
        return name

    def payload(self, row: int) -> bytes:
        """The kept leading payload bytes of one row (b'' when none were kept)."""
        rows = self.payload_index["row"]
        i = int(np.searchsorted(rows, row))
        if i < rows.shape[0] and rows[i] == row:
            off = int(self.payload_index["offset"][i])
            return self.payload_bytes[off: off + int(self.payload_index["length"][i])]
        return b""

    def core_bytes_per_packet(self) -> int:
        return sum(np.dtype(c.dtype).itemsize for c in PACKET_COLUMNS)


# ---------------------------------------------------------------------------------------
# TCP analysis columns (cnfpost/tcp.py): one row per frame, like PACKET_COLUMNS, 32 bytes
# per packet (checked by a test) of which 14 are stored per frame: the duplicate-ACK
# number and frame (SPARSE_ANALYSIS) are non-zero on duplicate ACKs only and are kept for
# those, and the relative seq/ack and scaled window (DERIVED_ANALYSIS) are derived from the
# raw numbers and each direction's bases (cnfpost/tcp_relative.py); TcpAnalysis[name] and
# TcpAnalysis.at(name, rows) give every column alike. Rows that are not TCP hold 0 except
# `tcp_stream`, which holds NO_STREAM. Derived fields are not stored: tcp.nxtseq is tcp_seq_rel + tcp.len
# (+1 for SYN/FIN), tcp.analysis.ack_rtt is ts_ns of the row minus ts_ns of
# tcp_acks_frame, and tcp.analysis.retransmission is any of the three retransmission bits
# (see TCP_ANALYSIS_FIELDS).
# ---------------------------------------------------------------------------------------
class TcpAnalysisFlag(enum.IntFlag):
    """Wireshark's TCP_A_* analysis bits (epan/dissectors/packet-tcp.c), same values."""

    RETRANSMISSION = 0x0001
    LOST_PACKET = 0x0002            # tcp.analysis.lost_segment ("previous segment not captured")
    ACK_LOST_PACKET = 0x0004        # tcp.analysis.ack_lost_segment ("ACKed unseen segment")
    KEEP_ALIVE = 0x0008
    DUPLICATE_ACK = 0x0010
    ZERO_WINDOW = 0x0020
    ZERO_WINDOW_PROBE = 0x0040
    ZERO_WINDOW_PROBE_ACK = 0x0080
    KEEP_ALIVE_ACK = 0x0100
    OUT_OF_ORDER = 0x0200
    FAST_RETRANSMISSION = 0x0400
    WINDOW_UPDATE = 0x0800
    WINDOW_FULL = 0x1000
    REUSED_PORTS = 0x2000
    SPURIOUS_RETRANSMISSION = 0x4000


# tshark field -> the bits that make it present. Fast and spurious retransmissions also
# carry the generic expert item, so `tcp.analysis.retransmission` counts all three.
TCP_ANALYSIS_FIELDS: dict[str, int] = {
    "tcp.analysis.retransmission": int(TcpAnalysisFlag.RETRANSMISSION
                                       | TcpAnalysisFlag.FAST_RETRANSMISSION
                                       | TcpAnalysisFlag.SPURIOUS_RETRANSMISSION),
    "tcp.analysis.fast_retransmission": int(TcpAnalysisFlag.FAST_RETRANSMISSION),
    "tcp.analysis.spurious_retransmission": int(TcpAnalysisFlag.SPURIOUS_RETRANSMISSION),
    "tcp.analysis.out_of_order": int(TcpAnalysisFlag.OUT_OF_ORDER),
    "tcp.analysis.lost_segment": int(TcpAnalysisFlag.LOST_PACKET),
    "tcp.analysis.ack_lost_segment": int(TcpAnalysisFlag.ACK_LOST_PACKET),
    "tcp.analysis.duplicate_ack": int(TcpAnalysisFlag.DUPLICATE_ACK),
    "tcp.analysis.zero_window": int(TcpAnalysisFlag.ZERO_WINDOW),
    "tcp.analysis.zero_window_probe": int(TcpAnalysisFlag.ZERO_WINDOW_PROBE),
    "tcp.analysis.zero_window_probe_ack": int(TcpAnalysisFlag.ZERO_WINDOW_PROBE_ACK),
    "tcp.analysis.window_full": int(TcpAnalysisFlag.WINDOW_FULL),
    "tcp.analysis.window_update": int(TcpAnalysisFlag.WINDOW_UPDATE),
    "tcp.analysis.keep_alive": int(TcpAnalysisFlag.KEEP_ALIVE),
    "tcp.analysis.keep_alive_ack": int(TcpAnalysisFlag.KEEP_ALIVE_ACK),
    "tcp.analysis.reused_ports": int(TcpAnalysisFlag.REUSED_PORTS),
}

NO_STREAM = 0xFFFFFFFF  # tcp_stream of a frame that is not TCP

ANALYSIS_COLUMNS: tuple[Column, ...] = (
    Column("tcp_stream", "u4", "tcp.stream", "conversation index in order of first appearance "
           "(a SYN with a new ISN on a used 4-tuple starts a new one); NO_STREAM if not TCP"),
    Column("tcp_seq_rel", "u4", "tcp.seq", "sequence number relative to the direction's base"),
    Column("tcp_ack_rel", "u4", "tcp.ack", "relative acknowledgement number (raw without ACK)"),
    Column("tcp_win_scaled", "u4", "tcp.window_size", "window << scale once the scale is known"),
    Column("tcp_bytes_in_flight", "u4", "tcp.analysis.bytes_in_flight", "unacked bytes after "
           "this data segment (payload-based, minus the peer's SACKed bytes); 0 = not shown"),
    Column("tcp_dupack_frame", "u4", "tcp.analysis.duplicate_ack_frame",
           "frame of the last non-duplicate ACK this duplicate ACK repeats (0 if none)"),
    Column("tcp_acks_frame", "u4", "tcp.analysis.acks_frame",
           "frame of the segment this ACK acknowledges exactly (0 if none)"),
    Column("tcp_analysis", "u2", "tcp.analysis.flags", "TcpAnalysisFlag bits"),
    Column("tcp_dupack_num", "u2", "tcp.analysis.duplicate_ack_num",
           "duplicate ACK number (saturates at 65535)"),
)
SPARSE_ANALYSIS = ("tcp_dupack_frame", "tcp_dupack_num")
DERIVED_ANALYSIS = ("tcp_seq_rel", "tcp_ack_rel", "tcp_win_scaled")
DENSE_ANALYSIS = tuple(c for c in ANALYSIS_COLUMNS
                       if c.name not in SPARSE_ANALYSIS + DERIVED_ANALYSIS)
