"""ICMP echo request/reply pairs found in the capture, with RTTs on the capture's clock.

ping's own output says how long each probe took but not when on the capture's clock
(unless ``-D`` was used, and then on the host clock at print time). The echoes in the
capture have both, so this is what lets the correlation engine compare latency while a
download ran with latency at rest.

Pairing: a reply matches the request with the same IP version, ICMP identifier and
sequence number, sent from the reply's destination to the reply's source (the key ping
itself uses; on Linux ping sockets the kernel rewrites the identifier, the capture sees the
rewritten one both ways). Walked in time order:

- a second copy of a request before its reply (a capture on ``any`` sees a packet on
  several interfaces) is a duplicate request, not a new probe;
- a second reply to an answered request is a duplicate reply (ping's ``DUP!``);
- a reply whose request is not in the capture is an orphan (capture started late);
- a request answered by an ICMP Time Exceeded quoting it is a traceroute-style probe
  (mtr sends ICMP echoes with rising TTLs): it is neither an RTT to the target nor loss,
  and is counted apart. Other quoted errors (unreachable) leave the request unanswered:
  ping counts those as lost too.

ICMP echoes are a handful per second, so the walk is a plain loop over the echo rows of
the ICMP side table; the results are NumPy arrays, sorted by request time, so that the
correlation engine can slice them by time with ``searchsorted``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .inputs import RttStats, rtt_stats
from .model import PacketTable

__all__ = ["CaptureEcho", "EchoRun", "pair_echoes"]

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
TIME_EXCEEDED = {4: 11, 6: 3}


@dataclass(frozen=True)
class EchoRun:
    """The echoes of one ping process: one (version, source, target, identifier)."""

    version: int
    source: str
    target: str
    ident: int
    sent: int
    answered: int
    stats: RttStats

    @property
    def loss_pct(self) -> float | None:
        return None if not self.sent else 100.0 * (self.sent - self.answered) / self.sent

    def to_dict(self) -> dict:
        return {"version": self.version, "source": self.source, "target": self.target,
                "ident": self.ident, "sent": self.sent, "answered": self.answered,
                "loss_pct": None if self.loss_pct is None else round(self.loss_pct, 3),
                "stats": self.stats.to_dict()}


@dataclass(frozen=True, eq=False)
class CaptureEcho:
    """Answered and unanswered echo requests of a capture, sorted by request time."""

    request_frame: np.ndarray     # uint32, Wireshark frame numbers
    reply_frame: np.ndarray       # uint32
    request_ts_ns: np.ndarray     # int64
    rtt_ms: np.ndarray            # float64
    seq: np.ndarray               # uint16
    run: np.ndarray               # int32, index into runs
    unanswered_frame: np.ndarray  # uint32
    unanswered_ts_ns: np.ndarray  # int64
    runs: tuple[EchoRun, ...]
    duplicate_requests: int
    duplicate_replies: int
    orphan_replies: int
    ttl_expired: int              # traceroute-style probes, left out of the statistics
    error_replies: int            # requests answered by another ICMP error (unreachable...)

    @property
    def sent(self) -> int:
        return int(self.request_frame.shape[0] + self.unanswered_frame.shape[0])

    @property
    def answered(self) -> int:
        return int(self.request_frame.shape[0])

    @property
    def loss_pct(self) -> float | None:
        return None if not self.sent else 100.0 * (self.sent - self.answered) / self.sent

    @property
    def stats(self) -> RttStats:
        """RTT statistics over every answered echo; jitter in request order per run."""
        overall = rtt_stats(self.rtt_ms.tolist())
        jitters = [r.stats.jitter_ms for r in self.runs if r.stats.jitter_ms is not None]
        weights = [r.stats.count - 1 for r in self.runs if r.stats.jitter_ms is not None]
        jitter = None
        if jitters:
            # consecutive differences only make sense inside one ping run
            jitter = sum(j * w for j, w in zip(jitters, weights)) / sum(weights)
        return RttStats(overall.count, overall.min_ms, overall.avg_ms, overall.max_ms,
                        overall.mdev_ms, jitter)

    def rtts_between(self, start_ns: int, end_ns: int) -> np.ndarray:
        """RTTs (ms) of the echoes whose request was sent in [start_ns, end_ns)."""
        lo, hi = np.searchsorted(self.request_ts_ns, [start_ns, end_ns], side="left")
        return self.rtt_ms[lo:hi]

    def to_dict(self) -> dict:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "loss_pct": None if self.loss_pct is None else round(self.loss_pct, 3),
            "stats": self.stats.to_dict(),
            "duplicate_requests": self.duplicate_requests,
            "duplicate_replies": self.duplicate_replies,
            "orphan_replies": self.orphan_replies,
            "ttl_expired": self.ttl_expired,
            "error_replies": self.error_replies,
            "unanswered_frames": self.unanswered_frame.tolist(),
            "runs": [r.to_dict() for r in self.runs],
        }


def _quoted_echo_errors(table: PacketTable) -> dict[tuple, int]:
    """Key of each echo request quoted by an ICMP error -> the error's type."""
    icmp = table.icmp
    qv = icmp["q_ip_version"]
    quotes_echo = ((qv == 4) & (icmp["q_proto"] == 1)) | ((qv == 6) & (icmp["q_proto"] == 58))
    picked = np.flatnonzero(quotes_echo)
    out: dict[tuple, int] = {}
    for key_and_type in zip(*(icmp[name][picked].tolist() for name in
                              ("q_ip_version", "q_src", "q_dst", "q_sport", "q_dport", "type"))):
        out.setdefault(key_and_type[:5], key_and_type[5])
    return out


def pair_echoes(table: PacketTable) -> CaptureEcho:
    """Match the capture's echo replies to their requests (see the module docstring)."""
    icmp = table.icmp
    rows = icmp["row"].astype(np.int64)
    types, versions = icmp["type"], icmp["version"]
    is_request = ((versions == 4) & (types == 8)) | ((versions == 6) & (types == 128))
    is_reply = ((versions == 4) & (types == 0)) | ((versions == 6) & (types == 129))
    echo = np.flatnonzero(is_request | is_reply)
    ts = table["ts_ns"]
    # Time order, not file order: captures on several interfaces may interleave.
    echo = echo[np.argsort(ts[rows[echo]], kind="stable")]
    errors = _quoted_echo_errors(table)

    pending: dict[tuple, tuple[int, int]] = {}     # key -> (row, ts) of the unanswered request
    answered_keys: set[tuple] = set()
    pairs: list[tuple[int, int, int, int, tuple]] = []  # req row, reply row, req ts, rtt ns, key
    dup_req = dup_rep = orphans = 0
    # Plain lists for the loop: indexing NumPy scalars one by one is what would be slow.
    echo_rows = rows[echo]
    columns = zip(echo_rows.tolist(), is_request[echo].tolist(),
                  table["ip_version"][echo_rows].tolist(), table["ip_src"][echo_rows].tolist(),
                  table["ip_dst"][echo_rows].tolist(), icmp["ident"][echo].tolist(),
                  icmp["seq"][echo].tolist(), ts[echo_rows].tolist())
    for row, request, version, src, dst, ident, seq, when in columns:
        if request:
            key = (version, src, dst, ident, seq)
            if key in pending:
                dup_req += 1
                continue
            answered_keys.discard(key)  # a wrapped sequence number starts over
            pending[key] = (row, when)
        else:
            key = (version, dst, src, ident, seq)
            if key in pending:
                req_row, req_ts = pending.pop(key)
                pairs.append((req_row, row, req_ts, when - req_ts, key))
                answered_keys.add(key)
            elif key in answered_keys:
                dup_rep += 1
            else:
                orphans += 1

    ttl_expired = error_replies = 0
    unanswered: list[tuple[int, int, tuple]] = []
    for key, (row, req_ts) in pending.items():
        kind = errors.get(key)
        if kind == TIME_EXCEEDED[key[0]]:
            ttl_expired += 1
            continue
        if kind is not None:
            error_replies += 1
        unanswered.append((row, req_ts, key))

    run_index: dict[tuple, int] = {}
    for _, _, _, _, key in sorted(pairs, key=lambda p: p[2]):
        run_index.setdefault(key[:4], len(run_index))
    for _, _, key in sorted(unanswered, key=lambda u: u[1]):
        run_index.setdefault(key[:4], len(run_index))
    pairs.sort(key=lambda p: p[2])
    unanswered.sort(key=lambda u: u[1])

    rtt = np.array([p[3] / 1e6 for p in pairs], dtype=np.float64)
    run_of_pair = np.array([run_index[p[4][:4]] for p in pairs], dtype=np.int32)
    runs = []
    for key, index in run_index.items():
        version, src, dst, ident = key
        mine = rtt[run_of_pair == index]
        lost = sum(1 for u in unanswered if u[2][:4] == key)
        runs.append(EchoRun(version, table.format_address(version, src),
                            table.format_address(version, dst), ident,
                            sent=int(mine.shape[0]) + lost, answered=int(mine.shape[0]),
                            stats=rtt_stats(mine.tolist())))

    return CaptureEcho(
        request_frame=np.array([p[0] + 1 for p in pairs], dtype=np.uint32),
        reply_frame=np.array([p[1] + 1 for p in pairs], dtype=np.uint32),
        request_ts_ns=np.array([p[2] for p in pairs], dtype=np.int64),
        rtt_ms=rtt,
        seq=np.array([p[4][4] for p in pairs], dtype=np.uint16),
        run=run_of_pair,
        unanswered_frame=np.array([u[0] + 1 for u in unanswered], dtype=np.uint32),
        unanswered_ts_ns=np.array([u[1] for u in unanswered], dtype=np.int64),
        runs=tuple(runs),
        duplicate_requests=dup_req,
        duplicate_replies=dup_rep,
        orphan_replies=orphans,
        ttl_expired=ttl_expired,
        error_replies=error_replies,
    )

