"""analyze() end to end: the diagnosis of runs with known faults, partial inputs,
determinism, and evidence that Wireshark selects exactly."""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import pytest

import cnfpost
from cnfpost.errors import InputError
from tests.support import LAB_BUNDLES, require_tool

BAD = ("warning", "critical")


@lru_cache(maxsize=None)
def report(name: str):
    return cnfpost.analyze(LAB_BUNDLES / name)


def codes(r, severities=BAD) -> set[str]:
    return {f["code"] for f in r["findings"] if f["severity"] in severities}


def test_clean_run_has_no_warning_or_critical_finding():
    r = report("clean")
    assert codes(r) == set()
    # nothing injected: every layer and the whole run are excellent, not merely good
    assert r["overall"]["grade"] == "excellent"
    assert {k: v["quality"] for k, v in r["layered_analysis"].items()} == {
        "l3": "excellent", "l4": "excellent", "l7": "excellent"}
    assert r["correlations"]["l3_l4"]["verdict"] == "tcp_healthy"
    assert r["mtr_tcp_correlation"]["verdict"] == "consistent"


def test_tls_drop_is_diagnosed_in_the_tls_phase():
    """Injected: the first ServerHello segment of every connection dropped on the path,
    10 ms each way. Expected: retransmissions inflated TLS in every sample; ping and mtr
    saw a clean path, so it is not a path-loss diagnosis."""
    r = report("tls_retrans")
    assert {"l4l7.events_in_phase", "l4.retransmissions"} <= codes(r)
    assert "l3.path_loss" not in codes(r)
    inflated = next(f for f in r["findings"] if f["code"] == "l4l7.events_in_phase")
    assert inflated["numbers"]["phase"] == "tls"
    assert inflated["numbers"]["samples"] == [1, 2, 3, 4, 5]
    # the injected 2 x 10 ms round trip, plus less than a millisecond of host time
    assert 20.0 <= inflated["numbers"]["expected_ms"] < 21.0
    assert inflated["numbers"]["median_ms"] == 57.142     # curl's TLS median (test_layers)
    # every evidence frame is a retransmission/dup-ACK/gap inside the TLS phase of a sample
    tls_frames = set()
    for s in r["samples"]:
        tcp = s["phases"]["tls"]["tcp"]
        for frames in tcp["event_frames"].values():
            tls_frames.update(frames)
    assert set(inflated["evidence"]["frames"]) <= tls_frames
    assert r["correlations"]["l4_l7"]["inflated_phases"] == ["tls"]
    assert "TLS" in r["overall"]["summary"]


def test_path_loss_is_diagnosed_as_the_path_causing_tcp_trouble():
    """Injected: 5 % loss each way on the r1-r2 link (hop 2 to 3)."""
    r = report("path_loss")
    assert {"l3.path_loss", "l3l4.path_causes_tcp", "l4.retransmissions"} <= codes(r)
    loss = next(f for f in r["findings"] if f["code"] == "l3.path_loss")
    assert loss["numbers"]["from_hop"] == 3
    assert r["correlations"]["l3_l4"]["verdict"] == "path_causes_tcp"
    assert "l3l4.endpoint_tcp" not in codes(r)


def test_capture_alone_gives_l4_and_wire_phases():
    r = cnfpost.analyze(LAB_BUNDLES / "tls_retrans" / "capture.pcap")
    assert r["samples_source"] == "wire"
    assert len(r["samples"]) == 5
    # five ServerHello segments dropped out of about forty data segments: poor
    assert r["layered_analysis"]["l4"]["quality"] == "poor"
    assert set(r["inputs"]["missing"]) == {"timings", "mtr", "ping"}
    assert "l4l7.events_in_phase" in codes(r)


def test_text_inputs_alone_give_l3_and_l7_with_l4_unknown():
    d = LAB_BUNDLES / "path_loss"
    r = cnfpost.analyze(timings=d / "timings.jsonl", mtr=d / "mtr.json", ping=d / "ping.txt")
    assert r["layered_analysis"]["l4"]["quality"] == "unknown"
    assert r["layered_analysis"]["l3"]["quality"] == "poor"
    # every request completed, quickly: the loss shows at L3, not in the L7 grade
    assert r["layered_analysis"]["l7"]["quality"] == "excellent"
    assert 1.0 < r["layered_analysis"]["l7"]["metrics"]["ttfb_median_ms"] < 100.0
    assert "capture" in r["inputs"]["missing"]
    assert all(s["match"] is None for s in r["samples"])
    assert "l3.path_loss" in codes(r)


def test_no_input_at_all_is_an_input_error():
    with pytest.raises(InputError, match="expected at least one input"):
        cnfpost.analyze()


def test_wire_check_agrees_with_curl_within_a_millisecond():
    for s in report("tls_retrans")["samples"]:
        assert len(s["wire_check"]) == 5
        # curl sees each milestone after it crossed the wire, within a millisecond
        assert all(0.0 < c["difference_ms"] < 1.0 for c in s["wire_check"])
        assert s["tls_version"] == "TLS 1.3"
        assert {d["qname"] for d in s["dns_wire"]} == {"origin.lab.test"}


def test_same_inputs_same_bytes(tmp_path):
    first = report("path_loss").to_json()
    copy = tmp_path / "run"
    shutil.copytree(LAB_BUNDLES / "path_loss", copy)
    assert cnfpost.analyze(copy).to_json() == first


def test_python_api_mapping_access():
    r = report("clean")
    assert set(r["layered_analysis"]) == {"l3", "l4", "l7"}
    assert set(r["tcp_http_correlation"]) == {"dns", "tcp", "tls", "request", "server", "download"}
    assert r.to_dict()["schema_version"] == r["schema_version"]


def test_config_overrides_a_threshold(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[thresholds]\n"find.retrans_pct.warning" = 50.0\n"find.retrans_pct.critical" = 60.0\n')
    r = cnfpost.analyze(LAB_BUNDLES / "tls_retrans", config=cfg)
    f = next(f for f in r["findings"] if f["code"] == "l4.retransmissions")
    assert f["severity"] == "info"


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["clean", "tls_retrans", "path_loss"])
def test_every_display_filter_selects_exactly_the_evidence(name):
    require_tool("tshark")
    pcap = LAB_BUNDLES / name / "capture.pcap"
    for f in report(name)["findings"]:
        ev = f["evidence"]
        if ev["source"] != "capture" or not ev["display_filter"]:
            continue
        out = subprocess.run(["tshark", "-r", str(pcap), "-Y", ev["display_filter"], "-T",
                              "fields", "-e", "frame.number"], capture_output=True, text=True,
                             check=True).stdout.split()
        assert len(out) == ev["frame_count"], f["code"]
        assert [int(x) for x in out][:len(ev["frames"])] == ev["frames"], f["code"]


# --- the project's own lab recordings (sample_data/, with the injector's logs) ----------

SAMPLES = LAB_BUNDLES.parents[2] / "sample_data"


def test_slow_server_is_the_application_not_the_network():
    """Injected: a backend that waits 400 ms before answering, on a clean path."""
    r = cnfpost.analyze(SAMPLES / "slow_server")
    assert {"l7.slow_server", "l4l7.application"} <= codes(r)
    assert not codes(r) & {"l4.retransmissions", "l3.path_loss", "l4l7.events_in_phase"}
    app = next(f for f in r["findings"] if f["code"] == "l4l7.application")
    assert app["numbers"]["phase"] == "server" and app["numbers"]["median_ms"] > 400


def test_tls_drop_evidence_names_the_segments_the_injector_dropped():
    """The lab's bridge logs each ServerHello segment it dropped; the sender's
    retransmission of that segment (same ports, same sequence number) must be among the
    evidence frames of the TLS-phase finding."""
    import json

    import numpy as np

    from cnfpost.capture import read_capture

    bundle = SAMPLES / "tls_drop"
    drops = [json.loads(line) for line in (bundle / "lab" / "injector.jsonl").read_text().splitlines()]
    drops = [d for d in drops if d.get("action") == "drop"]
    assert drops, "the recording holds no drop"
    r = cnfpost.analyze(bundle)
    finding = next(f for f in r["findings"] if f["code"] == "l4l7.events_in_phase")
    assert finding["numbers"]["phase"] == "tls"
    table = read_capture(bundle / "capture.pcap")
    evidence = set(finding["evidence"]["frames"])
    for d in drops:
        same = np.flatnonzero((table["sport"] == d["sport"]) & (table["dport"] == d["dport"])
                              & (table["tcp_seq"] == d["seq"]))
        assert {int(i) + 1 for i in same} & evidence, d


def test_loss_seen_only_in_the_capture_names_the_unanswered_echo_requests():
    """Without ping or mtr, loss comes from the capture's ICMP echoes: the evidence is the
    requests that got no reply, as capture frames (not an input file)."""
    r = cnfpost.analyze(SAMPLES / "path_loss" / "capture.pcap")
    loss = next(f for f in r["findings"] if f["code"] == "l3.path_loss")
    ev = loss["evidence"]
    assert ev["source"] == "capture" and ev["frame_count"] == loss["numbers"]["probes_lost"] > 0
    assert ev["display_filter"].startswith("frame.number")
