"""What limited each download, in the manner of tcptrace and RFC 6349: the time between the
server's data segments arriving at the probe, each gap put in one class.

- ``receiver``: the client's window was (nearly) shut: its last advertisement before the
  gap was under two segments, or Wireshark flagged the segment window-full or zero-window;
- ``loss``: the gap ends in a repair after loss, or falls while a hole was open (from the
  first segment that overtook the missing bytes to their repair: cnfpost/repairs.py);
- ``sender``: the server paused with the window open and nothing lost, for 1.5 round trips
  or more (the application or its disk did not keep up);
- ``rtt``: everything else: ACK clocking, slow start and the path's rate.

The shares of the download time in each class say what set its pace; ``limited_by`` is the
largest of receiver, loss and sender when it holds at least ``LIMIT_SHARE`` of the time,
else ``rtt``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import TcpAnalysisFlag, TcpFlag
from .repairs import KINDS, Repairs
from .tcp import TcpAnalysis

__all__ = ["DownloadLimits", "download_limits", "LIMIT_SHARE", "CLASSES"]

A = TcpAnalysisFlag
ACK = int(TcpFlag.ACK)
CLASSES = ("receiver", "loss", "sender", "rtt")
LIMIT_SHARE = 0.3          # a class that holds 30 % of the time is what limited it
SENDER_PAUSE_RTTS = 1.5
SENDER_PAUSE_MIN_NS = 5_000_000   # at LAN speed a 1.5-RTT pause is a scheduler hiccup


@dataclass(frozen=True)
class DownloadLimits:
    duration_ms: float
    shares_pct: dict            # class -> share of the download time
    limited_by: str

    def to_dict(self) -> dict:
        return {"duration_ms": round(self.duration_ms, 3),
                "shares_pct": {k: round(v, 1) for k, v in self.shares_pct.items()},
                "limited_by": self.limited_by}


def download_limits(tcp: TcpAnalysis, repairs: Repairs | None, stream: int, lo_ns: int,
                    hi_ns: int, rtt_ms: float | None,
                    unseen: dict[int, int] | None = None) -> DownloadLimits | None:
    """``unseen``: frame -> server packets lost just before it (facts.unseen_before): a gap
    that ends there was waiting on a loss, not on the sender."""
    rows = tcp.stream_rows(stream)
    ts = tcp.ts_ns[rows]
    rows = rows[(ts >= lo_ns) & (ts <= hi_ns)]
    data = rows[(tcp.client_dir[rows] == 0) & (tcp.payload_len[rows] > 0)]
    if data.shape[0] < 2:
        return None
    t = tcp.ts_ns[data].astype(np.int64)
    gaps = np.diff(t).astype(np.float64)
    total = float(gaps.sum())
    if total <= 0:
        return None
    cls = np.full(gaps.shape[0], CLASSES.index("rtt"), dtype=np.int8)
    # the sender's pauses first, then loss and the receiver override (they explain a pause)
    if rtt_ms:
        pause = max(SENDER_PAUSE_RTTS * rtt_ms * 1e6, SENDER_PAUSE_MIN_NS)
        cls[gaps >= pause] = CLASSES.index("sender")
    if repairs is not None:
        sel = (repairs.stream == stream) & (repairs.kind == KINDS.index("repair")) & ~repairs.up
        for r, delay in zip(repairs.rows[sel].tolist(), repairs.delay_ns[sel].tolist()):
            end = int(tcp.ts_ns[r])
            start = end - max(int(delay), 0)
            cls[(t[1:] > start) & (t[:-1] < end)] = CLASSES.index("loss")
    if unseen:
        after_loss = np.array([int(r) + 1 in unseen for r in data[1:]], dtype=bool)
        cls[after_loss] = CLASSES.index("loss")
    cls[_receiver_limited(tcp, rows, data, stream)] = CLASSES.index("receiver")
    shares = {name: 100.0 * float(gaps[cls == k].sum()) / total for k, name in enumerate(CLASSES)}
    top = max(("receiver", "loss", "sender"), key=lambda k: shares[k])
    limited_by = top if shares[top] >= 100.0 * LIMIT_SHARE else "rtt"
    return DownloadLimits(total / 1e6, shares, limited_by)


def _receiver_limited(tcp: TcpAnalysis, rows: np.ndarray, data: np.ndarray, stream: int
                      ) -> np.ndarray:
    """Per gap between consecutive server data segments: was the client's window nearly
    shut at some point of it (its smallest advertisement during the gap, or the one in
    force when the gap began), or did Wireshark flag the segment that opened it?"""
    flagged = (tcp.columns["tcp_analysis"][data[:-1]]
               & int(A.WINDOW_FULL | A.ZERO_WINDOW | A.ZERO_WINDOW_PROBE)) != 0
    client = rows[(tcp.client_dir[rows] == 1) & ((tcp.tcp_flags[rows] & ACK) != 0)]
    if client.shape[0] == 0:
        return flagged
    mss = int(tcp.flows["mss_client"][stream] or 1460)
    window = tcp.at("tcp_win_scaled", client).astype(np.int64)
    smallest = np.full(data.shape[0] - 1, np.iinfo(np.int64).max, dtype=np.int64)
    gap = np.searchsorted(data, client, side="right") - 1      # the gap each ACK falls in
    inside = (gap >= 0) & (gap < smallest.shape[0])
    np.minimum.at(smallest, gap[inside], window[inside])
    before = np.searchsorted(client, data[:-1], side="left") - 1
    in_force = np.where(before >= 0, window[np.maximum(before, 0)], np.iinfo(np.int64).max)
    return flagged | (np.minimum(smallest, in_force) < 2 * mss)
