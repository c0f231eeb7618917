"""Stub of the compiled TCP analysis kernel (ext/_tcp.pyx); used only by cnfpost/tcp.py."""
import numpy as np
import numpy.typing as npt

STATUS_OK: int
STATUS_BAD_INDEX: int
STATUS_NO_MEMORY: int

def _analyze_sorted(
    order: npt.NDArray[np.int64],
    group_start: npt.NDArray[np.int64],
    ts_ns: npt.NDArray[np.int64],
    seq_raw: npt.NDArray[np.uint32],
    ack_raw: npt.NDArray[np.uint32],
    tcp_flags: npt.NDArray[np.uint16],
    tcp_win: npt.NDArray[np.uint16],
    seglen_in: npt.NDArray[np.uint32],
    analyze: npt.NDArray[np.uint8],
    direction: npt.NDArray[np.uint8],
    wscale: npt.NDArray[np.int8],
    has_sack: npt.NDArray[np.uint8],
    sack_sum: npt.NDArray[np.uint32],
    has_ts: npt.NDArray[np.uint8],
    tsval: npt.NDArray[np.uint32],
    tsecr: npt.NDArray[np.uint32],
    out_conv: npt.NDArray[np.int64],
    out_seq: npt.NDArray[np.uint32],
    out_ack: npt.NDArray[np.uint32],
    out_win: npt.NDArray[np.uint32],
    out_bif: npt.NDArray[np.uint32],
    out_flags: npt.NDArray[np.uint16],
    out_dupnum: npt.NDArray[np.uint16],
    out_dupframe: npt.NDArray[np.uint32],
    out_acks_frame: npt.NDArray[np.uint32],
    out_ts_rtt: npt.NDArray[np.int64],
    conv_first_row: npt.NDArray[np.int64],
    conv_irtt_ns: npt.NDArray[np.int64],
    conv_win_scale: npt.NDArray[np.int8],
) -> tuple[int, int]:
    """Fill the per-row and per-conversation outputs; (status, conversations)."""
