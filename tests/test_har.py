"""The HAR export: HAR 1.2's structure, and timings equal to the report's phases."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnfpost
from tests.support import LAB_BUNDLES, require_module, run_cli

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_NV = {"type": "array", "items": {"type": "object", "required": ["name", "value"]}}
# HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): the required fields and types.
HAR_12 = {
    "type": "object", "required": ["log"],
    "properties": {"log": {
        "type": "object", "required": ["version", "creator", "entries"],
        "properties": {
            "version": {"const": "1.2"},
            "creator": {"type": "object", "required": ["name", "version"],
                        "properties": {"name": _STR, "version": _STR}},
            "entries": {"type": "array", "items": {
                "type": "object",
                "required": ["startedDateTime", "time", "request", "response", "cache",
                             "timings"],
                "patternProperties": {"^_": {}},
                "properties": {
                    "startedDateTime": {"type": "string",
                                        "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"
                                                   r"(Z|[+-]\d\d:\d\d)$"},
                    "time": {"type": "number", "minimum": 0},
                    "request": {"type": "object", "required": [
                        "method", "url", "httpVersion", "cookies", "headers", "queryString",
                        "headersSize", "bodySize"],
                        "properties": {"method": _STR, "url": _STR, "httpVersion": _STR,
                                       "cookies": {"type": "array"}, "headers": _NV,
                                       "queryString": _NV, "headersSize": _INT,
                                       "bodySize": _INT}},
                    "response": {"type": "object", "required": [
                        "status", "statusText", "httpVersion", "cookies", "headers", "content",
                        "redirectURL", "headersSize", "bodySize"],
                        "properties": {"status": _INT, "statusText": _STR, "httpVersion": _STR,
                                       "headers": _NV, "redirectURL": _STR,
                                       "content": {"type": "object",
                                                   "required": ["size", "mimeType"]},
                                       "headersSize": _INT, "bodySize": _INT}},
                    "cache": {"type": "object"},
                    "timings": {"type": "object", "required": ["send", "wait", "receive"],
                                "properties": {
                                    **{k: {"type": "number", "minimum": -1}
                                       for k in ("blocked", "dns", "connect", "ssl")},
                                    **{k: {"type": "number", "minimum": 0}
                                       for k in ("send", "wait", "receive")}}},
                    "serverIPAddress": _STR, "connection": _STR,
                }}},
        }}},
}


def measured(sample: dict, pid: str):
    p = sample["phases"][pid]
    return p["duration_ms"] if p["status"] == "measured" else None


@pytest.mark.parametrize("bundle", [SAMPLES / "tls_drop", SAMPLES / "slow_server",
                                    LAB_BUNDLES / "tls_retrans", LAB_BUNDLES / "path_loss"],
                         ids=lambda p: p.name)
def test_har_is_har_12_and_its_timings_are_the_phases(bundle, tmp_path, capsys):
    jsonschema = require_module("jsonschema")
    out = tmp_path / "run.har"
    code, _, err = run_cli(["analyze", str(bundle), "-q", "--har", str(out)], capsys)
    assert code == 0, err
    log = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(log, HAR_12)
    report = cnfpost.analyze(bundle)
    entries = log["log"]["entries"]
    assert len(entries) == len(report["samples"]) > 0
    for e, s in zip(entries, report["samples"]):
        t = e["timings"]
        dns, tcp, tls = (measured(s, p) for p in ("dns", "tcp", "tls"))
        assert (t["dns"] == -1) if dns is None else abs(t["dns"] - dns) <= 1
        assert (t["ssl"] == -1) if tls is None else abs(t["ssl"] - tls) <= 1
        if tcp is None and tls is None:
            assert t["connect"] == -1
        else:  # HAR 1.2: connect includes ssl
            assert abs(t["connect"] - (tcp or 0) - (tls or 0)) <= 1
        for key, pid in (("send", "request"), ("wait", "server"), ("receive", "download")):
            assert abs(t[key] - (measured(s, pid) or 0)) <= 1, key
        parts = sum(v for k, v in t.items() if k != "ssl" and v != -1)
        assert abs(e["time"] - parts) <= 1
        if s.get("total_ms") is not None and s.get("ok", True):
            assert abs(e["time"] - s["total_ms"]) <= 1
        assert e["request"]["url"] == s["url"]          # redacted as in the JSON
        assert e["_cnfpost"]["failure"] == s["failure"]
        assert e["_cnfpost"]["phases"]["tls"]["tcp"] == s["phases"]["tls"]["tcp"]


def test_redacted_url_stays_redacted():
    report = cnfpost.analyze(SAMPLES / "tls_drop")
    har = report.to_har()
    assert [e["request"]["url"] for e in har["log"]["entries"]] == \
        [s["url"] for s in report["samples"]]
