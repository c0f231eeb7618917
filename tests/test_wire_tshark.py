"""The wire timeline against tshark 4.0: ClientHello/ServerHello and DNS frames.

tshark runs with ``tcp.reassemble_out_of_order:TRUE``: without it tshark 4.0 loses the
ServerHello of tls_retrans (the segment after the lost one arrives first, and the
retransmission that completes the stream is then not handed to TLS), while cnfpost reads
the retransmission's own bytes. With it, tshark reports each hello at the frame that
carries it, which is what cnfpost reports.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cnfpost.capture import decode_bytes, read_capture
from cnfpost.wire.dns import dns_messages, dns_transactions
from cnfpost.wire.tls import tls_handshakes
from tests import tlsbuild as tb

from .support import LAB_BUNDLES, require, require_tool

ROOT = Path(__file__).resolve().parents[1]
LAB = LAB_BUNDLES
BUNDLES = ("clean", "tls_retrans", "path_loss")
pytestmark = pytest.mark.tshark


def tshark_rows(path: Path, display_filter: str, fields: list[str],
                extra: list[str] = ()) -> list[list[str]]:
    cmd = [require_tool("tshark"), "-n", "-o", "tcp.reassemble_out_of_order:TRUE", *extra,
           "-r", str(path), "-Y", display_filter, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def tshark_hellos(path: Path) -> tuple[dict, dict]:
    """frame -> (sni, versions) for ClientHellos; frame -> (version, cipher) for ServerHellos."""
    ch, sh = {}, {}
    rows = tshark_rows(path, "tls.handshake.type == 1 or tls.handshake.type == 2",
                       ["frame.number", "tls.handshake.type",
                        "tls.handshake.extensions_server_name",
                        "tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite",
                        "tls.handshake.version"])
    for frame, types, sni, versions, suites, legacy in rows:
        types = types.split(",")
        if "1" in types:
            ch[int(frame)] = (sni or None, tuple(int(v, 16) for v in versions.split(",") if v))
        if "2" in types:
            sel = versions.split(",")[-1] if versions else legacy.split(",")[-1]
            sh[int(frame)] = (int(sel, 16), int(suites.split(",")[-1], 16))
    return ch, sh


def our_hellos(table) -> tuple[dict, dict]:
    ch, sh = {}, {}
    for h in tls_handshakes(table):
        for e in h.events:
            if e.kind == "client_hello":
                ch[e.frame] = (e.detail.sni, e.detail.supported_versions)
            elif e.kind in ("server_hello", "hello_retry_request"):
                sh[e.frame] = (e.detail.version, e.detail.cipher_suite)
    return ch, sh


@pytest.mark.parametrize("bundle", BUNDLES)
def test_lab_hellos_match_tshark(bundle):
    path = LAB / bundle / "capture.pcap"
    require(path.exists(), f"{path} is missing")
    table = read_capture(path)
    ours = our_hellos(table)
    theirs = tshark_hellos(path)
    assert ours == theirs
    assert len(ours[0]) == 5 and len(ours[1]) == 5      # five curl samples per bundle


@pytest.mark.parametrize("bundle", BUNDLES)
def test_lab_tls_done_is_the_decrypted_client_finished(bundle):
    """With the bundle's key log tshark decrypts TLS 1.3 and shows each Finished: the
    client's is the frame cnfpost calls ``done`` without keys."""
    path = LAB / bundle / "capture.pcap"
    keylog = LAB / bundle / "sslkeylog.txt"
    require(path.exists() and keylog.exists(), f"{path} or its key log is missing")
    rows = tshark_rows(path, "tls.handshake.type == 20", ["frame.number", "tcp.dstport"])
    assert rows == [], "without the key log the Finished must stay encrypted"
    cmd_rows = tshark_rows(path, "tls.handshake.type == 20", ["frame.number", "tcp.dstport"],
                           ["-o", f"tls.keylog_file:{keylog}"])
    client_finished = [int(f) for f, dport in cmd_rows if dport == "443"]
    handshakes = tls_handshakes(read_capture(path))
    assert [h.done.frame for h in handshakes] == client_finished
    assert all(h.version == tb.TLS1_3 and h.done.side == "client" for h in handshakes)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_lab_dns_matches_tshark(bundle):
    path = LAB / bundle / "capture.pcap"
    require(path.exists(), f"{path} is missing")
    table = read_capture(path)
    rows = tshark_rows(path, "dns", ["frame.number", "dns.id", "dns.flags.response",
                                     "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
                                     "dns.a", "dns.aaaa", "dns.response_to", "dns.time"])
    theirs = [(int(f), int(i, 16), r == "1", q.lower(), int(t), int(rc) if r == "1" else None,
               tuple(x for x in (a.split(",") + aaaa.split(",")) if x))
              for f, i, r, q, t, rc, a, aaaa, _to, _dt in rows]
    ours = [(m.frame, m.id, m.is_response, m.qname, m.qtype, m.rcode if m.is_response else None,
             m.answers) for m in dns_messages(table)]
    assert ours == theirs
    # Matching: tshark pairs each response with the first query sent (dns.response_to)
    # and measures dns.time from it, as rtt_ns does.
    matched = {int(f): (int(to), round(float(dt) * 1e9)) for f, *_, to, dt in rows if to}
    ours_matched = {tx.response_frames[0]: (tx.query_frames[0], tx.rtt_ns)
                    for tx in dns_transactions(table) if tx.answered}
    assert ours_matched == matched
    assert len(matched) >= 4


def test_built_tls12_and_hrr_hellos_match_tshark(tmp_path):
    from tests.test_wire_tls import tls12_full
    c = tb.Conversation()
    c.handshake()
    c.send("c", tb.client_hello())
    c.send("s", tb.server_hello(hrr=True) + tb.ccs())
    # The second ClientHello rides behind the client's CCS: the decoder keeps 512 bytes of
    # such a segment (docs/decoding.md), so its fields are read too.
    c.send("c", tb.ccs() + tb.client_hello(sni="second.test"))
    c.send("s", tb.server_hello(suite=0x1303) + tb.app_data(90))
    for name, data in (("tls12", tls12_full().pcap()), ("hrr", c.pcap())):
        path = tmp_path / f"{name}.pcap"
        path.write_bytes(data)
        ours, theirs = our_hellos(decode_bytes(data)), tshark_hellos(path)
        assert [sorted(d) for d in ours] == [sorted(d) for d in theirs], name
        for kind in (0, 1):
            for frame, fields in theirs[kind].items():
                assert ours[kind][frame] == fields, (name, frame)


# ----------------------------------------------------------------------------------------
# Loopback capture (tests/data/captures/record_wire.sh): TLS 1.2 full and resumed, TLS 1.3
# over IPv6, plain HTTP/1.1, a handshake refused with an alert.
# ----------------------------------------------------------------------------------------
LOOPBACK = ROOT / "tests" / "data" / "captures" / "wire_loopback.pcap"
LOOPBACK_KEYS = ROOT / "tests" / "data" / "captures" / "wire_loopback.keylog"


def test_loopback_hellos_match_tshark():
    ours, theirs = our_hellos(read_capture(LOOPBACK)), tshark_hellos(LOOPBACK)
    assert ours == theirs
    assert len(ours[0]) == 5 and len(ours[1]) == 4


def test_loopback_done_is_the_last_decrypted_finished():
    """TLS <= 1.2: the later Finished of the two; TLS 1.3: the client's."""
    rows = tshark_rows(LOOPBACK, "tls.handshake.type == 20",
                       ["frame.number", "tcp.stream", "tcp.srcport"],
                       ["-o", f"tls.keylog_file:{LOOPBACK_KEYS}"])
    last_finished = {}
    for frame, stream, _port in rows:
        last_finished[int(stream)] = int(frame)
    handshakes = [h for h in tls_handshakes(read_capture(LOOPBACK)) if h.done]
    assert [h.done.frame for h in handshakes] == [last_finished[k] for k in sorted(last_finished)]
    assert [(h.version, h.done.side) for h in handshakes] == [
        (tb.TLS1_2, "server"), (tb.TLS1_3, "client"), (tb.TLS1_2, "server"),
        (tb.TLS1_2, "client")]     # the last one is the resumed (abbreviated) handshake


def test_loopback_clear_alert_matches_tshark():
    rows = tshark_rows(LOOPBACK, "tls.alert_message.desc", ["frame.number",
                                                            "tls.alert_message.level",
                                                            "tls.alert_message.desc"])
    ours = [(e.frame, e.detail.level, e.detail.description)
            for h in tls_handshakes(read_capture(LOOPBACK)) for e in h.events
            if e.kind == "alert" and e.detail is not None]
    assert ours == [(int(f), int(lv), int(d)) for f, lv, d in rows] == [(87, 2, 70)]


def test_loopback_http_lines_match_tshark():
    """tshark without HTTP desegmentation reports each line at the segment that starts it,
    as cnfpost does (with it, tshark waits for the whole header block)."""
    from cnfpost.inputs.curl import redact_url
    from cnfpost.wire.http import http_lines
    rows = tshark_rows(LOOPBACK, "http.request or http.response",
                       ["frame.number", "http.request.method", "http.request.uri",
                        "http.response.code"],
                       ["-o", "http.desegment_headers:FALSE", "-o", "http.desegment_body:FALSE"])
    theirs = [(int(f), m or None, redact_url(u) if u else None, int(c) if c else None)
              for f, m, u, c in rows]
    ours = [(x.frame, x.method, x.target, x.status) for x in http_lines(read_capture(LOOPBACK))]
    assert ours == theirs
    assert ours[0][2] == "/index.html?token=<redacted>&x=<redacted>"
