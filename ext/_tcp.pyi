"""Stub of the compiled TCP analysis kernel (ext/_tcp.pyx); used only by cnfpost/tcp.py."""
import numpy as np
import numpy.typing as npt

STATUS_OK: int
STATUS_BAD_INDEX: int
STATUS_NO_MEMORY: int
NO_STREAM: int
STAT_NAMES: tuple[str, ...]

def _analyze(
    key_lo: npt.NDArray[np.uint64],
    key_hi: npt.NDArray[np.uint64],
    is_tcp: npt.NDArray[np.uint8],
    analyze: npt.NDArray[np.uint8],
    show: npt.NDArray[np.uint8],
    stream_only: npt.NDArray[np.uint8],
    ts_ns: npt.NDArray[np.int64],
    seq_raw: npt.NDArray[np.uint32],
    ack_raw: npt.NDArray[np.uint32],
    tcp_flags: npt.NDArray[np.uint16],
    tcp_win: npt.NDArray[np.uint16],
    seglen_in: npt.NDArray[np.uint32],
    direction: npt.NDArray[np.uint8],
    wscale: npt.NDArray[np.int8],
    has_sack: npt.NDArray[np.uint8],
    sack_sum: npt.NDArray[np.uint32],
    has_ts: npt.NDArray[np.uint8],
    tsval: npt.NDArray[np.uint32],
    tsecr: npt.NDArray[np.uint32],
    out_stream: npt.NDArray[np.uint32],
    out_seq: npt.NDArray[np.uint32],
    out_ack: npt.NDArray[np.uint32],
    out_win: npt.NDArray[np.uint32],
    out_bif: npt.NDArray[np.uint32],
    out_flags: npt.NDArray[np.uint16],
    out_dupnum: npt.NDArray[np.uint16],
    out_dupframe: npt.NDArray[np.uint32],
    out_acks_frame: npt.NDArray[np.uint32],
    out_ts_rtt: npt.NDArray[np.int64],
) -> tuple[int, npt.NDArray[np.int64]]:
    """Fill the per-frame outputs; (status, per-conversation counts, one row per stream)."""
