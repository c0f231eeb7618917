# cython: language_level=3
"""Compiled capture decoder: pcap/pcapng records -> the packet table of cnfpost/model.py.

The rules are docs/decoding.md, the same ones the pure-Python reference decoder
(cnfpost/decode_py.py) follows. Untrusted bytes are read only through the checked reader
below (`has`, `rd8`, `be16`, ...): a read outside the buffer returns 0 instead of touching
memory, and callers test `has` first wherever a short buffer changes the outcome. The
kernel never raises on bad bytes: file-level problems become a stop code plus offsets
that cnfpost/capture.py turns into an error message; packet-level problems become the
frame's DecodeStatus.

feed() walks the records without the GIL: rows and side tables are written through C
pointers, and the GIL is taken back only to grow an output array and for the rare Python
parts (an interface block, a skipped block's count, a clamp warning, fragment reassembly
in cnfpost/reassembly.py). Its typed surface is ext/_decode.pyi.

Only cnfpost/capture.py uses this module.
"""
from libc.stdint cimport (INT64_MAX, INT64_MIN, int8_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t)
from libc.string cimport memcmp, memcpy, memset

import numpy as np
cimport numpy as cnp

cnp.import_array()

# ts_ns of a frame without a time stamp (cnfpost/model.py NO_TIME: NumPy's NaT).
cdef int64_t NO_TIME = INT64_MIN
cdef int64_t MAX_EPOCH_S = INT64_MAX // 1000000000          # 9223372036 (year 2262)
cdef int64_t MIN_EPOCH_S = INT64_MIN // 1000000000 - 1      # -9223372037 (year 1677)


cdef inline int64_t epoch_ns(int64_t secs, int64_t nsecs, int64_t offset_s) noexcept nogil:
    """secs + offset_s seconds plus nsecs (0 <= nsecs < 10**9) as int64 ns; NO_TIME when
    that is not above INT64_MIN and at most INT64_MAX (computed without overflowing)."""
    cdef int64_t gap
    if (offset_s > 0 and secs > INT64_MAX - offset_s) or (
            offset_s < 0 and secs < INT64_MIN - offset_s):
        return NO_TIME
    secs += offset_s
    if secs > MAX_EPOCH_S or secs < MIN_EPOCH_S:
        return NO_TIME
    if secs == MAX_EPOCH_S and nsecs > INT64_MAX - MAX_EPOCH_S * 1000000000:
        return NO_TIME
    if secs == MIN_EPOCH_S:
        # MIN_EPOCH_S * 10**9 is below INT64_MIN (by `gap` ns): count up from INT64_MIN
        gap = 1000000000 - ((MIN_EPOCH_S + 1) * 1000000000 - INT64_MIN)
        return INT64_MIN + (nsecs - gap) if nsecs > gap else NO_TIME
    return secs * 1000000000 + nsecs


cdef inline int64_t ticks_to_ns(uint64_t t, uint64_t units, int64_t offset_s) noexcept nogil:
    # Wireshark 4.0: secs = (time_t)(t / units); nsecs = ((t % units) * 10**9) / units in
    # unsigned 64-bit arithmetic (the product wraps, like the C); then secs += if_tsoffset.
    return epoch_ns(<int64_t>(t // units),
                    <int64_t>(((t % units) * 1000000000ULL) // units), offset_s)


# ----------------------------------------------------------------------------------------
# The checked reader: the only code that dereferences packet or file bytes.
# ----------------------------------------------------------------------------------------
cdef struct Span:
    const uint8_t* p
    Py_ssize_t n

cdef inline bint has(Span s, Py_ssize_t off, Py_ssize_t k) noexcept nogil:
    return off >= 0 and k >= 0 and off <= s.n - k

cdef inline uint8_t rd8(Span s, Py_ssize_t off) noexcept nogil:
    if not has(s, off, 1):
        return 0
    return s.p[off]

cdef inline uint16_t be16(Span s, Py_ssize_t off) noexcept nogil:
    if not has(s, off, 2):
        return 0
    return (<uint16_t>s.p[off] << 8) | s.p[off + 1]

cdef inline uint32_t be32(Span s, Py_ssize_t off) noexcept nogil:
    if not has(s, off, 4):
        return 0
    return ((<uint32_t>s.p[off] << 24) | (<uint32_t>s.p[off + 1] << 16)
            | (<uint32_t>s.p[off + 2] << 8) | s.p[off + 3])

cdef inline uint16_t le16(Span s, Py_ssize_t off) noexcept nogil:
    if not has(s, off, 2):
        return 0
    return (<uint16_t>s.p[off + 1] << 8) | s.p[off]

cdef inline uint32_t le32(Span s, Py_ssize_t off) noexcept nogil:
    if not has(s, off, 4):
        return 0
    return ((<uint32_t>s.p[off + 3] << 24) | (<uint32_t>s.p[off + 2] << 16)
            | (<uint32_t>s.p[off + 1] << 8) | s.p[off])

cdef inline uint16_t rd16(Span s, Py_ssize_t off, bint big) noexcept nogil:
    return be16(s, off) if big else le16(s, off)

cdef inline uint32_t rd32(Span s, Py_ssize_t off, bint big) noexcept nogil:
    return be32(s, off) if big else le32(s, off)

cdef inline uint64_t rd64(Span s, Py_ssize_t off, bint big) noexcept nogil:
    cdef uint64_t a = rd32(s, off, big), b = rd32(s, off + 4, big)
    return (a << 32) | b if big else (b << 32) | a

cdef inline bint starts_with(Span s, Py_ssize_t off, const char* prefix, Py_ssize_t k) noexcept nogil:
    return has(s, off, k) and memcmp(s.p + off, prefix, k) == 0

cdef bytes read_bytes(Span s, Py_ssize_t off, Py_ssize_t k):
    if not has(s, off, k):
        return b""
    return s.p[off: off + k]

cdef inline Span sub(Span s, Py_ssize_t off, Py_ssize_t k) noexcept nogil:
    """The part [off, off+k) of s, clipped to what s holds."""
    cdef Span out
    if off < 0 or off > s.n:
        out.p = s.p
        out.n = 0
        return out
    out.p = s.p + off
    out.n = k if 0 <= k <= s.n - off else s.n - off
    return out

cdef inline void copy_bytes(Span s, Py_ssize_t off, Py_ssize_t k, uint8_t* dst) noexcept nogil:
    if has(s, off, k):
        memcpy(dst, s.p + off, k)

# ----------------------------------------------------------------------------------------
# Constants (names as in libpcap, the pcapng draft and the IANA registries): C enums, as
# Cython deprecates DEF; the three pcap magics do not fit a C int and are C globals.
# ----------------------------------------------------------------------------------------
# DecodeStatus, as in cnfpost/model.py (a test checks the two agree)
cdef enum: ST_OK = 0
cdef enum: ST_NON_IP = 1
cdef enum: ST_UNKNOWN_LINKTYPE = 2
cdef enum: ST_TRUNCATED_LINK = 3
cdef enum: ST_TRUNCATED_IP = 4
cdef enum: ST_BAD_IP_VERSION = 5
cdef enum: ST_BAD_IP_HEADER_LEN = 6
cdef enum: ST_BAD_IP_TOTAL_LEN = 7
cdef enum: ST_TRUNCATED_IPV6_EXT = 8
cdef enum: ST_TRUNCATED_L4 = 9
cdef enum: ST_BAD_TCP_HEADER_LEN = 10
cdef enum: ST_BAD_TCP_OPTIONS = 11
cdef enum: ST_IP_FRAGMENT = 12
cdef enum: ST_SNAPLEN_CUT = 13
cdef enum: ST_ZERO_CAPLEN = 14
cdef enum: ST_BOGUS_IP_LENGTH = 15
cdef enum: ST_TIME_OUT_OF_RANGE = 16
cdef enum: ST_IP_FRAGMENT_INCOMPLETE = 17

# Stop codes: why the container walk ended before the end of the input.
cdef enum: C_STOP_NONE = 0
cdef enum: C_STOP_BAD_MAGIC = 1
cdef enum: C_STOP_SHORT_FILE_HEADER = 2
cdef enum: C_STOP_RECORD_HEADER_CUT = 3
cdef enum: C_STOP_RECORD_TOO_LONG = 4
cdef enum: C_STOP_RECORD_CUT = 5
cdef enum: C_STOP_BLOCK_LENGTH_BAD = 6
cdef enum: C_STOP_BLOCK_CUT = 7
cdef enum: C_STOP_BAD_BYTE_ORDER = 8
cdef enum: C_STOP_BLOCK_TRAILER = 9
cdef enum: C_STOP_BLOCK_TOO_SHORT = 10
STOP_NONE = C_STOP_NONE
STOP_BAD_MAGIC = C_STOP_BAD_MAGIC
STOP_SHORT_FILE_HEADER = C_STOP_SHORT_FILE_HEADER
STOP_RECORD_HEADER_CUT = C_STOP_RECORD_HEADER_CUT
STOP_RECORD_TOO_LONG = C_STOP_RECORD_TOO_LONG
STOP_RECORD_CUT = C_STOP_RECORD_CUT
STOP_BLOCK_LENGTH_BAD = C_STOP_BLOCK_LENGTH_BAD
STOP_BLOCK_CUT = C_STOP_BLOCK_CUT
STOP_BAD_BYTE_ORDER = C_STOP_BAD_BYTE_ORDER
STOP_BLOCK_TRAILER = C_STOP_BLOCK_TRAILER
STOP_BLOCK_TOO_SHORT = C_STOP_BLOCK_TOO_SHORT

cdef enum: LINKTYPE_NULL = 0
cdef enum: LINKTYPE_ETHERNET = 1
cdef enum: LINKTYPE_RAW_12 = 12
cdef enum: LINKTYPE_RAW_14 = 14
cdef enum: LINKTYPE_RAW = 101
cdef enum: LINKTYPE_LOOP = 108
cdef enum: LINKTYPE_LINUX_SLL = 113
cdef enum: LINKTYPE_IPV4 = 228
cdef enum: LINKTYPE_IPV6 = 229
cdef enum: LINKTYPE_LINUX_SLL2 = 276

cdef enum: ETHERTYPE_IP = 0x0800
cdef enum: ETHERTYPE_IPV6 = 0x86DD
cdef enum: ETHERTYPE_8021Q = 0x8100
cdef enum: ETHERTYPE_8021AD = 0x88A8
cdef enum: ETHERTYPE_QINQ_OLD = 0x9100
cdef enum: ETHERTYPE_MPLS = 0x8847
cdef enum: ETHERTYPE_MPLS_MULTI = 0x8848
cdef enum: MPLS_LABEL_GACH = 13          # RFC 5586: an associated channel follows, not IP
cdef enum: MPLS_LABEL_OAM_ALERT = 14     # RFC 3429
cdef enum: LINK_TRUNCATED = -2           # link_payload(): the link header runs past the bytes

cdef enum: IPPROTO_HOPOPTS = 0
cdef enum: IPPROTO_ICMP = 1
cdef enum: IPPROTO_TCP = 6
cdef enum: IPPROTO_UDP = 17
cdef enum: IPPROTO_ROUTING = 43
cdef enum: IPPROTO_FRAGMENT = 44
cdef enum: IPPROTO_AH = 51
cdef enum: IPPROTO_ICMPV6 = 58
cdef enum: IPPROTO_NONE = 59
cdef enum: IPPROTO_DSTOPTS = 60

cdef enum: TCPOPT_EOL = 0
cdef enum: TCPOPT_NOP = 1
cdef enum: TCPOPT_MSS = 2
cdef enum: TCPOPT_WSCALE = 3
cdef enum: TCPOPT_SACK_PERM = 4
cdef enum: TCPOPT_SACK = 5
cdef enum: TCPOPT_TIMESTAMP = 8

cdef enum: OPT_MSS = 0x01
cdef enum: OPT_WSCALE = 0x02
cdef enum: OPT_SACK_PERM = 0x04
cdef enum: OPT_TIMESTAMP = 0x08
cdef enum: OPT_SACK = 0x10

cdef uint32_t PCAP_MAGIC_US = 0xA1B2C3D4
cdef uint32_t PCAP_MAGIC_NS = 0xA1B23C4D
cdef uint32_t PCAP_MAGIC_KUZNETZOV = 0xA1B2CD34
cdef enum: PCAPNG_SHB = 0x0A0D0D0A
cdef enum: PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
cdef enum: PCAPNG_IDB = 1
cdef enum: PCAPNG_PB = 2
cdef enum: PCAPNG_SPB = 3
cdef enum: PCAPNG_NRB = 4
cdef enum: PCAPNG_ISB = 5
cdef enum: PCAPNG_EPB = 6
cdef enum: PCAPNG_JOURNAL = 9
cdef enum: PCAPNG_DSB = 10
cdef enum: PCAPNG_CUSTOM = 0x00000BAD
cdef enum: PCAPNG_CUSTOM_NOCOPY = 0x40000BAD

cdef enum: MAX_PCAP_SNAPLEN = 262144      # libpcap's MAXIMUM_SNAPLEN
cdef enum: MAX_STREAM_BLOCK = 256 * 1024 * 1024  # larger pcapng blocks are corrupt, not just long
cdef enum: IFACE_NONE = 65535

# Kept payload sizes (cnfpost/model.py PAYLOAD_KEEP)
cdef enum: KEEP_TLS_HANDSHAKE = 512
cdef enum: KEEP_TLS_OTHER = 16
cdef enum: KEEP_HTTP = 256
cdef enum: KEEP_DNS = 512
cdef enum: REASSEMBLY_PREFIX = 2048  # cnfpost/reassembly.py PREFIX


cdef struct Row:
    int64_t ts_ns
    uint32_t cap_len
    uint32_t wire_len
    uint32_t ip_src
    uint32_t ip_dst
    uint32_t payload_len
    uint32_t tcp_seq
    uint32_t tcp_ack
    uint32_t tcp_tsval
    uint32_t tcp_tsecr
    uint16_t iface
    uint16_t ip_frag
    uint16_t ip_id
    uint16_t sport
    uint16_t dport
    uint16_t tcp_win
    uint16_t tcp_flags
    uint8_t status
    uint8_t ip_version
    uint8_t ip_proto
    uint8_t ip_ttl
    uint8_t tcp_hdr_len
    uint8_t tcp_opts


cdef struct IpInfo:
    # What the IP walk learned; offsets are relative to the span given to it.
    uint8_t status        # first problem met (ST_OK if none)
    uint8_t version
    uint8_t proto
    uint8_t ttl
    uint16_t ident
    uint16_t frag
    bint fragment         # non-first fragment: no L4
    bint fields_ok        # the fields after the IPv4 lengths (id .. addresses) may be read
    bint l4_ok            # the L4 header may be parsed
    Py_ssize_t src_off    # where the source address starts
    Py_ssize_t dst_off
    Py_ssize_t l4_off     # where the L4 header starts
    Py_ssize_t l4_len     # IP payload length after all IP headers ("L")
    Py_ssize_t ip_end     # where the IP packet ends (start + total length)
    # A fragment (IPv4 MF or offset; an IPv6 fragment header with M or offset):
    bint frag_hdr
    uint8_t frag_status   # the status met before the fragment's payload
    uint8_t frag_nh       # what the fragment carries
    bint frag_more
    Py_ssize_t frag_offset  # in bytes
    Py_ssize_t frag_off     # where the fragment's payload starts
    uint32_t frag_ident


cdef inline void set_status(uint8_t* status, uint8_t value) noexcept nogil:
    # The first problem met decides the frame's status.
    if status[0] == ST_OK:
        status[0] = value


cdef inline int link_payload(Span s, uint32_t ethertype, Py_ssize_t* off) noexcept nogil:
    """The IP version an ethertype announces at s[off:] (4 or 6), -1 for anything else,
    LINK_TRUNCATED when the bytes end inside an MPLS label stack. An MPLS stack (RFC 3032)
    is skipped up to its bottom label; as Wireshark 4.0 does, what follows is IPv4 or
    IPv6 by its first nibble, unless the bottom label is GAL or OAM Alert."""
    cdef uint32_t entry
    if ethertype == ETHERTYPE_IP:
        return 4
    if ethertype == ETHERTYPE_IPV6:
        return 6
    if ethertype != ETHERTYPE_MPLS and ethertype != ETHERTYPE_MPLS_MULTI:
        return -1
    while True:
        if not has(s, off[0], 4):
            return LINK_TRUNCATED
        entry = be32(s, off[0])
        off[0] += 4
        if entry & 0x100:
            break
    if (entry >> 12) == MPLS_LABEL_GACH or (entry >> 12) == MPLS_LABEL_OAM_ALERT:
        return -1
    if not has(s, off[0], 1):
        return LINK_TRUNCATED
    if rd8(s, off[0]) >> 4 == 4:
        return 4
    return 6 if rd8(s, off[0]) >> 4 == 6 else -1


cdef void ip_walk(Span s, Py_ssize_t off, int want_version, Py_ssize_t wire_room,
                  bint quoted, IpInfo* ip) noexcept nogil:
    """Walk an IPv4 or IPv6 header (and IPv6 extension headers) at s[off:].

    want_version is 4 or 6 when the link layer announced it, 0 to read the nibble.
    quoted: the header an ICMP error quotes; its length fields describe the original
    packet, not these bytes, so they are not checked (the walk uses what is there).
    """
    cdef Py_ssize_t ihl, total, plen, cur, ext_len
    cdef int version, nh
    cdef uint16_t fragword
    ip.status = ST_OK
    ip.version = 0
    ip.proto = 0
    ip.ttl = 0
    ip.ident = 0
    ip.frag = 0
    ip.fragment = False
    ip.fields_ok = False
    ip.frag_hdr = False
    ip.l4_ok = False
    ip.src_off = 0
    ip.dst_off = 0
    ip.l4_off = 0
    ip.l4_len = 0
    ip.ip_end = off
    if wire_room < 0:
        wire_room = 0
    if not has(s, off, 1):
        ip.status = ST_TRUNCATED_IP
        return
    version = rd8(s, off) >> 4
    if want_version == 0:
        want_version = version if version == 4 or version == 6 else -1
    if want_version == 4:
        if not has(s, off, 20):
            ip.status = ST_TRUNCATED_IP
            return
        if version != 4:
            ip.status = ST_BAD_IP_VERSION
            return
        ip.version = 4
        ihl = (rd8(s, off) & 0x0F) * 4
        total = be16(s, off + 2)
        if ihl < 20:
            ip.status = ST_BAD_IP_HEADER_LEN
            return
        if total == 0 or quoted:
            total = wire_room  # TSO: the NIC fills the length in later
        if total < ihl:
            # Wireshark 4.0 ("Bogus IP length") shows nothing after the length field.
            ip.status = ST_BOGUS_IP_LENGTH
            return
        ip.fields_ok = True
        ip.ident = be16(s, off + 4)
        ip.frag = be16(s, off + 6)
        ip.ttl = rd8(s, off + 8)
        ip.proto = rd8(s, off + 9)
        ip.src_off = off + 12
        ip.dst_off = off + 16
        if total > wire_room:
            set_status(&ip.status, ST_BAD_IP_TOTAL_LEN)
            total = wire_room
            if total < ihl:
                return
        if not has(s, off, ihl):
            set_status(&ip.status, ST_TRUNCATED_IP)
            return
        ip.ip_end = off + total
        ip.l4_off = off + ihl
        ip.l4_len = total - ihl
        if ip.frag & 0x3FFF:
            ip.frag_hdr = True
            ip.frag_status = ip.status
            ip.frag_nh = ip.proto
            ip.frag_more = (ip.frag & 0x2000) != 0
            ip.frag_offset = (ip.frag & 0x1FFF) * 8
            ip.frag_off = ip.l4_off
            ip.frag_ident = ip.ident
        if ip.frag & 0x1FFF:
            set_status(&ip.status, ST_IP_FRAGMENT)
            ip.fragment = True
            return
        ip.l4_ok = True
        return
    if want_version == 6:
        if not has(s, off, 40):
            ip.status = ST_TRUNCATED_IP
            return
        if version != 6:
            ip.status = ST_BAD_IP_VERSION
            return
        ip.version = 6
        ip.fields_ok = True
        plen = be16(s, off + 4)
        nh = rd8(s, off + 6)
        ip.ttl = rd8(s, off + 7)
        ip.src_off = off + 8
        ip.dst_off = off + 24
        ip.proto = nh
        if quoted:
            plen = wire_room - 40
        elif plen == 0 and nh != IPPROTO_NONE:
            plen = wire_room - 40  # jumbogram or TSO
            if plen < 0:
                plen = 0
        if 40 + plen > wire_room:
            set_status(&ip.status, ST_BAD_IP_TOTAL_LEN)
            plen = wire_room - 40
            if plen < 0:
                plen = 0
        ip.ip_end = off + 40 + plen
        cur = off + 40
        while (nh == IPPROTO_HOPOPTS or nh == IPPROTO_ROUTING or nh == IPPROTO_DSTOPTS
               or nh == IPPROTO_AH or nh == IPPROTO_FRAGMENT):
            if nh == IPPROTO_FRAGMENT:
                ext_len = 8
                if not has(s, cur, 8):
                    set_status(&ip.status, ST_TRUNCATED_IPV6_EXT)
                    return
            else:
                if not has(s, cur, 2):
                    set_status(&ip.status, ST_TRUNCATED_IPV6_EXT)
                    return
                if nh == IPPROTO_AH:
                    ext_len = (<Py_ssize_t>rd8(s, cur + 1) + 2) * 4
                else:
                    ext_len = (<Py_ssize_t>rd8(s, cur + 1) + 1) * 8
            if cur + ext_len > ip.ip_end:
                set_status(&ip.status, ST_BAD_IP_TOTAL_LEN)
                return
            if not has(s, cur, ext_len):
                set_status(&ip.status, ST_TRUNCATED_IPV6_EXT)
                return
            if nh == IPPROTO_FRAGMENT:
                fragword = be16(s, cur + 2)
                ip.ident = <uint16_t>(be32(s, cur + 4) & 0xFFFF)
                ip.frag = (fragword >> 3) | (0x2000 if fragword & 1 else 0)
                nh = rd8(s, cur)
                ip.proto = nh
                cur += ext_len
                if ip.frag & 0x3FFF and not ip.frag_hdr:
                    ip.frag_hdr = True
                    ip.frag_status = ip.status
                    ip.frag_nh = nh
                    ip.frag_more = (fragword & 1) != 0
                    ip.frag_offset = (fragword >> 3) * 8
                    ip.frag_off = cur
                    ip.frag_ident = be32(s, cur - 4)
                if fragword >> 3:
                    set_status(&ip.status, ST_IP_FRAGMENT)
                    ip.fragment = True
                    ip.l4_off = cur
                    ip.l4_len = ip.ip_end - cur
                    return
                continue
            nh = rd8(s, cur)
            ip.proto = nh
            cur += ext_len
        ip.l4_off = cur
        ip.l4_len = ip.ip_end - cur
        ip.l4_ok = True
        return
    ip.status = ST_BAD_IP_VERSION


cdef inline Py_ssize_t min_block_length(uint32_t btype) noexcept nogil:
    """Smallest total length of a block with that type's fixed fields."""
    if btype == PCAPNG_SHB:
        return 28
    if btype == PCAPNG_IDB:
        return 20
    if btype == PCAPNG_EPB or btype == PCAPNG_PB:
        return 32
    if btype == PCAPNG_SPB:
        return 16
    return 12


BLOCK_ARTICLE_NAMES = {PCAPNG_SHB: "an SHB", PCAPNG_IDB: "an IDB", PCAPNG_EPB: "an EPB",
                       PCAPNG_PB: "a PB", PCAPNG_SPB: "an SPB"}


cdef str skipped_block_name(uint32_t btype):
    if btype == PCAPNG_NRB:
        return "NRB"
    if btype == PCAPNG_ISB:
        return "ISB"
    if btype == PCAPNG_JOURNAL:
        return "journal"
    if btype == PCAPNG_DSB:
        return "DSB"
    if btype == PCAPNG_CUSTOM or btype == PCAPNG_CUSTOM_NOCOPY:
        return "custom"
    return "unknown"


cdef inline uint64_t tsresol_units(uint8_t value) noexcept nogil:
    """if_tsresol -> units per second; as in Wireshark 4.0 an exponent too large for 64
    bits (10^20 and up, 2^64 and up) gives the largest 64-bit value."""
    cdef uint64_t units = 1
    cdef int exponent = value & 0x7F
    cdef int k
    if value & 0x80:
        return (<uint64_t>1) << exponent if exponent < 64 else 0xFFFFFFFFFFFFFFFFULL
    if exponent >= 20:
        return 0xFFFFFFFFFFFFFFFFULL
    for k in range(exponent):
        units *= 10
    return units


# Column positions in the side tables of cnfpost/model.py (SideTable checks the names).
cdef enum:
    ICMP_ROW, ICMP_TYPE, ICMP_CODE, ICMP_IDENT, ICMP_SEQ, ICMP_VERSION, ICMP_Q_IP_VERSION,
    ICMP_Q_PROTO, ICMP_Q_SRC, ICMP_Q_DST, ICMP_Q_SPORT, ICMP_Q_DPORT, ICMP_Q_TCP_SEQ
cdef enum:
    TCPOPT_ROW, TCPOPT_MSS_COL, TCPOPT_WSCALE_COL
cdef enum:
    SACK_ROW, SACK_LEFT, SACK_RIGHT
cdef enum:
    PAYLOAD_ROW, PAYLOAD_OFFSET, PAYLOAD_LENGTH
cdef enum:
    MAX_SIDE_COLUMNS = 16
ICMP_NAMES = ("row", "type", "code", "ident", "seq", "version", "q_ip_version", "q_proto",
              "q_src", "q_dst", "q_sport", "q_dport", "q_tcp_seq")
TCPOPT_NAMES = ("row", "mss", "wscale")
SACK_NAMES = ("row", "left", "right")
PAYLOAD_NAMES = ("row", "offset", "length")


cdef class SideTable:
    """A side table (cnfpost/model.py: ICMP, TCP options, SACK, kept payloads) that grows
    by doubling; rows are appended with next_row() and written with put() through C
    pointers, without the GIL (only growing takes it)."""
    cdef public object cols
    cdef public object spec
    cdef public Py_ssize_t n
    cdef Py_ssize_t cap
    cdef int ncols
    cdef void* data[MAX_SIDE_COLUMNS]
    cdef int itemsize[MAX_SIDE_COLUMNS]

    def __init__(self, spec, names):
        if tuple(name for name, _ in spec) != names or len(names) > MAX_SIDE_COLUMNS:
            raise ValueError(f"side table columns {spec} are not {names}")
        self.spec = spec
        self.cols = {name: np.zeros(0, dtype=dtype) for name, dtype in spec}
        self.n = 0
        self.cap = 0
        self.ncols = len(names)
        for k, arr in enumerate(self.cols.values()):
            if arr.dtype.kind != "u":
                raise ValueError(f"side table column {arr.dtype} is not unsigned")
            self.itemsize[k] = arr.dtype.itemsize
        self._pointers()

    cdef _pointers(self):
        for k, arr in enumerate(self.cols.values()):
            self.data[k] = cnp.PyArray_DATA(arr)

    cdef int _grow(self) except -1:
        self.cap = max(256, 2 * self.cap)
        for arr in self.cols.values():
            arr.resize(self.cap, refcheck=False)
        self._pointers()

    cdef Py_ssize_t next_row(self) except -1 nogil:
        if self.n >= self.cap:
            with gil:
                self._grow()
        self.n += 1
        return self.n - 1

    cdef inline void put(self, int col, Py_ssize_t i, uint64_t value) noexcept nogil:
        cdef int size = self.itemsize[col]
        if size == 1:
            (<uint8_t*>self.data[col])[i] = <uint8_t>value
        elif size == 2:
            (<uint16_t*>self.data[col])[i] = <uint16_t>value
        elif size == 4:
            (<uint32_t*>self.data[col])[i] = <uint32_t>value
        else:
            (<uint64_t*>self.data[col])[i] = value

    def trimmed(self):
        for arr in self.cols.values():
            arr.resize(self.n, refcheck=False)
        return self.cols


cdef class _Decoder:
    """Walks a pcap or pcapng byte stream and fills the packet table's arrays.

    feed() may be called with successive chunks of a stream (it returns how many bytes it
    consumed; the caller keeps the rest and prepends it to the next chunk) or once with a
    whole memory-mapped file.
    """
    # container state
    cdef public int format            # 0 unknown, 1 pcap, 2 pcapng
    cdef public bint big              # byte order of the file / current section
    cdef public int64_t frac_ns       # pcap: ns per timestamp fraction unit (1000 or 1)
    cdef public int rec_extra         # pcap: extra record header bytes (Kuznetzov)
    cdef public int64_t pcap_snaplen
    cdef public int64_t file_pos      # absolute offset of the next byte to consume
    cdef public int sections
    cdef public int section_base      # global index of the current section's first IDB
    cdef public object interfaces     # list of dicts, global order
    cdef public object skipped        # dict block name -> count
    # stop information for capture.py
    cdef public int stop_code
    cdef public int64_t stop_offset
    cdef public int64_t stop_a
    cdef public int64_t stop_b
    cdef public int64_t stop_block_type
    cdef public object clamps         # [(block offset, room, caplen)] of EPBs cut to their block
    cdef public int first_big         # byte order of the first section (-1 before it)
    cdef public int64_t payload_dropped
    cdef public int64_t payload_limit
    # the run of identical empty records not given rows yet (see _empty)
    cdef public int64_t run_count
    cdef public int64_t run_ts
    cdef public int64_t run_wire
    cdef public int run_iface

    # interface lookup (global index -> link type, units per second, offset ns)
    cdef int64_t* if_linktype
    cdef uint64_t* if_units
    cdef int64_t* if_offset_s
    cdef int64_t* if_snaplen
    cdef int64_t* if_packets
    cdef object _if_arrays
    cdef int n_if

    # outputs
    cdef public object cols
    cdef public SideTable icmp
    cdef public SideTable tcpopt
    cdef public SideTable sack
    cdef public SideTable payload_index
    cdef public object payload_buf
    cdef public object ip6_buf
    cdef public Py_ssize_t n, cap
    cdef public Py_ssize_t payload_used, payload_cap
    cdef public Py_ssize_t n_ip6, cap_ip6
    cdef object reassembler

    cdef int64_t* c_ts_ns
    cdef uint32_t* c_cap_len
    cdef uint32_t* c_wire_len
    cdef uint32_t* c_ip_src
    cdef uint32_t* c_ip_dst
    cdef uint32_t* c_payload_len
    cdef uint32_t* c_tcp_seq
    cdef uint32_t* c_tcp_ack
    cdef uint32_t* c_tcp_tsval
    cdef uint32_t* c_tcp_tsecr
    cdef uint16_t* c_iface
    cdef uint16_t* c_ip_frag
    cdef uint16_t* c_ip_id
    cdef uint16_t* c_sport
    cdef uint16_t* c_dport
    cdef uint16_t* c_tcp_win
    cdef uint16_t* c_tcp_flags
    cdef uint8_t* c_status
    cdef uint8_t* c_ip_version
    cdef uint8_t* c_ip_proto
    cdef uint8_t* c_ip_ttl
    cdef uint8_t* c_tcp_hdr_len
    cdef uint8_t* c_tcp_opts

    # IPv6 address interning: open addressing over indexes into ip6_buf
    cdef object ip6_slots_arr
    cdef int64_t* ip6_slots
    cdef Py_ssize_t ip6_nslots
    cdef Py_ssize_t ip6_recent[2]     # the two addresses interned last (src and dst)
    cdef uint8_t* ip6_base            # data of ip6_buf (re-read whenever it grows)
    cdef uint8_t* payload_base        # data of payload_buf (likewise)

    def __init__(self, Py_ssize_t expected_packets, int64_t payload_limit):
        self.format = 0
        self.big = False
        self.frac_ns = 1000
        self.rec_extra = 0
        self.pcap_snaplen = 0
        self.file_pos = 0
        self.sections = 0
        self.section_base = 0
        self.interfaces = []
        self.skipped = {}
        self.stop_code = C_STOP_NONE
        self.stop_offset = 0
        self.stop_a = 0
        self.stop_b = 0
        self.stop_block_type = 0
        self.clamps = []
        self.first_big = -1
        self.payload_dropped = 0
        self.payload_limit = payload_limit
        self.run_count = 0
        self.n_if = 0
        self._if_arrays = None
        self._grow_interfaces(4)
        self.n = 0
        self.cap = 0
        self.cols = None
        self._grow_rows(max(expected_packets, 1024))
        from cnfpost.model import ICMP_COLUMNS, PAYLOAD_COLUMNS, SACK_COLUMNS, TCPOPT_COLUMNS
        self.icmp = SideTable(ICMP_COLUMNS, ICMP_NAMES)
        self.tcpopt = SideTable(TCPOPT_COLUMNS, TCPOPT_NAMES)
        self.sack = SideTable(SACK_COLUMNS, SACK_NAMES)
        self.payload_index = SideTable(PAYLOAD_COLUMNS, PAYLOAD_NAMES)
        self.payload_used = 0
        self.payload_cap = 0
        self.payload_buf = np.zeros(0, dtype=np.uint8)
        self.payload_base = <uint8_t*>cnp.PyArray_DATA(self.payload_buf)
        self.n_ip6 = 0
        self.cap_ip6 = 0
        self.ip6_buf = np.zeros((0, 16), dtype=np.uint8)
        self.ip6_base = <uint8_t*>cnp.PyArray_DATA(self.ip6_buf)
        self.ip6_nslots = 0
        self.ip6_slots_arr = None
        self.ip6_recent[0] = -1
        self.ip6_recent[1] = -1
        from cnfpost.reassembly import Reassembler
        self.reassembler = Reassembler()

    # ---- growable outputs -----------------------------------------------------------
    cdef _grow_rows(self, Py_ssize_t need):
        # ndarray.resize reallocates in place (mremap for large blocks): no second copy.
        cdef Py_ssize_t new_cap = max(need, self.cap + self.cap // 2 + 1024)
        if self.cols is None:
            from cnfpost.model import PACKET_COLUMNS
            self.cols = {c.name: np.zeros(new_cap, dtype=c.dtype) for c in PACKET_COLUMNS}
        else:
            for arr in self.cols.values():
                arr.resize(new_cap, refcheck=False)
        self.cap = new_cap
        c = self.cols
        self.c_ts_ns = <int64_t*>cnp.PyArray_DATA(c["ts_ns"])
        self.c_cap_len = <uint32_t*>cnp.PyArray_DATA(c["cap_len"])
        self.c_wire_len = <uint32_t*>cnp.PyArray_DATA(c["wire_len"])
        self.c_ip_src = <uint32_t*>cnp.PyArray_DATA(c["ip_src"])
        self.c_ip_dst = <uint32_t*>cnp.PyArray_DATA(c["ip_dst"])
        self.c_payload_len = <uint32_t*>cnp.PyArray_DATA(c["payload_len"])
        self.c_tcp_seq = <uint32_t*>cnp.PyArray_DATA(c["tcp_seq"])
        self.c_tcp_ack = <uint32_t*>cnp.PyArray_DATA(c["tcp_ack"])
        self.c_tcp_tsval = <uint32_t*>cnp.PyArray_DATA(c["tcp_tsval"])
        self.c_tcp_tsecr = <uint32_t*>cnp.PyArray_DATA(c["tcp_tsecr"])
        self.c_iface = <uint16_t*>cnp.PyArray_DATA(c["iface"])
        self.c_ip_frag = <uint16_t*>cnp.PyArray_DATA(c["ip_frag"])
        self.c_ip_id = <uint16_t*>cnp.PyArray_DATA(c["ip_id"])
        self.c_sport = <uint16_t*>cnp.PyArray_DATA(c["sport"])
        self.c_dport = <uint16_t*>cnp.PyArray_DATA(c["dport"])
        self.c_tcp_win = <uint16_t*>cnp.PyArray_DATA(c["tcp_win"])
        self.c_tcp_flags = <uint16_t*>cnp.PyArray_DATA(c["tcp_flags"])
        self.c_status = <uint8_t*>cnp.PyArray_DATA(c["status"])
        self.c_ip_version = <uint8_t*>cnp.PyArray_DATA(c["ip_version"])
        self.c_ip_proto = <uint8_t*>cnp.PyArray_DATA(c["ip_proto"])
        self.c_ip_ttl = <uint8_t*>cnp.PyArray_DATA(c["ip_ttl"])
        self.c_tcp_hdr_len = <uint8_t*>cnp.PyArray_DATA(c["tcp_hdr_len"])
        self.c_tcp_opts = <uint8_t*>cnp.PyArray_DATA(c["tcp_opts"])

    cdef _grow_interfaces(self, int need):
        cdef int cap = max(need, 2 * self.n_if + 4)
        old = self._if_arrays
        arrays = [np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.uint64),
                  np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
                  np.zeros(cap, dtype=np.int64)]
        if old is not None:
            for a, b in zip(arrays, old):
                a[: self.n_if] = b[: self.n_if]
        self._if_arrays = arrays
        self.if_linktype = <int64_t*>cnp.PyArray_DATA(arrays[0])
        self.if_units = <uint64_t*>cnp.PyArray_DATA(arrays[1])
        self.if_offset_s = <int64_t*>cnp.PyArray_DATA(arrays[2])
        self.if_snaplen = <int64_t*>cnp.PyArray_DATA(arrays[3])
        self.if_packets = <int64_t*>cnp.PyArray_DATA(arrays[4])

    cdef int _add_interface(self, int section, int index, int64_t linktype, int64_t snaplen,
                            uint64_t units, int64_t offset_s, object name):
        if self.n_if >= len(self._if_arrays[0]):
            self._grow_interfaces(self.n_if + 1)
        self.if_linktype[self.n_if] = linktype
        self.if_units[self.n_if] = units
        self.if_offset_s[self.n_if] = offset_s
        self.if_snaplen[self.n_if] = snaplen
        self.if_packets[self.n_if] = 0
        self.interfaces.append({"section": section, "index": index, "link_type": linktype,
                                "snaplen": snaplen, "ts_resolution": units,
                                "ts_offset_s": offset_s, "name": name})
        self.n_if += 1
        return self.n_if - 1

    def interface_packets(self):
        return [int(self.if_packets[i]) for i in range(self.n_if)]

    cdef uint32_t _intern_ip6(self, Span s, Py_ssize_t off) except? 0xFFFFFFFF nogil:
        """Index of the 16-byte address at s[off:] in ip6_buf, adding it if new."""
        cdef uint64_t h = 1469598103934665603ULL
        cdef int k
        cdef Py_ssize_t slot, idx
        cdef uint8_t addr[16]
        cdef uint8_t* base
        for k in range(16):
            addr[k] = rd8(s, off + k)
        # Consecutive packets mostly carry the addresses seen just before: try those first.
        if self.n_ip6 > 0:
            base = self.ip6_base
            for k in range(2):
                if self.ip6_recent[k] >= 0 and memcmp(base + 16 * self.ip6_recent[k], addr, 16) == 0:
                    return <uint32_t>self.ip6_recent[k]
        for k in range(16):
            h = (h ^ addr[k]) * 1099511628211ULL
        if 2 * (self.n_ip6 + 1) > self.ip6_nslots:
            with gil:
                self._rehash_ip6()
        base = self.ip6_base
        slot = <Py_ssize_t>(h & <uint64_t>(self.ip6_nslots - 1))
        while True:
            idx = self.ip6_slots[slot]
            if idx < 0:
                break
            if memcmp(base + 16 * idx, addr, 16) == 0:
                self._remember_ip6(idx)
                return <uint32_t>idx
            slot = (slot + 1) & (self.ip6_nslots - 1)
        if self.n_ip6 >= self.cap_ip6:
            with gil:
                self.cap_ip6 = max(64, 2 * self.cap_ip6)
                self.ip6_buf.resize((self.cap_ip6, 16), refcheck=False)
                self.ip6_base = <uint8_t*>cnp.PyArray_DATA(self.ip6_buf)
            base = self.ip6_base
        memcpy(base + 16 * self.n_ip6, addr, 16)
        self.ip6_slots[slot] = self.n_ip6
        self.n_ip6 += 1
        self._remember_ip6(self.n_ip6 - 1)
        return <uint32_t>(self.n_ip6 - 1)

    cdef inline void _remember_ip6(self, Py_ssize_t idx) noexcept nogil:
        if self.ip6_recent[0] != idx:
            self.ip6_recent[1] = self.ip6_recent[0]
            self.ip6_recent[0] = idx

    cdef _rehash_ip6(self):
        cdef Py_ssize_t nslots = max(256, 4 * (self.n_ip6 + 1))
        cdef Py_ssize_t p2 = 1, i, slot
        cdef uint64_t h
        cdef int k
        cdef uint8_t* base
        while p2 < nslots:
            p2 <<= 1
        self.ip6_slots_arr = np.full(p2, -1, dtype=np.int64)
        self.ip6_slots = <int64_t*>cnp.PyArray_DATA(self.ip6_slots_arr)
        self.ip6_nslots = p2
        if self.n_ip6 == 0:
            return
        base = self.ip6_base
        for i in range(self.n_ip6):
            h = 1469598103934665603ULL
            for k in range(16):
                h = (h ^ base[16 * i + k]) * 1099511628211ULL
            slot = <Py_ssize_t>(h & <uint64_t>(p2 - 1))
            while self.ip6_slots[slot] >= 0:
                slot = (slot + 1) & (p2 - 1)
            self.ip6_slots[slot] = i

    cdef uint32_t _address(self, Span s, Py_ssize_t off, int version) except? 0xFFFFFFFF nogil:
        if version == 4:
            return be32(s, off)
        return self._intern_ip6(s, off)

    cdef int _add_icmp(self, Py_ssize_t row, Span s, Py_ssize_t off, Py_ssize_t l4_len,
                        int version) except -1 nogil:
        cdef Py_ssize_t i
        cdef uint8_t icmp_type = rd8(s, off), code = rd8(s, off + 1)
        cdef bint echo, error
        cdef IpInfo q
        cdef Span quoted
        cdef int k
        i = self.icmp.next_row()
        self.icmp.put(ICMP_ROW, i, row)
        self.icmp.put(ICMP_TYPE, i, icmp_type)
        self.icmp.put(ICMP_CODE, i, code)
        self.icmp.put(ICMP_VERSION, i, version)
        if version == 4:
            echo = icmp_type == 0 or icmp_type == 8
            error = icmp_type in (3, 4, 5, 11, 12)
        else:
            echo = icmp_type == 128 or icmp_type == 129
            error = icmp_type in (1, 2, 3, 4)
        self.icmp.put(ICMP_IDENT, i, be16(s, off + 4) if echo else 0)
        self.icmp.put(ICMP_SEQ, i, be16(s, off + 6) if echo else 0)
        for k in range(ICMP_Q_IP_VERSION, ICMP_Q_TCP_SEQ + 1):
            self.icmp.put(k, i, 0)
        if not error:
            return 0
        # The quoted packet: bounded by the ICMP payload and by what was captured.
        quoted = sub(s, off + 8, l4_len - 8)
        ip_walk(quoted, 0, version, quoted.n, True, &q)
        if q.version == 0 or (q.version == 4 and q.status != ST_OK and q.status != ST_IP_FRAGMENT):
            return 0
        self.icmp.put(ICMP_Q_IP_VERSION, i, q.version)
        self.icmp.put(ICMP_Q_PROTO, i, q.proto)
        self.icmp.put(ICMP_Q_SRC, i, self._address(quoted, q.src_off, q.version))
        self.icmp.put(ICMP_Q_DST, i, self._address(quoted, q.dst_off, q.version))
        if not q.l4_ok or not has(quoted, q.l4_off, 8):
            return 0
        if q.proto == IPPROTO_TCP or q.proto == IPPROTO_UDP:
            self.icmp.put(ICMP_Q_SPORT, i, be16(quoted, q.l4_off))
            self.icmp.put(ICMP_Q_DPORT, i, be16(quoted, q.l4_off + 2))
            if q.proto == IPPROTO_TCP:
                self.icmp.put(ICMP_Q_TCP_SEQ, i, be32(quoted, q.l4_off + 4))
        elif ((q.proto == IPPROTO_ICMP and q.version == 4 and rd8(quoted, q.l4_off) in (0, 8))
              or (q.proto == IPPROTO_ICMPV6 and q.version == 6
                  and rd8(quoted, q.l4_off) in (128, 129))):
            self.icmp.put(ICMP_Q_SPORT, i, be16(quoted, q.l4_off + 4))
            self.icmp.put(ICMP_Q_DPORT, i, be16(quoted, q.l4_off + 6))

    cdef int _add_tcpopt(self, Py_ssize_t row, uint16_t mss, uint8_t wscale) except -1 nogil:
        cdef Py_ssize_t i = self.tcpopt.next_row()
        self.tcpopt.put(TCPOPT_ROW, i, row)
        self.tcpopt.put(TCPOPT_MSS_COL, i, mss)
        self.tcpopt.put(TCPOPT_WSCALE_COL, i, wscale)

    cdef int _add_sack(self, Py_ssize_t row, uint32_t left, uint32_t right) except -1 nogil:
        cdef Py_ssize_t i = self.sack.next_row()
        self.sack.put(SACK_ROW, i, row)
        self.sack.put(SACK_LEFT, i, left)
        self.sack.put(SACK_RIGHT, i, right)

    cdef int _keep_payload(self, Py_ssize_t row, Span s, Py_ssize_t off,
                           Py_ssize_t k) except -1 nogil:
        cdef Py_ssize_t i
        if self.payload_used + k > self.payload_limit:
            self.payload_dropped += k
            return 0
        if self.payload_used + k > self.payload_cap:
            with gil:
                self.payload_cap = max(65536, 2 * self.payload_cap, self.payload_used + k)
                self.payload_buf.resize(self.payload_cap, refcheck=False)
                self.payload_base = <uint8_t*>cnp.PyArray_DATA(self.payload_buf)
        copy_bytes(s, off, k, self.payload_base + self.payload_used)
        i = self.payload_index.next_row()
        self.payload_index.put(PAYLOAD_ROW, i, row)
        self.payload_index.put(PAYLOAD_OFFSET, i, self.payload_used)
        self.payload_index.put(PAYLOAD_LENGTH, i, k)
        self.payload_used += k

    # ---- one frame ------------------------------------------------------------------
    cdef int _decode_frame(self, Py_ssize_t row, Span s, Py_ssize_t wire_len,
                            int64_t linktype, Row* r) except -1 nogil:
        cdef Py_ssize_t off = 0, wire_room
        cdef int version = 0
        cdef uint32_t ethertype, af
        cdef IpInfo ip
        if s.n == 0:
            r.status = ST_ZERO_CAPLEN
            return 0
        # -- link layer: find where IP starts and which version it announces
        if linktype == LINKTYPE_ETHERNET:
            if not has(s, 0, 14):
                r.status = ST_TRUNCATED_LINK
                return 0
            ethertype = be16(s, 12)
            off = 14
            while (ethertype == ETHERTYPE_8021Q or ethertype == ETHERTYPE_8021AD
                   or ethertype == ETHERTYPE_QINQ_OLD):
                if not has(s, off, 4):
                    r.status = ST_TRUNCATED_LINK
                    return 0
                ethertype = be16(s, off + 2)
                off += 4
            version = link_payload(s, ethertype, &off)
        elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
            if not has(s, 0, 4):
                r.status = ST_TRUNCATED_LINK
                return 0
            if linktype == LINKTYPE_LOOP:
                af = be32(s, 0)
            else:
                # the capturing host's byte order: whichever reading is a small number
                af = le32(s, 0)
                if af > 0xFFFF:
                    af = be32(s, 0)
            off = 4
            version = 4 if af == 2 else (6 if af == 24 or af == 28 or af == 30 else -1)
        elif (linktype == LINKTYPE_RAW or linktype == LINKTYPE_RAW_12
              or linktype == LINKTYPE_RAW_14):
            version = 0
        elif linktype == LINKTYPE_IPV4:
            version = 4
        elif linktype == LINKTYPE_IPV6:
            version = 6
        elif linktype == LINKTYPE_LINUX_SLL:
            if not has(s, 0, 16):
                r.status = ST_TRUNCATED_LINK
                return 0
            ethertype = be16(s, 14)
            off = 16
            version = link_payload(s, ethertype, &off)
        elif linktype == LINKTYPE_LINUX_SLL2:
            if not has(s, 0, 20):
                r.status = ST_TRUNCATED_LINK
                return 0
            ethertype = be16(s, 0)
            off = 20
            version = link_payload(s, ethertype, &off)
        else:
            r.status = ST_UNKNOWN_LINKTYPE
            return 0
        if version == LINK_TRUNCATED:
            r.status = ST_TRUNCATED_LINK
            return 0
        if version < 0:
            r.status = ST_NON_IP
            return 0
        # -- IP
        wire_room = wire_len - off
        ip_walk(s, off, version, wire_room, False, &ip)
        r.status = ip.status
        r.ip_version = ip.version
        if not ip.fields_ok:
            return 0
        r.ip_proto = ip.proto
        r.ip_ttl = ip.ttl
        r.ip_id = ip.ident
        r.ip_frag = ip.frag
        r.ip_src = self._address(s, ip.src_off, ip.version)
        r.ip_dst = self._address(s, ip.dst_off, ip.version)
        # Wireshark reassembles a fragment whose payload is all captured (IPv4: not empty).
        if (ip.frag_hdr and ip.frag_status == ST_OK and ip.ip_end <= s.n
                and (ip.version == 6 or ip.ip_end > ip.frag_off)):
            with gil:  # rare: the reassembly table is Python (cnfpost/reassembly.py)
                return self._fragment(row, s, off, &ip, r)
        if ip.fragment:
            r.payload_len = <uint32_t>ip.l4_len
            return 0
        if not ip.l4_ok:
            return 0
        # -- transport
        if ip.proto == IPPROTO_TCP:
            self._decode_tcp(row, s, ip.l4_off, ip.l4_len, r)
        elif ip.proto == IPPROTO_UDP:
            if not has(s, ip.l4_off, 8) or ip.l4_len < 8:
                set_status(&r.status, ST_TRUNCATED_L4)
            else:
                r.sport = be16(s, ip.l4_off)
                r.dport = be16(s, ip.l4_off + 2)
                r.payload_len = <uint32_t>(ip.l4_len - 8)
                if r.sport == 53 or r.dport == 53:
                    self._maybe_keep(row, s, ip.l4_off + 8, r.payload_len, KEEP_DNS, r)
        elif (ip.proto == IPPROTO_ICMP and ip.version == 4) or (
                ip.proto == IPPROTO_ICMPV6 and ip.version == 6):
            if not has(s, ip.l4_off, 8) or ip.l4_len < 8:
                set_status(&r.status, ST_TRUNCATED_L4)
            else:
                r.payload_len = <uint32_t>(ip.l4_len - 8)
                self._add_icmp(row, s, ip.l4_off, ip.l4_len, ip.version)
        else:
            r.payload_len = <uint32_t>ip.l4_len
        if r.status == ST_OK and ip.ip_end > s.n:
            r.status = ST_SNAPLEN_CUT

    cdef int _fragment(self, Py_ssize_t row, Span s, Py_ssize_t ip_off, IpInfo* ip,
                       Row* r) except -1:
        """A fragment to reassemble: its row stays a fragment; the frame that completes the
        datagram is dissected as the datagram (its IP header with the reassembled payload,
        as Wireshark dissects the reassembled packet on that frame)."""
        cdef Py_ssize_t length = ip.ip_end - ip.frag_off
        cdef Py_ssize_t hlen = ip.frag_off - ip_off if ip.version == 4 else 40
        cdef Py_ssize_t total
        cdef uint16_t ip_id, ip_frag
        cdef const uint8_t[::1] view
        cdef Span packet
        r.payload_len = <uint32_t>length
        r.status = ST_IP_FRAGMENT
        if ip.version == 4:
            key = (4, r.ip_src, r.ip_dst, ip.proto ^ ip.ident)
        else:
            r.ip_proto = ip.frag_nh
            key = (6, read_bytes(s, ip_off + 8, 16), read_bytes(s, ip_off + 24, 16),
                   ip.frag_ident)
        done = self.reassembler.add(
            key, row, ip.frag_offset, length,
            read_bytes(s, ip.frag_off, max(0, min(length, REASSEMBLY_PREFIX - ip.frag_offset))),
            ip.frag_more)
        for dropped in self.reassembler.take_dropped():
            if dropped == row:
                r.status = ST_IP_FRAGMENT_INCOMPLETE
            else:
                self.c_status[dropped] = ST_IP_FRAGMENT_INCOMPLETE
        if done is None:
            return 0
        data, total = done
        head = bytearray(read_bytes(s, ip_off, hlen))
        if ip.version == 4:
            total += hlen
            head[2:4] = (total if total <= 0xFFFF else 0).to_bytes(2, "big")  # 0: the wire says
            head[6:8] = b"\0\0"
        else:
            head[6] = ip.frag_nh
            head[4:6] = (total if total <= 0xFFFF else 0).to_bytes(2, "big")
            total += hlen
        whole = bytes(head) + data
        view = whole
        packet.p = &view[0]
        packet.n = view.shape[0]
        ip_id, ip_frag = r.ip_id, r.ip_frag
        r.status = ST_OK
        r.payload_len = 0
        self._decode_frame(row, packet, total, LINKTYPE_RAW, r)
        r.ip_id, r.ip_frag = ip_id, ip_frag
        if r.status == ST_SNAPLEN_CUT:  # only the datagram's first bytes are kept
            r.status = ST_OK

    cdef _mark_incomplete(self):
        for row in self.reassembler.take_incomplete():
            self.c_status[row] = ST_IP_FRAGMENT_INCOMPLETE

    cdef int _maybe_keep(self, Py_ssize_t row, Span s, Py_ssize_t start, Py_ssize_t plen,
                          Py_ssize_t keep, Row* r) except -1 nogil:
        """Keep the first `keep` captured payload bytes (status must end OK/SNAPLEN_CUT)."""
        cdef Py_ssize_t avail
        if r.status != ST_OK:
            return 0
        avail = min(plen, s.n - start)
        if avail <= 0:
            return 0
        self._keep_payload(row, s, start, min(avail, keep))

    cdef int _decode_tcp(self, Py_ssize_t row, Span s, Py_ssize_t off, Py_ssize_t l4_len,
                          Row* r) except -1 nogil:
        cdef Py_ssize_t hdr, cur, end, kind, olen, k, plen
        cdef uint16_t mss = 0
        cdef uint8_t wscale = 255
        cdef bint handshake
        cdef Span pay
        cdef bint handshake_opt = False
        if not has(s, off, 20):
            set_status(&r.status, ST_TRUNCATED_L4)
            return 0
        r.sport = be16(s, off)
        r.dport = be16(s, off + 2)
        r.tcp_seq = be32(s, off + 4)
        r.tcp_ack = be32(s, off + 8)
        hdr = (rd8(s, off + 12) >> 4) * 4
        r.tcp_hdr_len = <uint8_t>hdr
        r.tcp_flags = ((rd8(s, off + 12) & 1) << 8) | rd8(s, off + 13)
        r.tcp_win = be16(s, off + 14)
        if hdr < 20 or hdr > l4_len:
            set_status(&r.status, ST_BAD_TCP_HEADER_LEN)
            return 0
        plen = l4_len - hdr
        r.payload_len = <uint32_t>plen
        if not has(s, off, hdr):
            set_status(&r.status, ST_TRUNCATED_L4)
            return 0
        # options
        cur = off + 20
        end = off + hdr
        while cur < end:
            kind = rd8(s, cur)
            if kind == TCPOPT_EOL:
                break
            if kind == TCPOPT_NOP:
                cur += 1
                continue
            if cur + 1 >= end:
                set_status(&r.status, ST_BAD_TCP_OPTIONS)
                break
            olen = rd8(s, cur + 1)
            if olen < 2 or cur + olen > end:
                set_status(&r.status, ST_BAD_TCP_OPTIONS)
                break
            if kind == TCPOPT_MSS:
                if olen == 4:
                    r.tcp_opts |= OPT_MSS
                    mss = be16(s, cur + 2)
                    handshake_opt = True
                else:
                    set_status(&r.status, ST_BAD_TCP_OPTIONS)
            elif kind == TCPOPT_WSCALE:
                if olen == 3:
                    r.tcp_opts |= OPT_WSCALE
                    wscale = rd8(s, cur + 2)
                    handshake_opt = True
                else:
                    set_status(&r.status, ST_BAD_TCP_OPTIONS)
            elif kind == TCPOPT_SACK_PERM:
                if olen == 2:
                    r.tcp_opts |= OPT_SACK_PERM
                else:
                    set_status(&r.status, ST_BAD_TCP_OPTIONS)
            elif kind == TCPOPT_SACK:
                if (olen - 2) % 8 == 0 and 1 <= (olen - 2) // 8 <= 4:
                    r.tcp_opts |= OPT_SACK
                    for k in range((olen - 2) // 8):
                        self._add_sack(row, be32(s, cur + 2 + 8 * k), be32(s, cur + 6 + 8 * k))
                else:
                    set_status(&r.status, ST_BAD_TCP_OPTIONS)
            elif kind == TCPOPT_TIMESTAMP:
                if olen == 10:
                    r.tcp_opts |= OPT_TIMESTAMP
                    r.tcp_tsval = be32(s, cur + 2)
                    r.tcp_tsecr = be32(s, cur + 6)
                else:
                    set_status(&r.status, ST_BAD_TCP_OPTIONS)
            cur += olen
        if handshake_opt:
            self._add_tcpopt(row, mss, wscale)
        # the first bytes of TLS records and HTTP/1 heads, for later stages
        # (only bytes inside the IP payload count, never an Ethernet trailer)
        pay = sub(s, off + hdr, plen)
        if pay.n <= 0:
            return 0
        if has(pay, 0, 3) and 20 <= rd8(pay, 0) <= 23 and rd8(pay, 1) == 3 and rd8(pay, 2) <= 4:
            # A ChangeCipherSpec record then a handshake record is a client's second
            # ClientHello after a HelloRetryRequest (RFC 8446 D.4): keep it like a handshake.
            handshake = rd8(pay, 0) == 22 or (
                has(pay, 0, 9) and rd8(pay, 0) == 20 and be16(pay, 3) == 1
                and rd8(pay, 6) == 22 and rd8(pay, 7) == 3 and rd8(pay, 8) <= 4)
            self._maybe_keep(row, pay, 0, plen,
                             KEEP_TLS_HANDSHAKE if handshake else KEEP_TLS_OTHER, r)
        elif (starts_with(pay, 0, b"GET ", 4) or starts_with(pay, 0, b"POST ", 5)
                or starts_with(pay, 0, b"PUT ", 4) or starts_with(pay, 0, b"HEAD ", 5)
                or starts_with(pay, 0, b"DELETE ", 7) or starts_with(pay, 0, b"OPTIONS ", 8)
                or starts_with(pay, 0, b"PATCH ", 6) or starts_with(pay, 0, b"CONNECT ", 8)
                or starts_with(pay, 0, b"TRACE ", 6) or starts_with(pay, 0, b"HTTP/1.", 7)
                or starts_with(pay, 0, b"PRI * HTTP/2", 12)):
            self._maybe_keep(row, pay, 0, plen, KEEP_HTTP, r)

    cdef int _emit(self, Span frame, int64_t ts_ns, Py_ssize_t wire_len, int iface,
                   bint time_out_of_range) except -1 nogil:
        """Decode one frame into the next row. ts_ns is NO_TIME for a frame without a time
        stamp, and also when time_out_of_range (its time stamp does not fit int64 ns)."""
        cdef Row r
        cdef Py_ssize_t row
        cdef int64_t linktype
        if frame.n == 0:
            return self._empty(ts_ns, wire_len, iface)
        if self.run_count:
            self._flush_run()
        row = self.n
        r.ts_ns = ts_ns
        r.cap_len = <uint32_t>frame.n
        r.wire_len = <uint32_t>wire_len
        r.ip_src = r.ip_dst = r.payload_len = r.tcp_seq = r.tcp_ack = 0
        r.tcp_tsval = r.tcp_tsecr = 0
        r.ip_frag = r.ip_id = r.sport = r.dport = r.tcp_win = r.tcp_flags = 0
        r.status = r.ip_version = r.ip_proto = r.ip_ttl = r.tcp_hdr_len = r.tcp_opts = 0
        if iface < 0:
            r.iface = IFACE_NONE
            r.status = ST_UNKNOWN_LINKTYPE
        else:
            r.iface = <uint16_t>iface
            self.if_packets[iface] += 1
            self._decode_frame(row, frame, wire_len, self.if_linktype[iface], &r)
        if time_out_of_range and (r.status == ST_OK or r.status == ST_SNAPLEN_CUT):
            r.status = ST_TIME_OUT_OF_RANGE
        return self._store(&r)

    cdef int _store(self, Row* r) except -1 nogil:
        """Write r into the next row."""
        cdef Py_ssize_t row = self.n
        if row >= self.cap:
            with gil:
                self._grow_rows(row + 1)
        self.c_ts_ns[row] = r.ts_ns
        self.c_cap_len[row] = r.cap_len
        self.c_wire_len[row] = r.wire_len
        self.c_ip_src[row] = r.ip_src
        self.c_ip_dst[row] = r.ip_dst
        self.c_payload_len[row] = r.payload_len
        self.c_tcp_seq[row] = r.tcp_seq
        self.c_tcp_ack[row] = r.tcp_ack
        self.c_tcp_tsval[row] = r.tcp_tsval
        self.c_tcp_tsecr[row] = r.tcp_tsecr
        self.c_iface[row] = r.iface
        self.c_ip_frag[row] = r.ip_frag
        self.c_ip_id[row] = r.ip_id
        self.c_sport[row] = r.sport
        self.c_dport[row] = r.dport
        self.c_tcp_win[row] = r.tcp_win
        self.c_tcp_flags[row] = r.tcp_flags
        self.c_status[row] = r.status
        self.c_ip_version[row] = r.ip_version
        self.c_ip_proto[row] = r.ip_proto
        self.c_ip_ttl[row] = r.ip_ttl
        self.c_tcp_hdr_len[row] = r.tcp_hdr_len
        self.c_tcp_opts[row] = r.tcp_opts
        self.n += 1

    cdef int _empty(self, int64_t ts_ns, Py_ssize_t wire_len, int iface) except -1 nogil:
        """An empty record (caplen 0: ZERO_CAPLEN) joins the run of identical empty records
        before it. A run gets rows only when a record with bytes follows it, so the run that
        ends a capture (a tail of zeros: 16-byte records of nothing) costs no row at all;
        row numbers stay frame numbers - 1 (tshark shows every empty record as a frame)."""
        if self.run_count and (ts_ns != self.run_ts or wire_len != self.run_wire
                               or iface != self.run_iface):
            self._flush_run()
        if self.run_count == 0:
            self.run_ts = ts_ns
            self.run_wire = wire_len
            self.run_iface = iface
        self.run_count += 1
        if iface >= 0:
            self.if_packets[iface] += 1

    cdef int _flush_run(self) except -1 nogil:
        cdef Row r
        cdef int64_t k
        memset(&r, 0, sizeof(Row))
        r.ts_ns = self.run_ts
        r.wire_len = <uint32_t>self.run_wire
        r.iface = IFACE_NONE if self.run_iface < 0 else <uint16_t>self.run_iface
        r.status = ST_ZERO_CAPLEN
        for k in range(self.run_count):
            self._store(&r)
        self.run_count = 0

    # ---- containers -------------------------------------------------------------------
    cdef void _stop(self, int code, int64_t offset, int64_t a, int64_t b) noexcept nogil:
        self.stop_code = code
        self.stop_offset = offset
        self.stop_a = a
        self.stop_b = b

    def feed(self, const uint8_t[::1] data, bint final):
        """Decode what `data` holds; return the number of bytes consumed.

        Stops early (stop_code != 0) on a file-level problem; otherwise consumes every
        complete record, leaving a partial one for the next call (or, when final, reporting
        it as cut off).
        """
        cdef Span s
        cdef Py_ssize_t pos = 0
        s.p = &data[0] if data.shape[0] > 0 else NULL
        s.n = data.shape[0]
        if self.stop_code != C_STOP_NONE:
            return 0
        if self.format == 0:
            pos = self._start(s, final)
            if self.format == 0:
                return pos
        # The walk runs without the GIL; it takes it back only to grow its outputs and
        # for the rare Python parts (interfaces, skipped blocks, reassembly).
        with nogil:
            if self.format == 1:
                pos = self._pcap_records(s, pos, final)
            else:
                pos = self._pcapng_blocks(s, pos, final)
        self.file_pos += pos
        return pos

    cdef Py_ssize_t _start(self, Span s, bint final) except -1:
        """Recognise the format from the first bytes; 0 when more bytes are needed."""
        cdef uint32_t magic_le, magic_be
        if not has(s, 0, 4):
            if final:
                self._stop(C_STOP_BAD_MAGIC, 0, s.n, 0)
            return 0
        magic_le = le32(s, 0)
        magic_be = be32(s, 0)
        if magic_le == PCAPNG_SHB:
            self.format = 2
            return 0
        for magic, big in ((magic_le, False), (magic_be, True)):
            if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZNETZOV):
                if not has(s, 0, 24):
                    if final:
                        self._stop(C_STOP_SHORT_FILE_HEADER, 0, s.n, 0)
                    return 0
                self.format = 1
                self.big = big
                self.first_big = big
                self.frac_ns = 1 if magic == PCAP_MAGIC_NS else 1000
                self.rec_extra = 8 if magic == PCAP_MAGIC_KUZNETZOV else 0
                self.pcap_snaplen = rd32(s, 16, big)
                self.sections = 1
                self._add_interface(0, 0, rd32(s, 20, big) & 0xFFFF, self.pcap_snaplen,
                                    1000000000 if magic == PCAP_MAGIC_NS else 1000000, 0, None)
                return 24
        self._stop(C_STOP_BAD_MAGIC, 0, s.n, magic_be)
        return 0

    cdef Py_ssize_t _pcap_records(self, Span s, Py_ssize_t pos, bint final) except -1 nogil:
        cdef Py_ssize_t hdr = 16 + self.rec_extra, left
        cdef uint32_t caplen, origlen
        cdef int64_t limit = max(self.pcap_snaplen, MAX_PCAP_SNAPLEN)
        cdef int64_t ts
        cdef bint big = self.big
        while True:
            left = s.n - pos
            if left == 0:
                return pos
            if left < hdr:
                if final:
                    self._stop(C_STOP_RECORD_HEADER_CUT, self.file_pos + pos, hdr, left)
                return pos
            caplen = rd32(s, pos + 8, big)
            origlen = rd32(s, pos + 12, big)
            if caplen > limit:
                self._stop(C_STOP_RECORD_TOO_LONG, self.file_pos + pos, limit, caplen)
                return pos
            if caplen > left - hdr:
                if final:
                    self._stop(C_STOP_RECORD_CUT, self.file_pos + pos, caplen, left - hdr)
                return pos
            ts = <int64_t>rd32(s, pos, big) * 1000000000 + <int64_t>rd32(s, pos + 4, big) * self.frac_ns
            self._emit(sub(s, pos + hdr, caplen), ts, origlen, 0, False)
            pos += hdr + caplen

    cdef Py_ssize_t _pcapng_blocks(self, Span s, Py_ssize_t pos, bint final) except -1 nogil:
        cdef Py_ssize_t left, need
        cdef uint32_t btype, blen, trailer
        cdef bint big
        cdef int64_t at
        while True:
            left = s.n - pos
            at = self.file_pos + pos
            if left == 0:
                return pos
            if left < 12 and self.sections == 0:
                if final:  # the file ends before its byte order is known: not a capture
                    self._stop(C_STOP_BAD_BYTE_ORDER, at + 8, max(left - 8, 0), -1)
                return pos
            if left < 8 or (left < 12 and le32(s, pos) == PCAPNG_SHB and not final):
                if final:
                    self._stop(C_STOP_BLOCK_CUT, at, 8, left)
                return pos
            big = self.big
            btype = rd32(s, pos, big)
            if btype == PCAPNG_SHB and left >= 12:
                # A section's byte order comes from its byte-order magic.
                if le32(s, pos + 8) == PCAPNG_BYTE_ORDER_MAGIC:
                    big = False
                elif be32(s, pos + 8) == PCAPNG_BYTE_ORDER_MAGIC:
                    big = True
                else:
                    self._stop(C_STOP_BAD_BYTE_ORDER, at + 8 if self.sections == 0 else at,
                               0, be32(s, pos + 8))
                    return pos
                if self.first_big < 0:
                    self.first_big = big
            blen = rd32(s, pos + 4, big)
            if blen < 12 or blen % 4 != 0:
                self._stop(C_STOP_BLOCK_LENGTH_BAD, at, 0, blen)
                return pos
            if blen > left:
                if final or blen > MAX_STREAM_BLOCK:
                    self._stop(C_STOP_BLOCK_CUT, at, blen, left)
                return pos
            trailer = rd32(s, pos + blen - 4, big)
            if trailer != blen:
                self._stop(C_STOP_BLOCK_TRAILER, at, blen, trailer)
                return pos
            need = min_block_length(btype)
            if blen < need:
                self._stop(C_STOP_BLOCK_TOO_SHORT, at, need, blen)
                self.stop_block_type = btype
                return pos
            self._pcapng_block(sub(s, pos, blen), btype, big, at)
            pos += blen

    cdef int _pcapng_block(self, Span b, uint32_t btype, bint big, int64_t at) except -1 nogil:
        cdef Py_ssize_t caplen, origlen, room
        cdef int64_t local
        cdef int iface
        cdef uint64_t ticks
        cdef int64_t ts
        if btype == PCAPNG_SHB:
            self.big = big
            self.sections += 1
            self.section_base = self.n_if
            return 0
        if btype == PCAPNG_IDB:
            with gil:
                self._pcapng_idb(b, big)
            return 0
        if btype == PCAPNG_EPB or btype == PCAPNG_PB:
            local = rd32(b, 8, big) if btype == PCAPNG_EPB else rd16(b, 8, big)
            ticks = (<uint64_t>rd32(b, 12, big) << 32) | rd32(b, 16, big)
            caplen = rd32(b, 20, big)
            origlen = rd32(b, 24, big)
            room = b.n - 32
            if caplen > room:
                with gil:
                    self.clamps.append((at, room, caplen))
                caplen = room
            if local < self.n_if - self.section_base:
                iface = <int>(self.section_base + local)
                ts = ticks_to_ns(ticks, self.if_units[iface], self.if_offset_s[iface])
            else:
                iface = -1
                ts = ticks_to_ns(ticks, 1000000, 0)
            self._emit(sub(b, 28, caplen), ts, origlen, iface, ts == NO_TIME)
            return 0
        if btype == PCAPNG_SPB:
            origlen = rd32(b, 8, big)
            caplen = min(origlen, b.n - 16)
            iface = self.section_base if self.section_base < self.n_if else -1
            if iface >= 0 and self.if_snaplen[iface] > 0 and caplen > self.if_snaplen[iface]:
                caplen = self.if_snaplen[iface]
            self._emit(sub(b, 12, caplen), NO_TIME, origlen, iface, False)  # no time stamp
            return 0
        with gil:
            self._count_skipped(btype)
        if btype == PCAPNG_JOURNAL or btype == PCAPNG_CUSTOM or btype == PCAPNG_CUSTOM_NOCOPY:
            # Wireshark 4.0 shows these as frames of their own: a row keeps every later
            # frame number equal to Wireshark's (docs/decoding.md).
            self._record_frame(b, btype)
        return 0

    cdef int _count_skipped(self, uint32_t btype) except -1:
        name = skipped_block_name(btype)
        self.skipped[name] = self.skipped.get(name, 0) + 1

    cdef int _record_frame(self, Span b, uint32_t btype) except -1 nogil:
        cdef Span body = sub(b, 8, b.n - 12)
        cdef Span entry
        cdef Py_ssize_t end = body.n, k
        cdef uint64_t usec = 0, digit
        cdef int64_t ts = NO_TIME
        cdef Py_ssize_t start
        if btype != PCAPNG_JOURNAL:  # custom: the data after the Private Enterprise Number
            entry = sub(body, 4, body.n - 4)
            return self._emit(entry, NO_TIME, entry.n, -1, False)
        while end > 0 and rd8(body, end - 1) == 0:
            end -= 1
        entry = sub(body, 0, end)
        for k in range(entry.n):
            if starts_with(entry, k, b"__REALTIME_TIMESTAMP=", 21):
                # As Wireshark 4.0: no digits, or more than 64 bits of them, is no time.
                k += 21
                start = k
                while k < entry.n and 48 <= rd8(entry, k) <= 57:
                    digit = rd8(entry, k) - 48
                    if usec > (0xFFFFFFFFFFFFFFFFULL - digit) // 10:
                        start = k + 1  # overflow: no time
                        break
                    usec = usec * 10 + digit
                    k += 1
                if k > start:
                    ts = epoch_ns(<int64_t>(usec // 1000000), <int64_t>(usec % 1000000) * 1000, 0)
                    return self._emit(entry, ts, entry.n, -1, ts == NO_TIME)
                break
        return self._emit(entry, NO_TIME, entry.n, -1, False)

    cdef int _pcapng_idb(self, Span b, bint big) except -1:
        cdef int64_t linktype = rd16(b, 8, big)
        cdef int64_t snaplen = rd32(b, 12, big)
        cdef uint64_t units = 1000000
        cdef int64_t offset_s = 0
        cdef Py_ssize_t cur = 16, end = b.n - 4, olen
        cdef uint16_t code
        name = None
        while cur + 4 <= end:
            code = rd16(b, cur, big)
            olen = rd16(b, cur + 2, big)
            if code == 0:
                break
            if cur + 4 + olen > end:
                break
            if code == 9 and olen == 1:
                units = tsresol_units(rd8(b, cur + 4))
            elif code == 14 and olen == 8:
                offset_s = <int64_t>rd64(b, cur + 4, big)
            elif code == 2 and olen > 0:
                name = read_bytes(b, cur + 4, olen).split(b"\0", 1)[0].decode("utf-8", "replace")
            cur += 4 + ((olen + 3) & ~3)
        self._add_interface(self.sections - 1, self.n_if - self.section_base, linktype, snaplen,
                            units, offset_s, name)

    def finish(self):
        """Trim the arrays to what was filled and return the table's parts."""
        self._mark_incomplete()
        for arr in self.cols.values():
            arr.resize(self.n, refcheck=False)
        parts = {"columns": self.cols, "icmp": self.icmp.trimmed(),
                 "tcpopt": self.tcpopt.trimmed(), "sack": self.sack.trimmed(),
                 "payload_index": self.payload_index.trimmed()}
        self.ip6_buf.resize((self.n_ip6, 16), refcheck=False)
        parts["ip6_addresses"] = self.ip6_buf
        parts["payload_bytes"] = bytes(self.payload_buf[: self.payload_used])
        parts["empty_run"] = ((int(self.run_count), int(self.run_ts), int(self.run_wire),
                               IFACE_NONE if self.run_iface < 0 else int(self.run_iface))
                              if self.run_count else None)
        return parts
