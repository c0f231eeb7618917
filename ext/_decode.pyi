"""Stub of the compiled capture decoder (ext/_decode.pyx); used only by cnfpost/capture.py."""
import numpy as np
import numpy.typing as npt

# Why the container walk stopped before the end of its input (capture.py words them).
STOP_NONE: int
STOP_BAD_MAGIC: int
STOP_SHORT_FILE_HEADER: int
STOP_RECORD_HEADER_CUT: int
STOP_RECORD_TOO_LONG: int
STOP_RECORD_CUT: int
STOP_BLOCK_LENGTH_BAD: int
STOP_BLOCK_CUT: int
STOP_BAD_BYTE_ORDER: int
STOP_BLOCK_TRAILER: int
STOP_BLOCK_TOO_SHORT: int
BLOCK_ARTICLE_NAMES: dict[int, str]
ICMP_NAMES: tuple[str, ...]
TCPOPT_NAMES: tuple[str, ...]
SACK_NAMES: tuple[str, ...]
PAYLOAD_NAMES: tuple[str, ...]

class SideTable:
    """One side table of cnfpost/model.py (ICMP, TCP options, SACK, kept payloads)."""

    cols: dict[str, npt.NDArray[np.unsignedinteger]]
    spec: tuple[tuple[str, str], ...]
    n: int
    def __init__(self, spec: tuple[tuple[str, str], ...], names: tuple[str, ...]) -> None: ...
    def trimmed(self) -> dict[str, npt.NDArray[np.unsignedinteger]]: ...

class _Decoder:
    """Walks a pcap or pcapng byte stream into the packet table's arrays; feed() releases
    the GIL while it decodes."""

    format: int            # 0 not known yet, 1 pcap, 2 pcapng
    big: bool
    frac_ns: int
    rec_extra: int
    pcap_snaplen: int
    file_pos: int
    sections: int
    section_base: int
    interfaces: list[dict[str, object]]
    skipped: dict[str, int]
    stop_code: int
    stop_offset: int
    stop_a: int
    stop_b: int
    stop_block_type: int
    clamps: list[tuple[int, int, int]]
    first_big: int
    payload_dropped: int
    payload_limit: int
    run_count: int         # identical empty records not given rows yet
    run_ts: int
    run_wire: int
    run_iface: int
    cols: dict[str, npt.NDArray[np.generic]]
    icmp: SideTable
    tcpopt: SideTable
    sack: SideTable
    payload_index: SideTable
    payload_buf: npt.NDArray[np.uint8]
    ip6_buf: npt.NDArray[np.uint8]
    n: int
    cap: int
    payload_used: int
    payload_cap: int
    n_ip6: int
    cap_ip6: int
    def __init__(self, expected_packets: int, payload_limit: int) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview, final: bool) -> int:
        """Decode what data holds; the number of bytes consumed (a partial record is left
        for the next call unless final)."""
    def interface_packets(self) -> list[int]: ...
    def finish(self) -> dict[str, object]:
        """Trim the arrays; the table's parts (columns, side tables, ip6_addresses,
        payload_bytes)."""
