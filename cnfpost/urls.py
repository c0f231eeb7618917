"""URLs made safe to put in a report (curl's timings and the HTTP request lines on the
wire both carry them)."""
from __future__ import annotations

import re

__all__ = ["redact_url"]

_REDACTED = "<redacted>"


def redact_url(url: str) -> str:
    """A URL safe to put in a report.

    - userinfo (``user:password@``) is dropped;
    - every query value is replaced by ``<redacted>``, keys are kept (``?X-Amz-Signature=
      <redacted>`` still tells a reader it was a presigned URL, without the signature);
      a bare item without ``=`` may itself be a token and is replaced whole;
    - path parameters (``;jsessionid=...``) and the fragment (OAuth puts tokens there)
      are replaced by ``<redacted>``.
    """
    base, has_fragment, _ = url.partition("#")
    base, has_query, query = base.partition("?")
    # The authority runs from after "//" (or the start, for a schemeless URL) to the next "/".
    sep = base.find("//")
    auth_start = sep + 2 if sep >= 0 else 0
    auth_end = base.find("/", auth_start)
    if auth_end < 0:
        auth_end = len(base)
    authority = base[auth_start:auth_end].rpartition("@")[2]
    path = re.sub(r";[^/]*", ";" + _REDACTED, base[auth_end:])
    out = base[:auth_start] + authority + path
    if has_query:
        out += "?" + "&".join(_redact_query_item(item) for item in query.split("&"))
    if has_fragment:
        out += "#" + _REDACTED
    return out


def _redact_query_item(item: str) -> str:
    if not item:
        return item
    key, eq, _ = item.partition("=")
    return f"{key}={_REDACTED}" if eq else _REDACTED
