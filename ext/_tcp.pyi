"""Stub of the compiled TCP analysis kernel (ext/_tcp.pyx); used only by cnfpost/tcp.py."""
import numpy as np
import numpy.typing as npt

STATUS_OK: int
STATUS_BAD_INDEX: int
STATUS_NO_MEMORY: int
NO_STREAM: int
STAT_NAMES: tuple[str, ...]
STEP_COLUMNS: tuple[str, str, str]

def _analyze(
    ip_version: npt.NDArray[np.uint8],
    ip_proto: npt.NDArray[np.uint8],
    tcp_hdr_len: npt.NDArray[np.uint8],
    status_in: npt.NDArray[np.uint8],
    ip_src: npt.NDArray[np.uint32],
    ip_dst: npt.NDArray[np.uint32],
    sport: npt.NDArray[np.uint16],
    dport: npt.NDArray[np.uint16],
    ts_ns: npt.NDArray[np.int64],
    seq_raw: npt.NDArray[np.uint32],
    ack_raw: npt.NDArray[np.uint32],
    tcp_flags: npt.NDArray[np.uint16],
    tcp_win: npt.NDArray[np.uint16],
    seglen_in: npt.NDArray[np.uint32],
    tcp_opts: npt.NDArray[np.uint8],
    tsval: npt.NDArray[np.uint32],
    tsecr: npt.NDArray[np.uint32],
    opt_sack: int,
    opt_timestamp: int,
    status_bad_tcp_header: int,
    status_cut_in_l4: int,
    per_frame: bool,
    quoted_row: npt.NDArray[np.int64],
    quoted_src: npt.NDArray[np.uint64],
    quoted_dst: npt.NDArray[np.uint64],
    wscale_row: npt.NDArray[np.int64],
    wscale_val: npt.NDArray[np.int8],
    sack_row: npt.NDArray[np.int64],
    sack_val: npt.NDArray[np.uint32],
    out_stream: npt.NDArray[np.uint32],
    out_bif: npt.NDArray[np.uint32],
    out_flags: npt.NDArray[np.uint16],
    out_acks_frame: npt.NDArray[np.uint32],
    out_direction: npt.NDArray[np.uint8],
) -> tuple[int, npt.NDArray[np.int64],
           tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]],
           tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint16], npt.NDArray[np.uint32]],
           tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]]:
    """Fill the per-frame outputs from the packet table's columns and the sparse inputs;
    (status, per-conversation counts one row per stream, (TSval/TSecr RTT rows, the rows whose
    TSval each echoes),
    (duplicate-ACK rows, numbers, frames), (relative-number steps (k, 3): row, STEP_COLUMNS
    index, base or shift; exceptions (k, 4): row, tcp.seq, tcp.ack, tcp.window_size))."""
