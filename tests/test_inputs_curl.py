"""curl -w '%{json}' timings: real outputs (lab bundles, loopback recordings), other versions
(hand-written from formats.md), the traps (reuse, plain http, failures, redirects, HTTP/3),
URL redaction and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from cnfpost.errors import InputError
from cnfpost.inputs.curl import (
    PHASE_IDS, attach_wallclock, compute_phases, load_curl, parse_curl, parse_wallclock,
    redact_url,
)

DATA = Path(__file__).parent / "data" / "inputs"
LAB = DATA / "lab"
CURL = DATA / "curl"
LAB_LINES = (LAB / "clean" / "timings.jsonl").read_text().splitlines()


def _raw(path: Path, n: int = 0) -> dict:
    return json.loads(path.read_text().splitlines()[n])


def _measured_sum(sample) -> float:
    return sum(p.duration_ms for p in sample.phases.values() if p.status == "measured")


# ---------------------------------------------------------------------------------------
# Real outputs
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["clean", "path_loss", "tls_retrans"])
def test_lab_bundles_give_five_complete_samples(scenario):
    samples, problems = load_curl(LAB / scenario / "timings.jsonl")
    assert problems == []
    assert len(samples) == 5
    for sample in samples:
        assert sample.ok and sample.failed_phase is None
        assert sample.http_version == "2" and sample.scheme == "https"
        assert sample.remote_ip == "198.18.3.2" and sample.remote_port == 443
        assert sample.local_ip == "198.18.1.2" and 1024 < sample.local_port < 65536
        assert [p.status for p in sample.phases.values()] == ["measured"] * 6
        # The phases tile the request: each starts where the previous ended.
        assert sample.phases["dns"].start_ms == 0
        for before, after in zip(PHASE_IDS, PHASE_IDS[1:]):
            b, a = sample.phases[before], sample.phases[after]
            assert a.start_ms == pytest.approx(b.start_ms + b.duration_ms, abs=1e-9)
        assert _measured_sum(sample) == pytest.approx(sample.total_ms, abs=1e-6)
        assert sum(p.share_pct for p in sample.phases.values()) == pytest.approx(100.0)


def test_phase_formulas_on_a_real_sample():
    raw = _raw(LAB / "tls_retrans" / "timings.jsonl")
    (sample, *_), _ = load_curl(LAB / "tls_retrans" / "timings.jsonl")
    t = {k[5:]: v * 1000 for k, v in raw.items() if k.startswith("time_")}
    ph = {pid: sample.phases[pid].duration_ms for pid in PHASE_IDS}
    assert ph["dns"] == pytest.approx(t["namelookup"])
    assert ph["tcp"] == pytest.approx(t["connect"] - t["namelookup"])
    assert ph["tls"] == pytest.approx(t["appconnect"] - t["connect"])
    assert ph["request"] == pytest.approx(t["pretransfer"] - max(t["connect"], t["appconnect"]))
    assert ph["server"] == pytest.approx(t["starttransfer"] - t["pretransfer"])
    assert ph["download"] == pytest.approx(t["total"] - t["starttransfer"])
    assert sample.ttfb_ms == pytest.approx(t["starttransfer"])
    assert sample.local_port == raw["local_port"] == 38444


def test_wallclock_side_file_is_read_when_present(tmp_path):
    samples, problems = load_curl(LAB / "clean" / "timings.jsonl")
    assert problems == []
    assert samples[0].wall_start_s == pytest.approx(1795627684.414272278)
    assert samples[4].wall_end_s == pytest.approx(1795627686.571493682)
    assert all(s.wall_start_s < s.wall_end_s for s in samples)
    # Without the side file the samples simply have no wall clock.
    lonely = tmp_path / "t.jsonl"
    lonely.write_bytes((LAB / "clean" / "timings.jsonl").read_bytes())
    samples, problems = load_curl(lonely)
    assert problems == [] and samples[0].wall_start_s is None


def test_wallclock_count_mismatch_is_a_warning_not_a_guess(tmp_path):
    (tmp_path / "timings.jsonl").write_text("\n".join(LAB_LINES[:3]) + "\n")
    (tmp_path / "timings_wallclock.jsonl").write_text(
        (LAB / "clean" / "timings_wallclock.jsonl").read_text())
    samples, problems = load_curl(tmp_path / "timings.jsonl")
    assert len(samples) == 3 and all(s.wall_start_s is None for s in samples)
    assert len(problems) == 1
    assert str(problems[0]).endswith(
        "timings_wallclock.jsonl: expected one line per curl run (3 runs), got 5 lines; "
        "wall-clock times not used")


def test_one_run_with_two_urls_shares_one_wallclock_line():
    samples, _ = load_curl(CURL / "reuse.jsonl")
    clocks, problems = parse_wallclock(
        '{"sample":1,"url":"http://127.0.0.1:18080/ok","wall_start":10.5,"wall_end":10.6,'
        '"curl_exit":0}\n')
    assert problems == []
    attached, problems = attach_wallclock(samples, clocks)
    assert problems == []
    assert [(s.urlnum, s.wall_start_s) for s in attached] == [(0, 10.5), (1, 10.5)]


def test_broken_wallclock_file_never_costs_the_timings(tmp_path):
    (tmp_path / "timings.jsonl").write_text(LAB_LINES[0] + "\n")
    (tmp_path / "timings_wallclock.jsonl").write_bytes(b"\x00\x01garbage")
    samples, problems = load_curl(tmp_path / "timings.jsonl")
    assert len(samples) == 1 and samples[0].wall_start_s is None
    assert len(problems) == 1 and "timings_wallclock.jsonl: byte 0:" in str(problems[0])


# ---------------------------------------------------------------------------------------
# The traps
# ---------------------------------------------------------------------------------------

def test_plain_http_has_no_tls_phase_and_no_negative_duration():
    (first, reused), problems = load_curl(CURL / "reuse.jsonl")
    assert problems == []
    assert first.scheme == "http" and first.phases["tls"].status == "absent"
    assert first.phases["tls"].duration_ms is None
    raw = _raw(CURL / "reuse.jsonl")
    # request = pretransfer - max(connect, appconnect): appconnect is 0 for http://
    assert first.phases["request"].duration_ms == pytest.approx(
        (raw["time_pretransfer"] - raw["time_connect"]) * 1000)
    assert _measured_sum(first) == pytest.approx(first.total_ms, abs=1e-6)


def test_reused_connection_reports_reused_not_zero():
    (first, reused), _ = load_curl(CURL / "reuse.jsonl")
    raw = _raw(CURL / "reuse.jsonl", 1)
    assert raw["num_connects"] == 0 and raw["time_connect"] == 0
    for pid in ("dns", "tcp", "tls"):
        assert reused.phases[pid].status == "reused"
        assert reused.phases[pid].duration_ms is None
        assert reused.phases[pid].to_dict()["duration_ms"] is None
    assert reused.phases["request"].start_ms == 0
    assert reused.phases["request"].duration_ms == pytest.approx(raw["time_pretransfer"] * 1000)
    assert reused.local_port == first.local_port  # same TCP stream in the capture
    assert reused.ok and "connection reused" in reused.notes[0]


def test_reused_tls_connection_has_appconnect_zero_yet_no_negative_tls():
    (first, reused), problems = load_curl(CURL / "https_reuse.jsonl")
    assert problems == []
    raw = _raw(CURL / "https_reuse.jsonl")
    assert first.phases["tls"].status == "measured"
    assert first.phases["tls"].duration_ms == pytest.approx(
        (raw["time_appconnect"] - raw["time_connect"]) * 1000)
    assert _raw(CURL / "https_reuse.jsonl", 1)["time_appconnect"] == 0
    assert [reused.phases[p].status for p in PHASE_IDS] == ["reused"] * 3 + ["measured"] * 3
    assert reused.scheme == "https" and reused.local_port == first.local_port


def test_connection_refused_fails_in_tcp_and_keeps_the_error():
    (sample,), _ = load_curl(CURL / "refused.jsonl")
    assert not sample.ok and sample.exit_code == 7 and sample.failed_phase == "tcp"
    assert sample.error.startswith("Failed to connect to 127.0.0.1 port 18081")
    assert sample.phases["dns"].status == "measured"
    assert [sample.phases[p].status for p in PHASE_IDS[1:]] == ["absent"] * 5
    assert sample.local_port is None and sample.remote_ip is None  # curl prints 0 and ""
    assert sample.ttfb_ms is None


def test_timeout_fails_in_server_wait_never_negative():
    (sample,), _ = load_curl(CURL / "timeout.jsonl")
    assert sample.exit_code == 28 and sample.failed_phase == "server"
    assert _raw(CURL / "timeout.jsonl")["time_starttransfer"] == 0
    assert [sample.phases[p].status for p in PHASE_IDS] == \
        ["measured", "measured", "absent", "measured", "absent", "absent"]
    assert all(p.duration_ms is None or p.duration_ms >= 0 for p in sample.phases.values())
    assert sample.total_ms == pytest.approx(1001.861)
    assert sample.error.startswith("Operation timed out")


def test_dns_failure_has_every_phase_absent():
    (sample,), _ = load_curl(CURL / "dns_fail.jsonl")
    assert sample.failed_phase == "dns" and sample.exit_code == 6
    assert all(p.status == "absent" for p in sample.phases.values())


def test_redirect_says_the_legs_were_summed():
    (sample,), _ = load_curl(CURL / "redirect.jsonl")
    assert sample.num_redirects == 1 and sample.ok
    assert sample.url.endswith("/redir") and sample.url_effective.endswith("/ok")
    assert "summed the timers of 2 requests" in sample.notes[0]
    assert sample.redirect_ms == pytest.approx(0.81)
    assert sample.to_dict()["notes"] == list(sample.notes)


def test_http3_has_no_tcp_phase_and_quic_handshake_in_tls():
    (sample,), problems = load_curl(CURL / "http3.jsonl")
    assert problems == []  # 8.13 keys (time_posttransfer, conn_id, ...) are ignored quietly
    assert sample.phases["tcp"].status == "absent"
    assert sample.phases["tls"].status == "measured"
    assert sample.phases["tls"].duration_ms == pytest.approx(40.0)   # appconnect - namelookup
    assert sample.phases["request"].duration_ms == pytest.approx(0.2)
    assert "QUIC" in sample.notes[0]


def test_http_503_is_a_complete_transfer_with_its_code():
    (sample,), _ = load_curl(CURL / "http503.jsonl")
    assert sample.ok and sample.response_code == 503 and sample.http_version == "1.1"


def test_curl_7_70_without_exitcode_infers_failure():
    (good, bad), problems = load_curl(CURL / "curl_7_70.jsonl")
    assert problems == []
    assert good.ok and good.exit_code is None and good.url is None
    assert good.url_effective == "https://example.test/a"
    assert not bad.ok and bad.failed_phase == "server"
    assert any("curl < 7.75" in n for n in bad.notes)


@given(st.lists(st.integers(0, 5_000_000), min_size=6, max_size=6), st.booleans(),
       st.booleans(), st.sampled_from([None, True, False]), st.booleans())
def test_phases_never_negative_whatever_the_offsets(offsets, failed, reused, tls, quic):
    names = ["time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
             "time_starttransfer", "time_total"]
    times = {n: v / 1e6 for n, v in zip(names, offsets)}
    phases, failed_phase, _ = compute_phases(times, failed=failed, reused=reused, tls=tls,
                                             quic=quic)
    assert list(phases) == list(PHASE_IDS)
    measured = [p for p in phases.values() if p.status == "measured"]
    assert all(p.duration_ms >= 0 and p.start_ms >= 0 for p in measured)
    if failed:
        assert failed_phase is not None
        after = PHASE_IDS[PHASE_IDS.index(failed_phase):]
        assert all(phases[p].status == "absent" for p in after)
    else:
        assert failed_phase is None


# ---------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("https://origin.lab.test/100k.bin", "https://origin.lab.test/100k.bin"),
    ("https://user:pw@host:8443/p?a=1&b=&c#frag",
     "https://host:8443/p?a=<redacted>&b=<redacted>&<redacted>#<redacted>"),
    ("http://h/x;jsessionid=ABC/y?q", "http://h/x;<redacted>/y?<redacted>"),
    ("user@host/path?k=v", "host/path?k=<redacted>"),
    ("https://h/p@q", "https://h/p@q"),  # an @ in the path is not userinfo
    ("https://h?", "https://h?"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_presigned_s3_url_never_leaks_its_signature():
    samples, problems = load_curl(CURL / "presigned_array.json")
    assert problems == [] and len(samples) == 2
    dumped = orjson.dumps([s.to_dict() for s in samples]).decode()
    for secret in ("deadbeef", "s3cr3t", "alice", "AKIAEXAMPLE", "access_token=abc",
                   "20261125T000000Z"):
        assert secret not in dumped
    assert "X-Amz-Signature=<redacted>" in samples[0].url
    assert samples[1].url == "https://bucket.s3.amazonaws.com/other.bin?<redacted>#<redacted>"


# ---------------------------------------------------------------------------------------
# Shapes of input
# ---------------------------------------------------------------------------------------

def test_pretty_printed_single_object():
    (sample,), problems = load_curl(CURL / "pretty.json")
    assert problems == [] and sample.place == "/" and sample.response_code == 503


def test_text_after_an_array_is_reported():
    samples, problems = parse_curl('[{"time_total": 0.5}]\n{"time_total": 0.7}\n', "t.json")
    assert [s.total_ms for s in samples] == [500.0]
    assert [str(p) for p in problems] == [
        "t.json: line 2: expected nothing after the JSON array, got '{\"time_total\": 0.7}'"]


def test_json_array_places_are_pointers():
    samples, _ = load_curl(CURL / "presigned_array.json")
    assert [s.place for s in samples] == ["/0", "/1"]


def test_truncated_array_keeps_complete_elements():
    samples, problems = load_curl(CURL / "truncated_array.json")
    assert len(samples) == 1 and samples[0].local_port == 40100
    assert len(problems) == 1
    assert str(problems[0]).startswith(
        f"{CURL / 'truncated_array.json'}: line 3: expected element 1 of a complete JSON "
        "array, got invalid JSON (")


def test_body_in_the_timings_file_is_one_warning_not_a_thousand():
    samples, problems = load_curl(CURL / "reuse_with_body.jsonl")
    assert len(samples) == 2
    assert [str(p) for p in problems] == [
        f"{CURL / 'reuse_with_body.jsonl'}: line 2: expected a curl -w '%{{json}}' object, "
        "got 'hello' (and the next 999 lines, to line 1001)"]


def test_bad_field_skips_the_sample_with_a_precise_place():
    bad = LAB_LINES[1].replace('"time_connect":0.001096', '"time_connect":"fast"')
    samples, problems = parse_curl("\n".join([LAB_LINES[0], bad, LAB_LINES[2]]), "t.jsonl")
    assert [s.index for s in samples] == [1, 2] and samples[1].local_port == 35436
    assert [str(p) for p in problems] == [
        "t.jsonl: line 2: expected a number at /time_connect, got 'fast'"]


def test_bad_identity_field_keeps_the_sample():
    line = LAB_LINES[0].replace('"local_port":35424', '"local_port":"x"')
    (sample,), problems = parse_curl(line, "t.jsonl")
    assert sample.local_port is None and sample.phases["tls"].status == "measured"
    assert [str(p) for p in problems] == ["t.jsonl: line 1: expected a number at /local_port, "
                                          "got 'x'"]


def test_bad_field_in_an_array_uses_a_json_pointer():
    doc = json.dumps([{"time_total": 0.1}, {"time_total": -1}])
    samples, problems = parse_curl(doc, "t.json")
    assert len(samples) == 1
    assert [str(p) for p in problems] == [
        "t.json: /1/time_total: expected a non-negative number, got -1"]


# ---------------------------------------------------------------------------------------
# Bad input: one clean error
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b"", "t.jsonl: expected curl -w '%{json}' output, got an empty file"),
    (b"\n  \n", "t.jsonl: expected curl -w '%{json}' output, got only whitespace"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "t.jsonl: byte 8: expected curl -w '%{json}' output, "
                                   "got binary data (0x89504e47)"),
    (b"dns=0.010 connect=0.020 total=0.100\n",
     "t.jsonl: line 1: expected a curl -w '%{json}' object, got 'dns=0.010 connect=0.020 "
     "total=0.100'"),
    (b'{"time_namelookup": 0.1}\n',
     "t.jsonl: line 1: expected a number (the total time) at /time_total, got 'no such key'"),
    (b"[1, 2]", "t.jsonl: /0: expected a curl -w '%{json}' object, got 1"),
    (b'{"time_total": 0.1', "t.jsonl: line 1: expected a curl -w '%{json}' object, "
                            "got '{\"time_total\": 0.1'"),
])
def test_unusable_input_is_one_error(data, message):
    with pytest.raises(InputError) as info:
        parse_curl(data, "t.jsonl")
    assert str(info.value) == message


def test_a_pcap_passed_as_timings():
    pcap = (LAB / "path_loss" / "icmp.pcap").read_bytes()
    with pytest.raises(InputError) as info:
        parse_curl(pcap, "capture.pcap")
    assert str(info.value) == ("capture.pcap: byte 0: expected curl -w '%{json}' output, "
                               "got a pcap file (0xd4c3b2a1)")


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="expected a readable file"):
        load_curl(tmp_path / "nope.jsonl")


def _check_result_or_clean_error(data):
    try:
        samples, problems = parse_curl(data, "fuzz")
    except InputError as err:
        assert str(err).startswith("fuzz")
        return
    assert samples
    for sample in samples:
        orjson.dumps(sample.to_dict())
        for phase in sample.phases.values():
            assert phase.duration_ms is None or phase.duration_ms >= 0


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_input_gives_result_or_clean_error(data):
    _check_result_or_clean_error(data)


@given(st.data())
def test_mutated_real_output_gives_result_or_clean_error(data):
    text = "\n".join(LAB_LINES[:2]) + "\n" + (CURL / "timeout.jsonl").read_text()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    filler = data.draw(st.text(max_size=20) | st.sampled_from(
        ['"x"', "null", "-1", "1e400", "true", "{}", "[]", ",", '"', "\n", "NaN"]))
    _check_result_or_clean_error(text[:start] + filler + text[end:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10)
timer = st.sampled_from(["time_namelookup", "time_connect", "time_appconnect",
                         "time_pretransfer", "time_starttransfer", "time_total", "exitcode",
                         "num_connects", "http_version", "url", "local_port", "scheme"])


@given(st.dictionaries(timer, json_values, max_size=12))
def test_random_curl_objects_give_result_or_clean_error(obj):
    _check_result_or_clean_error(orjson.dumps(obj))


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.dictionaries(st.sampled_from(["sample", "url", "wall_start", "wall_end",
                                                  "curl_exit"]), json_values).map(orjson.dumps)))
def test_random_wallclock_gives_result_or_clean_error(data):
    try:
        clocks, problems = parse_wallclock(data, "fuzz")
    except InputError as err:
        assert str(err).startswith("fuzz")
        return
    assert clocks and all(c.start_s <= c.end_s for c in clocks)


# ---------------------------------------------------------------------------------------
# Absurd numbers: the sample is skipped, the warning names the line and the key (#15)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,raw,got", [
    ("time_total", "1e308", "1e+308"),
    ("time_total", "1e12", "1000000000000.0"),
    ("time_total", "NaN", "nan"),
    ("time_total", "Infinity", "inf"),
    ("time_total", "1e400", "inf"),
    ("time_connect", "-Infinity", "-inf"),
    ("size_download", "123456789012345678901234567890", None),
    ("local_port", "99999999999", "99999999999"),
    ("remote_port", "65536", "65536"),
])
def test_out_of_range_number_skips_the_sample_naming_line_and_key(key, raw, got):
    good = '{"time_total": 0.2}'
    bad = good.replace("{", f'{{"{key}": {raw}, ') if key != "time_total" \
        else f'{{"time_total": {raw}}}'
    samples, problems = parse_curl(f"{good}\n{bad}\n", "t.jsonl")
    assert [s.index for s in samples] == [1]
    (problem,) = problems
    assert str(problem).startswith("t.jsonl: line 2: expected a number at most ")
    assert f" at /{key}, got " in str(problem)
    if got is not None:
        assert str(problem).endswith(f"got {got}")


def test_out_of_range_in_an_array_uses_the_pointer():
    samples, problems = parse_curl('[{"time_total": 0.1}, {"time_total": NaN}]', "t.json")
    assert len(samples) == 1
    assert [str(p) for p in problems] == [
        "t.json: /1/time_total: expected a number at most 1,000,000, got nan"]


def test_only_absurd_samples_is_an_input_error_naming_the_key():
    with pytest.raises(InputError) as err:
        parse_curl('{"time_total": 1e308}\n', "t.jsonl")
    assert str(err.value) == ("t.jsonl: line 1: expected a number at most 1,000,000 at "
                              "/time_total, got 1e+308")


def test_wallclock_out_of_range_is_skipped():
    from cnfpost.inputs.curl import parse_wallclock

    clocks, problems = parse_wallclock(
        '{"sample": 1, "wall_start": 1.0, "wall_end": 2.0}\n'
        '{"sample": 2, "wall_start": 1e300, "wall_end": 1e301}\n', "w.jsonl")
    assert [c.sample for c in clocks] == [1]
    assert [str(p) for p in problems] == [
        "w.jsonl: line 2: expected a number at most 8,589,934,592 at /wall_start, got 1e+300"]


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(["time_total", "time_connect", "local_port", "size_download",
                        "num_connects"]),
       st.one_of(st.floats(), st.integers(min_value=-10**30, max_value=10**30),
                 st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"])))
def test_any_number_in_any_field_never_raises_anything_but_input_error(key, value):
    text = value if isinstance(value, str) else json.dumps(value)  # json writes NaN too
    try:
        samples, problems = parse_curl(f'{{"time_total": 0.5, "{key}": {text}}}', "t.jsonl")
    except InputError as err:
        assert f"/{key}" in str(err)
    else:
        assert len(samples) == 1
