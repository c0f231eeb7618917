"""The samples as a HAR 1.2 log (http://www.softwareishard.com/blog/har-12-spec/).

    from cnfpost.report.har import har
    log = har(report)                    # or report.to_har(); a dict, json-ready

One entry per curl sample. Timings come from the report's phases: blocked -1 (curl does
not measure queueing), dns, connect (the TCP handshake plus TLS: HAR 1.2 counts ``ssl``
inside ``connect``), ssl, send (request), wait (server), receive (download); a phase that
did not happen (a reused connection, plain HTTP) is -1 where HAR allows it, else 0. URLs
are the report's, already redacted. Custom fields (HAR allows names starting with ``_``):
``_cnfpost`` holds each phase's TCP events and the sample's failure.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

from ..inputs.curl import PHASE_IDS

__all__ = ["har", "har_timings", "HAR_VERSION"]

HAR_VERSION = "1.2"


def _measured(s: Mapping, pid: str) -> float | None:
    p = (s.get("phases") or {}).get(pid) or {}
    if p.get("status") != "measured" or p.get("duration_ms") is None:
        return None
    return float(p["duration_ms"])


def har_timings(s: Mapping) -> dict:
    """The HAR timings object of one sample (ms, 3 decimals)."""
    dns, tcp, tls = (_measured(s, p) for p in ("dns", "tcp", "tls"))
    connect = None if tcp is None and tls is None else (tcp or 0.0) + (tls or 0.0)

    def opt(v):
        return -1 if v is None else round(v, 3)

    return {"blocked": -1, "dns": opt(dns), "connect": opt(connect), "ssl": opt(tls),
            "send": round(_measured(s, "request") or 0.0, 3),
            "wait": round(_measured(s, "server") or 0.0, 3),
            "receive": round(_measured(s, "download") or 0.0, 3)}


def _started(s: Mapping) -> str:
    start = ((s.get("phases") or {}).get("dns") or {}).get("capture_start_epoch_s")
    if start is None:
        start = s.get("wall_start_s")
    when = _dt.datetime.fromtimestamp(float(start or 0.0), tz=_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _http_version(v) -> str:
    if not v or v == "0":
        return ""
    return f"HTTP/{v}"


def _entry(s: Mapping) -> dict:
    timings = har_timings(s)
    total = sum(v for k, v in timings.items() if k != "ssl" and v != -1)
    size = s.get("size_download")
    version = _http_version(s.get("http_version"))
    match = s.get("match") or {}
    entry = {
        "startedDateTime": _started(s),
        "time": round(total, 3),
        "request": {"method": s.get("method") or "GET", "url": s.get("url") or "",
                    "httpVersion": version, "cookies": [], "headers": [], "queryString": [],
                    "headersSize": -1,
                    "bodySize": s.get("size_upload") if s.get("size_upload") else 0},
        "response": {"status": int(s.get("response_code") or 0), "statusText": "",
                     "httpVersion": version, "cookies": [], "headers": [],
                     "content": {"size": int(size or 0), "mimeType": ""},
                     "redirectURL": s.get("redirect_url") or "",
                     "headersSize": int(s["size_header"]) if s.get("size_header") else -1,
                     "bodySize": -1 if size is None else int(size)},
        "cache": {},
        "timings": timings,
        "_cnfpost": {
            "sample": s.get("index"),
            "ok": s.get("ok", True),
            "failure": s.get("failure"),
            "tcp_stream": match.get("stream"),
            "phases": {pid: {k: ((s.get("phases") or {}).get(pid) or {}).get(k)
                             for k in ("status", "start_ms", "duration_ms", "tcp")}
                       for pid in PHASE_IDS},
        },
    }
    if s.get("remote_ip"):
        entry["serverIPAddress"] = str(s["remote_ip"])
    if s.get("local_port"):
        entry["connection"] = str(s["local_port"])
    return entry


def har(report: Mapping) -> dict:
    tool = report.get("tool") or {}
    return {"log": {"version": HAR_VERSION,
                    "creator": {"name": tool.get("name", "cnfpost"),
                                "version": str(tool.get("version", ""))},
                    "entries": [_entry(s) for s in report.get("samples") or []]}}
