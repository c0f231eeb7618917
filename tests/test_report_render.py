"""The Markdown and terminal reports, and the report's JSON Schema, on real runs.

Each case is a real report: the three lab bundles, and reports from partial inputs (a
capture alone, timings alone, mtr and ping alone, a bundle directory, an mtr with a
silent and a rate-limited hop, curl failures and reused connections)."""
from __future__ import annotations

import copy
import re
from functools import lru_cache

import orjson
import pytest

import cnfpost
from cnfpost.pipeline import SCHEMA_VERSION
from cnfpost.report import render, schema
from cnfpost.report._format import PHASE_SHORT
from cnfpost.report.markdown import text as md_text
from tests.support import LAB_BUNDLES, ROOT, require_module

jsonschema = require_module("jsonschema")

INPUTS = ROOT / "tests" / "data" / "inputs"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

CASES = {
    "clean": lambda: cnfpost.analyze(LAB_BUNDLES / "clean"),
    "path_loss": lambda: cnfpost.analyze(LAB_BUNDLES / "path_loss"),
    "tls_retrans": lambda: cnfpost.analyze(LAB_BUNDLES / "tls_retrans"),
    "capture_only": lambda: cnfpost.analyze(LAB_BUNDLES / "tls_retrans" / "capture.pcap"),
    "timings_only": lambda: cnfpost.analyze(timings=LAB_BUNDLES / "tls_retrans" / "timings.jsonl"),
    "mtr_ping_only": lambda: cnfpost.analyze(mtr=LAB_BUNDLES / "path_loss" / "mtr.json",
                                             ping=LAB_BUNDLES / "path_loss" / "ping.txt"),
    "mtr_silent_ratelimit": lambda: cnfpost.analyze(mtr=INPUTS / "mtr" / "legacy_0.92.json"),
    "curl_failures": lambda: cnfpost.analyze(timings=INPUTS / "curl" / "dns_fail.jsonl",
                                             ping=INPUTS / "ping" / "iputils_lo.txt"),
    "curl_reuse": lambda: cnfpost.analyze(timings=INPUTS / "curl" / "https_reuse.jsonl"),
    "curl_redacted": lambda: cnfpost.analyze(timings=INPUTS / "curl" / "presigned_array.json"),
    "cut_capture": lambda: cnfpost.analyze(_cut_capture()),
}


@lru_cache(maxsize=None)
def _cut_capture():
    """The TLS lab capture with its last record cut short (tcpdump killed mid-write):
    a report with a warning."""
    import tempfile
    from pathlib import Path

    data = (LAB_BUNDLES / "tls_retrans" / "capture.pcap").read_bytes()
    path = Path(tempfile.mkdtemp(prefix="cnfpost-render-")) / "cut.pcap"
    path.write_bytes(data[:-30])
    return path


@lru_cache(maxsize=None)
def report(name: str):
    return CASES[name]()


@lru_cache(maxsize=None)
def md(name: str) -> str:
    return render.markdown(report(name))


all_cases = pytest.mark.parametrize("name", sorted(CASES))


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


# ---------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------

def test_schema_is_a_valid_draft_2020_12_schema():
    doc = schema.load()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["properties"]["schema_version"]["const"] == SCHEMA_VERSION


@all_cases
def test_report_fits_the_schema(name):
    schema.validate(report(name).to_dict())


def _broken(mutate) -> dict:
    d = copy.deepcopy(report("tls_retrans").to_dict())
    mutate(d)
    return d


@pytest.mark.parametrize("why, mutate", [
    ("renamed top-level key", lambda d: d.__setitem__("finding", d.pop("findings"))),
    ("renamed overall key", lambda d: d["overall"].__setitem__("score", d["overall"].pop("grade"))),
    ("unknown severity", lambda d: d["findings"][0].__setitem__("severity", "major")),
    ("unknown layer link", lambda d: d["findings"][0].__setitem__("layers", ["L4", "L5"])),
    ("layers not matching the code", lambda d: d["findings"][0].__setitem__("layers", "L7")),
    ("bad code", lambda d: d["findings"][0].__setitem__("code", "Retransmissions")),
    ("unknown evidence source", lambda d: d["findings"][0]["evidence"].__setitem__("source", "pcap")),
    ("capture evidence without a filter",
     lambda d: d["findings"][0]["evidence"].__setitem__("display_filter", "")),
    ("frame 0", lambda d: d["findings"][0]["evidence"]["frames"].__setitem__(0, 0)),
    ("unknown phase id", lambda d: d["samples"][0]["phases"].__setitem__(
        "ttfb", d["samples"][0]["phases"].pop("server"))),
    ("unknown phase status", lambda d: d["samples"][0]["phases"]["tls"].__setitem__("status", "ok")),
    ("*_ms as a string", lambda d: d["samples"][0].__setitem__("total_ms", "116.775")),
    ("deep *_ms as a string", lambda d: d["ping"]["summary"].__setitem__("avg_ms", "20.6")),
    ("*_ms in a bucket", lambda d: d["samples"][0]["phases"]["tls"]["tcp"].__setitem__(
        "rtt_median_ms", [1])),
    ("unknown grade", lambda d: d["layered_analysis"]["l4"].__setitem__("quality", "bad")),
    ("unknown hop verdict", lambda d: d["path"]["assessment"]["verdicts"][0].__setitem__(
        "verdict", "lossy")),
    ("wrong schema version", lambda d: d.__setitem__("schema_version", "1.1")),
])
def test_schema_catches(why, mutate):
    with pytest.raises(jsonschema.ValidationError):
        schema.validate(_broken(mutate))


def test_schema_allows_null_sections_for_missing_inputs():
    d = report("timings_only").to_dict()
    assert d["path"] is None and d["ping"] is None and d["mtr_tcp_correlation"] is None
    assert all(p["tcp"] is None for s in d["samples"] for p in s["phases"].values())
    schema.validate(d)


def test_schema_ships_in_the_package():
    from importlib import resources
    assert resources.files("cnfpost.report").joinpath("schema.json").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    assert '"report/*.json"' in text


# ---------------------------------------------------------------------------------------
# Markdown: every view
# ---------------------------------------------------------------------------------------

@all_cases
def test_markdown_has_every_view(name):
    r, text = report(name), md(name)
    assert text.startswith("# cnfpost report: ")
    assert f"**Overall: " in text and r["overall"]["grade"].upper() in text.split("\n\n")[1]
    assert "| Layer | Component | Quality | Key metrics |" in text
    for layer in ("L3", "L4", "L7"):
        assert re.search(rf"^\| {layer} \| ", text, re.M)
    assert "## TCP events during HTTP phases" in text
    if r["samples"]:
        assert "| HTTP phase | Samples | Duration median (ms) |" in text
        assert "| Phase | Status | Start (ms) | Duration (ms) |" in text
    assert "## Cross-layer correlations" in text and "├── L3 → L4" in text
    assert "## Insights" in text
    assert "## Inputs" in text and "| Input | File | SHA-256 | Bytes |" in text
    if r["path"]:
        assert "| Hop | Host | Loss |" in text
    if r["ping"]:
        assert "| Target | Sent | Received | Loss |" in text
    for missing in r["inputs"]["missing"]:
        assert f"- **{missing}**:" in text


@all_cases
def test_markdown_lists_every_finding_with_its_filter_and_action(name):
    r, text = report(name), md(name)
    spans = code_spans(text)
    for finding in r["findings"]:
        assert finding["code"] in spans
        flt = finding["evidence"]["display_filter"]
        if flt:
            assert f"- **Wireshark display filter:** `{flt}`" in text
        assert finding["action"].split(":")[0].split(" ")[0] in text


def test_markdown_insights_most_severe_first():
    text = md("tls_retrans")
    headings = re.findall(r"^### \d+\. \S+ (CRITICAL|WARNING|INFO) ", text, re.M)
    rank = {"CRITICAL": 0, "WARNING": 1, "INFO": 2}
    assert len(headings) == len(report("tls_retrans")["findings"]) >= 3
    assert [rank[h] for h in headings] == sorted(rank[h] for h in headings)


def test_markdown_shows_the_tls_drop_in_the_tls_row():
    """The lab dropped a ServerHello segment per connection: the TLS row carries the
    retransmissions, and is the one marked."""
    text = md("tls_retrans")
    tls_row = next(line for line in text.splitlines() if line.startswith("| **TLS handshake**"))
    thc = report("tls_retrans")["tcp_http_correlation"]["tls"]
    assert f"| {thc['retransmissions']} |" in tls_row and thc["retransmissions"] > 0
    for other in ("DNS lookup", "TCP connect", "Server wait (TTFB)"):
        assert f"| {other} |" in text  # not bold: no trouble there


def test_markdown_path_rtt_is_never_doubled():
    r = report("tls_retrans")
    mtc = r["mtr_tcp_correlation"]
    text = md("tls_retrans")
    assert f"path RTT {mtc['path_rtt_ms']:.2f} ms (mtr" in text
    assert f"handshake RTT {mtc['handshake_rtt_ms']:.2f} ms" in text
    assert f"difference {mtc['difference_ms']:+.2f} ms ({mtc['difference_pct']:+.1f}%)" in text
    assert f"{2 * mtc['path_rtt_ms']:.2f} ms" not in text


def test_markdown_hop_verdicts_tell_loss_from_rate_limiting_and_silence():
    rows = {int(m.group(1)): m.group(0) for m in
            re.finditer(r"^\| (\d+) \| .*$", md("mtr_silent_ratelimit"), re.M)}
    assert "silent hop" in rows[2]
    assert "ICMP rate limiting" in rows[3] and "PATH LOSS" not in rows[3]
    lossy = {int(m.group(1)): m.group(0) for m in
             re.finditer(r"^\| (\d+) \| .*$", md("mtr_ping_only"), re.M)}
    assert "REAL PATH LOSS" in lossy[3]
    assert "PATH LOSS" not in lossy[1] and "PATH LOSS" not in lossy[2]


def test_markdown_sample_detail_keeps_the_redacted_url_visible():
    """'<redacted>' outside a code span would be swallowed as an HTML tag."""
    text = md("curl_redacted")
    assert any("<redacted>" in span for span in code_spans(text))
    outside = re.sub(r"`[^`\n]+`", "", text)
    assert "<redacted>" not in outside and "\\<redacted\\>" in outside


def test_markdown_sample_detail_has_match_and_event_frames():
    text = md("tls_retrans")
    s = report("tls_retrans")["samples"][0]
    assert f"filter `tcp.stream == {s['match']['stream']}`" in text
    assert "matched by local port" in text
    frames = s["phases"]["tls"]["tcp"]["event_frames"]["retransmissions"]
    assert f"retransmissions {', '.join(map(str, frames))}" in text


@all_cases
def test_warnings_are_listed(name):
    r, text = report(name), md(name)
    assert ("## Warnings" in text) == bool(r["warnings"])
    terminal = render.terminal(r, color=False, width=1000)
    for w in r["warnings"]:
        assert f"- {md_text(w)}" in text
        assert f"warning: {w}" in terminal


def test_a_cut_capture_has_a_warning():
    assert any("cut off mid-record" in w for w in report("cut_capture")["warnings"])


def test_markdown_failed_and_reused_samples():
    text = md("curl_failures")
    assert "FAILED in" in text and "(failed here)" in text
    text = md("curl_reuse")
    assert re.search(r"^\| TCP connect \| reused \|", text, re.M)


# ---------------------------------------------------------------------------------------
# Markdown waterfall
# ---------------------------------------------------------------------------------------

WATERFALL_LINE = re.compile(r"^(?P<name>[A-Za-z]+)(?P<star>\*?) +(?P<start>\d+\.\d{3}) +"
                            r"(?P<end>\d+\.\d{3}) +(?P<dur>\d+\.\d{3})  \|(?P<bar>[^|]*)\|"
                            r"(?P<fail>✗?)(?P<note>.*)$")


def waterfall_blocks(text: str) -> list[list[str]]:
    return [b.split("\n") for b in re.findall(r"```text\n(Sample \d+ waterfall.*?)\n```", text,
                                              re.S)]


@all_cases
def test_markdown_waterfall_per_sample_has_exact_ms_on_a_ms_axis(name):
    r = report(name)
    blocks = waterfall_blocks(md(name))
    drawn = [s for s in r["samples"]
             if any(p["status"] == "measured" for p in s["phases"].values())
             or not s.get("ok", True)]
    assert len(blocks) == len(drawn)
    short = {v: k for k, v in PHASE_SHORT.items()}
    for block, sample in zip(blocks, drawn):
        assert block[0] == f"Sample {sample['index']} waterfall, ms since curl started"
        assert block[-1].rstrip().endswith(" ms") and re.search(r"\b0\b", block[-1])
        rows = [WATERFALL_LINE.match(line) for line in block[2:-1]]
        assert all(rows), block
        for row in rows:
            pid = short[row["name"]]
            phase = sample["phases"][pid]
            assert len(row["bar"]) == 50
            if row["fail"]:
                assert pid == (sample.get("failure") or {}).get("phase", sample["failed_phase"])
                assert "failed in" in row["note"]
                continue
            assert phase["status"] == "measured"
            assert float(row["start"]) == pytest.approx(phase["start_ms"], abs=5e-4)
            assert float(row["dur"]) == pytest.approx(phase["duration_ms"], abs=5e-4)
            bucket = phase["tcp"]
            troubled = bucket is not None and (bucket["retransmissions"] + bucket["dup_acks"]
                                               + bucket["out_of_order"] + bucket["lost_segments"]
                                               + bucket["zero_windows"]) > 0
            assert bool(row["star"]) == troubled
            assert ("▓" in row["bar"]) == troubled


def test_markdown_waterfall_marks_the_tls_retransmission_and_not_whole_ms():
    for block in waterfall_blocks(md("tls_retrans")):
        marked = [line for line in block if line.startswith("TLS*")]
        assert len(marked) == 1 and "retrans" in marked[0]
        # fractional milliseconds, not whole ones
        assert any(not line.split()[3].endswith(".000") for line in block[2:-1])


def test_a_failed_sample_is_its_failed_phase_not_a_full_width_dns_bar():
    text = md("curl_failures")
    blocks = waterfall_blocks(text)
    assert blocks
    for block in blocks:
        failed = [line for line in block if "✗" in line]
        assert len(failed) == 1 and "failed in" in failed[0]


# ---------------------------------------------------------------------------------------
# Terminal
# ---------------------------------------------------------------------------------------

@all_cases
def test_terminal_plain_has_no_escapes_and_colour_only_adds_them(name):
    r = report(name)
    plain = render.terminal(r, color=False, width=100)
    coloured = render.terminal(r, color=True, width=100)
    assert "\x1b" not in plain
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == plain


@all_cases
@pytest.mark.parametrize("width", [60, 80, 140])
def test_terminal_fits_the_width(name, width):
    text = render.terminal(report(name), color=False, width=width)
    for line in text.splitlines():
        if line.lstrip().startswith("filter: "):
            continue  # never broken, so it stays one line when copied
        assert len(line) <= width, line


def test_terminal_width_has_a_floor_of_60():
    r = report("tls_retrans")
    assert render.terminal(r, color=False, width=20) == render.terminal(r, color=False, width=60)


def test_terminal_default_width_follows_the_terminal(monkeypatch):
    r = report("tls_retrans")
    monkeypatch.setenv("COLUMNS", "90")
    assert render.terminal(r, color=False) == render.terminal(r, color=False, width=90)


@all_cases
def test_terminal_summary_has_overall_layers_and_every_finding_filter(name):
    r = report(name)
    text = render.terminal(r, color=False, width=120)
    assert f"Overall: {r['overall']['grade'].upper()}" in text
    for layer in ("L3", "L4", "L7"):
        assert re.search(rf"^{layer}\s", text, re.M)
    for finding in r["findings"]:
        assert finding["code"] in text
        if finding["evidence"]["display_filter"]:
            assert f"filter: {finding['evidence']['display_filter']}" in text


def test_terminal_waterfall_marks_phases_with_tcp_trouble():
    text = render.terminal(report("tls_retrans"), color=False, width=100)
    bars = [line for line in text.splitlines() if re.match(r"^#\d+ ", line)]
    assert len(bars) == len(report("tls_retrans")["samples"])
    for bar in bars:
        inside = bar.split("|")[1]
        assert "T" in inside and "t" not in inside            # TLS had the retransmission
        assert not re.search(r"[DCRSW]", inside)             # nothing else did
    assert "^ TLS: 1 retrans" in text


def test_terminal_waterfall_without_capture_marks_nothing():
    text = render.terminal(report("timings_only"), color=False, width=100)
    bars = [line.split("|")[1] for line in text.splitlines() if re.match(r"^#\d+ ", line)]
    assert bars and all(b == b.lower() for b in bars)


@all_cases
def test_terminal_waterfall_fits_80_columns_on_a_wide_terminal(name):
    text = render.terminal(report(name), color=False, width=140)
    if "Waterfall per sample" not in text:
        return
    part = text.split("Waterfall per sample")[1].split("\n\n")[0]
    bars = [line for line in part.splitlines() if re.match(r"^#\d+ ", line)]
    assert bars and all(len(line) <= 80 for line in bars)
    assert part.splitlines()[-1].rstrip().endswith(" ms")     # the ms axis under the bars


def test_terminal_waterfall_writes_each_phase_ms_and_marks_a_failure():
    text = render.terminal(report("tls_retrans"), color=False, width=100)
    s = report("tls_retrans")["samples"][0]
    bar = next(line for line in text.splitlines() if line.startswith("#1 "))
    assert f"{s['phases']['tls']['duration_ms']:.1f}" in bar
    text = render.terminal(report("curl_failures"), color=False, width=80)
    failed = [line for line in text.splitlines() if re.match(r"^#\d+ ", line) and "✗" in line]
    assert failed and "failed in" in text


def test_terminal_phase_table_and_path():
    text = render.terminal(report("path_loss"), color=False, width=100)
    assert "TCP events during HTTP phases" in text and "Content download" in text
    assert "REAL PATH LOSS" in text
    assert "ping origin.lab.test:" in text


# ---------------------------------------------------------------------------------------
# Determinism, inputs
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tls_retrans", "capture_only", "mtr_ping_only"])
def test_two_runs_give_the_same_bytes(name):
    first, second = CASES[name](), CASES[name]()
    assert first.to_json() == second.to_json()
    assert render.markdown(first).encode() == render.markdown(second).encode()
    assert render.terminal(first, color=True, width=80) == render.terminal(second, color=True, width=80)


def test_renderers_take_the_report_or_its_json_read_back():
    r = report("tls_retrans")
    back = orjson.loads(r.to_json())
    assert render.markdown(back) == render.markdown(r)
    assert render.terminal(back, color=False, width=80) == render.terminal(r, color=False, width=80)


def test_renderers_do_not_change_the_report():
    r = report("path_loss")
    before = r.to_json()
    render.markdown(r)
    render.terminal(r, color=True, width=70)
    assert r.to_json() == before


# ---------------------------------------------------------------------------------------
# use_color
# ---------------------------------------------------------------------------------------

class Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("env, tty, expected", [
    ({}, True, True),
    ({}, False, False),
    ({"NO_COLOR": "1"}, True, False),
    ({"NO_COLOR": ""}, True, True),          # no-color.org: only a non-empty value counts
    ({"TERM": "dumb"}, True, False),
    ({"TERM": "xterm-256color"}, True, True),
])
def test_use_color(monkeypatch, env, tty, expected):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert render.use_color(Stream(tty)) is expected


def test_use_color_without_isatty_or_closed(monkeypatch, tmp_path):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert render.use_color(object()) is False
    fh = open(tmp_path / "x", "w")
    fh.close()
    assert render.use_color(fh) is False


def test_render_exposes_exactly_three_functions():
    assert render.__all__ == ["markdown", "terminal", "use_color"]


def test_markdown_phase_table_shows_the_median_under_median():
    # tls_retrans: five TLS handshakes, median 57.142 ms, mean 56.466 ms (test_layers)
    rows = [line for line in md("tls_retrans").splitlines() if "TLS handshake" in line]
    cells = [c.strip() for c in rows[0].split("|")]
    assert cells[3:5] == ["57.14", "53.59–57.54"]
